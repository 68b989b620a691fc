//! What the Brik modules are told of the team's changes (events.md), in process: GIVEN the
//! table in memory, WHEN a use case runs, THEN the events it records with its change say
//! exactly what changed for whom, in order, and the entitlements route answers the same.
//! Fromagerie Dupont's period runs from 12 December to 12 January.

mod common;

use common::{ACCOUNT, noon, team};
use jiff::civil::{Date, date};
use softbrik_app::events::entitlements;
use softbrik_app::memory::World;
use softbrik_app::ports::directory::{Directory, NewSignIn};
use softbrik_app::team::{self, StatusSource};
use softbrik_domain::events::Access;
use softbrik_domain::examples::{admin, bob, company};

/// GIVEN Fromagerie Dupont with Alice (admin, Files) and Bob (member, Files and Customer
/// care), both signed in, on `today`.
async fn dupont(today: Date) -> World {
    let world = World::at(noon(today));
    world.tables.add_account(company(date(2026, 12, 12)));
    let since = date(2026, 12, 12);
    for u in [admin(&["files"], since), bob(&["files", "care"], since)] {
        world
            .sign_ins
            .invite(&NewSignIn {
                email: u.email.as_str(),
                name: &u.id,
                password: "Sb-first-7a",
                account_id: ACCOUNT,
                user_id: &u.id,
                group: "member",
            })
            .await
            .expect("a sign-in");
        world.sign_ins.signs_in(u.email.as_str());
        world.tables.add_user(ACCOUNT, u);
    }
    world
}

/// Bob's access cut: then each of his Briks unassigned.
const CUT: [&str; 3] = [
    "User Access Cut {}",
    r#"Brik Unassigned {"brik_id":"care","reason":"cut"}"#,
    r#"Brik Unassigned {"brik_id":"files","reason":"cut"}"#,
];

/// Bob's access back: then each of his Briks assigned again.
const RESTORED: [&str; 3] = [
    "User Access Restored {}",
    r#"Brik Assigned {"brik_id":"care"}"#,
    r#"Brik Assigned {"brik_id":"files"}"#,
];

/// The events recorded since `seen`: (detail-type, detail beyond the ids) each.
fn told(world: &World, seen: &mut usize) -> Vec<String> {
    let all = world.tables.events(ACCOUNT);
    let new = all[*seen..]
        .iter()
        .map(|e| {
            let mut detail = e.change.detail();
            if let Some(fields) = detail.as_object_mut() {
                fields.remove("user_id");
            }
            let detail: std::collections::BTreeMap<String, serde_json::Value> =
                serde_json::from_value(detail).unwrap();
            format!(
                "{} {}",
                e.change.detail_type(),
                serde_json::to_string(&detail).unwrap()
            )
        })
        .collect();
    *seen = all.len();
    new
}

async fn bobs(world: &World) -> (Access, Vec<String>) {
    let answer = entitlements(&world.ports(), ACCOUNT, "usr_bob")
        .await
        .unwrap();
    let briks = answer
        .briks
        .iter()
        .map(|b| b.as_str().to_string())
        .collect();
    (answer.access, briks)
}

#[tokio::test]
async fn a_cut_a_return_and_a_removal_at_the_period_end_are_told_as_they_take_effect() {
    let world = dupont(date(2026, 12, 20)).await;
    let mut seen = 0;
    // WHEN Bob's Customer care is removed: it ends with the period, nothing told yet
    team::remove_brik(&world.ports(), &team(&world).await, "usr_bob", "care")
        .await
        .unwrap();
    assert!(told(&world, &mut seen).is_empty());
    assert_eq!(
        bobs(&world).await,
        (Access::Active, vec!["care".into(), "files".into()])
    );
    // WHEN Bob is made inactive THEN his access is cut, then each Brik unassigned
    team::set_status(
        &world.ports(),
        &team(&world).await,
        "usr_bob",
        false,
        StatusSource::Admin,
    )
    .await
    .unwrap();
    assert_eq!(told(&world, &mut seen), CUT);
    assert_eq!(bobs(&world).await, (Access::Cut, vec![]));
    // WHEN he is active again THEN his access and his Briks are back
    team::set_status(
        &world.ports(),
        &team(&world).await,
        "usr_bob",
        true,
        StatusSource::Admin,
    )
    .await
    .unwrap();
    assert_eq!(told(&world, &mut seen), RESTORED);
    // WHEN the period ends THEN Customer care is unassigned, as removed, at local midnight
    let records = world.ports().table.team(ACCOUNT).await.unwrap();
    team::apply_removals(&world.ports(), records, date(2027, 1, 12))
        .await
        .unwrap();
    assert_eq!(
        told(&world, &mut seen),
        [r#"Brik Unassigned {"brik_id":"care","reason":"removed"}"#]
    );
    let last = world.tables.events(ACCOUNT).pop().unwrap();
    assert_eq!(last.at.to_string(), "2027-01-11T23:00:00Z");
    // AND running the period end again tells nothing more
    let records = world.ports().table.team(ACCOUNT).await.unwrap();
    team::apply_removals(&world.ports(), records, date(2027, 1, 12))
        .await
        .unwrap();
    assert!(told(&world, &mut seen).is_empty());
}

#[tokio::test]
async fn an_immediate_cut_is_told_once_and_its_undoing_gives_the_briks_back() {
    let world = dupont(date(2026, 12, 20)).await;
    let mut seen = 0;
    for _ in 0..2 {
        team::remove_user(&world.ports(), &team(&world).await, "usr_bob", true)
            .await
            .unwrap();
    }
    assert_eq!(told(&world, &mut seen), CUT);
    team::restore_user(&world.ports(), &team(&world).await, "usr_bob")
        .await
        .unwrap();
    assert_eq!(told(&world, &mut seen), RESTORED);
    assert_eq!(
        bobs(&world).await,
        (Access::Active, vec!["care".into(), "files".into()])
    );
}
