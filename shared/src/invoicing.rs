//! Issuing an invoice for a change: the charge rules are the app's (`softbrik_app::billing`:
//! charge first, recorded in the book of pending charges, refunded when the change cannot be
//! written); here are their table side, the book (`PENDING#<charge key>` items, a refunded key
//! kept marked) and the settlement run over it, and storing the invoice with the next gapless
//! number in the same transaction as the change it pays for, which strikes its charge off
//! the book (security.md, Reliability).

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use jiff::Timestamp;

use crate::account::{Account, Invoice, invoice_number};
use crate::app::App;
use crate::clock::Clock;
use crate::crypto::DataKey;
use crate::error::Error;
use crate::store::{InvoiceItem, TransactionError};
use serde::{Deserialize, Serialize};
use softbrik_app::ports::charges::{ChargeBook, Pending, Recording};

pub use softbrik_app::billing::charge_key;

/// How long a refunded key stays marked: beyond any retry of its invoice.
const REFUNDED_KEY_DAYS: i64 = 60;

/// The book of pending charges in the table: `PENDING#<charge key>` items.
#[async_trait::async_trait]
impl ChargeBook for App {
    async fn pending_before(&self, cutoff: Timestamp) -> Result<Vec<Pending>, Error> {
        // The sort key is the charge's instant in zero-padded milliseconds (`sortable`), so
        // the bound must be too: an RFC 3339 bound ("2026-...") sorts after every one of them
        // and would settle a charge made a second ago, its request still running.
        let listed: Vec<PendingCharge> =
            self.store.query_index("PENDING", &sortable(cutoff)).await?;
        Ok(listed
            .into_iter()
            .map(|p| Pending {
                account_id: p.account_id,
                invoice_id: p.invoice_id,
                charge_key: p.charge_key,
                refunded: p.refunded,
            })
            .collect())
    }

    async fn record(
        &self,
        account_id: &str,
        invoice_id: &str,
        charge_key: &str,
    ) -> Result<Recording, Error> {
        // Recorded with the request's lease, in the same write (a new key's first charge).
        if self.took_first_charge(charge_key) {
            return Ok(Recording::New);
        }
        let pending =
            PendingCharge::new(self.system_clock.now(), account_id, invoice_id, charge_key);
        if self.store.put_new(&pending).await? {
            return Ok(Recording::New);
        }
        let earlier: Option<PendingCharge> = self.store.get(&pending.pk, &pending.sk).await?;
        Ok(match earlier {
            Some(earlier) if earlier.refunded => Recording::Refunded,
            _ => Recording::Again,
        })
    }

    async fn forget(&self, charge_key: &str) {
        PendingCharge::key_only(charge_key).forget(self).await
    }

    async fn mark_refunded(&self, charge_key: &str) -> Result<(), Error> {
        mark_refunded(self, charge_key).await
    }

    async fn refund_done(&self, charge_key: &str) {
        refund_done(self, charge_key).await
    }
}

