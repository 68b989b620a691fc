//! Add-on packs (billing.md "Add-on packs", api.md pack ids): seats of a Brik at a discount,
//! support plans, e-mail credits, related companies, training sessions. A pack is attached to
//! the subscription with a quantity, charged now for the days left when added or enlarged (like
//! a Brik), billed by every renewal while held, and ended or reduced at the end of the period.
//!
//! Seats: the renewal bills a Brik's seat packs at their price and only the users of that Brik
//! beyond the seats by consumption; a user given the Brik mid-period while a seat is free is
//! not charged, and seats bought mid-period are charged now only beyond what the period already
//! paid for (the users holding the Brik today, or the seats held before): nothing is paid
//! twice for the same day. Packs are billed as held on the billing date (the 2-day cut-off is
//! a Brik rule: the renewal of a pack added in those two days bills it in full, the addition
//! having charged only the days left before it).
//!
//! The support plan of an account is the best support pack it holds (Basic without one); it
//! applies to tickets opened from then on.

use std::collections::BTreeMap;

use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::account::{Invoice, InvoiceKind, SupportPlan, User, new_ordered_id};
use crate::app::App;
use crate::billing_calendar::BillingPeriod;
use crate::catalogue::Brik;
use crate::error::Error;
use crate::idempotency::{self, Lease, account_scope};
use crate::invoice::InvoiceLine;
use crate::invoicing::{self, StoreFailure};
use crate::money::Money;
use crate::proration::days_remaining;
use crate::store::{AccountItem, account_pk};
use crate::team::{Team, charged_change};
use crate::values::{BrikId, Language};
use crate::vat::vat_treatment;

/// Discount of a seat pack on its Brik's price, in percent (billing.md default).
pub const SEATS_DISCOUNT_PERCENT: i64 = 10;
/// Most units of one pack an account may hold.
pub const MAX_QUANTITY: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PackKind {
    Seats { brik_id: BrikId },
    SupportPlan { plan: SupportPlan },
    Emails,
    Companies,
    Training,
}

/// A pack of the catalogue (data: seeded once, then read from the table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pack {
    pub id: String,
    pub name: String,
    /// What one unit of the quantity is ("seat", "session", ...).
    pub unit: String,
    /// Net, per unit per month.
    pub unit_price: Money,
    #[serde(flatten)]
    pub kind: PackKind,
}

impl Pack {
    pub fn max_quantity(&self) -> u32 {
        match self.kind {
            PackKind::SupportPlan { .. } => 1,
            _ => MAX_QUANTITY,
        }
    }

    pub fn seats_of(&self) -> Option<&BrikId> {
        match &self.kind {
            PackKind::Seats { brik_id } => Some(brik_id),
            _ => None,
        }
    }

    pub fn view(&self) -> PackView {
        PackView {
            id: self.id.clone(),
            name: self.name.clone(),
            unit_price: self.unit_price,
            currency: "EUR",
            unit: self.unit.clone(),
            brik_id: self.seats_of().cloned(),
        }
    }
}

/// `GET /packs`: `{id, name, unit_price, unit, brik_id?}`.
#[derive(Debug, Clone, Serialize)]
pub struct PackView {
    pub id: String,
    pub name: String,
    pub unit_price: Money,
    pub currency: &'static str,
    pub unit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brik_id: Option<BrikId>,
}

