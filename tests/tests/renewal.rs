//! Renewals on the billing date (billing.md "Billing period", "What is billed"): one invoice
//! per account and period, charged once, emailed in the account's language.

use serde_json::json;
use softbrik_integration_tests::{Stack, renewals};

#[tokio::test]
async fn the_jan_12_renewal_bills_the_month_once() {
    // GIVEN a French account with files and care, signed up on 2026-12-12
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;

    // WHEN its clock reaches 2027-01-12 noon, then later the same day
    stack.advance(&company.clock, "2027-01-12T12:00:00Z").await;
    stack.advance(&company.clock, "2027-01-12T18:00:00Z").await;

    // THEN one renewal invoice: 16.00 net, 19.20 charged once, for Jan 12 - Feb 12
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    let renewed = renewals(&invoices.body);
    assert_eq!(renewed.len(), 1, "{:?}", invoices.body);
    assert_eq!(renewed[0]["subtotal"], "16.00");
    assert_eq!(renewed[0]["total"], "19.20");
    assert_eq!(renewed[0]["status"], "paid");
    assert_eq!(renewed[0]["issue_date"], "2027-01-12");
    assert_eq!(
        renewed[0]["period"],
        json!({"start": "2027-01-12", "end": "2027-02-12"})
    );
    let charges = stack.charges(&company.account_id).await;
    assert_eq!(
        charges,
        vec![("19.20".to_string(), false); 2],
        "signup and renewal"
    );

    // AND it is emailed in French with its number
    let number = renewed[0]["number"].as_str().unwrap();
    let mail = stack.mail_to(&company.admin_email).await;
    assert!(
        mail.iter()
            .any(|m| m.subject == format!("Votre facture Softbrik {number}")),
        "{mail:?}"
    );
}

#[tokio::test]
async fn an_account_anchored_on_the_31st_renews_on_each_months_last_day() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2027-01-31T10:00:00Z").await;
    stack.advance(&company.clock, "2027-04-30T12:00:00Z").await;
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    let mut starts: Vec<String> = renewals(&invoices.body)
        .iter()
        .map(|i| i["period"]["start"].as_str().unwrap().to_string())
        .collect();
    starts.sort();
    assert_eq!(starts, vec!["2027-02-28", "2027-03-31", "2027-04-30"]);
}

/// The dunning emails' words in one language (billing.md "Payment").
struct DunningWords {
    failed: &'static str,
    retry_on: &'static str,
    last: &'static str,
    suspended: &'static str,
    received: &'static str,
}

const FRENCH: DunningWords = DunningWords {
    failed: "Échec du paiement de la facture Softbrik {number}",
    retry_on: "Nous réessaierons le ",
    last: "dernière tentative",
    suspended: "Votre compte Softbrik est suspendu",
    received: "Paiement reçu pour la facture Softbrik {number}",
};

const DANISH: DunningWords = DunningWords {
    failed: "Betaling af Softbrik-faktura {number} mislykkedes",
    retry_on: "Vi prøver igen den ",
    last: "sidste forsøg",
    suspended: "Din Softbrik-konto er suspenderet",
    received: "Betaling modtaget for Softbrik-faktura {number}",
};

#[tokio::test]
async fn a_declined_renewal_is_retried_then_suspends_the_account_until_a_new_card_pays() {
    declined_renewal_in(None, &FRENCH).await;
}

#[tokio::test]
async fn a_danish_account_is_told_of_its_failed_payments_in_danish() {
    declined_renewal_in(Some("da"), &DANISH).await;
}

