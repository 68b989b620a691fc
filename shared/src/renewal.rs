//! The renewal of a period (billing.md "What is billed"): on the billing date, one invoice with
//! a line per (Brik, number of users holding it that day) at the full monthly price, charged on
//! the card. Keyed by (account, period): its invoice id is derived from them, so running the
//! renewal twice, or twice at once, issues one invoice and one charge. The `renew` function
//! runs it on each account's billing date (`crate::schedule`); on calendar months the first
//! renewal bills the stub to the 1st as its share of that month (`BillingPeriod::share`).

use jiff::civil::Date;
use sha2::{Digest, Sha256};

use crate::account::{Account, AccountKind, AccountStatus, HistoryEntry, Invoice, InvoiceStatus};
use crate::app::App;
use crate::billing_calendar::local_midnight;
use crate::crypto::DataKey;
use crate::error::Error;
use crate::invoicing::{self, StoreFailure};
use crate::packs::{Pack, PackItem};
use crate::refusal::Refusal;
use crate::schedule::ScheduleMove;
use crate::store::{AccountItem, AccountRecords, HistoryItem, InvoiceItem, UserItem, account_pk};
use softbrik_domain::renewal::{self as decide, Renewal};

/// The invoice id of an account's renewal for the period starting on `start`: a ULID whose
/// time is the billing date's midnight and whose random part is a hash of (account, date).
pub fn renewal_invoice_id(account: &Account, start: Date) -> String {
    let at = local_midnight(start, &account.timezone.time_zone());
    let digest = Sha256::digest(format!("renewal:{}:{start}", account.id).as_bytes());
    let mut random = [0u8; 16];
    random.copy_from_slice(&digest[..16]);
    let millis = u64::try_from(at.as_millisecond()).unwrap_or_default();
    let ulid = ulid::Ulid::from_parts(millis, u128::from_be_bytes(random));
    format!("inv_{}", ulid.to_string().to_lowercase())
}

/// The renewal invoice of the period starting on `billing_date`, as the team stands in
/// `records` (a draft: not numbered, not charged; no lines when no Brik would be billed).
pub async fn upcoming(
    app: &App,
    records: &AccountRecords,
    account: &Account,
    key: &DataKey,
    billing_date: Date,
    id: String,
) -> Result<Invoice, Error> {
    if account.kind == AccountKind::Reseller {
        return reseller_upcoming(app, account, billing_date, id).await;
    }
    let held = crate::packs::held_in(app, &records.packs).await?;
    company_upcoming(app, account, key, &records.users, &held, billing_date, id).await
}

/// A reseller pays at the end of a period for that period's peak of active users.
async fn reseller_upcoming(
    app: &App,
    account: &Account,
    billing_date: Date,
    id: String,
) -> Result<Invoice, Error> {
    let period = account
        .calendar()
        .period_containing(billing_date.yesterday().map_err(Error::internal)?);
    let mut invoice = crate::resellers::usage_invoice(app, account, period, id).await?;
    invoice.status = InvoiceStatus::Draft;
    Ok(invoice)
}

/// A company's renewal draft, from its users and packs as read.
async fn company_upcoming(
    app: &App,
    account: &Account,
    key: &DataKey,
    users: &[UserItem],
    held: &[(Pack, PackItem)],
    billing_date: Date,
    id: String,
) -> Result<Invoice, Error> {
    let users = users
        .iter()
        .map(|u| u.open(&account.id, key))
        .collect::<Result<Vec<_>, _>>()?;
    let catalogue = app.catalogue().await?;
    let period = account.calendar().period_containing(billing_date);
    // Packs held on the billing date are billed; seat packs take as many users of their Brik
    // off consumption (billing.md "Add-on packs").
    let (pack_lines, seats) =
        crate::packs::renewal_lines(held, billing_date, &period, account.language);
    Ok(softbrik_domain::renewal::company_invoice(
        account,
        &users,
        &catalogue,
        pack_lines,
        &seats,
        billing_date,
        &app.config.issuer_country,
        id,
    ))
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
    let renewed = renew_with(app, &records, &key, date, then_move.as_ref()).await?;
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
    let records = AccountRecords::read(&app.store, account_id).await?;
    let key = app.account_key(&records.account).await?;
    Ok(renew_with(app, &records, &key, date, None).await?.invoice)
}

