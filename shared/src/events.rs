//! The events of events.md on AWS: a transactional outbox and its publisher.
//!
//! - A change's events are written in the change's own transaction, as outbox items under its
//!   account (`OUTBOX#<event id>`, the ids sorting in the order the changes were made) and in
//!   the outbox index (`gsi1`, `OUTBOX`): never an event for a change that did not happen,
//!   never a change without its event.
//! - After the transaction, the request publishes its account's outbox ([`publish_account`]):
//!   each event not yet numbered takes the account's next `sequence` (a counter item under the
//!   account, written with the numbers in one transaction, so a number is given once), then
//!   they go on the bus with `PutEvents`, in sequence order, up to 10 a request, each with the
//!   instant its change took effect as EventBridge's `time`; each accepted event leaves the
//!   outbox. An event refused, or a bus that does not answer, stops the account's publishing
//!   there (order is kept) and is logged, never returned: the change stands.
//! - The settlement run (`prorate`, every 5 minutes) publishes whatever is left
//!   ([`publish_pending`]). Delivery is at least once: consumers drop duplicates by
//!   `event_id`.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use softbrik_domain::events::{Change, Event};

use crate::app::App;
use crate::error::Error;
use crate::store::account_pk;

const OUTBOX_SK_PREFIX: &str = "OUTBOX#";
const OUTBOX_INDEX: &str = "OUTBOX";
/// The counter sorts just before the events (`OUTBOX` < `OUTBOX#...`): one Query of the
/// prefix `OUTBOX` reads both.
const SEQUENCE_SK: &str = "OUTBOX";
/// EventBridge takes at most 10 entries a request.
const PUT_EVENTS_MAX: usize = 10;
/// Events numbered at once: with the counter, the 100 items a DynamoDB transaction holds.
const NUMBERED_AT_ONCE: usize = 99;

/// An event waiting in the outbox: ids and what the change says (no personal data), so kept
/// clear.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxItem {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    #[serde(flatten)]
    pub event: Event,
    /// Its number in the account's events, once given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
}

impl OutboxItem {
    pub fn of(event: &Event) -> OutboxItem {
        OutboxItem {
            pk: account_pk(&event.account_id),
            sk: format!("{OUTBOX_SK_PREFIX}{}", event.id),
            gsi1pk: OUTBOX_INDEX.into(),
            gsi1sk: format!("{}#{}", event.account_id, event.id),
            event: event.clone(),
            sequence: None,
        }
    }
}

/// Whether the item `sk` of an account's partition outlives the closure's deletion: the events
/// not told yet and their counter (ids and numbers only), until `Account Closed` is told.
pub fn kept_past_closure(sk: &str) -> bool {
    sk.starts_with(OUTBOX_SK_PREFIX) || sk == SEQUENCE_SK
}

/// The writes that record `events` in the outbox, for the change's own transaction.
pub fn outbox_ops(app: &App, events: &[Event]) -> Result<Vec<TransactWriteItem>, Error> {
    events
        .iter()
        .map(|event| app.store.put_new_op(&OutboxItem::of(event)))
        .collect()
}

/// The account's event counter: the last `sequence` given.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SequenceItem {
    pk: String,
    sk: String,
    last: u64,
}

/// What the Query of an account's outbox finds: its counter, or an event waiting.
#[derive(Deserialize)]
#[serde(untagged)]
enum OutboxRow {
    Event(Box<OutboxItem>),
    Counter(SequenceItem),
}

/// Publishes the account's outbox, in order; how many events went on the bus. A failure is
/// logged and left for the next publishing: the change it announces stands.
pub async fn publish_account(app: &App, account_id: &str) -> u32 {
    match publish(app, account_id).await {
        Ok(published) => published,
        Err(e) => {
            tracing::warn!(error = %e, "events not published yet; the settlement run sends them");
            0
        }
    }
}

/// Publishes every account's outbox (the settlement run): how many events went on the bus.
pub async fn publish_pending(app: &App) -> Result<u32, Error> {
    let waiting: Vec<OutboxItem> = app.store.query_index_all(OUTBOX_INDEX).await?;
    let mut accounts: Vec<String> = waiting.into_iter().map(|i| i.event.account_id).collect();
    accounts.dedup();
    let mut published = 0;
    for account_id in accounts {
        published += publish_account(app, &account_id).await;
    }
    Ok(published)
}

