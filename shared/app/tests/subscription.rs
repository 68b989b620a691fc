//! The admin's changes of the subscription (billing.md "Billing period", "Calendar-month
//! billing", "Payment", "Account closure"), in process: GIVEN Fromagerie Dupont (periods from
//! the 12th; Alice and Bob on File storage, 6.00 each) in memory, WHEN its admin changes the
//! settings, moves to calendar months, replaces the card or asks for the closure, THEN the
//! account, its history, its schedules, its charges and its mail are what billing.md says.

mod common;

use common::{ACCOUNT, actions, dupont_paying, noon};
use jiff::civil::{Date, date};
use softbrik_app::Error;
use softbrik_app::memory::World;
use softbrik_app::ports::account::Reschedule;
use softbrik_app::{renewal, subscription};
use softbrik_domain::account::{AccountKind, AccountStatus, InvoiceStatus};
use softbrik_domain::billing_calendar::AnchorDay;
use softbrik_domain::examples::company;
use softbrik_domain::money::Money;
use softbrik_domain::refusal::Refusal;
use softbrik_domain::subscription::Settings;
use softbrik_domain::values::{EmailAddress, Language, PaymentMethodToken, TimeZoneName};

const ALICE: &str = "user:usr_alice";

fn dupont(today: Date) -> World {
    dupont_paying(today, AccountKind::Company)
}

async fn settings(world: &World, settings: Settings) -> Result<serde_json::Value, Error> {
    let view = subscription::update_settings(&world.ports(), ACCOUNT, ALICE, settings).await?;
    Ok(serde_json::to_value(view).unwrap())
}

fn account(world: &World) -> softbrik_domain::account::Account {
    world.tables.account(ACCOUNT).unwrap()
}

