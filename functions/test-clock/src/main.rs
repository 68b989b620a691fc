//! The `test-clock` function (non-prod stages only): creates, reads and advances test clocks
//! (api.md "Test clocks"). Accounts signed up with a `test_clock_id` take "now" from it.

use jiff::Timestamp;
use lambda_http::{Body, Error as LambdaError, Request, Response};
use serde::Deserialize;
use softbrik::app::App;
use softbrik::edge::{self, no_events, route_key};
use softbrik::error::Error;
use softbrik::http::{json, json_body, path_param};
use softbrik::refusal::Refusal;
use softbrik::schedule::{RunReport, RunRequest, Runner, Scope};
use softbrik::test_clock::{TestClock, TestClockItem, TestClockStatus};

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    edge::serve(route, no_events).await
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
    match route_key(&req) {
        "POST /test-clocks" => create(app, &req).await,
        "GET /test-clocks/{clock_id}" => read(app, &path_param(&req, "clock_id")?).await,
        "POST /test-clocks/{clock_id}/advance" => {
            advance(app, &req, &path_param(&req, "clock_id")?).await
        }
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

/// Moves the clock forward, firing on the way, in time order, the `renew`, `reminder` and SLA
/// (`tickets`) runs for the clock's accounts at each instant a job of theirs is due, as the real schedules do
/// for live accounts (same due-date index, partitioned by clock); the clock stands at that
/// instant while they run. A failed job stops the advance there: advancing again resumes from
/// that instant (the jobs are idempotent).
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
    let scope = Scope::Clock(id.to_string());
    // Each round moves every due schedule past its instant, so the rounds end; the bound
    // only turns a bug into an error instead of a hung request.
    for _ in 0..10_000 {
        let Some(at) = earliest(app, &scope).await?.filter(|at| *at <= target) else {
            let item = move_to(app, item, target).await?;
            return Ok(json(200, &item.clock));
        };
        // A schedule due before the clock's time (rechecked after a settings change) runs
        // at the clock's time: the clock never goes back.
        let at = at.max(item.clock.frozen_time);
        if at > item.clock.frozen_time {
            item = move_to(app, item, at).await?;
        }
        for runner in Runner::ALL {
            run(app, runner, id, at).await?;
        }
    }
    Err(Error::internal("the clock's jobs did not settle"))
}

/// The earliest instant a job of the clock's accounts is due.
async fn earliest(app: &App, scope: &Scope) -> Result<Option<Timestamp>, Error> {
    let mut due = Vec::new();
    for runner in Runner::ALL {
        due.extend(softbrik::schedule::earliest_due(app, runner, scope).await?);
    }
    Ok(due.into_iter().min())
}

async fn move_to(app: &App, item: TestClockItem, at: Timestamp) -> Result<TestClockItem, Error> {
    let mut next = item.clone();
    next.clock.frozen_time = at;
    next.version += 1;
    let op = app.store.put_if_version_op(&next, item.version)?;
    app.store
        .transact(vec![op])
        .await
        .map_err(|e| e.into_error(|_| Error::Refused(Refusal::ClockBusy)))?;
    Ok(next)
}

/// Invokes a runner function for the clock's accounts at `at`, as its schedule would.
async fn run(app: &App, runner: Runner, clock_id: &str, at: Timestamp) -> Result<(), Error> {
    let variable = match runner {
        Runner::Reminder => "SOFTBRIK_REMINDER_FUNCTION",
        Runner::Renew => "SOFTBRIK_RENEW_FUNCTION",
        Runner::Sla => "SOFTBRIK_TICKETS_FUNCTION",
    };
    let function =
        std::env::var(variable).map_err(|_| Error::internal(format!("{variable} is not set")))?;
    let request = RunRequest {
        run: runner,
        test_clock_id: Some(clock_id.to_string()),
        at: Some(at),
    };
    let payload = serde_json::to_vec(&request).map_err(Error::internal)?;
    let out = lambda(app)
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
            "{} run at {at} failed: {error}",
            runner.name()
        )));
    }
    let report: RunReport = out
        .payload()
        .map(|p| serde_json::from_slice(p.as_ref()))
        .transpose()
        .map_err(Error::internal)?
        .unwrap_or_default();
    // A run handed to its workers: the clock stands here until they are done.
    let report = softbrik::fan_out::wait(app, report).await?;
    if report.failed > 0 {
        return Err(Error::unavailable(format!(
            "{} run at {at}: the jobs of {} account(s) failed",
            runner.name(),
            report.failed
        )));
    }
    if report.deferred {
        // A fanned-out run's workers are still at it: the clock waits here for them.
        return Err(Error::unavailable(format!(
            "{} run at {at}: accounts are still being handled",
            runner.name()
        )));
    }
    tracing::info!(runner = runner.name(), %at, accounts = report.accounts, jobs = report.jobs, "run");
    Ok(())
}

/// The Lambda client, made on first use (advances that run no job never need it) from the
/// functions' shared SDK configuration, without its per-call time limits: a run invoked here
/// lasts as long as its jobs (the runner has its own budget).
fn lambda(app: &App) -> &'static aws_sdk_lambda::Client {
    static CLIENT: std::sync::OnceLock<aws_sdk_lambda::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        let config = aws_sdk_lambda::config::Builder::from(&app.aws)
            .timeout_config(aws_sdk_lambda::config::timeout::TimeoutConfig::disabled())
            .build();
        aws_sdk_lambda::Client::from_conf(config)
    })
}
