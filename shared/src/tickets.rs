//! Support tickets (support.md): what a ticket is and how it is kept, its SLA clock, and the
//! SLA run that records breaches, alerts the team when a P1 update is due, closes resolved
//! tickets after 7 days and pseudonymises old ones.
//!
//! A ticket lives in its account's partition (`TICKET#<id>`, messages `TMSG#<ticket>#<id>`),
//! with its subject, requester and messages sealed under the account's data key. Two pointer
//! items (`TICKETID#<id>`, `TICKETNO#<number>`) let the support team and the mail intake find
//! it without knowing the account; they name no one. Security reports come from anyone, so they
//! live in the partition of the pseudo-account [`SECURITY_ACCOUNT`] under a platform key.
//!
//! Every ticket that still has a clock running is in the due-date index (`gsi2`, runner
//! [`Runner::Sla`]) at the next instant something may happen to it; the SLA run (the
//! `tickets` function, every 5 minutes, and test clocks) takes what is due.

use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::account::SupportPlan;
use crate::app::App;
use crate::business_hours::BusinessHours;
use crate::clock::Clock;
use crate::crypto::{DataKey, Field, Sealed};
use crate::error::Error;
use crate::inbound::ticket_reference;
use crate::mailer::Mail;
use crate::schedule::{RunLimits, RunReport, RunRequest, Runner, Scope, due_key, each_due};
use crate::sla::{Priority, Target, TargetName};
use crate::store::account_pk;
use crate::values::{Country, Language, TimeZoneName};

/// The pseudo-account security reports belong to (support.md "Email to ticket").
pub const SECURITY_ACCOUNT: &str = "security";
/// `gsi1` partition of every ticket, newest first: the support team's queue.
pub const QUEUE: &str = "TICKETS";
/// A resolved ticket closes by itself this long after resolution without a reply.
pub const AUTO_CLOSE: SignedDuration = SignedDuration::from_hours(7 * 24);
/// A resolved ticket can be reopened this long after resolution.
pub const REOPEN_WINDOW: SignedDuration = SignedDuration::from_hours(14 * 24);
/// A P1 without workaround gets a public update at least this often.
pub const P1_UPDATE_EVERY: SignedDuration = SignedDuration::from_hours(2);
/// Closed tickets are pseudonymised this many months after closing.
pub const RETENTION_MONTHS: i32 = 24;
/// Security reports are acknowledged within this many business hours.
pub const SECURITY_ACKNOWLEDGE: SignedDuration = SignedDuration::from_hours(24);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Acknowledged,
    PendingCustomer,
    Workaround,
    Resolved,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Web,
    Chat,
    Phone,
    Email,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    Critical,
    High,
    Normal,
}

impl Impact {
    /// A new ticket is P3 until qualified, unless its impact says otherwise.
    pub fn priority(impact: Option<Impact>) -> Priority {
        match impact {
            Some(Impact::Critical) => Priority::P1,
            Some(Impact::High) => Priority::P2,
            Some(Impact::Normal) | None => Priority::P3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Support,
    Security,
}

/// A change of a target, kept with the ticket; reports are built from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Started,
    Paused,
    Resumed,
    Met,
    Breached,
    Restarted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaEvent {
    pub at: Timestamp,
    pub target: TargetName,
    pub change: Change,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorKind {
    Customer,
    Support,
    System,
}

/// Who asked, sealed as one JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A ticket as stored: clocks and states in clear, what names or tells anything sealed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
    pub id: String,
    pub account_id: String,
    pub number: u64,
    pub kind: Kind,
    pub status: Status,
    pub priority: Priority,
    pub channel: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<Impact>,
    /// The plan when the ticket was opened: a later plan change applies to later tickets.
    pub plan: SupportPlan,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_user_id: Option<String>,
    pub requester: Sealed,
    pub subject: Sealed,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_clock_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    /// The support team's last public message (P1 updates count from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_at: Option<Timestamp>,
    /// The last P1 update due time the team was alerted of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_alerted_for: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rca: Option<Sealed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rca_at: Option<Timestamp>,
    pub targets: Vec<Target>,
    pub events: Vec<SlaEvent>,
    #[serde(default)]
    pub pseudonymised: bool,
    pub version: u64,
}

/// A message of a ticket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageItem {
    pub pk: String,
    pub sk: String,
    pub id: String,
    pub ticket_id: String,
    pub at: Timestamp,
    pub author: AuthorKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_name: Option<Sealed>,
    pub public: bool,
    /// Automatic mail (an out-of-office reply): recorded, never answered.
    #[serde(default)]
    pub automatic: bool,
    pub body: Sealed,
    #[serde(default)]
    pub attachments: Vec<AttachmentItem>,
}

/// What an attachment's sealed name is bound to: its object in the bucket (the record itself
/// sits inside its message's item, under a key the object's names uniquely).
pub fn attachment_item(object_key: &str) -> (&'static str, &str) {
    ("ATTACHMENT", object_key)
}

/// A file of a message, kept in S3 (`attachments/<account>/<ticket>/<id>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttachmentItem {
    pub id: String,
    pub filename: Sealed,
    pub content_type: String,
    pub size: u64,
    pub key: String,
}

