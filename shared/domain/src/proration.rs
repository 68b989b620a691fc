//! Mid-period charges (billing.md, "Mid-period additions"): the days left in the period over
//! the period's days, kept as an exact ratio of whole days and applied to a price with a
//! single rounding, so 8.00 x 23/31 is 5.94 and not the sum of rounded pieces.

use std::fmt;

use jiff::civil::Date;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::billing_calendar::BillingPeriod;
use crate::money::Money;

/// `days` out of `period_days`, with `0 < days <= period_days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawProration")]
pub struct Proration {
    days: u32,
    period_days: u32,
}

/// A proration whose days were zero or more than its period's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a proration needs 0 < days <= period days (got {days}/{period_days})")]
pub struct InvalidProration {
    pub days: u32,
    pub period_days: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProration {
    days: u32,
    period_days: u32,
}

impl TryFrom<RawProration> for Proration {
    type Error = InvalidProration;

    fn try_from(raw: RawProration) -> Result<Self, InvalidProration> {
        Proration::new(raw.days, raw.period_days)
    }
}

impl Proration {
    pub fn new(days: u32, period_days: u32) -> Result<Self, InvalidProration> {
        if 0 < days && days <= period_days {
            Ok(Self { days, period_days })
        } else {
            Err(InvalidProration { days, period_days })
        }
    }

    /// The whole of `period`.
    pub fn full(period: &BillingPeriod) -> Self {
        let period_days = period.days().unsigned_abs();
        Self {
            days: period_days,
            period_days,
        }
    }

    pub fn days(&self) -> u32 {
        self.days
    }

    pub fn period_days(&self) -> u32 {
        self.period_days
    }

    pub fn is_full(&self) -> bool {
        self.days == self.period_days
    }

    /// `amount x days / period_days`, unrounded. Multiplying first keeps the result exact
    /// whenever it has a finite decimal form, so a half cent stays a half cent; one without
    /// (23/31) is never exactly on a half cent, so its last digit cannot flip the rounding.
    pub fn apply(&self, amount: Decimal) -> Decimal {
        amount * Decimal::from(self.days) / Decimal::from(self.period_days)
    }
}

impl fmt::Display for Proration {
    /// `23/31`, as the invoice shows it ("23/31 days").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.days, self.period_days)
    }
}

/// The share of `period` left on `change_date`, that day included: `period.end - change_date`
/// days of its basis (a calendar stub counts its month's days). `None` when the date is
/// outside the period.
pub fn days_remaining(period: &BillingPeriod, change_date: Date) -> Option<Proration> {
    if !period.contains(change_date) {
        return None;
    }
    let days = (period.end() - change_date).get_days().unsigned_abs();
    Proration::new(days, period.basis_days().unsigned_abs()).ok()
}

/// `price x days / period_days`, rounded once, half-up, to the cent.
pub fn prorate(price: Money, proration: Proration) -> Money {
    Money::round_to_cent(proration.apply(price.amount()))
}

/// What holding something from `from` until `until` (exclusive) within `period` costs, so
/// that the slices of one period add up to exactly `price`: each slice is the difference of
/// the rounded charges for the days left at its two ends (billing computed, not accumulated).
/// A slice that runs to the period's end costs `prorate(price, days_remaining(from))`, the
/// formula of billing.md. `None` unless `period.start <= from < until <= period.end`.
pub fn prorate_slice(
    price: Money,
    period: &BillingPeriod,
    from: Date,
    until: Date,
) -> Option<Money> {
    if from >= until || until > period.end() {
        return None;
    }
    let left = |day: Date| -> Option<Money> {
        if day == period.end() {
            Some(Money::zero())
        } else {
            days_remaining(period, day).map(|p| prorate(price, p))
        }
    };
    Some(left(from)? - left(until)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing_calendar::{AnchorDay, calendar_stub, period_containing};
    use jiff::civil::date;

    const INVENTORY: Money = Money::from_cents(800);

    #[test]
    fn adding_a_user_on_dec_20_charges_23_of_31_days() {
        // GIVEN an account that signed up on 2026-12-12 (period Dec 12 - Jan 12)
        let period = period_containing(AnchorDay::of(date(2026, 12, 12)), date(2026, 12, 20));
        // WHEN Bob gets Inventory (8.00) on 2026-12-20
        let proration = days_remaining(&period, date(2026, 12, 20)).unwrap();
        // THEN 23 of 31 days are charged: 5.935... -> 5.94
        assert_eq!((proration.days(), proration.period_days()), (23, 31));
        assert_eq!(prorate(INVENTORY, proration), Money::from_cents(594));
    }

    #[test]
    fn adding_on_the_last_day_charges_one_day() {
        // GIVEN billing date 2027-01-12; WHEN Bob gets Inventory on 2027-01-11
        let period = period_containing(AnchorDay::new(12).unwrap(), date(2027, 1, 11));
        let proration = days_remaining(&period, date(2027, 1, 11)).unwrap();
        // THEN 8.00 x 1/31 = 0.258... -> 0.26 for the current period
        assert_eq!(proration.to_string(), "1/31");
        assert_eq!(prorate(INVENTORY, proration), Money::from_cents(26));
    }

    #[test]
    fn a_calendar_stub_from_dec_12_charges_20_of_31_days() {
        let stub = calendar_stub(date(2026, 12, 12));
        let proration = Proration::new(stub.days().unsigned_abs(), 31).unwrap();
        assert_eq!(prorate(INVENTORY, proration), Money::from_cents(516));
    }

    #[test]
    fn adding_on_the_billing_date_charges_the_full_price() {
        let period = period_containing(AnchorDay::new(12).unwrap(), date(2026, 12, 12));
        let proration = days_remaining(&period, date(2026, 12, 12)).unwrap();
        assert!(proration.is_full());
        assert_eq!(proration, Proration::full(&period));
        assert_eq!(prorate(INVENTORY, proration), INVENTORY);
    }

    #[test]
    fn a_date_outside_the_period_has_no_days_remaining() {
        let period = period_containing(AnchorDay::new(12).unwrap(), date(2026, 12, 20));
        assert_eq!(days_remaining(&period, date(2027, 1, 12)), None);
        assert_eq!(days_remaining(&period, date(2026, 12, 11)), None);
    }

    #[test]
    fn a_proration_is_a_share_of_at_least_one_day() {
        assert!(Proration::new(0, 31).is_err());
        assert!(Proration::new(32, 31).is_err());
        let json = serde_json::to_string(&Proration::new(23, 31).unwrap()).unwrap();
        assert_eq!(json, r#"{"days":23,"period_days":31}"#);
        assert!(serde_json::from_str::<Proration>(r#"{"days":0,"period_days":31}"#).is_err());
    }

    #[test]
    fn a_half_cent_is_rounded_up_not_to_even() {
        // 6.50 x 7/28 = 1.625 exactly
        let proration = Proration::new(7, 28).unwrap();
        assert_eq!(
            prorate(Money::from_cents(650), proration),
            Money::from_cents(163)
        );
    }
}
