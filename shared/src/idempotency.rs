//! The DynamoDB adapter of the idempotency answers (`softbrik_app::ports::answers`, whose
//! rules are `softbrik_app::idempotency`): one `IDEMPOTENCY#<scope>#<key>` item per key, taken
//! with a conditional write, its answer sealed under the account's data key, listed by account
//! so that closing the account deletes them. `answered` records an answer in the transaction
//! of the change it answers.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::clock::Clock;
use crate::invoicing::PendingCharge;
use softbrik_app::ports::answers::{AnswerTable, FirstCharge, Record};
use softbrik_app::ports::team::Stamp;

use crate::crypto::{Field, Sealed};
use crate::error::Error;
pub use softbrik_app::idempotency::{Begin, Lease, account_scope, canonical};

/// The sort key of an idempotency record.
const IDEMPOTENCY_SK: &str = "IDEMPOTENCY";

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

/// How long this instance trusts a first charge it recorded with a lease: less than the lease.
const FIRST_CHARGE_KEPT: std::time::Duration =
    std::time::Duration::from_secs(softbrik_app::idempotency::LEASE_SECONDS as u64 / 2);

/// A lease this adapter gave: the key's item, the token that holds it, and the first charge
/// recorded with it.
struct Held {
    pk: String,
    token: String,
    charge: Option<String>,
}

fn held_of(stamp: &Stamp) -> Result<&Held, Error> {
    stamp.get::<Held>()
}

fn record_pk(scope: &str, key: &str) -> String {
    format!("IDEMPOTENCY#{scope}#{key}")
}

#[async_trait::async_trait]
impl AnswerTable for App {
    async fn fingerprint(&self, request: &serde_json::Value) -> Result<String, Error> {
        self.keyed_hash(&canonical(request).to_string()).await
    }

    async fn read(&self, scope: &str, key: &str) -> Result<Option<(Record, Stamp)>, Error> {
        let item: Option<IdempotencyItem> = self
            .store
            .get(&record_pk(scope, key), IDEMPOTENCY_SK)
            .await?;
        Ok(item.map(|item| {
            let record = Record {
                fingerprint: item.fingerprint.clone(),
                done: item.state == State::Done,
                lease_until: item.lease_until,
                reserved: item.reserved.clone(),
                expires_at: item.expires_at,
            };
            (record, Stamp::new(item))
        }))
    }

    async fn take(
        &self,
        scope: &str,
        key: &str,
        record: &Record,
        first: bool,
        now: i64,
        charge: Option<&FirstCharge>,
    ) -> Result<Option<Stamp>, Error> {
        let pk = record_pk(scope, key);
        let token = uuid::Uuid::new_v4().simple().to_string();
        let item = IdempotencyItem {
            pk: pk.clone(),
            sk: IDEMPOTENCY_SK.into(),
            fingerprint: record.fingerprint.clone(),
            state: State::InProgress,
            lease: token.clone(),
            lease_until: record.lease_until,
            reserved: record.reserved.clone(),
            account_id: None,
            status_code: None,
            response: None,
            expires_at: record.expires_at,
        };
        // Taken only if free, expired, or a lease that ran out.
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(self.store.table())
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
        let mut ops = vec![TransactWriteItem::builder().put(put).build()];
        // The first charge, in the book with the lease: its invoice id is new (a new key's).
        let charge = charge.filter(|_| first);
        if let Some(charge) = charge {
            let pending = PendingCharge::new(
                self.system_clock.now(),
                &charge.account_id,
                &charge.invoice_id,
                &charge.charge_key,
            );
            ops.push(self.store.put_new_op(&pending)?);
        }
        match self.store.transact(ops).await {
            Ok(()) => {
                let charge = charge.map(|c| c.charge_key.clone());
                if let Some(key) = &charge {
                    self.first_charge_taken(key);
                }
                Ok(Some(Stamp::new(Held { pk, token, charge })))
            }
            Err(e) if e.condition_failed(0) => Ok(None),
            Err(crate::store::TransactionError::Failed(e)) => Err(e),
            Err(e) => Err(Error::unavailable(format!("idempotency lease: {e:?}"))),
        }
    }

