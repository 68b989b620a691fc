//! What the Brik modules are told (events.md), end to end: each change's events are recorded
//! in its transaction and put on the bus after it, in `sequence` order per account, ids only;
//! a failure of EventBridge delays them (the settlement run publishes what a request could
//! not) and loses none. The local stack's subscriber (`events_url`) is what a module receives.

use serde_json::{Value, json};
use softbrik_integration_tests::{Stack, signup_body, unique_email};

/// One test at a time: the emulator's fault plan is global.
static FAULTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The account's events as the modules received them: (detail-type, detail) in order.
async fn told(stack: &Stack, account_id: &str) -> Vec<(String, Value)> {
    stack
        .events_of(account_id)
        .await
        .into_iter()
        .map(|e| {
            (
                e["detail-type"].as_str().unwrap_or("").to_string(),
                e["detail"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_signup_is_announced_once_with_ids_only_even_when_the_bus_fails() {
    let _turn = FAULTS.lock().await;
    let stack = Stack::connect().await;
    // GIVEN the FAQ's company signing up on a test clock
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    // THEN the modules are told once: Account Created, the admin's Briks, sequence 1
    let events = stack.events_of(&company.account_id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["source"], "softbrik.billing");
    assert_eq!(event["detail-type"], "Account Created");
    // at the instant the change took effect, on the account's clock
    assert_eq!(event["time"], "2026-12-12T10:00:00Z");
    let detail = &event["detail"];
    assert_eq!(detail["sequence"], 1);
    assert_eq!(detail["briks"], json!(["files", "care"]));
    assert!(
        detail["event_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("evt_"))
    );
    // ids only: no name, no address
    let text = event.to_string();
    for personal in [company.admin_email.as_str(), "Fromagerie", "Alice"] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }

    // WHEN the bus fails every PutEvents of a signup
    stack.pause_schedules(true).await;
    stack.faults(Some((1_000_000, 0))).await;
    let body = signup_body(&unique_email("clean"), None);
    let clean = stack.call("POST", "/signup", None, Some(&body), None).await;
    let log = stack.faults(None).await["log"].clone();
    assert_eq!(clean.status, 201, "{clean:?}");
    let k = log
        .as_array()
        .unwrap()
        .iter()
        .position(|op| op.as_str().is_some_and(|o| o.contains("PutEvents")))
        .unwrap_or_else(|| panic!("a signup puts its events on the bus: {log}"));
    stack.faults(Some((k, 4))).await;
    let body = signup_body(&unique_email("busdown"), None);
    let signed = stack.call("POST", "/signup", None, Some(&body), None).await;
    let report = stack.faults(None).await;
    // THEN the signup stands, and its event waits
    assert_eq!(signed.status, 201, "{signed:?} {report}");
    let account_id = signed.body["account"]["id"].as_str().unwrap().to_string();
    assert!(told(&stack, &account_id).await.is_empty());
    // WHEN the settlement run comes THEN it is published, once, still sequence 1
    let settled = stack
        .invoke("prorate", &json!({"job": "settle_pending_charges"}))
        .await;
    stack.pause_schedules(false).await;
    assert!(settled["events"].as_u64().unwrap_or(0) >= 1, "{settled}");
    let events = told(&stack, &account_id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "Account Created");
    assert_eq!(events[0].1["sequence"], 1);
    // AND a run again publishes nothing more of it
    stack
        .invoke("prorate", &json!({"job": "settle_pending_charges"}))
        .await;
    assert_eq!(told(&stack, &account_id).await.len(), 1);
}
