//! The renewal of a period (billing.md "What is billed"): on the billing date, one invoice with
//! a line per (Brik, number of users holding it that day) at the full monthly price, and the
//! packs held, charged on the card. Keyed by (account, period): its invoice id is derived from
//! them, so running the renewal twice, or twice at once, issues one invoice and one charge. A
//! reseller is billed at the end of a period for its clients' peak of active users. The
//! reminder tells the admin, once, what the next renewal will bill.
//!
//! Each use case reads the account's records once ([`BillingTable::renewing`], or the run's
//! own read), decides with `softbrik_domain::renewal`, charges first, then stores the invoice
//! with its history (and the account past due when the card was declined) in one
//! transaction.

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use sha2::{Digest, Sha256};
use softbrik_domain::account::{
    Account, AccountKind, AccountStatus, HistoryEntry, Invoice, InvoiceStatus,
};
use softbrik_domain::billing_calendar::{is_locked, local_midnight};
use softbrik_domain::packs::{self, renewal_lines};
use softbrik_domain::refusal::Refusal;
use softbrik_domain::renewal::{self as decide, Renewal};

use crate::error::Error;
use crate::ports::Ports;
use crate::ports::billing::{PackChanges, PastDue, RenewalWrite, Renewing};
use crate::ports::mailer::Mail;
use crate::ports::team::{Stamp, TeamRecords};

/// The invoice id of an account's renewal for the period starting on `start`: a ULID whose
/// time is the billing date's midnight and whose random part is a hash of (account, date).
pub fn invoice_id(account: &Account, start: Date) -> String {
    let at = local_midnight(start, &account.timezone.time_zone());
    let digest = Sha256::digest(format!("renewal:{}:{start}", account.id).as_bytes());
    let mut random = [0u8; 16];
    random.copy_from_slice(&digest[..16]);
    let millis = u64::try_from(at.as_millisecond()).unwrap_or_default();
    let ulid = ulid::Ulid::from_parts(millis, u128::from_be_bytes(random));
    format!("inv_{}", ulid.to_string().to_lowercase())
}

/// The renewal invoice of the period starting on `billing_date`, as the account stands in
/// `records` (a draft: not numbered, not charged; no lines when nothing would be billed). A
/// reseller's is the period that ends on `billing_date`, for its clients' peak.
pub async fn upcoming(
    ports: &Ports<'_>,
    records: &Renewing,
    billing_date: Date,
    id: String,
) -> Result<Invoice, Error> {
    let account = &records.account;
    if account.kind != AccountKind::Reseller {
        return Ok(company_draft(records, billing_date, id));
    }
    let period = account
        .calendar()
        .period_containing(billing_date.yesterday().map_err(Error::internal)?);
    let peak = ports.billing.usage_peak(account, &period).await?;
    let mut invoice = decide::usage_invoice(
        account,
        period,
        peak,
        records.reseller_user_price,
        &records.issuer,
        id,
    );
    invoice.status = InvoiceStatus::Draft;
    Ok(invoice)
}

/// A company's renewal draft, from its users and packs as read: the packs held on the billing
/// date are billed, and their seats take as many users of their Brik off consumption
/// (billing.md "Add-on packs").
fn company_draft(records: &Renewing, billing_date: Date, id: String) -> Invoice {
    let account = &records.account;
    let period = account.calendar().period_containing(billing_date);
    let (pack_lines, seats) =
        renewal_lines(&records.packs, billing_date, &period, account.language);
    decide::company_invoice(
        account,
        &records.users,
        &records.catalogue,
        pack_lines,
        &seats,
        billing_date,
        &records.issuer,
        id,
    )
}

/// What a renewal did.
#[derive(Debug, Default)]
pub struct Renewed {
    /// The renewal invoice, when this call issued one.
    pub invoice: Option<Invoice>,
    /// Whether the account was written (a lapse, a declined card; a reseller's billing is
    /// taken as one): records read before are stale.
    pub wrote: bool,
    /// Whether the run's schedule move landed with the renewal.
    pub moved: bool,
}

