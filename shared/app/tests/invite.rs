//! Inviting a user (billing.md "Mid-period additions"), in process: GIVEN every port in
//! memory, WHEN the admin (or a directory sync) adds a member, THEN the sign-in, the user, the
//! charge, the invoice and the mails are all there, or, refused, none is: no sign-in is left
//! without its user.

mod common;

use common::{ACCOUNT, actions, dupont_paying, team};
use jiff::civil::date;
use serde_json::json;
use softbrik_app::Error;
use softbrik_app::memory::World;
use softbrik_app::team::{self, NewMember};
use softbrik_domain::account::{AccountKind, UserStatus};
use softbrik_domain::catalogue::{Brik, default_catalogue};
use softbrik_domain::money::Money;
use softbrik_domain::refusal::Refusal;
use softbrik_domain::values::{EmailAddress, Language, PersonName};

fn member(email: &str, active: bool) -> NewMember {
    NewMember {
        email: EmailAddress::parse(email).unwrap(),
        name: PersonName::parse("Carol Petit").unwrap(),
        language: Language::Fr,
        active,
    }
}

/// The admin invites `email` with `briks` (ids of the catalogue).
async fn invite(
    world: &World,
    new: &NewMember,
    briks: &[&str],
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let catalogue = default_catalogue();
    let briks: Vec<&Brik> = briks
        .iter()
        .map(|id| catalogue.iter().find(|b| b.id.as_str() == *id).unwrap())
        .collect();
    let request = json!({"route": "POST /account/users", "email": new.email.as_str()});
    team::add_member(
        &world.ports(),
        &team(world).await,
        new,
        &briks,
        key,
        request,
    )
    .await
}

#[tokio::test]
async fn an_invited_user_with_a_brik_is_charged_signed_up_and_emailed_once() {
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Company);
    let carol = member("carol@dupont.fr", true);
    let (status, answer) = invite(&world, &carol, &["stock"], Some("k1"))
        .await
        .unwrap();
    // THEN 201: Carol invited, her sign-in made, Inventory charged for the 23 days left
    assert_eq!(status, 201);
    assert_eq!(answer["user"]["status"], "invited");
    let id = answer["user"]["id"].as_str().unwrap();
    let stored = world.tables.user(ACCOUNT, id).unwrap();
    assert_eq!(stored.status, UserStatus::Invited);
    assert_eq!(world.sign_ins.get("carol@dupont.fr").unwrap().user_id, id);
    let invoice = &world.tables.invoices(ACCOUNT)[0];
    assert_eq!(invoice.totals.total, Money::parse("7.13").unwrap());
    assert_eq!(answer["invoice"]["number"], invoice.number.clone().unwrap());
    assert_eq!(actions(&world), ["user_invited"]);
    // AND her first password by mail, then her Brik and from when; the invoice by mail
    let sent = world.outbox.sent();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|m| m.to == "carol@dupont.fr"));
    assert!(
        sent[0].text.contains("carol@dupont.fr"),
        "the invitation first"
    );
    assert_eq!(sent[1].subject, "Nouveau Brik : Gestion des stocks");
    assert!(sent[1].text.contains("2026-12-20"));
    assert_eq!(world.tables.mailed(), vec![invoice.id.clone()]);
    // WHEN the request comes again with its key: the same answer, nothing more
    let again = invite(&world, &carol, &["stock"], Some("k1"))
        .await
        .unwrap();
    assert_eq!(again, (201, answer));
    assert_eq!(world.ledger.charges().len(), 1);
    assert_eq!(world.outbox.sent().len(), 2);
}

#[tokio::test]
async fn an_address_already_used_is_refused_before_anything_is_made() {
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Company);
    let refused = invite(&world, &member("bob@dupont.fr", true), &["stock"], None).await;
    assert!(matches!(refused, Err(Error::EmailTaken)));
    assert_eq!(world.sign_ins.get("bob@dupont.fr"), None);
    assert!(world.ledger.charges().is_empty());
    assert!(world.outbox.sent().is_empty());
}

