//! Faults (security.md "Reliability"): every AWS request a signup and a Brik assignment make
//! is failed in turn (the emulator answers 500 to it and to the SDK's retries), and the client
//! then retries with its Idempotency-Key. The first answer must be the success or a clean
//! refusal (503, 402, 409, never a 500), nothing may be left half-written in between, and the
//! retry must leave the change complete: one account or assignment, charged once, invoiced.
//!
//! One test, alone in its binary and with the stack's scheduled runs paused, so that the
//! request under test is the only one the faults meet.

use serde_json::{Value, json};
use softbrik_integration_tests::{Answer, PASSWORD, Stack, signup_body, unique_email};

/// Fails this many requests from the chosen one on: one more than the SDK's 3 attempts.
const FAILED_IN_A_ROW: usize = 4;

/// Counts the AWS requests `work` makes, with their operations.
async fn requests_of<F: std::future::Future<Output = Value>>(
    stack: &Stack,
    work: F,
) -> (Value, Vec<String>) {
    stack.faults(Some((1_000_000, 0))).await;
    let answer = work.await;
    let report = stack.faults(None).await;
    let ops = report["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect();
    (answer, ops)
}

/// Runs `request` with AWS request `k` (and the SDK's retries of it) failing: its answer,
/// the operation that failed (`expected` if the request made fewer), and the fault report.
async fn under_fault<F: std::future::Future<Output = Answer>>(
    stack: &Stack,
    k: usize,
    expected: &str,
    request: F,
) -> (Answer, String, Value) {
    stack.faults(Some((k, FAILED_IN_A_ROW))).await;
    let answer = request.await;
    let report = stack.faults(None).await;
    let op = report["log"]
        .get(k)
        .and_then(Value::as_str)
        .unwrap_or(expected)
        .to_string();
    (answer, op, report)
}

/// The kept (not refunded) charges of an account, sorted.
async fn kept(stack: &Stack, account_id: &str) -> Vec<String> {
    let mut amounts: Vec<String> = stack
        .charges(account_id)
        .await
        .into_iter()
        .filter(|(_, refunded)| !refunded)
        .map(|(a, _)| a)
        .collect();
    amounts.sort();
    amounts
}

/// Sends a request, and again while the first attempt's lease still holds the key (a Lambda
/// stopped half-way holds it a minute), as a client retries on 409 "in progress".
async fn until_not_in_progress(
    stack: &Stack,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
    key: &str,
) -> Answer {
    for _ in 0..20 {
        let answer = stack.call(method, path, token, Some(body), Some(key)).await;
        if answer.body["code"] != "idempotency_request_in_progress" {
            return answer;
        }
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
    panic!("{method} {path}: still in progress after 100 s");
}

#[tokio::test]
async fn a_failure_at_any_step_leaves_nothing_half_done_and_a_retry_completes_it() {
    let stack = Stack::connect().await;
    stack.pause_schedules(true).await;
    let mut failures = Vec::new();
    let mut tried = 0;

    // Signup: count its requests, then fail each in turn.
    let (clean, ops) = requests_of(&stack, async {
        let body = signup_body(&unique_email("clean"), None);
        stack
            .call("POST", "/signup", None, Some(&body), None)
            .await
            .body
    })
    .await;
    assert!(clean["account"]["id"].is_string(), "{clean}");
    for (k, op) in ops.iter().enumerate() {
        let email = unique_email("fault");
        let body = signup_body(&email, None);
        let key = format!("signup-{k}-{email}");
        let (first, op, report) = under_fault(&stack, k, op, async {
            stack
                .call("POST", "/signup", None, Some(&body), Some(&key))
                .await
        })
        .await;
        tried += 1;
        if !matches!(first.status, 201 | 503 | 409) {
            failures.push(format!(
                "signup, {op} failing (request {k}): answered {} {}",
                first.status, first.body
            ));
        }
        if first.status != 201 {
            // Nothing half-written: no one can sign in with the address.
            if stack.sign_in(&email, PASSWORD).await.is_ok() {
                failures.push(format!(
                    "signup, {op} failing: refused ({}) but the sign-in exists",
                    first.status
                ));
            }
        }
        let retry = until_not_in_progress(&stack, "POST", "/signup", None, &body, &key).await;
        let Some(account) = retry.body["account"]["id"].as_str() else {
            failures.push(format!(
                "signup, {op} failing ({} seen, {} failed): the retry answered {} {}",
                report["seen"], report["failed"], retry.status, retry.body
            ));
            continue;
        };
        if first.status == 201 && first.body != retry.body {
            failures.push(format!(
                "signup, {op} failing: the retry did not replay the answer"
            ));
        }
        if kept(&stack, account).await != vec!["19.20".to_string()] {
            failures.push(format!(
                "signup, {op} failing: charges {:?}",
                stack.charges(account).await
            ));
        }
        if stack.sign_in(&email, PASSWORD).await.is_err() {
            failures.push(format!(
                "signup, {op} failing: the admin cannot sign in after the retry"
            ));
        }
    }
    let signup_steps = ops.len();

    // Assigning a Brik (charged now): the same, on a fresh company each time.
    let setup = async || {
        let company = stack.company_with("2026-12-12T10:00:00Z", &["files"]).await;
        let invited = stack
            .call(
                "POST",
                "/account/users",
                Some(&company.token),
                Some(&json!({"email": unique_email("member"), "name": "Bob Martin", "briks": []})),
                None,
            )
            .await;
        let member = invited.body["user"]["id"].as_str().unwrap().to_string();
        (company, member)
    };
    let (company, member) = setup().await;
    let path = format!("/account/users/{member}/briks/care");
    let (clean, ops) = requests_of(&stack, async {
        stack
            .call("PUT", &path, Some(&company.token), None, None)
            .await
            .body
    })
    .await;
    assert!(clean["invoice"]["id"].is_string(), "{clean}");
    let expected = kept(&stack, &company.account_id).await;
    for (k, op) in ops.iter().enumerate() {
        let (company, member) = setup().await;
        let path = format!("/account/users/{member}/briks/care");
        let key = format!("assign-{k}-{member}");
        let (first, op, _) = under_fault(&stack, k, op, async {
            stack
                .call("PUT", &path, Some(&company.token), None, Some(&key))
                .await
        })
        .await;
        tried += 1;
        if !matches!(first.status, 200 | 503 | 409) {
            failures.push(format!(
                "assignment, {op} failing (request {k}): answered {} {}",
                first.status, first.body
            ));
        }
        let users = stack
            .call("GET", "/account/users", Some(&company.token), None, None)
            .await;
        let holds = |users: &Value| {
            users.as_array().unwrap().iter().any(|u| {
                u["id"] == member.as_str()
                    && u["briks"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|b| b["brik_id"] == "care")
            })
        };
        if first.status != 200
            && holds(&users.body)
            && kept(&stack, &company.account_id).await.len() < expected.len()
        {
            failures.push(format!(
                "assignment, {op} failing: assigned but not charged"
            ));
        }
        let retry = until_not_in_progress(
            &stack,
            "PUT",
            &path,
            Some(&company.token),
            &json!(null),
            &key,
        )
        .await;
        if retry.status != 200 {
            failures.push(format!(
                "assignment, {op} failing: the retry answered {} {}",
                retry.status, retry.body
            ));
            continue;
        }
        let users = stack
            .call("GET", "/account/users", Some(&company.token), None, None)
            .await;
        if !holds(&users.body) {
            failures.push(format!(
                "assignment, {op} failing: not assigned after the retry"
            ));
        }
        let charges = kept(&stack, &company.account_id).await;
        if charges != expected {
            failures.push(format!(
                "assignment, {op} failing: charges {charges:?}, expected {expected:?}"
            ));
        }
    }
    stack.pause_schedules(false).await;
    assert!(
        failures.is_empty(),
        "{} of {tried} faults went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "faults: signup {signup_steps} requests, assignment {} requests, each failed in turn ({tried} runs): nothing half-done, every retry complete",
        ops.len()
    );
}
