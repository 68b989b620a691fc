//! Functions benchmark (`make bench`, docs/performance.md): each function's release binary,
//! run as Lambda runs it (`softbrik_integration_tests::runtime`), side by side with an empty
//! `lambda_runtime` function built with the same profile (`tests/empty-function`).
//!
//! - Cold start: `BENCH_STARTS` (default 25) starts of each binary, in turns; the time from
//!   starting the process to its first answer, and to its first request for an event (init).
//!   The first event is one each function answers without AWS: a route it does not serve, or
//!   for the scheduled functions an event they do not take. AWS and the payment partner point
//!   at a listener that counts what reaches it, so a network call during init shows.
//! - AWS requests per operation: signup, an invitation with a Brik, an assignment, ticket
//!   intake, a renewal, and a warm request for a known account, counted at the local stack's
//!   AWS emulator, one instance of each function against it.
//! - Peak memory: `BENCH_WARM` (default 1,000) warm invocations of each function (a typical
//!   request of its own), then its peak resident memory (`VmHWM`); with the median and 99th
//!   percentile time of those invocations.
//! - Package size: each `target/lambda/<function>/bootstrap.zip` (arm64; `make bench` builds
//!   them with `cargo lambda build --release --arm64 --output-format zip`).
//!
//! `BENCH_PARTS` picks some of them (`cold,size,calls,warm`, all by default; `warm` needs the
//! account `calls` makes). Printed as Markdown. Needs the local stack (`make bench` starts it) and release binaries
//! in `SOFTBRIK_BENCH_BINARIES` (default `target/release`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use softbrik_integration_tests::runtime::Function;
use softbrik_integration_tests::{
    PASSWORD, Stack, env_number, mail_with_attachment, signup_body, unique_email,
};

/// The functions of template.yaml, by binary.
const FUNCTIONS: [&str; 9] = [
    "signup",
    "assign-brik",
    "cancel",
    "prorate",
    "renew",
    "reminder",
    "tickets",
    "ticket-intake",
    "test-clock",
];
const FLOOR: &str = "empty-function";

#[tokio::main]
async fn main() {
    let starts = env_number("BENCH_STARTS", 25);
    let warm = env_number("BENCH_WARM", 1000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf();
    let binaries = std::env::var("SOFTBRIK_BENCH_BINARIES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target/release"));
    let logs = root.join("target/bench-logs");
    std::fs::create_dir_all(&logs).expect("a folder for the functions' logs");
    let stack = Stack::connect().await;
    stack.pause_schedules(true).await;
    let env = functions_env();
    let bench = Bench {
        stack,
        env,
        binaries,
        logs,
    };

    let parts = std::env::var("BENCH_PARTS").unwrap_or_else(|_| "cold,size,calls,warm".into());
    let part = |name: &str| parts.split(',').any(|p| p.trim() == name);
    println!("# Functions benchmark ({})\n", bench.binaries.display());
    if part("cold") {
        bench.cold_starts(starts).await;
    }
    if part("size") {
        bench.package_sizes(&root);
    }
    if part("calls") || part("warm") {
        let account = bench.operations().await;
        if part("warm") {
            bench.warm_invocations(&account, warm).await;
        }
    }
    bench.stack.pause_schedules(false).await;
}

struct Bench {
    stack: Stack,
    env: Vec<(String, String)>,
    binaries: PathBuf,
    logs: PathBuf,
}

/// The account the warm measurements work on.
struct Account {
    clock: String,
    claims: Value,
    admin_email: String,
}

impl Bench {
    async fn start(&self, binary: &str, env: &[(String, String)]) -> Function {
        let mut env = env.to_vec();
        env.extend(function_credentials(binary));
        let env = &env[..];
        let path = self.binaries.join(binary);
        assert!(
            path.exists(),
            "{} is not built: `make bench` builds the release binaries",
            path.display()
        );
        Function::start(&path, binary, env, &self.logs.join(format!("{binary}.log")))
            .await
            .unwrap_or_else(|e| panic!("{binary} does not start: {e}"))
    }

