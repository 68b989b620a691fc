//! Credit notes (billing.md "Invoices"), issued by support staff on the customer's request
//! (`POST /staff/accounts/{account_id}/invoices/{invoice_id}/credit-notes`). The invoice is
//! read, the note decided by `softbrik_domain::credit`, the amount refunded to the card the
//! invoice was paid with, then the note stored with the next number of the invoices'
//! sequence, the invoice's credited amount (void when it was unpaid and is now credited in
//! full), the history entry and the request's answer in one transaction, and the note
//! emailed with its PDF like an invoice.
//!
//! The refund comes first, like a charge, under a key made of the invoice and what was
//! credited of it when read: the write that follows is conditional on that amount, so a
//! retry (the write failed, or lost to a concurrent note) asks the partner under the same
//! key and gets the first refund back, never a second one.

use std::collections::BTreeMap;

use softbrik_domain::account::{HistoryEntry, Invoice};
use softbrik_domain::credit::{self as decide, CreditRefusal, Credited};

use crate::error::Error;
use crate::idempotency::{self, Lease};
use crate::ports::Ports;
use crate::ports::payments::RefundRequest;
use crate::ports::team::{Answering, TeamChange, TeamWrite};
use crate::staff::Mandate;

/// What the staff member asked for.
#[derive(Debug, Clone)]
pub struct CreditRequest {
    pub what: Credited,
    /// The customer's reason, as staff wrote it: kept in the history (sealed), not on the
    /// note.
    pub reason: String,
}

/// Issues the credit note: 201 and the note as an `Invoice` (`kind: "credit_note"`,
/// `credits`: the invoice's id). `ask` checks the request and gives the mandate and what is
/// asked; it runs once the `Idempotency-Key` is taken (a replay answers first, a key reused
/// with another request is refused before anything is read).
pub async fn issue(
    ports: &Ports<'_>,
    account_id: &str,
    invoice_id: &str,
    key: Option<&str>,
    fingerprint: serde_json::Value,
    ask: impl AsyncFnOnce() -> Result<(Mandate, CreditRequest), Error>,
) -> Result<(u16, serde_json::Value), Error> {
    let scope = idempotency::account_scope(account_id);
    let reserve = || BTreeMap::from([("credit_note".to_string(), crate::ids::new_id("inv"))]);
    idempotency::once_in(ports, &scope, key, fingerprint, reserve, async |lease| {
        let (mandate, request) = ask().await?;
        if mandate.account_id != account_id {
            return Err(Error::internal("a mandate for another account"));
        }
        issue_once(ports, &mandate, invoice_id, &request, lease).await
    })
    .await
}

async fn issue_once(
    ports: &Ports<'_>,
    mandate: &Mandate,
    invoice_id: &str,
    request: &CreditRequest,
    lease: &Lease,
) -> Result<(u16, serde_json::Value), Error> {
    let account_id = &mandate.account_id;
    // The account with what the commit writes against (one Query), and the invoice.
    let team = ports.table.team(account_id).await?;
    let account = &team.account;
    let invoice = ports
        .billing
        .invoice(account_id, invoice_id)
        .await?
        .ok_or(Error::NotFound)?;
    let now = ports.table.now_for(account).await?;
    let plan = decide::credit_note(
        &invoice,
        &request.what,
        lease.id("credit_note"),
        account.local_date(now),
        account.language,
    )
    .map_err(refused)?;
    let voided = plan.invoice.status == softbrik_domain::account::InvoiceStatus::Void;
    let mut note = plan.note;
    if let Some(amount) = plan.refund {
        let refund = RefundRequest {
            account_id: account_id.clone(),
            charge_key: crate::billing::charge_key(&invoice),
            amount,
            refund_key: format!("credit:{}:{}", invoice.id, invoice.credited),
        };
        note.payment.charge_id = Some(ports.payments.refund_part(&refund).await?);
    }
    let entry = HistoryEntry {
        at: now,
        actor: mandate.actor(),
        action: "credit_note_issued".into(),
        details: serde_json::json!({
            "invoice_id": invoice.id,
            "invoice_number": invoice.number,
            "credit_note_id": note.id,
            "total": note.totals.total,
            "refunded": plan.refund,
            "reason": request.reason,
        }),
    };
    let change = TeamChange {
        writes: vec![
            TeamWrite::Credited {
                invoice: plan.invoice,
                before: invoice.credited,
            },
            TeamWrite::History {
                id: crate::ids::new_ordered_id("hst", now),
                entry,
            },
        ],
        invoice: Some(note),
        counted: 0,
        events: Vec::new(),
        at: now,
    };
    let respond = |note: Option<&Invoice>| serde_json::to_value(note).map_err(Error::internal);
    let answer = lease.held().map(|held| Answering {
        lease: held,
        status: 201,
        body: &respond,
    });
    let committed = ports.table.commit(&team, change, answer).await?;
    let note = committed
        .invoice
        .ok_or_else(|| Error::internal("a credit note stored without its number"))?;
    tracing::info!(credit_note = %note.id, invoice = %invoice.id, "credit note issued");
    if voided {
        // Its last unpaid invoice voided, an account past due or suspended owes nothing.
        // (Failing here, the note stands: the next retry run, or a new card, restores it.)
        if let Err(e) = crate::dunning::owes_nothing(ports, account_id).await {
            tracing::error!(error = %e, "account not restored after its last invoice was voided");
        }
    }
    crate::invoices::email(ports, account, &note).await;
    Ok((201, serde_json::to_value(&note).map_err(Error::internal)?))
}

/// The domain's refusal as the API answers it.
fn refused(refusal: CreditRefusal) -> Error {
    match refusal {
        CreditRefusal::Exceeds { asked, remaining } => {
            Error::CreditExceedsInvoice { asked, remaining }
        }
        CreditRefusal::NothingToCredit => Error::validation(
            "amount",
            "nothing_to_credit",
            "a credit note credits a positive amount, within what is left to credit",
        ),
        CreditRefusal::NoSuchLine(_) | CreditRefusal::LineTwice(_) => {
            Error::validation("lines", "invalid_lines", refusal.to_string())
        }
        CreditRefusal::NotAnInvoice => {
            Error::validation("invoice_id", "not_an_invoice", refusal.to_string())
        }
    }
}
