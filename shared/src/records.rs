//! What an admin reads of the account's billing and changes to its card: invoices, the
//! subscription history, the payment method (`/account/invoices`, `/account/history`,
//! `/account/payment-method`).

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};

use crate::account::{Account, HistoryEntry, Invoice, InvoiceCustomer, PaymentMethod};
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

/// Changes the account's settings. Turning auto-renew off ends the subscription with the
/// period (reversible until then); turning it on for a lapsed account renews it at once, as a
/// new period starting today.
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
        .map(|l| errors.check("language", Language::parse(l)));
    let timezone = body
        .timezone
        .as_deref()
        .map(|t| errors.check("timezone", TimeZoneName::parse(t)));
    let invoice_email = match body.invoice_email.as_deref().map(str::trim) {
        Some("") => Some(None),
        Some(raw) => errors
            .check("invoice_email", EmailAddress::parse(raw))
            .map(Some),
        None => None,
    };
    errors.into_result()?;
    let (item, key) = app.account_item(account_id).await?;
    let mut account = item.open(&key)?;
    if body.auto_renew.is_some() {
        account.require_own_billing()?;
    }
    let now = app.clock(account.test_clock_id.as_deref()).await?.now();
    let mut changes = Vec::new();
    if let Some(Some(language)) = language {
        account.language = language;
        changes.push((
            "language_changed",
            serde_json::json!({"language": language}),
        ));
    }
    let moved_zone = matches!(&timezone, Some(Some(_)));
    if let Some(Some(timezone)) = timezone {
        changes.push((
            "timezone_changed",
            serde_json::json!({"timezone": timezone.as_str()}),
        ));
        account.timezone = timezone;
    }
    if let Some(email) = invoice_email {
        account.invoice_email = email;
        changes.push(("invoice_email_changed", serde_json::json!({})));
    }
    let today = account.local_date(now);
    let mut renew_today = false;
    let mut restart = false;
    match body.auto_renew {
        Some(false) if account.auto_renew => {
            if crate::resellers::has_clients(app, &account).await? {
                // Its clients would keep their service with nobody billed for it.
                return Err(Error::Refused(Refusal::ResellerHasClients(
                    "a reseller keeps renewing while it has client accounts",
                )));
            }
            account.auto_renew = false;
            changes.push((
                "auto_renew_off",
                serde_json::json!({"ends_on": account.current_period(now).end()}),
            ));
        }
        Some(true) if !account.auto_renew => {
            account.auto_renew = true;
            if account.status == crate::account::AccountStatus::Lapsed {
                account.status = crate::account::AccountStatus::Active;
                // A new subscription from today: anchored on today, like a signup. A reseller
                // pays at the end of its periods, so nothing is billed today.
                account.anchor_day = crate::billing_calendar::AnchorDay::of(today);
                account.calendar_from = None;
                renew_today = account.kind != crate::account::AccountKind::Reseller;
                restart = true;
            }
            changes.push((
                "auto_renew_on",
                serde_json::json!({"renewed_from": renew_today.then_some(today)}),
            ));
        }
        _ => {}
    }
    let schedules = if restart {
        // A new calendar from today: what the old one had due is not due any more.
        crate::schedule::restart_ops(app, account_id, now)?
    } else if moved_zone && !account.billed_by_reseller() {
        // Midnight moved, maybe earlier: the runners look at the account again (a client
        // account has no job to move).
        crate::schedule::recheck_ops(app, account_id, now)?
    } else {
        Vec::new()
    };
    let entries: Vec<HistoryEntry> = changes
        .into_iter()
        .map(|(action, details)| HistoryEntry {
            at: now,
            actor: caller.actor(),
            action: action.into(),
            details,
        })
        .collect();
    save_account(app, &item, &account, &key, &entries, schedules).await?;
    if renew_today {
        crate::renewal::renew(app, account_id, today).await?;
    }
    let (account, now) = app.account(account_id).await?;
    serde_json::to_value(account.view(now, true)).map_err(Error::internal)
}

