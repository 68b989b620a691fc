//! The support desk (support.md, api.md "Support tickets"): who may see and do what, each step
//! of the incident flow (open, qualify, message, wait for the customer, workaround, resolve,
//! confirm or reopen, root-cause analysis), the monthly incident report, and what the SLA run
//! does to one ticket (breaches, P1 update alerts, the automatic close, pseudonymisation).
//!
//! Customers see their account's tickets (members only their own); platform staff see every
//! ticket. Another account's ticket is a 404, exactly like a missing one. Every change loads
//! the ticket, decides with `softbrik_domain::ticket::TicketLife`, and saves it in one write
//! with its message and its answer, only if nobody changed it meanwhile (read again and tried
//! again then); the requester's email goes out after it.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use softbrik_domain::account::SupportPlan;
use softbrik_domain::refusal::Refusal;
use softbrik_domain::sla::{Priority, TargetName};
use softbrik_domain::ticket::{
    Channel, Impact, Kind, P1_UPDATE_EVERY, SlaEvent, Status, TicketLife,
};
use softbrik_domain::validation::ValidationErrors;
use softbrik_domain::values::Language;

use crate::error::Error;
use crate::idempotency::{self, Lease, account_scope};
use crate::ids::new_ordered_id;
use crate::ports::Ports;
use crate::ports::mailer::Mail;
use crate::ports::team::{Answering, Read};
pub use crate::ports::tickets::{
    Attachment, AuthorKind, Desk, ListFilter, Listing, Message, Requester, SECURITY_ACCOUNT,
    Ticket, TicketRef, With, Written,
};
use crate::ticket_emails as words;

/// Longest subject kept, in characters (security.md "Input").
pub const MAX_SUBJECT_CHARS: usize = 300;
/// Longest description or message, in bytes of UTF-8 (security.md: 100 KiB).
pub const MAX_BODY_BYTES: usize = 100 * 1024;

/// Who is asking, as the ticket routes see it.
#[derive(Debug, Clone)]
pub enum Viewer {
    /// Platform staff: every ticket.
    Staff { sub: String },
    /// An account's admin: the account's tickets.
    Admin { account_id: String, user_id: String },
    /// A member: the tickets they opened.
    Member { account_id: String, user_id: String },
}

impl Viewer {
    pub fn is_staff(&self) -> bool {
        matches!(self, Viewer::Staff { .. })
    }

    /// Where this caller's idempotency keys live.
    pub fn scope(&self) -> String {
        match self {
            Viewer::Staff { sub } => format!("STAFF#{sub}"),
            Viewer::Admin { account_id, .. } | Viewer::Member { account_id, .. } => {
                account_scope(account_id)
            }
        }
    }

    fn account_id(&self) -> Option<&str> {
        match self {
            Viewer::Staff { .. } => None,
            Viewer::Admin { account_id, .. } | Viewer::Member { account_id, .. } => {
                Some(account_id)
            }
        }
    }

    fn user_id(&self) -> Option<&str> {
        match self {
            Viewer::Staff { .. } => None,
            Viewer::Admin { user_id, .. } | Viewer::Member { user_id, .. } => Some(user_id),
        }
    }

    /// Whether the caller may see `ticket` (else it does not exist for them).
    pub fn sees(&self, ticket: &Ticket) -> bool {
        match self {
            Viewer::Staff { .. } => true,
            Viewer::Admin { account_id, .. } => &ticket.account_id == account_id,
            Viewer::Member {
                account_id,
                user_id,
            } => {
                &ticket.account_id == account_id
                    && ticket.requester.user_id.as_deref() == Some(user_id)
            }
        }
    }
}

// --- Bodies ------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTicketBody {
    pub subject: String,
    pub description: String,
    pub channel: String,
    #[serde(default)]
    pub impact: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    pub body: String,
    #[serde(default = "yes")]
    pub public: bool,
    /// Staff only: the team now waits for the customer (the resolution clock stops).
    #[serde(default)]
    pub pending_customer: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeBody {
    pub priority: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextBody {
    pub body: String,
}

fn subject_text(errors: &mut ValidationErrors, value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        errors.push("subject", "required", "must not be empty");
    } else if value.chars().count() > MAX_SUBJECT_CHARS {
        errors.push(
            "subject",
            "too_long",
            format!("at most {MAX_SUBJECT_CHARS} characters"),
        );
    }
    value.to_string()
}

fn text(errors: &mut ValidationErrors, field: &str, value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        errors.push(field, "required", "must not be empty");
    } else if value.len() > MAX_BODY_BYTES {
        errors.push(field, "too_long", "at most 100 KiB");
    }
    value.to_string()
}