    async fn cold_starts(&self, rounds: usize) {
        let trap = Trap::start().await;
        let env: Vec<(String, String)> = self
            .env
            .iter()
            .map(|(k, v)| {
                let pointed = matches!(
                    k.as_str(),
                    "AWS_ENDPOINT_URL" | "AWS_ENDPOINT_URL_LAMBDA" | "SOFTBRIK_STRIPE_API_BASE"
                );
                (
                    k.clone(),
                    if pointed { trap.url.clone() } else { v.clone() },
                )
            })
            .collect();
        let all: Vec<&str> = std::iter::once(FLOOR).chain(FUNCTIONS).collect();
        let mut answered: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
        let mut init: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
        let mut reached: BTreeMap<&str, u64> = BTreeMap::new();
        let mut memory: BTreeMap<&str, u64> = BTreeMap::new();
        for round in 0..rounds {
            // In turns, each round in another order, so no binary always follows the same one.
            let mut order = all.clone();
            order.rotate_left(round % all.len());
            for binary in order {
                let event = cold_event(binary);
                let before = trap.count();
                let started = std::time::Instant::now();
                let mut function = self.start(binary, &env).await;
                let outcome = function.invoke(&event).await;
                answered
                    .entry(binary)
                    .or_default()
                    .push(outcome.at - started);
                if let Some(asked) = function.first_request() {
                    init.entry(binary).or_default().push(asked - started);
                }
                *reached.entry(binary).or_default() += trap.count() - before;
                let peak = function.peak_memory_kib().unwrap_or_default();
                let kept = memory.entry(binary).or_default();
                *kept = (*kept).max(peak);
                function.stop().await;
            }
        }
        let floor = median(&answered[FLOOR]);
        println!("## Cold start ({rounds} starts each, median)\n");
        println!(
            "| function | to first answer | ratio to empty | init (to first event asked) | \
             AWS/partner requests during the starts | peak memory after the start |"
        );
        println!("|---|---|---|---|---|---|");
        for binary in &all {
            let time = median(&answered[binary]);
            println!(
                "| {binary} | {} | {:.2} | {} | {} | {:.1} MiB |",
                millis(time),
                time.as_secs_f64() / floor.as_secs_f64(),
                init.get(binary)
                    .map(|d| millis(median(d)))
                    .unwrap_or_default(),
                reached[binary],
                memory[binary] as f64 / 1024.0
            );
        }
        println!();
    }

    fn package_sizes(&self, root: &Path) {
        println!("## Package size (arm64, zipped bootstrap)\n");
        println!("| function | zip | bootstrap |");
        println!("|---|---|---|");
        for binary in std::iter::once(FLOOR).chain(FUNCTIONS) {
            let folder = root.join("target/lambda").join(binary);
            let zip = std::fs::metadata(folder.join("bootstrap.zip")).map(|m| m.len());
            let raw = std::fs::metadata(folder.join("bootstrap")).map(|m| m.len());
            match zip {
                Ok(zip) => println!(
                    "| {binary} | {:.2} MB | {} |",
                    zip as f64 / 1e6,
                    raw.map(|r| format!("{:.2} MB", r as f64 / 1e6))
                        .unwrap_or_else(|_| "-".into())
                ),
                Err(_) => println!("| {binary} | not built | |"),
            }
        }
        println!();
    }

