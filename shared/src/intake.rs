//! Email to ticket on AWS (support.md "Email to ticket"): SES stores each message for the
//! support and security addresses in S3 and invokes `ticket-intake`, which masks the stored
//! copy's card numbers, hands the message to `softbrik_app::intake::receive` (the rules: who
//! sent it, which ticket it opens or joins, what is answered), then deletes SES's copy.
//! Locally the dev stack posts the raw message to `POST /inbound/email`. This module is also
//! the adapter of the intake's port (`Inbox`: the Message-ID claims, the senders by their
//! address's keyed hash, the auto-replies' counts).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use softbrik_app::ports::inbox::{Inbox, Sender};
use softbrik_app::ports::team::{Read, Stamp};

use crate::app::App;
use crate::clock::Clock;
use crate::error::Error;
use crate::inbound;
use crate::store::{EmailClaimItem, email_claim_pk};
use crate::values::EmailAddress;

pub use softbrik_app::intake::{MAX_AUTO_REPLIES_PER_HOUR, Outcome, SenderChecks};

/// How long a Message-ID is remembered (SES retries within minutes; a month is ample).
const CLAIM_SECONDS: i64 = 30 * 24 * 3600;

/// SES's receipt notification (the Lambda action's event), as far as the intake reads it.
#[derive(Debug, Deserialize)]
pub struct SesEvent {
    #[serde(rename = "Records")]
    pub records: Vec<SesRecord>,
}

#[derive(Debug, Deserialize)]
pub struct SesRecord {
    pub ses: SesPayload,
}

#[derive(Debug, Deserialize)]
pub struct SesPayload {
    pub mail: SesMail,
    pub receipt: SesReceipt,
}

#[derive(Debug, Deserialize)]
pub struct SesMail {
    #[serde(rename = "messageId")]
    pub message_id: String,
}

#[derive(Debug, Deserialize)]
pub struct SesReceipt {
    /// The envelope recipients (Bcc included), which the headers may not show.
    #[serde(default)]
    pub recipients: Vec<String>,
    #[serde(rename = "spfVerdict", default)]
    pub spf_verdict: Option<Verdict>,
    #[serde(rename = "dkimVerdict", default)]
    pub dkim_verdict: Option<Verdict>,
    #[serde(rename = "dmarcVerdict", default)]
    pub dmarc_verdict: Option<Verdict>,
    /// The sending domain's published DMARC policy (`none`, `quarantine`, `reject`).
    #[serde(rename = "dmarcPolicy", default)]
    pub dmarc_policy: Option<String>,
    #[serde(rename = "spamVerdict", default)]
    pub spam_verdict: Option<Verdict>,
    #[serde(rename = "virusVerdict", default)]
    pub virus_verdict: Option<Verdict>,
}

#[derive(Debug, Deserialize)]
pub struct Verdict {
    pub status: String,
}

/// SES's verdicts on a message's sender, from its receipt; an absent verdict is no pass.
pub fn sender_checks(receipt: &SesReceipt) -> SenderChecks {
    let status = |v: &Option<Verdict>| v.as_ref().map(|v| v.status.clone()).unwrap_or_default();
    SenderChecks {
        spf: status(&receipt.spf_verdict),
        dkim: status(&receipt.dkim_verdict),
        dmarc: status(&receipt.dmarc_verdict),
        dmarc_policy: receipt.dmarc_policy.clone(),
    }
}

/// The S3 key SES's S3 action stores a message under (`ObjectKeyPrefix` + message id).
pub fn inbound_key(ses_message_id: &str) -> String {
    format!("inbound/{ses_message_id}")
}

