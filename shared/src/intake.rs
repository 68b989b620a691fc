//! Email to ticket (support.md "Email to ticket"): SES stores each message for the support
//! and security addresses in S3 and invokes `ticket-intake`, which turns it into a ticket or a
//! reply to one. Locally the dev stack posts the raw message to `POST /inbound/email`.
//!
//! Nothing a sender writes can make the function fail in a loop: a message that does not parse
//! is logged (its size and reason, never its content) and dropped; spam and viruses are dropped
//! on SES's verdict; a message delivered twice (same Message-ID) is claimed once, in the same
//! transaction as the ticket it makes; automatic mail is never answered; and no sender gets
//! more than 10 automatic replies an hour.

use serde::{Deserialize, Serialize};

use crate::account::new_ordered_id;
use crate::app::App;
use crate::clock::Clock;
use crate::error::Error;
use crate::inbound::{self, InboundMail};
use crate::store::{EmailClaimItem, UserItem, account_pk, email_claim_pk};
use crate::ticket::{Channel, Kind, Status};
use crate::tickets::SECURITY_ACCOUNT;
use aws_sdk_dynamodb::types::TransactWriteItem;
use softbrik_app::support::{
    self, Attachment, AuthorKind, Desk, Opening, Requester, TicketRef, With, Written,
};

/// Automatic replies one sender address may get in an hour.
pub const MAX_AUTO_REPLIES_PER_HOUR: u32 = 10;
/// Longest attachment name kept, in characters.
const MAX_FILENAME_CHARS: usize = 255;
/// How long a Message-ID is remembered (SES retries within minutes; a week is ample).
const CLAIM_SECONDS: i64 = 30 * 24 * 3600;

/// What became of a message (the function's answer and log line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    /// Not parsed, too large, spam or virus: logged and dropped.
    Dropped {
        reason: String,
    },
    /// Seen before (same Message-ID): nothing done.
    Duplicate,
    /// The sender is no user: asked to write from their registered address (when not automatic).
    UnknownSender {
        replied: bool,
    },
    /// The sender's access to the account was cut (or the account is closed): nothing kept.
    SenderNotAllowed,
    /// Automatic mail that belongs to no ticket: not answered, not kept.
    IgnoredAutomatic,
    Opened {
        ticket_id: String,
        number: String,
    },
    Added {
        ticket_id: String,
        number: String,
    },
}

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

/// SES's verdicts on who sent a message. Mail is attributed to an account only when its sender
/// is authenticated (security.md): a DMARC pass, or an SPF or DKIM pass from a domain that
/// publishes no DMARC policy. A From address alone proves nothing: without this, anyone could
/// open, answer and reopen the tickets of a company whose domain has no DMARC record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderChecks {
    pub spf: String,
    pub dkim: String,
    pub dmarc: String,
    /// `None` when the domain publishes no DMARC policy.
    pub dmarc_policy: Option<String>,
}

impl SenderChecks {
    /// Verdicts that authenticate the sender by DMARC (what the local route assumes when no
    /// verdict is given).
    pub fn passed() -> Self {
        SenderChecks {
            spf: PASS.into(),
            dkim: PASS.into(),
            dmarc: PASS.into(),
            dmarc_policy: None,
        }
    }

    /// From SES's receipt; an absent verdict is no pass.
    pub fn of_receipt(receipt: &SesReceipt) -> Self {
        let status = |v: &Option<Verdict>| v.as_ref().map(|v| v.status.clone()).unwrap_or_default();
        SenderChecks {
            spf: status(&receipt.spf_verdict),
            dkim: status(&receipt.dkim_verdict),
            dmarc: status(&receipt.dmarc_verdict),
            dmarc_policy: receipt.dmarc_policy.clone(),
        }
    }

    /// Whether the sender is who the From address says.
    pub fn authenticated(&self) -> bool {
        let pass = |v: &str| v.eq_ignore_ascii_case(PASS);
        pass(&self.dmarc)
            || (self.dmarc_policy.is_none()
                && !self.disowned()
                && (pass(&self.spf) || pass(&self.dkim)))
    }

