//! Support staff acting for a customer (billing.md "What support staff do for a customer",
//! api.md "Support staff acting for a customer") and credit notes ("Invoices"), end to end
//! on test clocks: the FAQ's company asks support in a ticket; staff (Cognito group
//! `support`) act through their routes with and without that ticket; each change is the
//! admin's own, written in the history as support's with the ticket's number; a credit note
//! is refunded to the card, numbered from the invoices' sequence, emailed with its PDF in the
//! account's language, listed with the invoices, never beyond what is left to credit.

use serde_json::{Value, json};
use softbrik_integration_tests::{Company, Stack, pdf_text, renewals, unique_email};

/// A ticket opened on the web by the holder of `token`: its id and number.
async fn ticket(stack: &Stack, token: &str, subject: &str) -> (String, String) {
    let body = json!({"subject": subject, "description": "Pouvez-vous le faire pour nous ?", "channel": "web"});
    let opened = stack
        .call("POST", "/tickets", Some(token), Some(&body), None)
        .await;
    assert_eq!(opened.status, 201, "{opened:?}");
    (
        opened.body["id"].as_str().unwrap().to_string(),
        opened.body["number"].as_str().unwrap().to_string(),
    )
}

/// The company's history, newest first.
async fn history(stack: &Stack, company: &Company) -> Vec<Value> {
    let page = stack
        .call(
            "GET",
            "/account/history?limit=100",
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(page.status, 200, "{page:?}");
    page.body["items"].as_array().unwrap().clone()
}

/// `body` with `ticket_id`, or without it when none.
fn with(body: &Value, ticket: Option<&str>) -> Value {
    let mut body = body.clone();
    if let Some(ticket) = ticket {
        body["ticket_id"] = json!(ticket);
    }
    body
}

#[tokio::test]
async fn each_staff_route_acts_only_on_a_ticket_of_the_accounts_admin() {
    // GIVEN the FAQ's company with Bob, a member holding File storage
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let bob_email = unique_email("bob");
    let invited = stack
        .call(
            "POST",
            "/account/users",
            Some(&company.token),
            Some(&json!({"email": bob_email, "name": "Bob Martin", "briks": ["files"]})),
            None,
        )
        .await;
    assert_eq!(invited.status, 201, "{invited:?}");
    let bob_id = invited.body["user"]["id"].as_str().unwrap().to_string();
    let invoice_id = invited.body["invoice"]["id"].as_str().unwrap().to_string();
    let bob = stack.member_token(&bob_email).await;
    // AND Alice (the admin) asked support in a ticket; Bob wrote one too; and another
    // company's admin asked in theirs
    let (alices, number) = ticket(&stack, &company.token, "Passage au mois calendaire").await;
    let (bobs, _) = ticket(&stack, &bob, "Je veux partir").await;
    let other = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let (others, _) = ticket(&stack, &other.token, "Facture").await;
    let staff = stack.support_token().await;
    let account = format!("/staff/accounts/{}", company.account_id);

    // The closure last: it stops the team's other changes.
    let routes: [(&str, String, Value, u16); 5] = [
        (
            "POST",
            format!("{account}/billing-alignment"),
            json!({"mode": "calendar"}),
            202,
        ),
        (
            "POST",
            format!("{account}/invoices/{invoice_id}/send"),
            json!({"email": "compta@example.fr"}),
            202,
        ),
        (
            "POST",
            format!("{account}/invoices/{invoice_id}/credit-notes"),
            json!({"reason": "Geste commercial", "amount": "1.00"}),
            201,
        ),
        (
            "DELETE",
            format!("{account}/users/{bob_id}"),
            json!({"immediate": true}),
            202,
        ),
        (
            "POST",
            format!("{account}/closure"),
            json!({"confirm": true}),
            202,
        ),
    ];
    let mut bob_cut = false;
    for (method, path, body, done) in &routes {
        // WHEN staff call it without a ticket, with a member's, or with another account's
        for ticket in [
            None,
            Some(bobs.as_str()),
            Some(others.as_str()),
            Some("tkt_none"),
        ] {
            let refused = stack
                .call(method, path, Some(&staff), Some(&with(body, ticket)), None)
                .await;
            // THEN 422 ticket_required, nothing done
            assert_eq!(
                (refused.status, refused.body["code"].as_str()),
                (422, Some("ticket_required")),
                "{method} {path} with {ticket:?}: {refused:?}"
            );
        }
        // AND the customer's admin, or member, cannot call staff's routes at all (Bob, once
        // cut off, is not even signed in)
        let bob_refused = if bob_cut { 401 } else { 403 };
        for (token, refused) in [(&company.token, 403), (&bob, bob_refused)] {
            let forbidden = stack
                .call(
                    method,
                    path,
                    Some(token),
                    Some(&with(body, Some(&alices))),
                    None,
                )
                .await;
            assert_eq!(forbidden.status, refused, "{method} {path}: {forbidden:?}");
        }
        // WHEN staff call it with Alice's ticket THEN it is done as the admin's route does it
        let answer = stack
            .call(
                method,
                path,
                Some(&staff),
                Some(&with(body, Some(&alices))),
                None,
            )
            .await;
        assert_eq!(answer.status, *done, "{method} {path}: {answer:?}");
        bob_cut |= *method == "DELETE";
    }

    // THEN each change is in the history as support's, with Alice's ticket's number
    let entries = history(&stack, &company).await;
    for action in [
        "calendar_switch",
        "invoice_sent",
        "credit_note_issued",
        "user_access_revoked",
        "closure_requested",
    ] {
        let entry = entries
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {entries:?}"));
        assert_eq!(
            (&entry["actor"], &entry["ticket"]),
            (&json!("support"), &json!(number)),
            "{entry}"
        );
    }
    // AND Bob was cut off at once: his token no longer works
    let cut = stack.call("GET", "/account", Some(&bob), None, None).await;
    assert_eq!(cut.status, 401, "{cut:?}");
    // AND the invoice was sent to the address given
    let sent = stack.mail_to("compta@example.fr").await;
    assert!(
        sent.iter()
            .any(|m| m.attachments.iter().any(|a| a.1 == "application/pdf")),
        "{sent:?}"
    );
    // AND the closure was confirmed to the admin
    let account = stack
        .call("GET", "/account", Some(&company.token), None, None)
        .await;
    assert_eq!(account.body["status"], "closing", "{account:?}");
    assert_eq!(account.body["billing"]["closure_date"], "2027-01-12");
}

#[tokio::test]
async fn staff_see_the_billing_view_and_no_more() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let staff = stack.support_token().await;
    let path = format!("/staff/accounts/{}", company.account_id);
    let view = stack.call("GET", &path, Some(&staff), None, None).await;
    assert_eq!(view.status, 200, "{view:?}");
    let body = &view.body;
    assert_eq!(body["status"], "active");
    assert_eq!(body["current_period"]["start"], "2026-12-12");
    assert_eq!(body["next_billing_date"], "2027-01-12");
    assert_eq!(
        body["payment_method"],
        json!({"brand": "visa", "last4": "4242"})
    );
    assert_eq!(body["open_invoices"], json!([]));
    // No users, no addresses, no company details.
    let text = body.to_string();
    assert!(
        !text.contains(&company.admin_email) && !text.contains("Fromagerie"),
        "{text}"
    );
    // The customer's own admin is not staff; an unknown account is not found.
    let own = stack
        .call("GET", &path, Some(&company.token), None, None)
        .await;
    assert_eq!(own.status, 403, "{own:?}");
    let none = stack
        .call("GET", "/staff/accounts/acc_none", Some(&staff), None, None)
        .await;
    assert_eq!(none.status, 404, "{none:?}");
}

