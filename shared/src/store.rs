//! The DynamoDB adapter: one table, items mapped with `serde_dynamo`, company data sealed
//! under the account's data key before it is written. Keys and access patterns are in
//! docs/data-model.md; every item type of that document is defined here.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
pub use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use aws_smithy_runtime_api::client::result::CreateUnhandledError;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::account::{
    Account, AccountStatus, HistoryEntry, Invoice, InvoiceCustomer, PaymentMethod, SupportPlan,
    User,
};
use crate::billing_calendar::{AnchorDay, BillingMode};
use crate::crypto::{DataKey, Field, Sealed, WrappedKey};
use crate::error::Error;
use crate::values::{
    BrikId, CompanyName, Country, EmailAddress, Language, PersonName, TimeZoneName, VatNumber,
};

/// The sort key of an account's own item. The items its decisions read with it sort under it
/// (`ACCOUNT#…`: users, packs, seat guards), so that one Query reads them all
/// ([`AccountRecords`]) and nothing else of the partition (invoices, history, tickets).
pub const ACCOUNT_SK: &str = "ACCOUNT";

/// The sort keys of an account's users start with it.
pub const USER_SK_PREFIX: &str = "ACCOUNT#USER#";
/// The sort keys of the packs an account holds start with it.
pub const PACK_SK_PREFIX: &str = "ACCOUNT#PACK#";
/// The sort keys of an account's seat guards start with it.
pub const SEATS_SK_PREFIX: &str = "ACCOUNT#SEATS#";
/// The sort keys of an account's schedules (one per billing runner) start with it.
pub const SCHEDULE_SK_PREFIX: &str = "ACCOUNT#SCHEDULE#";

pub fn user_sk(user_id: &str) -> String {
    format!("{USER_SK_PREFIX}{user_id}")
}

pub fn pack_sk(pack_id: &str) -> String {
    format!("{PACK_SK_PREFIX}{pack_id}")
}

pub fn seats_sk(brik: &BrikId) -> String {
    format!("{SEATS_SK_PREFIX}{brik}")
}

pub fn account_pk(account_id: &str) -> String {
    format!("ACCOUNT#{account_id}")
}

/// The account item: settings in clear, company data sealed. Its wrapped data key is kept
/// apart, in the keys table ([`AccountKeyItem`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountItem {
    pub pk: String,
    pub sk: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    pub id: String,
    pub company_name: Sealed,
    pub admin_email: Sealed,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_number: Option<Sealed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Sealed>,
    /// Absent for a client account (billed through its reseller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<Sealed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_email: Option<Sealed>,
    #[serde(default)]
    pub kind: crate::account::AccountKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reseller_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_until: Option<Date>,
    pub country: String,
    pub language: Language,
    pub timezone: String,
    pub status: AccountStatus,
    pub created_at: Timestamp,
    pub billing_mode: BillingMode,
    pub anchor_day: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar_from: Option<Date>,
    pub auto_renew: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closure_date: Option<Date>,
    pub support_plan: SupportPlan,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_clock_id: Option<String>,
    /// The local date a renewal payment first failed, while the account is past due or
    /// suspended: the payment retries are due 1, 3 and 5 days after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub past_due_since: Option<Date>,
    /// Optimistic concurrency: every update checks and bumps it.
    pub version: u64,
}

impl AccountItem {
    pub fn seal(account: &Account, key: &DataKey) -> Result<Self, Error> {
        let id = account.id.as_str();
        let pk = account_pk(id);
        let seal = |attr: &str, v: &str| key.seal(Field::new(id, (&pk, ACCOUNT_SK), attr), v);
        let payment_method = match &account.payment_method {
            Some(method) => Some(seal(
                "payment_method",
                &serde_json::to_string(method).map_err(Error::internal)?,
            )),
            None => None,
        };
        Ok(AccountItem {
            pk: pk.clone(),
            sk: ACCOUNT_SK.into(),
            gsi1pk: account.test_clock_id.as_ref().map(|c| format!("CLOCK#{c}")),
            gsi1sk: account
                .test_clock_id
                .as_ref()
                .map(|_| format!("ACCOUNT#{id}")),
            id: id.to_string(),
            company_name: seal("company_name", account.company_name.as_str()),
            admin_email: seal("admin_email", account.admin_email.as_str()),
            vat_number: account
                .vat_number
                .as_ref()
                .map(|v| seal("vat_number", v.as_str())),
            address: account.address.as_deref().map(|a| seal("address", a)),
            invoice_email: account
                .invoice_email
                .as_ref()
                .map(|e| seal("invoice_email", e.as_str())),
            payment_method,
            kind: account.kind,
            reseller_id: account.reseller_id.clone(),
            trial_until: account.trial_until,
            country: account.country.code().to_string(),
            language: account.language,
            timezone: account.timezone.as_str().to_string(),
            status: account.status,
            created_at: account.created_at,
            billing_mode: if account.calendar_from.is_some() {
                BillingMode::Calendar
            } else {
                BillingMode::Anniversary
            },
            anchor_day: account.anchor_day.get(),
            calendar_from: account.calendar_from,
            auto_renew: account.auto_renew,
            closure_date: account.closure_date,
            support_plan: account.support_plan,
            test_clock_id: account.test_clock_id.clone(),
            past_due_since: None,
            version: 1,
        })
    }

