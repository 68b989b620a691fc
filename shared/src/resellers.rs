//! Resellers (billing.md "Resellers billed on maximum active users", api.md "Resellers"): a
//! managed service provider owns client accounts and is billed, at the end of each of its
//! periods, for the maximum over that period of the active users across its clients, free
//! trials excluded.
//!
//! The count lives in one item per reseller, `USAGE`: every client's number of active users
//! and the instant its trial ends. Every change of a client's users that moves its count is
//! written in the same transaction as a new version of that item and a sample of the
//! reseller's billable total at that instant (`SAMPLE#<ms>#<id>`), so no change can happen
//! without its sample, and two changes at once are put in order by the item's version. The
//! renew function also samples every reseller at each local midnight (trials end then). The
//! period's invoice bills the highest sample of the period, the total carried in from before
//! its start included, and the day it was first reached.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use jiff::Timestamp;
use softbrik_app::ports::account::AccountTable;
use softbrik_app::ports::resellers::ResellerTable;
use softbrik_app::ports::signup::NewAccount;
use softbrik_app::ports::team::{Answering, Committed, Read, Stamp};
use softbrik_domain::account::User;
use softbrik_domain::resellers::{NewClient, PlannedMove};

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
pub use softbrik_app::resellers::{ClientCreated, ClientSummary, UsageView};
pub use softbrik_domain::resellers::{ClientCount, peak_of};

use crate::account::{Account, AccountKind, HistoryEntry, Invoice, UserView, new_ordered_id};
use crate::app::App;
use crate::billing_calendar::{BillingPeriod, local_midnight};
use crate::crypto::DataKey;
use crate::error::Error;
use crate::http::Identity;
use crate::invoice::UsagePeak;
use crate::invoicing::StoreFailure;
use crate::refusal::Refusal;
use crate::store::{AccountItem, HistoryItem, TransactionError, UserItem, account_pk};
use crate::validation::ValidationErrors;
use crate::values::{CompanyName, Country, Language};

pub const USAGE_SK: &str = "USAGE";
const SAMPLE_PREFIX: &str = "SAMPLE#";
/// Tries at writing a change with the count before answering 409 (the count changes only as
/// fast as people change users, so a few tries are plenty).
const COUNT_ATTEMPTS: u32 = 8;

/// A reseller's clients and their active users (`ACCOUNT#<reseller>`, `USAGE`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsageItem {
    pub pk: String,
    pub sk: String,
    pub reseller_id: String,
    #[serde(default)]
    pub clients: BTreeMap<String, ClientCount>,
    pub version: u64,
}

impl UsageItem {
    pub fn new(reseller_id: &str) -> Self {
        UsageItem {
            pk: account_pk(reseller_id),
            sk: USAGE_SK.into(),
            reseller_id: reseller_id.into(),
            clients: BTreeMap::new(),
            version: 1,
        }
    }

    /// The users the reseller is billed for at `at`: active users of clients past their trial.
    pub fn billable_at(&self, at: Timestamp) -> u32 {
        softbrik_domain::resellers::billable_at(self.clients.values(), at)
    }

    /// The count with `client` billed up to `until` (it closes or moves then), the version
    /// bumped; a client not in the count is an internal error.
    fn billed_until(&self, client: &str, until: Timestamp) -> Result<UsageItem, Error> {
        let mut next = self.clone();
        next.clients
            .get_mut(client)
            .ok_or_else(|| Error::internal("a client not in its reseller's count"))?
            .billed_until = Some(until);
        next.version += 1;
        Ok(next)
    }

    /// The count with `client` in it (a new client, or one moving in), the version bumped.
    fn with_client(&self, client: &str, count: ClientCount) -> UsageItem {
        let mut next = self.clone();
        next.clients.insert(client.to_string(), count);
        next.version += 1;
        next
    }

    /// The count without `client` (closed, or moved out), the version bumped.
    fn without(&self, client: &str) -> UsageItem {
        let mut next = self.clone();
        next.clients.remove(client);
        next.version += 1;
        next
    }

