//! The support desk's tickets on DynamoDB (the `TicketTable` port of `softbrik_app`), their
//! attachments in S3 (the `Blobs` port), and the SLA run's entry point, which takes the tickets
//! due and checks each with `softbrik_app::support::check` (breaches, P1 update alerts, the
//! automatic close, pseudonymisation).
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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use softbrik_app::ports::team::{Read, Stamp};
use softbrik_app::ports::tickets::{Blobs, TicketPage, TicketTable};
use softbrik_app::support::{
    self, Attachment, AuthorKind, ListFilter, Listing, Message, Requester, Ticket, TicketRef, With,
    Written,
};

use crate::account::{SupportPlan, User};
use crate::app::App;
use crate::business_hours::BusinessHours;
use crate::clock::Clock;
use crate::crypto::{DataKey, Field, Sealed};
use crate::error::Error;
use crate::idempotency::answered;
use crate::inbound::ticket_reference;
use crate::refusal::Refusal;
use crate::schedule::{Runner, Scope, due_key};
use crate::store::{UserItem, account_pk, user_sk};
pub use crate::ticket::{
    AUTO_CLOSE, Change, Channel, Impact, Kind, P1_UPDATE_EVERY, REOPEN_WINDOW, RETENTION_MONTHS,
    SECURITY_ACKNOWLEDGE, SlaEvent, Status, TicketLife, ceil_second,
};
use crate::values::{Country, Language, TimeZoneName};

pub use softbrik_app::ports::tickets::SECURITY_ACCOUNT;

/// `gsi1` partition of every ticket, newest first: the support team's queue.
pub const QUEUE: &str = "TICKETS";
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

pub use softbrik_app::intake::attachments_prefix;

/// What sealing and opening an account's tickets needs: the account and its data key (the
/// port's [`support::Desk`] carries it in its stamp).
pub struct Seal {
    pub account_id: String,
    pub key: Arc<DataKey>,
}

impl Seal {
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

/// The desk of `account_id` (or of [`SECURITY_ACCOUNT`]).
pub async fn desk_of_account(app: &App, account_id: &str) -> Result<support::Desk, Error> {
    if account_id == SECURITY_ACCOUNT {
        return security_desk(app).await;
    }
    let (item, key) = app.account_item(account_id).await?;
    desk_of_item(app, item, key).await
}

/// The desk of an account item already read (and its key): its language, its business hours
/// (its time zone, its country's holidays), the plan in force for its standing, its clock.
pub async fn desk_of_item(
    app: &App,
    item: crate::store::AccountItem,
    key: Arc<DataKey>,
) -> Result<support::Desk, Error> {
    let zone = TimeZoneName::parse(&item.timezone).map_err(Error::internal)?;
    let country = Country::parse(&item.country).map_err(Error::internal)?;
    let now = app.clock(item.test_clock_id.as_deref()).await?.now();
    Ok(support::Desk {
        language: item.language,
        hours: BusinessHours::new(zone.time_zone(), country),
        plan: item.status.support_plan(item.support_plan),
        closed: item.status == crate::account::AccountStatus::Closed,
        test_clock_id: item.test_clock_id,
        now,
        stamp: Stamp::new(Seal {
            account_id: item.id.clone(),
            key,
        }),
        account_id: item.id,
    })
}

/// Security reports: Softbrik's own business hours (the issuer's country), in English, under
/// the platform's key.
async fn security_desk(app: &App) -> Result<support::Desk, Error> {
    let country = app.config.issuer_country;
    let zone = match country.code() {
        "FR" => "Europe/Paris",
        _ => "Europe/Copenhagen",
    };
    Ok(support::Desk {
        account_id: SECURITY_ACCOUNT.into(),
        language: Language::En,
        hours: BusinessHours::new(TimeZone::get(zone).map_err(Error::internal)?, country),
        plan: SupportPlan::Basic,
        test_clock_id: None,
        closed: false,
        now: app.system_clock.now(),
        stamp: Stamp::new(Seal {
            account_id: SECURITY_ACCOUNT.into(),
            key: app.security_key().await?,
        }),
    })
}

/// The seal a port's desk carries.
pub fn sealing(desk: &support::Desk) -> Result<&Seal, Error> {
    desk.stamp.get::<Seal>()
}

fn requester_json(requester: &Requester) -> Result<String, Error> {
    serde_json::to_string(requester).map_err(Error::internal)
}

impl TicketItem {
    /// A new ticket's item, sealed, in the due-date index at its first check.
    pub fn new(desk: &support::Desk, ticket: &Ticket) -> Result<TicketItem, Error> {
        let seal = sealing(desk)?;
        let (pk, sk) = (account_pk(&ticket.account_id), ticket_sk(&ticket.id));
        let item = (pk.as_str(), sk.as_str());
        let requester = seal.seal(
            item,
            "ticket_requester",
            &requester_json(&ticket.requester)?,
        );
        let subject = seal.seal(item, "ticket_subject", &ticket.subject);
        let rca = ticket
            .rca
            .as_ref()
            .map(|rca| seal.seal(item, "ticket_rca", rca));
        let mut item = TicketItem {
            gsi1pk: QUEUE.into(),
            gsi1sk: format!("{}#{}", due_key(ticket.life.created_at), ticket.id),
            gsi2pk: None,
            gsi2sk: None,
            id: ticket.id.clone(),
            account_id: ticket.account_id.clone(),
            number: ticket.number,
            channel: ticket.channel,
            impact: ticket.impact,
            requester_user_id: ticket.requester.user_id.clone(),
            requester,
            subject,
            test_clock_id: ticket.test_clock_id.clone(),
            updated_at: ticket.updated_at,
            rca,
            life: ticket.life.clone(),
            version: 1,
            pk,
            sk,
        };
        item.reindex(&desk.hours, ticket.updated_at);
        Ok(item)
    }