fn pending_key(charge_key: &str) -> [(&'static str, AttributeValue); 2] {
    [
        ("pk", AttributeValue::S(format!("PENDING#{charge_key}"))),
        ("sk", AttributeValue::S("PENDING".into())),
    ]
}

/// Marks a charge key refunded (before the refund: still listed for settlement).
async fn mark_refunded(app: &App, charge_key: &str) -> Result<(), Error> {
    let expires = app.system_clock.now().as_second() + REFUNDED_KEY_DAYS * 86_400;
    let [pk, sk] = pending_key(charge_key);
    app.store
        .client()
        .update_item()
        .table_name(app.store.table())
        .key(pk.0, pk.1)
        .key(sk.0, sk.1)
        .update_expression("SET refunded = :yes, expires_at = :expires")
        .expression_attribute_values(":yes", AttributeValue::Bool(true))
        .expression_attribute_values(":expires", AttributeValue::N(expires.to_string()))
        .send()
        .await
        .map_err(|e| {
            Error::unavailable(format!("dynamodb UpdateItem: {}", DisplayErrorContext(e)))
        })?;
    Ok(())
}

/// The refund went through: the key stays marked, no longer listed for settlement.
async fn refund_done(app: &App, charge_key: &str) {
    let [pk, sk] = pending_key(charge_key);
    let result = app
        .store
        .client()
        .update_item()
        .table_name(app.store.table())
        .key(pk.0, pk.1)
        .key(sk.0, sk.1)
        .update_expression("REMOVE gsi1pk, gsi1sk")
        .send()
        .await;
    if let Err(e) = result {
        // Still listed: the settlement run refunds again (the partner refunds once).
        tracing::warn!(error = %DisplayErrorContext(e), charge = %charge_key, "refund not recorded as done");
    }
}

/// A charge made (or being made) for a change not yet written: `PENDING#<charge key>`,
/// listed in `gsi1` under `PENDING` by the real time it was made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingCharge {
    pub pk: String,
    pub sk: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gsi1pk: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gsi1sk: String,
    #[serde(default)]
    pub charge_key: String,
    #[serde(default)]
    pub account_id: String,
    #[serde(default)]
    pub invoice_id: String,
    /// Given back (or being given back): the key is not to be charged again.
    #[serde(default)]
    pub refunded: bool,
}

impl PendingCharge {
    pub(crate) fn new(at: Timestamp, account_id: &str, invoice_id: &str, key: &str) -> Self {
        PendingCharge {
            pk: format!("PENDING#{key}"),
            sk: "PENDING".into(),
            gsi1pk: "PENDING".into(),
            gsi1sk: sortable(at),
            charge_key: key.into(),
            account_id: account_id.into(),
            invoice_id: invoice_id.into(),
            refunded: false,
        }
    }

    pub fn key_only(key: &str) -> Self {
        PendingCharge {
            pk: format!("PENDING#{key}"),
            sk: "PENDING".into(),
            gsi1pk: String::new(),
            gsi1sk: String::new(),
            charge_key: key.into(),
            account_id: String::new(),
            invoice_id: String::new(),
            refunded: false,
        }
    }

    pub fn delete_op(&self, app: &App) -> Result<TransactWriteItem, Error> {
        app.store.delete_op(&self.pk, &self.sk)
    }

    async fn forget(&self, app: &App) {
        if let Err(e) = app
            .store
            .transact(vec![match self.delete_op(app) {
                Ok(op) => op,
                Err(_) => return,
            }])
            .await
        {
            tracing::warn!(error = ?e, "pending charge record not removed; settlement will");
        }
    }
}

/// An instant as a sort key: zero-padded milliseconds, so text order is time order.
fn sortable(at: Timestamp) -> String {
    format!("{:020}", at.as_millisecond())
}

pub use softbrik_app::billing::Settlement;

/// Settles charges older than `grace` whose change never got written
/// (`softbrik_app::billing::settle`).
pub async fn settle_pending(app: &App, grace: jiff::SignedDuration) -> Result<Settlement, Error> {
    softbrik_app::billing::settle(&app.ports(), app.system_clock.now() - grace).await
}

/// An issued invoice whose email failed, listed in `gsi1` under `MAILRETRY` for the
/// settlement run (every 5 minutes) to send again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MailRetry {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub account_id: String,
    pub invoice_id: String,
    pub expires_at: i64,
}

/// How long an invoice email is tried again (an account closed meanwhile ends it sooner).
const MAIL_RETRY_DAYS: i64 = 30;

/// How long an owed invoice email waits before the settlement run may send it: longer than
/// any invocation lives (15 minutes), so that it never doubles the email of a worker still
/// running, as for pending charges.
const MAIL_OWED_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_mins(16);

impl MailRetry {
    /// Due now (an email that failed).
    pub(crate) fn new(app: &App, account_id: &str, invoice_id: &str) -> Self {
        Self::due_at(app, account_id, invoice_id, app.system_clock.now())
    }

