//! The team's free changes, in process: GIVEN the table, the sign-ins and the clock in memory,
//! WHEN a use case of `softbrik_app::team` runs as a function would run it, THEN what is
//! stored, what the directory did and what the request is answered are as billing.md says.
//! Fromagerie Dupont's period runs from 12 December to 12 January; its renewal locks at local
//! midnight starting 11 January.

mod common;

use common::{ACCOUNT, actions, noon, team};
use jiff::civil::{Date, date};
use softbrik_app::Error;
use softbrik_app::memory::World;
use softbrik_app::ports::directory::{Directory, NewSignIn};
use softbrik_app::team::{self, StatusSource};
use softbrik_domain::account::{AccountKind, Role, UserStatus};
use softbrik_domain::examples::{admin, bob, company, user};
use softbrik_domain::refusal::Refusal;

/// GIVEN Fromagerie Dupont with Alice (admin) and Bob (member, Files since the period's
/// start), both signed in, on `today`.
async fn dupont(today: Date) -> World {
    let world = World::at(noon(today));
    world.tables.add_account(company(date(2026, 12, 12)));
    let since = date(2026, 12, 12);
    for u in [admin(&["files"], since), bob(&["files"], since)] {
        sign_in(&world, u.email.as_str(), &u.id).await;
        world.sign_ins.signs_in(u.email.as_str());
        world.tables.add_user(ACCOUNT, u);
    }
    world
}

async fn sign_in(world: &World, email: &str, user_id: &str) {
    world
        .sign_ins
        .invite(&NewSignIn {
            email,
            name: user_id,
            password: "Sb-first-7a",
            account_id: ACCOUNT,
            user_id,
            group: "member",
        })
        .await
        .expect("a sign-in");
}

#[tokio::test]
async fn a_brik_removed_mid_period_ends_with_the_period_and_asking_again_changes_nothing() {
    // GIVEN Bob holds Files, on 20 December
    let world = dupont(date(2026, 12, 20)).await;
    // WHEN the admin removes it
    let answer = team::remove_brik(&world.ports(), &team(&world).await, "usr_bob", "files")
        .await
        .unwrap();
    // THEN it ends on 12 January, no refund, access until then
    assert_eq!(answer.effective_date, date(2027, 1, 12));
    let stored = world.tables.user(ACCOUNT, "usr_bob").unwrap();
    assert_eq!(stored.briks[0].until, Some(date(2027, 1, 12)));
    assert_eq!(actions(&world), ["brik_removal_scheduled"]);
    assert!(world.ledger.charges().is_empty());
    // WHEN asked again (a retry): the same date, nothing written
    let again = team::remove_brik(&world.ports(), &team(&world).await, "usr_bob", "files")
        .await
        .unwrap();
    assert_eq!(again.effective_date, date(2027, 1, 12));
    assert_eq!(actions(&world).len(), 1);
}

#[tokio::test]
async fn a_brik_removed_after_the_cut_off_ends_with_the_next_period_already_invoiced() {
    // GIVEN 11 January, the renewal of 12 January locked
    let world = dupont(date(2027, 1, 11)).await;
    // WHEN the admin removes Bob's Files
    let answer = team::remove_brik(&world.ports(), &team(&world).await, "usr_bob", "files")
        .await
        .unwrap();
    // THEN it ends with the period the renewal bills: 12 February
    assert_eq!(answer.effective_date, date(2027, 2, 12));
}