/// What `renew_with` did.
struct Renewed {
    /// The renewal invoice, when one was issued here.
    invoice: Option<Invoice>,
    /// Whether the account was written (a lapse, a failed payment; a reseller's billing is
    /// taken as one).
    wrote: bool,
    /// Whether the schedule's move landed with the renewal.
    moved: bool,
}

impl Renewed {
    const NOTHING: Renewed = Renewed {
        invoice: None,
        wrote: false,
        moved: false,
    };
}

/// `renew` from the account, its users and packs as read. With `then_move` (a run's only job,
/// planned from the schedule as stored), the renewal's transaction also moves the schedule on:
/// a run that planned this renewal knows that no run stored it, so it is not looked up.
async fn renew_with(
    app: &App,
    records: &AccountRecords,
    key: &DataKey,
    date: Date,
    then_move: Option<&ScheduleMove>,
) -> Result<Renewed, Error> {
    let item = &records.account;
    let account = item.open(key)?;
    let account_id = account.id.as_str();
    match decide::renewal(&account, date) {
        Renewal::Renew => {}
        Renewal::BillReseller => {
            return Ok(Renewed {
                invoice: bill_reseller(app, records, &account, key, date).await?,
                wrote: true,
                moved: false,
            });
        }
        Renewal::Lapse => {
            let at = local_midnight(date, &account.timezone.time_zone());
            lapse(app, item, key, at).await?;
            return Ok(Renewed {
                wrote: true,
                ..Renewed::NOTHING
            });
        }
        Renewal::Not(why) => {
            tracing::info!(status = ?account.status, %date, "not renewed: {why}");
            return Ok(Renewed::NOTHING);
        }
    }
    let id = renewal_invoice_id(&account, date);
    if then_move.is_none() && issued(app, account_id, &id).await? {
        tracing::info!(invoice = %id, "already renewed");
        return Ok(Renewed::NOTHING);
    }
    let held = crate::packs::held_in(app, &records.packs).await?;
    let invoice = company_upcoming(app, &account, key, &records.users, &held, date, id).await?;
    if invoice.lines.is_empty() {
        tracing::info!("not renewed: no Brik or pack is held");
        return Ok(Renewed::NOTHING);
    }
    let issued = issue(app, item, &account, key, invoice, date, then_move).await?;
    Ok(Renewed {
        moved: issued.stored && then_move.is_some(),
        wrote: issued.payment_failed,
        invoice: issued.stored.then_some(issued.invoice),
    })
}

/// Whether the invoice `id` of the account is stored.
async fn issued(app: &App, account_id: &str, id: &str) -> Result<bool, Error> {
    let item: Option<InvoiceItem> = app
        .store
        .get(&account_pk(account_id), &format!("INVOICE#{id}"))
        .await?;
    Ok(item.is_some())
}

/// A reseller's period end: the period that ends on `date` is billed for its peak of active
/// users (whatever happens next: a reseller turning auto-renew off or closing still pays for
/// the period its clients used), then, with auto-renew off, the account lapses.
async fn bill_reseller(
    app: &App,
    records: &AccountRecords,
    account: &Account,
    key: &DataKey,
    date: Date,
) -> Result<Option<Invoice>, Error> {
    if matches!(
        account.status,
        AccountStatus::Lapsed | AccountStatus::Closed
    ) {
        tracing::info!(status = ?account.status, "reseller not billed: account not running");
        return Ok(None);
    }
    if account.calendar().period_containing(date).start() != date {
        tracing::warn!(%date, "reseller not billed: not a billing date of this account");
        return Ok(None);
    }
    let id = renewal_invoice_id(account, date);
    let invoice = if issued(app, &account.id, &id).await? {
        None
    } else {
        let invoice = upcoming(app, records, account, key, date, id).await?;
        if invoice.lines.is_empty() {
            tracing::info!("reseller not billed: no active user in the period");
            None
        } else {
            let issued = issue(app, &records.account, account, key, invoice, date, None).await?;
            issued.stored.then_some(issued.invoice)
        }
    };
    if !account.auto_renew && account.status != AccountStatus::Closing {
        // Read again: a failed payment has just made the account past due.
        let (item, key) = app.account_item(&account.id).await?;
        if item.status != AccountStatus::Lapsed {
            lapse(
                app,
                &item,
                &key,
                local_midnight(date, &account.timezone.time_zone()),
            )
            .await?;
        }
    }
    Ok(invoice)
}

