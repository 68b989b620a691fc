//! Giving a user a Brik mid-period (billing.md "Mid-period additions"), in process: GIVEN the
//! table, the partner, the book and the answers in memory, WHEN the admin assigns a Brik, THEN
//! what is charged, stored, numbered, emailed and answered is what billing.md promises, and a
//! refused card or a lost race leaves nothing behind. Fromagerie Dupont's period runs from 12
//! December to 12 January; Inventory (`stock`) costs 8.00 a month, French VAT is 20 %.

mod common;

use common::{ACCOUNT, actions, dupont_paying, refused_as_changed_and_refunded, team};
use jiff::civil::date;
use softbrik_app::Error;
use softbrik_app::memory::World;
use softbrik_app::team::{self, Team};
use softbrik_domain::account::{AccountKind, InvoiceStatus, UserStatus};
use softbrik_domain::catalogue::{Brik, default_catalogue};
use softbrik_domain::money::Money;
use softbrik_domain::refusal::Refusal;

fn catalogue() -> Vec<Brik> {
    default_catalogue()
}

async fn assign(
    world: &World,
    team: &Team,
    user: &str,
    brik: &str,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    team::assign(&world.ports(), team, &catalogue(), user, brik, key).await
}

#[tokio::test]
async fn a_brik_given_mid_period_is_charged_for_the_days_left_numbered_stored_and_emailed() {
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Company);
    // WHEN the admin gives Bob Inventory on 20 December
    let (status, answer) = assign(&world, &team(&world).await, "usr_bob", "stock", Some("k1"))
        .await
        .unwrap();
    // THEN 8.00 x 23/31 = 5.94, and 1.19 VAT: 7.13 charged once, the invoice paid and numbered
    assert_eq!(status, 200);
    let invoices = world.tables.invoices(ACCOUNT);
    assert_eq!(invoices.len(), 1);
    let invoice = &invoices[0];
    assert_eq!(invoice.totals.subtotal, Money::parse("5.94").unwrap());
    assert_eq!(invoice.totals.total, Money::parse("7.13").unwrap());
    assert_eq!(invoice.status, InvoiceStatus::Paid);
    assert!(invoice.number.is_some());
    let charges = world.ledger.charges();
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].0.amount, invoice.totals.total);
    // AND Bob holds it from today, the history says so, the charge is off the book, the
    // invoice is emailed, and the answer shows the invoice as stored
    let stored = world.tables.user(ACCOUNT, "usr_bob").unwrap();
    assert!(
        stored
            .holding(&"stock".parse().unwrap(), date(2026, 12, 20))
            .is_some()
    );
    assert_eq!(actions(&world), ["brik_assigned"]);
    assert!(world.tables.book.entries().is_empty());
    assert_eq!(world.tables.mailed(), vec![invoice.id.clone()]);
    assert_eq!(answer["invoice"]["number"], invoice.number.clone().unwrap());
    assert_eq!(answer["assignment"]["brik_id"], "stock");
    // AND Bob is told at once, in the account's language, which Brik and from when
    let told = world.outbox.sent();
    assert_eq!(told.len(), 1);
    assert_eq!(told[0].to, "bob@dupont.fr");
    assert_eq!(told[0].subject, "Nouveau Brik : Gestion des stocks");
    assert!(told[0].text.contains("2026-12-20"), "{}", told[0].text);
    // WHEN the same request comes again with its key: the same answer, nothing more
    let again = assign(&world, &team(&world).await, "usr_bob", "stock", Some("k1"))
        .await
        .unwrap();
    assert_eq!(again, (200, answer));
    assert_eq!(world.ledger.charges().len(), 1);
    assert_eq!(world.tables.invoices(ACCOUNT).len(), 1);
    assert_eq!(world.outbox.sent().len(), 1);
}

#[tokio::test]
async fn a_brik_already_held_is_answered_without_a_charge() {
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Company);
    let (status, answer) = assign(&world, &team(&world).await, "usr_bob", "files", Some("k1"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(answer.get("invoice").is_none());
    assert!(world.ledger.charges().is_empty());
    assert!(actions(&world).is_empty());
    // AND recorded for the key all the same
    assert!(
        world
            .tables
            .answers
            .record("ACCOUNT#acc_dupont", "k1")
            .unwrap()
            .done
    );
}

#[tokio::test]
async fn after_the_cut_off_the_next_period_is_charged_too() {
    // GIVEN 11 January: the renewal of 12 January is locked without the new Brik
    let world = dupont_paying(date(2027, 1, 11), AccountKind::Company);
    assign(&world, &team(&world).await, "usr_bob", "stock", None)
        .await
        .unwrap();
    // THEN two lines: 8.00 x 1/31 = 0.26 for the day left, 8.00 for the next period
    let invoice = &world.tables.invoices(ACCOUNT)[0];
    assert_eq!(invoice.lines.len(), 2);
    assert_eq!(invoice.totals.subtotal, Money::parse("8.26").unwrap());
}

#[tokio::test]
async fn a_refused_card_writes_only_payment_failed_and_the_key_may_be_used_again() {
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Company);
    *world.ledger.decline.lock().unwrap() = true;
    let refused = assign(&world, &team(&world).await, "usr_bob", "stock", Some("k1")).await;
    assert!(matches!(refused, Err(Error::CardDeclined { .. })));
    let stored = world.tables.user(ACCOUNT, "usr_bob").unwrap();
    assert!(
        stored
            .holding(&"stock".parse().unwrap(), date(2026, 12, 20))
            .is_none()
    );
    assert!(world.tables.invoices(ACCOUNT).is_empty());
    // billing.md "Payment": the refusal is in the history, by the admin, and nothing else
    assert_eq!(actions(&world), ["payment_failed"]);
    let entry = &world.tables.history(ACCOUNT)[0];
    assert_eq!(entry.actor, "user:usr_alice");
    assert_eq!(entry.details["total"], "7.13");
    assert!(world.tables.mailed().is_empty());
    assert!(world.outbox.sent().is_empty(), "Bob is told of no Brik");
    assert_eq!(
        world.tables.answers.record("ACCOUNT#acc_dupont", "k1"),
        None
    );
    // WHEN the admin has fixed the card and sends it again with the same key: it goes through
    *world.ledger.decline.lock().unwrap() = false;
    assign(&world, &team(&world).await, "usr_bob", "stock", Some("k1"))
        .await
        .unwrap();
    assert_eq!(world.tables.invoices(ACCOUNT).len(), 1);
}

