//! The billing invariant, in-process, over thousands of random sequences: every (user, Brik,
//! day) held up to the end of the current period is billed exactly once, and nothing is
//! billed that was not held (billing.md "Adding and removing", "The 2-day cut-off").
//!
//! Each sequence signs a company up on a random day (anchors 29 to 31 included, so months
//! clamp), then takes random steps: invitations with Briks, Briks given, given back and
//! removed, users removed at the period end or cut now, removals undone, and days passing, the
//! billing date renewing the period. Every step is decided by the same pure functions the
//! functions run (`softbrik_domain::team`, `::renewal`, the calendar and proration), and each
//! invoice they produce is read back as the days it covers. The state (users, today, period)
//! is the test's own, as the table would hold it. After the last step the sequence runs to its
//! next billing date, and every (Brik, day) from the signup to the end of the period just
//! renewed must be billed as many times as users held that Brik that day.
//!
//! `MODEL_CASES` sequences (default 2,000) of up to `MODEL_STEPS` steps (default 40), seeded by
//! `MODEL_SEED` (default 2026); a failure names the seed and the case, and prints its steps.
//! The same property runs against the deployed shape (HTTP, DynamoDB, the partner) with fewer
//! cases in tests/tests/model.rs.

use std::collections::BTreeMap;

use jiff::ToSpan;
use jiff::civil::{Date, date};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use softbrik_domain::account::{Account, Assignment, Invoice, InvoiceKind, Role, User, UserStatus};
use softbrik_domain::billing_calendar::BillingPeriod;
use softbrik_domain::catalogue::{Brik, default_catalogue};
use softbrik_domain::renewal::company_invoice;
use softbrik_domain::team::{
    Assigning, Charge, addition_invoice, assign_brik, removal_date, remove_brik, remove_user,
    restore_user,
};
use softbrik_domain::values::{BrikId, Country, EmailAddress, Language, PersonName};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One company as the table would hold it, and every invoice it was given.
struct Company {
    account: Account,
    catalogue: Vec<Brik>,
    users: Vec<User>,
    today: Date,
    period: BillingPeriod,
    invoices: Vec<Invoice>,
    signed_up: Date,
    log: Vec<String>,
}

fn fr() -> Country {
    Country::parse("FR").unwrap()
}

impl Company {
    fn sign_up(day: Date, briks: &[BrikId]) -> Company {
        let mut account = softbrik_domain::examples::company(day);
        account.id = "acc_model".into();
        let period = account.calendar().period_containing(day);
        let mut admin = softbrik_domain::examples::admin(&[], day);
        admin.id = "usr_0".into();
        admin.name = PersonName::parse("Alice").unwrap();
        admin.briks = briks
            .iter()
            .map(|b| Assignment::new(b.clone(), day))
            .collect();
        let mut company = Company {
            account,
            catalogue: default_catalogue(),
            users: vec![admin],
            today: day,
            period,
            invoices: Vec::new(),
            signed_up: day,
            log: vec![format!("signup on {day} with {briks:?}")],
        };
        // The signup's first month: every Brik of the admin for the whole first period (what
        // the signup function charges; its own code is tested end to end).
        let first = company.addition(briks, false);
        company.invoices.push(first);
        company
    }

    fn brik(&self, id: &BrikId) -> &Brik {
        self.catalogue.iter().find(|b| &b.id == id).unwrap()
    }

    /// The users a request can name today (a removed one is not found).
    fn present(&self) -> Vec<usize> {
        (0..self.users.len())
            .filter(|i| self.users[*i].present_on(self.today))
            .collect()
    }

    /// The invoice of Briks added today: the rest of the period, and with `next` the next
    /// period once the renewal is locked.
    fn addition(&self, added: &[BrikId], next: bool) -> Invoice {
        let charges: Vec<Charge<'_>> = added
            .iter()
            .map(|b| Charge {
                brik: self.brik(b),
                now: true,
                next,
            })
            .collect();
        let id = format!("inv_{}", self.invoices.len());
        addition_invoice(&self.account, &self.period, self.today, &fr(), id, &charges).unwrap()
    }

    /// An addition charged now, as `team::paid_change` charges one without seat packs.
    fn charge(&mut self, added: &[BrikId]) {
        if !added.is_empty() {
            let invoice = self.addition(added, true);
            self.invoices.push(invoice);
        }
    }

    fn invite(&mut self, briks: Vec<BrikId>) {
        let n = self.users.len();
        self.log
            .push(format!("{}: invite usr_{n} with {briks:?}", self.today));
        self.users.push(User {
            id: format!("usr_{n}"),
            email: EmailAddress::parse(&format!("u{n}@dupont.fr")).unwrap(),
            name: PersonName::parse("Someone").unwrap(),
            role: Role::Member,
            status: UserStatus::Invited,
            language: Language::Fr,
            removal_date: None,
            briks: briks
                .iter()
                .map(|b| Assignment::new(b.clone(), self.today))
                .collect(),
        });
        self.charge(&briks);
    }

