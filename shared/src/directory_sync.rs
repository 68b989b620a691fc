//! Directory sync of a client account (api.md "Resellers", billing.md "Resellers"): the
//! DynamoDB adapter of the directory sync port
//! (`softbrik_app::ports::directory_sync::DirectorySyncTable`), and the `/scim/v2/Users`
//! routes in SCIM's terms over its use cases (`softbrik_app::directory_sync`).
//!
//! The deny list is one item (`ACCOUNT#<id>`, `DENYLIST`) holding keyed hashes of the
//! addresses (the same as the sign-in claims), never the addresses. The token is stored as its
//! SHA-256 only: a lookup item (`SCIMTOKEN#<sha256>`) finds the account, and the account's
//! link to its current token (`ACCOUNT#<id>`, `SCIM`, versioned) lets a new token replace the
//! previous one at once. The SCIM wire format is `crate::scim`'s.

use std::collections::BTreeSet;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use softbrik_app::directory_sync as sync;
use softbrik_app::ports::directory_sync::{DirectorySyncTable, Provisioned};
use softbrik_app::ports::team::{Answering, Stamp, TeamRecords};

pub use softbrik_app::directory_sync::{DenyListBody, DenyListSet, MAX_DENIED};

use crate::account::{Account, HistoryEntry, User};
use crate::app::App;
use crate::error::Error;
use crate::refusal::Refusal;
use crate::scim::{self, ScimError, UserResource};
use crate::store::{EmailClaimItem, HistoryItem, UserItem, account_pk, email_claim_pk};
use crate::team::Team;
use crate::team_table::sealing;
use crate::values::EmailAddress;

const DENY_LIST_SK: &str = "DENYLIST";
const SCIM_SK: &str = "SCIM";

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

