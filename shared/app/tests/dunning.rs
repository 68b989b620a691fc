//! Failed renewals (billing.md "Payment"), in process: GIVEN Fromagerie Dupont's renewal of
//! 12 January declined (14.40 open, the account past due), WHEN the retries of the 13th, 15th
//! and 17th or a new card charge it again, THEN it is paid once and the account active, or
//! after the last failure suspended; two retries of the same attempt make one charge.

mod common;

use common::{ACCOUNT, actions, dupont_paying, noon};
use jiff::civil::{Date, date};
use softbrik_app::Error;
use softbrik_app::dunning;
use softbrik_app::memory::World;
use softbrik_app::renewal;
use softbrik_domain::account::{AccountKind, AccountStatus, InvoiceStatus};
use softbrik_domain::refusal::Refusal;

/// GIVEN the renewal of 12 January declined.
async fn declined() -> World {
    let world = dupont_paying(date(2027, 1, 12), AccountKind::Company);
    *world.ledger.decline.lock().unwrap() = true;
    let records = world.ports().billing.renewing(ACCOUNT).await.unwrap();
    renewal::renew(&world.ports(), &records, date(2027, 1, 12), None)
        .await
        .unwrap();
    assert_eq!(
        world.tables.account(ACCOUNT).unwrap().status,
        AccountStatus::PastDue
    );
    world
}

/// WHEN the retry run reaches the account on `day` (or a new card is given: `card_changed`).
async fn retry(world: &World, day: Date, card_changed: bool) -> Result<u32, Error> {
    world.tables.set_now(noon(day));
    dunning::retry_open_invoices(&world.ports(), ACCOUNT, noon(day), card_changed).await
}

fn decline(world: &World, declined: bool) {
    *world.ledger.decline.lock().unwrap() = declined;
}

fn subjects(world: &World) -> Vec<String> {
    world.outbox.sent().into_iter().map(|m| m.subject).collect()
}

fn number(invoice: &softbrik_domain::account::Invoice) -> &str {
    invoice.number.as_deref().unwrap()
}

fn status(world: &World) -> AccountStatus {
    world.tables.account(ACCOUNT).unwrap().status
}

#[tokio::test]
async fn a_retry_that_goes_through_pays_the_invoice_and_makes_the_account_active() {
    let world = declined().await;
    decline(&world, false);
    // WHEN the retry of the 13th goes through
    assert_eq!(retry(&world, date(2027, 1, 13), false).await.unwrap(), 1);
    // THEN the invoice is paid on its second attempt, charged once, emailed
    let invoice = &world.tables.invoices(ACCOUNT)[0];
    assert_eq!(invoice.status, InvoiceStatus::Paid);
    assert_eq!(invoice.payment.attempts, 2);
    assert_eq!(world.ledger.charges().len(), 1);
    // "payment failed" on the 12th, "payment received" with the invoice's PDF on the 13th
    let mails = subjects(&world);
    assert_eq!(
        mails,
        [
            format!(
                "Échec du paiement de la facture Softbrik {}",
                number(invoice)
            ),
            format!("Paiement reçu pour la facture Softbrik {}", number(invoice)),
        ]
    );
    let received = &world.outbox.sent()[1];
    assert_eq!(received.to, "alice@dupont.fr");
    assert_eq!(received.attachments.len(), 1);
    assert!(received.attachments[0].bytes.starts_with(b"%PDF"));
    // AND the account is active again, no longer past due, which the history says
    assert_eq!(status(&world), AccountStatus::Active);
    assert_eq!(world.tables.past_due_since(ACCOUNT), None);
    assert_eq!(
        actions(&world),
        ["renewal_payment_failed", "payment_succeeded"]
    );
    assert!(world.tables.book.entries().is_empty());
    // AND a run after that finds nothing open
    assert_eq!(retry(&world, date(2027, 1, 15), false).await.unwrap(), 0);
    assert_eq!(world.ledger.charges().len(), 1);
}

