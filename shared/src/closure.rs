//! Closing an account (billing.md "Account closure"): only the admin, only at the end of a
//! period, with 14 days' notice before the next billing date (otherwise at the end of the
//! following period); irreversible; confirmed by email. Until its closure date the account is
//! `closing`: it is still served and, when the closure falls a period later, still renewed
//! once; on that date nothing is renewed.
//!
//! On the closure date the `renew` function's run closes the account ([`close_account`],
//! `softbrik_app::closure`, over this module's adapter of `ClosureTable`):
//! sign-ins deleted, invoices re-sealed under the retention key and moved out of the account,
//! every other item deleted in batches, and last the account item with its wrapped data key
//! (crypto-shredding). Each step can be run again, so a closure stopped halfway finishes on
//! the next run. docs/privacy.md says what is deleted, what is kept, and why.
//!
//! Turning auto-renew off is not closure: it only stops renewals and keeps everything
//! (`softbrik_app::renewal`'s lapse); closure ends the company's subscription for good. The
//! request is `softbrik_app::subscription::request_closure`; its date,
//! `softbrik_domain::subscription::closure_date`.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use softbrik_app::ports::account::AccountTable;
use softbrik_app::ports::closure::ClosureTable;
use softbrik_app::ports::team::{Read, Stamp};

use crate::account::{Account, AccountStatus, Invoice, InvoiceCustomer, User};
use crate::app::App;
use crate::crypto::{DataKey, Field, Sealed};
use crate::error::Error;
use crate::store::{ACCOUNT_SK, AccountItem, InvoiceItem, UserItem, account_pk, email_claim_pk};

/// How long issued invoices and credit notes are kept after closure (billing.md).
pub use softbrik_domain::subscription::RETENTION_YEARS;

/// `POST /account/closure` as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosureBody {
    pub confirm: bool,
}

impl ClosureBody {
    /// Closing is irreversible: only `{"confirm": true}` asks for it.
    pub fn confirmed(&self) -> Result<(), Error> {
        if self.confirm {
            Ok(())
        } else {
            Err(Error::validation(
                "confirm",
                "confirmation_required",
                "closing the account is irreversible: send {\"confirm\": true}",
            ))
        }
    }
}