/// The packs Softbrik sells by default: a seat pack per Brik at 10 % off its price, the Pro
/// and Enterprise support plans, e-mail credits, related companies and training sessions.
pub fn default_packs(briks: &[Brik]) -> Vec<Pack> {
    let money = |cents| Money::from_cents(cents);
    let mut packs: Vec<Pack> = briks
        .iter()
        .map(|b| Pack {
            id: format!("seats-{}", b.id.as_str()),
            name: format!("Extra users: {}", b.name),
            unit: "seat".into(),
            unit_price: Money::new(
                b.monthly_price.amount() * Decimal::new(100 - SEATS_DISCOUNT_PERCENT, 2),
            ),
            kind: PackKind::Seats {
                brik_id: b.id.clone(),
            },
        })
        .collect();
    packs.extend([
        Pack {
            id: "support-pro".into(),
            name: "Support plan Pro".into(),
            unit: "account".into(),
            unit_price: money(4900),
            kind: PackKind::SupportPlan {
                plan: SupportPlan::Pro,
            },
        },
        Pack {
            id: "support-enterprise".into(),
            name: "Support plan Enterprise".into(),
            unit: "account".into(),
            unit_price: money(19900),
            kind: PackKind::SupportPlan {
                plan: SupportPlan::Enterprise,
            },
        },
        Pack {
            id: "emails-1000".into(),
            name: "E-mail credits".into(),
            unit: "1,000 e-mails".into(),
            unit_price: money(1000),
            kind: PackKind::Emails,
        },
        Pack {
            id: "companies".into(),
            name: "Related companies".into(),
            unit: "company".into(),
            unit_price: money(1500),
            kind: PackKind::Companies,
        },
        Pack {
            id: "training".into(),
            name: "Web onboarding training".into(),
            unit: "session".into(),
            unit_price: money(9000),
            kind: PackKind::Training,
        },
    ]);
    packs
}

#[derive(Debug, Serialize, Deserialize)]
struct CatalogueItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    pack: Pack,
}

/// The pack catalogue; the defaults are seeded the first time it is read.
pub async fn catalogue(app: &App) -> Result<Vec<Pack>, Error> {
    let items: Vec<CatalogueItem> = app.store.query_prefix("CATALOGUE", "PACK#").await?;
    if !items.is_empty() {
        return Ok(items.into_iter().map(|i| i.pack).collect());
    }
    for pack in default_packs(&app.catalogue().await?) {
        let item = CatalogueItem {
            pk: "CATALOGUE".into(),
            sk: format!("PACK#{}", pack.id),
            pack,
        };
        app.store.put_new(&item).await?;
    }
    let items: Vec<CatalogueItem> = app.store.query_prefix("CATALOGUE", "PACK#").await?;
    Ok(items.into_iter().map(|i| i.pack).collect())
}

/// A pack an account holds: how many units, since when, until when (a removal at period
/// end), and a reduction taking effect on a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackItem {
    pub pk: String,
    pub sk: String,
    pub pack_id: String,
    pub quantity: u32,
    pub since: Date,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
    /// A smaller quantity from `resize_on` (asked for during the period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_quantity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize_on: Option<Date>,
    pub version: u64,
}

impl PackItem {
    pub fn held_on(&self, day: Date) -> bool {
        self.since <= day && self.until.is_none_or(|until| day < until)
    }

    /// The units held on `day` (0 when not held).
    pub fn quantity_on(&self, day: Date) -> u32 {
        if !self.held_on(day) {
            return 0;
        }
        match (self.next_quantity, self.resize_on) {
            (Some(next), Some(on)) if day >= on => next,
            _ => self.quantity,
        }
    }

    fn view(&self, pack: &Pack) -> HeldPackView {
        HeldPackView {
            pack_id: self.pack_id.clone(),
            name: pack.name.clone(),
            quantity: self.quantity,
            unit: pack.unit.clone(),
            unit_price: pack.unit_price,
            since: self.since,
            until: self.until,
            next_quantity: self.next_quantity,
            resize_on: self.resize_on,
        }
    }
}

/// `GET /account/packs` and the `pack` of `PUT`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldPackView {
    pub pack_id: String,
    pub name: String,
    pub quantity: u32,
    pub unit: String,
    pub unit_price: Money,
    pub since: Date,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_quantity: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resize_on: Option<Date>,
}

/// The account's packs with their catalogue entries.
pub async fn held(app: &App, account_id: &str) -> Result<Vec<(Pack, PackItem)>, Error> {
    let catalogue = catalogue(app).await?;
    let items: Vec<PackItem> = app
        .store
        .query_prefix(&account_pk(account_id), "PACK#")
        .await?;
    items
        .into_iter()
        .map(|item| {
            let pack = catalogue
                .iter()
                .find(|p| p.id == item.pack_id)
                .cloned()
                .ok_or_else(|| {
                    Error::internal(format!("pack {} left the catalogue", item.pack_id))
                })?;
            Ok((pack, item))
        })
        .collect()
}

