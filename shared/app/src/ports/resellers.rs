//! A reseller's client accounts: one created with everything it starts with, the reseller's
//! history entry and its place in the reseller's count of active users, in one transaction;
//! the count read (each client's active users and the end of its trial), the peak of the
//! totals sampled over a window, and a client account read with its users.

use std::collections::BTreeMap;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;
use softbrik_domain::account::{Account, HistoryEntry, User};
use softbrik_domain::money::Money;
use softbrik_domain::resellers::{ClientCount, PlannedMove};

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

    /// The reseller's count: each of its clients, by id, with its active users and the
    /// instant its trial ends (one read).
    async fn clients(&self, reseller: &Account) -> Result<BTreeMap<String, ClientCount>, Error>;

    /// The highest of the reseller's billable totals sampled in `[from, to)`, the total
    /// carried in from before `from` counting from `from`, and the first instant it was
    /// reached; `None` without any sample.
    async fn peak(
        &self,
        reseller: &Account,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Option<(u32, Timestamp)>, Error>;

    /// A client account with its users (removed ones included), in id order, opened;
    /// `NotFound` without it.
    async fn client(&self, client_id: &str) -> Result<(Account, Vec<User>), Error>;

    /// What a reseller pays per active user of its clients.
    fn user_price(&self) -> Money;

    /// A transfer code of `client` (its hash), valid until `expires_at`.
    async fn keep_transfer_code(
        &self,
        client: &Account,
        code_hash: &str,
        expires_at: Timestamp,
    ) -> Result<(), Error>;

    /// The client account a transfer code names, while it is valid at `now`.
    async fn transfer_code(&self, code_hash: &str, now: Timestamp)
    -> Result<Option<String>, Error>;

    /// The move planned, in one transaction: once per client (another pending move of it:
    /// `Refusal::MoveAlreadyPlanned`), the code used up (used meanwhile: `Error::NotFound`),
    /// the client billed to the reseller it leaves up to `until` (the move's instant), and
    /// each entry in the history of its account (`(the account as read, entry id, entry)`).
    async fn plan_move(
        &self,
        planned: &PlannedMove,
        until: Timestamp,
        code_hash: &str,
        history: Vec<(&Read<Account>, String, HistoryEntry)>,
    ) -> Result<(), Error>;

    /// `client` billed to its reseller up to `until` (it closes then): samples from then on
    /// leave it out, though it stays in the count until its closure removes it.
    async fn stop_billing(&self, client: &Account, until: Timestamp) -> Result<(), Error>;

    /// The moves of clients out of `reseller` due on or before `day`.
    async fn moves_due(&self, reseller: &Account, day: Date) -> Result<Vec<PlannedMove>, Error>;

    /// A planned move made at `at`: the client's reseller changed, its count moved from one
    /// reseller's to the other's (each with the samples of the change; billed from `billed_from`
    /// by the new one, after a trial), the plan removed. Nothing once made.
    async fn complete_move(
        &self,
        planned: &PlannedMove,
        billed_from: Option<Timestamp>,
        at: Timestamp,
    ) -> Result<(), Error>;
}
