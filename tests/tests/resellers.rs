//! Resellers (billing.md "Resellers billed on maximum active users", api.md "Resellers"): a
//! managed service provider billed at the end of each period for the peak of active users
//! across its client accounts, trials and inactive users excluded; directory sync by SCIM with
//! a deny list; and the walls between resellers and between clients.

use serde_json::{Value, json};
use softbrik_integration_tests::{PASSWORD, Stack, Tenant, renewals, signup_body, unique_email};

async fn reseller(stack: &Stack, clock: Option<&str>) -> Tenant {
    let reseller = stack.reseller(clock).await;
    // A reseller pays nothing at signup: it is billed at the end of each period.
    assert!(
        reseller.created.get("invoice").is_none(),
        "{}",
        reseller.created
    );
    assert_eq!(reseller.created["account"]["kind"], "reseller");
    reseller
}

async fn client(stack: &Stack, reseller: &Tenant, name: &str, trial_until: Option<&str>) -> Tenant {
    let client = stack.client_of(&reseller.token, name, trial_until).await;
    assert_eq!(client.created["account"]["kind"], "client");
    assert!(
        client.created["account"].get("billing").is_none(),
        "{}",
        client.created
    );
    client
}

/// Invites `n` users into a client account; returns their ids.
async fn invite(stack: &Stack, client: &Tenant, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let answer = stack
            .call(
                "POST",
                "/account/users",
                Some(&client.token),
                Some(&json!({"email": unique_email("user"), "name": "Paul Girard", "briks": ["files"]})),
                None,
            )
            .await;
        assert_eq!(answer.status, 201, "{answer:?}");
        // A client account pays nothing itself.
        assert!(answer.body.get("invoice").is_none(), "{answer:?}");
        ids.push(answer.body["user"]["id"].as_str().unwrap().to_string());
    }
    ids
}