/// Seats of each Brik held on `day`.
pub fn seats_on(held: &[(Pack, PackItem)], day: Date) -> BTreeMap<BrikId, u32> {
    let mut seats = BTreeMap::new();
    for (pack, item) in held {
        if let Some(brik) = pack.seats_of() {
            *seats.entry(brik.clone()).or_insert(0) += item.quantity_on(day);
        }
    }
    seats
}

/// The support plan the packs held on `day` give: the best one, Basic without any.
pub fn plan_on(held: &[(Pack, PackItem)], day: Date) -> SupportPlan {
    held.iter()
        .filter(|(_, item)| item.quantity_on(day) > 0)
        .filter_map(|(pack, _)| match pack.kind {
            PackKind::SupportPlan { plan } => Some(plan),
            _ => None,
        })
        .max_by_key(|plan| match plan {
            SupportPlan::Basic => 0,
            SupportPlan::Pro => 1,
            SupportPlan::Enterprise => 2,
        })
        .unwrap_or(SupportPlan::Basic)
}

/// How many users hold each Brik on `day`.
pub fn holders_on(users: &[User], day: Date) -> BTreeMap<BrikId, u32> {
    let mut holders = BTreeMap::new();
    for user in users.iter().filter(|u| u.present_on(day)) {
        for a in user.briks.iter().filter(|a| a.held_on(day)) {
            *holders.entry(a.brik_id.clone()).or_insert(0) += 1;
        }
    }
    holders
}

/// A pack's invoice line: "{name}, {start} – {end}, {quantity} x {unit}".
pub fn line(
    pack: &Pack,
    period: &BillingPeriod,
    quantity: u32,
    proration: Option<crate::proration::Proration>,
    lang: Language,
) -> InvoiceLine {
    let (start, end) = (period.start(), period.end());
    let text = match lang {
        Language::Fr => format!(
            "{}, du {start} au {end}, {quantity} x {}",
            pack.name, pack.unit
        ),
        Language::Da => format!(
            "{}, {start} til {end}, {quantity} x {}",
            pack.name, pack.unit
        ),
        Language::En => format!(
            "{}, {start} to {end}, {quantity} x {}",
            pack.name, pack.unit
        ),
    };
    InvoiceLine::for_pack(&pack.id, text, quantity, pack.unit_price, proration)
}

/// The renewal's pack lines for the period starting on `billing_date`, and the seats that
/// take users of each Brik off consumption.
pub fn renewal_lines(
    held: &[(Pack, PackItem)],
    billing_date: Date,
    period: &BillingPeriod,
    lang: Language,
) -> (Vec<InvoiceLine>, BTreeMap<BrikId, u32>) {
    let mut lines = Vec::new();
    for (pack, item) in held {
        let quantity = item.quantity_on(billing_date);
        if quantity > 0 {
            lines.push(line(pack, period, quantity, period.share(), lang));
        }
    }
    (lines, seats_on(held, billing_date))
}

// --- Routes ------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackBody {
    pub quantity: u32,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PackResponse {
    pub pack: HeldPackView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<Invoice>,
}

/// `GET /account/packs`.
pub async fn list(app: &App, team: &Team) -> Result<Vec<HeldPackView>, Error> {
    Ok(held(app, &team.account.id)
        .await?
        .iter()
        .filter(|(_, item)| item.held_on(team.today) || item.since > team.today)
        .map(|(pack, item)| item.view(pack))
        .collect())
}

