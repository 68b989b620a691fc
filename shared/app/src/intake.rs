//! Email to ticket (support.md "Email to ticket"): a message to the support or security
//! address becomes a ticket or a reply to one.
//!
//! Nothing a sender writes can make the intake fail in a loop: a message that does not parse
//! is logged (its size and reason, never its content) and dropped; a message delivered twice
//! (same Message-ID) is claimed once, in the same write as what it makes; automatic mail is
//! never answered; no sender gets more than [`MAX_AUTO_REPLIES_PER_HOUR`] automatic replies
//! an hour; and mail is attributed to an account only when SES authenticated its sender.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use softbrik_domain::card_number::{mask_card_numbers, mask_card_numbers_in_bytes};
use softbrik_domain::inbound::{self, InboundMail};
use softbrik_domain::ticket::{Channel, Kind, Status};

use crate::error::Error;
use crate::ids::new_ordered_id;
use crate::ports::Ports;
use crate::ports::tickets::{Attachment, AuthorKind, Desk, Requester, SECURITY_ACCOUNT};
use crate::ports::tickets::{TicketRef, With, Written};
use crate::support::{self, MAX_SUBJECT_CHARS, Opening, cut_body};
use crate::ticket_emails as words;

/// Automatic replies one sender address may get in an hour.
pub const MAX_AUTO_REPLIES_PER_HOUR: usize = 10;
/// Longest attachment name kept, in characters.
pub const MAX_FILENAME_CHARS: usize = 255;

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

const PASS: &str = "PASS";

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

/// Receives one raw message, with its envelope recipients when SES gave them (the headers'
/// To and Cc count too) and SES's verdicts on its sender. Errors are only the retryable kind
/// (a dependency down); anything wrong with the message itself is an outcome.
pub async fn receive(
    ports: &Ports<'_>,
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
    mail.text = cut_body(&mail.text).to_string();
    mask_card_numbers_of(&mut mail);
    for a in &mut mail.attachments {
        a.filename = a.filename.chars().take(MAX_FILENAME_CHARS).collect();
    }
    let claim = ports.inbox.claim_key(&mail.message_id).await?;
    if ports.inbox.claimed(&claim).await? {
        tracing::info!(automatic = ?mail.automatic, "inbound mail seen before");
        return Ok(Outcome::Duplicate);
    }
    let outcome = route(ports, &mail, &claim, checks.authenticated()).await?;
    tracing::info!(outcome = ?outcome, automatic = ?mail.automatic.map(|a| a.as_str()), "inbound mail");
    Ok(outcome)
}

/// Card numbers in what a ticket keeps of a message (subject, text, attachment names, text
/// attachments) masked but their last four digits (security.md). Other attachments are kept
/// as sent: nothing reads inside them.
fn mask_card_numbers_of(mail: &mut InboundMail) {
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
    ports: &Ports<'_>,
    mail: &InboundMail,
    claim: &str,
    authenticated: bool,
) -> Result<Outcome, Error> {
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
            && let Some(outcome) = add(ports, &desk, ticket_id, (None, None), mail, claim).await?
        {
            return Ok(outcome);
        }
    }
    // Anyone may report a vulnerability, authenticated or not.
    let security = ports.staff.security_inbox.to_lowercase();
    if mail.recipients.iter().any(|r| r == &security) {
        return security_report(ports, mail, claim).await;
    }
    // Unauthenticated mail is an unknown sender, and is not answered either: its From may be
    // forged, and the reply would go to whoever was impersonated.
    if !authenticated {
        tracing::warn!("inbound mail from an unauthenticated sender: not attributed");
        return Ok(Outcome::UnknownSender { replied: false });
    }
    let sender_hash = ports.inbox.sender_hash(&mail.from).await?;
    let Some(sender) = ports.inbox.sender(&sender_hash).await? else {
        if mail.automatic.is_some() {
            return Ok(Outcome::IgnoredAutomatic);
        }
        // Claimed, so that the same message delivered again is not answered again.
        if !ports.inbox.claim(claim).await? {
            return Ok(Outcome::Duplicate);
        }
        let replied = may_reply(ports, &sender_hash).await?;
        if replied {
            let words = words::unknown_sender(&mail.subject);
            support::notify(ports, mail.from.as_str(), words, "auto-replied").await;
        }
        return Ok(Outcome::UnknownSender { replied });
    };
    let desk = ports.tickets.desk(&sender.account_id).await?;
    let user = ports.tickets.user(&desk, &sender.user_id).await?;
    let Some(user) = user.filter(|u| u.status.has_access() && !desk.closed) else {
        return Ok(Outcome::SenderNotAllowed);
    };
    // A reply quoting a ticket of the sender's own account joins it; the same number from
    // anyone else opens a new ticket.
    if let Some((_, ticket_id)) = thread
        .as_ref()
        .filter(|(account, _)| *account == sender.account_id)
    {
        let author = (Some(user.id.clone()), Some(user.name.as_str()));
        if let Some(outcome) = add(ports, &desk, ticket_id, author, mail, claim).await? {
            return Ok(outcome);
        }
    }
    if mail.automatic.is_some() {
        return Ok(Outcome::IgnoredAutomatic);
    }
    let requester = Requester {
        user_id: Some(user.id.clone()),
        name: Some(user.name.as_str().to_string()),
        email: Some(mail.from.as_str().to_string()),
    };
    let opened = (Kind::Support, requester);
    open(ports, &desk, opened, mail, claim, &sender_hash).await
}

