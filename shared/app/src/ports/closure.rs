//! What closing an account deletes, and keeps: its users and the claims on their addresses,
//! its invoices (moved out, under the platform's retention key), the rest of its records in
//! batches, then the account with its wrapped data key (crypto-shredding).

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;
use softbrik_domain::account::{Account, Invoice, User};

use crate::error::Error;
use crate::ports::team::{Read, Stamp};

#[async_trait]
pub trait ClosureTable: Send + Sync {
    /// The account as stored; `None` when it is gone (a closure finished it).
    async fn closing(&self, account_id: &str) -> Result<Option<Read<Account>>, Error>;

    /// The account marked closed, with the events it makes (`Account Closed`), only if
    /// unchanged since read. The events outlive the account's data until they are told.
    async fn mark_closed(
        &self,
        account: &Read<Account>,
        events: Vec<softbrik_domain::events::Event>,
    ) -> Result<(), Error>;

    /// A client account leaves its reseller's count at `now` (its users are billed no more);
    /// nothing for another account, or once it has left.
    async fn leave_reseller(&self, account: &Read<Account>, now: Timestamp) -> Result<(), Error>;

    /// The account's users, their addresses opened (while its key exists).
    async fn users(&self, account: &Read<Account>) -> Result<Vec<Read<User>>, Error>;

    /// A user's record and the claim on their address, deleted.
    async fn forget_user(&self, account: &Read<Account>, user: &Read<User>) -> Result<(), Error>;

    /// The account's invoices and credit notes.
    async fn invoices(&self, account: &Read<Account>) -> Result<Vec<Read<Invoice>>, Error>;

    /// An invoice moved out of the account, its customer block sealed under the platform's
    /// retention key, kept until `until` (then removed by the table's TTL).
    async fn retain(
        &self,
        account: &Read<Account>,
        invoice: &Read<Invoice>,
        until: Date,
    ) -> Result<(), Error>;

    /// The account's other records, in the batches they are deleted in: its tickets'
    /// attachments and the pointers that find them, its payment records and recorded answers,
    /// and the rest of its records but the account and what brings its closure back.
    async fn leftovers(&self, account: &Read<Account>) -> Result<Vec<Stamp>, Error>;

    /// One batch of [`ClosureTable::leftovers`] deleted.
    async fn delete(&self, batch: &Stamp) -> Result<(), Error>;

    /// The account, what brings its closure back and its wrapped data key, deleted together:
    /// from then on nothing sealed for it opens again.
    async fn shred(&self, account: &Read<Account>) -> Result<(), Error>;
}