/// The renewal's attempt and its three retries failing, then the suspension, each emailed
/// once to the admin in the account's language, then a new card paying ("payment received",
/// with the PDF).
async fn declined_renewal_in(language: Option<&str>, words: &DunningWords) {
    // GIVEN an account whose card fails every charge at its Jan 12 renewal
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    // and a member, Mia, who uses Softbrik every day
    let mia = softbrik_integration_tests::unique_email("mia");
    let invite = json!({"email": mia, "name": "Mia Moreau", "briks": []});
    let invited = stack
        .call(
            "POST",
            "/account/users",
            Some(&company.token),
            Some(&invite),
            None,
        )
        .await;
    assert_eq!(invited.status, 201, "{invited:?}");
    let mia = stack.member_token(&mia).await;
    let tickets = stack.call("GET", "/tickets", Some(&mia), None, None).await;
    assert_eq!(tickets.status, 200, "{tickets:?}");
    // (Mia joined in French; the account then speaks `language`)
    if let Some(language) = language {
        let settings =
            json!({"language": language, "auto_renew": true, "timezone": "Europe/Paris"});
        let changed = stack
            .call(
                "PUT",
                "/account/settings",
                Some(&company.token),
                Some(&settings),
                None,
            )
            .await;
        assert_eq!(changed.status, 200, "{changed:?}");
    }
    let card = json!({"payment_method": "pm_card_chargeCustomerFail"});
    let put = stack
        .call(
            "PUT",
            "/account/payment-method",
            Some(&company.token),
            Some(&card),
            None,
        )
        .await;
    assert_eq!(put.status, 200);
    stack.advance(&company.clock, "2027-01-12T12:00:00Z").await;

    // THEN the invoice stays open and the account is past due
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    let renewed = renewals(&invoices.body);
    assert_eq!(renewed.len(), 1);
    assert_eq!(renewed[0]["status"], "open");
    assert_eq!(renewed[0]["payment"]["status"], "failed");
    assert_eq!(account_status(&stack, &company.token).await, "past_due");
    let number = renewed[0]["number"].as_str().unwrap().to_string();
    let failed = words.failed.replace("{number}", &number);
    let told = dunning_mail(&stack, &company.admin_email, words).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].0.starts_with(&failed), "{told:?}");
    assert!(
        told[0].1.contains(&format!("{}2027-01-13", words.retry_on)),
        "{told:?}"
    );

    // WHEN the retries on Jan 13, 15 and 17 fail too, the account is suspended
    stack.advance(&company.clock, "2027-01-16T12:00:00Z").await;
    assert_eq!(account_status(&stack, &company.token).await, "past_due");
    stack.advance(&company.clock, "2027-01-17T12:00:00Z").await;
    assert_eq!(account_status(&stack, &company.token).await, "suspended");
    // AND the admin was told five times, each once: four failures, each naming the next
    // retry (the last the suspension), and the suspension
    let told = dunning_mail(&stack, &company.admin_email, words).await;
    let subjects: Vec<&str> = told.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        subjects,
        [&failed, &failed, &failed, &failed, words.suspended],
        "{told:?}"
    );
    for (i, next) in ["2027-01-13", "2027-01-15", "2027-01-17"]
        .iter()
        .enumerate()
    {
        assert!(
            told[i].1.contains(&format!("{}{next}", words.retry_on)),
            "{told:?}"
        );
    }
    assert!(told[3].1.contains(words.last), "{told:?}");
    assert!(
        told.iter()
            .take(4)
            .all(|(_, text)| text.contains("VISA **** 0341")),
        "{told:?}"
    );
    let invite = json!({"email": softbrik_integration_tests::unique_email("late"), "name": "Late", "briks": ["files"]});
    let refused = stack
        .call(
            "POST",
            "/account/users",
            Some(&company.token),
            Some(&invite),
            None,
        )
        .await;
    assert_eq!(
        refused.status, 403,
        "no team change while suspended: {refused:?}"
    );
    assert_eq!(refused.body["code"], "account_suspended");
    // Suspended means suspended: Mia is refused everywhere; the admin keeps exactly what is
    // needed to pay (the account, the invoices, a new card)
    for (route, path) in [("GET", "/tickets"), ("GET", "/account/invoices")] {
        let refused = stack.call(route, path, Some(&mia), None, None).await;
        assert_eq!(refused.status, 403, "{path}: {refused:?}");
        assert_eq!(refused.body["code"], "account_suspended", "{path}");
    }
    let listed = stack
        .call("GET", "/account/users", Some(&company.token), None, None)
        .await;
    assert_eq!(listed.status, 403, "not needed to pay: {listed:?}");
    let account = stack
        .call("GET", "/account", Some(&company.token), None, None)
        .await;
    assert_eq!(account.status, 200, "{account:?}");
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    assert_eq!(renewals(&invoices.body)[0]["payment"]["attempts"], 4);
    assert_eq!(
        stack.charges(&company.account_id).await.len(),
        1,
        "only the signup was charged"
    );

    // WHEN a valid card is given, the open invoice is paid at once and the account is active
    let card = json!({"payment_method": "pm_card_visa"});
    let put = stack
        .call(
            "PUT",
            "/account/payment-method",
            Some(&company.token),
            Some(&card),
            None,
        )
        .await;
    assert_eq!(put.status, 200, "{put:?}");
    assert_eq!(put.body["invoices_paid"], 1);
    assert_eq!(account_status(&stack, &company.token).await, "active");
    // AND every access is back at once
    let tickets = stack.call("GET", "/tickets", Some(&mia), None, None).await;
    assert_eq!(tickets.status, 200, "{tickets:?}");
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    assert_eq!(renewals(&invoices.body)[0]["status"], "paid");
    let mut charges = stack.charges(&company.account_id).await;
    charges.sort();
    assert_eq!(charges, vec![("19.20".to_string(), false); 2]);
    // AND "payment received", with the invoice's PDF, once
    let received: Vec<_> = stack
        .mail_to(&company.admin_email)
        .await
        .into_iter()
        .filter(|m| m.subject == words.received.replace("{number}", &number))
        .collect();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].attachments.len(), 1);
    assert_eq!(received[0].attachments[0].0, format!("{number}.pdf"));
    assert!(received[0].attachments[0].2.starts_with(b"%PDF"));
}

