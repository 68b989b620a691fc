//! The renewal of a period (billing.md "What is billed", "Payment", "Billing period",
//! "Resellers"), in process: GIVEN the table, the partner, the book and the mail in memory,
//! WHEN a period ends, THEN what is charged, stored, numbered and emailed is what billing.md
//! promises, once, whatever runs twice or fails half way. Fromagerie Dupont's periods start
//! on the 12th; Alice and Bob hold File storage (6.00 a month) since 12 December; French VAT
//! is 20 %.

mod common;

use common::{ACCOUNT, actions, dupont_paying, noon, refused_as_changed_and_refunded};
use jiff::civil::{Date, date};
use softbrik_app::Error;
use softbrik_app::memory::World;
use softbrik_app::ports::team::Stamp;
use softbrik_app::renewal::{self, Renewed};
use softbrik_domain::account::{AccountKind, AccountStatus, InvoiceKind, InvoiceStatus};
use softbrik_domain::invoice::UsagePeak;
use softbrik_domain::money::Money;
use softbrik_domain::packs::Holding;

/// The renewal's billing date.
const JAN_12: Date = date(2027, 1, 12);

fn money(s: &str) -> Money {
    Money::parse(s).unwrap()
}

/// Dupont on `today`, paying for itself.
fn dupont(today: Date) -> World {
    dupont_paying(today, AccountKind::Company)
}

/// WHEN the renew run reaches the account on `date` (its own read, no schedule move).
async fn renew(world: &World, date: Date) -> Result<Renewed, Error> {
    let records = world.ports().billing.renewing(ACCOUNT).await?;
    renewal::renew(&world.ports(), &records, date, None).await
}

/// A billing run's schedule move, stored with the renewal.
fn schedule_move() -> Option<Stamp> {
    Some(Stamp::new("the run's move"))
}

#[tokio::test]
async fn the_period_end_bills_each_brik_held_at_the_full_price_charged_numbered_and_emailed() {
    let world = dupont(JAN_12);
    // WHEN the period starting on 12 January is renewed
    let renewed = renew(&world, JAN_12).await.unwrap();
    // THEN one line, File storage x 2 users at 6.00: 12.00, 2.40 VAT, 14.40 charged once
    let invoice = renewed.invoice.expect("an invoice");
    assert_eq!(invoice.kind, InvoiceKind::Renewal);
    assert_eq!(invoice.lines.len(), 1);
    assert_eq!(invoice.lines[0].quantity, 2);
    assert_eq!(invoice.totals.subtotal, money("12.00"));
    assert_eq!(invoice.totals.total, money("14.40"));
    assert_eq!(invoice.status, InvoiceStatus::Paid);
    assert_eq!(invoice.issue_date, JAN_12);
    assert!(invoice.number.is_some());
    let stored: Vec<String> = world
        .tables
        .invoices(ACCOUNT)
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(stored, vec![invoice.id.clone()]);
    let charges = world.ledger.charges();
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].0.amount, money("14.40"));
    assert!(!charges[0].1, "not refunded");
    // AND the charge is off the book, the invoice emailed, the history says so, and the
    // account is untouched
    assert!(world.tables.book.entries().is_empty());
    assert_eq!(world.tables.mailed(), vec![invoice.id.clone()]);
    assert_eq!(actions(&world), ["renewal"]);
    assert!(!renewed.wrote);
    // WHEN the run comes again: nothing more
    let again = renew(&world, JAN_12).await.unwrap();
    assert!(again.invoice.is_none());
    assert_eq!(world.ledger.charges().len(), 1);
    assert_eq!(world.tables.invoices(ACCOUNT).len(), 1);
    assert_eq!(world.tables.mailed().len(), 1);
}

#[tokio::test]
async fn two_runs_at_once_issue_one_invoice_and_one_charge() {
    let world = dupont(JAN_12);
    // GIVEN two runs that both read the account before either stored its renewal (the second
    // planned from the schedule, so it does not look the invoice up)
    let first = world.ports().billing.renewing(ACCOUNT).await.unwrap();
    let second = world.ports().billing.renewing(ACCOUNT).await.unwrap();
    // WHEN both renew
    let one = renewal::renew(&world.ports(), &first, JAN_12, None)
        .await
        .unwrap();
    let other = renewal::renew(&world.ports(), &second, JAN_12, schedule_move())
        .await
        .unwrap();
    // THEN the first issued it; the second's charge (same key) was the first's, kept
    assert!(one.invoice.is_some());
    assert!(other.invoice.is_none());
    assert!(!other.moved);
    assert_eq!(world.tables.invoices(ACCOUNT).len(), 1);
    let charges = world.ledger.charges();
    assert_eq!(charges.len(), 1);
    assert!(!charges[0].1, "the invoice's charge is never refunded");
    assert_eq!(world.tables.mailed().len(), 1);
}