    /// The next version with `client`'s count moved by `delta`.
    fn moved(&self, client: &str, delta: i64) -> Result<UsageItem, Error> {
        let mut next = self.clone();
        let count = next
            .clients
            .get_mut(client)
            .ok_or_else(|| Error::internal("client account missing from its reseller's count"))?;
        count.active = u32::try_from((i64::from(count.active) + delta).max(0))
            .map_err(|_| Error::internal("active user count out of range"))?;
        next.version += 1;
        Ok(next)
    }
}

/// The reseller's billable total at one instant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleItem {
    pub pk: String,
    pub sk: String,
    pub at: Timestamp,
    pub active_users: u32,
}

impl SampleItem {
    /// `suffix` tells samples at the same instant apart (`daily` for the midnight one).
    fn new(reseller_id: &str, at: Timestamp, active_users: u32, suffix: &str) -> Self {
        SampleItem {
            pk: account_pk(reseller_id),
            sk: format!("{}#{suffix}", sample_key(at)),
            at,
            active_users,
        }
    }
}

/// The sort key prefix of the samples at `at`: milliseconds, fixed width, so key order is
/// time order.
fn sample_key(at: Timestamp) -> String {
    format!(
        "{SAMPLE_PREFIX}{:015}",
        at.as_millisecond().clamp(0, 999_999_999_999_999)
    )
}

pub use softbrik_domain::team::counts;

/// Stores a change of a client account's users (`ops`) with its effect on its reseller's
/// count (`delta` active users) and a sample of the reseller's total at `now`, in one
/// transaction, retried when another change of the count came first. Any other account, or
/// a change that moves no count, is stored as it is.
pub async fn transact_counted(
    app: &App,
    account: &Account,
    delta: i64,
    now: Timestamp,
    ops: impl Fn() -> Result<Vec<TransactWriteItem>, Error>,
) -> Result<(), StoreFailure> {
    let reseller = match (&account.reseller_id, account.kind) {
        (Some(reseller), AccountKind::Client) if delta != 0 => reseller,
        _ => {
            let ops = ops().map_err(StoreFailure::Failed)?;
            return app.store.transact(ops).await.map_err(StoreFailure::from);
        }
    };
    for attempt in 0..COUNT_ATTEMPTS {
        if attempt > 0 {
            back_off(attempt).await;
        }
        let usage = usage_item(app, reseller)
            .await
            .map_err(StoreFailure::Failed)?;
        let next = usage
            .moved(&account.id, delta)
            .map_err(StoreFailure::Failed)?;
        let mut all = ops().map_err(StoreFailure::Failed)?;
        let own = all.len();
        all.push(
            app.store
                .put_if_version_op(&next, usage.version)
                .map_err(StoreFailure::Failed)?,
        );
        for sample in samples(reseller, &usage, &next, now) {
            all.push(app.store.put_op(&sample).map_err(StoreFailure::Failed)?);
        }
        match app.store.transact(all).await {
            Ok(()) => return Ok(()),
            Err(e) if count_moved(&e, own) => continue,
            Err(e) => return Err(StoreFailure::from(e)),
        }
    }
    Err(StoreFailure::Failed(Error::Refused(
        Refusal::ConcurrentChange("the reseller's user count kept changing; retry"),
    )))
}

/// A closed client account leaves its reseller's count: its users count no more from `now`,
/// with the samples of that change. Nothing to do once it has left (a closure run again).
pub async fn leave(app: &App, client: &Account, now: Timestamp) -> Result<(), Error> {
    let Some(reseller) = client.reseller_id.as_deref() else {
        return Ok(());
    };
    with_counts(move || async move {
        let usage = usage_item(app, reseller).await?;
        if !usage.clients.contains_key(&client.id) {
            return Ok(Tried::Done(()));
        }
        let next = usage.without(&client.id);
        let mut ops = vec![app.store.put_if_version_op(&next, usage.version)?];
        for sample in samples(reseller, &usage, &next, now) {
            ops.push(app.store.put_op(&sample)?);
        }
        tried(app.store.transact(ops).await, &[0], |_| {
            Error::unavailable("the reseller's count changed meanwhile")
        })
    })
    .await
}

