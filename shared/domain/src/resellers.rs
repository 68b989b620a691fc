//! Resellers (billing.md "Resellers billed on maximum active users"): a reseller's client
//! accounts, which it pays for by their active users, each client on the reseller's clock and
//! free during its trial. Pure: the use cases (`softbrik_app::resellers`) create them, list
//! them and show the reseller's usage.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

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

/// Whether `account` is a reseller, which alone has clients to list and a usage to show
/// (whatever its status: a suspended reseller still sees what it is billed for).
pub fn is_reseller(account: &Account) -> Result<(), Refusal> {
    if account.kind != AccountKind::Reseller {
        return Err(Refusal::NotAReseller);
    }
    Ok(())
}

/// Whether `reseller` may add a client: only a reseller, only while active (or past due).
pub fn may_add_clients(reseller: &Account) -> Result<(), Refusal> {
    is_reseller(reseller)?;
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

/// One client account in its reseller's count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCount {
    /// Its users that count as active (present and not marked inactive).
    pub active: u32,
    /// Its free trial ends at this instant (local midnight after `trial_until`): its users
    /// are billed from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed_from: Option<Timestamp>,
    /// It closes, or moves to another reseller, at this instant (the reseller's period end):
    /// its users are billed up to it, not from it, though it is counted until the run that
    /// removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed_until: Option<Timestamp>,
}

/// The users a reseller is billed for at `at`: the active users of its clients past their
/// trial and not yet gone.
pub fn billable_at<'a>(clients: impl IntoIterator<Item = &'a ClientCount>, at: Timestamp) -> u32 {
    clients
        .into_iter()
        .filter(|c| c.billed_from.is_none_or(|from| at >= from))
        .filter(|c| c.billed_until.is_none_or(|until| at < until))
        .map(|c| c.active)
        .sum()
}

/// The highest total between `from` (included, with the total carried in from before it)
/// and the end of `samples` (time order), and the first instant it was reached; `None`
/// without any sample. A sample at `from` itself (the midnight sample of the period's first
/// day) is the total at that instant: what was carried in is then not used, since a client
/// closing or moving at `from` stops counting there without a change of its own.
pub fn peak_of(
    carried_in: Option<u32>,
    from: Timestamp,
    samples: &[(Timestamp, u32)],
) -> Option<(u32, Timestamp)> {
    let known_at_start = samples.first().is_some_and(|(at, _)| *at == from);
    let mut peak: Option<(u32, Timestamp)> =
        carried_in.filter(|_| !known_at_start).map(|n| (n, from));
    for &(at, n) in samples {
        if peak.is_none_or(|(max, _)| n > max) {
            peak = Some((n, at));
        }
    }
    peak
}

/// The period's peak so far, as the reseller's usage shows it at `now`: the highest sample
/// since the period's start (`peak`), or the total billable now (`current`) when above it (a
/// trial that ended since the last sample counts now; the midnight sample records it), and
/// the instant reached, none while no user was billable.
pub fn peak_so_far(
    peak: Option<(u32, Timestamp)>,
    current: u32,
    now: Timestamp,
) -> (u32, Option<Timestamp>) {
    match peak {
        Some((max, at)) if max >= current => (max, Some(at).filter(|_| max > 0)),
        _ if current > 0 => (current, Some(now)),
        _ => (0, None),
    }
}

/// A reseller closes one of its client accounts (docs/resellers.md "A client's closure"), on
/// `reseller_today`: at the reseller's next billing date with 14 days' notice, else at the
/// one after (billing.md "Account closure", on the calendar of the one who pays). Until then
/// the client is `closing` and its users keep counting in the period the reseller is billed
/// for; from that date they count no more and its data is deleted. Irreversible; a second
/// request is refused.
pub fn close_client(
    client: &Account,
    reseller: &Account,
    reseller_today: Date,
) -> Result<(Account, Date), Refusal> {
    if let Some(date) = client.closure_date {
        return Err(Refusal::ClosureAlreadyRequested(date));
    }
    if client.status == AccountStatus::Closed {
        return Err(Refusal::AccountNotActive(
            "the client account is closed".into(),
        ));
    }
    let effective = crate::subscription::closure_date(&reseller.calendar(), reseller_today);
    let mut closing = client.clone();
    closing.status = AccountStatus::Closing;
    closing.closure_date = Some(effective);
    Ok((closing, effective))
}