/// Handles SES's notification: each message read from S3 and received, unless SES found it
/// to be spam or to carry a virus. Once received, the raw message is deleted: what it held is
/// now sealed under the account's key (text) or stored under the account's prefix
/// (attachments), so a closure finds and shreds all of it (security.md). A message whose
/// intake failed stays for SES's retry, and expires with the bucket's 30-day rule.
pub async fn from_ses(app: &App, event: SesEvent) -> Result<Vec<Outcome>, Error> {
    let mut outcomes = Vec::new();
    for record in event.records {
        let failed = |v: &Option<Verdict>| v.as_ref().is_some_and(|v| v.status == "FAIL");
        let id = record.ses.mail.message_id;
        let receipt = &record.ses.receipt;
        if failed(&receipt.spam_verdict) || failed(&receipt.virus_verdict) {
            tracing::warn!(ses_message_id = %id, "inbound mail dropped: spam or virus verdict FAIL");
            crate::attachments::delete(app, &inbound_key(&id)).await?;
            outcomes.push(Outcome::Dropped {
                reason: "spam_or_virus".into(),
            });
            continue;
        }
        let checks = sender_checks(receipt);
        let key = inbound_key(&id);
        let raw = crate::attachments::get(app, &key).await?;
        let raw = mask_stored(app, &key, raw).await?;
        let envelope: Vec<String> = receipt
            .recipients
            .iter()
            .map(|r| r.to_lowercase())
            .collect();
        outcomes.push(receive(app, &raw, &envelope, &checks).await?);
        crate::attachments::delete(app, &key).await?;
    }
    Ok(outcomes)
}

/// The stored raw message with the card numbers it holds masked (security.md: before anything
/// is kept, SES's copy included). The copy is masked in place; when a number hides in an
/// encoding (base64, a quoted-printable soft break) the copy is deleted at once instead, and
/// the message is received from memory: should that fail, it is lost rather than kept with a
/// card number in it (logged).
async fn mask_stored(app: &App, key: &str, raw: Vec<u8>) -> Result<Vec<u8>, Error> {
    let raw = match crate::card_number::mask_card_numbers_in_bytes(&raw) {
        Some(masked) => {
            crate::attachments::put(app, key, "message/rfc822", masked.clone()).await?;
            tracing::warn!("inbound mail: card numbers masked in the stored message");
            masked
        }
        None => raw,
    };
    let still_holds_one = inbound::parse(&raw).is_ok_and(|mail| {
        crate::card_number::looks_like_card_number(&mail.subject)
            || crate::card_number::looks_like_card_number(&mail.text)
    });
    if still_holds_one {
        crate::attachments::delete(app, key).await?;
        tracing::warn!("inbound mail: an encoded card number; the stored message is deleted");
    }
    Ok(raw)
}

/// The record that a Message-ID was handled, written with what it made.
#[derive(Debug, Serialize, Deserialize)]
struct ClaimItem {
    pk: String,
    sk: String,
    expires_at: i64,
}

impl ClaimItem {
    fn new(app: &App, pk: String) -> ClaimItem {
        ClaimItem {
            pk,
            sk: "INBOUND".into(),
            expires_at: app.system_clock.now().as_second() + CLAIM_SECONDS,
        }
    }
}

/// The write of the claim `pk` on an inbound message, only if no delivery claimed it before
/// (the tickets' port writes it with the ticket or message it made).
pub(crate) fn claim_op(app: &App, pk: &str) -> Result<TransactWriteItem, Error> {
    app.store.put_new_op(&ClaimItem::new(app, pk.to_string()))
}

/// Receives one raw message (`softbrik_app::intake::receive`).
pub async fn receive(
    app: &App,
    raw: &[u8],
    envelope: &[String],
    checks: &SenderChecks,
) -> Result<Outcome, Error> {
    softbrik_app::intake::receive(&app.ports(), raw, envelope, checks).await
}

/// A sender's automatic replies of the last hour (`may_reply`).
#[derive(Serialize, Deserialize)]
struct AutoRepliesItem {
    pk: String,
    sk: String,
    /// When each reply of the last hour was sent (Unix seconds).
    sent_at: Vec<i64>,
    version: u64,
    /// TTL: two hours after the last reply.
    expires_at: i64,
}

/// The intake's port on DynamoDB: claims (`INBOUND#<hash>`), senders (the email claims,
/// `EMAIL#<hash>`), the auto-replies' counts (`AUTOREPLY#<hash>`).
#[async_trait]
impl Inbox for App {
    async fn claim_key(&self, message_id: &str) -> Result<String, Error> {
        let hash = self.keyed_hash(&format!("message-id:{message_id}")).await?;
        Ok(format!("INBOUND#{hash}"))
    }

    async fn claimed(&self, claim: &str) -> Result<bool, Error> {
        Ok(self
            .store
            .get::<ClaimItem>(claim, "INBOUND")
            .await?
            .is_some())
    }

