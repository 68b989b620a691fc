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
//! (`softbrik_app::renewal`'s lapse); closure ends the company's subscription for good. The
//! request is `softbrik_app::subscription::request_closure`; its date,
//! `softbrik_domain::subscription::closure_date`.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::account::{AccountStatus, Invoice, InvoiceCustomer};
use crate::app::App;
use crate::crypto::{Field, Sealed};
use crate::error::Error;
use crate::http::Identity;
use crate::store::{ACCOUNT_SK, InvoiceItem, UserItem, account_pk, email_claim_pk};

/// How long issued invoices and credit notes are kept after closure (billing.md).
pub const RETENTION_YEARS: i16 = 10;

/// `POST /account/closure` as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosureBody {
    pub confirm: bool,
}

/// Records the admin's closure request (`softbrik_app::subscription::request_closure`):
/// `closing` until `effective_date`, a history entry, and the confirmation email. A second
/// request is refused (409): the first one stands.
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
    softbrik_app::subscription::request_closure(&app.ports(), account_id, &caller.actor()).await
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