/// Cuts a text to at most [`MAX_BODY_BYTES`] on a character boundary (mail is not refused
/// for being long: it is kept up to the limit).
pub fn cut_body(text: &str) -> &str {
    if text.len() <= MAX_BODY_BYTES {
        return text;
    }
    let mut end = MAX_BODY_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn parse_priority(raw: &str) -> Option<Priority> {
    match raw {
        "P1" => Some(Priority::P1),
        "P2" => Some(Priority::P2),
        "P3" => Some(Priority::P3),
        _ => None,
    }
}

// --- Views -------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct TicketView {
    pub id: String,
    pub number: String,
    pub kind: Kind,
    pub subject: String,
    pub status: Status,
    pub priority: Priority,
    pub channel: Channel,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact: Option<Impact>,
    pub requester: Requester,
    pub account_id: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rca: Option<RcaView>,
    pub sla: SlaView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<MessageView>>,
}

#[derive(Debug, Serialize)]
pub struct RcaView {
    pub body: String,
    pub at: Timestamp,
}

#[derive(Debug, Serialize)]
pub struct SlaView {
    pub plan: SupportPlan,
    pub targets: Vec<TargetView>,
    pub events: Vec<SlaEvent>,
}

#[derive(Debug, Serialize)]
pub struct TargetView {
    pub name: TargetName,
    pub due_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met_at: Option<Timestamp>,
    pub breached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breached_at: Option<Timestamp>,
    pub paused: bool,
}

#[derive(Debug, Serialize)]
pub struct MessageView {
    pub id: String,
    pub at: Timestamp,
    pub author: AuthorView,
    pub public: bool,
    pub body: String,
    pub automatic: bool,
    pub attachments: Vec<AttachmentView>,
}

