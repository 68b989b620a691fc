//! Every bad signup gets its problem+json error and writes nothing (issue 2, "Bad input").

use serde_json::{Value, json};
use softbrik_integration_tests::{Answer, Stack, signup_body, unique_email};

async fn refused(stack: &Stack, email: &str, body: &Value) -> Answer {
    let answer = stack.call("POST", "/signup", None, Some(body), None).await;
    assert!(
        !stack.cognito_user_exists(email).await,
        "a Cognito user was created for {body}"
    );
    assert!(
        stack.mail_to(email).await.is_empty(),
        "mail was sent for {body}"
    );
    assert_eq!(
        answer.content_type, "application/problem+json",
        "{answer:?}"
    );
    assert_eq!(answer.body["status"], answer.status, "{answer:?}");
    answer
}

fn field_codes(answer: &Answer) -> Vec<(String, String)> {
    answer.body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    (
                        e["field"].as_str().unwrap_or("").to_string(),
                        e["code"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let stack = Stack::connect().await;
    let answer = stack
        .call_raw("POST", "/signup", b"{\"company_name\": ".to_vec())
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["code"], "malformed_json");
}

#[tokio::test]
async fn a_body_over_64_kib_is_a_413() {
    let stack = Stack::connect().await;
    let email = unique_email("big");
    let mut body = signup_body(&email, None);
    body["address"] = json!("x".repeat(70 * 1024));
    let answer = refused(&stack, &email, &body).await;
    assert_eq!(answer.status, 413);
}

#[tokio::test]
async fn each_invalid_field_is_named_in_one_answer() {
    let stack = Stack::connect().await;
    let email = unique_email("invalid");
    let mut body = signup_body(&email, None);
    body["admin"]["email"] = json!("not-an-email");
    body["language"] = json!("de");
    body["country"] = json!("XX");
    body["timezone"] = json!("Europe/Atlantis");
    body["company_name"] = json!("Bad\u{0007}Name");
    let answer = refused(&stack, "not-an-email", &body).await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.body["code"], "validation_failed");
    let fields: Vec<String> = field_codes(&answer).into_iter().map(|(f, _)| f).collect();
    for field in [
        "admin.email",
        "language",
        "country",
        "timezone",
        "company_name",
    ] {
        assert!(
            fields.contains(&field.to_string()),
            "{field} not named in {fields:?}"
        );
    }
}

#[tokio::test]
async fn missing_and_wrongly_typed_fields_are_named() {
    let stack = Stack::connect().await;
    let email = unique_email("types");
    let mut missing = signup_body(&email, None);
    missing.as_object_mut().unwrap().remove("payment_method");
    let answer = refused(&stack, &email, &missing).await;
    assert_eq!(answer.status, 422);
    assert_eq!(
        field_codes(&answer),
        vec![("payment_method".into(), "required".into())]
    );

    let mut wrong = signup_body(&email, None);
    wrong["briks"] = json!("files");
    let answer = refused(&stack, &email, &wrong).await;
    assert_eq!(answer.status, 422);
    assert_eq!(field_codes(&answer)[0].0, "briks");

    let mut unknown = signup_body(&email, None);
    unknown["discount"] = json!("100");
    let answer = refused(&stack, &email, &unknown).await;
    assert_eq!(answer.status, 422);
    assert_eq!(
        field_codes(&answer),
        vec![("discount".into(), "unknown_field".into())]
    );
}

#[tokio::test]
async fn an_unknown_brik_is_refused() {
    let stack = Stack::connect().await;
    let email = unique_email("brik");
    let mut body = signup_body(&email, None);
    body["briks"] = json!(["files", "teleportation"]);
    let answer = refused(&stack, &email, &body).await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.body["code"], "unknown_brik");
}

#[tokio::test]
async fn a_card_number_in_any_field_is_refused_and_not_echoed() {
    let stack = Stack::connect().await;
    for (path, number) in [
        ("payment_method", "4242424242424242"),
        ("admin.name", "5555 5555 5555 4444"),
        ("address", "4000-0566-5566-5556"),
    ] {
        let email = unique_email("card");
        let mut body = signup_body(&email, None);
        match path {
            "admin.name" => body["admin"]["name"] = json!(number),
            other => body[other] = json!(number),
        }
        let answer = refused(&stack, &email, &body).await;
        assert_eq!(answer.status, 422, "{path}");
        assert_eq!(answer.body["code"], "card_number_not_accepted", "{path}");
        assert!(
            !answer.body.to_string().contains(number),
            "the number is echoed back"
        );
    }
}

#[tokio::test]
async fn a_weak_password_is_refused_before_anything_is_created() {
    let stack = Stack::connect().await;
    let email = unique_email("weak");
    let mut body = signup_body(&email, None);
    body["admin"]["password"] = json!("password");
    let answer = refused(&stack, &email, &body).await;
    assert_eq!(answer.status, 422);
    assert_eq!(
        field_codes(&answer),
        vec![("admin.password".into(), "weak_password".into())]
    );
}
