//! A reseller's client accounts (billing.md "Resellers billed on maximum active users"): a
//! client is created with its own data key and its admin's sign-in, no card and nothing
//! charged (the reseller pays for its users), on the reseller's clock; its admin counts as
//! its first active user. A reseller lists its clients, each client's users, and its usage of
//! the current period (the users it is billed for now, the peak so far and the day reached).

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use softbrik_domain::account::{
    Account, AccountKind, AccountView, HistoryEntry, Role, User, UserStatus, UserView,
};
use softbrik_domain::billing_calendar::{BillingPeriod, local_midnight};
use softbrik_domain::money::{Currency, Money};
use softbrik_domain::refusal::Refusal;
use softbrik_domain::resellers::{self as decide, NewClient};

use crate::billing::WriteFailure;
use crate::error::Error;
use crate::idempotency::{self, Lease, account_scope};
use crate::ids::{new_id, new_ordered_id};
use crate::ports::Ports;
use crate::ports::account::{AccountChange, Reschedule};
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
    idempotency::once_in(ports, &scope, key, request, reserve, work).await
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
    let created = crate::events::account_created(&lease.id("history"), &account, &admin, now);
    let new = NewAccount {
        account: account.clone(),
        admin,
        invoice: None,
        history: (lease.id("history"), history),
        events: vec![created],
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

/// One client in `GET /reseller/clients`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ClientSummary {
    pub account: AccountView,
    pub active_users: u32,
    pub in_trial: bool,
}

/// The clients of `reseller`, in id order, `limit` at a time from after the cursor `next`,
/// with the cursor of the next page when there is more; a cursor not of this list is a
/// validation error. Each client is shown on its own clock.
pub async fn list_clients(
    ports: &Ports<'_>,
    reseller: &Account,
    limit: usize,
    next: Option<&str>,
) -> Result<(Vec<ClientSummary>, Option<String>), Error> {
    decide::is_reseller(reseller)?;
    let after = next.map(|c| crate::paging::decode(c, "acc_")).transpose()?;
    let clients = ports.resellers.clients(reseller).await?;
    let (page, cursor) = crate::paging::page(&clients, after.as_deref(), limit);
    let mut listed = Vec::with_capacity(page.len());
    for (id, count) in page {
        let account = ports.accounts.account(id).await?.value;
        let now = ports.table.now_for(&account).await?;
        listed.push(ClientSummary {
            in_trial: account.in_trial_on(account.local_date(now)),
            account: account.view(now, true),
            active_users: count.active,
        });
    }
    Ok((listed, cursor))
}

/// The users of `client_id`, one of `reseller`'s clients, present today on the client's
/// clock; another reseller's client, or any other account, is not found.
pub async fn client_users(
    ports: &Ports<'_>,
    reseller: &Account,
    client_id: &str,
) -> Result<Vec<UserView>, Error> {
    decide::is_reseller(reseller)?;
    if !ports
        .resellers
        .clients(reseller)
        .await?
        .contains_key(client_id)
    {
        return Err(Error::NotFound);
    }
    let (account, users) = ports.resellers.client(client_id).await?;
    if account.reseller_id.as_deref() != Some(reseller.id.as_str()) {
        return Err(Error::NotFound);
    }
    let today = account.local_date(ports.table.now_for(&account).await?);
    Ok(present_on(&users, today))
}

