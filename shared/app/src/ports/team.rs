//! An account's team as stored: the account and its users, read together, and the changes
//! written back in one transaction, each record only if it is still as read.

use std::any::Any;
use std::sync::Arc;

use std::collections::BTreeMap;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;
use softbrik_domain::account::{Account, HistoryEntry, Invoice, User};
use softbrik_domain::money::Money;
use softbrik_domain::values::{BrikId, Country, EmailAddress};

use crate::error::Error;

/// What an adapter needs to write a record back only if nobody changed it since it was read
/// (a DynamoDB item with its version, an in-memory version number). Only the adapter that
/// made it looks inside.
#[derive(Clone)]
pub struct Stamp(Arc<dyn Any + Send + Sync>);

impl Stamp {
    pub fn new<T: Any + Send + Sync>(value: T) -> Self {
        Stamp(Arc::new(value))
    }

    /// What the adapter put in; an internal error for another adapter's stamp (a stamp
    /// handed to the wrong adapter is a bug, never a customer's doing).
    pub fn get<T: Any>(&self) -> Result<&T, Error> {
        self.0
            .downcast_ref()
            .ok_or_else(|| Error::internal("a stamp of another adapter"))
    }
}

impl std::fmt::Debug for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stamp")
    }
}

/// A record as read, with its stamp.
#[derive(Debug, Clone)]
pub struct Read<T> {
    pub value: T,
    pub stamp: Stamp,
}

/// An account and all its users (removed ones too, until their removal is applied), as one
/// consistent read saw them.
#[derive(Debug, Clone)]
pub struct TeamRecords {
    pub account: Account,
    pub users: Vec<Read<User>>,
    /// The country Softbrik invoices from (VAT).
    pub issuer: Country,
    /// The adapter's own: what it needs to write to this account (its data key).
    pub stamp: Stamp,
}

/// One write of a team change.
#[derive(Debug, Clone)]
pub enum TeamWrite {
    /// The user as changed, written only if unchanged since `read`.
    User { user: User, read: Stamp },
    /// The user deleted, with the claim on their address, only if unchanged since `read`.
    Removed { user: User, read: Stamp },
    /// A new entry of the account's history.
    History { id: String, entry: HistoryEntry },
    /// A new member of the team, with their sign-in (`sub`, the directory's id) and the claim
    /// on their address, which is written only if no account holds it (else
    /// `Error::EmailTaken`).
    Joined { user: User, sub: String },
    /// The account's invoice as a credit note leaves it (what is credited, void when unpaid
    /// and credited in full), only if what was credited is still `before`.
    Credited { invoice: Invoice, before: Money },
    /// A free seat of a seat pack for `brik` taken: written only if no other change took one
    /// since the team was read (the holders were counted from that read).
    SeatTaken { brik: BrikId },
}

/// A team change: its writes, stored together or not at all.
#[derive(Debug, Clone)]
pub struct TeamChange {
    pub writes: Vec<TeamWrite>,
    /// The events it makes (events.md), recorded with it and told the Brik modules after.
    pub events: Vec<softbrik_domain::events::Event>,
    /// The invoice that pays for it, stored with the next gapless number (and its charge
    /// struck off the book of pending charges).
    pub invoice: Option<Invoice>,
    /// How many more active users the account's reseller is billed for (a client account's
    /// change; 0 otherwise), counted in the same transaction at `at`.
    pub counted: i64,
    pub at: Timestamp,
}

/// The answer a change records for its `Idempotency-Key`, in its own transaction: built from
/// the invoice as numbered.
pub struct Answering<'a> {
    /// The request's lease (`idempotency::Lease::held`).
    pub lease: &'a Stamp,
    pub status: u16,
    pub body: &'a (dyn Fn(Option<&Invoice>) -> Result<serde_json::Value, Error> + Send + Sync),
}

/// What a change stored: its invoice as numbered, and its recorded answer.
#[derive(Debug, Clone, Default)]
pub struct Committed {
    pub invoice: Option<Invoice>,
    pub answer: Option<serde_json::Value>,
}

#[async_trait]
pub trait TeamTable: Send + Sync {
    /// The account and its users; `NotFound` without the account.
    async fn team(&self, account_id: &str) -> Result<TeamRecords, Error>;

    /// Stores `change` in one transaction, with its answer when it has one. A record changed
    /// since it was read refuses the whole change (`Refusal::ConcurrentChange`): nothing is
    /// written.
    async fn commit(
        &self,
        team: &TeamRecords,
        change: TeamChange,
        answer: Option<Answering<'_>>,
    ) -> Result<Committed, Error>;

    /// Whether an account (any) already has a user with this address.
    async fn address_taken(&self, email: &EmailAddress) -> Result<bool, Error>;

    /// The seats the account's seat packs give on `day`, per Brik (from the records read).
    async fn seats_on(&self, team: &TeamRecords, day: Date)
    -> Result<BTreeMap<BrikId, u32>, Error>;

    /// Whether `user`'s address is on the account's directory deny list (a client account's
    /// directory sync cannot make them active).
    async fn denied(&self, team: &TeamRecords, user: &Read<User>) -> Result<bool, Error>;

    /// The time on the account's clock: the real time, or its test clock's.
    async fn now_for(&self, account: &Account) -> Result<Timestamp, Error>;
}