/// The samples of a change at `now`: the total just before it (a trial that ended since the
/// last sample shows there, even if this change lowers the count) and just after it.
fn samples(
    reseller_id: &str,
    before: &UsageItem,
    after: &UsageItem,
    now: Timestamp,
) -> [SampleItem; 2] {
    let id = new_ordered_id("smp", now);
    [
        SampleItem::new(
            reseller_id,
            now,
            before.billable_at(now),
            &format!("{id}-before"),
        ),
        SampleItem::new(reseller_id, now, after.billable_at(now), &id),
    ]
}

/// A random wait before try `attempt` at a change of the count, longer each time.
async fn back_off(attempt: u32) {
    use rand::Rng;
    let wait = rand::thread_rng().gen_range(1..=(10u64 << attempt.min(5)));
    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
}

/// Whether a transaction failed only because the count (item `index`) moved meanwhile.
fn count_moved(e: &TransactionError, index: usize) -> bool {
    match e {
        TransactionError::Cancelled(reasons) => {
            let failed = |r: &Option<String>| {
                matches!(
                    r.as_deref(),
                    Some("ConditionalCheckFailed" | "TransactionConflict")
                )
            };
            reasons.get(index).is_some_and(failed)
                && !reasons
                    .iter()
                    .take(index)
                    .any(|r| r.as_deref() == Some("ConditionalCheckFailed"))
        }
        TransactionError::Failed(_) => false,
    }
}

/// What one try at a change of a reseller's count came to.
enum Tried<T> {
    Done(T),
    /// Another change moved a count it was written against: try again on the new one.
    CountMoved,
}

/// A try's transaction: done, or the count moved (a `count_moved` item among `counts`), or
/// refused (`refused(i)`: the first failed condition's item).
fn tried(
    result: Result<(), TransactionError>,
    counts: &[usize],
    refused: impl FnOnce(usize) -> Error,
) -> Result<Tried<()>, Error> {
    match result {
        Ok(()) => Ok(Tried::Done(())),
        Err(e) if counts.iter().any(|&i| count_moved(&e, i)) => Ok(Tried::CountMoved),
        Err(e) => Err(e.into_error(refused)),
    }
}

/// Tries a change of a reseller's count until it is made, reading the count again and
/// waiting a little longer each time another change moved it first; after
/// [`COUNT_ATTEMPTS`], 409 `concurrent_change`.
async fn with_counts<T, Fut>(mut attempt: impl FnMut() -> Fut) -> Result<T, Error>
where
    Fut: std::future::Future<Output = Result<Tried<T>, Error>>,
{
    for n in 0..COUNT_ATTEMPTS {
        if n > 0 {
            back_off(n).await;
        }
        if let Tried::Done(done) = attempt().await? {
            return Ok(done);
        }
    }
    Err(Error::Refused(Refusal::ConcurrentChange(
        "the reseller's user count kept changing; retry",
    )))
}

async fn usage_item(app: &App, reseller_id: &str) -> Result<UsageItem, Error> {
    app.store
        .get(&account_pk(reseller_id), USAGE_SK)
        .await?
        .ok_or_else(|| Error::internal("reseller without its count"))
}

/// The midnight sample (renew function, every local midnight of the reseller): trials that
/// ended count from then, and a day without changes still has its sample. Written once: a
/// late or repeated run never replaces it (a change since midnight has sampled the total
/// before it). A reseller closed meanwhile has nothing to sample.
pub async fn sample_daily(app: &App, reseller_id: &str, at: Timestamp) -> Result<u32, Error> {
    let Some(usage) = app
        .store
        .get::<UsageItem>(&account_pk(reseller_id), USAGE_SK)
        .await?
    else {
        return Ok(0);
    };
    let total = usage.billable_at(at);
    app.store
        .put_new(&SampleItem::new(reseller_id, at, total, "daily"))
        .await?;
    Ok(total)
}

