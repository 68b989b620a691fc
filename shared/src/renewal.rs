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
use softbrik_app::ports::billing::{
    Attempt, BillingTable, Dunning, PackChanges, RenewalWrite, Renewing,
};
use softbrik_app::ports::team::Stamp;

use crate::account::{Account, AccountStatus, HistoryEntry, Invoice};
use crate::app::App;
use crate::billing_calendar::BillingPeriod;
use crate::crypto::DataKey;
use crate::error::Error;
use crate::invoice::UsagePeak;
use crate::invoicing::{self, StoreFailure};
use crate::packs::PackItem;
use crate::refusal::Refusal;
use crate::schedule::ScheduleMove;
use crate::store::{AccountRecords, HistoryItem, InvoiceItem, account_pk};

pub use softbrik_app::renewal::Upcoming;

/// What the renewal's records carry for this adapter: the account's records as read (the
/// account item's version is the condition of every write; the packs', of their changes) and
/// its data key.
struct Sealing {
    records: AccountRecords,
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
            records: records.clone(),
            key: key.clone(),
        }),
    })
}

/// The account's records read now (one Query), for the renewal.
async fn read(app: &App, account_id: &str) -> Result<Renewing, Error> {
    let records = AccountRecords::read(&app.store, account_id).await?;
    let key = app.account_key(&records.account).await?;
    renewing(app, &records, &key).await
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
        read(self, account_id).await
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
        let Sealing { records: read, key } = records.stamp.get()?;
        let item = &read.account;
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
        let events = crate::events::outbox_ops(self, &write.events)?;
        invoicing::store_numbered(self, account, key, &mut invoice, entry.at, |invoice| {
            let mut ops = vec![self.store.put_new_op(&history)?];
            ops.extend(events.iter().cloned());
            if write.mail_owed {
                let owed = invoicing::MailRetry::owed(self, &account.id, &invoice.id);
                ops.push(self.store.put_op(&owed)?);
            }
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

    async fn end_packs(&self, records: &Renewing, changes: PackChanges) -> Result<(), Error> {
        let Sealing { records: read, key } = records.stamp.get()?;
        let item = &read.account;
        let pack = |id: &str| {
            read.packs
                .iter()
                .find(|p| p.holding.pack_id == id)
                .ok_or_else(|| Error::internal("a change of a pack not read"))
        };
        let mut ops = Vec::new();
        for id in &changes.ended {
            let ended = pack(id)?;
            ops.push(
                self.store
                    .delete_if_version_op(&ended.pk, &ended.sk, ended.version)?,
            );
        }
        for holding in changes.reduced {
            let was = pack(&holding.pack_id)?;
            let reduced = PackItem {
                holding,
                version: was.version + 1,
                ..was.clone()
            };
            ops.push(self.store.put_if_version_op(&reduced, was.version)?);
        }
        let mut next = item.clone();
        next.support_plan = changes.plan;
        next.version = item.version + 1;
        ops.push(self.store.put_if_version_op(&next, item.version)?);
        for (id, entry) in &changes.history {
            ops.push(
                self.store
                    .put_op(&HistoryItem::seal(&item.id, id, entry, key))?,
            );
        }
        self.store
            .transact(ops)
            .await
            .map_err(|e| e.into_error(|_| Error::unavailable("the account's packs changed; retry")))
    }

    async fn lapse(
        &self,
        records: &Renewing,
        (id, entry): (String, HistoryEntry),
        events: Vec<softbrik_domain::events::Event>,
    ) -> Result<(), Error> {
        let Sealing { records: read, key } = records.stamp.get()?;
        let item = &read.account;
        let mut lapsed = item.clone();
        lapsed.status = AccountStatus::Lapsed;
        lapsed.version = item.version + 1;
        let history = HistoryItem::seal(&item.id, &id, &entry, key);
        let mut ops = vec![
            self.store.put_if_version_op(&lapsed, item.version)?,
            self.store.put_new_op(&history)?,
        ];
        ops.extend(crate::events::outbox_ops(self, &events)?);
        self.store.transact(ops).await.map_err(|e| {
            e.into_error(|_| {
                Error::Refused(Refusal::ConcurrentChange(
                    "the account changed during its renewal",
                ))
            })
        })?;
        if !events.is_empty() {
            crate::events::publish_account(self, &item.id).await;
        }
        Ok(())
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

    async fn set_standing(
        &self,
        dunning: &Dunning,
        status: AccountStatus,
        events: Vec<softbrik_domain::events::Event>,
    ) -> Result<(), Error> {
        crate::dunning::set_standing(self, dunning, status, &events).await
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

/// An account's period end on `date`, the renew run's job (`softbrik_app::renewal::period_end`:
/// the removals and pack changes due take effect, then the period that starts on `date` is
/// renewed), from the account's records (the run's own read, `known`, when it has one; else
/// read now, in one Query).
pub async fn period_end(
    app: &App,
    account_id: &str,
    known: Option<AccountRecords>,
    date: Date,
    then_move: Option<ScheduleMove>,
) -> Result<PeriodEnd, Error> {
    let records = match known {
        Some(records) => records,
        None => AccountRecords::read(&app.store, account_id).await?,
    };
    let key = app.account_key(&records.account).await?;
    let team = crate::team_table::team_records(app, &records, &key)?;
    let renewing = renewing(app, &records, &key).await?;
    let ended = softbrik_app::renewal::period_end(
        &app.ports(),
        team,
        renewing,
        date,
        then_move.map(Stamp::new),
    )
    .await?;
    let Sealing { records, .. } = ended.records.stamp.get()?;
    Ok(PeriodEnd {
        removals: ended.removals,
        pack_changes: ended.pack_changes,
        account: (!ended.renewed.wrote).then(|| records.clone()),
        invoice: ended.renewed.invoice,
        moved: ended.renewed.moved,
    })
}

/// Renews the period that starts on `date`. `None` when there is nothing to bill or the
/// renewal was already issued.
pub async fn renew(app: &App, account_id: &str, date: Date) -> Result<Option<Invoice>, Error> {
    let renewing = read(app, account_id).await?;
    Ok(
        softbrik_app::renewal::renew(&app.ports(), &renewing, date, None)
            .await?
            .invoice,
    )
}

/// The next renewal of the account as it stands now (`GET /account/upcoming-invoice`).
pub async fn next_renewal(app: &App, account_id: &str) -> Result<Upcoming, Error> {
    let renewing = read(app, account_id).await?;
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
        None => read(app, account_id).await?,
    };
    softbrik_app::renewal::remind(&app.ports(), &renewing, billing_date).await
}
