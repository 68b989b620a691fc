//! What an admin reads of the account's billing and changes to its card: invoices, the
//! subscription history, the payment method (`/account/invoices`, `/account/history`,
//! `/account/payment-method`).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};
use softbrik_app::ports::account::{AccountChange, AccountTable, Reschedule};
use softbrik_app::ports::records::{Page as RecordsPage, RecordsTable};
use softbrik_app::ports::team::{Read, Stamp};
use softbrik_domain::subscription::Settings;

use crate::account::{Account, HistoryEntry, Invoice, InvoiceCustomer};
use crate::app::App;
use crate::crypto::{DataKey, Field};
use crate::error::Error;
use crate::http::Identity;
use crate::refusal::Refusal;
use crate::store::{AccountItem, HistoryItem, InvoiceItem, account_pk};
use crate::values::PaymentMethodToken;

/// `?limit=` (default 50, at most 200) and `?next=` of a list.
pub struct Page<'a> {
    pub limit: i32,
    pub next: Option<&'a str>,
}

impl<'a> Page<'a> {
    pub fn parse(limit: Option<&str>, next: Option<&'a str>) -> Result<Self, Error> {
        let limit = match limit {
            None => 50,
            Some(raw) => raw
                .parse::<i32>()
                .ok()
                .filter(|l| (1..=200).contains(l))
                .ok_or_else(|| {
                    Error::validation("limit", "out_of_range", "a whole number from 1 to 200")
                })?,
        };
        Ok(Page { limit, next })
    }
}

/// A page of a list and the cursor of the next one: every list answers in this shape (api.md,
/// `{"items": [...], "next": cursor or null}`).
#[derive(Debug, Serialize)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl<T> Listed<T> {
    /// A list given whole, in one page (the catalogue, a team, a client's users).
    pub fn whole(items: Vec<T>) -> Self {
        Listed { items, next: None }
    }
}

impl<T> From<softbrik_app::ports::records::Page<T>> for Listed<T> {
    fn from(page: softbrik_app::ports::records::Page<T>) -> Self {
        Listed {
            items: page.items,
            next: page.next,
        }
    }
}

/// `GET /account/invoices` (`softbrik_app::invoices::list`).
pub async fn invoices(
    app: &App,
    caller: &Identity,
    page: Page<'_>,
) -> Result<Listed<Invoice>, Error> {
    let account_id = caller.require_admin()?;
    let listed =
        softbrik_app::invoices::list(&app.ports(), account_id, page.limit, page.next).await?;
    Ok(listed.into())
}

/// `GET /account/invoices/{id}`.
pub async fn invoice(app: &App, caller: &Identity, invoice_id: &str) -> Result<Invoice, Error> {
    softbrik_app::invoices::invoice(&app.ports(), caller.require_admin()?, invoice_id).await
}

/// The PDF of an invoice (`GET /account/invoices/{id}/pdf`), in the account's language, and
/// its file name.
pub async fn invoice_pdf(
    app: &App,
    caller: &Identity,
    invoice_id: &str,
) -> Result<(String, Vec<u8>), Error> {
    softbrik_app::invoices::pdf(&app.ports(), caller.require_admin()?, invoice_id).await
}

/// `GET /account/history` (`softbrik_app::invoices::history`).
pub async fn history(
    app: &App,
    caller: &Identity,
    page: Page<'_>,
) -> Result<Listed<HistoryEntry>, Error> {
    let account_id = caller.require_admin()?;
    let listed =
        softbrik_app::invoices::history(&app.ports(), account_id, page.limit, page.next).await?;
    Ok(listed.into())
}

/// The account's billing records on DynamoDB: its `INVOICE#` items (the customer block sealed
/// under its key) and `HISTORY#` items, a page at a time, and the `MAILRETRY#` items of
/// invoices whose email failed.
#[async_trait]
impl RecordsTable for App {
    async fn invoices(
        &self,
        account_id: &str,
        limit: i32,
        next: Option<&str>,
    ) -> Result<RecordsPage<Invoice>, Error> {
        let (items, next) = self
            .store
            .query_page::<InvoiceItem>(&account_pk(account_id), "INVOICE#", limit, next)
            .await?;
        Ok(RecordsPage {
            items: items.into_iter().map(|i| i.invoice).collect(),
            next,
        })
    }

    async fn issued(
        &self,
        account_id: &str,
        invoice_id: &str,
    ) -> Result<(Invoice, InvoiceCustomer, Account), Error> {
        let item = self
            .store
            .get::<InvoiceItem>(&account_pk(account_id), &format!("INVOICE#{invoice_id}"))
            .await?
            .ok_or(Error::NotFound)?;
        let (account_item, key) = self.account_item(account_id).await?;
        let account = account_item.open(&key)?;
        let customer = key.open(
            Field::new(account_id, (&item.pk, &item.sk), "invoice_customer"),
            &item.customer,
        )?;
        let customer = serde_json::from_str(&customer).map_err(Error::internal)?;
        Ok((item.invoice, customer, account))
    }