    /// An invoice's email owed by the transaction that stores it: due after the grace.
    pub(crate) fn owed(app: &App, account_id: &str, invoice_id: &str) -> Self {
        let due = app.system_clock.now() + MAIL_OWED_GRACE;
        Self::due_at(app, account_id, invoice_id, due)
    }

    fn due_at(app: &App, account_id: &str, invoice_id: &str, due: Timestamp) -> Self {
        let now = app.system_clock.now();
        MailRetry {
            pk: format!("MAILRETRY#{account_id}#{invoice_id}"),
            sk: "MAILRETRY".into(),
            gsi1pk: "MAILRETRY".into(),
            gsi1sk: sortable(due),
            account_id: account_id.into(),
            invoice_id: invoice_id.into(),
            expires_at: now.as_second() + MAIL_RETRY_DAYS * 86_400,
        }
    }

    /// The bound of the index's sort keys below which a retry is due at `now` (`now`
    /// included).
    pub(crate) fn due_by(now: Timestamp) -> String {
        sortable(now + jiff::SignedDuration::from_millis(1))
    }
}

/// Sends again the invoices whose email failed (`softbrik_app::invoices::resend`): (sent,
/// left for the next run).
pub async fn resend_invoices(app: &App) -> Result<(u32, u32), Error> {
    softbrik_app::invoices::resend(&app.ports()).await
}

pub use softbrik_app::invoices::{customer, pdf_filename};

/// Why the transaction storing an invoice did not go through.
#[derive(Debug)]
pub enum StoreFailure {
    /// The condition of `change[index]` failed (the caller knows what that means).
    Conflict(usize),
    Failed(Error),
}

impl From<Error> for StoreFailure {
    fn from(e: Error) -> Self {
        StoreFailure::Failed(e)
    }
}

/// A lost condition is a write that did not land: its charge is given back.
impl softbrik_app::billing::WriteFailure for StoreFailure {
    fn may_have_landed(&self) -> bool {
        match self {
            StoreFailure::Conflict(_) => false,
            StoreFailure::Failed(e) => e.may_have_landed(),
        }
    }
}

impl From<TransactionError> for StoreFailure {
    fn from(e: TransactionError) -> Self {
        let mut conflict = None;
        let error = e.into_error(|i| {
            conflict = Some(i);
            Error::internal("condition failed")
        });
        conflict.map_or(StoreFailure::Failed(error), StoreFailure::Conflict)
    }
}

/// Tries at taking the next invoice number before giving up (the caller's run retries).
const NUMBERING_ATTEMPTS: u32 = 16;

/// A random wait of up to 5 ms x 2^attempt, at most 400 ms ("full jitter").
fn numbering_backoff(attempt: u32) -> std::time::Duration {
    use rand::Rng;
    let ceiling = (5u64 << attempt.min(7)).min(400);
    std::time::Duration::from_millis(rand::thread_rng().gen_range(1..=ceiling))
}

/// The last invoice number an instance gave out, and when: trusted as the sequence's value
/// for [`LAST_NUMBER_KEPT`] only. The transaction that takes the next number is conditional
/// on it all the same: a number taken meanwhile by another process fails it, and the
/// sequence is read again.
#[derive(Debug, Clone, Copy)]
pub struct LastNumber {
    number: u64,
    at: std::time::Instant,
}

/// How long an instance takes its last number as the sequence's: a billing run gives out
/// numbers moments apart; after a pause, another instance has probably taken some, and a
/// guess that fails costs a transaction more than the read it saves.
const LAST_NUMBER_KEPT: std::time::Duration = std::time::Duration::from_secs(2);