#[tokio::test]
async fn the_language_and_the_invoice_address_change_with_their_history() {
    let world = dupont(date(2026, 12, 20));
    let view = settings(
        &world,
        Settings {
            language: Some(Language::En),
            invoice_email: Some(Some(EmailAddress::parse("compta@dupont.fr").unwrap())),
            ..Settings::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(view["language"], "en");
    let stored = account(&world);
    assert_eq!(stored.language, Language::En);
    assert_eq!(stored.invoice_email.unwrap().as_str(), "compta@dupont.fr");
    assert_eq!(
        actions(&world),
        ["language_changed", "invoice_email_changed"]
    );
    assert_eq!(world.tables.history(ACCOUNT)[0].actor, ALICE);
    // AND the billing runs are left alone
    assert!(world.tables.reschedules(ACCOUNT).is_empty());
    // WHEN the invoices go back to the admin
    settings(
        &world,
        Settings {
            invoice_email: Some(None),
            ..Settings::default()
        },
    )
    .await
    .unwrap();
    assert!(account(&world).invoice_email.is_none());
}

#[tokio::test]
async fn a_new_time_zone_makes_the_runs_look_at_the_account_again() {
    let world = dupont(date(2026, 12, 20));
    settings(
        &world,
        Settings {
            timezone: Some(TimeZoneName::parse("Europe/Copenhagen").unwrap()),
            ..Settings::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(account(&world).timezone.as_str(), "Europe/Copenhagen");
    assert_eq!(world.tables.reschedules(ACCOUNT), vec![Reschedule::Recheck]);
}

#[tokio::test]
async fn auto_renew_off_ends_the_subscription_with_the_period() {
    let world = dupont(date(2026, 12, 20));
    let off = Settings {
        auto_renew: Some(false),
        ..Settings::default()
    };
    settings(&world, off.clone()).await.unwrap();
    assert!(!account(&world).auto_renew);
    assert_eq!(
        world.tables.history(ACCOUNT)[0].details["ends_on"],
        "2027-01-12"
    );
    // WHEN asked again: nothing more
    settings(&world, off).await.unwrap();
    assert_eq!(actions(&world), ["auto_renew_off"]);
}

#[tokio::test]
async fn a_reseller_with_clients_keeps_renewing_and_a_client_has_no_say() {
    // GIVEN a reseller with one client account
    let world = dupont(date(2026, 12, 20));
    world
        .tables
        .change_account(ACCOUNT, |a| a.kind = AccountKind::Reseller);
    let mut client = company(date(2026, 12, 12));
    client.id = "acc_client".into();
    client.kind = AccountKind::Client;
    client.reseller_id = Some(ACCOUNT.into());
    world.tables.add_account(client);
    let off = Settings {
        auto_renew: Some(false),
        ..Settings::default()
    };
    assert!(matches!(
        settings(&world, off.clone()).await,
        Err(Error::Refused(Refusal::ResellerHasClients(_)))
    ));
    assert!(account(&world).auto_renew);
    assert!(actions(&world).is_empty());
    // AND the client account cannot turn it off: its reseller bills it
    let refused =
        subscription::update_settings(&world.ports(), "acc_client", "user:usr_x", off).await;
    assert!(matches!(refused, Err(Error::Refused(_))));
}

#[tokio::test]
async fn a_lapsed_account_turned_back_on_is_renewed_today_on_a_new_calendar() {
    // GIVEN Dupont lapsed at its period end, on 12 January
    let world = dupont(date(2027, 2, 3));
    world.tables.change_account(ACCOUNT, |a| {
        a.auto_renew = false;
        a.status = AccountStatus::Lapsed;
    });
    // WHEN the admin turns auto-renew on on 3 February
    let view = settings(
        &world,
        Settings {
            auto_renew: Some(true),
            ..Settings::default()
        },
    )
    .await
    .unwrap();
    // THEN active again, anchored on the 3rd, its schedules restarted
    let stored = account(&world);
    assert_eq!(stored.status, AccountStatus::Active);
    assert_eq!(stored.anchor_day, AnchorDay::new(3).unwrap());
    assert_eq!(view["status"], "active");
    assert_eq!(world.tables.reschedules(ACCOUNT), vec![Reschedule::Restart]);
    // AND the new period, 3 February to 3 March, is billed and charged now: 14.40
    let invoices = world.tables.invoices(ACCOUNT);
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0].period.start(), date(2027, 2, 3));
    assert_eq!(invoices[0].period.end(), date(2027, 3, 3));
    assert_eq!(invoices[0].totals.total, Money::parse("14.40").unwrap());
    assert_eq!(invoices[0].status, InvoiceStatus::Paid);
    assert_eq!(actions(&world), ["auto_renew_on", "renewal"]);
}

#[tokio::test]
async fn calendar_months_start_at_the_period_end_once() {
    let world = dupont(date(2026, 12, 20));
    let (status, answer) = subscription::align_billing(&world.ports(), ACCOUNT, ALICE)
        .await
        .unwrap();
    assert_eq!(status, 202);
    assert_eq!(answer["effective_date"], "2027-01-12");
    assert_eq!(account(&world).calendar_from, Some(date(2027, 1, 12)));
    // WHEN asked again: 200, unchanged
    let (status, answer) = subscription::align_billing(&world.ports(), ACCOUNT, ALICE)
        .await
        .unwrap();
    assert_eq!((status, answer["changed"].clone()), (200, false.into()));
    assert_eq!(actions(&world), ["calendar_switch"]);
}

#[tokio::test]
async fn calendar_months_asked_after_the_cut_off_start_a_period_later() {
    let world = dupont(date(2027, 1, 11));
    let (_, answer) = subscription::align_billing(&world.ports(), ACCOUNT, ALICE)
        .await
        .unwrap();
    assert_eq!(answer["effective_date"], "2027-02-12");
}

#[tokio::test]
async fn a_new_card_pays_the_open_invoices_at_once() {
    // GIVEN the renewal of 12 January declined: past due
    let world = dupont(date(2027, 1, 12));
    *world.ledger.decline.lock().unwrap() = true;
    let records = world.ports().billing.renewing(ACCOUNT).await.unwrap();
    renewal::renew(&world.ports(), &records, date(2027, 1, 12), None)
        .await
        .unwrap();
    *world.ledger.decline.lock().unwrap() = false;
    world.tables.set_now(noon(date(2027, 1, 13)));
    // WHEN the admin gives a new card
    let answer = subscription::replace_payment_method(
        &world.ports(),
        ACCOUNT,
        ALICE,
        PaymentMethodToken::parse("pm_card_mastercard").unwrap(),
    )
    .await
    .unwrap();
    // THEN the card is stored, the invoice paid with it, the account active
    assert_eq!(answer["invoices_paid"], 1);
    assert_eq!(
        account(&world).payment_method.unwrap().token.as_str(),
        "pm_card_mastercard"
    );
    assert_eq!(account(&world).status, AccountStatus::Active);
    assert_eq!(
        world.tables.invoices(ACCOUNT)[0].status,
        InvoiceStatus::Paid
    );
    assert_eq!(
        actions(&world),
        [
            "renewal_payment_failed",
            "payment_method_replaced",
            "payment_succeeded"
        ]
    );
}

#[tokio::test]
async fn a_closure_takes_effect_at_the_period_end_with_14_days_notice_once() {
    let world = dupont(date(2026, 12, 20));
    let answer = subscription::request_closure(&world.ports(), ACCOUNT, ALICE)
        .await
        .unwrap();
    // THEN closing until 12 January, the runs told, the admin told in French
    assert_eq!(answer["effective_date"], "2027-01-12");
    let stored = account(&world);
    assert_eq!(stored.status, AccountStatus::Closing);
    assert_eq!(stored.closure_date, Some(date(2027, 1, 12)));
    assert_eq!(world.tables.reschedules(ACCOUNT), vec![Reschedule::Recheck]);
    let sent = world.outbox.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "alice@dupont.fr");
    assert_eq!(
        sent[0].subject,
        "Fermeture de votre compte Softbrik le 2027-01-12"
    );
    // WHEN asked again: refused, the first request stands
    assert!(matches!(
        subscription::request_closure(&world.ports(), ACCOUNT, ALICE).await,
        Err(Error::Refused(Refusal::ClosureAlreadyRequested(_)))
    ));
    assert_eq!(actions(&world), ["closure_requested"]);
    assert_eq!(world.outbox.sent().len(), 1);
}

#[tokio::test]
async fn a_closure_asked_13_days_before_waits_a_period_and_a_failed_mail_does_not_undo_it() {
    let world = dupont(date(2026, 12, 30));
    *world.outbox.unavailable.lock().unwrap() = true;
    let answer = subscription::request_closure(&world.ports(), ACCOUNT, ALICE)
        .await
        .unwrap();
    assert_eq!(answer["effective_date"], "2027-02-12");
    assert_eq!(account(&world).status, AccountStatus::Closing);
}