    async fn claim(&self, claim: &str) -> Result<bool, Error> {
        self.store
            .put_new(&ClaimItem::new(self, claim.to_string()))
            .await
    }

    async fn sender_hash(&self, email: &EmailAddress) -> Result<String, Error> {
        self.email_hash(email).await
    }

    async fn sender(&self, sender_hash: &str) -> Result<Option<Sender>, Error> {
        let claim: Option<EmailClaimItem> = self
            .store
            .get(&email_claim_pk(sender_hash), "EMAIL")
            .await?;
        Ok(claim.map(|c| Sender {
            account_id: c.account_id,
            user_id: c.user_id,
        }))
    }

    async fn replies(&self, sender_hash: &str) -> Result<Read<Vec<Timestamp>>, Error> {
        let pk = format!("AUTOREPLY#{sender_hash}");
        let read: Option<AutoRepliesItem> = self.store.get(&pk, "AUTOREPLY").await?;
        let sent = read
            .as_ref()
            .map(|r| {
                r.sent_at
                    .iter()
                    .filter_map(|at| Timestamp::from_second(*at).ok())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Read {
            value: sent,
            stamp: Stamp::new(read.map(|r| r.version)),
        })
    }

    async fn save_replies(
        &self,
        sender_hash: &str,
        read: &Stamp,
        sent: &[Timestamp],
    ) -> Result<bool, Error> {
        let version: &Option<u64> = read.get()?;
        let now = self.system_clock.now().as_second();
        let next = AutoRepliesItem {
            pk: format!("AUTOREPLY#{sender_hash}"),
            sk: "AUTOREPLY".into(),
            sent_at: sent.iter().map(|at| at.as_second()).collect(),
            version: version.unwrap_or(0) + 1,
            expires_at: now + 7200,
        };
        let op = match version {
            Some(read) => self.store.put_if_version_op(&next, *read)?,
            None => self.store.put_new_op(&next)?,
        };
        match self.store.transact(vec![op]).await {
            Ok(()) => Ok(true),
            Err(e) if e.condition_failed(0) => Ok(false),
            Err(e) => Err(e.into_error(|_| Error::internal("unreachable"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(spf: &str, dkim: &str, dmarc: &str, policy: Option<&str>) -> SenderChecks {
        SenderChecks {
            spf: spf.into(),
            dkim: dkim.into(),
            dmarc: dmarc.into(),
            dmarc_policy: policy.map(str::to_string),
        }
    }

    #[test]
    fn a_sender_is_authenticated_by_dmarc_or_without_a_policy_by_spf_or_dkim() {
        assert!(SenderChecks::passed().authenticated());
        assert!(checks("FAIL", "FAIL", "PASS", None).authenticated());
        assert!(checks("PASS", "FAIL", "GRAY", None).authenticated());
        assert!(checks("FAIL", "PASS", "GRAY", None).authenticated());
        assert!(checks("pass", "fail", "gray", None).authenticated());
        // no DMARC record, and neither SPF nor DKIM passing: anyone could have written it
        assert!(!checks("FAIL", "FAIL", "GRAY", None).authenticated());
        assert!(!checks("GRAY", "GRAY", "GRAY", None).authenticated());
        assert!(!checks("PROCESSING_FAILED", "FAIL", "PROCESSING_FAILED", None).authenticated());
        // a published policy asks for DMARC itself: SPF or DKIM alone is not enough
        assert!(!checks("PASS", "PASS", "GRAY", Some("NONE")).authenticated());
        assert!(!checks("PASS", "PASS", "FAIL", Some("REJECT")).authenticated());
        // a domain that disowns the message
        assert!(checks("PASS", "PASS", "FAIL", None).disowned());
        assert!(!checks("PASS", "PASS", "FAIL", None).authenticated());
        // SES's receipt without verdicts: nothing passed
        let receipt: SesReceipt = serde_json::from_value(serde_json::json!({})).unwrap();
        assert!(!sender_checks(&receipt).authenticated());
        let receipt: SesReceipt = serde_json::from_value(serde_json::json!({
            "spfVerdict": {"status": "PASS"}, "dkimVerdict": {"status": "FAIL"},
            "dmarcVerdict": {"status": "GRAY"}
        }))
        .unwrap();
        assert!(sender_checks(&receipt).authenticated());
    }
}