    /// The ticket in clear.
    pub fn opened(&self, desk: &Seal) -> Result<Ticket, Error> {
        let item = (self.pk.as_str(), self.sk.as_str());
        let requester = desk.open(item, "ticket_requester", &self.requester)?;
        Ok(Ticket {
            id: self.id.clone(),
            account_id: self.account_id.clone(),
            number: self.number,
            channel: self.channel,
            impact: self.impact,
            requester: serde_json::from_str(&requester).map_err(Error::internal)?,
            subject: desk.open(item, "ticket_subject", &self.subject)?,
            rca: self
                .rca
                .as_ref()
                .map(|rca| desk.open(item, "ticket_rca", rca))
                .transpose()?,
            test_clock_id: self.test_clock_id.clone(),
            updated_at: self.updated_at,
            life: self.life.clone(),
        })
    }

    /// This item (read as `was`) changed to `ticket`: what changed sealed again, one version
    /// more, back in the index at its next check from `ticket.updated_at`.
    fn changed(
        &self,
        desk: &support::Desk,
        was: &Ticket,
        ticket: &Ticket,
    ) -> Result<TicketItem, Error> {
        let seal = sealing(desk)?;
        let mut next = self.clone();
        let item = (self.pk.as_str(), self.sk.as_str());
        if ticket.requester != was.requester {
            let json = requester_json(&ticket.requester)?;
            next.requester = seal.seal(item, "ticket_requester", &json);
        }
        if ticket.subject != was.subject {
            next.subject = seal.seal(item, "ticket_subject", &ticket.subject);
        }
        if ticket.rca != was.rca {
            next.rca = ticket
                .rca
                .as_ref()
                .map(|rca| seal.seal(item, "ticket_rca", rca));
        }
        next.requester_user_id = ticket.requester.user_id.clone();
        next.impact = ticket.impact;
        next.life = ticket.life.clone();
        next.updated_at = ticket.updated_at;
        next.version = self.version + 1;
        next.reindex(&desk.hours, ticket.updated_at);
        Ok(next)
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
}

impl MessageItem {
    /// A message's item, sealed.
    pub fn new(desk: &Seal, message: &Message) -> MessageItem {
        let pk = account_pk(&desk.account_id);
        let sk = format!("{}{}", messages_prefix(&message.ticket_id), message.id);
        let item = (pk.as_str(), sk.as_str());
        MessageItem {
            id: message.id.clone(),
            ticket_id: message.ticket_id.clone(),
            at: message.at,
            author: message.author,
            author_user_id: message.author_user_id.clone(),
            author_name: message
                .author_name
                .as_ref()
                .map(|n| desk.seal(item, "message_author", n)),
            public: message.public,
            automatic: message.automatic,
            body: desk.seal(item, "message_body", &message.body),
            attachments: message
                .attachments
                .iter()
                .map(|a| AttachmentItem::new(desk, a))
                .collect(),
            pk,
            sk,
        }
    }