/// Whether `subject` is the "payment failed" subject of `words`, whatever the number.
fn is_failure(subject: &str, words: &DunningWords) -> bool {
    let (before, after) = words
        .failed
        .split_once("{number}")
        .unwrap_or((words.failed, ""));
    subject.starts_with(before) && subject.ends_with(after)
}

/// The dunning emails (failures, suspension) sent to `to`: (subject, text), in order.
async fn dunning_mail(stack: &Stack, to: &str, words: &DunningWords) -> Vec<(String, String)> {
    stack
        .mail_to(to)
        .await
        .into_iter()
        .filter(|m| is_failure(&m.subject, words) || m.subject == words.suspended)
        .map(|m| (m.subject, m.text))
        .collect()
}

#[tokio::test]
async fn a_renewal_run_four_times_at_once_issues_one_invoice_and_one_charge() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let job = json!({
        "at": "2027-01-11T23:00:00Z",
        "job": "period_end",
        "account_id": company.account_id,
        "date": "2027-01-12",
    });
    let runs = futures_join4(&stack, &job).await;
    assert!(runs.iter().all(|r| r["ran"] == true), "{runs:?}");
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    assert_eq!(renewals(&invoices.body).len(), 1, "{:?}", invoices.body);
    assert_eq!(
        stack.charges(&company.account_id).await.len(),
        2,
        "signup and one renewal"
    );
}

async fn futures_join4(stack: &Stack, job: &serde_json::Value) -> Vec<serde_json::Value> {
    let (a, b, c, d) = tokio::join!(
        stack.invoke("renew", job),
        stack.invoke("renew", job),
        stack.invoke("renew", job),
        stack.invoke("renew", job),
    );
    vec![a, b, c, d]
}

