//! The `tickets` function: the support desk's ticket routes (api.md "Support tickets",
//! `softbrik::support_desk`) and, on its schedule `{"run": "sla"}` or a test clock's run, the
//! SLA run (`softbrik::tickets::serve`): breaches recorded and emailed, P1 update alerts,
//! resolved tickets closed after 7 days, old ones pseudonymised. Both are the life of a ticket.

use lambda_http::{
    Body, Error as LambdaError, LambdaEvent, Request, RequestExt, Response, service_fn,
};
use softbrik::app::App;
use softbrik::error::Error;
use softbrik::http::{self, answer, json, json_body, path_param};
use softbrik::idempotency::parse_key;
use softbrik::schedule::RunRequest;
use softbrik::support_desk::{self as desk, ListQuery};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    softbrik::telemetry::init();
    let app = App::from_env().await?;
    lambda_http::lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let app = &app;
        async move {
            if event.payload.get("run").is_some() {
                let span = tracing::info_span!("run", request_id = %event.context.request_id);
                let request: RunRequest = serde_json::from_value(event.payload)?;
                let report = softbrik::tickets::serve(app, request)
                    .instrument(span)
                    .await?;
                return Ok::<_, LambdaError>(serde_json::to_value(report)?);
            }
            let req = http::gateway_request(event.payload)?;
            let span = tracing::info_span!(
                "request",
                request_id = %http::request_id(&req),
                account_id = tracing::field::Empty
            );
            let response = answer(route(app, req).instrument(span).await);
            Ok(http::gateway_response(response))
        }
    }))
    .await
}

async fn route(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let caller = http::caller(app, &req).await?;
    if let Some(account) = &caller.account_id {
        tracing::Span::current().record("account_id", account.as_str());
    }
    let key = parse_key(http::header(&req, "idempotency-key"))?;
    let key = key.as_deref();
    let path = req.uri().path().to_string();
    let method = req.method().as_str().to_string();
    if path == "/account/reports/incidents" && method == "GET" {
        let month = req
            .query_string_parameters_ref()
            .and_then(|q| q.first("month"))
            .map(str::to_string);
        return Ok(json(
            200,
            &desk::incident_report(app, &caller, month.as_deref()).await?,
        ));
    }
    if path == "/tickets" {
        return match method.as_str() {
            "POST" => {
                let (body, raw) = json_body(&req)?;
                let (status, answer) = desk::open(app, &caller, body, &raw, key).await?;
                Ok(json(status, &answer))
            }
            "GET" => {
                let q = req.query_string_parameters_ref();
                let get = |name: &str| q.and_then(|q| q.first(name)).map(str::to_string);
                let query = ListQuery {
                    status: get("status"),
                    priority: get("priority"),
                    limit: get("limit"),
                    next: get("next"),
                };
                Ok(json(200, &desk::list(app, &caller, query).await?))
            }
            _ => Err(Error::NotFound),
        };
    }
    let ticket_id = path_param(&req, "ticket_id")?;
    let action = path.rsplit('/').next().unwrap_or_default().to_string();
    let (status, answer) = match (method.as_str(), action.as_str()) {
        ("GET", _) if action == ticket_id => {
            return Ok(json(200, &desk::get(app, &caller, &ticket_id).await?));
        }
        ("POST", "messages") => {
            let (body, raw) = json_body(&req)?;
            desk::add_message(app, &caller, &ticket_id, body, &raw, key).await?
        }
        ("POST", "acknowledge") => {
            let (body, raw) = json_body(&req)?;
            desk::acknowledge(app, &caller, &ticket_id, body, &raw, key).await?
        }
        ("POST", "workaround" | "resolve" | "rca") => {
            let (body, raw) = json_body(&req)?;
            desk::staff_step(app, &caller, &ticket_id, &action, body, &raw, key).await?
        }
        ("POST", "confirm") => {
            http::no_fields(&req)?;
            desk::confirm(app, &caller, &ticket_id, key).await?
        }
        ("POST", "reopen") => {
            http::no_fields(&req)?;
            desk::reopen(app, &caller, &ticket_id, key).await?
        }
        _ => return Err(Error::NotFound),
    };
    Ok(json(status, &answer))
}
