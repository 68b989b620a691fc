//! The team (issue 3): invitations, Briks charged now for the days left, removals at the end
//! of the period and their undo, concurrency and replays, roles and tenants.

use serde_json::json;
use softbrik_integration_tests::{Company, Stack, mail_field, unique_email};

async fn invite(
    stack: &Stack,
    company: &Company,
    name: &str,
    briks: &[&str],
    key: Option<&str>,
) -> (String, softbrik_integration_tests::Answer) {
    let email = unique_email(name);
    let body = json!({"email": email, "name": name, "briks": briks});
    let answer = stack
        .call(
            "POST",
            "/account/users",
            Some(&company.token),
            Some(&body),
            key,
        )
        .await;
    (email, answer)
}

/// What the invitation says after `label` (the sign-in address, the first password).
#[tokio::test]
async fn inviting_bob_with_inventory_on_dec_20_charges_23_of_31_days() {
    // GIVEN a French account that signed up on 2026-12-12
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    stack.advance(&company.clock, "2026-12-20T09:00:00Z").await;

    // WHEN Bob is invited with Inventory (8.00) on 2026-12-20
    let (bob, answer) = invite(&stack, &company, "Bob", &["stock"], None).await;

    // THEN 8.00 x 23/31 = 5.94, with 20 % VAT 7.13, charged once
    assert_eq!(answer.status, 201, "{answer:?}");
    let invoice = &answer.body["invoice"];
    assert_eq!(invoice["kind"], "proration");
    assert_eq!(invoice["lines"].as_array().unwrap().len(), 1);
    assert_eq!(invoice["lines"][0]["amount"], "5.94");
    assert_eq!(
        invoice["lines"][0]["proration"],
        json!({"days": 23, "period_days": 31})
    );
    assert_eq!(invoice["total"], "7.13");
    let charges = stack.charges(&company.account_id).await;
    assert_eq!(
        charges
            .iter()
            .filter(|(amount, _)| amount == "7.13")
            .count(),
        1,
        "{charges:?}"
    );
    assert_eq!(answer.body["user"]["status"], "invited");
    let bob_id = answer.body["user"]["id"].as_str().unwrap().to_string();

    // AND Bob gets a French invitation and can sign in, and is told of his Brik at once
    // (the FAQ: "users are notified immediately of new Briks")
    let mail = stack.mail_to(&bob).await;
    assert_eq!(mail.len(), 2, "{mail:?}");
    assert!(
        mail[0].subject.contains("Invitation"),
        "{}",
        mail[0].subject
    );
    assert_eq!(mail[1].subject, "Nouveau Brik : Gestion des stocks");
    assert!(mail[1].text.contains("2026-12-20"), "{}", mail[1].text);
    let token = stack
        .first_sign_in(
            &mail_field(&mail[0].text, "Identifiant : "),
            &mail_field(&mail[0].text, "Mot de passe provisoire : "),
            "Bobs-Own-Password-9",
        )
        .await
        .expect("Bob signs in");
    let seen = stack
        .call("GET", "/account", Some(&token), None, None)
        .await;
    assert_eq!(seen.status, 200);
    assert!(
        seen.body.get("billing").is_none(),
        "members see no billing fields"
    );

    // AND, signed in, Bob is active; as a member he cannot manage the team
    let users = stack
        .call("GET", "/account/users", Some(&company.token), None, None)
        .await;
    let listed = users.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == bob_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(listed["status"], "active");
    let forbidden = stack
        .call("GET", "/account/users", Some(&token), None, None)
        .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(
        stack
            .call("GET", "/account/invoices", Some(&token), None, None)
            .await
            .status,
        403
    );

    // AND Bob given Inventory again costs nothing
    let path = format!("/account/users/{bob_id}/briks/stock");
    let again = stack
        .call("PUT", &path, Some(&company.token), None, None)
        .await;
    assert_eq!(again.status, 200, "{again:?}");
    assert!(again.body.get("invoice").is_none());

    // AND the invoice is listed, and the history names every change
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    assert_eq!(
        invoices.body["items"].as_array().unwrap().len(),
        2,
        "signup and Bob's proration"
    );
    assert_eq!(
        invoices.body["items"][0]["kind"], "proration",
        "newest first"
    );
    let history = stack
        .call("GET", "/account/history", Some(&company.token), None, None)
        .await;
    let actions: Vec<&str> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"user_invited") && actions.contains(&"signup"),
        "{actions:?}"
    );
    // Every entry names who made the change: the admin, by their Softbrik user id.
    let admin_id = users.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["role"] == "admin")
        .unwrap()["id"]
        .clone();
    let actor = format!("user:{}", admin_id.as_str().unwrap());
    for entry in history.body["items"].as_array().unwrap() {
        if entry["action"] == "user_invited" || entry["action"] == "signup" {
            assert_eq!(entry["actor"], actor.as_str(), "{entry}");
        }
    }
}

