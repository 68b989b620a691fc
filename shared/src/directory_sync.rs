//! Directory sync of a client account (api.md "Resellers", billing.md "Resellers"): Microsoft
//! 365 (Entra ID) or Google Workspace provisioning calls `/scim/v2/Users` with the account's
//! own bearer token to create users, mark them active or inactive, and find them by address.
//!
//! A sync may make active a user an admin marked inactive by hand, unless the user's address
//! is on the account's deny list: the list wins over the directory, and putting an address on
//! it makes that user inactive (source-docs 004). The list holds keyed hashes of the addresses
//! (the same as the sign-in claims), never the addresses. The token is stored as its SHA-256
//! only: a lookup item finds the account, and a new token replaces the previous one at once.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::account::{Account, AccountStatus, Role, User, UserStatus};
use crate::app::App;
use crate::error::Error;
use crate::idempotency::{self, Lease, account_scope};
use crate::refusal::Refusal;
use crate::scim::{self, ScimError, UserResource};
use crate::store::{EmailClaimItem, UserItem, account_pk, email_claim_pk};
use crate::team::{NewMember, StatusSource, Team};
use crate::team_table::user_item;
use crate::validation::ValidationErrors;
use crate::values::{EmailAddress, PersonName};
use softbrik_app::team::set_status;

const DENY_LIST_SK: &str = "DENYLIST";
const SCIM_SK: &str = "SCIM";
/// Addresses a deny list may hold.
pub const MAX_DENIED: usize = 1000;

/// A client account's deny list: keyed hashes of the addresses a sync may not make active.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DenyListItem {
    pk: String,
    sk: String,
    hashes: BTreeSet<String>,
}

/// Whether the address of `email_hash` is on the account's deny list.
pub async fn denied(app: &App, account_id: &str, email_hash: &str) -> Result<bool, Error> {
    let list: Option<DenyListItem> = app.store.get(&account_pk(account_id), DENY_LIST_SK).await?;
    Ok(list.is_some_and(|l| l.hashes.contains(email_hash)))
}

/// Directory sync is for client accounts, whose inactive users are not billed.
fn require_client(account: &Account) -> Result<(), Error> {
    if account.billed_by_reseller() {
        Ok(())
    } else {
        Err(Error::Refused(Refusal::NotAClientAccount))
    }
}

/// `PUT /account/directory-deny-list` as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyListBody {
    pub emails: Vec<String>,
}

/// Replaces the deny list, then makes inactive every user on it. Answers the list as stored
/// (normalised addresses, each once) and the users it made inactive.
pub async fn put_deny_list(
    app: &App,
    team: &Team,
    body: DenyListBody,
) -> Result<serde_json::Value, Error> {
    require_client(&team.account)?;
    let mut errors = ValidationErrors::new();
    if body.emails.len() > MAX_DENIED {
        errors.push(
            "emails",
            "too_many",
            format!("at most {MAX_DENIED} addresses"),
        );
    }
    // Normalised address -> the address, each once.
    let mut emails: BTreeMap<String, EmailAddress> = BTreeMap::new();
    for (i, raw) in body.emails.iter().enumerate() {
        match EmailAddress::parse(raw) {
            Ok(email) if email.as_str() == team.account.admin_email.as_str() => errors.push(
                format!("emails[{i}]"),
                "admin_address",
                "the account's admin cannot be on the deny list",
            ),
            Ok(email) => {
                emails.insert(email.as_str().to_string(), email);
            }
            Err(e) => errors.push_error(e.at(format!("emails[{i}]"))),
        }
    }
    errors.into_result()?;
    let mut hashes = BTreeSet::new();
    for email in emails.values() {
        hashes.insert(app.email_hash(email).await?);
    }
    let history = team.history(
        &crate::account::new_ordered_id("hst", team.now),
        "directory_deny_list_set",
        serde_json::json!({"addresses": emails.len()}),
    );
    let list = DenyListItem {
        pk: account_pk(&team.account.id),
        sk: DENY_LIST_SK.into(),
        hashes,
    };
    app.store
        .transact(vec![
            app.store.put_op(&list)?,
            app.store.put_new_op(&history)?,
        ])
        .await
        .map_err(|e| e.into_error(|_| Error::unavailable("deny list not stored")))?;
    // The team as it stands now that the list is stored, read once.
    let now = softbrik_app::team::Team::load(app, &team.account.id, team.actor.clone()).await?;
    let mut deactivated = 0;
    for read in now.present() {
        let user = &read.value;
        if list.hashes.contains(&user_item(read)?.email_hash)
            && user.role != Role::Admin
            && user.status != UserStatus::Inactive
            && user.removal_date.is_none()
        {
            set_status(
                &app.ports(),
                &now,
                &user.id,
                false,
                StatusSource::DirectorySync,
            )
            .await?;
            deactivated += 1;
        }
    }
    Ok(serde_json::json!({"emails": emails.keys().collect::<Vec<_>>(), "deactivated": deactivated}))
}