/// `POST /reseller/clients/{account_id}/closure`: `reseller` closes one of its client
/// accounts (`softbrik_domain::resellers::close_client`): `closing` until the reseller's
/// billing date (14 days' notice), written with its history entry in the client's account,
/// the runs told to look at it, and its admin told by email in its language (a mail failure
/// is logged: the request stands). Another reseller's client, or any other account: 404.
pub async fn close_client(
    ports: &Ports<'_>,
    reseller: &Account,
    actor: &str,
    client_id: &str,
) -> Result<serde_json::Value, Error> {
    decide::is_reseller(reseller)?;
    let read = match ports.accounts.account(client_id).await {
        Ok(read) if read.value.reseller_id.as_deref() == Some(reseller.id.as_str()) => read,
        Ok(_) | Err(Error::NotFound) => return Err(Error::NotFound),
        Err(e) => return Err(e),
    };
    let now = ports.table.now_for(reseller).await?;
    let (closing, effective) =
        decide::close_client(&read.value, reseller, reseller.local_date(now))?;
    // Billed up to the closure's instant, whenever its run removes it from the count.
    let until = local_midnight(effective, &reseller.timezone.time_zone());
    ports.resellers.stop_billing(&read.value, until).await?;
    let entry = HistoryEntry {
        at: now,
        actor: actor.to_string(),
        action: "closure_requested".into(),
        details: serde_json::json!({"effective_date": effective, "by_reseller": reseller.id}),
    };
    ports
        .accounts
        .save(
            &read,
            AccountChange {
                account: closing.clone(),
                history: vec![(new_ordered_id("hst", now), entry)],
                // The runs compute the closure job from the account.
                reschedule: Reschedule::Recheck,
                at: now,
                events: Vec::new(),
            },
        )
        .await?;
    tracing::info!(client = %client_id, effective_date = %effective, "client closure requested by its reseller");
    crate::subscription::confirm_closure(ports, &closing, effective).await;
    Ok(
        serde_json::json!({"account_id": client_id, "status": "closing", "effective_date": effective}),
    )
}

/// What a transfer code starts with, so that nobody mistakes it for a password.
pub const TRANSFER_CODE_PREFIX: &str = "sbxfer_";

/// `POST /account/transfer-code`: the client account's admin lets another reseller take the
/// account over (docs/resellers.md "Moving to another reseller"): a code shown once (201),
/// stored as its hash, valid 7 days, that the new reseller redeems. Not a client account:
/// refused.
pub async fn transfer_code(
    ports: &Ports<'_>,
    client: &Account,
    now: Timestamp,
) -> Result<serde_json::Value, Error> {
    if client.kind != AccountKind::Client {
        return Err(Refusal::NotAClientAccount.into());
    }
    let code = crate::ids::new_secret(TRANSFER_CODE_PREFIX);
    let expires_at = now + jiff::SignedDuration::from_hours(24 * decide::TRANSFER_CODE_DAYS);
    ports
        .resellers
        .keep_transfer_code(
            client,
            &crate::directory_sync::token_hash(&code),
            expires_at,
        )
        .await?;
    Ok(serde_json::json!({"code": code, "expires_at": expires_at}))
}

/// `POST /reseller/clients/transfer` `{code}`: `reseller` takes over the client account whose
/// admin gave it the code. The move is made at the end of the current reseller's period
/// (`softbrik_domain::resellers::plan_move`), which that reseller is billed for; the code is
/// used up; the three histories say it; the client's admin and its current reseller are told
/// by email. A code unknown, expired or used: 404.
pub async fn take_over(
    ports: &Ports<'_>,
    reseller: &Read<Account>,
    actor: &str,
    code: &str,
) -> Result<serde_json::Value, Error> {
    let (reseller_read, reseller) = (reseller, &reseller.value);
    decide::is_reseller(reseller)?;
    let now = ports.table.now_for(reseller).await?;
    let hash = crate::directory_sync::token_hash(code);
    let client_id = ports
        .resellers
        .transfer_code(&hash, now)
        .await?
        .ok_or(Error::NotFound)?;
    let client_read = ports.accounts.account(&client_id).await?;
    let client = &client_read.value;
    let from_id = client.reseller_id.clone().ok_or(Error::NotFound)?;
    let from_read = ports.accounts.account(&from_id).await?;
    let from = &from_read.value;
    let planned = decide::plan_move(client, from, reseller, from.local_date(now))?;
    let details = serde_json::json!({
        "client": client.id, "from": from.id, "to": reseller.id, "effective_date": planned.on,
    });
    let history = [
        (&client_read, "reseller_move_planned"),
        (&from_read, "client_leaving"),
        (reseller_read, "client_joining"),
    ]
    .into_iter()
    .map(|(account, action)| {
        let entry = HistoryEntry {
            at: now,
            actor: actor.to_string(),
            action: action.into(),
            details: details.clone(),
        };
        (account, new_ordered_id("hst", now), entry)
    })
    .collect();
    let until = local_midnight(planned.on, &from.timezone.time_zone());
    ports
        .resellers
        .plan_move(&planned, until, &hash, history)
        .await?;
    tracing::info!(client = %client.id, effective_date = %planned.on, "client moves to another reseller");
    for (to, lang) in [
        (client.admin_email.as_str(), client.language),
        (from.admin_email.as_str(), from.language),
    ] {
        let words = crate::emails::reseller_move_email(
            lang,
            client.company_name.as_str(),
            reseller.company_name.as_str(),
            planned.on,
        );
        crate::ports::mailer::notify(ports.mailer, to, words, "reseller move").await;
    }
    Ok(serde_json::json!({
        "account_id": client.id,
        "status": "moving",
        "effective_date": planned.on,
    }))
}