#[tokio::test]
async fn a_declined_card_leaves_carol_nowhere() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let card = json!({"payment_method": "pm_card_chargeCustomerFail"});
    let replaced = stack
        .call(
            "PUT",
            "/account/payment-method",
            Some(&company.token),
            Some(&card),
            None,
        )
        .await;
    assert_eq!(replaced.status, 200, "{replaced:?}");

    let (carol, answer) = invite(&stack, &company, "Carol", &["files"], None).await;
    assert_eq!(answer.status, 402, "{answer:?}");
    assert_eq!(answer.body["code"], "card_declined");
    assert!(!stack.cognito_user_exists(&carol).await);
    let users = stack
        .call("GET", "/account/users", Some(&company.token), None, None)
        .await;
    assert_eq!(
        users.body["items"].as_array().unwrap().len(),
        1,
        "only the admin: {users:?}"
    );
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    assert_eq!(
        invoices.body["items"].as_array().unwrap().len(),
        1,
        "only the signup invoice"
    );
    assert!(stack.mail_to(&carol).await.is_empty());
    // billing.md "Payment": the refusal is in the history, and nothing else of the change
    let history = stack
        .call("GET", "/account/history", Some(&company.token), None, None)
        .await;
    let actions: Vec<&str> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.first(), Some(&"payment_failed"), "{actions:?}");
    assert!(!actions.contains(&"user_invited"), "{actions:?}");

    // An AMEX card is refused as a replacement, like at signup.
    let amex = json!({"payment_method": "pm_card_amex"});
    let refused = stack
        .call(
            "PUT",
            "/account/payment-method",
            Some(&company.token),
            Some(&amex),
            None,
        )
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.body["code"], "card_brand_not_supported");

    // So is a payment method another customer of the partner holds, and the card stays.
    let foreign = json!({"payment_method": "pm_card_attachedToAnotherCustomer"});
    let refused = stack
        .call(
            "PUT",
            "/account/payment-method",
            Some(&company.token),
            Some(&foreign),
            None,
        )
        .await;
    assert_eq!(refused.status, 422, "{refused:?}");
    assert_eq!(refused.body["code"], "payment_method_attached_elsewhere");
    let account = stack
        .call("GET", "/account", Some(&company.token), None, None)
        .await;
    assert_eq!(
        account.body["billing"]["payment_method"]["last4"], "0341",
        "{account:?}"
    );
}

#[tokio::test]
async fn removing_bob_takes_effect_at_the_end_of_the_period_and_can_be_undone() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    stack.advance(&company.clock, "2026-12-20T09:00:00Z").await;
    let (bob_email, invited) = invite(&stack, &company, "Bob", &["stock"], None).await;
    let bob = invited.body["user"]["id"].as_str().unwrap().to_string();
    let bob_email = bob_email.to_lowercase();
    stack.advance(&company.clock, "2026-12-21T09:00:00Z").await;

    let path = format!("/account/users/{bob}");
    let removed = stack
        .call("DELETE", &path, Some(&company.token), None, None)
        .await;
    assert_eq!(removed.status, 202, "{removed:?}");
    assert_eq!(removed.body["effective_date"], "2027-01-12");

    let restored = stack
        .call(
            "POST",
            &format!("{path}/restore"),
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(restored.status, 200, "{restored:?}");
    assert!(restored.body.get("removal_date").is_none());
    assert_eq!(restored.body["briks"][0]["brik_id"], "stock");
    assert!(restored.body["briks"][0].get("until").is_none());

    assert_eq!(
        stack
            .call("DELETE", &path, Some(&company.token), None, None)
            .await
            .status,
        202
    );
    assert!(
        stack.cognito_user_exists(&bob_email).await,
        "Bob keeps access until the period ends"
    );
    stack.advance(&company.clock, "2027-01-12T12:00:00Z").await;
    // The period-end job ran at Paris midnight: Bob's sign-in is gone, the removal is history.
    assert!(
        !stack.cognito_user_exists(&bob_email).await,
        "Bob's sign-in was deleted"
    );
    let history = stack
        .call("GET", "/account/history", Some(&company.token), None, None)
        .await;
    let removed = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["action"] == "user_removed")
        .cloned();
    assert_eq!(removed.expect("a user_removed entry")["actor"], "system");
    // AND the Jan 12 renewal bills the admin's Briks only: Bob's Inventory ended with him.
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    let renewal = invoices.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "renewal")
        .cloned()
        .unwrap();
    let briks: Vec<&str> = renewal["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["brik_id"].as_str().unwrap())
        .collect();
    assert!(!briks.contains(&"stock"), "{renewal}");
    assert_eq!(renewal["subtotal"], "16.00");
    let users = stack
        .call("GET", "/account/users", Some(&company.token), None, None)
        .await;
    assert!(
        users.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["id"] != bob.as_str()),
        "Bob is gone: {users:?}"
    );
    let gone = stack
        .call(
            "PUT",
            &format!("{path}/briks/stock"),
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(gone.status, 404);
}