    async fn replay(&self, stamp: &Stamp) -> Result<(u16, serde_json::Value), Error> {
        let item: &IdempotencyItem = stamp.get()?;
        let (Some(account_id), Some(status), Some(response)) =
            (&item.account_id, item.status_code, &item.response)
        else {
            return Err(Error::internal(
                "finished idempotency record without response",
            ));
        };
        let key = self.sealing_key(account_id).await?;
        let text = key.open(
            Field::new(account_id, (&item.pk, &item.sk), "idempotent_response"),
            response,
        )?;
        let body = serde_json::from_str(&text).map_err(Error::internal)?;
        Ok((status, body))
    }

    async fn finish(
        &self,
        lease: &Stamp,
        account_id: &str,
        status: u16,
        body: &serde_json::Value,
    ) -> Result<(), Error> {
        let key = self.sealing_key(account_id).await?;
        let ops = answer_ops(self, lease, account_id, &key, status, body, None)?;
        self.store
            .transact(ops)
            .await
            .map_err(|e| e.into_error(|_| Error::IdempotencyInProgress))
    }

    async fn release(&self, lease: &Stamp) {
        let Ok(Held { pk, token, charge }) = held_of(lease) else {
            return;
        };
        if let Err(e) = self
            .store
            .delete_if(pk, IDEMPOTENCY_SK, "lease", token)
            .await
        {
            tracing::warn!(error = %e, "idempotency lease not released; it will expire");
        }
        if let Some(key) = charge {
            self.forget_first_charge(key).await;
        }
    }

    async fn free(&self, lease: &Stamp, keep_invoice: bool) {
        let Ok(Held { pk, token, charge }) = held_of(lease) else {
            return;
        };
        // Its charge, made or not, stays in the book for the retry or the settlement run.
        if let Some(key) = charge {
            self.took_first_charge(key);
        }
        let mut update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(self.store.table())
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S(IDEMPOTENCY_SK.into()));
        update = if keep_invoice {
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
            Ok(update) => self
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
}

impl App {
    /// Notes that the first charge `key` was recorded with a lease this instance took.
    fn first_charge_taken(&self, key: &str) {
        if let Ok(mut taken) = self.first_charges.lock() {
            // Entries a stopped request left behind go once their lease surely ran out.
            taken.retain(|_, at| at.elapsed() < FIRST_CHARGE_KEPT);
            taken.insert(key.to_string(), std::time::Instant::now());
        }
    }

    /// Whether `key` is a first charge recorded with a lease this instance took less than a
    /// lease's time ago (so still held: nobody else charged it, nobody gave it back) and not
    /// charged yet; it is not any more after this call. Past that time the book is asked.
    pub(crate) fn took_first_charge(&self, key: &str) -> bool {
        self.first_charges
            .lock()
            .ok()
            .and_then(|mut taken| taken.remove(key))
            .is_some_and(|at| at.elapsed() < FIRST_CHARGE_KEPT)
    }

