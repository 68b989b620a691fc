//! Billing runs: how the scheduled `renew` and `reminder` functions find the accounts whose
//! jobs are due without ever scanning the table (docs/billing-runs.md).
//!
//! Each account has one schedule item per runner (`ACCOUNT#SCHEDULE#renew`, `…#reminder`),
//! indexed by `gsi2`: partition `DUE#<runner>#<shard>` (16 shards, by account id) or, for an
//! account on a test clock, `DUE#<runner>#clock#<clock id>`; sort key the instant its next
//! job is due. A run at instant `at` reads every partition for items due at or before `at`,
//! page by page, and hands each account found to a worker (`crate::fan_out`), which runs the
//! jobs of the account due in `(done_until, at]` (computed from the account's calendar, see
//! [`crate::jobs`]), in time order, then moves `done_until` to `at` and the sort key to the
//! next job ([`run_account`]). A job that fails leaves the item as it was, so the next run
//! tries again. The SLA run fans out its tickets' index items the same way.
//!
//! Every job is idempotent on its own (a renewal by account and period, a reminder by its
//! marker, a payment retry by its attempt number), so two runs that meet do no harm; the
//! conditional write of `done_until` only keeps them from doing the same work twice.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::billing_calendar::{AnchorDay, Calendar};
use crate::clock::Clock;
use crate::error::Error;
use crate::jobs::{Job, JobKind, due_jobs};
use crate::store::{AccountItem, AccountRecords, account_pk};
use crate::values::TimeZoneName;

/// Partitions of a runner's live schedule: spreads the index writes of a large run.
pub const SHARDS: u32 = 16;

/// The function that runs a kind of job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Runner {
    /// Period ends (removals, renewal) and payment retries.
    Renew,
    /// Reminders a week before the billing date.
    Reminder,
    /// Support tickets' clocks (`tickets`): SLA breaches, P1 update alerts, automatic
    /// closing, pseudonymisation. Its index items are the tickets themselves.
    Sla,
}

impl Runner {
    /// Every runner: what a test clock fires at each due instant.
    pub const ALL: [Runner; 3] = [Runner::Renew, Runner::Reminder, Runner::Sla];
    /// The runners with a schedule item per account.
    pub const ACCOUNT: [Runner; 2] = [Runner::Renew, Runner::Reminder];

    pub fn name(self) -> &'static str {
        match self {
            Runner::Renew => "renew",
            Runner::Reminder => "reminder",
            Runner::Sla => "sla",
        }
    }

    pub fn runs(self, kind: JobKind) -> bool {
        match kind {
            JobKind::PeriodEnd
            | JobKind::PaymentRetry
            | JobKind::Closure
            | JobKind::UsageSample => self == Runner::Renew,
            JobKind::Reminder => self == Runner::Reminder,
        }
    }
}

/// Which schedules a run serves: the live ones, or those of one test clock's accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Live,
    Clock(String),
}

impl Scope {
    pub fn of(test_clock_id: Option<&str>) -> Scope {
        test_clock_id.map_or(Scope::Live, |id| Scope::Clock(id.to_string()))
    }

    /// The index partitions this scope's schedules of `runner` live in.
    pub fn partitions(&self, runner: Runner) -> Vec<String> {
        match self {
            Scope::Live => (0..SHARDS)
                .map(|shard| format!("DUE#{}#{shard}", runner.name()))
                .collect(),
            Scope::Clock(id) => vec![format!("DUE#{}#clock#{id}", runner.name())],
        }
    }

    /// The partition of the index item of `id` (an account, or a ticket for [`Runner::Sla`]).
    pub fn partition_of(&self, runner: Runner, id: &str) -> String {
        match self {
            Scope::Live => {
                let shard = id
                    .bytes()
                    .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
                    % SHARDS;
                format!("DUE#{}#{shard}", runner.name())
            }
            Scope::Clock(id) => format!("DUE#{}#clock#{id}", runner.name()),
        }
    }
}

/// One account's schedule for one runner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduleItem {
    pub pk: String,
    pub sk: String,
    /// Absent once nothing is due any more (closed accounts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
    pub account_id: String,
    pub runner: Runner,
    /// Every job due up to this instant has run.
    pub done_until: Timestamp,
}

/// The sort key of an account's schedule for `runner`: under the account's own, so that the
/// run reads it with the account ([`AccountRecords`]).
pub fn schedule_sk(runner: Runner) -> String {
    format!("{}{}", crate::store::SCHEDULE_SK_PREFIX, runner.name())
}