/// `TICKETID#<id>` and `TICKETNO#<number>`: where a ticket is, for staff and mail replies.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PointerItem {
    pub pk: String,
    pub sk: String,
    pub account_id: String,
    pub ticket_id: String,
    pub number: u64,
}

pub fn ticket_sk(id: &str) -> String {
    format!("TICKET#{id}")
}

pub fn messages_prefix(ticket_id: &str) -> String {
    format!("TMSG#{ticket_id}#")
}

pub fn id_pointer_pk(id: &str) -> String {
    format!("TICKETID#{id}")
}

pub fn number_pointer_pk(number: u64) -> String {
    format!("TICKETNO#{number}")
}

/// The S3 prefix of an account's ticket attachments (closure deletes it).
pub fn attachments_prefix(account_id: &str) -> String {
    format!("attachments/{account_id}/")
}

/// What the desk needs to know of the account a ticket belongs to: its key, language, hours,
/// plan and clock.
pub struct Desk {
    pub account_id: String,
    pub key: Arc<DataKey>,
    pub language: Language,
    pub hours: BusinessHours,
    pub plan: SupportPlan,
    pub test_clock_id: Option<String>,
    pub now: Timestamp,
}

impl Desk {
    pub async fn of_account(app: &App, account_id: &str) -> Result<Desk, Error> {
        if account_id == SECURITY_ACCOUNT {
            return Desk::security(app).await;
        }
        let (item, key) = app.account_item(account_id).await?;
        Desk::of_item(app, item, key).await
    }

    /// The desk of an account item already read (and its key).
    pub async fn of_item(
        app: &App,
        item: crate::store::AccountItem,
        key: Arc<DataKey>,
    ) -> Result<Desk, Error> {
        let zone = TimeZoneName::parse(&item.timezone).map_err(Error::internal)?;
        let country = Country::parse(&item.country).map_err(Error::internal)?;
        let now = app.clock(item.test_clock_id.as_deref()).await?.now();
        Ok(Desk {
            account_id: item.id,
            key,
            language: item.language,
            hours: BusinessHours::new(zone.time_zone(), country),
            plan: item.support_plan,
            test_clock_id: item.test_clock_id,
            now,
        })
    }

    /// Security reports: Softbrik's own business hours (the issuer's country), in English.
    pub async fn security(app: &App) -> Result<Desk, Error> {
        let country = app.config.issuer_country;
        let zone = match country.code() {
            "FR" => "Europe/Paris",
            _ => "Europe/Copenhagen",
        };
        Ok(Desk {
            account_id: SECURITY_ACCOUNT.into(),
            key: app.security_key().await?,
            language: Language::En,
            hours: BusinessHours::new(TimeZone::get(zone).map_err(Error::internal)?, country),
            plan: SupportPlan::Basic,
            test_clock_id: None,
            now: app.system_clock.now(),
        })
    }

    /// Seals `text` for `attribute` of the item keyed `item` (pk, sk).
    pub fn seal(&self, item: (&str, &str), attribute: &str, text: &str) -> Sealed {
        self.key
            .seal(Field::new(&self.account_id, item, attribute), text)
    }

    pub fn open(
        &self,
        item: (&str, &str),
        attribute: &str,
        sealed: &Sealed,
    ) -> Result<String, Error> {
        self.key
            .open(Field::new(&self.account_id, item, attribute), sealed)
    }
}

/// What opens a ticket.
pub struct Opening {
    pub id: String,
    pub kind: Kind,
    pub channel: Channel,
    pub impact: Option<Impact>,
    pub requester: Requester,
    pub subject: String,
    pub description: String,
    pub attachments: Vec<AttachmentItem>,
    pub message_id: String,
}

