//! Closing an account (billing.md "Account closure"): only the admin, only at the end of a
//! period, with 14 days' notice before the next billing date (otherwise at the end of the
//! following period); irreversible; confirmed by email. Until its closure date the account is
//! `closing`: it is still served and, when the closure falls a period later, still renewed
//! once; on that date nothing is renewed.
//!
//! On the closure date the `renew` function's run closes the account ([`close_account`]):
//! sign-ins deleted, invoices re-sealed under the retention key and moved out of the account,
//! every other item deleted in batches, and last the account item with its wrapped data key
//! (crypto-shredding). Each step can be run again, so a closure stopped halfway finishes on
//! the next run. docs/privacy.md says what is deleted, what is kept, and why.
//!
//! Turning auto-renew off is not closure: it only stops renewals and keeps everything
//! (`renewal::lapse`); closure ends the company's subscription for good.

use jiff::ToSpan;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::account::{Account, AccountStatus, HistoryEntry, Invoice, InvoiceCustomer};
use crate::app::App;
use crate::billing_calendar::Calendar;
use crate::crypto::{Field, Sealed};
use crate::error::Error;
use crate::http::Identity;
use crate::refusal::Refusal;
use crate::store::{ACCOUNT_SK, InvoiceItem, UserItem, account_pk, email_claim_pk};
use crate::values::Language;

/// How long issued invoices and credit notes are kept after closure (billing.md).
pub const RETENTION_YEARS: i16 = 10;

/// Days of notice before the next billing date for a closure to take effect on it.
pub const NOTICE_DAYS: i32 = 14;

/// The date a closure asked for on `today` takes effect: the next billing date with 14 days'
/// notice, otherwise the billing date after it.
pub fn closure_date(calendar: &Calendar, today: Date) -> Date {
    let period = calendar.period_containing(today);
    let next_billing = period.end();
    if today.saturating_add(NOTICE_DAYS.days()) <= next_billing {
        next_billing
    } else {
        calendar.following(&period).end()
    }
}

/// `POST /account/closure` as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosureBody {
    pub confirm: bool,
}

/// Records the admin's closure request: `closing` until `effective_date`, a history entry,
/// and the confirmation email. A second request is refused (409): the first one stands.
pub async fn request_closure(
    app: &App,
    caller: &Identity,
    body: ClosureBody,
) -> Result<serde_json::Value, Error> {
    let account_id = caller.require_admin()?;
    if !body.confirm {
        return Err(Error::validation(
            "confirm",
            "confirmation_required",
            "closing the account is irreversible: send {\"confirm\": true}",
        ));
    }
    let (item, key) = app.account_item(account_id).await?;
    let mut account = item.open(&key)?;
    account.require_own_billing()?;
    if crate::resellers::has_clients(app, &account).await? {
        return Err(Error::Refused(Refusal::ResellerHasClients(
            "a reseller closes once it has no client accounts left",
        )));
    }
    if let Some(date) = account.closure_date {
        return Err(Error::Refused(Refusal::ClosureAlreadyRequested(date)));
    }
    if account.status == AccountStatus::Closed {
        return Err(Error::NotFound);
    }
    let now = app.clock(account.test_clock_id.as_deref()).await?.now();
    let today = account.local_date(now);
    let effective = match account.status {
        // Nothing renews any more: the period it paid for has ended; it closes tonight.
        AccountStatus::Lapsed => today.tomorrow().map_err(Error::internal)?,
        _ => closure_date(&account.calendar(), today),
    };
    account.status = AccountStatus::Closing;
    account.closure_date = Some(effective);
    let entry = HistoryEntry {
        at: now,
        actor: caller.actor(),
        action: "closure_requested".into(),
        details: serde_json::json!({"effective_date": effective}),
    };
    // The runs compute the closure job from the account; they look at it again now.
    let recheck = crate::schedule::recheck_ops(app, account_id, now)?;
    crate::records::save_account(app, &item, &account, &key, &[entry], recheck).await?;
    tracing::info!(effective_date = %effective, "closure requested");
    confirm_by_email(app, &account, effective).await;
    Ok(serde_json::json!({"status": "closing", "effective_date": effective}))
}

/// Where a closed account's invoices are kept: out of its partition, which is deleted.
pub fn retained_pk(account_id: &str) -> String {
    format!("RETAINED#{account_id}")
}