    fn assign(&mut self, user: usize, brik: BrikId) {
        self.log
            .push(format!("{}: give {brik} to usr_{user}", self.today));
        match assign_brik(&self.users[user], &brik, self.today) {
            Err(refused) => self.log.push(format!("  refused: {}", refused.code())),
            Ok(Assigning::AlreadyHeld(_)) => self.log.push("  already held".into()),
            Ok(Assigning::Changed { user: u, added, .. }) => {
                self.users[user] = *u;
                if added {
                    self.charge(&[brik]);
                } else {
                    self.log.push("  removal undone".into());
                }
            }
        }
    }

    fn effective(&self) -> Date {
        removal_date(&self.account, &self.period, self.today)
    }

    fn remove_brik(&mut self, user: usize, brik: BrikId) {
        self.log
            .push(format!("{}: remove {brik} from usr_{user}", self.today));
        let effective = self.effective();
        if let Some(change) = remove_brik(&self.users[user], &brik, self.today, effective)
            && let Some((u, _)) = change.write
        {
            self.users[user] = u;
        }
    }

    fn remove_user(&mut self, user: usize, immediate: bool) {
        self.log.push(format!(
            "{}: remove usr_{user}{}",
            self.today,
            if immediate { " now" } else { "" }
        ));
        let effective = self.effective();
        match remove_user(&self.users[user], self.today, effective, immediate) {
            Err(refused) => self.log.push(format!("  refused: {}", refused.code())),
            Ok(change) => {
                if let Some((u, _)) = change.write {
                    self.users[user] = u;
                }
            }
        }
    }

    fn restore(&mut self, user: usize) {
        self.log.push(format!("{}: restore usr_{user}", self.today));
        if let Some(restoring) = restore_user(&self.users[user]) {
            self.users[user] = restoring.with_sign_in(true).0;
        }
    }

    /// Days pass; on each billing date the period is renewed from the users as they stand.
    fn advance(&mut self, days: i64) {
        self.log.push(format!("{}: {days} days pass", self.today));
        for _ in 0..days {
            self.today = self.today.checked_add(1.day()).unwrap();
            if self.today == self.period.end() {
                self.renew();
            }
        }
    }

    fn renew(&mut self) {
        let renewal = company_invoice(
            &self.account,
            &self.users,
            &self.catalogue,
            Vec::new(),
            &BTreeMap::new(),
            self.today,
            &fr(),
            format!("inv_renewal_{}", self.today),
        );
        self.log.push(format!(
            "{}: renewal {:?}",
            self.today,
            renewal
                .lines
                .iter()
                .map(|l| (l.brik_id.clone().unwrap().to_string(), l.quantity))
                .collect::<Vec<_>>()
        ));
        self.period = self.account.calendar().period_containing(self.today);
        self.invoices.push(renewal);
    }

    /// Runs to the next billing date, so that everything up to the period's end is invoiced.
    fn close_sequence(&mut self) -> Date {
        let end = self.period.end();
        let days = (end - self.today).get_days();
        self.advance(i64::from(days));
        self.period.end()
    }

    /// How many times each (Brik, day) was billed: each invoice line read as the days it
    /// covers. A renewal's lines cover its period; an addition's first line the days from its
    /// date to its period's end (and it must say so: the proration is those days), its second,
    /// after the cut-off, the whole next period.
    fn billed(&self) -> Result<BTreeMap<(BrikId, Date), u32>, String> {
        let mut billed = BTreeMap::new();
        let calendar = self.account.calendar();
        for invoice in &self.invoices {
            for line in &invoice.lines {
                let brik = line.brik_id.clone().ok_or("a line without its Brik")?;
                let (from, to) = match (invoice.kind, line.proration) {
                    (InvoiceKind::Renewal, None) => (invoice.period.start(), invoice.period.end()),
                    (InvoiceKind::Proration, Some(p)) => {
                        let days = (invoice.period.end() - invoice.issue_date).get_days();
                        if i64::from(p.days()) != i64::from(days)
                            || i64::from(p.period_days()) != i64::from(invoice.period.days())
                        {
                            return Err(format!(
                                "{}: a line prorated {}/{} for {days} days left of {} days",
                                invoice.id,
                                p.days(),
                                p.period_days(),
                                invoice.period.days()
                            ));
                        }
                        (invoice.issue_date, invoice.period.end())
                    }
                    (InvoiceKind::Proration, None) => {
                        let next = calendar.following(&invoice.period);
                        (next.start(), next.end())
                    }
                    other => return Err(format!("{}: unexpected line {other:?}", invoice.id)),
                };
                let mut day = from;
                while day < to {
                    *billed.entry((brik.clone(), day)).or_insert(0) += line.quantity;
                    day = day.checked_add(1.day()).unwrap();
                }
            }
        }
        Ok(billed)
    }

