//! A reseller closing one of its client accounts (docs/resellers.md "A client's closure"), end
//! to end on a test clock: the reseller asks, the client is `closing` until the reseller's
//! billing date (14 days' notice), its admin is told; on that date the client's data is
//! deleted, it leaves the reseller's count (its users were billed for the period that ends
//! then, and no more), and the reseller, with no client left, may close in turn.

use serde_json::json;
use softbrik_integration_tests::{Stack, renewals, unique_email};

#[tokio::test]
async fn a_reseller_closes_a_client_at_its_billing_date_and_is_billed_for_it_no_more() {
    // GIVEN a reseller on 12 December with a client whose admin invited Léa
    let stack = Stack::connect().await;
    let clock = stack.new_clock("2026-12-12T10:00:00Z").await;
    let reseller = stack.reseller(Some(&clock)).await;
    let client = stack
        .client_of(&reseller.token, "Boulangerie Petit", None)
        .await;
    let lea = json!({"email": unique_email("lea"), "name": "Léa Petit", "briks": []});
    let invited = stack
        .call(
            "POST",
            "/account/users",
            Some(&client.token),
            Some(&lea),
            None,
        )
        .await;
    assert_eq!(invited.status, 201, "{invited:?}");
    let path = format!("/reseller/clients/{}/closure", client.id);
    let confirm = json!({"confirm": true});

    // WHEN another reseller, or the client's own admin, asks to close it: refused
    let other = stack.reseller(None).await;
    let foreign = stack
        .call("POST", &path, Some(&other.token), Some(&confirm), None)
        .await;
    assert_eq!(foreign.status, 404, "{foreign:?}");
    let own = stack
        .call("POST", &path, Some(&client.token), Some(&confirm), None)
        .await;
    assert!(matches!(own.status, 403 | 404), "{own:?}");
    // AND the client cannot close itself either (its reseller does)
    let itself = stack
        .call(
            "POST",
            "/account/closure",
            Some(&client.token),
            Some(&confirm),
            None,
        )
        .await;
    assert_eq!(itself.status, 403, "{itself:?}");

    // WHEN its reseller asks, on 12 December
    let closing = stack
        .call("POST", &path, Some(&reseller.token), Some(&confirm), None)
        .await;
    // THEN the client closes on the reseller's next billing date
    assert_eq!(closing.status, 202, "{closing:?}");
    assert_eq!(closing.body["effective_date"], "2027-01-12");
    let again = stack
        .call("POST", &path, Some(&reseller.token), Some(&confirm), None)
        .await;
    assert_eq!(
        (again.status, again.body["code"].as_str()),
        (409, Some("closure_already_requested")),
        "{again:?}"
    );
    let account = stack
        .call("GET", "/account", Some(&client.token), None, None)
        .await;
    assert_eq!(account.body["status"], "closing", "{account:?}");
    // AND its admin is told, in French
    let mail = stack.mail_to(&client.admin_email).await;
    assert!(
        mail.iter().any(|m| m.text.contains("2027-01-12")),
        "{:?}",
        mail.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    // AND the reseller cannot close while its client is still served
    let reseller_closure = stack
        .call(
            "POST",
            "/account/closure",
            Some(&reseller.token),
            Some(&confirm),
            None,
        )
        .await;
    assert_eq!(reseller_closure.status, 409, "{reseller_closure:?}");

    // WHEN the clock reaches 12 January
    stack.advance(&clock, "2027-01-12T12:00:00Z").await;
    // THEN the client is gone: its admin is signed out for good, the reseller lists it no more
    let gone = stack
        .call("GET", "/account", Some(&client.token), None, None)
        .await;
    assert_eq!(gone.status, 401, "{gone:?}");
    let clients = stack
        .call(
            "GET",
            "/reseller/clients",
            Some(&reseller.token),
            None,
            None,
        )
        .await;
    assert_eq!(clients.body["items"], json!([]), "{clients:?}");
    // AND the period that ended was billed with the client's users (its admin and Léa)
    let invoices = stack
        .call(
            "GET",
            "/account/invoices",
            Some(&reseller.token),
            None,
            None,
        )
        .await;
    let billed = renewals(&invoices.body);
    assert_eq!(billed.len(), 1, "{invoices:?}");
    assert_eq!(billed[0]["lines"][0]["usage"]["max_active_users"], 2);
    // AND from then on it counts no more
    let usage = stack
        .call("GET", "/reseller/usage", Some(&reseller.token), None, None)
        .await;
    assert_eq!(usage.body["active_users"], 0, "{usage:?}");
    // AND the reseller, with no client left, may close
    let reseller_closure = stack
        .call(
            "POST",
            "/account/closure",
            Some(&reseller.token),
            Some(&confirm),
            None,
        )
        .await;
    assert_eq!(reseller_closure.status, 202, "{reseller_closure:?}");
}
