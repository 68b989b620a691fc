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
    let reminded = stack.invoke("reminder", &reminders).await;
    assert_eq!(reminded["failed"], 0, "{reminded}");
    stack.advance(&clock, "2027-01-11T12:00:00Z").await;

    stack.reset_aws_calls().await;
    let run = json!({"run": "renew", "test_clock_id": clock, "at": "2027-01-12T12:00:00Z"});
    let started = Instant::now();
    let report = stack.invoke("renew", &run).await;
    let seconds = started.elapsed().as_secs_f64();
    let calls = stack.aws_calls().await;

    assert_eq!(report["accounts"], accounts, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["deferred"], false, "{report}");
    print_report(accounts, signup_seconds, seconds, &report, &calls);
}

fn print_report(
    accounts: usize,
    signup_seconds: f64,
    seconds: f64,
    report: &Value,
    calls: &BTreeMap<String, u64>,
) {
    let n = accounts as f64;
    let total: u64 = calls.values().sum();
    println!("## Billing run: {accounts} accounts renewed in one `renew` run\n");
    println!("| measure | value |");
    println!("|---|---|");
    println!("| accounts renewed | {} |", report["accounts"]);
    println!("| jobs run | {} |", report["jobs"]);
    println!("| run time | {seconds:.2} s |");
    println!("| accounts renewed per second | {:.1} |", n / seconds);
    println!("| AWS requests per renewal | {:.1} |", total as f64 / n);
    println!(
        "| (signups, for scale: {accounts} in {signup_seconds:.1} s, {:.1}/s) | |",
        n / signup_seconds
    );
    println!("\n| AWS request | per renewal |");
    println!("|---|---|");
    for (operation, count) in calls {
        println!("| {operation} | {:.2} |", *count as f64 / n);
    }
}