/// What a credit note's mail and PDF say in one language.
struct CreditWords {
    language: Option<&'static str>,
    subject: &'static str,
    refunded: &'static str,
    title: &'static str,
}

const FRENCH: CreditWords = CreditWords {
    language: None,
    subject: "Votre avoir Softbrik {number}",
    refunded: "remboursé",
    title: "Avoir",
};

const DANISH: CreditWords = CreditWords {
    language: Some("da"),
    subject: "Din Softbrik-kreditnota {number}",
    refunded: "refunderet",
    title: "Kreditnota",
};

#[tokio::test]
async fn a_credit_note_is_refunded_numbered_and_emailed_in_french() {
    credit_notes_in(&FRENCH).await;
}

#[tokio::test]
async fn a_credit_note_is_refunded_numbered_and_emailed_in_danish() {
    credit_notes_in(&DANISH).await;
}

async fn credit_notes_in(words: &CreditWords) {
    // GIVEN the FAQ's company, its signup invoice of 19.20 (File storage 6.00, customer
    // service 10.00, 20 % VAT) paid, in `language`
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    if let Some(language) = words.language {
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
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    let invoice = invoices.body["items"][0].clone();
    assert_eq!(invoice["total"], "19.20", "{invoice}");
    let invoice_id = invoice["id"].as_str().unwrap();
    let invoice_number = invoice["number"].as_str().unwrap();
    let care = invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .position(|l| l["brik_id"] == "care")
        .unwrap();
    // AND Alice asked for a gesture in a ticket
    let (alices, _) = ticket(&stack, &company.token, "Panne d'une semaine").await;
    let staff = stack.support_token().await;
    let path = format!(
        "/staff/accounts/{}/invoices/{invoice_id}/credit-notes",
        company.account_id
    );
    let credit = async |body: Value, key: &str| {
        stack
            .call(
                "POST",
                &path,
                Some(&staff),
                Some(&with(&body, Some(&alices))),
                Some(key),
            )
            .await
    };

    // WHEN staff credit 5.00 of it (sent twice with the same key)
    let five = json!({"reason": "Panne d'une semaine", "amount": "5.00"});
    let key = format!("k-{}", unique_email("credit"));
    let note = credit(five.clone(), &key).await;
    let replay = credit(five, &key).await;
    // THEN a credit note of 5.00 crediting the invoice, the same answer replayed
    assert_eq!(note.status, 201, "{note:?}");
    assert_eq!((replay.status, &replay.body), (201, &note.body));
    let body = &note.body;
    assert_eq!(body["kind"], "credit_note");
    assert_eq!(body["credits"], invoice_id);
    assert_eq!(
        (&body["subtotal"], &body["vat"]["amount"], &body["total"]),
        (&json!("4.17"), &json!("0.83"), &json!("5.00"))
    );
    // numbered after the invoice, from the same sequence
    let number = body["number"].as_str().unwrap().to_string();
    let n = |text: &str| text.trim_start_matches("SB-").parse::<u64>().unwrap();
    assert!(
        n(&number) > n(invoice_number),
        "{number} after {invoice_number}"
    );
    // refunded once to the card
    let charges = stack.charges(&company.account_id).await;
    let refunds: Vec<_> = charges.iter().filter(|(a, _)| a.starts_with('-')).collect();
    assert_eq!(refunds, vec![&("-5.00".to_string(), false)], "{charges:?}");
    // emailed to the admin in the account's language, with its PDF
    let mail = stack.mail_to(&company.admin_email).await;
    let subject = words.subject.replace("{number}", &number);
    let sent = mail
        .iter()
        .find(|m| m.subject == subject)
        .unwrap_or_else(|| {
            panic!(
                "no {subject:?} in {:?}",
                mail.iter().map(|m| &m.subject).collect::<Vec<_>>()
            )
        });
    assert!(sent.text.contains(words.refunded), "{}", sent.text);
    let (filename, content_type, pdf) = &sent.attachments[0];
    assert_eq!(
        (filename.as_str(), content_type.as_str()),
        (format!("{number}.pdf").as_str(), "application/pdf")
    );
    let text = pdf_text(pdf);
    assert!(
        text.contains(words.title) && text.contains(invoice_number),
        "{text}"
    );
    // listed with the invoices, its PDF downloadable by the admin
    let listed = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    assert!(
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["number"] == json!(number) && i["kind"] == "credit_note"),
        "{listed:?}"
    );
    let note_id = body["id"].as_str().unwrap();
    let (status, content_type, _) = stack
        .download(&format!("/account/invoices/{note_id}/pdf"), &company.token)
        .await;
    assert_eq!((status, content_type.as_str()), (200, "application/pdf"));

    // WHEN staff credit the customer service line (12.00 with its VAT): 14.20 was left
    let line = credit(
        json!({"reason": "Service indisponible", "lines": [care]}),
        &format!("k-{}", unique_email("credit")),
    )
    .await;
    assert_eq!(line.status, 201, "{line:?}");
    assert_eq!(line.body["total"], "12.00");
    // THEN 2.20 is left: 2.21 is refused, and nothing is done
    let beyond = credit(
        json!({"reason": "Encore", "amount": "2.21"}),
        &format!("k-{}", unique_email("credit")),
    )
    .await;
    assert_eq!(
        (beyond.status, beyond.body["code"].as_str()),
        (422, Some("credit_exceeds_invoice")),
        "{beyond:?}"
    );
    // AND the rest credited in full leaves nothing
    let rest = credit(
        json!({"reason": "Solde"}),
        &format!("k-{}", unique_email("credit")),
    )
    .await;
    assert_eq!((rest.status, &rest.body["total"]), (201, &json!("2.20")));
    let credited = stack
        .call(
            "GET",
            &format!("/account/invoices/{invoice_id}"),
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(credited.body["credited"], "19.20", "{credited:?}");
    let refunded: Vec<String> = stack
        .charges(&company.account_id)
        .await
        .into_iter()
        .filter(|(a, _)| a.starts_with('-'))
        .map(|(a, _)| a)
        .collect();
    let mut refunded = refunded;
    refunded.sort();
    assert_eq!(refunded, ["-12.00", "-2.20", "-5.00"]);
}

#[tokio::test]
async fn a_suspended_account_whose_unpaid_renewal_is_credited_in_full_is_active_again() {
    // GIVEN the FAQ's company with Mia, its card failing every charge from the Jan 12 renewal
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let mia_email = unique_email("mia");
    let invite = json!({"email": mia_email, "name": "Mia Moreau", "briks": []});
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
    let mia = stack.member_token(&mia_email).await;
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
    assert_eq!(put.status, 200, "{put:?}");
    // AND the renewal failed: Alice disputes it in a ticket while past due
    stack.advance(&company.clock, "2027-01-12T12:00:00Z").await;
    let (alices, _) = ticket(&stack, &company.token, "Renouvellement contesté").await;
    // AND the retries failed: suspended, Mia refused
    stack.advance(&company.clock, "2027-01-17T12:00:00Z").await;
    let refused = stack.call("GET", "/tickets", Some(&mia), None, None).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    let invoices = stack
        .call("GET", "/account/invoices", Some(&company.token), None, None)
        .await;
    let renewal = renewals(&invoices.body)[0].clone();
    assert_eq!(renewal["status"], "open", "{renewal}");
    let charges_before = stack.charges(&company.account_id).await;

    // WHEN support credits the whole renewal on Alice's ticket
    let staff = stack.support_token().await;
    let path = format!(
        "/staff/accounts/{}/invoices/{}/credit-notes",
        company.account_id,
        renewal["id"].as_str().unwrap()
    );
    let body = json!({"ticket_id": alices, "reason": "Renouvellement contesté"});
    let note = stack
        .call("POST", &path, Some(&staff), Some(&body), None)
        .await;
    assert_eq!(note.status, 201, "{note:?}");
    assert_eq!(note.body["total"], renewal["total"]);
    // THEN the renewal is void, nothing was charged nor refunded, and the account is active
    let voided = stack
        .call(
            "GET",
            &format!("/account/invoices/{}", renewal["id"].as_str().unwrap()),
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(voided.body["status"], "void", "{voided:?}");
    assert_eq!(stack.charges(&company.account_id).await, charges_before);
    let account = stack
        .call("GET", "/account", Some(&company.token), None, None)
        .await;
    assert_eq!(account.body["status"], "active", "{account:?}");
    // AND Mia is back at once
    let back = stack.call("GET", "/tickets", Some(&mia), None, None).await;
    assert_eq!(back.status, 200, "{back:?}");
    // AND the note says it is deducted from the renewal, not refunded
    let number = note.body["number"].as_str().unwrap();
    let mail = stack.mail_to(&company.admin_email).await;
    let sent = mail
        .iter()
        .find(|m| m.subject == format!("Votre avoir Softbrik {number}"))
        .expect("the credit note's email");
    assert!(sent.text.contains("déduit de la facture"), "{}", sent.text);
}
