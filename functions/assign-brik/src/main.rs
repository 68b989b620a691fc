//! The `assign-brik` function: what is attached to the subscription, charged now and ended at
//! period end: the account's team (`/account/users...`: invite users, assign and remove
//! Briks, remove and restore users) and its add-on packs (`/account/packs...`). Additions are
//! charged at once through the proration engine (`softbrik::team`, `softbrik::packs`,
//! `softbrik::invoicing`); removals take effect at the end of the period.

use lambda_http::{Body, Error as LambdaError, Request, Response, service_fn};
use softbrik::app::App;
use softbrik::error::Error;
use softbrik::http::{self, answer, identity, json, json_body, path_param};
use softbrik::idempotency::parse_key;
use softbrik::packs;
use softbrik::team::{self, InviteBody, RemoveBody, Team};
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
    let caller = identity(&req)?;
    let team = Team::for_admin(app, &caller).await?;
    tracing::Span::current().record("account_id", team.account.id.as_str());
    let key = parse_key(http::header(&req, "idempotency-key"))?;
    if req.method() != "GET" {
        team.changeable()?;
    }
    let segments: Vec<&str> = req.uri().path().trim_matches('/').split('/').collect();
    let (status, body) = match (req.method().as_str(), segments.as_slice()) {
        ("GET", ["account", "users"]) => (
            200,
            serde_json::to_value(team::list_users(app, &team).await?).map_err(Error::internal)?,
        ),
        ("POST", ["account", "users"]) => {
            let (body, raw): (InviteBody, _) = json_body(&req)?;
            team::invite(app, &team, body, &raw, key.as_deref()).await?
        }
        ("DELETE", ["account", "users", _]) => {
            let body = if req.body().is_empty() {
                RemoveBody::default()
            } else {
                json_body::<RemoveBody>(&req)?.0
            };
            team::remove_user(app, &team, &path_param(&req, "user_id")?, body).await?
        }
        ("POST", ["account", "users", _, "restore"]) => {
            team::restore_user(app, &team, &path_param(&req, "user_id")?).await?
        }
        ("PUT", ["account", "users", _, "briks", _]) => {
            team::assign(
                app,
                &team,
                &path_param(&req, "user_id")?,
                &path_param(&req, "brik_id")?,
                key.as_deref(),
            )
            .await?
        }
        ("DELETE", ["account", "users", _, "briks", _]) => {
            team::remove_brik(
                app,
                &team,
                &path_param(&req, "user_id")?,
                &path_param(&req, "brik_id")?,
            )
            .await?
        }
        ("GET", ["account", "packs"]) => (
            200,
            serde_json::to_value(packs::list(app, &team).await?).map_err(Error::internal)?,
        ),
        ("PUT", ["account", "packs", _]) => {
            let (body, _): (packs::PackBody, _) = json_body(&req)?;
            packs::put(
                app,
                &team,
                &path_param(&req, "pack_id")?,
                body,
                key.as_deref(),
            )
            .await?
        }
        ("DELETE", ["account", "packs", _]) => (
            202,
            packs::remove(app, &team, &path_param(&req, "pack_id")?).await?,
        ),
        _ => return Err(Error::NotFound),
    };
    tracing::info!(status, "answered");
    Ok(json(status, &body))
}