/// `Invoice Finalised` of `invoice` as numbered at `at`: after the events of the change it
/// pays for (made before it), in the order of the account's events.
fn finalised(
    account: &Account,
    invoice: &Invoice,
    at: Timestamp,
) -> Vec<softbrik_domain::events::Event> {
    let id = softbrik_app::ids::new_ordered_id("evt", at);
    let finalised = softbrik_domain::events::invoice_finalised(invoice);
    softbrik_app::events::made(&id, account, at, finalised)
}

/// Stores `invoice` with the next invoice number and `change` (the items it pays for) in one
/// transaction. `change` is built again for each attempt, because it may carry the number
/// (an idempotent response). A lost race for the number retries with the next one.
pub async fn store_numbered(
    app: &App,
    account: &Account,
    key: &DataKey,
    invoice: &mut Invoice,
    at: Timestamp,
    mut change: impl FnMut(&Invoice) -> Result<Vec<TransactWriteItem>, Error>,
) -> Result<(), StoreFailure> {
    let customer = customer(account);
    // One invoice of this process at a time reads and takes the next number; other processes
    // (requests, other runs) may still take it first, which the loop retries.
    let mut last = app.numbering.lock().await;
    let mut guessed = false;
    for attempt in 0..NUMBERING_ATTEMPTS {
        if attempt > 0 && !guessed {
            // Lost the number to another invoice: wait a random while, longer each time, so
            // that invoices finalised together (a billing run) take turns instead of colliding.
            tokio::time::sleep(numbering_backoff(attempt)).await;
        }
        let kept = last
            .take()
            .filter(|l| l.at.elapsed() < LAST_NUMBER_KEPT)
            .map(|l| l.number);
        guessed = kept.is_some();
        let previous = match kept {
            Some(number) => number,
            None => app
                .store
                .last_invoice_number()
                .await
                .map_err(StoreFailure::Failed)?,
        };
        invoice.number = Some(invoice_number(previous + 1));
        let mut ops = vec![
            app.store
                .invoice_sequence_op(previous)
                .map_err(StoreFailure::Failed)?,
            app.store
                .put_new_op(
                    &InvoiceItem::seal(&account.id, invoice, &customer, key)
                        .map_err(StoreFailure::Failed)?,
                )
                .map_err(StoreFailure::Failed)?,
        ];
        ops.extend(change(invoice).map_err(StoreFailure::Failed)?);
        // The Brik modules are told of the number (events.md), with the invoice.
        let finalised = finalised(account, invoice, at);
        ops.extend(crate::events::outbox_ops(app, &finalised).map_err(StoreFailure::Failed)?);
        if invoice.payment.charge_id.is_some() {
            ops.push(
                PendingCharge::key_only(&charge_key(invoice))
                    .delete_op(app)
                    .map_err(StoreFailure::Failed)?,
            );
        }
        match app.store.transact(ops).await {
            Ok(()) => {
                *last = Some(LastNumber {
                    number: previous + 1,
                    at: std::time::Instant::now(),
                });
                drop(last);
                // This change's events, the invoice's and any its writes carried.
                crate::events::publish_account(app, &account.id).await;
                return Ok(());
            }
            Err(e) if e.condition_failed(0) => continue,
            // Another transaction held the sequence at that instant: retry like a lost number.
            Err(TransactionError::Cancelled(reasons))
                if reasons
                    .iter()
                    .any(|r| r.as_deref() == Some("TransactionConflict")) =>
            {
                continue;
            }
            Err(TransactionError::Cancelled(reasons)) => {
                let index = reasons
                    .iter()
                    .skip(2)
                    .position(|r| r.as_deref() == Some("ConditionalCheckFailed"));
                return Err(match index {
                    Some(i) => StoreFailure::Conflict(i),
                    None => StoreFailure::Failed(Error::unavailable(format!(
                        "transaction cancelled: {reasons:?}"
                    ))),
                });
            }
            Err(TransactionError::Failed(e)) => return Err(StoreFailure::Failed(e)),
        }
    }
    invoice.number = None;
    Err(StoreFailure::Failed(Error::unavailable(
        "invoice numbering is busy",
    )))
}
