//! The add-on packs an account holds, read with its team (the same one read), and a change of
//! them written in one transaction with the account's support plan, its history, a training's
//! ticket and the invoice that pays for it; the training ticket is opened through it too.

use async_trait::async_trait;
use softbrik_domain::account::{HistoryEntry, Invoice, SupportPlan};
use softbrik_domain::packs::{Holding, Pack};

use crate::error::Error;
use crate::ports::team::{Answering, Committed, Read, Stamp, TeamRecords};

/// A change of the packs: each holding written only if unchanged since read (`read`: none for
/// a pack not held before), the account's support plan (the account written only if
/// unchanged since the team was read: every pack change goes through it, so two changes of
/// the same account's packs never both go through on stale reads), the history entry, a
/// training's ticket, and the invoice numbered with it.
#[derive(Debug, Clone)]
pub struct PackChange {
    pub holdings: Vec<(Holding, Option<Stamp>)>,
    pub plan: SupportPlan,
    pub history: (String, HistoryEntry),
    /// A ticket prepared by [`PackTable::training_ticket`], opened with the change.
    pub ticket: Option<Stamp>,
    pub invoice: Option<Invoice>,
}

#[async_trait]
pub trait PackTable: Send + Sync {
    /// The packs sold.
    async fn catalogue(&self) -> Result<Vec<Pack>, Error>;

    /// The packs the team's account holds, as the team's read saw them (a pack that left the
    /// catalogue is left out, and logged).
    async fn held(&self, team: &TeamRecords) -> Result<Vec<Read<(Pack, Holding)>>, Error>;

    /// A support ticket asking the team to schedule a training (`ids`: the ticket's and its
    /// first message's), from `requester` (a user of the account), opened by the change
    /// that carries it.
    async fn training_ticket(
        &self,
        team: &TeamRecords,
        ids: (&str, &str),
        requester: Option<&str>,
        subject: &str,
        description: &str,
    ) -> Result<Stamp, Error>;

    /// Stores `change` in one transaction, with its answer; `Refusal::ConcurrentChange` when
    /// the account or a pack changed since read: nothing is written.
    async fn commit(
        &self,
        team: &TeamRecords,
        change: PackChange,
        answer: Option<Answering<'_>>,
    ) -> Result<Committed, Error>;

    /// Tells the requester of a ticket opened by a change its number (a failure is logged).
    async fn tell_opened(&self, team: &TeamRecords, ticket: &Stamp);
}
