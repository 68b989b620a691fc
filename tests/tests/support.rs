//! The support desk (support.md): tickets by email and through the API, SLA targets in the
//! account's business hours (holidays, summer time), pauses, breaches, and who sees what.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use softbrik::business_hours::BusinessHours;
use softbrik_integration_tests::{Company, Stack, mail_with_attachment, unique_email};

const SUPPORT: &str = "support@softbrik.com";
const TEAM: &str = "support-team@softbrik.com";

fn mail(from: &str, subject: &str, message_id: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Alice Dupont <{from}>\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\n\
         Message-ID: <{message_id}>\r\nDate: Fri, 26 Mar 2027 17:30:00 +0100\r\n{extra_headers}\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn unique_id() -> String {
    format!("{}@mail.example.fr", uuid::Uuid::new_v4().simple())
}

async fn ticket(stack: &Stack, token: &str, id: &str) -> Value {
    let answer = stack
        .call("GET", &format!("/tickets/{id}"), Some(token), None, None)
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

fn target<'a>(ticket: &'a Value, name: &str) -> &'a Value {
    ticket["sla"]["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no {name} target: {ticket}"))
}

fn instant(value: &Value) -> Timestamp {
    value
        .as_str()
        .expect("an instant")
        .parse()
        .expect("RFC 3339")
}

async fn open_ticket(stack: &Stack, company: &Company, impact: Option<&str>) -> Value {
    let mut body = json!({
        "subject": "Le partage de fichiers ne répond plus",
        "description": "Depuis ce matin, impossible d'ouvrir un dossier partagé.",
        "channel": "web",
    });
    if let Some(impact) = impact {
        body["impact"] = json!(impact);
    }
    let answer = stack
        .call("POST", "/tickets", Some(&company.token), Some(&body), None)
        .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    answer.body
}

async fn staff(stack: &Stack, token: &str, id: &str, action: &str, body: Value) -> Value {
    let answer = stack
        .call(
            "POST",
            &format!("/tickets/{id}/{action}"),
            Some(token),
            Some(&body),
            None,
        )
        .await;
    assert!(
        answer.status == 200 || answer.status == 201,
        "{action}: {answer:?}"
    );
    answer.body
}

