//! A reseller's client accounts: one created with everything it starts with, the reseller's
//! history entry and its place in the reseller's count of active users, in one transaction.

use async_trait::async_trait;
use jiff::Timestamp;
use softbrik_domain::account::{Account, HistoryEntry};

use crate::error::Error;
use crate::ports::signup::NewAccount;
use crate::ports::team::{Answering, Committed, Read, Stamp};

#[async_trait]
pub trait ResellerTable: Send + Sync {
    /// Stores the client account `new` of `reseller` (its data key `key`, made by
    /// `SignupTable::new_key`): the claim on its admin's address (taken: `Error::EmailTaken`,
    /// nothing written), the account, its key, its admin, its history, its schedules, the
    /// reseller's history entry, and the client in the reseller's count with one active user
    /// (billed from `billed_from`, after a trial), with the answer when there is one.
    async fn add_client(
        &self,
        reseller: &Read<Account>,
        key: &Stamp,
        new: NewAccount,
        reseller_entry: (String, HistoryEntry),
        billed_from: Option<Timestamp>,
        answer: Option<Answering<'_>>,
    ) -> Result<Committed, Error>;
}
