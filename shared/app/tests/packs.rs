//! Add-on packs (billing.md "Add-on packs"), in process: GIVEN Fromagerie Dupont (period 12
//! December to 12 January, Alice and Bob on File storage) in memory, WHEN its admin puts or
//! removes a pack, THEN what is charged now (the days left: 23/31 on 20 December), what ends
//! at the period end, the support plan, a training's ticket and the history are what
//! billing.md promises, and a refused card or a lost race leaves nothing behind.

mod common;

use common::{ACCOUNT, actions, dupont_paying, refused_as_changed_and_refunded, team};
use jiff::civil::{Date, date};
use rust_decimal::Decimal;
use softbrik_app::Error;
use softbrik_app::memory::World;
use softbrik_app::packs;
use softbrik_domain::account::{AccountKind, SupportPlan};
use softbrik_domain::money::Money;
use softbrik_domain::packs::Holding;

const DEC_20: Date = date(2026, 12, 20);
const JAN_12: Date = date(2027, 1, 12);

fn dupont(today: Date) -> World {
    dupont_paying(today, AccountKind::Company)
}

/// A holding of `quantity` units of `pack_id` since 12 December.
fn holding(pack_id: &str, quantity: u32) -> Holding {
    let mut holding = Holding::new(pack_id, date(2026, 12, 12));
    holding.quantity = quantity;
    holding
}

async fn put(
    world: &World,
    pack_id: &str,
    quantity: u32,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    packs::put(&world.ports(), &team(world).await, pack_id, quantity, key).await
}

/// `units` of a pack at `unit_price` for the 23 days left of 31, with 20 % VAT: (net, total).
fn days_left(units: u32, unit_price: &str) -> (Money, Money) {
    let price = Money::parse(unit_price).unwrap().amount();
    let net = Money::new(price * Decimal::from(units) * Decimal::from(23) / Decimal::from(31));
    let vat = Money::new(net.amount() * Decimal::new(20, 2));
    (net, Money::new(net.amount() + vat.amount()))
}

fn pack_of(world: &World, pack_id: &str) -> Option<Holding> {
    world
        .tables
        .packs(ACCOUNT)
        .into_iter()
        .find(|h| h.pack_id == pack_id)
}

#[tokio::test]
async fn seats_bought_mid_period_are_charged_for_the_days_left_once() {
    let world = dupont(DEC_20);
    // WHEN the admin buys ten Inventory seats (7.20 each) on 20 December
    let (status, answer) = put(&world, "seats-stock", 10, Some("k1")).await.unwrap();
    // THEN 10 x 7.20 x 23/31, with VAT, charged once, numbered, emailed
    assert_eq!(status, 200);
    let invoices = world.tables.invoices(ACCOUNT);
    assert_eq!(invoices.len(), 1);
    let (net, total) = days_left(10, "7.20");
    assert_eq!(invoices[0].totals.subtotal, net);
    assert_eq!(invoices[0].totals.total, total);
    assert_eq!(world.ledger.charges().len(), 1);
    assert_eq!(world.tables.mailed(), vec![invoices[0].id.clone()]);
    assert_eq!(
        answer["invoice"]["number"],
        invoices[0].number.clone().unwrap()
    );
    assert_eq!(answer["pack"]["quantity"], 10);
    // AND held from today, the ten units paid for this period, which its renewal leaves out
    let held = pack_of(&world, "seats-stock").unwrap();
    assert_eq!((held.quantity, held.since), (10, DEC_20));
    assert_eq!(held.prepaid.get(&date(2026, 12, 12)), Some(&10));
    assert_eq!(actions(&world), ["pack_added"]);
    // WHEN the same request comes again: the same answer, nothing more
    let again = put(&world, "seats-stock", 10, Some("k1")).await.unwrap();
    assert_eq!(again, (200, answer));
    assert_eq!(world.ledger.charges().len(), 1);
}

#[tokio::test]
async fn seats_for_users_the_period_already_paid_for_are_not_charged_again() {
    let world = dupont(DEC_20);
    // WHEN three File storage seats are bought while Alice and Bob hold File storage
    put(&world, "seats-files", 3, None).await.unwrap();
    // THEN only the seat beyond them is charged: 1 x 5.40 x 23/31
    let invoices = world.tables.invoices(ACCOUNT);
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0].totals.total, days_left(1, "5.40").1);
}