    pub fn open(&self, key: &DataKey) -> Result<Account, Error> {
        let id = self.id.as_str();
        let open = |attr: &str, v: &Sealed| key.open(Field::new(id, (&self.pk, &self.sk), attr), v);
        let corrupt = |what: &str| Error::internal(format!("stored account {what} is invalid"));
        let payment_method: Option<PaymentMethod> = match &self.payment_method {
            Some(sealed) => Some(
                serde_json::from_str(&open("payment_method", sealed)?)
                    .map_err(|_| corrupt("payment method"))?,
            ),
            None => None,
        };
        Ok(Account {
            id: self.id.clone(),
            company_name: CompanyName::parse(&open("company_name", &self.company_name)?)
                .map_err(|_| corrupt("company name"))?,
            admin_email: EmailAddress::parse(&open("admin_email", &self.admin_email)?)
                .map_err(|_| corrupt("admin email"))?,
            vat_number: match &self.vat_number {
                Some(v) => Some(
                    VatNumber::parse(&open("vat_number", v)?).map_err(|_| corrupt("VAT number"))?,
                ),
                None => None,
            },
            address: self
                .address
                .as_ref()
                .map(|a| open("address", a))
                .transpose()?,
            country: Country::parse(&self.country).map_err(|_| corrupt("country"))?,
            language: self.language,
            timezone: TimeZoneName::parse(&self.timezone).map_err(|_| corrupt("time zone"))?,
            status: self.status,
            created_at: self.created_at,
            kind: self.kind,
            reseller_id: self.reseller_id.clone(),
            trial_until: self.trial_until,
            anchor_day: AnchorDay::new(self.anchor_day).map_err(|_| corrupt("anchor day"))?,
            calendar_from: self.calendar_from,
            auto_renew: self.auto_renew,
            closure_date: self.closure_date,
            payment_method,
            support_plan: self.support_plan,
            test_clock_id: self.test_clock_id.clone(),
            invoice_email: match &self.invoice_email {
                Some(v) => Some(
                    EmailAddress::parse(&open("invoice_email", v)?)
                        .map_err(|_| corrupt("invoice email"))?,
                ),
                None => None,
            },
        })
    }
}

/// An account's item and the items sorted under it, read together in one consistent Query:
/// what its decisions need besides the account (the team, the packs held, the seat guards,
/// the billing runs' schedules), and nothing else of its partition.
#[derive(Debug, Clone)]
pub struct AccountRecords {
    pub account: AccountItem,
    pub users: Vec<UserItem>,
    pub packs: Vec<crate::packs::PackItem>,
    pub seats: Vec<SeatGuardItem>,
    pub schedules: Vec<crate::schedule::ScheduleItem>,
}

impl AccountRecords {
    /// The account's records as they stand; `NotFound` without the account.
    pub async fn read(store: &Store, account_id: &str) -> Result<Self, Error> {
        let mut account = None;
        let (mut users, mut packs, mut seats) = (Vec::new(), Vec::new(), Vec::new());
        let mut schedules = Vec::new();
        for item in store
            .query_prefix_raw(&account_pk(account_id), ACCOUNT_SK)
            .await?
        {
            let sk = match item.get("sk") {
                Some(AttributeValue::S(sk)) => sk.clone(),
                _ => return Err(Error::internal("stored item without a sort key")),
            };
            if sk == ACCOUNT_SK {
                account = Some(from_item(item)?);
            } else if sk.starts_with(USER_SK_PREFIX) {
                users.push(from_item(item)?);
            } else if sk.starts_with(PACK_SK_PREFIX) {
                packs.push(from_item(item)?);
            } else if sk.starts_with(SEATS_SK_PREFIX) {
                seats.push(from_item(item)?);
            } else if sk.starts_with(SCHEDULE_SK_PREFIX) {
                schedules.push(from_item(item)?);
            } else {
                return Err(Error::internal(format!(
                    "unknown item under the account: {sk}"
                )));
            }
        }
        Ok(AccountRecords {
            account: account.ok_or(Error::NotFound)?,
            users,
            packs,
            seats,
            schedules,
        })
    }

    /// The guard of `brik`'s seats as read (version 0 when never written).
    pub fn seat_guard(&self, brik: &BrikId) -> SeatGuardItem {
        let sk = seats_sk(brik);
        self.seats
            .iter()
            .find(|g| g.sk == sk)
            .cloned()
            .unwrap_or(SeatGuardItem {
                pk: self.account.pk.clone(),
                sk,
                version: 0,
            })
    }
}

/// A user of an account: role, status and Briks in clear, identity sealed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserItem {
    pub pk: String,
    pub sk: String,
    pub id: String,
    pub email: Sealed,
    pub name: Sealed,
    pub email_hash: String,
    pub role: crate::account::Role,
    pub status: crate::account::UserStatus,
    pub language: Language,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removal_date: Option<Date>,
    pub briks: Vec<crate::account::Assignment>,
    /// The user's Cognito `sub`, to name the actor of a change from a token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// When the user joined (kept since directory sync; older users have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// When the user's access was last cut (revoked or made inactive): a token issued before
    /// it is refused even once access is back (security.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_cut_at: Option<Timestamp>,
    pub version: u64,
}

impl UserItem {
    /// Every user of an account, as stored.
    pub async fn all(store: &Store, account_id: &str) -> Result<Vec<UserItem>, Error> {
        store
            .query_prefix(&account_pk(account_id), USER_SK_PREFIX)
            .await
    }

