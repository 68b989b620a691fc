//! What the Brik modules are told (events.md), end to end: each change's events are recorded
//! in its transaction and put on the bus after it, in `sequence` order per account, ids only;
//! a failure of EventBridge delays them (the settlement run publishes what a request could
//! not) and loses none. The local stack's subscriber (`events_url`) is what a module receives.

use serde_json::{Value, json};
use softbrik_integration_tests::{Stack, signup_body, unique_email};

/// One test at a time: the emulator's fault plan is global (a fault meant for one test's
/// request would hit another's).
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
    // THEN the modules are told once: Account Created, the admin's Briks, sequence 1, then
    // its first invoice numbered
    let events = stack.events_of(&company.account_id).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1]["detail-type"], "Invoice Finalised");
    assert_eq!(events[1]["detail"]["sequence"], 2);
    assert_eq!(events[1]["detail"]["kind"], "signup");
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

    // WHEN the bus fails every PutEvents of a signup (the SDK's retries too)
    stack.pause_schedules(true).await;
    stack.fail_only("AWSEvents.PutEvents", 0, 4).await;
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
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].0, "Account Created");
    assert_eq!(events[0].1["sequence"], 1);
    assert_eq!(events[1].0, "Invoice Finalised");
    assert_eq!(events[1].1["sequence"], 2);
    // AND a run again publishes nothing more of it
    stack
        .invoke("prorate", &json!({"job": "settle_pending_charges"}))
        .await;
    assert_eq!(told(&stack, &account_id).await.len(), 2);

    // WHEN the bus fails while the first company's admin invites a user with a Brik
    stack.pause_schedules(true).await;
    let before = told(&stack, &company.account_id).await.len();
    stack.fail_only("AWSEvents.PutEvents", 0, 4).await;
    let invite = json!({"email": unique_email("zoe"), "name": "Zoé Roux", "briks": ["files"]});
    let invited = stack
        .call(
            "POST",
            "/account/users",
            Some(&company.token),
            Some(&invite),
            Some("ev-zoe"),
        )
        .await;
    stack.faults(None).await;
    // THEN the invitation stands, paid, and its events wait
    assert_eq!(invited.status, 201, "{invited:?}");
    assert_eq!(told(&stack, &company.account_id).await.len(), before);
    // WHEN the settlement run comes THEN they are told in order, numbered after the others
    stack
        .invoke("prorate", &json!({"job": "settle_pending_charges"}))
        .await;
    stack.pause_schedules(false).await;
    let events = told(&stack, &company.account_id).await;
    let new: Vec<(&str, &Value)> = events[before..]
        .iter()
        .map(|(kind, detail)| (kind.as_str(), &detail["sequence"]))
        .collect();
    assert_eq!(
        new,
        [
            ("Brik Assigned", &json!(before + 1)),
            ("Invoice Finalised", &json!(before + 2)),
        ]
    );
}

/// The events told of `account_id` since the `seen` first ones, as (detail-type, detail).
async fn told_since(stack: &Stack, account_id: &str, seen: &mut usize) -> Vec<(String, Value)> {
    let all = told(stack, account_id).await;
    let new = all[*seen..].to_vec();
    *seen = all.len();
    new
}

/// A user's Briks and access as the entitlements route answers them.
async fn entitled(stack: &Stack, account_id: &str, user_id: &str) -> (String, Value) {
    let answer = stack.entitlements(account_id, user_id).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["account_id"], account_id);
    assert_eq!(answer.body["user_id"], user_id);
    assert!(answer.body["as_of"].is_string(), "{answer:?}");
    (
        answer.body["access"].as_str().unwrap_or("").to_string(),
        answer.body["briks"].clone(),
    )
}

/// (detail-type, user, Brik, what more it says) of each event, what the modules act on: a
/// Brik's reason, an invoice's kind, a payment's attempt.
fn said(events: &[(String, Value)]) -> Vec<(String, String, String, String)> {
    events
        .iter()
        .map(|(kind, d)| {
            let text = |k: &str| match &d[k] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            let more = [text("reason"), text("kind"), text("attempt")].concat();
            (kind.clone(), text("user_id"), text("brik_id"), more)
        })
        .collect()
}

/// `name` invited by the admin holding `token`, with `brik`: their user id.
async fn invite(stack: &Stack, token: &str, name: &str, brik: &str) -> String {
    let body = json!({"email": unique_email("member"), "name": name, "briks": [brik]});
    let key = format!("ev-{}", name.replace(' ', "-"));
    let invited = stack
        .call(
            "POST",
            "/account/users",
            Some(token),
            Some(&body),
            Some(&key),
        )
        .await;
    assert_eq!(invited.status, 201, "{invited:?}");
    invited.body["user"]["id"].as_str().unwrap().to_string()
}