/// The index sort key of an instant: fixed width, so text order is time order.
pub fn due_key(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// What the calendar of an account says, read from its item without opening anything sealed.
struct Plan {
    kind: crate::account::AccountKind,
    calendar: Calendar,
    timezone: TimeZoneName,
    past_due_since: Option<jiff::civil::Date>,
    closure_date: Option<jiff::civil::Date>,
}

impl Plan {
    fn of(item: &AccountItem) -> Result<Plan, Error> {
        let anchor = AnchorDay::new(item.anchor_day).map_err(Error::internal)?;
        Ok(Plan {
            kind: item.kind,
            calendar: Calendar::new(anchor, item.calendar_from),
            timezone: TimeZoneName::parse(&item.timezone).map_err(Error::internal)?,
            past_due_since: item.past_due_since,
            closure_date: item.closure_date,
        })
    }

    /// The jobs of `runner` due in `(after, until]`, in time order. A client account has none
    /// but its closure, when its reseller closes it (its reseller is billed); a reseller is
    /// also sampled every midnight.
    fn jobs(&self, id: &str, runner: Runner, after: Timestamp, until: Timestamp) -> Vec<Job> {
        use crate::account::AccountKind;
        let mut jobs: Vec<Job> = if self.kind == AccountKind::Client {
            Vec::new()
        } else {
            due_jobs(
                id,
                &self.calendar,
                &self.timezone,
                self.past_due_since,
                after,
                until,
            )
        };
        if let Some(date) = self.closure_date {
            let at = crate::billing_calendar::local_midnight(date, &self.timezone.time_zone());
            if at > after && at <= until {
                jobs.push(Job {
                    at,
                    job: JobKind::Closure,
                    account_id: id.to_string(),
                    date,
                });
            }
        }
        if self.kind == AccountKind::Reseller {
            jobs.extend(crate::jobs::daily_samples(id, &self.timezone, after, until));
        }
        jobs.sort();
        jobs.into_iter().filter(|j| runner.runs(j.job)).collect()
    }

    /// The first job of `runner` after `after`: a period is at most 31 days, so one always
    /// falls within 40.
    fn next(&self, id: &str, runner: Runner, after: Timestamp) -> Option<Timestamp> {
        let horizon = after + jiff::SignedDuration::from_hours(24 * 40);
        self.jobs(id, runner, after, horizon).first().map(|j| j.at)
    }
}

/// The schedules of an account that starts at `now` (written with the account at signup).
pub fn new_schedules(item: &AccountItem, now: Timestamp) -> Result<Vec<ScheduleItem>, Error> {
    let plan = Plan::of(item)?;
    let scope = Scope::of(item.test_clock_id.as_deref());
    Ok(Runner::ACCOUNT
        .into_iter()
        .map(|runner| ScheduleItem {
            pk: account_pk(&item.id),
            sk: schedule_sk(runner),
            gsi2pk: Some(scope.partition_of(runner, &item.id)),
            gsi2sk: plan.next(&item.id, runner, now).map(due_key),
            account_id: item.id.clone(),
            runner,
            done_until: now,
        })
        .collect())
}

/// Writes that make the account's runners look at it again at `now`: for a change that may
/// bring a job forward (a new time zone). Jobs already run are not run again.
pub fn recheck_ops(
    app: &App,
    account_id: &str,
    now: Timestamp,
) -> Result<Vec<TransactWriteItem>, Error> {
    schedule_updates(
        app,
        account_id,
        "SET gsi2sk = :now",
        &[(":now", AttributeValue::S(due_key(now)))],
    )
}

/// Writes that restart the account's schedules at `now`, for a new calendar (a lapsed account
/// renewed from today): jobs the old calendar had due before `now` are not run.
pub fn restart_ops(
    app: &App,
    account_id: &str,
    now: Timestamp,
) -> Result<Vec<TransactWriteItem>, Error> {
    schedule_updates(
        app,
        account_id,
        "SET gsi2sk = :now, done_until = :done",
        &[
            (":now", AttributeValue::S(due_key(now))),
            (":done", AttributeValue::S(now.to_string())),
        ],
    )
}

fn schedule_updates(
    app: &App,
    account_id: &str,
    expression: &str,
    values: &[(&str, AttributeValue)],
) -> Result<Vec<TransactWriteItem>, Error> {
    Runner::ACCOUNT
        .into_iter()
        .map(|runner| {
            let mut update = Update::builder()
                .table_name(app.store.table())
                .key("pk", AttributeValue::S(account_pk(account_id)))
                .key("sk", AttributeValue::S(schedule_sk(runner)))
                .update_expression(expression)
                .condition_expression("attribute_exists(gsi2pk)");
            for (name, value) in values {
                update = update.expression_attribute_values(*name, value.clone());
            }
            let update = update.build().map_err(Error::internal)?;
            Ok(TransactWriteItem::builder().update(update).build())
        })
        .collect()
}

/// What a runner function is invoked with: by its schedule `{"run": "renew"}` (now, live
/// accounts), or by a test clock with its id and the instant it stands at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    pub run: Runner,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_clock_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
}