#[derive(Debug, Serialize)]
pub struct AuthorView {
    pub kind: AuthorKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AttachmentView {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub url: String,
    pub url_expires_at: Timestamp,
}

/// The API's `Ticket`, as of the desk's "now"; with its messages when asked (internal notes
/// only for staff).
pub async fn view(
    ports: &Ports<'_>,
    desk: &Desk,
    ticket: &Ticket,
    messages: Option<(&[Message], bool)>,
) -> Result<TicketView, Error> {
    let now = desk.now;
    let targets = ticket
        .life
        .targets
        .iter()
        .map(|t| TargetView {
            name: t.name,
            due_at: t.due_at(&desk.hours, now),
            met_at: t.met_at,
            breached: t.breached_at.is_some(),
            breached_at: t.breached_at,
            paused: t.is_paused(),
        })
        .collect();
    let rca = match (&ticket.rca, ticket.life.rca_at) {
        (Some(body), Some(at)) => Some(RcaView {
            body: body.clone(),
            at,
        }),
        _ => None,
    };
    let messages = match messages {
        None => None,
        Some((items, staff)) => {
            let mut views = Vec::new();
            for m in items.iter().filter(|m| m.public || staff) {
                let mut attachments = Vec::new();
                for a in &m.attachments {
                    let (url, url_expires_at) = ports.blobs.link(&a.key, &a.filename).await?;
                    attachments.push(AttachmentView {
                        id: a.id.clone(),
                        filename: a.filename.clone(),
                        content_type: a.content_type.clone(),
                        size: a.size,
                        url,
                        url_expires_at,
                    });
                }
                views.push(MessageView {
                    id: m.id.clone(),
                    at: m.at,
                    author: AuthorView {
                        kind: m.author,
                        user_id: m.author_user_id.clone(),
                        name: m.author_name.clone(),
                    },
                    public: m.public,
                    body: m.body.clone(),
                    automatic: m.automatic,
                    attachments,
                });
            }
            Some(views)
        }
    };
    Ok(TicketView {
        id: ticket.id.clone(),
        number: ticket.reference(),
        kind: ticket.life.kind,
        subject: ticket.subject.clone(),
        status: ticket.life.status,
        priority: ticket.life.priority,
        channel: ticket.channel,
        impact: ticket.impact,
        requester: ticket.requester.clone(),
        account_id: ticket.account_id.clone(),
        created_at: ticket.life.created_at,
        updated_at: ticket.updated_at,
        resolved_at: ticket.life.resolved_at,
        closed_at: ticket.life.closed_at,
        rca,
        sla: SlaView {
            plan: ticket.life.plan,
            targets,
            events: ticket.life.events.clone(),
        },
        messages,
    })
}

fn json(view: TicketView) -> Result<serde_json::Value, Error> {
    serde_json::to_value(view).map_err(Error::internal)
}

// --- Opening -----------------------------------------------------------------------------

/// What opens a ticket.
pub struct Opening {
    pub id: String,
    pub kind: Kind,
    pub channel: Channel,
    pub impact: Option<Impact>,
    pub requester: Requester,
    pub subject: String,
    pub description: String,
    pub attachments: Vec<Attachment>,
    pub message_id: String,
}

/// A new ticket numbered `number` on the desk's account, as of the desk's "now", and its
/// first message (the requester's description).
pub fn new_ticket(desk: &Desk, number: u64, opening: Opening) -> (Ticket, Message) {
    let at = desk.now;
    let ticket = Ticket {
        id: opening.id,
        account_id: desk.account_id.clone(),
        number,
        channel: opening.channel,
        impact: opening.impact,
        requester: opening.requester,
        subject: opening.subject,
        rca: None,
        test_clock_id: desk.test_clock_id.clone(),
        updated_at: at,
        life: TicketLife::open(opening.kind, opening.impact, desk.plan, at),
    };
    let message = Message {
        id: opening.message_id,
        ticket_id: ticket.id.clone(),
        at,
        author: AuthorKind::Customer,
        author_user_id: ticket.requester.user_id.clone(),
        author_name: ticket.requester.name.clone(),
        public: true,
        automatic: false,
        body: opening.description,
        attachments: opening.attachments,
    };
    (ticket, message)
}

/// `POST /tickets`: an admin or member opens a ticket; the tracking number is emailed at once.
pub async fn open(
    ports: &Ports<'_>,
    viewer: &Viewer,
    body: NewTicketBody,
    raw: &serde_json::Value,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let (Some(account_id), Some(user_id)) = (viewer.account_id(), viewer.user_id()) else {
        // Staff record phone calls on a customer's behalf through the customer's admin.
        return Err(Error::Forbidden);
    };
    let mut errors = ValidationErrors::new();
    let subject = subject_text(&mut errors, &body.subject);
    let description = text(&mut errors, "description", &body.description);
    let channel = match body.channel.as_str() {
        "web" => Some(Channel::Web),
        "chat" => Some(Channel::Chat),
        "phone" => Some(Channel::Phone),
        _ => {
            errors.push("channel", "invalid_choice", "one of web, chat, phone");
            None
        }
    };
    let impact = match body.impact.as_deref() {
        None => None,
        Some("critical") => Some(Impact::Critical),
        Some("high") => Some(Impact::High),
        Some("normal") => Some(Impact::Normal),
        Some(_) => {
            errors.push("impact", "invalid_choice", "one of critical, high, normal");
            None
        }
    };
    errors.into_result()?;
    let channel = channel.ok_or_else(|| Error::internal("channel checked"))?;
    let desk = ports.tickets.desk(account_id).await?;
    // The phone channel comes with the plans (support.md "Plans"): Pro for P2/P3, Enterprise
    // for every priority.
    if channel == Channel::Phone {
        let allowed = match desk.plan {
            SupportPlan::Basic => false,
            SupportPlan::Pro => impact != Some(Impact::Critical),
            SupportPlan::Enterprise => true,
        };
        if !allowed {
            return Err(Error::Refused(Refusal::PlanRequired(
                "phone support comes with the Pro plan (P2 and P3) and the Enterprise plan (every priority)",
            )));
        }
    }
    let user = ports
        .tickets
        .user(&desk, user_id)
        .await?
        .ok_or(Error::NotFound)?;
    if !user.status.has_access() {
        return Err(Error::Forbidden);
    }
    // The caller is part of the fingerprint: a colleague's key never replays their ticket.
    let fingerprint = serde_json::json!({"route": "POST /tickets", "user": user_id, "body": raw});
    let now = desk.now;
    let reserve = || {
        BTreeMap::from([
            ("ticket".to_string(), new_ordered_id("tkt", now)),
            ("message".to_string(), new_ordered_id("msg", now)),
        ])
    };
    let work = async |lease: &Lease| {
        let number = ports.tickets.next_number().await?;
        let opening = Opening {
            id: lease.id("ticket"),
            kind: Kind::Support,
            channel,
            impact,
            requester: Requester::user(&user),
            subject,
            description,
            attachments: Vec::new(),
            message_id: lease.id("message"),
        };
        let (ticket, message) = new_ticket(&desk, number, opening);
        let answer = json(view(ports, &desk, &ticket, None).await?)?;
        let body = |_: Option<&_>| Ok(answer.clone());
        let answering = lease.held().map(|held| Answering {
            lease: held,
            status: 201,
            body: &body,
        });
        ports
            .tickets
            .open(&desk, &ticket, &message, With::Answer(answering))
            .await?;
        tracing::info!(ticket_id = %ticket.id, priority = ?ticket.life.priority, "ticket opened");
        tell_requester(ports, &desk, &ticket, words::ticket_opened).await;
        Ok((201, answer))
    };
    let scope = viewer.scope();
    idempotency::once_in(ports, &scope, key, fingerprint, reserve, work).await
}

/// A mail from the support desk, sent and logged on failure (the change it tells of is
/// already recorded; a lost notification must not undo it).
pub async fn notify(
    ports: &Ports<'_>,
    to: &str,
    (subject, text): (String, String),
    auto: &'static str,
) {
    let mail = Mail {
        to: to.to_string(),
        subject,
        text,
        auto_submitted: auto,
        attachments: Vec::new(),
    };
    // The partner's detail may name the recipient: only the error's kind is logged.
    if let Err(e) = ports.support_mailer.send(&mail).await {
        tracing::error!(error = %e, code = e.code(), "ticket mail not sent");
    }
}

/// Tells the requester of a change, in the account's language (if they have an address).
pub async fn tell_requester(
    ports: &Ports<'_>,
    desk: &Desk,
    ticket: &Ticket,
    words: impl FnOnce(Language, &str, &str) -> (String, String),
) {
    let Some(email) = &ticket.requester.email else {
        return;
    };
    let mail = words(desk.language, &ticket.reference(), &ticket.subject);
    notify(ports, email, mail, "auto-generated").await;
}

// --- Reading -----------------------------------------------------------------------------

/// Finds a ticket the caller may see, with its desk; anything else is a 404.
pub async fn locate(
    ports: &Ports<'_>,
    viewer: &Viewer,
    ticket_id: &str,
) -> Result<(Read<Ticket>, Desk), Error> {
    // Ticket ids are `tkt_` and 26 characters; anything else names no ticket.
    if !ticket_id.starts_with("tkt_") || ticket_id.len() > 40 {
        return Err(Error::NotFound);
    }
    let account_id = match viewer.account_id() {
        Some(account) => account.to_string(),
        None => {
            ports
                .tickets
                .account_of(TicketRef::Id(ticket_id))
                .await?
                .ok_or(Error::NotFound)?
                .0
        }
    };
    let desk = ports.tickets.desk(&account_id).await?;
    let ticket = ports
        .tickets
        .ticket(&desk, ticket_id)
        .await?
        .filter(|read| viewer.sees(&read.value))
        .ok_or(Error::NotFound)?;
    Ok((ticket, desk))
}

/// `GET /tickets/{id}`: the ticket with its messages.
pub async fn get(
    ports: &Ports<'_>,
    viewer: &Viewer,
    ticket_id: &str,
) -> Result<serde_json::Value, Error> {
    let (ticket, desk) = locate(ports, viewer, ticket_id).await?;
    let messages = ports.tickets.messages(&desk, &ticket.value).await?;
    json(
        view(
            ports,
            &desk,
            &ticket.value,
            Some((&messages, viewer.is_staff())),
        )
        .await?,
    )
}

/// Filters and page of `GET /tickets`.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub status: Option<String>,
    pub priority: Option<String>,
    pub limit: Option<String>,
    pub next: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TicketList {
    /// (api.md's one list shape)
    pub items: Vec<TicketView>,
    pub next: Option<String>,
}

/// `GET /tickets`: newest first; the account's (admin), one's own (member), every one (staff).
pub async fn list(
    ports: &Ports<'_>,
    viewer: &Viewer,
    query: ListQuery,
) -> Result<TicketList, Error> {
    let mut errors = ValidationErrors::new();
    let status = match query.status.as_deref() {
        None => None,
        Some(raw) => match serde_json::from_value::<Status>(serde_json::json!(raw)) {
            Ok(s) => Some(s),
            Err(_) => {
                errors.push("status", "invalid_choice", "a ticket status");
                None
            }
        },
    };
    let priority = match query.priority.as_deref() {
        None => None,
        Some(raw) => {
            let parsed = parse_priority(raw);
            if parsed.is_none() {
                errors.push("priority", "invalid_choice", "one of P1, P2, P3");
            }
            parsed
        }
    };
    let limit = match query.limit.as_deref().map(str::parse::<u32>) {
        None => 50,
        Some(Ok(n)) if (1..=200).contains(&n) => n,
        Some(_) => {
            errors.push("limit", "out_of_range", "1 to 200");
            50
        }
    };
    errors.into_result()?;
    let listing = match viewer {
        Viewer::Staff { .. } => Listing::Queue,
        Viewer::Admin { account_id, .. } => Listing::Account {
            account_id: account_id.clone(),
            requester: None,
        },
        Viewer::Member {
            account_id,
            user_id,
        } => Listing::Account {
            account_id: account_id.clone(),
            requester: Some(user_id.clone()),
        },
    };
    let filter = ListFilter { status, priority };
    let page = ports
        .tickets
        .list(&listing, filter, limit, query.next.as_deref())
        .await?;
    let mut items = Vec::with_capacity(page.tickets.len());
    for (desk, ticket) in &page.tickets {
        items.push(view(ports, desk, ticket, None).await?);
    }
    Ok(TicketList {
        items,
        next: page.next,
    })
}

// --- Changes -----------------------------------------------------------------------------

/// What a step tells the requester once written.
pub enum Notice {
    None,
    Updated(String),
    Workaround(String),
    Resolved(String),
    Closed,
}

/// What a step adds besides the ticket's own change.
pub struct Effects {
    pub message: Option<Message>,
    pub notice: Notice,
}

/// Runs one step on a ticket the caller may see: idempotent under the caller's key, the ticket
/// written only if nobody changed it meanwhile (read again and retried then).
async fn step<F>(
    ports: &Ports<'_>,
    viewer: &Viewer,
    ticket_id: &str,
    key: Option<&str>,
    fingerprint: serde_json::Value,
    apply: F,
) -> Result<(u16, serde_json::Value), Error>
where
    F: Fn(&mut Ticket, &Desk, &str) -> Result<Effects, Error>,
{
    let (located, desk) = locate(ports, viewer, ticket_id).await?;
    let now = desk.now;
    let reserve = || BTreeMap::from([("message".to_string(), new_ordered_id("msg", now))]);
    let mut located = Some(located);
    let work = async |lease: &Lease| {
        for _ in 0..3 {
            // The ticket `locate` read serves the first attempt; a retry reads it again.
            let read = match located.take() {
                Some(read) => read,
                None => ports
                    .tickets
                    .ticket(&desk, ticket_id)
                    .await?
                    .ok_or(Error::NotFound)?,
            };
            let mut ticket = read.value.clone();
            let effects = apply(&mut ticket, &desk, &lease.id("message"))?;
            ticket.updated_at = now;
            // The answer shows the ticket as written, its new message included.
            let mut messages = ports.tickets.messages(&desk, &ticket).await?;
            messages.extend(effects.message.iter().cloned());
            let staff = viewer.is_staff();
            let answer = json(view(ports, &desk, &ticket, Some((&messages, staff))).await?)?;
            let body = |_: Option<&_>| Ok(answer.clone());
            let answering = lease.held().map(|held| Answering {
                lease: held,
                status: 200,
                body: &body,
            });
            let saved = ports.tickets.save(
                &desk,
                &read.stamp,
                &ticket,
                effects.message.as_ref(),
                With::Answer(answering),
            );
            if saved.await? == Written::Done {
                tell(ports, &desk, &ticket, effects.notice).await;
                return Ok((200, answer));
            }
        }
        Err(Error::Refused(Refusal::TicketChanged(
            "the ticket is being changed by someone else; retry",
        )))
    };
    let scope = viewer.scope();
    idempotency::once_in(ports, &scope, key, fingerprint, reserve, work).await
}

async fn tell(ports: &Ports<'_>, desk: &Desk, ticket: &Ticket, notice: Notice) {
    match notice {
        Notice::None => {}
        Notice::Updated(body) => {
            let mail = |l, r: &str, s: &str| words::ticket_updated(l, r, s, &body);
            tell_requester(ports, desk, ticket, mail).await;
        }
        Notice::Workaround(body) => {
            let mail = |l, r: &str, s: &str| words::ticket_workaround(l, r, s, &body);
            tell_requester(ports, desk, ticket, mail).await;
        }
        Notice::Resolved(body) => {
            let mail = |l, r: &str, s: &str| words::ticket_resolved(l, r, s, &body);
            tell_requester(ports, desk, ticket, mail).await;
        }
        Notice::Closed => tell_requester(ports, desk, ticket, words::ticket_closed).await,
    }
}

fn staff_only(viewer: &Viewer) -> Result<(), Error> {
    if viewer.is_staff() {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}

fn customer_only(viewer: &Viewer) -> Result<(), Error> {
    if viewer.is_staff() {
        Err(Error::Forbidden)
    } else {
        Ok(())
    }
}

/// A message of `ticket` at `at`, in clear.
#[allow(clippy::too_many_arguments)]
pub fn new_message(
    ticket: &Ticket,
    id: &str,
    at: Timestamp,
    (author, author_user_id, author_name): (AuthorKind, Option<String>, Option<String>),
    public: bool,
    automatic: bool,
    body: &str,
    attachments: Vec<Attachment>,
) -> Message {
    Message {
        id: id.to_string(),
        ticket_id: ticket.id.clone(),
        at,
        author,
        author_user_id,
        author_name,
        public,
        automatic,
        body: body.to_string(),
        attachments,
    }
}

/// A message of the support team (author name "Softbrik support") or of the customer.
fn message(
    desk: &Desk,
    ticket: &Ticket,
    viewer: &Viewer,
    id: &str,
    body: &str,
    public: bool,
) -> Message {
    let author = match viewer {
        Viewer::Staff { .. } => (
            AuthorKind::Support,
            None,
            Some("Softbrik support".to_string()),
        ),
        Viewer::Admin { user_id, .. } | Viewer::Member { user_id, .. } => {
            (AuthorKind::Customer, Some(user_id.clone()), None)
        }
    };
    new_message(
        ticket,
        id,
        desk.now,
        author,
        public,
        false,
        body,
        Vec::new(),
    )
}

/// `POST /tickets/{id}/messages`.
pub async fn add_message(
    ports: &Ports<'_>,
    viewer: &Viewer,
    ticket_id: &str,
    body: MessageBody,
    raw: &serde_json::Value,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let mut errors = ValidationErrors::new();
    let text = text(&mut errors, "body", &body.body);
    errors.into_result()?;
    if !viewer.is_staff() && (!body.public || body.pending_customer) {
        return Err(Error::validation(
            if body.public {
                "pending_customer"
            } else {
                "public"
            },
            "staff_only",
            "internal notes and waiting for the customer are for the support team",
        ));
    }
    let fingerprint =
        serde_json::json!({"route": "POST /tickets/messages", "ticket": ticket_id, "body": raw});
    let apply = |ticket: &mut Ticket, desk: &Desk, id: &str| {
        let at = desk.now;
        let message = message(desk, ticket, viewer, id, &text, body.public);
        let notice = if viewer.is_staff() {
            ticket
                .life
                .team_message(body.public, body.pending_customer, at)?;
            if body.public {
                Notice::Updated(text.clone())
            } else {
                Notice::None
            }
        } else {
            ticket.life.customer_message(at)?;
            Notice::None
        };
        Ok(Effects {
            message: Some(message),
            notice,
        })
    };
    let (status, answer) = step(ports, viewer, ticket_id, key, fingerprint, apply).await?;
    Ok((if status == 200 { 201 } else { status }, answer))
}

/// `POST /tickets/{id}/acknowledge`: qualification by the support team (priority), which
/// meets the acknowledge target.
pub async fn acknowledge(
    ports: &Ports<'_>,
    viewer: &Viewer,
    ticket_id: &str,
    body: AcknowledgeBody,
    raw: &serde_json::Value,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    staff_only(viewer)?;
    let priority = parse_priority(&body.priority)
        .ok_or_else(|| Error::validation("priority", "invalid_choice", "one of P1, P2, P3"))?;
    let fingerprint =
        serde_json::json!({"route": "POST /tickets/acknowledge", "ticket": ticket_id, "body": raw});
    let apply = |ticket: &mut Ticket, desk: &Desk, _: &str| {
        ticket.life.acknowledge(priority, &desk.hours, desk.now)?;
        Ok(Effects {
            message: None,
            notice: Notice::None,
        })
    };
    step(ports, viewer, ticket_id, key, fingerprint, apply).await
}

/// The support team's steps with a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffStep {
    Workaround,
    Resolve,
    Rca,
}

impl StaffStep {
    fn name(self) -> &'static str {
        match self {
            StaffStep::Workaround => "workaround",
            StaffStep::Resolve => "resolve",
            StaffStep::Rca => "rca",
        }
    }
}