    pub fn seal(account_id: &str, user: &User, key: &DataKey, email_hash: String) -> Self {
        let (pk, sk) = (account_pk(account_id), user_sk(&user.id));
        let field = |attribute| Field::new(account_id, (&pk, &sk), attribute);
        UserItem {
            email: key.seal(field("user_email"), user.email.as_str()),
            name: key.seal(field("user_name"), user.name.as_str()),
            pk: pk.clone(),
            sk: sk.clone(),
            id: user.id.clone(),
            email_hash,
            role: user.role,
            status: user.status,
            language: user.language,
            removal_date: user.removal_date,
            briks: user.briks.clone(),
            sub: None,
            created_at: None,
            access_cut_at: None,
            version: 1,
        }
    }

    /// Whether the user may still ask the support desk: not once their access is cut or
    /// they are marked inactive.
    pub fn may_ask_support(&self) -> bool {
        has_access(self.status)
    }

    /// Whether a token issued at `issued_at` (seconds since the epoch) still speaks for this
    /// user: their access is not cut, and was not cut since the token was issued. `iat` counts
    /// whole seconds, so a token of the cut's own second is refused too (it may be older).
    pub fn admits(&self, issued_at: Option<i64>) -> bool {
        let issued = issued_at.unwrap_or(i64::MIN);
        has_access(self.status)
            && self
                .access_cut_at
                .is_none_or(|cut| issued > cut.as_second())
    }

    /// The item after a change to `user`: sealed again, next version, same sign-in; when the
    /// change cuts the user's access, `now` is the cut-off instant (the system's time, which
    /// token `iat`s are in, not an account's test clock).
    pub fn reseal(&self, account_id: &str, user: &User, key: &DataKey, now: Timestamp) -> Self {
        let mut next = UserItem::seal(account_id, user, key, self.email_hash.clone());
        next.sub = self.sub.clone();
        next.created_at = self.created_at;
        next.access_cut_at = if has_access(self.status) && !has_access(user.status) {
            Some(now)
        } else {
            self.access_cut_at
        };
        next.version = self.version + 1;
        next
    }

    /// The write of this item in a transaction, if nobody wrote version `read` since.
    pub fn update_op(&self, app: &crate::app::App, read: u64) -> Result<TransactWriteItem, Error> {
        app.store.put_if_version_op(self, read)
    }

    pub fn open(&self, account_id: &str, key: &DataKey) -> Result<User, Error> {
        let corrupt = || Error::internal("stored user is invalid");
        let field = |attribute| Field::new(account_id, (&self.pk, &self.sk), attribute);
        Ok(User {
            id: self.id.clone(),
            email: EmailAddress::parse(&key.open(field("user_email"), &self.email)?)
                .map_err(|_| corrupt())?,
            name: PersonName::parse(&key.open(field("user_name"), &self.name)?)
                .map_err(|_| corrupt())?,
            role: self.role,
            status: self.status,
            language: self.language,
            removal_date: self.removal_date,
            briks: self.briks.clone(),
        })
    }
}

/// The guard of a Brik's free seats in an account (`ACCOUNT#SEATS#<brik>`): every addition that takes
/// a free seat of a seat pack rewrites it in its transaction, on condition that nobody did
/// since it counted the holders. Two additions racing for the last free seat both read the
/// same version; one commits, the other is refused as a concurrent change and, retried, finds
/// no seat free and is charged (security.md "Reliability"). Deleted with the account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeatGuardItem {
    pub pk: String,
    pub sk: String,
    pub version: u64,
}

impl SeatGuardItem {
    /// The write that takes a seat: the next version, if this one is still the stored one.
    pub fn take_op(&self, store: &Store) -> Result<TransactWriteItem, Error> {
        let next = SeatGuardItem {
            version: self.version + 1,
            ..self.clone()
        };
        if self.version == 0 {
            store.put_new_op(&next)
        } else {
            store.put_if_version_op(&next, self.version)
        }
    }
}

/// Whether a user in `status` may use Softbrik (sign in, call the API, write to support).
fn has_access(status: crate::account::UserStatus) -> bool {
    status.has_access()
}

/// Global uniqueness of a sign-in address, by its keyed hash: `EMAIL#<hmac>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailClaimItem {
    pub pk: String,
    pub sk: String,
    pub account_id: String,
    pub user_id: String,
}

impl EmailClaimItem {
    pub fn new(email_hash: &str, account_id: &str, user_id: &str) -> Self {
        EmailClaimItem {
            pk: email_claim_pk(email_hash),
            sk: "EMAIL".into(),
            account_id: account_id.into(),
            user_id: user_id.into(),
        }
    }
}

pub fn email_claim_pk(email_hash: &str) -> String {
    format!("EMAIL#{email_hash}")
}

/// An issued or draft invoice; the customer block is sealed, amounts are clear.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvoiceItem {
    pub pk: String,
    pub sk: String,
    #[serde(flatten)]
    pub invoice: Invoice,
    pub customer: Sealed,
}

impl InvoiceItem {
    pub fn seal(
        account_id: &str,
        invoice: &Invoice,
        customer: &InvoiceCustomer,
        key: &DataKey,
    ) -> Result<Self, Error> {
        let customer = serde_json::to_string(customer).map_err(Error::internal)?;
        let (pk, sk) = (account_pk(account_id), format!("INVOICE#{}", invoice.id));
        Ok(InvoiceItem {
            invoice: invoice.clone(),
            customer: key.seal(
                Field::new(account_id, (&pk, &sk), "invoice_customer"),
                &customer,
            ),
            pk,
            sk,
        })
    }
}

/// A subscription history entry; its details are company data, so sealed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryItem {
    pub pk: String,
    pub sk: String,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub details: Sealed,
}