#[tokio::test]
async fn removing_a_brik_ends_it_at_the_period_end_and_putting_it_back_before_is_free() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let (_, invited) = invite(&stack, &company, "Dan", &["stock"], None).await;
    let dan = invited.body["user"]["id"].as_str().unwrap().to_string();
    let path = format!("/account/users/{dan}/briks/stock");
    let removed = stack
        .call("DELETE", &path, Some(&company.token), None, None)
        .await;
    assert_eq!(removed.status, 202);
    assert_eq!(removed.body["effective_date"], "2027-01-12");
    let charges_before = stack.charges(&company.account_id).await.len();
    let undone = stack
        .call("PUT", &path, Some(&company.token), None, None)
        .await;
    assert_eq!(undone.status, 200, "{undone:?}");
    assert!(
        undone.body.get("invoice").is_none(),
        "undoing a removal is free"
    );
    assert_eq!(
        stack.charges(&company.account_id).await.len(),
        charges_before
    );
}

#[tokio::test]
async fn concurrent_invitations_are_each_charged_once_and_a_replay_charges_nothing() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    stack.advance(&company.clock, "2026-12-20T09:00:00Z").await;
    let (a, b) = tokio::join!(
        invite(&stack, &company, "Eve", &["stock"], None),
        invite(&stack, &company, "Frank", &["files"], None),
    );
    assert_eq!(a.1.status, 201, "{:?}", a.1);
    assert_eq!(b.1.status, 201, "{:?}", b.1);
    let numbers = [
        a.1.body["invoice"]["number"].clone(),
        b.1.body["invoice"]["number"].clone(),
    ];
    assert_ne!(numbers[0], numbers[1], "each invoice has its own number");

    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({"email": unique_email("grace"), "name": "Grace", "briks": ["care"]});
    let first = stack
        .call(
            "POST",
            "/account/users",
            Some(&company.token),
            Some(&body),
            Some(&key),
        )
        .await;
    let replay = stack
        .call(
            "POST",
            "/account/users",
            Some(&company.token),
            Some(&body),
            Some(&key),
        )
        .await;
    assert_eq!(first.status, 201);
    assert_eq!(replay.status, 201);
    assert_eq!(replay.body, first.body);
    let charges = stack.charges(&company.account_id).await;
    // signup 19.20; Eve 5.94 + 20 % = 7.13; Frank 6.00 x 23/31 = 4.45 + 0.89 = 5.34; Grace 7.42 + 1.48 = 8.90
    let mut amounts: Vec<&str> = charges.iter().map(|(a, _)| a.as_str()).collect();
    amounts.sort();
    assert_eq!(amounts, vec!["19.20", "5.34", "7.13", "8.90"]);
}

#[tokio::test]
async fn another_accounts_user_is_not_found() {
    let stack = Stack::connect().await;
    let ours = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let theirs = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let (_, invited) = invite(&stack, &theirs, "Hank", &[], None).await;
    assert_eq!(invited.status, 201, "{invited:?}");
    assert!(
        invited.body.get("invoice").is_none(),
        "no Briks, nothing to pay"
    );
    let hank = invited.body["user"]["id"].as_str().unwrap();
    for (method, path) in [
        ("DELETE", format!("/account/users/{hank}")),
        ("POST", format!("/account/users/{hank}/restore")),
        ("PUT", format!("/account/users/{hank}/briks/files")),
        ("DELETE", format!("/account/users/{hank}/briks/files")),
    ] {
        let answer = stack
            .call(method, &path, Some(&ours.token), None, None)
            .await;
        assert_eq!(answer.status, 404, "{method} {path}: {answer:?}");
    }
    let invoice_id = stack
        .call("GET", "/account/invoices", Some(&theirs.token), None, None)
        .await
        .body["items"][0]["id"]
        .clone();
    let peek = stack
        .call(
            "GET",
            &format!("/account/invoices/{}", invoice_id.as_str().unwrap()),
            Some(&ours.token),
            None,
            None,
        )
        .await;
    assert_eq!(peek.status, 404);
}

