//! Whether a period end renews an account (billing.md "Billing period", "Account closure"),
//! and what a company's renewal bills ("What is billed"): on the billing date, one line per
//! Brik for the users holding it that day at the full monthly price (a calendar stub: its share
//! of a month), less the users a seat pack covers, plus the packs themselves. Pure: the use
//! case (`softbrik::renewal`) reads the account, users, packs and catalogue, and lapses,
//! charges and stores as this decides.

use std::collections::BTreeMap;

use jiff::civil::Date;

use crate::account::{
    Account, AccountKind, AccountStatus, Invoice, InvoiceKind, InvoiceStatus, User,
};
use crate::billing_calendar::{BillingPeriod, counts_in_renewal};
use crate::catalogue::Brik;
use crate::invoice::{InvoiceLine, UsagePeak, period_line_description};
use crate::money::Money;
use crate::values::{BrikId, Country};
use crate::vat::vat_treatment;

/// What the end of a period on `date` does about an account's renewal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// The period starting on `date` is renewed: its draft is issued (charged, numbered,
    /// emailed) unless nothing is held.
    Renew,
    /// A reseller is billed for the period that ends on `date` (its clients' peak of users).
    BillReseller,
    /// Auto-renew is off: the subscription ends with the period and the account lapses, its
    /// data kept (not a closure).
    Lapse,
    /// Nothing happens; why, for the log.
    Not(&'static str),
}

/// The renewal decision for `account` on `date`.
pub fn renewal(account: &Account, date: Date) -> Renewal {
    match account.kind {
        AccountKind::Client => return Renewal::Not("billed through its reseller"),
        AccountKind::Reseller => return Renewal::BillReseller,
        AccountKind::Company => {}
    }
    if !renews_on(account, date) {
        return Renewal::Not("account not active");
    }
    if account.calendar().period_containing(date).start() != date {
        return Renewal::Not("not a billing date of this account");
    }
    if !account.auto_renew {
        return Renewal::Lapse;
    }
    Renewal::Renew
}

/// Whether the account is renewed on `date`: active or past due, or closing at a later date
/// (a closure asked for with less than 14 days' notice lets one more renewal happen).
pub fn renews_on(account: &Account, date: Date) -> bool {
    match account.status {
        AccountStatus::Active | AccountStatus::PastDue => true,
        AccountStatus::Closing => account.closure_date.is_some_and(|closes| date < closes),
        AccountStatus::Suspended | AccountStatus::Lapsed | AccountStatus::Closed => false,
    }
}

/// The account after its renewal's card was declined (billing.md "Payment"): past due from
/// the invoice's date, unless already suspended: a suspended reseller is still billed for its
/// clients' period and stays suspended, its retries counted from its first failure.
pub fn declined(
    status: AccountStatus,
    past_due_since: Option<Date>,
    issue_date: Date,
) -> (AccountStatus, Date) {
    match status {
        AccountStatus::Suspended => (status, past_due_since.unwrap_or(issue_date)),
        _ => (AccountStatus::PastDue, issue_date),
    }
}

/// How many users hold each Brik for the period starting on `day`, as the renewal locked it:
/// assignments made after the cut-off were charged for this period when they were made.
pub fn holdings(users: &[User], day: Date) -> BTreeMap<BrikId, u32> {
    let mut held = BTreeMap::new();
    for user in users.iter().filter(|u| u.present_on(day)) {
        for a in user
            .briks
            .iter()
            .filter(|a| a.held_on(day) && counts_in_renewal(a.since, day))
        {
            *held.entry(a.brik_id.clone()).or_insert(0) += 1;
        }
    }
    held
}

