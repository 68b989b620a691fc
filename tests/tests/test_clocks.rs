//! Test clocks (api.md): created frozen, read back, moved forward only.

use serde_json::json;
use softbrik_integration_tests::{PASSWORD, Stack, signup_body, unique_email};

#[tokio::test]
async fn a_clock_moves_forward_and_never_back() {
    let stack = Stack::connect().await;
    let id = stack.new_clock("2026-12-12T10:00:00Z").await;

    let read = stack
        .call("GET", &format!("/test-clocks/{id}"), None, None, None)
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["frozen_time"], "2026-12-12T10:00:00Z");
    assert_eq!(read.body["status"], "ready");

    let path = format!("/test-clocks/{id}/advance");
    let forward = stack
        .call(
            "POST",
            &path,
            None,
            Some(&json!({"frozen_time": "2026-12-20T09:00:00Z"})),
            None,
        )
        .await;
    assert_eq!(forward.status, 200, "{forward:?}");
    assert_eq!(forward.body["frozen_time"], "2026-12-20T09:00:00Z");

    let back = stack
        .call(
            "POST",
            &path,
            None,
            Some(&json!({"frozen_time": "2026-12-13T00:00:00Z"})),
            None,
        )
        .await;
    assert_eq!(back.status, 422);
    assert_eq!(back.body["errors"][0]["code"], "clock_cannot_go_back");

    let bad = stack
        .call(
            "POST",
            &path,
            None,
            Some(&json!({"frozen_time": "tomorrow"})),
            None,
        )
        .await;
    assert_eq!(bad.status, 422);
}

#[tokio::test]
async fn an_unknown_clock_is_a_404_and_cannot_be_signed_up_on() {
    let stack = Stack::connect().await;
    let missing = stack
        .call("GET", "/test-clocks/clock_doesnotexist", None, None, None)
        .await;
    assert_eq!(missing.status, 404);
    let email = unique_email("noclock");
    let answer = stack
        .call(
            "POST",
            "/signup",
            None,
            Some(&signup_body(&email, Some("clock_doesnotexist"))),
            None,
        )
        .await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.body["errors"][0]["code"], "unknown_test_clock");
}

#[tokio::test]
async fn an_account_on_a_clock_lives_on_its_time() {
    // GIVEN an account signed up on 2026-12-12 (Paris), anchor day 12
    let stack = Stack::connect().await;
    let clock = stack.new_clock("2026-12-12T10:00:00Z").await;
    let email = unique_email("clocked");
    assert_eq!(
        stack
            .call(
                "POST",
                "/signup",
                None,
                Some(&signup_body(&email, Some(&clock))),
                None
            )
            .await
            .status,
        201
    );
    let token = stack.sign_in(&email, PASSWORD).await.unwrap();

    // WHEN its clock reaches 2027-01-11T23:30Z, which is already Jan 12 in Paris
    let path = format!("/test-clocks/{clock}/advance");
    let moved = stack
        .call(
            "POST",
            &path,
            None,
            Some(&json!({"frozen_time": "2027-01-11T23:30:00Z"})),
            None,
        )
        .await;
    assert_eq!(moved.status, 200);

    // THEN its current period is the second one
    let account = stack
        .call("GET", "/account", Some(&token), None, None)
        .await;
    assert_eq!(
        account.body["billing"]["current_period"],
        json!({"start": "2027-01-12", "end": "2027-02-12"})
    );
}
