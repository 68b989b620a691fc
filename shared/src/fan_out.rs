//! Billing runs that fan out over a queue (docs/billing-runs.md, "Fan-out").
//!
//! A run of `renew` or `reminder` does not walk the due accounts itself: it hands them to its
//! function's queue (SQS, with a dead-letter queue), and the same function, invoked by the
//! queue's event source mapping in batches, runs each account's jobs ([`serve`]). The mapping's maximum concurrency is
//! the number of workers; each worker paces its calls to the payment partner at its share of
//! the partner's rate (`payments::Gate`), so that a run of a million renewals stays under
//! the partner's limit however long the queue is.
//!
//! - A live run (its schedule, every 15 minutes) enqueues one [`Work::Page`] per partition of
//!   the due index. A worker that takes a page reads it (one Query of up to
//!   [`PAGE_SIZE`] items due), enqueues an [`Work::Account`] per item, then the next page:
//!   the index is read once per run, in parallel over its partitions, by whichever workers are
//!   free. A live run starts only when no message of a run before waits in the queue (an
//!   account still waiting would be enqueued twice; running it twice would be harmless, but
//!   useless).
//! - A test clock's run (the clock's advance, synchronous) reads its clock's partition itself,
//!   enqueues the accounts with a report item of its own (`RUNREPORT#<id>`), and answers
//!   once every account is counted in the report by the worker that handled it, as the run
//!   did when it walked the accounts itself.
//!
//! Every job is idempotent (a renewal by account and period, a retry by its attempt, a
//! reminder by its marker), and a schedule moves on only from where it was read, so a
//! message delivered twice, a batch redriven after a worker died, or two runs that meet bill
//! once. A worker answers the messages it could not handle (`batchItemFailures`): the queue
//! delivers them again after its visibility timeout, and to the dead-letter queue after its
//! `maxReceiveCount`; the account stays due meanwhile, so a later run takes it too.

use std::collections::HashMap;
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures::StreamExt;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::app::App;
use crate::error::Error;
use crate::jobs::Job;
use crate::schedule::{Due, Ran, RunReport, RunRequest, Runner, ScheduleItem, ScheduleMove, Scope};
use crate::store::AccountRecords;

/// Index items read per page: a page's accounts go to the queue in 10 batches of 10.
pub const PAGE_SIZE: i32 = 100;

/// Messages of one batch a worker handles at once: one. A worker is then one request to the
/// payment partner at a time, so that the workers (the mapping's maximum concurrency) are
/// what the partner sees at once, each keeping to its share of the rate; a batch of 10
/// renewals takes about 3.5 s with a 300 ms partner, far inside the visibility timeout. More
/// throughput is more workers (docs/billing-runs.md, "Fan-out").
const WORKER_CONCURRENCY: usize = 1;

/// How long a test clock's run waits for its workers before it reports that some accounts
/// are still being handled (`deferred`): the clock's advance stops there, and its next advance
/// runs them again, if they are still due by then.
const CLOCK_RUN_WAIT: Duration = Duration::from_secs(60);

/// A message of a runner's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "work", rename_all = "snake_case", deny_unknown_fields)]
pub enum Work {
    /// Read one page of a partition of the due index, from `start`, and enqueue what is due.
    Page {
        runner: Runner,
        partition: String,
        at: Timestamp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start: Option<HashMap<String, String>>,
    },
    /// Run one account's jobs due up to `at`.
    Account {
        runner: Runner,
        account_id: String,
        /// The sort key of the item due in the account's partition: its schedule item for
        /// `runner`, or the ticket (the SLA run). Named for the first, as messages in flight
        /// carry it.
        schedule: String,
        at: Timestamp,
        /// A test clock's run: the report its worker counts the account into.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report: Option<String>,
    },
}

