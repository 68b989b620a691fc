//! The `tickets` function: the support desk's ticket routes (api.md "Support tickets",
//! `softbrik::support_desk`) and, on its schedule `{"run": "sla"}` or a test clock's run, the
//! SLA run (`softbrik::tickets::serve`): breaches recorded and emailed, P1 update alerts,
//! resolved tickets closed after 7 days, old ones pseudonymised. Both are the life of a ticket.

use lambda_http::{Body, Error as LambdaError, Request, RequestExt, Response};
use softbrik::app::App;
use softbrik::edge::{self, route_key};
use softbrik::error::Error;
use softbrik::http::{self, json, json_body, path_param};
use softbrik::idempotency::parse_key;
use softbrik::support_desk::{self as desk, ListQuery, StaffStep};

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    edge::serve(route, sla_run).await
}

/// The SLA run, on its schedule or a test clock's, and its queue's batches.
async fn sla_run(
    app: &'static App,
    event: serde_json::Value,
) -> Result<serde_json::Value, LambdaError> {
    match softbrik::tickets::serve(app, &event).await? {
        Some(answer) => Ok(answer),
        None => Err("the tickets function takes its routes, its SLA run and its queue".into()),
    }
}

async fn route(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let caller = http::caller(app, &req).await?;
    if let Some(account) = &caller.account_id {
        edge::record_account(account);
    }
    let key = parse_key(http::header(&req, "idempotency-key"))?;
    let key = key.as_deref();
    let query = |name: &str| {
        req.query_string_parameters_ref()
            .and_then(|q| q.first(name))
            .map(str::to_string)
    };
    let ticket_id = || path_param(&req, "ticket_id");
    let (status, answer) = match route_key(&req) {
        "GET /account/reports/incidents" => {
            let report = desk::incident_report(app, &caller, query("month").as_deref()).await?;
            return Ok(json(200, &report));
        }
        "POST /tickets" => {
            let (body, raw) = json_body(&req)?;
            desk::open(app, &caller, body, &raw, key).await?
        }
        "GET /tickets" => {
            let list = ListQuery {
                status: query("status"),
                priority: query("priority"),
                limit: query("limit"),
                next: query("next"),
            };
            return Ok(json(200, &desk::list(app, &caller, list).await?));
        }
        "GET /tickets/{ticket_id}" => {
            return Ok(json(200, &desk::get(app, &caller, &ticket_id()?).await?));
        }
        "POST /tickets/{ticket_id}/messages" => {
            let (body, raw) = json_body(&req)?;
            desk::add_message(app, &caller, &ticket_id()?, body, &raw, key).await?
        }
        "POST /tickets/{ticket_id}/acknowledge" => {
            let (body, raw) = json_body(&req)?;
            desk::acknowledge(app, &caller, &ticket_id()?, body, &raw, key).await?
        }
        route @ ("POST /tickets/{ticket_id}/workaround"
        | "POST /tickets/{ticket_id}/resolve"
        | "POST /tickets/{ticket_id}/rca") => {
            let step = match route.rsplit('/').next() {
                Some("workaround") => StaffStep::Workaround,
                Some("resolve") => StaffStep::Resolve,
                _ => StaffStep::Rca,
            };
            let (body, raw) = json_body(&req)?;
            desk::staff_step(app, &caller, &ticket_id()?, step, body, &raw, key).await?
        }
        "POST /tickets/{ticket_id}/confirm" => {
            http::no_fields(&req)?;
            desk::confirm(app, &caller, &ticket_id()?, key).await?
        }
        "POST /tickets/{ticket_id}/reopen" => {
            http::no_fields(&req)?;
            desk::reopen(app, &caller, &ticket_id()?, key).await?
        }
        _ => return Err(Error::NotFound),
    };
    Ok(json(status, &answer))
}