/// `PUT /account/directory-deny-list` (`softbrik_app::directory_sync::put_deny_list`): the
/// list as stored and the users it made inactive.
pub async fn put_deny_list(
    app: &App,
    team: &Team,
    body: DenyListBody,
) -> Result<serde_json::Value, Error> {
    let set = sync::put_deny_list(&app.ports(), &team.to_app(app)?, &body).await?;
    serde_json::to_value(set).map_err(Error::internal)
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

/// `POST /account/scim-token` (`softbrik_app::directory_sync::new_token`): a new bearer
/// token, shown once; the previous one stops working in the same transaction.
pub async fn new_token(
    app: &App,
    team: &Team,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    sync::new_token(&app.ports(), &team.to_app(app)?, key).await
}

/// The client account a SCIM bearer token belongs to; anything else is 401.
pub async fn account_of_token(app: &App, authorization: Option<&str>) -> Result<String, ScimError> {
    sync::account_of_token(&app.ports(), authorization)
        .await
        .map_err(|e| scim_error(&e))?
        .ok_or_else(ScimError::unauthorized)
}

/// A user's item opened, with when they joined.
fn provisioned(
    account_id: &str,
    key: &crate::crypto::DataKey,
    item: &UserItem,
) -> Result<Provisioned, Error> {
    Ok(Provisioned {
        user: item.open(account_id, key)?,
        created_at: item.created_at,
    })
}

#[async_trait]
impl DirectorySyncTable for App {
    async fn denied(&self, team: &TeamRecords, email: &EmailAddress) -> Result<bool, Error> {
        let hash = self.email_hash(email).await?;
        denied(self, &team.account.id, &hash).await
    }

    async fn put_deny_list(
        &self,
        team: &TeamRecords,
        emails: &[EmailAddress],
        (id, entry): (String, HistoryEntry),
    ) -> Result<(), Error> {
        let (key, _) = sealing(team)?;
        let mut hashes = BTreeSet::new();
        for email in emails {
            hashes.insert(self.email_hash(email).await?);
        }
        let list = DenyListItem {
            pk: account_pk(&team.account.id),
            sk: DENY_LIST_SK.into(),
            hashes,
        };
        let history = HistoryItem::seal(&team.account.id, &id, &entry, key);
        self.store
            .transact(vec![
                self.store.put_op(&list)?,
                self.store.put_new_op(&history)?,
            ])
            .await
            .map_err(|e| e.into_error(|_| Error::unavailable("deny list not stored")))
    }

    async fn token(&self, team: &TeamRecords) -> Result<Option<Stamp>, Error> {
        let link: Option<TokenLinkItem> = self
            .store
            .get(&account_pk(&team.account.id), SCIM_SK)
            .await?;
        Ok(link.map(Stamp::new))
    }

    async fn replace_token(
        &self,
        team: &TeamRecords,
        token_hash: &str,
        previous: Option<&Stamp>,
        (id, entry): (String, HistoryEntry),
        at: Timestamp,
        answer: Option<Answering<'_>>,
    ) -> Result<(), Error> {
        let (key, _) = sealing(team)?;
        let account_id = &team.account.id;
        let previous: Option<&TokenLinkItem> =
            previous.map(Stamp::get::<TokenLinkItem>).transpose()?;
        let pk = account_pk(account_id);
        let link = TokenLinkItem {
            pk,
            sk: SCIM_SK.into(),
            token_hash: token_hash.to_string(),
            created_at: at,
            version: previous.map_or(1, |p| p.version + 1),
        };
        let lookup = TokenItem {
            pk: token_pk(token_hash),
            sk: "SCIMTOKEN".into(),
            account_id: account_id.clone(),
            created_at: at,
        };
        let history = HistoryItem::seal(account_id, &id, &entry, key);
        let mut ops = vec![
            match previous {
                Some(p) => self.store.put_if_version_op(&link, p.version)?,
                None => self.store.put_new_op(&link)?,
            },
            self.store.put_new_op(&lookup)?,
            self.store.put_new_op(&history)?,
        ];
        if let Some(p) = previous {
            ops.push(
                self.store
                    .delete_op(&token_pk(&p.token_hash), "SCIMTOKEN")?,
            );
        }
        if let Some((_, recorded)) =
            crate::idempotency::answered(self, answer.as_ref(), account_id, key, None)?
        {
            ops.extend(recorded);
        }
        self.store.transact(ops).await.map_err(|e| {
            e.into_error(|_| {
                Error::Refused(Refusal::ConcurrentChange(
                    "another token was made meanwhile; retry",
                ))
            })
        })
    }

    async fn account_of_token(&self, token_hash: &str) -> Result<Option<String>, Error> {
        let found: Option<TokenItem> = self.store.get(&token_pk(token_hash), "SCIMTOKEN").await?;
        Ok(found.map(|t| t.account_id))
    }

    async fn user(&self, team: &TeamRecords, user_id: &str) -> Result<Option<Provisioned>, Error> {
        let (key, _) = sealing(team)?;
        let account_id = &team.account.id;
        let item: Option<UserItem> = self
            .store
            .get(&account_pk(account_id), &crate::store::user_sk(user_id))
            .await?;
        item.map(|item| provisioned(account_id, key, &item))
            .transpose()
    }

    async fn users(&self, team: &TeamRecords) -> Result<Vec<Provisioned>, Error> {
        let (key, _) = sealing(team)?;
        let account_id = &team.account.id;
        UserItem::all(&self.store, account_id)
            .await?
            .iter()
            .map(|item| provisioned(account_id, key, item))
            .collect()
    }

    async fn user_by_address(
        &self,
        team: &TeamRecords,
        email: &EmailAddress,
    ) -> Result<Option<Provisioned>, Error> {
        let hash = self.email_hash(email).await?;
        let claim: Option<EmailClaimItem> = self.store.get(&email_claim_pk(&hash), "EMAIL").await?;
        match claim {
            Some(c) if c.account_id == team.account.id => {
                DirectorySyncTable::user(self, team, &c.user_id).await
            }
            _ => Ok(None),
        }
    }
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
    let ports = app.ports();
    let team = sync::synced_team(&ports, account_id)
        .await
        .map_err(|e| scim_error(&e))?
        .ok_or_else(ScimError::unauthorized)?;
    let account = team.account();
    let body = || request.body.clone().unwrap_or(serde_json::Value::Null);
    let shown = |found: Result<Provisioned, Error>| {
        found
            .map(|p| (200, Some(resource(account, &p))))
            .map_err(|e| scim_error(&e))
    };
    match (request.method, request.user_id) {
        ("GET", None) => list(app, &team, &request).await.map(|b| (200, Some(b))),
        ("GET", Some(id)) => shown(sync::user(&ports, &team, id).await),
        ("POST", None) => create(app, &team, &body()).await.map(|b| (201, Some(b))),
        ("PATCH", Some(id)) => match scim::parse_patch(&body())? {
            Some(active) => shown(sync::set_active(&ports, &team, id, active).await),
            None => shown(sync::user(&ports, &team, id).await),
        },
        // Removed from the sync pool: the user becomes inactive (source-docs 004), kept.
        ("DELETE", Some(id)) => sync::set_active(&ports, &team, id, false)
            .await
            .map(|_| (204, None))
            .map_err(|e| scim_error(&e)),
        _ => Err(ScimError {
            status: 405,
            scim_type: None,
            detail: "this method is not supported here".into(),
        }),
    }
}

async fn list(
    app: &App,
    team: &softbrik_app::team::Team,
    request: &ScimRequest<'_>,
) -> Result<serde_json::Value, ScimError> {
    let ports = app.ports();
    let (start, count) = scim::parse_paging(request.start_index, request.count)?;
    let found: Vec<Provisioned> = match request.filter {
        Some(filter) => {
            let user_name = scim::parse_filter(filter)?;
            match EmailAddress::parse(&user_name) {
                Ok(email) => sync::by_address(&ports, team, &email)
                    .await
                    .map_err(|e| scim_error(&e))?
                    .into_iter()
                    .collect(),
                Err(_) => Vec::new(),
            }
        }
        None => sync::users(&ports, team)
            .await
            .map_err(|e| scim_error(&e))?,
    };
    let total = found.len();
    let page: Vec<serde_json::Value> = found
        .iter()
        .skip(start - 1)
        .take(count)
        .map(|p| resource(team.account(), p))
        .collect();
    Ok(scim::list_response(page, total, start))
}

async fn create(
    app: &App,
    team: &softbrik_app::team::Team,
    body: &serde_json::Value,
) -> Result<serde_json::Value, ScimError> {
    let new = scim::parse_create(body)?;
    let email = EmailAddress::parse(&new.user_name)
        .map_err(|_| ScimError::bad_request("invalidValue", "userName must be an email address"))?;
    let name = softbrik_domain::directory_sync::member_name(&new.display_name, &email).ok_or_else(
        || ScimError::bad_request("invalidValue", "displayName is not a usable name"),
    )?;
    let fingerprint = serde_json::json!({"route": "POST /scim/v2/Users", "body": body});
    let created = sync::create(&app.ports(), team, email, name, new.active, fingerprint)
        .await
        .map_err(|e| scim_error(&e))?;
    Ok(resource(team.account(), &created))
}

/// A user as SCIM shows them: the address is the `userName`.
fn resource(account: &Account, provisioned: &Provisioned) -> serde_json::Value {
    let user: &User = &provisioned.user;
    let created = provisioned.created_at.unwrap_or(account.created_at);
    let location = format!("/scim/v2/Users/{}", user.id);
    UserResource {
        id: &user.id,
        user_name: user.email.as_str(),
        display_name: user.name.as_str(),
        active: user.status != crate::account::UserStatus::Inactive,
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
        let hash = sync::token_hash("sbscim_abc");
        assert_eq!(hash.len(), 43);
        assert_ne!(hash, sync::token_hash("sbscim_abd"));
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