/// The reseller's peak in `[from, to)` from its samples.
pub async fn peak(
    app: &App,
    reseller_id: &str,
    from: Timestamp,
    to: Timestamp,
) -> Result<Option<(u32, Timestamp)>, Error> {
    let pk = account_pk(reseller_id);
    let before: Vec<SampleItem> = app
        .store
        .query_between(&pk, SAMPLE_PREFIX, &sample_key(from), false, Some(1))
        .await?;
    let within: Vec<SampleItem> = app
        .store
        .query_between(&pk, &sample_key(from), &sample_key(to), true, None)
        .await?;
    let samples: Vec<(Timestamp, u32)> = within
        .iter()
        .filter(|s| s.at >= from && s.at < to)
        .map(|s| (s.at, s.active_users))
        .collect();
    Ok(peak_of(
        before.first().map(|s| s.active_users),
        from,
        &samples,
    ))
}

/// The reseller's invoice for `period` (billed on its end): one line, the peak of active users
/// at the per-user price; no line when no user was ever billable. Not numbered nor charged.
pub async fn usage_invoice(
    app: &App,
    account: &Account,
    period: BillingPeriod,
    id: String,
) -> Result<Invoice, Error> {
    Ok(softbrik_domain::renewal::usage_invoice(
        account,
        period,
        usage_peak(app, account, &period).await?,
        app.config.reseller_user_price,
        &app.config.issuer_country,
        id,
    ))
}

/// The reseller's peak of active users in `period` (its local days), and the day reached.
pub async fn usage_peak(
    app: &App,
    account: &Account,
    period: &BillingPeriod,
) -> Result<Option<UsagePeak>, Error> {
    let zone = account.timezone.time_zone();
    let from = local_midnight(period.start(), &zone);
    let to = local_midnight(period.end(), &zone);
    Ok(peak(app, &account.id, from, to)
        .await?
        .map(|(max, at)| UsagePeak {
            max_active_users: max,
            reached_on: account.local_date(at),
        }))
}

/// The calling admin's account (a member is refused); the use cases refuse any account but a
/// reseller's.
async fn reseller_of(app: &App, caller: &Identity) -> Result<Account, Error> {
    Ok(AccountTable::account(app, caller.require_admin()?)
        .await?
        .value)
}

/// `POST /reseller/clients` as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientBody {
    pub company_name: String,
    pub country: String,
    pub language: String,
    #[serde(default)]
    pub timezone: Option<String>,
    pub admin: crate::signup::AdminBody,
    #[serde(default)]
    pub trial_until: Option<String>,
}

impl ClientBody {
    /// Checks every field at once; a trial may not end before today in the client's zone.
    fn parse(self, now: Timestamp) -> Result<NewClient, Error> {
        let mut errors = ValidationErrors::new();
        let company_name = errors.check("company_name", CompanyName::parse(&self.company_name));
        let country = errors.check("country", Country::parse(&self.country));
        let language = errors.check("language", Language::parse(&self.language));
        let timezone = crate::signup::check_timezone(self.timezone.as_deref(), &mut errors);
        let (admin_email, admin_name) = self.admin.check(&mut errors);
        let zone = timezone.clone().unwrap_or_default().time_zone();
        let today = crate::billing_calendar::local_date(now, &zone);
        let trial_until = match self.trial_until.as_deref() {
            None => Some(None),
            Some(raw) => match raw.parse::<Date>() {
                Ok(date) if date < today => {
                    errors.push(
                        "trial_until",
                        "in_the_past",
                        "a trial cannot end before today",
                    );
                    None
                }
                Ok(date) => Some(Some(date)),
                Err(_) => {
                    errors.push("trial_until", "invalid_format", "a date, YYYY-MM-DD");
                    None
                }
            },
        };
        errors.into_result()?;
        match (
            company_name,
            country,
            language,
            timezone,
            admin_email,
            admin_name,
            trial_until,
        ) {
            (
                Some(company_name),
                Some(country),
                Some(language),
                Some(timezone),
                Some(admin_email),
                Some(admin_name),
                Some(trial_until),
            ) => Ok(NewClient {
                company_name,
                country,
                language,
                timezone,
                admin_email,
                admin_name,
                password: self.admin.password,
                trial_until,
            }),
            _ => Err(Error::internal("validation passed with a field missing")),
        }
    }
}

