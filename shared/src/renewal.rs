//! The renewal on AWS: the DynamoDB adapter of `softbrik_app::ports::billing::BillingTable`
//! (dunning's part in `crate::dunning`)
//! (the account's records are `store::AccountRecords`, one Query, opened with its data key;
//! a renewal is stored by `invoicing::store_numbered` with its sealed history entry, the
//! account item past due, and a run's schedule move), and the entry points of the `renew` and
//! `reminder` runs and of `GET /account/upcoming-invoice`. The use cases themselves are
//! `softbrik_app::renewal`: the renew function runs them on each account's billing date
//! (`crate::schedule`).

use std::sync::Arc;

use async_trait::async_trait;
use jiff::civil::Date;
use softbrik_app::ports::billing::{Attempt, BillingTable, Dunning, RenewalWrite, Renewing};
use softbrik_app::ports::team::Stamp;

use crate::account::{Account, AccountStatus, HistoryEntry, Invoice};
use crate::app::App;
use crate::billing_calendar::BillingPeriod;
use crate::crypto::DataKey;
use crate::error::Error;
use crate::invoice::UsagePeak;
use crate::invoicing::{self, StoreFailure};
use crate::refusal::Refusal;
use crate::schedule::ScheduleMove;
use crate::store::{AccountItem, AccountRecords, HistoryItem, InvoiceItem, account_pk};

pub use softbrik_app::renewal::Upcoming;

/// What the renewal's records carry for this adapter: the account item as read (its version
/// is the condition of every write) and its data key.
struct Sealing {
    item: AccountItem,
    key: Arc<DataKey>,
}

/// The renewal's records from the account's records as read, opened with `key`.
pub async fn renewing(
    app: &App,
    records: &AccountRecords,
    key: &Arc<DataKey>,
) -> Result<Renewing, Error> {
    let account = records.account.open(key)?;
    let users = records
        .users
        .iter()
        .map(|u| u.open(&account.id, key))
        .collect::<Result<Vec<_>, _>>()?;
    let packs = crate::packs::holdings(&crate::packs::held_in(app, &records.packs).await?);
    Ok(Renewing {
        account,
        past_due_since: records.account.past_due_since,
        users,
        packs,
        catalogue: app.catalogue().await?,
        issuer: app.config.issuer_country,
        reseller_user_price: app.config.reseller_user_price,
        stamp: Stamp::new(Sealing {
            item: records.account.clone(),
            key: key.clone(),
        }),
    })
}

/// The account's records read now, for the renewal.
async fn read(app: &App, account_id: &str) -> Result<(AccountRecords, Renewing), Error> {
    let records = AccountRecords::read(&app.store, account_id).await?;
    let key = app.account_key(&records.account).await?;
    let renewing = renewing(app, &records, &key).await?;
    Ok((records, renewing))
}

#[derive(serde::Serialize)]
struct ReminderMarker {
    pk: String,
    sk: String,
}

impl ReminderMarker {
    fn of(account_id: &str, billing_date: Date) -> Self {
        ReminderMarker {
            pk: account_pk(account_id),
            sk: format!("REMINDER#{billing_date}"),
        }
    }
}

#[async_trait]
impl BillingTable for App {
    async fn renewing(&self, account_id: &str) -> Result<Renewing, Error> {
        Ok(read(self, account_id).await?.1)
    }

    async fn invoice(&self, account_id: &str, invoice_id: &str) -> Result<Option<Invoice>, Error> {
        let item: Option<InvoiceItem> = self
            .store
            .get(&account_pk(account_id), &format!("INVOICE#{invoice_id}"))
            .await?;
        Ok(item.map(|i| i.invoice))
    }

    async fn store_renewal(
        &self,
        records: &Renewing,
        write: RenewalWrite,
    ) -> Result<Invoice, Error> {
        let Sealing { item, key } = records.stamp.get()?;
        let account = &records.account;
        let (id, entry) = &write.history;
        let history = HistoryItem::seal(&account.id, id, entry, key);
        let past_due = write.past_due.map(|past_due| {
            let mut next = item.clone();
            next.status = past_due.status;
            next.past_due_since = Some(past_due.since);
            next.version = item.version + 1;
            next
        });
        let moving = write
            .moving
            .as_ref()
            .map(Stamp::get::<ScheduleMove>)
            .transpose()?;
        let mut invoice = write.invoice;
        invoicing::store_numbered(self, account, key, &mut invoice, |_| {
            let mut ops = vec![self.store.put_new_op(&history)?];
            if let Some(next) = &past_due {
                ops.push(self.store.put_if_version_op(next, item.version)?);
            }
            if let Some(moving) = moving {
                let after = past_due.as_ref().unwrap_or(item);
                ops.extend(moving.ops(self, after, past_due.is_some())?);
            }
            Ok(ops)
        })
        .await
        .map_err(|failure| match failure {
            StoreFailure::Conflict(_) => Error::Refused(Refusal::ConcurrentChange(
                "the account changed during its renewal; retry",
            )),
            StoreFailure::Failed(e) => e,
        })?;
        Ok(invoice)
    }

