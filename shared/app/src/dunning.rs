//! Failed renewals (billing.md "Payment"): the open invoices of an account past due are
//! charged again on the retry days (`softbrik_domain::dunning`), or at once when a new card is
//! given. Each attempt has its own charge key (`<invoice>:<attempt>`) and is recorded on its
//! invoice only if no other retry recorded one since: two retries of the same attempt make one
//! charge, which the invoice keeps.

use jiff::Timestamp;
use softbrik_domain::account::HistoryEntry;
use softbrik_domain::dunning as decide;

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
        return Ok(0);
    }
    let account = &dunning.account;
    let mut paid = 0;
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
        let attempt = Attempt {
            invoice: invoice.clone(),
            previous_attempts,
            history: (crate::ids::new_ordered_id("hst", now), entry),
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
            ports.invoices.email(account, &invoice).await;
        }
    }
    let status = decide::standing(
        account.status,
        dunning.past_due_since,
        account.local_date(now),
        paid as usize == dunning.open.len(),
        card_changed,
    );
    if status != account.status {
        ports.billing.set_standing(dunning, status).await?;
    }
    Ok(paid)
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