    /// Whether the From address's domain says the message is not theirs (DMARC FAIL).
    pub fn disowned(&self) -> bool {
        self.dmarc.eq_ignore_ascii_case("FAIL")
    }
}

const PASS: &str = "PASS";

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
        let checks = SenderChecks::of_receipt(receipt);
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

/// Receives one raw message, with its envelope recipients when SES gave them (the headers'
/// To and Cc count too) and SES's verdicts on its sender. Errors are only the retryable kind
/// (a dependency down); anything wrong with the message itself is an outcome.
pub async fn receive(
    app: &App,
    raw: &[u8],
    envelope: &[String],
    checks: &SenderChecks,
) -> Result<Outcome, Error> {
    // A From the sender's domain disowns (DMARC FAIL) could write into another customer's
    // ticket or make us answer a stranger: dropped.
    if checks.disowned() {
        tracing::warn!("inbound mail dropped: DMARC verdict FAIL");
        return Ok(Outcome::Dropped {
            reason: "dmarc_fail".into(),
        });
    }
    let mut mail = match inbound::parse(raw) {
        Ok(mail) => mail,
        Err(dropped) => {
            tracing::warn!(
                reason = dropped.reason(),
                bytes = raw.len(),
                "inbound mail dropped"
            );
            return Ok(Outcome::Dropped {
                reason: dropped.reason().into(),
            });
        }
    };
    mail.recipients.extend(envelope.iter().cloned());
    mail.text = crate::support_desk::cut_body(&mail.text).to_string();
    mask_card_numbers(&mut mail);
    for a in &mut mail.attachments {
        a.filename = a.filename.chars().take(MAX_FILENAME_CHARS).collect();
    }
    let claim = ClaimItem::new(
        app,
        format!(
            "INBOUND#{}",
            app.keyed_hash(&format!("message-id:{}", mail.message_id))
                .await?
        ),
    );
    if app
        .store
        .get::<ClaimItem>(&claim.pk, &claim.sk)
        .await?
        .is_some()
    {
        tracing::info!(automatic = ?mail.automatic, "inbound mail seen before");
        return Ok(Outcome::Duplicate);
    }
    let outcome = route(app, &mail, &claim, checks.authenticated()).await?;
    tracing::info!(outcome = ?outcome, automatic = ?mail.automatic.map(|a| a.as_str()), "inbound mail");
    Ok(outcome)
}

/// Card numbers in what a ticket keeps of a message (subject, text, attachment names, text
/// attachments) masked but their last four digits (security.md). Other attachments are kept
/// as sent: nothing reads inside them.
fn mask_card_numbers(mail: &mut InboundMail) {
    use crate::card_number::{mask_card_numbers, mask_card_numbers_in_bytes};
    mail.subject = mask_card_numbers(&mail.subject).into_owned();
    mail.text = mask_card_numbers(&mail.text).into_owned();
    for a in &mut mail.attachments {
        a.filename = mask_card_numbers(&a.filename).into_owned();
        if a.content_type.starts_with("text/")
            && let Some(masked) = mask_card_numbers_in_bytes(&a.bytes)
        {
            a.bytes = masked;
        }
    }
}

