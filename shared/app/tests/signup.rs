//! Signing a company up (api.md `POST /signup`, billing.md "Billing period"), in process:
//! GIVEN the table, the directory, the partner and the mail in memory, WHEN Fromagerie Dupont
//! signs up on 12 December with File storage and Inventory, THEN its account, its admin's
//! sign-in, its first invoice (14.00, 16.80 with French VAT) and its charge are made once, and
//! a refusal at any step leaves nothing behind.

mod common;

use common::noon;
use jiff::civil::date;
use softbrik_app::Error;
use softbrik_app::memory::World;
use softbrik_app::signup::signup;
use softbrik_domain::account::{AccountKind, InvoiceStatus};
use softbrik_domain::examples::signup_command;
use softbrik_domain::money::Money;
use softbrik_domain::signup::SignupCommand;
use softbrik_domain::values::BrikId;

fn dupont() -> SignupCommand {
    signup_command(AccountKind::Company)
}

fn world() -> World {
    World::at(noon(date(2026, 12, 12)))
}

/// WHEN the signup is sent with `key`, from 192.0.2.1.
async fn sign_up(
    world: &World,
    cmd: SignupCommand,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let request = serde_json::json!({"company_name": cmd.company_name.as_str(), "kind": "company"});
    signup(&world.ports(), &request, cmd, key, Some("192.0.2.1")).await
}

#[tokio::test]
async fn a_company_signs_up_pays_its_first_month_and_its_admin_can_sign_in() {
    let world = world();
    let (status, answer) = sign_up(&world, dupont(), Some("k1")).await.unwrap();
    // THEN 201: the account, and its first invoice paid and numbered
    assert_eq!(status, 201);
    let account_id = answer["account"]["id"].as_str().unwrap().to_string();
    assert_eq!(answer["invoice"]["total"], "16.80");
    assert_eq!(answer["invoice"]["status"], "paid");
    let invoices = world.tables.invoices(&account_id);
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0].totals.total, Money::parse("16.80").unwrap());
    assert_eq!(invoices[0].status, InvoiceStatus::Paid);
    assert_eq!(
        answer["invoice"]["number"],
        invoices[0].number.clone().unwrap()
    );
    // AND charged once, emailed, the admin holding both Briks, signed in as admin
    let charges = world.ledger.charges();
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].0.amount, Money::parse("16.80").unwrap());
    assert_eq!(world.tables.mailed(), vec![invoices[0].id.clone()]);
    let team = world.ports().table.team(&account_id).await.unwrap();
    assert_eq!(team.users.len(), 1);
    assert_eq!(team.users[0].value.briks.len(), 2);
    let sign_in = world.sign_ins.get("alice@dupont.fr").expect("a sign-in");
    assert_eq!(sign_in.account_id, account_id);
    assert_eq!(world.tables.history(&account_id)[0].action, "signup");
    assert!(world.tables.book.entries().is_empty());
    // AND the attempt was counted against the rate limit
    assert_eq!(world.tables.admitted().len(), 1);
    // WHEN the same request comes again with its key: the same answer, nothing more
    let again = sign_up(&world, dupont(), Some("k1")).await.unwrap();
    assert_eq!(again, (201, answer));
    assert_eq!(world.ledger.charges().len(), 1);
    assert_eq!(world.tables.account_ids().len(), 1);
}

#[tokio::test]
async fn an_address_with_an_account_is_refused_before_anything_is_made() {
    let world = world();
    sign_up(&world, dupont(), None).await.unwrap();
    let refused = sign_up(&world, dupont(), None).await;
    assert!(matches!(refused, Err(Error::EmailTaken)));
    assert_eq!(world.tables.account_ids().len(), 1);
    assert_eq!(world.ledger.charges().len(), 1);
}

#[tokio::test]
async fn a_declined_card_leaves_no_account_no_sign_in_and_no_charge() {
    let world = world();
    *world.ledger.decline.lock().unwrap() = true;
    let refused = sign_up(&world, dupont(), Some("k1")).await;
    assert!(matches!(refused, Err(Error::CardDeclined { .. })));
    assert!(world.tables.account_ids().is_empty());
    assert!(world.sign_ins.get("alice@dupont.fr").is_none());
    assert!(world.tables.mailed().is_empty());
    // AND the key is free again: the same request with a good card goes through
    *world.ledger.decline.lock().unwrap() = false;
    let (status, _) = sign_up(&world, dupont(), Some("k1")).await.unwrap();
    assert_eq!(status, 201);
}

#[tokio::test]
async fn a_write_refused_gives_the_charge_back_and_deletes_the_sign_in() {
    let world = world();
    *world.tables.fail_next.lock().unwrap() = Some(Error::unavailable("the table refused"));
    assert!(sign_up(&world, dupont(), None).await.is_err());
    let charges = world.ledger.charges();
    assert_eq!(charges.len(), 1);
    assert!(charges[0].1, "refunded");
    assert!(world.sign_ins.get("alice@dupont.fr").is_none());
    assert!(world.tables.account_ids().is_empty());
}

#[tokio::test]
async fn a_write_in_doubt_keeps_the_sign_in_and_the_charge_for_the_retry() {
    let world = world();
    *world.tables.fail_next.lock().unwrap() = Some(Error::InDoubt("no answer".into()));
    assert!(matches!(
        sign_up(&world, dupont(), Some("k1")).await,
        Err(Error::InDoubt(_))
    ));
    assert!(!world.ledger.charges()[0].1, "kept");
    assert!(world.sign_ins.get("alice@dupont.fr").is_some());
    // WHEN the client retries with its key: the same ids, so the same charge, stored now
    let (status, answer) = sign_up(&world, dupont(), Some("k1")).await.unwrap();
    assert_eq!(status, 201);
    assert_eq!(world.ledger.charges().len(), 1);
    assert_eq!(answer["invoice"]["status"], "paid");
}

#[tokio::test]
async fn a_reseller_pays_nothing_at_signup() {
    let world = world();
    let cmd = signup_command(AccountKind::Reseller);
    let (status, answer) = sign_up(&world, cmd, None).await.unwrap();
    assert_eq!(status, 201);
    assert!(answer.get("invoice").is_none());
    assert!(world.ledger.charges().is_empty());
    assert_eq!(answer["account"]["kind"], "reseller");
}

#[tokio::test]
async fn too_many_attempts_an_unknown_brik_or_test_clock_are_refused_without_a_trace() {
    let world = world();
    *world.tables.throttled.lock().unwrap() = true;
    assert!(matches!(
        sign_up(&world, dupont(), None).await,
        Err(Error::Throttled { .. })
    ));
    *world.tables.throttled.lock().unwrap() = false;
    let unknown = SignupCommand {
        briks: vec![BrikId::parse("payroll").unwrap()],
        ..dupont()
    };
    assert!(matches!(
        sign_up(&world, unknown, None).await,
        Err(Error::UnknownBrik(_))
    ));
    let no_clock = SignupCommand {
        test_clock_id: Some("clock_nowhere".into()),
        ..dupont()
    };
    assert!(matches!(
        sign_up(&world, no_clock, None).await,
        Err(Error::NotFound)
    ));
    assert!(world.tables.account_ids().is_empty());
    assert!(world.ledger.charges().is_empty());
    assert!(world.sign_ins.get("alice@dupont.fr").is_none());
}
