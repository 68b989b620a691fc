//! A client account's directory sync, in process: GIVEN Fromagerie Dupont as a reseller's
//! client in memory, WHEN its admin puts the deny list or issues a SCIM token, or its
//! directory creates, finds or marks users through `softbrik_app::directory_sync`, THEN the
//! list is stored as keyed hashes and binds the sync (not the admin), a new token replaces the
//! previous one at once, and the sync sees and changes this account's users only.

mod common;

use common::{ACCOUNT, actions, noon, team};
use jiff::civil::{Date, date};
use softbrik_app::Error;
use softbrik_app::directory_sync::{
    self as sync, DenyListBody, MAX_DENIED, account_of_token, by_address, new_token, put_deny_list,
    synced_team, token_hash,
};
use softbrik_app::memory::World;
use softbrik_app::ports::directory::{Directory, NewSignIn};
use softbrik_app::team::{self as team_cases, StatusSource};
use softbrik_domain::account::{AccountKind, AccountStatus, Role, UserStatus};
use softbrik_domain::examples::{admin, bob, company, user};
use softbrik_domain::refusal::Refusal;
use softbrik_domain::values::{EmailAddress, PersonName};

const TODAY: Date = date(2026, 12, 20);

async fn sign_in(world: &World, account_id: &str, email: &str, user_id: &str) {
    world
        .sign_ins
        .invite(&NewSignIn {
            email,
            name: user_id,
            password: "Sb-first-7a",
            account_id,
            user_id,
            group: "member",
        })
        .await
        .expect("a sign-in");
    world.sign_ins.signs_in(email);
}

/// GIVEN Fromagerie Dupont, a client account of `kind`, with Alice (admin), Bob and Carol
/// (members, active, signed in), on 20 December; and Garage Martin, another client of the
/// same reseller, with Dan.
async fn dupont(kind: AccountKind) -> World {
    let world = World::at(noon(TODAY));
    let mut account = company(date(2026, 12, 12));
    account.kind = kind;
    if kind == AccountKind::Client {
        account.reseller_id = Some("acc_reseller".into());
    }
    world.tables.add_account(account);
    let since = date(2026, 12, 12);
    let carol = user("usr_carol", "carol@dupont.fr", Role::Member, &[], since);
    for u in [admin(&[], since), bob(&[], since), carol] {
        sign_in(&world, ACCOUNT, u.email.as_str(), &u.id).await;
        world.tables.add_user(ACCOUNT, u);
    }
    let mut other = company(date(2026, 12, 12));
    other.id = "acc_martin".into();
    other.kind = AccountKind::Client;
    other.reseller_id = Some("acc_reseller".into());
    world.tables.add_account(other);
    let dan = user("usr_dan", "dan@martin.fr", Role::Member, &[], since);
    sign_in(&world, "acc_martin", "dan@martin.fr", "usr_dan").await;
    world.tables.add_user("acc_martin", dan);
    world
}

/// The team as Dupont's directory sync loads it.
async fn synced(world: &World) -> softbrik_app::team::Team {
    synced_team(&world.ports(), ACCOUNT)
        .await
        .unwrap()
        .expect("a client account syncs")
}

fn deny(emails: &[&str]) -> DenyListBody {
    DenyListBody {
        emails: emails.iter().map(|e| e.to_string()).collect(),
    }
}

fn status(world: &World, user_id: &str) -> UserStatus {
    world.tables.user(ACCOUNT, user_id).unwrap().status
}

fn email(address: &str) -> EmailAddress {
    EmailAddress::parse(address).unwrap()
}

