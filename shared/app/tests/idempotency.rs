//! `Idempotency-Key` (api.md), in process: GIVEN the answers kept in memory and the real time
//! frozen, WHEN requests are sent, sent again, refused or stopped half-way, THEN each key runs
//! its request once and answers every duplicate as the first time.

use std::collections::BTreeMap;
use std::sync::Mutex;

use jiff::{Timestamp, ToSpan};
use serde_json::{Value, json};
use softbrik_app::Error;
use softbrik_app::idempotency::{self, LEASE_SECONDS, Lease, WINDOW_SECONDS};
use softbrik_app::memory::World;

const SCOPE: &str = "ACCOUNT#acc_dupont";

fn start() -> Timestamp {
    "2026-12-20T11:00:00Z".parse().unwrap()
}

/// The ids a first attempt reserves: new ones at every call, numbered.
fn reserve(made: &Mutex<u32>) -> impl Fn() -> BTreeMap<String, String> + '_ {
    move || {
        let mut made = made.lock().unwrap();
        *made += 1;
        BTreeMap::from([
            ("user".to_string(), format!("usr_{made}")),
            ("invoice".to_string(), format!("inv_{made}")),
        ])
    }
}

/// A request that records its answer (201, its ids) as its change's transaction would.
async fn invite(
    world: &World,
    key: Option<&str>,
    body: Value,
    made: &Mutex<u32>,
    runs: &Mutex<Vec<Lease>>,
    outcome: Result<(), Error>,
) -> Result<(u16, Value), Error> {
    let ports = world.ports();
    idempotency::once(
        ports.answers,
        ports.clock,
        SCOPE,
        key,
        json!({"route": "POST /account/users", "body": body}),
        reserve(made),
        async |lease: &Lease| {
            runs.lock().unwrap().push(lease.clone());
            outcome?;
            let answer = json!({"user": lease.id("user"), "invoice": lease.id("invoice")});
            idempotency::finish_alone(ports.answers, lease, "acc_dupont", 201, &answer).await?;
            Ok((201, answer))
        },
    )
    .await
}

fn bob() -> Value {
    json!({"email": "bob@dupont.fr", "name": "Bob"})
}