#[tokio::test]
async fn a_refused_card_leaves_no_user_and_no_sign_in() {
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Company);
    *world.ledger.decline.lock().unwrap() = true;
    let refused = invite(&world, &member("carol@dupont.fr", true), &["stock"], None).await;
    assert!(matches!(refused, Err(Error::CardDeclined { .. })));
    assert_eq!(world.sign_ins.get("carol@dupont.fr"), None);
    assert_eq!(
        actions(&world),
        ["payment_failed"],
        "and nothing else of the change"
    );
    assert!(world.outbox.sent().is_empty());
    assert!(world.tables.invoices(ACCOUNT).is_empty());
}

#[tokio::test]
async fn a_client_accounts_new_user_is_billed_to_its_reseller_not_charged() {
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Client);
    invite(&world, &member("carol@dupont.fr", true), &["stock"], None)
        .await
        .unwrap();
    assert!(world.ledger.charges().is_empty());
    assert!(world.tables.invoices(ACCOUNT).is_empty());
    assert_eq!(world.tables.counted(ACCOUNT), 1);
    assert_eq!(world.outbox.sent().len(), 2, "the invitation and her Brik");
}

#[tokio::test]
async fn a_member_a_directory_sync_adds_from_the_deny_list_has_no_access_and_no_mail() {
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Client);
    let (_, answer) = invite(&world, &member("carol@dupont.fr", false), &[], None)
        .await
        .unwrap();
    assert_eq!(answer["user"]["status"], "inactive");
    assert!(!world.sign_ins.get("carol@dupont.fr").unwrap().access);
    assert!(world.outbox.sent().is_empty());
    assert_eq!(
        world.tables.counted(ACCOUNT),
        0,
        "an inactive user is not billed"
    );
}

#[tokio::test]
async fn a_resellers_user_gets_no_brik_and_no_sign_in_is_left() {
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Reseller);
    let refused = invite(&world, &member("carol@dupont.fr", true), &["stock"], None).await;
    assert!(matches!(
        refused,
        Err(Error::Refused(Refusal::NotForReseller))
    ));
    assert_eq!(world.sign_ins.get("carol@dupont.fr"), None);
    assert!(actions(&world).is_empty());
}

#[tokio::test]
async fn a_write_in_doubt_keeps_the_sign_in_and_the_charge() {
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Company);
    *world.tables.fail_next.lock().unwrap() = Some(Error::InDoubt("timeout".into()));
    let failed = invite(
        &world,
        &member("carol@dupont.fr", true),
        &["stock"],
        Some("k1"),
    )
    .await;
    // THEN 503 to retry with the key: the write may have landed, so nothing is undone
    assert!(matches!(failed, Err(Error::InDoubt(_))));
    assert!(world.sign_ins.get("carol@dupont.fr").is_some());
    assert!(!world.ledger.charges()[0].1, "not refunded");
}

#[tokio::test]
async fn an_address_with_a_sign_in_left_behind_is_refused_as_the_directory_does() {
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Company);
    let carol = member("carol@dupont.fr", true);
    *world.tables.fail_next.lock().unwrap() = Some(Error::unavailable("the table"));
    let failed = invite(&world, &carol, &[], None).await;
    assert!(matches!(failed, Err(Error::Unavailable(_))));
    // THEN the refused invitation's sign-in was deleted, so the retry goes through
    assert_eq!(world.sign_ins.get("carol@dupont.fr"), None);
    invite(&world, &carol, &[], None).await.unwrap();
    // AND an address that still has a sign-in is refused, as Cognito refuses it
    let mut again = member("carol@dupont.fr", true);
    again.name = PersonName::parse("Carol Again").unwrap();
    let refused = invite(&world, &again, &[], None).await;
    assert!(matches!(refused, Err(Error::EmailTaken)));
}
