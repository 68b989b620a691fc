//! The answers kept for `Idempotency-Key`s (api.md): a key's record, taken as a lease by the
//! request that runs, then holding its answer, sealed, for 24 hours.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::error::Error;
use crate::ports::team::Stamp;

/// A key's record, as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The keyed hash of the request it was taken for.
    pub fingerprint: String,
    /// Its answer is recorded.
    pub done: bool,
    /// Until when (seconds since the epoch) the request that holds it may run.
    pub lease_until: i64,
    /// The ids the request's first attempt reserved (its invoice's, its user's...).
    pub reserved: BTreeMap<String, String>,
    /// When the key may be used again for another request.
    pub expires_at: i64,
}

/// The first charge attempt a request may make (the invoice it reserved, attempt 1), recorded
/// in the book of pending charges by the write that takes its lease: one write for both, and
/// the charge then needs no write of its own before it is made. Struck off by the write that
/// records the request's answer, or by the invoice's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstCharge {
    pub account_id: String,
    pub invoice_id: String,
    pub charge_key: String,
}

#[async_trait]
pub trait AnswerTable: Send + Sync {
    /// The keyed hash of a request (its route, path and body, in canonical form), so that the
    /// table never holds a request in clear.
    async fn fingerprint(&self, request: &serde_json::Value) -> Result<String, Error>;

    /// The record of `key` in `scope`, with the adapter's stamp for [`AnswerTable::replay`].
    async fn read(&self, scope: &str, key: &str) -> Result<Option<(Record, Stamp)>, Error>;

    /// Takes `key`'s lease with `record`: when `first`, only if the key is new; otherwise
    /// also if its record expired or its lease ran out (before `now`). With `charge` (a first
    /// lease only), records it in the book of pending charges in the same write. Answers the
    /// lease's stamp, or `None` when another request holds the key.
    async fn take(
        &self,
        scope: &str,
        key: &str,
        record: &Record,
        first: bool,
        now: i64,
        charge: Option<&FirstCharge>,
    ) -> Result<Option<Stamp>, Error>;

    /// The answer recorded in the record read as `stamp`: its status and body, opened.
    async fn replay(&self, stamp: &Stamp) -> Result<(u16, serde_json::Value), Error>;

    /// Records the answer of the request holding `lease`, sealed under `account_id`'s key.
    /// `Error::IdempotencyInProgress` when the lease is no longer this request's.
    async fn finish(
        &self,
        lease: &Stamp,
        account_id: &str,
        status: u16,
        body: &serde_json::Value,
    ) -> Result<(), Error>;

    /// Gives the key back: the request changed nothing (its first charge, unless given back,
    /// struck off the book). A failure only logs (the lease expires; settlement strikes the
    /// charge off).
    async fn release(&self, lease: &Stamp);

    /// Frees the lease at once for the client's retry, keeping the reserved ids, all but the
    /// invoice's unless `keep_invoice`. A failure only logs (the lease expires).
    async fn free(&self, lease: &Stamp, keep_invoice: bool);
}
