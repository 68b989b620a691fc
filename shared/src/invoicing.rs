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
use crate::crypto::DataKey;
use crate::error::Error;
use crate::payments::ChargeRequest;
use crate::store::{InvoiceItem, TransactionError};

/// The idempotency key of an invoice's first charge attempt.
pub fn charge_key(invoice: &Invoice) -> String {
    format!("{}:1", invoice.id)
}

/// Charges the invoice's total on the account's card and marks it paid. Nothing to pay:
/// nothing charged.
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
    let request = ChargeRequest {
        account_id: account.id.clone(),
        payment_method: account.payment_method.token.clone(),
        amount: invoice.totals.total,
        idempotency_key: charge_key(invoice),
        description: format!("Softbrik {}", invoice.id),
    };
    let charge = app.payments.charge(&request, now).await?;
    invoice.status = InvoiceStatus::Paid;
    invoice.payment = PaymentState {
        status: PaymentStatus::Succeeded,
        attempts: 1,
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
    if let Err(e) = app.payments.refund(&key).await {
        tracing::error!(error = %e, charge = %key, "refund of an unwritten change did not go through");
    }
}

/// Emails a finalised invoice to the admin in the account's language. A mail failure does
/// not undo what was paid (the invoice can be sent again), so it is logged, not returned.
pub async fn email(app: &App, account: &Account, invoice: &Invoice) {
    let (subject, text) =
        crate::emails::invoice_email(account.language, account.company_name.as_str(), invoice);
    let mail = crate::mailer::Mail {
        to: account.admin_email.as_str().to_string(),
        subject,
        text,
        auto_submitted: "auto-generated",
        attachments: vec![],
    };
    if let Err(e) = app.mailer.send(&mail).await {
        tracing::error!(error = %e, invoice = %invoice.id, "invoice email not sent");
    }
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
    for _ in 0..8 {
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
        match app.store.transact(ops).await {
            Ok(()) => return Ok(()),
            Err(e) if e.condition_failed(0) => continue,
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