    /// AWS requests of each operation, on one warm instance of each function.
    async fn operations(&self) -> Account {
        let mut rows: Vec<(String, BTreeMap<String, u64>)> = Vec::new();
        let clock = self.stack.new_clock("2026-12-12T10:00:00Z").await;

        let mut signup = self.start("signup", &self.env).await;
        let mut emails = Vec::new();
        for n in 0..2 {
            let email = unique_email("bench");
            let body = signup_body(&email, Some(&clock));
            let event = http_event("POST", "/signup", Some(&body), None);
            let (outcome, calls) = self.counted(&mut signup, &event).await;
            assert_eq!(status(&outcome), 201, "{}", outcome.json());
            let label = if n == 0 {
                "signup (first on the instance)"
            } else {
                "signup"
            };
            rows.push((label.into(), calls));
            emails.push(email);
        }
        let admin_email = emails.pop().expect("an admin");
        let token = self
            .stack
            .sign_in(&admin_email, PASSWORD)
            .await
            .expect("the admin signs in");
        let claims = claims_of(&token);
        assert!(claims["custom:account_id"].is_string(), "{claims}");
        let account = Account {
            clock,
            claims,
            admin_email,
        };

        let get_account = http_event("GET", "/account", None, Some(&account.claims));
        let mut signup = {
            // A new instance: its first request for the account reads the account's key.
            signup.stop().await;
            self.start("signup", &self.env).await
        };
        for label in [
            "GET /account (first for the account on the instance)",
            "GET /account (warm)",
        ] {
            let (outcome, calls) = self.counted(&mut signup, &get_account).await;
            assert_eq!(status(&outcome), 200, "{} {get_account}", outcome.json());
            rows.push((label.into(), calls));
        }
        signup.stop().await;

        let mut team = self.start("assign-brik", &self.env).await;
        let invite =
            json!({"email": unique_email("member"), "name": "Bob Martin", "briks": ["files"]});
        let event = http_event(
            "POST",
            "/account/users",
            Some(&invite),
            Some(&account.claims),
        );
        let (outcome, calls) = self.counted(&mut team, &event).await;
        assert_eq!(status(&outcome), 201, "{}", outcome.json());
        rows.push((
            "invitation with a Brik (first for the account on the instance)".into(),
            calls,
        ));
        let user = body_of(&outcome)["user"]["id"]
            .as_str()
            .expect("the user's id")
            .to_string();
        let path = format!("/account/users/{user}/briks/care");
        let mut event = http_event("PUT", &path, None, Some(&account.claims));
        with_route(&mut event, "PUT /account/users/{user_id}/briks/{brik_id}");
        event["pathParameters"] = json!({"user_id": user, "brik_id": "care"});
        let (outcome, calls) = self.counted(&mut team, &event).await;
        assert_eq!(status(&outcome), 200, "{}", outcome.json());
        rows.push(("assignment of a Brik (warm)".into(), calls));
        // The same with an Idempotency-Key: its lease records the first charge (issue 22).
        let path = format!("/account/users/{user}/briks/stock");
        let mut event = http_event("PUT", &path, None, Some(&account.claims));
        with_route(&mut event, "PUT /account/users/{user_id}/briks/{brik_id}");
        event["pathParameters"] = json!({"user_id": user, "brik_id": "stock"});
        event["headers"]["idempotency-key"] = json!(uuid::Uuid::new_v4().to_string());
        let (outcome, calls) = self.counted(&mut team, &event).await;
        assert_eq!(status(&outcome), 200, "{}", outcome.json());
        rows.push((
            "assignment of a Brik with an Idempotency-Key (warm)".into(),
            calls,
        ));
        team.stop().await;

        let mut intake = self.start("ticket-intake", &self.env).await;
        for label in [
            "ticket intake (first for the account on the instance)",
            "ticket intake (warm)",
        ] {
            let raw = mail(&account.admin_email, None);
            let event = mail_event(&raw);
            let (outcome, calls) = self.counted(&mut intake, &event).await;
            assert!(status(&outcome) < 300, "{}", outcome.json());
            rows.push((label.into(), calls));
        }
        intake.stop().await;

        // A credit note of 5.00 on the signup invoice, by support staff on the admin's ticket.
        let token = self
            .stack
            .sign_in(&account.admin_email, PASSWORD)
            .await
            .expect("the admin signs in");
        let asked = json!({"subject": "Geste", "description": "Une panne", "channel": "web"});
        let ticket = self
            .stack
            .call("POST", "/tickets", Some(&token), Some(&asked), None)
            .await;
        let invoices = self
            .stack
            .call("GET", "/account/invoices", Some(&token), None, None)
            .await;
        let invoice = invoices.body["items"][0]["id"]
            .as_str()
            .expect("the signup invoice")
            .to_string();
        let account_id = account.claims["custom:account_id"]
            .as_str()
            .expect("the account's id")
            .to_string();
        let staff = json!({"sub": "bench-staff", "cognito:groups": "[support]"});
        let credit =
            json!({"ticket_id": ticket.body["id"], "reason": "Une panne", "amount": "5.00"});
        let path = format!("/staff/accounts/{account_id}/invoices/{invoice}/credit-notes");
        let mut event = http_event("POST", &path, Some(&credit), Some(&staff));
        with_route(
            &mut event,
            "POST /staff/accounts/{account_id}/invoices/{invoice_id}/credit-notes",
        );
        event["pathParameters"] = json!({"account_id": account_id, "invoice_id": invoice});
        let mut signup = self.start("signup", &self.env).await;
        let (outcome, calls) = self.counted(&mut signup, &event).await;
        assert_eq!(status(&outcome), 201, "{}", outcome.json());
        rows.push((
            "credit note by support staff (first for the account on the instance)".into(),
            calls,
        ));
        signup.stop().await;

        // Both accounts on the clock renew on 2027-01-12; the day before, their reminders ran.
        self.stack
            .advance(&account.clock, "2027-01-11T12:00:00Z")
            .await;
        // The run hands the two to the queue; this instance then takes them as a worker (the
        // stack's own workers held off), so that both halves are counted here.
        self.stack.pause_queues(true).await;
        let mut renew = self.start("renew", &self.env).await;
        let run =
            json!({"run": "renew", "test_clock_id": account.clock, "at": "2027-01-12T12:00:00Z"});
        let (outcome, calls) = self.counted(&mut renew, &run).await;
        let report = outcome.json();
        assert_eq!(report["accounts"], 2, "{report}");
        let per_renewal = calls.iter().map(|(k, v)| (k.clone(), v / 2)).collect();
        rows.push(("renewal run handing out (each of 2)".into(), per_renewal));
        let batch = self.stack.take_batch("renew", 2, 60).await;
        let (outcome, calls) = self.counted(&mut renew, &batch).await;
        let answer = outcome.json();
        assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
        let per_renewal = calls.iter().map(|(k, v)| (k.clone(), v / 2)).collect();
        rows.push((
            "renewal (each of 2 in one worker's batch)".into(),
            per_renewal,
        ));
        renew.stop().await;
        self.stack.pause_queues(false).await;

        println!("## AWS requests per operation (one instance of each function)\n");
        println!("| operation | AWS requests | DynamoDB | KMS | other |");
        println!("|---|---|---|---|---|");
        for (label, calls) in &rows {
            let total: u64 = calls.values().sum();
            let dynamodb: u64 = sum_where(calls, |k| k.starts_with("DynamoDB"));
            let kms: u64 = sum_where(calls, |k| k.starts_with("TrentService"));
            let other: Vec<String> = calls
                .iter()
                .filter(|(k, _)| !k.starts_with("DynamoDB") && !k.starts_with("TrentService"))
                .map(|(k, v)| format!("{} {v}", short(k)))
                .collect();
            println!(
                "| {label} | {total} | {dynamodb} | {kms} | {} |",
                other.join(", ")
            );
        }
        println!("\n<details><summary>Every request, by operation</summary>\n");
        for (label, calls) in &rows {
            let listed: Vec<String> = calls
                .iter()
                .map(|(k, v)| format!("{} {v}", short(k)))
                .collect();
            println!("- {label}: {}", listed.join(", "));
        }
        println!("\n</details>\n");
        account
    }