async fn route(
    app: &App,
    mail: &InboundMail,
    claim: &ClaimItem,
    authenticated: bool,
) -> Result<Outcome, Error> {
    let ports = app.ports();
    let security = app.config.security_inbox.to_lowercase();
    // The ticket a reply quotes: (its account, its id).
    let thread = match mail.ticket_number {
        Some(n) => ports.tickets.account_of(TicketRef::Number(n)).await?,
        None => None,
    };
    // A reply on a security report, from whoever reported it.
    if let Some((_, ticket_id)) = thread
        .as_ref()
        .filter(|(account, _)| authenticated && account == SECURITY_ACCOUNT)
    {
        let desk = ports.tickets.desk(SECURITY_ACCOUNT).await?;
        let ticket = ports.tickets.ticket(&desk, ticket_id).await?;
        if ticket.is_some_and(|t| t.value.requester.email.as_deref() == Some(mail.from.as_str()))
            && let Some(outcome) = add(app, &desk, ticket_id, (None, None), mail, claim).await?
        {
            return Ok(outcome);
        }
    }
    // Anyone may report a vulnerability, authenticated or not.
    if mail.recipients.iter().any(|r| r == &security) {
        return security_report(app, mail, claim).await;
    }
    // Unauthenticated mail is an unknown sender, and is not answered either: its From may be
    // forged, and the reply would go to whoever was impersonated.
    if !authenticated {
        tracing::warn!("inbound mail from an unauthenticated sender: not attributed");
        return Ok(Outcome::UnknownSender { replied: false });
    }
    let sender = app.email_hash(&mail.from).await?;
    let Some(user) = app
        .store
        .get::<EmailClaimItem>(&email_claim_pk(&sender), "EMAIL")
        .await?
    else {
        if mail.automatic.is_some() {
            return Ok(Outcome::IgnoredAutomatic);
        }
        // Claimed, so that the same message delivered again is not answered again.
        if !app.store.put_new(claim).await? {
            return Ok(Outcome::Duplicate);
        }
        let replied = may_reply(app, &sender).await?;
        if replied {
            let words = crate::ticket_emails::unknown_sender(&mail.subject);
            support::notify(&ports, mail.from.as_str(), words, "auto-replied").await;
        }
        return Ok(Outcome::UnknownSender { replied });
    };
    let (account, key) = app.account_item(&user.account_id).await?;
    let closed = account.status == crate::account::AccountStatus::Closed;
    let item: Option<UserItem> = app
        .store
        .get(
            &account_pk(&user.account_id),
            &crate::store::user_sk(&user.user_id),
        )
        .await?;
    let Some(item) = item.filter(|u| u.may_ask_support() && !closed) else {
        return Ok(Outcome::SenderNotAllowed);
    };
    let name = item.open(&user.account_id, &key)?.name;
    let desk = crate::tickets::Desk::of_item(app, account, key)
        .await?
        .port();
    // A reply quoting a ticket of the sender's own account joins it; the same number from
    // anyone else opens a new ticket.
    if let Some((_, ticket_id)) = thread
        .as_ref()
        .filter(|(account, _)| *account == user.account_id)
    {
        let author = (Some(user.user_id.clone()), Some(name.as_str()));
        if let Some(outcome) = add(app, &desk, ticket_id, author, mail, claim).await? {
            return Ok(outcome);
        }
    }
    if mail.automatic.is_some() {
        return Ok(Outcome::IgnoredAutomatic);
    }
    let requester = Requester {
        user_id: Some(user.user_id.clone()),
        name: Some(name.as_str().to_string()),
        email: Some(mail.from.as_str().to_string()),
    };
    open(app, &desk, Kind::Support, requester, mail, claim, &sender).await
}

/// Adds the message to the ticket it quotes; `None` when that ticket is closed (or past its
/// reopening window) and a person wrote: then it opens a new ticket.
async fn add(
    app: &App,
    desk: &Desk,
    ticket_id: &str,
    author: (Option<String>, Option<&str>),
    mail: &InboundMail,
    claim: &ClaimItem,
) -> Result<Option<Outcome>, Error> {
    let mut stored = None;
    let result = add_once(app, desk, ticket_id, author, mail, claim, &mut stored).await;
    if !matches!(result, Ok(Some(Outcome::Added { .. }))) {
        discard(app, stored.as_deref().unwrap_or_default()).await;
    }
    result
}

