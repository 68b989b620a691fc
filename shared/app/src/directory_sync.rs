//! Directory sync of a client account (api.md "Resellers", billing.md "Resellers"): Microsoft
//! 365 (Entra ID) or Google Workspace provisioning calls `/scim/v2/Users` with the account's
//! own bearer token to create users, mark them active or inactive, and find them by address.
//!
//! A sync may make active a user an admin marked inactive by hand, unless the user's address
//! is on the account's deny list: the list wins over the directory, and putting an address on
//! it makes that user inactive (source-docs 004). The list is stored as keyed hashes of the
//! addresses, never the addresses. The token is stored as its SHA-256 only (hashed here, so no
//! adapter ever holds one): a new token replaces the previous one at once.
//!
//! Each use case loads through [`DirectorySyncTable`] and the team port, decides with
//! `softbrik_domain::directory_sync` and `softbrik_domain::team`, and commits in one
//! transaction; the team's changes are `crate::team`'s (`add_member`, `set_status`). The SCIM
//! protocol (its JSON, its errors) is the edge's.
//!
//! [`DirectorySyncTable`]: crate::ports::directory_sync::DirectorySyncTable

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use softbrik_domain::account::{HistoryEntry, Invoice};
use softbrik_domain::directory_sync::{self as decide, TOKEN_PREFIX};
use softbrik_domain::values::{EmailAddress, PersonName};

pub use softbrik_domain::directory_sync::MAX_DENIED;

use crate::error::Error;
use crate::idempotency::{self, Lease, account_scope};
use crate::ids::new_ordered_id;
use crate::ports::Ports;
pub use crate::ports::directory_sync::Provisioned;
use crate::ports::team::Answering;
use crate::team::{NewMember, StatusSource, Team, add_member, set_status};

/// The actor a directory sync's changes are recorded as (it has no user).
pub const SYNC_ACTOR: &str = "directory_sync";

/// `PUT /account/directory-deny-list` as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyListBody {
    pub emails: Vec<String>,
}

/// What putting the deny list answers: the list as stored (normalised addresses, each once,
/// in order) and how many users it made inactive.
#[derive(Debug, Serialize, Deserialize)]
pub struct DenyListSet {
    pub emails: Vec<String>,
    pub deactivated: u32,
}

/// An entry of the account's history, by the team's actor at its "now".
fn entry(team: &Team, action: &str, details: serde_json::Value) -> HistoryEntry {
    HistoryEntry {
        at: team.now,
        actor: team.actor.clone(),
        action: action.into(),
        details,
    }
}

/// `PUT /account/directory-deny-list`: replaces the client account's deny list (stored with
/// its history entry in one transaction), then makes inactive every user on it (each a
/// status change of its own, `set_status`, as a sync would). Answers the list as stored and
/// the users it made inactive. Not a client account: refused; a bad address, the admin's, or
/// too many: nothing is stored.
pub async fn put_deny_list(
    ports: &Ports<'_>,
    team: &Team,
    body: &DenyListBody,
) -> Result<DenyListSet, Error> {
    decide::require_client(team.account())?;
    let listed = decide::deny_list(team.account(), &body.emails)?;
    let emails: Vec<EmailAddress> = listed.values().cloned().collect();
    let history = (
        new_ordered_id("hst", team.now),
        entry(
            team,
            "directory_deny_list_set",
            serde_json::json!({"addresses": listed.len()}),
        ),
    );
    ports
        .directory_sync
        .put_deny_list(&team.records, &emails, history)
        .await?;
    // The team as it stands now that the list is stored, read once: a sync that made one of
    // them active before it was stored is seen here, one after it is refused by the list.
    let now = Team::load(ports.table, &team.account().id, team.actor.clone()).await?;
    let mut deactivated = 0;
    for read in now.present() {
        let user = &read.value;
        if listed.contains_key(user.email.as_str()) && decide::made_inactive_by_list(user) {
            set_status(ports, &now, &user.id, false, StatusSource::DirectorySync).await?;
            deactivated += 1;
        }
    }
    Ok(DenyListSet {
        emails: listed.into_keys().collect(),
        deactivated,
    })
}

