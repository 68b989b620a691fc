//! The account item: read alone (a settings change needs nothing else), and written back whole
//! with its history entries, only if nobody wrote it since it was read.

use async_trait::async_trait;
use softbrik_domain::account::{Account, HistoryEntry};

use crate::error::Error;
use crate::ports::team::Read;

/// What a change of the account does to its billing runs' schedules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reschedule {
    /// Nothing: the jobs due stay as they are.
    Keep,
    /// The runners look at the account again now (its midnight moved, maybe earlier).
    Recheck,
    /// A new calendar from now: what the old one had due is not due any more.
    Restart,
}

/// A change of the account: the account as changed, its history, its schedules.
#[derive(Debug, Clone)]
pub struct AccountChange {
    pub account: Account,
    pub history: Vec<(String, HistoryEntry)>,
    pub reschedule: Reschedule,
    /// When it is made (the schedules' new instant).
    pub at: jiff::Timestamp,
    /// The events it makes (events.md: a lapsed account renewed is reactivated).
    pub events: Vec<softbrik_domain::events::Event>,
}

#[async_trait]
pub trait AccountTable: Send + Sync {
    /// The account; `NotFound` without it.
    async fn account(&self, account_id: &str) -> Result<Read<Account>, Error>;

    /// Stores `change` in one transaction, keeping what only the billing runs set (the date
    /// it became past due); `Refusal::ConcurrentChange` when the account changed since
    /// `read`: nothing is written.
    async fn save(&self, read: &Read<Account>, change: AccountChange) -> Result<(), Error>;

    /// Whether a reseller has client accounts (whose service it pays for).
    async fn has_clients(&self, reseller: &Account) -> Result<bool, Error>;
}
