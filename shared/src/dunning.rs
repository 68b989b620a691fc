//! Dunning on AWS: the account item and its open `INVOICE#` items as the retry reads them,
//! and its writes (an attempt recorded on its invoice item, conditional on the attempts read,
//! with its sealed history entry and the pending charge struck off; the account's status,
//! conditional on its version), behind `softbrik_app::ports::billing::BillingTable`. The use
//! case is `softbrik_app::dunning`; the rules, `softbrik_domain::dunning`.

use std::sync::Arc;

use jiff::Timestamp;
use softbrik_app::ports::billing::{Attempt, Dunning};
use softbrik_app::ports::team::Stamp;

use crate::account::{AccountStatus, InvoiceStatus};
use crate::app::App;
use crate::crypto::DataKey;
use crate::error::Error;
use crate::invoicing::{PendingCharge, charge_key};
use crate::refusal::Refusal;
use crate::store::{AccountItem, AttributeValue, HistoryItem, InvoiceItem, account_pk};

pub use softbrik_domain::dunning::{RETRY_DAYS, retry_dates};

/// What the dunning records carry for this adapter: the account item and the open invoices'
/// items as read, and the account's data key.
struct Sealing {
    item: AccountItem,
    key: Arc<DataKey>,
    open: Vec<InvoiceItem>,
}

/// Retries every open invoice of the account (`softbrik_app::dunning`). `card_changed`: asked
/// by a new card, which never suspends. Returns how many were paid.
pub async fn retry_open_invoices(
    app: &App,
    account_id: &str,
    now: Timestamp,
    card_changed: bool,
) -> Result<u32, Error> {
    softbrik_app::dunning::retry_open_invoices(&app.ports(), account_id, now, card_changed).await
}

/// The account and its open invoices (two reads: the account item, the invoices' Query).
pub(crate) async fn read(app: &App, account_id: &str) -> Result<Dunning, Error> {
    let (item, key) = app.account_item(account_id).await?;
    let account = item.open(&key)?;
    let open: Vec<InvoiceItem> = app
        .store
        .query_prefix::<InvoiceItem>(&account_pk(account_id), "INVOICE#")
        .await?
        .into_iter()
        .filter(|i| i.invoice.status == InvoiceStatus::Open)
        .collect();
    Ok(Dunning {
        account,
        past_due_since: item.past_due_since,
        open: open.iter().map(|i| i.invoice.clone()).collect(),
        stamp: Stamp::new(Sealing { item, key, open }),
    })
}

/// Records an attempt on its invoice's item, if no other retry recorded one since it was read.
pub(crate) async fn record_attempt(
    app: &App,
    dunning: &Dunning,
    attempt: Attempt,
) -> Result<(), Error> {
    let Sealing { key, open, .. } = dunning.stamp.get()?;
    let invoice = attempt.invoice;
    let stored = open
        .iter()
        .find(|i| i.invoice.id == invoice.id)
        .ok_or_else(|| Error::internal("an attempt on an invoice not read as open"))?;
    let (id, entry) = &attempt.history;
    let history = HistoryItem::seal(&dunning.account.id, id, entry, key);
    let paid = invoice.status == InvoiceStatus::Paid;
    let charge = charge_key(&invoice);
    let updated = InvoiceItem {
        invoice,
        ..stored.clone()
    };
    // Only if no other attempt was recorded, and no credit note changed what it owes, since
    // the invoice was read.
    let (credited, mut values) = crate::store::credited_is(stored.invoice.credited)?;
    values.push((
        ":previous",
        AttributeValue::N(attempt.previous_attempts.to_string()),
    ));
    let credited_as_read = app.store.put_if_op(
        &updated,
        &format!("#payment.attempts = :previous AND {credited}"),
        &[("#payment", "payment")],
        &values,
    )?;
    let mut ops = vec![credited_as_read, app.store.put_new_op(&history)?];
    if paid {
        ops.push(PendingCharge::key_only(&charge).delete_op(app)?);
    }
    ops.extend(crate::events::outbox_ops(app, &attempt.events)?);
    app.store.transact(ops).await.map_err(|e| {
        e.into_error(|_| {
            Error::Refused(Refusal::ConcurrentChange(
                "the invoice was retried meanwhile",
            ))
        })
    })?;
    if !attempt.events.is_empty() {
        crate::events::publish_account(app, &dunning.account.id).await;
    }
    Ok(())
}

/// Sets the account's status, if its item is unchanged since read; active clears the date it
/// became past due.
pub(crate) async fn set_standing(
    app: &App,
    dunning: &Dunning,
    status: AccountStatus,
    events: &[softbrik_domain::events::Event],
) -> Result<(), Error> {
    let Sealing { item, .. } = dunning.stamp.get()?;
    let mut next = item.clone();
    next.status = status;
    if status == AccountStatus::Active {
        next.past_due_since = None;
    }
    next.version = item.version + 1;
    let mut ops = vec![app.store.put_if_version_op(&next, item.version)?];
    ops.extend(crate::events::outbox_ops(app, events)?);
    app.store.transact(ops).await.map_err(|e| {
        e.into_error(|_| Error::Refused(Refusal::ConcurrentChange("the account changed meanwhile")))
    })?;
    if !events.is_empty() {
        crate::events::publish_account(app, &item.id).await;
    }
    Ok(())
}
