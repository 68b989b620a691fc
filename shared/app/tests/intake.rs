//! Email to ticket (support.md "Email to ticket"), in process: GIVEN Fromagerie Dupont (Alice
//! its admin, Bob a member) in memory, WHEN mail reaches the support or security address,
//! THEN who it is attributed to, which ticket it opens or joins, what is answered and what is
//! kept are what support.md and security.md promise; a message delivered twice is handled
//! once.

mod common;

use common::{ACCOUNT, dupont_paying};
use jiff::civil::{Date, date};
use serde_json::json;
use softbrik_app::intake::{self, Outcome, SenderChecks};
use softbrik_app::memory::World;
use softbrik_app::support::{self, MessageBody, NewTicketBody, SECURITY_ACCOUNT, Viewer};
use softbrik_domain::account::{AccountKind, UserStatus};
use softbrik_domain::examples::bob;
use softbrik_domain::ticket::{Channel, Kind, Status};

const DAY: Date = date(2027, 3, 23);

fn dupont() -> World {
    dupont_paying(DAY, AccountKind::Company)
}

/// A plain text message.
fn mail(from: &str, to: &str, id: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn from_bob(id: &str, subject: &str, body: &str) -> Vec<u8> {
    mail(
        "Bob <bob@dupont.fr>",
        "support@softbrik.test",
        id,
        subject,
        body,
    )
}

async fn receive(world: &World, raw: &[u8]) -> Outcome {
    receive_checked(world, raw, &SenderChecks::passed()).await
}

async fn receive_checked(world: &World, raw: &[u8], checks: &SenderChecks) -> Outcome {
    intake::receive(&world.ports(), raw, &[], checks)
        .await
        .expect("received")
}

fn unauthenticated() -> SenderChecks {
    SenderChecks {
        spf: "FAIL".into(),
        dkim: "FAIL".into(),
        dmarc: "GRAY".into(),
        dmarc_policy: None,
    }
}

fn mails_to(world: &World, to: &str) -> Vec<(String, &'static str)> {
    world
        .support_outbox
        .sent()
        .into_iter()
        .filter(|m| m.to == to)
        .map(|m| (m.subject, m.auto_submitted))
        .collect()
}

#[tokio::test]
async fn a_users_mail_opens_a_ticket_answered_with_its_number_and_a_redelivery_does_nothing() {
    let world = dupont();
    let raw = from_bob("m1@dupont.fr", "Printer broken", "Nothing prints.");
    let Outcome::Opened { ticket_id, number } = receive(&world, &raw).await else {
        panic!("not opened");
    };
    let tickets = world.tables.tickets_of(ACCOUNT);
    assert_eq!(tickets.len(), 1);
    let ticket = &tickets[0];
    assert_eq!(ticket.id, ticket_id);
    assert_eq!(ticket.reference(), number);
    assert_eq!(ticket.channel, Channel::Email);
    assert_eq!(ticket.subject, "Printer broken");
    assert_eq!(ticket.requester.user_id.as_deref(), Some("usr_bob"));
    assert_eq!(
        world.tables.messages_of(&ticket_id)[0].body,
        "Nothing prints."
    );
    let answered = mails_to(&world, "bob@dupont.fr");
    assert_eq!(answered.len(), 1);
    assert!(answered[0].0.contains(&number));
    assert_eq!(answered[0].1, "auto-replied");
    // SES delivers the same message again
    assert_eq!(receive(&world, &raw).await, Outcome::Duplicate);
    assert_eq!(world.tables.tickets_of(ACCOUNT).len(), 1);
    assert_eq!(mails_to(&world, "bob@dupont.fr").len(), 1);
}

#[tokio::test]
async fn a_reply_quoting_the_number_joins_the_ticket_and_runs_its_clock_again() {
    let world = dupont();
    let raw = json!({"subject": "Printer", "description": "Broken", "channel": "web"});
    let body: NewTicketBody = serde_json::from_value(raw.clone()).unwrap();
    let bob_viewer = Viewer::Member {
        account_id: ACCOUNT.into(),
        user_id: "usr_bob".into(),
    };
    let (_, opened) = support::open(&world.ports(), &bob_viewer, body, &raw, None)
        .await
        .unwrap();
    let ticket_id = opened["id"].as_str().unwrap().to_string();
    let number = opened["number"].as_str().unwrap().to_string();
    let staff = Viewer::Staff { sub: "s".into() };
    let ask = json!({"body": "Which model?", "pending_customer": true});
    let body: MessageBody = serde_json::from_value(ask.clone()).unwrap();
    support::add_message(&world.ports(), &staff, &ticket_id, body, &ask, None)
        .await
        .unwrap();
    let reply = from_bob(
        "m2@dupont.fr",
        &format!("Re: [{number}] Printer"),
        "A Zebra.",
    );
    let outcome = receive(&world, &reply).await;
    assert_eq!(
        outcome,
        Outcome::Added {
            ticket_id: ticket_id.clone(),
            number
        }
    );
    let ticket = &world.tables.tickets_of(ACCOUNT)[0];
    assert!(ticket.life.targets.iter().all(|t| !t.is_paused()));
    let messages = world.tables.messages_of(&ticket_id);
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[2].body, "A Zebra.");
    assert_eq!(messages[2].author_user_id.as_deref(), Some("usr_bob"));
    // the same number quoted by someone of another account opens a ticket of their own
    let mut other = softbrik_domain::examples::company(date(2026, 12, 12));
    other.id = "acc_other".into();
    world.tables.add_account(other);
    let carol = softbrik_domain::examples::user(
        "usr_carol",
        "carol@other.fr",
        softbrik_domain::account::Role::Admin,
        &[],
        date(2026, 12, 12),
    );
    world.tables.add_user("acc_other", carol);
    let quoting = mail(
        "carol@other.fr",
        "support@softbrik.test",
        "o1@other.fr",
        &format!(
            "Re: [{}] Printer",
            world.tables.tickets_of(ACCOUNT)[0].reference()
        ),
        "Me too.",
    );
    assert!(matches!(
        receive(&world, &quoting).await,
        Outcome::Opened { .. }
    ));
    assert_eq!(world.tables.messages_of(&ticket_id).len(), 3);
    assert_eq!(world.tables.tickets_of("acc_other").len(), 1);
}