async fn publish(app: &App, account_id: &str) -> Result<u32, Error> {
    let Some(bus) = app.config.event_bus.as_deref() else {
        return Ok(0);
    };
    let pk = account_pk(account_id);
    let client = aws_sdk_eventbridge::Client::new(&app.aws);
    let mut published = 0;
    loop {
        // The counter and the waiting events, in one Query.
        let rows: Vec<OutboxRow> = app.store.query_prefix(&pk, SEQUENCE_SK).await?;
        let mut counter = None;
        let mut waiting = Vec::with_capacity(rows.len());
        for row in rows {
            match row {
                OutboxRow::Event(item) => waiting.push(*item),
                OutboxRow::Counter(c) => counter = Some(c),
            }
        }
        if waiting.is_empty() {
            break;
        }
        // Those numbered already first, in their order, then the others in the order they
        // were made; as many as one numbering transaction holds, the rest next round.
        waiting.sort_by(|a, b| {
            (a.sequence.is_none(), a.sequence, &a.sk).cmp(&(
                b.sequence.is_none(),
                b.sequence,
                &b.sk,
            ))
        });
        let more = waiting.len() > NUMBERED_AT_ONCE;
        waiting.truncate(NUMBERED_AT_ONCE);
        number(app, &pk, counter, &mut waiting).await?;
        waiting.sort_by_key(|i| i.sequence);
        published += put_on_bus(app, &client, bus, &waiting).await?;
        if !more {
            break;
        }
    }
    tracing::info!(published, "events published");
    Ok(published)
}

/// Puts numbered events on the bus, 10 a request, in order; each accepted one leaves the
/// outbox. An event refused stops there (order is kept): an error, its events left.
async fn put_on_bus(
    app: &App,
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    waiting: &[OutboxItem],
) -> Result<u32, Error> {
    let mut published = 0;
    for batch in waiting.chunks(PUT_EVENTS_MAX) {
        let entries = batch
            .iter()
            .map(|item| entry(bus, item))
            .collect::<Result<Vec<_>, Error>>()?;
        let answer = client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                Error::unavailable(format!(
                    "eventbridge PutEvents: {}",
                    aws_sdk_eventbridge::error::DisplayErrorContext(&e)
                ))
            })?;
        // Accepted entries leave the outbox, up to the first refused: order is kept.
        let accepted = answer
            .entries()
            .iter()
            .take_while(|e| e.error_code().is_none())
            .count()
            .min(batch.len());
        let mut done = batch[..accepted]
            .iter()
            .map(|i| app.store.delete_op(&i.pk, &i.sk))
            .collect::<Result<Vec<_>, Error>>()?;
        // The account's last event told: its counter goes with the rest of its data.
        if let Some(closed) = batch[..accepted]
            .iter()
            .find(|i| matches!(i.event.change, Change::AccountClosed { .. }))
        {
            done.push(app.store.delete_op(&closed.pk, SEQUENCE_SK)?);
        }
        if !done.is_empty() {
            app.store
                .transact(done)
                .await
                .map_err(|e| e.into_error(|_| Error::internal("an outbox delete refused")))?;
        }
        published += u32::try_from(accepted).unwrap_or(u32::MAX);
        if accepted < batch.len() {
            return Err(Error::unavailable(format!(
                "eventbridge refused an event: {:?}",
                answer.entries().get(accepted).and_then(|e| e.error_code())
            )));
        }
    }
    Ok(published)
}

/// Gives each event not yet numbered the account's next `sequence`, in the order the events
/// were made, with the counter, in one transaction: a number is given once, whoever numbers.
async fn number(
    app: &App,
    pk: &str,
    counter: Option<SequenceItem>,
    waiting: &mut [OutboxItem],
) -> Result<(), Error> {
    let fresh: Vec<usize> = (0..waiting.len())
        .filter(|&i| waiting[i].sequence.is_none())
        .collect();
    if fresh.is_empty() {
        return Ok(());
    }
    let last = counter.as_ref().map_or(0, |c| c.last);
    let mut ops = Vec::with_capacity(fresh.len() + 1);
    for (n, &i) in fresh.iter().enumerate() {
        let sequence = last + 1 + n as u64;
        waiting[i].sequence = Some(sequence);
        ops.push(app.store.put_if_op(
            &waiting[i],
            "attribute_exists(pk) AND attribute_not_exists(#sequence)",
            &[("#sequence", "sequence")],
            &[],
        )?);
    }
    let next = SequenceItem {
        pk: pk.to_string(),
        sk: SEQUENCE_SK.into(),
        last: last + fresh.len() as u64,
    };
    ops.push(match counter {
        None => app.store.put_new_op(&next)?,
        Some(_) => app.store.put_if_op(
            &next,
            "#last = :last",
            &[("#last", "last")],
            &[(":last", AttributeValue::N(last.to_string()))],
        )?,
    });
    app.store.transact(ops).await.map_err(|e| {
        e.into_error(|_| Error::unavailable("events numbered meanwhile by another publisher"))
    })
}

/// The bus entry of an outbox event.
fn entry(bus: &str, item: &OutboxItem) -> Result<PutEventsRequestEntry, Error> {
    let event = &item.event;
    let sequence = item
        .sequence
        .ok_or_else(|| Error::internal("an event published before it was numbered"))?;
    let change: &Change = &event.change;
    Ok(PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(change.source().as_str())
        .detail_type(change.detail_type())
        .detail(event.detail(sequence).to_string())
        .time(aws_time(event.at))
        .build())
}

fn aws_time(at: Timestamp) -> aws_sdk_eventbridge::primitives::DateTime {
    aws_sdk_eventbridge::primitives::DateTime::from_millis(at.as_millisecond())
}
