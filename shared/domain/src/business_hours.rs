//! Business hours of the support desk (support.md "Priorities and targets"): Monday to Friday,
//! 09:00-18:00 in the account's time zone, except the public holidays of its country (France
//! and Denmark, movable feasts from Easter included). A business day is 9 business hours.
//! Local times go through the tz database (jiff), so a target that spans a change to summer
//! time falls on the right instant.

use jiff::civil::{Date, Time, Weekday, date, time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan, Zoned};

use crate::values::Country;

/// Where the business day starts and ends, local time.
const OPENS: Time = time(9, 0, 0, 0);
const CLOSES: Time = time(18, 0, 0, 0);
/// Business hours in a business day.
pub const HOURS_PER_DAY: i64 = 9;

/// The business-hours calendar of one account.
#[derive(Debug, Clone)]
pub struct BusinessHours {
    zone: TimeZone,
    country: Country,
}

impl BusinessHours {
    pub fn new(zone: TimeZone, country: Country) -> Self {
        BusinessHours { zone, country }
    }

    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// Whether `day` is a working day: not a weekend, not a public holiday of the country.
    pub fn is_business_day(&self, day: Date) -> bool {
        !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday)
            && !is_public_holiday(&self.country, day)
    }

    /// The instant `duration` of business time after `start` (a ticket opened out of hours
    /// starts counting at the next opening).
    pub fn add(&self, start: Timestamp, duration: SignedDuration) -> Timestamp {
        let mut left = duration.max(SignedDuration::ZERO);
        let mut at = start;
        // Each turn ends a business day or the duration; a year of closed days is the bound.
        for _ in 0..(366 * 3) {
            let Some((open, close)) = self.window_from(at) else {
                return at;
            };
            let from = at.max(open);
            let available = close.duration_since(from);
            if left <= available {
                return from + left;
            }
            left -= available;
            at = close;
        }
        at
    }

    /// Business time between `from` and `to` (zero when `to` is not after `from`): how long a
    /// paused target was paused, in the time it counts in.
    pub fn between(&self, from: Timestamp, to: Timestamp) -> SignedDuration {
        let mut total = SignedDuration::ZERO;
        let mut at = from;
        for _ in 0..(366 * 3) {
            if at >= to {
                break;
            }
            let Some((open, close)) = self.window_from(at) else {
                break;
            };
            if open >= to {
                break;
            }
            total += close.min(to).duration_since(at.max(open));
            at = close;
        }
        total
    }

    /// The business window (opening, closing) that contains `at` or comes first after it.
    fn window_from(&self, at: Timestamp) -> Option<(Timestamp, Timestamp)> {
        let mut day = at.to_zoned(self.zone.clone()).date();
        for _ in 0..366 {
            if self.is_business_day(day) {
                let open = self.instant(day, OPENS)?;
                let close = self.instant(day, CLOSES)?;
                if close > at {
                    return Some((open, close));
                }
            }
            day = day.tomorrow().ok()?;
        }
        None
    }

    fn instant(&self, day: Date, at: Time) -> Option<Timestamp> {
        let zoned: Zoned = day.to_datetime(at).to_zoned(self.zone.clone()).ok()?;
        Some(zoned.timestamp())
    }
}

/// Whether `day` is a public holiday in `country` (FR and DK; none elsewhere).
pub fn is_public_holiday(country: &Country, day: Date) -> bool {
    holidays(country, day.year()).contains(&day)
}