/// The queue of a runner's function: `SOFTBRIK_RUN_QUEUE` (template.yaml).
pub struct Queue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    /// The function's queue; none configured: an error, since a run cannot fan out.
    pub fn of(app: &App) -> Result<&'static Queue, Error> {
        static QUEUE: OnceLock<Option<Queue>> = OnceLock::new();
        QUEUE
            .get_or_init(|| {
                let url = std::env::var("SOFTBRIK_RUN_QUEUE").ok()?;
                (!url.is_empty()).then(|| Queue {
                    client: aws_sdk_sqs::Client::new(&app.aws),
                    url,
                })
            })
            .as_ref()
            .ok_or_else(|| Error::internal("SOFTBRIK_RUN_QUEUE is not set"))
    }

    /// Sends `works`, 10 to a request (SQS's most), the requests at once.
    async fn send(&self, works: &[Work]) -> Result<(), Error> {
        let batches = works.chunks(10).map(|chunk| async move {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, work)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(serde_json::to_string(work).map_err(Error::internal)?)
                        .build()
                        .map_err(Error::internal)
                })
                .collect::<Result<Vec<_>, Error>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs_failed("SendMessageBatch"))?;
            match out.failed.first() {
                None => Ok(()),
                Some(failed) => Err(Error::unavailable(format!(
                    "sqs SendMessageBatch: {} of {} refused ({})",
                    out.failed.len(),
                    chunk.len(),
                    failed.code
                ))),
            }
        });
        futures::future::try_join_all(batches).await?;
        Ok(())
    }

    /// Whether messages wait in the queue, not yet taken by a worker (approximately, as SQS
    /// counts them: within a minute or so).
    async fn waiting(&self) -> Result<u64, Error> {
        use aws_sdk_sqs::types::QueueAttributeName;
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(sqs_failed("GetQueueAttributes"))?;
        Ok(out
            .attributes
            .as_ref()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }
}

/// A request of SQS that failed: unavailable, with what the SDK says of it.
fn sqs_failed<E: std::error::Error>(operation: &'static str) -> impl FnOnce(E) -> Error {
    move |e| {
        Error::unavailable(format!(
            "sqs {operation}: {}",
            aws_sdk_sqs::error::DisplayErrorContext(e)
        ))
    }
}

/// Serves what a billing function (`renew`, `reminder`) is invoked with: a batch of its
/// queue (it is a worker), a run request (the schedule's or a test clock's: the run, fanned
/// out), or one job run directly (operations' replays). `None`: another event, the function's
/// own. Each account handed to a worker has its jobs run by `handle`, as a walking run ran
/// them (`schedule::run_account`).
pub async fn serve<F, Fut>(
    app: &App,
    runner: Runner,
    event: &serde_json::Value,
    handle: F,
) -> Result<Option<serde_json::Value>, Error>
where
    F: Fn(Job, Option<AccountRecords>, Option<ScheduleMove>) -> Fut + Sync,
    Fut: Future<Output = Result<Ran, Error>>,
{
    // Read in place: a worker's batch is no job, and is not copied to find out.
    if let Ok(job) = Job::deserialize(event) {
        handle(job, None, None).await?;
        return Ok(Some(serde_json::json!({"ran": true})));
    }
    let handle = &handle;
    let run_account = move |account_id: String, schedule: String, at: Timestamp| async move {
        crate::schedule::run_account(app, runner, &account_id, &schedule, at, handle).await
    };
    serve_items::<ScheduleItem, _, _>(app, runner, event, run_account).await
}

/// Serves what a runner function is invoked with: a batch of its queue, each item handed to
/// it run by `run_item` (the account, the item's sort key, the run's instant: the changes
/// made), or a run request, fanned out over its due index of `T` items. `None`: another
/// event, the function's own.
pub async fn serve_items<T, F, Fut>(
    app: &App,
    runner: Runner,
    event: &serde_json::Value,
    run_item: F,
) -> Result<Option<serde_json::Value>, Error>
where
    T: Due,
    F: Fn(String, String, Timestamp) -> Fut + Sync,
    Fut: Future<Output = Result<u32, Error>>,
{
    if let Some(batch) = QueueEvent::of(event) {
        let answer = work::<T, _, _>(app, runner, batch, run_item).await;
        return serde_json::to_value(answer)
            .map(Some)
            .map_err(Error::internal);
    }
    let Ok(request) = RunRequest::deserialize(event) else {
        return Ok(None);
    };
    let (scope, at) = crate::schedule::scope_and_instant(app, runner, request)?;
    let report = fan_out::<T>(app, runner, &scope, at).await?;
    tracing::info!(
        runner = runner.name(),
        accounts = report.accounts,
        jobs = report.jobs,
        failed = report.failed,
        deferred = report.deferred,
        "billing run"
    );
    serde_json::to_value(report)
        .map(Some)
        .map_err(Error::internal)
}