#[tokio::test]
async fn a_charge_whose_change_lost_a_race_is_given_back() {
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Company);
    // GIVEN the team read, then Bob changed by another request
    let team = team(&world).await;
    world.tables.touch_user(ACCOUNT, "usr_bob");
    let refused = assign(&world, &team, "usr_bob", "stock", None).await;
    // THEN 409 to retry, no invoice, and the charge made first is refunded
    refused_as_changed_and_refunded(&world, refused);
}

#[tokio::test]
async fn a_free_seat_pays_for_the_brik_and_two_additions_cannot_both_take_the_last_one() {
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Company);
    // GIVEN a seat pack of 1 seat of Inventory, nobody holding it
    world.tables.set_seats(ACCOUNT, "stock", 1);
    // WHEN two admins' requests read the team at once and give it to Alice and to Bob
    let (first, second) = (team(&world).await, team(&world).await);
    let (status, answer) = assign(&world, &first, "usr_bob", "stock", None)
        .await
        .unwrap();
    // THEN the first takes the seat: nothing charged
    assert_eq!(status, 200);
    assert!(answer.get("invoice").is_none());
    assert!(world.ledger.charges().is_empty());
    // AND the second, counted from the same read, is refused: the seat is gone
    let late = assign(&world, &second, "usr_alice", "stock", None).await;
    assert!(matches!(
        late,
        Err(Error::Refused(Refusal::ConcurrentChange(_)))
    ));
    // AND read again, the second is charged: no free seat left
    assign(&world, &team(&world).await, "usr_alice", "stock", None)
        .await
        .unwrap();
    assert_eq!(world.ledger.charges().len(), 1);
}

#[tokio::test]
async fn a_client_accounts_brik_is_not_charged() {
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Client);
    assign(&world, &team(&world).await, "usr_bob", "stock", None)
        .await
        .unwrap();
    assert!(world.ledger.charges().is_empty());
    assert!(world.tables.invoices(ACCOUNT).is_empty());
    assert_eq!(actions(&world), ["brik_assigned"]);
}

#[tokio::test]
async fn refusals_write_nothing() {
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Reseller);
    let team_of_reseller = team(&world).await;
    let refused = assign(&world, &team_of_reseller, "usr_bob", "stock", None).await;
    assert!(matches!(
        refused,
        Err(Error::Refused(Refusal::NotForReseller))
    ));
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Company);
    for (user, brik) in [("usr_bob", "nothing"), ("usr_eve", "stock")] {
        let refused = assign(&world, &team(&world).await, user, brik, None).await;
        assert!(matches!(refused, Err(Error::NotFound)), "{user} {brik}");
    }
    // A user being removed: restore them first
    team::remove_user(&world.ports(), &team(&world).await, "usr_bob", false)
        .await
        .unwrap();
    let refused = assign(&world, &team(&world).await, "usr_bob", "stock", None).await;
    assert!(matches!(
        refused,
        Err(Error::Refused(Refusal::UserRemovalScheduled))
    ));
    assert_eq!(
        world.tables.user(ACCOUNT, "usr_bob").unwrap().status,
        UserStatus::RemovalScheduled
    );
    assert!(world.ledger.charges().is_empty());
}

#[tokio::test]
async fn after_the_cut_off_a_seat_that_ends_with_the_period_pays_for_today_only() {
    // GIVEN 11 January, the renewal locked, and a seat pack of Inventory removed from 12 January
    let world = dupont_paying(date(2027, 1, 11), AccountKind::Company);
    world
        .tables
        .add_seats(ACCOUNT, "stock", 1, Some(date(2027, 1, 12)));
    // WHEN the admin gives Bob Inventory
    let (_, answer) = assign(&world, &team(&world).await, "usr_bob", "stock", None)
        .await
        .unwrap();
    // THEN the seat pays for today; the next period, which no seat covers, is charged now
    let invoice = &world.tables.invoices(ACCOUNT)[0];
    assert_eq!(invoice.lines.len(), 1);
    assert_eq!(invoice.totals.subtotal, Money::parse("8.00").unwrap());
    assert_eq!(answer["invoice"]["id"], invoice.id.clone());
}

#[tokio::test]
async fn after_the_cut_off_a_seat_held_on_pays_for_both_periods() {
    let world = dupont_paying(date(2027, 1, 11), AccountKind::Company);
    world.tables.set_seats(ACCOUNT, "stock", 1);
    let (_, answer) = assign(&world, &team(&world).await, "usr_bob", "stock", None)
        .await
        .unwrap();
    assert!(answer.get("invoice").is_none());
    assert!(world.ledger.charges().is_empty());
}