/// The SHA-256 of a token, as it is stored and looked up (URL-safe base64, no padding).
pub fn token_hash(token: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// A new bearer token: 32 random bytes behind Softbrik's prefix.
fn new_token_value() -> String {
    crate::ids::new_secret(TOKEN_PREFIX)
}

/// `POST /account/scim-token`: a new bearer token for the client account's directory sync,
/// shown once (201 `{token}`); the previous one stops working in the same transaction, with
/// the history entry and the answer for the `Idempotency-Key`. Not a client account: refused.
pub async fn new_token(
    ports: &Ports<'_>,
    team: &Team,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    decide::require_client(team.account())?;
    let now = team.now;
    let reserve = || {
        BTreeMap::from([
            ("token".to_string(), new_token_value()),
            ("history".to_string(), new_ordered_id("hst", now)),
        ])
    };
    let fingerprint = serde_json::json!({"route": "POST /account/scim-token"});
    let scope = account_scope(&team.account().id);
    idempotency::once_in(
        ports,
        &scope,
        key,
        fingerprint,
        reserve,
        async |lease: &Lease| {
            let token = lease.id("token");
            let previous = ports.directory_sync.token(&team.records).await?;
            let history = (
                lease.id("history"),
                entry(
                    team,
                    "scim_token_created",
                    serde_json::json!({"replaced": previous.is_some()}),
                ),
            );
            let body = serde_json::json!({"token": token});
            let answer = |_: Option<&Invoice>| Ok(body.clone());
            let answering = lease.held().map(|held| Answering {
                lease: held,
                status: 201,
                body: &answer,
            });
            ports
                .directory_sync
                .replace_token(
                    &team.records,
                    &token_hash(&token),
                    previous.as_ref(),
                    history,
                    now,
                    answering,
                )
                .await?;
            Ok((201, body))
        },
    )
    .await
}

/// The account a SCIM request's `Authorization` header is the token of; `None` (401) for no
/// token, one not of Softbrik's form, or one no account has (any more).
pub async fn account_of_token(
    ports: &Ports<'_>,
    authorization: Option<&str>,
) -> Result<Option<String>, Error> {
    let Some(token) = decide::bearer_token(authorization) else {
        return Ok(None);
    };
    ports
        .directory_sync
        .account_of_token(&token_hash(token))
        .await
}

/// The team a directory syncs, read once, as the sync changes it; `None` (401, as an unknown
/// token) unless a client account, active or past due.
pub async fn synced_team(ports: &Ports<'_>, account_id: &str) -> Result<Option<Team>, Error> {
    let team = Team::load(ports.table, account_id, SYNC_ACTOR.into()).await?;
    Ok(decide::syncs(team.account()).then_some(team))
}

/// A user present today, found.
fn present(team: &Team, found: Option<Provisioned>) -> Option<Provisioned> {
    found.filter(|p| p.user.present_on(team.today))
}

/// `GET /scim/v2/Users/{id}`: the account's user as stored now; another account's, a removed
/// one or an unknown id is not found.
pub async fn user(ports: &Ports<'_>, team: &Team, user_id: &str) -> Result<Provisioned, Error> {
    let found = ports.directory_sync.user(&team.records, user_id).await?;
    present(team, found).ok_or(Error::NotFound)
}

/// `GET /scim/v2/Users`: the account's users present today, as stored now, in id order.
pub async fn users(ports: &Ports<'_>, team: &Team) -> Result<Vec<Provisioned>, Error> {
    let mut users: Vec<Provisioned> = ports
        .directory_sync
        .users(&team.records)
        .await?
        .into_iter()
        .filter(|p| p.user.present_on(team.today))
        .collect();
    users.sort_by(|a, b| a.user.id.cmp(&b.user.id));
    Ok(users)
}

/// `GET /scim/v2/Users?filter=userName eq "…"`: the account's user with this address, present
/// today, if it has one (another account's never shows).
pub async fn by_address(
    ports: &Ports<'_>,
    team: &Team,
    email: &EmailAddress,
) -> Result<Option<Provisioned>, Error> {
    let found = ports
        .directory_sync
        .user_by_address(&team.records, email)
        .await?;
    Ok(present(team, found))
}

/// `POST /scim/v2/Users`: the user is invited with no Brik (`team::add_member`: the sign-in,
/// the invitation, one active user more for the reseller), active if the directory says so
/// and the address is not on the deny list (else inactive, no access, no mail). An address
/// any account already has is refused (`Error::EmailTaken`). `request` is the fingerprint of
/// the request. Answers the user as stored.
pub async fn create(
    ports: &Ports<'_>,
    team: &Team,
    email: EmailAddress,
    name: PersonName,
    active: bool,
    request: serde_json::Value,
) -> Result<Provisioned, Error> {
    let on_deny_list = ports.directory_sync.denied(&team.records, &email).await?;
    let member = NewMember {
        email,
        name,
        language: team.account().language,
        active: active && !on_deny_list,
    };
    let (_, body) = add_member(ports, team, &member, &[], None, request).await?;
    let user_id = body
        .pointer("/user/id")
        .and_then(|id| id.as_str())
        .ok_or_else(|| Error::internal("a new user answered without an id"))?;
    user(ports, team, user_id).await
}

/// `PATCH` (`active`) or `DELETE /scim/v2/Users/{id}`: the user made active or inactive as a
/// sync does (`team::set_status`: not active while on the deny list; the admin stays active).
/// Answers the user as stored.
pub async fn set_active(
    ports: &Ports<'_>,
    team: &Team,
    user_id: &str,
    active: bool,
) -> Result<Provisioned, Error> {
    set_status(ports, team, user_id, active, StatusSource::DirectorySync).await?;
    user(ports, team, user_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_kept_as_its_hash() {
        let hash = token_hash("sbscim_abc");
        assert_eq!(hash.len(), 43);
        assert_ne!(hash, token_hash("sbscim_abd"));
        let token = new_token_value();
        assert!(decide::bearer_token(Some(&format!("Bearer {token}"))).is_some());
        assert_ne!(token, new_token_value());
    }
}
