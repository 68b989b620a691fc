//! Issued invoices (billing.md "Invoices"): emailed once issued, in the account's language,
//! their PDF attached, to the account's invoice address (its admin's without one); an email
//! that fails is sent again by the settlement run, so that every issued invoice reaches its
//! customer; the admin lists them, reads one, downloads its PDF, has it sent again; and reads
//! the history of the subscription.

use softbrik_domain::account::{Account, HistoryEntry, Invoice, InvoiceCustomer};
use softbrik_domain::values::EmailAddress;

use crate::error::Error;
use crate::pdf::Issuer;
use crate::ports::Ports;
use crate::ports::mailer::{Attachment, Mail};
use crate::ports::records::Page;
use crate::ports::team::{TeamChange, TeamWrite};

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

/// Where an account's invoices go: its invoice address, or its admin's.
pub fn address(account: &Account) -> &str {
    account
        .invoice_email
        .as_ref()
        .unwrap_or(&account.admin_email)
        .as_str()
}

/// The file name of an invoice's PDF: its number, or its id while it has none.
pub fn pdf_filename(invoice: &Invoice) -> String {
    format!("{}.pdf", invoice.number.as_deref().unwrap_or(&invoice.id))
}

/// The email of `invoice` to `to`, in the account's language, its PDF attached (`customer`:
/// the block it was issued to).
pub fn mail(
    issuer: &Issuer,
    account: &Account,
    customer: &InvoiceCustomer,
    invoice: &Invoice,
    to: &str,
) -> Mail {
    let words =
        crate::emails::invoice_email(account.language, account.company_name.as_str(), invoice);
    mail_with(issuer, account, customer, invoice, to, words)
}

/// An email carrying `invoice`'s PDF, with `words` (subject, text).
fn mail_with(
    issuer: &Issuer,
    account: &Account,
    customer: &InvoiceCustomer,
    invoice: &Invoice,
    to: &str,
    (subject, text): (String, String),
) -> Mail {
    Mail {
        to: to.to_string(),
        subject,
        text,
        auto_submitted: "auto-generated",
        attachments: vec![Attachment {
            filename: pdf_filename(invoice),
            content_type: "application/pdf".into(),
            bytes: crate::pdf::invoice_pdf(issuer, customer, invoice, account.language),
        }],
    }
}

/// Sends `invoice` to `to`.
pub async fn send(
    ports: &Ports<'_>,
    account: &Account,
    customer: &InvoiceCustomer,
    invoice: &Invoice,
    to: &str,
) -> Result<(), Error> {
    let mail = mail(&ports.records.issuer(), account, customer, invoice, to);
    ports.mailer.send(&mail).await.map(|_| ())
}

/// Emails a just issued invoice. A mail failure does not undo what was paid: it is logged,
/// and the invoice left for the settlement run to send again.
pub async fn email(ports: &Ports<'_>, account: &Account, invoice: &Invoice) {
    let sent = send_issued(ports, account, invoice).await;
    left_for_retry(ports, account, invoice, sent).await;
}

/// The invoice's own email, to the account's invoice address.
async fn send_issued(ports: &Ports<'_>, account: &Account, invoice: &Invoice) -> Result<(), Error> {
    send(
        ports,
        account,
        &customer(account),
        invoice,
        address(account),
    )
    .await
}

/// Emails a just issued invoice whose email its write recorded as owed
/// (`RenewalWrite::mail_owed`): once sent, the record goes. Not sent, the record stays, and
/// the settlement run sends it when it is due; so does a worker that dies before this.
pub async fn email_owed(ports: &Ports<'_>, account: &Account, invoice: &Invoice) {
    match send_issued(ports, account, invoice).await {
        Ok(()) => {
            if let Err(e) = ports.records.mailed(&account.id, &invoice.id).await {
                tracing::warn!(error = %e, invoice = %invoice.id, "invoice sent; its owed record not removed: the settlement run sends it again");
            }
        }
        sent => left_for_retry(ports, account, invoice, sent).await,
    }
}

/// Emails "payment received" (billing.md "Payment") with the PDF of an open invoice just paid
/// (on a retry, or with a new card): its first email, since an open invoice is emailed once
/// paid. If it fails, the settlement run sends the invoice's own email instead.
pub async fn email_received(ports: &Ports<'_>, account: &Account, invoice: &Invoice) {
    let words = crate::emails::payment_received_email(
        account.language,
        account.company_name.as_str(),
        invoice,
    );
    let issuer = ports.records.issuer();
    let to = address(account);
    let mail = mail_with(&issuer, account, &customer(account), invoice, to, words);
    let sent = ports.mailer.send(&mail).await.map(|_| ());
    left_for_retry(ports, account, invoice, sent).await;
}

