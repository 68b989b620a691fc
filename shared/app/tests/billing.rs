//! The charge rules, in process (security.md, Reliability): GIVEN the partner's ledger and the
//! book of pending charges in memory, WHEN a change's invoice is charged or its charge given
//! back, THEN the partner, the book and the invoice say what billing.md promises: one charge
//! per attempt, never a refunded key charged again, never a charge without its record.

use jiff::Timestamp;
use jiff::civil::date;
use softbrik_app::Error;
use softbrik_app::billing::{self, charge_key};
use softbrik_app::memory::{BookEntry, World};
use softbrik_app::ports::charges::ChargeBook;
use softbrik_domain::account::{Account, Invoice, InvoiceStatus, PaymentStatus};
use softbrik_domain::catalogue::default_catalogue;
use softbrik_domain::examples::{company, visa};
use softbrik_domain::money::Money;
use softbrik_domain::team::{Charge, addition_invoice};
use softbrik_domain::values::Country;

fn now() -> Timestamp {
    "2026-12-20T11:00:00Z".parse().unwrap()
}

/// Fromagerie Dupont, paying by VISA.
fn dupont() -> Account {
    let mut account = company(date(2026, 12, 12));
    account.payment_method = Some(visa());
    account
}

/// Inventory given to Bob on 20 December, for the 23 days left of the period.
fn addition(account: &Account) -> Invoice {
    let catalogue = default_catalogue();
    let inventory = catalogue.iter().find(|b| b.id.as_str() == "stock").unwrap();
    let period = account.current_period(now());
    addition_invoice(
        account,
        &period,
        date(2026, 12, 20),
        &Country::parse("FR").unwrap(),
        "inv_1".into(),
        &[Charge {
            brik: inventory,
            now: true,
            next: false,
        }],
    )
    .unwrap()
}

/// GIVEN a world in memory, Fromagerie Dupont paying by VISA, and its invoice for Inventory.
fn given() -> (World, Account, Invoice) {
    let account = dupont();
    let invoice = addition(&account);
    (World::at(now()), account, invoice)
}

#[tokio::test]
async fn a_charge_is_recorded_in_the_book_before_it_is_made_and_pays_the_invoice() {
    let (world, account, mut invoice) = given();
    billing::charge(&world.ports(), &account, &mut invoice, now())
        .await
        .unwrap();
    // THEN one charge of the invoice's total under its first attempt's key, the invoice paid
    let charges = world.ledger.charges();
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].0.idempotency_key, "inv_1:1");
    assert_eq!(charges[0].0.amount, invoice.totals.total);
    // 8.00 x 23/31 = 5.94, with French VAT at 20 %: 7.13
    assert_eq!(invoice.totals.total, Money::parse("7.13").unwrap());
    assert_eq!(invoice.status, InvoiceStatus::Paid);
    assert_eq!(invoice.payment.status, PaymentStatus::Succeeded);
    assert_eq!(invoice.payment.charge_id.as_deref(), Some("ch_1"));
    // AND the book lists it until the invoice's transaction strikes it off
    assert_eq!(
        world.tables.book.entries().get("inv_1:1"),
        Some(&BookEntry {
            account_id: "acc_dupont".into(),
            invoice_id: "inv_1".into(),
            refunded: false,
            listed: true,
        })
    );
}

#[tokio::test]
async fn the_same_attempt_again_is_the_same_charge() {
    let world = World::at(now());
    let account = dupont();
    let mut first = addition(&account);
    billing::charge(&world.ports(), &account, &mut first, now())
        .await
        .unwrap();
    // WHEN a retry of the request charges the same invoice again (its Lambda stopped)
    let mut again = addition(&account);
    billing::charge(&world.ports(), &account, &mut again, now())
        .await
        .unwrap();
    // THEN the partner made one charge
    assert_eq!(world.ledger.charges().len(), 1);
    assert_eq!(again.payment.charge_id, first.payment.charge_id);
}

#[tokio::test]
async fn nothing_to_pay_is_paid_without_a_charge() {
    let (world, account, mut invoice) = given();
    invoice.totals.total = Money::zero();
    billing::charge(&world.ports(), &account, &mut invoice, now())
        .await
        .unwrap();
    assert_eq!(invoice.status, InvoiceStatus::Paid);
    assert!(world.ledger.charges().is_empty());
    assert!(world.tables.book.entries().is_empty());
}