impl HistoryItem {
    pub fn seal(account_id: &str, id: &str, entry: &HistoryEntry, key: &DataKey) -> Self {
        let (pk, sk) = (account_pk(account_id), format!("HISTORY#{id}"));
        HistoryItem {
            details: key.seal(
                Field::new(account_id, (&pk, &sk), "history_details"),
                &entry.details.to_string(),
            ),
            pk,
            sk,
            at: entry.at,
            actor: entry.actor.clone(),
            action: entry.action.clone(),
        }
    }
}

/// Why a transaction was refused: one reason code per item, in order (None: that item passed).
#[derive(Debug)]
pub enum TransactionError {
    Cancelled(Vec<Option<String>>),
    Failed(Error),
}

impl TransactionError {
    /// The error a caller returns: `on_conflict(i)` when the condition of item `i` failed,
    /// 503 for any other refusal (a throttled or conflicting transaction can be retried).
    pub fn into_error(self, on_conflict: impl FnOnce(usize) -> Error) -> Error {
        match self {
            TransactionError::Cancelled(reasons) => {
                match reasons
                    .iter()
                    .position(|r| r.as_deref() == Some("ConditionalCheckFailed"))
                {
                    Some(i) => on_conflict(i),
                    None => Error::unavailable(format!("transaction cancelled: {reasons:?}")),
                }
            }
            TransactionError::Failed(e) => e,
        }
    }

    /// Whether the condition of item `index` failed.
    pub fn condition_failed(&self, index: usize) -> bool {
        matches!(self, TransactionError::Cancelled(reasons)
            if reasons.get(index).and_then(|r| r.as_deref()) == Some("ConditionalCheckFailed"))
    }
}

/// An account's wrapped data key, in the keys table: a table without point-in-time recovery
/// or backups (template.yaml `KeysTable`), so that deleting it at closure shreds the key for
/// good; a restore of the main table brings back nothing that opens (security.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountKeyItem {
    pub pk: String,
    pub wrapped: WrappedKey,
}

/// The tables, and the few generic operations every item type goes through.
#[derive(Clone)]
pub struct Store {
    ddb: Client,
    table: String,
    keys_table: String,
}

impl Store {
    pub fn new(ddb: Client, table: impl Into<String>, keys_table: impl Into<String>) -> Self {
        Store {
            ddb,
            table: table.into(),
            keys_table: keys_table.into(),
        }
    }

