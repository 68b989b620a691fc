//! The support desk's tickets (support.md): a ticket with its messages, kept in its account's
//! records under the account's key (the adapter seals and opens; the use cases see them in
//! clear), found by id or number without knowing the account, opened and changed each in one
//! write only if unchanged since read, and in the SLA run's index at their next check.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use softbrik_domain::account::{SupportPlan, User};
use softbrik_domain::business_hours::BusinessHours;
use softbrik_domain::inbound::ticket_reference;
use softbrik_domain::sla::Priority;
use softbrik_domain::ticket::{Channel, Impact, Status, TicketLife};
use softbrik_domain::values::Language;

use crate::error::Error;
use crate::ports::team::{Answering, Read, Stamp};

/// The pseudo-account security reports belong to (support.md "Email to ticket"): anyone may
/// send one, so it is under a platform key, in Softbrik's own business hours.
pub const SECURITY_ACCOUNT: &str = "security";

/// What the desk needs to know of the account a ticket belongs to: its language, business
/// hours, support plan and clock.
#[derive(Debug, Clone)]
pub struct Desk {
    pub account_id: String,
    pub language: Language,
    pub hours: BusinessHours,
    pub plan: SupportPlan,
    pub test_clock_id: Option<String>,
    /// The account is closed: its users no longer write to support.
    pub closed: bool,
    /// The time on the account's clock when the desk was read.
    pub now: Timestamp,
    /// The adapter's own: what it needs to seal and open the account's tickets (its key).
    pub stamp: Stamp,
}

/// Who asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Requester {
    /// A user of the account.
    pub fn user(user: &User) -> Requester {
        Requester {
            user_id: Some(user.id.clone()),
            name: Some(user.name.as_str().to_string()),
            email: Some(user.email.as_str().to_string()),
        }
    }

    pub fn nobody() -> Requester {
        Requester {
            user_id: None,
            name: None,
            email: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorKind {
    Customer,
    Support,
    System,
}

/// A file of a message, kept as a blob under `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub key: String,
}

/// A ticket, in clear.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub id: String,
    pub account_id: String,
    pub number: u64,
    pub channel: Channel,
    pub impact: Option<Impact>,
    pub requester: Requester,
    pub subject: String,
    /// The root-cause analysis, once written (its date is in the life).
    pub rca: Option<String>,
    pub test_clock_id: Option<String>,
    pub updated_at: Timestamp,
    /// Status, priority, targets and their events: the rules live with them in the domain.
    pub life: TicketLife,
}

impl Ticket {
    /// The tracking number customers see (`SB-000123`).
    pub fn reference(&self) -> String {
        ticket_reference(self.number)
    }
}

/// A message of a ticket, in clear.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: String,
    pub ticket_id: String,
    pub at: Timestamp,
    pub author: AuthorKind,
    pub author_user_id: Option<String>,
    pub author_name: Option<String>,
    /// Seen by the customer (else an internal note of the team).
    pub public: bool,
    /// Automatic mail (an out-of-office reply): recorded, never answered.
    pub automatic: bool,
    pub body: String,
    pub attachments: Vec<Attachment>,
}

/// Which tickets a list is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// Every ticket, newest first: the support team's queue.
    Queue,
    /// An account's, newest first; only those `requester` opened when given.
    Account {
        account_id: String,
        requester: Option<String>,
    },
}

/// The filters of a list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub priority: Option<Priority>,
}

/// A page of a list: each ticket with its account's desk (the queue spans accounts), and the
/// cursor of the next page.
#[derive(Debug, Clone)]
pub struct TicketPage {
    pub tickets: Vec<(Arc<Desk>, Ticket)>,
    pub next: Option<String>,
}

/// What a ticket's write records besides the ticket and its message.
pub enum With<'a> {
    /// A request's answer, for its `Idempotency-Key` (none without a key).
    Answer(Option<Answering<'a>>),
    /// The claim on the inbound mail the message came in (`mail`: the claim's key), written
    /// only if no other delivery of the same mail claimed it.
    Mail(&'a str),
}

/// What became of a ticket's write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Done,
    /// The ticket changed since read: nothing was written.
    Changed,
    /// The inbound mail was claimed by another delivery: nothing was written.
    MailClaimed,
}

#[async_trait]
pub trait TicketTable: Send + Sync {
    /// The desk of `account_id` (or of [`SECURITY_ACCOUNT`]); `NotFound` without the account.
    async fn desk(&self, account_id: &str) -> Result<Desk, Error>;

    /// The account a ticket is in, found by its id or its number, without knowing the account
    /// (the support team, replies by mail).
    async fn account_of(&self, ticket: TicketRef<'_>) -> Result<Option<(String, String)>, Error>;

    /// A ticket of the desk's account, with the stamp [`TicketTable::save`] needs.
    async fn ticket(&self, desk: &Desk, ticket_id: &str) -> Result<Option<Read<Ticket>>, Error>;

    /// A ticket's messages, oldest first.
    async fn messages(&self, desk: &Desk, ticket: &Ticket) -> Result<Vec<Message>, Error>;

    /// A user of the desk's account (to name the requester of a ticket they open).
    async fn user(&self, desk: &Desk, user_id: &str) -> Result<Option<User>, Error>;

    /// The next ticket number: numbers are unique, and one taken by a request that then failed
    /// is simply not used.
    async fn next_number(&self) -> Result<u64, Error>;

    /// Stores a new ticket with its first message and `with`, in one write, in the SLA run's
    /// index at its first check. A ticket id already used is an internal error (ids are made
    /// unique).
    async fn open(
        &self,
        desk: &Desk,
        ticket: &Ticket,
        message: &Message,
        with: With<'_>,
    ) -> Result<Written, Error>;

    /// Stores `ticket` as changed from the version read as `read`, with its new message and
    /// `with`, in one write, and puts it in the SLA run's index at its next check from
    /// `ticket.updated_at`.
    async fn save(
        &self,
        desk: &Desk,
        read: &Stamp,
        ticket: &Ticket,
        message: Option<&Message>,
        with: With<'_>,
    ) -> Result<Written, Error>;

    /// A page of at most `limit` tickets of `listing`, from after `next` (a cursor of an
    /// earlier page of the same listing, else a validation error on `next`).
    async fn list(
        &self,
        listing: &Listing,
        filter: ListFilter,
        limit: u32,
        next: Option<&str>,
    ) -> Result<TicketPage, Error>;

    /// Every ticket of the desk's account (the monthly report).
    async fn all(&self, desk: &Desk) -> Result<Vec<Ticket>, Error>;

    /// A stable pseudonym for `who` (an address or a user id), which does not reveal it.
    async fn pseudonym(&self, who: &str) -> Result<String, Error>;

    /// Deletes `messages` of a ticket (pseudonymisation), however many.
    async fn forget(&self, desk: &Desk, messages: &[Message]) -> Result<(), Error>;
}

/// How a ticket is named from outside its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketRef<'a> {
    Id(&'a str),
    Number(u64),
}

/// Where attachments are kept.
#[async_trait]
pub trait Blobs: Send + Sync {
    /// A link to download the blob under `key` as `filename`, and when it expires.
    async fn link(&self, key: &str, filename: &str) -> Result<(String, Timestamp), Error>;

    /// Keeps `bytes` under `key` (encrypted at rest).
    async fn put(&self, key: &str, content_type: &str, bytes: &[u8]) -> Result<(), Error>;

    /// Deletes the blob under `key` (nothing if it is gone already).
    async fn delete(&self, key: &str) -> Result<(), Error>;
}