#[tokio::test]
async fn a_deny_list_put_makes_a_denied_active_user_inactive_and_is_kept_as_hashes() {
    let world = dupont(AccountKind::Client).await;
    world.tables.set_counted(ACCOUNT, 3);
    // WHEN the admin puts Bob (twice, in two cases) and an address of nobody on the list
    let set = put_deny_list(
        &world.ports(),
        &team(&world).await,
        &deny(&["BOB@dupont.fr", "bob@dupont.fr", "zoe@elsewhere.fr"]),
    )
    .await
    .unwrap();
    // THEN the list as stored, each address once, and Bob made inactive, alone
    assert_eq!(set.emails, ["bob@dupont.fr", "zoe@elsewhere.fr"]);
    assert_eq!(set.deactivated, 1);
    assert_eq!(status(&world, "usr_bob"), UserStatus::Inactive);
    assert!(!world.sign_ins.get("bob@dupont.fr").unwrap().access);
    assert_eq!(status(&world, "usr_carol"), UserStatus::Active);
    assert_eq!(world.tables.counted(ACCOUNT), 2, "one user less billed");
    // AND the history says so, the list first
    assert_eq!(
        actions(&world),
        ["directory_deny_list_set", "user_deactivated"]
    );
    let history = world.tables.history(ACCOUNT);
    assert_eq!(history[0].details["addresses"], 2);
    assert_eq!(history[0].actor, "user:usr_alice");
    assert_eq!(history[1].details["via"], "directory_sync");
    // AND the list holds keyed hashes, never the addresses
    let stored = world.tables.deny_list(ACCOUNT);
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|h| !h.contains('@')), "{stored:?}");
    // WHEN put again: nobody more to make inactive
    let again = put_deny_list(
        &world.ports(),
        &team(&world).await,
        &deny(&["bob@dupont.fr"]),
    )
    .await
    .unwrap();
    assert_eq!(again.deactivated, 0);
    assert_eq!(world.tables.deny_list(ACCOUNT).len(), 1, "replaced");
}

#[tokio::test]
async fn a_deny_list_of_too_many_or_bad_addresses_is_refused_and_nothing_is_stored() {
    let world = dupont(AccountKind::Client).await;
    let too_many: Vec<String> = (0..=MAX_DENIED)
        .map(|i| format!("u{i}@dupont.fr"))
        .collect();
    let refused = put_deny_list(
        &world.ports(),
        &team(&world).await,
        &DenyListBody { emails: too_many },
    )
    .await;
    let Err(Error::Validation(errors)) = refused else {
        panic!("{refused:?}");
    };
    assert_eq!(errors.as_slice()[0].code, "too_many");
    // AND an address that is none, and the admin's own
    let refused = put_deny_list(
        &world.ports(),
        &team(&world).await,
        &deny(&["bob@dupont.fr", "not an address", "Alice@dupont.fr"]),
    )
    .await;
    let Err(Error::Validation(errors)) = refused else {
        panic!("{refused:?}");
    };
    let fields: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.code)).collect();
    assert_eq!(fields.len(), 2, "{fields:?}");
    assert_eq!(fields[0].0, "emails[1]");
    assert_eq!(fields[1], ("emails[2]", "admin_address"));
    // THEN nothing stored, nobody made inactive
    assert!(world.tables.deny_list(ACCOUNT).is_empty());
    assert!(actions(&world).is_empty());
    assert_eq!(status(&world, "usr_bob"), UserStatus::Active);
}

#[tokio::test]
async fn a_sync_cannot_make_a_denied_user_active_but_can_make_another_one_active() {
    // GIVEN Bob and Carol made inactive by hand, then Bob's address on the list
    let world = dupont(AccountKind::Client).await;
    for id in ["usr_bob", "usr_carol"] {
        team_cases::set_status(
            &world.ports(),
            &team(&world).await,
            id,
            false,
            StatusSource::Admin,
        )
        .await
        .unwrap();
    }
    let set = put_deny_list(
        &world.ports(),
        &team(&world).await,
        &deny(&["bob@dupont.fr"]),
    )
    .await
    .unwrap();
    assert_eq!(set.deactivated, 0, "already inactive");
    // WHEN the sync sets both active
    let bob = sync::set_active(&world.ports(), &synced(&world).await, "usr_bob", true)
        .await
        .unwrap();
    let carol = sync::set_active(&world.ports(), &synced(&world).await, "usr_carol", true)
        .await
        .unwrap();
    // THEN Bob stays inactive, without access; Carol is active again, with access
    assert_eq!(bob.user.status, UserStatus::Inactive);
    assert!(!world.sign_ins.get("bob@dupont.fr").unwrap().access);
    assert_eq!(carol.user.status, UserStatus::Active);
    assert!(world.sign_ins.get("carol@dupont.fr").unwrap().access);
    let last = world.tables.history(ACCOUNT).pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.actor.as_str()),
        ("user_reactivated", "directory_sync")
    );
    // AND the admin may still make Bob active by hand: the list binds the sync only
    let bob = team_cases::set_status(
        &world.ports(),
        &team(&world).await,
        "usr_bob",
        true,
        StatusSource::Admin,
    )
    .await
    .unwrap();
    assert_eq!(bob.status, UserStatus::Active);
}

