//! The `cancel` function: `POST /account/closure`, the admin's irreversible request to close
//! the company's account at the end of a period (`softbrik::closure`).

use lambda_http::{Body, Error as LambdaError, Request, Response, service_fn};
use softbrik::app::App;
use softbrik::closure::{ClosureBody, request_closure};
use softbrik::error::Error;
use softbrik::http::{self, answer, json_body};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    softbrik::telemetry::init();
    let app = App::from_env().await?;
    lambda_http::run(service_fn(|req| {
        let span = tracing::info_span!(
            "request",
            request_id = %http::request_id(&req),
            account_id = tracing::field::Empty
        );
        let app = &app;
        async move { Ok::<_, LambdaError>(answer(route(app, req).await)) }.instrument(span)
    }))
    .await
}

async fn route(app: &App, req: Request) -> Result<Response<Body>, Error> {
    match (req.method().as_str(), req.uri().path()) {
        ("POST", "/account/closure") => {
            let caller = http::caller(app, &req).await?;
            if let Ok(account_id) = caller.require_admin() {
                tracing::Span::current().record("account_id", account_id);
            }
            http::idempotent(app, &req, &caller, async || {
                let (body, _): (ClosureBody, _) = json_body(&req)?;
                Ok((202, request_closure(app, &caller, body).await?))
            })
            .await
        }
        _ => Err(Error::NotFound),
    }
}