    /// One invocation, with the AWS requests it made.
    async fn counted(
        &self,
        function: &mut Function,
        event: &Value,
    ) -> (
        softbrik_integration_tests::runtime::Outcome,
        BTreeMap<String, u64>,
    ) {
        self.stack.reset_aws_calls().await;
        let outcome = function.invoke(event).await;
        let calls = self.stack.aws_calls().await;
        (outcome, calls)
    }

    async fn warm_invocations(&self, account: &Account, count: usize) {
        println!("## Warm invocations ({count} on one instance of each function)\n");
        println!("| function | invocation | median | p99 | peak memory |");
        println!("|---|---|---|---|---|");
        for binary in FUNCTIONS {
            let (label, events) = warm_events(binary, account, count);
            let mut function = self.start(binary, &self.env).await;
            let mut times = Vec::with_capacity(count);
            for event in &events {
                let started = Instant::now();
                let outcome = function.invoke(event).await;
                times.push(outcome.at - started);
                assert!(
                    outcome.ok && status(&outcome) < 500,
                    "{binary}: {}",
                    String::from_utf8_lossy(&outcome.body)
                );
            }
            let peak = function.peak_memory_kib().unwrap_or_default();
            function.stop().await;
            times.sort();
            let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
            println!(
                "| {binary} | {label} | {} | {} | {:.1} MiB |",
                millis(median(&times)),
                millis(p99),
                peak as f64 / 1024.0
            );
        }
        println!();
    }
}

