//! The `assign-brik` function: what is attached to the subscription, charged now and ended at
//! period end: the account's team (`/account/users...`: invite users, assign and remove
//! Briks, remove and restore users) and its add-on packs (`/account/packs...`). Additions are
//! charged at once through the proration engine (`softbrik::team`, `softbrik::packs`,
//! `softbrik::invoicing`); removals take effect at the end of the period. Also who may use
//! the account: users marked active or inactive, and a client account's directory sync
//! (`/scim/v2/Users` with its own bearer token, its token and deny list:
//! `softbrik::directory_sync`).

use lambda_http::{Body, Error as LambdaError, Request, RequestExt, Response};
use softbrik::app::App;
use softbrik::directory_sync::{self, DenyListBody, ScimRequest};
use softbrik::edge::{self, no_events, route_key};
use softbrik::error::Error;
use softbrik::http::{self, json, json_body, path_param};
use softbrik::idempotency::parse_key;
use softbrik::packs;
use softbrik::records::{self, Listed};
use softbrik::refusal::Refusal;
use softbrik::team::{self, InviteBody, RemoveBody, StatusBody, StatusSource, Team};
use softbrik_app::team as app_team;

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    edge::serve(route, no_events).await
}

async fn route(app: &App, req: Request) -> Result<Response<Body>, Error> {
    let route = route_key(&req);
    if route.contains(" /scim/") {
        return Ok(scim(app, &req).await);
    }
    if route == "DELETE /staff/accounts/{account_id}/users/{user_id}" {
        return staff_removal(app, &req).await;
    }
    if route == "GET /entitlements/{account_id}/users/{user_id}" {
        return entitlements(app, &req).await;
    }
    // Admitted from the account's records, read once with everything the team needs.
    let caller = http::identity(&req)?;
    let team = Team::for_admin(app, &caller).await?;
    edge::record_account(&team.account.id);
    let key = parse_key(http::header(&req, "idempotency-key"))?;
    if req.method() != "GET" {
        team.changeable()?;
    }
    let (status, body) = match route {
        "GET /account/users" => {
            let query = req.query_string_parameters_ref();
            let page = records::Page::parse(
                query.and_then(|q| q.first("limit")),
                query.and_then(|q| q.first("next")),
            )?;
            let limit = usize::try_from(page.limit).map_err(Error::internal)?;
            let team = team.to_app(app)?;
            let users = app_team::list_users(&app.ports(), &team, limit, page.next).await?;
            (
                200,
                serde_json::to_value(Listed::from(users)).map_err(Error::internal)?,
            )
        }
        "POST /account/users" => {
            let (body, raw): (InviteBody, _) = json_body(&req)?;
            team::invite(app, &team, body, &raw, key.as_deref()).await?
        }
        "DELETE /account/users/{user_id}" => {
            http::idempotent(app, &req, &team.account.id, async || {
                let body = if req.body().is_empty() {
                    RemoveBody::default()
                } else {
                    json_body::<RemoveBody>(&req)?.0
                };
                let user_id = path_param(&req, "user_id")?;
                let team = team.to_app(app)?;
                let removal =
                    app_team::remove_user(&app.ports(), &team, &user_id, body.immediate).await?;
                Ok((202, serde_json::to_value(removal).map_err(Error::internal)?))
            })
            .await?
        }
        "POST /account/users/{user_id}/restore" => {
            http::idempotent(app, &req, &team.account.id, async || {
                http::no_fields(&req)?;
                let user_id = path_param(&req, "user_id")?;
                let user =
                    app_team::restore_user(&app.ports(), &team.to_app(app)?, &user_id).await?;
                Ok((200, serde_json::to_value(user).map_err(Error::internal)?))
            })
            .await?
        }
        "PUT /account/users/{user_id}/briks/{brik_id}" => {
            let catalogue = app.catalogue().await?;
            app_team::assign(
                &app.ports(),
                &team.to_app(app)?,
                &catalogue,
                &path_param(&req, "user_id")?,
                &path_param(&req, "brik_id")?,
                key.as_deref(),
            )
            .await?
        }
        "DELETE /account/users/{user_id}/briks/{brik_id}" => {
            http::idempotent(app, &req, &team.account.id, async || {
                let (user_id, brik_id) =
                    (path_param(&req, "user_id")?, path_param(&req, "brik_id")?);
                let team = team.to_app(app)?;
                let removal =
                    app_team::remove_brik(&app.ports(), &team, &user_id, &brik_id).await?;
                Ok((202, serde_json::to_value(removal).map_err(Error::internal)?))
            })
            .await?
        }
        "PUT /account/users/{user_id}/status" => {
            http::idempotent(app, &req, &team.account.id, async || {
                let (body, _): (StatusBody, _) = json_body(&req)?;
                let user_id = path_param(&req, "user_id")?;
                let changing = team.to_app(app)?;
                let user = app_team::set_status(
                    &app.ports(),
                    &changing,
                    &user_id,
                    body.active,
                    StatusSource::Admin,
                )
                .await?;
                Ok((
                    200,
                    serde_json::to_value(user.view(team.today)).map_err(Error::internal)?,
                ))
            })
            .await?
        }
        "POST /account/transfer-code" => {
            http::idempotent(app, &req, &team.account.id, async || {
                http::no_fields(&req)?;
                let code =
                    softbrik_app::resellers::transfer_code(&app.ports(), &team.account, team.now)
                        .await?;
                Ok((201, code))
            })
            .await?
        }
        "POST /account/scim-token" => {
            http::no_fields(&req)?;
            directory_sync::new_token(app, &team, key.as_deref()).await?
        }
        "PUT /account/directory-deny-list" => {
            http::idempotent(app, &req, &team.account.id, async || {
                let (body, _): (DenyListBody, _) = json_body(&req)?;
                Ok((200, directory_sync::put_deny_list(app, &team, body).await?))
            })
            .await?
        }
        "GET /account/packs" => (
            200,
            serde_json::to_value(Listed::whole(packs::list(app, &team).await?))
                .map_err(Error::internal)?,
        ),
        "PUT /account/packs/{pack_id}" => {
            team.account.require_own_billing()?;
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
        "DELETE /account/packs/{pack_id}" => {
            http::idempotent(app, &req, &team.account.id, async || {
                Ok((
                    202,
                    packs::remove(app, &team, &path_param(&req, "pack_id")?).await?,
                ))
            })
            .await?
        }
        _ => return Err(Error::NotFound),
    };
    tracing::info!(status, "answered");
    Ok(json(status, &body))
}

/// `DELETE /staff/accounts/{account_id}/users/{user_id}`: a user removed (at period end, or
/// cut off at once with `{immediate: true}`) by support staff for the customer, with the
/// rules of the admin's own removal.
async fn staff_removal(app: &App, req: &Request) -> Result<Response<Body>, Error> {
    let (status, body) = softbrik::staff::act(app, req, async |mandate, body: RemoveBody| {
        let team = Team::of(app, &mandate.account_id, mandate.actor()).await?;
        team.changeable()?;
        let user_id = path_param(req, "user_id")?;
        let removal =
            app_team::remove_user(&app.ports(), &team.to_app(app)?, &user_id, body.immediate)
                .await?;
        Ok((202, serde_json::to_value(removal).map_err(Error::internal)?))
    })
    .await?;
    tracing::info!(status, "answered");
    Ok(json(status, &body))
}

/// `GET /entitlements/{account_id}/users/{user_id}`: for the Brik modules, signed with their
/// IAM role (never a user's token): what the user may use now, as the events announce it.
async fn entitlements(app: &App, req: &Request) -> Result<Response<Body>, Error> {
    http::iam_caller(req, app.config.brik_modules_role.as_deref())?;
    let account_id = path_param(req, "account_id")?;
    let user_id = path_param(req, "user_id")?;
    edge::record_account(&account_id);
    let answer = softbrik_app::events::entitlements(&app.ports(), &account_id, &user_id).await?;
    Ok(json(
        200,
        &serde_json::to_value(answer).map_err(Error::internal)?,
    ))
}

/// `/scim/v2/Users[/{user_id}]`: authenticated by the account's SCIM token (no Cognito token),
/// answered in SCIM's own JSON, errors included (RFC 7644 §3.12).
async fn scim(app: &App, req: &Request) -> Response<Body> {
    let answer = async {
        let account_id =
            directory_sync::account_of_token(app, http::header(req, "authorization")).await?;
        edge::record_account(&account_id);
        let user_id = match route_key(req).split_once(' ').map(|(_, path)| path) {
            Some("/scim/v2/Users") => None,
            Some("/scim/v2/Users/{user_id}") => {
                req.path_parameters_ref().and_then(|p| p.first("user_id"))
            }
            _ => return Err(softbrik::scim::ScimError::not_found()),
        };
        let body = match req.method().as_str() {
            "POST" | "PATCH" | "PUT" => Some(
                json_body::<serde_json::Value>(req)
                    .map_err(|e| directory_sync::scim_error(&e))?
                    .1,
            ),
            _ => None,
        };
        let key = parse_key(http::header(req, "idempotency-key"))
            .map_err(|e| directory_sync::scim_error(&e))?;
        let query = req.query_string_parameters_ref();
        let first = |name: &str| query.and_then(|q| q.first(name));
        let request = ScimRequest {
            method: req.method().as_str(),
            user_id,
            filter: first("filter"),
            start_index: first("startIndex"),
            count: first("count"),
            body,
        };
        let changes = matches!(req.method().as_str(), "POST" | "PATCH" | "DELETE");
        if !changes || key.is_none() {
            // Directory clients send no key: a creation is unique by userName, PATCH and
            // DELETE set a state.
            return directory_sync::serve(app, &account_id, request).await;
        }
        // Under the request's Idempotency-Key (api.md "Conventions"): a duplicate replays the
        // first answer. A SCIM refusal crosses the guard as an error of its class (a 4xx gives
        // the key back, a 5xx keeps it for the retry) and is answered as itself.
        let mut refused = None;
        let guarded = softbrik::idempotency::guard(
            app,
            &account_id,
            key.as_deref(),
            http::fingerprint(req),
            async || match directory_sync::serve(app, &account_id, request).await {
                Ok((status, body)) => Ok((status, body.unwrap_or(serde_json::Value::Null))),
                Err(e) => {
                    let crossing = if e.status >= 500 {
                        Error::unavailable(e.detail.clone())
                    } else {
                        Error::Refused(Refusal::ScimRefused(e.detail.clone()))
                    };
                    refused = Some(e);
                    Err(crossing)
                }
            },
        )
        .await;
        match guarded {
            Ok((status, body)) => Ok((status, (!body.is_null()).then_some(body))),
            Err(e) => Err(refused
                .take()
                .unwrap_or_else(|| directory_sync::scim_error(&e))),
        }
    }
    .await;
    let (status, body) = match answer {
        Ok((status, body)) => (status, body.unwrap_or(serde_json::Value::Null)),
        Err(e) => (e.status, e.body()),
    };
    tracing::info!(status, "scim answered");
    http::json_as(status, softbrik::scim::CONTENT_TYPE, &body)
}