#[tokio::test]
async fn fewer_units_take_effect_at_the_period_end_without_a_refund() {
    let world = dupont(DEC_20);
    world.tables.add_pack(ACCOUNT, holding("emails-1000", 3));
    let (_, answer) = put(&world, "emails-1000", 1, None).await.unwrap();
    assert_eq!(answer["pack"]["next_quantity"], 1);
    assert_eq!(answer["pack"]["resize_on"], "2027-01-12");
    assert!(answer.get("invoice").is_none());
    let held = pack_of(&world, "emails-1000").unwrap();
    assert_eq!((held.quantity, held.next_quantity), (3, Some(1)));
    assert!(world.ledger.charges().is_empty());
    assert_eq!(actions(&world), ["pack_reduced"]);
    // WHEN the admin puts back three: the reduction is undone, free
    put(&world, "emails-1000", 3, None).await.unwrap();
    assert_eq!(pack_of(&world, "emails-1000").unwrap().next_quantity, None);
    assert_eq!(actions(&world), ["pack_reduced", "pack_removal_undone"]);
    assert!(world.ledger.charges().is_empty());
}

#[tokio::test]
async fn a_better_support_plan_is_charged_now_and_replaces_the_other_at_the_period_end() {
    let world = dupont(DEC_20);
    world.tables.add_pack(ACCOUNT, holding("support-pro", 1));
    world
        .tables
        .change_account(ACCOUNT, |a| a.support_plan = SupportPlan::Pro);
    // WHEN the admin takes Enterprise (199.00)
    put(&world, "support-enterprise", 1, None).await.unwrap();
    // THEN it is charged now and applies from today; Pro ends with the period
    assert_eq!(
        world.tables.invoices(ACCOUNT)[0].totals.total,
        days_left(1, "199.00").1
    );
    assert_eq!(
        world.tables.account(ACCOUNT).unwrap().support_plan,
        SupportPlan::Enterprise
    );
    assert_eq!(pack_of(&world, "support-pro").unwrap().until, Some(JAN_12));
    // WHEN the admin goes back to Pro: it starts with the next period, charged by its renewal
    let (_, answer) = put(&world, "support-pro", 1, None).await.unwrap();
    assert_eq!(answer["pack"]["since"], "2027-01-12");
    assert_eq!(world.tables.invoices(ACCOUNT).len(), 1);
    assert_eq!(
        world.tables.account(ACCOUNT).unwrap().support_plan,
        SupportPlan::Enterprise
    );
    assert_eq!(
        pack_of(&world, "support-enterprise").unwrap().until,
        Some(JAN_12)
    );
}

#[tokio::test]
async fn training_sessions_are_charged_and_ask_the_team_to_schedule_them() {
    let world = dupont(DEC_20);
    put(&world, "training", 2, None).await.unwrap();
    assert_eq!(
        world.tables.invoices(ACCOUNT)[0].totals.total,
        days_left(2, "90.00").1
    );
    let tickets = world.tables.tickets(ACCOUNT);
    assert_eq!(tickets.len(), 1);
    assert!(
        tickets[0]
            .description
            .starts_with("2 web onboarding session(s)")
    );
    assert_eq!(tickets[0].requester.as_deref(), Some("usr_alice"));
    assert!(tickets[0].told);
}

#[tokio::test]
async fn a_declined_card_writes_only_payment_failed_and_a_lost_race_is_refunded() {
    let world = dupont(DEC_20);
    *world.ledger.decline.lock().unwrap() = true;
    assert!(matches!(
        put(&world, "training", 1, None).await,
        Err(Error::CardDeclined { .. })
    ));
    assert!(world.tables.packs(ACCOUNT).is_empty());
    assert!(world.tables.tickets(ACCOUNT).is_empty());
    assert_eq!(actions(&world), ["payment_failed"]);
    // GIVEN the team read, then the account changed by another request
    *world.ledger.decline.lock().unwrap() = false;
    let read = team(&world).await;
    world
        .tables
        .change_account(ACCOUNT, |a| a.auto_renew = false);
    let lost = packs::put(&world.ports(), &read, "seats-stock", 2, None).await;
    // THEN the charge is given back and nothing is stored
    refused_as_changed_and_refunded(&world, lost);
    assert!(world.tables.packs(ACCOUNT).is_empty());
}