/// A run of `runner` at `at` over `scope`, fanned out to the function's queue.
pub async fn fan_out<T: Due>(
    app: &App,
    runner: Runner,
    scope: &Scope,
    at: Timestamp,
) -> Result<RunReport, Error> {
    let queue = Queue::of(app)?;
    match scope {
        Scope::Live => {
            let waiting = queue.waiting().await?;
            if waiting > 0 {
                // The run before is still being handed out: this one would enqueue the same
                // accounts again. The next run takes whatever is still due then.
                tracing::info!(waiting, "billing run skipped: the queue still holds a run");
                return Ok(RunReport {
                    deferred: true,
                    ..RunReport::default()
                });
            }
            let pages: Vec<Work> = scope
                .partitions(runner)
                .into_iter()
                .map(|partition| Work::Page {
                    runner,
                    partition,
                    at,
                    start: None,
                })
                .collect();
            queue.send(&pages).await?;
            Ok(RunReport::default())
        }
        Scope::Clock(_) => clock_run::<T>(app, queue, runner, scope, at).await,
    }
}

/// A test clock's run: its accounts enqueued, each naming the run's report. The run answers at
/// once (`accounts`: how many, `report`: where they are counted); the clock waits
/// ([`wait`]), so that no instance of the runner's function idles while its workers work.
async fn clock_run<T: Due>(
    app: &App,
    queue: &Queue,
    runner: Runner,
    scope: &Scope,
    at: Timestamp,
) -> Result<RunReport, Error> {
    let report = crate::account::new_id("run");
    let mut enqueued = 0u32;
    for partition in scope.partitions(runner) {
        let mut start = None;
        loop {
            let (count, next) =
                enqueue_page::<T>(app, queue, runner, &partition, at, start, Some(&report)).await?;
            enqueued += count;
            match next {
                Some(key) => start = Some(key),
                None => break,
            }
        }
    }
    Ok(RunReport {
        accounts: enqueued,
        report: (enqueued > 0).then_some(report),
        ..RunReport::default()
    })
}