    async fn history(
        &self,
        account_id: &str,
        limit: i32,
        next: Option<&str>,
    ) -> Result<RecordsPage<HistoryEntry>, Error> {
        let (item, key) = self.account_item(account_id).await?;
        let (items, next) = self
            .store
            .query_page::<HistoryItem>(&account_pk(&item.id), "HISTORY#", limit, next)
            .await?;
        let entries = items
            .into_iter()
            .map(|h| {
                let details = key.open(
                    Field::new(&item.id, (&h.pk, &h.sk), "history_details"),
                    &h.details,
                )?;
                Ok(HistoryEntry {
                    at: h.at,
                    actor: h.actor,
                    action: h.action,
                    details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(RecordsPage {
            items: entries,
            next,
        })
    }

    fn issuer(&self) -> softbrik_app::pdf::Issuer {
        self.config.issuer.clone()
    }

    async fn leave_for_retry(&self, account_id: &str, invoice_id: &str) -> Result<(), Error> {
        // Due now, in place of the record its write left owed, if any.
        let retry = crate::invoicing::MailRetry::new(self, account_id, invoice_id);
        let op = self.store.put_op(&retry)?;
        self.store
            .transact(vec![op])
            .await
            .map_err(|e| e.into_error(|_| Error::internal("an unconditional put conflicted")))
    }

    async fn retries(&self) -> Result<Vec<(String, String, Stamp)>, Error> {
        // Only those due: an owed email is due after its grace (its worker may still be
        // sending it), and the index is ordered by when each is due.
        let now = self.system_clock.now();
        let due: Vec<crate::invoicing::MailRetry> = self
            .store
            .query_index("MAILRETRY", &crate::invoicing::MailRetry::due_by(now))
            .await?;
        Ok(due
            .into_iter()
            .map(|retry| {
                let (account, invoice) = (retry.account_id.clone(), retry.invoice_id.clone());
                (account, invoice, Stamp::new(retry))
            })
            .collect())
    }

    async fn mailed(&self, account_id: &str, invoice_id: &str) -> Result<(), Error> {
        let owed = crate::invoicing::MailRetry::new(self, account_id, invoice_id);
        let op = self.store.delete_op(&owed.pk, &owed.sk)?;
        self.store
            .transact(vec![op])
            .await
            .map_err(|e| e.into_error(|_| Error::internal("an unconditional delete conflicted")))
    }

    async fn retried(&self, retry: &Stamp) -> Result<(), Error> {
        let retry: &crate::invoicing::MailRetry = retry.get()?;
        let op = self.store.delete_op(&retry.pk, &retry.sk)?;
        self.store
            .transact(vec![op])
            .await
            .map_err(|e| e.into_error(|_| Error::internal("an unconditional delete conflicted")))
    }
}

/// `PUT /account/settings` as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    #[serde(default)]
    pub auto_renew: Option<bool>,
    #[serde(default)]
    pub language: Option<String>,
    /// Where invoices go; an empty string sends them to the admin again.
    #[serde(default)]
    pub invoice_email: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
}

/// `PUT /account/settings`: the body checked, then `softbrik_app::subscription::
/// update_settings`. Turning auto-renew off ends the subscription with the period (reversible
/// until then); turning it on for a lapsed account renews it at once, as a new period
/// starting today.
pub async fn update_settings(
    app: &App,
    caller: &Identity,
    body: SettingsBody,
) -> Result<serde_json::Value, Error> {
    use crate::values::{EmailAddress, Language, TimeZoneName};
    let account_id = caller.require_admin()?;
    let mut errors = crate::validation::ValidationErrors::new();
    let language = body
        .language
        .as_deref()
        .and_then(|l| errors.check("language", Language::parse(l)));
    let timezone = body
        .timezone
        .as_deref()
        .and_then(|t| errors.check("timezone", TimeZoneName::parse(t)));
    let invoice_email = match body.invoice_email.as_deref().map(str::trim) {
        Some("") => Some(None),
        Some(raw) => errors
            .check("invoice_email", EmailAddress::parse(raw))
            .map(Some),
        None => None,
    };
    errors.into_result()?;
    let settings = Settings {
        auto_renew: body.auto_renew,
        language,
        timezone,
        invoice_email,
    };
    let view = softbrik_app::subscription::update_settings(
        &app.ports(),
        account_id,
        &caller.actor(),
        settings,
    )
    .await?;
    serde_json::to_value(view).map_err(Error::internal)
}

/// Writes the changed `account` over `item`, on the condition that nobody wrote it since it
/// was read (its version), keeping what only the billing runs set (`past_due_since`), with its
/// history entries and the caller's `more` writes, in one transaction. Another change in
/// between answers 409 `concurrent_change`: nothing is written.
async fn save_account(
    app: &App,
    item: &AccountItem,
    account: &Account,
    key: &DataKey,
    entries: &[(String, HistoryEntry)],
    more: Vec<TransactWriteItem>,
) -> Result<(), Error> {
    let mut updated = AccountItem::seal(account, key)?;
    updated.past_due_since = item.past_due_since;
    updated.version = item.version + 1;
    let mut ops = vec![app.store.put_if_version_op(&updated, item.version)?];
    ops.extend(more);
    for (id, entry) in entries {
        ops.push(
            app.store
                .put_new_op(&HistoryItem::seal(&account.id, id, entry, key))?,
        );
    }
    app.store.transact(ops).await.map_err(|e| {
        e.into_error(|_| {
            Error::Refused(Refusal::ConcurrentChange(
                "the account changed meanwhile; retry",
            ))
        })
    })
}

/// The account item alone on DynamoDB (`ACCOUNT` under the account), opened with its data key.
#[async_trait]
impl AccountTable for App {
    async fn account(&self, account_id: &str) -> Result<Read<Account>, Error> {
        let (item, key) = self.account_item(account_id).await?;
        Ok(Read {
            value: item.open(&key)?,
            stamp: Stamp::new((item, key)),
        })
    }

    async fn save(&self, read: &Read<Account>, change: AccountChange) -> Result<(), Error> {
        let (item, key) = read.stamp.get::<(AccountItem, Arc<DataKey>)>()?;
        let id = change.account.id.as_str();
        let schedules = match change.reschedule {
            Reschedule::Keep => Vec::new(),
            Reschedule::Recheck => crate::schedule::recheck_ops(self, id, change.at)?,
            Reschedule::Restart => crate::schedule::restart_ops(self, id, change.at)?,
        };
        let mut more = schedules;
        more.extend(crate::events::outbox_ops(self, &change.events)?);
        save_account(self, item, &change.account, key, &change.history, more).await?;
        if !change.events.is_empty() {
            crate::events::publish_account(self, id).await;
        }
        Ok(())
    }

    async fn has_clients(&self, reseller: &Account) -> Result<bool, Error> {
        crate::resellers::has_clients(self, reseller).await
    }
}

/// `POST /account/billing-alignment` as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlignmentBody {
    pub mode: String,
}

/// `POST /account/billing-alignment`: moves the account to calendar-month billing at the end
/// of its current period (billing.md "Calendar-month billing"), or of the next one when asked
/// after the cut-off (`softbrik_app::subscription::align_billing`). Answers the status (202
/// switched, 200 unchanged) and the body.
pub async fn align_billing(
    app: &App,
    account_id: &str,
    actor: &str,
    body: AlignmentBody,
) -> Result<(u16, serde_json::Value), Error> {
    if body.mode != "calendar" {
        return Err(Error::validation(
            "mode",
            "unknown_mode",
            "the only billing alignment is \"calendar\" (calendar months)",
        ));
    }
    softbrik_app::subscription::align_billing(&app.ports(), account_id, actor).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    #[serde(default)]
    pub email: Option<String>,
}

/// Emails an invoice again, to the admin or to the address given (billing.md "Invoices"):
/// at the admin's request, or at support staff's for the customer (`staff`).
pub async fn send_invoice(
    app: &App,
    account_id: &str,
    invoice_id: &str,
    body: SendBody,
    staff: Option<&softbrik_app::staff::Mandate>,
) -> Result<serde_json::Value, Error> {
    let to = match body.email.as_deref() {
        Some(raw) => Some(
            crate::values::EmailAddress::parse(raw)
                .map_err(|e| Error::Validation(e.at("email").into()))?,
        ),
        None => None,
    };
    softbrik_app::invoices::send_again(&app.ports(), account_id, invoice_id, to.as_ref(), staff)
        .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodBody {
    pub payment_method: String,
}

/// Replaces the card (same brand rules as signup), then retries every open invoice with it
/// (`softbrik_app::subscription::replace_payment_method`).
pub async fn replace_payment_method(
    app: &App,
    caller: &Identity,
    body: PaymentMethodBody,
) -> Result<serde_json::Value, Error> {
    let account_id = caller.require_admin()?;
    let token = PaymentMethodToken::parse(&body.payment_method)
        .map_err(|e| Error::Validation(e.at("payment_method").into()))?;
    softbrik_app::subscription::replace_payment_method(
        &app.ports(),
        account_id,
        &caller.actor(),
        token,
    )
    .await
}