/// The lookup from a token's hash to its account (`SCIMTOKEN#<sha256>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenItem {
    pk: String,
    sk: String,
    account_id: String,
    created_at: Timestamp,
}

/// The account's current token, by hash (`ACCOUNT#<id>`, `SCIM`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenLinkItem {
    pk: String,
    sk: String,
    token_hash: String,
    created_at: Timestamp,
    version: u64,
}

fn token_pk(hash: &str) -> String {
    format!("SCIMTOKEN#{hash}")
}

fn token_hash(token: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// `POST /account/scim-token`: a new bearer token for the account's directory sync, shown
/// once; the previous one stops working in the same transaction.
pub async fn new_token(
    app: &App,
    team: &Team,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    require_client(&team.account)?;
    let reserve = || {
        use base64::Engine;
        let secret: [u8; 32] = rand::random();
        let token = format!(
            "sbscim_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        BTreeMap::from([
            ("token".to_string(), token),
            (
                "history".to_string(),
                crate::account::new_ordered_id("hst", team.now),
            ),
        ])
    };
    let fingerprint = serde_json::json!({"route": "POST /account/scim-token"});
    let scope = account_scope(&team.account.id);
    idempotency::once(
        app,
        &scope,
        key,
        fingerprint,
        reserve,
        async |lease: &Lease| {
            let token = lease.id("token");
            let hash = token_hash(&token);
            let pk = account_pk(&team.account.id);
            let previous: Option<TokenLinkItem> = app.store.get(&pk, SCIM_SK).await?;
            let link = TokenLinkItem {
                pk: pk.clone(),
                sk: SCIM_SK.into(),
                token_hash: hash.clone(),
                created_at: team.now,
                version: previous.as_ref().map_or(1, |p| p.version + 1),
            };
            let lookup = TokenItem {
                pk: token_pk(&hash),
                sk: "SCIMTOKEN".into(),
                account_id: team.account.id.clone(),
                created_at: team.now,
            };
            let history = team.history(
                &lease.id("history"),
                "scim_token_created",
                serde_json::json!({"replaced": previous.is_some()}),
            );
            let body = serde_json::json!({"token": token});
            let mut ops = vec![
                match &previous {
                    Some(p) => app.store.put_if_version_op(&link, p.version)?,
                    None => app.store.put_new_op(&link)?,
                },
                app.store.put_new_op(&lookup)?,
                app.store.put_new_op(&history)?,
            ];
            if let Some(p) = &previous {
                ops.push(app.store.delete_op(&token_pk(&p.token_hash), "SCIMTOKEN")?);
            }
            ops.extend(idempotency::finish_op(
                app,
                lease,
                &team.account.id,
                &team.key,
                201,
                &body,
            )?);
            app.store.transact(ops).await.map_err(|e| {
                e.into_error(|_| {
                    Error::Refused(Refusal::ConcurrentChange(
                        "another token was made meanwhile; retry",
                    ))
                })
            })?;
            Ok((201, body))
        },
    )
    .await
}

/// The client account a SCIM bearer token belongs to; anything else is 401.
pub async fn account_of_token(app: &App, authorization: Option<&str>) -> Result<String, ScimError> {
    let token = authorization
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| t.starts_with("sbscim_") && t.len() < 200)
        .ok_or_else(ScimError::unauthorized)?;
    let found: Option<TokenItem> = app
        .store
        .get(&token_pk(&token_hash(token)), "SCIMTOKEN")
        .await
        .map_err(|e| scim_error(&e))?;
    found
        .map(|t| t.account_id)
        .ok_or_else(ScimError::unauthorized)
}

