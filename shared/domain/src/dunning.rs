//! Failed renewals (billing.md "Payment"): the invoice stays open, the account is past due and
//! the charge is retried 1, 3 and 5 days after the first failure; after the last one fails the
//! account is suspended. A new card retries every open invoice at once, and never suspends;
//! once every open invoice is paid the account is active again.

use jiff::ToSpan;
use jiff::civil::Date;

use crate::account::AccountStatus;

/// Days after the first failure on which the charge is retried; the last one decides.
pub const RETRY_DAYS: [i64; 3] = [1, 3, 5];

/// The local dates the retries of an account past due since `since` fall on.
pub fn retry_dates(since: Date) -> Vec<Date> {
    RETRY_DAYS
        .iter()
        .filter_map(|d| since.checked_add(d.days()).ok())
        .collect()
}

/// Whether `today` is the last retry's day or later, for an account past due since `since`.
pub fn is_last_retry(since: Option<Date>, today: Date) -> bool {
    since
        .and_then(|since| retry_dates(since).last().copied())
        .is_some_and(|last| today >= last)
}

/// The retry that follows a charge failed on `today` for an account past due since `since`:
/// the next retry day; `None` when this was the last, which suspends. A new card's attempt
/// (`card_changed`) never suspends: it names the next retry left, if any (`None` then: the
/// suspension already in force).
pub fn next_retry(since: Option<Date>, today: Date, card_changed: bool) -> Option<Date> {
    let next = since
        .map(retry_dates)
        .unwrap_or_default()
        .into_iter()
        .find(|day| *day > today)?;
    (card_changed || !is_last_retry(since, today)).then_some(next)
}

/// How a retry of the open invoices leaves an account now `status`, past due since `since`:
/// active once all are paid; suspended when the last retry fails (never for a new card:
/// `card_changed`); as it was otherwise.
pub fn standing(
    status: AccountStatus,
    since: Option<Date>,
    today: Date,
    all_paid: bool,
    card_changed: bool,
) -> AccountStatus {
    if all_paid {
        AccountStatus::Active
    } else if !card_changed && is_last_retry(since, today) {
        AccountStatus::Suspended
    } else {
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn a_renewal_failed_on_jan_12_is_retried_on_the_13th_15th_and_17th() {
        assert_eq!(
            retry_dates(date(2027, 1, 12)),
            vec![date(2027, 1, 13), date(2027, 1, 15), date(2027, 1, 17)]
        );
    }

    #[test]
    fn each_failure_names_the_next_retry_and_the_last_none() {
        let since = Some(date(2027, 1, 12));
        assert_eq!(
            next_retry(since, date(2027, 1, 12), false),
            Some(date(2027, 1, 13))
        );
        assert_eq!(
            next_retry(since, date(2027, 1, 13), false),
            Some(date(2027, 1, 15))
        );
        assert_eq!(
            next_retry(since, date(2027, 1, 15), false),
            Some(date(2027, 1, 17))
        );
        assert_eq!(next_retry(since, date(2027, 1, 17), false), None);
        // a new card refused on the 14th: the retry of the 15th still comes
        assert_eq!(
            next_retry(since, date(2027, 1, 14), true),
            Some(date(2027, 1, 15))
        );
        assert_eq!(next_retry(since, date(2027, 1, 20), true), None);
    }

    #[test]
    fn the_last_retry_failing_suspends_unless_a_new_card_was_tried() {
        let since = Some(date(2027, 1, 12));
        let past_due = AccountStatus::PastDue;
        // GIVEN an account past due since 12 January
        assert_eq!(
            standing(past_due, since, date(2027, 1, 15), false, false),
            past_due
        );
        assert_eq!(
            standing(past_due, since, date(2027, 1, 17), false, false),
            AccountStatus::Suspended
        );
        assert_eq!(
            standing(past_due, since, date(2027, 1, 17), false, true),
            past_due
        );
        assert_eq!(
            standing(
                AccountStatus::Suspended,
                since,
                date(2027, 1, 20),
                true,
                true
            ),
            AccountStatus::Active
        );
    }
}
