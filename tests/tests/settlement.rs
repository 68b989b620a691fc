//! Settlement of charges left unfinished (security.md, Reliability): the `prorate` function
//! refunds a charge whose change was never written and keeps one whose invoice exists.

use serde_json::json;
use softbrik_integration_tests::Stack;

#[tokio::test]
async fn a_charge_without_its_change_is_refunded_and_one_with_its_invoice_is_kept() {
    // GIVEN an account, and the traces of a function that stopped after charging 7.13 for an
    // invitation it never wrote, long enough ago that nobody is still writing it
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-20T10:00:00Z").await;
    let orphan = format!("inv_orphan{}:1", uuid::Uuid::new_v4().simple());
    stack
        .put_item(&[
            ("pk", json!(format!("SANDBOX#CHARGE#{orphan}"))),
            ("sk", json!("CHARGE")),
            (
                "gsi1pk",
                json!(format!("SANDBOX#ACCOUNT#{}", company.account_id)),
            ),
            ("gsi1sk", json!(format!("2026-12-20T10:00:00Z#{orphan}"))),
            ("charge_id", json!("ch_orphan")),
            ("account_id", json!(company.account_id)),
            ("amount", json!("7.13")),
            ("description", json!("an invitation never written")),
            ("created_at", json!("2026-12-20T10:00:00Z")),
            ("refunded", json!(false)),
        ])
        .await;
    let pending = |key: &str, invoice: &str| {
        vec![
            ("pk", json!(format!("PENDING#{key}"))),
            ("sk", json!("PENDING")),
            ("gsi1pk", json!("PENDING")),
            ("gsi1sk", json!("00000000000000000001")),
            ("charge_key", json!(key)),
            ("account_id", json!(company.account_id)),
            ("invoice_id", json!(invoice)),
        ]
    };
    stack
        .put_item(&pending(&orphan, orphan.trim_end_matches(":1")))
        .await;
    // AND a charge whose change was written (the signup invoice exists)
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    let paid = invoices.body[0]["id"].as_str().unwrap().to_string();
    let paid_key = format!("{paid}:1");
    stack.put_item(&pending(&paid_key, &paid)).await;

    // WHEN the scheduled settlement runs
    let done = stack
        .invoke("prorate", &json!({"job": "settle_pending_charges"}))
        .await;

    // THEN the orphan charge is refunded, the signup charge kept, and nothing is left pending
    assert!(done["refunded"].as_u64().unwrap() >= 1, "{done}");
    assert!(done["applied"].as_u64().unwrap() >= 1, "{done}");
    let mut charges = stack.charges(&company.account_id).await;
    charges.sort();
    assert_eq!(
        charges,
        vec![("19.20".to_string(), false), ("7.13".to_string(), true)]
    );
    let items = stack.scan().await;
    for key in [&orphan, &paid_key] {
        let pk = format!("PENDING#{key}");
        assert!(
            !items
                .iter()
                .any(|i| softbrik_integration_tests::s(i, "pk") == pk),
            "{pk} is still pending"
        );
    }
}
