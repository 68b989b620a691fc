//! The DynamoDB adapter of the team port (`softbrik_app::ports::team::TeamTable`): the
//! account and its users are the account's records (`store::AccountRecords`, one Query),
//! opened with the account's data key; a team change is one transaction of the users' items
//! (each conditional on the version read), their address claims, the sealed history entries
//! and, for a client account, its reseller's count (`resellers::transact_counted`).

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use std::collections::BTreeMap;

use jiff::civil::Date;
use softbrik_app::ports::Ports;
use softbrik_app::ports::mailer::InvoiceMail;
use softbrik_app::ports::team::{
    Answering, Committed, Read, Stamp, TeamChange, TeamRecords, TeamTable, TeamWrite,
};

use crate::account::{Account, Invoice, User};
use crate::app::App;
use crate::crypto::DataKey;
use crate::error::Error;
use crate::invoicing::StoreFailure;
use crate::store::{AccountRecords, EmailClaimItem, HistoryItem, UserItem, email_claim_pk};

/// What a team's records carry for this adapter: the account's data key, and its records as
/// read (their packs and seat guards).
struct Sealing {
    key: Arc<DataKey>,
    records: AccountRecords,
}

/// The team of `records`, opened with `key`: each user stamped with its item as read.
pub fn team_records(
    app: &App,
    records: &AccountRecords,
    key: &Arc<DataKey>,
) -> Result<TeamRecords, Error> {
    let account = records.account.open(key)?;
    let mut users = Vec::with_capacity(records.users.len());
    for item in &records.users {
        users.push(Read {
            value: item.open(&account.id, key)?,
            stamp: Stamp::new(item.clone()),
        });
    }
    Ok(TeamRecords {
        account,
        users,
        issuer: app.config.issuer_country,
        stamp: Stamp::new(Sealing {
            key: key.clone(),
            records: records.clone(),
        }),
    })
}

/// The account's data key and its records as the team's read saw them.
pub(crate) fn sealing(team: &TeamRecords) -> Result<(&Arc<DataKey>, &AccountRecords), Error> {
    let Sealing { key, records } = team.stamp.get()?;
    Ok((key, records))
}

/// The item a user was read from.
pub fn user_item(user: &Read<User>) -> Result<&UserItem, Error> {
    user.stamp.get()
}

impl App {
    /// The ports of the use cases, on AWS.
    pub fn ports(&self) -> Ports<'_> {
        Ports {
            table: self,
            billing: self,
            accounts: self,
            signups: self,
            packs: self,
            resellers: self,
            closure: self,
            records: self,
            directory: &*self.directory,
            mailer: &*self.mailer,
            payments: &*self.payments,
            invoices: self,
            charges: self,
            answers: self,
            clock: &*self.system_clock,
            tickets: self,
            blobs: self,
            inbox: self,
            directory_sync: self,
            support_mailer: &*self.support_mailer,
            staff: &self.staff,
        }
    }
}

#[async_trait]
impl TeamTable for App {
    async fn team(&self, account_id: &str) -> Result<TeamRecords, Error> {
        let records = AccountRecords::read(&self.store, account_id).await?;
        let key = self.account_key(&records.account).await?;
        team_records(self, &records, &key)
    }