/// Renews the period that starts on `date`, from `records` as read. With `moving` (a run's
/// only job, planned from the schedule as stored), the renewal's transaction also moves the
/// schedule on: a run that planned this renewal knows that no run stored it, so it is not
/// looked up.
pub async fn renew(
    ports: &Ports<'_>,
    records: &Renewing,
    date: Date,
    moving: Option<Stamp>,
) -> Result<Renewed, Error> {
    let account = &records.account;
    match decide::renewal(account, date) {
        Renewal::Renew => {}
        Renewal::BillReseller => {
            return Ok(Renewed {
                invoice: bill_reseller(ports, records, date).await?,
                wrote: true,
                moved: false,
            });
        }
        Renewal::Lapse => {
            lapse(ports, records, date).await?;
            return Ok(Renewed {
                wrote: true,
                ..Renewed::default()
            });
        }
        Renewal::Not(why) => {
            tracing::info!(status = ?account.status, %date, "not renewed: {why}");
            return Ok(Renewed::default());
        }
    }
    let id = invoice_id(account, date);
    if moving.is_none() && issued(ports, &account.id, &id).await? {
        tracing::info!(invoice = %id, "already renewed");
        return Ok(Renewed::default());
    }
    let invoice = company_draft(records, date, id);
    if invoice.lines.is_empty() {
        tracing::info!("not renewed: no Brik or pack is held");
        return Ok(Renewed::default());
    }
    let with_move = moving.is_some();
    let done = issue(ports, records, invoice, date, moving).await?;
    Ok(Renewed {
        moved: done.stored && with_move,
        wrote: done.payment_failed,
        invoice: done.stored.then_some(done.invoice),
    })
}

/// A reseller's period end: the period that ends on `date` is billed for its peak of active
/// users (whatever happens next: a reseller turning auto-renew off or closing still pays for
/// the period its clients used), then, with auto-renew off, the account lapses.
async fn bill_reseller(
    ports: &Ports<'_>,
    records: &Renewing,
    date: Date,
) -> Result<Option<Invoice>, Error> {
    let account = &records.account;
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
    let id = invoice_id(account, date);
    let invoice = if issued(ports, &account.id, &id).await? {
        None
    } else {
        let invoice = upcoming(ports, records, date, id).await?;
        if invoice.lines.is_empty() {
            tracing::info!("reseller not billed: no active user in the period");
            None
        } else {
            let done = issue(ports, records, invoice, date, None).await?;
            done.stored.then_some(done.invoice)
        }
    };
    // Its clients moving to another reseller leave it now, billed for the period that ended.
    let now = ports.table.now_for(account).await?;
    crate::resellers::complete_moves(ports, account, date, now).await?;
    if !account.auto_renew && account.status != AccountStatus::Closing {
        // Read again: a declined card has just made the account past due.
        let now = ports.billing.renewing(&account.id).await?;
        if now.account.status != AccountStatus::Lapsed {
            lapse(ports, &now, date).await?;
        }
    }
    Ok(invoice)
}

