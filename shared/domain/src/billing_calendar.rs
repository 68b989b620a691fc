//! Billing periods (billing.md, "Time" and "Billing period"): local calendar dates in the
//! account's time zone, with boundaries computed from the anchor day each month, never from
//! the previous boundary, so a short February does not drag later periods to the 28th.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Deserializer, Serialize};

use crate::values::ValueError;

/// The day of month periods start on: the local day of signup, or 1 in calendar mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct AnchorDay(u8);

impl AnchorDay {
    /// Calendar-month billing: periods run from the 1st to the 1st.
    pub const FIRST: AnchorDay = AnchorDay(1);

    pub fn new(day: u8) -> Result<Self, ValueError> {
        if (1..=31).contains(&day) {
            Ok(Self(day))
        } else {
            Err(ValueError::OutOfRange { min: 1, max: 31 })
        }
    }

    /// The anchor of an account that signed up on the local date `signup`.
    pub fn of(signup: Date) -> Self {
        Self(signup.day().unsigned_abs())
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl<'de> Deserialize<'de> for AnchorDay {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        AnchorDay::new(u8::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// A billing period's end did not come after its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a billing period must end after it starts (got {start} to {end})")]
pub struct EmptyPeriod {
    pub start: Date,
    pub end: Date,
}

/// Local dates from `start` (inclusive) to `end` (exclusive; the next period's start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawPeriod")]
pub struct BillingPeriod {
    start: Date,
    end: Date,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeriod {
    start: Date,
    end: Date,
}

impl TryFrom<RawPeriod> for BillingPeriod {
    type Error = EmptyPeriod;

    fn try_from(raw: RawPeriod) -> Result<Self, EmptyPeriod> {
        BillingPeriod::new(raw.start, raw.end)
    }
}

impl BillingPeriod {
    pub fn new(start: Date, end: Date) -> Result<Self, EmptyPeriod> {
        if end > start {
            Ok(Self { start, end })
        } else {
            Err(EmptyPeriod { start, end })
        }
    }

    /// Only the last day jiff can represent, 9999-12-31, would make `start == end`; the
    /// period is then cut to end on that day rather than panic.
    fn saturating(start: Date, end: Date) -> Self {
        let start = start.min(end.saturating_sub(1.day()));
        Self { start, end }
    }

    pub fn start(&self) -> Date {
        self.start
    }

    /// The first day after the period: the next period's start and billing date.
    pub fn end(&self) -> Date {
        self.end
    }

    /// `end - start` in days: Dec 12 to Jan 12 is 31.
    pub fn days(&self) -> i32 {
        (self.end - self.start).get_days()
    }

    /// The days a full month of this period counts, the base of its proration: its length,
    /// except for a calendar stub (it ends on a 1st but starts on another day), prorated over
    /// its month's length: Dec 12 to Jan 1 counts 20 days of 31.
    pub fn basis_days(&self) -> i32 {
        if self.end.day() == 1 && self.start.day() != 1 {
            i32::from(self.start.days_in_month())
        } else {
            self.days()
        }
    }

    /// The share of a month this period is: `None` for a full one, 20/31 for a stub.
    pub fn share(&self) -> Option<crate::proration::Proration> {
        let (days, basis) = (self.days(), self.basis_days());
        if days == basis {
            return None;
        }
        crate::proration::Proration::new(days.unsigned_abs(), basis.unsigned_abs()).ok()
    }

    pub fn contains(&self, date: Date) -> bool {
        self.start <= date && date < self.end
    }

    /// The period after this one, for an account with `anchor`.
    pub fn following(&self, anchor: AnchorDay) -> BillingPeriod {
        period_containing(anchor, self.end)
    }
}

/// The period boundary in `month` of `year`: the anchor day, clamped to the month's length
/// (anchor 31 gives Feb 28, Apr 30). A month outside 1..=12 rolls into the adjacent years
/// (13 is January of the next year), so callers can add and subtract months freely; years
/// beyond jiff's range (-9999..=9999) saturate to its first or last date.
pub fn boundary(anchor: AnchorDay, year: i16, month: i8) -> Date {
    let months = i32::from(year) * 12 + i32::from(month) - 1;
    let (year, month) = (months.div_euclid(12), months.rem_euclid(12) + 1);
    match clamped_date(year, month, anchor) {
        Some(date) => date,
        None if year < 0 => Date::MIN,
        None => Date::MAX,
    }
}

fn clamped_date(year: i32, month: i32, anchor: AnchorDay) -> Option<Date> {
    let year = i16::try_from(year).ok()?;
    let month = i8::try_from(month).ok()?;
    let first = Date::new(year, month, 1).ok()?;
    let day = first.days_in_month().min(i8::try_from(anchor.get()).ok()?);
    Date::new(year, month, day).ok()
}

/// The billing period that `date` falls in, for an account with `anchor`.
pub fn period_containing(anchor: AnchorDay, date: Date) -> BillingPeriod {
    let (year, month) = (date.year(), date.month());
    let this_month = boundary(anchor, year, month);
    if date >= this_month {
        BillingPeriod::saturating(this_month, boundary(anchor, year, month + 1))
    } else {
        BillingPeriod::saturating(boundary(anchor, year, month - 1), this_month)
    }
}

/// How an account's periods are laid out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BillingMode {
    /// From the signup day of month to the same day next month.
    #[default]
    Anniversary,
    /// From the 1st to the 1st, after a stub period (see [`calendar_stub`]).
    Calendar,
}

impl BillingMode {
    /// The anchor periods follow: the signup anchor, or the 1st in calendar mode.
    pub fn anchor(self, signup_anchor: AnchorDay) -> AnchorDay {
        match self {
            Self::Anniversary => signup_anchor,
            Self::Calendar => AnchorDay::FIRST,
        }
    }
}

/// The stub an account switching to calendar months is billed on its next billing date:
/// from that date to the 1st of the following month (Dec 12 to Jan 1).
pub fn calendar_stub(billing_date: Date) -> BillingPeriod {
    let next_first = boundary(
        AnchorDay::FIRST,
        billing_date.year(),
        billing_date.month() + 1,
    );
    BillingPeriod::saturating(billing_date, next_first)
}

/// How an account's periods fall: on its anchor day and, from `calendar_from` on (a billing
/// date of the anchor), on calendar months after a stub (billing.md "Calendar-month billing").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar {
    anchor: AnchorDay,
    calendar_from: Option<Date>,
}

impl Calendar {
    pub fn new(anchor: AnchorDay, calendar_from: Option<Date>) -> Self {
        Self {
            anchor,
            calendar_from,
        }
    }

    /// Anniversary periods only.
    pub fn anniversary(anchor: AnchorDay) -> Self {
        Self::new(anchor, None)
    }

    /// The mode and anchor day in force on `day`.
    pub fn mode_on(&self, day: Date) -> (BillingMode, AnchorDay) {
        match self.calendar_from {
            Some(from) if day >= from => (BillingMode::Calendar, AnchorDay::FIRST),
            _ => (BillingMode::Anniversary, self.anchor),
        }
    }

    /// The date calendar months start from, once asked for.
    pub fn calendar_from(&self) -> Option<Date> {
        self.calendar_from
    }

    /// The billing period `date` falls in: before the switch an anchor period (the last one
    /// ends on the switch date), then the stub up to the next 1st, then calendar months.
    pub fn period_containing(&self, date: Date) -> BillingPeriod {
        match self.calendar_from {
            Some(from) if date >= from => {
                let month = period_containing(AnchorDay::FIRST, date);
                if month.contains(from) && from != month.start() {
                    calendar_stub(from)
                } else {
                    month
                }
            }
            _ => period_containing(self.anchor, date),
        }
    }

    /// The period after `period`.
    pub fn following(&self, period: &BillingPeriod) -> BillingPeriod {
        self.period_containing(period.end())
    }
}

/// Whether the renewal at the end of `period` is locked on `today`: from local midnight
/// starting the day before the billing date (billing.md "The 2-day cut-off").
pub fn is_locked(period: &BillingPeriod, today: Date) -> bool {
    period
        .end()
        .yesterday()
        .is_ok_and(|lock_day| today >= lock_day)
}

/// Whether a change made on `changed` counts in the renewal on `billing_date`: it must have
/// been made on `billing_date - 2` or earlier.
pub fn counts_in_renewal(changed: Date, billing_date: Date) -> bool {
    billing_date
        .checked_sub(jiff::ToSpan::days(2))
        .is_ok_and(|cutoff| changed <= cutoff)
}

/// The local calendar date of instant `at` in `tz`: a change "happens" on that date.
pub fn local_date(at: Timestamp, tz: &TimeZone) -> Date {
    at.to_zoned(tz.clone()).date()
}

/// The instant the local day `date` starts in `tz`. Where a DST change skips midnight, the
/// day starts at the first instant after the gap. Saturates at jiff's range ends.
pub fn local_midnight(date: Date, tz: &TimeZone) -> Timestamp {
    match date.to_zoned(tz.clone()) {
        Ok(zoned) => zoned.timestamp(),
        Err(_) if date.year() < 0 => Timestamp::MIN,
        Err(_) => Timestamp::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn paris() -> TimeZone {
        TimeZone::get("Europe/Paris").unwrap()
    }

    fn anchor(day: u8) -> AnchorDay {
        AnchorDay::new(day).unwrap()
    }

    #[test]
    fn calendar_alignment_bills_a_stub_to_the_1st_then_calendar_months() {
        // GIVEN an account anchored on the 12th that asked on 2026-11-20 for calendar months
        let calendar = Calendar::new(anchor(12), Some(date(2026, 12, 12)));
        // WHEN its periods are laid out
        let now = calendar.period_containing(date(2026, 11, 20));
        let stub = calendar.following(&now);
        let next = calendar.following(&stub);
        // THEN the current period is unchanged, the stub runs Dec 12 - Jan 1 and counts
        // 20 days of December's 31, then months run from the 1st
        assert_eq!(
            (now.start(), now.end()),
            (date(2026, 11, 12), date(2026, 12, 12))
        );
        assert_eq!(
            (stub.start(), stub.end()),
            (date(2026, 12, 12), date(2027, 1, 1))
        );
        assert_eq!(stub.share().map(|p| p.to_string()), Some("20/31".into()));
        assert_eq!(
            (next.start(), next.end()),
            (date(2027, 1, 1), date(2027, 2, 1))
        );
        assert_eq!(next.share(), None);
        assert_eq!(calendar.period_containing(date(2026, 12, 31)), stub);
        assert_eq!(
            calendar.mode_on(date(2026, 12, 12)),
            (BillingMode::Calendar, AnchorDay::FIRST)
        );
        assert_eq!(
            calendar.mode_on(date(2026, 12, 11)),
            (BillingMode::Anniversary, anchor(12))
        );
    }

    #[test]
    fn an_anchor_on_the_1st_switches_without_a_stub() {
        let calendar = Calendar::new(anchor(1), Some(date(2027, 1, 1)));
        let period = calendar.period_containing(date(2027, 1, 1));
        assert_eq!(
            (period.start(), period.end()),
            (date(2027, 1, 1), date(2027, 2, 1))
        );
    }

    #[test]
    fn full_periods_of_any_anchor_are_never_shares() {
        // An anchor period ending on the 1st starts on the 1st: only stubs are shares.
        for day in 1..=31 {
            let calendar = Calendar::anniversary(anchor(day));
            let mut period = calendar.period_containing(date(2027, 1, 15));
            for _ in 0..24 {
                assert_eq!(period.share(), None, "anchor {day}, {period:?}");
                period = calendar.following(&period);
            }
        }
    }

    #[test]
    fn signup_on_jan_31_bills_on_the_last_day_of_shorter_months() {
        // GIVEN an account that signed up on 2027-01-31
        let anchor = AnchorDay::of(date(2027, 1, 31));
        // WHEN its boundaries are laid out
        let boundaries: Vec<Date> = (1..=5).map(|month| boundary(anchor, 2027, month)).collect();
        // THEN each comes from the anchor, never from the previous boundary
        let expected = [
            date(2027, 1, 31),
            date(2027, 2, 28),
            date(2027, 3, 31),
            date(2027, 4, 30),
            date(2027, 5, 31),
        ];
        assert_eq!(boundaries, expected);
    }

    #[test]
    fn periods_after_a_short_february_return_to_the_anchor_day() {
        let anchor = anchor(31);
        let february = period_containing(anchor, date(2027, 3, 1));
        assert_eq!(
            (february.start(), february.end()),
            (date(2027, 2, 28), date(2027, 3, 31))
        );
        assert_eq!(february.following(anchor).end(), date(2027, 4, 30));
    }

    #[test]
    fn dec_12_to_jan_12_is_31_days() {
        let period = period_containing(anchor(12), date(2026, 12, 20));
        assert_eq!(period.start(), date(2026, 12, 12));
        assert_eq!(period.end(), date(2027, 1, 12));
        assert_eq!(period.days(), 31);
    }

    #[test]
    fn a_period_includes_its_start_and_excludes_its_end() {
        let period = BillingPeriod::new(date(2026, 12, 12), date(2027, 1, 12)).unwrap();
        assert!(period.contains(date(2026, 12, 12)));
        assert!(period.contains(date(2027, 1, 11)));
        assert!(!period.contains(date(2027, 1, 12)));
        assert_eq!(
            period_containing(anchor(12), date(2027, 1, 12)).start(),
            date(2027, 1, 12)
        );
    }

    #[test]
    fn a_period_must_end_after_it_starts() {
        let day = date(2026, 12, 12);
        assert_eq!(
            BillingPeriod::new(day, day),
            Err(EmptyPeriod {
                start: day,
                end: day
            })
        );
        assert!(BillingPeriod::new(day, date(2026, 12, 11)).is_err());
        let json = r#"{"start":"2027-01-12","end":"2026-12-12"}"#;
        assert!(serde_json::from_str::<BillingPeriod>(json).is_err());
    }

    #[test]
    fn a_period_is_written_as_two_iso_dates() {
        let period = BillingPeriod::new(date(2026, 12, 12), date(2027, 1, 12)).unwrap();
        let json = serde_json::to_string(&period).unwrap();
        assert_eq!(json, r#"{"start":"2026-12-12","end":"2027-01-12"}"#);
        assert_eq!(
            serde_json::from_str::<BillingPeriod>(&json).unwrap(),
            period
        );
    }

    #[test]
    fn the_anchor_day_is_between_1_and_31() {
        assert!(AnchorDay::new(0).is_err());
        assert!(AnchorDay::new(32).is_err());
        assert_eq!(AnchorDay::new(31).map(AnchorDay::get), Ok(31));
        assert!(serde_json::from_str::<AnchorDay>("32").is_err());
    }

    #[test]
    fn months_outside_1_to_12_roll_into_the_adjacent_years() {
        assert_eq!(boundary(anchor(12), 2026, 13), date(2027, 1, 12));
        assert_eq!(boundary(anchor(31), 2027, 0), date(2026, 12, 31));
        assert_eq!(boundary(anchor(29), 2028, 2), date(2028, 2, 29));
    }

    #[test]
    fn switching_to_calendar_months_bills_a_stub_to_the_first() {
        // GIVEN anchor 12 and a switch requested during Nov 12 - Dec 12
        // WHEN the Dec 12 renewal is drafted
        let stub = calendar_stub(date(2026, 12, 12));
        // THEN it covers Dec 12 - Jan 1, 20 days, then periods run from the 1st
        assert_eq!(
            (stub.start(), stub.end()),
            (date(2026, 12, 12), date(2027, 1, 1))
        );
        assert_eq!(stub.days(), 20);
        let next = stub.following(BillingMode::Calendar.anchor(anchor(12)));
        assert_eq!(
            (next.start(), next.end()),
            (date(2027, 1, 1), date(2027, 2, 1))
        );
    }

    #[test]
    fn billing_modes_are_written_in_snake_case() {
        let json = serde_json::to_string(&[BillingMode::Anniversary, BillingMode::Calendar]);
        assert_eq!(json.unwrap(), r#"["anniversary","calendar"]"#);
        assert_eq!(BillingMode::Anniversary.anchor(anchor(12)), anchor(12));
    }

    #[test]
    fn a_change_at_2330_utc_on_dec_19_happens_on_dec_20_in_paris() {
        let at: Timestamp = "2026-12-19T23:30:00Z".parse().unwrap();
        assert_eq!(local_date(at, &paris()), date(2026, 12, 20));
        assert_eq!(local_date(at, &TimeZone::UTC), date(2026, 12, 19));
    }

    #[test]
    fn local_midnight_is_the_start_of_the_local_day() {
        let lock = local_midnight(date(2027, 1, 11), &paris());
        assert_eq!(lock, "2027-01-10T23:00:00Z".parse::<Timestamp>().unwrap());
        // Summer time: Paris is UTC+2.
        let summer = local_midnight(date(2027, 7, 1), &paris());
        assert_eq!(summer, "2027-06-30T22:00:00Z".parse::<Timestamp>().unwrap());
    }

    #[test]
    fn where_dst_skips_midnight_the_day_starts_after_the_gap() {
        // São Paulo moved its clocks from 00:00 to 01:00 on 2018-11-04.
        let sao_paulo = TimeZone::get("America/Sao_Paulo").unwrap();
        let start = local_midnight(date(2018, 11, 4), &sao_paulo);
        assert_eq!(start, "2018-11-04T03:00:00Z".parse::<Timestamp>().unwrap());
        assert_eq!(local_date(start, &sao_paulo), date(2018, 11, 4));
    }

    #[test]
    fn the_last_representable_dates_do_not_panic() {
        let last = period_containing(anchor(31), Date::MAX);
        assert!(last.end() > last.start());
        assert_eq!(period_containing(anchor(1), Date::MIN).start(), Date::MIN);
        assert_eq!(calendar_stub(date(9999, 12, 15)).end(), Date::MAX);
        assert_eq!(local_midnight(Date::MAX, &paris()), Timestamp::MAX);
    }
}

#[cfg(test)]
mod cut_off_tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn the_jan_12_renewal_locks_at_midnight_starting_jan_11() {
        let period = BillingPeriod::new(date(2026, 12, 12), date(2027, 1, 12)).unwrap();
        assert!(!is_locked(&period, date(2027, 1, 10)));
        assert!(is_locked(&period, date(2027, 1, 11)));
    }

    #[test]
    fn changes_up_to_jan_10_count_in_the_jan_12_renewal() {
        assert!(counts_in_renewal(date(2027, 1, 10), date(2027, 1, 12)));
        assert!(!counts_in_renewal(date(2027, 1, 11), date(2027, 1, 12)));
    }
}
