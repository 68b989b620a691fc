//! Properties of business-hours arithmetic (support.md): whatever the start and the length,
//! the business time between a start and its due time is exactly the length asked for, and a
//! due time always falls within business hours of a business day.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use softbrik::business_hours::BusinessHours;
use softbrik::values::Country;

fn calendars() -> Vec<BusinessHours> {
    vec![
        BusinessHours::new(
            TimeZone::get("Europe/Paris").unwrap(),
            Country::parse("FR").unwrap(),
        ),
        BusinessHours::new(
            TimeZone::get("Europe/Copenhagen").unwrap(),
            Country::parse("DK").unwrap(),
        ),
    ]
}

proptest! {
    #[test]
    fn the_business_time_to_a_due_time_is_the_target(
        // 2026-2029, minute precision; targets from 1 minute to 5 business days
        start_min in 29_500_000i64..31_600_000i64,
        minutes in 1i64..(5 * 9 * 60),
        which in 0usize..2,
    ) {
        let calendar = &calendars()[which];
        let start = Timestamp::from_second(start_min * 60).unwrap();
        let target = SignedDuration::from_mins(minutes);
        let due = calendar.add(start, target);
        prop_assert!(due > start);
        prop_assert_eq!(calendar.between(start, due), target);
        let tz = if which == 0 { "Europe/Paris" } else { "Europe/Copenhagen" };
        let local = due.to_zoned(TimeZone::get(tz).unwrap());
        prop_assert!(calendar.is_business_day(local.date()));
        let hm = (local.hour(), local.minute());
        prop_assert!(hm > (9, 0) && hm <= (18, 0), "due at {local}");
    }
}