#[tokio::test]
async fn a_new_token_replaces_the_previous_one_at_once() {
    let world = dupont(AccountKind::Client).await;
    let bearer = |token: &serde_json::Value| format!("Bearer {}", token["token"].as_str().unwrap());
    // WHEN the admin issues a token
    let (status, first) = new_token(&world.ports(), &team(&world).await, Some("k1"))
        .await
        .unwrap();
    assert_eq!(status, 201);
    let found = account_of_token(&world.ports(), Some(&bearer(&first)))
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some(ACCOUNT));
    // THEN only its hash is kept
    let token = first["token"].as_str().unwrap();
    assert!(token.starts_with("sbscim_"));
    assert_eq!(
        world.tables.scim_token_hash(ACCOUNT),
        Some(token_hash(token))
    );
    // AND the same request again (its key) is answered the same, nothing made
    let (_, replayed) = new_token(&world.ports(), &team(&world).await, Some("k1"))
        .await
        .unwrap();
    assert_eq!(replayed, first);
    assert_eq!(actions(&world), ["scim_token_created"]);
    // WHEN another token is issued
    let (_, second) = new_token(&world.ports(), &team(&world).await, None)
        .await
        .unwrap();
    // THEN it finds the account, and the first no longer does
    assert_ne!(second, first);
    let found = account_of_token(&world.ports(), Some(&bearer(&second)))
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some(ACCOUNT));
    let gone = account_of_token(&world.ports(), Some(&bearer(&first)))
        .await
        .unwrap();
    assert_eq!(gone, None);
    let history = world.tables.history(ACCOUNT);
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].details["replaced"], false);
    assert_eq!(history[1].details["replaced"], true);
}

#[tokio::test]
async fn a_bad_or_unknown_token_finds_no_account() {
    let world = dupont(AccountKind::Client).await;
    new_token(&world.ports(), &team(&world).await, None)
        .await
        .unwrap();
    for header in [
        None,
        Some("Basic sbscim_abc"),
        Some("Bearer not-a-softbrik-token"),
        Some("Bearer sbscim_unknown"),
    ] {
        let found = account_of_token(&world.ports(), header).await.unwrap();
        assert_eq!(found, None, "{header:?}");
    }
}

#[tokio::test]
async fn a_user_created_by_a_sync_is_invited_and_an_address_on_the_list_is_created_inactive() {
    let world = dupont(AccountKind::Client).await;
    world.tables.set_counted(ACCOUNT, 3);
    let request = serde_json::json!({"route": "POST /scim/v2/Users"});
    // WHEN the directory creates Jeanne, active
    let jeanne = sync::create(
        &world.ports(),
        &synced(&world).await,
        email("jeanne@dupont.fr"),
        PersonName::parse("Jeanne Roux").unwrap(),
        true,
        request.clone(),
    )
    .await
    .unwrap();
    // THEN she is invited (a sign-in, a mail), counted for the reseller, dated today
    assert_eq!(jeanne.user.status, UserStatus::Invited);
    assert_eq!(jeanne.user.role, Role::Member);
    assert_eq!(jeanne.created_at, Some(noon(TODAY)));
    assert!(world.sign_ins.get("jeanne@dupont.fr").unwrap().access);
    assert_eq!(world.outbox.sent().len(), 1);
    assert_eq!(world.tables.counted(ACCOUNT), 4);
    let joined = world.tables.history(ACCOUNT).pop().unwrap();
    assert_eq!(
        (joined.action.as_str(), joined.actor.as_str()),
        ("user_invited", "directory_sync")
    );
    // WHEN an address on the deny list is created active
    put_deny_list(
        &world.ports(),
        &team(&world).await,
        &deny(&["late@dupont.fr"]),
    )
    .await
    .unwrap();
    let late = sync::create(
        &world.ports(),
        &synced(&world).await,
        email("late@dupont.fr"),
        PersonName::parse("Late").unwrap(),
        true,
        request,
    )
    .await
    .unwrap();
    // THEN inactive: no access, no mail, not counted
    assert_eq!(late.user.status, UserStatus::Inactive);
    assert!(!world.sign_ins.get("late@dupont.fr").unwrap().access);
    assert_eq!(world.outbox.sent().len(), 1);
    assert_eq!(world.tables.counted(ACCOUNT), 4);
}

