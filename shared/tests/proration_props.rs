//! What proration guarantees whatever the price (6.00 to 10.00) and the period.
//!
//! Slices of a period are whole-day ratios that add up to the whole period exactly, so
//! unrounded they add up to the full price exactly. Rounded one by one (half-up), k slices
//! add up to the full price give or take less than half a cent each: between
//! floor((k - 1) / 2) cents under and floor(k / 2) cents over. They *can* exceed the full
//! price, which is why billing.md never bills a (user, Brik) pair for a period in pieces: one
//! prorated charge for the days left, then whole periods. Where a period must be billed in
//! pieces, `prorate_slice` bills each piece as a difference of rounded remainders, and those
//! pieces never add up to more (nor less) than the full price.

use std::collections::BTreeSet;

use jiff::ToSpan;
use jiff::civil::{Date, date};
use proptest::prelude::*;
use rust_decimal::Decimal;
use softbrik::billing_calendar::{AnchorDay, BillingPeriod, period_containing};
use softbrik::money::Money;
use softbrik::proration::{Proration, days_remaining, prorate, prorate_slice};

fn catalogue_price() -> impl Strategy<Value = Money> {
    (600i64..=1000).prop_map(Money::from_cents)
}

fn any_period() -> impl Strategy<Value = BillingPeriod> {
    let first = date(2026, 1, 1);
    let days = (date(2036, 12, 31) - first).get_days();
    (1u8..=31, 0..=days).prop_map(move |(day, offset)| {
        let anchor = AnchorDay::new(day).unwrap();
        period_containing(anchor, first.checked_add(offset.days()).unwrap())
    })
}

/// A period and the dates changes happened on: its start, then any later days of it.
fn period_with_change_dates() -> impl Strategy<Value = (BillingPeriod, Vec<Date>)> {
    any_period().prop_flat_map(|period| {
        let days = period.days();
        prop::collection::btree_set(1..days, 0..days as usize).prop_map(
            move |cuts: BTreeSet<i32>| {
                let start = period.start();
                let dates = std::iter::once(0)
                    .chain(cuts)
                    .map(|offset| start.checked_add(offset.days()).unwrap())
                    .collect();
                (period, dates)
            },
        )
    })
}

/// The consecutive slices the change dates cut the period into, as prorations: each slice
/// is the days left at its start minus the days left at the next one.
fn slices(period: &BillingPeriod, change_dates: &[Date]) -> Vec<Proration> {
    let left = |day: Date| days_remaining(period, day).map_or(0, |p| p.days());
    let mut bounds: Vec<Date> = change_dates.to_vec();
    bounds.push(period.end());
    bounds
        .windows(2)
        .map(|pair| {
            let days = left(pair[0]) - left(pair[1]);
            Proration::new(days, period.days().unsigned_abs()).unwrap()
        })
        .collect()
}

proptest! {
    #[test]
    fn prorations_of_consecutive_slices_never_sum_to_more_than_the_full_price(
        price in catalogue_price(),
        (period, dates) in period_with_change_dates(),
    ) {
        let mut bounds = dates.clone();
        bounds.push(period.end());
        let pieces: Vec<Money> = bounds
            .windows(2)
            .map(|pair| prorate_slice(price, &period, pair[0], pair[1]).unwrap())
            .collect();
        prop_assert!(pieces.iter().all(|p| p.amount() >= Decimal::ZERO));
        prop_assert_eq!(pieces.iter().copied().sum::<Money>(), price);
        // The last slice is billed exactly as billing.md's single mid-period charge.
        let last = bounds[bounds.len() - 2];
        prop_assert_eq!(pieces[pieces.len() - 1], prorate(price, days_remaining(&period, last).unwrap()));
    }

    #[test]
    fn slices_of_a_period_add_up_to_exactly_the_full_price_before_rounding(
        price in catalogue_price(),
        (period, change_dates) in period_with_change_dates(),
    ) {
        let slices = slices(&period, &change_dates);
        let days: u32 = slices.iter().map(Proration::days).sum();
        prop_assert_eq!(i64::from(days), i64::from(period.days()));
        // price x d1 + ... + price x dk = price x N: the ratios lose nothing.
        let numerators: Decimal = slices.iter().map(|s| price.amount() * Decimal::from(s.days())).sum();
        prop_assert_eq!(numerators, price.amount() * Decimal::from(period.days()));
    }

    #[test]
    fn rounded_slices_stay_within_half_a_cent_each_of_the_full_price(
        price in catalogue_price(),
        (period, change_dates) in period_with_change_dates(),
    ) {
        let slices = slices(&period, &change_dates);
        let k = i64::try_from(slices.len()).unwrap();
        let rounded: Money = slices.iter().map(|s| prorate(price, *s)).sum();
        let over_by = (rounded - price).amount() * Decimal::ONE_HUNDRED;
        prop_assert!(over_by <= Decimal::from(k / 2), "{} cents over with {} slices", over_by, k);
        prop_assert!(over_by >= -Decimal::from((k - 1) / 2), "{} cents under with {} slices", over_by, k);
    }

    #[test]
    fn a_mid_period_charge_never_exceeds_the_monthly_price(
        price in catalogue_price(),
        (period, change_dates) in period_with_change_dates(),
    ) {
        // The later the addition, the less it costs, and never more than a whole period.
        let charges: Vec<Money> = change_dates
            .iter()
            .map(|day| prorate(price, days_remaining(&period, *day).unwrap()))
            .collect();
        prop_assert_eq!(charges[0], price);
        prop_assert!(charges.windows(2).all(|pair| pair[1] <= pair[0]));
        prop_assert!(charges.iter().all(|charge| *charge > Money::zero()));
    }
}

#[test]
fn prorating_two_slices_at_a_half_cent_overcharges_by_one_cent() {
    // 6.50 over a 28-day period cut after 7 days: 1.625 -> 1.63 and 4.875 -> 4.88.
    let price = Money::from_cents(650);
    let first = prorate(price, Proration::new(7, 28).unwrap());
    let rest = prorate(price, Proration::new(21, 28).unwrap());
    assert_eq!(
        (first, rest),
        (Money::from_cents(163), Money::from_cents(488))
    );
    assert_eq!(first + rest, Money::from_cents(651));
}

#[test]
fn prorating_a_period_day_by_day_overcharges_by_six_cents() {
    // 8.00 x 1/31 = 0.258... -> 0.26, and 31 x 0.26 = 8.06.
    let one_day = Proration::new(1, 31).unwrap();
    let total: Money = (0..31)
        .map(|_| prorate(Money::from_cents(800), one_day))
        .sum();
    assert_eq!(total, Money::from_cents(806));
}
