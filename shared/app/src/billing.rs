//! Charging for a change, and giving the charge back when the change cannot be written
//! (security.md, Reliability): the charge is recorded in the book before it is made, made
//! under an idempotency key derived from the invoice, and its invoice stored with the change
//! (which strikes it off the book). A charge whose change cannot be written is refunded, so
//! there is never a charge without its invoice nor an invoice without its charge attempt.
//!
//! The partner answers a key used again with the key's first charge, refunded or not: a
//! refunded key is marked in the book, and the invoice's next charge moves on to the next
//! attempt's key. Otherwise a renewal, whose invoice id is the same at every run, would be
//! stored as paid by the charge its failed run gave back.

use jiff::Timestamp;
use softbrik_domain::account::{Account, Invoice, InvoiceStatus, PaymentState, PaymentStatus};

use crate::error::Error;
use crate::ports::Ports;
use crate::ports::charges::Recording;
use crate::ports::payments::{ChargeRequest, PaymentError};

/// Charge attempts an invoice may make (dunning makes 4; refunded keys skipped count too).
pub const MAX_ATTEMPTS: u32 = 20;

/// The idempotency key of an invoice's charge attempt: its id and the attempt's number (the
/// last attempt made, or the first when none was).
pub fn charge_key(invoice: &Invoice) -> String {
    attempt_key(&invoice.id, invoice.payment.attempts.max(1))
}

/// The idempotency key of the charge attempt `attempt` (from 1) of the invoice `invoice_id`.
pub fn attempt_key(invoice_id: &str, attempt: u32) -> String {
    format!("{invoice_id}:{attempt}")
}

/// Makes the invoice's next charge attempt on the account's card and marks it paid; a refusal
/// is returned with the attempt counted and the invoice's payment failed. Nothing to pay:
/// paid, nothing charged. A partner that does not answer leaves the charge in doubt
/// (`Error::InDoubt`): recorded in the book, for the retry (same key, same charge) or the
/// settlement run.
pub async fn charge(
    ports: &Ports<'_>,
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
    // A key already recorded is the same attempt again (same charge), unless it was refunded.
    loop {
        match ports
            .charges
            .record(&account.id, &invoice.id, &charge_key(invoice))
            .await?
        {
            Recording::New | Recording::Again => break,
            Recording::Refunded if invoice.payment.attempts < MAX_ATTEMPTS => {
                invoice.payment.attempts += 1;
            }
            Recording::Refunded => {
                return Err(Error::internal(
                    "every charge key of the invoice was refunded",
                ));
            }
        }
    }
    let request = ChargeRequest {
        account_id: account.id.clone(),
        payment_method: method.token.clone(),
        amount: invoice.due(),
        idempotency_key: charge_key(invoice),
        description: format!("Softbrik {}", invoice.id),
    };
    let charge = match ports.payments.charge(&request, now).await {
        Ok(charge) => charge,
        Err(PaymentError::Unavailable(what)) => {
            // Never retried under another key: the retry of the request keeps the invoice id,
            // so the partner answers it with this charge if it was made.
            tracing::warn!(charge = %request.idempotency_key, "charge outcome unknown; left to the retry or settlement");
            return Err(Error::InDoubt(what));
        }
        Err(refused) => {
            ports.charges.forget(&request.idempotency_key).await;
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

/// A change paid for by `invoice` (if any): the invoice charged first (nothing is written
/// when the card is refused), then `commit` stores the change with it; if that fails, the
/// charge is given back ([`refund_after`]: unless the write may still land). Without an
/// invoice, `commit` alone. Every addition charged now goes through here.
pub async fn charged<T, E: WriteFailure>(
    ports: &Ports<'_>,
    account: &Account,
    invoice: Option<Invoice>,
    now: Timestamp,
    commit: impl AsyncFnOnce(Option<Invoice>) -> Result<T, E>,
) -> Result<T, E> {
    let Some(mut invoice) = invoice else {
        return commit(None).await;
    };
    charge(ports, account, &mut invoice, now).await?;
    let kept = invoice.clone();
    match commit(Some(invoice)).await {
        Ok(done) => Ok(done),
        Err(e) => {
            if e.may_have_landed() {
                tracing::warn!(invoice = %kept.id, "write in doubt: its charge is left to the retry or the settlement run");
            } else {
                refund(ports, &kept).await;
            }
            Err(e)
        }
    }
}

/// What a settlement run did.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Settlement {
    pub applied: u32,
    pub refunded: u32,
    pub left: u32,
    /// Invoices whose email had failed, sent this run, and still waiting.
    pub mailed: u32,
    pub mail_left: u32,
    /// Events the requests left in the outbox, put on the bus this run.
    #[serde(default)]
    pub events: u32,
}

/// Settles the charges recorded before `cutoff` whose change was never written (the function
/// stopped, or the charge's outcome was unknown): a change whose invoice exists was applied
/// (struck off the book); any other is marked given back, then refunded under its own key, so
/// a change ends fully applied or not at all. A refund that fails is left for the next run.
pub async fn settle(ports: &Ports<'_>, cutoff: Timestamp) -> Result<Settlement, Error> {
    let mut done = Settlement::default();
    for pending in ports.charges.pending_before(cutoff).await? {
        if !pending.refunded {
            let invoice = ports
                .billing
                .invoice(&pending.account_id, &pending.invoice_id)
                .await?;
            if invoice.is_some() {
                done.applied += 1;
                ports.charges.forget(&pending.charge_key).await;
                continue;
            }
            ports.charges.mark_refunded(&pending.charge_key).await?;
        }
        if let Err(e) = ports.payments.refund(&pending.charge_key).await {
            tracing::warn!(error = %e, charge = %pending.charge_key, "settlement refund failed; next run retries");
            done.left += 1;
            continue;
        }
        tracing::info!(charge = %pending.charge_key, account_id = %pending.account_id, "unwritten change refunded");
        done.refunded += 1;
        ports.charges.refund_done(&pending.charge_key).await;
    }
    Ok(done)
}

/// Why a change's write failed, as far as its charge is concerned: whether the write may
/// still land (its outcome unknown), when the charge must stay.
pub trait WriteFailure: From<Error> {
    fn may_have_landed(&self) -> bool;
}

impl WriteFailure for Error {
    fn may_have_landed(&self) -> bool {
        matches!(self, Error::InDoubt(_))
    }
}

/// Gives back a charge whose change could not be written. The key is marked first, so that
/// no later charge of the invoice reuses it; unmarked, it is not refunded now but left to the
/// settlement run, which marks it before refunding.
pub async fn refund(ports: &Ports<'_>, invoice: &Invoice) {
    if invoice.payment.charge_id.is_none() {
        return;
    }
    let key = charge_key(invoice);
    if let Err(e) = ports.charges.mark_refunded(&key).await {
        tracing::error!(error = %e, charge = %key, "refund not marked; left to settlement");
        return;
    }
    match ports.payments.refund(&key).await {
        Ok(()) => ports.charges.refund_done(&key).await,
        Err(e) => tracing::error!(error = %e, charge = %key, "refund failed; left to settlement"),
    }
}

/// Gives back the charge of a change whose write failed with `cause`, unless that write may
/// still land (`Error::InDoubt`): its charge then stays for the retry, which reuses the same
/// key and so the same charge, or for the settlement run, which refunds it only if no
/// invoice ever kept it.
pub async fn refund_after(ports: &Ports<'_>, invoice: &Invoice, cause: &Error) {
    if cause.may_have_landed() {
        tracing::warn!(invoice = %invoice.id, "write in doubt: its charge is left to the retry or the settlement run");
        return;
    }
    refund(ports, invoice).await;
}