    async fn commit(
        &self,
        team: &TeamRecords,
        change: TeamChange,
        answer: Option<Answering<'_>>,
    ) -> Result<Committed, Error> {
        let Sealing { key, records } = team.stamp.get()?;
        let account = &team.account;
        let mut ops = Vec::with_capacity(change.writes.len() + 2);
        // What a failed condition of each write means: another change came first, or (a new
        // member's claim) the address belongs to someone already.
        let mut taken_if = Vec::with_capacity(ops.capacity());
        for write in &change.writes {
            match write {
                TeamWrite::User { user, read } => {
                    let item: &UserItem = read.get()?;
                    let updated = item.reseal(&account.id, user, key, self.system_clock.now());
                    ops.push(updated.update_op(self, item.version)?);
                    taken_if.push(false);
                }
                TeamWrite::Removed { read, .. } => {
                    let item: &UserItem = read.get()?;
                    ops.push(
                        self.store
                            .delete_if_version_op(&item.pk, &item.sk, item.version)?,
                    );
                    ops.push(
                        self.store
                            .delete_op(&email_claim_pk(&item.email_hash), "EMAIL")?,
                    );
                    taken_if.extend([false, false]);
                }
                TeamWrite::Joined { user, sub } => {
                    let hash = self.email_hash(&user.email).await?;
                    let claim = EmailClaimItem::new(&hash, &account.id, &user.id);
                    let mut item = UserItem::seal(&account.id, user, key, hash);
                    item.sub = Some(sub.clone());
                    item.created_at = Some(change.at);
                    ops.push(self.store.put_new_op(&claim)?);
                    ops.push(self.store.put_new_op(&item)?);
                    taken_if.extend([true, false]);
                }
                TeamWrite::History { id, entry } => {
                    let item = HistoryItem::seal(&account.id, id, entry, key);
                    ops.push(self.store.put_new_op(&item)?);
                    taken_if.push(false);
                }
                TeamWrite::Credited { invoice, before } => {
                    ops.push(
                        self.store
                            .invoice_credited_op(&account.id, invoice, *before)?,
                    );
                    taken_if.push(false);
                }
                TeamWrite::SeatTaken { brik } => {
                    ops.push(records.seat_guard(brik).take_op(&self.store)?);
                    taken_if.push(false);
                }
            }
        }
        // What the Brik modules are told, recorded with the change (events.md).
        let outbox = crate::events::outbox_ops(self, &change.events)?;
        taken_if.extend(outbox.iter().map(|_| false));
        ops.extend(outbox);
        let told = !change.events.is_empty();
        // The answer, built from the invoice as numbered, recorded in the same transaction.
        let answered = |invoice: Option<&Invoice>| {
            crate::idempotency::answered(self, answer.as_ref(), &account.id, key, invoice)
        };
        let conflict = |failure| match failure {
            StoreFailure::Conflict(i) if taken_if.get(i) == Some(&true) => Error::EmailTaken,
            StoreFailure::Conflict(_) => softbrik_app::team::concurrent_change(),
            StoreFailure::Failed(e) => e,
        };
        let Some(mut invoice) = change.invoice else {
            let answered = answered(None)?;
            if let Some((_, recorded)) = &answered {
                ops.extend(recorded.iter().cloned());
            }
            crate::resellers::transact_counted(self, account, change.counted, change.at, || {
                Ok(ops.clone())
            })
            .await
            .map_err(conflict)?;
            if told {
                crate::events::publish_account(self, &account.id).await;
            }
            return Ok(Committed {
                invoice: None,
                answer: answered.map(|(body, _)| body),
            });
        };
        if change.counted != 0 {
            return Err(Error::internal(
                "a change paid by an invoice moved a reseller's count",
            ));
        }
        let mut answer_body = None;
        crate::invoicing::store_numbered(self, account, key, &mut invoice, change.at, |invoice| {
            let mut all = ops.clone();
            if let Some((body, recorded)) = answered(Some(invoice))? {
                all.extend(recorded);
                answer_body = Some(body);
            }
            Ok(all)
        })
        .await
        .map_err(conflict)?;
        Ok(Committed {
            invoice: Some(invoice),
            answer: answer_body,
        })
    }

    async fn address_taken(&self, email: &crate::values::EmailAddress) -> Result<bool, Error> {
        let hash = self.email_hash(email).await?;
        let claim: Option<EmailClaimItem> = self.store.get(&email_claim_pk(&hash), "EMAIL").await?;
        Ok(claim.is_some())
    }

    async fn seats_on(
        &self,
        team: &TeamRecords,
        day: Date,
    ) -> Result<BTreeMap<crate::values::BrikId, u32>, Error> {
        let Sealing { records, .. } = team.stamp.get()?;
        let held = crate::packs::held_in(self, &records.packs).await?;
        Ok(crate::packs::seats_on(&crate::packs::holdings(&held), day))
    }

    async fn denied(&self, team: &TeamRecords, user: &Read<User>) -> Result<bool, Error> {
        let item = user_item(user)?;
        crate::directory_sync::denied(self, &team.account.id, &item.email_hash).await
    }

    async fn now_for(&self, account: &Account) -> Result<Timestamp, Error> {
        Ok(self.clock(account.test_clock_id.as_deref()).await?.now())
    }
}

#[async_trait]
impl InvoiceMail for App {
    async fn email(&self, account: &Account, invoice: &Invoice) {
        softbrik_app::invoices::email(&self.ports(), account, invoice).await
    }

    async fn email_owed(&self, account: &Account, invoice: &Invoice) {
        softbrik_app::invoices::email_owed(&self.ports(), account, invoice).await
    }
}