/// What `issue` did.
struct Issued {
    invoice: Invoice,
    /// Whether the card was declined: the account is past due.
    payment_failed: bool,
    /// Whether this call stored it (not another run first).
    stored: bool,
}

/// Charges a renewal and stores it numbered; a declined card leaves it open and the account
/// past due (billing.md "Payment"). With `then_move`, the schedule moves on in the same
/// transaction. The invoice is emailed once, by the call that stored it.
async fn issue(
    app: &App,
    item: &AccountItem,
    account: &Account,
    key: &DataKey,
    mut invoice: Invoice,
    date: Date,
    then_move: Option<&ScheduleMove>,
) -> Result<Issued, Error> {
    invoice.status = InvoiceStatus::Open;
    let now = local_midnight(date, &account.timezone.time_zone());
    let charged = softbrik_app::billing::charge(&app.ports(), account, &mut invoice, now).await;
    let payment_failed = match charged {
        Ok(()) => false,
        Err(Error::CardDeclined { .. }) => true,
        Err(e) => return Err(e),
    };
    if payment_failed {
        invoice.status = InvoiceStatus::Open;
    }
    let stored = store(
        app,
        item,
        account,
        key,
        &mut invoice,
        payment_failed,
        now,
        then_move,
    )
    .await?;
    if stored && !payment_failed {
        invoicing::email(app, account, &invoice).await;
    }
    Ok(Issued {
        invoice,
        payment_failed,
        stored,
    })
}

/// Auto-renew off: the subscription ends with the period; the account is `lapsed`, its data
/// kept, until auto-renew is turned on again (billing.md "Billing period"). Not a closure.
async fn lapse(
    app: &App,
    item: &AccountItem,
    key: &DataKey,
    now: jiff::Timestamp,
) -> Result<(), Error> {
    let mut lapsed = item.clone();
    lapsed.status = AccountStatus::Lapsed;
    lapsed.version = item.version + 1;
    let entry = HistoryEntry {
        at: now,
        actor: "system".into(),
        action: "lapsed".into(),
        details: serde_json::json!({}),
    };
    let history = HistoryItem::seal(
        &item.id,
        &crate::account::new_ordered_id("hst", now),
        &entry,
        key,
    );
    let ops = vec![
        app.store.put_if_version_op(&lapsed, item.version)?,
        app.store.put_new_op(&history)?,
    ];
    app.store.transact(ops).await.map_err(|e| {
        e.into_error(|_| {
            Error::Refused(Refusal::ConcurrentChange(
                "the account changed during its renewal",
            ))
        })
    })
}

/// What `GET /account/upcoming-invoice` shows: the next renewal as it stands.
#[derive(Debug, serde::Serialize)]
pub struct Upcoming {
    #[serde(flatten)]
    pub invoice: Invoice,
    /// Changes made up to this date count in it (billing date - 2).
    pub changes_counted_until: Date,
    /// Whether it is locked (from the day before the billing date).
    pub locked: bool,
}