/// Writes the changed `account` over `item`, on the condition that nobody wrote it since it
/// was read (its version), keeping what only the billing runs set (`past_due_since`), with a
/// history entry per change and the caller's `more` writes, in one transaction. Another
/// change in between answers 409 `concurrent_change`: nothing is written.
pub(crate) async fn save_account(
    app: &App,
    item: &AccountItem,
    account: &Account,
    key: &DataKey,
    entries: &[HistoryEntry],
    more: Vec<TransactWriteItem>,
) -> Result<(), Error> {
    let mut updated = AccountItem::seal(account, key)?;
    updated.past_due_since = item.past_due_since;
    updated.version = item.version + 1;
    let mut ops = vec![app.store.put_if_version_op(&updated, item.version)?];
    ops.extend(more);
    for entry in entries {
        ops.push(app.store.put_new_op(&HistoryItem::seal(
            &account.id,
            &crate::account::new_ordered_id("hst", entry.at),
            entry,
            key,
        ))?);
    }
    app.store.transact(ops).await.map_err(|e| {
        e.into_error(|_| {
            Error::Refused(Refusal::ConcurrentChange(
                "the account changed meanwhile; retry",
            ))
        })
    })
}

/// `POST /account/billing-alignment` as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlignmentBody {
    pub mode: String,
}

/// Moves the account to calendar-month billing at the end of its current period (billing.md
/// "Calendar-month billing"), or of the next one when asked after the cut-off: that renewal
/// covers a stub to the next 1st, then periods run from 1st to 1st. Asking again, or on an account already billed on the 1st, changes
/// nothing. Answers the status (202 switched, 200 unchanged) and the body.
pub async fn align_billing(
    app: &App,
    caller: &Identity,
    body: AlignmentBody,
) -> Result<(u16, serde_json::Value), Error> {
    use crate::account::AccountStatus;
    use crate::billing_calendar::AnchorDay;
    let account_id = caller.require_admin()?;
    if body.mode != "calendar" {
        return Err(Error::validation(
            "mode",
            "unknown_mode",
            "the only billing alignment is \"calendar\" (calendar months)",
        ));
    }
    let (item, key) = app.account_item(account_id).await?;
    let mut account = item.open(&key)?;
    account.require_own_billing()?;
    let now = app.clock(account.test_clock_id.as_deref()).await?.now();
    let answer = |effective_date: jiff::civil::Date, changed: bool| serde_json::json!({"mode": "calendar", "effective_date": effective_date, "changed": changed});
    if let Some(from) = account.calendar_from {
        return Ok((200, answer(from, false)));
    }
    let period = account.current_period(now);
    if account.anchor_day == AnchorDay::FIRST {
        // Anchored on the 1st: periods already are calendar months.
        return Ok((200, answer(period.start(), false)));
    }
    if matches!(
        account.status,
        AccountStatus::Closing | AccountStatus::Closed
    ) {
        return Err(Error::Refused(Refusal::AccountClosing));
    }
    // After the cut-off the next period is locked and already paid for by additions made
    // since (billing.md "The 2-day cut-off"): the switch comes at its end, as a removal would.
    let today = crate::billing_calendar::local_date(now, &account.timezone.time_zone());
    let effective = if crate::billing_calendar::is_locked(&period, today) {
        account.calendar().following(&period).end()
    } else {
        period.end()
    };
    account.calendar_from = Some(effective);
    let entry = HistoryEntry {
        at: now,
        actor: caller.actor(),
        action: "calendar_switch".into(),
        details: serde_json::json!({"mode": "calendar", "effective_date": effective}),
    };
    save_account(app, &item, &account, &key, &[entry], Vec::new()).await?;
    tracing::info!(effective_date = %effective, "calendar billing asked for");
    Ok((202, answer(effective, true)))
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

/// Replaces the card (same brand rules as signup). Open invoices are retried by the billing
/// runs (billing.md "Payment").
pub async fn replace_payment_method(
    app: &App,
    caller: &Identity,
    body: PaymentMethodBody,
) -> Result<serde_json::Value, Error> {
    let account_id = caller.require_admin()?;
    let token = PaymentMethodToken::parse(&body.payment_method)
        .map_err(|e| Error::Validation(e.at("payment_method").into()))?;
    let card = app.payments.attach(&token, account_id).await?;
    let (item, key) = app.account_item(account_id).await?;
    let mut account = item.open(&key)?;
    account.require_own_billing()?;
    let now = app.clock(account.test_clock_id.as_deref()).await?.now();
    account.payment_method = Some(PaymentMethod {
        token: token.as_str().into(),
        card: card.clone(),
    });
    let entry = HistoryEntry {
        at: now,
        actor: caller.actor(),
        action: "payment_method_replaced".into(),
        details: serde_json::json!({"brand": card.brand, "last4": card.last4}),
    };
    save_account(app, &item, &account, &key, &[entry], Vec::new()).await?;
    // A new card pays every open invoice at once (billing.md "Payment").
    let paid = crate::dunning::retry_open_invoices(app, account_id, now, true).await?;
    Ok(serde_json::json!({"payment_method": card, "invoices_paid": paid}))
}