/// Whether the account's invoice `id` is stored.
async fn issued(ports: &Ports<'_>, account_id: &str, id: &str) -> Result<bool, Error> {
    Ok(ports.billing.invoice(account_id, id).await?.is_some())
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
/// past due (billing.md "Payment"). The invoice is emailed once, by the call that stored it.
async fn issue(
    ports: &Ports<'_>,
    records: &Renewing,
    mut invoice: Invoice,
    date: Date,
    moving: Option<Stamp>,
) -> Result<Issued, Error> {
    let account = &records.account;
    invoice.status = InvoiceStatus::Open;
    let now = local_midnight(date, &account.timezone.time_zone());
    let payment_failed = match crate::billing::charge(ports, account, &mut invoice, now).await {
        Ok(()) => false,
        Err(Error::CardDeclined { .. }) => true,
        Err(e) => return Err(e),
    };
    let stored = store(ports, records, &mut invoice, payment_failed, now, moving).await?;
    if stored && !payment_failed {
        ports.invoices.email_owed(account, &invoice).await;
    }
    if stored && payment_failed {
        // Past due from today (or since an earlier failure): the first retry comes next.
        let (_, since) = decide::declined(account.status, records.past_due_since, date);
        let after = crate::dunning::after_failure(Some(since), date, false);
        crate::dunning::tell_failed(ports, account, &invoice, after).await;
    }
    Ok(Issued {
        invoice,
        payment_failed,
        stored,
    })
}

/// Stores the renewal with its number, and the account past due when `payment_failed`.
/// Another run that stored it first wins (`false`), and its charge (same key) is not
/// refunded; any other failure gives the charge back unless the write may still land.
async fn store(
    ports: &Ports<'_>,
    records: &Renewing,
    invoice: &mut Invoice,
    payment_failed: bool,
    now: Timestamp,
    moving: Option<Stamp>,
) -> Result<bool, Error> {
    let account = &records.account;
    let action = if payment_failed {
        "renewal_payment_failed"
    } else {
        "renewal"
    };
    let entry = system_entry(
        now,
        action,
        serde_json::json!({"invoice_id": invoice.id, "total": invoice.totals.total}),
    );
    let past_due = payment_failed.then(|| {
        let (status, since) =
            decide::declined(account.status, records.past_due_since, invoice.issue_date);
        PastDue { status, since }
    });
    let history_id = crate::ids::new_ordered_id("hst", now);
    let mut changes: Vec<_> = softbrik_domain::events::payment_failed(invoice)
        .into_iter()
        .collect();
    if let Some(past_due) = &past_due {
        changes.extend(softbrik_domain::events::standing_changes(
            account.status,
            past_due.status,
        ));
    }
    let write = RenewalWrite {
        invoice: invoice.clone(),
        events: crate::events::made(&history_id, account, now, changes),
        history: (history_id, entry),
        past_due,
        moving,
        mail_owed: !payment_failed,
    };
    match ports.billing.store_renewal(records, write).await {
        Ok(numbered) => {
            *invoice = numbered;
            Ok(true)
        }
        Err(e) => {
            if issued(ports, &account.id, &invoice.id).await? {
                return Ok(false);
            }
            crate::billing::refund_after(ports, invoice, &e).await;
            Err(match e {
                Error::Refused(Refusal::ConcurrentChange(_)) => Error::Refused(
                    Refusal::ConcurrentChange("the account changed during its renewal; retry"),
                ),
                e => e,
            })
        }
    }
}

/// Auto-renew off: the subscription ends with the period; the account is `lapsed`, its data
/// kept, until auto-renew is turned on again (billing.md "Billing period"). Not a closure.
async fn lapse(ports: &Ports<'_>, records: &Renewing, date: Date) -> Result<(), Error> {
    let at = local_midnight(date, &records.account.timezone.time_zone());
    let entry = system_entry(at, "lapsed", serde_json::json!({}));
    let id = crate::ids::new_ordered_id("hst", at);
    let account = &records.account;
    let events = crate::events::made(
        &id,
        account,
        at,
        softbrik_domain::events::standing_changes(account.status, AccountStatus::Lapsed),
    );
    ports.billing.lapse(records, (id, entry), events).await
}

fn system_entry(at: Timestamp, action: &str, details: serde_json::Value) -> HistoryEntry {
    HistoryEntry {
        at,
        actor: "system".into(),
        action: action.into(),
        details,
    }
}

/// What an account's period end did.
#[derive(Debug)]
pub struct PeriodEnd {
    /// Users deleted and users who lost a Brik, their removal taking effect.
    pub removals: u32,
    /// Changes written to the packs and the support plan.
    pub pack_changes: u32,
    /// The renewal.
    pub renewed: Renewed,
    /// The account's records as the renewal read them.
    pub records: Renewing,
}

/// An account's period end on `date`, the renew run's job: the removals and pack changes due
/// take effect, then the period that starts on `date` is renewed (`moving`: as in
/// [`renew`]). `team` and `records` are the same read of the account; it is read again only
/// when a step here wrote it.
pub async fn period_end(
    ports: &Ports<'_>,
    team: TeamRecords,
    records: Renewing,
    date: Date,
    moving: Option<Stamp>,
) -> Result<PeriodEnd, Error> {
    let removals = crate::team::apply_removals(ports, team, date).await?;
    // Removals write users, never the account or its packs.
    let pack_changes = end_packs(ports, &records, date).await?;
    let records = if removals > 0 || pack_changes > 0 {
        ports.billing.renewing(&records.account.id).await?
    } else {
        records
    };
    let renewed = renew(ports, &records, date, moving).await?;
    Ok(PeriodEnd {
        removals,
        pack_changes,
        renewed,
        records,
    })
}

/// The packs' removals and reductions due on `date` take effect, and the account's support
/// plan follows the packs held (`softbrik_domain::packs::period_end`). Returns how many
/// changes it wrote: none leaves the records as read. Safe to run again.
async fn end_packs(ports: &Ports<'_>, records: &Renewing, date: Date) -> Result<u32, Error> {
    let account = &records.account;
    // Without packs the plan is the basic one whatever the day: no need for the clock.
    let today = if records.packs.is_empty() {
        date
    } else {
        account.local_date(ports.table.now_for(account).await?)
    };
    let end = packs::period_end(&records.packs, date, today, account.support_plan);
    if end.history.is_empty() {
        return Ok(0);
    }
    let at = local_midnight(date, &account.timezone.time_zone());
    let history: Vec<(String, HistoryEntry)> = end
        .history
        .into_iter()
        .map(|(action, details)| {
            let entry = system_entry(at, action, details);
            let said = format!("{}:{date}:{action}:{entry:?}", account.id);
            let id = format!("hst_{}", &crate::ids::digest_hex(said.as_bytes())[..26]);
            (id, entry)
        })
        .collect();
    let changes = u32::try_from(history.len()).map_err(Error::internal)?;
    ports
        .billing
        .end_packs(
            records,
            PackChanges {
                ended: end.ended,
                reduced: end.reduced,
                plan: end.plan,
                history,
            },
        )
        .await?;
    Ok(changes)
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

/// The next renewal of the account as it stands now (on its clock).
pub async fn next_renewal(ports: &Ports<'_>, records: &Renewing) -> Result<Upcoming, Error> {
    let account = &records.account;
    account.require_own_billing()?;
    let now = ports.table.now_for(account).await?;
    let period = account.current_period(now);
    let billing_date = period.end();
    let id = invoice_id(account, billing_date);
    let invoice = upcoming(ports, records, billing_date, id).await?;
    Ok(Upcoming {
        invoice,
        changes_counted_until: cutoff(billing_date)?,
        locked: is_locked(&period, account.local_date(now)),
    })
}

/// The last day whose changes count in the renewal on `billing_date`.
fn cutoff(billing_date: Date) -> Result<Date, Error> {
    billing_date.checked_sub(2.days()).map_err(Error::internal)
}

/// Emails the admin the renewal due on `billing_date`, once per period: the mark stays when
/// it was sent, and is taken back when it could not be, so the next run sends it. Returns
/// whether a reminder went out.
pub async fn remind(
    ports: &Ports<'_>,
    records: &Renewing,
    billing_date: Date,
) -> Result<bool, Error> {
    let account = &records.account;
    if !decide::renews_on(account, billing_date) {
        return Ok(false);
    }
    let today = account.local_date(ports.table.now_for(account).await?);
    if billing_date <= today {
        // A run late by more than a week: the renewal is no longer ahead.
        tracing::warn!(%billing_date, "not reminded: the billing date has come");
        return Ok(false);
    }
    let draft = upcoming(
        ports,
        records,
        billing_date,
        invoice_id(account, billing_date),
    )
    .await?;
    if !ports
        .billing
        .claim_reminder(&account.id, billing_date)
        .await?
    {
        return Ok(false);
    }
    let (subject, text) = crate::emails::reminder_email(
        account.language,
        account.company_name.as_str(),
        &draft,
        cutoff(billing_date)?,
    );
    let mail = Mail {
        to: account.admin_email.as_str().to_string(),
        subject,
        text,
        auto_submitted: "auto-generated",
        attachments: vec![],
    };
    if let Err(e) = ports.mailer.send(&mail).await {
        ports
            .billing
            .release_reminder(&account.id, billing_date)
            .await?;
        return Err(e);
    }
    Ok(true)
}
