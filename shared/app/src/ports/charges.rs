//! The book of charges made for changes not yet written: a charge is recorded before it is
//! made and struck off in the transaction that stores its invoice, so that whatever stops a
//! change in between, the settlement run finds the charge and settles it (security.md,
//! Reliability). A charge given back is marked, so that its key is never charged again.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::error::Error;

/// What the book held for a charge key when asked to record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    /// Recorded now: the first time this key is charged.
    New,
    /// Already recorded: the same attempt again (a retry), which the partner answers with
    /// the key's first charge.
    Again,
    /// Given back: the key must not be charged again.
    Refunded,
}

/// A charge in the book, as the settlement run reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub account_id: String,
    pub invoice_id: String,
    pub charge_key: String,
    /// Marked given back: its refund is still to be done.
    pub refunded: bool,
}

#[async_trait]
pub trait ChargeBook: Send + Sync {
    /// The charges still listed that were recorded before `cutoff` (younger ones may still be
    /// written by the request that made them).
    async fn pending_before(&self, cutoff: Timestamp) -> Result<Vec<Pending>, Error>;

    /// Records that `charge_key`, for the invoice `invoice_id` of `account_id`, is about to be
    /// charged, unless it already is in the book.
    async fn record(
        &self,
        account_id: &str,
        invoice_id: &str,
        charge_key: &str,
    ) -> Result<Recording, Error>;

    /// Strikes off a charge that was not made (declined). A failure only logs: settlement
    /// finds no charge for it and strikes it off then.
    async fn forget(&self, charge_key: &str);

    /// Marks `charge_key` given back, before the refund is asked: never charged again, and
    /// still listed for settlement until [`ChargeBook::refund_done`].
    async fn mark_refunded(&self, charge_key: &str) -> Result<(), Error>;

    /// The refund of `charge_key` went through: no longer listed for settlement (the key
    /// stays marked). A failure only logs: settlement refunds again, which the partner does
    /// once.
    async fn refund_done(&self, charge_key: &str);
}