/// The admin holding `token` gives the card `payment_method` (the sandbox's test cards).
async fn new_card(stack: &Stack, token: &str, payment_method: &str) {
    let card = json!({"payment_method": payment_method});
    let path = "/account/payment-method";
    let put = stack
        .call("PUT", path, Some(token), Some(&card), None)
        .await;
    assert_eq!(put.status, 200, "{put:?}");
}

fn event(kind: &str, user: &str, brik: &str, reason: &str) -> (String, String, String, String) {
    (kind.into(), user.into(), brik.into(), reason.into())
}

#[tokio::test]
async fn every_change_of_access_is_told_in_order_and_the_entitlements_route_agrees() {
    let _turn = FAULTS.lock().await;
    let stack = Stack::connect().await;
    // GIVEN a company signing up on a test clock, its admin with File storage
    let company = stack.company_with("2026-12-12T10:00:00Z", &["files"]).await;
    let (account, token) = (company.account_id.as_str(), company.token.as_str());
    let mut seen = 0;
    let created = told_since(&stack, account, &mut seen).await;
    assert_eq!(
        said(&created),
        [
            event("Account Created", "", "", ""),
            event("Invoice Finalised", "", "", "signup"),
        ]
    );
    let admin = stack
        .call("GET", "/account/users", Some(token), None, None)
        .await;
    let admin_id = admin.body["items"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        entitled(&stack, account, &admin_id).await,
        ("active".into(), json!(["files"]))
    );

    // WHEN Mia is invited with Customer care, then given File storage
    let mia = invite(&stack, token, "Mia Moreau", "care").await;
    let path = format!("/account/users/{mia}/briks/files");
    let given = stack
        .call("PUT", &path, Some(token), None, Some("ev-mia-files"))
        .await;
    assert_eq!(given.status, 200, "{given:?}");
    // THEN each assignment is told once, after its charge
    assert_eq!(
        said(&told_since(&stack, account, &mut seen).await),
        [
            event("Brik Assigned", &mia, "care", ""),
            event("Invoice Finalised", "", "", "proration"),
            event("Brik Assigned", &mia, "files", ""),
            event("Invoice Finalised", "", "", "proration"),
        ]
    );
    assert_eq!(
        entitled(&stack, account, &mia).await,
        ("active".into(), json!(["care", "files"]))
    );

    // WHEN Customer care is removed from Mia: it ends at the period end, told nothing yet
    let path = format!("/account/users/{mia}/briks/care");
    let removed = stack
        .call("DELETE", &path, Some(token), None, Some("ev-mia-care"))
        .await;
    assert_eq!(removed.status, 202, "{removed:?}");
    assert!(told_since(&stack, account, &mut seen).await.is_empty());
    assert_eq!(
        entitled(&stack, account, &mia).await,
        ("active".into(), json!(["care", "files"]))
    );

    // WHEN Noah joins with File storage and is removed at once (an immediate cut)
    let noah = invite(&stack, token, "Noah Petit", "files").await;
    let cut = stack
        .call(
            "DELETE",
            &format!("/account/users/{noah}"),
            Some(token),
            Some(&json!({"immediate": true})),
            Some("ev-noah-cut"),
        )
        .await;
    assert_eq!(cut.status, 202, "{cut:?}");
    // THEN his access is cut, then his Brik unassigned, at once
    assert_eq!(
        said(&told_since(&stack, account, &mut seen).await),
        [
            event("Brik Assigned", &noah, "files", ""),
            event("Invoice Finalised", "", "", "proration"),
            event("User Access Cut", &noah, "", ""),
            event("Brik Unassigned", &noah, "files", "cut"),
        ]
    );
    assert_eq!(
        entitled(&stack, account, &noah).await,
        ("cut".into(), json!([]))
    );

    // WHEN Mia is made inactive, then active again
    let status = format!("/account/users/{mia}/status");
    for (active, key) in [(false, "ev-mia-off"), (true, "ev-mia-on")] {
        let body = json!({"active": active});
        let set = stack
            .call("PUT", &status, Some(token), Some(&body), Some(key))
            .await;
        assert_eq!(set.status, 200, "{set:?}");
    }
    assert_eq!(
        said(&told_since(&stack, account, &mut seen).await),
        [
            event("User Access Cut", &mia, "", ""),
            event("Brik Unassigned", &mia, "care", "cut"),
            event("Brik Unassigned", &mia, "files", "cut"),
            event("User Access Restored", &mia, "", ""),
            event("Brik Assigned", &mia, "care", ""),
            event("Brik Assigned", &mia, "files", ""),
        ]
    );

    // WHEN the period ends (Jan 12, the account's midnight in Paris)
    stack.advance(&company.clock, "2027-01-12T12:00:00Z").await;
    // THEN Mia's Customer care is unassigned, as removed, at the instant it took effect; Noah,
    // cut already, leaves with nothing more to tell
    // before the period is renewed
    let ended = told_since(&stack, account, &mut seen).await;
    assert_eq!(
        said(&ended),
        [
            event("Brik Unassigned", &mia, "care", "removed"),
            event("Invoice Finalised", "", "", "renewal"),
        ]
    );
    let at_midnight = stack.events_of(account).await[seen - 2]["time"].clone();
    assert_eq!(at_midnight, "2027-01-11T23:00:00Z");
    assert_eq!(
        entitled(&stack, account, &mia).await,
        ("active".into(), json!(["files"]))
    );
    let gone = stack.entitlements(account, &noah).await;
    assert_eq!(gone.status, 404, "{gone:?}");

    // WHEN the Feb 12 renewal's card fails until the account is suspended
    new_card(&stack, token, "pm_card_chargeCustomerFail").await;
    stack.advance(&company.clock, "2027-02-17T12:00:00Z").await;
    // THEN each failed charge is told (the renewal's, then its retries on Feb 13, 15 and 17),
    // then the suspension
    assert_eq!(
        said(&told_since(&stack, account, &mut seen).await),
        [
            event("Payment Failed", "", "", "1"),
            event("Invoice Finalised", "", "", "renewal"),
            event("Payment Failed", "", "", "2"),
            event("Payment Failed", "", "", "3"),
            event("Payment Failed", "", "", "4"),
            event("Account Suspended", "", "", ""),
        ]
    );
    assert_eq!(
        entitled(&stack, account, &mia).await,
        ("suspended".into(), json!(["files"]))
    );
    // WHEN a card that pays is given THEN the account is reactivated
    new_card(&stack, token, "pm_card_visa").await;
    assert_eq!(
        said(&told_since(&stack, account, &mut seen).await),
        [event("Account Reactivated", "", "", "")]
    );
    assert_eq!(
        entitled(&stack, account, &mia).await,
        ("active".into(), json!(["files"]))
    );

    // WHEN the admin closes the account (14 days before Mar 12) and Mar 12 comes
    let closing = stack
        .call(
            "POST",
            "/account/closure",
            Some(token),
            Some(&json!({"confirm": true})),
            Some("ev-close"),
        )
        .await;
    assert_eq!(closing.status, 202, "{closing:?}");
    stack.advance(&company.clock, "2027-03-12T12:00:00Z").await;
    // THEN every module is told to delete the company's data within 30 days
    let closed = told_since(&stack, account, &mut seen).await;
    assert_eq!(said(&closed), [event("Account Closed", "", "", "")]);
    assert_eq!(closed[0].1["delete_by"], "2027-04-11");
    // and nothing of it answers any more
    let gone = stack.entitlements(account, &mia).await;
    assert_eq!(gone.status, 404, "{gone:?}");

    // AND every event of the account came once, numbered 1, 2, 3... with ids only
    let all = stack.events_of(account).await;
    let numbers: Vec<u64> = all
        .iter()
        .map(|e| e["detail"]["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (1..=all.len() as u64).collect::<Vec<_>>());
    let mut ids: Vec<&str> = all
        .iter()
        .map(|e| e["detail"]["event_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "an event told twice");
    for e in &all {
        let text = e["detail"].to_string();
        assert!(
            !text.contains('@') && !text.contains("Mia") && !text.contains("Noah"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn only_the_brik_modules_role_calls_the_entitlements_route() {
    let _turn = FAULTS.lock().await;
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let users = stack
        .call("GET", "/account/users", Some(&company.token), None, None)
        .await;
    let admin_id = users.body["items"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/entitlements/{}/users/{admin_id}", company.account_id);
    // A user's token, even the account's admin's: refused by the gateway
    let with_token = stack
        .call("GET", &path, Some(&company.token), None, None)
        .await;
    assert_eq!(with_token.status, 403, "{with_token:?}");
    // Nothing at all
    let anonymous = stack.call("GET", &path, None, None, None).await;
    assert_eq!(anonymous.status, 403, "{anonymous:?}");
    // Signed with the role's key id but not its secret
    let mut forged = stack.file.brik_modules.clone();
    forged.secret_access_key = "not-the-secret".into();
    let forged = stack.signed_get(&path, &forged).await;
    assert_eq!(forged.status, 403, "{forged:?}");
    // Signed by the role: answered; an unknown user or account: 404
    let answered = stack.entitlements(&company.account_id, &admin_id).await;
    assert_eq!(answered.status, 200, "{answered:?}");
    let unknown = stack.entitlements(&company.account_id, "usr_nobody").await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
    let unknown = stack.entitlements("acc_nobody", &admin_id).await;
    assert_eq!(unknown.status, 404, "{unknown:?}");
}
