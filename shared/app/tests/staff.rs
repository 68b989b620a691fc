//! Support staff acting for a customer and credit notes (billing.md "What support staff do
//! for a customer", "Invoices"), in process: GIVEN Fromagerie Dupont in memory, Alice its
//! admin having asked in a ticket, WHEN staff act with or without that ticket, THEN the change
//! is the admin's own, written in the history as support's with the ticket's number; and a
//! credit note is refunded once, numbered from the invoices' sequence, emailed with its PDF,
//! never beyond what is left to credit, and voids an unpaid invoice credited in full.

mod common;

use common::{ACCOUNT, dupont_paying, team};
use jiff::civil::date;
use serde_json::json;
use softbrik_app::Error;
use softbrik_app::credit_notes::{self, CreditRequest};
use softbrik_app::memory::World;
use softbrik_app::staff::{self, Mandate};
use softbrik_app::support::{self, NewTicketBody, Viewer};
use softbrik_app::{subscription, team as app_team};
use softbrik_domain::account::{AccountKind, AccountStatus, Invoice, InvoiceKind, InvoiceStatus};
use softbrik_domain::catalogue::default_catalogue;
use softbrik_domain::credit::Credited;
use softbrik_domain::money::Money;

/// GIVEN Dupont on 20 December: Bob given Inventory (one paid invoice of 5.94 + VAT).
async fn dupont() -> World {
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Company);
    app_team::assign(
        &world.ports(),
        &team(&world).await,
        &default_catalogue(),
        "usr_bob",
        "stock",
        None,
    )
    .await
    .unwrap();
    world.outbox.clear();
    world
}

/// A ticket opened on the web by `user_id` of Dupont, admin or not: its id.
async fn ticket_by(world: &World, user_id: &str, admin: bool) -> String {
    let viewer = if admin {
        Viewer::Admin {
            account_id: ACCOUNT.into(),
            user_id: user_id.into(),
        }
    } else {
        Viewer::Member {
            account_id: ACCOUNT.into(),
            user_id: user_id.into(),
        }
    };
    let raw =
        json!({"subject": "Facture", "description": "Merci de nous rembourser.", "channel": "web"});
    let body: NewTicketBody = serde_json::from_value(raw.clone()).unwrap();
    let (status, answer) = support::open(&world.ports(), &viewer, body, &raw, None)
        .await
        .unwrap();
    assert_eq!(status, 201);
    answer["id"].as_str().unwrap().to_string()
}

async fn mandate(world: &World) -> Mandate {
    let ticket = ticket_by(world, "usr_alice", true).await;
    staff::mandate(&world.ports(), ACCOUNT, Some(&ticket))
        .await
        .unwrap()
}

fn paid_invoice(world: &World) -> Invoice {
    world.tables.invoices(ACCOUNT)[0].clone()
}

async fn credit(
    world: &World,
    mandate: &Mandate,
    invoice_id: &str,
    what: Credited,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let request = CreditRequest {
        what,
        reason: "Imprimante en panne une semaine".into(),
    };
    let fingerprint = json!({"invoice": invoice_id, "key": key});
    credit_notes::issue(
        &world.ports(),
        ACCOUNT,
        invoice_id,
        key,
        fingerprint,
        async || Ok((mandate.clone(), request)),
    )
    .await
}

#[tokio::test]
async fn only_a_ticket_of_the_account_opened_by_its_admin_lets_staff_act() {
    let world = dupont().await;
    let by_alice = ticket_by(&world, "usr_alice", true).await;
    let by_bob = ticket_by(&world, "usr_bob", false).await;
    let ports = world.ports();
    let mandate = staff::mandate(&ports, ACCOUNT, Some(&by_alice))
        .await
        .unwrap();
    assert_eq!(mandate.account_id, ACCOUNT);
    assert!(mandate.ticket.starts_with("SB-"), "{}", mandate.ticket);
    assert_eq!(mandate.actor(), format!("support:{}", mandate.ticket));
    for ticket in [Some(by_bob.as_str()), Some("tkt_none"), None] {
        assert!(
            matches!(
                staff::mandate(&ports, ACCOUNT, ticket).await,
                Err(Error::TicketRequired)
            ),
            "{ticket:?}"
        );
    }
    // Another account: not found, whatever the ticket.
    assert!(matches!(
        staff::mandate(&ports, "acc_other", Some(&by_alice)).await,
        Err(Error::NotFound)
    ));
}

#[tokio::test]
async fn staffs_calendar_switch_is_the_admins_written_as_support_with_the_ticket() {
    let world = dupont().await;
    let mandate = mandate(&world).await;
    let (status, answer) = subscription::align_billing(&world.ports(), ACCOUNT, &mandate.actor())
        .await
        .unwrap();
    assert_eq!(
        (status, &answer["effective_date"]),
        (202, &json!("2027-01-12"))
    );
    let entry = world.tables.history(ACCOUNT).pop().unwrap();
    assert_eq!(entry.action, "calendar_switch");
    let shown = serde_json::to_value(&entry).unwrap();
    assert_eq!(shown["actor"], "support");
    assert_eq!(shown["ticket"], json!(mandate.ticket));
}