    /// An account's wrapped data key, stored with the account's first write: never replaced.
    pub fn account_key_op(
        &self,
        account_id: &str,
        wrapped: WrappedKey,
    ) -> Result<TransactWriteItem, Error> {
        let item = AccountKeyItem {
            pk: account_pk(account_id),
            wrapped,
        };
        let put = Put::builder()
            .table_name(&self.keys_table)
            .set_item(Some(to_item(&item)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(Error::internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// An account's wrapped data key; `None` once the account is closed (shredded).
    pub async fn account_key(&self, account_id: &str) -> Result<Option<WrappedKey>, Error> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.keys_table)
            .key("pk", AttributeValue::S(account_pk(account_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(failed("GetItem (keys)"))?;
        out.item
            .map(|item| {
                serde_dynamo::from_item::<_, AccountKeyItem>(item)
                    .map(|k| k.wrapped)
                    .map_err(|e| Error::internal(format!("key of {account_id}: {e}")))
            })
            .transpose()
    }

    /// The wrapped data keys of up to 100 accounts in one BatchGetItem (a billing run's page),
    /// retrying what DynamoDB leaves unprocessed; a closed account's is absent.
    pub async fn account_keys(
        &self,
        account_ids: &[&str],
    ) -> Result<HashMap<String, WrappedKey>, Error> {
        let keys = account_ids
            .iter()
            .map(|id| HashMap::from([("pk".to_string(), AttributeValue::S(account_pk(id)))]))
            .collect::<Vec<_>>();
        let found = self.batch_get(&self.keys_table, keys).await?;
        let mut keys = HashMap::new();
        for item in found {
            let key: AccountKeyItem = from_item(item)?;
            if let Some(id) = key.pk.strip_prefix("ACCOUNT#") {
                keys.insert(id.to_string(), key.wrapped);
            }
        }
        Ok(keys)
    }

    /// Items of the main table by (pk, sk), read at once and strongly consistent (one
    /// BatchGetItem); the ones missing are absent.
    pub async fn get_many(
        &self,
        keys: &[(&str, &str)],
    ) -> Result<Vec<HashMap<String, AttributeValue>>, Error> {
        let keys = keys
            .iter()
            .map(|(pk, sk)| {
                HashMap::from([
                    ("pk".to_string(), AttributeValue::S(pk.to_string())),
                    ("sk".to_string(), AttributeValue::S(sk.to_string())),
                ])
            })
            .collect();
        self.batch_get(&self.table, keys).await
    }

    /// Up to 100 items of `table` in BatchGetItem requests, strongly consistent, retrying what
    /// DynamoDB leaves unprocessed.
    async fn batch_get(
        &self,
        table: &str,
        keys: Vec<HashMap<String, AttributeValue>>,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, Error> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        until_processed("BatchGetItem", keys, |keys| async move {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(Error::internal)?;
            let out = self
                .ddb
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(failed("BatchGetItem"))?;
            let items = out
                .responses
                .and_then(|mut r| r.remove(table))
                .unwrap_or_default();
            let left = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(table))
                .map(|k| k.keys)
                .unwrap_or_default();
            Ok((items, left))
        })
        .await
    }

    /// Deletes an account's wrapped data key (crypto-shredding), in the closure's last
    /// transaction.
    pub fn delete_account_key_op(&self, account_id: &str) -> Result<TransactWriteItem, Error> {
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.keys_table)
            .key("pk", AttributeValue::S(account_pk(account_id)))
            .build()
            .map_err(Error::internal)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.ddb
    }

    /// A strongly consistent read of one item.
    pub async fn get<T: DeserializeOwned>(&self, pk: &str, sk: &str) -> Result<Option<T>, Error> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(failed("GetItem"))?;
        out.item
            .map(|item| {
                serde_dynamo::from_item(item)
                    .map_err(|e| Error::internal(format!("item {pk}/{sk}: {e}")))
            })
            .transpose()
    }

    /// Puts an item unless one with its key exists; `Ok(false)` when it did.
    pub async fn put_new<T: Serialize>(&self, item: &T) -> Result<bool, Error> {
        let result = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(item)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result.map_err(|e| e.into_service_error()) {
            Ok(_) => Ok(true),
            Err(PutItemError::ConditionalCheckFailedException(_)) => Ok(false),
            Err(e) => Err(Error::unavailable(format!(
                "dynamodb PutItem: {}",
                DisplayErrorContext(e)
            ))),
        }
    }

    /// Counts one in `field` of the counter `pk` for the Unix `second` (kept a day), unless
    /// it already holds `limit`: whether it was counted. Every caller shares the count, so a
    /// limit kept this way holds for all instances together.
    pub async fn count_in_second(
        &self,
        pk: &str,
        second: i64,
        field: &str,
        limit: Option<u32>,
    ) -> Result<bool, Error> {
        let update = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(second.to_string()))
            .update_expression("ADD #count :one SET expires_at = :expires")
            .expression_attribute_names("#count", field)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(
                ":expires",
                AttributeValue::N((second + 24 * 3600).to_string()),
            );
        let update = match limit {
            Some(limit) => update
                .condition_expression("attribute_not_exists(#count) OR #count < :limit")
                .expression_attribute_values(":limit", AttributeValue::N(limit.to_string())),
            None => update,
        };
        match update.send().await.map_err(|e| e.into_service_error()) {
            Ok(_) => Ok(true),
            Err(e) if e.is_conditional_check_failed_exception() => Ok(false),
            Err(e) => Err(Error::unavailable(format!(
                "dynamodb UpdateItem: {}",
                DisplayErrorContext(e)
            ))),
        }
    }

    /// Deletes an item if its `field` still has `value` (so a newer writer's item survives).
    pub async fn delete_if(
        &self,
        pk: &str,
        sk: &str,
        field: &str,
        value: &str,
    ) -> Result<(), Error> {
        let result = self
            .ddb
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .condition_expression("#f = :v")
            .expression_attribute_names("#f", field)
            .expression_attribute_values(":v", AttributeValue::S(value.into()))
            .send()
            .await;
        match result.map_err(|e| e.into_service_error()) {
            Ok(_) | Err(DeleteItemError::ConditionalCheckFailedException(_)) => Ok(()),
            Err(e) => Err(Error::unavailable(format!(
                "dynamodb DeleteItem: {}",
                DisplayErrorContext(e)
            ))),
        }
    }

    /// The sort keys of every item of a partition (keys only: nothing else is read).
    pub async fn partition_keys(&self, pk: &str) -> Result<Vec<String>, Error> {
        #[derive(Deserialize)]
        struct Key {
            sk: String,
        }
        let query = self
            .ddb
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
            .projection_expression("sk")
            .consistent_read(true);
        let keys: Vec<Key> = self.every_page(query).await?;
        Ok(keys.into_iter().map(|k| k.sk).collect())
    }

    /// Deletes up to 25 items (one BatchWriteItem), retrying what DynamoDB leaves unprocessed.
    pub async fn delete_batch(&self, keys: &[(String, String)]) -> Result<(), Error> {
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        let requests = keys
            .iter()
            .map(|(pk, sk)| {
                let delete = DeleteRequest::builder()
                    .key("pk", AttributeValue::S(pk.clone()))
                    .key("sk", AttributeValue::S(sk.clone()))
                    .build()
                    .map_err(Error::internal)?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let table = &self.table;
        until_processed::<_, (), _, _>("BatchWriteItem", requests, |requests| async move {
            let out = self
                .ddb
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .map_err(failed("BatchWriteItem"))?;
            let left = out
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .unwrap_or_default();
            Ok((Vec::new(), left))
        })
        .await?;
        Ok(())
    }

    /// Items of one partition whose sort key is between `low` and `high` (both included), in
    /// key order or its reverse, at most `limit` of them (all, following pages, when none).
    pub async fn query_between<T: DeserializeOwned>(
        &self,
        pk: &str,
        low: &str,
        high: &str,
        ascending: bool,
        limit: Option<i32>,
    ) -> Result<Vec<T>, Error> {
        let query = self
            .ddb
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :low AND :high")
            .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
            .expression_attribute_values(":low", AttributeValue::S(low.into()))
            .expression_attribute_values(":high", AttributeValue::S(high.into()))
            .scan_index_forward(ascending)
            .consistent_read(true);
        match limit {
            None => self.every_page(query).await,
            Some(n) => {
                let out = query.limit(n).send().await.map_err(failed("Query"))?;
                out.items
                    .unwrap_or_default()
                    .into_iter()
                    .map(|i| {
                        serde_dynamo::from_item(i)
                            .map_err(|e| Error::internal(format!("stored item: {e}")))
                    })
                    .collect()
            }
        }
    }

    /// All items of one partition whose sort key starts with `prefix`, in key order.
    pub async fn query_prefix<T: DeserializeOwned>(
        &self,
        pk: &str,
        prefix: &str,
    ) -> Result<Vec<T>, Error> {
        from_items(self.query_prefix_raw(pk, prefix).await?)
    }

    /// `query_prefix`, each item as stored (for a read of items of several types).
    pub async fn query_prefix_raw(
        &self,
        pk: &str,
        prefix: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, Error> {
        let query = self
            .ddb
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
            .consistent_read(true);
        self.every_raw_page(query).await
    }

    /// Every item a query finds, following its pages.
    async fn every_page<T: DeserializeOwned>(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<T>, Error> {
        from_items(self.every_raw_page(query).await?)
    }

    /// Every item a query finds, following its pages, as stored.
    async fn every_raw_page(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, Error> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = query
                .clone()
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(failed("Query"))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// One page of a partition's items under `prefix`, newest (highest sort key) first, and the
    /// opaque cursor of the next page.
    pub async fn query_page<T: DeserializeOwned>(
        &self,
        pk: &str,
        prefix: &str,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<(Vec<T>, Option<String>), Error> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let start = match cursor {
            Some(c) => {
                let sk = b64
                    .decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|sk| sk.starts_with(prefix))
                    .ok_or_else(|| {
                        Error::validation("next", "invalid_format", "not a cursor of this list")
                    })?;
                Some(HashMap::from([
                    ("pk".to_string(), AttributeValue::S(pk.into())),
                    ("sk".to_string(), AttributeValue::S(sk)),
                ]))
            }
            None => None,
        };
        let out = self
            .ddb
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(failed("Query"))?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|i| {
                serde_dynamo::from_item(i)
                    .map_err(|e| Error::internal(format!("item in {pk}: {e}")))
            })
            .collect::<Result<Vec<T>, Error>>()?;
        let next = out.last_evaluated_key.and_then(|k| match k.get("sk") {
            Some(AttributeValue::S(sk)) => Some(b64.encode(sk)),
            _ => None,
        });
        Ok((items, next))
    }

    /// Items of `gsi1` partition `pk` whose sort key is below `before`, oldest first.
    pub async fn query_index<T: DeserializeOwned>(
        &self,
        pk: &str,
        before: &str,
    ) -> Result<Vec<T>, Error> {
        let query = self
            .ddb
            .query()
            .table_name(&self.table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk AND gsi1sk < :before")
            .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
            .expression_attribute_values(":before", AttributeValue::S(before.into()));
        self.every_page(query).await
    }

    /// Every item of `gsi1` partition `pk`, in sort key order.
    pub async fn query_index_all<T: DeserializeOwned>(&self, pk: &str) -> Result<Vec<T>, Error> {
        // Every sort key this table writes is printable ASCII, below DEL.
        self.query_index(pk, "\u{7f}").await
    }

    /// A put in a transaction, refused if an item with that key exists.
    pub fn put_new_op<T: Serialize>(&self, item: &T) -> Result<TransactWriteItem, Error> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(item)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(Error::internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A put in a transaction that replaces whatever has its key (a step run again).
    pub fn put_op<T: Serialize>(&self, item: &T) -> Result<TransactWriteItem, Error> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(item)?))
            .build()
            .map_err(Error::internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A put in a transaction with a condition of the caller's.
    pub fn put_if_op<T: Serialize>(
        &self,
        item: &T,
        condition: &str,
        names: &[(&str, &str)],
        values: &[(&str, AttributeValue)],
    ) -> Result<TransactWriteItem, Error> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(item)?))
            .condition_expression(condition);
        for (placeholder, name) in names {
            put = put.expression_attribute_names(*placeholder, *name);
        }
        for (name, value) in values {
            put = put.expression_attribute_values(*name, value.clone());
        }
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(Error::internal)?)
            .build())
    }