/// Records the closure request (`softbrik_app::subscription::request_closure`) of the admin,
/// or of support staff for the customer (`actor`): `closing` until `effective_date`, a
/// history entry, and the confirmation email. A second request is refused (409): the first
/// one stands.
pub async fn request_closure(
    app: &App,
    account_id: &str,
    actor: &str,
    body: ClosureBody,
) -> Result<serde_json::Value, Error> {
    body.confirmed()?;
    softbrik_app::subscription::request_closure(&app.ports(), account_id, actor).await
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

pub use softbrik_app::closure::Closing;

/// Closes the account on its closure date (`softbrik_app::closure::close_account`; see the
/// module). `max_batches` stops it early (`Closing::Continues`); running it again goes on
/// where it stopped.
pub async fn close_account(
    app: &App,
    account_id: &str,
    max_batches: Option<u32>,
) -> Result<Closing, Error> {
    softbrik_app::closure::close_account(&app.ports(), account_id, max_batches).await
}

/// What the closure adapter deletes after the users and invoices, one batch at a time.
enum Leftover {
    /// The tickets' attachments in S3 (under the account's prefix), and a first chunk of the
    /// pointers that find the tickets by id and number (outside the partition).
    Attachments {
        prefix: String,
        keys: Vec<(String, String)>,
    },
    /// Items by their keys: pointers, the payment sandbox's records, recorded answers, the
    /// rest of the partition.
    Items(Vec<(String, String)>),
}

/// The account item and its data key, as a closure read them.
fn sealing(account: &Read<Account>) -> Result<(&AccountItem, &Arc<DataKey>), Error> {
    let (item, key) = account.stamp.get::<(AccountItem, Arc<DataKey>)>()?;
    Ok((item, key))
}

/// A closure on AWS: the account's items in DynamoDB, its sign-ins' claims, its tickets'
/// attachments in S3, its retained invoices under the platform's retention key, and its
/// wrapped data key in the keys table (which has no backups).
#[async_trait]
impl ClosureTable for App {
    async fn leave_reseller(
        &self,
        account: &Read<Account>,
        now: jiff::Timestamp,
    ) -> Result<(), Error> {
        crate::resellers::leave(self, &account.value, now).await
    }

    async fn closing(&self, account_id: &str) -> Result<Option<Read<Account>>, Error> {
        match AccountTable::account(self, account_id).await {
            Ok(read) => Ok(Some(read)),
            Err(Error::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn mark_closed(
        &self,
        account: &Read<Account>,
        events: Vec<softbrik_domain::events::Event>,
    ) -> Result<(), Error> {
        let (item, _) = sealing(account)?;
        let mut closed = item.clone();
        closed.status = AccountStatus::Closed;
        closed.version = item.version + 1;
        let mut ops = vec![self.store.put_if_version_op(&closed, item.version)?];
        ops.extend(crate::events::outbox_ops(self, &events)?);
        self.store
            .transact(ops)
            .await
            .map_err(|e| e.into_error(|_| Error::unavailable("the account changed; retry")))?;
        // Told before the data goes; if the bus fails, the events wait outside what the
        // closure deletes (`leftovers`) and the settlement run tells them.
        crate::events::publish_account(self, &item.id).await;
        Ok(())
    }

    async fn users(&self, account: &Read<Account>) -> Result<Vec<Read<User>>, Error> {
        let (_, key) = sealing(account)?;
        let account_id = &account.value.id;
        UserItem::all(&self.store, account_id)
            .await?
            .into_iter()
            .map(|item| {
                Ok(Read {
                    value: item.open(account_id, key)?,
                    stamp: Stamp::new(item),
                })
            })
            .collect()
    }

    async fn forget_user(&self, account: &Read<Account>, user: &Read<User>) -> Result<(), Error> {
        let item: &UserItem = user.stamp.get()?;
        let account_id = &account.value.id;
        self.store
            .delete_if(
                &email_claim_pk(&item.email_hash),
                "EMAIL",
                "account_id",
                account_id,
            )
            .await?;
        self.store
            .delete_batch(&[(account_pk(account_id), item.sk.clone())])
            .await
    }

    async fn invoices(&self, account: &Read<Account>) -> Result<Vec<Read<Invoice>>, Error> {
        let items: Vec<InvoiceItem> = self
            .store
            .query_prefix(&account_pk(&account.value.id), "INVOICE#")
            .await?;
        Ok(items
            .into_iter()
            .map(|item| Read {
                value: item.invoice.clone(),
                stamp: Stamp::new(item),
            })
            .collect())
    }

    async fn retain(
        &self,
        account: &Read<Account>,
        invoice: &Read<Invoice>,
        until: Date,
    ) -> Result<(), Error> {
        let (_, key) = sealing(account)?;
        let item: &InvoiceItem = invoice.stamp.get()?;
        let account_id = &account.value.id;
        let retention = self.retention_key().await?;
        let customer = key.open(
            Field::new(account_id, (&item.pk, &item.sk), "invoice_customer"),
            &item.customer,
        )?;
        let retained_pk = retained_pk(account_id);
        let expires_at =
            crate::billing_calendar::local_midnight(until, &jiff::tz::TimeZone::UTC).as_second();
        let retained = RetainedInvoiceItem {
            pk: retained_pk.clone(),
            sk: item.sk.clone(),
            invoice: item.invoice.clone(),
            customer: retention.seal(
                Field::new(account_id, (&retained_pk, &item.sk), "invoice_customer"),
                &customer,
            ),
            account_id: account_id.to_string(),
            retained_until: until,
            expires_at,
        };
        self.store
            .transact(vec![
                self.store.put_op(&retained)?,
                self.store.delete_op(&item.pk, &item.sk)?,
            ])
            .await
            .map_err(|e| e.into_error(|_| Error::unavailable("invoice moved meanwhile")))
    }

    async fn leftovers(&self, account: &Read<Account>) -> Result<Vec<Stamp>, Error> {
        let account_id = &account.value.id;
        let pk = account_pk(account_id);
        let mut batches = Vec::new();
        // Support tickets: their attachments in S3, and the pointers that find them by id and
        // number (outside the partition); the tickets and messages go with the partition.
        let tickets: Vec<crate::tickets::TicketItem> =
            self.store.query_prefix(&pk, "TICKET#").await?;
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
        for (i, chunk) in pointers.chunks(24).enumerate() {
            batches.push(Stamp::new(if i == 0 {
                Leftover::Attachments {
                    prefix: crate::tickets::attachments_prefix(account_id),
                    keys: chunk.to_vec(),
                }
            } else {
                Leftover::Items(chunk.to_vec())
            }));
        }
        // The payment sandbox's records of the account (non-prod; Stripe keeps its own), and
        // the recorded answers of its idempotent requests (sealed, expiring within a day).
        let mut indexed: Vec<ItemKey> = self
            .store
            .query_index_all(&format!("SANDBOX#ACCOUNT#{account_id}"))
            .await?;
        indexed.extend(
            self.store
                .query_index_all::<ItemKey>(&crate::idempotency::by_account(account_id))
                .await?,
        );
        for chunk in indexed.chunks(25) {
            let keys = chunk.iter().map(|c| (c.pk.clone(), c.sk.clone())).collect();
            batches.push(Stamp::new(Leftover::Items(keys)));
        }
        // Everything else of the partition (history, schedules, markers) but the account
        // item and the renew schedule, which bring the closure back until the account is
        // gone: they go last, with the key (`shred`).
        let renew_schedule = crate::schedule::schedule_sk(crate::schedule::Runner::Renew);
        let rest: Vec<(String, String)> = self
            .store
            .partition_keys(&pk)
            .await?
            .into_iter()
            .filter(|sk| sk != ACCOUNT_SK && *sk != renew_schedule)
            .filter(|sk| !crate::events::kept_past_closure(sk))
            .map(|sk| (pk.clone(), sk))
            .collect();
        for chunk in rest.chunks(25) {
            batches.push(Stamp::new(Leftover::Items(chunk.to_vec())));
        }
        Ok(batches)
    }

    async fn delete(&self, batch: &Stamp) -> Result<(), Error> {
        match batch.get::<Leftover>()? {
            Leftover::Attachments { prefix, keys } => {
                crate::attachments::delete_prefix(self, prefix).await?;
                self.store.delete_batch(keys).await
            }
            Leftover::Items(keys) => self.store.delete_batch(keys).await,
        }
    }

    async fn shred(&self, account: &Read<Account>) -> Result<(), Error> {
        let account_id = &account.value.id;
        let pk = account_pk(account_id);
        let renew_schedule = crate::schedule::schedule_sk(crate::schedule::Runner::Renew);
        // Until then a stopped closure is due again and the next run finishes it, and the key
        // never outlives the account that finds it.
        self.store
            .transact(vec![
                self.store.delete_op(&pk, &renew_schedule)?,
                self.store.delete_op(&pk, ACCOUNT_SK)?,
                self.store.delete_account_key_op(account_id)?,
            ])
            .await
            .map_err(|e| e.into_error(|_| Error::internal("an unconditional delete conflicted")))
    }
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
