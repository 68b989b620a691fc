//! Closing an account (billing.md "Account closure"): only the admin, only at the end of a
//! period, with 14 days' notice before the next billing date (otherwise at the end of the
//! following period); irreversible; confirmed by email. Until its closure date the account is
//! `closing`: it is still served and, when the closure falls a period later, still renewed
//! once; on that date nothing is renewed.
//!
//! Turning auto-renew off is not closure: it only stops renewals and keeps everything
//! (`renewal::lapse`); closure ends the company's subscription for good.

use jiff::ToSpan;
use jiff::civil::Date;
use serde::Deserialize;

use crate::account::{Account, AccountStatus, HistoryEntry};
use crate::app::App;
use crate::billing_calendar::Calendar;
use crate::error::Error;
use crate::http::Identity;
use crate::store::{AccountItem, HistoryItem};
use crate::values::Language;

/// Days of notice before the next billing date for a closure to take effect on it.
pub const NOTICE_DAYS: i32 = 14;

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

/// `POST /account/closure` as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosureBody {
    pub confirm: bool,
}

/// Records the admin's closure request: `closing` until `effective_date`, a history entry,
/// and the confirmation email. A second request is refused (409): the first one stands.
pub async fn request_closure(
    app: &App,
    caller: &Identity,
    body: ClosureBody,
) -> Result<serde_json::Value, Error> {
    let account_id = caller.require_admin()?;
    if !body.confirm {
        return Err(Error::validation(
            "confirm",
            "confirmation_required",
            "closing the account is irreversible: send {\"confirm\": true}",
        ));
    }
    let (item, key) = app.account_item(account_id).await?;
    let mut account = item.open(&key)?;
    if let Some(date) = account.closure_date {
        return Err(Error::Conflict(
            "closure_already_requested",
            format!("the account already closes on {date}"),
        ));
    }
    if account.status == AccountStatus::Closed {
        return Err(Error::NotFound);
    }
    let now = app.clock(account.test_clock_id.as_deref()).await?.now();
    let today = account.local_date(now);
    let effective = match account.status {
        // Nothing renews any more: the period it paid for has ended.
        AccountStatus::Lapsed => today,
        _ => closure_date(&account.calendar(), today),
    };
    account.status = AccountStatus::Closing;
    account.closure_date = Some(effective);
    let mut updated = AccountItem::seal(&account, &key, item.data_key.clone())?;
    updated.past_due_since = item.past_due_since;
    updated.version = item.version + 1;
    let entry = HistoryEntry {
        at: now,
        actor: caller.actor(),
        action: "closure_requested".into(),
        details: serde_json::json!({"effective_date": effective}),
    };
    let ops = vec![
        app.store.put_if_version_op(&updated, item.version)?,
        app.store.put_new_op(&HistoryItem::seal(
            account_id,
            &crate::account::new_ordered_id("hst", now),
            &entry,
            &key,
        ))?,
    ];
    app.store.transact(ops).await.map_err(|e| {
        e.into_error(|_| {
            Error::Conflict(
                "concurrent_change",
                "the account changed meanwhile; retry".into(),
            )
        })
    })?;
    tracing::info!(effective_date = %effective, "closure requested");
    confirm_by_email(app, &account, effective).await;
    Ok(serde_json::json!({"status": "closing", "effective_date": effective}))
}

/// The confirmation email; a mail failure does not undo the request (it is logged).
async fn confirm_by_email(app: &App, account: &Account, effective: Date) {
    let (subject, text) = closure_email(account.language, account.company_name.as_str(), effective);
    let mail = crate::mailer::Mail {
        to: account.admin_email.as_str().to_string(),
        subject,
        text,
        auto_submitted: "auto-generated",
        attachments: vec![],
    };
    if let Err(e) = app.mailer.send(&mail).await {
        tracing::error!(error = %e, "closure confirmation not sent");
    }
}

/// Subject and text of the closure confirmation.
pub fn closure_email(lang: Language, company: &str, effective: Date) -> (String, String) {
    let (subject, text) = match lang {
        Language::Fr => (
            "Fermeture de votre compte Softbrik le {date}",
            "Bonjour,\n\nNous confirmons la fermeture du compte de {company}. Elle prendra effet le {date} : aucun renouvellement n'aura lieu à cette date, et toutes les données de l'entreprise seront alors supprimées définitivement. Seules les factures émises sont conservées, chiffrées, pendant la durée légale.\n\nCette demande est irréversible. Pour utiliser à nouveau Softbrik, il faudra créer un nouveau compte.\n",
        ),
        Language::Da => (
            "Lukning af din Softbrik-konto den {date}",
            "Hej,\n\nVi bekræfter lukningen af kontoen for {company}. Den træder i kraft den {date}: der sker ingen fornyelse på den dato, og alle virksomhedens data slettes da endeligt. Kun udstedte fakturaer opbevares, krypteret, i den lovpligtige periode.\n\nAnmodningen kan ikke fortrydes. For at bruge Softbrik igen skal der oprettes en ny konto.\n",
        ),
        Language::En => (
            "Your Softbrik account closes on {date}",
            "Hello,\n\nWe confirm the closure of the account of {company}. It takes effect on {date}: nothing is renewed on that date, and all the company's data is then deleted for good. Only issued invoices are kept, encrypted, for the legal retention period.\n\nThis request cannot be undone. To use Softbrik again, a new account must be created.\n",
        ),
    };
    let fill = |t: &str| {
        t.replace("{date}", &effective.to_string())
            .replace("{company}", company)
    };
    (fill(subject), fill(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing_calendar::AnchorDay;
    use jiff::civil::date;

    fn anchored_12th() -> Calendar {
        Calendar::anniversary(AnchorDay::new(12).unwrap())
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
    fn the_confirmation_speaks_each_language() {
        let (fr, _) = closure_email(Language::Fr, "Dupont", date(2027, 1, 12));
        let (da, _) = closure_email(Language::Da, "Hansen", date(2027, 1, 12));
        let (en, body) = closure_email(Language::En, "Acme", date(2027, 1, 12));
        assert_eq!(fr, "Fermeture de votre compte Softbrik le 2027-01-12");
        assert_eq!(da, "Lukning af din Softbrik-konto den 2027-01-12");
        assert_eq!(en, "Your Softbrik account closes on 2027-01-12");
        assert!(body.contains("Acme"));
    }
}