#[tokio::test]
async fn a_brik_not_held_an_unknown_user_and_another_accounts_user_are_not_found() {
    let world = dupont(date(2026, 12, 20)).await;
    let mut other = company(date(2026, 12, 12));
    other.id = "acc_other".into();
    world.tables.add_account(other);
    world.tables.add_user(
        "acc_other",
        user(
            "usr_eve",
            "eve@other.fr",
            Role::Member,
            &["files"],
            date(2026, 12, 12),
        ),
    );
    let team = team(&world).await;
    for (user_id, brik) in [
        ("usr_bob", "inventory"),
        ("usr_bob", "NOT A BRIK"),
        ("usr_nobody", "files"),
        ("usr_eve", "files"),
    ] {
        let refused = team::remove_brik(&world.ports(), &team, user_id, brik).await;
        assert!(matches!(refused, Err(Error::NotFound)), "{user_id} {brik}");
        let refused = team::remove_user(&world.ports(), &team, user_id, true).await;
        if user_id != "usr_bob" {
            assert!(matches!(refused, Err(Error::NotFound)), "{user_id}");
        }
    }
    // THEN the other account's user is untouched and nothing was written
    assert!(
        world.tables.user("acc_other", "usr_eve").unwrap().briks[0]
            .until
            .is_none()
    );
    assert_eq!(world.sign_ins.get("eve@other.fr"), None);
}

#[tokio::test]
async fn an_immediate_removal_cuts_access_now_and_bills_until_the_period_end() {
    let world = dupont(date(2026, 12, 20)).await;
    // WHEN the admin removes Bob at once
    let answer = team::remove_user(&world.ports(), &team(&world).await, "usr_bob", true)
        .await
        .unwrap();
    // THEN his access is cut now, his removal and his Briks end on 12 January
    assert_eq!(answer.effective_date, date(2027, 1, 12));
    assert!(!world.sign_ins.get("bob@dupont.fr").unwrap().access);
    let stored = world.tables.user(ACCOUNT, "usr_bob").unwrap();
    assert_eq!(stored.status, UserStatus::AccessRevoked);
    assert_eq!(stored.removal_date, Some(date(2027, 1, 12)));
    assert_eq!(stored.briks[0].until, Some(date(2027, 1, 12)));
    assert_eq!(actions(&world), ["user_access_revoked"]);
}

#[tokio::test]
async fn the_admin_cannot_be_removed_and_nothing_is_written() {
    let world = dupont(date(2026, 12, 20)).await;
    let refused = team::remove_user(&world.ports(), &team(&world).await, "usr_alice", true).await;
    assert!(matches!(
        refused,
        Err(Error::Refused(Refusal::CannotRemoveAdmin))
    ));
    assert!(world.sign_ins.get("alice@dupont.fr").unwrap().access);
    assert!(actions(&world).is_empty());
}

#[tokio::test]
async fn a_client_accounts_user_leaves_at_once_and_its_reseller_counts_one_less() {
    // GIVEN a client account of a reseller
    let world = World::at(noon(date(2026, 12, 20)));
    let mut client = company(date(2026, 12, 12));
    client.kind = AccountKind::Client;
    client.reseller_id = Some("acc_reseller".into());
    world.tables.add_account(client);
    let bob = bob(&[], date(2026, 12, 12));
    sign_in(&world, "bob@dupont.fr", &bob.id).await;
    world.tables.add_user(ACCOUNT, bob);
    // WHEN the admin removes Bob
    let answer = team::remove_user(&world.ports(), &team(&world).await, "usr_bob", false)
        .await
        .unwrap();
    // THEN he is gone today, sign-in and all, and the reseller is billed for one user less
    assert_eq!(answer.effective_date, date(2026, 12, 20));
    assert!(world.tables.user(ACCOUNT, "usr_bob").is_none());
    assert_eq!(world.sign_ins.get("bob@dupont.fr"), None);
    assert_eq!(world.tables.counted(ACCOUNT), -1);
    assert_eq!(actions(&world), ["user_removed"]);
}

#[tokio::test]
async fn a_removal_undone_before_it_takes_effect_gives_everything_back_free() {
    let world = dupont(date(2026, 12, 20)).await;
    team::remove_user(&world.ports(), &team(&world).await, "usr_bob", true)
        .await
        .unwrap();
    // WHEN the admin restores Bob before 12 January
    let view = team::restore_user(&world.ports(), &team(&world).await, "usr_bob")
        .await
        .unwrap();
    // THEN he is active again (he had signed in), with Files held with no end, free
    assert_eq!(view.status, UserStatus::Active);
    let stored = world.tables.user(ACCOUNT, "usr_bob").unwrap();
    assert_eq!((stored.removal_date, stored.briks[0].until), (None, None));
    assert!(world.sign_ins.get("bob@dupont.fr").unwrap().access);
    assert!(world.ledger.charges().is_empty());
    assert_eq!(
        actions(&world),
        ["user_access_revoked", "user_removal_undone"]
    );
}