    /// How many users held each (Brik, day), from the users as they stand.
    fn held(&self, until: Date) -> BTreeMap<(BrikId, Date), u32> {
        let mut held = BTreeMap::new();
        let mut day = self.signed_up;
        while day < until {
            for user in self.users.iter().filter(|u| u.present_on(day)) {
                for a in user.briks.iter().filter(|a| a.held_on(day)) {
                    *held.entry((a.brik_id.clone(), day)).or_insert(0) += 1;
                }
            }
            day = day.checked_add(1.day()).unwrap();
        }
        held
    }
}

fn random_briks(rng: &mut StdRng, catalogue: &[Brik]) -> Vec<BrikId> {
    catalogue
        .iter()
        .filter(|_| rng.gen_bool(0.4))
        .map(|b| b.id.clone())
        .collect()
}

fn run_case(rng: &mut StdRng, steps: u64) -> Result<(), (String, Vec<String>)> {
    let catalogue = default_catalogue();
    // Any day of 2026 to 2028, the 29th to 31st included (months clamp them).
    let signup = date(2026, 1, 1)
        .checked_add(rng.gen_range(0..3 * 365).days())
        .unwrap();
    let first = {
        let mut briks = random_briks(rng, &catalogue);
        if briks.is_empty() {
            briks.push(catalogue[0].id.clone());
        }
        briks
    };
    let mut company = Company::sign_up(signup, &first);
    let steps = rng.gen_range(1..=steps);
    for _ in 0..steps {
        let present = company.present();
        let pick_user = |rng: &mut StdRng| present[rng.gen_range(0..present.len())];
        let brik = catalogue[rng.gen_range(0..catalogue.len())].id.clone();
        match rng.gen_range(0..100) {
            0..15 => {
                let briks = random_briks(rng, &catalogue);
                company.invite(briks);
            }
            15..40 => {
                let user = pick_user(rng);
                company.assign(user, brik);
            }
            40..55 => {
                let user = pick_user(rng);
                company.remove_brik(user, brik);
            }
            55..63 => {
                let user = pick_user(rng);
                let immediate = rng.gen_bool(0.3);
                company.remove_user(user, immediate);
            }
            63..70 => {
                let user = pick_user(rng);
                company.restore(user);
            }
            // Mostly a day or two (many changes fall on the cut-off), sometimes weeks.
            _ => {
                let days = if rng.gen_bool(0.7) {
                    rng.gen_range(1..=3)
                } else {
                    rng.gen_range(4..=40)
                };
                company.advance(days);
            }
        }
    }
    let until = company.close_sequence();
    let billed = company.billed().map_err(|e| (e, company.log.clone()))?;
    let held = company.held(until);
    for key in held.keys().chain(billed.keys()) {
        let (h, b) = (
            held.get(key).copied().unwrap_or(0),
            billed.get(key).copied().unwrap_or(0),
        );
        if h != b {
            let (brik, day) = key;
            return Err((
                format!("{brik} on {day}: held by {h} users, billed {b} times"),
                company.log.clone(),
            ));
        }
    }
    Ok(())
}

#[test]
fn every_user_brik_and_day_is_billed_exactly_once() {
    let seed = env_number("MODEL_SEED", 2026);
    let cases = env_number("MODEL_CASES", 2_000);
    let steps = env_number("MODEL_STEPS", 40);
    let mut rng = StdRng::seed_from_u64(seed);
    for case in 0..cases {
        if let Err((problem, log)) = run_case(&mut rng, steps) {
            panic!(
                "MODEL_SEED={seed}, case {case}: {problem}\n{}",
                log.join("\n")
            );
        }
    }
}

/// The property must be able to fail: a renewal that forgets the cut-off bills a Brik added
/// after it twice (the addition charged the next period already).
#[test]
fn a_renewal_counting_additions_after_the_cut_off_is_caught() {
    let mut company = Company::sign_up(date(2026, 12, 12), &[BrikId::parse("files").unwrap()]);
    company.advance(30); // 2027-01-11: after the cut-off
    company.invite(vec![BrikId::parse("stock").unwrap()]);
    // The renewal as if the addition had come before the cut-off.
    for user in &mut company.users {
        for a in &mut user.briks {
            a.since = date(2026, 12, 12);
        }
    }
    let until = company.close_sequence();
    let billed = company.billed().unwrap();
    let held = company.held(until);
    let stock = BrikId::parse("stock").unwrap();
    assert_eq!(held.get(&(stock.clone(), date(2027, 1, 12))), Some(&1));
    assert_eq!(billed.get(&(stock, date(2027, 1, 12))), Some(&2));
}