impl TicketItem {
    /// A new ticket, its first message and its pointers, as writes for one transaction; the
    /// caller adds its own (an idempotency record, the inbound message's claim).
    pub fn open(
        app: &App,
        desk: &Desk,
        number: u64,
        opening: Opening,
    ) -> Result<(TicketItem, Vec<TransactWriteItem>), Error> {
        let at = desk.now;
        let priority = Impact::priority(opening.impact);
        let mut targets = Target::start_all(desk.plan, priority, at);
        if opening.kind == Kind::Security {
            for t in &mut targets {
                if t.name == TargetName::Acknowledge {
                    t.length = SECURITY_ACKNOWLEDGE;
                }
            }
        }
        let events = targets
            .iter()
            .map(|t| SlaEvent {
                at,
                target: t.name,
                change: Change::Started,
            })
            .collect();
        let requester_json = serde_json::to_string(&opening.requester).map_err(Error::internal)?;
        let (pk, sk) = (account_pk(&desk.account_id), ticket_sk(&opening.id));
        let requester = desk.seal((&pk, &sk), "ticket_requester", &requester_json);
        let subject = desk.seal((&pk, &sk), "ticket_subject", &opening.subject);
        let mut ticket = TicketItem {
            pk,
            sk,
            gsi1pk: QUEUE.into(),
            gsi1sk: format!("{}#{}", due_key(at), opening.id),
            gsi2pk: None,
            gsi2sk: None,
            id: opening.id.clone(),
            account_id: desk.account_id.clone(),
            number,
            kind: opening.kind,
            status: Status::New,
            priority,
            channel: opening.channel,
            impact: opening.impact,
            plan: desk.plan,
            requester_user_id: opening.requester.user_id.clone(),
            requester,
            subject,
            test_clock_id: desk.test_clock_id.clone(),
            created_at: at,
            updated_at: at,
            resolved_at: None,
            closed_at: None,
            last_update_at: None,
            update_alerted_for: None,
            rca: None,
            rca_at: None,
            targets,
            events,
            pseudonymised: false,
            version: 1,
        };
        ticket.reindex(&desk.hours, at);
        let message = MessageItem::new(
            desk,
            &ticket,
            &opening.message_id,
            AuthorKind::Customer,
            opening.requester.user_id.clone(),
            opening.requester.name.as_deref(),
            true,
            false,
            &opening.description,
            opening.attachments,
        );
        let store = &app.store;
        let ops = vec![
            store.put_new_op(&ticket)?,
            store.put_new_op(&message)?,
            store.put_new_op(&ticket.pointer(id_pointer_pk(&ticket.id)))?,
            store.put_new_op(&ticket.pointer(number_pointer_pk(number)))?,
        ];
        Ok((ticket, ops))
    }

    fn pointer(&self, pk: String) -> PointerItem {
        PointerItem {
            pk,
            sk: "TICKET".into(),
            account_id: self.account_id.clone(),
            ticket_id: self.id.clone(),
            number: self.number,
        }
    }

    pub fn reference(&self) -> String {
        ticket_reference(self.number)
    }

    pub fn requester(&self, desk: &Desk) -> Result<Requester, Error> {
        let text = desk.open((&self.pk, &self.sk), "ticket_requester", &self.requester)?;
        serde_json::from_str(&text).map_err(Error::internal)
    }

    pub fn subject(&self, desk: &Desk) -> Result<String, Error> {
        desk.open((&self.pk, &self.sk), "ticket_subject", &self.subject)
    }

    pub fn target_mut(&mut self, name: TargetName) -> Option<&mut Target> {
        self.targets.iter_mut().find(|t| t.name == name)
    }

    fn event(&mut self, at: Timestamp, target: TargetName, change: Change) {
        self.events.push(SlaEvent { at, target, change });
    }

    /// Meets a target (once).
    pub fn meet(&mut self, name: TargetName, at: Timestamp) {
        let met = match self.target_mut(name) {
            Some(t) if t.met_at.is_none() => {
                t.resume(at);
                t.met_at = Some(at);
                true
            }
            _ => false,
        };
        if met {
            self.event(at, name, Change::Met);
        }
    }

    /// The team waits for the customer: the resolution clock stops. Only while the ticket is
    /// being worked on (not once resolved).
    pub fn pause(&mut self, at: Timestamp) {
        if matches!(self.status, Status::Resolved | Status::Closed) {
            return;
        }
        let mut paused = Vec::new();
        for t in &mut self.targets {
            if !t.is_paused() {
                t.pause(at);
                if t.is_paused() {
                    paused.push(t.name);
                }
            }
        }
        for name in paused {
            self.event(at, name, Change::Paused);
        }
        self.status = Status::PendingCustomer;
    }

    /// The customer answered: paused clocks run again.
    pub fn resume(&mut self, at: Timestamp) {
        let mut resumed = Vec::new();
        for t in &mut self.targets {
            if t.is_paused() {
                t.resume(at);
                resumed.push(t.name);
            }
        }
        for name in resumed {
            self.event(at, name, Change::Resumed);
        }
        if self.status == Status::PendingCustomer {
            self.status = self.working_status();
        }
    }

    /// The status of a ticket being worked on, from what was met.
    fn working_status(&self) -> Status {
        let met = |name| {
            self.targets
                .iter()
                .any(|t: &Target| t.name == name && t.met_at.is_some())
        };
        if met(TargetName::Workaround) {
            Status::Workaround
        } else if met(TargetName::Acknowledge) {
            Status::Acknowledged
        } else {
            Status::New
        }
    }

