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

#[tokio::test]
async fn support_mail_is_logged_by_outcome_without_sender_subject_or_body() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2027-03-23T08:00:00Z").await;
    let subject = "Fuite confidentielle Quetzal";
    let body = "Le mot de passe du coffre est Ornithorynque";
    let raw = format!(
        "From: <{}>\r\nTo: support@softbrik.com\r\nSubject: {subject}\r\nMessage-ID: <{}@example.fr>\r\n\r\n{body}\r\n",
        company.admin_email,
        uuid::Uuid::new_v4().simple()
    );
    let opened = stack.deliver_mail(raw.into_bytes()).await;
    assert_eq!(opened.body["outcome"], "opened", "{opened:?}");
    let ticket_id = opened.body["ticket_id"].as_str().unwrap().to_string();
    let stranger = unique_email("stranger");
    let unknown = format!(
        "From: <{stranger}>\r\nTo: support@softbrik.com\r\nSubject: {subject}\r\nMessage-ID: <{}@example.fr>\r\n\r\n{body}\r\n",
        uuid::Uuid::new_v4().simple()
    );
    stack.deliver_mail(unknown.into_bytes()).await;

    let mut log = String::new();
    for _ in 0..20 {
        log = functions_log();
        if log.contains(&ticket_id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(log.contains(&ticket_id), "the new ticket is logged");
    let lower = log.to_lowercase();
    for secret in [
        company.admin_email.as_str(),
        stranger.as_str(),
        "quetzal",
        "ornithorynque",
    ] {
        assert!(
            !lower.contains(&secret.to_lowercase()),
            "the log holds '{secret}'"
        );
    }
}
