//! Issuing an invoice for a change: charge it (idempotency key from the invoice id), then
//! store it with the next gapless number in the same transaction as the change it pays for.
//! A charge whose change cannot be written is refunded, so there is never a charge without
//! its invoice nor an invoice without its charge attempt (security.md, Reliability).

use aws_sdk_dynamodb::types::TransactWriteItem;
use jiff::Timestamp;

use crate::account::{
    Account, Invoice, InvoiceCustomer, InvoiceStatus, PaymentState, PaymentStatus, invoice_number,
};
use crate::app::App;
use crate::clock::Clock;
use crate::crypto::DataKey;
use crate::error::Error;
use crate::payments::{ChargeRequest, PaymentError};
use crate::store::{InvoiceItem, TransactionError};
use serde::{Deserialize, Serialize};

/// The idempotency key of an invoice's charge attempt: its id and the attempt's number (the
/// last attempt made, or the first when none was).
pub fn charge_key(invoice: &Invoice) -> String {
    format!("{}:{}", invoice.id, invoice.payment.attempts.max(1))
}

/// Makes the invoice's next charge attempt on the account's card and marks it paid; a refusal
/// is returned with the attempt counted. Nothing to pay: nothing charged.
pub async fn charge(
    app: &App,
    account: &Account,
    invoice: &mut Invoice,
    now: Timestamp,
) -> Result<(), Error> {
    if invoice.totals.total.is_zero() {
        invoice.status = InvoiceStatus::Paid;
        invoice.payment = PaymentState {
            status: PaymentStatus::Succeeded,
            attempts: 0,
            last_error: None,
            charge_id: None,
        };
        return Ok(());
    }
    let Some(method) = &account.payment_method else {
        return Err(Error::internal(
            "an account billed through its reseller was charged",
        ));
    };
    invoice.payment.attempts += 1;
    let request = ChargeRequest {
        account_id: account.id.clone(),
        payment_method: method.token.clone(),
        amount: invoice.totals.total,
        idempotency_key: charge_key(invoice),
        description: format!("Softbrik {}", invoice.id),
    };
    // Recorded before the charge, removed with the invoice's transaction: whatever stops this
    // function in between, the settlement run (`prorate`) finds the charge and settles it.
    let pending = PendingCharge::new(app, account, invoice);
    app.store.put_new(&pending).await?;
    let charge = match app.payments.charge(&request, now).await {
        Ok(charge) => charge,
        Err(PaymentError::Unavailable(what)) => {
            tracing::warn!(charge = %request.idempotency_key, "charge outcome unknown; left to settlement");
            return Err(Error::Unavailable(what));
        }
        Err(refused) => {
            pending.forget(app).await;
            invoice.payment.status = PaymentStatus::Failed;
            invoice.payment.last_error = Some(refused.to_string());
            return Err(refused.into());
        }
    };
    invoice.status = InvoiceStatus::Paid;
    invoice.payment = PaymentState {
        status: PaymentStatus::Succeeded,
        attempts: invoice.payment.attempts,
        last_error: None,
        charge_id: Some(charge.id),
    };
    Ok(())
}

/// Gives back a charge whose change could not be written.
pub async fn refund(app: &App, invoice: &Invoice) {
    if invoice.payment.charge_id.is_none() {
        return;
    }
    let key = charge_key(invoice);
    match app.payments.refund(&key).await {
        Ok(()) => PendingCharge::key_only(&key).forget(app).await,
        Err(e) => tracing::error!(error = %e, charge = %key, "refund failed; left to settlement"),
    }
}

/// A charge made (or being made) for a change not yet written: `PENDING#<charge key>`,
/// listed in `gsi1` under `PENDING` by the real time it was made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingCharge {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub charge_key: String,
    pub account_id: String,
    pub invoice_id: String,
}

