//! Add-on packs (billing.md "Add-on packs", api.md pack ids): the catalogue's packs, what an
//! account holds of them, and what they mean for a day and a renewal: the seats that take a
//! Brik's users off consumption, the support plan, and the renewal's lines. Pure: the use
//! cases (`softbrik::packs`, the renewal) read and write the holdings.

use std::collections::BTreeMap;

use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::account::{Account, Invoice, InvoiceKind, SupportPlan};
use crate::billing_calendar::BillingPeriod;
use crate::catalogue::Brik;
use crate::invoice::InvoiceLine;
use crate::money::Money;
use crate::proration::{Proration, days_remaining};
use crate::values::{BrikId, Country, Language};
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

/// What an account holds of a pack: how many units, since when, until when (a removal at
/// period end), and a reduction taking effect on a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
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
    /// Units already charged for the period starting on a date (bought on a billing date
    /// before its renewal ran, or after the cut-off): that renewal leaves them out.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prepaid: BTreeMap<Date, u32>,
}

impl Holding {
    /// None yet of `pack_id`, from `since`.
    pub fn new(pack_id: &str, since: Date) -> Holding {
        Holding {
            pack_id: pack_id.to_string(),
            quantity: 0,
            since,
            until: None,
            next_quantity: None,
            resize_on: None,
            prepaid: BTreeMap::new(),
        }
    }

    /// Forgets what was prepaid for periods before `current` (their renewals are past).
    pub fn prune_prepaid(&mut self, current: Date) {
        self.prepaid.retain(|start, _| *start >= current);
    }

    /// The units the renewal on `billing_date` bills: those held, less those already paid.
    pub fn renewed_on(&self, billing_date: Date) -> u32 {
        self.quantity_on(billing_date)
            .saturating_sub(self.prepaid.get(&billing_date).copied().unwrap_or(0))
    }

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