/// The renewal draft of the period starting on `billing_date` for `users` as they stand:
/// `pack_lines` and `seats` are the packs' lines and the seats they give (`softbrik::packs`),
/// `issuer` Softbrik's country for VAT. A draft: not numbered, not charged.
#[allow(clippy::too_many_arguments)]
pub fn company_invoice(
    account: &Account,
    users: &[User],
    catalogue: &[Brik],
    pack_lines: Vec<InvoiceLine>,
    seats: &BTreeMap<BrikId, u32>,
    billing_date: Date,
    issuer: &Country,
    id: String,
) -> Invoice {
    let lang = account.language;
    let period = account.calendar().period_containing(billing_date);
    let mut lines: Vec<InvoiceLine> = holdings(users, billing_date)
        .into_iter()
        .map(|(brik_id, quantity)| {
            let covered = seats.get(&brik_id).copied().unwrap_or(0);
            (brik_id, quantity.saturating_sub(covered))
        })
        .filter(|(_, quantity)| *quantity > 0)
        .filter_map(|(brik_id, quantity)| {
            let brik = catalogue.iter().find(|b| b.id == brik_id)?;
            let text = period_line_description(brik.name_in(lang), &period, quantity, lang);
            // A calendar stub is billed as its share of a month (20/31).
            Some(InvoiceLine::new(
                brik_id,
                text,
                quantity,
                brik.monthly_price,
                period.share(),
            ))
        })
        .collect();
    lines.extend(pack_lines);
    let vat = vat_treatment(issuer, &account.country, account.vat_number.as_ref());
    let mut invoice = Invoice::open(id, InvoiceKind::Renewal, billing_date, period, lines, &vat);
    invoice.status = InvoiceStatus::Draft;
    invoice
}

/// A reseller's invoice for `period`, issued on its last day's morrow: one line for its
/// clients' `peak` of active users at `user_price` each (none without a peak above zero).
pub fn usage_invoice(
    account: &Account,
    period: BillingPeriod,
    peak: Option<UsagePeak>,
    user_price: Money,
    issuer: &Country,
    id: String,
) -> Invoice {
    let lines = match peak {
        Some(peak) if peak.max_active_users > 0 => vec![InvoiceLine::for_usage(
            &period,
            peak,
            user_price,
            account.language,
        )],
        _ => Vec::new(),
    };
    let vat = vat_treatment(issuer, &account.country, account.vat_number.as_ref());
    Invoice::open(id, InvoiceKind::Renewal, period.end(), period, lines, &vat)
}

#[cfg(test)]
mod tests {

    use jiff::civil::date;

    use super::*;

    /// A company renewing on the 12th.
    fn company() -> Account {
        crate::examples::company(date(2026, 12, 12))
    }

    #[test]
    fn an_active_or_past_due_company_renews_on_its_billing_date_only() {
        // GIVEN a company renewing on the 12th, active then past due
        for status in [AccountStatus::Active, AccountStatus::PastDue] {
            let account = Account {
                status,
                ..company()
            };
            // WHEN its period ends on Jan 12, or a run meets it on Jan 13
            // THEN Jan 12 renews, Jan 13 does not
            assert_eq!(renewal(&account, date(2027, 1, 12)), Renewal::Renew);
            assert_eq!(
                renewal(&account, date(2027, 1, 13)),
                Renewal::Not("not a billing date of this account")
            );
        }
    }

    #[test]
    fn with_auto_renew_off_the_account_lapses_instead() {
        let account = Account {
            auto_renew: false,
            ..company()
        };
        assert_eq!(renewal(&account, date(2027, 1, 12)), Renewal::Lapse);
    }

    #[test]
    fn a_closing_account_renews_only_before_its_closure_date() {
        // GIVEN a closure asked for with less than 14 days' notice: it takes effect on Feb 12
        let account = Account {
            status: AccountStatus::Closing,
            closure_date: Some(date(2027, 2, 12)),
            ..company()
        };
        // THEN Jan 12 renews once more, Feb 12 does not
        assert_eq!(renewal(&account, date(2027, 1, 12)), Renewal::Renew);
        assert_eq!(
            renewal(&account, date(2027, 2, 12)),
            Renewal::Not("account not active")
        );
    }

    #[test]
    fn suspended_lapsed_and_closed_accounts_are_not_renewed() {
        for status in [
            AccountStatus::Suspended,
            AccountStatus::Lapsed,
            AccountStatus::Closed,
        ] {
            let account = Account {
                status,
                ..company()
            };
            assert_eq!(
                renewal(&account, date(2027, 1, 12)),
                Renewal::Not("account not active"),
                "{status:?}"
            );
        }
    }

    #[test]
    fn a_client_is_billed_through_its_reseller_and_a_reseller_for_its_clients() {
        let client = Account {
            kind: AccountKind::Client,
            ..company()
        };
        let reseller = Account {
            kind: AccountKind::Reseller,
            ..company()
        };
        assert_eq!(
            renewal(&client, date(2027, 1, 12)),
            Renewal::Not("billed through its reseller")
        );
        assert_eq!(renewal(&reseller, date(2027, 1, 12)), Renewal::BillReseller);
    }
}