#[tokio::test]
async fn a_pack_removed_ends_with_the_period_or_the_next_after_the_cut_off() {
    let world = dupont(DEC_20);
    world.tables.add_pack(ACCOUNT, holding("companies", 2));
    let answer = packs::remove(&world.ports(), &team(&world).await, "companies")
        .await
        .unwrap();
    assert_eq!(answer["effective_date"], "2027-01-12");
    assert_eq!(pack_of(&world, "companies").unwrap().until, Some(JAN_12));
    assert_eq!(actions(&world), ["pack_removal_scheduled"]);
    // AND after the cut-off, the next period is already invoiced: it ends a period later
    let late = dupont(date(2027, 1, 11));
    late.tables.add_pack(ACCOUNT, holding("companies", 2));
    let answer = packs::remove(&late.ports(), &team(&late).await, "companies")
        .await
        .unwrap();
    assert_eq!(answer["effective_date"], "2027-02-12");
    // AND a pack not held is not found
    assert!(matches!(
        packs::remove(&world.ports(), &team(&world).await, "training").await,
        Err(Error::NotFound)
    ));
}

#[tokio::test]
async fn out_of_range_quantities_and_unknown_packs_are_refused() {
    let world = dupont(DEC_20);
    for (pack, quantity) in [
        ("seats-stock", 0),
        ("support-pro", 2),
        ("emails-1000", 1001),
    ] {
        assert!(
            matches!(
                put(&world, pack, quantity, None).await,
                Err(Error::Validation(_))
            ),
            "{pack} x {quantity}"
        );
    }
    assert!(matches!(
        put(&world, "payroll", 1, None).await,
        Err(Error::NotFound)
    ));
    assert!(world.tables.packs(ACCOUNT).is_empty());
}

/// The lines of the renewal of 12 January as it stands: (description, quantity, amount).
async fn renewal_draft(world: &World) -> Vec<(String, u32, String)> {
    let records = world.ports().billing.renewing(ACCOUNT).await.unwrap();
    let draft = softbrik_app::renewal::upcoming(&world.ports(), &records, JAN_12, "inv_x".into())
        .await
        .unwrap();
    draft
        .lines
        .iter()
        .map(|l| (l.description.clone(), l.quantity, l.amount.to_string()))
        .collect()
}

#[tokio::test]
async fn seats_bought_after_the_cut_off_pay_the_day_left_and_the_next_period_and_leave_the_locked_renewal_as_it_was()
 {
    // GIVEN 11 January, after the lock of the renewal of 12 January: Alice and Bob hold File
    // storage, billed per user in the locked draft
    let world = dupont(date(2027, 1, 11));
    let locked = renewal_draft(&world).await;
    // WHEN the admin buys three File storage seats (5.40 each)
    let (status, answer) = put(&world, "seats-files", 3, None).await.unwrap();
    assert_eq!(status, 200);
    // THEN the seat beyond Alice and Bob is charged now for the day left, 5.40 x 1/31 = 0.17,
    // plus the whole next period, 5.40: two lines of one invoice, nothing free
    let invoice = &world.tables.invoices(ACCOUNT)[0];
    let amounts: Vec<String> = invoice.lines.iter().map(|l| l.amount.to_string()).collect();
    assert_eq!(amounts, ["0.17", "5.40"]);
    assert_eq!(invoice.totals.subtotal, Money::parse("5.57").unwrap());
    assert_eq!(answer["invoice"]["total"], "6.68");
    // AND the locked renewal is as it was: Alice and Bob per user, no seat line
    assert_eq!(renewal_draft(&world).await, locked);
    // AND from the period after, the three seats are billed and cover Alice and Bob
    let held = pack_of(&world, "seats-files").unwrap();
    assert_eq!(held.renewed_on(JAN_12), 0);
    assert_eq!(held.renewed_on(date(2027, 2, 12)), 3);
}

#[tokio::test]
async fn the_list_shows_the_packs_held_and_those_to_come() {
    let world = dupont(DEC_20);
    world.tables.add_pack(ACCOUNT, holding("emails-1000", 2));
    let mut later = holding("support-pro", 1);
    later.since = JAN_12;
    world.tables.add_pack(ACCOUNT, later);
    let mut ended = holding("companies", 1);
    ended.until = Some(date(2026, 12, 15));
    world.tables.add_pack(ACCOUNT, ended);
    let listed = packs::list(&world.ports(), &team(&world).await)
        .await
        .unwrap();
    let ids: Vec<&str> = listed.iter().map(|p| p.pack_id.as_str()).collect();
    assert_eq!(ids, ["emails-1000", "support-pro"]);
}
