//! A client account's directory sync as stored: its deny list (keyed hashes of the addresses,
//! never the addresses: the adapter hashes them), its SCIM bearer token (its hash only, a
//! lookup from it to the account, a new one replacing the previous one at once), and its users
//! as a directory reads them, as stored now (opened, with when they joined).

use async_trait::async_trait;
use jiff::Timestamp;
use softbrik_domain::account::{HistoryEntry, User};
use softbrik_domain::values::EmailAddress;

use crate::error::Error;
use crate::ports::team::{Answering, Stamp, TeamRecords};

/// A user as a directory sync reads them: in clear, with when they joined (none for users
/// made before it was kept).
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub user: User,
    pub created_at: Option<Timestamp>,
}

#[async_trait]
pub trait DirectorySyncTable: Send + Sync {
    /// Whether `email` is on the account's deny list (compared by its keyed hash).
    async fn denied(&self, team: &TeamRecords, email: &EmailAddress) -> Result<bool, Error>;

    /// Replaces the account's deny list with `emails`, stored as their keyed hashes, and
    /// writes the history entry, in one transaction.
    async fn put_deny_list(
        &self,
        team: &TeamRecords,
        emails: &[EmailAddress],
        history: (String, HistoryEntry),
    ) -> Result<(), Error>;

    /// The account's current SCIM token, if it has one: the stamp
    /// [`DirectorySyncTable::replace_token`] needs (nothing of the token is shown).
    async fn token(&self, team: &TeamRecords) -> Result<Option<Stamp>, Error>;

    /// Makes the token hashed as `token_hash` the account's (issued `at`), in one
    /// transaction with the history entry and the request's answer: the previous token,
    /// `previous` as read, stops finding the account in the same transaction. Another token
    /// made since `previous` was read refuses it (`Refusal::ConcurrentChange`): nothing is
    /// written.
    async fn replace_token(
        &self,
        team: &TeamRecords,
        token_hash: &str,
        previous: Option<&Stamp>,
        history: (String, HistoryEntry),
        at: Timestamp,
        answer: Option<Answering<'_>>,
    ) -> Result<(), Error>;

    /// The account whose current token is hashed as `token_hash`, if any.
    async fn account_of_token(&self, token_hash: &str) -> Result<Option<String>, Error>;

    /// A user of the account as stored now (removed ones too), if there is one.
    async fn user(&self, team: &TeamRecords, user_id: &str) -> Result<Option<Provisioned>, Error>;

    /// The users of the account as stored now (removed ones too).
    async fn users(&self, team: &TeamRecords) -> Result<Vec<Provisioned>, Error>;

    /// The account's user with this address as stored now, if it has one; another account's
    /// user is never found.
    async fn user_by_address(
        &self,
        team: &TeamRecords,
        email: &EmailAddress,
    ) -> Result<Option<Provisioned>, Error>;
}
