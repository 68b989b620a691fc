//! Billing-run benchmark (`make bench`): how fast one `renew` run renews accounts that are due
//! together, and how many AWS requests a renewal costs (docs/billing-runs.md).
//!
//! Against the local stack: `BENCH_ACCOUNTS` accounts (default 50) sign up on one test clock
//! on 2026-12-12 with `files` and `care`; the clock goes to 2027-01-11 noon (their reminders
//! run on the way); then one `renew` run for the clock at 2027-01-12 noon is invoked and timed,
//! and the AWS emulator's request counts over that run are read. Printed as Markdown.
//!
//! What it measures is the run's own work on this machine: functions in a debug build under
//! cargo-lambda, the emulator answering DynamoDB one request at a time. The AWS request count
//! per renewal does not depend on the machine; the rate is a floor, not AWS's figure.
//!
//! The run against its workers, with a partner that takes its time and limits its rate, is
//! `billing_workers` (`make bench-workers`).

use std::collections::BTreeMap;
use std::time::Instant;

use futures::StreamExt;
use serde_json::{Value, json};
use softbrik_integration_tests::{Stack, env_number, signup_body, unique_email};

#[tokio::main]
async fn main() {
    let accounts: usize = env_number("BENCH_ACCOUNTS", 50);
    let stack = Stack::connect().await;
    let clock = stack.new_clock("2026-12-12T10:00:00Z").await;

    let started = Instant::now();
    let signed: Vec<u16> = futures::stream::iter(0..accounts)
        .map(|_| {
            let body = signup_body(&unique_email("bench"), Some(&clock));
            let stack = &stack;
            async move {
                stack
                    .call("POST", "/signup", None, Some(&body), None)
                    .await
                    .status
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    assert!(signed.iter().all(|s| *s == 201), "signups: {signed:?}");
    let signup_seconds = started.elapsed().as_secs_f64();
    // The reminders fall due on the way (a week before): their run is invoked as the schedule
    // does, since an advance that runs them all answers after the local gateway's 5 minutes
    // when the accounts are many; the advance then finds nothing left to run.
    let reminders =
        json!({"run": "reminder", "test_clock_id": clock, "at": "2027-01-11T12:00:00Z"});
    run_until_done(&stack, "reminder", &reminders).await;
    stack.advance(&clock, "2027-01-11T12:00:00Z").await;

    stack.reset_aws_calls().await;
    let run = json!({"run": "renew", "test_clock_id": clock, "at": "2027-01-12T12:00:00Z"});
    let started = Instant::now();
    let reports = run_until_done(&stack, "renew", &run).await;
    let seconds = started.elapsed().as_secs_f64();
    let calls = stack.aws_calls().await;

    assert_eq!(total(&reports, "accounts"), accounts as u64, "{reports:?}");
    print_report(accounts, signup_seconds, seconds, &reports, &calls);
}

/// A count summed over the runs' reports.
fn total(reports: &[Value], field: &str) -> u64 {
    reports.iter().filter_map(|r| r[field].as_u64()).sum()
}

/// Invokes a run, which hands the clock's accounts to the queue, and waits for its workers
/// to have handled each of them: its report, in a list (one run).
async fn run_until_done(stack: &Stack, function: &str, run: &Value) -> Vec<Value> {
    let patience = std::time::Duration::from_secs(4 * 3600);
    let report = stack.run_and_wait(function, run, patience).await;
    assert_eq!(report["failed"], 0, "{report}");
    vec![report]
}

fn print_report(
    accounts: usize,
    signup_seconds: f64,
    seconds: f64,
    reports: &[Value],
    calls: &BTreeMap<String, u64>,
) {
    let n = accounts as f64;
    // The functions' requests and AWS's own (the queue's mapping); the bench's own apart.
    let requests: u64 = calls
        .iter()
        .filter(|(operation, _)| !operation.starts_with("harness "))
        .map(|(_, count)| count)
        .sum();
    println!("## Billing run: {accounts} accounts due together\n");
    println!("| measure | value |");
    println!("|---|---|");
    println!("| accounts renewed | {} |", total(reports, "accounts"));
    println!("| jobs run | {} |", total(reports, "jobs"));
    let per_run: Vec<String> = reports.iter().map(|r| r["accounts"].to_string()).collect();
    println!(
        "| `renew` runs (each hands the accounts to the queue's workers) | {} ({}) |",
        reports.len(),
        per_run.join(" + ")
    );
    println!("| run time | {seconds:.2} s |");
    println!("| accounts renewed per second | {:.1} |", n / seconds);
    println!("| AWS requests per renewal | {:.1} |", requests as f64 / n);
    println!(
        "| (signups, for scale: {accounts} in {signup_seconds:.1} s, {:.1}/s) | |",
        n / signup_seconds
    );
    println!("\n| AWS request (`harness`: the bench's own) | per renewal |");
    println!("|---|---|");
    for (operation, count) in calls {
        println!("| {operation} | {:.2} |", *count as f64 / n);
    }
}