#[tokio::test]
async fn after_the_lock_an_addition_pays_the_next_month_too_and_a_removal_waits_a_month() {
    // GIVEN an account renewing on 2027-01-12, locked since Jan 11 00:00 Paris
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    stack.advance(&company.clock, "2027-01-11T09:00:00Z").await;

    // WHEN Bob gets Inventory on Jan 11
    let bob = json!({"email": softbrik_integration_tests::unique_email("bob"), "name": "Bob", "briks": ["stock"]});
    let invited = stack
        .call(
            "POST",
            "/account/users",
            Some(&company.token),
            Some(&bob),
            None,
        )
        .await;

    // THEN one invoice: 8.00 x 1/31 = 0.26 and the next month's 8.00
    assert_eq!(invited.status, 201, "{invited:?}");
    let amounts: Vec<&str> = invited.body["invoice"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, vec!["0.26", "8.00"]);
    assert_eq!(invited.body["invoice"]["subtotal"], "8.26");

    // AND removing Alice's care Brik now takes effect at the end of the next period
    let admin = stack
        .call("GET", "/account/users", Some(&company.token), None, None)
        .await;
    let admin_id = admin.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["role"] == "admin")
        .unwrap()["id"]
        .clone();
    let path = format!("/account/users/{}/briks/care", admin_id.as_str().unwrap());
    let removed = stack
        .call("DELETE", &path, Some(&company.token), None, None)
        .await;
    assert_eq!(removed.body["effective_date"], "2027-02-12");

    // AND the Jan 12 renewal bills what was locked: files and care, not Bob's paid Inventory
    stack.advance(&company.clock, "2027-01-12T12:00:00Z").await;
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    let renewed = renewals(&invoices.body);
    assert_eq!(renewed.len(), 1);
    assert_eq!(renewed[0]["subtotal"], "16.00", "{}", renewed[0]);
}

#[tokio::test]
async fn the_admin_is_reminded_on_jan_5_once_with_the_projected_amount() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    stack.advance(&company.clock, "2027-01-04T12:00:00Z").await;
    let reminders = |mail: Vec<softbrik_integration_tests::Mail>| {
        mail.into_iter()
            .filter(|m| m.subject.starts_with("Votre prochaine facture"))
            .collect::<Vec<_>>()
    };
    assert!(
        reminders(stack.mail_to(&company.admin_email).await).is_empty(),
        "not before Jan 5"
    );

    stack.advance(&company.clock, "2027-01-05T12:00:00Z").await;
    stack.advance(&company.clock, "2027-01-08T12:00:00Z").await;
    let sent = reminders(stack.mail_to(&company.admin_email).await);
    assert_eq!(sent.len(), 1, "once");
    assert!(sent[0].text.contains("19,20 EUR"), "{}", sent[0].text);
    assert!(
        sent[0].text.contains("2027-01-10"),
        "the last day changes count: {}",
        sent[0].text
    );

    // The upcoming invoice shows the same draft.
    let upcoming = stack
        .call(
            "GET",
            "/account/upcoming-invoice",
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(upcoming.status, 200, "{upcoming:?}");
    assert_eq!(upcoming.body["status"], "draft");
    assert_eq!(upcoming.body["total"], "19.20");
    assert_eq!(upcoming.body["changes_counted_until"], "2027-01-10");
    assert_eq!(upcoming.body["locked"], false);
}

