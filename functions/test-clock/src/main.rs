//! The `test-clock` function (non-prod stages only): creates, reads and advances test clocks
//! (api.md "Test clocks"). Accounts signed up with a `test_clock_id` take "now" from it.

use jiff::Timestamp;
use lambda_http::{Body, Error as LambdaError, Request, Response, service_fn};
use serde::Deserialize;
use softbrik::app::App;
use softbrik::billing_calendar::AnchorDay;
use softbrik::error::Error;
use softbrik::http::{self, answer, json, json_body, path_param};
use softbrik::jobs::{Job, JobKind, due_jobs};
use softbrik::store::AccountItem;
use softbrik::test_clock::{TestClock, TestClockItem, TestClockStatus};
use softbrik::values::TimeZoneName;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    softbrik::telemetry::init();
    let app = App::from_env().await?;
    lambda_http::run(service_fn(|req| {
        let span = tracing::info_span!("request", request_id = %http::request_id(&req));
        let app = &app;
        async move { Ok::<_, LambdaError>(answer(route(app, req).await)) }.instrument(span)
    }))
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrozenTime {
    frozen_time: String,
}

fn parse_time(body: FrozenTime) -> Result<Timestamp, Error> {
    body.frozen_time.parse().map_err(|_| {
        Error::validation(
            "frozen_time",
            "invalid_format",
            "an RFC 3339 instant, e.g. 2026-12-12T10:00:00Z",
        )
    })
}

async fn route(app: &App, req: Request) -> Result<Response<Body>, Error> {
    if !app.config.test_clocks {
        return Err(Error::NotFound);
    }
    let path = req.uri().path().to_string();
    match (req.method().as_str(), path.ends_with("/advance")) {
        ("POST", false) if path == "/test-clocks" => create(app, &req).await,
        ("GET", false) => read(app, &path_param(&req, "clock_id")?).await,
        ("POST", true) => advance(app, &req, &path_param(&req, "clock_id")?).await,
        _ => Err(Error::NotFound),
    }
}

async fn create(app: &App, req: &Request) -> Result<Response<Body>, Error> {
    let (body, _): (FrozenTime, _) = json_body(req)?;
    let clock = TestClock {
        id: softbrik::account::new_id("clock"),
        frozen_time: parse_time(body)?,
        status: TestClockStatus::Ready,
    };
    if !app
        .store
        .put_new(&TestClockItem::new(clock.clone()))
        .await?
    {
        return Err(Error::internal("test clock id collision"));
    }
    Ok(json(201, &clock))
}

async fn read(app: &App, id: &str) -> Result<Response<Body>, Error> {
    let clock = TestClockItem::load(&app.store, id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(json(200, &clock))
}

/// Moves the clock forward, running on the way, in time order, every job the real schedules
/// would have run for the clock's accounts; the clock stands at each job's instant while it
/// runs. A failed job stops the advance there: advancing again resumes from that instant (the
/// jobs are idempotent).
async fn advance(app: &App, req: &Request, id: &str) -> Result<Response<Body>, Error> {
    let (body, _): (FrozenTime, _) = json_body(req)?;
    let target = parse_time(body)?;
    let mut item: TestClockItem = app
        .store
        .get(&TestClockItem::pk(id), "TESTCLOCK")
        .await?
        .ok_or(Error::NotFound)?;
    if target < item.clock.frozen_time {
        return Err(Error::validation(
            "frozen_time",
            "clock_cannot_go_back",
            "test clocks only move forward",
        ));
    }
    // Jobs change what is due (a failed renewal schedules retries): after the jobs of each
    // instant have run, what is due next is computed again.
    while let Some(next) = next_jobs(app, id, item.clock.frozen_time, target).await? {
        item = move_to(app, item, next[0].at).await?;
        for job in &next {
            run(job).await?;
        }
    }
    let item = move_to(app, item, target).await?;
    Ok(json(200, &item.clock))
}

async fn move_to(app: &App, item: TestClockItem, at: Timestamp) -> Result<TestClockItem, Error> {
    let mut next = item.clone();
    next.clock.frozen_time = at;
    next.version += 1;
    let op = app.store.put_if_version_op(&next, item.version)?;
    app.store.transact(vec![op]).await.map_err(|e| {
        e.into_error(|_| {
            Error::Conflict(
                "clock_busy",
                "the clock was advanced by another request".into(),
            )
        })
    })?;
    Ok(next)
}

/// The jobs of the clock's accounts due at the earliest instant in `(after, until]`.
async fn next_jobs(
    app: &App,
    id: &str,
    after: Timestamp,
    until: Timestamp,
) -> Result<Option<Vec<Job>>, Error> {
    let accounts: Vec<AccountItem> = app.store.query_index_all(&format!("CLOCK#{id}")).await?;
    let mut jobs: Vec<Job> = Vec::new();
    for account in &accounts {
        let anchor = AnchorDay::new(account.anchor_day).map_err(Error::internal)?;
        let tz = TimeZoneName::parse(&account.timezone).map_err(Error::internal)?;
        jobs.extend(due_jobs(
            &account.id,
            anchor,
            &tz,
            account.past_due_since,
            after,
            until,
        ));
    }
    let Some(first) = jobs.iter().map(|j| j.at).min() else {
        return Ok(None);
    };
    let mut due: Vec<Job> = jobs.into_iter().filter(|j| j.at == first).collect();
    due.sort();
    Ok(Some(due))
}

/// Invokes the function of a job as its schedule would.
async fn run(job: &Job) -> Result<(), Error> {
    let variable = match job.job {
        JobKind::Reminder => "SOFTBRIK_REMINDER_FUNCTION",
        JobKind::PeriodEnd | JobKind::PaymentRetry => "SOFTBRIK_RENEW_FUNCTION",
    };
    let function =
        std::env::var(variable).map_err(|_| Error::internal(format!("{variable} is not set")))?;
    let payload = serde_json::to_vec(job).map_err(Error::internal)?;
    let out = lambda()
        .await
        .invoke()
        .function_name(function)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload))
        .send()
        .await
        .map_err(|e| {
            Error::unavailable(format!(
                "lambda Invoke: {}",
                aws_sdk_lambda::error::DisplayErrorContext(e)
            ))
        })?;
    if let Some(error) = out.function_error() {
        return Err(Error::unavailable(format!(
            "job {:?} for {} failed: {error}",
            job.job, job.account_id
        )));
    }
    tracing::info!(job = ?job.job, account_id = %job.account_id, date = %job.date, "job ran");
    Ok(())
}

/// The Lambda client, made on first use (advances that run no job never need it).
async fn lambda() -> &'static aws_sdk_lambda::Client {
    static CLIENT: tokio::sync::OnceCell<aws_sdk_lambda::Client> =
        tokio::sync::OnceCell::const_new();
    CLIENT
        .get_or_init(|| async { aws_sdk_lambda::Client::new(&aws_config::load_from_env().await) })
        .await
}
