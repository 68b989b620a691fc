//! Billing periods tile time: for every anchor day and any date from 2026 to 2036, periods
//! follow one another without gap or overlap, each 28 to 31 days long.

use jiff::ToSpan;
use jiff::civil::{Date, date};
use proptest::prelude::*;
use softbrik::billing_calendar::{AnchorDay, boundary, period_containing};

fn anchor_day() -> impl Strategy<Value = AnchorDay> {
    (1u8..=31).prop_map(|day| AnchorDay::new(day).unwrap())
}

fn date_2026_to_2036() -> impl Strategy<Value = Date> {
    let first = date(2026, 1, 1);
    let days = (date(2036, 12, 31) - first).get_days();
    (0..=days).prop_map(move |offset| first.checked_add(offset.days()).unwrap())
}

proptest! {
    #[test]
    fn the_period_containing_a_date_contains_it(anchor in anchor_day(), day in date_2026_to_2036()) {
        let period = period_containing(anchor, day);
        prop_assert!(period.contains(day));
        prop_assert!((28..=31).contains(&period.days()), "{} days", period.days());
    }

    #[test]
    fn each_period_ends_where_the_next_one_starts(anchor in anchor_day(), day in date_2026_to_2036()) {
        let period = period_containing(anchor, day);
        let next = period_containing(anchor, period.end());
        let previous = period_containing(anchor, period.start().yesterday().unwrap());
        prop_assert_eq!(next.start(), period.end());
        prop_assert_eq!(previous.end(), period.start());
    }

    #[test]
    fn every_day_of_a_period_belongs_to_that_period_only(
        anchor in anchor_day(),
        day in date_2026_to_2036(),
    ) {
        let period = period_containing(anchor, day);
        for offset in 0..period.days() {
            let inside = period.start().checked_add(offset.days()).unwrap();
            prop_assert_eq!(period_containing(anchor, inside), period);
        }
    }

    #[test]
    fn every_boundary_is_the_anchor_day_clamped_to_its_month(
        anchor in anchor_day(),
        day in date_2026_to_2036(),
    ) {
        let start = period_containing(anchor, day).start();
        let expected_day = anchor.get().min(start.days_in_month().unsigned_abs());
        prop_assert_eq!(start.day().unsigned_abs(), expected_day);
        prop_assert_eq!(boundary(anchor, start.year(), start.month()), start);
    }
}

/// Walks every day of 2026-2036 for every anchor: the periods met form one unbroken chain.
#[test]
fn periods_tile_ten_years_for_every_anchor_day() {
    for day in 1..=31 {
        let anchor = AnchorDay::new(day).unwrap();
        let mut current = period_containing(anchor, date(2026, 1, 1));
        let mut today = date(2026, 1, 1);
        while today <= date(2036, 12, 31) {
            let period = period_containing(anchor, today);
            if period != current {
                assert_eq!(period.start(), current.end(), "gap or overlap at {today}");
                current = period;
            }
            assert!(current.contains(today));
            today = today.tomorrow().unwrap();
        }
    }
}
