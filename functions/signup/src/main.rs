//! The `signup` function: signs companies up (`POST /signup`), shows the Brik catalogue
//! (`GET /briks`), and serves the account itself: `GET /account`, its invoices, its history
//! and its card. Thin: parse, call the domain, answer; the rules live in the `softbrik` crate.

use lambda_http::{Body, Error as LambdaError, Request, RequestExt, Response};
use softbrik::app::App;
use softbrik::edge::{self, no_events, route_key};
use softbrik::error::Error;
use softbrik::http::{self, json, json_body};
use softbrik::records;
use softbrik::resellers;
use softbrik::signup::{SignupBody, signup};
use softbrik::staff;

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    edge::serve(route, no_events).await
}

async fn route(app: &App, req: Request) -> Result<Response<Body>, Error> {
    match route_key(&req) {
        "POST /signup" => post_signup(app, &req).await,
        "GET /briks" => briks(app).await,
        "GET /packs" => {
            let items: Vec<_> = softbrik::packs::catalogue(app)
                .await?
                .iter()
                .map(softbrik::packs::Pack::view)
                .collect();
            listed(records::Listed::whole(items))
        }
        "GET /account" => get_account(app, &req).await,
        "GET /account/invoices" => {
            let caller = http::caller(app, &req).await?;
            listed(records::invoices(app, &caller, page(&req)?).await?)
        }
        "POST /reseller/clients" => {
            let caller = http::caller(app, &req).await?;
            let key = softbrik::idempotency::parse_key(http::header(&req, "idempotency-key"))?;
            let (body, raw): (resellers::ClientBody, _) = json_body(&req)?;
            let (status, answer) =
                resellers::create_client(app, &caller, body, &raw, key.as_deref()).await?;
            Ok(json(status, &answer))
        }
        "POST /reseller/clients/transfer" => {
            let caller = http::caller(app, &req).await?;
            http::idempotent(app, &req, caller.require_admin()?, async || {
                let (body, _): (resellers::TransferBody, _) = json_body(&req)?;
                Ok((202, resellers::take_over(app, &caller, body).await?))
            })
            .await
            .map(|(status, body)| json(status, &body))
        }
        "GET /reseller/clients" => {
            let caller = http::caller(app, &req).await?;
            let page = page(&req)?;
            let limit = usize::try_from(page.limit).map_err(Error::internal)?;
            let (clients, next) = resellers::list_clients(app, &caller, limit, page.next).await?;
            listed(records::Listed {
                items: clients,
                next,
            })
        }
        "GET /reseller/usage" => {
            let caller = http::caller(app, &req).await?;
            Ok(json(200, &resellers::usage(app, &caller).await?))
        }
        "GET /reseller/clients/{account_id}/users" => {
            let caller = http::caller(app, &req).await?;
            let id = http::path_param(&req, "account_id")?;
            listed(records::Listed::whole(
                resellers::client_users(app, &caller, &id).await?,
            ))
        }
        "GET /account/upcoming-invoice" => {
            let caller = http::caller(app, &req).await?;
            let account_id = caller.require_admin()?;
            Ok(json(
                200,
                &softbrik::renewal::next_renewal(app, account_id).await?,
            ))
        }
        "GET /account/history" => {
            let caller = http::caller(app, &req).await?;
            listed(records::history(app, &caller, page(&req)?).await?)
        }
        "PUT /account/settings" => {
            let caller = http::caller(app, &req).await?;
            http::idempotent(app, &req, caller.require_admin()?, async || {
                let (body, _) = json_body(&req)?;
                Ok((200, records::update_settings(app, &caller, body).await?))
            })
            .await
            .map(|(status, body)| json(status, &body))
        }
        "PUT /account/payment-method" => {
            let caller = http::caller(app, &req).await?;
            http::idempotent(app, &req, caller.require_admin()?, async || {
                let (body, _) = json_body(&req)?;
                Ok((
                    200,
                    records::replace_payment_method(app, &caller, body).await?,
                ))
            })
            .await
            .map(|(status, body)| json(status, &body))
        }
        "POST /account/billing-alignment" => {
            let caller = http::caller(app, &req).await?;
            http::idempotent(app, &req, caller.require_admin()?, async || {
                let (body, _) = json_body(&req)?;
                records::align_billing(app, caller.require_admin()?, &caller.actor(), body).await
            })
            .await
            .map(|(status, body)| json(status, &body))
        }
        "POST /account/invoices/{invoice_id}/send" => {
            let caller = http::caller(app, &req).await?;
            http::idempotent(app, &req, caller.require_admin()?, async || {
                let body = if req.body().is_empty() {
                    records::SendBody::default()
                } else {
                    json_body::<records::SendBody>(&req)?.0
                };
                let id = http::path_param(&req, "invoice_id")?;
                let account_id = caller.require_admin()?;
                Ok((
                    202,
                    records::send_invoice(app, account_id, &id, body, None).await?,
                ))
            })
            .await
            .map(|(status, body)| json(status, &body))
        }
        "GET /account/invoices/{invoice_id}/pdf" => {
            let caller = http::caller(app, &req).await?;
            let id = http::path_param(&req, "invoice_id")?;
            let (filename, pdf) = records::invoice_pdf(app, &caller, &id).await?;
            Ok(http::file("application/pdf", &filename, pdf))
        }
        "GET /account/invoices/{invoice_id}" => {
            let caller = http::caller(app, &req).await?;
            Ok(json(
                200,
                &records::invoice(app, &caller, &http::path_param(&req, "invoice_id")?).await?,
            ))
        }
        "GET /staff/accounts/{account_id}" => Ok(json(200, &staff::billing_view(app, &req).await?)),
        "POST /staff/accounts/{account_id}/billing-alignment" => {
            staff::act(app, &req, async |mandate, body| {
                records::align_billing(app, &mandate.account_id, &mandate.actor(), body).await
            })
            .await
            .map(|(status, body)| json(status, &body))
        }
        "POST /staff/accounts/{account_id}/invoices/{invoice_id}/send" => {
            staff::act(app, &req, async |mandate, body| {
                let id = http::path_param(&req, "invoice_id")?;
                let sent =
                    records::send_invoice(app, &mandate.account_id, &id, body, Some(&mandate))
                        .await?;
                Ok((202, sent))
            })
            .await
            .map(|(status, body)| json(status, &body))
        }
        "POST /staff/accounts/{account_id}/invoices/{invoice_id}/credit-notes" => {
            let (status, note) = staff::credit_note(app, &req).await?;
            Ok(json(status, &note))
        }
        _ => Err(Error::NotFound),
    }
}

