//! A billing run against its workers (`make bench-workers`, docs/performance.md "Billing run
//! against its workers"): how many accounts a second one run renews with 1, 2, 4 and 8
//! workers, and what the payment partner saw of it in each second.
//!
//! Against a stack started with the most workers measured (`BillingWorkers`), a sandbox
//! partner that answers in `SandboxLatencyMs` and refuses beyond `SandboxRate` requests a
//! second, and the runs' rate `PartnerRate`:
//! - `BENCH_WORKERS_ACCOUNTS` accounts (default 20,000) sign up on one test clock on
//!   2026-12-12 with `files` and `care`, seeded fast (`seed_accounts`: the signup use case
//!   over the stack's adapters, without the API's way in);
//! - one `renew` run for the clock at 2027-01-12 noon hands them all to the queue;
//! - for each of `BENCH_WORKERS` (default `1 2 4 8`), the queue's maximum concurrency is set
//!   (as UpdateEventSourceMapping does) and, after `BENCH_SETTLE_SECONDS` (10) for the
//!   workers to change, the renewals of the next `BENCH_WINDOW_SECONDS` (120) are counted as
//!   the partner counted them: one charge a renewal, in the second it was asked in.
//!
//! Each row is measured in the same run, the queue holding thousands of accounts still, so
//! it is the run's steady pace at that many workers, not its start or its tail. The bench
//! stops when the last window ends; renewing all 20,000 at the partner's pace would take
//! hours here, and would add nothing the windows do not show. Rows go to
//! `BENCH_WORKERS_TABLE` when it is set.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use softbrik_integration_tests::{Stack, env_number};

