//! Failed renewals (billing.md "Payment"): the open invoices of an account past due are
//! charged again on the retry days (`softbrik_domain::dunning`), or at once when a new card is
//! given. Each attempt has its own charge key (`<invoice>:<attempt>`) and is recorded on its
//! invoice only if no other retry recorded one since: two retries of the same attempt make one
//! charge, which the invoice keeps.

use jiff::Timestamp;
use jiff::civil::Date;
use softbrik_domain::account::{Account, AccountStatus, HistoryEntry, Invoice};
use softbrik_domain::dunning as decide;

pub use crate::emails::AfterFailure;

use crate::billing::WriteFailure;
use crate::error::Error;
use crate::ports::Ports;
use crate::ports::billing::{Attempt, Dunning};

/// Retries every open invoice of the account at `now`. `card_changed`: asked by a new card,
/// which never suspends. Returns how many were paid.
pub async fn retry_open_invoices(
    ports: &Ports<'_>,
    account_id: &str,
    now: Timestamp,
    card_changed: bool,
) -> Result<u32, Error> {
    let dunning = ports.billing.dunning(account_id).await?;
    retry(ports, &dunning, now, card_changed).await
}

/// [`retry_open_invoices`] from the account and its open invoices as read.
pub async fn retry(
    ports: &Ports<'_>,
    dunning: &Dunning,
    now: Timestamp,
    card_changed: bool,
) -> Result<u32, Error> {
    if dunning.open.is_empty() {
        // Nothing owed (an invoice credited and voided meanwhile): behind no more.
        return owes_nothing(ports, &dunning.account.id).await.map(|()| 0);
    }
    let account = &dunning.account;
    let today = account.local_date(now);
    let mut paid = 0;
    let mut unpaid = Vec::new();
    for open in &dunning.open {
        let mut invoice = open.clone();
        let previous_attempts = invoice.payment.attempts;
        let outcome = crate::billing::charge(ports, account, &mut invoice, now).await;
        let action = match &outcome {
            Ok(()) => "payment_succeeded",
            Err(Error::CardDeclined { .. }) => "payment_failed",
            Err(_) => return outcome.map(|()| paid),
        };
        let entry = HistoryEntry {
            at: now,
            actor: if card_changed {
                "payment_method_replaced".into()
            } else {
                "system".into()
            },
            action: action.into(),
            details: serde_json::json!({"invoice_id": invoice.id, "attempt": invoice.payment.attempts}),
        };
        let history_id = crate::ids::new_ordered_id("hst", now);
        let failed = softbrik_domain::events::payment_failed(&invoice);
        let attempt = Attempt {
            invoice: invoice.clone(),
            previous_attempts,
            events: crate::events::made(&history_id, account, now, failed),
            history: (history_id, entry),
        };
        if let Err(e) = ports.billing.record_attempt(dunning, attempt).await {
            // Another retry of the same attempt (same key, so the same charge at the partner)
            // may have recorded it first: then the charge is its, and paid for the invoice.
            // Only a charge no invoice records is given back.
            if outcome.is_ok()
                && !e.may_have_landed()
                && !recorded(ports, &account.id, &invoice).await?
            {
                crate::billing::refund(ports, &invoice).await;
            }
            return Err(e);
        }
        if outcome.is_ok() {
            paid += 1;
            crate::invoices::email_received(ports, account, &invoice).await;
        } else {
            let after = after_failure(dunning.past_due_since, today, card_changed);
            tell_failed(ports, account, &invoice, after).await;
        }
        if outcome.is_err() {
            unpaid.push(invoice);
        }
    }
    let status = decide::standing(
        account.status,
        dunning.past_due_since,
        today,
        paid as usize == dunning.open.len(),
        card_changed,
    );
    if status != account.status {
        let events = crate::events::standing(account, status, now);
        ports.billing.set_standing(dunning, status, events).await?;
        if status == AccountStatus::Suspended {
            tell_suspended(ports, account, &unpaid).await;
        }
    }
    Ok(paid)
}

/// An account past due or suspended that owes nothing any more (its last open invoice was
/// credited in full and voided) is active again: its access restored at once, its retries
/// stopped. Anything else is left as it is.
pub async fn owes_nothing(ports: &Ports<'_>, account_id: &str) -> Result<(), Error> {
    let dunning = ports.billing.dunning(account_id).await?;
    let behind = matches!(
        dunning.account.status,
        AccountStatus::PastDue | AccountStatus::Suspended
    );
    if behind && dunning.open.is_empty() {
        let now = ports.table.now_for(&dunning.account).await?;
        let events = crate::events::standing(&dunning.account, AccountStatus::Active, now);
        ports
            .billing
            .set_standing(&dunning, AccountStatus::Active, events)
            .await?;
        tracing::info!("nothing left to pay: the account is active again");
    }
    Ok(())
}

/// What follows a failed attempt on `today` of an account past due since `since`
/// (`softbrik_domain::dunning::next_retry`): the next retry, or the suspension.
pub fn after_failure(since: Option<Date>, today: Date, card_changed: bool) -> AfterFailure {
    decide::next_retry(since, today, card_changed)
        .map_or(AfterFailure::Suspension, AfterFailure::Retry)
}

/// Emails "payment failed" to the account's invoice address, in its language (a failure to
/// send is logged: the attempt is recorded already).
pub async fn tell_failed(
    ports: &Ports<'_>,
    account: &Account,
    invoice: &Invoice,
    after: AfterFailure,
) {
    let card = account.payment_method.as_ref().map(|m| &m.card);
    let words = crate::emails::payment_failed_email(
        account.language,
        account.company_name.as_str(),
        invoice,
        card,
        after,
    );
    send(ports, account, words).await;
}

/// Emails "account suspended", with the invoices left open.
async fn tell_suspended(ports: &Ports<'_>, account: &Account, open: &[Invoice]) {
    let words =
        crate::emails::suspended_email(account.language, account.company_name.as_str(), open);
    send(ports, account, words).await;
}

async fn send(ports: &Ports<'_>, account: &Account, words: (String, String)) {
    let to = crate::invoices::address(account);
    crate::ports::mailer::notify(ports.mailer, to, words, "dunning").await;
}

/// Whether the stored invoice already records `invoice`'s attempt (another retry made it).
async fn recorded(
    ports: &Ports<'_>,
    account_id: &str,
    invoice: &softbrik_domain::account::Invoice,
) -> Result<bool, Error> {
    Ok(ports
        .billing
        .invoice(account_id, &invoice.id)
        .await?
        .is_some_and(|stored| stored.payment.attempts >= invoice.payment.attempts))
}