/// What a run request of `runner` covers: the live schedules now, or a test clock's at its
/// instant.
pub fn scope_and_instant(
    app: &App,
    runner: Runner,
    request: RunRequest,
) -> Result<(Scope, Timestamp), Error> {
    if request.run != runner {
        return Err(Error::internal(format!(
            "the {} function was asked for a {} run",
            runner.name(),
            request.run.name()
        )));
    }
    match request.test_clock_id {
        Some(_) if !app.config.test_clocks => {
            Err(Error::internal("test clocks are off in this stage"))
        }
        Some(id) => Ok((
            Scope::Clock(id),
            request
                .at
                .ok_or_else(|| Error::internal("a test clock run needs its instant"))?,
        )),
        None => Ok((Scope::Live, app.system_clock.now())),
    }
}

/// How a run went.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// Accounts found due.
    pub accounts: u32,
    /// Jobs run.
    pub jobs: u32,
    /// Accounts whose jobs failed: they stay due and the next run tries again.
    pub failed: u32,
    /// Accounts left for the next run when the time budget ran out; for a run that fans out,
    /// a live run not started because the one before still waits in the queue, or a test
    /// clock's accounts still being handled when its run stopped waiting.
    pub deferred: bool,
    /// A test clock's run handed to the workers: the report they count the accounts into,
    /// which the clock waits on (`fan_out::wait`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

/// An index item a run hands to its handler.
pub trait Due: serde::de::DeserializeOwned {
    /// What a fanned-out run hands a worker for it: the account, and the item's sort key in
    /// the account's partition.
    fn work(&self) -> (&str, &str);

    /// Whether a worker reads the wrapped keys of its batch's accounts at once (one request)
    /// before it handles them: for items whose handler opens the account's data.
    const OPENS_ACCOUNTS: bool = true;
}

impl Due for ScheduleItem {
    fn work(&self) -> (&str, &str) {
        (&self.account_id, &self.sk)
    }
}

type PageKey = HashMap<String, AttributeValue>;

/// One page of the index items of `partition` due at or before `at`, earliest first.
pub async fn due_page<T: serde::de::DeserializeOwned>(
    app: &App,
    partition: &str,
    at: Timestamp,
    limit: i32,
    start: Option<PageKey>,
) -> Result<(Vec<T>, Option<PageKey>), Error> {
    let out = app
        .store
        .client()
        .query()
        .table_name(app.store.table())
        .index_name("gsi2")
        .key_condition_expression("gsi2pk = :pk AND gsi2sk <= :at")
        .expression_attribute_values(":pk", AttributeValue::S(partition.into()))
        .expression_attribute_values(":at", AttributeValue::S(due_key(at)))
        .limit(limit)
        .set_exclusive_start_key(start)
        .send()
        .await
        .map_err(|e| {
            Error::unavailable(format!(
                "dynamodb Query gsi2: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e.into_service_error())
            ))
        })?;
    let items = out
        .items
        .unwrap_or_default()
        .into_iter()
        .map(|i| serde_dynamo::from_item(i).map_err(|e| Error::internal(format!("due item: {e}"))))
        .collect::<Result<Vec<T>, Error>>()?;
    let next = out.last_evaluated_key.filter(|k| !k.is_empty());
    Ok((items, next))
}

/// The due time of any index item.
#[derive(Deserialize)]
struct DueKey {
    gsi2sk: String,
}