#[tokio::test]
async fn a_restore_the_directory_cannot_answer_writes_nothing() {
    let world = dupont(date(2026, 12, 20)).await;
    team::remove_user(&world.ports(), &team(&world).await, "usr_bob", false)
        .await
        .unwrap();
    *world.sign_ins.unavailable.lock().unwrap() = true;
    let failed = team::restore_user(&world.ports(), &team(&world).await, "usr_bob").await;
    assert!(matches!(failed, Err(Error::Unavailable(_))));
    let stored = world.tables.user(ACCOUNT, "usr_bob").unwrap();
    assert_eq!(stored.status, UserStatus::RemovalScheduled);
    assert_eq!(actions(&world), ["user_removal_scheduled"]);
}

#[tokio::test]
async fn a_user_changed_since_the_read_refuses_the_change_and_nothing_is_written() {
    let world = dupont(date(2026, 12, 20)).await;
    // GIVEN the team read, then Bob changed by another request
    let team = team(&world).await;
    world.tables.touch_user(ACCOUNT, "usr_bob");
    // WHEN this request removes his Brik from what it read
    let refused = team::remove_brik(&world.ports(), &team, "usr_bob", "files").await;
    // THEN it is refused as a concurrent change, to retry, and nothing is written
    assert!(matches!(
        refused,
        Err(Error::Refused(Refusal::ConcurrentChange(_)))
    ));
    assert!(
        world.tables.user(ACCOUNT, "usr_bob").unwrap().briks[0]
            .until
            .is_none()
    );
    assert!(actions(&world).is_empty());
}

#[tokio::test]
async fn the_list_shows_an_invited_user_who_signed_in_as_active_and_stores_it() {
    let world = dupont(date(2026, 12, 20)).await;
    // GIVEN Carol, invited, who has just signed in
    carol(&world, UserStatus::Invited).await;
    world.sign_ins.signs_in("carol@dupont.fr");
    // WHEN the admin lists the team
    let views = team::list_users(&world.ports(), &team(&world).await, 50, None)
        .await
        .unwrap()
        .items;
    // THEN the three are listed, Carol active, and so stored
    let carol = views.iter().find(|v| v.id == "usr_carol").unwrap();
    assert_eq!((views.len(), carol.status), (3, UserStatus::Active));
    let stored = world.tables.user(ACCOUNT, "usr_carol").unwrap();
    assert_eq!(stored.status, UserStatus::Active);
    assert_eq!(actions(&world), ["user_joined"]);
}