async fn post_signup(app: &App, req: &Request) -> Result<Response<Body>, Error> {
    let key = softbrik::idempotency::parse_key(http::header(req, "idempotency-key"))?;
    let (body, raw): (SignupBody, _) = json_body(req)?;
    let command = body.parse()?;
    let client = http::client_address(req);
    let (status, response) = signup(app, &raw, command, key.as_deref(), client.as_deref()).await?;
    if let Some(id) = response.pointer("/account/id").and_then(|v| v.as_str()) {
        edge::record_account(id);
    }
    tracing::info!(status, "signup answered");
    Ok(json(status, &response))
}

fn page(req: &Request) -> Result<records::Page<'_>, Error> {
    let query = req.query_string_parameters_ref();
    records::Page::parse(
        query.and_then(|q| q.first("limit")),
        query.and_then(|q| q.first("next")),
    )
}

/// A list answers as a page (api.md): `{"items": [...], "next": cursor or null}`.
fn listed<T: serde::Serialize>(list: records::Listed<T>) -> Result<Response<Body>, Error> {
    Ok(json(200, &list))
}

async fn briks(app: &App) -> Result<Response<Body>, Error> {
    let mut catalogue = app.catalogue().await?;
    catalogue.sort_by_key(|b| b.monthly_price);
    let items: Vec<_> = catalogue
        .iter()
        .map(|b| {
            serde_json::json!({
                "id": b.id,
                "name": b.name,
                "description": b.description,
                "monthly_price": b.monthly_price,
                "currency": b.monthly_price.currency(),
            })
        })
        .collect();
    listed(records::Listed::whole(items))
}

async fn get_account(app: &App, req: &Request) -> Result<Response<Body>, Error> {
    let caller = http::caller(app, req).await?;
    let account_id = caller.account()?;
    edge::record_account(account_id);
    let (account, now) = app.account(account_id).await?;
    Ok(json(200, &account.view(now, caller.is_admin())))
}