impl PendingCharge {
    fn new(app: &App, account: &Account, invoice: &Invoice) -> Self {
        let key = charge_key(invoice);
        PendingCharge {
            pk: format!("PENDING#{key}"),
            sk: "PENDING".into(),
            gsi1pk: "PENDING".into(),
            gsi1sk: sortable(app.system_clock.now()),
            charge_key: key,
            account_id: account.id.clone(),
            invoice_id: invoice.id.clone(),
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

/// What a settlement run did.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Settlement {
    pub applied: u32,
    pub refunded: u32,
    pub left: u32,
}

/// Settles charges older than `grace` whose change never got written (the function stopped,
/// or the charge's outcome was unknown): a change whose invoice exists was applied; any other
/// is refunded under its own idempotency key, so a change ends fully applied or not at all.
pub async fn settle_pending(app: &App, grace: jiff::SignedDuration) -> Result<Settlement, Error> {
    let cutoff = app.system_clock.now() - grace;
    let pending: Vec<PendingCharge> = app
        .store
        .query_index("PENDING", &cutoff.to_string())
        .await?;
    let mut done = Settlement::default();
    for p in pending {
        let invoice: Option<crate::store::InvoiceItem> = app
            .store
            .get(
                &crate::store::account_pk(&p.account_id),
                &format!("INVOICE#{}", p.invoice_id),
            )
            .await?;
        if invoice.is_some() {
            done.applied += 1;
        } else if let Err(e) = app.payments.refund(&p.charge_key).await {
            tracing::warn!(error = %e, charge = %p.charge_key, "settlement refund failed; next run retries");
            done.left += 1;
            continue;
        } else {
            tracing::info!(charge = %p.charge_key, account_id = %p.account_id, "unwritten change refunded");
            done.refunded += 1;
        }
        p.forget(app).await;
    }
    Ok(done)
}

/// Emails a finalised invoice to the admin in the account's language. A mail failure does
/// not undo what was paid (the invoice can be sent again), so it is logged, not returned.
pub async fn email(app: &App, account: &Account, invoice: &Invoice) {
    let to = account
        .invoice_email
        .as_ref()
        .unwrap_or(&account.admin_email)
        .as_str();
    if let Err(e) = send(app, account, &customer(account), invoice, to).await {
        tracing::error!(error = %e, invoice = %invoice.id, "invoice email not sent");
    }
}

/// Sends an invoice to `to` in the account's language, its PDF attached; `customer` is the
/// block the invoice was issued to.
pub async fn send(
    app: &App,
    account: &Account,
    customer: &InvoiceCustomer,
    invoice: &Invoice,
    to: &str,
) -> Result<(), Error> {
    let (subject, text) =
        crate::emails::invoice_email(account.language, account.company_name.as_str(), invoice);
    let mail = crate::mailer::Mail {
        to: to.to_string(),
        subject,
        text,
        auto_submitted: "auto-generated",
        attachments: vec![crate::mailer::Attachment {
            filename: pdf_filename(invoice),
            content_type: "application/pdf".into(),
            bytes: crate::pdf::invoice_pdf(&app.config.issuer, customer, invoice, account.language),
        }],
    };
    app.mailer.send(&mail).await.map(|_| ())
}

/// The file name of an invoice's PDF: its number, or its id while it has none.
pub fn pdf_filename(invoice: &Invoice) -> String {
    format!("{}.pdf", invoice.number.as_deref().unwrap_or(&invoice.id))
}

/// Who the invoice is addressed to, as the account is today.
pub fn customer(account: &Account) -> InvoiceCustomer {
    InvoiceCustomer {
        company_name: account.company_name.as_str().into(),
        country: account.country.code().into(),
        vat_number: account.vat_number.as_ref().map(|v| v.as_str().to_string()),
        address: account.address.clone(),
        email: account.admin_email.as_str().into(),
    }
}

/// Why the transaction storing an invoice did not go through.
#[derive(Debug)]
pub enum StoreFailure {
    /// The condition of `change[index]` failed (the caller knows what that means).
    Conflict(usize),
    Failed(Error),
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

/// Stores `invoice` with the next invoice number and `change` (the items it pays for) in one
/// transaction. `change` is built again for each attempt, because it may carry the number
/// (an idempotent response). A lost race for the number retries with the next one.
pub async fn store_numbered(
    app: &App,
    account: &Account,
    key: &DataKey,
    invoice: &mut Invoice,
    mut change: impl FnMut(&Invoice) -> Result<Vec<TransactWriteItem>, Error>,
) -> Result<(), StoreFailure> {
    let customer = customer(account);
    // One invoice of this process at a time reads and takes the next number; other processes
    // (requests, other runs) may still take it first, which the loop retries.
    let _turn = app.numbering.lock().await;
    for attempt in 0..NUMBERING_ATTEMPTS {
        if attempt > 0 {
            // Lost the number to another invoice: wait a random while, longer each time, so
            // that invoices finalised together (a billing run) take turns instead of colliding.
            tokio::time::sleep(numbering_backoff(attempt)).await;
        }
        let previous = app
            .store
            .last_invoice_number()
            .await
            .map_err(StoreFailure::Failed)?;
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
        if invoice.payment.charge_id.is_some() {
            ops.push(
                PendingCharge::key_only(&charge_key(invoice))
                    .delete_op(app)
                    .map_err(StoreFailure::Failed)?,
            );
        }
        match app.store.transact(ops).await {
            Ok(()) => return Ok(()),
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