/// The public holidays of a year that can fall on a working day.
pub fn holidays(country: &Country, year: i16) -> Vec<Date> {
    let Ok(easter) = computus::gregorian_jiff_date(i32::from(year)) else {
        return Vec::new();
    };
    let from_easter = |days: i64| easter.checked_add(days.days()).ok();
    let fixed = |month: i8, day: i8| Some(date(year, month, day));
    let days: Vec<Option<Date>> = match country.code() {
        // Code du travail L3133-1.
        "FR" => vec![
            fixed(1, 1),
            from_easter(1), // lundi de Pâques
            fixed(5, 1),
            fixed(5, 8),
            from_easter(39), // Ascension
            from_easter(50), // lundi de Pentecôte
            fixed(7, 14),
            fixed(8, 15),
            fixed(11, 1),
            fixed(11, 11),
            fixed(12, 25),
        ],
        // Helligdagsloven; Store Bededag was abolished from 2024.
        "DK" => {
            let mut days = vec![
                fixed(1, 1),
                from_easter(-3), // skærtorsdag
                from_easter(-2), // langfredag
                from_easter(1),  // 2. påskedag
                from_easter(39), // Kristi himmelfartsdag
                from_easter(50), // 2. pinsedag
                fixed(12, 25),
                fixed(12, 26),
            ];
            if year < 2024 {
                days.push(from_easter(26)); // store bededag
            }
            days
        }
        _ => Vec::new(),
    };
    days.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{at, paris};

    fn hours(h: i64) -> SignedDuration {
        SignedDuration::from_hours(h)
    }

    #[test]
    fn easter_monday_2027_is_french_and_danish_and_good_friday_only_danish() {
        let fr = Country::parse("FR").unwrap();
        let dk = Country::parse("DK").unwrap();
        assert!(is_public_holiday(&fr, date(2027, 3, 29)));
        assert!(is_public_holiday(&dk, date(2027, 3, 29)));
        assert!(is_public_holiday(&dk, date(2027, 3, 26)));
        assert!(!is_public_holiday(&fr, date(2027, 3, 26)));
        // Ascension and Whit Monday 2027: May 6 and May 17
        assert!(is_public_holiday(&fr, date(2027, 5, 6)));
        assert!(is_public_holiday(&fr, date(2027, 5, 17)));
        // Store bededag: 2023 yes, 2027 no
        assert!(is_public_holiday(&dk, date(2023, 5, 5)));
        assert!(!is_public_holiday(&dk, date(2027, 4, 23)));
    }

    #[test]
    fn a_p2_opened_friday_evening_before_easter_is_acknowledged_tuesday_0930() {
        // Friday 2027-03-26 17:30 Paris (CET, 16:30Z); Easter Monday closed; summer time
        // starts on the Sunday between.
        let opened = at("2027-03-26T16:30:00Z");
        assert_eq!(paris().add(opened, hours(1)), at("2027-03-30T07:30:00Z"));
        // 2 business days = 18 business hours: Wednesday 17:30 local
        assert_eq!(
            paris().add(opened, hours(2 * HOURS_PER_DAY)),
            at("2027-03-31T15:30:00Z")
        );
    }

    #[test]
    fn two_business_days_from_tuesday_1500_is_thursday_1500() {
        let tuesday = at("2027-01-12T14:00:00Z"); // 15:00 Paris
        assert_eq!(
            paris().add(tuesday, hours(2 * HOURS_PER_DAY)),
            at("2027-01-14T14:00:00Z")
        );
    }

    #[test]
    fn out_of_hours_a_target_starts_at_the_next_opening() {
        let saturday = at("2027-01-16T10:00:00Z");
        assert_eq!(
            paris().add(saturday, SignedDuration::from_mins(30)),
            at("2027-01-18T08:30:00Z")
        );
    }

    #[test]
    fn business_time_between_counts_only_open_hours() {
        // Friday 16:00 to Monday 11:00 Paris: 2 h Friday + 2 h Monday
        let from = at("2027-01-15T15:00:00Z");
        let to = at("2027-01-18T10:00:00Z");
        assert_eq!(paris().between(from, to), hours(4));
        assert_eq!(paris().between(to, from), SignedDuration::ZERO);
        // Adding what was paused moves a due time by as much business time
        let due = paris().add(from, hours(8));
        let paused = hours(3);
        assert_eq!(
            paris().between(from, paris().add(due, paused)),
            hours(8) + paused
        );
    }

    #[test]
    fn a_country_without_a_holiday_list_keeps_weekends_only() {
        let us = BusinessHours::new(
            TimeZone::get("America/New_York").unwrap(),
            Country::parse("US").unwrap(),
        );
        assert!(us.is_business_day(date(2027, 3, 29)));
        assert!(!us.is_business_day(date(2027, 3, 27)));
    }
}