#[tokio::test]
async fn a_stranger_is_asked_to_write_from_their_address_and_a_sender_unproven_is_not_trusted() {
    let world = dupont();
    let stranger = mail(
        "eve@example.org",
        "support@softbrik.test",
        "e1@x",
        "Hi",
        "Help",
    );
    assert_eq!(
        receive(&world, &stranger).await,
        Outcome::UnknownSender { replied: true }
    );
    assert_eq!(mails_to(&world, "eve@example.org").len(), 1);
    assert_eq!(receive(&world, &stranger).await, Outcome::Duplicate);
    // Bob's address, but nothing proves Bob sent it: not attributed, not answered
    let forged = from_bob("f1@dupont.fr", "Close my account", "now");
    let outcome = receive_checked(&world, &forged, &unauthenticated()).await;
    assert_eq!(outcome, Outcome::UnknownSender { replied: false });
    // a domain that disowns the message: dropped
    let disowned = SenderChecks {
        dmarc: "FAIL".into(),
        ..SenderChecks::passed()
    };
    let outcome = receive_checked(&world, &from_bob("f2@dupont.fr", "x", "y"), &disowned).await;
    assert!(matches!(outcome, Outcome::Dropped { .. }));
    assert!(world.tables.tickets_of(ACCOUNT).is_empty());
    assert!(mails_to(&world, "bob@dupont.fr").is_empty());
}

