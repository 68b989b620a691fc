//! `Idempotency-Key` (api.md): the same key with the same body within 24 h replays the first
//! response and does nothing else; with another body it is a 409. A request takes a lease on
//! its key first, so concurrent duplicates cannot both run; a lease left by a stopped Lambda
//! expires and the retry takes it over with the ids the first attempt reserved, so a charge
//! retried after a crash reuses its idempotency key at the payment partner.
//!
//! Only successful responses are stored (like Stripe, a request refused before it changed
//! anything leaves no trace); the stored body is sealed under the account's data key.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::clock::Clock;
use crate::crypto::{Field, Sealed};
use crate::error::Error;
use crate::store::account_pk;

/// The sort key of an idempotency record.
const IDEMPOTENCY_SK: &str = "IDEMPOTENCY";

const WINDOW_SECONDS: i64 = 24 * 3600;
/// Longer than any function's timeout (template.yaml: 20 s).
const LEASE_SECONDS: i64 = 60;
const MAX_KEY_LEN: usize = 255;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdempotencyItem {
    pk: String,
    sk: String,
    fingerprint: String,
    state: State,
    lease: String,
    lease_until: i64,
    reserved: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response: Option<Sealed>,
    expires_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum State {
    InProgress,
    Done,
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

/// The right to run a request, with the ids reserved for it.
#[derive(Debug, Clone)]
pub struct Lease {
    key: Option<(String, String)>,
    pub reserved: BTreeMap<String, String>,
}

impl Lease {
    pub fn id(&self, name: &str) -> String {
        self.reserved.get(name).cloned().unwrap_or_default()
    }
}

/// Checks a client's `Idempotency-Key`.
pub fn parse_key(raw: Option<&str>) -> Result<Option<String>, Error> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(k) if k.len() <= MAX_KEY_LEN && k.chars().all(|c| c.is_ascii_graphic()) => {
            Ok(Some(k.to_string()))
        }
        Some(_) => Err(Error::validation(
            "Idempotency-Key",
            "invalid_format",
            "1 to 255 visible ASCII characters",
        )),
    }
}