    /// The message in clear.
    pub fn opened(&self, desk: &Seal) -> Result<Message, Error> {
        let item = (self.pk.as_str(), self.sk.as_str());
        Ok(Message {
            id: self.id.clone(),
            ticket_id: self.ticket_id.clone(),
            at: self.at,
            author: self.author,
            author_user_id: self.author_user_id.clone(),
            author_name: self
                .author_name
                .as_ref()
                .map(|n| desk.open(item, "message_author", n))
                .transpose()?,
            public: self.public,
            automatic: self.automatic,
            body: desk.open(item, "message_body", &self.body)?,
            attachments: self
                .attachments
                .iter()
                .map(|a| a.opened(desk))
                .collect::<Result<_, _>>()?,
        })
    }
}

impl AttachmentItem {
    pub fn new(desk: &Seal, attachment: &Attachment) -> AttachmentItem {
        AttachmentItem {
            id: attachment.id.clone(),
            filename: desk.seal(
                attachment_item(&attachment.key),
                "attachment_name",
                &attachment.filename,
            ),
            content_type: attachment.content_type.clone(),
            size: attachment.size,
            key: attachment.key.clone(),
        }
    }

    pub fn opened(&self, desk: &Seal) -> Result<Attachment, Error> {
        Ok(Attachment {
            id: self.id.clone(),
            filename: desk.open(
                attachment_item(&self.key),
                "attachment_name",
                &self.filename,
            )?,
            content_type: self.content_type.clone(),
            size: self.size,
            key: self.key.clone(),
        })
    }
}

/// The writes that open `ticket` with its first message and its two pointers, for one
/// transaction (the caller adds its own: an answer, the inbound mail's claim, a pack change).
pub fn open_ops(
    app: &App,
    desk: &support::Desk,
    ticket: &Ticket,
    message: &Message,
) -> Result<Vec<TransactWriteItem>, Error> {
    let item = TicketItem::new(desk, ticket)?;
    let store = &app.store;
    let mut ops = vec![
        store.put_new_op(&item)?,
        store.put_new_op(&MessageItem::new(sealing(desk)?, message))?,
        store.put_new_op(&item.pointer(id_pointer_pk(&item.id)))?,
        store.put_new_op(&item.pointer(number_pointer_pk(item.number)))?,
    ];
    // The Brik modules are told (events.md), with the ticket.
    let opened = softbrik_domain::events::ticket_opened(&ticket.id, &ticket.life);
    ops.extend(crate::events::outbox_ops(
        app,
        &softbrik_app::events::of_ticket(ticket, opened),
    )?);
    Ok(ops)
}

/// Adds to `ops` what a ticket's write records besides it: the answer of its request, or the
/// claim on its inbound mail (whose index it answers, to tell a duplicate delivery).
fn recorded_with(
    app: &App,
    desk: &support::Desk,
    with: With<'_>,
    ops: &mut Vec<TransactWriteItem>,
) -> Result<Option<usize>, Error> {
    match with {
        With::Answer(answer) => {
            let key = &sealing(desk)?.key;
            let answered = answered(app, answer.as_ref(), &desk.account_id, key, None)?;
            if let Some((_, recorded)) = answered {
                ops.extend(recorded);
            }
            Ok(None)
        }
        With::Mail(claim) => {
            ops.push(crate::intake::claim_op(app, claim)?);
            Ok(Some(ops.len() - 1))
        }
    }
}

/// A ticket as read: its item, and what it said in clear (to seal again only what changed).
struct TicketRead {
    item: TicketItem,
    was: Ticket,
}

fn read_ticket(desk: &Seal, item: TicketItem) -> Result<Read<Ticket>, Error> {
    let was = item.opened(desk)?;
    Ok(Read {
        value: was.clone(),
        stamp: Stamp::new(TicketRead { item, was }),
    })
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

/// The tickets on DynamoDB: a ticket and its messages in its account's partition, sealed
/// under the account's key; its two pointers; the queue (`gsi1`); the due-date index
/// (`gsi2`).
#[async_trait]
impl TicketTable for App {
    async fn desk(&self, account_id: &str) -> Result<support::Desk, Error> {
        desk_of_account(self, account_id).await
    }

    async fn account_of(&self, ticket: TicketRef<'_>) -> Result<Option<(String, String)>, Error> {
        let pk = match ticket {
            TicketRef::Id(id) => id_pointer_pk(id),
            TicketRef::Number(n) => number_pointer_pk(n),
        };
        Ok(find_pointer(self, &pk)
            .await?
            .map(|p| (p.account_id, p.ticket_id)))
    }

    async fn ticket(
        &self,
        desk: &support::Desk,
        ticket_id: &str,
    ) -> Result<Option<Read<Ticket>>, Error> {
        let item: Option<TicketItem> = self
            .store
            .get(&account_pk(&desk.account_id), &ticket_sk(ticket_id))
            .await?;
        item.map(|item| read_ticket(sealing(desk)?, item))
            .transpose()
    }

    async fn messages(&self, desk: &support::Desk, ticket: &Ticket) -> Result<Vec<Message>, Error> {
        let items: Vec<MessageItem> = self
            .store
            .query_prefix(&account_pk(&desk.account_id), &messages_prefix(&ticket.id))
            .await?;
        let keys = sealing(desk)?;
        items.iter().map(|m| m.opened(keys)).collect()
    }

    async fn user(&self, desk: &support::Desk, user_id: &str) -> Result<Option<User>, Error> {
        let item: Option<UserItem> = self
            .store
            .get(&account_pk(&desk.account_id), &user_sk(user_id))
            .await?;
        let keys = sealing(desk)?;
        item.map(|item| item.open(&desk.account_id, &keys.key))
            .transpose()
    }

    async fn next_number(&self) -> Result<u64, Error> {
        next_number(self).await
    }

    async fn open(
        &self,
        desk: &support::Desk,
        ticket: &Ticket,
        message: &Message,
        with: With<'_>,
    ) -> Result<Written, Error> {
        let mut ops = open_ops(self, desk, ticket, message)?;
        let claimed = recorded_with(self, desk, with, &mut ops)?;
        match self.store.transact(ops).await {
            Ok(()) => {
                if softbrik_domain::events::ticket_opened(&ticket.id, &ticket.life).is_some() {
                    crate::events::publish_account(self, &ticket.account_id).await;
                }
                Ok(Written::Done)
            }
            Err(e) if claimed.is_some_and(|i| e.condition_failed(i)) => Ok(Written::MailClaimed),
            Err(e) => Err(e.into_error(|_| Error::internal("new ticket id collision"))),
        }
    }

    async fn save(
        &self,
        desk: &support::Desk,
        read: &Stamp,
        ticket: &Ticket,
        message: Option<&Message>,
        with: With<'_>,
    ) -> Result<Written, Error> {
        let TicketRead { item, was } = read.get::<TicketRead>()?;
        let next = item.changed(desk, was, ticket)?;
        let mut ops = vec![self.store.put_if_version_op(&next, item.version)?];
        if let Some(message) = message {
            let message = MessageItem::new(sealing(desk)?, message);
            ops.push(self.store.put_new_op(&message)?);
        }
        let claimed = recorded_with(self, desk, with, &mut ops)?;
        let breached = softbrik_domain::events::sla_breached(&ticket.id, &was.life, &ticket.life);
        let events = softbrik_app::events::of_ticket(ticket, breached);
        ops.extend(crate::events::outbox_ops(self, &events)?);
        match self.store.transact(ops).await {
            Ok(()) => {
                if !events.is_empty() {
                    crate::events::publish_account(self, &ticket.account_id).await;
                }
                Ok(Written::Done)
            }
            Err(e) if e.condition_failed(0) => Ok(Written::Changed),
            Err(e) if claimed.is_some_and(|i| e.condition_failed(i)) => Ok(Written::MailClaimed),
            Err(e) => Err(e.into_error(|_| {
                Error::Refused(Refusal::TicketChanged("the ticket changed; retry"))
            })),
        }
    }

    async fn list(
        &self,
        listing: &Listing,
        filter: ListFilter,
        limit: u32,
        next: Option<&str>,
    ) -> Result<TicketPage, Error> {
        list(self, listing, filter, limit, next).await
    }

    async fn all(&self, desk: &support::Desk) -> Result<Vec<Ticket>, Error> {
        let items: Vec<TicketItem> = self
            .store
            .query_prefix(&account_pk(&desk.account_id), "TICKET#")
            .await?;
        let keys = sealing(desk)?;
        items.iter().map(|t| t.opened(keys)).collect()
    }

    async fn pseudonym(&self, who: &str) -> Result<String, Error> {
        self.keyed_hash(who).await
    }

    async fn forget(&self, desk: &support::Desk, messages: &[Message]) -> Result<(), Error> {
        let pk = account_pk(&desk.account_id);
        let keys: Vec<(String, String)> = messages
            .iter()
            .map(|m| {
                let sk = format!("{}{}", messages_prefix(&m.ticket_id), m.id);
                (pk.clone(), sk)
            })
            .collect();
        for chunk in keys.chunks(25) {
            self.store.delete_batch(chunk).await?;
        }
        Ok(())
    }
}

/// Attachments in S3 (`attachments`).
#[async_trait]
impl Blobs for App {
    async fn link(&self, key: &str, filename: &str) -> Result<(String, Timestamp), Error> {
        crate::attachments::link(self, key, filename).await
    }

    async fn put(&self, key: &str, content_type: &str, bytes: &[u8]) -> Result<(), Error> {
        crate::attachments::put(self, key, content_type, bytes.to_vec()).await
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        crate::attachments::delete(self, key).await
    }
}

/// A page of a listing: the queue (`gsi1`, every ticket newest first) or an account's
/// (its partition, a member's own by a filter), filtered on status and priority.
async fn list(
    app: &App,
    listing: &Listing,
    filter: ListFilter,
    limit: u32,
    next: Option<&str>,
) -> Result<TicketPage, Error> {
    let mut filters = Vec::new();
    let mut values: HashMap<String, AttributeValue> = HashMap::new();
    let mut names: HashMap<String, String> = HashMap::new();
    if let Some(status) = filter.status {
        filters.push("#status = :status");
        names.insert("#status".into(), "status".into());
        values.insert(
            ":status".into(),
            AttributeValue::S(
                serde_json::to_value(status)
                    .map_err(Error::internal)?
                    .as_str()
                    .unwrap_or_default()
                    .into(),
            ),
        );
    }
    if let Some(priority) = filter.priority {
        filters.push("priority = :priority");
        values.insert(
            ":priority".into(),
            AttributeValue::S(format!("{priority:?}")),
        );
    }
    let mut request = app
        .store
        .client()
        .query()
        .table_name(app.store.table())
        .scan_index_forward(false)
        .limit(i32::try_from(limit).unwrap_or(i32::MAX));
    match listing {
        Listing::Queue => {
            request = request
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk");
            values.insert(":pk".into(), AttributeValue::S(QUEUE.into()));
        }
        Listing::Account {
            account_id,
            requester,
        } => {
            request = request.key_condition_expression("pk = :pk AND begins_with(sk, :prefix)");
            values.insert(":pk".into(), AttributeValue::S(account_pk(account_id)));
            values.insert(":prefix".into(), AttributeValue::S("TICKET#".into()));
            if let Some(user_id) = requester {
                filters.push("requester_user_id = :me");
                values.insert(":me".into(), AttributeValue::S(user_id.clone()));
            }
        }
    }
    if !filters.is_empty() {
        request = request.filter_expression(filters.join(" AND "));
    }
    if !names.is_empty() {
        request = request.set_expression_attribute_names(Some(names));
    }
    let start = next.map(|c| decode_cursor(c, listing)).transpose()?;
    let out = request
        .set_expression_attribute_values(Some(values))
        .set_exclusive_start_key(start)
        .send()
        .await
        .map_err(|e| {
            Error::unavailable(format!(
                "dynamodb Query tickets: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e.into_service_error())
            ))
        })?;
    let mut desks: HashMap<String, Arc<support::Desk>> = HashMap::new();
    let mut tickets = Vec::new();
    for item in out.items.unwrap_or_default() {
        let ticket: TicketItem = serde_dynamo::from_item(item)
            .map_err(|e| Error::internal(format!("stored ticket: {e}")))?;
        let desk = match desks.get(&ticket.account_id) {
            Some(desk) => desk.clone(),
            None => match desk_of_account(app, &ticket.account_id).await {
                Ok(desk) => {
                    let desk = Arc::new(desk);
                    desks.insert(ticket.account_id.clone(), desk.clone());
                    desk
                }
                // An account being closed: its tickets are on their way out.
                Err(Error::NotFound) => continue,
                Err(e) => return Err(e),
            },
        };
        let opened = ticket.opened(sealing(&desk)?)?;
        tickets.push((desk, opened));
    }
    let next = out
        .last_evaluated_key
        .filter(|k| !k.is_empty())
        .map(|k| encode_cursor(&k));
    Ok(TicketPage { tickets, next })
}

fn encode_cursor(key: &HashMap<String, AttributeValue>) -> String {
    use base64::Engine;
    let plain: BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str())))
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&plain).unwrap_or_default())
}