/// An invoice or credit note of a closed account, kept for legal retention: amounts clear,
/// the customer block sealed under the platform retention key; DynamoDB's TTL removes it
/// when the retention period ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetainedInvoiceItem {
    pub pk: String,
    pub sk: String,
    #[serde(flatten)]
    pub invoice: Invoice,
    pub customer: Sealed,
    pub account_id: String,
    pub retained_until: Date,
    /// Epoch seconds of `retained_until`: the table's TTL attribute.
    pub expires_at: i64,
}

/// How far a closure got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Closing {
    /// Nothing of the account is left but its retained invoices.
    Done,
    /// Stopped after `max_batches` (an operator's or a test's limit): run it again.
    Continues,
}

/// Counts the batches a closure may still write.
struct Budget(Option<u32>);

impl Budget {
    /// Spends one batch; false once the limit is reached.
    fn spend(&mut self) -> bool {
        match &mut self.0 {
            None => true,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                *n > 0
            }
        }
    }
}

/// Closes the account on its closure date: see the module. `max_batches` stops it early
/// (`Closing::Continues`); running it again goes on where it stopped. An account that is
/// not closing, or whose closure date has not come, is refused: nothing is deleted.
pub async fn close_account(
    app: &App,
    account_id: &str,
    max_batches: Option<u32>,
) -> Result<Closing, Error> {
    let (item, key) = match app.account_item(account_id).await {
        // Gone: a run before this one finished it.
        Err(Error::NotFound) => return Ok(Closing::Done),
        other => other?,
    };
    let account = item.open(&key)?;
    let now = app.clock(account.test_clock_id.as_deref()).await?.now();
    let due = account
        .closure_date
        .is_some_and(|date| date <= account.local_date(now));
    if !matches!(item.status, AccountStatus::Closing | AccountStatus::Closed) || !due {
        return Err(Error::internal(format!(
            "account {account_id} is not due for closure ({:?}, {:?})",
            item.status, account.closure_date
        )));
    }
    if item.status == AccountStatus::Closing {
        let mut closed = item.clone();
        closed.status = AccountStatus::Closed;
        closed.version = item.version + 1;
        app.store
            .transact(vec![app.store.put_if_version_op(&closed, item.version)?])
            .await
            .map_err(|e| e.into_error(|_| Error::unavailable("the account changed; retry")))?;
        tracing::info!("account closed: deleting its data");
    }
    let mut budget = Budget(max_batches);
    let pk = account_pk(account_id);

    // Sign-ins and email claims first, while the key that opens the addresses exists.
    let users = UserItem::all(&app.store, account_id).await?;
    for user in &users {
        let email = key.open(
            Field::new(account_id, (&user.pk, &user.sk), "user_email"),
            &user.email,
        )?;
        app.directory.delete(&email).await?;
        app.store
            .delete_if(
                &email_claim_pk(&user.email_hash),
                "EMAIL",
                "account_id",
                account_id,
            )
            .await?;
        app.store
            .delete_batch(&[(pk.clone(), user.sk.clone())])
            .await?;
        if !budget.spend() {
            return Ok(Closing::Continues);
        }
    }

    // Invoices and credit notes: kept, under the retention key, outside the partition.
    let invoices: Vec<InvoiceItem> = app.store.query_prefix(&pk, "INVOICE#").await?;
    if !invoices.is_empty() {
        let retention = app.retention_key().await?;
        let today = account.local_date(now);
        let until = today
            .checked_add(jiff::Span::new().years(RETENTION_YEARS))
            .map_err(Error::internal)?;
        let expires_at =
            crate::billing_calendar::local_midnight(until, &jiff::tz::TimeZone::UTC).as_second();
        for invoice in invoices {
            let customer = key.open(
                Field::new(account_id, (&invoice.pk, &invoice.sk), "invoice_customer"),
                &invoice.customer,
            )?;
            let retained_pk = retained_pk(account_id);
            let retained = RetainedInvoiceItem {
                pk: retained_pk.clone(),
                sk: invoice.sk.clone(),
                invoice: invoice.invoice.clone(),
                customer: retention.seal(
                    Field::new(account_id, (&retained_pk, &invoice.sk), "invoice_customer"),
                    &customer,
                ),
                account_id: account_id.to_string(),
                retained_until: until,
                expires_at,
            };
            app.store
                .transact(vec![
                    app.store.put_op(&retained)?,
                    app.store.delete_op(&pk, &invoice.sk)?,
                ])
                .await
                .map_err(|e| e.into_error(|_| Error::unavailable("invoice moved meanwhile")))?;
            if !budget.spend() {
                return Ok(Closing::Continues);
            }
        }
    }

    // Support tickets: their attachments in S3, and the pointers that find them by id and
    // number (outside the partition); the tickets and messages go with the partition below.
    let tickets: Vec<crate::tickets::TicketItem> = app.store.query_prefix(&pk, "TICKET#").await?;
    if !tickets.is_empty() {
        crate::attachments::delete_prefix(app, &crate::tickets::attachments_prefix(account_id))
            .await?;
    }
    let pointers: Vec<(String, String)> = tickets
        .iter()
        .flat_map(|t| {
            [
                (crate::tickets::id_pointer_pk(&t.id), "TICKET".to_string()),
                (
                    crate::tickets::number_pointer_pk(t.number),
                    "TICKET".to_string(),
                ),
            ]
        })
        .collect();
    for chunk in pointers.chunks(24) {
        app.store.delete_batch(chunk).await?;
        if !budget.spend() {
            return Ok(Closing::Continues);
        }
    }

    // The payment sandbox's records of the account (non-prod; Stripe keeps its own), and the
    // recorded answers of its idempotent requests (sealed, and expiring within a day anyway).
    let mut indexed: Vec<ItemKey> = app
        .store
        .query_index_all(&format!("SANDBOX#ACCOUNT#{account_id}"))
        .await?;
    indexed.extend(
        app.store
            .query_index_all::<ItemKey>(&crate::idempotency::by_account(account_id))
            .await?,
    );
    for chunk in indexed.chunks(25) {
        let keys: Vec<(String, String)> =
            chunk.iter().map(|c| (c.pk.clone(), c.sk.clone())).collect();
        app.store.delete_batch(&keys).await?;
        if !budget.spend() {
            return Ok(Closing::Continues);
        }
    }

    // Everything else of the partition (history, schedules, markers), then the account item
    // with its wrapped data key (in the keys table, which has no backups): from then on
    // nothing sealed for the account opens again.
    let renew_schedule = crate::schedule::schedule_sk(crate::schedule::Runner::Renew);
    let rest: Vec<(String, String)> = app
        .store
        .partition_keys(&pk)
        .await?
        .into_iter()
        // The renew schedule brings the closure job back until the account is gone.
        .filter(|sk| sk != ACCOUNT_SK && *sk != renew_schedule)
        .map(|sk| (pk.clone(), sk))
        .collect();
    for chunk in rest.chunks(25) {
        app.store.delete_batch(chunk).await?;
        if !budget.spend() {
            return Ok(Closing::Continues);
        }
    }
    // The renew schedule goes last, with the account and its key, in one transaction: until
    // then a stopped closure is due again and the next run finishes it, and the key never
    // outlives the account that finds it.
    app.store
        .transact(vec![
            app.store.delete_op(&pk, &renew_schedule)?,
            app.store.delete_op(&pk, ACCOUNT_SK)?,
            app.store.delete_account_key_op(account_id)?,
        ])
        .await
        .map_err(|e| e.into_error(|_| Error::internal("an unconditional delete conflicted")))?;
    tracing::info!(
        users = users.len(),
        "account data deleted, data key shredded"
    );
    Ok(Closing::Done)
}

