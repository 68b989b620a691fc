//! The subscription's own changes, by its admin (billing.md "Billing period", "Calendar-month
//! billing", "Account closure"): the settings (auto-renew, language, time zone, where invoices
//! go), the move to calendar months, and the closure's date. Pure: the use cases
//! (`softbrik_app::subscription`) read the account, and store what these decide.

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde_json::json;

use crate::account::{Account, AccountKind, AccountStatus};
use crate::billing_calendar::{AnchorDay, Calendar, is_locked};
use crate::refusal::Refusal;
use crate::values::{EmailAddress, Language, TimeZoneName};

/// Days of notice before the next billing date for a closure to take effect on it.
pub const NOTICE_DAYS: i32 = 14;

/// How long issued invoices and credit notes are kept after closure (billing.md).
pub const RETENTION_YEARS: i16 = 10;

/// Whether `account` is to be deleted on `today`: closing or closed, its closure date come.
pub fn closure_due(account: &Account, today: Date) -> bool {
    matches!(
        account.status,
        AccountStatus::Closing | AccountStatus::Closed
    ) && account.closure_date.is_some_and(|date| date <= today)
}

/// Until when an invoice of an account closed on `today` is kept: 10 years.
pub fn retained_until(today: Date) -> Date {
    today.saturating_add(jiff::Span::new().years(RETENTION_YEARS))
}

/// The settings an admin changes (`PUT /account/settings`): each `None` is left as it is.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub auto_renew: Option<bool>,
    pub language: Option<Language>,
    pub timezone: Option<TimeZoneName>,
    /// Where invoices go: `Some(None)` sends them to the admin again.
    pub invoice_email: Option<Option<EmailAddress>>,
}

/// What a settings change does.
#[derive(Debug, Clone)]
pub struct SettingsChange {
    pub account: Account,
    /// What the history says, in order: (action, details).
    pub history: Vec<(&'static str, serde_json::Value)>,
    /// A lapsed account turned back on: a new period starting on this date, renewed at once
    /// (none for a reseller, who pays at the end of its periods).
    pub renew_on: Option<Date>,
    /// A new calendar from now (a lapsed account turned back on).
    pub restart: bool,
    /// Its time zone, and so its midnight, moved.
    pub moved_zone: bool,
}

/// `settings` applied to `account` at `now`. Turning auto-renew off ends the subscription
/// with the period (reversible until then), refused while a reseller has clients
/// (`has_clients`: their service would go on with nobody billed); turning it on again for a
/// lapsed account starts a new subscription today, anchored on today like a signup.
pub fn change_settings(
    account: &Account,
    settings: Settings,
    now: Timestamp,
    has_clients: bool,
) -> Result<SettingsChange, Refusal> {
    if settings.auto_renew.is_some() {
        account.require_own_billing()?;
    }
    let mut next = account.clone();
    let mut history = Vec::new();
    if let Some(language) = settings.language {
        next.language = language;
        history.push(("language_changed", json!({"language": language})));
    }
    let moved_zone = settings.timezone.is_some();
    if let Some(timezone) = settings.timezone {
        history.push(("timezone_changed", json!({"timezone": timezone.as_str()})));
        next.timezone = timezone;
    }
    if let Some(email) = settings.invoice_email {
        next.invoice_email = email;
        history.push(("invoice_email_changed", json!({})));
    }
    let today = next.local_date(now);
    let mut renew_on = None;
    let mut restart = false;
    match settings.auto_renew {
        Some(false) if next.auto_renew => {
            if has_clients {
                return Err(Refusal::ResellerHasClients(
                    "a reseller keeps renewing while it has client accounts",
                ));
            }
            next.auto_renew = false;
            history.push((
                "auto_renew_off",
                json!({"ends_on": next.current_period(now).end()}),
            ));
        }
        Some(true) if !next.auto_renew => {
            next.auto_renew = true;
            if next.status == AccountStatus::Lapsed {
                next.status = AccountStatus::Active;
                next.anchor_day = AnchorDay::of(today);
                next.calendar_from = None;
                restart = true;
                if next.kind != AccountKind::Reseller {
                    renew_on = Some(today);
                }
            }
            history.push(("auto_renew_on", json!({"renewed_from": renew_on})));
        }
        _ => {}
    }
    Ok(SettingsChange {
        account: next,
        history,
        renew_on,
        restart,
        moved_zone,
    })
}

/// What asking for calendar-month billing does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alignment {
    /// Already on calendar months (or anchored on the 1st) since this date: nothing changes.
    Already(Date),
    /// Calendar months from this date: the end of the current period, or of the next one
    /// when asked after the cut-off (that period is locked and already paid for by additions
    /// made since); that renewal covers a stub to the next 1st.
    From(Date),
}