/// A cursor of this listing, or a 422: the keys must be the list's own.
fn decode_cursor(raw: &str, listing: &Listing) -> Result<HashMap<String, AttributeValue>, Error> {
    use base64::Engine;
    let bad = || Error::validation("next", "invalid_format", "not a cursor of this list");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| bad())?;
    let plain: BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let field = |name: &str| plain.get(name).map(String::as_str).unwrap_or_default();
    let valid_ticket = |sk: &str| sk.starts_with("TICKET#") && sk.len() <= 64;
    let ours = match listing {
        Listing::Queue => {
            plain.len() == 4
                && field("gsi1pk") == QUEUE
                && field("gsi1sk").len() <= 96
                && field("pk").starts_with("ACCOUNT#")
                && valid_ticket(field("sk"))
        }
        Listing::Account { account_id, .. } => {
            plain.len() == 2 && field("pk") == account_pk(account_id) && valid_ticket(field("sk"))
        }
    };
    if !ours {
        return Err(bad());
    }
    Ok(plain
        .into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
}

// --- The SLA run ------------------------------------------------------------------------

impl crate::schedule::Due for TicketItem {
    fn work(&self) -> (&str, &str) {
        (&self.account_id, &self.sk)
    }

    /// A security report is under no account's key: the key of a ticket's account is read
    /// with its desk.
    const OPENS_ACCOUNTS: bool = false;
}