/// `POST /reseller/clients`: the calling reseller (its admin only) read, the body checked on
/// its clock (a trial may not end before today), then `softbrik_app::resellers::create_client`.
pub async fn create_client(
    app: &App,
    caller: &Identity,
    body: ClientBody,
    raw: &serde_json::Value,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let reseller = AccountTable::account(app, caller.require_admin()?).await?;
    softbrik_domain::resellers::may_add_clients(&reseller.value)?;
    let now = app
        .clock(reseller.value.test_clock_id.as_deref())
        .await?
        .now();
    let client = body.parse(now)?;
    let fingerprint = serde_json::json!({"route": "POST /reseller/clients", "body": raw});
    let answer = softbrik_app::resellers::create_client(
        &app.ports(),
        &reseller,
        now,
        &caller.actor(),
        client,
        fingerprint,
        key,
    )
    .await?;
    if let Some(client_id) = answer.1.pointer("/account/id").and_then(|v| v.as_str()) {
        crate::events::publish_account(app, client_id).await;
    }
    Ok(answer)
}

/// `POST /reseller/clients/transfer` as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    pub code: String,
}

/// `POST /reseller/clients/transfer` `{code}`: the calling reseller takes over the client
/// account whose admin gave it the code (`softbrik_app::resellers::take_over`); a code
/// unknown, expired or used is 404.
pub async fn take_over(
    app: &App,
    caller: &Identity,
    body: TransferBody,
) -> Result<serde_json::Value, Error> {
    let reseller = AccountTable::account(app, caller.require_admin()?).await?;
    if body.code.len() > 200 {
        return Err(Error::NotFound);
    }
    softbrik_app::resellers::take_over(&app.ports(), &reseller, &caller.actor(), &body.code).await
}

/// `POST /reseller/clients/{account_id}/closure` (`{"confirm": true}`): the reseller's admin
/// closes one of its client accounts (`softbrik_app::resellers::close_client`).
pub async fn close_client(
    app: &App,
    caller: &Identity,
    client_id: &str,
    body: crate::closure::ClosureBody,
) -> Result<serde_json::Value, Error> {
    body.confirmed()?;
    let reseller = AccountTable::account(app, caller.require_admin()?).await?;
    softbrik_app::resellers::close_client(&app.ports(), &reseller.value, &caller.actor(), client_id)
        .await
}