async fn set_active(stack: &Stack, client: &Tenant, user_id: &str, active: bool) -> Value {
    let answer = stack
        .call(
            "PUT",
            &format!("/account/users/{user_id}/status"),
            Some(&client.token),
            Some(&json!({"active": active})),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

async fn usage(stack: &Stack, reseller: &Tenant) -> Value {
    let answer = stack
        .call("GET", "/reseller/usage", Some(&reseller.token), None, None)
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

#[tokio::test]
async fn a_reseller_is_billed_for_the_peak_of_active_users_across_its_clients() {
    let stack = Stack::connect().await;
    let clock = stack.new_clock("2027-01-01T09:00:00Z").await;
    let msp = reseller(&stack, Some(&clock)).await;
    // GIVEN on day 1: A with 5 active users, B with 3 active and 1 inactive, C with 10 in trial
    // (B first: its 4th user, active until marked inactive, counts while active)
    let b = client(&stack, &msp, "Garage B", None).await;
    let b_users = invite(&stack, &b, 3).await;
    let made_inactive = set_active(&stack, &b, &b_users[0], false).await;
    assert_eq!(made_inactive["status"], "inactive");
    let a = client(&stack, &msp, "Boulangerie A", None).await;
    let a_users = invite(&stack, &a, 4).await;
    let c = client(&stack, &msp, "Cabinet C", Some("2027-03-31")).await;
    invite(&stack, &c, 9).await;
    let day1 = usage(&stack, &msp).await;
    assert_eq!(day1["active_users"], 8, "{day1}");
    assert_eq!(day1["max_active_users"], 8, "{day1}");
    assert_eq!(day1["period"]["start"], "2027-01-01");

    // WHEN on day 10 A goes to 8 active users
    stack.advance(&clock, "2027-01-10T09:00:00Z").await;
    let a_more = invite(&stack, &a, 3).await;
    let day10 = usage(&stack, &msp).await;
    assert_eq!(day10["active_users"], 11, "{day10}");
    assert_eq!(day10["max_active_users"], 11);
    assert_eq!(day10["max_reached_on"], "2027-01-10");

    // AND on day 20 A goes back to 4 (two removed, two marked inactive)
    stack.advance(&clock, "2027-01-20T09:00:00Z").await;
    for id in &a_users[..2] {
        let removed = stack
            .call(
                "DELETE",
                &format!("/account/users/{id}"),
                Some(&a.token),
                None,
                None,
            )
            .await;
        assert_eq!(removed.status, 202, "{removed:?}");
        assert_eq!(removed.body["effective_date"], "2027-01-20");
    }
    for id in &a_more[..2] {
        set_active(&stack, &a, id, false).await;
    }
    let day20 = usage(&stack, &msp).await;
    assert_eq!(day20["active_users"], 7, "{day20}");
    assert_eq!(day20["max_active_users"], 11);

    // THEN the period's invoice bills 11 users, the maximum, reached on day 10
    stack.advance(&clock, "2027-02-01T09:00:00Z").await;
    let invoices = stack
        .call("GET", "/account/invoices", Some(&msp.token), None, None)
        .await;
    let billed = renewals(&invoices.body);
    assert_eq!(billed.len(), 1, "{invoices:?}");
    let invoice = &billed[0];
    assert_eq!(invoice["period"]["start"], "2027-01-01");
    assert_eq!(invoice["period"]["end"], "2027-02-01");
    let lines = invoice["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{invoice}");
    assert_eq!(lines[0]["quantity"], 11);
    assert_eq!(lines[0]["unit_price"], "5.00");
    assert_eq!(lines[0]["amount"], "55.00");
    assert_eq!(lines[0]["usage"]["max_active_users"], 11);
    assert_eq!(lines[0]["usage"]["reached_on"], "2027-01-10");
    assert!(
        lines[0]["description"]
            .as_str()
            .unwrap()
            .contains("2027-01-10"),
        "{invoice}"
    );
    assert_eq!(invoice["subtotal"], "55.00");
    assert_eq!(invoice["payment"]["status"], "succeeded", "{invoice}");
    assert_eq!(stack.charges(&msp.id).await.len(), 1);
    // AND the next period starts from the 7 users still active (the midnight samples)
    let next = usage(&stack, &msp).await;
    assert_eq!(next["period"]["start"], "2027-02-01");
    assert_eq!(next["max_active_users"], 7, "{next}");

    // AND the reseller sees each client's count; clients pay nothing themselves
    let listed = stack
        .call("GET", "/reseller/clients", Some(&msp.token), None, None)
        .await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let count = |id: &str| {
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["account"]["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not listed: {listed:?}"))
    };
    assert_eq!(count(&a.id)["active_users"], 4);
    assert_eq!(count(&b.id)["active_users"], 3);
    assert_eq!(count(&c.id)["active_users"], 10);
    assert_eq!(count(&c.id)["in_trial"], true);
    assert_eq!(count(&a.id)["in_trial"], false);
    for client in [&a, &b, &c] {
        assert!(stack.charges(&client.id).await.is_empty());
        let own = stack
            .call(
                "GET",
                "/account/upcoming-invoice",
                Some(&client.token),
                None,
                None,
            )
            .await;
        assert_eq!(own.status, 403, "{own:?}");
        assert_eq!(own.body["code"], "billed_by_reseller");
    }
}

#[tokio::test]
async fn a_client_trial_ending_mid_period_counts_from_the_next_day() {
    let stack = Stack::connect().await;
    let clock = stack.new_clock("2027-03-01T09:00:00Z").await;
    let msp = reseller(&stack, Some(&clock)).await;
    let a = client(&stack, &msp, "Boulangerie A", None).await;
    invite(&stack, &a, 1).await;
    let c = client(&stack, &msp, "Cabinet C", Some("2027-03-15")).await;
    invite(&stack, &c, 4).await;
    assert_eq!(usage(&stack, &msp).await["active_users"], 2);
    // The trial's last day still does not count; the day after, C's 5 users do.
    stack.advance(&clock, "2027-03-15T22:00:00Z").await;
    assert_eq!(usage(&stack, &msp).await["max_active_users"], 2);
    stack.advance(&clock, "2027-03-16T09:00:00Z").await;
    let after = usage(&stack, &msp).await;
    assert_eq!(after["active_users"], 7, "{after}");
    assert_eq!(after["max_reached_on"], "2027-03-16");
    stack.advance(&clock, "2027-04-01T09:00:00Z").await;
    let invoices = stack
        .call("GET", "/account/invoices", Some(&msp.token), None, None)
        .await;
    let billed = renewals(&invoices.body);
    assert_eq!(billed[0]["lines"][0]["quantity"], 7, "{invoices:?}");
    assert_eq!(billed[0]["lines"][0]["usage"]["reached_on"], "2027-03-16");
    assert_eq!(billed[0]["subtotal"], "35.00");
}

async fn scim(
    stack: &Stack,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let answer = stack.call(method, path, Some(token), body, None).await;
    if answer.status != 204 {
        assert_eq!(answer.content_type, "application/scim+json", "{answer:?}");
    }
    (answer.status, answer.body)
}

fn patch_active(value: &str) -> Value {
    // As Microsoft Entra ID sends it: "Replace", and the value as a string.
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": value}],
    })
}