/// The earliest instant a job of `runner` is due in `scope`, if any (test clocks advance
/// from one to the next).
pub async fn earliest_due(
    app: &App,
    runner: Runner,
    scope: &Scope,
) -> Result<Option<Timestamp>, Error> {
    let mut firsts = Vec::new();
    for partition in scope.partitions(runner) {
        let (items, _) = due_page::<DueKey>(app, &partition, Timestamp::MAX, 1, None).await?;
        if let Some(key) = items.first().map(|i| i.gsi2sk.as_str()) {
            firsts.push(key.parse::<Timestamp>().map_err(Error::internal)?);
        }
    }
    Ok(firsts.into_iter().min())
}

/// The move of an account's schedule past a run's jobs: `done_until` from `previous` (as
/// stored when the run read it) to `at`, and its index key to the next job, planned from the
/// account as it stands after them. The run makes it after the jobs; a run's only job may make
/// it in its own transaction instead (a renewal: its invoice and the move land together, so a
/// renewal stored by a run is never run again by another).
#[derive(Debug, Clone)]
pub struct ScheduleMove {
    runner: Runner,
    pk: String,
    sk: String,
    previous: Timestamp,
    at: Timestamp,
}

impl ScheduleMove {
    /// The writes of the move, on condition that nobody moved the schedule since it was read,
    /// and that the account was not changed meanwhile: `after` is the account as the
    /// transaction leaves it, `written` whether that transaction writes it (on the version it
    /// read: then that write is the condition).
    pub fn ops(
        &self,
        app: &App,
        after: &AccountItem,
        written: bool,
    ) -> Result<Vec<TransactWriteItem>, Error> {
        let next = Plan::of(after)?.next(&after.id, self.runner, self.at);
        let update = Update::builder()
            .table_name(app.store.table())
            .key("pk", AttributeValue::S(self.pk.clone()))
            .key("sk", AttributeValue::S(self.sk.clone()))
            .condition_expression("done_until = :previous")
            .expression_attribute_values(":previous", AttributeValue::S(self.previous.to_string()))
            .expression_attribute_values(":at", AttributeValue::S(self.at.to_string()));
        let update = match next {
            Some(next) => update
                .update_expression("SET done_until = :at, gsi2sk = :next")
                .expression_attribute_values(":next", AttributeValue::S(due_key(next))),
            None => update.update_expression("SET done_until = :at REMOVE gsi2pk, gsi2sk"),
        };
        let mut ops = vec![
            TransactWriteItem::builder()
                .update(update.build().map_err(Error::internal)?)
                .build(),
        ];
        if !written {
            ops.push(
                app.store
                    .unchanged_op(&after.pk, &after.sk, after.version)?,
            );
        }
        Ok(ops)
    }
}

/// What a job hands back to its run.
#[derive(Debug)]
pub struct Ran {
    /// The account's records as the job left them, when it did not write them (`None`: the
    /// run reads them again).
    pub records: Option<AccountRecords>,
    /// Whether the job made the schedule's move it was handed, in its own transaction.
    pub moved: bool,
}

impl Ran {
    /// A job that did not move the schedule, and left the records as `records`.
    pub fn left(records: Option<AccountRecords>) -> Ran {
        Ran {
            records,
            moved: false,
        }
    }
}