/// The keys of an item found through an index.
#[derive(Debug, Deserialize)]
struct ItemKey {
    pk: String,
    sk: String,
}

/// The retained invoices of a closed account, customer blocks opened with the retention key
/// (what the retention process reads; never served to a customer).
pub async fn retained_invoices(
    app: &App,
    account_id: &str,
) -> Result<Vec<(Invoice, InvoiceCustomer)>, Error> {
    let items: Vec<RetainedInvoiceItem> = app
        .store
        .query_prefix(&retained_pk(account_id), "INVOICE#")
        .await?;
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let retention = app.retention_key().await?;
    items
        .into_iter()
        .map(|i| {
            let customer = retention.open(
                Field::new(account_id, (&i.pk, &i.sk), "invoice_customer"),
                &i.customer,
            )?;
            let customer = serde_json::from_str(&customer).map_err(Error::internal)?;
            Ok((i.invoice, customer))
        })
        .collect()
}

/// The confirmation email; a mail failure does not undo the request (it is logged).
async fn confirm_by_email(app: &App, account: &Account, effective: Date) {
    let (subject, text) = closure_email(account.language, account.company_name.as_str(), effective);
    let mail = crate::mailer::Mail {
        to: account.admin_email.as_str().to_string(),
        subject,
        text,
        auto_submitted: "auto-generated",
        attachments: vec![],
    };
    if let Err(e) = app.mailer.send(&mail).await {
        tracing::error!(error = %e, "closure confirmation not sent");
    }
}

