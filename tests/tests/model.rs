//! A model-based property test of billing.md: random sequences of signups, additions of users
//! and Briks, removals, undos, card failures, switches to calendar months and clock advances
//! run against the real stack on test clocks, and against `Model`, a plain reading of
//! billing.md written for this test alone (no code of the `softbrik` crate).
//!
//! After every step the answer must be the one the model expects (status, effective date, the
//! invoice it charges); at the end of a sequence the account's invoices must be exactly the
//! model's (kind, dates, period, lines, amounts, VAT, status) and its users hold exactly the
//! model's Briks. The model's invoices then prove the invariant the invoices stand for: every
//! (user, Brik, day) held up to the end of the current period is billed exactly once, and
//! nothing is billed that was not held.
//!
//! Sequences: `MODEL_CASES` (default 8) of `MODEL_STEPS` steps (default 20), seeded by
//! `MODEL_SEED` (default 2026); a failure prints the seed, the case and its steps.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use futures::StreamExt;
use jiff::ToSpan;
use jiff::civil::{Date, date};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};
use softbrik_integration_tests::{PASSWORD, Stack, env_number, signup_body, unique_email};

const BRIKS: [(&str, &str); 3] = [("files", "6.00"), ("stock", "8.00"), ("care", "10.00")];

fn price(brik: &str) -> Decimal {
    let (_, p) = BRIKS.iter().find(|(id, _)| *id == brik).expect("a Brik");
    p.parse().expect("a price")
}

/// Half-up (away from zero) to the cent, once (billing.md "Money").
fn cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

fn money(amount: Decimal) -> String {
    format!("{:.2}", cents(amount))
}