/// The next renewal of the account as it stands on `now`.
pub async fn next_renewal(app: &App, account_id: &str) -> Result<Upcoming, Error> {
    let records = AccountRecords::read(&app.store, account_id).await?;
    let key = app.account_key(&records.account).await?;
    let account = records.account.open(&key)?;
    account.require_own_billing()?;
    let now = app.clock(account.test_clock_id.as_deref()).await?.now();
    let period = account.current_period(now);
    let billing_date = period.end();
    let id = renewal_invoice_id(&account, billing_date);
    let invoice = upcoming(app, &records, &account, &key, billing_date, id).await?;
    Ok(Upcoming {
        invoice,
        changes_counted_until: billing_date
            .checked_sub(jiff::ToSpan::days(2))
            .map_err(Error::internal)?,
        locked: crate::billing_calendar::is_locked(&period, account.local_date(now)),
    })
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
    let read;
    let records = match known {
        Some(records) => records,
        None => {
            read = AccountRecords::read(&app.store, account_id).await?;
            &read
        }
    };
    let key = app.account_key(&records.account).await?;
    let account = records.account.open(&key)?;
    if !decide::renews_on(&account, billing_date) {
        return Ok(false);
    }
    let today = account.local_date(app.clock(account.test_clock_id.as_deref()).await?.now());
    if billing_date <= today {
        // A run late by more than a week: the renewal is no longer ahead.
        tracing::warn!(%billing_date, "not reminded: the billing date has come");
        return Ok(false);
    }
    #[derive(serde::Serialize)]
    struct Marker {
        pk: String,
        sk: String,
    }
    let marker = Marker {
        pk: account_pk(account_id),
        sk: format!("REMINDER#{billing_date}"),
    };
    if !app.store.put_new(&marker).await? {
        return Ok(false);
    }
    let draft = upcoming(
        app,
        records,
        &account,
        &key,
        billing_date,
        renewal_invoice_id(&account, billing_date),
    )
    .await?;
    let cutoff = billing_date
        .checked_sub(jiff::ToSpan::days(2))
        .map_err(Error::internal)?;
    let (subject, text) = crate::emails::reminder_email(
        account.language,
        account.company_name.as_str(),
        &draft,
        cutoff,
    );
    let mail = crate::mailer::Mail {
        to: account.admin_email.as_str().to_string(),
        subject,
        text,
        auto_submitted: "auto-generated",
        attachments: vec![],
    };
    if let Err(e) = app.mailer.send(&mail).await {
        // Give the marker back so the next run sends it.
        app.store
            .delete_if(&marker.pk, &marker.sk, "sk", &marker.sk)
            .await?;
        return Err(e);
    }
    Ok(true)
}

/// Stores the renewal with its number; a failed payment also makes the account past due; the
/// schedule moves on with it when `then_move` is given. Another run that stored it first wins
/// (`false`), and its charge (same key) is not refunded.
#[allow(clippy::too_many_arguments)]
async fn store(
    app: &App,
    item: &AccountItem,
    account: &Account,
    key: &DataKey,
    invoice: &mut Invoice,
    payment_failed: bool,
    now: jiff::Timestamp,
    then_move: Option<&ScheduleMove>,
) -> Result<bool, Error> {
    let action = if payment_failed {
        "renewal_payment_failed"
    } else {
        "renewal"
    };
    let entry = HistoryEntry {
        at: now,
        actor: "system".into(),
        action: action.into(),
        details: serde_json::json!({"invoice_id": invoice.id, "total": invoice.totals.total}),
    };
    let history = HistoryItem::seal(
        &account.id,
        &crate::account::new_ordered_id("hst", now),
        &entry,
        key,
    );
    let mut past_due = item.clone();
    if item.status == AccountStatus::Suspended {
        // A suspended reseller is still billed for its clients' period; it stays suspended,
        // its retries counted from its first failure.
        past_due.past_due_since = item.past_due_since.or(Some(invoice.issue_date));
    } else {
        past_due.status = AccountStatus::PastDue;
        past_due.past_due_since = Some(invoice.issue_date);
    }
    past_due.version = item.version + 1;
    let stored = invoicing::store_numbered(app, account, key, invoice, |_| {
        let mut ops = vec![app.store.put_new_op(&history)?];
        if payment_failed {
            ops.push(app.store.put_if_version_op(&past_due, item.version)?);
        }
        if let Some(then_move) = then_move {
            let after = if payment_failed { &past_due } else { item };
            ops.extend(then_move.ops(app, after, payment_failed)?);
        }
        Ok(ops)
    })
    .await;
    match stored {
        Ok(()) => Ok(true),
        Err(failure) => {
            let exists = issued(app, &account.id, &invoice.id).await?;
            match failure {
                _ if exists => Ok(false),
                StoreFailure::Conflict(_) => {
                    softbrik_app::billing::refund(&app.ports(), invoice).await;
                    Err(Error::Refused(Refusal::ConcurrentChange(
                        "the account changed during its renewal; retry",
                    )))
                }
                StoreFailure::Failed(e) => {
                    softbrik_app::billing::refund_after(&app.ports(), invoice, &e).await;
                    Err(e)
                }
            }
        }
    }
}