#[tokio::test]
async fn email_opens_a_ticket_and_replies_thread_into_it_once() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2027-03-23T08:00:00Z").await;

    // WHEN the admin writes to the support address
    let first = unique_id();
    let opened = stack
        .deliver_mail(mail(
            &company.admin_email,
            "Imprimante introuvable",
            &first,
            "",
            "Bonjour, l'imprimante n'apparaît plus.",
        ))
        .await;
    // THEN a ticket is opened and the sender gets its number by an automatic reply
    assert_eq!(opened.status, 202, "{opened:?}");
    assert_eq!(opened.body["outcome"], "opened", "{opened:?}");
    let number = opened.body["number"].as_str().expect("number").to_string();
    let ticket_id = opened.body["ticket_id"].as_str().unwrap().to_string();
    assert!(number.starts_with("SB-T-"), "{number}");
    let replies = stack.mail_to(&company.admin_email).await;
    let ack = replies
        .iter()
        .find(|m| m.subject.contains(&format!("[{number}]")))
        .unwrap_or_else(|| panic!("no acknowledgement: {replies:?}"));
    assert_eq!(
        ack.header("Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    let mails_after_ack = replies.len();

    // WHEN the same message is delivered again, THEN nothing more happens
    let again = stack
        .deliver_mail(mail(
            &company.admin_email,
            "Imprimante introuvable",
            &first,
            "",
            "Bonjour, l'imprimante n'apparaît plus.",
        ))
        .await;
    assert_eq!(again.body["outcome"], "duplicate", "{again:?}");

    // WHEN the admin replies quoting the number, THEN the reply joins the ticket
    let reply = stack
        .deliver_mail(mail(
            &company.admin_email,
            &format!("Re: [{number}] Imprimante introuvable"),
            &unique_id(),
            "",
            "Elle est branchée en USB.",
        ))
        .await;
    assert_eq!(reply.body["outcome"], "added", "{reply:?}");
    assert_eq!(reply.body["ticket_id"], ticket_id.as_str());

    // WHEN an out-of-office answer quotes it, THEN it is recorded and not answered
    let auto = stack
        .deliver_mail(mail(
            &company.admin_email,
            &format!("Absence : [{number}] Imprimante introuvable"),
            &unique_id(),
            "Auto-Submitted: auto-replied\r\n",
            "Je suis absente jusqu'au 2 avril.",
        ))
        .await;
    assert_eq!(auto.body["outcome"], "added", "{auto:?}");
    let seen = ticket(&stack, &company.token, &ticket_id).await;
    let messages = seen["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 3, "{seen}");
    assert_eq!(messages[1]["body"], "Elle est branchée en USB.");
    assert_eq!(messages[2]["automatic"], true);
    assert_eq!(seen["channel"], "email");
    assert_eq!(
        stack.mail_to(&company.admin_email).await.len(),
        mails_after_ack,
        "no answer to a reply or to automatic mail"
    );

    // WHEN a user of another account quotes the same number, THEN it opens their own ticket
    let other = stack.company_on_clock("2027-03-23T08:00:00Z").await;
    let stranger = stack
        .deliver_mail(mail(
            &other.admin_email,
            &format!("Re: [{number}] Imprimante introuvable"),
            &unique_id(),
            "",
            "Nous avons le même problème.",
        ))
        .await;
    assert_eq!(stranger.body["outcome"], "opened", "{stranger:?}");
    assert_ne!(stranger.body["ticket_id"], ticket_id.as_str());
    let theirs = stack
        .call("GET", "/tickets", Some(&other.token), None, None)
        .await;
    assert_eq!(theirs.body["items"].as_array().unwrap().len(), 1);
    // AND neither account sees the other's ticket
    let crossed = stack
        .call(
            "GET",
            &format!("/tickets/{ticket_id}"),
            Some(&other.token),
            None,
            None,
        )
        .await;
    assert_eq!(crossed.status, 404);
}

#[tokio::test]
async fn unusable_mail_is_dropped_without_an_error() {
    let stack = Stack::connect().await;

    // 1 MiB of random bytes
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let answer = stack.deliver_mail(noise).await;
    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(answer.body["outcome"], "dropped", "{answer:?}");

    // A multipart message cut in the middle of its attachment
    let sender = unique_email("truncated");
    let whole = format!(
        "From: <{sender}>\r\nTo: {SUPPORT}\r\nSubject: Fichier joint\r\nMessage-ID: <{}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n\
         --XYZ\r\nContent-Type: text/plain\r\n\r\nVoici le fichier.\r\n\
         --XYZ\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\r\n\
         --XYZ--\r\n",
        unique_id()
    );
    let cut = whole.as_bytes()[..whole.len() * 2 / 3].to_vec();
    let answer = stack.deliver_mail(cut).await;
    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(answer.body["outcome"], "dropped", "{answer:?}");
    assert!(
        stack.mail_to(&sender).await.is_empty(),
        "no answer to a dropped message"
    );

    // An unknown sender is asked to write from their registered address; no ticket
    let unknown = unique_email("unknown");
    let answer = stack
        .deliver_mail(mail(&unknown, "Aide", &unique_id(), "", "Bonjour"))
        .await;
    assert_eq!(answer.body["outcome"], "unknown_sender", "{answer:?}");
    let replies = stack.mail_to(&unknown).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(
        replies[0].header("Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
}

#[tokio::test]
async fn targets_run_in_paris_business_hours_across_easter_and_summer_time() {
    let stack = Stack::connect().await;
    let agent = stack.support_token().await;
    // GIVEN a Paris account on the Basic plan, Friday 2027-03-26 17:30 local
    let company = stack.company_on_clock("2027-03-26T16:30:00Z").await;

    // WHEN a ticket is opened and qualified P2 at once
    let opened = open_ticket(&stack, &company, None).await;
    assert_eq!(opened["priority"], "P3");
    let id = opened["id"].as_str().unwrap().to_string();
    let qualified = staff(
        &stack,
        &agent,
        &id,
        "acknowledge",
        json!({"priority": "P2"}),
    )
    .await;

    // THEN acknowledgement was due Tuesday 09:30 local (Easter Monday is a holiday) and the
    // 2-business-day resolution Wednesday 17:30 local
    assert_eq!(qualified["priority"], "P2");
    assert_eq!(qualified["status"], "acknowledged");
    assert_eq!(
        target(&qualified, "acknowledge")["due_at"],
        "2027-03-30T07:30:00Z"
    );
    assert_eq!(
        target(&qualified, "acknowledge")["met_at"],
        "2027-03-26T16:30:00Z"
    );
    assert_eq!(
        target(&qualified, "resolution")["due_at"],
        "2027-03-31T15:30:00Z"
    );
    assert_eq!(qualified["sla"]["plan"], "basic");

    // GIVEN the same ticket as P1 on the Enterprise plan, THEN acknowledgement is due 17:45
    let enterprise = stack.company_on_clock("2027-03-26T16:30:00Z").await;
    stack
        .set_attribute(
            &format!("ACCOUNT#{}", enterprise.account_id),
            "ACCOUNT",
            "support_plan",
            "enterprise",
        )
        .await;
    let critical = open_ticket(&stack, &enterprise, Some("critical")).await;
    assert_eq!(critical["priority"], "P1");
    assert_eq!(critical["sla"]["plan"], "enterprise");
    assert_eq!(
        target(&critical, "acknowledge")["due_at"],
        "2027-03-26T16:45:00Z"
    );
    // AND the requester got the tracking number
    let mail = stack.mail_to(&enterprise.admin_email).await;
    let number = critical["number"].as_str().unwrap();
    assert!(
        mail.iter()
            .any(|m| m.subject.contains(&format!("[{number}]"))
                && m.header("Auto-Submitted").as_deref() == Some("auto-generated")),
        "{mail:?}"
    );
}

#[tokio::test]
async fn waiting_for_the_customer_pushes_resolution_back_by_the_business_time_waited() {
    let stack = Stack::connect().await;
    let agent = stack.support_token().await;
    // Tuesday 2027-03-23 09:00 Paris
    let company = stack.company_on_clock("2027-03-23T08:00:00Z").await;
    let opened = open_ticket(&stack, &company, Some("high")).await;
    let id = opened["id"].as_str().unwrap().to_string();
    let before = instant(&target(&opened, "resolution")["due_at"]);

    // WHEN the team asks the customer at 10:00 and the customer answers at 13:00
    stack.advance(&company.clock, "2027-03-23T09:00:00Z").await;
    let asked = staff(
        &stack,
        &agent,
        &id,
        "messages",
        json!({"body": "Pouvez-vous nous envoyer une capture ?", "pending_customer": true}),
    )
    .await;
    assert_eq!(asked["status"], "pending_customer");
    assert_eq!(target(&asked, "resolution")["paused"], true);
    assert_eq!(target(&asked, "acknowledge")["paused"], false);
    stack.advance(&company.clock, "2027-03-23T12:00:00Z").await;
    let answered = stack
        .call(
            "POST",
            &format!("/tickets/{id}/messages"),
            Some(&company.token),
            Some(&json!({"body": "Voici la capture."})),
            None,
        )
        .await;
    assert_eq!(answered.status, 201, "{answered:?}");

    // THEN resolution is due 3 business hours later than before
    let after = ticket(&stack, &company.token, &id).await;
    assert_eq!(target(&after, "resolution")["paused"], false);
    let hours = BusinessHours::new(
        jiff::tz::TimeZone::get("Europe/Paris").unwrap(),
        softbrik::values::Country::parse("FR").unwrap(),
    );
    let due = instant(&target(&after, "resolution")["due_at"]);
    assert_eq!(hours.between(before, due), SignedDuration::from_hours(3));
    assert!(due > before);
    // AND the team's request reached the customer by email
    assert!(
        stack
            .mail_to(&company.admin_email)
            .await
            .iter()
            .any(|m| m.text.contains("Pouvez-vous nous envoyer une capture ?")),
    );
}

#[tokio::test]
async fn a_breach_is_recorded_once_and_the_team_is_told() {
    let stack = Stack::connect().await;
    // Tuesday 2027-03-23 09:00 Paris: a P3 must be acknowledged by 13:00 local (12:00Z)
    let company = stack.company_on_clock("2027-03-23T08:00:00Z").await;
    let opened = open_ticket(&stack, &company, None).await;
    let id = opened["id"].as_str().unwrap().to_string();
    let number = opened["number"].as_str().unwrap().to_string();
    assert_eq!(
        target(&opened, "acknowledge")["due_at"],
        "2027-03-23T12:00:00Z"
    );
    let alerts = |mail: Vec<softbrik_integration_tests::Mail>| {
        mail.into_iter()
            .filter(|m| m.subject.contains(&number) && m.text.contains("acknowledge"))
            .count()
    };
    let before = alerts(stack.mail_to(TEAM).await);

    // WHEN nobody acknowledges it by then
    stack.advance(&company.clock, "2027-03-23T13:00:00Z").await;
    // THEN the breach is recorded, with the due time, and the team emailed
    let seen = ticket(&stack, &company.token, &id).await;
    assert_eq!(target(&seen, "acknowledge")["breached"], true, "{seen}");
    assert_eq!(
        target(&seen, "acknowledge")["breached_at"],
        "2027-03-23T12:00:00Z"
    );
    assert_eq!(alerts(stack.mail_to(TEAM).await), before + 1);

    // WHEN time goes on, THEN it is not recorded or emailed again
    stack.advance(&company.clock, "2027-03-24T13:00:00Z").await;
    let later = ticket(&stack, &company.token, &id).await;
    let breaches = later["sla"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["change"] == "breached" && e["target"] == "acknowledge")
        .count();
    assert_eq!(breaches, 1, "{later}");
    assert_eq!(alerts(stack.mail_to(TEAM).await), before + 1);
    // AND the Brik modules were told of the ticket, then of its breach, once (events.md)
    let told: Vec<Value> = stack
        .events_of(&company.account_id)
        .await
        .into_iter()
        .filter(|e| e["source"] == "softbrik.support")
        .map(|e| {
            let d = &e["detail"];
            json!([e["detail-type"], d["ticket_id"], d["priority"], d["target"]])
        })
        .collect();
    assert_eq!(
        told,
        [
            json!(["Ticket Opened", id, "P3", "acknowledge"]),
            json!(["SLA Breached", id, "P3", "acknowledge"]),
        ]
    );
}

#[tokio::test]
async fn the_incident_flow_and_who_may_do_what() {
    let stack = Stack::connect().await;
    let agent = stack.support_token().await;
    let company = stack.company_on_clock("2027-03-23T08:00:00Z").await;
    let opened = open_ticket(&stack, &company, Some("critical")).await;
    let id = opened["id"].as_str().unwrap().to_string();

    // Customers cannot qualify or resolve; staff cannot confirm for them
    let refused = stack
        .call(
            "POST",
            &format!("/tickets/{id}/acknowledge"),
            Some(&company.token),
            Some(&json!({"priority": "P3"})),
            None,
        )
        .await;
    assert_eq!(refused.status, 403);
    // Staff see every ticket
    let queue = stack
        .call("GET", "/tickets?priority=P1", Some(&agent), None, None)
        .await;
    assert!(
        queue.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == id.as_str()),
        "{queue:?}"
    );

    staff(
        &stack,
        &agent,
        &id,
        "acknowledge",
        json!({"priority": "P1"}),
    )
    .await;
    staff(
        &stack,
        &agent,
        &id,
        "workaround",
        json!({"body": "Utilisez le lien direct."}),
    )
    .await;
    let resolved = staff(&stack, &agent, &id, "resolve", json!({"body": "Corrigé."})).await;
    assert_eq!(resolved["status"], "resolved");
    assert!(target(&resolved, "resolution")["met_at"].is_string());

    // A P1 does not close before its root-cause analysis
    let early = stack
        .call(
            "POST",
            &format!("/tickets/{id}/confirm"),
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(early.status, 409, "{early:?}");
    assert_eq!(early.body["code"], "rca_required");
    staff(
        &stack,
        &agent,
        &id,
        "rca",
        json!({"body": "Certificat expiré ; alerte d'expiration ajoutée."}),
    )
    .await;
    let closed = stack
        .call(
            "POST",
            &format!("/tickets/{id}/confirm"),
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(closed.status, 200, "{closed:?}");
    assert_eq!(closed.body["status"], "closed");
    // Reopened within 14 days of resolution
    let reopened = stack
        .call(
            "POST",
            &format!("/tickets/{id}/reopen"),
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(reopened.status, 200, "{reopened:?}");
    assert_eq!(reopened.body["status"], "workaround");

    // The monthly report is for Pro and Enterprise
    let basic = stack
        .call(
            "GET",
            "/account/reports/incidents?month=2027-03",
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(basic.status, 403);
    assert_eq!(basic.body["code"], "plan_required");
    // Bad input is a 4xx, never a 5xx
    use base64::Engine;
    let foreign = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"pk":"x"}"#);
    for path in [
        "/account/reports/incidents?month=9999-12".to_string(),
        "/account/reports/incidents?month=2027-3".to_string(),
        format!("/tickets?next={foreign}"),
        "/tickets?next=%%%".to_string(),
        "/tickets?limit=0".to_string(),
        "/tickets?status=lost".to_string(),
    ] {
        let answer = stack
            .call("GET", &path, Some(&company.token), None, None)
            .await;
        assert!(
            answer.status == 422 || answer.status == 403,
            "{path}: {answer:?}"
        );
        assert_eq!(answer.content_type, "application/problem+json", "{path}");
    }
    let long_id = format!("/tickets/tkt_{}", "a".repeat(2000));
    let answer = stack
        .call("GET", &long_id, Some(&company.token), None, None)
        .await;
    assert_eq!(answer.status, 404);
    stack
        .set_attribute(
            &format!("ACCOUNT#{}", company.account_id),
            "ACCOUNT",
            "support_plan",
            "pro",
        )
        .await;
    let report = stack
        .call(
            "GET",
            "/account/reports/incidents?month=2027-03",
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(report.status, 200, "{report:?}");
    assert_eq!(report.body["summary"]["tickets"], 1);
    assert_eq!(report.body["tickets"][0]["id"], id.as_str());
}

#[tokio::test]
async fn attachments_are_served_only_through_short_lived_links() {
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2027-03-23T08:00:00Z").await;
    let pdf = b"%PDF-1.4\n% Softbrik test attachment\n".to_vec();
    let opened = stack
        .deliver_mail(mail_with_attachment(
            &company.admin_email,
            &unique_id(),
            &pdf,
        ))
        .await;
    assert_eq!(opened.body["outcome"], "opened", "{opened:?}");
    let id = opened.body["ticket_id"].as_str().unwrap();

    let seen = ticket(&stack, &company.token, id).await;
    let file = &seen["messages"][0]["attachments"][0];
    assert_eq!(file["filename"], "facture.pdf");
    assert_eq!(file["content_type"], "application/pdf");
    assert_eq!(file["size"], pdf.len());
    let expires = instant(&file["url_expires_at"]);
    let lifetime = expires.duration_since(Timestamp::now());
    assert!(
        lifetime <= SignedDuration::from_mins(5) && lifetime > SignedDuration::from_mins(3),
        "{lifetime:?}"
    );
    // The link downloads the file as sent
    let url = file["url"].as_str().expect("a link");
    let downloaded = reqwest::get(url).await.expect("the link answers");
    assert_eq!(downloaded.status().as_u16(), 200);
    assert_eq!(downloaded.bytes().await.unwrap().to_vec(), pdf);
    // The text is kept as text, the attachment is not in the table
    assert_eq!(seen["messages"][0]["body"], "Le PDF joint ne s'ouvre pas.");
}

#[tokio::test]
async fn a_security_report_from_anyone_reaches_only_the_support_team() {
    let stack = Stack::connect().await;
    let agent = stack.support_token().await;
    let company = stack.company_on_clock("2027-03-23T08:00:00Z").await;
    let researcher = unique_email("researcher");
    let raw = format!(
        "From: <{researcher}>\r\nTo: security@softbrik.com\r\nSubject: XSS in the help centre\r\n\
         Message-ID: <{}>\r\n\r\nSteps to reproduce: ...\r\n",
        unique_id()
    );
    let opened = stack.deliver_mail(raw.into_bytes()).await;
    assert_eq!(opened.body["outcome"], "opened", "{opened:?}");
    let id = opened.body["ticket_id"].as_str().unwrap().to_string();
    let number = opened.body["number"].as_str().unwrap().to_string();

    // The reporter gets the number; the team is alerted without the report's content
    let replies = stack.mail_to(&researcher).await;
    assert!(
        replies.iter().any(|m| m.subject.contains(&number)),
        "{replies:?}"
    );
    let alerts = stack.mail_to(TEAM).await;
    let alert = alerts
        .iter()
        .find(|m| m.text.contains(&number) || m.subject.contains(&number))
        .unwrap_or_else(|| panic!("no security alert: {alerts:?}"));
    assert!(!alert.text.contains("XSS"), "{}", alert.text);

    // Staff see it, acknowledged within 24 business hours; customers never
    let report = ticket(&stack, &agent, &id).await;
    assert_eq!(report["kind"], "security");
    assert_eq!(report["subject"], "XSS in the help centre");
    let opened_at = instant(&report["created_at"]);
    let due = instant(&target(&report, "acknowledge")["due_at"]);
    assert!(
        due.duration_since(opened_at) >= SignedDuration::from_hours(24),
        "{report}"
    );
    let hidden = stack
        .call(
            "GET",
            &format!("/tickets/{id}"),
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(hidden.status, 404);
}

#[tokio::test]
async fn a_resolved_ticket_closes_by_itself_seven_days_later_and_replays_change_nothing() {
    let stack = Stack::connect().await;
    let agent = stack.support_token().await;
    let company = stack.company_on_clock("2027-03-23T08:00:00Z").await;

    // The same request sent twice with one key opens one ticket
    let body = json!({"subject": "Export CSV", "description": "Comment exporter ?", "channel": "chat", "impact": "high"});
    let first = stack
        .call(
            "POST",
            "/tickets",
            Some(&company.token),
            Some(&body),
            Some("ticket-1"),
        )
        .await;
    let second = stack
        .call(
            "POST",
            "/tickets",
            Some(&company.token),
            Some(&body),
            Some("ticket-1"),
        )
        .await;
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(second.status, 201, "{second:?}");
    assert_eq!(first.body["id"], second.body["id"]);
    let listed = stack
        .call("GET", "/tickets", Some(&company.token), None, None)
        .await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    let id = first.body["id"].as_str().unwrap().to_string();
    let number = first.body["number"].as_str().unwrap().to_string();

    staff(
        &stack,
        &agent,
        &id,
        "resolve",
        json!({"body": "Menu Fichier > Exporter."}),
    )
    .await;
    stack.advance(&company.clock, "2027-03-30T07:59:00Z").await;
    assert_eq!(
        ticket(&stack, &company.token, &id).await["status"],
        "resolved"
    );
    stack.advance(&company.clock, "2027-03-30T08:01:00Z").await;
    let closed = ticket(&stack, &company.token, &id).await;
    assert_eq!(closed["status"], "closed", "{closed}");
    assert_eq!(closed["closed_at"], "2027-03-30T08:00:00Z");
    // Resolved without a separate workaround: no workaround target is left to breach
    assert!(
        target(&closed, "workaround")["met_at"].is_string(),
        "{closed}"
    );
    assert_eq!(target(&closed, "workaround")["breached"], false);
    let mail = stack.mail_to(&company.admin_email).await;
    assert_eq!(
        mail.iter()
            .filter(|m| m.subject.contains(&format!("[{number}]")))
            .count(),
        3,
        "opened, resolved, closed: {mail:?}"
    );
}

#[tokio::test]
async fn a_sender_gets_at_most_ten_automatic_replies_an_hour() {
    let stack = Stack::connect().await;
    let unknown = unique_email("looping");
    let mut replied = Vec::new();
    for _ in 0..11 {
        let answer = stack
            .deliver_mail(mail(&unknown, "Out of office", &unique_id(), "", "Away"))
            .await;
        assert_eq!(answer.body["outcome"], "unknown_sender", "{answer:?}");
        replied.push(answer.body["replied"] == true);
    }
    assert_eq!(replied.iter().filter(|r| **r).count(), 10, "{replied:?}");
    assert!(!replied[10]);
    assert_eq!(stack.mail_to(&unknown).await.len(), 10);
}

#[tokio::test]
async fn mail_that_ses_stored_in_the_bucket_is_read_from_it_and_opens_a_ticket() {
    // GIVEN a message SES received and stored under inbound/<its message id>, as the receipt
    // rule's S3 action does on AWS
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2027-03-23T08:00:00Z").await;
    let ses_id = uuid::Uuid::new_v4().simple().to_string();
    let raw = mail(
        &company.admin_email,
        "Facture introuvable",
        &unique_id(),
        "",
        "Je ne trouve pas ma facture de mars.",
    );
    stack.put_object(&format!("inbound/{ses_id}"), raw).await;

    // WHEN SES invokes ticket-intake with its receipt notification
    let receipt = json!({"Records": [{
        "eventSource": "aws:ses",
        "eventVersion": "1.0",
        "ses": {
            "mail": {"messageId": ses_id},
            "receipt": {
                "recipients": [SUPPORT],
                "spamVerdict": {"status": "PASS"},
                "virusVerdict": {"status": "PASS"},
                "spfVerdict": {"status": "PASS"},
                "dkimVerdict": {"status": "PASS"},
                "dmarcVerdict": {"status": "PASS"}
            }
        }
    }]});
    let outcomes = stack.invoke("ticket-intake", &receipt).await;

    // THEN the function read the message from the bucket and opened the ticket, and the raw
    // message is gone (what it held is sealed under the account now)
    assert_eq!(outcomes[0]["outcome"], "opened", "{outcomes}");
    assert_eq!(stack.objects_under(&format!("inbound/{ses_id}")).await, 0);
    let id = outcomes[0]["ticket_id"].as_str().unwrap();
    let seen = ticket(&stack, &company.token, id).await;
    assert_eq!(seen["subject"], "Facture introuvable", "{seen}");
}

#[tokio::test]
async fn a_closed_ticket_is_pseudonymised_24_months_later_with_its_messages_and_attachments() {
    // GIVEN an account that stops renewing (so 24 months pass without renewals), and a ticket
    // opened by email with an attachment
    let stack = Stack::connect().await;
    let agent = stack.support_token().await;
    let company = stack.company_on_clock("2027-03-23T08:00:00Z").await;
    let off = stack
        .call(
            "PUT",
            "/account/settings",
            Some(&company.token),
            Some(&json!({"auto_renew": false})),
            Some("auto-renew-off"),
        )
        .await;
    assert_eq!(off.status, 200, "{off:?}");
    let pdf = b"%PDF-1.4\n% kept 24 months\n".to_vec();
    let opened = stack
        .deliver_mail(mail_with_attachment(
            &company.admin_email,
            &unique_id(),
            &pdf,
        ))
        .await;
    assert_eq!(opened.body["outcome"], "opened", "{opened:?}");
    let id = opened.body["ticket_id"].as_str().unwrap().to_string();
    let files = format!("attachments/{}/{id}/", company.account_id);
    assert_eq!(stack.objects_under(&files).await, 1);

    // WHEN it is resolved, closes 7 days later, and 24 months pass
    staff(&stack, &agent, &id, "resolve", json!({"body": "Réparé."})).await;
    stack.advance(&company.clock, "2027-03-30T08:01:00Z").await;
    assert_eq!(ticket(&stack, &agent, &id).await["status"], "closed");
    stack.advance(&company.clock, "2029-03-29T08:00:00Z").await;
    let kept = ticket(&stack, &agent, &id).await;
    assert!(kept.to_string().contains("Le PDF joint"), "{kept}");
    stack.advance(&company.clock, "2029-03-30T08:01:00Z").await;

    // THEN its subject and messages are gone, and the attachment with them
    let gone = ticket(&stack, &agent, &id).await;
    assert_eq!(gone["status"], "closed", "{gone}");
    assert_eq!(gone["subject"], "", "{gone}");
    assert!(!gone.to_string().contains("Le PDF joint"), "{gone}");
    assert!(!gone.to_string().contains(&company.admin_email), "{gone}");
    assert_eq!(stack.objects_under(&files).await, 0);
}