/// A SCIM request, as the function hands it over.
pub struct ScimRequest<'a> {
    pub method: &'a str,
    /// The user id after `/scim/v2/Users/`, if any.
    pub user_id: Option<&'a str>,
    pub filter: Option<&'a str>,
    pub start_index: Option<&'a str>,
    pub count: Option<&'a str>,
    pub body: Option<serde_json::Value>,
}

/// Serves one SCIM request for `account_id`: the status and the body (`None`: no body).
pub async fn serve(
    app: &App,
    account_id: &str,
    request: ScimRequest<'_>,
) -> Result<(u16, Option<serde_json::Value>), ScimError> {
    let team = Team::of(app, account_id, "directory_sync".into())
        .await
        .map_err(|e| scim_error(&e))?;
    if !matches!(
        team.account.status,
        AccountStatus::Active | AccountStatus::PastDue
    ) || !team.account.billed_by_reseller()
    {
        return Err(ScimError::unauthorized());
    }
    let body = || request.body.clone().unwrap_or(serde_json::Value::Null);
    match (request.method, request.user_id) {
        ("GET", None) => list(app, &team, &request).await.map(|b| (200, Some(b))),
        ("GET", Some(id)) => {
            let (item, user) = team.user(app, id).await.map_err(|e| scim_error(&e))?;
            Ok((200, Some(resource(&team.account, &item, &user))))
        }
        ("POST", None) => create(app, &team, &body()).await.map(|b| (201, Some(b))),
        ("PATCH", Some(id)) => match scim::parse_patch(&body())? {
            Some(active) => set_active(app, &team, id, active)
                .await
                .map(|b| (200, Some(b))),
            None => {
                let (item, user) = team.user(app, id).await.map_err(|e| scim_error(&e))?;
                Ok((200, Some(resource(&team.account, &item, &user))))
            }
        },
        // Removed from the sync pool: the user becomes inactive (source-docs 004), kept.
        ("DELETE", Some(id)) => set_active(app, &team, id, false).await.map(|_| (204, None)),
        _ => Err(ScimError {
            status: 405,
            scim_type: None,
            detail: "this method is not supported here".into(),
        }),
    }
}

async fn list(
    app: &App,
    team: &Team,
    request: &ScimRequest<'_>,
) -> Result<serde_json::Value, ScimError> {
    let (start, count) = scim::parse_paging(request.start_index, request.count)?;
    let mut found: Vec<(UserItem, User)> = match request.filter {
        Some(filter) => {
            let user_name = scim::parse_filter(filter)?;
            match EmailAddress::parse(&user_name) {
                Ok(email) => by_address(app, team, &email)
                    .await
                    .map_err(|e| scim_error(&e))?
                    .into_iter()
                    .collect(),
                Err(_) => Vec::new(),
            }
        }
        None => team.users(app).await.map_err(|e| scim_error(&e))?,
    };
    found.sort_by(|a, b| a.1.id.cmp(&b.1.id));
    let total = found.len();
    let page: Vec<serde_json::Value> = found
        .iter()
        .skip(start - 1)
        .take(count)
        .map(|(item, user)| resource(&team.account, item, user))
        .collect();
    Ok(scim::list_response(page, total, start))
}

/// The account's user with this address, if it has one (another account's is not shown).
async fn by_address(
    app: &App,
    team: &Team,
    email: &EmailAddress,
) -> Result<Option<(UserItem, User)>, Error> {
    let hash = app.email_hash(email).await?;
    let claim: Option<EmailClaimItem> = app.store.get(&email_claim_pk(&hash), "EMAIL").await?;
    match claim {
        Some(c) if c.account_id == team.account.id => match team.user(app, &c.user_id).await {
            Ok(found) => Ok(Some(found)),
            Err(Error::NotFound) => Ok(None),
            Err(e) => Err(e),
        },
        _ => Ok(None),
    }
}