#[tokio::main]
async fn main() {
    let accounts: usize = env_number("BENCH_WORKERS_ACCOUNTS", 20_000);
    let settle = Duration::from_secs(env_number("BENCH_SETTLE_SECONDS", 10));
    let window = Duration::from_secs(env_number("BENCH_WINDOW_SECONDS", 120));
    let workers: Vec<u32> = std::env::var("BENCH_WORKERS")
        .unwrap_or_else(|_| "1 2 4 8".into())
        .split_whitespace()
        .map(|w| w.parse().expect("BENCH_WORKERS: numbers"))
        .collect();
    let stack = Stack::connect().await;
    let clock = stack.new_clock("2026-12-12T10:00:00Z").await;
    stack.reset_aws_calls().await;
    let seeded = seed(&stack, &clock, accounts).await;
    let seed_calls = stack.aws_calls().await;

    stack.set_workers("renew", workers[0]).await;
    stack.reset_aws_calls().await;
    let run = json!({"run": "renew", "test_clock_id": clock, "at": "2027-01-12T12:00:00Z"});
    let started = std::time::Instant::now();
    let report = stack.invoke("renew", &run).await;
    assert_eq!(
        report["accounts"].as_u64(),
        Some(accounts as u64),
        "the run hands every account to the queue: {report}"
    );
    let enqueue_seconds = started.elapsed().as_secs_f64();

    let env: BTreeMap<String, String> = stack.function_env("renew").into_iter().collect();
    let var = |name: &str| env.get(name).cloned().unwrap_or_else(|| "-".into());
    let partner = format!(
        "{} ms, {} a second",
        var("SOFTBRIK_SANDBOX_LATENCY_MS"),
        var("SOFTBRIK_SANDBOX_RATE")
    );
    let pace = var("SOFTBRIK_PARTNER_RATE");
    let mut rows = Vec::new();
    for &count in &workers {
        stack.set_workers("renew", count).await;
        tokio::time::sleep(settle).await;
        let calls_before = stack.aws_calls().await;
        let from = jiff::Timestamp::now().as_second() + 1;
        let to = from + window.as_secs() as i64 - 1;
        let until = jiff::Timestamp::from_second(to + 1).expect("a time");
        let left = until.duration_since(jiff::Timestamp::now());
        tokio::time::sleep(Duration::try_from(left).unwrap_or_default()).await;
        let calls = difference(&stack.aws_calls().await, &calls_before);
        let seconds = stack.partner_seconds(from, to).await;
        rows.push(Row::of(count, &seconds, window.as_secs(), &calls));
    }
    stack.pause_queues(true).await;

    println!("\n## A billing run against its workers: {accounts} accounts due together\n");
    println!(
        "Seeded in {:.0} s ({:.0} a second); the run handed them to the queue in {enqueue_seconds:.0} s.",
        seeded.0, seeded.1
    );
    // The seed's own requests (the bench's): not the schedules' runs meanwhile.
    let seed_calls: BTreeMap<&String, &u64> = seed_calls
        .iter()
        .filter(|(op, _)| op.starts_with("harness "))
        .collect();
    println!(
        "AWS requests a seeded account: {:.1} ({})",
        seed_calls.values().copied().sum::<u64>() as f64 / accounts as f64,
        seed_calls
            .iter()
            .map(|(op, n)| format!("{op} {:.2}", **n as f64 / accounts as f64))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("Partner {partner}; the runs' rate (`PartnerRate`) {pace} a second.\n");
    let header = "| workers | accounts due | renewed a second | most partner requests in a second | refused (429) | AWS requests a renewal |\n|---|---|---|---|---|---|\n";
    print!("{header}");
    let mut table = String::new();
    for row in &rows {
        let line = format!(
            "| {} | {accounts} | {:.2} | {} | {} | {:.1} |\n",
            row.workers, row.per_second, row.most, row.refused, row.requests_per_renewal
        );
        print!("{line}");
        table.push_str(&line);
    }
    for row in &rows {
        let each: Vec<String> = row
            .calls
            .iter()
            .filter(|(op, n)| !op.starts_with("harness ") && **n > 0)
            .map(|(op, n)| format!("{op} {:.2}", *n as f64 / row.renewed.max(1) as f64))
            .collect();
        println!(
            "\nAWS requests a renewal, {} workers: {}",
            row.workers,
            each.join(", ")
        );
    }
    if let Ok(file) = std::env::var("BENCH_WORKERS_TABLE") {
        let text = format!(
            "Partner {partner}; `PartnerRate` {pace}; {accounts} accounts due, seeded in {:.0} s; \
             each row {} s of the same run.\n\n{header}{table}",
            seeded.0,
            window.as_secs()
        );
        std::fs::write(&file, text).expect("the workers table");
    }
}

/// Signs `count` accounts up on `clock` fast (`seed_accounts`, with the signup function's
/// environment, but the bench's own credentials: its requests are the bench's, as a test's
/// are, not evaluated against the function's policy): (seconds, accounts a second). The
/// queues' workers are held off meanwhile, so that their idle polling does not share the
/// emulator with the seed.
async fn seed(stack: &Stack, clock: &str, count: usize) -> (f64, f64) {
    stack.pause_queues(true).await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_seed_accounts"))
        .args([&count.to_string(), clock, "8"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(stack.function_env("signup"))
        .envs([
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_SESSION_TOKEN", "testing"),
        ])
        .output()
        .await
        .expect("seed_accounts runs");
    stack.pause_queues(false).await;
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "seed_accounts: {printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seeded: serde_json::Value = serde_json::from_str(printed.trim()).expect("its report");
    (
        seeded["seconds"].as_f64().unwrap_or(0.0),
        seeded["per_second"].as_f64().unwrap_or(0.0),
    )
}

/// One window of the run at `workers` workers.
struct Row {
    workers: u32,
    renewed: u64,
    calls: BTreeMap<String, u64>,
    per_second: f64,
    most: u64,
    refused: u64,
    requests_per_renewal: f64,
}

impl Row {
    /// From what the partner counted in each second of the window (`window` seconds) and the
    /// AWS requests made meanwhile (the bench's own apart).
    fn of(
        workers: u32,
        seconds: &[(i64, u64, u64)],
        window: u64,
        calls: &BTreeMap<String, u64>,
    ) -> Row {
        let renewed: u64 = seconds.iter().map(|s| s.1).sum();
        let requests: u64 = calls
            .iter()
            .filter(|(operation, _)| !operation.starts_with("harness "))
            .map(|(_, count)| count)
            .sum();
        Row {
            workers,
            renewed,
            calls: calls.clone(),
            per_second: renewed as f64 / window as f64,
            most: seconds.iter().map(|s| s.1 + s.2).max().unwrap_or(0),
            refused: seconds.iter().map(|s| s.2).sum(),
            requests_per_renewal: requests as f64 / renewed.max(1) as f64,
        }
    }
}

/// The requests counted since `before`, by operation.
fn difference(
    now: &BTreeMap<String, u64>,
    before: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    now.iter()
        .map(|(op, n)| (op.clone(), n - before.get(op).copied().unwrap_or(0)))
        .collect()
}
