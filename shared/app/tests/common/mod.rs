//! What the in-process tests of the use cases start from: Fromagerie Dupont in a world of
//! in-memory adapters, its team as a request loads it, and what its history says.

#![allow(dead_code)]

use jiff::Timestamp;
use jiff::civil::{Date, date};
use softbrik_app::memory::World;
use softbrik_app::team::Team;
use softbrik_domain::account::AccountKind;
use softbrik_domain::examples::{admin, bob, company, visa};

pub const ACCOUNT: &str = "acc_dupont";

/// Noon in Paris on `day`.
pub fn noon(day: Date) -> Timestamp {
    day.at(12, 0, 0, 0)
        .in_tz("Europe/Paris")
        .expect("a Paris time")
        .timestamp()
}

/// The team as the admin's request loads it.
pub async fn team(world: &World) -> Team {
    Team::load(world.ports().table, ACCOUNT, "user:usr_alice".into())
        .await
        .expect("the team")
}

/// The actions of the account's history, in the order written.
pub fn actions(world: &World) -> Vec<String> {
    world
        .tables
        .history(ACCOUNT)
        .into_iter()
        .map(|e| e.action)
        .collect()
}

/// GIVEN Fromagerie Dupont, a company of `kind` paying by VISA (a client account: billed to its
/// reseller), with Alice (admin) and Bob holding Files since the period's start, on `today`.
pub fn dupont_paying(today: Date, kind: AccountKind) -> World {
    let world = World::at(noon(today));
    let mut account = company(date(2026, 12, 12));
    account.kind = kind;
    if kind == AccountKind::Client {
        account.reseller_id = Some("acc_reseller".into());
    } else {
        account.payment_method = Some(visa());
    }
    world.tables.add_account(account);
    world
        .tables
        .add_user(ACCOUNT, admin(&["files"], date(2026, 12, 12)));
    world
        .tables
        .add_user(ACCOUNT, bob(&["files"], date(2026, 12, 12)));
    world
}

/// THEN a change refused because the account changed meanwhile (409, to retry): no invoice
/// stored, and the one charge it made given back.
pub fn refused_as_changed_and_refunded<T: std::fmt::Debug>(
    world: &World,
    result: Result<T, softbrik_app::Error>,
) {
    assert!(
        matches!(
            result,
            Err(softbrik_app::Error::Refused(
                softbrik_domain::refusal::Refusal::ConcurrentChange(_)
            ))
        ),
        "{result:?}"
    );
    assert!(world.tables.invoices(ACCOUNT).is_empty());
    let charges = world.ledger.charges();
    assert_eq!(charges.len(), 1);
    assert!(charges[0].1, "refunded");
}
