//! Issued invoices and the history (billing.md "Invoices"), in process: GIVEN Fromagerie
//! Dupont in memory with invoices issued, WHEN one is emailed, listed, read, downloaded or sent
//! again, THEN its email carries its PDF in French to the right address, a failed email is
//! sent again by the settlement run once, and the lists come newest first a page at a time.

mod common;

use common::{ACCOUNT, dupont_paying, team};
use jiff::civil::date;
use softbrik_app::Error;
use softbrik_app::memory::World;
use softbrik_app::{invoices, team as app_team};
use softbrik_domain::account::AccountKind;
use softbrik_domain::catalogue::default_catalogue;
use softbrik_domain::values::EmailAddress;

/// GIVEN Dupont on 20 December, Bob given Inventory then Customer care: two invoices.
async fn with_invoices() -> World {
    let world = dupont_paying(date(2026, 12, 20), AccountKind::Company);
    for brik in ["stock", "care"] {
        app_team::assign(
            &world.ports(),
            &team(&world).await,
            &default_catalogue(),
            "usr_bob",
            brik,
            None,
        )
        .await
        .unwrap();
    }
    // (Bob was told of his two Briks.)
    world.outbox.clear();
    world
}

fn account(world: &World) -> softbrik_domain::account::Account {
    world.tables.account(ACCOUNT).unwrap()
}

#[tokio::test]
async fn an_issued_invoice_is_emailed_in_french_with_its_pdf_to_the_invoice_address() {
    let world = with_invoices().await;
    let invoice = world.tables.invoices(ACCOUNT)[0].clone();
    world.tables.change_account(ACCOUNT, |a| {
        a.invoice_email = Some(EmailAddress::parse("compta@dupont.fr").unwrap());
    });
    invoices::email(&world.ports(), &account(&world), &invoice).await;
    let sent = world.outbox.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "compta@dupont.fr");
    let number = invoice.number.clone().unwrap();
    assert_eq!(sent[0].subject, format!("Votre facture Softbrik {number}"));
    let pdf = &sent[0].attachments[0];
    assert_eq!(pdf.filename, format!("{number}.pdf"));
    assert_eq!(pdf.content_type, "application/pdf");
    assert!(pdf.bytes.starts_with(b"%PDF"));
    assert!(world.tables.mail_retries().is_empty());
}

#[tokio::test]
async fn a_failed_email_is_sent_again_by_the_settlement_run_once() {
    let world = with_invoices().await;
    let invoice = world.tables.invoices(ACCOUNT)[0].clone();
    *world.outbox.unavailable.lock().unwrap() = true;
    invoices::email(&world.ports(), &account(&world), &invoice).await;
    assert_eq!(
        world.tables.mail_retries(),
        vec![(ACCOUNT.to_string(), invoice.id.clone())]
    );
    // WHEN the run comes while mail still fails: left for the next
    assert_eq!(invoices::resend(&world.ports()).await.unwrap(), (0, 1));
    // WHEN mail works again: sent, to the admin, and no more retries
    *world.outbox.unavailable.lock().unwrap() = false;
    assert_eq!(invoices::resend(&world.ports()).await.unwrap(), (1, 0));
    let sent = world.outbox.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "alice@dupont.fr");
    assert!(world.tables.mail_retries().is_empty());
    assert_eq!(invoices::resend(&world.ports()).await.unwrap(), (0, 0));
}

#[tokio::test]
async fn an_invoice_is_read_downloaded_and_sent_again_by_its_account_only() {
    let world = with_invoices().await;
    let id = world.tables.invoices(ACCOUNT)[1].id.clone();
    let read = invoices::invoice(&world.ports(), ACCOUNT, &id)
        .await
        .unwrap();
    assert_eq!(read.id, id);
    let (filename, bytes) = invoices::pdf(&world.ports(), ACCOUNT, &id).await.unwrap();
    assert!(filename.ends_with(".pdf") && bytes.starts_with(b"%PDF"));
    let to = EmailAddress::parse("expert@cabinet.fr").unwrap();
    let answer = invoices::send_again(&world.ports(), ACCOUNT, &id, Some(&to), None)
        .await
        .unwrap();
    assert_eq!(answer["sent_to"], "expert@cabinet.fr");
    assert_eq!(world.outbox.sent()[0].to, "expert@cabinet.fr");
    // AND another account's invoice, or none, is not found
    for (account, invoice) in [("acc_other", id.as_str()), (ACCOUNT, "inv_none")] {
        assert!(matches!(
            invoices::invoice(&world.ports(), account, invoice).await,
            Err(Error::NotFound)
        ));
    }
}

#[tokio::test]
async fn the_lists_come_newest_first_a_page_at_a_time() {
    let world = with_invoices().await;
    let stored = world.tables.invoices(ACCOUNT);
    let first = invoices::list(&world.ports(), ACCOUNT, 1, None)
        .await
        .unwrap();
    assert_eq!(first.items.len(), 1);
    assert_eq!(first.items[0].id, stored[1].id, "the newest first");
    let cursor = first.next.expect("a next page");
    let second = invoices::list(&world.ports(), ACCOUNT, 1, Some(&cursor))
        .await
        .unwrap();
    assert_eq!(second.items[0].id, stored[0].id);
    assert!(second.next.is_none());
    let history = invoices::history(&world.ports(), ACCOUNT, 50, None)
        .await
        .unwrap();
    let actions: Vec<&str> = history.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["brik_assigned", "brik_assigned"]);
    assert!(history.next.is_none());
}
