//! A reseller's client accounts (billing.md "Resellers billed on maximum active users"), in
//! process: GIVEN a reseller in memory, WHEN it creates a client account, THEN the client, its
//! admin's sign-in, both histories and the reseller's count are made once, nothing is charged,
//! and a refusal leaves no sign-in behind.

mod common;

use common::{ACCOUNT, actions, noon};
use jiff::civil::date;
use softbrik_app::Error;
use softbrik_app::memory::World;
use softbrik_app::resellers::create_client;
use softbrik_domain::account::{AccountKind, AccountStatus};
use softbrik_domain::examples::{company, new_client};
use softbrik_domain::refusal::Refusal;
use softbrik_domain::resellers::NewClient;

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
