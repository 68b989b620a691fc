//! Closing an account (billing.md "Account closure"): 14 days' notice before the billing
//! date, irreversible, confirmed by email; no renewal on the closure date; on that date every
//! item of the account is deleted but its invoices, kept under the retention key.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use softbrik_integration_tests::{Company, Stack, renewals, s, signup_body, unique_email};

async fn invoices(stack: &Stack, company: &Company) -> Value {
    stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await
        .body
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
        history.body["items"]
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

    // WHEN the clock passes the billing date, THEN nothing is renewed: the invoices kept
    // after the closure are the signup's alone
    stack.advance(&company.clock, "2027-01-12T12:00:00Z").await;
    assert_eq!(retained_kinds(&stack, &company).await, vec!["signup"]);
}

/// The kinds of the invoices a closed account left for retention.
async fn retained_kinds(stack: &Stack, company: &Company) -> Vec<String> {
    let kept = stack
        .invoke("renew", &json!({"retained_invoices": company.account_id}))
        .await;
    let mut kinds: Vec<String> = kept["invoices"]
        .as_array()
        .unwrap_or_else(|| panic!("{kept}"))
        .iter()
        .map(|i| i["kind"].as_str().unwrap().to_string())
        .collect();
    kinds.sort();
    kinds
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
    assert_eq!(renewals(&invoices(&stack, &company).await).len(), 1);
    stack.advance(&company.clock, "2027-02-12T12:00:00Z").await;
    assert_eq!(
        retained_kinds(&stack, &company).await,
        vec!["renewal", "signup"]
    );
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

#[tokio::test]
async fn on_the_closure_date_everything_goes_but_the_invoices_kept_for_retention() {
    // GIVEN an account with a member, closing on 2027-01-12
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let member_email = unique_email("member");
    let invited = stack
        .call(
            "POST",
            "/account/users",
            Some(&company.token),
            Some(&json!({"email": member_email, "name": "Bob Martin", "briks": ["stock"]})),
            Some("invite-bob-1"),
        )
        .await;
    assert_eq!(invited.status, 201, "{invited:?}");
    let numbers: Vec<String> = invoices(&stack, &company).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(numbers.len(), 2, "signup and Bob's invitation");
    // AND a support ticket with an attachment
    let opened = stack
        .deliver_mail(softbrik_integration_tests::mail_with_attachment(
            &company.admin_email,
            &format!("{}@example.fr", company.account_id),
            b"%PDF-1.4\n",
        ))
        .await;
    assert_eq!(opened.body["outcome"], "opened", "{opened:?}");
    stack.advance(&company.clock, "2026-12-29T10:00:00Z").await;
    assert_eq!(close(&stack, &company).await.status, 202);
    let ticket_id = opened.body["ticket_id"].as_str().unwrap();
    let ticket = stack
        .call(
            "GET",
            &format!("/tickets/{ticket_id}"),
            Some(&company.token),
            None,
            None,
        )
        .await;
    let link = ticket.body["messages"][0]["attachments"][0]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("{ticket:?}"))
        .to_string();
    let before = reqwest::get(&link).await.expect("S3 answers");
    assert_eq!(before.status().as_u16(), 200, "the link works before");
    // The wrapped data key lives in the keys table (no backups), not in the account's items
    let account_pk = format!("ACCOUNT#{}", company.account_id);
    let wrapped_key = s(
        &stack
            .scan_table(&stack.file.keys_table_name)
            .await
            .into_iter()
            .find(|i| s(i, "pk") == account_pk)
            .expect("the account's key in the keys table"),
        "wrapped",
    );
    assert!(!wrapped_key.is_empty());
    assert!(
        stack
            .account_items(&company.account_id)
            .await
            .iter()
            .all(|i| !i
                .values()
                .any(|v| *v == AttributeValue::S(wrapped_key.clone()))),
        "the key is in the table with point-in-time recovery"
    );

    // WHEN the closure date passes
    stack.advance(&company.clock, "2027-01-12T12:00:00Z").await;

    // THEN the admin's token, issued before, is refused (its user is gone: security.md,
    // access ends when it is cut), and no sign-in is left
    let refused = stack
        .call("GET", "/account", Some(&company.token), None, None)
        .await;
    assert_eq!(refused.status, 401, "{refused:?}");
    assert!(!stack.cognito_user_exists(&company.admin_email).await);
    assert!(!stack.cognito_user_exists(&member_email).await);
    // AND a raw scan of every table finds nothing of the account but its retained invoices,
    // nor its data key
    let left = stack.items_naming(&company.account_id).await;
    let retained = format!("RETAINED#{}", company.account_id);
    assert!(
        left.iter().all(|i| s(i, "pk") == retained),
        "left behind: {left:?}"
    );
    assert_eq!(left.len(), 2, "the two invoices");
    // AND the ticket's attachment is gone from S3
    // (S3 answers a missing key with 404, or 403 to a signer not allowed to list the bucket)
    let gone = reqwest::get(&link).await.expect("S3 answers");
    assert!(
        [403, 404].contains(&gone.status().as_u16()),
        "the attachment is deleted: {}",
        gone.status()
    );
    let mut everything = stack.scan().await;
    everything.extend(stack.scan_table(&stack.file.keys_table_name).await);
    assert!(
        everything.iter().all(|i| !i
            .values()
            .any(|v| *v == AttributeValue::S(wrapped_key.clone()))),
        "the wrapped data key is gone"
    );
    // AND the bucket holds nothing of the account (raw messages are deleted once received:
    // support.rs checks it)
    assert_eq!(
        stack
            .objects_under(&format!("attachments/{}/", company.account_id))
            .await,
        0
    );
    // AND the retention process still reads the invoices, customer included
    let kept = stack
        .invoke("renew", &json!({"retained_invoices": company.account_id}))
        .await;
    let mut kept_numbers: Vec<String> = kept["invoices"]
        .as_array()
        .unwrap_or_else(|| panic!("{kept}"))
        .iter()
        .map(|i| {
            assert_eq!(i["company_name"], "Fromagerie Dupont");
            i["number"].as_str().unwrap().to_string()
        })
        .collect();
    kept_numbers.sort();
    let mut numbers = numbers;
    numbers.sort();
    assert_eq!(kept_numbers, numbers);
    // AND the same admin address can sign a new company up
    let again = stack
        .call(
            "POST",
            "/signup",
            None,
            Some(&signup_body(&company.admin_email, Some(&company.clock))),
            None,
        )
        .await;
    assert_eq!(again.status, 201, "{again:?}");
    assert_ne!(again.body["account"]["id"], company.account_id.as_str());
}

