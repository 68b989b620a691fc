//! The `cancel` function: `POST /account/closure`, the admin's irreversible request to close
//! the company's account at the end of a period (`softbrik::closure`), and the same request
//! made by support staff for the customer (`POST /staff/accounts/{account_id}/closure`), and a
//! reseller's closure of one of its client accounts (`POST /reseller/clients/{account_id}/closure`).

use lambda_http::{Body, Error as LambdaError, Request, Response};
use softbrik::app::App;
use softbrik::closure::{ClosureBody, request_closure};
use softbrik::edge::{self, no_events, route_key};
use softbrik::error::Error;
use softbrik::http::{self, json_body};

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    edge::serve(route, no_events).await
}

async fn route(app: &App, req: Request) -> Result<Response<Body>, Error> {
    match route_key(&req) {
        "POST /account/closure" => {
            let caller = http::caller(app, &req).await?;
            if let Ok(account_id) = caller.require_admin() {
                edge::record_account(account_id);
            }
            http::idempotent(app, &req, caller.require_admin()?, async || {
                let (body, _): (ClosureBody, _) = json_body(&req)?;
                Ok((
                    202,
                    request_closure(app, caller.require_admin()?, &caller.actor(), body).await?,
                ))
            })
            .await
            .map(|(status, body)| http::json(status, &body))
        }
        "POST /staff/accounts/{account_id}/closure" => {
            softbrik::staff::act(app, &req, async |mandate, body: ClosureBody| {
                let closing =
                    request_closure(app, &mandate.account_id, &mandate.actor(), body).await?;
                Ok((202, closing))
            })
            .await
            .map(|(status, body)| http::json(status, &body))
        }
        "POST /reseller/clients/{account_id}/closure" => {
            let caller = http::caller(app, &req).await?;
            http::idempotent(app, &req, caller.require_admin()?, async || {
                let (body, _): (ClosureBody, _) = json_body(&req)?;
                let client_id = http::path_param(&req, "account_id")?;
                let closing =
                    softbrik::resellers::close_client(app, &caller, &client_id, body).await?;
                Ok((202, closing))
            })
            .await
            .map(|(status, body)| http::json(status, &body))
        }
        _ => Err(Error::NotFound),
    }
}
