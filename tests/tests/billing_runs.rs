//! Billing runs as the schedules fire them (docs/billing-runs.md): runs that meet, renewals of
//! many accounts at once, the invoice PDF, calendar-month alignment (billing.md).

use serde_json::{Value, json};
use softbrik_integration_tests::{Stack, pdf_text, renewals, s, signup_body, unique_email};

#[tokio::test]
async fn the_renewal_email_carries_its_pdf_in_french_and_the_api_serves_it_to_its_account_only() {
    // GIVEN the FAQ's company renewed on 2027-01-12
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    stack.advance(&company.clock, "2027-01-12T12:00:00Z").await;
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    let renewed = renewals(&invoices.body);
    assert_eq!(renewed.len(), 1, "{:?}", invoices.body);
    let number = renewed[0]["number"].as_str().unwrap().to_string();
    let id = renewed[0]["id"].as_str().unwrap().to_string();

    // THEN its email has the PDF, in French, with the number and the total
    let mail = stack.mail_to(&company.admin_email).await;
    let sent = mail
        .iter()
        .find(|m| m.subject == format!("Votre facture Softbrik {number}"))
        .unwrap_or_else(|| panic!("no invoice email in {mail:?}"));
    assert_eq!(sent.attachments.len(), 1, "{sent:?}");
    let (name, content_type, pdf) = &sent.attachments[0];
    assert_eq!(name, &format!("{number}.pdf"));
    assert_eq!(content_type, "application/pdf");
    let text = pdf_text(pdf);
    for expected in [
        "Facture",
        number.as_str(),
        "Total HT",
        "16,00 EUR",
        "TVA (20 %)",
        "3,20 EUR",
        "Total TTC",
        "19,20 EUR",
        "Fromagerie Dupont",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }

    // AND the API serves the same document to the account's admin
    let path = format!("/account/invoices/{id}/pdf");
    let (status, content_type, served) = stack.download(&path, &company.token).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/pdf");
    assert_eq!(&served, pdf, "the same invoice renders to the same bytes");

    // AND to nobody else: another company's admin gets a 404
    let other = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let (status, content_type, _) = stack.download(&path, &other.token).await;
    assert_eq!(status, 404);
    assert_eq!(content_type, "application/problem+json");
}

#[tokio::test]
async fn four_runs_that_meet_renew_the_account_once() {
    // GIVEN an account due on 2027-01-12 (Paris midnight, 2027-01-11T23:00Z)
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    // WHEN four renew runs for its clock at noon start together
    let run = json!({"run": "renew", "test_clock_id": company.clock, "at": "2027-01-12T12:00:00Z"});
    let patience = std::time::Duration::from_secs(60);
    let (a, b, c, d) = tokio::join!(
        stack.run_and_wait("renew", &run, patience),
        stack.run_and_wait("renew", &run, patience),
        stack.run_and_wait("renew", &run, patience),
        stack.run_and_wait("renew", &run, patience),
    );
    for report in [&a, &b, &c, &d] {
        assert_eq!(report["failed"], 0, "{report}");
    }
    // THEN one invoice and one charge
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    assert_eq!(renewals(&invoices.body).len(), 1, "{:?}", invoices.body);
    assert_eq!(
        stack.charges(&company.account_id).await.len(),
        2,
        "signup and one renewal"
    );
    // AND its schedule moved on to the next job, the reminder of Feb 5 being the other runner's
    let items = stack.account_items(&company.account_id).await;
    let schedule = items
        .iter()
        .find(|i| s(i, "sk") == "ACCOUNT#SCHEDULE#renew")
        .expect("a renew schedule");
    assert_eq!(s(schedule, "gsi2sk"), "2027-02-11T23:00:00Z");
    assert_eq!(s(schedule, "done_until"), "2027-01-12T12:00:00Z");
}