/// At `reseller`'s period end on `day` (after its period is billed): the moves of its clients
/// due by then are made at `at`. A move whose client changed meanwhile is left for the next
/// run; the others go on.
pub async fn complete_moves(
    ports: &Ports<'_>,
    reseller: &Account,
    day: Date,
    at: Timestamp,
) -> Result<u32, Error> {
    let mut moved = 0;
    for planned in ports.resellers.moves_due(reseller, day).await? {
        let to = ports.accounts.account(&planned.to).await?.value;
        let client = ports.accounts.account(&planned.client_id).await?.value;
        // Billed by the new reseller from the move's instant (or the end of a trial after it).
        let boundary = local_midnight(planned.on, &reseller.timezone.time_zone());
        let billed_from = decide::billed_from(&client, &to).max(Some(boundary));
        match ports
            .resellers
            .complete_move(&planned, billed_from, at)
            .await
        {
            Ok(()) => {
                moved += 1;
                tracing::info!(client = %planned.client_id, to = %planned.to, "client moved to another reseller");
            }
            Err(e) => {
                tracing::warn!(error = %e, client = %planned.client_id, "client move not made; the next run tries again");
            }
        }
    }
    Ok(moved)
}

/// The views of the users present on `day` (not removed before it).
fn present_on(users: &[User], day: Date) -> Vec<UserView> {
    users
        .iter()
        .filter(|u| u.present_on(day))
        .map(|u| u.view(day))
        .collect()
}

/// `GET /reseller/usage`: the current period as it stands.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct UsageView {
    pub period: BillingPeriod,
    pub active_users: u32,
    pub max_active_users: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_reached_on: Option<Date>,
    pub unit_price: Money,
    pub currency: Currency,
}

/// The usage of `reseller` now, on its clock: its current period, the users it is billed for
/// now (clients past their trial), the peak since the period's start (the count now when
/// above the samples) and the day it was reached, and the price per user.
pub async fn usage(ports: &Ports<'_>, reseller: &Account) -> Result<UsageView, Error> {
    decide::is_reseller(reseller)?;
    let now = ports.table.now_for(reseller).await?;
    let period = reseller.current_period(now);
    let from = local_midnight(period.start(), &reseller.timezone.time_zone());
    let current = decide::billable_at(ports.resellers.clients(reseller).await?.values(), now);
    let sampled = ports
        .resellers
        .peak(reseller, from, now + jiff::SignedDuration::from_millis(1))
        .await?;
    let (max, reached) = decide::peak_so_far(sampled, current, now);
    let unit_price = ports.resellers.user_price();
    Ok(UsageView {
        period,
        active_users: current,
        max_active_users: max,
        max_reached_on: reached.map(|at| reseller.local_date(at)),
        unit_price,
        currency: unit_price.currency(),
    })
}
