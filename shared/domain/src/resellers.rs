//! Resellers (billing.md "Resellers billed on maximum active users"): a reseller's client
//! accounts, which it pays for by their active users, each client on the reseller's clock and
//! free during its trial. Pure: the use case (`softbrik_app::resellers`) creates them.

use jiff::Timestamp;
use jiff::civil::Date;

use crate::account::{Account, AccountKind, AccountStatus, SupportPlan};
use crate::billing_calendar::{AnchorDay, local_date, local_midnight};
use crate::refusal::Refusal;
use crate::values::{CompanyName, Country, EmailAddress, Language, PersonName, TimeZoneName};

/// A client account asked for by its reseller, every field checked.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub company_name: CompanyName,
    pub country: Country,
    pub language: Language,
    pub timezone: TimeZoneName,
    pub admin_email: EmailAddress,
    pub admin_name: PersonName,
    pub password: String,
    /// The last day of its free trial (not billed to the reseller until the day after).
    pub trial_until: Option<Date>,
}

/// Whether `reseller` may add a client: only a reseller, only while active (or past due).
pub fn may_add_clients(reseller: &Account) -> Result<(), Refusal> {
    if reseller.kind != AccountKind::Reseller {
        return Err(Refusal::NotAReseller);
    }
    match reseller.status {
        AccountStatus::Active | AccountStatus::PastDue => Ok(()),
        _ => Err(Refusal::AccountNotActive(
            "a reseller adds clients only while its account is active".into(),
        )),
    }
}

/// The client account of `reseller` for `client`, created at `now`: no card (the reseller
/// pays), anchored on today, on the reseller's clock.
pub fn client_account(
    reseller: &Account,
    client: &NewClient,
    id: String,
    now: Timestamp,
) -> Account {
    let today = local_date(now, &client.timezone.time_zone());
    Account {
        id,
        company_name: client.company_name.clone(),
        country: client.country,
        vat_number: None,
        address: None,
        language: client.language,
        timezone: client.timezone.clone(),
        status: AccountStatus::Active,
        admin_email: client.admin_email.clone(),
        created_at: now,
        kind: AccountKind::Client,
        reseller_id: Some(reseller.id.clone()),
        trial_until: client.trial_until,
        anchor_day: AnchorDay::of(today),
        calendar_from: None,
        auto_renew: true,
        closure_date: None,
        payment_method: None,
        support_plan: SupportPlan::Basic,
        // Everything of a reseller runs on one clock, its clients included.
        test_clock_id: reseller.test_clock_id.clone(),
        invoice_email: None,
    }
}

/// The instant a client's trial ends: the reseller's local midnight after its last day, so
/// that it falls on a midnight sample and in the reseller's period that contains that day.
pub fn billed_from(client: &Account, reseller: &Account) -> Option<Timestamp> {
    let last = client.trial_until?;
    let next = last.tomorrow().unwrap_or(last);
    Some(local_midnight(next, &reseller.timezone.time_zone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn reseller() -> Account {
        let mut reseller = crate::examples::company(date(2026, 12, 1));
        reseller.id = "acc_msp".into();
        reseller.kind = AccountKind::Reseller;
        reseller.test_clock_id = Some("clock_1".into());
        reseller
    }

    fn client(trial_until: Option<Date>) -> NewClient {
        crate::examples::new_client(trial_until)
    }

    #[test]
    fn a_client_runs_on_its_resellers_clock_and_is_billed_from_the_day_after_its_trial() {
        let now: Timestamp = "2026-12-12T10:00:00Z".parse().unwrap();
        let account = client_account(
            &reseller(),
            &client(Some(date(2026, 12, 31))),
            "acc_c".into(),
            now,
        );
        assert_eq!(account.kind, AccountKind::Client);
        assert_eq!(account.reseller_id.as_deref(), Some("acc_msp"));
        assert_eq!(account.test_clock_id.as_deref(), Some("clock_1"));
        assert!(account.payment_method.is_none());
        assert_eq!(
            billed_from(&account, &reseller()),
            Some("2026-12-31T23:00:00Z".parse().unwrap())
        );
        let no_trial = client_account(&reseller(), &client(None), "acc_d".into(), now);
        assert_eq!(billed_from(&no_trial, &reseller()), None);
    }

    #[test]
    fn only_an_active_reseller_adds_clients() {
        assert!(may_add_clients(&reseller()).is_ok());
        let mut suspended = reseller();
        suspended.status = AccountStatus::Suspended;
        assert!(matches!(
            may_add_clients(&suspended),
            Err(Refusal::AccountNotActive(_))
        ));
        let company = crate::examples::company(date(2026, 12, 1));
        assert_eq!(may_add_clients(&company), Err(Refusal::NotAReseller));
    }
}
