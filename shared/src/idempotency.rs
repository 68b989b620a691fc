//! The DynamoDB adapter of the idempotency answers (`softbrik_app::ports::answers`, whose
//! rules are `softbrik_app::idempotency`): one `IDEMPOTENCY#<scope>#<key>` item per key, taken
//! with a conditional write, its answer sealed under the account's data key, listed by account
//! so that closing the account deletes them. `finish_op` records an answer in the transaction
//! of the change it answers.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::clock::Clock;
use softbrik_app::ports::answers::{AnswerTable, Record};
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

/// A lease this adapter gave: the key's item and the token that holds it.
struct Held {
    pk: String,
    token: String,
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
        let op = TransactWriteItem::builder().put(put).build();
        match self.store.transact(vec![op]).await {
            Ok(()) => Ok(Some(Stamp::new(Held { pk, token }))),
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
        let op = answer_op(self, lease, account_id, &key, status, body)?;
        self.store
            .transact(vec![op])
            .await
            .map_err(|e| e.into_error(|_| Error::IdempotencyInProgress))
    }

    async fn release(&self, lease: &Stamp) {
        let Ok(Held { pk, token }) = held_of(lease) else {
            return;
        };
        if let Err(e) = self
            .store
            .delete_if(pk, IDEMPOTENCY_SK, "lease", token)
            .await
        {
            tracing::warn!(error = %e, "idempotency lease not released; it will expire");
        }
    }

    async fn free(&self, lease: &Stamp, keep_invoice: bool) {
        let Ok(Held { pk, token }) = held_of(lease) else {
            return;
        };
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

/// The write that records the response, in the same transaction as the request's own writes;
/// none for a request without a key.
pub fn finish_op(
    app: &App,
    lease: &Lease,
    account_id: &str,
    key: &crate::crypto::DataKey,
    status: u16,
    body: &serde_json::Value,
) -> Result<Option<TransactWriteItem>, Error> {
    lease
        .held()
        .map(|held| answer_op(app, held, account_id, key, status, body))
        .transpose()
}

/// The write that records the answer of the request holding `held`.
pub(crate) fn answer_op(
    app: &App,
    held: &Stamp,
    account_id: &str,
    key: &crate::crypto::DataKey,
    status: u16,
    body: &serde_json::Value,
) -> Result<TransactWriteItem, Error> {
    let Held { pk, token } = held_of(held)?;
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
    Ok(TransactWriteItem::builder().update(update).build())
}

/// The `gsi1` partition listing an account's idempotency records.
pub fn by_account(account_id: &str) -> String {
    format!("IDEMPOTENCY#ACCOUNT#{account_id}")
}