/// How long a client's transfer code lets another reseller take the client over.
pub const TRANSFER_CODE_DAYS: i64 = 7;

/// A client account's move from one reseller to another (docs/resellers.md "Moving to another
/// reseller"), made on `on`: the current reseller's billing date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedMove {
    pub client_id: String,
    pub from: String,
    pub to: String,
    pub on: Date,
}

/// The move of `client` from its reseller `from` to the reseller `to`, who redeemed the
/// client admin's transfer code on `from_today` (the current reseller's date): made at the
/// end of the current reseller's period, which it is billed for, the new one billing the
/// client from then. Only an active client; only to another active reseller on the same
/// clock.
pub fn plan_move(
    client: &Account,
    from: &Account,
    to: &Account,
    from_today: Date,
) -> Result<PlannedMove, Refusal> {
    if client.kind != AccountKind::Client {
        return Err(Refusal::NotAClientAccount);
    }
    may_add_clients(to)?;
    if client.reseller_id.as_deref() == Some(to.id.as_str()) {
        return Err(Refusal::AlreadyYourClient);
    }
    if client.reseller_id.as_deref() != Some(from.id.as_str()) {
        return Err(Refusal::ConcurrentChange(
            "the client's reseller changed meanwhile",
        ));
    }
    if client.status != AccountStatus::Active {
        return Err(Refusal::AccountNotActive(
            "a client account moves while active, not closing or closed".into(),
        ));
    }
    if client.test_clock_id != to.test_clock_id {
        return Err(Refusal::AccountNotActive(
            "a client account moves to a reseller on its own test clock".into(),
        ));
    }
    Ok(PlannedMove {
        client_id: client.id.clone(),
        from: from.id.clone(),
        to: to.id.clone(),
        on: from.calendar().period_containing(from_today).end(),
    })
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
        assert_eq!(is_reseller(&company), Err(Refusal::NotAReseller));
        assert!(is_reseller(&suspended).is_ok());
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_peak_is_the_highest_sample_first_reached() {
        let from = at("2027-01-01T00:00:00Z");
        let samples = [
            (at("2027-01-01T00:00:00Z"), 8),
            (at("2027-01-10T09:00:00Z"), 11),
            (at("2027-01-15T09:00:00Z"), 11),
            (at("2027-01-20T09:00:00Z"), 7),
        ];
        assert_eq!(
            peak_of(Some(8), from, &samples),
            Some((11, at("2027-01-10T09:00:00Z")))
        );
    }

    #[test]
    fn the_total_carried_in_counts_from_the_start_of_the_period() {
        let from = at("2027-01-01T00:00:00Z");
        let samples = [(at("2027-01-05T09:00:00Z"), 4)];
        assert_eq!(peak_of(Some(9), from, &samples), Some((9, from)));
        assert_eq!(peak_of(None, from, &[]), None);
        assert_eq!(peak_of(Some(0), from, &[]), Some((0, from)));
    }

    #[test]
    fn clients_in_trial_are_not_billable_until_their_trial_ends() {
        let clients = [
            ClientCount {
                active: 5,
                billed_from: None,
                billed_until: None,
            },
            ClientCount {
                active: 10,
                billed_from: Some(at("2027-02-01T00:00:00Z")),
                billed_until: None,
            },
        ];
        assert_eq!(billable_at(&clients, at("2027-01-31T23:59:59Z")), 5);
        assert_eq!(billable_at(&clients, at("2027-02-01T00:00:00Z")), 15);
    }

    #[test]
    fn the_peak_so_far_is_the_count_now_when_above_the_samples() {
        let now = at("2027-01-20T09:00:00Z");
        let sampled = at("2027-01-10T09:00:00Z");
        assert_eq!(
            peak_so_far(Some((11, sampled)), 7, now),
            (11, Some(sampled))
        );
        assert_eq!(
            peak_so_far(Some((11, sampled)), 11, now),
            (11, Some(sampled))
        );
        assert_eq!(peak_so_far(Some((11, sampled)), 12, now), (12, Some(now)));
        assert_eq!(peak_so_far(None, 3, now), (3, Some(now)));
        assert_eq!(peak_so_far(Some((0, sampled)), 0, now), (0, None));
        assert_eq!(peak_so_far(None, 0, now), (0, None));
    }

    #[test]
    fn a_client_closes_on_its_resellers_billing_date_with_14_days_notice() {
        use crate::examples::company;
        let mut reseller = company(jiff::civil::date(2026, 12, 12));
        reseller.kind = AccountKind::Reseller;
        let mut client = company(jiff::civil::date(2026, 12, 20));
        client.kind = AccountKind::Client;
        // Asked on 29 December, 14 days before the reseller's 12 January: then.
        let (closing, date) =
            close_client(&client, &reseller, jiff::civil::date(2026, 12, 29)).unwrap();
        assert_eq!(date, jiff::civil::date(2027, 1, 12));
        assert_eq!(closing.status, AccountStatus::Closing);
        // A day later: the period after.
        let (_, later) = close_client(&client, &reseller, jiff::civil::date(2026, 12, 30)).unwrap();
        assert_eq!(later, jiff::civil::date(2027, 2, 12));
        // Once asked, it stands.
        assert_eq!(
            close_client(&closing, &reseller, jiff::civil::date(2026, 12, 30)).unwrap_err(),
            Refusal::ClosureAlreadyRequested(date)
        );
    }

    #[test]
    fn a_client_moves_at_its_current_resellers_billing_date_to_another_active_reseller() {
        use crate::examples::company;
        let reseller = |id: &str, day| {
            let mut r = company(jiff::civil::date(2026, 12, day));
            r.id = id.into();
            r.kind = AccountKind::Reseller;
            r
        };
        let (from, to) = (reseller("acc_a", 12), reseller("acc_b", 1));
        let mut client = company(jiff::civil::date(2026, 12, 20));
        client.id = "acc_c".into();
        client.kind = AccountKind::Client;
        client.reseller_id = Some("acc_a".into());
        let planned = plan_move(&client, &from, &to, jiff::civil::date(2027, 1, 5)).unwrap();
        assert_eq!(planned.on, jiff::civil::date(2027, 1, 12));
        assert_eq!(
            (planned.from.as_str(), planned.to.as_str()),
            ("acc_a", "acc_b")
        );
        // Not to its own reseller, nor while closing, nor to a company
        assert_eq!(
            plan_move(&client, &from, &from, jiff::civil::date(2027, 1, 5)).unwrap_err(),
            Refusal::AlreadyYourClient
        );
        let mut closing = client.clone();
        closing.status = AccountStatus::Closing;
        assert!(plan_move(&closing, &from, &to, jiff::civil::date(2027, 1, 5)).is_err());
        let mut not_reseller = to.clone();
        not_reseller.kind = AccountKind::Company;
        assert!(plan_move(&client, &from, &not_reseller, jiff::civil::date(2027, 1, 5)).is_err());
    }

    #[test]
    fn a_sample_at_the_periods_first_instant_supersedes_what_was_carried_in() {
        let from: Timestamp = "2027-01-11T23:00:00Z".parse().unwrap();
        let later: Timestamp = "2027-01-20T10:00:00Z".parse().unwrap();
        // A client gone at the boundary: 2 carried in, 0 at the midnight sample, 1 later.
        assert_eq!(
            peak_of(Some(2), from, &[(from, 0), (later, 1)]),
            Some((1, later))
        );
        // Without a sample at the start, the count carried in stands from the start.
        assert_eq!(peak_of(Some(2), from, &[(later, 1)]), Some((2, from)));
    }
}
