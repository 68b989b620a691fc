//! Signing a company up (billing.md "Billing period", api.md `POST /signup`): the account as it
//! starts (active, anchored on today, renewing automatically), its admin holding the Briks
//! chosen from today, and a company's first invoice, the whole first period at the full price.
//! Pure: the use case (`softbrik_app::signup`) checks the address, the card and the rate
//! limit, charges, and stores these.

use jiff::Timestamp;

use crate::account::{
    Account, AccountKind, AccountStatus, Assignment, Invoice, InvoiceKind, PaymentMethod, Role,
    SupportPlan, User, UserStatus,
};
use crate::billing_calendar::{AnchorDay, local_date};
use crate::catalogue::Brik;
use crate::invoice::{InvoiceLine, period_line_description};
use crate::values::{
    BrikId, CompanyName, Country, EmailAddress, Language, PaymentMethodToken, PersonName,
    TimeZoneName, VatNumber,
};
use crate::vat::vat_treatment;

/// A signup whose every field has been checked.
#[derive(Debug, Clone)]
pub struct SignupCommand {
    pub company_name: CompanyName,
    pub country: Country,
    pub vat_number: Option<VatNumber>,
    pub address: Option<String>,
    pub language: Language,
    pub timezone: TimeZoneName,
    pub admin_email: EmailAddress,
    pub admin_name: PersonName,
    pub password: String,
    pub payment_method: PaymentMethodToken,
    pub briks: Vec<BrikId>,
    pub test_clock_id: Option<String>,
    /// A company (billed for its Briks) or a reseller (billed for its clients' active users).
    pub kind: AccountKind,
}

/// The Briks of `wanted` in `catalogue`, or the first one it does not sell.
pub fn price_briks<'a>(catalogue: &'a [Brik], wanted: &[BrikId]) -> Result<Vec<&'a Brik>, BrikId> {
    wanted
        .iter()
        .map(|id| {
            catalogue
                .iter()
                .find(|b| &b.id == id)
                .ok_or_else(|| id.clone())
        })
        .collect()
}

/// The account as `cmd` starts it at `now`: active, anchored on today (its local date),
/// renewing automatically, on the basic support plan.
pub fn new_account(
    cmd: &SignupCommand,
    id: String,
    now: Timestamp,
    payment_method: Option<PaymentMethod>,
) -> Account {
    let today = local_date(now, &cmd.timezone.time_zone());
    Account {
        id,
        company_name: cmd.company_name.clone(),
        country: cmd.country,
        vat_number: cmd.vat_number.clone(),
        address: cmd.address.clone(),
        language: cmd.language,
        timezone: cmd.timezone.clone(),
        status: AccountStatus::Active,
        admin_email: cmd.admin_email.clone(),
        created_at: now,
        kind: cmd.kind,
        reseller_id: None,
        trial_until: None,
        anchor_day: AnchorDay::of(today),
        calendar_from: None,
        auto_renew: true,
        closure_date: None,
        payment_method,
        support_plan: SupportPlan::Basic,
        test_clock_id: cmd.test_clock_id.clone(),
        invoice_email: None,
    }
}

/// The account's admin, holding `briks` from the day the account was created.
pub fn new_admin(cmd: &SignupCommand, id: String, account: &Account, briks: &[&Brik]) -> User {
    let since = account.local_date(account.created_at);
    User {
        id,
        email: cmd.admin_email.clone(),
        name: cmd.admin_name.clone(),
        role: Role::Admin,
        status: UserStatus::Active,
        language: cmd.language,
        removal_date: None,
        briks: briks
            .iter()
            .map(|b| Assignment::new(b.id.clone(), since))
            .collect(),
    }
}

/// A company's first invoice: the first period, one line per Brik for the admin, charged in
/// full at signup (`issuer`: Softbrik's country, for VAT). A reseller has none: it is billed
/// at the end of each period for its clients' users.
pub fn first_invoice(
    account: &Account,
    briks: &[&Brik],
    id: String,
    now: Timestamp,
    issuer: &Country,
) -> Option<Invoice> {
    if account.kind != AccountKind::Company {
        return None;
    }
    let period = account.current_period(now);
    let lines: Vec<InvoiceLine> = briks
        .iter()
        .map(|b| {
            let text =
                period_line_description(b.name_in(account.language), &period, 1, account.language);
            InvoiceLine::new(b.id.clone(), text, 1, b.monthly_price, None)
        })
        .collect();
    let vat = vat_treatment(issuer, &account.country, account.vat_number.as_ref());
    Some(Invoice::open(
        id,
        InvoiceKind::Signup,
        account.local_date(now),
        period,
        lines,
        &vat,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::default_catalogue;
    use crate::money::Money;
    use jiff::civil::date;

    fn dupont(kind: AccountKind) -> SignupCommand {
        crate::examples::signup_command(kind)
    }

    #[test]
    fn a_company_signing_up_on_the_12th_pays_its_first_month_in_full() {
        let cmd = dupont(AccountKind::Company);
        let catalogue = default_catalogue();
        let briks = price_briks(&catalogue, &cmd.briks).unwrap();
        // 23:30 UTC on 11 December is already the 12th in Paris
        let now: Timestamp = "2026-12-11T23:30:00Z".parse().unwrap();
        let account = new_account(&cmd, "acc_1".into(), now, None);
        assert_eq!(account.anchor_day, AnchorDay::new(12).unwrap());
        let admin = new_admin(&cmd, "usr_1".into(), &account, &briks);
        assert_eq!(admin.briks.len(), 2);
        assert_eq!(admin.briks[0].since, date(2026, 12, 12));
        let issuer = Country::parse("FR").unwrap();
        let invoice = first_invoice(&account, &briks, "inv_1".into(), now, &issuer).unwrap();
        // 6.00 + 8.00 = 14.00, 16.80 with French VAT, 12 December to 12 January
        assert_eq!(invoice.totals.total, Money::from_cents(1680));
        assert_eq!(invoice.period.end(), date(2027, 1, 12));
        assert_eq!(invoice.kind, InvoiceKind::Signup);
    }

    #[test]
    fn a_reseller_pays_nothing_at_signup_and_an_unknown_brik_is_named() {
        let cmd = dupont(AccountKind::Reseller);
        let now: Timestamp = "2026-12-12T10:00:00Z".parse().unwrap();
        let account = new_account(&cmd, "acc_1".into(), now, None);
        let issuer = Country::parse("FR").unwrap();
        assert!(first_invoice(&account, &[], "inv_1".into(), now, &issuer).is_none());
        let unknown = BrikId::parse("payroll").unwrap();
        assert_eq!(
            price_briks(&default_catalogue(), std::slice::from_ref(&unknown)).unwrap_err(),
            unknown
        );
    }
}