#[tokio::test]
async fn the_team_is_listed_a_page_at_a_time_in_id_order() {
    let world = dupont(date(2026, 12, 20)).await;
    carol(&world, UserStatus::Active).await;
    let first = team::list_users(&world.ports(), &team(&world).await, 2, None)
        .await
        .unwrap();
    let ids: Vec<&str> = first.items.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["usr_alice", "usr_bob"]);
    let next = first.next.expect("a next page");
    let rest = team::list_users(&world.ports(), &team(&world).await, 2, Some(&next))
        .await
        .unwrap();
    let ids: Vec<&str> = rest.items.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["usr_carol"]);
    assert!(rest.next.is_none());
    for bad in ["not-a-cursor", "YWNjX2R1cG9udA"] {
        let refused = team::list_users(&world.ports(), &team(&world).await, 2, Some(bad)).await;
        assert!(
            matches!(refused, Err(Error::Validation(_))),
            "{bad}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn the_period_end_applies_the_removals_due_once() {
    // GIVEN on 20 December, Bob removed and Alice's Files removed, both from 12 January
    let world = dupont(date(2026, 12, 20)).await;
    team::remove_user(&world.ports(), &team(&world).await, "usr_bob", false)
        .await
        .unwrap();
    team::remove_brik(&world.ports(), &team(&world).await, "usr_alice", "files")
        .await
        .unwrap();
    // WHEN the period ends on 12 January
    let records = world.ports().table.team(ACCOUNT).await.unwrap();
    let applied = team::apply_removals(&world.ports(), records, date(2027, 1, 12))
        .await
        .unwrap();
    // THEN Bob is gone, sign-in and all, and Alice holds Files no more
    assert_eq!(applied, 2);
    assert!(world.tables.user(ACCOUNT, "usr_bob").is_none());
    assert_eq!(world.sign_ins.get("bob@dupont.fr"), None);
    assert!(
        world
            .tables
            .user(ACCOUNT, "usr_alice")
            .unwrap()
            .briks
            .is_empty()
    );
    let history = world.tables.history(ACCOUNT);
    let mut last: Vec<_> = history[history.len() - 2..]
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    last.sort();
    assert_eq!(
        last,
        [("brik_removed", "system"), ("user_removed", "system")]
    );
    // AND the run again finds nothing left to do
    let records = world.ports().table.team(ACCOUNT).await.unwrap();
    let again = team::apply_removals(&world.ports(), records, date(2027, 1, 12))
        .await
        .unwrap();
    assert_eq!(again, 0);
}

#[tokio::test]
async fn before_its_date_a_removal_is_not_applied() {
    let world = dupont(date(2026, 12, 20)).await;
    team::remove_user(&world.ports(), &team(&world).await, "usr_bob", false)
        .await
        .unwrap();
    let records = world.ports().table.team(ACCOUNT).await.unwrap();
    let applied = team::apply_removals(&world.ports(), records, date(2027, 1, 11))
        .await
        .unwrap();
    assert_eq!(applied, 0);
    assert!(world.tables.user(ACCOUNT, "usr_bob").is_some());
}

/// GIVEN a client account (its reseller billed for its active users) with Bob, signed in.
async fn client_with_bob(today: Date) -> World {
    let world = World::at(noon(today));
    let mut client = company(date(2026, 12, 12));
    client.kind = AccountKind::Client;
    client.reseller_id = Some("acc_reseller".into());
    world.tables.add_account(client);
    let mut alice = admin(&[], date(2026, 12, 12));
    alice.status = UserStatus::Active;
    sign_in(&world, "alice@dupont.fr", &alice.id).await;
    world.tables.add_user(ACCOUNT, alice);
    let bob = bob(&[], date(2026, 12, 12));
    sign_in(&world, "bob@dupont.fr", &bob.id).await;
    world.sign_ins.signs_in("bob@dupont.fr");
    world.tables.add_user(ACCOUNT, bob);
    world
}

/// GIVEN Carol, a member since 15 December with `status`, with a sign-in she never used.
async fn carol(world: &World, status: UserStatus) {
    let mut carol = user(
        "usr_carol",
        "carol@dupont.fr",
        Role::Member,
        &[],
        date(2026, 12, 15),
    );
    carol.status = status;
    sign_in(world, "carol@dupont.fr", "usr_carol").await;
    world.tables.add_user(ACCOUNT, carol);
}

/// The admin's (or a directory sync's) status change of `user`, from the team as read now.
async fn status(
    world: &World,
    user: &str,
    active: bool,
    source: StatusSource,
) -> Result<softbrik_domain::account::User, Error> {
    team::set_status(&world.ports(), &team(world).await, user, active, source).await
}

#[tokio::test]
async fn a_user_made_inactive_loses_access_and_is_no_longer_billed_to_the_reseller() {
    let world = client_with_bob(date(2026, 12, 20)).await;
    // WHEN the admin marks Bob inactive
    let bob = status(&world, "usr_bob", false, StatusSource::Admin)
        .await
        .unwrap();
    // THEN he cannot sign in, is stored inactive, and the reseller counts one user less
    assert_eq!(bob.status, UserStatus::Inactive);
    assert!(!world.sign_ins.get("bob@dupont.fr").unwrap().access);
    assert_eq!(
        world.tables.user(ACCOUNT, "usr_bob").unwrap().status,
        UserStatus::Inactive
    );
    assert_eq!(world.tables.counted(ACCOUNT), -1);
    // WHEN asked again: nothing changes
    status(&world, "usr_bob", false, StatusSource::Admin)
        .await
        .unwrap();
    assert_eq!(world.tables.counted(ACCOUNT), -1);
    assert_eq!(world.tables.history(ACCOUNT).len(), 1);
}

#[tokio::test]
async fn a_user_made_active_who_never_signed_in_gets_a_new_first_password_by_email() {
    let world = client_with_bob(date(2026, 12, 20)).await;
    // GIVEN Carol, inactive, who never signed in
    carol(&world, UserStatus::Inactive).await;
    world
        .sign_ins
        .revoke_access("carol@dupont.fr")
        .await
        .unwrap();
    // WHEN the admin makes her active
    let carol = status(&world, "usr_carol", true, StatusSource::Admin)
        .await
        .unwrap();
    // THEN she is invited again, with access, billed to the reseller, and emailed in French
    assert_eq!(carol.status, UserStatus::Invited);
    assert!(world.sign_ins.get("carol@dupont.fr").unwrap().access);
    assert_eq!(world.tables.counted(ACCOUNT), 1);
    let sent = world.outbox.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "carol@dupont.fr");
    assert!(
        sent[0].text.contains("Fromagerie Dupont"),
        "{}",
        sent[0].text
    );
    assert!(
        sent[0].text.contains("Sb-"),
        "the first password is in the mail"
    );
}