    pub fn view(&self, pack: &Pack) -> HeldPackView {
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

/// Seats of each Brik held on `day`.
pub fn seats_on(held: &[(Pack, Holding)], day: Date) -> BTreeMap<BrikId, u32> {
    let mut seats = BTreeMap::new();
    for (pack, holding) in held {
        if let Some(brik) = pack.seats_of() {
            *seats.entry(brik.clone()).or_insert(0) += holding.quantity_on(day);
        }
    }
    seats
}

/// How a support plan ranks: Basic, then Pro, then Enterprise.
pub fn rank(plan: SupportPlan) -> u8 {
    match plan {
        SupportPlan::Basic => 0,
        SupportPlan::Pro => 1,
        SupportPlan::Enterprise => 2,
    }
}

/// The support plan the packs held on `day` give: the best one, Basic without any.
pub fn plan_on(held: &[(Pack, Holding)], day: Date) -> SupportPlan {
    held.iter()
        .filter(|(_, holding)| holding.quantity_on(day) > 0)
        .filter_map(|(pack, _)| match pack.kind {
            PackKind::SupportPlan { plan } => Some(plan),
            _ => None,
        })
        .max_by_key(|plan| rank(*plan))
        .unwrap_or(SupportPlan::Basic)
}

/// A pack's invoice line: "{name}, {start} – {end}, {quantity} x {unit}".
pub fn line(
    pack: &Pack,
    period: &BillingPeriod,
    quantity: u32,
    proration: Option<Proration>,
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
    held: &[(Pack, Holding)],
    billing_date: Date,
    period: &BillingPeriod,
    lang: Language,
) -> (Vec<InvoiceLine>, BTreeMap<BrikId, u32>) {
    let mut lines = Vec::new();
    for (pack, holding) in held {
        let quantity = holding.renewed_on(billing_date);
        if quantity > 0 {
            lines.push(line(pack, period, quantity, period.share(), lang));
        }
    }
    (lines, renewed_seats(held, billing_date))
}

/// The seats that take users off consumption in the renewal on `billing_date`: those held,
/// less those added after its lock (paid for that period by their addition).
fn renewed_seats(held: &[(Pack, Holding)], billing_date: Date) -> BTreeMap<BrikId, u32> {
    let mut seats = BTreeMap::new();
    for (pack, holding) in held {
        if let Some(brik) = pack.seats_of() {
            *seats.entry(brik.clone()).or_insert(0) += holding.renewed_on(billing_date);
        }
    }
    seats
}

/// What putting a quantity of a pack does (`PUT /account/packs/{pack_id}`).
#[derive(Debug, Clone, PartialEq)]
pub struct PackPut {
    /// The pack as it is then held.
    pub holding: Holding,
    /// The other support plans held, now ending with the period (a plan replaces another).
    pub ending: Vec<Holding>,
    /// What the history says: `pack_added`, `pack_enlarged`, `pack_reduced`,
    /// `pack_removal_undone`, or `pack_unchanged`.
    pub action: &'static str,
    /// Units charged now: for the rest of this period, and when `locked` the next one too
    /// (both marked prepaid on the holding, so their renewals leave them out).
    pub chargeable: u32,
    /// Units more than held today (a training's sessions to schedule).
    pub added: u32,
    /// The account's support plan from today.
    pub plan: SupportPlan,
}

impl PackPut {
    /// Nothing to write: the same quantity, nothing scheduled to undo, no plan replaced.
    pub fn unchanged(&self) -> bool {
        self.action == "pack_unchanged" && self.ending.is_empty()
    }
}

/// Putting `quantity` units of `pack` on `today`, with the packs `held` as read, in `period`
/// (`removal_date`: when a removal asked today takes effect; `locked`: after the cut-off;
/// `holders`: how many users hold each Brik today). More units are charged now for the days
/// left (after the cut-off, the next period too, like a Brik); seats only beyond what the
/// period already paid for (the users holding the Brik, or the seats held before); fewer take
/// effect at the end of the period; the same quantity undoes a scheduled removal, free.
/// Support plans replace each other: a better plan is charged now and the other ends with the
/// period; a lesser one starts with the next period, charged by its renewal.
#[allow(clippy::too_many_arguments)]
pub fn put(
    held: &[(Pack, Holding)],
    pack: &Pack,
    quantity: u32,
    today: Date,
    period: &BillingPeriod,
    removal_date: Date,
    locked: bool,
    holders: &BTreeMap<BrikId, u32>,
) -> PackPut {
    let current = held
        .iter()
        .find(|(p, _)| p.id == pack.id)
        .map(|(_, h)| h.clone());
    let held_now = current.as_ref().map_or(0, |h| h.quantity_on(today));
    let was_held = current.as_ref().is_some_and(|h| h.held_on(today));
    let is_new = current.is_none();
    let mut holding = current.unwrap_or_else(|| Holding::new(&pack.id, today));
    let mut ending = Vec::new();
    let mut starts_later = false;
    if let PackKind::SupportPlan { plan } = pack.kind {
        // The other plans held end with the period; a lesser plan waits for it.
        for (other, other_holding) in held.iter().filter(|(p, _)| p.id != pack.id) {
            if let PackKind::SupportPlan { plan: other_plan } = other.kind
                && other_holding.held_on(today)
                && other_holding.until.is_none()
            {
                if rank(other_plan) > rank(plan) {
                    starts_later = true;
                }
                let mut ends = other_holding.clone();
                ends.until = Some(removal_date);
                ending.push(ends);
            }
        }
    }
    let added = quantity.saturating_sub(held_now);
    let (action, chargeable) = if quantity < held_now {
        holding.next_quantity = Some(quantity);
        holding.resize_on = Some(removal_date);
        holding.until = None;
        ("pack_reduced", 0)
    } else {
        let undo = holding.until.is_some() || holding.next_quantity.is_some();
        holding.until = None;
        holding.next_quantity = None;
        holding.resize_on = None;
        if starts_later {
            holding.since = removal_date;
        } else if !was_held {
            holding.since = today;
        }
        holding.quantity = quantity;
        let chargeable = if starts_later {
            0
        } else {
            chargeable_units(held, pack, held_now, quantity, today, holders)
        };
        let action = match (added, undo, is_new) {
            (0, true, _) => "pack_removal_undone",
            (0, false, _) => "pack_unchanged",
            (_, _, true) => "pack_added",
            _ => "pack_enlarged",
        };
        (action, chargeable)
    };
    if chargeable > 0 {
        *holding.prepaid.entry(period.start()).or_insert(0) += chargeable;
    }
    if locked && added > 0 && !starts_later {
        // After the cut-off the next period's invoice is drafted and locked (billing.md): the
        // units added now are paid for the next period by this addition (the chargeable ones),
        // and left out of the locked renewal, its lines and the users its seats cover. Seats
        // that cover users already held are not charged for it: the draft bills those users.
        *holding.prepaid.entry(period.end()).or_insert(0) += added;
    }
    holding.prune_prepaid(period.start());
    let mut after: Vec<(Pack, Holding)> = held
        .iter()
        .filter(|(p, _)| p.id != pack.id)
        .map(|(p, h)| {
            let h = ending.iter().find(|e| e.pack_id == p.id).unwrap_or(h);
            (p.clone(), h.clone())
        })
        .collect();
    after.push((pack.clone(), holding.clone()));
    PackPut {
        plan: plan_on(&after, today),
        holding,
        ending,
        action,
        chargeable,
        added,
    }
}

/// The units of an addition charged now: all of them, except for seats, where the period
/// already paid for the users holding the Brik today and for the seats held before.
fn chargeable_units(
    held: &[(Pack, Holding)],
    pack: &Pack,
    held_now: u32,
    quantity: u32,
    today: Date,
    holders: &BTreeMap<BrikId, u32>,
) -> u32 {
    let added = quantity.saturating_sub(held_now);
    let Some(brik) = pack.seats_of() else {
        return added;
    };
    let holders = holders.get(brik).copied().unwrap_or(0);
    let seats_before = seats_on(held, today).get(brik).copied().unwrap_or(0);
    let seats_after = seats_before - held_now + quantity;
    seats_after.saturating_sub(seats_before.max(holders))
}

/// The invoice of `units` of `pack` added on `today` in `period`: the days left, and the next
/// period too when `next_too` (after the cut-off). `None` when `today` is not in `period`.
#[allow(clippy::too_many_arguments)]
pub fn addition_invoice(
    account: &Account,
    pack: &Pack,
    units: u32,
    today: Date,
    period: &BillingPeriod,
    next_too: bool,
    issuer: &Country,
    id: String,
) -> Option<Invoice> {
    let left = days_remaining(period, today)?;
    let slice = BillingPeriod::new(today, period.end()).ok()?;
    let lang = account.language;
    let mut lines = vec![line(pack, &slice, units, Some(left), lang)];
    if next_too {
        let next = account.calendar().following(period);
        lines.push(line(pack, &next, units, next.share(), lang));
    }
    let vat = vat_treatment(issuer, &account.country, account.vat_number.as_ref());
    Some(Invoice::open(
        id,
        InvoiceKind::Proration,
        today,
        *period,
        lines,
        &vat,
    ))
}

/// What the end of a period on `date` does to the packs held: removals and reductions due take
/// effect, and the account's support plan follows the packs held from then on (on `today`,
/// when a late run makes it later than `date`: a late run never sets an older plan).
#[derive(Debug, Clone, PartialEq)]
pub struct PacksEnd {
    /// The packs whose removal takes effect (their ids): no longer held.
    pub ended: Vec<String>,
    /// The packs whose reduction takes effect, as reduced.
    pub reduced: Vec<Holding>,
    /// The account's support plan from then on.
    pub plan: SupportPlan,
    /// What the history says, in order: (action, details). Empty: nothing changes.
    pub history: Vec<(&'static str, serde_json::Value)>,
}

/// The period end on `date` of the packs `held`, for an account whose plan is `plan`.
pub fn period_end(
    held: &[(Pack, Holding)],
    date: Date,
    today: Date,
    plan: SupportPlan,
) -> PacksEnd {
    let mut end = PacksEnd {
        ended: Vec::new(),
        reduced: Vec::new(),
        plan: plan_on(held, today.max(date)),
        history: Vec::new(),
    };
    for (pack, holding) in held {
        if holding.until.is_some_and(|until| until <= date) {
            end.ended.push(holding.pack_id.clone());
            end.history.push((
                "pack_removed",
                serde_json::json!({"pack_id": pack.id, "effective_date": holding.until}),
            ));
        } else if let (Some(next), Some(on)) = (holding.next_quantity, holding.resize_on)
            && on <= date
        {
            let mut reduced = holding.clone();
            reduced.quantity = next;
            reduced.next_quantity = None;
            reduced.resize_on = None;
            end.reduced.push(reduced);
            end.history.push((
                "pack_reduced_applied",
                serde_json::json!({"pack_id": pack.id, "quantity": next}),
            ));
        }
    }
    if end.plan != plan {
        end.history.push((
            "support_plan_changed",
            serde_json::json!({"plan": end.plan}),
        ));
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::default_catalogue;

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn holding(pack: &str, quantity: u32, since: &str) -> Holding {
        let mut holding = Holding::new(pack, date(since));
        holding.quantity = quantity;
        holding
    }

    #[test]
    fn units_paid_when_bought_are_left_out_of_that_renewal() {
        // Bought on the billing date before its renewal ran: charged 31/31 then.
        let mut holding = holding("support-pro", 1, "2027-01-12");
        holding.prepaid.insert(date("2027-01-12"), 1);
        assert_eq!(holding.renewed_on(date("2027-01-12")), 0);
        assert_eq!(holding.renewed_on(date("2027-02-12")), 1);
        holding.prune_prepaid(date("2027-02-12"));
        assert!(holding.prepaid.is_empty());
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
        let mut holding = holding("emails-1000", 3, "2027-01-12");
        holding.next_quantity = Some(1);
        holding.resize_on = Some(date("2027-02-12"));
        assert_eq!(holding.quantity_on(date("2027-02-11")), 3);
        assert_eq!(holding.quantity_on(date("2027-02-12")), 1);
        holding.until = Some(date("2027-02-12"));
        assert_eq!(holding.quantity_on(date("2027-02-12")), 0);
        assert!(holding.held_on(date("2027-02-11")));
    }

    #[test]
    fn a_period_end_ends_removed_packs_applies_reductions_and_sets_the_plan() {
        let jan_12 = date("2027-01-12");
        let mut pro = holding("support-pro", 1, "2026-12-12");
        pro.until = Some(jan_12);
        let mut emails = holding("emails-1000", 3, "2026-12-12");
        emails.next_quantity = Some(1);
        emails.resize_on = Some(jan_12);
        let seats = holding("seats-files", 2, "2026-12-12");
        let held = vec![
            (pack("support-pro"), pro),
            (pack("emails-1000"), emails),
            (pack("seats-files"), seats),
        ];
        let end = period_end(&held, jan_12, jan_12, SupportPlan::Pro);
        assert_eq!(end.ended, vec!["support-pro".to_string()]);
        assert_eq!(end.reduced.len(), 1);
        assert_eq!(end.reduced[0].quantity, 1);
        assert_eq!(end.reduced[0].next_quantity, None);
        assert_eq!(end.plan, SupportPlan::Basic);
        let actions: Vec<&str> = end.history.iter().map(|(a, _)| *a).collect();
        assert_eq!(
            actions,
            [
                "pack_removed",
                "pack_reduced_applied",
                "support_plan_changed"
            ]
        );
        // AND the day before, nothing is due
        let before = period_end(
            &held,
            date("2027-01-11"),
            date("2027-01-11"),
            SupportPlan::Pro,
        );
        assert!(before.history.is_empty());
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
