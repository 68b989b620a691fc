//! Sending mail: one message to one recipient, with its attachments and its RFC 3834
//! `Auto-Submitted` header.

use async_trait::async_trait;
use softbrik_domain::account::{Account, Invoice};

use crate::error::Error;

/// A message to one recipient.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// RFC 3834: `auto-generated` for notifications, `auto-replied` for acknowledgements.
    pub auto_submitted: &'static str,
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `mail`; answers the provider's message id.
    async fn send(&self, mail: &Mail) -> Result<String, Error>;
}

impl Mail {
    /// An automatic notice to `to` (no attachment): `words` is its (subject, text).
    pub fn notice(to: &str, (subject, text): (String, String)) -> Mail {
        Mail {
            to: to.to_string(),
            subject,
            text,
            auto_submitted: "auto-generated",
            attachments: Vec::new(),
        }
    }
}

/// Sends an automatic notice; a failure is logged (`what`: which notice), never returned: the
/// change it tells of stands.
pub async fn notify(mailer: &dyn Mailer, to: &str, words: (String, String), what: &str) {
    if let Err(e) = mailer.send(&Mail::notice(to, words)).await {
        tracing::error!(error = %e, code = e.code(), notice = what, "notice not sent");
    }
}

/// Sending an issued invoice to the account, its PDF attached, in its language.
#[async_trait]
pub trait InvoiceMail: Send + Sync {
    /// Sends `invoice`; a failure does not undo what was paid: it is logged and the invoice
    /// sent again later, so that every issued invoice reaches its customer.
    async fn email(&self, account: &Account, invoice: &Invoice);

    /// Sends `invoice`, whose email the transaction that stored it recorded as owed
    /// ([`crate::ports::billing::RenewalWrite::mail_owed`]): sent, the record goes; not sent,
    /// or the worker dying first, the settlement run sends it once the record is due.
    async fn email_owed(&self, account: &Account, invoice: &Invoice) {
        self.email(account, invoice).await
    }
}