#[tokio::test]
async fn a_declined_card_counts_the_attempt_and_leaves_nothing_in_the_book() {
    let (world, account, mut invoice) = given();
    *world.ledger.decline.lock().unwrap() = true;
    let refused = billing::charge(&world.ports(), &account, &mut invoice, now()).await;
    assert!(matches!(refused, Err(Error::CardDeclined { .. })));
    assert_eq!(invoice.payment.attempts, 1);
    assert_eq!(invoice.payment.status, PaymentStatus::Failed);
    assert!(invoice.payment.last_error.is_some());
    assert!(world.tables.book.entries().is_empty());
}

#[tokio::test]
async fn a_partner_that_does_not_answer_leaves_the_charge_in_doubt_and_in_the_book() {
    let (world, account, mut invoice) = given();
    *world.ledger.unavailable.lock().unwrap() = true;
    let failed = billing::charge(&world.ports(), &account, &mut invoice, now()).await;
    // THEN the request fails as in doubt (the retry reuses the key), and settlement can find it
    assert!(matches!(failed, Err(Error::InDoubt(_))));
    assert!(world.tables.book.entries()["inv_1:1"].listed);
    // AND a failed write after it refunds nothing: the write may still land
    billing::refund_after(&world.ports(), &invoice, &Error::InDoubt("timeout".into())).await;
    assert!(!world.tables.book.entries()["inv_1:1"].refunded);
}

#[tokio::test]
async fn a_charge_whose_change_cannot_be_written_is_refunded_and_its_key_never_charged_again() {
    let (world, account, mut invoice) = given();
    billing::charge(&world.ports(), &account, &mut invoice, now())
        .await
        .unwrap();
    // WHEN the change's write fails (a conflict): the charge is given back
    billing::refund_after(
        &world.ports(),
        &invoice,
        &Error::unavailable("transaction cancelled"),
    )
    .await;
    let charges = world.ledger.charges();
    assert_eq!(charges.len(), 1);
    assert!(charges[0].1, "the charge is refunded");
    let entry = &world.tables.book.entries()["inv_1:1"];
    assert!(entry.refunded && !entry.listed, "{entry:?}");
    // WHEN the same invoice is charged again (the renewal's next run: same invoice id)
    let mut again = addition(&account);
    billing::charge(&world.ports(), &account, &mut again, now())
        .await
        .unwrap();
    // THEN under the next attempt's key, a new charge, not the refunded one
    assert_eq!(charge_key(&again), "inv_1:2");
    let charges = world.ledger.charges();
    assert_eq!(charges.len(), 2);
    assert!(
        !charges
            .iter()
            .any(|(r, refunded)| r.idempotency_key == "inv_1:2" && *refunded)
    );
}

#[tokio::test]
async fn a_refund_whose_key_cannot_be_marked_is_left_to_settlement() {
    let (world, account, mut invoice) = given();
    billing::charge(&world.ports(), &account, &mut invoice, now())
        .await
        .unwrap();
    *world.tables.book.unavailable.lock().unwrap() = true;
    billing::refund(&world.ports(), &invoice).await;
    // THEN not refunded now (a later charge could reuse an unmarked key), still listed
    assert!(!world.ledger.charges()[0].1);
    assert!(world.tables.book.entries()["inv_1:1"].listed);
}

#[tokio::test]
async fn an_invoice_whose_every_key_was_refunded_is_not_charged() {
    let world = World::at(now());
    let account = dupont();
    for attempt in 1..=billing::MAX_ATTEMPTS {
        world
            .tables
            .book
            .mark_refunded(&format!("inv_1:{attempt}"))
            .await
            .unwrap();
    }
    let mut invoice = addition(&account);
    let refused = billing::charge(&world.ports(), &account, &mut invoice, now()).await;
    assert!(matches!(refused, Err(Error::Internal(_))));
    assert!(world.ledger.charges().is_empty());
}

#[tokio::test]
async fn an_account_billed_through_its_reseller_is_never_charged() {
    let world = World::at(now());
    let mut account = dupont();
    account.payment_method = None;
    let mut invoice = addition(&account);
    let refused = billing::charge(&world.ports(), &account, &mut invoice, now()).await;
    assert!(matches!(refused, Err(Error::Internal(_))));
    assert!(world.ledger.charges().is_empty());
}