#[tokio::test]
async fn a_credit_note_is_refunded_once_numbered_next_and_emailed_with_its_pdf() {
    let world = dupont().await;
    let mandate = mandate(&world).await;
    let invoice = paid_invoice(&world);
    let number = |i: &Invoice| i.number.clone().unwrap();
    // WHEN staff credit 5.00 of it, twice with the same key
    let (status, note) = credit(
        &world,
        &mandate,
        &invoice.id,
        Credited::Amount(Money::from_cents(500)),
        Some("k-1"),
    )
    .await
    .unwrap();
    let again = credit(
        &world,
        &mandate,
        &invoice.id,
        Credited::Amount(Money::from_cents(500)),
        Some("k-1"),
    )
    .await
    .unwrap();
    // THEN one credit note, the first answer replayed
    assert_eq!((status, &again.1), (201, &note));
    assert_eq!(note["kind"], "credit_note");
    assert_eq!(note["credits"], json!(invoice.id));
    assert_eq!(note["total"], "5.00");
    let stored = world.tables.invoices(ACCOUNT);
    let notes: Vec<&Invoice> = stored
        .iter()
        .filter(|i| i.kind == InvoiceKind::CreditNote)
        .collect();
    assert_eq!(notes.len(), 1);
    // numbered next in the one sequence
    let last: u64 = number(&invoice)[3..].parse().unwrap();
    assert_eq!(number(notes[0]), format!("SB-{:06}", last + 1));
    // refunded once, to the invoice's charge
    let refunds = world.ledger.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].amount, Money::from_cents(500));
    assert_eq!(
        refunds[0].charge_key,
        softbrik_app::billing::charge_key(&invoice)
    );
    // the invoice knows what was credited
    let credited = stored.iter().find(|i| i.id == invoice.id).unwrap();
    assert_eq!(credited.credited, Money::from_cents(500));
    assert_eq!(credited.status, InvoiceStatus::Paid);
    // emailed in French with its PDF
    let sent = world.outbox.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].subject,
        format!("Votre avoir Softbrik {}", number(notes[0]))
    );
    assert!(sent[0].text.contains("remboursé"), "{}", sent[0].text);
    assert!(sent[0].attachments[0].bytes.starts_with(b"%PDF"));
    // AND written in the history as support's, with the reason
    let entry = world.tables.history(ACCOUNT).pop().unwrap();
    assert_eq!(entry.action, "credit_note_issued");
    assert_eq!(entry.actor, mandate.actor());
    assert_eq!(entry.details["reason"], "Imprimante en panne une semaine");
}

#[tokio::test]
async fn never_more_than_what_is_left_to_credit() {
    let world = dupont().await;
    let mandate = mandate(&world).await;
    let invoice = paid_invoice(&world);
    let total = invoice.totals.total;
    let beyond = credit(
        &world,
        &mandate,
        &invoice.id,
        Credited::Amount(total + Money::from_cents(1)),
        None,
    )
    .await;
    assert!(
        matches!(beyond, Err(Error::CreditExceedsInvoice { remaining, .. }) if remaining == total),
        "{beyond:?}"
    );
    // The whole of it, then nothing more.
    credit(&world, &mandate, &invoice.id, Credited::Whole, None)
        .await
        .unwrap();
    let more = credit(
        &world,
        &mandate,
        &invoice.id,
        Credited::Amount(Money::from_cents(1)),
        None,
    )
    .await;
    assert!(
        matches!(more, Err(Error::CreditExceedsInvoice { .. })),
        "{more:?}"
    );
    assert_eq!(world.ledger.refunds().len(), 1);
    assert_eq!(world.ledger.refunds()[0].amount, total);
    // A credit note itself is not credited.
    let note = world
        .tables
        .invoices(ACCOUNT)
        .into_iter()
        .find(|i| i.kind == InvoiceKind::CreditNote)
        .unwrap();
    let refused = credit(&world, &mandate, &note.id, Credited::Whole, None).await;
    assert!(matches!(refused, Err(Error::Validation(_))), "{refused:?}");
}

#[tokio::test]
async fn an_unpaid_invoice_credited_in_full_is_void_and_nothing_is_refunded() {
    let world = dupont().await;
    let mandate = mandate(&world).await;
    let mut open = paid_invoice(&world);
    open.id = "inv_open".into();
    open.number = Some("SB-000900".into());
    open.status = InvoiceStatus::Open;
    open.payment.status = softbrik_domain::account::PaymentStatus::Failed;
    world.tables.add_invoice(ACCOUNT, open.clone());
    // (Dupont's only open invoice: it is suspended for it)
    world
        .tables
        .change_account(ACCOUNT, |a| a.status = AccountStatus::Suspended);
    let (_, note) = credit(&world, &mandate, "inv_open", Credited::Whole, None)
        .await
        .unwrap();
    assert_eq!(note["total"], json!(open.totals.total));
    assert!(world.ledger.refunds().is_empty());
    let voided = world
        .tables
        .invoices(ACCOUNT)
        .into_iter()
        .find(|i| i.id == "inv_open")
        .unwrap();
    assert_eq!(voided.status, InvoiceStatus::Void);
    // AND owing nothing, Dupont is active again
    assert_eq!(
        world.tables.account(ACCOUNT).unwrap().status,
        AccountStatus::Active
    );
    // The email says it is deducted from the invoice, not refunded.
    let sent = world.outbox.sent();
    assert!(
        sent[0].text.contains("déduit de la facture SB-000900"),
        "{}",
        sent[0].text
    );
}