/// `PUT /account/packs/{pack_id}`: adds the pack or changes its quantity. More units are
/// charged now for the days left; fewer take effect at the end of the period; the same
/// quantity undoes a scheduled removal, free.
pub async fn put(
    app: &App,
    team: &Team,
    pack_id: &str,
    body: PackBody,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let catalogue = catalogue(app).await?;
    let pack = catalogue
        .iter()
        .find(|p| p.id == pack_id)
        .cloned()
        .ok_or(Error::NotFound)?;
    if body.quantity == 0 || body.quantity > pack.max_quantity() {
        return Err(Error::validation(
            "quantity",
            "out_of_range",
            format!("1 to {}", pack.max_quantity()),
        ));
    }
    team.changeable()?;
    let held = held(app, &team.account.id).await?;
    let current = held
        .iter()
        .find(|(p, _)| p.id == pack.id)
        .map(|(_, i)| i.clone());
    let today = team.today;
    let now = team.now;
    let reserve = || {
        BTreeMap::from([
            ("invoice".to_string(), new_ordered_id("inv", now)),
            ("history".to_string(), new_ordered_id("hst", now)),
        ])
    };
    let fingerprint = serde_json::json!({"route": "PUT /account/packs", "pack": pack.id, "quantity": body.quantity});
    let scope = account_scope(&team.account.id);
    let (status, answer) = idempotency::once(app, &scope, key, fingerprint, reserve, async |lease: &Lease| {
        let held_now = current.as_ref().map_or(0, |i| i.quantity_on(today));
        let mut item = current.clone().unwrap_or(PackItem {
            pk: account_pk(&team.account.id),
            sk: format!("PACK#{}", pack.id),
            pack_id: pack.id.clone(),
            quantity: 0,
            since: today,
            until: None,
            next_quantity: None,
            resize_on: None,
            version: 0,
        });
        let read = item.version;
        let added = body.quantity.saturating_sub(held_now);
        let (action, chargeable) = if body.quantity < held_now {
            item.next_quantity = Some(body.quantity);
            item.resize_on = Some(team.period.end());
            ("pack_reduced", 0)
        } else {
            let undo = item.until.is_some() || item.next_quantity.is_some();
            item.until = None;
            item.next_quantity = None;
            item.resize_on = None;
            if !item.held_on(today) {
                item.since = today;
            }
            item.quantity = body.quantity;
            let chargeable = chargeable_units(app, team, &pack, &held, held_now, body.quantity).await?;
            let action = match (added, undo, read) {
                (0, true, _) => "pack_removal_undone",
                (0, false, _) => "pack_unchanged",
                (_, _, 0) => "pack_added",
                _ => "pack_enlarged",
            };
            (action, chargeable)
        };
        if action == "pack_unchanged" {
            let body = serde_json::to_value(PackResponse { pack: item.view(&pack), invoice: None })
                .map_err(Error::internal)?;
            return Ok((200, body));
        }
        item.version = read + 1;
        let invoice = if chargeable > 0 {
            Some(proration_invoice(app, team, &pack, chargeable, lease.id("invoice"))?)
        } else {
            None
        };
        let history = team.history(
            &lease.id("history"),
            action,
            serde_json::json!({"pack_id": pack.id, "quantity": body.quantity, "charged_units": chargeable}),
        );
        // The support plan follows the packs held today.
        let mut with_item: Vec<(Pack, PackItem)> =
            held.iter().filter(|(p, _)| p.id != pack.id).cloned().collect();
        with_item.push((pack.clone(), item.clone()));
        let plan = plan_on(&with_item, today);
        let account_op = plan_op(app, &team.account.id, plan).await?;
        let view = item.view(&pack);
        let respond = |invoice: Option<&Invoice>| {
            serde_json::to_value(PackResponse { pack: view.clone(), invoice: invoice.cloned() })
                .map_err(Error::internal)
        };
        let change = |_: Option<&Invoice>, answer: &serde_json::Value| -> Result<Vec<_>, Error> {
            let mut ops = vec![
                if read == 0 {
                    app.store.put_new_op(&item)?
                } else {
                    app.store.put_if_version_op(&item, read)?
                },
                app.store.put_new_op(&history)?,
            ];
            ops.extend(account_op.clone());
            ops.extend(idempotency::finish_op(app, lease, &team.account.id, &team.key, 200, answer)?);
            Ok(ops)
        };
        let (invoice, answer) = charged_change(app, team, invoice, respond, change)
            .await
            .map_err(|failure| match failure {
                StoreFailure::Conflict(_) => Error::Conflict(
                    "concurrent_change",
                    "the subscription was changed by another request; retry".into(),
                ),
                StoreFailure::Failed(e) => e,
            })?;
        if let Some(invoice) = &invoice {
            invoicing::email(app, &team.account, invoice).await;
        }
        if pack.kind == PackKind::Training && added > 0 {
            crate::support_desk::open_for_account(
                app,
                &team.account.id,
                team.actor_user_id(),
                "Training: schedule the web onboarding sessions",
                &format!(
                    "{added} web onboarding session(s) bought on {today}: please propose dates for the sessions."
                ),
            )
            .await?;
        }
        Ok((200, answer))
    })
    .await?;
    Ok((status, answer))
}

