//! The functions' logs (DEVELOPERS.md "Standards"): structured JSON through `tracing`, with
//! the request id and the account id, and never a password, a token or personal data in clear.

use std::time::Duration;

use softbrik_integration_tests::{PASSWORD, Stack, signup_body, unique_email};

fn functions_log() -> String {
    let stack_file = std::env::var("SOFTBRIK_STACK").expect("SOFTBRIK_STACK");
    let path = std::path::Path::new(&stack_file)
        .with_file_name("logs")
        .join("functions.log");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

#[tokio::test]
async fn a_signup_is_logged_with_its_ids_and_without_personal_data() {
    let stack = Stack::connect().await;
    let email = unique_email("logged");
    let mut body = signup_body(&email, None);
    body["company_name"] = serde_json::json!("Brasserie Secrète");
    let answer = stack.call("POST", "/signup", None, Some(&body), None).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let account_id = answer.body["account"]["id"].as_str().unwrap().to_string();
    let token = stack.sign_in(&email, PASSWORD).await.unwrap();
    assert_eq!(
        stack
            .call("GET", "/account", Some(&token), None, None)
            .await
            .status,
        200
    );

    // The function's lines reach the log as they are written; give the pipe a moment.
    let mut log = String::new();
    for _ in 0..20 {
        log = functions_log();
        if log.contains(&account_id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let line = log
        .lines()
        .find(|l| l.contains("signup answered") && l.contains(&account_id))
        .expect("the signup is logged with its account id");
    let json: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
    assert!(
        json["span"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{json}"
    );
    assert_eq!(json["span"]["account_id"], account_id.as_str());

    let lower = log.to_lowercase();
    for secret in [
        email.to_lowercase().as_str(),
        "brasserie secr",
        PASSWORD.to_lowercase().as_str(),
        token.as_str(),
    ] {
        assert!(
            !lower.contains(&secret.to_lowercase()),
            "the log holds '{secret}'"
        );
    }
}