async fn left_for_retry(
    ports: &Ports<'_>,
    account: &Account,
    invoice: &Invoice,
    sent: Result<(), Error>,
) {
    if let Err(e) = sent {
        tracing::error!(error = %e, invoice = %invoice.id, "invoice email not sent; sent again later");
        if let Err(e) = ports
            .records
            .leave_for_retry(&account.id, &invoice.id)
            .await
        {
            tracing::error!(error = %e, invoice = %invoice.id, "invoice email not sent nor left to send again");
        }
    }
}

/// Sends again the invoices whose email failed: (sent, left for the next run). An invoice or
/// account gone (closed) is dropped.
pub async fn resend(ports: &Ports<'_>) -> Result<(u32, u32), Error> {
    let (mut sent, mut left) = (0, 0);
    for (account_id, invoice_id, retry) in ports.records.retries().await? {
        let outcome = match ports.records.issued(&account_id, &invoice_id).await {
            Ok((invoice, customer, account)) => {
                send(ports, &account, &customer, &invoice, address(&account)).await
            }
            Err(Error::NotFound) => Ok(()),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {
                sent += 1;
                if let Err(e) = ports.records.retried(&retry).await {
                    tracing::warn!(error = %e, invoice = %invoice_id, "invoice sent again; its retry not removed");
                }
            }
            Err(e) => {
                left += 1;
                tracing::warn!(error = %e, invoice = %invoice_id, "invoice email still not sent; next run retries");
            }
        }
    }
    Ok((sent, left))
}

/// `GET /account/invoices`: a page, newest first.
pub async fn list(
    ports: &Ports<'_>,
    account_id: &str,
    limit: i32,
    next: Option<&str>,
) -> Result<Page<Invoice>, Error> {
    ports.records.invoices(account_id, limit, next).await
}

/// `GET /account/invoices/{id}`.
pub async fn invoice(ports: &Ports<'_>, account_id: &str, id: &str) -> Result<Invoice, Error> {
    Ok(ports.records.issued(account_id, id).await?.0)
}

/// `GET /account/invoices/{id}/pdf`: its file name and bytes, in the account's language.
pub async fn pdf(
    ports: &Ports<'_>,
    account_id: &str,
    id: &str,
) -> Result<(String, Vec<u8>), Error> {
    let (invoice, customer, account) = ports.records.issued(account_id, id).await?;
    let bytes = crate::pdf::invoice_pdf(
        &ports.records.issuer(),
        &customer,
        &invoice,
        account.language,
    );
    Ok((pdf_filename(&invoice), bytes))
}

/// `POST /account/invoices/{id}/send`: the invoice emailed again, to `to` or the admin.
/// Sent by support staff for the customer (`staff`: their mandate), it is written in the
/// account's history.
pub async fn send_again(
    ports: &Ports<'_>,
    account_id: &str,
    id: &str,
    to: Option<&EmailAddress>,
    staff: Option<&crate::staff::Mandate>,
) -> Result<serde_json::Value, Error> {
    let (invoice, customer, account) = ports.records.issued(account_id, id).await?;
    let address = to.map_or(account.admin_email.as_str(), |a| a.as_str());
    send(ports, &account, &customer, &invoice, address).await?;
    if let Some(mandate) = staff {
        let team = ports.table.team(account_id).await?;
        let now = ports.table.now_for(&account).await?;
        let entry = HistoryEntry {
            at: now,
            actor: mandate.actor(),
            action: "invoice_sent".into(),
            details: serde_json::json!({"invoice_id": invoice.id, "number": invoice.number, "to": address}),
        };
        let change = TeamChange {
            writes: vec![TeamWrite::History {
                id: crate::ids::new_ordered_id("hst", now),
                entry,
            }],
            invoice: None,
            counted: 0,
            events: Vec::new(),
            at: now,
        };
        ports.table.commit(&team, change, None).await?;
    }
    Ok(serde_json::json!({"invoice_id": invoice.id, "sent_to": address}))
}

/// `GET /account/history`: a page, newest first.
pub async fn history(
    ports: &Ports<'_>,
    account_id: &str,
    limit: i32,
    next: Option<&str>,
) -> Result<Page<HistoryEntry>, Error> {
    ports.records.history(account_id, limit, next).await
}