/// A client account on DynamoDB: its items, its admin, both histories and its entry in the
/// reseller's count, in one transaction (retried when the count moved meanwhile).
#[async_trait]
impl ResellerTable for App {
    async fn add_client(
        &self,
        reseller: &Read<Account>,
        key: &Stamp,
        new: NewAccount,
        (reseller_history_id, reseller_entry): (String, HistoryEntry),
        billed_from: Option<Timestamp>,
        answer: Option<Answering<'_>>,
    ) -> Result<Committed, Error> {
        let (_, reseller_key) = reseller.stamp.get::<(AccountItem, Arc<DataKey>)>()?;
        let (_, created) = crate::signup::new_account_ops(self, key, &new).await?;
        let account = &new.account;
        let reseller_id = &reseller.value.id;
        let reseller_history = HistoryItem::seal(
            reseller_id,
            &reseller_history_id,
            &reseller_entry,
            reseller_key,
        );
        let answered =
            crate::idempotency::answered(self, answer.as_ref(), reseller_id, reseller_key, None)?;
        let entry = ClientCount {
            active: 1,
            billed_from,
            billed_until: None,
        };
        let (created, reseller_history, answered, entry, at) =
            (&created, &reseller_history, &answered, &entry, new.at);
        with_counts(move || async move {
            let usage = usage_item(self, reseller_id).await?;
            let next = usage.with_client(&account.id, entry.clone());
            let mut ops = created.clone();
            ops.push(self.store.put_new_op(reseller_history)?);
            if let Some((_, recorded)) = answered {
                ops.extend(recorded.iter().cloned());
            }
            let own = ops.len();
            ops.push(self.store.put_if_version_op(&next, usage.version)?);
            for sample in samples(reseller_id, &usage, &next, at) {
                ops.push(self.store.put_op(&sample)?);
            }
            let result = self.store.transact(ops).await;
            if result
                .as_ref()
                .is_err_and(|e| !count_moved(e, own) && e.condition_failed(0))
            {
                return Err(Error::EmailTaken);
            }
            Ok(
                match tried(result, &[own], |i| {
                    Error::unavailable(format!("client item {i} already exists"))
                })? {
                    Tried::Done(()) => Tried::Done(Committed {
                        invoice: None,
                        answer: answered.as_ref().map(|(body, _)| body.clone()),
                    }),
                    Tried::CountMoved => Tried::CountMoved,
                },
            )
        })
        .await
    }

    /// The reseller's `USAGE` item (one GetItem).
    async fn clients(&self, reseller: &Account) -> Result<BTreeMap<String, ClientCount>, Error> {
        Ok(usage_item(self, &reseller.id).await?.clients)
    }

