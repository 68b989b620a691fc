//! A reseller's client accounts (billing.md "Resellers billed on maximum active users"), in
//! process: GIVEN a reseller in memory, WHEN it creates a client account, THEN the client, its
//! admin's sign-in, both histories and the reseller's count are made once, nothing is charged,
//! and a refusal leaves no sign-in behind. WHEN it lists its clients, THEN a page at a time
//! with their active users and trials; WHEN it reads a client's users, THEN only its own
//! client's, present today; WHEN it reads its usage, THEN the users billed now and the peak of
//! the period so far, with the day it was reached.

mod common;

use common::{ACCOUNT, actions, noon};
use jiff::Timestamp;
use jiff::civil::{Date, date};
use softbrik_app::Error;
use softbrik_app::memory::World;
use softbrik_app::resellers::{
    ClientSummary, UsageView, client_users, create_client, list_clients, usage,
};
use softbrik_domain::account::{Account, AccountKind, AccountStatus, Role};
use softbrik_domain::examples::{company, new_client, user};
use softbrik_domain::refusal::Refusal;
use softbrik_domain::resellers::{NewClient, client_account};

/// GIVEN Dupont as a reseller (`status`), on 12 December.
fn reseller(status: AccountStatus) -> World {
    let world = World::at(noon(date(2026, 12, 12)));
    let mut account = company(date(2026, 12, 1));
    account.kind = AccountKind::Reseller;
    account.status = status;
    world.tables.add_account(account);
    world
}

fn martin() -> NewClient {
    new_client(Some(date(2026, 12, 31)))
}

async fn create(world: &World, key: Option<&str>) -> Result<(u16, serde_json::Value), Error> {
    let reseller = world.ports().accounts.account(ACCOUNT).await?;
    let request = serde_json::json!({"company_name": "Boulangerie Martin"});
    create_client(
        &world.ports(),
        &reseller,
        noon(date(2026, 12, 12)),
        "user:usr_alice",
        martin(),
        request,
        key,
    )
    .await
}

#[tokio::test]
async fn a_client_account_is_made_once_with_its_admin_and_counted_for_the_reseller() {
    let world = reseller(AccountStatus::Active);
    let (status, answer) = create(&world, Some("k1")).await.unwrap();
    assert_eq!(status, 201);
    let client_id = answer["account"]["id"].as_str().unwrap().to_string();
    // THEN a client account of the reseller, its admin signed in, nothing charged
    let client = world.tables.account(&client_id).unwrap();
    assert_eq!(client.kind, AccountKind::Client);
    assert_eq!(client.reseller_id.as_deref(), Some(ACCOUNT));
    assert!(client.payment_method.is_none());
    assert_eq!(client.trial_until, Some(date(2026, 12, 31)));
    let sign_in = world.sign_ins.get("paul@martin.fr").unwrap();
    assert_eq!(
        (sign_in.account_id.as_str(), sign_in.group.as_str()),
        (client_id.as_str(), "admin")
    );
    assert!(world.ledger.charges().is_empty());
    // AND both histories say so; the admin is the client's first active user
    assert_eq!(actions(&world), ["client_created"]);
    assert_eq!(
        world.tables.history(&client_id)[0].actor,
        "reseller:user:usr_alice"
    );
    assert_eq!(world.tables.counted(&client_id), 1);
    // WHEN the same request comes again: the same answer, nothing more
    let again = create(&world, Some("k1")).await.unwrap();
    assert_eq!(again, (201, answer));
    assert_eq!(world.tables.account_ids().len(), 2);
}

#[tokio::test]
async fn an_address_already_used_is_refused_before_anything_is_made() {
    let world = reseller(AccountStatus::Active);
    create(&world, None).await.unwrap();
    assert!(matches!(create(&world, None).await, Err(Error::EmailTaken)));
    assert_eq!(world.tables.account_ids().len(), 2);
}

#[tokio::test]
async fn only_an_active_reseller_adds_clients() {
    let suspended = reseller(AccountStatus::Suspended);
    assert!(matches!(
        create(&suspended, None).await,
        Err(Error::Refused(Refusal::AccountNotActive(_)))
    ));
    let world = World::at(noon(date(2026, 12, 12)));
    world.tables.add_account(company(date(2026, 12, 1)));
    assert!(matches!(
        create(&world, None).await,
        Err(Error::Refused(Refusal::NotAReseller))
    ));
    assert!(suspended.sign_ins.get("paul@martin.fr").is_none());
}

