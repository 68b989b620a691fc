//! Failed renewals (billing.md "Payment"): the invoice stays open, the account is past due and
//! the charge is retried 1, 3 and 5 days later; after the last failure the account is
//! suspended. A new card retries every open invoice at once; when all are paid the account is
//! active again. Each attempt has its own idempotency key (`<invoice>:<attempt>`).

use jiff::Timestamp;
use jiff::civil::Date;

use crate::account::{AccountStatus, HistoryEntry, InvoiceStatus, new_ordered_id};
use crate::app::App;
use crate::error::Error;
use crate::invoicing::{self, PendingCharge, charge_key};
use crate::refusal::Refusal;
use crate::store::{
    AccountItem, AttributeValue, HistoryItem, InvoiceItem, TransactionError, account_pk,
};

/// Days after the first failure on which the charge is retried; the last one decides.
pub const RETRY_DAYS: [i64; 3] = [1, 3, 5];

/// The local dates the retries of an account past due since `since` fall on.
pub fn retry_dates(since: Date) -> Vec<Date> {
    RETRY_DAYS
        .iter()
        .filter_map(|d| since.checked_add(jiff::ToSpan::days(*d)).ok())
        .collect()
}

/// Whether the stored invoice already records `invoice`'s attempt (another run made it).
async fn attempt_recorded(
    app: &App,
    account_id: &str,
    invoice: &crate::account::Invoice,
) -> Result<bool, Error> {
    let stored: Option<InvoiceItem> = app
        .store
        .get(&account_pk(account_id), &format!("INVOICE#{}", invoice.id))
        .await?;
    Ok(stored.is_some_and(|s| s.invoice.payment.attempts >= invoice.payment.attempts))
}

/// Retries every open invoice of the account. `card_changed`: asked by a new card, which
/// never suspends. Returns how many were paid.
pub async fn retry_open_invoices(
    app: &App,
    account_id: &str,
    now: Timestamp,
    card_changed: bool,
) -> Result<u32, Error> {
    let (item, key) = app.account_item(account_id).await?;
    let account = item.open(&key)?;
    let invoices: Vec<InvoiceItem> = app
        .store
        .query_prefix(&account_pk(account_id), "INVOICE#")
        .await?;
    let open: Vec<InvoiceItem> = invoices
        .into_iter()
        .filter(|i| i.invoice.status == InvoiceStatus::Open)
        .collect();
    if open.is_empty() {
        return Ok(0);
    }
    let mut paid = 0;
    for stored in &open {
        let mut invoice = stored.invoice.clone();
        let previous = invoice.payment.attempts;
        let outcome =
            softbrik_app::billing::charge(&app.ports(), &account, &mut invoice, now).await;
        let action = match &outcome {
            Ok(()) => "payment_succeeded",
            Err(Error::CardDeclined { .. }) => "payment_failed",
            Err(_) => return outcome.map(|()| paid),
        };
        let history = HistoryItem::seal(
            account_id,
            &new_ordered_id("hst", now),
            &HistoryEntry {
                at: now,
                actor: if card_changed {
                    "payment_method_replaced".into()
                } else {
                    "system".into()
                },
                action: action.into(),
                details: serde_json::json!({"invoice_id": invoice.id, "attempt": invoice.payment.attempts}),
            },
            &key,
        );
        let updated = InvoiceItem {
            invoice: invoice.clone(),
            ..stored.clone()
        };
        let mut ops = vec![
            app.store.put_if_op(
                &updated,
                "#payment.attempts = :previous",
                &[("#payment", "payment")],
                &[(":previous", AttributeValue::N(previous.to_string()))],
            )?,
            app.store.put_new_op(&history)?,
        ];
        if outcome.is_ok() {
            ops.push(PendingCharge::key_only(&charge_key(&invoice)).delete_op(app)?);
            paid += 1;
        }
        if let Err(e) = app.store.transact(ops).await {
            // Another retry of the same attempt (same idempotency key, so the same charge at
            // the partner) may have recorded it first: then the charge is its, and paid for
            // the invoice. Only a charge no invoice records is given back.
            let in_doubt = matches!(&e, TransactionError::Failed(Error::InDoubt(_)));
            if outcome.is_ok() && !in_doubt && !attempt_recorded(app, account_id, &invoice).await? {
                softbrik_app::billing::refund(&app.ports(), &invoice).await;
            }
            return Err(e.into_error(|_| {
                Error::Refused(Refusal::ConcurrentChange(
                    "the invoice was retried meanwhile",
                ))
            }));
        }
        if outcome.is_ok() {
            invoicing::email(app, &account, &invoice).await;
        }
    }
    let status = if paid as usize == open.len() {
        AccountStatus::Active
    } else if !card_changed && is_last_retry(&item, account.local_date(now)) {
        AccountStatus::Suspended
    } else {
        item.status
    };
    set_status(app, &item, status).await?;
    Ok(paid)
}

fn is_last_retry(item: &AccountItem, today: Date) -> bool {
    item.past_due_since
        .and_then(|since| retry_dates(since).last().copied())
        .is_some_and(|last| today >= last)
}

async fn set_status(app: &App, item: &AccountItem, status: AccountStatus) -> Result<(), Error> {
    if status == item.status {
        return Ok(());
    }
    let mut next = item.clone();
    next.status = status;
    if status == AccountStatus::Active {
        next.past_due_since = None;
    }
    next.version = item.version + 1;
    let op = app.store.put_if_version_op(&next, item.version)?;
    app.store.transact(vec![op]).await.map_err(|e| {
        e.into_error(|_| Error::Refused(Refusal::ConcurrentChange("the account changed meanwhile")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn a_renewal_failed_on_jan_12_is_retried_on_the_13th_15th_and_17th() {
        assert_eq!(
            retry_dates(date(2027, 1, 12)),
            vec![date(2027, 1, 13), date(2027, 1, 15), date(2027, 1, 17)]
        );
    }
}