    /// Qualification: the priority set by the team. Raised, the new targets count from now
    /// but are never due later than the old ones; lowered, they keep their start, pauses and
    /// state with the lower priority's lengths (a target the lower priority adds counts from
    /// the ticket's opening).
    pub fn qualify(&mut self, priority: Priority, hours: &BusinessHours, at: Timestamp) {
        if priority == self.priority {
            return;
        }
        let raised = priority < self.priority;
        let mut next = Vec::new();
        for fresh in Target::start_all(self.plan, priority, at) {
            let old = self.targets.iter().find(|t| t.name == fresh.name);
            let mut target = match (old, raised) {
                (Some(old), true) => old
                    .raised(self.plan, priority, hours, at)
                    .unwrap_or(fresh.clone()),
                (Some(old), false) => Target {
                    started_at: old.started_at,
                    pauses: old.pauses.clone(),
                    met_at: old.met_at,
                    breached_at: old.breached_at,
                    ..fresh.clone()
                },
                (None, true) => fresh.clone(),
                (None, false) => Target {
                    started_at: self.created_at,
                    ..fresh.clone()
                },
            };
            if let Some(old) = old {
                target.breached_at = old.breached_at;
                // A raised target starts now: a pause still running goes on from now.
                if raised && old.is_paused() && !target.is_paused() {
                    target.pauses = vec![(at, None)];
                }
            }
            next.push(target);
        }
        for t in &next {
            self.events.push(SlaEvent {
                at,
                target: t.name,
                change: Change::Restarted,
            });
        }
        self.targets = next;
        self.priority = priority;
    }

    /// When the team owes a P1 requester its next update, if it does.
    pub fn update_due(&self) -> Option<Timestamp> {
        let waiting = self.kind == Kind::Support
            && self.priority == Priority::P1
            && matches!(
                self.status,
                Status::New | Status::Acknowledged | Status::PendingCustomer
            );
        if !waiting {
            return None;
        }
        let since = self.last_update_at.unwrap_or(self.created_at);
        let base = self.update_alerted_for.map_or(since, |a| a.max(since));
        Some(base + P1_UPDATE_EVERY)
    }

    /// When a resolved ticket closes by itself: 7 days after resolution, and for a P1 not
    /// before its root-cause analysis is written.
    pub fn auto_close_at(&self) -> Option<Timestamp> {
        if self.status != Status::Resolved || (self.priority == Priority::P1 && self.rca.is_none())
        {
            return None;
        }
        self.resolved_at.map(|r| r + AUTO_CLOSE)
    }

    /// When a closed ticket is pseudonymised.
    pub fn pseudonymise_at(&self) -> Option<Timestamp> {
        if self.status != Status::Closed || self.pseudonymised {
            return None;
        }
        let closed = self.closed_at?;
        closed
            .to_zoned(TimeZone::UTC)
            .checked_add(RETENTION_MONTHS.months())
            .ok()
            .map(|z| z.timestamp())
    }

    /// The next instant the SLA run has something to look at.
    pub fn next_check(&self, hours: &BusinessHours, now: Timestamp) -> Option<Timestamp> {
        let mut next: Vec<Timestamp> = Vec::new();
        if !matches!(self.status, Status::Closed) {
            // A breach is when the due time has passed: look one second after it.
            next.extend(
                self.targets
                    .iter()
                    .filter(|t| t.met_at.is_none() && t.breached_at.is_none() && !t.is_paused())
                    .map(|t| t.due_at(hours, now) + SignedDuration::from_secs(1)),
            );
        }
        next.extend(self.update_due());
        next.extend(self.auto_close_at());
        next.extend(self.pseudonymise_at());
        next.into_iter().min()
    }

    /// Puts the ticket in the due-date index at its next check, or takes it out. The index
    /// holds whole seconds: an instant is rounded up, so a run at the indexed second finds
    /// it due (never a run that finds nothing and puts it back at the same second).
    pub fn reindex(&mut self, hours: &BusinessHours, now: Timestamp) {
        match self.next_check(hours, now).map(ceil_second) {
            Some(at) => {
                let scope = Scope::of(self.test_clock_id.as_deref());
                self.gsi2pk = Some(scope.partition_of(Runner::Sla, &self.id));
                self.gsi2sk = Some(due_key(at));
            }
            None => {
                self.gsi2pk = None;
                self.gsi2sk = None;
            }
        }
    }

    /// The write of a changed ticket read at `read`, back in the index at its next check.
    pub fn save_op(
        &mut self,
        app: &App,
        hours: &BusinessHours,
        read: u64,
        now: Timestamp,
    ) -> Result<TransactWriteItem, Error> {
        self.version = read + 1;
        self.updated_at = now;
        self.reindex(hours, now);
        app.store.put_if_version_op(self, read)
    }
}

/// The instant rounded up to a whole second.
pub fn ceil_second(at: Timestamp) -> Timestamp {
    let nanos = at.subsec_nanosecond();
    if nanos == 0 {
        at
    } else {
        at + SignedDuration::from_nanos(i64::from(1_000_000_000 - nanos))
    }
}

