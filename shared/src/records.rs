//! What an admin reads of the account's billing and changes to its card: invoices, the
//! subscription history, the payment method (`/account/invoices`, `/account/history`,
//! `/account/payment-method`).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};
use softbrik_app::ports::account::{AccountChange, AccountTable, Reschedule};
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

pub async fn invoices(
    app: &App,
    caller: &Identity,
    page: Page<'_>,
) -> Result<Listed<Invoice>, Error> {
    let account_id = caller.require_admin()?;
    let (items, next) = app
        .store
        .query_page::<InvoiceItem>(&account_pk(account_id), "INVOICE#", page.limit, page.next)
        .await?;
    Ok(Listed {
        items: items.into_iter().map(|i| i.invoice).collect(),
        next,
    })
}

pub async fn invoice(app: &App, caller: &Identity, invoice_id: &str) -> Result<Invoice, Error> {
    let account_id = caller.require_admin()?;
    invoice_item(app, account_id, invoice_id)
        .await
        .map(|i| i.invoice)
}

async fn invoice_item(app: &App, account_id: &str, invoice_id: &str) -> Result<InvoiceItem, Error> {
    app.store
        .get::<InvoiceItem>(&account_pk(account_id), &format!("INVOICE#{invoice_id}"))
        .await?
        .ok_or(Error::NotFound)
}

/// An invoice with the customer block it was issued to, and the account it belongs to.
async fn issued(
    app: &App,
    caller: &Identity,
    invoice_id: &str,
) -> Result<(Invoice, InvoiceCustomer, Account), Error> {
    issued_in(app, caller.require_admin()?, invoice_id).await
}

/// An invoice of `account_id` with the customer block it was issued to, and the account.
pub async fn issued_in(
    app: &App,
    account_id: &str,
    invoice_id: &str,
) -> Result<(Invoice, InvoiceCustomer, Account), Error> {
    let item = invoice_item(app, account_id, invoice_id).await?;
    let (account_item, key) = app.account_item(account_id).await?;
    let account = account_item.open(&key)?;
    let customer = key.open(
        Field::new(account_id, (&item.pk, &item.sk), "invoice_customer"),
        &item.customer,
    )?;
    let customer = serde_json::from_str(&customer).map_err(Error::internal)?;
    Ok((item.invoice, customer, account))
}

/// The PDF of an invoice (`GET /account/invoices/{id}/pdf`), in the account's language, and
/// its file name.
pub async fn invoice_pdf(
    app: &App,
    caller: &Identity,
    invoice_id: &str,
) -> Result<(String, Vec<u8>), Error> {
    let (invoice, customer, account) = issued(app, caller, invoice_id).await?;
    let pdf = crate::pdf::invoice_pdf(&app.config.issuer, &customer, &invoice, account.language);
    Ok((crate::invoicing::pdf_filename(&invoice), pdf))
}

pub async fn history(
    app: &App,
    caller: &Identity,
    page: Page<'_>,
) -> Result<Listed<HistoryEntry>, Error> {
    let account_id = caller.require_admin()?;
    let (item, key) = app.account_item(account_id).await?;
    let (items, next) = app
        .store
        .query_page::<HistoryItem>(&account_pk(&item.id), "HISTORY#", page.limit, page.next)
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
    Ok(Listed {
        items: entries,
        next,
    })
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
        save_account(self, item, &change.account, key, &change.history, schedules).await
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
    caller: &Identity,
    body: AlignmentBody,
) -> Result<(u16, serde_json::Value), Error> {
    let account_id = caller.require_admin()?;
    if body.mode != "calendar" {
        return Err(Error::validation(
            "mode",
            "unknown_mode",
            "the only billing alignment is \"calendar\" (calendar months)",
        ));
    }
    softbrik_app::subscription::align_billing(&app.ports(), account_id, &caller.actor()).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    #[serde(default)]
    pub email: Option<String>,
}

/// Emails an invoice again, to the admin or to the address given (billing.md "Invoices").
pub async fn send_invoice(
    app: &App,
    caller: &Identity,
    invoice_id: &str,
    body: SendBody,
) -> Result<serde_json::Value, Error> {
    let to = match body.email.as_deref() {
        Some(raw) => Some(
            crate::values::EmailAddress::parse(raw)
                .map_err(|e| Error::Validation(e.at("email").into()))?,
        ),
        None => None,
    };
    let (invoice, customer, account) = issued(app, caller, invoice_id).await?;
    let address = to
        .as_ref()
        .map_or(account.admin_email.as_str(), |a| a.as_str());
    crate::invoicing::send(app, &account, &customer, &invoice, address).await?;
    Ok(serde_json::json!({"invoice_id": invoice.id, "sent_to": address}))
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
