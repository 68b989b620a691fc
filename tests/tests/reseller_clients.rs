//! A reseller's client accounts closing and moving (docs/resellers.md "A client's closure",
//! "Moving to another reseller"), end to end on test clocks.
//!
//! Closure: the reseller asks, the client is `closing` until the reseller's billing date (14
//! days' notice), its admin is told; on that date the client's data is deleted, it leaves the
//! reseller's count (its users were billed for the period that ends then, and no more), and
//! the reseller, with no client left, may close in turn.
//!
//! Move: the client's admin gives another reseller a transfer code; that reseller redeems it;
//! the client moves at the current reseller's billing date, billed by the one for the period
//! that ends then and by the other from then.

use serde_json::json;
use softbrik_integration_tests::{Stack, Tenant, renewals, unique_email};

/// GIVEN a client of `reseller`, Boulangerie Petit, whose admin invited Léa: two active users.
async fn client_with_lea(stack: &Stack, reseller: &Tenant) -> Tenant {
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
    client
}

#[tokio::test]
async fn a_reseller_closes_a_client_at_its_billing_date_and_is_billed_for_it_no_more() {
    // GIVEN a reseller on 12 December with a client whose admin invited Léa
    let stack = Stack::connect().await;
    let clock = stack.new_clock("2026-12-12T10:00:00Z").await;
    let reseller = stack.reseller(Some(&clock)).await;
    let client = client_with_lea(&stack, &reseller).await;
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
    // AND the next period bills nothing for it (no user left: no invoice)
    stack.advance(&clock, "2027-02-12T12:00:00Z").await;
    let invoices = stack
        .call(
            "GET",
            "/account/invoices",
            Some(&reseller.token),
            None,
            None,
        )
        .await;
    assert_eq!(renewals(&invoices.body).len(), 1, "{invoices:?}");
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

#[tokio::test]
async fn a_client_moves_to_another_reseller_at_its_resellers_billing_date() {
    // GIVEN two resellers on 12 December, and a client of the first with Léa
    let stack = Stack::connect().await;
    let clock = stack.new_clock("2026-12-12T10:00:00Z").await;
    let first = stack.reseller(Some(&clock)).await;
    let second = stack.reseller(Some(&clock)).await;
    let client = client_with_lea(&stack, &first).await;

    // WHEN the client's admin makes a transfer code (a company's admin cannot: not a client)
    let code = stack.transfer_code(&client.token).await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let refused = stack
        .call(
            "POST",
            "/account/transfer-code",
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(refused.status, 403, "{refused:?}");
    // AND the second reseller redeems it (a wrong code, or the client's own reseller: no)
    let take = async |token: &str, code: &str| {
        let body = json!({"code": code});
        stack
            .call(
                "POST",
                "/reseller/clients/transfer",
                Some(token),
                Some(&body),
                None,
            )
            .await
    };
    let wrong = take(&second.token, "sbxfer_nothing").await;
    assert_eq!(wrong.status, 404, "{wrong:?}");
    let own = take(&first.token, &code).await;
    assert_eq!(
        (own.status, own.body["code"].as_str()),
        (409, Some("already_your_client")),
        "{own:?}"
    );
    let taken = take(&second.token, &code).await;
    // THEN the move is planned for the first reseller's billing date, the code used up
    assert_eq!(taken.status, 202, "{taken:?}");
    assert_eq!(taken.body["effective_date"], "2027-01-12");
    let again = take(&second.token, &code).await;
    assert_eq!(again.status, 404, "{again:?}");
    // AND the client's admin and the first reseller are told
    for to in [&client.admin_email, &first.admin_email] {
        let mail = stack.mail_to(to).await;
        assert!(
            mail.iter().any(
                |m| m.subject == "Boulangerie Petit change de revendeur Softbrik le 2027-01-12"
            ),
            "{to}: {:?}",
            mail.iter().map(|m| &m.subject).collect::<Vec<_>>()
        );
    }
    // AND until then the client is the first reseller's
    let users = format!("/reseller/clients/{}/users", client.id);
    let before = stack
        .call("GET", &users, Some(&second.token), None, None)
        .await;
    assert_eq!(before.status, 404, "{before:?}");

    // WHEN the clock reaches 12 January
    stack.advance(&clock, "2027-01-12T12:00:00Z").await;
    // THEN the first reseller was billed for the period that ended, the client's two users in
    let invoices = stack
        .call("GET", "/account/invoices", Some(&first.token), None, None)
        .await;
    let billed = renewals(&invoices.body);
    assert_eq!(billed.len(), 1, "{invoices:?}");
    assert_eq!(billed[0]["lines"][0]["usage"]["max_active_users"], 2);
    // AND the client is the second reseller's now, and no longer the first's
    let after = stack
        .call("GET", &users, Some(&second.token), None, None)
        .await;
    assert_eq!(after.status, 200, "{after:?}");
    let gone = stack
        .call("GET", &users, Some(&first.token), None, None)
        .await;
    assert_eq!(gone.status, 404, "{gone:?}");
    let usage = async |token: &str| {
        stack
            .call("GET", "/reseller/usage", Some(token), None, None)
            .await
            .body["active_users"]
            .clone()
    };
    assert_eq!(usage(&first.token).await, 0);
    assert_eq!(usage(&second.token).await, 2);
    // AND the client's admin works on as before
    let account = stack
        .call("GET", "/account", Some(&client.token), None, None)
        .await;
    assert_eq!(account.status, 200, "{account:?}");

    // WHEN a month passes THEN the second reseller bills the client's users, the first nothing
    stack.advance(&clock, "2027-02-12T12:00:00Z").await;
    let second_invoices = stack
        .call("GET", "/account/invoices", Some(&second.token), None, None)
        .await;
    let billed = renewals(&second_invoices.body);
    assert_eq!(billed.len(), 1, "{second_invoices:?}");
    assert_eq!(billed[0]["lines"][0]["usage"]["max_active_users"], 2);
    let first_invoices = stack
        .call("GET", "/account/invoices", Some(&first.token), None, None)
        .await;
    assert_eq!(
        renewals(&first_invoices.body).len(),
        1,
        "{first_invoices:?}"
    );
}