#[tokio::test]
async fn a_duplicate_is_answered_as_the_first_time_and_runs_nothing() {
    let world = World::at(start());
    let (made, runs) = (Mutex::new(0), Mutex::new(Vec::new()));
    let first = invite(&world, Some("k1"), bob(), &made, &runs, Ok(()))
        .await
        .unwrap();
    // WHEN the same request comes again with the same key, its keys in another order
    let body = json!({"name": "Bob", "email": "bob@dupont.fr"});
    let again = invite(&world, Some("k1"), body, &made, &runs, Ok(()))
        .await
        .unwrap();
    assert_eq!(again, first);
    assert_eq!(first.1["user"], "usr_1");
    assert_eq!(runs.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_key_used_with_another_request_is_refused() {
    let world = World::at(start());
    let (made, runs) = (Mutex::new(0), Mutex::new(Vec::new()));
    invite(&world, Some("k1"), bob(), &made, &runs, Ok(()))
        .await
        .unwrap();
    let carol = json!({"email": "carol@dupont.fr", "name": "Carol"});
    let refused = invite(&world, Some("k1"), carol, &made, &runs, Ok(())).await;
    assert!(matches!(refused, Err(Error::IdempotencyKeyReused)));
    assert_eq!(runs.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_duplicate_sent_while_the_first_runs_waits() {
    let world = World::at(start());
    let (made, runs) = (Mutex::new(0), Mutex::new(Vec::new()));
    let ports = world.ports();
    // GIVEN the first request running: its lease taken, its answer not recorded yet
    let request = json!({"route": "POST /account/users", "body": bob()});
    let running = idempotency::begin(
        ports.answers,
        ports.clock,
        SCOPE,
        Some("k1"),
        &request,
        reserve(&made),
    )
    .await
    .unwrap();
    assert!(matches!(running, idempotency::Begin::Run(_)));
    // WHEN the duplicate arrives
    let waiting = invite(&world, Some("k1"), bob(), &made, &runs, Ok(())).await;
    // THEN 409 in progress, and it ran nothing
    assert!(matches!(waiting, Err(Error::IdempotencyInProgress)));
    assert!(runs.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_refused_request_leaves_no_trace_and_may_be_sent_again() {
    let world = World::at(start());
    let (made, runs) = (Mutex::new(0), Mutex::new(Vec::new()));
    let refused = invite(
        &world,
        Some("k1"),
        bob(),
        &made,
        &runs,
        Err(Error::EmailTaken),
    )
    .await;
    assert!(matches!(refused, Err(Error::EmailTaken)));
    assert_eq!(world.tables.answers.record(SCOPE, "k1"), None);
    // WHEN sent again, with another body even: it runs
    let carol = json!({"email": "carol@dupont.fr", "name": "Carol"});
    invite(&world, Some("k1"), carol, &made, &runs, Ok(()))
        .await
        .unwrap();
    assert_eq!(runs.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_request_stopped_by_a_dependency_is_retried_at_once_with_its_ids_but_a_new_invoice() {
    let world = World::at(start());
    let (made, runs) = (Mutex::new(0), Mutex::new(Vec::new()));
    let failed = invite(
        &world,
        Some("k1"),
        bob(),
        &made,
        &runs,
        Err(Error::unavailable("cognito")),
    )
    .await;
    assert!(matches!(failed, Err(Error::Unavailable(_))));
    // WHEN the client retries at once
    let (_, answer) = invite(&world, Some("k1"), bob(), &made, &runs, Ok(()))
        .await
        .unwrap();
    // THEN the same user id (a sign-in it may have left is finished), a new invoice id (the
    // first one's charge was refunded or is the settlement run's)
    assert_eq!(answer["user"], "usr_1");
    assert_ne!(answer["invoice"], "inv_1");
}

#[tokio::test]
async fn a_request_whose_write_is_in_doubt_keeps_its_invoice_for_the_retry() {
    let world = World::at(start());
    let (made, runs) = (Mutex::new(0), Mutex::new(Vec::new()));
    let in_doubt = Err(Error::InDoubt("timeout".into()));
    let _ = invite(&world, Some("k1"), bob(), &made, &runs, in_doubt).await;
    let (_, answer) = invite(&world, Some("k1"), bob(), &made, &runs, Ok(()))
        .await
        .unwrap();
    // THEN the retry charges under the same invoice id: the partner answers the same charge
    assert_eq!(
        (answer["user"].clone(), answer["invoice"].clone()),
        (json!("usr_1"), json!("inv_1"))
    );
}

#[tokio::test]
async fn a_lease_left_by_a_stopped_function_is_taken_over_once_it_runs_out() {
    let world = World::at(start());
    let (made, runs) = (Mutex::new(0), Mutex::new(Vec::new()));
    let ports = world.ports();
    let request = json!({"route": "POST /account/users", "body": bob()});
    // GIVEN a request that took its lease and stopped (nothing freed it)
    idempotency::begin(
        ports.answers,
        ports.clock,
        SCOPE,
        Some("k1"),
        &request,
        reserve(&made),
    )
    .await
    .unwrap();
    // WHEN the retry comes before the lease runs out: it waits
    let early = invite(&world, Some("k1"), bob(), &made, &runs, Ok(())).await;
    assert!(matches!(early, Err(Error::IdempotencyInProgress)));
    // WHEN it comes after: it runs with every id the first attempt reserved, the invoice's too
    world
        .tables
        .set_now(start() + (LEASE_SECONDS + 1).seconds());
    let (_, answer) = invite(&world, Some("k1"), bob(), &made, &runs, Ok(()))
        .await
        .unwrap();
    assert_eq!(
        (answer["user"].clone(), answer["invoice"].clone()),
        (json!("usr_1"), json!("inv_1"))
    );
}

#[tokio::test]
async fn after_24_hours_a_key_may_serve_another_request() {
    let world = World::at(start());
    let (made, runs) = (Mutex::new(0), Mutex::new(Vec::new()));
    invite(&world, Some("k1"), bob(), &made, &runs, Ok(()))
        .await
        .unwrap();
    world
        .tables
        .set_now(start() + (WINDOW_SECONDS + 1).seconds());
    let carol = json!({"email": "carol@dupont.fr", "name": "Carol"});
    let (_, answer) = invite(&world, Some("k1"), carol, &made, &runs, Ok(()))
        .await
        .unwrap();
    assert_ne!(
        answer["user"], "usr_1",
        "a new request, with ids of its own"
    );
}

#[tokio::test]
async fn without_a_key_every_request_runs() {
    let world = World::at(start());
    let (made, runs) = (Mutex::new(0), Mutex::new(Vec::new()));
    invite(&world, None, bob(), &made, &runs, Ok(()))
        .await
        .unwrap();
    invite(&world, None, bob(), &made, &runs, Ok(()))
        .await
        .unwrap();
    assert_eq!(runs.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_repeatable_change_is_answered_once_recorded_right_after_it() {
    let world = World::at(start());
    let ports = world.ports();
    let ran = Mutex::new(0);
    let remove = async || {
        idempotency::guard(
            ports.answers,
            ports.clock,
            SCOPE,
            "acc_dupont",
            Some("k1"),
            json!({"route": "DELETE /account/users/{user_id}", "user": "usr_bob"}),
            async || {
                *ran.lock().unwrap() += 1;
                Ok((202, json!({"effective_date": "2027-01-12"})))
            },
        )
        .await
    };
    let first = remove().await.unwrap();
    let again = remove().await.unwrap();
    assert_eq!((first.0, &again), (202, &first));
    assert_eq!(*ran.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_new_keys_first_charge_is_recorded_with_its_lease_and_struck_off_with_its_answer() {
    let world = World::at(start());
    let (made, runs) = (Mutex::new(0), Mutex::new(Vec::new()));
    // WHEN a keyed request that reserves an invoice runs: while it runs, its first charge is
    // in the book (for settlement, should it stop), recorded by the lease's own write
    let ports = world.ports();
    let seen = Mutex::new(None);
    idempotency::once(
        ports.answers,
        ports.clock,
        SCOPE,
        Some("k1"),
        json!({"route": "PUT /account/packs", "quantity": 2}),
        reserve(&made),
        async |lease: &Lease| {
            *seen.lock().unwrap() = Some(world.tables.book.entries());
            let answer = json!({"invoice": lease.id("invoice")});
            idempotency::finish_alone(ports.answers, lease, "acc_dupont", 200, &answer).await?;
            Ok((200, answer))
        },
    )
    .await
    .unwrap();
    let during = seen.lock().unwrap().clone().unwrap();
    let entry = during.get("inv_1:1").expect("the first charge in the book");
    assert_eq!(
        (entry.account_id.as_str(), entry.invoice_id.as_str()),
        ("acc_dupont", "inv_1")
    );
    // THEN the answer struck it off
    assert!(world.tables.book.entries().is_empty());
    // AND a request refused gives its key back and strikes its first charge off too
    let refused = invite(
        &world,
        Some("k2"),
        bob(),
        &made,
        &runs,
        Err(Error::Refused(
            softbrik_domain::refusal::Refusal::NotForReseller,
        )),
    )
    .await;
    assert!(refused.is_err());
    assert!(world.tables.book.entries().is_empty());
}

#[tokio::test]
async fn a_key_sent_without_an_invoice_or_taken_over_records_no_first_charge() {
    let world = World::at(start());
    let ports = world.ports();
    // A request reserving no invoice records no charge
    idempotency::once(
        ports.answers,
        ports.clock,
        SCOPE,
        Some("k1"),
        json!({"route": "DELETE /account/users/usr_bob"}),
        || BTreeMap::from([("history".to_string(), "hst_1".to_string())]),
        async |_: &Lease| {
            assert!(world.tables.book.entries().is_empty());
            Ok((202, json!({})))
        },
    )
    .await
    .unwrap();
    // A request stopped by a dependency keeps its ids; its retry takes the lease over and
    // records nothing more with it (its charge, if made, is looked up in the book as usual)
    let (made, runs) = (Mutex::new(0), Mutex::new(Vec::new()));
    let stopped = invite(
        &world,
        Some("k3"),
        bob(),
        &made,
        &runs,
        Err(Error::InDoubt("no answer".into())),
    )
    .await;
    assert!(stopped.is_err());
    let kept = world.tables.book.entries();
    assert_eq!(
        kept.len(),
        1,
        "the stopped request's first charge stays for settlement"
    );
    invite(&world, Some("k3"), bob(), &made, &runs, Ok(()))
        .await
        .unwrap();
    // THEN the book holds the first attempt's charge only (struck off by the invoice's own
    // write, or settled): the retry recorded none with its lease
    let after: Vec<String> = world.tables.book.entries().into_keys().collect();
    let before: Vec<String> = kept.into_keys().collect();
    assert_eq!(after, before);
}
