//! Add-on packs (billing.md "Add-on packs"): seats billed at a discount with the users beyond
//! them by consumption, support plans that change the SLA of later tickets, removals at the
//! end of the period, and the history of every subscription action.

use serde_json::{Value, json};
use softbrik_integration_tests::{Company, Stack, renewals, unique_email};

async fn put_pack(stack: &Stack, company: &Company, pack: &str, quantity: u32) -> Value {
    let answer = stack
        .call(
            "PUT",
            &format!("/account/packs/{pack}"),
            Some(&company.token),
            Some(&json!({"quantity": quantity})),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

async fn invoices(stack: &Stack, company: &Company) -> Value {
    stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await
        .body
}

fn line<'a>(invoice: &'a Value, key: &str, id: &str) -> Option<&'a Value> {
    invoice["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l[key] == id)
}

#[tokio::test]
async fn ten_stock_seats_are_billed_at_a_discount_and_two_more_users_by_consumption() {
    let stack = Stack::connect().await;
    // GIVEN an account with 12 users of Inventory (the admin and 11 members)
    let company = stack.company_with("2026-12-12T10:00:00Z", &["stock"]).await;
    for _ in 0..11 {
        let invited = stack
            .call(
                "POST",
                "/account/users",
                Some(&company.token),
                Some(&json!({"email": unique_email("member"), "name": "Bob Martin", "briks": ["stock"]})),
                None,
            )
            .await;
        assert_eq!(invited.status, 201, "{invited:?}");
    }
    // WHEN, on the first day of a period, it buys a 10-seat Inventory pack
    stack.advance(&company.clock, "2027-01-12T10:00:00Z").await;
    let bought = put_pack(&stack, &company, "seats-stock", 10).await;
    // THEN nothing is charged now: this period's 12 users are already paid
    assert!(bought.get("invoice").is_none(), "{bought}");
    assert_eq!(bought["pack"]["quantity"], 10);
    let held = stack
        .call("GET", "/account/packs", Some(&company.token), None, None)
        .await;
    assert_eq!(held.body["items"][0]["pack_id"], "seats-stock", "{held:?}");

    // AND the next renewal bills the pack (10 x 8.00 x 0.90) and 2 users by consumption
    stack.advance(&company.clock, "2027-02-12T10:00:00Z").await;
    let all = invoices(&stack, &company).await;
    let renewal = renewals(&all)
        .into_iter()
        .find(|i| i["period"]["start"] == "2027-02-12")
        .unwrap_or_else(|| panic!("no renewal on Feb 12: {all}"));
    let pack = line(&renewal, "pack_id", "seats-stock").expect("the pack's line");
    assert_eq!(pack["quantity"], 10);
    assert_eq!(pack["amount"], "72.00");
    let consumption = line(&renewal, "brik_id", "stock").expect("the users beyond the seats");
    assert_eq!(consumption["quantity"], 2);
    assert_eq!(consumption["amount"], "16.00");
    assert_eq!(renewal["subtotal"], "88.00", "{renewal}");

    // AND the purchase is in the history
    let history = stack
        .call("GET", "/account/history", Some(&company.token), None, None)
        .await;
    assert!(
        history.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["action"] == "pack_added" && h["details"]["pack_id"] == "seats-stock"),
        "{history:?}"
    );
}