    async fn lapse(
        &self,
        records: &Renewing,
        (id, entry): (String, HistoryEntry),
    ) -> Result<(), Error> {
        let Sealing { item, key } = records.stamp.get()?;
        let mut lapsed = item.clone();
        lapsed.status = AccountStatus::Lapsed;
        lapsed.version = item.version + 1;
        let history = HistoryItem::seal(&item.id, &id, &entry, key);
        let ops = vec![
            self.store.put_if_version_op(&lapsed, item.version)?,
            self.store.put_new_op(&history)?,
        ];
        self.store.transact(ops).await.map_err(|e| {
            e.into_error(|_| {
                Error::Refused(Refusal::ConcurrentChange(
                    "the account changed during its renewal",
                ))
            })
        })
    }

    async fn usage_peak(
        &self,
        account: &Account,
        period: &BillingPeriod,
    ) -> Result<Option<UsagePeak>, Error> {
        crate::resellers::usage_peak(self, account, period).await
    }

    async fn claim_reminder(&self, account_id: &str, billing_date: Date) -> Result<bool, Error> {
        self.store
            .put_new(&ReminderMarker::of(account_id, billing_date))
            .await
    }

    async fn release_reminder(&self, account_id: &str, billing_date: Date) -> Result<(), Error> {
        let marker = ReminderMarker::of(account_id, billing_date);
        self.store
            .delete_if(&marker.pk, &marker.sk, "sk", &marker.sk)
            .await
    }

    async fn dunning(&self, account_id: &str) -> Result<Dunning, Error> {
        crate::dunning::read(self, account_id).await
    }

    async fn record_attempt(&self, dunning: &Dunning, attempt: Attempt) -> Result<(), Error> {
        crate::dunning::record_attempt(self, dunning, attempt).await
    }

    async fn set_standing(&self, dunning: &Dunning, status: AccountStatus) -> Result<(), Error> {
        crate::dunning::set_standing(self, dunning, status).await
    }
}

/// What an account's period end did (`period_end`).
#[derive(Debug)]
pub struct PeriodEnd {
    /// Users deleted and users who lost a Brik, their removal taking effect.
    pub removals: u32,
    /// Changes written to the packs and the support plan.
    pub pack_changes: u32,
    /// The renewal invoice, when one was issued.
    pub invoice: Option<Invoice>,
    /// The account's records as they stand after, when nothing here wrote them (`None`: read
    /// them again).
    pub account: Option<AccountRecords>,
    /// Whether the schedule's move it was handed landed with the renewal.
    pub moved: bool,
}

/// An account's period end on `date`, the renew run's job: the removals and pack changes due
/// take effect, then the period that starts on `date` is renewed. The account, its users and
/// its packs (the run's own read, `known`, when it has one) are read once, in one Query, and
/// again only after a step here wrote them; every write stays conditional on the item as read.
pub async fn period_end(
    app: &App,
    account_id: &str,
    known: Option<AccountRecords>,
    date: Date,
    then_move: Option<ScheduleMove>,
) -> Result<PeriodEnd, Error> {
    let mut records = match known {
        Some(records) => records,
        None => AccountRecords::read(&app.store, account_id).await?,
    };
    let key = app.account_key(&records.account).await?;
    let team = crate::team_table::team_records(app, &records, &key)?;
    let removals = softbrik_app::team::apply_removals(&app.ports(), team, date).await?;
    // Removals write users, never the account or its packs.
    let held = crate::packs::held_in(app, &records.packs).await?;
    let pack_changes =
        crate::packs::apply_period_end(app, &records.account, &key, &held, date).await?;
    if removals > 0 || pack_changes > 0 {
        records = AccountRecords::read(&app.store, account_id).await?;
    }
    let renewing = renewing(app, &records, &key).await?;
    let renewed =
        softbrik_app::renewal::renew(&app.ports(), &renewing, date, then_move.map(Stamp::new))
            .await?;
    Ok(PeriodEnd {
        removals,
        pack_changes,
        invoice: renewed.invoice,
        account: (!renewed.wrote).then_some(records),
        moved: renewed.moved,
    })
}

/// Renews the period that starts on `date`. `None` when there is nothing to bill or the
/// renewal was already issued.
pub async fn renew(app: &App, account_id: &str, date: Date) -> Result<Option<Invoice>, Error> {
    let (_, renewing) = read(app, account_id).await?;
    Ok(
        softbrik_app::renewal::renew(&app.ports(), &renewing, date, None)
            .await?
            .invoice,
    )
}

/// The next renewal of the account as it stands now (`GET /account/upcoming-invoice`).
pub async fn next_renewal(app: &App, account_id: &str) -> Result<Upcoming, Error> {
    let (_, renewing) = read(app, account_id).await?;
    softbrik_app::renewal::next_renewal(&app.ports(), &renewing).await
}

/// Emails the admin the renewal due on `billing_date`, once per period (a marker item
/// `REMINDER#<date>` makes a second run do nothing), from the account's records as `known`
/// (the run's read) or as read now. Returns whether a reminder went out.
pub async fn remind(
    app: &App,
    account_id: &str,
    known: Option<&AccountRecords>,
    billing_date: Date,
) -> Result<bool, Error> {
    let renewing = match known {
        Some(records) => {
            let key = app.account_key(&records.account).await?;
            renewing(app, records, &key).await?
        }
        None => read(app, account_id).await?.1,
    };
    softbrik_app::renewal::remind(&app.ports(), &renewing, billing_date).await
}