fn scim_user(email: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email, "active": true,
        "name": {"givenName": "Jeanne", "familyName": "Roux"},
        "emails": [{"value": email, "primary": true, "type": "work"}],
    })
}

#[tokio::test]
async fn a_directory_sync_cannot_reactivate_an_address_on_the_deny_list() {
    let stack = Stack::connect().await;
    let msp = reseller(&stack, None).await;
    let client = client(&stack, &msp, "Boulangerie A", None).await;
    let issued = stack
        .call(
            "POST",
            "/account/scim-token",
            Some(&client.token),
            None,
            None,
        )
        .await;
    assert_eq!(issued.status, 201, "{issued:?}");
    let token = issued.body["token"].as_str().unwrap().to_string();

    // GIVEN two users provisioned by the directory, then made inactive by hand
    let (denied_email, other_email) = (unique_email("denied"), unique_email("other"));
    let mut ids = Vec::new();
    for email in [&denied_email, &other_email] {
        let (status, user) = scim(
            &stack,
            "POST",
            "/scim/v2/Users",
            &token,
            Some(&scim_user(email)),
        )
        .await;
        assert_eq!(status, 201, "{user}");
        assert_eq!(user["userName"], email.as_str());
        assert_eq!(user["active"], true);
        ids.push(user["id"].as_str().unwrap().to_string());
    }
    let (status, again) = scim(
        &stack,
        "POST",
        "/scim/v2/Users",
        &token,
        Some(&scim_user(&other_email)),
    )
    .await;
    assert_eq!(
        (status, again["scimType"].as_str()),
        (409, Some("uniqueness")),
        "{again}"
    );
    for id in &ids {
        set_active(&stack, &client, id, false).await;
    }
    assert_eq!(
        usage(&stack, &msp).await["active_users"],
        1,
        "only the client's admin"
    );
    // AND the first one's address on the deny list
    let listed = stack
        .call(
            "PUT",
            "/account/directory-deny-list",
            Some(&client.token),
            Some(&json!({"emails": [denied_email.to_uppercase()]})),
            None,
        )
        .await;
    assert_eq!(listed.status, 200, "{listed:?}");

    // WHEN the sync sets both active
    let (status, denied) = scim(
        &stack,
        "PATCH",
        &format!("/scim/v2/Users/{}", ids[0]),
        &token,
        Some(&patch_active("True")),
    )
    .await;
    assert_eq!(status, 200, "{denied}");
    let (status, other) = scim(
        &stack,
        "PATCH",
        &format!("/scim/v2/Users/{}", ids[1]),
        &token,
        Some(&patch_active("True")),
    )
    .await;
    assert_eq!(status, 200, "{other}");

    // THEN the deny-listed one stays inactive and the other is active again
    assert_eq!(denied["active"], false, "{denied}");
    assert_eq!(other["active"], true, "{other}");
    let users = stack
        .call("GET", "/account/users", Some(&client.token), None, None)
        .await;
    let status_of = |id: &str| {
        users.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status_of(&ids[0]), "inactive");
    assert_eq!(status_of(&ids[1]), "invited");
    assert_eq!(usage(&stack, &msp).await["active_users"], 2);
    // AND what the directory says of names is accepted and leaves the user as stored; the
    // client's admin cannot be made inactive by the directory
    let rename = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "displayName", "value": "Jeanne R."}],
    });
    let (status, renamed) = scim(
        &stack,
        "PATCH",
        &format!("/scim/v2/Users/{}", ids[1]),
        &token,
        Some(&rename),
    )
    .await;
    assert_eq!(
        (status, renamed["active"].as_bool()),
        (200, Some(true)),
        "{renamed}"
    );
    let admin_id = users.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["role"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, admin) = scim(
        &stack,
        "PATCH",
        &format!("/scim/v2/Users/{admin_id}"),
        &token,
        Some(&patch_active("False")),
    )
    .await;
    assert_eq!(
        (status, admin["active"].as_bool()),
        (200, Some(true)),
        "{admin}"
    );
    // AND the reactivated user got a fresh invitation to sign in
    assert!(stack.mail_to(&other_email).await.len() >= 2);
    // AND the admin may still reactivate the deny-listed one by hand
    assert_eq!(
        set_active(&stack, &client, &ids[0], true).await["status"],
        "invited"
    );

    // AND the sync finds users by address, its own only; a DELETE makes a user inactive
    let filter = |email: &str| {
        format!(
            "/scim/v2/Users?filter=userName%20eq%20%22{}%22",
            urlencode(email)
        )
    };
    let (status, found) = scim(&stack, "GET", &filter(&other_email), &token, None).await;
    assert_eq!(
        (status, found["totalResults"].as_u64()),
        (200, Some(1)),
        "{found}"
    );
    assert_eq!(found["Resources"][0]["id"], ids[1].as_str());
    let (status, _) = scim(
        &stack,
        "DELETE",
        &format!("/scim/v2/Users/{}", ids[1]),
        &token,
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        usage(&stack, &msp).await["active_users"],
        2,
        "admin and the hand-reactivated user"
    );
    // AND a new user on the deny list is provisioned inactive
    let late = unique_email("late");
    stack
        .call(
            "PUT",
            "/account/directory-deny-list",
            Some(&client.token),
            Some(&json!({"emails": [denied_email.clone(), late.clone()]})),
            None,
        )
        .await;
    let (status, created) = scim(
        &stack,
        "POST",
        "/scim/v2/Users",
        &token,
        Some(&scim_user(&late)),
    )
    .await;
    assert_eq!(
        (status, created["active"].as_bool()),
        (201, Some(false)),
        "{created}"
    );
    assert!(
        stack.mail_to(&late).await.is_empty(),
        "no invitation while inactive"
    );

    // AND another client's sync token sees none of it, and a bad token is refused
    let other_client = self::client(&stack, &msp, "Garage B", None).await;
    let other_token = stack
        .call(
            "POST",
            "/account/scim-token",
            Some(&other_client.token),
            None,
            None,
        )
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = scim(
        &stack,
        "GET",
        &format!("/scim/v2/Users/{}", ids[0]),
        &other_token,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, none) = scim(&stack, "GET", &filter(&other_email), &other_token, None).await;
    assert_eq!((status, none["totalResults"].as_u64()), (200, Some(0)));
    let (status, refused) = scim(&stack, "GET", "/scim/v2/Users", "sbscim_not-a-token", None).await;
    assert_eq!((status, refused["status"].as_str()), (401, Some("401")));
    // AND a new token replaces the old one at once
    let renewed = stack
        .call(
            "POST",
            "/account/scim-token",
            Some(&client.token),
            None,
            None,
        )
        .await;
    assert_eq!(renewed.status, 201);
    let (status, _) = scim(&stack, "GET", "/scim/v2/Users", &token, None).await;
    assert_eq!(status, 401);
}