#[tokio::test]
async fn a_run_planned_from_the_schedule_moves_it_with_the_renewal() {
    let world = dupont(JAN_12);
    let records = world.ports().billing.renewing(ACCOUNT).await.unwrap();
    let renewed = renewal::renew(&world.ports(), &records, JAN_12, schedule_move())
        .await
        .unwrap();
    assert!(renewed.invoice.is_some());
    assert!(renewed.moved);
    assert_eq!(world.tables.schedule_moves(ACCOUNT), 1);
}

#[tokio::test]
async fn a_declined_card_leaves_the_invoice_open_and_the_account_past_due() {
    let world = dupont(JAN_12);
    *world.ledger.decline.lock().unwrap() = true;
    // WHEN the renewal's charge is declined
    let renewed = renew(&world, JAN_12).await.unwrap();
    // THEN the invoice is stored open and numbered, its attempt counted; not emailed as paid
    let invoice = renewed.invoice.expect("the invoice");
    assert_eq!(invoice.status, InvoiceStatus::Open);
    assert_eq!(invoice.payment.attempts, 1);
    assert!(invoice.number.is_some());
    assert!(world.tables.mailed().is_empty());
    // AND the account is past due since the billing date, which the history says
    let account = world.tables.account(ACCOUNT).unwrap();
    assert_eq!(account.status, AccountStatus::PastDue);
    assert_eq!(world.tables.past_due_since(ACCOUNT), Some(JAN_12));
    assert_eq!(actions(&world), ["renewal_payment_failed"]);
    assert!(renewed.wrote);
    // AND nothing is left in the book to settle
    assert!(world.tables.book.entries().is_empty());
}

#[tokio::test]
async fn seat_packs_take_users_off_consumption_and_are_billed_at_their_price() {
    let world = dupont(JAN_12);
    // GIVEN one seat of File storage (5.40: 10 % off) held since December
    world.tables.add_seats(ACCOUNT, "files", 1, None);
    // AND the Pro support plan (49.00)
    let mut pro = Holding::new("support-pro", date(2026, 12, 20));
    pro.quantity = 1;
    world.tables.add_pack(ACCOUNT, pro);
    let invoice = renew(&world, JAN_12).await.unwrap().invoice.unwrap();
    // THEN File storage x 1 (6.00), the seat (5.40) and the plan (49.00): 60.40, 72.48
    let amounts: Vec<(u32, Money)> = invoice
        .lines
        .iter()
        .map(|l| (l.quantity, l.amount))
        .collect();
    assert_eq!(
        amounts,
        vec![(1, money("6.00")), (1, money("5.40")), (1, money("49.00"))]
    );
    assert_eq!(invoice.totals.total, money("72.48"));
}

#[tokio::test]
async fn units_a_pack_paid_when_bought_are_not_billed_again() {
    let world = dupont(JAN_12);
    // GIVEN the Pro plan bought after the cut-off: its charge paid the next period too
    let mut pro = Holding::new("support-pro", date(2027, 1, 11));
    pro.quantity = 1;
    pro.prepaid.insert(JAN_12, 1);
    world.tables.add_pack(ACCOUNT, pro);
    let invoice = renew(&world, JAN_12).await.unwrap().invoice.unwrap();
    // THEN only the users' Brik is billed
    assert_eq!(invoice.lines.len(), 1);
    assert_eq!(invoice.totals.total, money("14.40"));
}

#[tokio::test]
async fn nothing_held_bills_nothing() {
    let world = dupont(JAN_12);
    for user in ["usr_alice", "usr_bob"] {
        let mut stored = world.tables.user(ACCOUNT, user).unwrap();
        stored.briks.clear();
        world.tables.add_user(ACCOUNT, stored);
    }
    let renewed = renew(&world, JAN_12).await.unwrap();
    assert!(renewed.invoice.is_none());
    assert!(world.ledger.charges().is_empty());
    assert!(world.tables.invoices(ACCOUNT).is_empty());
}

#[tokio::test]
async fn auto_renew_off_lapses_the_account_without_a_charge() {
    let world = dupont(JAN_12);
    world
        .tables
        .change_account(ACCOUNT, |a| a.auto_renew = false);
    let renewed = renew(&world, JAN_12).await.unwrap();
    // THEN lapsed, its data kept, nothing billed
    assert!(renewed.wrote);
    assert!(renewed.invoice.is_none());
    let account = world.tables.account(ACCOUNT).unwrap();
    assert_eq!(account.status, AccountStatus::Lapsed);
    assert_eq!(actions(&world), ["lapsed"]);
    assert!(world.ledger.charges().is_empty());
    assert!(world.tables.user(ACCOUNT, "usr_bob").is_some());
}