/// `POST /tickets/{id}/workaround`, `/resolve`, `/rca`: the support team's steps with a text.
pub async fn staff_step(
    ports: &Ports<'_>,
    viewer: &Viewer,
    ticket_id: &str,
    action: StaffStep,
    body: TextBody,
    raw: &serde_json::Value,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    staff_only(viewer)?;
    let mut errors = ValidationErrors::new();
    let text = text(&mut errors, "body", &body.body);
    errors.into_result()?;
    let fingerprint = serde_json::json!({"route": format!("POST /tickets/{}", action.name()), "ticket": ticket_id, "body": raw});
    let apply = |ticket: &mut Ticket, desk: &Desk, id: &str| {
        let at = desk.now;
        match action {
            StaffStep::Workaround => {
                ticket.life.work_around(at)?;
                Ok(Effects {
                    message: Some(message(desk, ticket, viewer, id, &text, true)),
                    notice: Notice::Workaround(text.clone()),
                })
            }
            StaffStep::Resolve => {
                ticket.life.resolve(at)?;
                Ok(Effects {
                    message: Some(message(desk, ticket, viewer, id, &text, true)),
                    notice: Notice::Resolved(text.clone()),
                })
            }
            StaffStep::Rca => {
                ticket.rca = Some(text.clone());
                ticket.life.rca_at = Some(at);
                Ok(Effects {
                    message: None,
                    notice: Notice::None,
                })
            }
        }
    };
    step(ports, viewer, ticket_id, key, fingerprint, apply).await
}

