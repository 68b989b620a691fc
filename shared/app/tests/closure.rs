//! Closing an account on its closure date (billing.md "Account closure", security.md), in
//! process: GIVEN Fromagerie Dupont in memory, renewed on 12 December and closing on 12
//! January, WHEN the run closes it, THEN its sign-ins and records are deleted, its invoices
//! kept ten years outside it, and its data key shredded last; a run stopped halfway, or
//! failing, is finished by the next one; an account not due loses nothing.

mod common;

use common::{ACCOUNT, dupont_paying, noon};
use jiff::civil::{Date, date};
use softbrik_app::closure::{Closing, close_account};
use softbrik_app::memory::World;
use softbrik_app::ports::directory::NewSignIn;
use softbrik_app::{Error, subscription, team};
use softbrik_domain::account::{AccountKind, AccountStatus};
use softbrik_domain::catalogue::default_catalogue;
use softbrik_domain::packs::Holding;

const JAN_12: Date = date(2027, 1, 12);

/// GIVEN Dupont, with Alice and Bob signed in, Inventory given to Bob on 15 December (one
/// invoice) and a pack, its closure asked on 20 December (so on 12 January), and now `today`.
async fn closing(today: Date) -> World {
    let world = dupont_paying(date(2026, 12, 15), AccountKind::Company);
    team::assign(
        &world.ports(),
        &common::team(&world).await,
        &default_catalogue(),
        "usr_bob",
        "stock",
        None,
    )
    .await
    .unwrap();
    for (email, user) in [
        ("alice@dupont.fr", "usr_alice"),
        ("bob@dupont.fr", "usr_bob"),
    ] {
        world
            .ports()
            .directory
            .create_with_password(&NewSignIn {
                email,
                name: "Dupont",
                password: "Correct-horse-1",
                account_id: ACCOUNT,
                user_id: user,
                group: "member",
            })
            .await
            .unwrap();
    }
    let mut pack = Holding::new("emails-1000", date(2026, 12, 12));
    pack.quantity = 1;
    world.tables.add_pack(ACCOUNT, pack);
    world.tables.set_now(noon(date(2026, 12, 20)));
    subscription::request_closure(&world.ports(), ACCOUNT, "user:usr_alice")
        .await
        .unwrap();
    world.tables.set_now(noon(today));
    world
}

#[tokio::test]
async fn on_its_closure_date_everything_goes_but_the_invoices_kept_ten_years() {
    let world = closing(JAN_12).await;
    let invoice = world.tables.invoices(ACCOUNT)[0].clone();
    // WHEN the run closes the account
    let closed = close_account(&world.ports(), ACCOUNT, None).await.unwrap();
    // THEN its sign-ins are gone, and so is everything of it, its key shredded
    assert_eq!(closed, Closing::Done);
    assert!(world.sign_ins.get("alice@dupont.fr").is_none());
    assert!(world.sign_ins.get("bob@dupont.fr").is_none());
    assert!(world.tables.account(ACCOUNT).is_none());
    assert_eq!(world.tables.shredded(), vec![ACCOUNT.to_string()]);
    // AND its invoice is kept, as issued, until 12 January 2037
    let retained = world.tables.retained(ACCOUNT);
    assert_eq!(retained.len(), 1);
    assert_eq!(retained[0].0.id, invoice.id);
    assert_eq!(retained[0].0.totals.total, invoice.totals.total);
    assert_eq!(retained[0].1, date(2037, 1, 12));
    // WHEN the run comes again: nothing more to do
    assert_eq!(
        close_account(&world.ports(), ACCOUNT, None).await.unwrap(),
        Closing::Done
    );
    assert_eq!(world.tables.shredded().len(), 1);
}

#[tokio::test]
async fn before_its_closure_date_nothing_is_deleted() {
    let world = closing(date(2027, 1, 11)).await;
    assert!(close_account(&world.ports(), ACCOUNT, None).await.is_err());
    let account = world.tables.account(ACCOUNT).expect("still there");
    assert_eq!(account.status, AccountStatus::Closing);
    assert!(world.sign_ins.get("alice@dupont.fr").is_some());
    assert_eq!(world.tables.invoices(ACCOUNT).len(), 1);
    assert!(world.tables.shredded().is_empty());
}

#[tokio::test]
async fn a_closure_stopped_after_its_first_batch_is_finished_by_the_next_run() {
    let world = closing(JAN_12).await;
    // WHEN the run stops after one batch
    let first = close_account(&world.ports(), ACCOUNT, Some(1))
        .await
        .unwrap();
    // THEN one sign-in is gone, the account is closed and still there with its key
    assert_eq!(first, Closing::Continues);
    let account = world.tables.account(ACCOUNT).expect("still there");
    assert_eq!(account.status, AccountStatus::Closed);
    assert!(world.tables.shredded().is_empty());
    let left = ["alice@dupont.fr", "bob@dupont.fr"]
        .iter()
        .filter(|e| world.sign_ins.get(e).is_some())
        .count();
    assert_eq!(left, 1);
    // WHEN the next run comes: it finishes
    let second = close_account(&world.ports(), ACCOUNT, None).await.unwrap();
    assert_eq!(second, Closing::Done);
    assert!(world.tables.account(ACCOUNT).is_none());
    assert_eq!(world.tables.retained(ACCOUNT).len(), 1);
}

#[tokio::test]
async fn a_closure_that_fails_halfway_keeps_the_key_until_the_next_run_finishes() {
    let world = closing(JAN_12).await;
    *world.sign_ins.unavailable.lock().unwrap() = true;
    let failed = close_account(&world.ports(), ACCOUNT, None).await;
    assert!(matches!(failed, Err(Error::Unavailable(_))));
    assert!(world.tables.shredded().is_empty());
    assert_eq!(world.tables.invoices(ACCOUNT).len(), 1);
    *world.sign_ins.unavailable.lock().unwrap() = false;
    assert_eq!(
        close_account(&world.ports(), ACCOUNT, None).await.unwrap(),
        Closing::Done
    );
    assert!(world.sign_ins.get("alice@dupont.fr").is_none());
}