async fn create(
    app: &App,
    team: &Team,
    body: &serde_json::Value,
) -> Result<serde_json::Value, ScimError> {
    let new = scim::parse_create(body)?;
    let email = EmailAddress::parse(&new.user_name)
        .map_err(|_| ScimError::bad_request("invalidValue", "userName must be an email address"))?;
    let name = PersonName::parse(&new.display_name)
        .or_else(|_| PersonName::parse(email.as_str().split('@').next().unwrap_or_default()))
        .map_err(|_| ScimError::bad_request("invalidValue", "displayName is not a usable name"))?;
    let hash = app.email_hash(&email).await.map_err(|e| scim_error(&e))?;
    let on_deny_list = denied(app, &team.account.id, &hash)
        .await
        .map_err(|e| scim_error(&e))?;
    let member = NewMember {
        email,
        name,
        language: team.account.language,
        active: new.active && !on_deny_list,
    };
    let fingerprint = serde_json::json!({"route": "POST /scim/v2/Users", "body": body});
    let changing = team.to_app(app).map_err(|e| scim_error(&e))?;
    let (_, body) =
        softbrik_app::team::add_member(&app.ports(), &changing, &member, &[], None, fingerprint)
            .await
            .map_err(|e| scim_error(&e))?;
    let user_id = body
        .pointer("/user/id")
        .and_then(|id| id.as_str())
        .ok_or_else(|| scim_error(&Error::internal("a new user answered without an id")))?;
    let (item, user) = team.user(app, user_id).await.map_err(|e| scim_error(&e))?;
    Ok(resource(&team.account, &item, &user))
}

async fn set_active(
    app: &App,
    team: &Team,
    user_id: &str,
    active: bool,
) -> Result<serde_json::Value, ScimError> {
    let changing = team.to_app(app).map_err(|e| scim_error(&e))?;
    set_status(
        &app.ports(),
        &changing,
        user_id,
        active,
        StatusSource::DirectorySync,
    )
    .await
    .map_err(|e| scim_error(&e))?;
    let (item, user) = team.user(app, user_id).await.map_err(|e| scim_error(&e))?;
    Ok(resource(&team.account, &item, &user))
}

/// A user as SCIM shows them: the address is the `userName`.
fn resource(account: &Account, item: &UserItem, user: &User) -> serde_json::Value {
    let created = item.created_at.unwrap_or(account.created_at);
    let location = format!("/scim/v2/Users/{}", user.id);
    UserResource {
        id: &user.id,
        user_name: user.email.as_str(),
        display_name: user.name.as_str(),
        active: user.status != UserStatus::Inactive,
        external_id: None,
        created,
        last_modified: created,
        location: &location,
    }
    .to_json()
}

/// An error of the domain in SCIM's terms.
pub fn scim_error(e: &Error) -> ScimError {
    match e {
        Error::EmailTaken => ScimError::uniqueness("a user with this userName already exists"),
        Error::NotFound => ScimError::not_found(),
        Error::MalformedJson(_) | Error::PayloadTooLarge => {
            ScimError::bad_request("invalidSyntax", e.to_string())
        }
        Error::Validation(_) | Error::CardNumberNotAccepted { .. } => {
            ScimError::bad_request("invalidValue", e.problem().detail)
        }
        Error::Refused(refusal) => ScimError {
            status: e.status(),
            scim_type: None,
            detail: refusal.to_string(),
        },
        Error::Unavailable(_) | Error::InDoubt(_) => ScimError {
            status: 503,
            scim_type: None,
            detail: e.problem().detail,
        },
        other => ScimError {
            status: other.status(),
            scim_type: None,
            detail: other.problem().detail,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_stored_as_its_hash() {
        let hash = token_hash("sbscim_abc");
        assert_eq!(hash.len(), 43);
        assert_ne!(hash, token_hash("sbscim_abd"));
        assert_eq!(token_pk(&hash), format!("SCIMTOKEN#{hash}"));
    }

    #[test]
    fn domain_errors_keep_their_meaning_in_scim() {
        assert_eq!(scim_error(&Error::EmailTaken).status, 409);
        assert_eq!(scim_error(&Error::EmailTaken).scim_type, Some("uniqueness"));
        assert_eq!(scim_error(&Error::NotFound).status, 404);
        assert_eq!(scim_error(&Error::unavailable("ddb")).status, 503);
        let conflict = scim_error(&Error::Refused(Refusal::CannotDeactivateAdmin));
        assert_eq!(
            (conflict.status, conflict.detail.as_str()),
            (409, "the account's admin cannot be made inactive")
        );
    }
}