#[tokio::test]
async fn a_directory_sync_cannot_make_active_an_address_on_the_deny_list() {
    let world = client_with_bob(date(2026, 12, 20)).await;
    status(&world, "usr_bob", false, StatusSource::Admin)
        .await
        .unwrap();
    world.tables.deny(ACCOUNT, "bob@dupont.fr");
    // WHEN the directory sync asks for Bob active
    let bob = status(&world, "usr_bob", true, StatusSource::DirectorySync)
        .await
        .unwrap();
    // THEN he stays inactive, without access, and nothing more is written
    assert_eq!(bob.status, UserStatus::Inactive);
    assert!(!world.sign_ins.get("bob@dupont.fr").unwrap().access);
    assert_eq!(world.tables.history(ACCOUNT).len(), 1);
    // AND the admin's own deactivation by a sync leaves the admin active
    let alice = status(&world, "usr_alice", false, StatusSource::DirectorySync)
        .await
        .unwrap();
    assert_eq!(alice.status, UserStatus::Active);
}

#[tokio::test]
async fn a_status_change_that_cannot_be_stored_puts_access_back_as_it_was() {
    let world = client_with_bob(date(2026, 12, 20)).await;
    let team = team(&world).await;
    world.tables.touch_user(ACCOUNT, "usr_bob");
    let refused =
        team::set_status(&world.ports(), &team, "usr_bob", false, StatusSource::Admin).await;
    assert!(matches!(
        refused,
        Err(Error::Refused(Refusal::ConcurrentChange(_)))
    ));
    // THEN Bob can still sign in, as stored, and the reseller's count did not move
    assert!(world.sign_ins.get("bob@dupont.fr").unwrap().access);
    assert_eq!(world.tables.counted(ACCOUNT), 0);
}

#[tokio::test]
async fn a_status_change_whose_write_is_in_doubt_leaves_access_as_changed() {
    let world = client_with_bob(date(2026, 12, 20)).await;
    *world.tables.fail_next.lock().unwrap() = Some(Error::InDoubt("timeout".into()));
    let failed = status(&world, "usr_bob", false, StatusSource::Admin).await;
    assert!(matches!(failed, Err(Error::InDoubt(_))));
    // THEN access stays cut: the write may have landed, and billing then counts him inactive
    assert!(!world.sign_ins.get("bob@dupont.fr").unwrap().access);
}
