//! Scheduled jobs, as instants computed from an account's billing calendar rather than stored:
//! the test clocks run them in time order when they advance (api.md), and the real schedules
//! find the accounts they are due for.
//!
//! Two kinds so far: the end of a billing period (at local midnight of its end date: removals
//! take effect, the next period is renewed), and the reminder a week before it.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::billing_calendar::{Calendar, local_midnight};
use crate::values::TimeZoneName;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// The reminder of the renewal on `date`, 7 days before it (billing.md).
    Reminder,
    /// A billing period ended on `date` (local): removals take effect, the next is renewed.
    PeriodEnd,
    /// A failed renewal payment is retried on `date` (billing.md "Payment").
    PaymentRetry,
    /// The account closes on `date` (billing.md "Account closure"): its data is deleted.
    Closure,
    /// A reseller's count of active users is sampled at local midnight of `date`.
    UsageSample,
}

/// How long before the billing date the reminder goes out.
pub const REMINDER_DAYS: i64 = 7;

/// Every job of an account due in `(after, until]`, in time order.
pub fn due_jobs(
    account_id: &str,
    calendar: &Calendar,
    tz: &TimeZoneName,
    past_due_since: Option<Date>,
    after: Timestamp,
    until: Timestamp,
) -> Vec<Job> {
    let zone = tz.time_zone();
    // Reminders are due a week before period ends, so look a week further for those.
    let horizon = until + jiff::SignedDuration::from_hours(24 * (REMINDER_DAYS + 1));
    let mut jobs = Vec::new();
    for end in period_ends(
        account_id,
        calendar,
        tz,
        after - jiff::SignedDuration::from_hours(24 * (REMINDER_DAYS + 1)),
        horizon,
    ) {
        let Ok(day) = end.date.checked_sub(jiff::ToSpan::days(REMINDER_DAYS)) else {
            continue;
        };
        let at = local_midnight(day, &zone);
        if at > after && at <= until {
            jobs.push(Job {
                at,
                job: JobKind::Reminder,
                account_id: account_id.to_string(),
                date: end.date,
            });
        }
        if end.at > after && end.at <= until {
            jobs.push(end);
        }
    }
    for day in past_due_since
        .map(crate::dunning::retry_dates)
        .unwrap_or_default()
    {
        let at = local_midnight(day, &zone);
        if at > after && at <= until {
            jobs.push(Job {
                at,
                job: JobKind::PaymentRetry,
                account_id: account_id.to_string(),
                date: day,
            });
        }
    }
    jobs.sort();
    jobs
}

/// A reseller's midnight samples in `(after, until]`: one at each local midnight.
pub fn daily_samples(
    account_id: &str,
    tz: &TimeZoneName,
    after: Timestamp,
    until: Timestamp,
) -> Vec<Job> {
    let zone = tz.time_zone();
    let mut day = crate::billing_calendar::local_date(after, &zone);
    let mut jobs = Vec::new();
    loop {
        let at = local_midnight(day, &zone);
        if at > until {
            return jobs;
        }
        if at > after {
            jobs.push(Job {
                at,
                job: JobKind::UsageSample,
                account_id: account_id.to_string(),
                date: day,
            });
        }
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => return jobs,
        }
    }
}

/// One run of a job for one account; the payload a function is invoked with.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Job {
    pub at: Timestamp,
    pub job: JobKind,
    pub account_id: String,
    pub date: Date,
}

/// The period ends of an account whose local midnight falls in `(after, until]`, in order.
pub fn period_ends(
    account_id: &str,
    calendar: &Calendar,
    tz: &TimeZoneName,
    after: Timestamp,
    until: Timestamp,
) -> Vec<Job> {
    let zone = tz.time_zone();
    let mut jobs = Vec::new();
    let first_day = crate::billing_calendar::local_date(after, &zone);
    let mut end = calendar.period_containing(first_day).end();
    loop {
        let at = local_midnight(end, &zone);
        if at > until {
            return jobs;
        }
        if at > after {
            jobs.push(Job {
                at,
                job: JobKind::PeriodEnd,
                account_id: account_id.to_string(),
                date: end,
            });
        }
        end = calendar.period_containing(end).end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing_calendar::AnchorDay;
    use jiff::civil::date;

    fn paris() -> TimeZoneName {
        TimeZoneName::parse("Europe/Paris").unwrap()
    }

    #[test]
    fn the_period_ending_jan_12_ends_at_paris_midnight() {
        // GIVEN an account anchored on the 12th, in Paris
        let calendar = Calendar::anniversary(AnchorDay::new(12).unwrap());
        // WHEN its clock moves from Dec 21 to Jan 12 noon
        let jobs = period_ends(
            "acc",
            &calendar,
            &paris(),
            "2026-12-21T09:00:00Z".parse().unwrap(),
            "2027-01-12T12:00:00Z".parse().unwrap(),
        );
        // THEN one period end runs, at 2027-01-12 00:00 Paris (23:00 UTC the day before)
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].date, date(2027, 1, 12));
        assert_eq!(
            jobs[0].at,
            "2027-01-11T23:00:00Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn a_long_advance_runs_every_period_end_once_in_order() {
        let calendar = Calendar::anniversary(AnchorDay::new(31).unwrap());
        let jobs = period_ends(
            "acc",
            &calendar,
            &paris(),
            "2027-01-31T12:00:00Z".parse().unwrap(),
            "2027-05-31T12:00:00Z".parse().unwrap(),
        );
        let dates: Vec<Date> = jobs.iter().map(|j| j.date).collect();
        assert_eq!(
            dates,
            vec![
                date(2027, 2, 28),
                date(2027, 3, 31),
                date(2027, 4, 30),
                date(2027, 5, 31)
            ]
        );
    }

    #[test]
    fn the_jan_12_renewal_is_reminded_on_jan_5_once() {
        let calendar = Calendar::anniversary(AnchorDay::new(12).unwrap());
        let jobs = due_jobs(
            "acc",
            &calendar,
            &paris(),
            None,
            "2026-12-12T10:00:00Z".parse().unwrap(),
            "2027-01-12T12:00:00Z".parse().unwrap(),
        );
        let kinds: Vec<(JobKind, Date)> = jobs.iter().map(|j| (j.job, j.date)).collect();
        assert_eq!(
            kinds,
            vec![
                (JobKind::Reminder, date(2027, 1, 12)),
                (JobKind::PeriodEnd, date(2027, 1, 12))
            ]
        );
        assert_eq!(
            jobs[0].at,
            "2027-01-04T23:00:00Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn nothing_runs_when_no_period_ends_on_the_way() {
        let calendar = Calendar::anniversary(AnchorDay::new(12).unwrap());
        let jobs = period_ends(
            "acc",
            &calendar,
            &paris(),
            "2026-12-12T10:00:00Z".parse().unwrap(),
            "2026-12-20T09:00:00Z".parse().unwrap(),
        );
        assert!(jobs.is_empty());
    }
}
