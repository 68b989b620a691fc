//! Ticket attachments in S3 (support.md "Email to ticket"): stored under
//! `attachments/<account>/<ticket>/<id>` in the mail bucket (encrypted with KMS, public access
//! blocked), and handed out only as links that expire after [`LINK_LIFETIME`] to users allowed
//! to see the ticket. Raw inbound messages are read from `inbound/`.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use jiff::Timestamp;

use crate::app::App;
use crate::clock::Clock;
use crate::error::Error;

/// How long a download link works.
pub const LINK_LIFETIME: Duration = Duration::from_secs(5 * 60);

fn unavailable(what: &str, e: impl std::fmt::Display) -> Error {
    Error::unavailable(format!("s3 {what}: {e}"))
}

pub async fn put(app: &App, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), Error> {
    app.s3
        .put_object()
        .bucket(&app.config.mail_bucket)
        .key(key)
        .content_type(content_type)
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
        .body(ByteStream::from(bytes))
        .send()
        .await
        .map_err(|e| unavailable("PutObject", aws_sdk_s3::error::DisplayErrorContext(e)))?;
    Ok(())
}

/// The raw bytes of an object (an inbound message SES stored).
pub async fn get(app: &App, key: &str) -> Result<Vec<u8>, Error> {
    let out = app
        .s3
        .get_object()
        .bucket(&app.config.mail_bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| unavailable("GetObject", aws_sdk_s3::error::DisplayErrorContext(e)))?;
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| unavailable("GetObject body", e))?;
    Ok(bytes.into_bytes().to_vec())
}

/// A link that downloads the object as `filename` until it expires (in real time, whatever
/// the account's clock says); signing is local, no call to S3.
pub async fn link(app: &App, key: &str, filename: &str) -> Result<(String, Timestamp), Error> {
    let now = app.system_clock.now();
    let config = PresigningConfig::builder()
        .start_time(std::time::SystemTime::from(now))
        .expires_in(LINK_LIFETIME)
        .build()
        .map_err(Error::internal)?;
    let safe: String = filename
        .chars()
        .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
        .collect();
    let request = app
        .s3
        .get_object()
        .bucket(&app.config.mail_bucket)
        .key(key)
        .response_content_disposition(format!("attachment; filename=\"{safe}\""))
        .presigned(config)
        .await
        .map_err(|e| unavailable("presign", e))?;
    let lifetime = jiff::SignedDuration::try_from(LINK_LIFETIME).map_err(Error::internal)?;
    Ok((request.uri().to_string(), now + lifetime))
}

pub async fn delete(app: &App, key: &str) -> Result<(), Error> {
    app.s3
        .delete_object()
        .bucket(&app.config.mail_bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| unavailable("DeleteObject", aws_sdk_s3::error::DisplayErrorContext(e)))?;
    Ok(())
}

/// Deletes every object under `prefix` (an account's attachments when it closes); returns how
/// many there were. Safe to run again.
pub async fn delete_prefix(app: &App, prefix: &str) -> Result<usize, Error> {
    let mut deleted = 0;
    loop {
        let out = app
            .s3
            .list_objects_v2()
            .bucket(&app.config.mail_bucket)
            .prefix(prefix)
            .send()
            .await
            .map_err(|e| unavailable("ListObjectsV2", aws_sdk_s3::error::DisplayErrorContext(e)))?;
        let keys: Vec<String> = out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
        if keys.is_empty() {
            return Ok(deleted);
        }
        for key in &keys {
            delete(app, key).await?;
        }
        deleted += keys.len();
    }
}