#[tokio::test]
async fn an_account_not_running_or_another_day_is_not_renewed() {
    // GIVEN a client account (billed through its reseller), a suspended company, a closed one
    let client = dupont_paying(JAN_12, AccountKind::Client);
    assert!(renew(&client, JAN_12).await.unwrap().invoice.is_none());
    for status in [AccountStatus::Suspended, AccountStatus::Closed] {
        let world = dupont(JAN_12);
        world.tables.change_account(ACCOUNT, |a| a.status = status);
        assert!(renew(&world, JAN_12).await.unwrap().invoice.is_none());
        assert!(world.ledger.charges().is_empty());
    }
    // AND a day that is not a billing date of the account
    let world = dupont(date(2027, 1, 13));
    assert!(
        renew(&world, date(2027, 1, 13))
            .await
            .unwrap()
            .invoice
            .is_none()
    );
    assert!(world.ledger.charges().is_empty());
}

#[tokio::test]
async fn an_account_changed_during_its_renewal_gets_its_charge_back() {
    let world = dupont(JAN_12);
    // GIVEN a run that read the account, then another request changed it
    let records = world.ports().billing.renewing(ACCOUNT).await.unwrap();
    world.tables.change_account(ACCOUNT, |a| {
        a.language = softbrik_domain::values::Language::En
    });
    // WHEN the run renews with its schedule move (conditional on the account as read)
    let refused = renewal::renew(&world.ports(), &records, JAN_12, schedule_move()).await;
    // THEN refused, nothing stored, the charge given back and marked so in the book
    refused_as_changed_and_refunded(&world, refused);
    let book = world.tables.book.entries();
    assert!(book.values().all(|e| e.refunded && !e.listed));
    // AND the next run charges under another key, never the refunded one
    let invoice = renew(&world, JAN_12).await.unwrap().invoice.unwrap();
    assert_eq!(invoice.payment.attempts, 2);
    assert_eq!(invoice.status, InvoiceStatus::Paid);
    let charges = world.ledger.charges();
    assert_eq!(charges.len(), 2);
    assert_eq!(charges.iter().filter(|(_, refunded)| !refunded).count(), 1);
}

#[tokio::test]
async fn a_write_in_doubt_keeps_the_charge_for_the_retry() {
    let world = dupont(JAN_12);
    *world.tables.fail_next.lock().unwrap() =
        Some(Error::InDoubt("the table did not answer".into()));
    let failed = renew(&world, JAN_12).await;
    assert!(matches!(failed, Err(Error::InDoubt(_))));
    // THEN the charge stays, listed for the retry or the settlement run
    let charges = world.ledger.charges();
    assert_eq!(charges.len(), 1);
    assert!(!charges[0].1);
    assert_eq!(world.tables.book.entries().len(), 1);
    // WHEN the run comes again: the same key, so the same charge, stored this time
    let invoice = renew(&world, JAN_12).await.unwrap().invoice.unwrap();
    assert_eq!(world.ledger.charges().len(), 1);
    assert_eq!(invoice.payment.charge_id.as_deref(), Some("ch_1"));
    assert!(world.tables.book.entries().is_empty());
}

/// GIVEN a reseller whose clients peaked at 7 active users on 3 January.
fn reseller(status: AccountStatus) -> World {
    let world = dupont(JAN_12);
    world.tables.change_account(ACCOUNT, |a| {
        a.kind = AccountKind::Reseller;
        a.status = status;
    });
    world.tables.set_peak(
        ACCOUNT,
        UsagePeak {
            max_active_users: 7,
            reached_on: date(2027, 1, 3),
        },
    );
    world
}

#[tokio::test]
async fn a_reseller_is_billed_its_clients_peak_for_the_period_that_ends() {
    let world = reseller(AccountStatus::Active);
    let invoice = renew(&world, JAN_12).await.unwrap().invoice.unwrap();
    // THEN 7 users x 5.00 for 12 December to 12 January: 35.00, 42.00 with VAT
    assert_eq!(invoice.lines.len(), 1);
    assert_eq!(invoice.lines[0].usage.unwrap().max_active_users, 7);
    assert_eq!(invoice.period.start(), date(2026, 12, 12));
    assert_eq!(invoice.totals.total, money("42.00"));
    assert_eq!(invoice.status, InvoiceStatus::Paid);
    // AND once
    assert!(renew(&world, JAN_12).await.unwrap().invoice.is_none());
    assert_eq!(world.ledger.charges().len(), 1);
}

