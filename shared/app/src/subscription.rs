//! The admin's changes of the subscription itself: its settings, calendar-month billing, the
//! card, and the closure request. Each reads the account item alone ([`AccountTable`]),
//! decides with `softbrik_domain::subscription`, and writes the account back with its
//! history in one transaction, only if nobody wrote it since.
//!
//! [`AccountTable`]: crate::ports::account::AccountTable

use jiff::Timestamp;
use softbrik_domain::account::{AccountStatus, AccountView, HistoryEntry, PaymentMethod};
use softbrik_domain::subscription::{self as decide, Alignment, Settings};
use softbrik_domain::values::PaymentMethodToken;

use crate::error::Error;
use crate::ports::Ports;
use crate::ports::account::{AccountChange, Reschedule};

/// The history entries of a change made by `actor` at `at`.
fn entries(
    actor: &str,
    at: Timestamp,
    said: Vec<(&'static str, serde_json::Value)>,
) -> Vec<(String, HistoryEntry)> {
    said.into_iter()
        .map(|(action, details)| {
            let entry = HistoryEntry {
                at,
                actor: actor.to_string(),
                action: action.into(),
                details,
            };
            (crate::ids::new_ordered_id("hst", at), entry)
        })
        .collect()
}

/// `PUT /account/settings`: applies `settings` (`softbrik_domain::subscription::
/// change_settings`); a lapsed account turned back on is renewed at once, as a new period
/// starting today. Answers the account as it then stands.
pub async fn update_settings(
    ports: &Ports<'_>,
    account_id: &str,
    actor: &str,
    settings: Settings,
) -> Result<AccountView, Error> {
    let read = ports.accounts.account(account_id).await?;
    let account = &read.value;
    if settings.auto_renew.is_some() {
        account.require_own_billing()?;
    }
    let now = ports.table.now_for(account).await?;
    let has_clients = settings.auto_renew == Some(false)
        && account.auto_renew
        && ports.accounts.has_clients(account).await?;
    let change = decide::change_settings(account, settings, now, has_clients)?;
    let reschedule = if change.restart {
        Reschedule::Restart
    } else if change.moved_zone && !change.account.billed_by_reseller() {
        // Midnight moved, maybe earlier (a client account has no job to move).
        Reschedule::Recheck
    } else {
        Reschedule::Keep
    };
    let saved = change.account.clone();
    let events = crate::events::standing(&read.value, saved.status, now);
    ports
        .accounts
        .save(
            &read,
            AccountChange {
                account: change.account,
                history: entries(actor, now, change.history),
                reschedule,
                at: now,
                events,
            },
        )
        .await?;
    let Some(today) = change.renew_on else {
        // The account is as saved: nothing to read again.
        return Ok(saved.view(now, true));
    };
    // The renewal may have left it past due: read it as it now stands.
    let records = ports.billing.renewing(account_id).await?;
    crate::renewal::renew(ports, &records, today, None).await?;
    let account = ports.accounts.account(account_id).await?.value;
    let now = ports.table.now_for(&account).await?;
    Ok(account.view(now, true))
}

/// `POST /account/billing-alignment` (calendar months): 202 and the date it takes effect, or
/// 200 when the account already is (or will be) billed on the 1st.
pub async fn align_billing(
    ports: &Ports<'_>,
    account_id: &str,
    actor: &str,
) -> Result<(u16, serde_json::Value), Error> {
    let read = ports.accounts.account(account_id).await?;
    let account = &read.value;
    account.require_own_billing()?;
    let now = ports.table.now_for(account).await?;
    let answer = |effective_date, changed| serde_json::json!({"mode": "calendar", "effective_date": effective_date, "changed": changed});
    let effective = match decide::align_calendar(account, now)? {
        Alignment::Already(from) => return Ok((200, answer(from, false))),
        Alignment::From(effective) => effective,
    };
    let mut aligned = account.clone();
    aligned.calendar_from = Some(effective);
    let said = vec![(
        "calendar_switch",
        serde_json::json!({"mode": "calendar", "effective_date": effective}),
    )];
    ports
        .accounts
        .save(
            &read,
            AccountChange {
                account: aligned,
                history: entries(actor, now, said),
                reschedule: Reschedule::Keep,
                at: now,
                events: Vec::new(),
            },
        )
        .await?;
    tracing::info!(effective_date = %effective, "calendar billing asked for");
    Ok((202, answer(effective, true)))
}

/// `PUT /account/payment-method`: the card replaced (the partner checks it, as at signup),
/// then every open invoice retried at once with it (billing.md "Payment").
pub async fn replace_payment_method(
    ports: &Ports<'_>,
    account_id: &str,
    actor: &str,
    token: PaymentMethodToken,
) -> Result<serde_json::Value, Error> {
    let card = ports.payments.attach(&token, account_id).await?;
    let read = ports.accounts.account(account_id).await?;
    let account = &read.value;
    account.require_own_billing()?;
    let now = ports.table.now_for(account).await?;
    let mut replaced = account.clone();
    replaced.payment_method = Some(PaymentMethod {
        token: token.as_str().into(),
        card: card.clone(),
    });
    let said = vec![(
        "payment_method_replaced",
        serde_json::json!({"brand": card.brand, "last4": card.last4}),
    )];
    ports
        .accounts
        .save(
            &read,
            AccountChange {
                account: replaced,
                history: entries(actor, now, said),
                reschedule: Reschedule::Keep,
                at: now,
                events: Vec::new(),
            },
        )
        .await?;
    let paid = crate::dunning::retry_open_invoices(ports, account_id, now, true).await?;
    Ok(serde_json::json!({"payment_method": card, "invoices_paid": paid}))
}

/// `POST /account/closure`: the account `closing` until its closure date
/// (`softbrik_domain::subscription::request_closure`), the billing runs told to look at it
/// again, and the admin's confirmation by email (a mail failure is logged: the request
/// stands).
pub async fn request_closure(
    ports: &Ports<'_>,
    account_id: &str,
    actor: &str,
) -> Result<serde_json::Value, Error> {
    let read = ports.accounts.account(account_id).await?;
    let account = &read.value;
    account.require_own_billing()?;
    let has_clients = ports.accounts.has_clients(account).await?;
    if account.closure_date.is_none() && account.status == AccountStatus::Closed {
        return Err(Error::NotFound);
    }
    let now = ports.table.now_for(account).await?;
    let (closing, effective) =
        decide::request_closure(account, account.local_date(now), has_clients)?;
    let said = vec![(
        "closure_requested",
        serde_json::json!({"effective_date": effective}),
    )];
    let events = crate::events::standing(account, closing.status, now);
    ports
        .accounts
        .save(
            &read,
            AccountChange {
                account: closing.clone(),
                history: entries(actor, now, said),
                // The runs compute the closure job from the account.
                reschedule: Reschedule::Recheck,
                at: now,
                events,
            },
        )
        .await?;
    tracing::info!(effective_date = %effective, "closure requested");
    confirm_closure(ports, &closing, effective).await;
    Ok(serde_json::json!({"status": "closing", "effective_date": effective}))
}

/// Confirms a closure request to the account's admin, in its language (a mail failure is
/// logged: the request stands).
pub(crate) async fn confirm_closure(
    ports: &Ports<'_>,
    closing: &softbrik_domain::account::Account,
    effective: jiff::civil::Date,
) {
    let words =
        crate::emails::closure_email(closing.language, closing.company_name.as_str(), effective);
    let to = closing.admin_email.as_str();
    crate::ports::mailer::notify(ports.mailer, to, words, "closure confirmation").await;
}