/// A local day of month, clamped to the month's length (billing.md "Billing period").
fn boundary(anchor: i8, year: i16, month: i8) -> Date {
    let (year, month) = if month > 12 {
        (year + 1, month - 12)
    } else if month < 1 {
        (year - 1, month + 12)
    } else {
        (year, month)
    };
    let first = date(year, month, 1);
    date(year, month, anchor.min(first.days_in_month()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Period {
    start: Date,
    end: Date,
}

impl Period {
    fn days(&self) -> i32 {
        (self.end - self.start).get_days()
    }

    /// The days a full month of it counts: a calendar stub (to a 1st, from another day)
    /// counts its month's days (Dec 12 to Jan 1: 20 of 31).
    fn basis(&self) -> i32 {
        if self.end.day() == 1 && self.start.day() != 1 {
            i32::from(self.start.days_in_month())
        } else {
            self.days()
        }
    }
}

/// One (user, Brik) holding: from `since`, until `until` (exclusive) when its removal is
/// scheduled or done.
#[derive(Clone, Debug)]
struct Holding {
    brik: &'static str,
    since: Date,
    until: Option<Date>,
}

#[derive(Clone, Debug)]
struct User {
    id: String,
    admin: bool,
    removal: Option<Date>,
    briks: Vec<Holding>,
}

impl User {
    fn present_on(&self, day: Date) -> bool {
        self.removal.is_none_or(|r| day < r)
    }

    /// When the holding ends: its own removal or the user's, the earlier.
    fn end_of(&self, h: &Holding) -> Option<Date> {
        match (h.until, self.removal) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn holds_on(&self, h: &Holding, day: Date) -> bool {
        h.since <= day && self.end_of(h).is_none_or(|end| day < end)
    }
}

/// An invoice line as the model expects it, with the (user, Brik, days) it pays for.
#[derive(Clone, Debug)]
struct Line {
    brik: &'static str,
    quantity: u32,
    proration: Option<(i32, i32)>,
    amount: Decimal,
    covers: Vec<(String, Period)>,
}

#[derive(Clone, Debug)]
struct Invoice {
    kind: &'static str,
    issue_date: Date,
    period: Period,
    lines: Vec<Line>,
    paid: bool,
}

impl Invoice {
    fn subtotal(&self) -> Decimal {
        self.lines.iter().map(|l| l.amount).sum()
    }

    /// A French customer without a VAT number, billed from Denmark: 20 % (billing.md "VAT").
    fn total(&self) -> Decimal {
        let net = self.subtotal();
        net + cents(net * Decimal::new(20, 2))
    }

    /// The fields compared with the API's `Invoice`.
    fn normal(&self) -> Value {
        let mut lines: Vec<Value> = self
            .lines
            .iter()
            .map(|l| {
                json!({
                    "brik_id": l.brik,
                    "quantity": l.quantity,
                    "proration": l.proration.filter(|(d, p)| d != p).map(|(d, p)| format!("{d}/{p}")),
                    "amount": money(l.amount),
                })
            })
            .collect();
        lines.sort_by_key(Value::to_string);
        json!({
            "kind": self.kind,
            "issue_date": self.issue_date.to_string(),
            "period": [self.period.start.to_string(), self.period.end.to_string()],
            "status": if self.paid { "paid" } else { "open" },
            "subtotal": money(self.subtotal()),
            "total": money(self.total()),
            "lines": lines,
        })
    }
}

/// The API's `Invoice`, in the fields the model predicts.
fn normal(invoice: &Value) -> Value {
    let mut lines: Vec<Value> = invoice["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            let proration = l["proration"]
                .as_object()
                .map(|p| {
                    (
                        p["days"].as_i64().unwrap(),
                        p["period_days"].as_i64().unwrap(),
                    )
                })
                .filter(|(d, p)| d != p)
                .map(|(d, p)| format!("{d}/{p}"));
            json!({
                "brik_id": l["brik_id"],
                "quantity": l["quantity"],
                "proration": proration,
                "amount": l["amount"],
            })
        })
        .collect();
    lines.sort_by_key(Value::to_string);
    json!({
        "kind": invoice["kind"],
        "issue_date": invoice["issue_date"],
        "period": [invoice["period"]["start"], invoice["period"]["end"]],
        "status": invoice["status"],
        "subtotal": invoice["subtotal"],
        "total": invoice["total"],
        "lines": lines,
    })
}

/// billing.md, for one company on anniversary or calendar billing, paying by card.
#[derive(Clone, Debug)]
struct Model {
    signup: Date,
    today: Date,
    anchor: i8,
    calendar_from: Option<Date>,
    card_fails: bool,
    users: Vec<User>,
    invoices: Vec<Invoice>,
    /// The billing date of the renewal left open by a declined card, if any.
    open_since: Option<Date>,
}

impl Model {
    fn new(signup: Date, admin_id: String, briks: &[&'static str]) -> Model {
        let mut model = Model {
            signup,
            today: signup,
            anchor: signup.day(),
            calendar_from: None,
            card_fails: false,
            users: vec![User {
                id: admin_id,
                admin: true,
                removal: None,
                briks: Vec::new(),
            }],
            invoices: Vec::new(),
            open_since: None,
        };
        let period = model.period_containing(signup);
        let lines = briks
            .iter()
            .map(|b| {
                model.users[0].briks.push(Holding {
                    brik: b,
                    since: signup,
                    until: None,
                });
                Line {
                    brik: b,
                    quantity: 1,
                    proration: None,
                    amount: price(b),
                    covers: vec![(model.users[0].id.clone(), period)],
                }
            })
            .collect();
        model.invoices.push(Invoice {
            kind: "signup",
            issue_date: signup,
            period,
            lines,
            paid: true,
        });
        model
    }

    fn anniversary(&self, day: Date) -> Period {
        let here = boundary(self.anchor, day.year(), day.month());
        if day >= here {
            Period {
                start: here,
                end: boundary(self.anchor, day.year(), day.month() + 1),
            }
        } else {
            Period {
                start: boundary(self.anchor, day.year(), day.month() - 1),
                end: here,
            }
        }
    }

    /// billing.md "Billing period" and "Calendar-month billing": anchor periods, then from
    /// the switch a stub up to the next 1st, then months.
    fn period_containing(&self, day: Date) -> Period {
        match self.calendar_from {
            Some(from) if day >= from => {
                let month = Period {
                    start: day.first_of_month(),
                    end: day.first_of_month() + 1.month(),
                };
                if from.day() != 1 && from.first_of_month() == month.start {
                    Period {
                        start: from,
                        end: from.first_of_month() + 1.month(),
                    }
                } else {
                    month
                }
            }
            _ => self.anniversary(day),
        }
    }

    fn period(&self) -> Period {
        self.period_containing(self.today)
    }

    fn next_period(&self) -> Period {
        self.period_containing(self.period().end)
    }

    /// From local midnight starting the day before the billing date (the 2-day cut-off).
    fn locked(&self) -> bool {
        self.today >= self.period().end - 1.day()
    }

    /// Removals take effect at the end of the period, or after the lock of the next one.
    fn removal_date(&self) -> Date {
        if self.locked() {
            self.next_period().end
        } else {
            self.period().end
        }
    }

    /// The invoice of Briks added today for `user`: the days left, after the lock the next
    /// period too (billing.md "Mid-period additions", "The 2-day cut-off").
    fn addition(&self, user: &str, briks: &[&'static str]) -> Invoice {
        let period = self.period();
        let days_left = (period.end - self.today).get_days();
        let mut lines = Vec::new();
        for b in briks {
            lines.push(Line {
                brik: b,
                quantity: 1,
                proration: Some((days_left, period.basis())),
                amount: cents(price(b) * Decimal::from(days_left) / Decimal::from(period.basis())),
                covers: vec![(
                    user.to_string(),
                    Period {
                        start: self.today,
                        end: period.end,
                    },
                )],
            });
            if self.locked() {
                let next = self.next_period();
                let share = (next.days(), next.basis());
                lines.push(Line {
                    brik: b,
                    quantity: 1,
                    proration: Some(share),
                    amount: cents(price(b) * Decimal::from(share.0) / Decimal::from(share.1)),
                    covers: vec![(user.to_string(), next)],
                });
            }
        }
        Invoice {
            kind: "proration",
            issue_date: self.today,
            period,
            lines,
            paid: true,
        }
    }

    /// The renewal on billing date `day`: the users holding each Brik then, except those
    /// added after the cut-off (already charged for it).
    fn renew(&mut self, day: Date) {
        let period = self.period_containing(day);
        let mut held: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        for u in self.users.iter().filter(|u| u.present_on(day)) {
            for h in &u.briks {
                if u.holds_on(h, day) && h.since <= day - 2.days() {
                    held.entry(h.brik).or_default().push(u.id.clone());
                }
            }
        }
        if held.is_empty() {
            return;
        }
        let lines = held
            .into_iter()
            .map(|(brik, holders)| Line {
                brik,
                quantity: holders.len() as u32,
                proration: Some((period.days(), period.basis())),
                amount: cents(
                    price(brik)
                        * Decimal::from(holders.len() as u32)
                        * Decimal::from(period.days())
                        / Decimal::from(period.basis()),
                ),
                covers: holders.into_iter().map(|u| (u, period)).collect(),
            })
            .collect();
        let paid = !self.card_fails;
        if !paid {
            self.open_since = Some(day);
        }
        self.invoices.push(Invoice {
            kind: "renewal",
            issue_date: day,
            period,
            lines,
            paid,
        });
    }

    /// The clock moves to `to`: every billing date on the way renews.
    fn advance(&mut self, to: Date) {
        while self.today < to {
            self.today += 1.day();
            if self.period().start == self.today {
                self.renew(self.today);
            }
        }
    }

    fn user_mut(&mut self, id: &str) -> &mut User {
        self.users.iter_mut().find(|u| u.id == id).expect("a user")
    }

    fn present(&self) -> Vec<&User> {
        self.users
            .iter()
            .filter(|u| u.present_on(self.today))
            .collect()
    }

    /// Every (user, Brik, day) from signup to the end of the current period: held days
    /// billed exactly once, other days not at all.
    fn coverage_errors(&self) -> Vec<String> {
        let horizon = self.period().end;
        let mut billed: BTreeMap<(String, &str, Date), u32> = BTreeMap::new();
        for invoice in &self.invoices {
            for line in &invoice.lines {
                for (user, span) in &line.covers {
                    let mut day = span.start;
                    while day < span.end.min(horizon) {
                        *billed.entry((user.clone(), line.brik, day)).or_default() += 1;
                        day += 1.day();
                    }
                }
            }
        }
        let mut errors = Vec::new();
        let mut day = self.signup;
        while day < horizon {
            for u in &self.users {
                for (brik, _) in BRIKS {
                    let held = u.briks.iter().any(|h| h.brik == brik && u.holds_on(h, day));
                    let times = billed.remove(&(u.id.clone(), brik, day)).unwrap_or(0);
                    if times != u32::from(held) {
                        errors.push(format!(
                            "{} {brik} on {day}: held {held}, billed {times} times",
                            u.id
                        ));
                    }
                }
            }
            day += 1.day();
        }
        errors.extend(
            billed
                .keys()
                .map(|(u, b, d)| format!("{u} {b} on {d}: billed, no such user")),
        );
        errors
    }
}

/// One random step, chosen among those the model's state allows.
#[derive(Clone, Debug)]
enum Step {
    AddUser(Vec<&'static str>),
    Assign(String, &'static str),
    RemoveBrik(String, &'static str),
    RemoveUser(String),
    Restore(String),
    CardFails,
    CardWorks,
    Calendar,
    Advance(Date),
}

fn pick_briks(rng: &mut StdRng) -> Vec<&'static str> {
    BRIKS
        .iter()
        .filter(|_| rng.gen_bool(0.45))
        .map(|(b, _)| *b)
        .collect()
}

fn choose(rng: &mut StdRng, m: &Model) -> Step {
    let present = m.present();
    let staying: Vec<&&User> = present.iter().filter(|u| u.removal.is_none()).collect();
    loop {
        match rng.gen_range(0..20) {
            0..=2 => return Step::AddUser(pick_briks(rng)),
            3..=5 => {
                let u = staying[rng.gen_range(0..staying.len())];
                let b = BRIKS[rng.gen_range(0..BRIKS.len())].0;
                return Step::Assign(u.id.clone(), b);
            }
            6..=7 => {
                let held: Vec<(String, &'static str)> = staying
                    .iter()
                    .flat_map(|u| {
                        u.briks
                            .iter()
                            .filter(|h| u.holds_on(h, m.today) && h.until.is_none())
                            .map(|h| (u.id.clone(), h.brik))
                    })
                    .collect();
                if !held.is_empty() {
                    let (u, b) = held[rng.gen_range(0..held.len())].clone();
                    return Step::RemoveBrik(u, b);
                }
            }
            8 => {
                let members: Vec<&&&User> = staying.iter().filter(|u| !u.admin).collect();
                if !members.is_empty() {
                    return Step::RemoveUser(members[rng.gen_range(0..members.len())].id.clone());
                }
            }
            9 => {
                let leaving: Vec<&&User> = present.iter().filter(|u| u.removal.is_some()).collect();
                if !leaving.is_empty() {
                    return Step::Restore(leaving[rng.gen_range(0..leaving.len())].id.clone());
                }
            }
            10 => {
                if !m.card_fails {
                    return Step::CardFails;
                }
            }
            11 => {
                if m.card_fails {
                    return Step::CardWorks;
                }
            }
            12 => return Step::Calendar,
            _ => {
                // Dates that matter most often: the cut-off, the lock, the billing date.
                let end = m.period().end;
                let mut to = match rng.gen_range(0..6) {
                    0 => end - 2.days(),
                    1 => end - 1.day(),
                    2 => end,
                    _ => m.today + rng.gen_range(1..=12).days(),
                };
                if to <= m.today {
                    to = m.today + 1.day();
                }
                // A declined renewal is retried 1, 3 and 5 days later and then suspends the
                // account: the sequences stay before the last retry (suspension is
                // tests/tests/renewal.rs's), and a failing card is replaced first.
                if m.card_fails {
                    let limit = m.open_since.unwrap_or(end) + 4.days();
                    if m.today >= limit - 1.day() {
                        return Step::CardWorks;
                    }
                    to = to.min(limit);
                }
                return Step::Advance(to);
            }
        }
    }
}

fn instant(day: Date) -> String {
    format!("{day}T09:00:00Z")
}

/// The user ids and Briks the API shows, as (user, Brik, until).
fn shown(users: &Value) -> Vec<(String, String, Option<String>)> {
    let mut out: Vec<_> = users
        .as_array()
        .expect("users")
        .iter()
        .flat_map(|u| {
            u["briks"].as_array().unwrap().iter().map(move |b| {
                (
                    u["id"].as_str().unwrap().to_string(),
                    b["brik_id"].as_str().unwrap().to_string(),
                    b["until"].as_str().map(str::to_string),
                )
            })
        })
        .collect();
    out.sort();
    out
}

/// What the model shows on `today`: Briks held, or scheduled to end, per present user.
fn expected_shown(m: &Model) -> Vec<(String, String, Option<String>)> {
    let mut out: Vec<_> = m
        .present()
        .iter()
        .flat_map(|u| {
            u.briks.iter().filter(|h| u.holds_on(h, m.today)).map(|h| {
                (
                    u.id.clone(),
                    h.brik.to_string(),
                    u.end_of(h).map(|d| d.to_string()),
                )
            })
        })
        .collect();
    out.sort();
    out
}

/// Runs one random sequence; `Err` with its story when the stack and the model part.
async fn run_case(stack: &Stack, seed: u64, case: u64, steps: u64) -> Result<usize, String> {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(case));
    let mut story = String::new();
    let year = 2027 + rng.gen_range(0..2);
    let month = rng.gen_range(1..=12);
    let first = date(year, month, 1);
    // The 1st (already calendar months) and days 28 to 31 (clamped anchors) often.
    let day = if rng.gen_bool(0.1) {
        1
    } else if rng.gen_bool(0.5) {
        rng.gen_range(28..=first.days_in_month())
    } else {
        rng.gen_range(1..=first.days_in_month())
    };
    let signup = date(year, month, day);
    let mut briks = pick_briks(&mut rng);
    if briks.is_empty() {
        briks.push("files");
    }
    let clock = stack.new_clock(&instant(signup)).await;
    let email = unique_email("model");
    let mut body = signup_body(&email, Some(&clock));
    body["briks"] = json!(briks);
    let answer = stack.call("POST", "/signup", None, Some(&body), None).await;
    let _ = writeln!(story, "signup {signup} with {briks:?}: {}", answer.status);
    if answer.status != 201 {
        return Err(format!("{story}{}", answer.body));
    }
    let token = stack
        .sign_in(&email, PASSWORD)
        .await
        .map_err(|e| format!("{story}{e}"))?;
    let users = stack
        .call("GET", "/account/users", Some(&token), None, None)
        .await;
    let admin_id = users.body["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut m = Model::new(signup, admin_id, &briks);
    let mut members = 0;

    for _ in 0..steps {
        let step = choose(&mut rng, &m);
        // What the stack answered, and what the model expects: (status, invoice, date).
        let (answer, expected_status, expected_invoice, expected_date) = match &step {
            Step::AddUser(briks) => {
                members += 1;
                let body = json!({"email": unique_email("modelmember"), "name": format!("Member {members}"), "briks": briks});
                let answer = stack
                    .call("POST", "/account/users", Some(&token), Some(&body), None)
                    .await;
                if !briks.is_empty() && m.card_fails {
                    (answer, 402, None, None)
                } else {
                    let id = answer.body["user"]["id"]
                        .as_str()
                        .unwrap_or("?")
                        .to_string();
                    let invoice = (!briks.is_empty()).then(|| m.addition(&id, briks));
                    m.users.push(User {
                        id,
                        admin: false,
                        removal: None,
                        briks: briks
                            .iter()
                            .map(|b| Holding {
                                brik: b,
                                since: m.today,
                                until: None,
                            })
                            .collect(),
                    });
                    (answer, 201, invoice, None)
                }
            }
            Step::Assign(user, brik) => {
                let path = format!("/account/users/{user}/briks/{brik}");
                let answer = stack.call("PUT", &path, Some(&token), None, None).await;
                let today = m.today;
                let u = m.users.iter().find(|u| &u.id == user).unwrap();
                let current = u
                    .briks
                    .iter()
                    .position(|h| h.brik == *brik && u.holds_on(h, today));
                match current {
                    // Held, or held until a removal: free (the removal undone).
                    Some(i) => {
                        m.user_mut(user).briks[i].until = None;
                        (answer, 200, None, None)
                    }
                    None if m.card_fails => (answer, 402, None, None),
                    None => {
                        let invoice = m.addition(user, &[brik]);
                        m.user_mut(user).briks.push(Holding {
                            brik,
                            since: today,
                            until: None,
                        });
                        (answer, 200, Some(invoice), None)
                    }
                }
            }
            Step::RemoveBrik(user, brik) => {
                let path = format!("/account/users/{user}/briks/{brik}");
                let answer = stack.call("DELETE", &path, Some(&token), None, None).await;
                let (today, until) = (m.today, m.removal_date());
                let u = m.user_mut(user);
                let i = u
                    .briks
                    .iter()
                    .position(|h| h.brik == *brik && h.since <= today && h.until.is_none())
                    .unwrap();
                u.briks[i].until = Some(until);
                (answer, 202, None, Some(until))
            }
            Step::RemoveUser(user) => {
                let path = format!("/account/users/{user}");
                let answer = stack.call("DELETE", &path, Some(&token), None, None).await;
                let until = m.removal_date();
                m.user_mut(user).removal = Some(until);
                (answer, 202, None, Some(until))
            }
            Step::Restore(user) => {
                let path = format!("/account/users/{user}/restore");
                let answer = stack.call("POST", &path, Some(&token), None, None).await;
                m.user_mut(user).removal = None;
                (answer, 200, None, None)
            }
            Step::CardFails | Step::CardWorks => {
                let fails = matches!(step, Step::CardFails);
                let card = if fails {
                    "pm_card_chargeCustomerFail"
                } else {
                    "pm_card_mastercard"
                };
                let body = json!({"payment_method": card});
                let answer = stack
                    .call(
                        "PUT",
                        "/account/payment-method",
                        Some(&token),
                        Some(&body),
                        None,
                    )
                    .await;
                m.card_fails = fails;
                if !fails {
                    // A new card retries every open invoice at once.
                    for invoice in &mut m.invoices {
                        invoice.paid = true;
                    }
                    m.open_since = None;
                }
                (answer, 200, None, None)
            }
            Step::Calendar => {
                let body = json!({"mode": "calendar"});
                let answer = stack
                    .call(
                        "POST",
                        "/account/billing-alignment",
                        Some(&token),
                        Some(&body),
                        None,
                    )
                    .await;
                let period = m.period();
                if let Some(from) = m.calendar_from {
                    (answer, 200, None, Some(from))
                } else if period.start.day() == 1 && period.end.day() == 1 {
                    (answer, 200, None, Some(period.start))
                } else {
                    // After the cut-off the next period is locked: the switch follows it.
                    let from = if m.locked() {
                        m.next_period().end
                    } else {
                        period.end
                    };
                    m.calendar_from = Some(from);
                    (answer, 202, None, Some(from))
                }
            }
            Step::Advance(to) => {
                let path = format!("/test-clocks/{clock}/advance");
                let body = json!({"frozen_time": instant(*to)});
                let answer = stack.call("POST", &path, None, Some(&body), None).await;
                m.advance(*to);
                (answer, 200, None, None)
            }
        };
        let _ = writeln!(
            story,
            "{} {step:?}: {} {}",
            m.today, answer.status, answer.body
        );
        let mut wrong = Vec::new();
        if answer.status != expected_status {
            wrong.push(format!(
                "status {} (model {expected_status})",
                answer.status
            ));
        }
        if let Some(d) = expected_date
            && answer.body["effective_date"] != d.to_string()
        {
            wrong.push(format!("effective_date (model {d})"));
        }
        let got = answer
            .body
            .get("invoice")
            .filter(|i| !i.is_null())
            .map(normal);
        let want = expected_invoice.as_ref().map(Invoice::normal);
        if got != want {
            wrong.push(format!("invoice {}, model {}", json!(got), json!(want)));
        }
        if let Some(invoice) = expected_invoice {
            m.invoices.push(invoice);
        }
        if !wrong.is_empty() {
            return Err(format!("{story}  -> {}", wrong.join("; ")));
        }
    }

    // The account as a whole: its invoices, its users' Briks, and the invariant.
    let listed = stack
        .call(
            "GET",
            "/account/invoices?limit=200",
            Some(&token),
            None,
            None,
        )
        .await;
    let mut got: Vec<Value> = listed.body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(normal)
        .collect();
    let mut want: Vec<Value> = m.invoices.iter().map(Invoice::normal).collect();
    got.sort_by_key(Value::to_string);
    want.sort_by_key(Value::to_string);
    if got != want {
        let only_got: Vec<&Value> = got.iter().filter(|g| !want.contains(g)).collect();
        let only_want: Vec<&Value> = want.iter().filter(|w| !got.contains(w)).collect();
        return Err(format!(
            "{story}  -> invoices differ on {}\n  stack only: {}\n  model only: {}",
            m.today,
            json!(only_got),
            json!(only_want)
        ));
    }
    let users = stack
        .call("GET", "/account/users", Some(&token), None, None)
        .await;
    if shown(&users.body["items"]) != expected_shown(&m) {
        return Err(format!(
            "{story}  -> users' Briks on {}: stack {:?}, model {:?}",
            m.today,
            shown(&users.body["items"]),
            expected_shown(&m)
        ));
    }
    let uncovered = m.coverage_errors();
    if !uncovered.is_empty() {
        return Err(format!(
            "{story}  -> the model's own invoices: {uncovered:?}"
        ));
    }
    Ok(m.invoices.len())
}

#[tokio::test]
async fn random_sequences_bill_what_billing_md_says_each_user_brik_and_day_once() {
    let stack = Stack::connect().await;
    let seed = env_number("MODEL_SEED", 2026);
    let cases = env_number("MODEL_CASES", 8);
    let steps = env_number("MODEL_STEPS", 20);
    let results: Vec<(u64, Result<usize, String>)> = futures::stream::iter(0..cases)
        .map(|case| {
            let stack = &stack;
            async move { (case, run_case(stack, seed, case, steps).await) }
        })
        .buffer_unordered(3)
        .collect()
        .await;
    let mut failures = Vec::new();
    let mut invoices = 0;
    for (case, result) in results {
        match result {
            Ok(n) => invoices += n,
            Err(story) => failures.push(format!("case {case} (MODEL_SEED={seed}):\n{story}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    eprintln!(
        "model: {cases} sequences of {steps} steps (seed {seed}): {invoices} invoices, all as billing.md's model, every (user, Brik, day) billed once"
    );
}

// What the model found, pinned as plain cases.

/// Asks for calendar-month billing.
async fn calendar_months(stack: &Stack, token: &str) -> softbrik_integration_tests::Answer {
    let body = json!({"mode": "calendar"});
    stack
        .call(
            "POST",
            "/account/billing-alignment",
            Some(token),
            Some(&body),
            None,
        )
        .await
}

/// The admin of a company signed up on `at` (files and care), and a member invited then.
async fn with_member(
    stack: &Stack,
    at: &str,
    briks: &[&str],
) -> (softbrik_integration_tests::Company, String) {
    let company = stack.company_on_clock(at).await;
    let invited = stack
        .call(
            "POST",
            "/account/users",
            Some(&company.token),
            Some(&json!({"email": unique_email("member"), "name": "Bob Martin", "briks": briks})),
            None,
        )
        .await;
    assert_eq!(invited.status, 201, "{invited:?}");
    let member = invited.body["user"]["id"].as_str().unwrap().to_string();
    (company, member)
}

#[tokio::test]
async fn undoing_a_users_removal_leaves_a_brik_removed_on_its_own_removed() {
    // GIVEN Bob with files and stock; on Dec 20 his stock is removed, then Bob himself
    let stack = Stack::connect().await;
    let (company, bob) = with_member(&stack, "2026-12-12T10:00:00Z", &["files", "stock"]).await;
    stack.advance(&company.clock, "2026-12-20T10:00:00Z").await;
    let token = Some(company.token.as_str());
    let stock = format!("/account/users/{bob}/briks/stock");
    assert_eq!(
        stack.call("DELETE", &stock, token, None, None).await.status,
        202
    );
    let user = format!("/account/users/{bob}");
    assert_eq!(
        stack.call("DELETE", &user, token, None, None).await.status,
        202
    );

    // WHEN Bob's removal is undone
    let restored = stack
        .call("POST", &format!("{user}/restore"), token, None, None)
        .await;

    // THEN his stock still ends on Jan 12, and the Jan 12 renewal bills no stock
    assert_eq!(restored.status, 200, "{restored:?}");
    let briks = restored.body["briks"].as_array().unwrap();
    let stock_until = briks.iter().find(|b| b["brik_id"] == "stock").unwrap();
    assert_eq!(stock_until["until"], "2027-01-12", "{restored:?}");
    stack.advance(&company.clock, "2027-01-12T12:00:00Z").await;
    let invoices = stack
        .call("GET", "/account/invoices", token, None, None)
        .await;
    let renewed = softbrik_integration_tests::renewals(&invoices.body);
    let billed: Vec<(String, u64)> = renewed[0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["brik_id"].as_str().unwrap().to_string(),
                l["quantity"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        billed,
        vec![("care".to_string(), 1), ("files".to_string(), 2)],
        "{renewed:?}"
    );
}

#[tokio::test]
async fn an_addition_after_the_cut_off_pays_the_calendar_stub_that_follows_as_its_share() {
    // GIVEN anchor 12, calendar months asked on Nov 20 (billing.md's example): the Dec 12
    // renewal covers the stub Dec 12 - Jan 1
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-11-12T10:00:00Z").await;
    let token = Some(company.token.as_str());
    stack.advance(&company.clock, "2026-11-20T10:00:00Z").await;
    let switched = calendar_months(&stack, &company.token).await;
    assert_eq!(
        switched.body["effective_date"], "2026-12-12",
        "{switched:?}"
    );

    // WHEN Bob gets stock on Dec 11, after the cut-off
    stack.advance(&company.clock, "2026-12-11T10:00:00Z").await;
    let invited = stack
        .call(
            "POST",
            "/account/users",
            token,
            Some(
                &json!({"email": unique_email("member"), "name": "Bob Martin", "briks": ["stock"]}),
            ),
            None,
        )
        .await;

    // THEN he pays Dec 11 (1/30) and the stub as its share of December (20/31), not a month
    let amounts: Vec<&str> = invited.body["invoice"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, vec!["0.27", "5.16"], "{invited:?}");
    assert_eq!(invited.body["invoice"]["subtotal"], "5.43");
}

#[tokio::test]
async fn calendar_months_asked_after_the_cut_off_start_after_the_period_already_locked() {
    // GIVEN a renewal locked on Jan 11 for Jan 12 - Feb 12
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    stack.advance(&company.clock, "2027-01-11T10:00:00Z").await;
    // WHEN calendar months are asked for, THEN they start after that period
    let switched = calendar_months(&stack, &company.token).await;
    assert_eq!(switched.status, 202, "{switched:?}");
    assert_eq!(switched.body["effective_date"], "2027-02-12");

    // AND an account anchored on the 1st is already on calendar months: unchanged
    let first = stack.company_on_clock("2027-03-01T10:00:00Z").await;
    let unchanged = calendar_months(&stack, &first.token).await;
    assert_eq!(unchanged.status, 200, "{unchanged:?}");
    assert_eq!(unchanged.body["changed"], false);
}