/// Subject and text of the closure confirmation.
pub fn closure_email(lang: Language, company: &str, effective: Date) -> (String, String) {
    let (subject, text) = match lang {
        Language::Fr => (
            "Fermeture de votre compte Softbrik le {date}",
            "Bonjour,\n\nNous confirmons la fermeture du compte de {company}. Elle prendra effet le {date} : aucun renouvellement n'aura lieu à cette date, et toutes les données de l'entreprise seront alors supprimées définitivement. Seules les factures émises sont conservées, chiffrées, pendant la durée légale.\n\nCette demande est irréversible. Pour utiliser à nouveau Softbrik, il faudra créer un nouveau compte.\n",
        ),
        Language::Da => (
            "Lukning af din Softbrik-konto den {date}",
            "Hej,\n\nVi bekræfter lukningen af kontoen for {company}. Den træder i kraft den {date}: der sker ingen fornyelse på den dato, og alle virksomhedens data slettes da endeligt. Kun udstedte fakturaer opbevares, krypteret, i den lovpligtige periode.\n\nAnmodningen kan ikke fortrydes. For at bruge Softbrik igen skal der oprettes en ny konto.\n",
        ),
        Language::En => (
            "Your Softbrik account closes on {date}",
            "Hello,\n\nWe confirm the closure of the account of {company}. It takes effect on {date}: nothing is renewed on that date, and all the company's data is then deleted for good. Only issued invoices are kept, encrypted, for the legal retention period.\n\nThis request cannot be undone. To use Softbrik again, a new account must be created.\n",
        ),
    };
    let fill = |t: &str| {
        t.replace("{date}", &effective.to_string())
            .replace("{company}", company)
    };
    (fill(subject), fill(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing_calendar::AnchorDay;
    use jiff::civil::date;

    fn anchored_12th() -> Calendar {
        Calendar::anniversary(AnchorDay::new(12).unwrap())
    }

    #[test]
    fn fourteen_days_before_the_billing_date_closes_on_it() {
        assert_eq!(
            closure_date(&anchored_12th(), date(2026, 12, 29)),
            date(2027, 1, 12)
        );
    }

    #[test]
    fn thirteen_days_before_closes_a_period_later() {
        assert_eq!(
            closure_date(&anchored_12th(), date(2026, 12, 30)),
            date(2027, 2, 12)
        );
    }

    #[test]
    fn on_the_billing_date_itself_the_notice_runs_from_the_new_period() {
        // Jan 12 is the first day of the period ending Feb 12: 31 days' notice.
        assert_eq!(
            closure_date(&anchored_12th(), date(2027, 1, 12)),
            date(2027, 2, 12)
        );
    }

    #[test]
    fn a_short_february_still_needs_fourteen_days() {
        let calendar = Calendar::anniversary(AnchorDay::new(31).unwrap());
        // Period Jan 31 - Feb 28: Feb 14 is exactly 14 days before.
        assert_eq!(
            closure_date(&calendar, date(2027, 2, 14)),
            date(2027, 2, 28)
        );
        assert_eq!(
            closure_date(&calendar, date(2027, 2, 15)),
            date(2027, 3, 31)
        );
    }

    #[test]
    fn a_budget_of_n_batches_stops_after_the_nth_and_none_never_stops() {
        let mut one = Budget(Some(1));
        assert!(!one.spend(), "stops after the first batch");
        let mut two = Budget(Some(2));
        assert!(two.spend());
        assert!(!two.spend());
        let mut unlimited = Budget(None);
        assert!((0..1000).all(|_| unlimited.spend()));
    }

    #[test]
    fn the_confirmation_speaks_each_language() {
        let (fr, _) = closure_email(Language::Fr, "Dupont", date(2027, 1, 12));
        let (da, _) = closure_email(Language::Da, "Hansen", date(2027, 1, 12));
        let (en, body) = closure_email(Language::En, "Acme", date(2027, 1, 12));
        assert_eq!(fr, "Fermeture de votre compte Softbrik le 2027-01-12");
        assert_eq!(da, "Lukning af din Softbrik-konto den 2027-01-12");
        assert_eq!(en, "Your Softbrik account closes on 2027-01-12");
        assert!(body.contains("Acme"));
    }
}