#[tokio::test]
async fn a_suspended_reseller_declined_again_stays_suspended_from_its_first_failure() {
    let world = reseller(AccountStatus::Suspended);
    world.tables.set_past_due_since(ACCOUNT, date(2026, 12, 15));
    *world.ledger.decline.lock().unwrap() = true;
    let invoice = renew(&world, JAN_12).await.unwrap().invoice.unwrap();
    assert_eq!(invoice.status, InvoiceStatus::Open);
    assert_eq!(
        world.tables.account(ACCOUNT).unwrap().status,
        AccountStatus::Suspended
    );
    assert_eq!(
        world.tables.past_due_since(ACCOUNT),
        Some(date(2026, 12, 15))
    );
}

#[tokio::test]
async fn a_reseller_turning_auto_renew_off_pays_its_last_period_then_lapses() {
    let world = reseller(AccountStatus::Active);
    world
        .tables
        .change_account(ACCOUNT, |a| a.auto_renew = false);
    let renewed = renew(&world, JAN_12).await.unwrap();
    assert_eq!(renewed.invoice.unwrap().totals.total, money("42.00"));
    assert_eq!(
        world.tables.account(ACCOUNT).unwrap().status,
        AccountStatus::Lapsed
    );
    assert_eq!(actions(&world), ["renewal", "lapsed"]);
}

/// WHEN the reminder run reaches the account for the renewal on 12 January.
async fn remind(world: &World) -> Result<bool, Error> {
    let records = world.ports().billing.renewing(ACCOUNT).await?;
    renewal::remind(&world.ports(), &records, JAN_12).await
}

#[tokio::test]
async fn the_admin_is_reminded_once_of_what_the_renewal_will_bill() {
    let world = dupont(date(2027, 1, 5));
    assert!(remind(&world).await.unwrap());
    // THEN one mail to Alice, in French, with the projected total and the cut-off
    let sent = world.outbox.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "alice@dupont.fr");
    assert!(
        sent[0].subject.contains("2027-01-12"),
        "{}",
        sent[0].subject
    );
    assert!(sent[0].text.contains("14,40"), "{}", sent[0].text);
    assert!(sent[0].text.contains("2027-01-10"), "{}", sent[0].text);
    // AND nothing was charged or stored; a second run sends nothing
    assert!(world.ledger.charges().is_empty());
    assert!(world.tables.invoices(ACCOUNT).is_empty());
    assert!(!remind(&world).await.unwrap());
    assert_eq!(world.outbox.sent().len(), 1);
}

#[tokio::test]
async fn a_reminder_that_could_not_be_sent_is_sent_by_the_next_run() {
    let world = dupont(date(2027, 1, 5));
    *world.outbox.unavailable.lock().unwrap() = true;
    assert!(remind(&world).await.is_err());
    assert!(world.tables.reminded(ACCOUNT).is_empty());
    *world.outbox.unavailable.lock().unwrap() = false;
    assert!(remind(&world).await.unwrap());
    assert_eq!(world.outbox.sent().len(), 1);
    assert_eq!(world.tables.reminded(ACCOUNT), vec![JAN_12]);
}

#[tokio::test]
async fn no_reminder_once_the_billing_date_has_come_or_for_an_account_not_renewing() {
    let late = dupont(JAN_12);
    assert!(!remind(&late).await.unwrap());
    let closed = dupont(date(2027, 1, 5));
    closed
        .tables
        .change_account(ACCOUNT, |a| a.status = AccountStatus::Closed);
    assert!(!remind(&closed).await.unwrap());
    assert!(late.outbox.sent().is_empty() && closed.outbox.sent().is_empty());
}

#[tokio::test]
async fn the_upcoming_invoice_is_the_renewal_as_it_stands_locked_the_day_before() {
    let world = dupont(date(2027, 1, 10));
    let records = world.ports().billing.renewing(ACCOUNT).await.unwrap();
    let upcoming = renewal::next_renewal(&world.ports(), &records)
        .await
        .unwrap();
    assert_eq!(upcoming.invoice.status, InvoiceStatus::Draft);
    assert_eq!(upcoming.invoice.totals.total, money("14.40"));
    assert!(upcoming.invoice.number.is_none());
    assert_eq!(upcoming.changes_counted_until, date(2027, 1, 10));
    assert!(!upcoming.locked);
    // THEN locked from the day before the billing date
    world.tables.set_now(noon(date(2027, 1, 11)));
    let upcoming = renewal::next_renewal(&world.ports(), &records)
        .await
        .unwrap();
    assert!(upcoming.locked);
    // AND a client account's is its reseller's business
    let client = dupont_paying(date(2027, 1, 10), AccountKind::Client);
    let records = client.ports().billing.renewing(ACCOUNT).await.unwrap();
    assert!(matches!(
        renewal::next_renewal(&client.ports(), &records).await,
        Err(Error::Refused(_))
    ));
}