/// The event a function's first invocation gets in the cold-start runs: one it answers
/// without calling AWS (the settlement run of `prorate` has no such event: it answers after
/// its first request to AWS is refused by the listener standing in for it).
fn cold_event(binary: &str) -> Value {
    match binary {
        "renew" | "reminder" | "prorate" => json!({"bench": "not an event of this function"}),
        _ => http_event("GET", "/bench/not-a-route", None, None),
    }
}

/// A typical request of each function, `count` times.
fn warm_events(binary: &str, account: &Account, count: usize) -> (&'static str, Vec<Value>) {
    let claims = Some(&account.claims);
    let same = |label, event: Value| (label, vec![event; count]);
    match binary {
        "signup" => same("GET /account", http_event("GET", "/account", None, claims)),
        "assign-brik" => same(
            "GET /account/users",
            http_event("GET", "/account/users", None, claims),
        ),
        "cancel" => same(
            "POST /account/closure, refused (no confirmation)",
            http_event(
                "POST",
                "/account/closure",
                Some(&json!({"confirm": false})),
                claims,
            ),
        ),
        "tickets" => same("GET /tickets", http_event("GET", "/tickets", None, claims)),
        "test-clock" => {
            let path = format!("/test-clocks/{}", account.clock);
            let mut event = http_event("GET", &path, None, None);
            with_route(&mut event, "GET /test-clocks/{clock_id}");
            event["pathParameters"] = json!({"clock_id": account.clock});
            same("GET /test-clocks/{clock_id}", event)
        }
        "renew" | "reminder" => {
            let run = if binary == "renew" {
                "renew"
            } else {
                "reminder"
            };
            same(
                "a run for the clock, nothing due",
                json!({"run": run, "test_clock_id": account.clock, "at": "2027-01-12T12:00:00Z"}),
            )
        }
        "prorate" => same("a settlement run, nothing pending", json!({})),
        "ticket-intake" => {
            // New tickets from the account's admin; every 50th with a 256 KiB attachment.
            let events = (0..count)
                .map(|n| {
                    let attachment = (n % 50 == 0).then(|| vec![b'%'; 256 * 1024]);
                    mail_event(&mail(&account.admin_email, attachment.as_deref()))
                })
                .collect();
            ("an email to support (a new ticket)", events)
        }
        other => panic!("no warm event for {other}"),
    }
}

/// An HTTP API (payload 2.0) event, as API Gateway sends it with its JWT authorizer's claims.
fn http_event(method: &str, path: &str, body: Option<&Value>, claims: Option<&Value>) -> Value {
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "user-agent": "softbrik-bench"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "bench", "domainName": "bench.local",
            "domainPrefix": "bench",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "softbrik-bench"},
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "26/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1_795_000_000_000u64,
        },
        "isBase64Encoded": false,
    });
    if let Some(body) = body {
        event["body"] = json!(body.to_string());
    }
    if let Some(claims) = claims {
        event["requestContext"]["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
    }
    event
}