/// The customer's steps on a resolved ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerStep {
    /// `POST /tickets/{id}/confirm`: the customer validates the resolution; the ticket closes
    /// (a P1 only once its root-cause analysis is written).
    Confirm,
    /// `POST /tickets/{id}/reopen`: within 14 days of resolution; the resolution clock goes on
    /// from where it stopped (the time it stood resolved does not count).
    Reopen,
}

/// A customer's step on a resolved ticket ([`CustomerStep`]).
pub async fn customer_step(
    ports: &Ports<'_>,
    viewer: &Viewer,
    ticket_id: &str,
    step_taken: CustomerStep,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    customer_only(viewer)?;
    let route = match step_taken {
        CustomerStep::Confirm => "POST /tickets/confirm",
        CustomerStep::Reopen => "POST /tickets/reopen",
    };
    let fingerprint = serde_json::json!({"route": route, "ticket": ticket_id});
    let apply = |ticket: &mut Ticket, desk: &Desk, _: &str| {
        let notice = match step_taken {
            CustomerStep::Confirm => {
                ticket.life.confirm(desk.now)?;
                Notice::Closed
            }
            CustomerStep::Reopen => {
                ticket.life.reopen(desk.now)?;
                Notice::None
            }
        };
        Ok(Effects {
            message: None,
            notice,
        })
    };
    step(ports, viewer, ticket_id, key, fingerprint, apply).await
}