/// Runs one account's due jobs in time order, then moves its schedule on. The account's
/// records (the account, its users, packs and schedules: one Query) are read once; the jobs
/// are planned from the schedule as stored, not from the index's copy, which may lag behind a
/// run that just moved it. The records go to the first job, and to each next one while the
/// jobs before left them as read. An only job is handed the schedule's move to make with its
/// own writes; otherwise the move follows the jobs, on the account as last known, only if it
/// is still at that version: a change made meanwhile (by a job or a request) is read, and the
/// next job planned from it.
/// A run handed an account late (a queue's message delivered again after a later run moved
/// the schedule past its instant) does nothing: its jobs ran.
pub(crate) async fn run_account<F, Fut>(
    app: &App,
    runner: Runner,
    account_id: &str,
    schedule_sk: &str,
    at: Timestamp,
    handle: &F,
) -> Result<u32, Error>
where
    F: Fn(Job, Option<AccountRecords>, Option<ScheduleMove>) -> Fut,
    Fut: Future<Output = Result<Ran, Error>>,
{
    let records = match AccountRecords::read(&app.store, account_id).await {
        Err(Error::NotFound) => return Ok(0),
        other => other?,
    };
    let Some(stored) = records.schedules.iter().find(|s| s.sk == schedule_sk) else {
        // Gone with the account's closure since the index was read.
        return Ok(0);
    };
    if stored.done_until > at {
        return Ok(0);
    }
    let the_move = ScheduleMove {
        runner,
        pk: stored.pk.clone(),
        sk: stored.sk.clone(),
        previous: stored.done_until,
        at,
    };
    let account = &records.account;
    let jobs = Plan::of(account)?.jobs(&account.id, runner, the_move.previous, at);
    let count = u32::try_from(jobs.len()).unwrap_or(u32::MAX);
    let only = jobs.len() == 1;
    let mut known = Some(records);
    for job in jobs {
        let ran = handle(job, known.take(), only.then(|| the_move.clone())).await?;
        if ran.moved {
            return Ok(count);
        }
        known = ran.records;
    }
    let mut known = known.map(|records| records.account);
    for _ in 0..SCHEDULE_MOVE_TRIES {
        // The jobs may have changed the calendar (a failed renewal schedules retries), or
        // closed the account, its schedules gone with it.
        let account = match known.take() {
            Some(account) => account,
            None => match app.sealed_account(account_id).await {
                Err(Error::NotFound) => return Ok(count),
                other => other?,
            },
        };
        match app
            .store
            .transact(the_move.ops(app, &account, false)?)
            .await
        {
            Ok(()) => return Ok(count),
            // Another run moved it on first: it ran the same (idempotent) jobs.
            Err(e) if e.condition_failed(0) => return Ok(count),
            // The account changed since it was read: plan again from it as it is now.
            Err(e) if e.condition_failed(1) => continue,
            Err(e) => return Err(e.into_error(|_| Error::internal("unreachable"))),
        }
    }
    Err(Error::unavailable(
        "the account kept changing; its schedule moves on at the next run",
    ))
}

/// Plans of the next job made for an account that changes meanwhile, before the run leaves
/// it due for the next run.
const SCHEDULE_MOVE_TRIES: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_keys_sort_as_time() {
        let a: Timestamp = "2027-01-11T23:00:00Z".parse().unwrap();
        let b: Timestamp = "2027-01-12T05:30:00Z".parse().unwrap();
        assert!(due_key(a) < due_key(b));
        assert_eq!(due_key(a), "2027-01-11T23:00:00Z");
        assert_eq!(due_key(a).parse::<Timestamp>().unwrap(), a);
    }

    #[test]
    fn live_accounts_spread_over_every_shard_and_clock_accounts_stay_with_their_clock() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..2000 {
            let id = crate::account::new_id("acc");
            let p = Scope::Live.partition_of(Runner::Renew, &id);
            assert!(Scope::Live.partitions(Runner::Renew).contains(&p));
            seen.insert(p);
            let _ = i;
        }
        assert_eq!(seen.len(), SHARDS as usize);
        let clock = Scope::Clock("clock_x".into());
        assert_eq!(
            clock.partition_of(Runner::Reminder, "acc_1"),
            "DUE#reminder#clock#clock_x"
        );
    }

    #[test]
    fn a_closing_account_is_closed_by_the_renew_run_after_its_last_period_end() {
        let plan = Plan {
            kind: crate::account::AccountKind::Company,
            calendar: Calendar::anniversary(AnchorDay::new(12).unwrap()),
            timezone: TimeZoneName::parse("Europe/Paris").unwrap(),
            past_due_since: None,
            closure_date: Some(jiff::civil::date(2027, 1, 12)),
        };
        let after: Timestamp = "2027-01-05T12:00:00Z".parse().unwrap();
        let until: Timestamp = "2027-01-12T12:00:00Z".parse().unwrap();
        let kinds: Vec<JobKind> = plan
            .jobs("acc", Runner::Renew, after, until)
            .iter()
            .map(|j| j.job)
            .collect();
        assert_eq!(kinds, vec![JobKind::PeriodEnd, JobKind::Closure]);
        assert!(
            plan.jobs("acc", Runner::Reminder, after, until)
                .iter()
                .all(|j| j.job == JobKind::Reminder)
        );
    }

    #[test]
    fn each_job_kind_has_one_runner() {
        for kind in [
            JobKind::PeriodEnd,
            JobKind::PaymentRetry,
            JobKind::Reminder,
            JobKind::Closure,
        ] {
            let runners = Runner::ALL.iter().filter(|r| r.runs(kind)).count();
            assert_eq!(runners, 1, "{kind:?}");
        }
    }
}