    /// The invoice's credited amount and status as a credit note leaves them, only if what
    /// was credited is still `before` (another credit note, or a payment recorded meanwhile
    /// from a read that did not see it, fails it).
    pub fn invoice_credited_op(
        &self,
        account_id: &str,
        invoice: &Invoice,
        before: crate::money::Money,
    ) -> Result<TransactWriteItem, Error> {
        let (unchanged, read) = credited_is(before)?;
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(account_pk(account_id)))
            .key("sk", AttributeValue::S(format!("INVOICE#{}", invoice.id)))
            .update_expression("SET credited = :credited, #status = :status")
            .condition_expression(format!("attribute_exists(pk) AND {unchanged}"))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":credited", to_attribute(&invoice.credited)?)
            .expression_attribute_values(":status", to_attribute(&invoice.status)?);
        for (name, value) in read {
            update = update.expression_attribute_values(name, value);
        }
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(Error::internal)?)
            .build())
    }

    /// A put in a transaction of an item read at version `read` (optimistic concurrency).
    pub fn put_if_version_op<T: Serialize>(
        &self,
        item: &T,
        read: u64,
    ) -> Result<TransactWriteItem, Error> {
        self.put_if_op(
            item,
            "version = :read",
            &[],
            &[(":read", AttributeValue::N(read.to_string()))],
        )
    }

    /// A delete in a transaction of an item that must still be there.
    pub fn delete_if_exists_op(&self, pk: &str, sk: &str) -> Result<TransactWriteItem, Error> {
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(Error::internal)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// A client account's reseller changed from `from` to `to` (its version bumped, so that
    /// a change read before fails), only if it is still `from`'s.
    pub fn reseller_changed_op(
        &self,
        client_id: &str,
        from: &str,
        to: &str,
    ) -> Result<TransactWriteItem, Error> {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(account_pk(client_id)))
            .key("sk", AttributeValue::S(ACCOUNT_SK.into()))
            .update_expression("SET reseller_id = :to, version = version + :one")
            .condition_expression("reseller_id = :from")
            .expression_attribute_values(":to", AttributeValue::S(to.into()))
            .expression_attribute_values(":from", AttributeValue::S(from.into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .build()
            .map_err(Error::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A delete in a transaction.
    pub fn delete_op(&self, pk: &str, sk: &str) -> Result<TransactWriteItem, Error> {
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .build()
            .map_err(Error::internal)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// A check in a transaction that an item is still at version `read` (written by nobody
    /// since it was read).
    pub fn unchanged_op(&self, pk: &str, sk: &str, read: u64) -> Result<TransactWriteItem, Error> {
        let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .condition_expression("version = :read")
            .expression_attribute_values(":read", AttributeValue::N(read.to_string()))
            .build()
            .map_err(Error::internal)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// A delete in a transaction of an item read at version `read`.
    pub fn delete_if_version_op(
        &self,
        pk: &str,
        sk: &str,
        read: u64,
    ) -> Result<TransactWriteItem, Error> {
        let delete = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .condition_expression("version = :read")
            .expression_attribute_values(":read", AttributeValue::N(read.to_string()))
            .build()
            .map_err(Error::internal)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Takes the next number of the gapless invoice sequence, if nobody took it first.
    pub fn invoice_sequence_op(&self, previous: u64) -> Result<TransactWriteItem, Error> {
        let condition = if previous == 0 {
            "attribute_not_exists(pk)"
        } else {
            "#last = :previous"
        };
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(SEQUENCE_PK.into()))
            .key("sk", AttributeValue::S(INVOICE_SEQUENCE_SK.into()))
            .update_expression("SET #last = :next")
            .condition_expression(condition)
            .expression_attribute_names("#last", "last")
            .expression_attribute_values(":next", AttributeValue::N((previous + 1).to_string()));
        if previous != 0 {
            update = update
                .expression_attribute_values(":previous", AttributeValue::N(previous.to_string()));
        }
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(Error::internal)?)
            .build())
    }

    /// Counts `attempt` in the window item `(pk, sk)`, unless `limit` attempts are counted
    /// there already: the same attempt again (a retry under its Idempotency-Key) is counted
    /// once. The item expires (TTL) at `expires_at`.
    pub fn count_attempt_op(
        &self,
        (pk, sk): (&str, &str),
        attempt: &str,
        limit: u32,
        expires_at: i64,
    ) -> Result<TransactWriteItem, Error> {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .update_expression("ADD attempts :attempt SET expires_at = :expires")
            .condition_expression(
                "attribute_not_exists(attempts) OR size(attempts) < :limit \
                 OR contains(attempts, :one)",
            )
            .expression_attribute_values(":attempt", AttributeValue::Ss(vec![attempt.into()]))
            .expression_attribute_values(":one", AttributeValue::S(attempt.into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":expires", AttributeValue::N(expires_at.to_string()))
            .build()
            .map_err(Error::internal)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The last invoice number given out (0 before the first).
    pub async fn last_invoice_number(&self) -> Result<u64, Error> {
        #[derive(Deserialize)]
        struct Sequence {
            last: u64,
        }
        Ok(self
            .get::<Sequence>(SEQUENCE_PK, INVOICE_SEQUENCE_SK)
            .await?
            .map_or(0, |s| s.last))
    }

    pub async fn transact(&self, ops: Vec<TransactWriteItem>) -> Result<(), TransactionError> {
        let result = self
            .ddb
            .transact_write_items()
            .set_transact_items(Some(ops))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Sent, but no answer came in time (or it was lost): the transaction may still
            // land. Nothing it pays for may be taken back (`Error::InDoubt`).
            Err(
                e @ (aws_sdk_dynamodb::error::SdkError::TimeoutError(_)
                | aws_sdk_dynamodb::error::SdkError::DispatchFailure(_)
                | aws_sdk_dynamodb::error::SdkError::ResponseError(_)),
            ) => Err(TransactionError::Failed(Error::InDoubt(format!(
                "dynamodb TransactWriteItems: {}",
                DisplayErrorContext(&e)
            )))),
            Err(e) => match e.into_service_error() {
                aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                    Err(TransactionError::Cancelled(
                        c.cancellation_reasons()
                            .iter()
                            .map(|r| r.code().filter(|c| *c != "None").map(str::to_string))
                            .collect(),
                    ))
                }
                other => Err(TransactionError::Failed(Error::unavailable(format!(
                    "dynamodb TransactWriteItems: {}",
                    DisplayErrorContext(&other)
                )))),
            },
        }
    }
}

pub const SEQUENCE_PK: &str = "SEQUENCE";
pub const INVOICE_SEQUENCE_SK: &str = "INVOICE";

/// The error of a DynamoDB request that failed (`what`: the operation): unavailable, with
/// AWS's context.
fn failed<E, R>(what: &'static str) -> impl FnOnce(SdkError<E, R>) -> Error
where
    E: std::error::Error + Send + Sync + CreateUnhandledError + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| {
        Error::unavailable(format!(
            "dynamodb {what}: {}",
            DisplayErrorContext(e.into_service_error())
        ))
    }
}

/// Sends a batch request (`send`: what it answered, what it left unprocessed) again with
/// what DynamoDB left unprocessed, backing off, up to 8 times; every answer, gathered.
async fn until_processed<T, R, F, Fut>(
    what: &str,
    mut left: Vec<T>,
    send: F,
) -> Result<Vec<R>, Error>
where
    F: Fn(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<R>, Vec<T>), Error>>,
{
    let mut answered = Vec::new();
    for attempt in 0..8u32 {
        if left.is_empty() {
            return Ok(answered);
        }
        let (answers, unprocessed) = send(left).await?;
        answered.extend(answers);
        left = unprocessed;
        if !left.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
        }
    }
    if left.is_empty() {
        return Ok(answered);
    }
    Err(Error::unavailable(format!(
        "dynamodb {what}: items left unprocessed"
    )))
}

/// Items as stored, each read as a `T`.
pub fn from_items<T: DeserializeOwned>(
    items: Vec<HashMap<String, AttributeValue>>,
) -> Result<Vec<T>, Error> {
    items.into_iter().map(from_item).collect()
}

/// An item as stored, read as a `T`.
pub fn from_item<T: DeserializeOwned>(item: HashMap<String, AttributeValue>) -> Result<T, Error> {
    serde_dynamo::from_item(item).map_err(|e| Error::internal(format!("stored item: {e}")))
}

pub fn to_item<T: Serialize>(item: &T) -> Result<HashMap<String, AttributeValue>, Error> {
    serde_dynamo::to_item(item)
        .map_err(|e| Error::internal(format!("item does not serialize: {e}")))
}

/// A condition expression with the values it names.
pub type Condition = (&'static str, Vec<(&'static str, AttributeValue)>);

/// The condition that an invoice's credited amount is still `read` as read (the attribute is
/// absent while nothing was credited), with the value it names.
pub fn credited_is(read: crate::money::Money) -> Result<Condition, Error> {
    Ok(if read.is_zero() {
        ("attribute_not_exists(credited)", Vec::new())
    } else {
        (
            "credited = :credited_read",
            vec![(":credited_read", to_attribute(&read)?)],
        )
    })
}

/// One value as an attribute, as `to_item` writes it in an item.
pub fn to_attribute<T: Serialize>(value: &T) -> Result<AttributeValue, Error> {
    serde_dynamo::to_attribute_value(value)
        .map_err(|e| Error::internal(format!("value does not serialize: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    #[test]
    fn a_token_is_refused_once_access_is_cut_and_older_ones_stay_refused() {
        use crate::account::{Role, User, UserStatus};
        use crate::crypto::DataKey;
        use crate::values::{EmailAddress, PersonName};
        let key = DataKey::from_bytes(&[7u8; 32]).unwrap();
        let mut user = User {
            id: "usr_1".into(),
            email: EmailAddress::parse("ivy@example.com").unwrap(),
            name: PersonName::parse("Ivy").unwrap(),
            role: Role::Member,
            status: UserStatus::Active,
            language: Language::Fr,
            removal_date: None,
            briks: vec![],
        };
        let item = UserItem::seal("acc_1", &user, &key, "h".into());
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let issued = t("2026-12-03T10:00:00Z").as_second();
        assert!(item.admits(Some(issued)));

        user.status = UserStatus::AccessRevoked;
        let cut = item.reseal("acc_1", &user, &key, t("2026-12-03T10:20:00.300Z"));
        assert_eq!(cut.access_cut_at, Some(t("2026-12-03T10:20:00.300Z")));
        assert!(!cut.admits(Some(issued)));
        assert!(!cut.admits(Some(t("2026-12-03T10:30:00Z").as_second())));

        // restored: the cut-off stays, so only tokens issued after it speak for the user
        user.status = UserStatus::Active;
        let back = cut.reseal("acc_1", &user, &key, t("2026-12-03T10:40:00Z"));
        assert_eq!(back.access_cut_at, cut.access_cut_at);
        assert!(!back.admits(Some(issued)));
        assert!(!back.admits(Some(t("2026-12-03T10:20:00Z").as_second())));
        assert!(back.admits(Some(t("2026-12-03T10:20:01Z").as_second())));
        assert!(!back.admits(None));

        // made inactive: cut again, at that instant
        user.status = UserStatus::Inactive;
        let off = back.reseal("acc_1", &user, &key, t("2026-12-03T11:00:00Z"));
        assert_eq!(off.access_cut_at, Some(t("2026-12-03T11:00:00Z")));
        assert!(!off.admits(Some(t("2026-12-03T11:30:00Z").as_second())));
    }

    #[tokio::test]
    async fn a_cancelled_transaction_says_which_condition_failed() {
        let rule = mock!(Client::transact_write_items).then_error(|| {
            TransactWriteItemsError::TransactionCanceledException(
                TransactionCanceledException::builder()
                    .cancellation_reasons(CancellationReason::builder().code("None").build())
                    .cancellation_reasons(
                        CancellationReason::builder()
                            .code("ConditionalCheckFailed")
                            .build(),
                    )
                    .build(),
            )
        });
        let store = Store::new(
            mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]),
            "t",
            "k",
        );
        let err = store.transact(vec![]).await.unwrap_err();
        assert!(!err.condition_failed(0));
        assert!(err.condition_failed(1));
    }

    #[tokio::test]
    async fn dynamodb_down_is_a_503_not_a_conflict() {
        let rule = mock!(Client::get_item).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(500).unwrap(),
                aws_smithy_types::body::SdkBody::from("{}"),
            )
        });
        let store = Store::new(
            mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]),
            "t",
            "k",
        );
        let err = store
            .get::<AccountItem>("ACCOUNT#x", "ACCOUNT")
            .await
            .unwrap_err();
        assert_eq!(err.status(), 503);
    }
}
