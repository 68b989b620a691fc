//! An account's billing records: as its renewal reads them (the account, its users and packs,
//! in one read), and the renewal's writes (the invoice numbered with its history and, when the
//! card was declined, the account past due, in one transaction; a lapse; the reminder's
//! marker); as dunning reads them (the account and its open invoices), and a retry's writes
//! (the attempt recorded on its invoice, the account's standing).

use async_trait::async_trait;
use jiff::civil::Date;
use softbrik_domain::account::{Account, AccountStatus, HistoryEntry, Invoice, SupportPlan, User};
use softbrik_domain::billing_calendar::BillingPeriod;
use softbrik_domain::catalogue::Brik;
use softbrik_domain::invoice::UsagePeak;
use softbrik_domain::money::Money;
use softbrik_domain::packs::{Holding, Pack};
use softbrik_domain::values::Country;

use crate::error::Error;
use crate::ports::team::Stamp;

/// What a renewal decides from: the account and what it holds, read together.
#[derive(Debug, Clone)]
pub struct Renewing {
    pub account: Account,
    /// The local date a renewal payment first failed, while the account is past due or
    /// suspended (the dunning retries count from it).
    pub past_due_since: Option<Date>,
    pub users: Vec<User>,
    /// The packs held, with their catalogue entries.
    pub packs: Vec<(Pack, Holding)>,
    /// The Briks' catalogue (names and prices).
    pub catalogue: Vec<Brik>,
    /// The country Softbrik invoices from (VAT).
    pub issuer: Country,
    /// What a reseller pays per active user of its clients.
    pub reseller_user_price: Money,
    /// The adapter's own: what it needs to write the account back only if unchanged.
    pub stamp: Stamp,
}

/// The account as a declined renewal leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastDue {
    pub status: AccountStatus,
    pub since: Date,
}

/// A renewal to store: its invoice (charged, or open when the card was declined), numbered
/// with the next number in the same transaction as the rest.
#[derive(Debug, Clone)]
pub struct RenewalWrite {
    pub invoice: Invoice,
    pub history: (String, HistoryEntry),
    /// The account past due (written only if unchanged since read).
    pub past_due: Option<PastDue>,
    /// A billing run's move of the account's schedule, stored with the renewal (the run's
    /// own: only its adapter looks inside).
    pub moving: Option<Stamp>,
    /// The events it makes (a failed charge: Payment Failed; the account suspended).
    pub events: Vec<softbrik_domain::events::Event>,
    /// The invoice is to be emailed (it was paid): the write records its email as owed, due
    /// for the settlement run after a grace longer than any invocation lives, so that a worker
    /// dying between this write and the email loses no email (the email removes the record).
    pub mail_owed: bool,
}

/// A period end's changes of the packs (`softbrik_domain::packs::period_end`), written in one
/// transaction with the account's support plan, only if neither the packs nor the account
/// changed since read.
#[derive(Debug, Clone)]
pub struct PackChanges {
    /// The ids of the packs no longer held.
    pub ended: Vec<String>,
    /// The packs as reduced.
    pub reduced: Vec<Holding>,
    pub plan: SupportPlan,
    /// Each with an id derived from what it says, so that a run again writes the same ones.
    pub history: Vec<(String, HistoryEntry)>,
}

/// An account and its open invoices, as a retry of its payments reads them.
#[derive(Debug, Clone)]
pub struct Dunning {
    pub account: Account,
    /// The local date a renewal payment first failed.
    pub past_due_since: Option<Date>,
    /// Its open invoices, oldest first.
    pub open: Vec<Invoice>,
    /// The adapter's own: what it needs to write the account back only if unchanged.
    pub stamp: Stamp,
}

/// A charge attempt of an open invoice: the invoice as it now stands (paid, or the attempt
/// counted and failed), recorded only if no other retry recorded an attempt since
/// `previous_attempts`, with its history entry.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub invoice: Invoice,
    pub previous_attempts: u32,
    pub history: (String, HistoryEntry),
    /// The events it makes (a failed charge: Payment Failed).
    pub events: Vec<softbrik_domain::events::Event>,
}

#[async_trait]
pub trait BillingTable: Send + Sync {
    /// The account's records; `NotFound` without the account.
    async fn renewing(&self, account_id: &str) -> Result<Renewing, Error>;

    /// The account's invoice `invoice_id` as stored.
    async fn invoice(&self, account_id: &str, invoice_id: &str) -> Result<Option<Invoice>, Error>;

    /// Stores the renewal and returns its invoice as numbered (its charge struck off the
    /// book). Nothing is written when the account changed since it was read
    /// (`Refusal::ConcurrentChange`) or when the invoice is already stored (an internal
    /// error: the caller looks it up).
    async fn store_renewal(
        &self,
        records: &Renewing,
        write: RenewalWrite,
    ) -> Result<Invoice, Error>;

    /// The period end's changes of the packs; nothing is written when a pack or the account
    /// changed since read (`Error::Unavailable`: the run tries again).
    async fn end_packs(&self, records: &Renewing, changes: PackChanges) -> Result<(), Error>;

    /// The account lapsed, with its history entry, only if unchanged since read.
    async fn lapse(
        &self,
        records: &Renewing,
        history: (String, HistoryEntry),
        events: Vec<softbrik_domain::events::Event>,
    ) -> Result<(), Error>;

    /// A reseller's peak of active users over its clients in `period` (its local days).
    async fn usage_peak(
        &self,
        account: &Account,
        period: &BillingPeriod,
    ) -> Result<Option<UsagePeak>, Error>;

    /// Marks the reminder of the renewal due on `billing_date` sent; `false` when it
    /// already was.
    async fn claim_reminder(&self, account_id: &str, billing_date: Date) -> Result<bool, Error>;

    /// Takes the mark back (the reminder could not be sent: the next run sends it).
    async fn release_reminder(&self, account_id: &str, billing_date: Date) -> Result<(), Error>;

    /// The account and its open invoices; `NotFound` without the account.
    async fn dunning(&self, account_id: &str) -> Result<Dunning, Error>;

    /// Records `attempt` in one transaction (a paid invoice's charge struck off the book).
    /// Another retry that recorded an attempt first refuses it
    /// (`Refusal::ConcurrentChange`): nothing is written.
    async fn record_attempt(&self, dunning: &Dunning, attempt: Attempt) -> Result<(), Error>;

    /// The account's status set to `status` (active: no longer past due since any date),
    /// with the `events` it makes, only if unchanged since read.
    async fn set_standing(
        &self,
        dunning: &Dunning,
        status: AccountStatus,
        events: Vec<softbrik_domain::events::Event>,
    ) -> Result<(), Error>;
}
