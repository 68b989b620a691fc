//! Settlement of charges left unfinished (security.md, Reliability): the `prorate` function
//! refunds a charge whose change was never written and keeps one whose invoice exists; a
//! charge made a moment ago, its request still running, is left alone. A refunded key stays
//! marked, so that no later charge of its invoice reuses it.

use serde_json::json;
use softbrik_integration_tests::Stack;

/// A settlement run settles every account's pending charges and mail retries: the tests of
/// this file take turns, so that each run's counts are its own test's.
static SETTLEMENT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn a_charge_without_its_change_is_refunded_and_one_with_its_invoice_is_kept() {
    // GIVEN an account, and the traces of a function that stopped after charging 7.13 for an
    // invitation it never wrote, long enough ago that nobody is still writing it
    let _turn = SETTLEMENT.lock().await;
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-20T10:00:00Z").await;
    let stack = &stack;
    let account = company.account_id.clone();
    let charged = async |key: &str, amount: &str| {
        stack
            .put_item(&[
                ("pk", json!(format!("SANDBOX#CHARGE#{key}"))),
                ("sk", json!("CHARGE")),
                ("gsi1pk", json!(format!("SANDBOX#ACCOUNT#{account}"))),
                ("gsi1sk", json!(format!("2026-12-20T10:00:00Z#{key}"))),
                ("charge_id", json!(format!("ch_{amount}"))),
                ("account_id", json!(account)),
                ("amount", json!(amount)),
                ("description", json!("an invitation never written")),
                ("created_at", json!("2026-12-20T10:00:00Z")),
                ("refunded", json!(false)),
            ])
            .await;
    };
    let orphan = format!("inv_orphan{}:1", uuid::Uuid::new_v4().simple());
    charged(&orphan, "7.13").await;
    // The pending record's sort key: the instant of the charge in zero-padded milliseconds.
    let pending = |key: &str, invoice: &str, at_ms: i64| {
        vec![
            ("pk", json!(format!("PENDING#{key}"))),
            ("sk", json!("PENDING")),
            ("gsi1pk", json!("PENDING")),
            ("gsi1sk", json!(format!("{at_ms:020}"))),
            ("charge_key", json!(key)),
            ("account_id", json!(company.account_id)),
            ("invoice_id", json!(invoice)),
        ]
    };
    stack
        .put_item(&pending(&orphan, orphan.trim_end_matches(":1"), 1))
        .await;
    // AND a charge of 5.00 made just now, its request still writing its change
    let running = format!("inv_running{}:1", uuid::Uuid::new_v4().simple());
    charged(&running, "5.00").await;
    let now_ms = jiff::Timestamp::now().as_millisecond();
    stack
        .put_item(&pending(&running, running.trim_end_matches(":1"), now_ms))
        .await;
    // AND a charge whose change was written (the signup invoice exists)
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    let paid = invoices.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let paid_key = format!("{paid}:1");
    stack.put_item(&pending(&paid_key, &paid, 1)).await;

    // WHEN the scheduled settlement runs
    let done = stack
        .invoke("prorate", &json!({"job": "settle_pending_charges"}))
        .await;

    // THEN the orphan charge is refunded, the signup charge kept, the running one left alone
    assert!(done["refunded"].as_u64().unwrap() >= 1, "{done}");
    assert!(done["applied"].as_u64().unwrap() >= 1, "{done}");
    let mut charges = stack.charges(&company.account_id).await;
    charges.sort();
    assert_eq!(
        charges,
        vec![
            ("19.20".to_string(), false),
            ("5.00".to_string(), false),
            ("7.13".to_string(), true)
        ]
    );
    let items = stack.scan().await;
    let record = |key: &str| {
        let pk = format!("PENDING#{key}");
        items
            .iter()
            .find(|i| softbrik_integration_tests::s(i, "pk") == pk)
            .cloned()
    };
    // AND the signup's record is gone, the orphan's kept as refunded (no longer listed), the
    // running one's still pending
    assert!(
        record(&paid_key).is_none(),
        "the applied charge is still pending"
    );
    let refunded = record(&orphan).expect("the refunded key stays marked");
    assert_eq!(
        refunded.get("refunded"),
        Some(&aws_sdk_dynamodb::types::AttributeValue::Bool(true))
    );
    assert!(!refunded.contains_key("gsi1pk"), "{refunded:?}");
    let still = record(&running).expect("the running charge is still pending");
    assert_eq!(softbrik_integration_tests::s(&still, "gsi1pk"), "PENDING");
}

#[tokio::test]
async fn an_invoice_whose_email_failed_is_sent_again_by_the_settlement_run() {
    // GIVEN an account whose signup invoice email failed, left for the settlement run as
    // `invoicing::email` leaves it (a retry listed under MAILRETRY)
    let _turn = SETTLEMENT.lock().await;
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-20T10:00:00Z").await;
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    let invoice = invoices.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let number = invoices.body["items"][0]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let pk = format!("MAILRETRY#{}#{invoice}", company.account_id);
    stack
        .put_item(&[
            ("pk", json!(pk)),
            ("sk", json!("MAILRETRY")),
            ("gsi1pk", json!("MAILRETRY")),
            ("gsi1sk", json!(format!("{:020}", 1))),
            ("account_id", json!(company.account_id)),
            ("invoice_id", json!(invoice)),
            ("expires_at", json!(4_102_444_800_i64)),
        ])
        .await;
    let sent = |mail: &[softbrik_integration_tests::Mail]| {
        mail.iter().filter(|m| m.subject.contains(&number)).count()
    };
    let before = sent(&stack.mail_to(&company.admin_email).await);

    // WHEN the scheduled settlement runs
    let done = stack
        .invoke("prorate", &json!({"job": "settle_pending_charges"}))
        .await;

    // THEN the invoice is emailed once more, its PDF attached, and the retry is gone
    assert!(done["mailed"].as_u64().unwrap() >= 1, "{done}");
    let mail = stack.mail_to(&company.admin_email).await;
    assert_eq!(sent(&mail), before + 1, "{mail:?}");
    let again = mail.iter().rfind(|m| m.subject.contains(&number)).unwrap();
    assert!(
        again
            .attachments
            .iter()
            .any(|(_, kind, _)| kind == "application/pdf"),
        "{again:?}"
    );
    let left = stack.scan().await;
    assert!(
        !left
            .iter()
            .any(|i| softbrik_integration_tests::s(i, "pk") == pk),
        "the retry is still listed"
    );
}