/// Starts a request under `key` (if the client sent one) in `scope` (the account, or the
/// public route). `reserve` makes the ids a first attempt will use.
pub async fn begin(
    app: &App,
    scope: &str,
    key: Option<&str>,
    body: &serde_json::Value,
    reserve: impl Fn() -> BTreeMap<String, String>,
) -> Result<Begin, Error> {
    let Some(key) = key else {
        return Ok(Begin::Run(Lease {
            key: None,
            reserved: reserve(),
        }));
    };
    let pk = format!("IDEMPOTENCY#{scope}#{key}");
    let fingerprint = app.keyed_hash(&canonical(body).to_string()).await?;
    let now = app.system_clock.now().as_second();
    let lease = uuid::Uuid::new_v4().simple().to_string();
    for attempt in 0..4 {
        // First as if the key were new, as most are: one write, no read. A key already used
        // fails its condition and is read; only then may an expired record or a lease that
        // ran out be taken over, keeping the ids its attempt reserved.
        let first = attempt == 0;
        let existing: Option<IdempotencyItem> = if first {
            None
        } else {
            app.store.get(&pk, IDEMPOTENCY_SK).await?
        };
        let reserved = match existing {
            Some(item) if item.expires_at > now => {
                if item.fingerprint != fingerprint {
                    return Err(Error::IdempotencyKeyReused);
                }
                if item.state == State::Done {
                    return replay(app, &item).await;
                }
                if item.lease_until > now {
                    return Err(Error::IdempotencyInProgress);
                }
                // Ids a failed attempt gave up (its invoice) are made anew.
                let mut reserved = item.reserved;
                for (name, id) in reserve() {
                    reserved.entry(name).or_insert(id);
                }
                reserved
            }
            _ => reserve(),
        };
        let item = IdempotencyItem {
            pk: pk.clone(),
            sk: IDEMPOTENCY_SK.into(),
            fingerprint: fingerprint.clone(),
            state: State::InProgress,
            lease: lease.clone(),
            lease_until: now + LEASE_SECONDS,
            reserved: reserved.clone(),
            account_id: None,
            status_code: None,
            response: None,
            expires_at: now + WINDOW_SECONDS,
        };
        // Taken only if free, expired, or a lease that ran out.
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(app.store.table())
            .set_item(Some(crate::store::to_item(&item)?));
        let put = if first {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression(
                "attribute_not_exists(pk) OR expires_at < :now \
                 OR (#state = :in_progress AND lease_until < :now)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":in_progress", AttributeValue::S("in_progress".into()))
        };
        let put = put.build().map_err(Error::internal)?;
        let op = TransactWriteItem::builder().put(put).build();
        match app.store.transact(vec![op]).await {
            Ok(()) => {
                return Ok(Begin::Run(Lease {
                    key: Some((pk, lease)),
                    reserved,
                }));
            }
            Err(e) if e.condition_failed(0) => continue,
            Err(crate::store::TransactionError::Failed(e)) => return Err(e),
            Err(e) => return Err(Error::unavailable(format!("idempotency lease: {e:?}"))),
        }
    }
    Err(Error::IdempotencyInProgress)
}

/// `value` with every object's keys in order: the same body gives the same fingerprint
/// whatever order its client wrote the keys in, and whether or not serde_json keeps the
/// order of insertion (its `preserve_order` feature, which some builds unify in).
fn canonical(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
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

async fn replay(app: &App, item: &IdempotencyItem) -> Result<Begin, Error> {
    let (Some(account_id), Some(status), Some(response)) =
        (&item.account_id, item.status_code, &item.response)
    else {
        return Err(Error::internal(
            "finished idempotency record without response",
        ));
    };
    // The response may name the company: it is sealed under the account's key (security
    // reports: the platform key they are sealed under).
    let key = if account_id == crate::tickets::SECURITY_ACCOUNT {
        app.security_key().await?
    } else {
        app.account_item(account_id).await?.1
    };
    let text = key.open(
        Field::new(account_id, (&item.pk, &item.sk), "idempotent_response"),
        response,
    )?;
    let body = serde_json::from_str(&text).map_err(Error::internal)?;
    Ok(Begin::Replay { status, body })
}

/// The write that records the response, in the same transaction as the request's own writes.
pub fn finish_op(
    app: &App,
    lease: &Lease,
    account_id: &str,
    key: &crate::crypto::DataKey,
    status: u16,
    body: &serde_json::Value,
) -> Result<Option<TransactWriteItem>, Error> {
    let Some((pk, token)) = &lease.key else {
        return Ok(None);
    };
    let now = app.system_clock.now().as_second();
    let sealed = key.seal(
        Field::new(account_id, (pk, IDEMPOTENCY_SK), "idempotent_response"),
        &body.to_string(),
    );
    // Keep the fingerprint the lease was taken with.
    let update = aws_sdk_dynamodb::types::Update::builder()
        .table_name(app.store.table())
        .key("pk", AttributeValue::S(pk.clone()))
        .key("sk", AttributeValue::S(IDEMPOTENCY_SK.into()))
        .update_expression(
            "SET #state = :done, account_id = :account, status_code = :status, #response = :response, lease_until = :now, gsi1pk = :by_account, gsi1sk = :pk",
        )
        .condition_expression("lease = :lease")
        .expression_attribute_names("#state", "state")
        .expression_attribute_names("#response", "response")
        .expression_attribute_values(":done", AttributeValue::S("done".into()))
        .expression_attribute_values(":account", AttributeValue::S(account_id.into()))
        // Listed by account, so that closing the account deletes them (closure.rs).
        .expression_attribute_values(":by_account", AttributeValue::S(by_account(account_id)))
        .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
        .expression_attribute_values(":status", AttributeValue::N(status.to_string()))
        .expression_attribute_values(
            ":response",
            AttributeValue::S(sealed.as_str().to_string()),
        )
        .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
        .expression_attribute_values(":lease", AttributeValue::S(token.clone()))
        .build()
        .map_err(Error::internal)?;
    Ok(Some(TransactWriteItem::builder().update(update).build()))
}

/// Replays an idempotent answer, or runs `work` under the key in `scope` and gives the key
/// back if it fails (so a refused request may be sent again). `work` records its answer with
/// [`finish_op`] in the transaction of its own writes.
pub async fn once(
    app: &App,
    scope: &str,
    key: Option<&str>,
    fingerprint: serde_json::Value,
    reserve: impl Fn() -> BTreeMap<String, String>,
    work: impl AsyncFnOnce(&Lease) -> Result<(u16, serde_json::Value), Error>,
) -> Result<(u16, serde_json::Value), Error> {
    let lease = match begin(app, scope, key, &fingerprint, reserve).await? {
        Begin::Replay { status, body } => return Ok((status, body)),
        Begin::Run(lease) => lease,
    };
    let result = work(&lease).await;
    if let Err(e) = &result {
        after_failure(app, &lease, e).await;
    }
    result
}

/// After a request failed: refused (4xx), the key is given back and leaves no trace; stopped
/// by a dependency (5xx), the key keeps its reserved ids and is free to be taken at once, so
/// that the client's retry finishes what this attempt may have started elsewhere (a sign-in
/// left behind) under the same ids instead of colliding with it. All but the invoice's: this
/// attempt refunded its charge, or left it to the settlement run, which refunds a charge no
/// invoice keeps; the retry charges under a new invoice id, never reusing a refunded charge.
/// (A Lambda stopped half-way runs none of this: its retry takes over every id, the invoice's
/// too, and the partner answers with the first charge. So does the retry of a write in doubt,
/// `Error::InDoubt`, which kept its charge: the write may have landed.)
pub async fn after_failure(app: &App, lease: &Lease, error: &Error) {
    if error.status() < 500 {
        return release(app, lease).await;
    }
    let Some((pk, token)) = &lease.key else {
        return;
    };
    let mut update = aws_sdk_dynamodb::types::Update::builder()
        .table_name(app.store.table())
        .key("pk", AttributeValue::S(pk.clone()))
        .key("sk", AttributeValue::S(IDEMPOTENCY_SK.into()));
    update = if matches!(error, Error::InDoubt(_)) {
        update.update_expression("SET lease_until = :zero")
    } else {
        update
            .update_expression("SET lease_until = :zero REMOVE reserved.#invoice")
            .expression_attribute_names("#invoice", "invoice")
    };
    let update = update
        .condition_expression("lease = :lease AND #state = :in_progress")
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":zero", AttributeValue::N("0".into()))
        .expression_attribute_values(":lease", AttributeValue::S(token.clone()))
        .expression_attribute_values(":in_progress", AttributeValue::S("in_progress".into()))
        .build();
    let freed = match update {
        Ok(update) => app
            .store
            .transact(vec![TransactWriteItem::builder().update(update).build()])
            .await
            .map_err(|e| format!("{e:?}")),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = freed {
        tracing::warn!(error = %e, "idempotency lease not freed; it will expire");
    }
}

/// Records the answer of a request that changed nothing (there is no transaction of its own
/// writes to record it in).
pub async fn finish_alone(
    app: &App,
    lease: &Lease,
    account_id: &str,
    key: &crate::crypto::DataKey,
    status: u16,
    body: &serde_json::Value,
) -> Result<(), Error> {
    if let Some(op) = finish_op(app, lease, account_id, key, status, body)? {
        app.store
            .transact(vec![op])
            .await
            .map_err(|e| e.into_error(|_| Error::IdempotencyInProgress))?;
    }
    Ok(())
}

/// `Idempotency-Key` for a change that does not record its answer in its own transaction: a
/// change whose effect is the same when made twice (settings, a card, removals, a status, a
/// closure request, an invoice sent again). The first answer of `key` in the account is
/// replayed, with its status, and concurrent duplicates wait (409 in progress) instead of
/// running; the answer is recorded right after the change. If the function stops in between,
/// a retry makes the change again, which leaves the same state.
pub async fn guard(
    app: &App,
    account_id: &str,
    key: Option<&str>,
    fingerprint: serde_json::Value,
    work: impl AsyncFnOnce() -> Result<(u16, serde_json::Value), Error>,
) -> Result<(u16, serde_json::Value), Error> {
    if key.is_none() {
        return work().await;
    }
    let scope = account_scope(account_id);
    let lease = match begin(app, &scope, key, &fingerprint, BTreeMap::new).await? {
        Begin::Replay { status, body } => return Ok((status, body)),
        Begin::Run(lease) => lease,
    };
    match work().await {
        Ok((status, body)) => {
            let data_key = app.account_item(account_id).await?.1;
            if let Err(e) = finish_alone(app, &lease, account_id, &data_key, status, &body).await {
                tracing::warn!(error = %e, "idempotent answer not recorded; a retry runs again");
            }
            Ok((status, body))
        }
        Err(e) => {
            after_failure(app, &lease, &e).await;
            Err(e)
        }
    }
}

/// Gives the key back after a request that changed nothing, so it may be tried again.
pub async fn release(app: &App, lease: &Lease) {
    if let Some((pk, token)) = &lease.key
        && let Err(e) = app
            .store
            .delete_if(pk, IDEMPOTENCY_SK, "lease", token)
            .await
    {
        tracing::warn!(error = %e, "idempotency lease not released; it will expire");
    }
}

/// The `gsi1` partition listing an account's idempotency records.
pub fn by_account(account_id: &str) -> String {
    format!("IDEMPOTENCY#ACCOUNT#{account_id}")
}

/// The account scope of a request made by a signed-in user.
pub fn account_scope(account_id: &str) -> String {
    account_pk(account_id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_body_has_one_fingerprint_text_whatever_the_order_of_its_keys() {
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