/// WHEN the renew run's job reaches the account's period end on `date`.
async fn period_end(world: &World, date: Date) -> renewal::PeriodEnd {
    let team = world.ports().table.team(ACCOUNT).await.unwrap();
    let records = world.ports().billing.renewing(ACCOUNT).await.unwrap();
    renewal::period_end(&world.ports(), team, records, date, None)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_period_end_applies_removals_and_pack_changes_then_renews_what_is_left() {
    let world = dupont(JAN_12);
    // GIVEN Bob removed from 12 January, the Pro plan ending then, three e-mail credit packs
    // reduced to one then, and the account on the Pro plan
    let mut bob = world.tables.user(ACCOUNT, "usr_bob").unwrap();
    bob.removal_date = Some(JAN_12);
    world.tables.add_user(ACCOUNT, bob);
    let mut pro = Holding::new("support-pro", date(2026, 12, 12));
    pro.quantity = 1;
    pro.until = Some(JAN_12);
    world.tables.add_pack(ACCOUNT, pro);
    let mut emails = Holding::new("emails-1000", date(2026, 12, 12));
    emails.quantity = 3;
    emails.next_quantity = Some(1);
    emails.resize_on = Some(JAN_12);
    world.tables.add_pack(ACCOUNT, emails);
    world.tables.change_account(ACCOUNT, |a| {
        a.support_plan = softbrik_domain::account::SupportPlan::Pro
    });
    // WHEN the period ends
    let ended = period_end(&world, JAN_12).await;
    // THEN Bob is gone, the plan ended, the credits reduced, the account back on Basic
    assert_eq!((ended.removals, ended.pack_changes), (1, 3));
    assert!(world.tables.user(ACCOUNT, "usr_bob").is_none());
    let packs = world.tables.packs(ACCOUNT);
    assert_eq!(packs.len(), 1);
    assert_eq!(
        (packs[0].pack_id.as_str(), packs[0].quantity),
        ("emails-1000", 1)
    );
    assert_eq!(
        world.tables.account(ACCOUNT).unwrap().support_plan,
        softbrik_domain::account::SupportPlan::Basic
    );
    // AND the renewal bills what is left: Alice's File storage (6.00) and one credit pack
    // (10.00): 16.00, 19.20 with VAT
    let invoice = ended.renewed.invoice.expect("the renewal");
    assert_eq!(invoice.totals.subtotal, money("16.00"));
    assert_eq!(invoice.totals.total, money("19.20"));
    assert_eq!(
        actions(&world),
        [
            "user_removed",
            "pack_removed",
            "pack_reduced_applied",
            "support_plan_changed",
            "renewal"
        ]
    );
    // WHEN the job runs again: nothing more
    let again = period_end(&world, JAN_12).await;
    assert_eq!((again.removals, again.pack_changes), (0, 0));
    assert!(again.renewed.invoice.is_none());
    assert_eq!(world.ledger.charges().len(), 1);
    assert_eq!(actions(&world).len(), 5);
}

#[tokio::test]
async fn a_pack_changed_during_the_period_end_is_left_for_the_next_run() {
    let world = dupont(JAN_12);
    let mut pro = Holding::new("support-pro", date(2026, 12, 12));
    pro.quantity = 1;
    pro.until = Some(JAN_12);
    world.tables.add_pack(ACCOUNT, pro);
    // GIVEN a run that read the account, then an admin changed it
    let team = world.ports().table.team(ACCOUNT).await.unwrap();
    let records = world.ports().billing.renewing(ACCOUNT).await.unwrap();
    world
        .tables
        .change_account(ACCOUNT, |a| a.auto_renew = true);
    // WHEN the run ends the period: refused as unavailable, nothing written, nothing charged
    let refused = renewal::period_end(&world.ports(), team, records, JAN_12, None).await;
    assert!(matches!(
        refused,
        Err(Error::Refused(_)) | Err(Error::Unavailable(_))
    ));
    assert_eq!(world.tables.packs(ACCOUNT).len(), 1);
    assert!(world.ledger.charges().is_empty());
    // AND the next run does it all
    let ended = period_end(&world, JAN_12).await;
    assert_eq!(ended.pack_changes, 1);
    assert!(ended.renewed.invoice.is_some());
}
