//! `Idempotency-Key` (api.md): the same key with the same request within 24 h replays the
//! first answer and does nothing else; with another request it is a 409. A request takes a
//! lease on its key first, so concurrent duplicates cannot both run (409 in progress); a lease
//! left by a stopped function expires and the retry takes it over with the ids the first
//! attempt reserved, so a charge retried after a crash reuses its key at the payment partner.
//!
//! Only successful answers are kept (like Stripe, a request refused before it changed anything
//! leaves no trace). The records, the fingerprints and the sealing are the adapter's
//! ([`AnswerTable`]); the rules are here.

use std::collections::BTreeMap;

use crate::clock::Clock;
use crate::error::Error;
use crate::ports::answers::{AnswerTable, FirstCharge, Record};
use crate::ports::team::Stamp;

/// How long a key's answer is kept.
pub const WINDOW_SECONDS: i64 = 24 * 3600;
/// How long a request holds its key: longer than any function's timeout (template.yaml: 20 s).
pub const LEASE_SECONDS: i64 = 60;
/// Tries at taking a key that others are taking too.
const ATTEMPTS: usize = 4;

/// The scope of an account's keys: a key is its account's alone.
pub fn account_scope(account_id: &str) -> String {
    format!("ACCOUNT#{account_id}")
}

/// The first charge a request in `scope` with the ids `reserved` may make: none unless it
/// reserved an invoice; the account's own (a signup's reserved one, or its scope's).
fn first_charge(scope: &str, reserved: &BTreeMap<String, String>) -> Option<FirstCharge> {
    let invoice_id = reserved.get("invoice")?;
    let account_id = reserved
        .get("account")
        .map(String::as_str)
        .or_else(|| scope.strip_prefix("ACCOUNT#"))?;
    Some(FirstCharge {
        account_id: account_id.to_string(),
        invoice_id: invoice_id.clone(),
        charge_key: crate::billing::attempt_key(invoice_id, 1),
    })
}