async fn add_once(
    app: &App,
    desk: &Desk,
    ticket_id: &str,
    (user_id, name): (Option<String>, Option<&str>),
    mail: &InboundMail,
    claim: &ClaimItem,
    stored: &mut Option<Vec<Attachment>>,
) -> Result<Option<Outcome>, Error> {
    let ports = app.ports();
    let automatic = mail.automatic.is_some();
    let message_id = new_ordered_id("msg", desk.now);
    for _ in 0..3 {
        let read = ports
            .tickets
            .ticket(desk, ticket_id)
            .await?
            .ok_or(Error::NotFound)?;
        let mut ticket = read.value.clone();
        if !automatic {
            match ticket.life.status {
                Status::Resolved | Status::Closed => {
                    if ticket.life.reopen(desk.now).is_err() {
                        return Ok(None);
                    }
                }
                _ => ticket.life.resume(desk.now),
            }
        } else if ticket.life.status == Status::Closed {
            // Automatic mail never reopens anything; a closed ticket keeps no more mail.
            return Ok(Some(Outcome::IgnoredAutomatic));
        }
        ticket.updated_at = desk.now;
        let attachments = match stored {
            Some(a) => a.clone(),
            None => {
                let a = store_attachments(app, desk, &ticket.id, &message_id, mail).await?;
                *stored = Some(a.clone());
                a
            }
        };
        let author = (
            AuthorKind::Customer,
            user_id.clone(),
            name.map(str::to_string),
        );
        let message = support::new_message(
            &ticket,
            &message_id,
            desk.now,
            author,
            true,
            automatic,
            &mail.text,
            attachments,
        );
        let with = With::Mail(&claim.pk);
        match ports
            .tickets
            .save(desk, &read.stamp, &ticket, Some(&message), with)
            .await?
        {
            Written::Done => {
                return Ok(Some(Outcome::Added {
                    ticket_id: ticket.id.clone(),
                    number: ticket.reference(),
                }));
            }
            Written::MailClaimed => return Ok(Some(Outcome::Duplicate)),
            Written::Changed => continue,
        }
    }
    Err(Error::unavailable(
        "the ticket kept changing; SES will retry",
    ))
}

/// Opens a ticket from the message and acknowledges it with the tracking number.
async fn open(
    app: &App,
    desk: &Desk,
    kind: Kind,
    requester: Requester,
    mail: &InboundMail,
    claim: &ClaimItem,
    sender_hash: &str,
) -> Result<Outcome, Error> {
    let ports = app.ports();
    let ticket_id = new_ordered_id("tkt", desk.now);
    let message_id = new_ordered_id("msg", desk.now);
    let attachments = store_attachments(app, desk, &ticket_id, &message_id, mail).await?;
    let number = match ports.tickets.next_number().await {
        Ok(n) => n,
        Err(e) => {
            discard(app, &attachments).await;
            return Err(e);
        }
    };
    let subject = if mail.subject.is_empty() {
        "(no subject)".to_string()
    } else {
        mail.subject
            .chars()
            .take(crate::support_desk::MAX_SUBJECT_CHARS)
            .collect()
    };
    let opening = Opening {
        id: ticket_id,
        kind,
        channel: Channel::Email,
        impact: None,
        requester,
        subject,
        description: mail.text.clone(),
        attachments: attachments.clone(),
        message_id,
    };
    let (ticket, message) = support::new_ticket(desk, number, opening);
    let with = With::Mail(&claim.pk);
    let written = ports.tickets.open(desk, &ticket, &message, with).await;
    if !matches!(written, Ok(Written::Done)) {
        discard(app, &attachments).await;
    }
    if written? != Written::Done {
        return Ok(Outcome::Duplicate);
    }
    if may_reply(app, sender_hash).await? {
        let words = crate::ticket_emails::ticket_opened(
            desk.language,
            &ticket.reference(),
            &ticket.subject,
        );
        support::notify(&ports, mail.from.as_str(), words, "auto-replied").await;
    }
    if kind == Kind::Security {
        let words = crate::ticket_emails::security_report_alert(&ticket.reference());
        support::notify(&ports, &ports.staff.team, words, "auto-generated").await;
    }
    Ok(Outcome::Opened {
        ticket_id: ticket.id.clone(),
        number: ticket.reference(),
    })
}

/// Mail to the security address: a security report, whoever sent it, sealed under the
/// platform key and seen only by the support team.
async fn security_report(
    app: &App,
    mail: &InboundMail,
    claim: &ClaimItem,
) -> Result<Outcome, Error> {
    if mail.automatic.is_some() {
        return Ok(Outcome::IgnoredAutomatic);
    }
    let desk = app.ports().tickets.desk(SECURITY_ACCOUNT).await?;
    let requester = Requester {
        user_id: None,
        name: None,
        email: Some(mail.from.as_str().to_string()),
    };
    let sender = app.email_hash(&mail.from).await?;
    open(app, &desk, Kind::Security, requester, mail, claim, &sender).await
}