#[tokio::test]
async fn a_closure_stopped_after_its_first_batch_finishes_when_run_again() {
    // GIVEN an account with three members, due for closure on 2027-01-12
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    for name in ["Bob Martin", "Chloé Petit", "Driss Amrani"] {
        let invited = stack
            .call(
                "POST",
                "/account/users",
                Some(&company.token),
                Some(&json!({"email": unique_email("member"), "name": name, "briks": ["files"]})),
                None,
            )
            .await;
        assert_eq!(invited.status, 201, "{invited:?}");
    }
    stack.advance(&company.clock, "2026-12-29T10:00:00Z").await;
    assert_eq!(close(&stack, &company).await.status, 202);
    // Before its date, nothing is deleted
    let early = stack
        .invoke(
            "renew",
            &json!({"close_account": company.account_id, "max_batches": 1}),
        )
        .await;
    assert!(early.get("closure").is_none(), "refused: {early}");
    // The date comes while the scheduled run has not fired yet (as in a scheduler outage)
    let pk = format!("ACCOUNT#{}", company.account_id);
    stack
        .remove_attributes(&pk, "ACCOUNT#SCHEDULE#renew", &["gsi2pk", "gsi2sk"])
        .await;
    stack.advance(&company.clock, "2027-01-12T12:00:00Z").await;
    let before = stack.account_items(&company.account_id).await.len();

    // WHEN the closure stops after its first batch
    let first = stack
        .invoke(
            "renew",
            &json!({"close_account": company.account_id, "max_batches": 1}),
        )
        .await;
    assert_eq!(first["closure"], "continues", "{first}");
    // THEN part is deleted, the account (and its key) is still there, closed
    let halfway = stack.account_items(&company.account_id).await;
    assert!(halfway.len() < before, "{} of {before}", halfway.len());
    let account = halfway
        .iter()
        .find(|i| s(i, "sk") == "ACCOUNT")
        .expect("the account");
    assert_eq!(s(account, "status"), "closed");

    // WHEN it runs again, THEN it finishes
    let second = stack
        .invoke("renew", &json!({"close_account": company.account_id}))
        .await;
    assert_eq!(second["closure"], "done", "{second}");
    let left = stack.items_naming(&company.account_id).await;
    let retained = format!("RETAINED#{}", company.account_id);
    assert!(
        left.iter().all(|i| s(i, "pk") == retained),
        "left behind: {left:?}"
    );
    assert!(!stack.cognito_user_exists(&company.admin_email).await);
}

#[tokio::test]
async fn a_closure_run_four_times_at_once_closes_the_account_once() {
    // GIVEN an account with two members and three invoices, due for closure on 2027-01-12
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    for name in ["Bob Martin", "Chloé Petit"] {
        let invited = stack
            .call(
                "POST",
                "/account/users",
                Some(&company.token),
                Some(&json!({"email": unique_email("member"), "name": name, "briks": ["files"]})),
                None,
            )
            .await;
        assert_eq!(invited.status, 201, "{invited:?}");
    }
    stack.advance(&company.clock, "2026-12-29T10:00:00Z").await;
    assert_eq!(close(&stack, &company).await.status, 202);
    let invoices = stack
        .account_items(&company.account_id)
        .await
        .iter()
        .filter(|i| s(i, "sk").starts_with("INVOICE#"))
        .count();
    let pk = format!("ACCOUNT#{}", company.account_id);
    stack
        .remove_attributes(&pk, "ACCOUNT#SCHEDULE#renew", &["gsi2pk", "gsi2sk"])
        .await;
    stack.advance(&company.clock, "2027-01-12T12:00:00Z").await;

    // WHEN four closure runs meet
    let payload = json!({"close_account": company.account_id});
    let runs = futures::future::join_all((0..4).map(|_| stack.invoke("renew", &payload))).await;

    // THEN each finished or left the rest to another, and one more run finds it done
    for run in &runs {
        assert!(
            run["closure"] == "done"
                || run["closure"] == "continues"
                || run.get("errorType").is_some(),
            "{run}"
        );
    }
    let last = stack
        .invoke("renew", &json!({"close_account": company.account_id}))
        .await;
    assert_eq!(last["closure"], "done", "{last}");
    // AND nothing of the account is left but its invoices, each kept once
    let left = stack.items_naming(&company.account_id).await;
    let retained = format!("RETAINED#{}", company.account_id);
    assert!(
        left.iter().all(|i| s(i, "pk") == retained),
        "left behind: {left:?}"
    );
    assert_eq!(left.len(), invoices, "{left:?}");
    assert!(!stack.cognito_user_exists(&company.admin_email).await);
}
