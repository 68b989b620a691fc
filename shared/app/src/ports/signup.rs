//! What a signup needs besides the team's ports: the clock it runs on (a test clock can be
//! named), the rate limit of signup attempts, the catalogue, the new account's data key, and
//! the account created with everything it starts with in one transaction.

use async_trait::async_trait;
use jiff::Timestamp;
use softbrik_domain::account::{Account, HistoryEntry, Invoice, User};
use softbrik_domain::catalogue::Brik;
use softbrik_domain::values::{Country, EmailAddress};

use crate::error::Error;
use crate::ports::team::{Answering, Committed, Stamp};

/// A new account, with its admin, its first invoice (a company's: none for a reseller) and
/// its history's first entry.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub account: Account,
    pub admin: User,
    pub invoice: Option<Invoice>,
    pub history: (String, HistoryEntry),
    /// What the Brik modules are told (events.md), recorded with the account.
    pub events: Vec<softbrik_domain::events::Event>,
    pub at: Timestamp,
}

#[async_trait]
pub trait SignupTable: Send + Sync {
    /// The time on `test_clock_id` (`NotFound` without it), or the real time.
    async fn now_on(&self, test_clock_id: Option<&str>) -> Result<Timestamp, Error>;

    /// Counts the signup attempt `attempt` from `client_address` (when known) and for the
    /// domain of `email`, or refuses it (`Error::Throttled`) past the hour's limits.
    async fn admit(
        &self,
        client_address: Option<&str>,
        email: &EmailAddress,
        attempt: &str,
    ) -> Result<(), Error>;

    /// The Briks sold.
    async fn catalogue(&self) -> Result<Vec<Brik>, Error>;

    /// The country Softbrik invoices from (VAT).
    fn issuer(&self) -> Country;

    /// A new data key for the account `account_id`, stored with it by [`SignupTable::create`]
    /// (the adapter's own).
    async fn new_key(&self, account_id: &str) -> Result<Stamp, Error>;

    /// Stores the new account in one transaction: the claim on the admin's address (taken:
    /// `Error::EmailTaken`, nothing written), the account, its key, the admin, the history,
    /// the billing runs' schedules, a reseller's count of active users, the invoice with the
    /// next number (its charge struck off the book), and the answer when there is one.
    async fn create(
        &self,
        key: &Stamp,
        new: NewAccount,
        answer: Option<Answering<'_>>,
    ) -> Result<Committed, Error>;
}
