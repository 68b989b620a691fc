//! Closing an account (billing.md "Account closure"): 14 days' notice before the billing
//! date, irreversible, confirmed by email; no renewal on the closure date.

use serde_json::{Value, json};
use softbrik_integration_tests::{Company, Stack, unique_email};

async fn renewals(stack: &Stack, company: &Company) -> Vec<Value> {
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    invoices
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "renewal")
        .cloned()
        .collect()
}

async fn close(stack: &Stack, company: &Company) -> softbrik_integration_tests::Answer {
    stack
        .call(
            "POST",
            "/account/closure",
            Some(&company.token),
            Some(&json!({"confirm": true})),
            None,
        )
        .await
}

#[tokio::test]
async fn asked_fourteen_days_before_the_billing_date_it_closes_then_without_renewal() {
    // GIVEN an account renewing on 2027-01-12
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    stack.advance(&company.clock, "2026-12-29T10:00:00Z").await;

    // WHEN its admin closes it on 2026-12-29, 14 days before
    let asked = close(&stack, &company).await;
    // THEN it closes on 2027-01-12, and the account says so
    assert_eq!(asked.status, 202, "{asked:?}");
    assert_eq!(asked.body["effective_date"], "2027-01-12");
    let account = stack
        .call("GET", "/account", Some(&company.token), None, None)
        .await;
    assert_eq!(account.body["status"], "closing");
    assert_eq!(account.body["billing"]["closure_date"], "2027-01-12");
    // AND the request is confirmed by email, in French
    let mail = stack.mail_to(&company.admin_email).await;
    assert!(
        mail.iter()
            .any(|m| m.subject == "Fermeture de votre compte Softbrik le 2027-01-12"),
        "{mail:?}"
    );
    // AND it is in the history, and a second request is refused: the first one stands
    let history = stack
        .call("GET", "/account/history", Some(&company.token), None, None)
        .await;
    assert!(
        history
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "closure_requested"
                && e["details"]["effective_date"] == "2027-01-12"),
        "{:?}",
        history.body
    );
    let again = close(&stack, &company).await;
    assert_eq!(again.status, 409, "{again:?}");
    assert_eq!(again.body["code"], "closure_already_requested");

    // WHEN the clock passes the billing date, THEN nothing is renewed nor charged
    stack.advance(&company.clock, "2027-01-12T12:00:00Z").await;
    assert!(renewals(&stack, &company).await.is_empty());
    assert_eq!(
        stack.charges(&company.account_id).await.len(),
        1,
        "signup only"
    );
}

#[tokio::test]
async fn asked_thirteen_days_before_the_billing_date_it_renews_once_more() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    stack.advance(&company.clock, "2026-12-30T10:00:00Z").await;
    let asked = close(&stack, &company).await;
    assert_eq!(asked.status, 202, "{asked:?}");
    assert_eq!(asked.body["effective_date"], "2027-02-12");
    // The Jan 12 renewal happens; the Feb 12 one does not
    stack.advance(&company.clock, "2027-01-12T12:00:00Z").await;
    assert_eq!(renewals(&stack, &company).await.len(), 1);
    stack.advance(&company.clock, "2027-02-12T12:00:00Z").await;
    assert_eq!(renewals(&stack, &company).await.len(), 1);
}

#[tokio::test]
async fn only_the_admin_closes_and_only_when_confirmed() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    // Not confirmed: refused, nothing written
    let unconfirmed = stack
        .call(
            "POST",
            "/account/closure",
            Some(&company.token),
            Some(&json!({"confirm": false})),
            None,
        )
        .await;
    assert_eq!(unconfirmed.status, 422, "{unconfirmed:?}");
    assert_eq!(unconfirmed.content_type, "application/problem+json");
    // A member cannot close the company's account
    let member_email = unique_email("member");
    let invited = stack
        .call(
            "POST",
            "/account/users",
            Some(&company.token),
            Some(&json!({"email": member_email, "name": "Bob Martin", "briks": ["files"]})),
            None,
        )
        .await;
    assert_eq!(invited.status, 201, "{invited:?}");
    let member = stack.member_token(&member_email).await;
    let refused = stack
        .call(
            "POST",
            "/account/closure",
            Some(&member),
            Some(&json!({"confirm": true})),
            None,
        )
        .await;
    assert_eq!(refused.status, 403, "{refused:?}");
    let account = stack
        .call("GET", "/account", Some(&company.token), None, None)
        .await;
    assert_eq!(account.body["status"], "active");
}