/// The units of an addition charged now: all of them, except for seats, where the period
/// already paid for the users holding the Brik today and for the seats held before.
async fn chargeable_units(
    app: &App,
    team: &Team,
    pack: &Pack,
    held: &[(Pack, PackItem)],
    held_now: u32,
    quantity: u32,
) -> Result<u32, Error> {
    let added = quantity.saturating_sub(held_now);
    let Some(brik) = pack.seats_of() else {
        return Ok(added);
    };
    let users: Vec<User> = team.users(app).await?.into_iter().map(|(_, u)| u).collect();
    let holders = holders_on(&users, team.today)
        .get(brik)
        .copied()
        .unwrap_or(0);
    let seats_before = seats_on(held, team.today).get(brik).copied().unwrap_or(0);
    let seats_after = seats_before - held_now + quantity;
    Ok(seats_after.saturating_sub(seats_before.max(holders)))
}

fn proration_invoice(
    app: &App,
    team: &Team,
    pack: &Pack,
    units: u32,
    id: String,
) -> Result<Invoice, Error> {
    let left = days_remaining(&team.period, team.today)
        .ok_or_else(|| Error::internal("today is outside its period"))?;
    let slice = BillingPeriod::new(team.today, team.period.end()).map_err(Error::internal)?;
    let lines = vec![line(pack, &slice, units, Some(left), team.account.language)];
    let vat = vat_treatment(
        &app.config.issuer_country,
        &team.account.country,
        team.account.vat_number.as_ref(),
    );
    Ok(Invoice::open(
        id,
        InvoiceKind::Proration,
        team.today,
        team.period,
        lines,
        &vat,
    ))
}

/// The write that sets the account's support plan, if it changes.
async fn plan_op(
    app: &App,
    account_id: &str,
    plan: SupportPlan,
) -> Result<Option<aws_sdk_dynamodb::types::TransactWriteItem>, Error> {
    let item: AccountItem = app
        .store
        .get(&account_pk(account_id), "ACCOUNT")
        .await?
        .ok_or(Error::NotFound)?;
    if item.support_plan == plan {
        return Ok(None);
    }
    let mut next = item.clone();
    next.support_plan = plan;
    next.version = item.version + 1;
    Ok(Some(app.store.put_if_version_op(&next, item.version)?))
}

/// `DELETE /account/packs/{pack_id}`: ends the pack at the end of the period (no refund).
pub async fn remove(app: &App, team: &Team, pack_id: &str) -> Result<serde_json::Value, Error> {
    let held = held(app, &team.account.id).await?;
    let (_, item) = held
        .iter()
        .find(|(p, i)| p.id == pack_id && i.held_on(team.today))
        .cloned()
        .ok_or(Error::NotFound)?;
    let effective = team.period.end();
    if item.until != Some(effective) {
        let mut next = item.clone();
        next.until = Some(effective);
        next.version = item.version + 1;
        let history = team.history(
            &new_ordered_id("hst", team.now),
            "pack_removal_scheduled",
            serde_json::json!({"pack_id": pack_id, "effective_date": effective}),
        );
        app.store
            .transact(vec![
                app.store.put_if_version_op(&next, item.version)?,
                app.store.put_new_op(&history)?,
            ])
            .await
            .map_err(|e| {
                e.into_error(|_| {
                    Error::Conflict(
                        "concurrent_change",
                        "the pack was changed by another request; retry".into(),
                    )
                })
            })?;
    }
    Ok(serde_json::json!({"effective_date": effective}))
}