/// `POST /tickets/{id}/confirm` ([`CustomerStep::Confirm`]).
pub async fn confirm(
    ports: &Ports<'_>,
    viewer: &Viewer,
    ticket_id: &str,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    customer_step(ports, viewer, ticket_id, CustomerStep::Confirm, key).await
}

/// `POST /tickets/{id}/reopen` ([`CustomerStep::Reopen`]).
pub async fn reopen(
    ports: &Ports<'_>,
    viewer: &Viewer,
    ticket_id: &str,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    customer_step(ports, viewer, ticket_id, CustomerStep::Reopen, key).await
}

// --- Reports -----------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct IncidentReport {
    pub month: String,
    pub plan: SupportPlan,
    pub tickets: Vec<ReportTicket>,
    pub summary: ReportSummary,
}

#[derive(Debug, Serialize)]
pub struct ReportTicket {
    pub id: String,
    pub number: String,
    pub priority: Priority,
    pub status: Status,
    pub created_at: Timestamp,
    pub targets: Vec<ReportTarget>,
}

#[derive(Debug, Serialize)]
pub struct ReportTarget {
    pub name: TargetName,
    pub due_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met_at: Option<Timestamp>,
    pub achieved: bool,
    pub breached: bool,
}

#[derive(Debug, Serialize)]
pub struct ReportSummary {
    pub tickets: usize,
    pub targets_met: usize,
    pub targets_breached: usize,
}

