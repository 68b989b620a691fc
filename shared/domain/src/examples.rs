//! The examples the tests of every layer start from (billing.md's Fromagerie Dupont): a
//! company account, its admin and its members. Compiled for this crate's tests and, with the
//! `examples` feature, for the tests of the crates above (never for a function).

use jiff::Timestamp;
use jiff::civil::Date;

use crate::account::{
    Account, AccountKind, AccountStatus, Assignment, CardBrand, CardDetails, PaymentMethod, Role,
    SupportPlan, User, UserStatus,
};
use crate::billing_calendar::AnchorDay;
use crate::values::{
    BrikId, CompanyName, Country, EmailAddress, Language, PersonName, TimeZoneName,
};

/// Fromagerie Dupont, a French company (Europe/Paris) whose periods start on `anchor`'s day
/// of the month, active, renewing automatically, paying for itself.
pub fn company(anchor: Date) -> Account {
    Account {
        id: "acc_dupont".into(),
        company_name: CompanyName::parse("Fromagerie Dupont").expect("a valid name"),
        country: Country::parse("FR").expect("a valid country"),
        vat_number: None,
        address: None,
        language: Language::Fr,
        timezone: TimeZoneName::parse("Europe/Paris").expect("a valid time zone"),
        status: AccountStatus::Active,
        admin_email: EmailAddress::parse("alice@dupont.fr").expect("a valid address"),
        created_at: Timestamp::UNIX_EPOCH,
        kind: AccountKind::Company,
        reseller_id: None,
        trial_until: None,
        anchor_day: AnchorDay::of(anchor),
        calendar_from: None,
        auto_renew: true,
        closure_date: None,
        payment_method: None,
        support_plan: SupportPlan::Basic,
        test_clock_id: None,
        invoice_email: None,
    }
}

/// A VISA card ending 4242, as the payment partner's test token attaches it.
pub fn visa() -> PaymentMethod {
    PaymentMethod {
        token: "pm_card_visa".into(),
        card: CardDetails {
            brand: CardBrand::Visa,
            last4: "4242".into(),
            exp_month: 12,
            exp_year: 2034,
        },
    }
}

/// A user of the team, active, holding `briks` since `since`.
pub fn user(id: &str, email: &str, role: Role, briks: &[&str], since: Date) -> User {
    User {
        id: id.into(),
        email: EmailAddress::parse(email).expect("a valid address"),
        name: PersonName::parse(id.trim_start_matches("usr_")).expect("a valid name"),
        role,
        status: UserStatus::Active,
        language: Language::Fr,
        removal_date: None,
        briks: briks
            .iter()
            .map(|b| Assignment::new(BrikId::parse(b).expect("a valid Brik id"), since))
            .collect(),
    }
}

/// Alice, the admin, holding `briks` since `since`.
pub fn admin(briks: &[&str], since: Date) -> User {
    user("usr_alice", "alice@dupont.fr", Role::Admin, briks, since)
}

/// Bob, a member, holding `briks` since `since`.
pub fn bob(briks: &[&str], since: Date) -> User {
    user("usr_bob", "bob@dupont.fr", Role::Member, briks, since)
}

/// Fromagerie Dupont's signup of a `kind` of account: Alice as admin, paying by VISA, with
/// File storage and Inventory (none for a reseller).
pub fn signup_command(kind: AccountKind) -> crate::signup::SignupCommand {
    let briks = match kind {
        AccountKind::Reseller => Vec::new(),
        _ => vec![
            BrikId::parse("files").expect("a valid Brik id"),
            BrikId::parse("stock").expect("a valid Brik id"),
        ],
    };
    crate::signup::SignupCommand {
        company_name: CompanyName::parse("Fromagerie Dupont").expect("a valid name"),
        country: Country::parse("FR").expect("a valid country"),
        vat_number: None,
        address: None,
        language: Language::Fr,
        timezone: TimeZoneName::parse("Europe/Paris").expect("a valid time zone"),
        admin_email: EmailAddress::parse("alice@dupont.fr").expect("a valid address"),
        admin_name: PersonName::parse("Alice Dupont").expect("a valid name"),
        password: "Correct-horse-1".into(),
        payment_method: crate::values::PaymentMethodToken::parse("pm_card_visa")
            .expect("a valid token"),
        briks,
        test_clock_id: None,
        kind,
    }
}

/// Boulangerie Martin, a reseller's client in Paris, with Paul as admin, on trial until
/// `trial_until`.
pub fn new_client(trial_until: Option<Date>) -> crate::resellers::NewClient {
    crate::resellers::NewClient {
        company_name: CompanyName::parse("Boulangerie Martin").expect("a valid name"),
        country: Country::parse("FR").expect("a valid country"),
        language: Language::Fr,
        timezone: TimeZoneName::parse("Europe/Paris").expect("a valid time zone"),
        admin_email: EmailAddress::parse("paul@martin.fr").expect("a valid address"),
        admin_name: PersonName::parse("Paul Martin").expect("a valid name"),
        password: "Correct-horse-1".into(),
        trial_until,
    }
}