/// At a period end: packs that end are deleted, reductions take effect, and the account's
/// support plan follows what is left. Returns how many packs changed. Safe to run again.
pub async fn apply_period_end(app: &App, account_id: &str, date: Date) -> Result<u32, Error> {
    let held = held(app, account_id).await?;
    let mut changed = 0;
    let mut ops = Vec::new();
    for (pack, item) in &held {
        if item.until.is_some_and(|until| until <= date) {
            ops.push(app.store.delete_op(&item.pk, &item.sk)?);
            changed += 1;
            tracing::info!(pack = %pack.id, "pack ended");
        } else if let (Some(next), Some(on)) = (item.next_quantity, item.resize_on)
            && on <= date
        {
            let mut reduced = item.clone();
            reduced.quantity = next;
            reduced.next_quantity = None;
            reduced.resize_on = None;
            reduced.version = item.version + 1;
            ops.push(app.store.put_if_version_op(&reduced, item.version)?);
            changed += 1;
        }
    }
    let plan = plan_on(&held, date);
    ops.extend(plan_op(app, account_id, plan).await?);
    if !ops.is_empty() {
        app.store
            .transact(ops)
            .await
            .map_err(|e| e.into_error(|_| Error::unavailable("the account changed; retry")))?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::default_catalogue;

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn holding(pack: &str, quantity: u32, since: &str) -> PackItem {
        PackItem {
            pk: "ACCOUNT#a".into(),
            sk: format!("PACK#{pack}"),
            pack_id: pack.into(),
            quantity,
            since: date(since),
            until: None,
            next_quantity: None,
            resize_on: None,
            version: 1,
        }
    }

    fn pack(id: &str) -> Pack {
        default_packs(&default_catalogue())
            .into_iter()
            .find(|p| p.id == id)
            .unwrap()
    }

    #[test]
    fn the_default_catalogue_has_the_ids_of_the_api() {
        let ids: Vec<String> = default_packs(&default_catalogue())
            .into_iter()
            .map(|p| p.id)
            .collect();
        for id in [
            "seats-files",
            "seats-stock",
            "seats-care",
            "support-pro",
            "support-enterprise",
            "emails-1000",
            "companies",
            "training",
        ] {
            assert!(ids.contains(&id.to_string()), "{id}");
        }
        assert_eq!(pack("seats-stock").unit_price, Money::from_cents(720));
        assert_eq!(pack("support-pro").unit_price, Money::from_cents(4900));
        assert_eq!(pack("support-enterprise").max_quantity(), 1);
    }

    #[test]
    fn ten_stock_seats_renew_at_72_euros_and_take_ten_users_off_consumption() {
        let held = vec![(
            pack("seats-stock"),
            holding("seats-stock", 10, "2027-01-12"),
        )];
        let period = BillingPeriod::new(date("2027-02-12"), date("2027-03-12")).unwrap();
        let (lines, seats) = renewal_lines(&held, date("2027-02-12"), &period, Language::En);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].amount, Money::from_cents(7200));
        assert_eq!(lines[0].pack_id.as_deref(), Some("seats-stock"));
        assert_eq!(seats.get(&BrikId::parse("stock").unwrap()), Some(&10));
    }

    #[test]
    fn removals_and_reductions_take_effect_on_their_date() {
        let mut item = holding("emails-1000", 3, "2027-01-12");
        item.next_quantity = Some(1);
        item.resize_on = Some(date("2027-02-12"));
        assert_eq!(item.quantity_on(date("2027-02-11")), 3);
        assert_eq!(item.quantity_on(date("2027-02-12")), 1);
        item.until = Some(date("2027-02-12"));
        assert_eq!(item.quantity_on(date("2027-02-12")), 0);
        assert!(item.held_on(date("2027-02-11")));
    }

    #[test]
    fn the_plan_is_the_best_support_pack_held() {
        let day = date("2027-01-20");
        assert_eq!(plan_on(&[], day), SupportPlan::Basic);
        let mut pro = holding("support-pro", 1, "2027-01-12");
        let enterprise = holding("support-enterprise", 1, "2027-01-20");
        let held = vec![
            (pack("support-pro"), pro.clone()),
            (pack("support-enterprise"), enterprise),
        ];
        assert_eq!(plan_on(&held, day), SupportPlan::Enterprise);
        assert_eq!(plan_on(&held[..1], day), SupportPlan::Pro);
        pro.until = Some(day);
        assert_eq!(
            plan_on(&[(pack("support-pro"), pro)], day),
            SupportPlan::Basic
        );
    }
}