fn urlencode(s: &str) -> String {
    s.replace('@', "%40").replace('+', "%2B")
}

#[tokio::test]
async fn resellers_and_clients_see_only_what_is_theirs() {
    let stack = Stack::connect().await;
    let first = reseller(&stack, None).await;
    let second = reseller(&stack, None).await;
    let mine = client(&stack, &first, "Boulangerie A", None).await;
    let theirs = client(&stack, &second, "Garage B", None).await;
    invite(&stack, &mine, 2).await;

    // A reseller admin sees its clients' users, never another reseller's client
    let own = stack
        .call(
            "GET",
            &format!("/reseller/clients/{}/users", mine.id),
            Some(&first.token),
            None,
            None,
        )
        .await;
    assert_eq!(own.status, 200, "{own:?}");
    assert_eq!(own.body["items"].as_array().unwrap().len(), 3);
    let other = stack
        .call(
            "GET",
            &format!("/reseller/clients/{}/users", theirs.id),
            Some(&first.token),
            None,
            None,
        )
        .await;
    assert_eq!(other.status, 404, "{other:?}");
    let listed = stack
        .call("GET", "/reseller/clients", Some(&first.token), None, None)
        .await;
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["account"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![mine.id.as_str()]);

    // A client admin is not a reseller: no reseller route, not even its own reseller's list
    for path in [
        "/reseller/clients",
        "/reseller/usage",
        &format!("/reseller/clients/{}/users", theirs.id),
    ] {
        let refused = stack.call("GET", path, Some(&mine.token), None, None).await;
        assert_eq!(refused.status, 403, "{path}: {refused:?}");
        assert_eq!(refused.body["code"], "not_a_reseller");
    }
    // A company is not a reseller either, and a client does not manage its own billing
    let company = stack.company_on_clock("2027-01-01T09:00:00Z").await;
    let refused = stack
        .call("GET", "/reseller/usage", Some(&company.token), None, None)
        .await;
    assert_eq!(refused.status, 403);
    let scim = stack
        .call(
            "POST",
            "/account/scim-token",
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(
        (scim.status, scim.body["code"].as_str()),
        (403, Some("not_a_client_account"))
    );
    let closure = stack
        .call(
            "POST",
            "/account/closure",
            Some(&mine.token),
            Some(&json!({"confirm": true})),
            None,
        )
        .await;
    assert_eq!(
        (closure.status, closure.body["code"].as_str()),
        (403, Some("billed_by_reseller"))
    );
    let reseller_closure = stack
        .call(
            "POST",
            "/account/closure",
            Some(&first.token),
            Some(&json!({"confirm": true})),
            None,
        )
        .await;
    assert_eq!(
        (
            reseller_closure.status,
            reseller_closure.body["code"].as_str()
        ),
        (409, Some("reseller_has_clients"))
    );
    let lapse = stack
        .call(
            "PUT",
            "/account/settings",
            Some(&first.token),
            Some(&json!({"auto_renew": false})),
            None,
        )
        .await;
    assert_eq!(
        (lapse.status, lapse.body["code"].as_str()),
        (409, Some("reseller_has_clients"))
    );
    // A client's user from another reseller's client cannot be changed by id
    let users = stack
        .call("GET", "/account/users", Some(&theirs.token), None, None)
        .await;
    let their_admin = users.body["items"][0]["id"].as_str().unwrap().to_string();
    let crossed = stack
        .call(
            "PUT",
            &format!("/account/users/{their_admin}/status"),
            Some(&mine.token),
            Some(&json!({"active": false})),
            None,
        )
        .await;
    assert_eq!(crossed.status, 404, "{crossed:?}");
    // A reseller holds no Briks
    let mut body = signup_body(&unique_email("msp"), None);
    body["kind"] = json!("reseller");
    let refused = stack.call("POST", "/signup", None, Some(&body), None).await;
    assert_eq!(refused.status, 422, "{refused:?}");
    assert_eq!(refused.body["errors"][0]["field"], "briks");
    // The same client created twice with one Idempotency-Key is one client
    let body = json!({
        "company_name": "Fleuriste D", "country": "DK", "language": "da",
        "admin": {"email": unique_email("client"), "name": "Karen Holm", "password": PASSWORD},
    });
    let once = stack
        .call(
            "POST",
            "/reseller/clients",
            Some(&first.token),
            Some(&body),
            Some("client-d"),
        )
        .await;
    let twice = stack
        .call(
            "POST",
            "/reseller/clients",
            Some(&first.token),
            Some(&body),
            Some("client-d"),
        )
        .await;
    assert_eq!((once.status, twice.status), (201, 201));
    assert_eq!(once.body, twice.body);
    let listed = stack
        .call("GET", "/reseller/clients", Some(&first.token), None, None)
        .await;
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        2,
        "{listed:?}"
    );
}
