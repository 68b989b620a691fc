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
use jiff::Timestamp;
use jiff::tz::TimeZone;
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
use crate::sla::{Priority, TargetName};
use crate::store::account_pk;
pub use crate::ticket::{
    AUTO_CLOSE, Change, Channel, Impact, Kind, P1_UPDATE_EVERY, REOPEN_WINDOW, RETENTION_MONTHS,
    SECURITY_ACKNOWLEDGE, SlaEvent, Status, TicketLife, ceil_second,
};
use crate::values::{Country, Language, TimeZoneName};

/// The pseudo-account security reports belong to (support.md "Email to ticket").
pub const SECURITY_ACCOUNT: &str = "security";
/// `gsi1` partition of every ticket, newest first: the support team's queue.
pub const QUEUE: &str = "TICKETS";
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
    pub channel: Channel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<Impact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_user_id: Option<String>,
    pub requester: Sealed,
    pub subject: Sealed,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_clock_id: Option<String>,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rca: Option<Sealed>,
    /// Status, priority, targets and their events: the rules live with them in the domain.
    #[serde(flatten)]
    pub life: TicketLife,
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
        let life = TicketLife::open(opening.kind, opening.impact, desk.plan, at);
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
            channel: opening.channel,
            impact: opening.impact,
            requester_user_id: opening.requester.user_id.clone(),
            requester,
            subject,
            test_clock_id: desk.test_clock_id.clone(),
            updated_at: at,
            rca: None,
            life,
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

    /// Puts the ticket in the due-date index at its next check, or takes it out. The index
    /// holds whole seconds: an instant is rounded up, so a run at the indexed second finds
    /// it due (never a run that finds nothing and puts it back at the same second).
    pub fn reindex(&mut self, hours: &BusinessHours, now: Timestamp) {
        match self.life.next_check(hours, now).map(ceil_second) {
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

impl crate::schedule::Due for TicketItem {
    /// Most checks of a ticket open nothing, and a security report is under no account's key:
    /// the key of a ticket's account is read when a check needs it.
    fn account_to_open(&self) -> Option<&str> {
        None
    }
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
                &format!("{:?}", ticket.life.priority),
                plan_name(ticket.life.plan),
                &ticket.account_id,
                target,
                &due.to_string(),
            );
            tracing::warn!(target, %due, "sla target breached");
            if ticket.life.plan == SupportPlan::Enterprise && ticket.life.priority == Priority::P1 {
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
    ticket.life.pseudonymised = true;
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

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_ticket_is_stored_with_its_life_in_the_same_attributes_as_before() {
        let opened = at("2027-03-23T08:00:00Z");
        let mut life =
            TicketLife::open(Kind::Support, Some(Impact::High), SupportPlan::Pro, opened);
        life.pause(at("2027-03-23T09:00:00Z"));
        let ticket = TicketItem {
            pk: account_pk("a"),
            sk: ticket_sk("tkt_1"),
            gsi1pk: QUEUE.into(),
            gsi1sk: String::new(),
            gsi2pk: None,
            gsi2sk: None,
            id: "tkt_1".into(),
            account_id: "a".into(),
            number: 7,
            channel: Channel::Web,
            impact: Some(Impact::High),
            requester_user_id: None,
            requester: Sealed::from_stored("v2:requester"),
            subject: Sealed::from_stored("v2:subject"),
            test_clock_id: None,
            updated_at: opened,
            rca: None,
            life,
            version: 3,
        };
        let item: std::collections::HashMap<String, AttributeValue> =
            serde_dynamo::to_item(&ticket).unwrap();
        for attribute in [
            "status",
            "priority",
            "plan",
            "kind",
            "created_at",
            "targets",
            "events",
            "number",
            "version",
        ] {
            assert!(item.contains_key(attribute), "{attribute} at the top level");
        }
        assert!(!item.contains_key("life"));
        assert_eq!(item["status"], AttributeValue::S("pending_customer".into()));
        let back: TicketItem = serde_dynamo::from_item(item).unwrap();
        assert_eq!(back.life, ticket.life);
        assert_eq!(back.number, 7);
        assert_eq!(back.version, 3);
    }

    #[test]
    fn ids_made_at_one_account_instant_keep_the_order_they_were_made_in() {
        use crate::account::ordered_id;
        use jiff::SignedDuration;
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
}