/// Waits for the workers of a test clock's run (`run`, as it answered) until each of its
/// accounts is counted, or [`CLOCK_RUN_WAIT`]: the run's report as it then stands, `deferred`
/// if accounts were still being handled. A run with nothing handed out is answered as it is.
pub async fn wait(app: &App, run: RunReport) -> Result<RunReport, Error> {
    let Some(report) = run.report.as_deref() else {
        return Ok(run);
    };
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        let counted = RunCount::read(app, report).await?;
        let left = run.accounts.saturating_sub(counted.accounts);
        if left == 0 || started.elapsed() > CLOCK_RUN_WAIT {
            return Ok(RunReport {
                accounts: run.accounts,
                jobs: counted.jobs,
                failed: counted.failed,
                // Not counted in time: a worker still at it, or one that died with its batch,
                // which the queue delivers again after its visibility timeout.
                deferred: left > 0,
                report: run.report,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Reads one page of `partition` due at `at` from `start`, and enqueues its items;
/// answers how many, and where the next page starts.
async fn enqueue_page<T: Due>(
    app: &App,
    queue: &Queue,
    runner: Runner,
    partition: &str,
    at: Timestamp,
    start: Option<HashMap<String, String>>,
    report: Option<&str>,
) -> Result<(u32, Option<HashMap<String, String>>), Error> {
    let start = start.map(|key| {
        key.into_iter()
            .map(|(name, value)| (name, AttributeValue::S(value)))
            .collect()
    });
    let (due, next) = crate::schedule::due_page::<T>(app, partition, at, PAGE_SIZE, start).await?;
    let works: Vec<Work> = due
        .iter()
        .map(|item| {
            let (account_id, key) = item.work();
            Work::Account {
                runner,
                account_id: account_id.to_string(),
                schedule: key.to_string(),
                at,
                report: report.map(str::to_string),
            }
        })
        .collect();
    queue.send(&works).await?;
    let next = next.map(|key| {
        key.into_iter()
            .filter_map(|(name, value)| value.as_s().ok().map(|s| (name, s.clone())))
            .collect()
    });
    Ok((u32::try_from(works.len()).unwrap_or(u32::MAX), next))
}

/// One message of the queue's event, as Lambda hands it to the worker.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueMessage {
    pub message_id: String,
    pub body: String,
}

/// The event the queue's event source mapping invokes a worker with (the fields used of
/// Lambda's SQS event: a handful, so no crate of Lambda's event types is pulled in for them).
#[derive(Debug, Deserialize)]
pub struct QueueEvent {
    #[serde(rename = "Records")]
    pub records: Vec<QueueMessage>,
}

impl QueueEvent {
    /// The event, if `payload` is an SQS event.
    pub fn of(payload: &serde_json::Value) -> Option<QueueEvent> {
        let first = payload.get("Records")?.get(0)?;
        if first.get("eventSource")? != "aws:sqs" {
            return None;
        }
        serde_json::from_value(payload.clone()).ok()
    }
}

/// What a worker answers: the messages to deliver again (`ReportBatchItemFailures`).
#[derive(Debug, Default, Serialize)]
pub struct BatchAnswer {
    #[serde(rename = "batchItemFailures")]
    pub failures: Vec<ItemFailure>,
}

#[derive(Debug, Serialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub id: String,
}

/// A worker's batch: each message handled, `WORKER_CONCURRENCY` at a time, the items by
/// `run_item`.
pub async fn work<T, F, Fut>(
    app: &App,
    runner: Runner,
    event: QueueEvent,
    run_item: F,
) -> BatchAnswer
where
    T: Due,
    F: Fn(String, String, Timestamp) -> Fut + Sync,
    Fut: Future<Output = Result<u32, Error>>,
{
    let run_item = &run_item;
    let parsed: Vec<(String, Result<Work, Error>)> = event
        .records
        .into_iter()
        .map(|m| {
            let work = serde_json::from_str::<Work>(&m.body)
                .map_err(|e| Error::internal(format!("queue message: {e}")));
            (m.message_id, work)
        })
        .collect();
    let accounts: Vec<&str> = parsed
        .iter()
        .filter_map(|(_, w)| match w {
            Ok(Work::Account { account_id, .. }) => Some(account_id.as_str()),
            _ => None,
        })
        .collect();
    if T::OPENS_ACCOUNTS {
        app.prefetch_account_keys(&accounts).await;
    }
    let outcomes: Vec<Option<String>> = futures::stream::iter(parsed)
        .map(|(id, work)| async move {
            let done = match work {
                Ok(work) => handle_work::<T, _, _>(app, runner, &id, work, run_item).await,
                Err(e) => Err(e),
            };
            match done {
                Ok(()) => None,
                Err(e) => {
                    tracing::error!(error = %e, detail = e.detail(), message_id = %id, "queue message failed");
                    Some(id)
                }
            }
        })
        .buffer_unordered(WORKER_CONCURRENCY)
        .collect()
        .await;
    BatchAnswer {
        failures: outcomes
            .into_iter()
            .flatten()
            .map(|id| ItemFailure { id })
            .collect(),
    }
}

/// One message: a page read and handed out, or an item's work run.
async fn handle_work<T, F, Fut>(
    app: &App,
    runner: Runner,
    message_id: &str,
    work: Work,
    run_item: &F,
) -> Result<(), Error>
where
    T: Due,
    F: Fn(String, String, Timestamp) -> Fut + Sync,
    Fut: Future<Output = Result<u32, Error>>,
{
    match work {
        Work::Page {
            runner: of,
            partition,
            at,
            start,
        } => {
            check_runner(runner, of)?;
            let queue = Queue::of(app)?;
            let (count, next) =
                enqueue_page::<T>(app, queue, runner, &partition, at, start, None).await?;
            if let Some(start) = next {
                queue
                    .send(&[Work::Page {
                        runner,
                        partition: partition.clone(),
                        at,
                        start: Some(start),
                    }])
                    .await?;
            }
            tracing::info!(partition, accounts = count, "billing run page handed out");
            Ok(())
        }
        Work::Account {
            runner: of,
            account_id,
            schedule,
            at,
            report,
        } => {
            check_runner(runner, of)?;
            let span = tracing::info_span!("account", account_id = %account_id, item = %schedule);
            let outcome = run_item(account_id.clone(), schedule, at)
                .instrument(span)
                .await;
            match report {
                // A live run's account that failed is delivered again, and stays due.
                None => outcome.map(|_| ()),
                // A test clock's: counted as failed, for the clock's advance to say so; its
                // next advance runs it again.
                Some(report) => {
                    if let Err(e) = &outcome {
                        tracing::error!(error = %e, detail = e.detail(), account_id, "account jobs failed");
                    }
                    RunCount::add(app, &report, message_id, &outcome).await
                }
            }
        }
    }
}

fn check_runner(runner: Runner, of: Runner) -> Result<(), Error> {
    if runner == of {
        Ok(())
    } else {
        Err(Error::internal(format!(
            "the {} function was handed work of {}",
            runner.name(),
            of.name()
        )))
    }
}

/// What the workers of a test clock's run counted: one item per message handled
/// (`RUNREPORT#<id>`, sort key the message's id, which SQS keeps across deliveries; kept a
/// day), so that an account handled twice (its batch delivered again after a worker died)
/// counts once. The account is not named: a closure leaves nothing that names it.
#[derive(Debug, Default)]
struct RunCount {
    accounts: u32,
    jobs: u32,
    failed: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Counted {
    pk: String,
    sk: String,
    jobs: u32,
    failed: bool,
    expires_at: i64,
}

impl RunCount {
    fn pk(report: &str) -> String {
        format!("RUNREPORT#{report}")
    }

    async fn read(app: &App, report: &str) -> Result<RunCount, Error> {
        let counted: Vec<Counted> = app
            .store
            .query_prefix(&Self::pk(report), "MESSAGE#")
            .await?;
        Ok(RunCount {
            accounts: counted.len() as u32,
            jobs: counted.iter().map(|c| c.jobs).sum(),
            failed: counted.iter().filter(|c| c.failed).count() as u32,
        })
    }

    async fn add(
        app: &App,
        report: &str,
        message_id: &str,
        outcome: &Result<u32, Error>,
    ) -> Result<(), Error> {
        let counted = Counted {
            pk: Self::pk(report),
            sk: format!("MESSAGE#{message_id}"),
            jobs: *outcome.as_ref().unwrap_or(&0),
            failed: outcome.is_err(),
            expires_at: app.system_clock.now().as_second() + 24 * 3600,
        };
        // The first handling counts; a second (the batch delivered again) finds it there.
        app.store.put_new(&counted).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_reads_back_as_written_and_refuses_what_it_does_not_know() {
        let at: Timestamp = "2027-01-12T00:00:00Z".parse().unwrap();
        let works = [
            Work::Page {
                runner: Runner::Renew,
                partition: "DUE#renew#3".into(),
                at,
                start: Some(HashMap::from([("gsi2pk".into(), "DUE#renew#3".into())])),
            },
            Work::Account {
                runner: Runner::Renew,
                account_id: "acc_1".into(),
                schedule: "ACCOUNT#SCHEDULE#renew".into(),
                at,
                report: Some("run_1".into()),
            },
        ];
        for work in works {
            let text = serde_json::to_string(&work).unwrap();
            assert_eq!(serde_json::from_str::<Work>(&text).unwrap(), work);
        }
        assert!(
            serde_json::from_str::<Work>(
                r#"{"work":"account","runner":"renew","account_id":"a","schedule":"s","at":"2027-01-12T00:00:00Z","extra":1}"#
            )
            .is_err()
        );
    }

    #[test]
    fn only_an_sqs_event_is_a_queue_event() {
        let sqs = serde_json::json!({"Records": [{"messageId": "m1", "body": "{}", "eventSource": "aws:sqs", "receiptHandle": "r"}]});
        let event = QueueEvent::of(&sqs).unwrap();
        assert_eq!(event.records[0].message_id, "m1");
        let s3 = serde_json::json!({"Records": [{"eventSource": "aws:s3"}]});
        assert!(QueueEvent::of(&s3).is_none());
        assert!(QueueEvent::of(&serde_json::json!({"run": "renew"})).is_none());
    }

    #[test]
    fn the_answer_names_the_failed_messages_as_lambda_reads_them() {
        let answer = BatchAnswer {
            failures: vec![ItemFailure { id: "m2".into() }],
        };
        assert_eq!(
            serde_json::to_value(answer).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m2"}]})
        );
    }
}