/// `GET /account/reports/incidents?month=YYYY-MM`: the month's tickets (opened in that month,
/// local time) and each target achieved or breached; Pro and Enterprise plans.
pub async fn incident_report(
    ports: &Ports<'_>,
    account_id: &str,
    month: Option<&str>,
) -> Result<IncidentReport, Error> {
    let bad = || Error::validation("month", "invalid_format", "a month, YYYY-MM");
    let month = month.ok_or_else(bad)?;
    let first =
        jiff::civil::Date::strptime("%Y-%m-%d", format!("{month}-01")).map_err(|_| bad())?;
    if month.len() != 7 || !(2000..=2999).contains(&first.year()) {
        return Err(bad());
    }
    let desk = ports.tickets.desk(account_id).await?;
    if desk.plan == SupportPlan::Basic {
        return Err(Error::Refused(Refusal::PlanRequired(
            "the monthly incident report comes with the Pro and Enterprise support plans",
        )));
    }
    let zone = desk.hours.zone().clone();
    let start = first
        .to_zoned(zone.clone())
        .map_err(Error::internal)?
        .timestamp();
    let end = first
        .checked_add(jiff::Span::new().months(1))
        .map_err(Error::internal)?
        .to_zoned(zone)
        .map_err(Error::internal)?
        .timestamp();
    let all = ports.tickets.all(&desk).await?;
    let mut report = IncidentReport {
        month: month.to_string(),
        plan: desk.plan,
        tickets: Vec::new(),
        summary: ReportSummary {
            tickets: 0,
            targets_met: 0,
            targets_breached: 0,
        },
    };
    for ticket in all.iter().filter(|t| {
        t.life.created_at >= start && t.life.created_at < end && t.life.kind == Kind::Support
    }) {
        let targets: Vec<ReportTarget> = ticket
            .life
            .targets
            .iter()
            .map(|t| {
                let due_at = t.due_at(&desk.hours, desk.now);
                let breached = t.breached_at.is_some();
                ReportTarget {
                    name: t.name,
                    due_at,
                    met_at: t.met_at,
                    achieved: t.met_at.is_some_and(|m| m <= due_at) && !breached,
                    breached,
                }
            })
            .collect();
        report.summary.targets_met += targets.iter().filter(|t| t.achieved).count();
        report.summary.targets_breached += targets.iter().filter(|t| t.breached).count();
        report.tickets.push(ReportTicket {
            id: ticket.id.clone(),
            number: ticket.reference(),
            priority: ticket.life.priority,
            status: ticket.life.status,
            created_at: ticket.life.created_at,
            targets,
        });
    }
    report.summary.tickets = report.tickets.len();
    Ok(report)
}

// --- The SLA run -------------------------------------------------------------------------

/// What a check found to tell once its write is in.
enum Alert {
    Breach { target: TargetName, due: Timestamp },
    UpdateDue { since: Timestamp },
    Closed,
}