/// Calendar-month billing for `account`, asked at `now`.
pub fn align_calendar(account: &Account, now: Timestamp) -> Result<Alignment, Refusal> {
    account.require_own_billing()?;
    if let Some(from) = account.calendar_from {
        return Ok(Alignment::Already(from));
    }
    let period = account.current_period(now);
    if account.anchor_day == AnchorDay::FIRST {
        return Ok(Alignment::Already(period.start()));
    }
    if matches!(
        account.status,
        AccountStatus::Closing | AccountStatus::Closed
    ) {
        return Err(Refusal::AccountClosing);
    }
    let today = account.local_date(now);
    Ok(Alignment::From(if is_locked(&period, today) {
        account.calendar().following(&period).end()
    } else {
        period.end()
    }))
}

/// The date a closure asked for on `today` takes effect: the next billing date with 14 days'
/// notice, otherwise the billing date after it.
pub fn closure_date(calendar: &Calendar, today: Date) -> Date {
    let period = calendar.period_containing(today);
    let next_billing = period.end();
    if today.saturating_add(NOTICE_DAYS.days()) <= next_billing {
        next_billing
    } else {
        calendar.following(&period).end()
    }
}

/// The admin's closure request on `today` (`has_clients`: a reseller's clients still
/// served): the account as `closing`, and its closure date. A lapsed account, whose paid
/// period has ended, closes tonight. A second request is refused: the first one stands.
pub fn request_closure(
    account: &Account,
    today: Date,
    has_clients: bool,
) -> Result<(Account, Date), Refusal> {
    account.require_own_billing()?;
    if has_clients {
        return Err(Refusal::ResellerHasClients(
            "a reseller closes once it has no client accounts left",
        ));
    }
    if let Some(date) = account.closure_date {
        return Err(Refusal::ClosureAlreadyRequested(date));
    }
    let effective = match account.status {
        AccountStatus::Lapsed => today.tomorrow().unwrap_or(today),
        _ => closure_date(&account.calendar(), today),
    };
    let mut closing = account.clone();
    closing.status = AccountStatus::Closing;
    closing.closure_date = Some(effective);
    Ok((closing, effective))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn anchored_12th() -> Calendar {
        Calendar::anniversary(AnchorDay::new(12).unwrap())
    }

    fn dupont() -> Account {
        crate::examples::company(date(2026, 12, 12))
    }

    fn noon(day: Date) -> Timestamp {
        day.at(12, 0, 0, 0)
            .in_tz("Europe/Paris")
            .unwrap()
            .timestamp()
    }

    #[test]
    fn fourteen_days_before_the_billing_date_closes_on_it() {
        assert_eq!(
            closure_date(&anchored_12th(), date(2026, 12, 29)),
            date(2027, 1, 12)
        );
    }

    #[test]
    fn thirteen_days_before_closes_a_period_later() {
        assert_eq!(
            closure_date(&anchored_12th(), date(2026, 12, 30)),
            date(2027, 2, 12)
        );
    }

    #[test]
    fn on_the_billing_date_itself_the_notice_runs_from_the_new_period() {
        // Jan 12 is the first day of the period ending Feb 12: 31 days' notice.
        assert_eq!(
            closure_date(&anchored_12th(), date(2027, 1, 12)),
            date(2027, 2, 12)
        );
    }

    #[test]
    fn a_short_february_still_needs_fourteen_days() {
        let calendar = Calendar::anniversary(AnchorDay::new(31).unwrap());
        // Period Jan 31 - Feb 28: Feb 14 is exactly 14 days before.
        assert_eq!(
            closure_date(&calendar, date(2027, 2, 14)),
            date(2027, 2, 28)
        );
        assert_eq!(
            closure_date(&calendar, date(2027, 2, 15)),
            date(2027, 3, 31)
        );
    }

    #[test]
    fn a_lapsed_account_turned_back_on_starts_a_new_subscription_today() {
        let mut lapsed = dupont();
        lapsed.auto_renew = false;
        lapsed.status = AccountStatus::Lapsed;
        let on = Settings {
            auto_renew: Some(true),
            ..Settings::default()
        };
        let change = change_settings(&lapsed, on, noon(date(2027, 2, 3)), false).unwrap();
        assert_eq!(change.account.status, AccountStatus::Active);
        assert_eq!(change.account.anchor_day, AnchorDay::new(3).unwrap());
        assert_eq!(change.renew_on, Some(date(2027, 2, 3)));
        assert!(change.restart);
        assert_eq!(change.history[0].0, "auto_renew_on");
    }

    #[test]
    fn auto_renew_off_ends_with_the_period_unless_a_reseller_has_clients() {
        let off = Settings {
            auto_renew: Some(false),
            ..Settings::default()
        };
        let now = noon(date(2026, 12, 20));
        let change = change_settings(&dupont(), off.clone(), now, false).unwrap();
        assert!(!change.account.auto_renew);
        assert_eq!(
            change.history,
            vec![("auto_renew_off", json!({"ends_on": date(2027, 1, 12)}))]
        );
        assert!(matches!(
            change_settings(&dupont(), off, now, true),
            Err(Refusal::ResellerHasClients(_))
        ));
    }

    #[test]
    fn calendar_months_start_after_the_period_or_the_next_one_after_the_cut_off() {
        let account = dupont();
        assert_eq!(
            align_calendar(&account, noon(date(2026, 12, 20))),
            Ok(Alignment::From(date(2027, 1, 12)))
        );
        assert_eq!(
            align_calendar(&account, noon(date(2027, 1, 11))),
            Ok(Alignment::From(date(2027, 2, 12)))
        );
        let mut aligned = account.clone();
        aligned.calendar_from = Some(date(2027, 1, 12));
        assert_eq!(
            align_calendar(&aligned, noon(date(2026, 12, 20))),
            Ok(Alignment::Already(date(2027, 1, 12)))
        );
    }

    #[test]
    fn an_account_is_deleted_from_its_closure_date_and_its_invoices_kept_ten_years() {
        let (closing, on) = request_closure(&dupont(), date(2026, 12, 20), false).unwrap();
        assert!(!closure_due(&closing, date(2027, 1, 11)));
        assert!(closure_due(&closing, on));
        assert!(!closure_due(&dupont(), on), "not closing");
        assert_eq!(retained_until(on), date(2037, 1, 12));
    }

    #[test]
    fn a_closure_is_asked_once_and_a_lapsed_account_closes_tonight() {
        let (closing, on) = request_closure(&dupont(), date(2026, 12, 20), false).unwrap();
        assert_eq!(
            (closing.status, on),
            (AccountStatus::Closing, date(2027, 1, 12))
        );
        assert_eq!(
            request_closure(&closing, date(2026, 12, 21), false).unwrap_err(),
            Refusal::ClosureAlreadyRequested(date(2027, 1, 12))
        );
        let mut lapsed = dupont();
        lapsed.status = AccountStatus::Lapsed;
        let (_, on) = request_closure(&lapsed, date(2027, 2, 3), false).unwrap();
        assert_eq!(on, date(2027, 2, 4));
    }
}