/// Serves what the `tickets` function is invoked with besides its routes: the SLA run,
/// `{"run": "sla"}` (the schedule, live tickets) or a test clock's, fanned out to its queue
/// as the billing runs are (`crate::fan_out`), and a batch of that queue, each ticket due
/// checked by `softbrik_app::support::check`. `None`: another event.
pub async fn serve(
    app: &App,
    event: &serde_json::Value,
) -> Result<Option<serde_json::Value>, Error> {
    // Run in the worker's span of the account and the item (the ticket's key).
    let check_ticket = |account_id: String, sk: String, at: Timestamp| async move {
        let outcome = check_due(app, &account_id, &sk, at).await;
        if let Err(e) = &outcome {
            tracing::error!(error = %e, detail = e.detail(), "ticket check failed");
        }
        outcome
    };
    crate::fan_out::serve_items::<TicketItem, _, _>(app, Runner::Sla, event, check_ticket).await
}

/// Checks the ticket `sk` of `account_id` if it is still due at `at`: a message delivered
/// again, after the ticket was checked and its next instant set later, does nothing.
async fn check_due(app: &App, account_id: &str, sk: &str, at: Timestamp) -> Result<u32, Error> {
    let Some(ticket) = app
        .store
        .get::<TicketItem>(&account_pk(account_id), sk)
        .await?
    else {
        return Ok(0);
    };
    match &ticket.gsi2sk {
        Some(due) if *due <= due_key(at) => check(app, ticket, at).await,
        _ => Ok(0),
    }
}

async fn check(app: &App, ticket: TicketItem, at: Timestamp) -> Result<u32, Error> {
    let desk = match desk_of_account(app, &ticket.account_id).await {
        Ok(desk) => desk,
        // The account is being deleted; its tickets go with it.
        Err(Error::NotFound) => return Ok(0),
        Err(e) => return Err(e),
    };
    let read = read_ticket(sealing(&desk)?, ticket)?;
    support::check(&app.ports(), &desk, read, at).await
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