#[tokio::test]
async fn an_immediate_removal_cuts_access_now_and_changes_no_billing() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    stack.advance(&company.clock, "2026-12-20T09:00:00Z").await;
    let (email, invited) = invite(&stack, &company, "Ivy", &["stock"], None).await;
    let ivy = invited.body["user"]["id"].as_str().unwrap().to_string();
    let mail = stack.mail_to(&email).await;
    let token = stack
        .first_sign_in(
            &mail_field(&mail[0].text, "Identifiant : "),
            &mail_field(&mail[0].text, "Mot de passe provisoire : "),
            "Ivys-Own-Password-9",
        )
        .await
        .expect("Ivy signs in");
    let charges = stack.charges(&company.account_id).await;

    let path = format!("/account/users/{ivy}");
    let cut = stack
        .call(
            "DELETE",
            &path,
            Some(&company.token),
            Some(&json!({"immediate": true})),
            None,
        )
        .await;
    assert_eq!(cut.status, 202, "{cut:?}");
    assert_eq!(cut.body["effective_date"], "2027-01-12");

    // Ivy can no longer sign in, and the account is neither charged nor refunded.
    let username = mail_field(&mail[0].text, "Identifiant : ");
    assert!(
        stack
            .sign_in(&username, "Ivys-Own-Password-9")
            .await
            .is_err(),
        "a disabled user signed in"
    );
    assert_eq!(stack.charges(&company.account_id).await, charges);
    let users = stack
        .call("GET", "/account/users", Some(&company.token), None, None)
        .await;
    let listed = users.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["id"] == ivy.as_str())
        .cloned()
        .unwrap();
    assert_eq!(listed["status"], "access_revoked");
    assert_eq!(listed["removal_date"], "2027-01-12");
    // The token she signed in with before is refused on her next request, though it has not
    // expired (security.md: access ends when it is cut).
    for path in ["/account", "/tickets"] {
        let old = stack.call("GET", path, Some(&token), None, None).await;
        assert_eq!(old.status, 401, "{path}: {old:?}");
    }
    let old = stack
        .call(
            "POST",
            "/tickets",
            Some(&token),
            Some(&json!({"subject": "Encore moi", "body": "Bonjour"})),
            None,
        )
        .await;
    assert_eq!(old.status, 401, "{old:?}");

    // Restored before the period ends, she signs in again.
    let back = stack
        .call(
            "POST",
            &format!("{path}/restore"),
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(back.status, 200, "{back:?}");
    assert_eq!(back.body["status"], "active");
    // (a token's `iat` counts whole seconds, and one of the cut's own second is refused)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let again = stack
        .sign_in(&username, "Ivys-Own-Password-9")
        .await
        .expect("Ivy signs in again");
    let account = stack
        .call("GET", "/account", Some(&again), None, None)
        .await;
    assert_eq!(account.status, 200, "{account:?}");
    // and the token from before the cut stays refused
    let old = stack
        .call("GET", "/account", Some(&token), None, None)
        .await;
    assert_eq!(old.status, 401, "{old:?}");
}

#[tokio::test]
async fn the_team_is_listed_a_page_at_a_time() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    for name in ["Gil", "Hana"] {
        let (_, invited) = invite(&stack, &company, name, &[], None).await;
        assert_eq!(invited.status, 201, "{invited:?}");
    }
    let page = |query: String| {
        let stack = &stack;
        let token = company.token.clone();
        async move {
            stack
                .call(
                    "GET",
                    &format!("/account/users{query}"),
                    Some(&token),
                    None,
                    None,
                )
                .await
        }
    };
    let first = page("?limit=2".into()).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let next = first.body["next"]
        .as_str()
        .expect("a next page")
        .to_string();
    let rest = page(format!("?limit=2&next={next}")).await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 1, "{rest:?}");
    assert!(rest.body["next"].is_null());
    let mut ids: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest.body["items"].as_array().unwrap())
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    let listed = ids.clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids, listed, "in id order, each once");
    for bad in ["?limit=0", "?limit=201", "?next=bm90LWEtY3Vyc29y"] {
        let refused = page(bad.into()).await;
        assert_eq!(refused.status, 422, "{bad}: {refused:?}");
    }
}