#[tokio::test]
async fn the_last_retry_declined_suspends_the_account() {
    let world = declined().await;
    // WHEN the retries of the 13th and 15th are declined: still past due
    for day in [date(2027, 1, 13), date(2027, 1, 15)] {
        assert_eq!(retry(&world, day, false).await.unwrap(), 0);
        assert_eq!(status(&world), AccountStatus::PastDue);
    }
    // AND the 17th's too: suspended
    assert_eq!(retry(&world, date(2027, 1, 17), false).await.unwrap(), 0);
    assert_eq!(status(&world), AccountStatus::Suspended);
    let invoice = &world.tables.invoices(ACCOUNT)[0];
    assert_eq!(invoice.status, InvoiceStatus::Open);
    assert_eq!(invoice.payment.attempts, 4);
    assert_eq!(
        actions(&world),
        [
            "renewal_payment_failed",
            "payment_failed",
            "payment_failed",
            "payment_failed"
        ]
    );
    assert!(world.tables.mailed().is_empty());
    // AND five emails, each once: four failures (each naming the next retry, the last the
    // suspension) and the suspension
    let sent = world.outbox.sent();
    assert_eq!(sent.len(), 5, "{:?}", subjects(&world));
    let failed: Vec<&str> = sent[..4].iter().map(|m| m.text.as_str()).collect();
    assert!(failed[0].contains("le 2027-01-13"), "{}", failed[0]);
    assert!(failed[1].contains("le 2027-01-15"), "{}", failed[1]);
    assert!(failed[2].contains("le 2027-01-17"), "{}", failed[2]);
    assert!(failed[3].contains("dernière tentative"), "{}", failed[3]);
    assert!(sent.iter().all(|m| m.to == "alice@dupont.fr"));
    assert!(failed.iter().all(|t| t.contains("VISA **** 4242")));
    assert_eq!(sent[4].subject, "Votre compte Softbrik est suspendu");
    // WHEN the admin gives a new card that works: paid, active, and told
    decline(&world, false);
    assert_eq!(retry(&world, date(2027, 1, 20), true).await.unwrap(), 1);
    assert_eq!(status(&world), AccountStatus::Active);
    assert!(
        subjects(&world)
            .last()
            .unwrap()
            .starts_with("Paiement reçu")
    );
}

#[tokio::test]
async fn a_new_card_declined_never_suspends() {
    let world = declined().await;
    assert_eq!(retry(&world, date(2027, 1, 17), true).await.unwrap(), 0);
    assert_eq!(status(&world), AccountStatus::PastDue);
    assert_eq!(
        world.tables.history(ACCOUNT)[1].actor,
        "payment_method_replaced"
    );
}

#[tokio::test]
async fn two_retries_of_the_same_attempt_make_one_charge_kept_by_the_invoice() {
    let world = declined().await;
    decline(&world, false);
    world.tables.set_now(noon(date(2027, 1, 13)));
    // GIVEN two retries that read the open invoice before either recorded its attempt
    let first = world.ports().billing.dunning(ACCOUNT).await.unwrap();
    let second = world.ports().billing.dunning(ACCOUNT).await.unwrap();
    let at = noon(date(2027, 1, 13));
    assert_eq!(
        dunning::retry(&world.ports(), &first, at, false)
            .await
            .unwrap(),
        1
    );
    // WHEN the second records the same attempt: refused
    let refused = dunning::retry(&world.ports(), &second, at, false).await;
    assert!(matches!(
        refused,
        Err(Error::Refused(Refusal::ConcurrentChange(_)))
    ));
    // THEN one charge (the same key), not given back: the invoice records it
    let charges = world.ledger.charges();
    assert_eq!(charges.len(), 1);
    assert!(!charges[0].1);
    assert_eq!(
        world.tables.invoices(ACCOUNT)[0].status,
        InvoiceStatus::Paid
    );
}

#[tokio::test]
async fn a_paid_attempt_that_cannot_be_recorded_is_given_back_unless_it_may_have_been() {
    // GIVEN a retry whose write is refused outright
    let world = declined().await;
    decline(&world, false);
    *world.tables.fail_next.lock().unwrap() =
        Some(Error::unavailable("the table refused the write"));
    assert!(retry(&world, date(2027, 1, 13), false).await.is_err());
    // THEN its charge is refunded and the invoice still open
    let charges = world.ledger.charges();
    assert_eq!(charges.len(), 1);
    assert!(charges[0].1, "refunded");
    assert_eq!(
        world.tables.invoices(ACCOUNT)[0].status,
        InvoiceStatus::Open
    );
    // AND the next retry charges under the next key and pays it
    assert_eq!(retry(&world, date(2027, 1, 15), false).await.unwrap(), 1);
    assert_eq!(world.ledger.charges().len(), 2);
    assert_eq!(status(&world), AccountStatus::Active);

    // GIVEN a retry whose write may have landed: its charge stays, for the retry
    let world = declined().await;
    decline(&world, false);
    *world.tables.fail_next.lock().unwrap() = Some(Error::InDoubt("no answer".into()));
    assert!(retry(&world, date(2027, 1, 13), false).await.is_err());
    let charges = world.ledger.charges();
    assert_eq!(charges.len(), 1);
    assert!(!charges[0].1, "kept");
    assert_eq!(world.tables.book.entries().len(), 1);
}
