//! The SES adapter of the `Mailer` port (`softbrik_app::ports::mailer`): every message is built as raw MIME (`mail-builder`)
//! so that attachments (invoice PDFs) and the RFC 3834 `Auto-Submitted` header go out as written.

use async_trait::async_trait;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;

use crate::error::Error;

pub use softbrik_app::ports::mailer::{Attachment, Mail, Mailer};

pub struct SesMailer {
    ses: aws_sdk_sesv2::Client,
    from: String,
}

impl SesMailer {
    pub fn new(ses: aws_sdk_sesv2::Client, from: impl Into<String>) -> Self {
        SesMailer {
            ses,
            from: from.into(),
        }
    }

    /// The raw MIME message, as SES will send it.
    pub fn render(&self, mail: &Mail) -> Result<String, Error> {
        let mut builder = MessageBuilder::new()
            .from(("Softbrik", self.from.as_str()))
            .to(mail.to.as_str())
            .subject(mail.subject.as_str())
            .header("Auto-Submitted", Raw::new(mail.auto_submitted))
            .text_body(mail.text.as_str());
        for a in &mail.attachments {
            builder =
                builder.attachment(a.content_type.clone(), a.filename.clone(), a.bytes.clone());
        }
        builder.write_to_string().map_err(Error::internal)
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &Mail) -> Result<String, Error> {
        let raw = self.render(mail)?;
        let message = RawMessage::builder()
            .data(Blob::new(raw.into_bytes()))
            .build()
            .map_err(Error::internal)?;
        let out = self
            .ses
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&mail.to).build())
            .content(EmailContent::builder().raw(message).build())
            .send()
            .await
            .map_err(|e| {
                Error::unavailable(format!("ses SendEmail: {}", e.into_service_error()))
            })?;
        Ok(out.message_id.unwrap_or_default())
    }
}