/// Everything due on one ticket at `at` (the SLA run): breaches recorded, a P1 update alert,
/// the automatic close 7 days after resolution, pseudonymisation after the retention period.
/// Answers how many things it did; 0 when the ticket changed meanwhile (that change put it
/// back in the index: the next run sees it).
pub async fn check(
    ports: &Ports<'_>,
    desk: &Desk,
    read: Read<Ticket>,
    at: Timestamp,
) -> Result<u32, Error> {
    let mut ticket = read.value;
    let mut alerts = Vec::new();
    if ticket.life.status != Status::Closed {
        for (target, due) in ticket.life.check_breaches(&desk.hours, at) {
            alerts.push(Alert::Breach { target, due });
        }
    }
    if let Some(due) = ticket.life.update_due().filter(|due| *due <= at) {
        // Windows missed while nothing ran are not alerted one by one.
        let periods = at.duration_since(due).as_secs() / P1_UPDATE_EVERY.as_secs();
        let alerted = due + P1_UPDATE_EVERY * i32::try_from(periods).unwrap_or(i32::MAX);
        ticket.life.update_alerted_for = Some(alerted);
        alerts.push(Alert::UpdateDue {
            since: ticket.life.last_update_at.unwrap_or(ticket.life.created_at),
        });
    }
    if let Some(close) = ticket.life.auto_close_at().filter(|c| *c <= at) {
        ticket.life.status = Status::Closed;
        ticket.life.closed_at = Some(close);
        alerts.push(Alert::Closed);
    }
    let mut pseudonymised = false;
    if ticket.life.pseudonymise_at().is_some_and(|p| p <= at) {
        pseudonymise(ports, desk, &mut ticket).await?;
        pseudonymised = true;
    }
    let changes = u32::try_from(alerts.len() + usize::from(pseudonymised)).unwrap_or(0);
    ticket.updated_at = at;
    let saved = ports
        .tickets
        .save(desk, &read.stamp, &ticket, None, With::Answer(None));
    if saved.await? != Written::Done {
        return Ok(0);
    }
    for alert in alerts {
        send_alert(ports, desk, &ticket, alert).await;
    }
    Ok(changes)
}

async fn send_alert(ports: &Ports<'_>, desk: &Desk, ticket: &Ticket, alert: Alert) {
    let team = &ports.staff.team;
    match alert {
        Alert::Breach { target, due } => {
            let target = target_name(target);
            let mail = words::breach_alert(
                &ticket.reference(),
                &format!("{:?}", ticket.life.priority),
                plan_name(ticket.life.plan),
                &ticket.account_id,
                target,
                &due.to_string(),
            );
            tracing::warn!(target, %due, "sla target breached");
            if ticket.life.plan == SupportPlan::Enterprise && ticket.life.priority == Priority::P1 {
                let manager = &ports.staff.success_manager;
                notify(ports, manager, mail.clone(), "auto-generated").await;
            }
            notify(ports, team, mail, "auto-generated").await;
        }
        Alert::UpdateDue { since } => {
            let mail = words::update_due_alert(
                &ticket.reference(),
                &ticket.account_id,
                &since.to_string(),
            );
            notify(ports, team, mail, "auto-generated").await;
        }
        Alert::Closed => tell_requester(ports, desk, ticket, words::ticket_closed).await,
    }
}

pub fn target_name(target: TargetName) -> &'static str {
    match target {
        TargetName::Acknowledge => "acknowledge",
        TargetName::Workaround => "workaround",
        TargetName::Resolution => "resolution",
    }
}

pub fn plan_name(plan: SupportPlan) -> &'static str {
    match plan {
        SupportPlan::Basic => "basic",
        SupportPlan::Pro => "pro",
        SupportPlan::Enterprise => "enterprise",
    }
}

/// Retention (support.md "Privacy"): the requester becomes a stable pseudonym, the subject and
/// every message go (attachments first, then the messages, however many), the SLA events stay
/// for the reports. The caller saves the ticket; if that write is lost, the next run finds the
/// ticket still due and finishes (the deletions are done already).
async fn pseudonymise(ports: &Ports<'_>, desk: &Desk, ticket: &mut Ticket) -> Result<(), Error> {
    let requester = &ticket.requester;
    let who = requester
        .email
        .as_deref()
        .or(requester.user_id.as_deref())
        .unwrap_or(&ticket.id);
    let hash = ports.tickets.pseudonym(who).await?;
    ticket.requester = Requester {
        user_id: None,
        name: Some(format!("requester-{}", &hash[..12.min(hash.len())])),
        email: None,
    };
    ticket.subject = String::new();
    ticket.rca = ticket.rca.as_ref().map(|_| String::new());
    ticket.life.pseudonymised = true;
    let messages = ports.tickets.messages(desk, ticket).await?;
    for m in &messages {
        for a in &m.attachments {
            ports.blobs.delete(&a.key).await?;
        }
    }
    ports.tickets.forget(desk, &messages).await
}