#[tokio::test]
async fn a_change_is_stored_only_once_paid_and_its_charge_given_back_if_it_cannot_be() {
    let world = World::at(now());
    let account = dupont();
    // WHEN the change's write is refused (another request changed the user meanwhile)
    let stored: Result<(), Error> = billing::charged(
        &world.ports(),
        &account,
        Some(addition(&account)),
        now(),
        async |invoice: Option<Invoice>| {
            // THEN it is written with the invoice paid
            let invoice = invoice.unwrap();
            assert_eq!(invoice.status, InvoiceStatus::Paid);
            assert!(invoice.payment.charge_id.is_some());
            Err(Error::Refused(
                softbrik_domain::refusal::Refusal::ConcurrentChange("retry"),
            ))
        },
    )
    .await;
    // THEN the refusal is answered and the charge given back
    assert!(matches!(stored, Err(Error::Refused(_))));
    assert!(world.ledger.charges()[0].1);
    // WHEN the card is declined: nothing is written at all
    *world.ledger.decline.lock().unwrap() = true;
    let mut wrote = false;
    let declined: Result<(), Error> = billing::charged(
        &world.ports(),
        &account,
        Some(addition(&account)),
        now(),
        async |_: Option<Invoice>| {
            wrote = true;
            Ok(())
        },
    )
    .await;
    assert!(matches!(declined, Err(Error::CardDeclined { .. })));
    assert!(!wrote);
}

#[tokio::test]
async fn a_change_whose_write_may_still_land_keeps_its_charge() {
    let world = World::at(now());
    let account = dupont();
    let stored: Result<(), Error> = billing::charged(
        &world.ports(),
        &account,
        Some(addition(&account)),
        now(),
        async |_: Option<Invoice>| Err(Error::InDoubt("timeout".into())),
    )
    .await;
    assert!(matches!(stored, Err(Error::InDoubt(_))));
    assert!(
        !world.ledger.charges()[0].1,
        "not refunded: the retry or settlement decides"
    );
    assert!(world.tables.book.entries()["inv_1:1"].listed);
}

#[tokio::test]
async fn a_change_with_nothing_to_pay_is_stored_without_a_charge() {
    let world = World::at(now());
    let account = dupont();
    let stored = billing::charged(
        &world.ports(),
        &account,
        None,
        now(),
        async |invoice: Option<Invoice>| Ok::<_, Error>(invoice.is_none()),
    )
    .await;
    assert!(stored.unwrap());
    assert!(world.ledger.charges().is_empty());
}

#[tokio::test]
async fn settlement_keeps_a_charge_whose_invoice_was_stored_and_refunds_one_whose_change_was_not() {
    // GIVEN two charges left in the book by requests that stopped: one whose invoice was
    // stored, one whose change never was
    let (world, account, mut stored) = given();
    world.tables.add_account(account.clone());
    billing::charge(&world.ports(), &account, &mut stored, now())
        .await
        .unwrap();
    world.tables.add_invoice(&account.id, stored.clone());
    let mut lost = addition(&account);
    lost.id = "inv_2".into();
    billing::charge(&world.ports(), &account, &mut lost, now())
        .await
        .unwrap();
    // AND the partner does not answer the first run's refund
    *world.ledger.unavailable.lock().unwrap() = true;
    let first = billing::settle(&world.ports(), now()).await.unwrap();
    assert_eq!((first.applied, first.refunded, first.left), (1, 0, 1));
    // THEN the stored invoice's charge is struck off, kept; the other marked given back
    let book = world.tables.book.entries();
    assert!(!book.contains_key("inv_1:1"));
    assert!(book["inv_2:1"].refunded && book["inv_2:1"].listed);
    // WHEN the next run finds the partner back: refunded once, no longer listed, and its
    // key never charged again
    *world.ledger.unavailable.lock().unwrap() = false;
    let next = billing::settle(&world.ports(), now()).await.unwrap();
    assert_eq!((next.applied, next.refunded, next.left), (0, 1, 0));
    let charges = world.ledger.charges();
    assert_eq!(charges.len(), 2);
    assert!(
        !charges
            .iter()
            .find(|c| c.0.idempotency_key == "inv_1:1")
            .unwrap()
            .1
    );
    assert!(
        charges
            .iter()
            .find(|c| c.0.idempotency_key == "inv_2:1")
            .unwrap()
            .1
    );
    assert!(!world.tables.book.entries()["inv_2:1"].listed);
    let again = billing::settle(&world.ports(), now()).await.unwrap();
    assert_eq!((again.applied, again.refunded, again.left), (0, 0, 0));
    assert_eq!(
        world
            .ports()
            .charges
            .record(&account.id, "inv_2", "inv_2:1")
            .await
            .unwrap(),
        softbrik_app::ports::charges::Recording::Refunded
    );
}