/// Adds the message to the ticket it quotes; `None` when that ticket is closed (or past its
/// reopening window) and a person wrote: then it opens a new ticket.
async fn add(
    ports: &Ports<'_>,
    desk: &Desk,
    ticket_id: &str,
    author: (Option<String>, Option<&str>),
    mail: &InboundMail,
    claim: &str,
) -> Result<Option<Outcome>, Error> {
    let mut stored = None;
    let result = add_once(ports, desk, ticket_id, author, mail, claim, &mut stored).await;
    if !matches!(result, Ok(Some(Outcome::Added { .. }))) {
        discard(ports, stored.as_deref().unwrap_or_default()).await;
    }
    result
}

async fn add_once(
    ports: &Ports<'_>,
    desk: &Desk,
    ticket_id: &str,
    (user_id, name): (Option<String>, Option<&str>),
    mail: &InboundMail,
    claim: &str,
    stored: &mut Option<Vec<Attachment>>,
) -> Result<Option<Outcome>, Error> {
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
                let a = store_attachments(ports, desk, &ticket.id, &message_id, mail).await?;
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
        let saved = ports.tickets.save(
            desk,
            &read.stamp,
            &ticket,
            Some(&message),
            With::Mail(claim),
        );
        match saved.await? {
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
    ports: &Ports<'_>,
    desk: &Desk,
    (kind, requester): (Kind, Requester),
    mail: &InboundMail,
    claim: &str,
    sender_hash: &str,
) -> Result<Outcome, Error> {
    let ticket_id = new_ordered_id("tkt", desk.now);
    let message_id = new_ordered_id("msg", desk.now);
    let attachments = store_attachments(ports, desk, &ticket_id, &message_id, mail).await?;
    let number = match ports.tickets.next_number().await {
        Ok(n) => n,
        Err(e) => {
            discard(ports, &attachments).await;
            return Err(e);
        }
    };
    let subject = if mail.subject.is_empty() {
        "(no subject)".to_string()
    } else {
        mail.subject.chars().take(MAX_SUBJECT_CHARS).collect()
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
    let written = ports
        .tickets
        .open(desk, &ticket, &message, With::Mail(claim))
        .await;
    if !matches!(written, Ok(Written::Done)) {
        discard(ports, &attachments).await;
    }
    if written? != Written::Done {
        return Ok(Outcome::Duplicate);
    }
    if may_reply(ports, sender_hash).await? {
        let words = words::ticket_opened(desk.language, &ticket.reference(), &ticket.subject);
        support::notify(ports, mail.from.as_str(), words, "auto-replied").await;
    }
    if kind == Kind::Security {
        let words = words::security_report_alert(&ticket.reference());
        support::notify(ports, &ports.staff.team, words, "auto-generated").await;
    }
    Ok(Outcome::Opened {
        ticket_id: ticket.id.clone(),
        number: ticket.reference(),
    })
}

/// Mail to the security address: a security report, whoever sent it, sealed under the
/// platform key and seen only by the support team.
async fn security_report(
    ports: &Ports<'_>,
    mail: &InboundMail,
    claim: &str,
) -> Result<Outcome, Error> {
    if mail.automatic.is_some() {
        return Ok(Outcome::IgnoredAutomatic);
    }
    let desk = ports.tickets.desk(SECURITY_ACCOUNT).await?;
    let requester = Requester {
        user_id: None,
        name: None,
        email: Some(mail.from.as_str().to_string()),
    };
    let sender_hash = ports.inbox.sender_hash(&mail.from).await?;
    let opened = (Kind::Security, requester);
    open(ports, &desk, opened, mail, claim, &sender_hash).await
}

/// The blob key prefix of an account's ticket attachments (a closure deletes it).
pub fn attachments_prefix(account_id: &str) -> String {
    format!("attachments/{account_id}/")
}

/// Keeps the message's attachments as blobs and returns them.
async fn store_attachments(
    ports: &Ports<'_>,
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
            attachments_prefix(&desk.account_id)
        );
        ports.blobs.put(&key, &a.content_type, &a.bytes).await?;
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

/// Deletes attachments kept for a message that was not written after all (a duplicate, a
/// conflict, a failure); a failed deletion is logged, the blob is only an orphan.
async fn discard(ports: &Ports<'_>, attachments: &[Attachment]) {
    for a in attachments {
        if let Err(e) = ports.blobs.delete(&a.key).await {
            tracing::warn!(error = %e, "orphan attachment left behind");
        }
    }
}

/// Takes one of the sender's automatic replies of the last hour, if any is left: the replies
/// of the last hour are counted (a sliding hour: counted per clock hour, 11 messages around
/// 10:00 could get 20 replies within minutes), and one is added only if no other was added
/// since they were read.
async fn may_reply(ports: &Ports<'_>, sender_hash: &str) -> Result<bool, Error> {
    let now = ports.clock.now();
    let hour_ago = now - SignedDuration::from_hours(1);
    for _ in 0..8 {
        let read = ports.inbox.replies(sender_hash).await?;
        let mut sent: Vec<Timestamp> = read
            .value
            .iter()
            .copied()
            .filter(|at| *at > hour_ago)
            .collect();
        if sent.len() >= MAX_AUTO_REPLIES_PER_HOUR {
            tracing::warn!("automatic replies to this sender paused: ten in the last hour");
            return Ok(false);
        }
        sent.push(now);
        if ports
            .inbox
            .save_replies(sender_hash, &read.stamp, &sent)
            .await?
        {
            return Ok(true);
        }
        // Another message of the sender took a reply meanwhile: read again.
    }
    Err(Error::unavailable("the auto-reply count kept changing"))
}
