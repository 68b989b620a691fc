//! What the in-process tests of the use cases start from: Fromagerie Dupont in a world of
//! in-memory adapters, its team as a request loads it, and what its history says.

#![allow(dead_code)]

use jiff::Timestamp;
use jiff::civil::Date;
use softbrik_app::memory::World;
use softbrik_app::team::Team;

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
