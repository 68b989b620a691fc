//! Sending mail: one message to one recipient, with its attachments and its RFC 3834
//! `Auto-Submitted` header.

use async_trait::async_trait;

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
