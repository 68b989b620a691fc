//! A reseller's client accounts (billing.md "Resellers billed on maximum active users"): a
//! client is created with its own data key and its admin's sign-in, no card and nothing
//! charged (the reseller pays for its users), on the reseller's clock; its admin counts as
//! its first active user.

use std::collections::BTreeMap;

use jiff::Timestamp;
use softbrik_domain::account::{Account, AccountView, HistoryEntry, Role, User, UserStatus};
use softbrik_domain::resellers::{self as decide, NewClient};

use crate::billing::WriteFailure;
use crate::error::Error;
use crate::idempotency::{self, Lease, account_scope};
use crate::ids::{new_id, new_ordered_id};
use crate::ports::Ports;
use crate::ports::directory::NewSignIn;
use crate::ports::signup::NewAccount;
use crate::ports::team::{Answering, Read};

/// What `POST /reseller/clients` answers.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ClientCreated {
    pub account: AccountView,
}

/// Creates `client` for `reseller` (as read, at `now` on its clock) by `actor`, once per
/// `Idempotency-Key` (`request`: the fingerprint). 201 and the client account.
pub async fn create_client(
    ports: &Ports<'_>,
    reseller: &Read<Account>,
    now: Timestamp,
    actor: &str,
    client: NewClient,
    request: serde_json::Value,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    decide::may_add_clients(&reseller.value)?;
    let reserve = || {
        BTreeMap::from([
            ("account".into(), new_id("acc")),
            ("user".into(), new_id("usr")),
            ("history".into(), new_ordered_id("hst", now)),
            ("reseller_history".into(), new_ordered_id("hst", now)),
        ])
    };
    let scope = account_scope(&reseller.value.id);
    let work = async |lease: &Lease| {
        let body = add(ports, reseller, now, actor, &client, lease).await?;
        Ok((201, body))
    };
    idempotency::once(
        ports.answers,
        ports.clock,
        &scope,
        key,
        request,
        reserve,
        work,
    )
    .await
}

async fn add(
    ports: &Ports<'_>,
    reseller: &Read<Account>,
    now: Timestamp,
    actor: &str,
    client: &NewClient,
    lease: &Lease,
) -> Result<serde_json::Value, Error> {
    if ports.table.address_taken(&client.admin_email).await? {
        return Err(Error::EmailTaken);
    }
    let account = decide::client_account(&reseller.value, client, lease.id("account"), now);
    let admin = User {
        id: lease.id("user"),
        email: client.admin_email.clone(),
        name: client.admin_name.clone(),
        role: Role::Admin,
        status: UserStatus::Active,
        language: client.language,
        removal_date: None,
        briks: Vec::new(),
    };
    let key = ports.signups.new_key(&account.id).await?;
    ports
        .directory
        .create_with_password(&NewSignIn {
            email: client.admin_email.as_str(),
            name: client.admin_name.as_str(),
            password: &client.password,
            account_id: &account.id,
            user_id: &admin.id,
            group: "admin",
        })
        .await?;
    let history = HistoryEntry {
        at: now,
        actor: format!("reseller:{actor}"),
        action: "signup".into(),
        details: serde_json::json!({"kind": "client", "reseller_id": reseller.value.id,
            "trial_until": account.trial_until}),
    };
    let reseller_entry = HistoryEntry {
        at: now,
        actor: actor.to_string(),
        action: "client_created".into(),
        details: serde_json::json!({"client_id": account.id, "trial_until": account.trial_until}),
    };
    let body = |_: Option<&softbrik_domain::account::Invoice>| {
        serde_json::to_value(ClientCreated {
            account: account.view(now, true),
        })
        .map_err(Error::internal)
    };
    let billed_from = decide::billed_from(&account, &reseller.value);
    let new = NewAccount {
        account: account.clone(),
        admin,
        invoice: None,
        history: (lease.id("history"), history),
        at: now,
    };
    let answering = lease.held().map(|held| Answering {
        lease: held,
        status: 201,
        body: &body,
    });
    let added = ports
        .resellers
        .add_client(
            reseller,
            &key,
            new,
            (lease.id("reseller_history"), reseller_entry),
            billed_from,
            answering,
        )
        .await;
    match added {
        Ok(committed) => match committed.answer {
            Some(answer) => Ok(answer),
            None => body(None),
        },
        // A write that may still have landed keeps its sign-in: the retry finishes it.
        Err(e) if e.may_have_landed() => Err(e),
        Err(e) => {
            if let Err(undo) = ports.directory.delete(client.admin_email.as_str()).await {
                tracing::error!(error = %undo, "sign-in of a failed client account not deleted");
            }
            Err(e)
        }
    }
}