#[tokio::test]
async fn a_refused_write_leaves_no_sign_in_and_one_in_doubt_keeps_it_for_the_retry() {
    let world = reseller(AccountStatus::Active);
    *world.tables.fail_next.lock().unwrap() = Some(Error::unavailable("refused"));
    assert!(create(&world, None).await.is_err());
    assert!(world.sign_ins.get("paul@martin.fr").is_none());
    assert_eq!(world.tables.account_ids().len(), 1);
    *world.tables.fail_next.lock().unwrap() = Some(Error::InDoubt("no answer".into()));
    assert!(create(&world, Some("k2")).await.is_err());
    assert!(world.sign_ins.get("paul@martin.fr").is_some());
    let (status, _) = create(&world, Some("k2")).await.unwrap();
    assert_eq!(status, 201);
}

/// GIVEN a client account `id` of `reseller_id` (its trial ending after `trial_until`), made on
/// 1 December, with `active` users counted for its reseller.
fn client(
    world: &World,
    reseller_id: &str,
    id: &str,
    trial_until: Option<Date>,
    active: i64,
) -> Account {
    let reseller = world.tables.account(reseller_id).expect("the reseller");
    let mut new = new_client(None);
    new.trial_until = trial_until;
    let account = client_account(&reseller, &new, id.into(), noon(date(2026, 12, 1)));
    world.tables.add_account(account.clone());
    world.tables.set_counted(id, active);
    account
}

/// GIVEN another reseller, Nord Services, with its own client `acc_nord_client`.
fn another_reseller(world: &World) {
    let mut other = company(date(2026, 12, 1));
    other.id = "acc_nord".into();
    other.kind = AccountKind::Reseller;
    world.tables.add_account(other);
    client(world, "acc_nord", "acc_nord_client", None, 4);
}

fn dupont(world: &World) -> Account {
    world.tables.account(ACCOUNT).expect("the reseller")
}

async fn list(
    world: &World,
    limit: usize,
    next: Option<&str>,
) -> Result<(Vec<ClientSummary>, Option<String>), Error> {
    list_clients(&world.ports(), &dupont(world), limit, next).await
}

fn ids(listed: &[ClientSummary]) -> Vec<&str> {
    listed.iter().map(|c| c.account.id.as_str()).collect()
}