#[tokio::test]
async fn a_reminder_replayed_four_times_at_once_goes_out_once() {
    // GIVEN an account renewing on 2027-01-12, on Jan 4 (its reminder is due on Jan 5)
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    stack.advance(&company.clock, "2027-01-04T12:00:00Z").await;

    // WHEN operations run the reminder job directly, four times at once (a replay)
    let job = json!({
        "at": "2027-01-04T23:00:00Z",
        "job": "reminder",
        "account_id": company.account_id,
        "date": "2027-01-12",
    });
    let (a, b, c, d) = tokio::join!(
        stack.invoke("reminder", &job),
        stack.invoke("reminder", &job),
        stack.invoke("reminder", &job),
        stack.invoke("reminder", &job),
    );

    // THEN each ran, and the admin has one reminder
    for ran in [a, b, c, d] {
        assert_eq!(ran["ran"], true, "{ran}");
    }
    let reminders: Vec<_> = stack
        .mail_to(&company.admin_email)
        .await
        .into_iter()
        .filter(|m| m.subject.starts_with("Votre prochaine facture"))
        .collect();
    assert_eq!(reminders.len(), 1, "once");
    assert!(
        reminders[0].text.contains("19,20 EUR"),
        "{}",
        reminders[0].text
    );
}

async fn account_status(stack: &Stack, token: &str) -> serde_json::Value {
    stack
        .call("GET", "/account", Some(token), None, None)
        .await
        .body["status"]
        .clone()
}

#[tokio::test]
async fn an_invoice_is_sent_again_to_the_address_asked_for() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    let id = invoices.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let accountant = softbrik_integration_tests::unique_email("accountant");
    let path = format!("/account/invoices/{id}/send");
    let sent = stack
        .call(
            "POST",
            &path,
            Some(&company.token),
            Some(&json!({"email": accountant})),
            None,
        )
        .await;
    assert_eq!(sent.status, 202, "{sent:?}");
    let mail = stack.mail_to(&accountant).await;
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].subject.starts_with("Votre facture Softbrik SB-"),
        "{}",
        mail[0].subject
    );

    let other = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let peek = stack
        .call("POST", &path, Some(&other.token), None, None)
        .await;
    assert_eq!(peek.status, 404, "another account's invoice");
}

#[tokio::test]
async fn auto_renew_off_lapses_the_account_at_period_end_and_on_again_renews_from_that_day() {
    // GIVEN an account whose admin turns auto-renew off on Dec 20
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    stack.advance(&company.clock, "2026-12-20T09:00:00Z").await;
    let off = json!({"auto_renew": false});
    let answer = stack
        .call(
            "PUT",
            "/account/settings",
            Some(&company.token),
            Some(&off),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["billing"]["auto_renew"], false);
    assert_eq!(
        answer.body["status"], "active",
        "not closed: it runs to the end of the period"
    );

    // WHEN Jan 12 passes, the subscription ends without a renewal; the data stays
    stack.advance(&company.clock, "2027-01-12T12:00:00Z").await;
    assert_eq!(account_status(&stack, &company.token).await, "lapsed");
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    assert!(renewals(&invoices.body).is_empty());

    // WHEN auto-renew is turned on again on Jan 20, with invoices going to the accountant
    stack.advance(&company.clock, "2027-01-20T09:00:00Z").await;
    let accountant = softbrik_integration_tests::unique_email("accountant");
    let on = json!({"auto_renew": true, "invoice_email": accountant});
    let answer = stack
        .call(
            "PUT",
            "/account/settings",
            Some(&company.token),
            Some(&on),
            None,
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");

    // THEN a new period starts that day, charged at once, and its invoice goes to the accountant
    assert_eq!(answer.body["status"], "active");
    assert_eq!(answer.body["billing"]["anchor_day"], 20);
    assert_eq!(answer.body["billing"]["next_billing_date"], "2027-02-20");
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    let renewed = renewals(&invoices.body);
    assert_eq!(renewed.len(), 1);
    assert_eq!(
        renewed[0]["period"],
        json!({"start": "2027-01-20", "end": "2027-02-20"})
    );
    assert_eq!(stack.mail_to(&accountant).await.len(), 1);
    let history = stack
        .call("GET", "/account/history", Some(&company.token), None, None)
        .await;
    let actions: Vec<&str> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    for action in [
        "auto_renew_off",
        "lapsed",
        "auto_renew_on",
        "invoice_email_changed",
    ] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
}