/// `request` with every object's keys in order: the same request gives the same fingerprint
/// whatever order its client wrote the keys in, and whether or not serde_json keeps the order
/// of insertion (its `preserve_order` feature, which some builds unify in).
pub fn canonical(request: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match request {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The right to run a request, with the ids reserved for it.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The adapter's handle on the key's record; none without a key.
    held: Option<Stamp>,
    pub reserved: BTreeMap<String, String>,
}

impl Lease {
    /// A request without a key: nothing to take, its ids made now.
    pub fn unkeyed(reserved: BTreeMap<String, String>) -> Lease {
        Lease {
            held: None,
            reserved,
        }
    }

    /// The id reserved under `name` (empty if none was).
    pub fn id(&self, name: &str) -> String {
        self.reserved.get(name).cloned().unwrap_or_default()
    }

    /// The adapter's handle on the key's record, for the write that records the answer in
    /// the change's own transaction; none without a key.
    pub fn held(&self) -> Option<&Stamp> {
        self.held.as_ref()
    }
}

/// The outcome of asking to run a request.
pub enum Begin {
    /// Run it; ids it must use are in the lease.
    Run(Lease),
    /// It ran before: answer this.
    Replay {
        status: u16,
        body: serde_json::Value,
    },
}

/// Starts a request under `key` (if the client sent one) in `scope` (the account, or the
/// public route). `reserve` makes the ids a first attempt will use.
pub async fn begin(
    answers: &dyn AnswerTable,
    clock: &dyn Clock,
    scope: &str,
    key: Option<&str>,
    request: &serde_json::Value,
    reserve: impl Fn() -> BTreeMap<String, String>,
) -> Result<Begin, Error> {
    let Some(key) = key else {
        return Ok(Begin::Run(Lease::unkeyed(reserve())));
    };
    let fingerprint = answers.fingerprint(request).await?;
    let now = clock.now().as_second();
    for attempt in 0..ATTEMPTS {
        // First as if the key were new, as most are: one write, no read. A key already used
        // is read; only then may an expired record or a lease that ran out be taken over,
        // keeping the ids its attempt reserved.
        let first = attempt == 0;
        let existing = if first {
            None
        } else {
            answers.read(scope, key).await?
        };
        let reserved = match existing {
            Some((record, stamp)) if record.expires_at > now => {
                if record.fingerprint != fingerprint {
                    return Err(Error::IdempotencyKeyReused);
                }
                if record.done {
                    let (status, body) = answers.replay(&stamp).await?;
                    return Ok(Begin::Replay { status, body });
                }
                if record.lease_until > now {
                    return Err(Error::IdempotencyInProgress);
                }
                // Ids a failed attempt gave up (its invoice) are made anew.
                let mut reserved = record.reserved;
                for (name, id) in reserve() {
                    reserved.entry(name).or_insert(id);
                }
                reserved
            }
            _ => reserve(),
        };
        let record = Record {
            fingerprint: fingerprint.clone(),
            done: false,
            lease_until: now + LEASE_SECONDS,
            reserved: reserved.clone(),
            expires_at: now + WINDOW_SECONDS,
        };
        // A new key's ids are new: its first charge is recorded with its lease. A lease taken
        // over may have charged already: the charge is then looked up in the book as usual.
        let charge = if first {
            first_charge(scope, &reserved)
        } else {
            None
        };
        let taken = answers.take(scope, key, &record, first, now, charge.as_ref());
        if let Some(held) = taken.await? {
            return Ok(Begin::Run(Lease {
                held: Some(held),
                reserved,
            }));
        }
    }
    Err(Error::IdempotencyInProgress)
}

/// Replays an idempotent answer, or runs `work` under the key in `scope` and gives the key
/// back if it fails (so a refused request may be sent again). `work` records its answer in the
/// transaction of its own writes ([`Lease::held`]).
pub async fn once(
    answers: &dyn AnswerTable,
    clock: &dyn Clock,
    scope: &str,
    key: Option<&str>,
    request: serde_json::Value,
    reserve: impl Fn() -> BTreeMap<String, String>,
    work: impl AsyncFnOnce(&Lease) -> Result<(u16, serde_json::Value), Error>,
) -> Result<(u16, serde_json::Value), Error> {
    let lease = match begin(answers, clock, scope, key, &request, reserve).await? {
        Begin::Replay { status, body } => return Ok((status, body)),
        Begin::Run(lease) => lease,
    };
    let result = work(&lease).await;
    if let Err(e) = &result {
        after_failure(answers, &lease, e).await;
    }
    result
}

/// [`once`] through `ports`: its idempotency answers and the real time.
pub async fn once_in(
    ports: &crate::ports::Ports<'_>,
    scope: &str,
    key: Option<&str>,
    request: serde_json::Value,
    reserve: impl Fn() -> BTreeMap<String, String>,
    work: impl AsyncFnOnce(&Lease) -> Result<(u16, serde_json::Value), Error>,
) -> Result<(u16, serde_json::Value), Error> {
    once(
        ports.answers,
        ports.clock,
        scope,
        key,
        request,
        reserve,
        work,
    )
    .await
}

/// After a request failed: refused (4xx), the key is given back and leaves no trace; stopped
/// by a dependency (5xx), the key keeps its reserved ids and is free to be taken at once, so
/// that the client's retry finishes what this attempt may have started elsewhere (a sign-in
/// left behind) under the same ids instead of colliding with it. All but the invoice's: this
/// attempt refunded its charge, or left it to the settlement run, which refunds a charge no
/// invoice keeps; the retry charges under a new invoice id, never reusing a refunded charge.
/// (A function stopped half-way runs none of this: its retry takes over every id, the
/// invoice's too, and the partner answers with the first charge. So does the retry of a write
/// in doubt, `Error::InDoubt`, which kept its charge: the write may have landed.)
pub async fn after_failure(answers: &dyn AnswerTable, lease: &Lease, error: &Error) {
    let Some(held) = &lease.held else {
        return;
    };
    if error.status() < 500 {
        answers.release(held).await;
    } else {
        answers.free(held, matches!(error, Error::InDoubt(_))).await;
    }
}

/// Records the answer of a request that changed nothing (there is no transaction of its own
/// writes to record it in).
pub async fn finish_alone(
    answers: &dyn AnswerTable,
    lease: &Lease,
    account_id: &str,
    status: u16,
    body: &serde_json::Value,
) -> Result<(), Error> {
    match &lease.held {
        Some(held) => answers.finish(held, account_id, status, body).await,
        None => Ok(()),
    }
}

/// `Idempotency-Key` for a change that does not record its answer in its own transaction: a
/// change whose effect is the same when made twice (settings, a card, removals, a status, a
/// closure request, an invoice sent again). The first answer of `key` in the account is
/// replayed, with its status, and concurrent duplicates wait (409 in progress) instead of
/// running; the answer is recorded right after the change. If the function stops in between,
/// a retry makes the change again, which leaves the same state.
pub async fn guard(
    answers: &dyn AnswerTable,
    clock: &dyn Clock,
    scope: &str,
    account_id: &str,
    key: Option<&str>,
    request: serde_json::Value,
    work: impl AsyncFnOnce() -> Result<(u16, serde_json::Value), Error>,
) -> Result<(u16, serde_json::Value), Error> {
    if key.is_none() {
        return work().await;
    }
    let lease = match begin(answers, clock, scope, key, &request, BTreeMap::new).await? {
        Begin::Replay { status, body } => return Ok((status, body)),
        Begin::Run(lease) => lease,
    };
    match work().await {
        Ok((status, body)) => {
            if let Err(e) = finish_alone(answers, &lease, account_id, status, &body).await {
                tracing::warn!(error = %e, "idempotent answer not recorded; a retry runs again");
            }
            Ok((status, body))
        }
        Err(e) => {
            after_failure(answers, &lease, &e).await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_request_has_one_canonical_text_whatever_the_order_of_its_keys() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [{"q": 1, "p": 2}], "x": 2}}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{"a": {"x": 2, "y": [{"p": 2, "q": 1}]}, "b": 1}"#).unwrap();
        assert_eq!(
            super::canonical(&a).to_string(),
            super::canonical(&b).to_string()
        );
        assert_eq!(
            super::canonical(&a).to_string(),
            r#"{"a":{"x":2,"y":[{"p":2,"q":1}]},"b":1}"#
        );
    }
}