#[tokio::test]
async fn a_user_of_another_account_or_already_here_is_refused_as_taken() {
    let world = dupont(AccountKind::Client).await;
    let request = serde_json::json!({"route": "POST /scim/v2/Users"});
    for address in ["dan@martin.fr", "bob@dupont.fr"] {
        // WHEN the directory creates an address another user has
        let refused = sync::create(
            &world.ports(),
            &synced(&world).await,
            email(address),
            PersonName::parse("Dan").unwrap(),
            true,
            request.clone(),
        )
        .await;
        // THEN refused (409 uniqueness in SCIM), nothing written, their sign-in left as it was
        assert!(matches!(refused, Err(Error::EmailTaken)), "{refused:?}");
        assert!(world.sign_ins.get(address).unwrap().access);
    }
    assert_eq!(
        world.sign_ins.get("dan@martin.fr").unwrap().account_id,
        "acc_martin"
    );
    assert!(actions(&world).is_empty());
    assert!(world.outbox.sent().is_empty());
}

#[tokio::test]
async fn a_sync_finds_its_own_users_by_address_and_lists_those_present() {
    let world = dupont(AccountKind::Client).await;
    // GIVEN Eve, removed yesterday (a client's users leave at once)
    let mut eve = user(
        "usr_eve",
        "eve@dupont.fr",
        Role::Member,
        &[],
        date(2026, 12, 12),
    );
    eve.removal_date = Some(date(2026, 12, 19));
    world.tables.add_user(ACCOUNT, eve);
    let team = synced(&world).await;
    let ports = world.ports();
    // WHEN it looks for Bob by address, in another case
    let found = by_address(&ports, &team, &email("BOB@Dupont.fr"))
        .await
        .unwrap();
    // THEN found, in clear
    let bob = found.expect("Bob");
    assert_eq!(
        (bob.user.id.as_str(), bob.user.email.as_str()),
        ("usr_bob", "bob@dupont.fr")
    );
    // AND another account's user, a removed one and an unknown address are not found
    for address in ["dan@martin.fr", "eve@dupont.fr", "nobody@dupont.fr"] {
        let found = by_address(&ports, &team, &email(address)).await.unwrap();
        assert!(found.is_none(), "{address}");
    }
    assert!(matches!(
        sync::user(&ports, &team, "usr_dan").await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        sync::user(&ports, &team, "usr_eve").await,
        Err(Error::NotFound)
    ));
    // AND the list is of the users present, in id order
    let listed: Vec<String> = sync::users(&ports, &team)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.user.id)
        .collect();
    assert_eq!(listed, ["usr_alice", "usr_bob", "usr_carol"]);
}

#[tokio::test]
async fn an_account_not_a_client_has_no_directory_sync() {
    // GIVEN Dupont paying for itself
    let world = dupont(AccountKind::Company).await;
    // WHEN its admin puts a deny list or asks for a token: refused, nothing written
    let refused = put_deny_list(
        &world.ports(),
        &team(&world).await,
        &deny(&["bob@dupont.fr"]),
    )
    .await;
    assert!(
        matches!(refused, Err(Error::Refused(Refusal::NotAClientAccount))),
        "{refused:?}"
    );
    let refused = new_token(&world.ports(), &team(&world).await, None).await;
    assert!(
        matches!(refused, Err(Error::Refused(Refusal::NotAClientAccount))),
        "{refused:?}"
    );
    assert!(actions(&world).is_empty());
    assert_eq!(world.tables.scim_token_hash(ACCOUNT), None);
    assert_eq!(status(&world, "usr_bob"), UserStatus::Active);
    // AND no directory may sync it (answered as an unknown token)
    assert!(
        synced_team(&world.ports(), ACCOUNT)
            .await
            .unwrap()
            .is_none()
    );
    // AND neither a client account suspended
    world
        .tables
        .change_account("acc_martin", |a| a.status = AccountStatus::Suspended);
    assert!(
        synced_team(&world.ports(), "acc_martin")
            .await
            .unwrap()
            .is_none()
    );
}