/// Puts the message's attachments in S3 (encrypted by the bucket's KMS key) and returns them
/// (their names are sealed with the message).
async fn store_attachments(
    app: &App,
    desk: &Desk,
    ticket_id: &str,
    message_id: &str,
    mail: &InboundMail,
) -> Result<Vec<Attachment>, Error> {
    let mut stored = Vec::new();
    for (n, a) in mail.attachments.iter().enumerate() {
        let id = format!("att_{n}");
        let key = format!(
            "{}{ticket_id}/{message_id}/{id}",
            crate::tickets::attachments_prefix(&desk.account_id)
        );
        crate::attachments::put(app, &key, &a.content_type, a.bytes.clone()).await?;
        stored.push(Attachment {
            id,
            filename: a.filename.clone(),
            content_type: a.content_type.clone(),
            size: a.bytes.len() as u64,
            key,
        });
    }
    if mail.attachments_dropped > 0 {
        tracing::warn!(
            dropped = mail.attachments_dropped,
            "attachments beyond the limit not kept"
        );
    }
    Ok(stored)
}

/// Deletes attachments stored for a message that was not written after all (a duplicate, a
/// conflict, a failure); a failed deletion is logged, the object is only an orphan.
async fn discard(app: &App, attachments: &[Attachment]) {
    for a in attachments {
        if let Err(e) = crate::attachments::delete(app, &a.key).await {
            tracing::warn!(error = %e, "orphan attachment left in S3");
        }
    }
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

/// Takes one of the sender's automatic replies of the last hour, if any is left: the sender's
/// item keeps the instants of its replies of the last hour, and a reply is added on the
/// condition that no other was added since the item was read (a sliding hour: counted per
/// clock hour, 11 messages around 10:00 could get 20 replies within minutes).
async fn may_reply(app: &App, sender_hash: &str) -> Result<bool, Error> {
    let now = app.system_clock.now().as_second();
    let pk = format!("AUTOREPLY#{sender_hash}");
    for _ in 0..8 {
        let read: Option<AutoRepliesItem> = app.store.get(&pk, "AUTOREPLY").await?;
        let version = read.as_ref().map(|r| r.version);
        let mut sent_at: Vec<i64> = read
            .map(|r| r.sent_at)
            .unwrap_or_default()
            .into_iter()
            .filter(|at| *at > now - 3600)
            .collect();
        if sent_at.len() >= MAX_AUTO_REPLIES_PER_HOUR as usize {
            tracing::warn!("automatic replies to this sender paused: ten in the last hour");
            return Ok(false);
        }
        sent_at.push(now);
        let next = AutoRepliesItem {
            pk: pk.clone(),
            sk: "AUTOREPLY".into(),
            sent_at,
            version: version.unwrap_or(0) + 1,
            expires_at: now + 7200,
        };
        let op = match version {
            Some(read) => app.store.put_if_version_op(&next, read)?,
            None => app.store.put_new_op(&next)?,
        };
        match app.store.transact(vec![op]).await {
            Ok(()) => return Ok(true),
            // Another message of the sender took a reply meanwhile: read again.
            Err(e) if e.condition_failed(0) => {}
            Err(e) => return Err(e.into_error(|_| Error::internal("unreachable"))),
        }
    }
    Err(Error::unavailable("the auto-reply count kept changing"))
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
        assert!(!SenderChecks::of_receipt(&receipt).authenticated());
        let receipt: SesReceipt = serde_json::from_value(serde_json::json!({
            "spfVerdict": {"status": "PASS"}, "dkimVerdict": {"status": "FAIL"},
            "dmarcVerdict": {"status": "GRAY"}
        }))
        .unwrap();
        assert!(SenderChecks::of_receipt(&receipt).authenticated());
    }
}