#[tokio::test]
async fn the_pro_plan_bought_mid_period_is_prorated_and_gives_later_tickets_pro_targets() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let before = stack
        .call(
            "POST",
            "/tickets",
            Some(&company.token),
            Some(
                &json!({"subject": "Avant", "description": "Ticket sous Basic", "channel": "web"}),
            ),
            None,
        )
        .await;
    assert_eq!(before.body["sla"]["plan"], "basic");

    let phone = json!({"subject": "Appel", "description": "Noté par téléphone", "channel": "phone", "impact": "high"});
    let by_phone = stack
        .call("POST", "/tickets", Some(&company.token), Some(&phone), None)
        .await;
    assert_eq!(by_phone.status, 403, "phone is not in Basic: {by_phone:?}");
    assert_eq!(by_phone.body["code"], "plan_required");

    // WHEN the admin buys the Pro plan on Dec 20 (23 of 31 days left)
    stack.advance(&company.clock, "2026-12-20T10:00:00Z").await;
    let refused = stack
        .call(
            "PUT",
            "/account/packs/support-pro",
            Some(&company.token),
            Some(&json!({"quantity": 2})),
            None,
        )
        .await;
    assert_eq!(refused.status, 422, "{refused:?}");
    let bought = put_pack(&stack, &company, "support-pro", 1).await;
    // THEN it is charged like a Brik: 49.00 x 23/31 = 36.35
    let invoice = &bought["invoice"];
    assert_eq!(invoice["kind"], "proration", "{bought}");
    assert_eq!(invoice["lines"][0]["pack_id"], "support-pro");
    assert_eq!(invoice["lines"][0]["amount"], "36.35");
    assert_eq!(invoice["lines"][0]["proration"]["days"], 23);

    // AND a ticket opened afterwards has Pro targets, the earlier one keeps Basic
    let after = stack
        .call(
            "POST",
            "/tickets",
            Some(&company.token),
            Some(&json!({"subject": "Après", "description": "Ticket sous Pro", "channel": "web"})),
            None,
        )
        .await;
    assert_eq!(after.body["sla"]["plan"], "pro", "{after:?}");
    // AND the phone channel opens for P2 and P3, not for P1 (Enterprise)
    let by_phone = stack
        .call("POST", "/tickets", Some(&company.token), Some(&phone), None)
        .await;
    assert_eq!(by_phone.status, 201, "{by_phone:?}");
    let mut critical = phone.clone();
    critical["impact"] = json!("critical");
    let by_phone = stack
        .call(
            "POST",
            "/tickets",
            Some(&company.token),
            Some(&critical),
            None,
        )
        .await;
    assert_eq!(by_phone.status, 403, "{by_phone:?}");
    let account = stack
        .call("GET", "/account", Some(&company.token), None, None)
        .await;
    assert_eq!(account.body["support_plan"], "pro");
    // AND the monthly incident report is open to the account
    let report = stack
        .call(
            "GET",
            "/account/reports/incidents?month=2026-12",
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(report.status, 200, "{report:?}");
    assert_eq!(report.body["summary"]["tickets"], 3);

    // WHEN it removes the plan, THEN it ends with the period and is not renewed
    let removed = stack
        .call(
            "DELETE",
            "/account/packs/support-pro",
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(removed.status, 202, "{removed:?}");
    assert_eq!(removed.body["effective_date"], "2027-01-12");
    stack.advance(&company.clock, "2027-01-12T10:00:00Z").await;
    let all = invoices(&stack, &company).await;
    let renewal = renewals(&all)
        .into_iter()
        .find(|i| i["period"]["start"] == "2027-01-12")
        .unwrap_or_else(|| panic!("{all}"));
    assert!(
        line(&renewal, "pack_id", "support-pro").is_none(),
        "{renewal}"
    );
    let account = stack
        .call("GET", "/account", Some(&company.token), None, None)
        .await;
    assert_eq!(account.body["support_plan"], "basic");
    let report = stack
        .call(
            "GET",
            "/account/reports/incidents?month=2027-01",
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(report.status, 403);
}

#[tokio::test]
async fn turning_auto_renew_off_and_on_is_in_the_history_with_who_did_it() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    for value in [false, true] {
        let answer = stack
            .call(
                "PUT",
                "/account/settings",
                Some(&company.token),
                Some(&json!({"auto_renew": value})),
                None,
            )
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let history = stack
        .call(
            "GET",
            "/account/history?limit=2",
            Some(&company.token),
            None,
            None,
        )
        .await;
    let entries = history.body["items"].as_array().expect("entries");
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|h| h["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        vec!["auto_renew_on", "auto_renew_off"],
        "{history:?}"
    );
    assert!(
        entries
            .iter()
            .all(|h| h["actor"].as_str().unwrap().starts_with("user:"))
    );
    // A page names the next one (api.md: `{items, next}`), and the last one says null
    let next = history.body["next"]
        .as_str()
        .expect("a cursor to the next page");
    let rest = stack
        .call(
            "GET",
            &format!("/account/history?limit=200&next={next}"),
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(rest.status, 200, "{rest:?}");
    assert!(
        !rest.body["items"].as_array().unwrap().is_empty(),
        "{rest:?}"
    );
    assert!(rest.body["next"].is_null(), "{rest:?}");
    let catalogue = stack.call("GET", "/packs", None, None, None).await;
    assert_eq!(catalogue.status, 200);
    let stock = catalogue.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "seats-stock")
        .cloned()
        .expect("a seat pack per Brik");
    assert_eq!(stock["unit_price"], "7.20");
    assert_eq!(stock["brik_id"], "stock");
}

#[tokio::test]
async fn seats_bought_mid_period_pay_only_beyond_current_users_and_free_seats_cover_new_users() {
    let stack = Stack::connect().await;
    // GIVEN the admin alone holds Inventory, and 23 of 31 days are left on Dec 20
    let company = stack.company_with("2026-12-12T10:00:00Z", &["stock"]).await;
    stack.advance(&company.clock, "2026-12-20T10:00:00Z").await;

    // WHEN 3 seats are bought: the admin is paid for this period, 2 seats are charged now
    let bought = put_pack(&stack, &company, "seats-stock", 3).await;
    let line0 = &bought["invoice"]["lines"][0];
    assert_eq!(line0["quantity"], 2, "{bought}");
    assert_eq!(line0["amount"], "10.68", "2 x 7.20 x 23/31");

    // THEN two new users take the free seats, the third is charged
    let mut charged = Vec::new();
    for _ in 0..3 {
        let invited = stack
            .call(
                "POST",
                "/account/users",
                Some(&company.token),
                Some(&json!({"email": unique_email("seat"), "name": "Bob Martin", "briks": ["stock"]})),
                None,
            )
            .await;
        assert_eq!(invited.status, 201, "{invited:?}");
        charged.push(invited.body.get("invoice").map(|i| i["total"].clone()));
    }
    assert_eq!(charged[0], None);
    assert_eq!(charged[1], None);
    assert!(charged[2].is_some(), "{charged:?}");

    // AND the renewal bills the 3 seats and the 4th user by consumption
    stack.advance(&company.clock, "2027-01-12T10:00:00Z").await;
    let all = invoices(&stack, &company).await;
    let renewal = renewals(&all)
        .into_iter()
        .find(|i| i["period"]["start"] == "2027-01-12")
        .unwrap_or_else(|| panic!("{all}"));
    assert_eq!(
        line(&renewal, "pack_id", "seats-stock").unwrap()["amount"],
        "21.60"
    );
    assert_eq!(line(&renewal, "brik_id", "stock").unwrap()["quantity"], 1);
    assert_eq!(renewal["subtotal"], "29.60", "{renewal}");
}

#[tokio::test]
async fn buying_training_sessions_asks_the_support_team_to_schedule_them() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let bought = put_pack(&stack, &company, "training", 2).await;
    // A full period left: 2 sessions x 90.00
    assert_eq!(
        bought["invoice"]["lines"][0]["amount"], "180.00",
        "{bought}"
    );
    let tickets = stack
        .call("GET", "/tickets", Some(&company.token), None, None)
        .await;
    let list = tickets.body["items"].as_array().expect("tickets");
    assert_eq!(list.len(), 1, "{tickets:?}");
    assert!(
        list[0]["subject"].as_str().unwrap().starts_with("Training"),
        "{tickets:?}"
    );
    // Asked again with the same quantity: nothing more is charged or opened
    let again = put_pack(&stack, &company, "training", 2).await;
    assert!(again.get("invoice").is_none(), "{again}");
    let tickets = stack
        .call("GET", "/tickets", Some(&company.token), None, None)
        .await;
    assert_eq!(tickets.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn support_plans_replace_each_other_at_the_right_time() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    stack.advance(&company.clock, "2026-12-20T10:00:00Z").await;
    // Pro, then Enterprise the same day: Enterprise is charged now, Pro ends with the period
    put_pack(&stack, &company, "support-pro", 1).await;
    let upgraded = put_pack(&stack, &company, "support-enterprise", 1).await;
    assert_eq!(
        upgraded["invoice"]["lines"][0]["amount"], "147.65",
        "199 x 23/31"
    );
    let held = stack
        .call("GET", "/account/packs", Some(&company.token), None, None)
        .await;
    let pro = held.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pack_id"] == "support-pro")
        .cloned();
    assert_eq!(pro.unwrap()["until"], "2027-01-12", "{held:?}");
    // Back to Pro: nothing charged now, it starts with the next period
    let downgraded = put_pack(&stack, &company, "support-pro", 1).await;
    assert!(downgraded.get("invoice").is_none(), "{downgraded}");
    assert_eq!(downgraded["pack"]["since"], "2027-01-12");
    let account = stack
        .call("GET", "/account", Some(&company.token), None, None)
        .await;
    assert_eq!(account.body["support_plan"], "enterprise");

    stack.advance(&company.clock, "2027-01-12T10:00:00Z").await;
    let all = invoices(&stack, &company).await;
    let renewal = renewals(&all)
        .into_iter()
        .find(|i| i["period"]["start"] == "2027-01-12")
        .unwrap_or_else(|| panic!("{all}"));
    assert_eq!(
        line(&renewal, "pack_id", "support-pro").unwrap()["amount"],
        "49.00"
    );
    assert!(
        line(&renewal, "pack_id", "support-enterprise").is_none(),
        "{renewal}"
    );
    let account = stack
        .call("GET", "/account", Some(&company.token), None, None)
        .await;
    assert_eq!(account.body["support_plan"], "pro");

    // Seats bought after the lock of the 12 February renewal (billing.md "The 2-day
    // cut-off"): the seat beyond the admin's File storage is charged for the day left,
    // 5.40 x 1/31 = 0.17, plus the whole next period, 5.40, as two lines of one invoice
    stack.advance(&company.clock, "2027-02-11T10:00:00Z").await;
    let late = stack
        .call(
            "PUT",
            "/account/packs/seats-files",
            Some(&company.token),
            Some(&json!({"quantity": 2})),
            None,
        )
        .await;
    assert_eq!(late.status, 200, "{late:?}");
    let amounts: Vec<&str> = late.body["invoice"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, ["0.17", "5.40"], "{late:?}");
    assert_eq!(late.body["invoice"]["total"], "6.68");
    // AND the renewal of 12 February is the locked draft: the admin's File storage per user,
    // no seat line (the seats are paid for that period already)
    stack.advance(&company.clock, "2027-02-12T10:00:00Z").await;
    let all = invoices(&stack, &company).await;
    let renewal = renewals(&all)
        .into_iter()
        .find(|i| i["period"]["start"] == "2027-02-12")
        .unwrap_or_else(|| panic!("{all}"));
    assert!(
        line(&renewal, "pack_id", "seats-files").is_none(),
        "{renewal}"
    );
    assert_eq!(
        line(&renewal, "brik_id", "files").unwrap()["quantity"],
        1,
        "{renewal}"
    );
}

#[tokio::test]
async fn the_last_free_seat_taken_twice_at_once_is_free_for_one_and_charged_to_the_other() {
    let stack = Stack::connect().await;
    // GIVEN 2 Inventory seats, one held by the admin: one seat is free
    let company = stack.company_with("2026-12-12T10:00:00Z", &["stock"]).await;
    stack.advance(&company.clock, "2026-12-20T10:00:00Z").await;
    put_pack(&stack, &company, "seats-stock", 2).await;
    let charges_before = stack.charges(&company.account_id).await.len();

    // WHEN two users are added with Inventory at the same moment (a refused one retried with
    // its Idempotency-Key, as a client does with 409)
    let invite = async |name: &str| {
        let key = uuid::Uuid::new_v4().to_string();
        let email = unique_email(&name.to_lowercase().replace(' ', "."));
        let body = json!({"email": email, "name": name, "briks": ["stock"]});
        for _ in 0..4 {
            let answer = stack
                .call(
                    "POST",
                    "/account/users",
                    Some(&company.token),
                    Some(&body),
                    Some(&key),
                )
                .await;
            if answer.status != 409 {
                return answer;
            }
        }
        panic!("{name} was refused four times");
    };
    let (eve, frank) = tokio::join!(invite("Eve Martin"), invite("Frank Martin"));

    // THEN exactly one of them takes the free seat, and the other is charged, once
    assert_eq!(eve.status, 201, "{eve:?}");
    assert_eq!(frank.status, 201, "{frank:?}");
    let invoiced = [&eve, &frank]
        .iter()
        .filter(|a| a.body.get("invoice").is_some_and(|i| !i.is_null()))
        .count();
    assert_eq!(invoiced, 1, "{eve:?} {frank:?}");
    assert_eq!(
        stack.charges(&company.account_id).await.len(),
        charges_before + 1
    );
}