#[tokio::test]
async fn automatic_mail_is_never_answered_and_a_cut_user_writes_nothing() {
    let world = dupont();
    let automatic = "From: bob@dupont.fr\r\nTo: support@softbrik.test\r\nSubject: Out of office\r\n\
         Message-ID: <a1@dupont.fr>\r\nAuto-Submitted: auto-replied\r\n\r\nAway.\r\n";
    assert_eq!(
        receive(&world, automatic.as_bytes()).await,
        Outcome::IgnoredAutomatic
    );
    let mut cut = bob(&["files"], date(2026, 12, 12));
    cut.status = UserStatus::AccessRevoked;
    world.tables.add_user(ACCOUNT, cut);
    let raw = from_bob("c1@dupont.fr", "Still here", "Hello");
    assert_eq!(receive(&world, &raw).await, Outcome::SenderNotAllowed);
    assert!(world.tables.tickets_of(ACCOUNT).is_empty());
    assert!(world.support_outbox.sent().is_empty());
}

#[tokio::test]
async fn a_security_report_comes_from_anyone_and_alerts_the_team() {
    let world = dupont();
    let raw = mail(
        "researcher@example.org",
        "security@softbrik.test",
        "s1@example.org",
        "XSS in the portal",
        "Details inside.",
    );
    let Outcome::Opened { ticket_id, .. } = receive_checked(&world, &raw, &unauthenticated()).await
    else {
        panic!("no report opened");
    };
    let reports = world.tables.tickets_of(SECURITY_ACCOUNT);
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].id, ticket_id);
    assert_eq!(reports[0].life.kind, Kind::Security);
    assert_eq!(reports[0].life.status, Status::New);
    assert_eq!(mails_to(&world, "support-team@softbrik.test").len(), 1);
    assert_eq!(mails_to(&world, "researcher@example.org").len(), 1);
    assert!(world.tables.tickets_of(ACCOUNT).is_empty());
}

#[tokio::test]
async fn card_numbers_are_masked_and_attachments_kept_as_blobs() {
    let world = dupont();
    let raw = "From: bob@dupont.fr\r\nTo: support@softbrik.test\r\nSubject: Card 4242 4242 4242 4242\r\n\
               Message-ID: <p1@dupont.fr>\r\nMIME-Version: 1.0\r\n\
               Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
               --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
               My card is 4242424242424242, charge it.\r\n\
               --b1\r\nContent-Type: application/pdf; name=\"scan.pdf\"\r\n\
               Content-Disposition: attachment; filename=\"scan.pdf\"\r\n\
               Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n";
    let Outcome::Opened { ticket_id, .. } = receive(&world, raw.as_bytes()).await else {
        panic!("not opened");
    };
    let ticket = &world.tables.tickets_of(ACCOUNT)[0];
    assert!(
        !ticket.subject.contains("4242 4242 4242 4242"),
        "{}",
        ticket.subject
    );
    let message = &world.tables.messages_of(&ticket_id)[0];
    assert!(
        !message.body.contains("4242424242424242"),
        "{}",
        message.body
    );
    assert!(message.body.contains("4242"), "the last four digits stay");
    assert_eq!(message.attachments.len(), 1);
    let attachment = &message.attachments[0];
    assert_eq!(attachment.filename, "scan.pdf");
    assert!(
        attachment
            .key
            .starts_with(&format!("attachments/{ACCOUNT}/{ticket_id}/"))
    );
    assert!(world.tables.has_blob(&attachment.key));
}

#[tokio::test]
async fn no_sender_gets_more_than_ten_automatic_replies_an_hour() {
    let world = dupont();
    let mut replied = 0;
    for n in 0..12 {
        let raw = mail(
            "eve@example.org",
            "support@softbrik.test",
            &format!("e{n}@x"),
            "Hi",
            "Help",
        );
        if receive(&world, &raw).await == (Outcome::UnknownSender { replied: true }) {
            replied += 1;
        }
    }
    assert_eq!(replied, 10);
    assert_eq!(mails_to(&world, "eve@example.org").len(), 10);
}