/// The route an event of a path with parameters came by: the template's route key, which the
/// functions route on (`edge::route_key`), as API Gateway sends it.
fn with_route(event: &mut Value, route_key: &str) {
    event["routeKey"] = json!(route_key);
    event["requestContext"]["routeKey"] = json!(route_key);
}

/// An email to the support desk, as the mail intake route receives it.
fn mail_event(raw: &[u8]) -> Value {
    let mut event = http_event("POST", "/inbound/email", None, None);
    event["headers"]["content-type"] = json!("message/rfc822");
    event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(raw));
    event["isBase64Encoded"] = json!(true);
    event
}

fn mail(from: &str, attachment: Option<&[u8]>) -> Vec<u8> {
    let id = format!("{}@bench.example.fr", uuid::Uuid::new_v4());
    match attachment {
        Some(bytes) => mail_with_attachment(from, &id, bytes),
        None => format!(
            "From: <{from}>\r\nTo: support@softbrik.com\r\nSubject: Export impossible\r\n\
             Message-ID: <{id}>\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n\
             L'export des fichiers s'arrete a 50 %.\r\n"
        )
        .into_bytes(),
    }
}

/// The claims of an ID token, as API Gateway's JWT authorizer passes them (strings; arrays as
/// `[a b]`).
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .expect("base64url");
    let claims: serde_json::Map<String, Value> = serde_json::from_slice(&bytes).expect("JSON");
    claims
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                Value::Array(items) => format!(
                    "[{}]",
                    items
                        .iter()
                        .map(|i| i.as_str().map(str::to_string).unwrap_or(i.to_string()))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                other => other.to_string(),
            };
            (k, Value::String(text))
        })
        .collect()
}

/// An HTTP function's status code (0 for other answers).
fn status(outcome: &softbrik_integration_tests::runtime::Outcome) -> u64 {
    outcome.json()["statusCode"].as_u64().unwrap_or(0)
}

fn body_of(outcome: &softbrik_integration_tests::runtime::Outcome) -> Value {
    let answer = outcome.json();
    let body = answer["body"].as_str().unwrap_or_default();
    if answer["isBase64Encoded"] == true {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    } else {
        serde_json::from_str(body).unwrap_or(Value::Null)
    }
}

/// The functions' environment as the local stack gives it (its `functions.env`).
fn functions_env() -> Vec<(String, String)> {
    softbrik_integration_tests::stack_env_file("functions.env")
}

/// A function's own credentials and variables, which the emulator evaluates its policy for
/// (infra/iam.py).
fn function_credentials(binary: &str) -> Vec<(String, String)> {
    softbrik_integration_tests::stack_env_file(&format!("functions/{binary}.env"))
}

/// A listener standing in for AWS and the payment partner during the cold starts: it counts
/// the requests that reach it and refuses them (400), so nothing waits on it.
struct Trap {
    url: String,
    seen: Arc<AtomicU64>,
}

impl Trap {
    async fn start() -> Trap {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let seen = Arc::new(AtomicU64::new(0));
        let counted = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    let _ = stream.read(&mut buffer).await;
                    let body = r#"{"__type":"ValidationException","message":"bench"}"#;
                    let answer = format!(
                        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        Trap { url, seen }
    }

    fn count(&self) -> u64 {
        self.seen.load(Ordering::SeqCst)
    }
}

fn sum_where(calls: &BTreeMap<String, u64>, pick: impl Fn(&str) -> bool) -> u64 {
    calls.iter().filter(|(k, _)| pick(k)).map(|(_, v)| v).sum()
}

/// `DynamoDB_20120810.GetItem` -> `GetItem`, `TrentService.Decrypt` -> `KMS Decrypt`.
fn short(operation: &str) -> String {
    if let Some(op) = operation.strip_prefix("DynamoDB_20120810.") {
        op.to_string()
    } else if let Some(op) = operation.strip_prefix("TrentService.") {
        format!("KMS {op}")
    } else if let Some(op) = operation.strip_prefix("AWSCognitoIdentityProviderService.") {
        format!("Cognito {op}")
    } else {
        operation.to_string()
    }
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