#[tokio::test]
async fn a_live_run_fans_out_to_the_workers_which_move_each_due_schedule_on() {
    // GIVEN a live account (no test clock) whose schedules an operator made due long ago
    let stack = Stack::connect().await;
    let body = signup_body(&unique_email("live"), None);
    let signed = stack.call("POST", "/signup", None, Some(&body), None).await;
    assert_eq!(signed.status, 201, "{signed:?}");
    let account_id = signed.body["account"]["id"].as_str().unwrap().to_string();
    let pk = format!("ACCOUNT#{account_id}");
    let long_ago = "2020-01-01T00:00:00Z";
    for (runner, next_after_days) in [("renew", 27), ("reminder", 14)] {
        let sk = format!("ACCOUNT#SCHEDULE#{runner}");
        stack.set_attribute(&pk, &sk, "gsi2sk", long_ago).await;
        // WHEN the schedule's run fires: it only hands the index's pages to the queue, and
        // waits for nothing (a run still in the queue, another test's, makes it wait for the
        // next)
        let mut report = Value::Null;
        for _ in 0..60 {
            report = stack.invoke(runner, &json!({ "run": runner })).await;
            if report["deferred"] == false {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        assert_eq!(report["deferred"], false, "{runner}: {report}");
        assert_eq!(
            report["accounts"], 0,
            "the run itself runs no account: {report}"
        );
        // THEN a worker reads the page, runs the account (nothing is due yet) and moves its
        // schedule to its next job: the period end a month after the signup, the reminder a
        // week before it
        let mut schedule = None;
        for _ in 0..240 {
            let items = stack.account_items(&account_id).await;
            let item = items
                .into_iter()
                .find(|i| s(i, "sk") == sk)
                .expect("a schedule");
            if s(&item, "gsi2sk") != long_ago {
                schedule = Some(item);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        let schedule = schedule.unwrap_or_else(|| panic!("no {runner} worker moved it on"));
        let next: jiff::Timestamp = s(&schedule, "gsi2sk").parse().unwrap();
        let done: jiff::Timestamp = s(&schedule, "done_until").parse().unwrap();
        assert!(
            next.duration_since(done) > jiff::SignedDuration::from_hours(24 * next_after_days),
            "{runner}: {schedule:?}"
        );
    }
    // AND nothing was billed or sent: the signup's charge only, no reminder
    assert_eq!(stack.charges(&account_id).await.len(), 1);
}

#[tokio::test]
async fn invoice_numbers_stay_one_sequence_when_many_accounts_renew_at_once() {
    // GIVEN six accounts due on 2027-01-12, each on its own clock
    let stack = Stack::connect().await;
    let mut companies = Vec::new();
    for _ in 0..6 {
        companies.push(stack.company_on_clock("2026-12-12T10:00:00Z").await);
    }
    // WHEN their clocks all reach the billing date at once
    futures::future::join_all(
        companies
            .iter()
            .map(|c| stack.advance(&c.clock, "2027-01-12T12:00:00Z")),
    )
    .await;
    // THEN every account has one renewal with its own number
    let mut mine = Vec::new();
    for company in &companies {
        let invoices = stack
            .call("GET", "/account/invoices", Some(&company.token), None, None)
            .await;
        let renewed = renewals(&invoices.body);
        assert_eq!(renewed.len(), 1, "{:?}", invoices.body);
        mine.push(number_of(renewed[0]["number"].as_str().unwrap()));
    }
    // AND across every account of the stack, numbers run 1, 2, 3... with no gap nor twin up
    // to ours (a number is taken only with the one before it stored)
    let mut all: Vec<u64> = stack
        .scan()
        .await
        .iter()
        .filter(|i| s(i, "sk").starts_with("INVOICE#") && !s(i, "number").is_empty())
        .map(|i| number_of(&s(i, "number")))
        .collect();
    all.sort_unstable();
    let highest = *mine.iter().max().unwrap();
    let up_to_ours: Vec<u64> = all.into_iter().filter(|n| *n <= highest).collect();
    assert_eq!(up_to_ours, (1..=highest).collect::<Vec<_>>());
}

fn number_of(number: &str) -> u64 {
    number
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or_else(|_| panic!("invoice number {number}"))
}

#[tokio::test]
async fn calendar_alignment_bills_a_stub_to_the_first_then_whole_months() {
    // GIVEN an account anchored on the 12th, with one `stock` user
    let stack = Stack::connect().await;
    let company = stack.company_with("2026-11-12T10:00:00Z", &["stock"]).await;
    stack.advance(&company.clock, "2026-11-20T10:00:00Z").await;
    let token = Some(company.token.as_str());

    // WHEN its admin asks for calendar months on 2026-11-20
    let ask = json!({"mode": "calendar"});
    let asked = stack
        .call(
            "POST",
            "/account/billing-alignment",
            token,
            Some(&ask),
            None,
        )
        .await;
    // THEN the switch happens at the end of the current period
    assert_eq!(asked.status, 202, "{asked:?}");
    assert_eq!(asked.body["effective_date"], "2026-12-12");
    // AND asking again changes nothing
    let again = stack
        .call(
            "POST",
            "/account/billing-alignment",
            token,
            Some(&ask),
            None,
        )
        .await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body["effective_date"], "2026-12-12");
    assert_eq!(again.body["changed"], false);
    // AND another mode is refused and named
    let wrong = stack
        .call(
            "POST",
            "/account/billing-alignment",
            token,
            Some(&json!({"mode": "weekly"})),
            None,
        )
        .await;
    assert_eq!(wrong.status, 422, "{wrong:?}");
    assert_eq!(wrong.content_type, "application/problem+json");

    // WHEN the clock passes 2026-12-12 and 2027-01-01
    stack.advance(&company.clock, "2026-12-12T12:00:00Z").await;
    let invoices = stack
        .call("GET", "/account/invoices", token, None, None)
        .await;
    let renewed = renewals(&invoices.body);
    // THEN the Dec 12 invoice covers Dec 12 - Jan 1 at 20/31 of a month
    assert_eq!(renewed.len(), 1, "{:?}", invoices.body);
    assert_eq!(renewed[0]["subtotal"], "5.16");
    assert_eq!(
        renewed[0]["period"],
        json!({"start": "2026-12-12", "end": "2027-01-01"})
    );
    stack.advance(&company.clock, "2027-01-01T12:00:00Z").await;
    let invoices = stack
        .call("GET", "/account/invoices", token, None, None)
        .await;
    let renewed = renewals(&invoices.body);
    // AND the next is a whole month from the 1st
    assert_eq!(renewed.len(), 2, "{:?}", invoices.body);
    let january = renewed
        .iter()
        .find(|i| i["period"]["start"] == "2027-01-01")
        .unwrap_or_else(|| panic!("no January renewal in {renewed:?}"));
    assert_eq!(january["subtotal"], "8.00");
    assert_eq!(january["period"]["end"], "2027-02-01");

    // AND the switch is in the history
    let history = stack
        .call("GET", "/account/history", token, None, None)
        .await;
    let switches: Vec<&Value> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "calendar_switch")
        .collect();
    assert_eq!(switches.len(), 1, "{:?}", history.body);
    assert_eq!(switches[0]["details"]["effective_date"], "2026-12-12");
}