    /// Its samples in the window and the last one before it (two Queries).
    async fn peak(
        &self,
        reseller: &Account,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Option<(u32, Timestamp)>, Error> {
        crate::resellers::peak(self, &reseller.id, from, to).await
    }

    /// The account item (GetItem, its key unwrapped) and its users (one Query), opened.
    async fn client(&self, client_id: &str) -> Result<(Account, Vec<User>), Error> {
        let (item, key) = self.account_item(client_id).await?;
        let account = item.open(&key)?;
        let users = UserItem::all(&self.store, client_id)
            .await?
            .iter()
            .map(|user| user.open(client_id, &key))
            .collect::<Result<Vec<User>, Error>>()?;
        Ok((account, users))
    }

    fn user_price(&self) -> crate::money::Money {
        self.config.reseller_user_price
    }

    async fn keep_transfer_code(
        &self,
        client: &Account,
        code_hash: &str,
        expires_at: Timestamp,
    ) -> Result<(), Error> {
        let item = TransferCodeItem {
            pk: transfer_code_pk(code_hash),
            sk: TRANSFER_SK.into(),
            account_id: client.id.clone(),
            valid_until: expires_at,
            expires_at: expires_at.as_second(),
        };
        // A code is 32 random bytes: a second one with this hash is not made.
        self.store.put_new(&item).await.map(|_| ())
    }

    async fn transfer_code(
        &self,
        code_hash: &str,
        now: Timestamp,
    ) -> Result<Option<String>, Error> {
        let item: Option<TransferCodeItem> = self
            .store
            .get(&transfer_code_pk(code_hash), TRANSFER_SK)
            .await?;
        Ok(item
            .filter(|code| code.valid_until > now)
            .map(|code| code.account_id))
    }

    async fn plan_move(
        &self,
        planned: &PlannedMove,
        until: Timestamp,
        code_hash: &str,
        history: Vec<(&Read<Account>, String, HistoryEntry)>,
    ) -> Result<(), Error> {
        let item = MoveItem::of(planned);
        // Each entry sealed under its account's key, as the use case read the account.
        let entries = history
            .iter()
            .map(|(read, id, entry)| {
                let (_, key) = read.stamp.get::<(AccountItem, Arc<DataKey>)>()?;
                Ok(HistoryItem::seal(&read.value.id, id, entry, key))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let (item, entries) = (&item, &entries);
        with_counts(move || async move {
            let usage = usage_item(self, &planned.from).await?;
            let next = usage.billed_until(&planned.client_id, until)?;
            let mut ops = vec![
                self.store.put_new_op(&item)?,
                self.store
                    .delete_if_exists_op(&transfer_code_pk(code_hash), TRANSFER_SK)?,
                self.store.put_if_version_op(&next, usage.version)?,
            ];
            for entry in entries {
                ops.push(self.store.put_new_op(entry)?);
            }
            tried(self.store.transact(ops).await, &[2], |index| match index {
                0 => Error::Refused(Refusal::MoveAlreadyPlanned(planned.on)),
                1 => Error::NotFound,
                _ => Error::internal("a history entry written twice"),
            })
        })
        .await
    }

    async fn stop_billing(&self, client: &Account, until: Timestamp) -> Result<(), Error> {
        let reseller = client.reseller_id.as_deref().ok_or(Error::NotFound)?;
        with_counts(move || async move {
            let usage = usage_item(self, reseller).await?;
            let next = usage.billed_until(&client.id, until)?;
            let ops = vec![self.store.put_if_version_op(&next, usage.version)?];
            tried(self.store.transact(ops).await, &[0], |_| {
                Error::unavailable("the reseller's count changed meanwhile")
            })
        })
        .await
    }

    async fn moves_due(&self, reseller: &Account, day: Date) -> Result<Vec<PlannedMove>, Error> {
        let items: Vec<MoveItem> = self
            .store
            .query_prefix(&account_pk(&reseller.id), MOVE_SK_PREFIX)
            .await?;
        Ok(items
            .into_iter()
            .map(|m| m.planned)
            .filter(|m| m.on <= day)
            .collect())
    }

    async fn complete_move(
        &self,
        planned: &PlannedMove,
        billed_from: Option<Timestamp>,
        at: Timestamp,
    ) -> Result<(), Error> {
        let item = &MoveItem::of(planned);
        with_counts(move || async move {
            let client: Option<AccountItem> = self
                .store
                .get(&account_pk(&planned.client_id), crate::store::ACCOUNT_SK)
                .await?;
            let moved = client
                .as_ref()
                .is_none_or(|c| c.reseller_id.as_deref() != Some(planned.from.as_str()));
            if moved {
                // Made before (or the client is gone): only the plan is left to remove.
                self.store
                    .delete_batch(&[(item.pk.clone(), item.sk.clone())])
                    .await?;
                return Ok(Tried::Done(()));
            }
            let (from, to) = (
                usage_item(self, &planned.from).await?,
                usage_item(self, &planned.to).await?,
            );
            let active = from
                .clients
                .get(&planned.client_id)
                .map_or(0, |count| count.active);
            let left = from.without(&planned.client_id);
            let joined = to.with_client(
                &planned.client_id,
                ClientCount {
                    active,
                    billed_from,
                    billed_until: None,
                },
            );
            let mut ops = vec![
                self.store.delete_op(&item.pk, &item.sk)?,
                self.store
                    .reseller_changed_op(&planned.client_id, &planned.from, &planned.to)?,
                self.store.put_if_version_op(&left, from.version)?,
                self.store.put_if_version_op(&joined, to.version)?,
            ];
            for sample in samples(&planned.from, &from, &left, at)
                .into_iter()
                .chain(samples(&planned.to, &to, &joined, at))
            {
                ops.push(self.store.put_op(&sample)?);
            }
            tried(self.store.transact(ops).await, &[2, 3], |_| {
                Error::unavailable("the client changed meanwhile; the next run moves it")
            })
        })
        .await
    }
}

const TRANSFER_SK: &str = "TRANSFER";
const MOVE_SK_PREFIX: &str = "MOVEOUT#";

fn transfer_code_pk(code_hash: &str) -> String {
    format!("TRANSFER#{code_hash}")
}

/// A client account's transfer code (its SHA-256), valid until `valid_until`; the table's TTL
/// removes it after (`expires_at`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TransferCodeItem {
    pk: String,
    sk: String,
    account_id: String,
    valid_until: Timestamp,
    expires_at: i64,
}

/// A client's planned move to another reseller, under the reseller it leaves (one per
/// client): found by that reseller's period end, which makes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct MoveItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    planned: PlannedMove,
}

impl MoveItem {
    fn of(planned: &PlannedMove) -> MoveItem {
        MoveItem {
            pk: account_pk(&planned.from),
            sk: format!("{MOVE_SK_PREFIX}{}", planned.client_id),
            planned: planned.clone(),
        }
    }
}

/// `GET /reseller/clients`: the calling reseller's clients, in id order, `limit` at a time
/// from after `next` (`softbrik_app::resellers::list_clients`).
pub async fn list_clients(
    app: &App,
    caller: &Identity,
    limit: usize,
    next: Option<&str>,
) -> Result<(Vec<ClientSummary>, Option<String>), Error> {
    let reseller = reseller_of(app, caller).await?;
    softbrik_app::resellers::list_clients(&app.ports(), &reseller, limit, next).await
}

/// `GET /reseller/clients/{id}/users`: the users of one of the calling reseller's clients;
/// another reseller's client, or any other account, is not found
/// (`softbrik_app::resellers::client_users`).
pub async fn client_users(
    app: &App,
    caller: &Identity,
    client_id: &str,
) -> Result<Vec<UserView>, Error> {
    let reseller = reseller_of(app, caller).await?;
    softbrik_app::resellers::client_users(&app.ports(), &reseller, client_id).await
}

/// `GET /reseller/usage`: the current period as it stands (`softbrik_app::resellers::usage`).
pub async fn usage(app: &App, caller: &Identity) -> Result<UsageView, Error> {
    let reseller = reseller_of(app, caller).await?;
    softbrik_app::resellers::usage(&app.ports(), &reseller).await
}

/// A reseller still has clients: it cannot close (they would lose their service).
pub async fn has_clients(app: &App, account: &Account) -> Result<bool, Error> {
    if account.kind != AccountKind::Reseller {
        return Ok(false);
    }
    Ok(!usage_item(app, &account.id).await?.clients.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_count_never_goes_below_zero_and_bumps_the_version() {
        let mut usage = UsageItem::new("acc_r");
        usage.clients.insert(
            "acc_a".into(),
            ClientCount {
                active: 1,
                billed_from: None,
                billed_until: None,
            },
        );
        let next = usage.moved("acc_a", -3).unwrap();
        assert_eq!(next.clients["acc_a"].active, 0);
        assert_eq!(next.version, 2);
        assert!(usage.moved("acc_b", 1).is_err());
    }

    #[test]
    fn a_change_samples_the_total_before_it_and_after_it() {
        let mut before = UsageItem::new("acc_r");
        before.clients.insert(
            "acc_c".into(),
            ClientCount {
                active: 10,
                billed_from: Some(at("2027-02-01T00:00:00Z")),
                billed_until: None,
            },
        );
        let after = before.moved("acc_c", -9).unwrap();
        // A trial ended at midnight and the first change of the day lowers the count: the
        // 10 users billable since midnight are sampled all the same.
        let now = at("2027-02-01T00:05:00Z");
        let [pre, post] = samples("acc_r", &before, &after, now);
        assert_eq!((pre.active_users, post.active_users), (10, 1));
        assert_eq!((pre.at, post.at), (now, now));
        assert_ne!(pre.sk, post.sk);
        assert!(pre.sk.starts_with(&sample_key(now)));
    }

    #[test]
    fn sample_keys_sort_in_time_order() {
        let early = sample_key(at("2027-01-09T23:59:59.999Z"));
        let late = sample_key(at("2027-01-10T00:00:00Z"));
        assert!(early < late);
        assert_eq!(late.len(), SAMPLE_PREFIX.len() + 15);
    }
}