    /// Strikes a released lease's first charge off the book, unless it was given back (the
    /// mark stays: the key is never charged again, and listed until its refund is done). A
    /// failure only logs: settlement finds no charge for it and strikes it off.
    async fn forget_first_charge(&self, key: &str) {
        self.took_first_charge(key);
        let pending = PendingCharge::key_only(key);
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(self.store.table())
            .key("pk", AttributeValue::S(pending.pk.clone()))
            .key("sk", AttributeValue::S(pending.sk.clone()))
            .condition_expression("refunded = :no")
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .build();
        let forgot = match delete {
            Ok(delete) => self
                .store
                .transact(vec![TransactWriteItem::builder().delete(delete).build()])
                .await
                .map_err(|e| format!("{e:?}")),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = forgot {
            tracing::info!(error = %e, charge = %key, "first charge left in the book");
        }
    }

    /// The key an account's answers are sealed under: the account's (held by this instance
    /// once the request opened the account), or the platform's for security reports.
    async fn sealing_key(
        &self,
        account_id: &str,
    ) -> Result<std::sync::Arc<crate::crypto::DataKey>, Error> {
        if account_id == crate::tickets::SECURITY_ACCOUNT {
            return self.security_key().await;
        }
        if let Some(key) = self
            .keys
            .recall(&crate::crypto::KeyScope::Account(account_id.to_string()))
        {
            return Ok(key);
        }
        Ok(self.account_item(account_id).await?.1)
    }
}

/// Replays an idempotent answer or runs `work` once (`softbrik_app::idempotency::once`).
pub async fn once(
    app: &App,
    scope: &str,
    key: Option<&str>,
    request: serde_json::Value,
    reserve: impl Fn() -> BTreeMap<String, String>,
    work: impl AsyncFnOnce(&Lease) -> Result<(u16, serde_json::Value), Error>,
) -> Result<(u16, serde_json::Value), Error> {
    softbrik_app::idempotency::once(app, &*app.system_clock, scope, key, request, reserve, work)
        .await
}

/// `Idempotency-Key` for a repeatable change of an account (`softbrik_app::idempotency::guard`).
pub async fn guard(
    app: &App,
    account_id: &str,
    key: Option<&str>,
    request: serde_json::Value,
    work: impl AsyncFnOnce() -> Result<(u16, serde_json::Value), Error>,
) -> Result<(u16, serde_json::Value), Error> {
    let scope = account_scope(account_id);
    softbrik_app::idempotency::guard(
        app,
        &*app.system_clock,
        &scope,
        account_id,
        key,
        request,
        work,
    )
    .await
}

/// The answer of a change (`answer`: none without a key), built from its invoice as numbered,
/// and the writes that record it in the change's transaction (`answer_ops`).
pub(crate) fn answered(
    app: &App,
    answer: Option<&softbrik_app::ports::team::Answering<'_>>,
    account_id: &str,
    key: &crate::crypto::DataKey,
    invoice: Option<&crate::account::Invoice>,
) -> Result<Option<(serde_json::Value, Vec<TransactWriteItem>)>, Error> {
    let Some(answering) = answer else {
        return Ok(None);
    };
    let body = (answering.body)(invoice)?;
    let ops = answer_ops(
        app,
        answering.lease,
        account_id,
        key,
        answering.status,
        &body,
        invoice,
    )?;
    Ok(Some((body, ops)))
}

/// The writes that record the answer of the request holding `held`, in the transaction that
/// stores `invoice` (if any): the answer, and the lease's first charge struck off the book
/// (unless `invoice`'s own write strikes it: it is the charge that paid it).
pub(crate) fn answer_ops(
    app: &App,
    held: &Stamp,
    account_id: &str,
    key: &crate::crypto::DataKey,
    status: u16,
    body: &serde_json::Value,
    invoice: Option<&crate::account::Invoice>,
) -> Result<Vec<TransactWriteItem>, Error> {
    let Held { pk, token, charge } = held_of(held)?;
    let mut ops = vec![answer_op(app, pk, token, account_id, key, status, body)?];
    let struck_by_invoice = invoice
        .filter(|i| i.payment.charge_id.is_some())
        .map(crate::invoicing::charge_key);
    if let Some(first) = charge
        && struck_by_invoice.as_ref() != Some(first)
    {
        ops.push(PendingCharge::key_only(first).delete_op(app)?);
    }
    Ok(ops)
}

/// The write that records the answer of the request holding the lease `token` on `pk`.
fn answer_op(
    app: &App,
    pk: &str,
    token: &str,
    account_id: &str,
    key: &crate::crypto::DataKey,
    status: u16,
    body: &serde_json::Value,
) -> Result<TransactWriteItem, Error> {
    let now = app.system_clock.now().as_second();
    let sealed = key.seal(
        Field::new(account_id, (pk, IDEMPOTENCY_SK), "idempotent_response"),
        &body.to_string(),
    );
    // Keep the fingerprint the lease was taken with.
    let update = aws_sdk_dynamodb::types::Update::builder()
        .table_name(app.store.table())
        .key("pk", AttributeValue::S(pk.to_string()))
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
        .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()))
        .expression_attribute_values(":status", AttributeValue::N(status.to_string()))
        .expression_attribute_values(
            ":response",
            AttributeValue::S(sealed.as_str().to_string()),
        )
        .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
        .expression_attribute_values(":lease", AttributeValue::S(token.to_string()))
        .build()
        .map_err(Error::internal)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// The `gsi1` partition listing an account's idempotency records.
pub fn by_account(account_id: &str) -> String {
    format!("IDEMPOTENCY#ACCOUNT#{account_id}")
}