#[tokio::test]
async fn the_clients_are_listed_a_page_at_a_time_with_their_active_users_and_trials() {
    // GIVEN Dupont's three clients on 12 December: A with no trial, B in trial until the
    // 31st, C whose trial ended on the 11th; and another reseller's client
    let world = reseller(AccountStatus::Active);
    client(&world, ACCOUNT, "acc_a", None, 5);
    client(&world, ACCOUNT, "acc_b", Some(date(2026, 12, 31)), 3);
    client(&world, ACCOUNT, "acc_c", Some(date(2026, 12, 11)), 2);
    another_reseller(&world);
    // WHEN it lists them two at a time
    let (first, next) = list(&world, 2, None).await.unwrap();
    // THEN the first two in id order, with the cursor of the next page
    assert_eq!(ids(&first), ["acc_a", "acc_b"]);
    assert_eq!(
        first
            .iter()
            .map(|c| (c.active_users, c.in_trial))
            .collect::<Vec<_>>(),
        [(5, false), (3, true)]
    );
    let next = next.expect("a next page");
    // AND the page after it is the last, its other reseller's client left out
    let (second, after) = list(&world, 2, Some(&next)).await.unwrap();
    assert_eq!(ids(&second), ["acc_c"]);
    assert_eq!((second[0].active_users, second[0].in_trial), (2, false));
    assert_eq!(after, None);
    // AND a page that holds them all has no next page
    let (all, none) = list(&world, 3, None).await.unwrap();
    assert_eq!((ids(&all), none), (vec!["acc_a", "acc_b", "acc_c"], None));
    // AND each answers in the same shape as ever: account, active users, in trial
    let json = serde_json::to_string(&first[0]).unwrap();
    assert!(json.starts_with(r#"{"account":{"id":"acc_a","#), "{json}");
    assert!(
        json.ends_with(r#"},"active_users":5,"in_trial":false}"#),
        "{json}"
    );
}

#[tokio::test]
async fn a_cursor_not_of_the_list_is_refused() {
    let world = reseller(AccountStatus::Active);
    client(&world, ACCOUNT, "acc_a", None, 5);
    // base64 of "usr_alice": a cursor, but not of a client
    for cursor in ["not a cursor!", "dXNyX2FsaWNl"] {
        match list(&world, 2, Some(cursor)).await {
            Err(Error::Validation(errors)) => {
                let json = serde_json::to_value(&errors).unwrap().to_string();
                assert!(json.contains("next"), "{json}");
            }
            other => panic!("{cursor}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_client_made_by_the_reseller_is_listed_in_its_trial_with_its_admin_active() {
    let world = reseller(AccountStatus::Active);
    let (_, made) = create(&world, None).await.unwrap();
    let (listed, next) = list(&world, 10, None).await.unwrap();
    assert_eq!(ids(&listed), [made["account"]["id"].as_str().unwrap()]);
    assert_eq!((listed[0].active_users, listed[0].in_trial), (1, true));
    assert_eq!(next, None);
}

#[tokio::test]
async fn only_a_reseller_has_clients_and_a_usage() {
    let world = World::at(noon(date(2026, 12, 12)));
    world.tables.add_account(company(date(2026, 12, 1)));
    let refused = |r: &Error| matches!(r, Error::Refused(Refusal::NotAReseller));
    assert!(refused(&list(&world, 2, None).await.unwrap_err()));
    let ports = world.ports();
    assert!(refused(
        &client_users(&ports, &dupont(&world), "acc_a")
            .await
            .unwrap_err()
    ));
    assert!(refused(&usage(&ports, &dupont(&world)).await.unwrap_err()));
}

#[tokio::test]
async fn a_reseller_reads_the_users_of_its_own_clients_only() {
    // GIVEN Dupont's client A with Paul (admin), Marie, Luc removed on the 10th and Jean leaving
    // on 1 January; another reseller's client; a company of nobody's
    let world = reseller(AccountStatus::Active);
    client(&world, ACCOUNT, "acc_a", None, 3);
    let since = date(2026, 12, 1);
    world.tables.add_user(
        "acc_a",
        user("usr_paul", "paul@a.fr", Role::Admin, &[], since),
    );
    world.tables.add_user(
        "acc_a",
        user("usr_marie", "marie@a.fr", Role::Member, &["files"], since),
    );
    let mut luc = user("usr_luc", "luc@a.fr", Role::Member, &["files"], since);
    luc.removal_date = Some(date(2026, 12, 10));
    world.tables.add_user("acc_a", luc);
    let mut jean = user("usr_jean", "jean@a.fr", Role::Member, &[], since);
    jean.removal_date = Some(date(2027, 1, 1));
    world.tables.add_user("acc_a", jean);
    another_reseller(&world);
    let mut nobody = company(date(2026, 12, 1));
    nobody.id = "acc_nobody".into();
    world.tables.add_account(nobody);
    let ports = world.ports();
    // WHEN it reads its client's users
    let users = client_users(&ports, &dupont(&world), "acc_a")
        .await
        .unwrap();
    // THEN those present today, Luc removed before it left out, Jean with the day he leaves
    let listed: Vec<(&str, Option<Date>)> = users
        .iter()
        .map(|u| (u.id.as_str(), u.removal_date))
        .collect();
    assert_eq!(
        listed,
        [
            ("usr_jean", Some(date(2027, 1, 1))),
            ("usr_marie", None),
            ("usr_paul", None)
        ]
    );
    // AND another reseller's client, an account of nobody's, its own account and one that
    // does not exist are not found
    for other in ["acc_nord_client", "acc_nobody", ACCOUNT, "acc_missing"] {
        assert!(
            matches!(
                client_users(&ports, &dupont(&world), other).await,
                Err(Error::NotFound)
            ),
            "{other}"
        );
    }
}

/// Paris time on `day` at `hour`.
fn at(day: Date, hour: i8) -> Timestamp {
    day.at(hour, 0, 0, 0)
        .in_tz("Europe/Paris")
        .expect("a Paris time")
        .timestamp()
}

async fn usage_now(world: &World) -> UsageView {
    usage(&world.ports(), &dupont(world)).await.unwrap()
}

#[tokio::test]
async fn the_usage_shows_the_users_billed_now_and_the_peak_reached_earlier_in_the_period() {
    // GIVEN on 12 December (period from the 1st) A with 5 active users and B in trial with 3;
    // 4 users billed when the period began, 9 on the 5th, 5 since the 8th
    let world = reseller(AccountStatus::Active);
    client(&world, ACCOUNT, "acc_a", None, 5);
    client(&world, ACCOUNT, "acc_b", Some(date(2026, 12, 31)), 3);
    world.tables.sample(ACCOUNT, at(date(2026, 11, 20), 9), 4);
    world.tables.sample(ACCOUNT, at(date(2026, 12, 5), 9), 9);
    world.tables.sample(ACCOUNT, at(date(2026, 12, 7), 9), 9);
    world.tables.sample(ACCOUNT, at(date(2026, 12, 8), 9), 5);
    // a sample after now (another clock's) is not of the period so far
    world.tables.sample(ACCOUNT, at(date(2026, 12, 20), 9), 30);
    // WHEN it reads its usage
    let view = usage_now(&world).await;
    // THEN 5 billed now (B in trial), the peak 9 first reached on the 5th, 5.00 EUR each
    assert_eq!(
        serde_json::to_string(&view).unwrap(),
        r#"{"period":{"start":"2026-12-01","end":"2027-01-01"},"active_users":5,"max_active_users":9,"max_reached_on":"2026-12-05","unit_price":"5.00","currency":"EUR"}"#
    );
}

#[tokio::test]
async fn the_total_carried_in_from_before_the_period_counts_from_its_first_day() {
    let world = reseller(AccountStatus::Active);
    client(&world, ACCOUNT, "acc_a", None, 5);
    world.tables.sample(ACCOUNT, at(date(2026, 11, 28), 9), 7);
    world.tables.sample(ACCOUNT, at(date(2026, 12, 3), 9), 5);
    let view = usage_now(&world).await;
    assert_eq!(
        (
            view.active_users,
            view.max_active_users,
            view.max_reached_on
        ),
        (5, 7, Some(date(2026, 12, 1)))
    );
}

#[tokio::test]
async fn a_count_above_the_samples_is_the_peak_reached_today() {
    // GIVEN A with 2 active users sampled since the 3rd, and C, 4 active users, whose trial
    // ended last midnight, before any sample of today
    let world = reseller(AccountStatus::Active);
    client(&world, ACCOUNT, "acc_a", None, 2);
    client(&world, ACCOUNT, "acc_c", Some(date(2026, 12, 11)), 4);
    world.tables.sample(ACCOUNT, at(date(2026, 12, 3), 9), 2);
    // WHEN it reads its usage
    let view = usage_now(&world).await;
    // THEN the 6 billed now are the peak, reached today
    assert_eq!(
        (
            view.active_users,
            view.max_active_users,
            view.max_reached_on
        ),
        (6, 6, Some(date(2026, 12, 12)))
    );
}

#[tokio::test]
async fn without_users_billed_the_peak_is_zero_and_was_reached_on_no_day() {
    // GIVEN a reseller without clients
    let world = reseller(AccountStatus::Active);
    let view = usage_now(&world).await;
    assert_eq!((view.active_users, view.max_active_users), (0, 0));
    let json = serde_json::to_value(&view).unwrap();
    assert!(json.get("max_reached_on").is_none(), "{json}");
    assert_eq!(json["unit_price"], "5.00");
    // AND one whose only client is in trial, sampled at 0
    client(&world, ACCOUNT, "acc_b", Some(date(2026, 12, 31)), 3);
    world.tables.sample(ACCOUNT, at(date(2026, 12, 2), 9), 0);
    let view = usage_now(&world).await;
    assert_eq!(
        (
            view.active_users,
            view.max_active_users,
            view.max_reached_on
        ),
        (0, 0, None)
    );
}

#[tokio::test]
async fn a_reseller_closes_its_own_client_at_its_billing_date_once() {
    // GIVEN Dupont (a reseller billed on the 1st) with a client, and Nord's client
    let world = reseller(AccountStatus::Active);
    client(&world, ACCOUNT, "acc_martin", None, 3);
    another_reseller(&world);
    // WHEN Dupont closes its client on 12 December
    let answer = softbrik_app::resellers::close_client(
        &world.ports(),
        &dupont(&world),
        "user:usr_alice",
        "acc_martin",
    )
    .await
    .unwrap();
    // THEN it closes on Dupont's billing date (1 January: 20 days' notice), its admin told
    assert_eq!(answer["effective_date"], "2027-01-01");
    let martin = world.tables.account("acc_martin").unwrap();
    assert_eq!(martin.status, AccountStatus::Closing);
    assert_eq!(martin.closure_date, Some(date(2027, 1, 1)));
    assert_eq!(world.outbox.sent().len(), 1);
    let entry = world.tables.history("acc_martin").pop().unwrap();
    assert_eq!(
        (entry.action.as_str(), entry.actor.as_str()),
        ("closure_requested", "user:usr_alice")
    );
    // AND asked again: refused, the first request stands
    let again = softbrik_app::resellers::close_client(
        &world.ports(),
        &dupont(&world),
        "user:usr_alice",
        "acc_martin",
    )
    .await;
    assert!(
        matches!(
            again,
            Err(Error::Refused(Refusal::ClosureAlreadyRequested(_)))
        ),
        "{again:?}"
    );
    // AND another reseller's client, or no account, is not found
    for id in ["acc_nord_client", "acc_none"] {
        let refused = softbrik_app::resellers::close_client(
            &world.ports(),
            &dupont(&world),
            "user:usr_alice",
            id,
        )
        .await;
        assert!(matches!(refused, Err(Error::NotFound)), "{id}: {refused:?}");
    }
    assert_eq!(
        world.tables.account("acc_nord_client").unwrap().status,
        AccountStatus::Active
    );
}

#[tokio::test]
async fn a_client_moves_to_the_reseller_who_redeems_its_code_at_its_resellers_billing_date() {
    use softbrik_app::resellers::{complete_moves, take_over, transfer_code};
    // GIVEN Dupont (billed on the 1st) with a client, and Nord, another reseller
    let world = reseller(AccountStatus::Active);
    let martin = client(&world, ACCOUNT, "acc_martin", None, 3);
    another_reseller(&world);
    let nord = world.ports().accounts.account("acc_nord").await.unwrap();
    // WHEN the client's admin makes a code and Nord redeems it on 12 December
    let made = transfer_code(&world.ports(), &martin, noon(date(2026, 12, 12)))
        .await
        .unwrap();
    let code = made["code"].as_str().unwrap().to_string();
    assert!(code.starts_with("sbxfer_"));
    let taken = take_over(&world.ports(), &nord, "user:usr_nord", &code)
        .await
        .unwrap();
    // THEN the move waits for Dupont's billing date; the code is used up
    assert_eq!(taken["effective_date"], "2027-01-01");
    assert!(matches!(
        take_over(&world.ports(), &nord, "user:usr_nord", &code).await,
        Err(Error::NotFound)
    ));
    assert_eq!(
        world.tables.history("acc_martin").pop().unwrap().action,
        "reseller_move_planned"
    );
    assert_eq!(
        world.outbox.sent().len(),
        2,
        "the client's admin and Dupont told"
    );
    // AND nothing moves before it
    let dupont_now = dupont(&world);
    let early = complete_moves(
        &world.ports(),
        &dupont_now,
        date(2026, 12, 31),
        noon(date(2026, 12, 31)),
    )
    .await
    .unwrap();
    assert_eq!(early, 0);
    // WHEN Dupont's period ends on 1 January THEN Martin is Nord's
    let moved = complete_moves(
        &world.ports(),
        &dupont_now,
        date(2027, 1, 1),
        noon(date(2027, 1, 1)),
    )
    .await
    .unwrap();
    assert_eq!(moved, 1);
    let martin = world.tables.account("acc_martin").unwrap();
    assert_eq!(martin.reseller_id.as_deref(), Some("acc_nord"));
    assert!(world.tables.planned_moves().is_empty());
    // AND a company's admin has no code to give
    assert!(matches!(
        transfer_code(&world.ports(), &dupont_now, noon(date(2027, 1, 1))).await,
        Err(Error::Refused(Refusal::NotAClientAccount))
    ));
}