impl MessageItem {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        desk: &Desk,
        ticket: &TicketItem,
        id: &str,
        author: AuthorKind,
        author_user_id: Option<String>,
        author_name: Option<&str>,
        public: bool,
        automatic: bool,
        body: &str,
        attachments: Vec<AttachmentItem>,
    ) -> MessageItem {
        let (pk, sk) = (
            ticket.pk.clone(),
            format!("{}{id}", messages_prefix(&ticket.id)),
        );
        MessageItem {
            id: id.to_string(),
            ticket_id: ticket.id.clone(),
            at: desk.now,
            author,
            author_user_id,
            author_name: author_name.map(|n| desk.seal((&pk, &sk), "message_author", n)),
            public,
            automatic,
            body: desk.seal((&pk, &sk), "message_body", body),
            pk,
            sk,
            attachments,
        }
    }
}

/// The next ticket number (a counter: numbers are unique, and a number taken by a request that
/// then failed is simply not used).
pub async fn next_number(app: &App) -> Result<u64, Error> {
    let out = app
        .store
        .client()
        .update_item()
        .table_name(app.store.table())
        .key("pk", AttributeValue::S("SEQUENCE".into()))
        .key("sk", AttributeValue::S("TICKET_NUMBER".into()))
        .update_expression("ADD last_number :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
        .send()
        .await
        .map_err(|e| {
            Error::unavailable(format!(
                "dynamodb UpdateItem ticket number: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e.into_service_error())
            ))
        })?;
    match out.attributes().and_then(|a| a.get("last_number")) {
        Some(AttributeValue::N(n)) => n.parse().map_err(Error::internal),
        _ => Err(Error::internal("ticket number counter returned nothing")),
    }
}

/// Where a ticket is, by id or number.
pub async fn find_pointer(app: &App, pk: &str) -> Result<Option<PointerItem>, Error> {
    app.store.get(pk, "TICKET").await
}

pub async fn load(app: &App, account_id: &str, ticket_id: &str) -> Result<TicketItem, Error> {
    app.store
        .get(&account_pk(account_id), &ticket_sk(ticket_id))
        .await?
        .ok_or(Error::NotFound)
}

pub async fn messages(app: &App, ticket: &TicketItem) -> Result<Vec<MessageItem>, Error> {
    app.store
        .query_prefix(&ticket.pk, &messages_prefix(&ticket.id))
        .await
}

/// A mail from the support desk, sent and logged on failure (the change it tells of is
/// already recorded; a lost notification must not undo it).
pub async fn notify(app: &App, to: &str, (subject, text): (String, String), auto: &'static str) {
    let mail = Mail {
        to: to.to_string(),
        subject,
        text,
        auto_submitted: auto,
        attachments: Vec::new(),
    };
    // The partner's detail may name the recipient: only the error's kind is logged.
    if let Err(e) = app.support_mailer.send(&mail).await {
        tracing::error!(error = %e, code = e.code(), "ticket mail not sent");
    }
}

/// Tells the requester of a change, in the account's language.
pub async fn notify_requester(
    app: &App,
    desk: &Desk,
    ticket: &TicketItem,
    words: impl FnOnce(Language, &str, &str) -> (String, String),
) -> Result<(), Error> {
    let requester = ticket.requester(desk)?;
    let Some(email) = requester.email else {
        return Ok(());
    };
    let subject = ticket.subject(desk)?;
    let mail = words(desk.language, &ticket.reference(), &subject);
    notify(app, &email, mail, "auto-generated").await;
    Ok(())
}

// --- The SLA run ------------------------------------------------------------------------

/// What the run found to tell once its writes are in.
enum Alert {
    Breach { target: TargetName, due: Timestamp },
    UpdateDue { since: Timestamp },
    Closed,
}

/// Serves `{"run": "sla"}` (the schedule, live tickets) or a test clock's run.
pub async fn serve(app: &App, request: RunRequest) -> Result<RunReport, Error> {
    let (scope, at) = crate::schedule::scope_and_instant(app, Runner::Sla, request)?;
    let limits = RunLimits {
        concurrency: 16,
        ..RunLimits::default()
    };
    let report = each_due(
        app,
        Runner::Sla,
        &scope,
        at,
        limits,
        |ticket: TicketItem| {
            let span = tracing::info_span!(
                "ticket",
                account_id = %ticket.account_id,
                ticket_id = %ticket.id
            );
            async move {
                let outcome = check(app, ticket, at).await;
                if let Err(e) = &outcome {
                    tracing::error!(error = %e, detail = e.detail(), "ticket check failed");
                }
                outcome
            }
            .instrument(span)
        },
    )
    .await?;
    tracing::info!(
        tickets = report.accounts,
        changes = report.jobs,
        failed = report.failed,
        "sla run"
    );
    Ok(report)
}

/// Everything due on one ticket at `at`: breaches, a P1 update alert, the automatic close,
/// pseudonymisation. Returns how many things it did.
async fn check(app: &App, mut ticket: TicketItem, at: Timestamp) -> Result<u32, Error> {
    let desk = match Desk::of_account(app, &ticket.account_id).await {
        Ok(desk) => desk,
        // The account is being deleted; its tickets go with it.
        Err(Error::NotFound) => return Ok(0),
        Err(e) => return Err(e),
    };
    let read = ticket.version;
    let mut alerts = Vec::new();
    if ticket.status != Status::Closed {
        let mut breached = Vec::new();
        for t in &mut ticket.targets {
            if t.check_breach(&desk.hours, at)
                && let Some(due) = t.breached_at
            {
                breached.push((t.name, due));
            }
        }
        for (target, due) in breached {
            ticket.event(due, target, Change::Breached);
            alerts.push(Alert::Breach { target, due });
        }
    }
    if let Some(due) = ticket.update_due().filter(|due| *due <= at) {
        // Windows missed while nothing ran are not alerted one by one.
        let periods = at.duration_since(due).as_secs() / P1_UPDATE_EVERY.as_secs();
        let alerted = due + P1_UPDATE_EVERY * i32::try_from(periods).unwrap_or(i32::MAX);
        ticket.update_alerted_for = Some(alerted);
        alerts.push(Alert::UpdateDue {
            since: ticket.last_update_at.unwrap_or(ticket.created_at),
        });
    }
    if let Some(close) = ticket.auto_close_at().filter(|c| *c <= at) {
        ticket.status = Status::Closed;
        ticket.closed_at = Some(close);
        alerts.push(Alert::Closed);
    }
    let mut pseudonymised = false;
    if ticket.pseudonymise_at().is_some_and(|p| p <= at) {
        pseudonymise(app, &desk, &mut ticket).await?;
        pseudonymised = true;
    }
    let changes = u32::try_from(alerts.len() + usize::from(pseudonymised)).unwrap_or(0);
    let ops = vec![ticket.save_op(app, &desk.hours, read, at)?];
    if let Err(e) = app.store.transact(ops).await {
        if e.condition_failed(0) {
            // Changed meanwhile: that change put it back in the index; the next run sees it.
            return Ok(0);
        }
        return Err(e.into_error(|_| Error::internal("unreachable")));
    }
    for alert in alerts {
        send_alert(app, &desk, &ticket, alert).await?;
    }
    Ok(changes)
}

async fn send_alert(
    app: &App,
    desk: &Desk,
    ticket: &TicketItem,
    alert: Alert,
) -> Result<(), Error> {
    let team = app.config.support_team_email.clone();
    match alert {
        Alert::Breach { target, due } => {
            let target = target_name(target);
            let mail = crate::ticket_emails::breach_alert(
                &ticket.reference(),
                &format!("{:?}", ticket.priority),
                plan_name(ticket.plan),
                &ticket.account_id,
                target,
                &due.to_string(),
            );
            tracing::warn!(target, %due, "sla target breached");
            if ticket.plan == SupportPlan::Enterprise && ticket.priority == Priority::P1 {
                notify(
                    app,
                    &app.config.success_manager_email,
                    mail.clone(),
                    "auto-generated",
                )
                .await;
            }
            notify(app, &team, mail, "auto-generated").await;
        }
        Alert::UpdateDue { since } => {
            let mail = crate::ticket_emails::update_due_alert(
                &ticket.reference(),
                &ticket.account_id,
                &since.to_string(),
            );
            notify(app, &team, mail, "auto-generated").await;
        }
        Alert::Closed => {
            notify_requester(app, desk, ticket, crate::ticket_emails::ticket_closed).await?;
        }
    }
    Ok(())
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
/// every message go (attachments from S3 first, then the messages in batches, however many),
/// the SLA events stay for the reports. The caller writes the ticket; if that write is lost,
/// the next run finds the ticket still due and finishes (the deletions are done already).
async fn pseudonymise(app: &App, desk: &Desk, ticket: &mut TicketItem) -> Result<(), Error> {
    let requester = ticket.requester(desk)?;
    let who = requester
        .email
        .as_deref()
        .or(requester.user_id.as_deref())
        .unwrap_or(&ticket.id);
    let pseudonym = format!("requester-{}", &app.keyed_hash(who).await?[..12]);
    let kept = Requester {
        user_id: None,
        name: Some(pseudonym),
        email: None,
    };
    let item = (ticket.pk.clone(), ticket.sk.clone());
    let item = (item.0.as_str(), item.1.as_str());
    ticket.requester = desk.seal(
        item,
        "ticket_requester",
        &serde_json::to_string(&kept).map_err(Error::internal)?,
    );
    ticket.subject = desk.seal(item, "ticket_subject", "");
    ticket.requester_user_id = None;
    ticket.rca = ticket
        .rca
        .as_ref()
        .map(|_| desk.seal(item, "ticket_rca", ""));
    ticket.pseudonymised = true;
    let messages = messages(app, ticket).await?;
    for m in &messages {
        for a in &m.attachments {
            crate::attachments::delete(app, &a.key).await?;
        }
    }
    let keys: Vec<(String, String)> = messages.into_iter().map(|m| (m.pk, m.sk)).collect();
    for chunk in keys.chunks(25) {
        app.store.delete_batch(chunk).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sla::Target;

    fn paris() -> BusinessHours {
        BusinessHours::new(
            TimeZone::get("Europe/Paris").unwrap(),
            Country::parse("FR").unwrap(),
        )
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn ticket(plan: SupportPlan, impact: Option<Impact>, opened: Timestamp) -> TicketItem {
        let priority = Impact::priority(impact);
        TicketItem {
            pk: "ACCOUNT#a".into(),
            sk: "TICKET#t".into(),
            gsi1pk: QUEUE.into(),
            gsi1sk: String::new(),
            gsi2pk: None,
            gsi2sk: None,
            id: "tkt_1".into(),
            account_id: "a".into(),
            number: 1,
            kind: Kind::Support,
            status: Status::New,
            priority,
            channel: Channel::Web,
            impact,
            plan,
            requester_user_id: None,
            requester: Sealed::from_stored("x"),
            subject: Sealed::from_stored("x"),
            test_clock_id: None,
            created_at: opened,
            updated_at: opened,
            resolved_at: None,
            closed_at: None,
            last_update_at: None,
            update_alerted_for: None,
            rca: None,
            rca_at: None,
            targets: Target::start_all(plan, priority, opened),
            events: Vec::new(),
            pseudonymised: false,
            version: 1,
        }
    }

    fn due(t: &TicketItem, name: TargetName, now: Timestamp) -> Timestamp {
        t.targets
            .iter()
            .find(|x| x.name == name)
            .unwrap()
            .due_at(&paris(), now)
    }

    #[test]
    fn qualified_p2_before_easter_is_due_after_the_holiday_in_summer_time() {
        // Friday 2027-03-26 17:30 Paris (16:30Z), P3 until qualified P2 at once.
        let opened = at("2027-03-26T16:30:00Z");
        let mut t = ticket(SupportPlan::Basic, None, opened);
        t.qualify(Priority::P2, &paris(), opened);
        t.meet(TargetName::Acknowledge, opened);
        assert_eq!(
            due(&t, TargetName::Acknowledge, opened),
            at("2027-03-30T07:30:00Z")
        );
        assert_eq!(
            due(&t, TargetName::Resolution, opened),
            at("2027-03-31T15:30:00Z")
        );
        assert!(t.targets.iter().any(|x| x.name == TargetName::Workaround));
    }

    #[test]
    fn a_critical_ticket_on_enterprise_runs_around_the_clock() {
        let opened = at("2027-03-26T16:30:00Z");
        let t = ticket(SupportPlan::Enterprise, Some(Impact::Critical), opened);
        assert_eq!(
            due(&t, TargetName::Acknowledge, opened),
            at("2027-03-26T16:45:00Z")
        );
    }

    #[test]
    fn a_lowered_priority_counts_from_the_opening() {
        let opened = at("2027-03-23T08:00:00Z"); // Tuesday 09:00 Paris
        let mut t = ticket(SupportPlan::Basic, Some(Impact::High), opened);
        t.qualify(Priority::P3, &paris(), at("2027-03-23T09:00:00Z"));
        assert_eq!(
            due(&t, TargetName::Acknowledge, opened),
            at("2027-03-23T12:00:00Z")
        );
        assert!(t.targets.iter().all(|x| x.name != TargetName::Workaround));
    }

    #[test]
    fn a_priority_raised_while_waiting_for_the_customer_stays_paused_from_then() {
        let opened = at("2027-03-23T08:00:00Z"); // Tuesday 09:00 Paris
        let mut t = ticket(SupportPlan::Basic, None, opened);
        t.pause(at("2027-03-23T09:00:00Z"));
        t.qualify(Priority::P2, &paris(), at("2027-03-23T10:00:00Z"));
        let resolution = t
            .targets
            .iter()
            .find(|x| x.name == TargetName::Resolution)
            .unwrap();
        assert!(resolution.is_paused());
        assert_eq!(resolution.pauses, vec![(at("2027-03-23T10:00:00Z"), None)]);
        t.resume(at("2027-03-23T12:00:00Z"));
        // 18 business hours from 11:00 Paris plus the 2 hours waited: Thursday 13:00 Paris.
        assert_eq!(
            due(&t, TargetName::Resolution, at("2027-03-23T12:00:00Z")),
            at("2027-03-25T12:00:00Z")
        );
    }

    #[test]
    fn a_pause_after_a_raise_pushes_back_the_raised_target_and_its_limit_alike() {
        // P3 opened Monday 2027-01-11 09:00 Paris, qualified P2 at 10:00, waiting for the
        // customer from 11:00 to Monday 25th 11:00 (10 business days).
        let opened = at("2027-01-11T08:00:00Z");
        let mut t = ticket(SupportPlan::Basic, None, opened);
        t.qualify(Priority::P2, &paris(), at("2027-01-11T09:00:00Z"));
        t.pause(at("2027-01-11T10:00:00Z"));
        t.resume(at("2027-01-25T10:00:00Z"));
        let now = at("2027-01-25T10:00:00Z");
        let expected = paris().add(
            at("2027-01-11T09:00:00Z"),
            SignedDuration::from_hours(18 + 90),
        );
        assert_eq!(due(&t, TargetName::Resolution, now), expected);
        assert!(expected > now);
        let resolution = t.target_mut(TargetName::Resolution).unwrap();
        assert!(!resolution.check_breach(&paris(), now));
    }

    #[test]
    fn a_resolved_ticket_does_not_wait_for_the_customer() {
        let opened = at("2027-01-11T08:00:00Z");
        let mut t = ticket(SupportPlan::Basic, None, opened);
        t.status = Status::Resolved;
        t.pause(at("2027-01-11T09:00:00Z"));
        assert_eq!(t.status, Status::Resolved);
        assert!(t.targets.iter().all(|x| !x.is_paused()));
    }

    #[test]
    fn index_instants_are_rounded_up_to_the_second() {
        assert_eq!(
            ceil_second(at("2027-01-11T10:00:00.25Z")),
            at("2027-01-11T10:00:01Z")
        );
        assert_eq!(
            ceil_second(at("2027-01-11T10:00:00Z")),
            at("2027-01-11T10:00:00Z")
        );
    }

    #[test]
    fn pending_customer_pauses_only_resolution_and_a_reply_resumes_it() {
        let opened = at("2027-03-23T08:00:00Z");
        let mut t = ticket(SupportPlan::Basic, Some(Impact::High), opened);
        let before = due(&t, TargetName::Resolution, opened);
        t.pause(at("2027-03-23T09:00:00Z"));
        assert_eq!(t.status, Status::PendingCustomer);
        t.resume(at("2027-03-23T12:00:00Z"));
        assert_eq!(t.status, Status::New);
        let after = due(&t, TargetName::Resolution, at("2027-03-23T12:00:00Z"));
        assert_eq!(
            paris().between(before, after),
            SignedDuration::from_hours(3)
        );
        let kinds: Vec<Change> = t.events.iter().map(|e| e.change).collect();
        assert_eq!(kinds, vec![Change::Paused, Change::Resumed]);
    }

    #[test]
    fn the_next_check_is_just_after_the_earliest_unmet_target() {
        let opened = at("2027-03-23T08:00:00Z");
        let mut t = ticket(SupportPlan::Basic, None, opened);
        assert_eq!(
            t.next_check(&paris(), opened),
            Some(at("2027-03-23T12:00:01Z"))
        );
        t.meet(TargetName::Acknowledge, opened);
        t.meet(TargetName::Resolution, opened);
        assert_eq!(t.next_check(&paris(), opened), None);
    }

    #[test]
    fn p1_updates_are_due_every_two_hours_until_a_workaround() {
        let opened = at("2027-03-23T08:00:00Z");
        let mut t = ticket(SupportPlan::Basic, Some(Impact::Critical), opened);
        assert_eq!(t.update_due(), Some(at("2027-03-23T10:00:00Z")));
        t.last_update_at = Some(at("2027-03-23T09:00:00Z"));
        assert_eq!(t.update_due(), Some(at("2027-03-23T11:00:00Z")));
        t.update_alerted_for = Some(at("2027-03-23T11:00:00Z"));
        assert_eq!(t.update_due(), Some(at("2027-03-23T13:00:00Z")));
        t.status = Status::Workaround;
        assert_eq!(t.update_due(), None);
    }

    #[test]
    fn a_resolved_p1_waits_for_its_rca_before_closing_by_itself() {
        let opened = at("2027-03-23T08:00:00Z");
        let mut t = ticket(SupportPlan::Basic, Some(Impact::Critical), opened);
        t.status = Status::Resolved;
        t.resolved_at = Some(opened);
        assert_eq!(t.auto_close_at(), None);
        t.rca = Some(Sealed::from_stored("x"));
        assert_eq!(t.auto_close_at(), Some(at("2027-03-30T08:00:00Z")));
    }

    #[test]
    fn ids_made_at_one_account_instant_keep_the_order_they_were_made_in() {
        use crate::account::ordered_id;
        let frozen = at("2027-03-23T08:00:00Z");
        let real = at("2026-11-25T15:00:00Z");
        let ids: Vec<String> = (0..50)
            .map(|i| ordered_id("msg", frozen, real + SignedDuration::from_micros(i)))
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        // The account's time comes first.
        let later = ordered_id("msg", frozen + SignedDuration::from_millis(1), real);
        assert!(later > ids[49]);
    }

    #[test]
    fn closed_tickets_are_pseudonymised_24_months_later() {
        let opened = at("2027-03-23T08:00:00Z");
        let mut t = ticket(SupportPlan::Basic, None, opened);
        t.status = Status::Closed;
        t.closed_at = Some(at("2027-04-02T10:00:00Z"));
        assert_eq!(t.pseudonymise_at(), Some(at("2029-04-02T10:00:00Z")));
        assert_eq!(
            t.next_check(&paris(), opened),
            Some(at("2029-04-02T10:00:00Z"))
        );
    }
}
