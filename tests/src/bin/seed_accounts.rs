//! Signs up many accounts fast, for the billing-run bench at scale (`make bench-workers`,
//! docs/performance.md): `seed_accounts <count> <test clock> <at once>`, run with the `signup`
//! function's environment (the bench passes it, with its own credentials), prints one JSON
//! line.
//!
//! Each account is made by the signup use case itself (`softbrik_app::signup::signup`) over
//! the stack's own adapters, the table, KMS and EventBridge, so that what a billing run
//! finds is what a signup stores: the account, its data key, its admin, its first invoice
//! numbered, its schedules, its events told. What a billing run never reads is left out, and
//! that is what made signing up through the API slow (about 4 a second here): the request's
//! way through the gateway and a function, the admin's sign-in in Cognito (kept in memory
//! here), the signup rate limits (20,000 signups are not an attack), the first invoice's email
//! (not sent), and the partner's latency and rate, which are the billing run's to meet (the
//! sandbox is asked without them; its ledger is the same).

use std::time::Instant;

use async_trait::async_trait;
use futures::StreamExt;
use jiff::Timestamp;
use softbrik::app::App;
use softbrik::payments::{SandboxLimits, SandboxPayments};
use softbrik_app::error::Error;
use softbrik_app::memory::{Outbox, SignIns};
use softbrik_app::ports::mailer::InvoiceMail;
use softbrik_app::ports::signup::{NewAccount, SignupTable};
use softbrik_app::ports::team::{Answering, Committed, Stamp};
use softbrik_domain::account::{Account, Invoice};
use softbrik_domain::catalogue::Brik;
use softbrik_domain::values::{Country, EmailAddress};
use softbrik_integration_tests::{signup_body, unique_email};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, count, clock, at_once] = &args[..] else {
        panic!("usage: seed_accounts <count> <test clock> <at once>");
    };
    let count: usize = count.parse().expect("a count");
    let at_once: usize = at_once.parse().expect("how many at once");
    let app = App::from_env()
        .await
        .expect("the signup function's environment");
    let seeding = Seeding { app: &app };
    let partner = SandboxPayments::new(app.store.clone(), SandboxLimits::default());
    let (sign_ins, outbox) = (SignIns::default(), Outbox::default());
    let mut ports = app.ports();
    ports.signups = &seeding;
    ports.directory = &sign_ins;
    ports.mailer = &outbox;
    ports.invoices = &seeding;
    ports.payments = &partner;

    let started = Instant::now();
    let made: Vec<Result<(), String>> = futures::stream::iter(0..count)
        .map(|_| {
            let ports = &ports;
            let app = &app;
            async move {
                let body = signup_body(&unique_email("seed"), Some(clock));
                let cmd = serde_json::from_value::<softbrik::signup::SignupBody>(body.clone())
                    .map_err(|e| e.to_string())?
                    .parse()
                    .map_err(|e| e.to_string())?;
                let (status, answer) = softbrik_app::signup::signup(ports, &body, cmd, None, None)
                    .await
                    .map_err(|e| e.to_string())?;
                let account = answer["account"]["id"].as_str().unwrap_or_default();
                if status != 201 || account.is_empty() {
                    return Err(format!("signup answered {status}: {answer}"));
                }
                // Told as the signup function tells them, so that the run tells only its own.
                softbrik::events::publish_account(app, account).await;
                Ok(())
            }
        })
        .buffer_unordered(at_once)
        .collect()
        .await;
    let failed: Vec<&String> = made.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {count} failed: {:?}",
        failed.len(),
        failed.first()
    );
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"accounts": count, "seconds": seconds, "per_second": count as f64 / seconds})
    );
}

/// The stack's signup adapter, but for the attempt limits, and an invoice email never sent.
struct Seeding<'a> {
    app: &'a App,
}

#[async_trait]
impl SignupTable for Seeding<'_> {
    async fn now_on(&self, test_clock_id: Option<&str>) -> Result<Timestamp, Error> {
        self.app.now_on(test_clock_id).await
    }

    async fn admit(&self, _: Option<&str>, _: &EmailAddress, _: &str) -> Result<(), Error> {
        Ok(())
    }

    async fn catalogue(&self) -> Result<Vec<Brik>, Error> {
        SignupTable::catalogue(self.app).await
    }

    fn issuer(&self) -> Country {
        self.app.issuer()
    }

    async fn new_key(&self, account_id: &str) -> Result<Stamp, Error> {
        self.app.new_key(account_id).await
    }

    async fn create(
        &self,
        key: &Stamp,
        new: NewAccount,
        answer: Option<Answering<'_>>,
    ) -> Result<Committed, Error> {
        self.app.create(key, new, answer).await
    }
}

#[async_trait]
impl InvoiceMail for Seeding<'_> {
    async fn email(&self, _: &Account, _: &Invoice) {}
}
