//! The support desk (support.md, api.md "Support tickets"), in process: GIVEN Fromagerie
//! Dupont (Alice its admin, Bob a member, on the Basic plan, Paris hours) in memory and
//! Softbrik's support team, WHEN they open tickets and take the incident flow's steps, THEN who
//! sees what, each status and SLA target, the mails, the answers kept for `Idempotency-Key`s,
//! the monthly report and what the SLA run does (breaches, P1 update alerts, the automatic
//! close, pseudonymisation) are what support.md promises.

mod common;

use common::{ACCOUNT, dupont_paying};
use jiff::civil::{Date, date};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use softbrik_app::Error;
use softbrik_app::memory::World;
use softbrik_app::support::{
    self, AcknowledgeBody, Attachment, ListQuery, MessageBody, NewTicketBody, Opening, StaffStep,
    TextBody, Viewer, With, Written,
};
use softbrik_domain::account::{AccountKind, SupportPlan, UserStatus};
use softbrik_domain::examples::{admin, bob, company};
use softbrik_domain::refusal::Refusal;
use softbrik_domain::ticket::{Channel, Kind, Status};

/// Tuesday 23 March 2027: a business day in Paris.
const DAY: Date = date(2027, 3, 23);

fn dupont() -> World {
    dupont_paying(DAY, AccountKind::Company)
}

fn alice() -> Viewer {
    Viewer::Admin {
        account_id: ACCOUNT.into(),
        user_id: "usr_alice".into(),
    }
}

fn bob_viewer() -> Viewer {
    Viewer::Member {
        account_id: ACCOUNT.into(),
        user_id: "usr_bob".into(),
    }
}

fn staff() -> Viewer {
    Viewer::Staff {
        sub: "staff-1".into(),
    }
}

fn set_plan(world: &World, plan: SupportPlan) {
    world
        .tables
        .change_account(ACCOUNT, |a| a.support_plan = plan);
}

async fn open(
    world: &World,
    viewer: &Viewer,
    channel: &str,
    impact: Option<&str>,
    key: Option<&str>,
) -> Result<(u16, Value), Error> {
    let mut raw = json!({
        "subject": "The label printer stopped",
        "description": "Nothing prints since this morning.",
        "channel": channel,
    });
    if let Some(impact) = impact {
        raw["impact"] = json!(impact);
    }
    let body: NewTicketBody = serde_json::from_value(raw.clone()).unwrap();
    support::open(&world.ports(), viewer, body, &raw, key).await
}

/// A ticket opened on the web by `viewer`: its id.
async fn opened(world: &World, viewer: &Viewer, impact: Option<&str>) -> String {
    let (status, answer) = open(world, viewer, "web", impact, None).await.unwrap();
    assert_eq!(status, 201);
    answer["id"].as_str().unwrap().to_string()
}

async fn message(
    world: &World,
    viewer: &Viewer,
    ticket: &str,
    raw: Value,
    key: Option<&str>,
) -> Result<(u16, Value), Error> {
    let body: MessageBody = serde_json::from_value(raw.clone()).unwrap();
    support::add_message(&world.ports(), viewer, ticket, body, &raw, key).await
}

async fn acknowledge(
    world: &World,
    viewer: &Viewer,
    ticket: &str,
    priority: &str,
    key: Option<&str>,
) -> Result<(u16, Value), Error> {
    let raw = json!({ "priority": priority });
    let body: AcknowledgeBody = serde_json::from_value(raw.clone()).unwrap();
    support::acknowledge(&world.ports(), viewer, ticket, body, &raw, key).await
}

async fn staff_step(world: &World, ticket: &str, step: StaffStep) -> Result<(u16, Value), Error> {
    let raw = json!({ "body": "Restart the print spooler." });
    let body: TextBody = serde_json::from_value(raw.clone()).unwrap();
    support::staff_step(&world.ports(), &staff(), ticket, step, body, &raw, None).await
}

async fn get(world: &World, viewer: &Viewer, ticket: &str) -> Result<Value, Error> {
    support::get(&world.ports(), viewer, ticket).await
}

fn mails_to(world: &World, to: &str) -> Vec<String> {
    world
        .support_outbox
        .sent()
        .into_iter()
        .filter(|m| m.to == to)
        .map(|m| m.subject)
        .collect()
}

fn target<'a>(view: &'a Value, name: &str) -> &'a Value {
    view["sla"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap()
}

#[tokio::test]
async fn a_member_opens_a_ticket_is_told_its_number_and_a_replay_opens_nothing_more() {
    // GIVEN Dupont on the Basic plan
    let world = dupont();
    // WHEN Bob opens a ticket on the web, twice with the same key
    let (status, first) = open(&world, &bob_viewer(), "web", None, Some("k-1"))
        .await
        .unwrap();
    let (again, replayed) = open(&world, &bob_viewer(), "web", None, Some("k-1"))
        .await
        .unwrap();
    // THEN one ticket, P3 and new, with his description as first message, and one mail
    assert_eq!((status, again), (201, 201));
    assert_eq!(first, replayed);
    assert!(first["number"].as_str().unwrap().starts_with("SB-"));
    assert_eq!(first["status"], "new");
    assert_eq!(first["priority"], "P3");
    assert_eq!(first["requester"]["email"], "bob@dupont.fr");
    assert_eq!(target(&first, "acknowledge")["paused"], false);
    let tickets = world.tables.tickets_of(ACCOUNT);
    assert_eq!(tickets.len(), 1);
    let messages = world.tables.messages_of(&tickets[0].id);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].body, "Nothing prints since this morning.");
    assert_eq!(messages[0].author_user_id.as_deref(), Some("usr_bob"));
    let mails = mails_to(&world, "bob@dupont.fr");
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].contains(first["number"].as_str().unwrap()),
        "{mails:?}"
    );
}

#[tokio::test]
async fn phone_support_comes_with_the_pro_and_enterprise_plans() {
    let world = dupont();
    // Basic: no phone at all
    let refused = open(&world, &alice(), "phone", None, None).await;
    assert!(matches!(
        refused,
        Err(Error::Refused(Refusal::PlanRequired(_)))
    ));
    assert!(world.tables.tickets_of(ACCOUNT).is_empty());
    // Pro: P2 and P3 by phone, not a critical one
    set_plan(&world, SupportPlan::Pro);
    assert_eq!(
        open(&world, &alice(), "phone", Some("high"), None)
            .await
            .unwrap()
            .0,
        201
    );
    let critical = open(&world, &alice(), "phone", Some("critical"), None).await;
    assert!(matches!(
        critical,
        Err(Error::Refused(Refusal::PlanRequired(_)))
    ));
    // Enterprise: every priority
    set_plan(&world, SupportPlan::Enterprise);
    let (_, p1) = open(&world, &alice(), "phone", Some("critical"), None)
        .await
        .unwrap();
    assert_eq!(p1["priority"], "P1");
    assert_eq!(world.tables.tickets_of(ACCOUNT).len(), 2);
}

#[tokio::test]
async fn bad_input_and_callers_who_may_not_open_write_nothing() {
    let world = dupont();
    let raw = json!({"subject": "  ", "description": "x", "channel": "fax", "impact": "mild"});
    let body: NewTicketBody = serde_json::from_value(raw.clone()).unwrap();
    let invalid = support::open(&world.ports(), &alice(), body, &raw, None).await;
    let Err(Error::Validation(errors)) = invalid else {
        panic!("{invalid:?}");
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["subject", "channel", "impact"]);
    // Staff open tickets for a customer through the customer's admin, not themselves.
    let staff_open = open(&world, &staff(), "web", None, None).await;
    assert!(matches!(staff_open, Err(Error::Forbidden)));
    // A member whose access is cut no longer writes to support.
    let mut cut = bob(&["files"], date(2026, 12, 12));
    cut.status = UserStatus::AccessRevoked;
    world.tables.add_user(ACCOUNT, cut);
    let revoked = open(&world, &bob_viewer(), "web", None, None).await;
    assert!(matches!(revoked, Err(Error::Forbidden)));
    assert!(world.tables.tickets_of(ACCOUNT).is_empty());
    assert!(world.support_outbox.sent().is_empty());
}

#[tokio::test]
async fn a_member_sees_their_own_tickets_an_admin_the_accounts_and_another_tenant_none() {
    // GIVEN Dupont and another company, each with tickets
    let world = dupont();
    let mut other = company(date(2026, 12, 12));
    other.id = "acc_other".into();
    world.tables.add_account(other);
    world
        .tables
        .add_user("acc_other", admin(&[], date(2026, 12, 12)));
    let other_admin = Viewer::Admin {
        account_id: "acc_other".into(),
        user_id: "usr_alice".into(),
    };
    let bobs = opened(&world, &bob_viewer(), None).await;
    let alices = opened(&world, &alice(), None).await;
    let others = opened(&world, &other_admin, None).await;
    // THEN each sees what is theirs; anything else does not exist for them
    assert!(matches!(
        get(&world, &bob_viewer(), &alices).await,
        Err(Error::NotFound)
    ));
    assert_eq!(get(&world, &bob_viewer(), &bobs).await.unwrap()["id"], bobs);
    assert_eq!(get(&world, &alice(), &bobs).await.unwrap()["id"], bobs);
    assert!(matches!(
        get(&world, &alice(), &others).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        get(&world, &other_admin, &bobs).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        get(&world, &staff(), "nope").await,
        Err(Error::NotFound)
    ));
    assert_eq!(
        get(&world, &staff(), &others).await.unwrap()["account_id"],
        "acc_other"
    );
    let ids = |viewer: Viewer| {
        let world = &world;
        async move {
            let list = support::list(&world.ports(), &viewer, ListQuery::default())
                .await
                .unwrap();
            list.items.into_iter().map(|t| t.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(bob_viewer()).await, vec![bobs.clone()]);
    assert_eq!(ids(alice()).await, [alices.clone(), bobs.clone()]);
    assert_eq!(ids(staff()).await, [others, alices, bobs]);
    // And no one but the team steps in for the team.
    let by_bob = acknowledge(
        &world,
        &bob_viewer(),
        &ids(bob_viewer()).await[0],
        "P1",
        None,
    )
    .await;
    assert!(matches!(by_bob, Err(Error::Forbidden)));
}

#[tokio::test]
async fn the_team_qualifies_waits_for_the_customer_and_a_reply_runs_the_clock_again() {
    let world = dupont();
    let ticket = opened(&world, &bob_viewer(), None).await;
    // WHEN the team qualifies it P2
    let (_, view) = acknowledge(&world, &staff(), &ticket, "P2", None)
        .await
        .unwrap();
    // THEN acknowledged, the acknowledge target met
    assert_eq!(view["status"], "acknowledged");
    assert_eq!(view["priority"], "P2");
    assert!(target(&view, "acknowledge")["met_at"].is_string());
    // WHEN the team asks Bob something and waits for him
    let ask = json!({"body": "Which model is it?", "pending_customer": true});
    let (status, view) = message(&world, &staff(), &ticket, ask, None).await.unwrap();
    assert_eq!(status, 201);
    assert_eq!(view["status"], "pending_customer");
    assert_eq!(target(&view, "resolution")["paused"], true);
    // and writes an internal note
    let note = json!({"body": "Known issue with firmware 2.1", "public": false});
    message(&world, &staff(), &ticket, note, None)
        .await
        .unwrap();
    // THEN Bob was told of the question, not of the note, and does not see the note
    assert_eq!(
        mails_to(&world, "bob@dupont.fr").len(),
        2,
        "opened, then asked"
    );
    let seen_by_bob = get(&world, &bob_viewer(), &ticket).await.unwrap();
    assert_eq!(seen_by_bob["messages"].as_array().unwrap().len(), 2);
    let seen_by_staff = get(&world, &staff(), &ticket).await.unwrap();
    assert_eq!(seen_by_staff["messages"].as_array().unwrap().len(), 3);
    assert_eq!(
        seen_by_staff["messages"][1]["author"]["name"],
        "Softbrik support"
    );
    // Bob may neither write notes nor put the ticket on hold
    let bobs_note = message(
        &world,
        &bob_viewer(),
        &ticket,
        json!({"body": "x", "public": false}),
        None,
    )
    .await;
    assert!(matches!(bobs_note, Err(Error::Validation(_))));
    // WHEN Bob answers, the resolution clock runs again
    let answer = json!({"body": "A Zebra ZD420."});
    let (_, view) = message(&world, &bob_viewer(), &ticket, answer, None)
        .await
        .unwrap();
    assert_eq!(target(&view, "resolution")["paused"], false);
    assert_eq!(view["messages"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_p1_closes_on_confirmation_only_once_its_root_cause_analysis_is_written() {
    let world = dupont();
    set_plan(&world, SupportPlan::Enterprise);
    let ticket = opened(&world, &alice(), Some("critical")).await;
    let (_, view) = staff_step(&world, &ticket, StaffStep::Workaround)
        .await
        .unwrap();
    assert_eq!(view["status"], "workaround");
    let (_, view) = staff_step(&world, &ticket, StaffStep::Resolve)
        .await
        .unwrap();
    assert_eq!(view["status"], "resolved");
    let confirm = support::confirm(&world.ports(), &alice(), &ticket, None).await;
    assert!(
        matches!(confirm, Err(Error::Refused(Refusal::RcaRequired))),
        "{confirm:?}"
    );
    // the team cannot confirm for the customer
    let by_staff = support::confirm(&world.ports(), &staff(), &ticket, None).await;
    assert!(matches!(by_staff, Err(Error::Forbidden)));
    let (_, view) = staff_step(&world, &ticket, StaffStep::Rca).await.unwrap();
    assert_eq!(view["rca"]["body"], "Restart the print spooler.");
    let (_, view) = support::confirm(&world.ports(), &alice(), &ticket, None)
        .await
        .unwrap();
    assert_eq!(view["status"], "closed");
    // Alice was told: opened, workaround, resolved, closed
    assert_eq!(mails_to(&world, "alice@dupont.fr").len(), 4);
}

#[tokio::test]
async fn a_resolved_ticket_reopens_within_fourteen_days_and_not_after() {
    let world = dupont();
    let ticket = opened(&world, &bob_viewer(), None).await;
    acknowledge(&world, &staff(), &ticket, "P3", None)
        .await
        .unwrap();
    staff_step(&world, &ticket, StaffStep::Resolve)
        .await
        .unwrap();
    world
        .tables
        .set_now(common::noon(DAY) + SignedDuration::from_hours(24 * 3));
    let (_, view) = support::reopen(&world.ports(), &bob_viewer(), &ticket, None)
        .await
        .unwrap();
    assert_eq!(view["status"], "acknowledged");
    assert!(view["resolved_at"].is_null());
    staff_step(&world, &ticket, StaffStep::Resolve)
        .await
        .unwrap();
    world
        .tables
        .set_now(common::noon(DAY) + SignedDuration::from_hours(24 * 18));
    let late = support::reopen(&world.ports(), &bob_viewer(), &ticket, None).await;
    assert!(
        matches!(late, Err(Error::Refused(Refusal::ReopenWindowPassed))),
        "{late:?}"
    );
}

#[tokio::test]
async fn a_step_replays_its_answer_and_never_overwrites_a_change_made_since_its_read() {
    let world = dupont();
    let ticket = opened(&world, &bob_viewer(), None).await;
    let first = acknowledge(&world, &staff(), &ticket, "P2", Some("ack-1"))
        .await
        .unwrap();
    let events = world.tables.tickets_of(ACCOUNT)[0].life.events.len();
    let replay = acknowledge(&world, &staff(), &ticket, "P2", Some("ack-1"))
        .await
        .unwrap();
    assert_eq!(first, replay);
    assert_eq!(
        world.tables.tickets_of(ACCOUNT)[0].life.events.len(),
        events
    );
    // the same key with another request is refused
    let reused = acknowledge(&world, &staff(), &ticket, "P1", Some("ack-1")).await;
    assert!(matches!(reused, Err(Error::IdempotencyKeyReused)));
    // A write on a ticket read before another change is refused, and writes nothing.
    let ports = world.ports();
    let desk = ports.tickets.desk(ACCOUNT).await.unwrap();
    let read = ports.tickets.ticket(&desk, &ticket).await.unwrap().unwrap();
    world
        .tables
        .touch_ticket(&ticket, |t| t.subject = "changed meanwhile".into());
    let mut stale = read.value.clone();
    stale.life.status = Status::Closed;
    let written = ports
        .tickets
        .save(&desk, &read.stamp, &stale, None, With::Answer(None))
        .await
        .unwrap();
    assert_eq!(written, Written::Changed);
    let stored = &world.tables.tickets_of(ACCOUNT)[0];
    assert_eq!(stored.subject, "changed meanwhile");
    assert_eq!(stored.life.status, Status::Acknowledged);
    // and a step taken now reads it again: it goes through
    let (status, _) = message(
        &world,
        &bob_viewer(),
        &ticket,
        json!({"body": "Any news?"}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, 201);
}

#[tokio::test]
async fn the_list_pages_newest_first_and_filters() {
    let world = dupont();
    let first = opened(&world, &alice(), None).await;
    let second = opened(&world, &alice(), Some("high")).await;
    let third = opened(&world, &alice(), None).await;
    let query = |limit: &str, next: Option<String>| ListQuery {
        limit: Some(limit.into()),
        next,
        ..ListQuery::default()
    };
    let page = support::list(&world.ports(), &alice(), query("2", None))
        .await
        .unwrap();
    let ids: Vec<_> = page.items.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids, [third.clone(), second.clone()]);
    let rest = support::list(&world.ports(), &alice(), query("2", page.next.clone()))
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.items[0].id, first);
    assert!(rest.next.is_none());
    let p2 = ListQuery {
        priority: Some("P2".into()),
        ..ListQuery::default()
    };
    let filtered = support::list(&world.ports(), &alice(), p2).await.unwrap();
    assert_eq!(filtered.items.len(), 1);
    assert_eq!(filtered.items[0].id, second);
    for bad in [
        ListQuery {
            status: Some("lost".into()),
            ..ListQuery::default()
        },
        ListQuery {
            priority: Some("P4".into()),
            ..ListQuery::default()
        },
        ListQuery {
            limit: Some("0".into()),
            ..ListQuery::default()
        },
        ListQuery {
            next: Some("not-a-cursor".into()),
            ..ListQuery::default()
        },
    ] {
        let refused = support::list(&world.ports(), &alice(), bad).await;
        assert!(matches!(refused, Err(Error::Validation(_))), "{refused:?}");
    }
}

#[tokio::test]
async fn the_monthly_incident_report_comes_with_pro_and_counts_the_months_tickets() {
    let world = dupont();
    let month = Some("2027-03");
    let basic = support::incident_report(&world.ports(), ACCOUNT, month).await;
    assert!(matches!(
        basic,
        Err(Error::Refused(Refusal::PlanRequired(_)))
    ));
    set_plan(&world, SupportPlan::Pro);
    let ticket = opened(&world, &alice(), Some("high")).await;
    acknowledge(&world, &staff(), &ticket, "P2", None)
        .await
        .unwrap();
    let report = support::incident_report(&world.ports(), ACCOUNT, month)
        .await
        .unwrap();
    assert_eq!(report.summary.tickets, 1);
    assert_eq!(report.summary.targets_met, 1, "acknowledged at once");
    assert_eq!(report.summary.targets_breached, 0);
    let february = support::incident_report(&world.ports(), ACCOUNT, Some("2027-02"))
        .await
        .unwrap();
    assert_eq!(february.summary.tickets, 0);
    for bad in [None, Some("2027-13"), Some("2027-3"), Some("march")] {
        let refused = support::incident_report(&world.ports(), ACCOUNT, bad).await;
        assert!(matches!(refused, Err(Error::Validation(_))), "{bad:?}");
    }
}

/// The SLA run's check of `ticket` at `at`.
async fn check(world: &World, ticket: &str, at: Timestamp) -> u32 {
    world.tables.set_now(at);
    let ports = world.ports();
    let desk = ports.tickets.desk(ACCOUNT).await.unwrap();
    let read = ports.tickets.ticket(&desk, ticket).await.unwrap().unwrap();
    support::check(&ports, &desk, read, at).await.unwrap()
}

#[tokio::test]
async fn an_enterprise_p1_breach_alerts_the_team_and_the_success_manager_and_updates_are_owed() {
    let world = dupont();
    set_plan(&world, SupportPlan::Enterprise);
    let opened_at = common::noon(DAY);
    let ticket = opened(&world, &alice(), Some("critical")).await;
    // Nothing is due before the 15 minutes of the acknowledge target (24/7 for this P1).
    assert_eq!(
        check(&world, &ticket, opened_at + SignedDuration::from_mins(14)).await,
        0
    );
    assert_eq!(
        check(&world, &ticket, opened_at + SignedDuration::from_mins(16)).await,
        1
    );
    let stored = &world.tables.tickets_of(ACCOUNT)[0];
    let acknowledge = stored
        .life
        .targets
        .iter()
        .find(|t| t.met_at.is_none() && t.breached_at.is_some());
    assert!(acknowledge.is_some(), "the acknowledge target breached");
    assert_eq!(mails_to(&world, "support-team@softbrik.test").len(), 1);
    assert_eq!(mails_to(&world, "success@softbrik.test").len(), 1);
    // Two hours without a public update: the team is reminded (the workaround is breached too).
    let later = check(&world, &ticket, opened_at + SignedDuration::from_mins(121)).await;
    assert_eq!(later, 2, "a workaround breach and an update due");
    assert_eq!(mails_to(&world, "support-team@softbrik.test").len(), 3);
}

#[tokio::test]
async fn a_resolved_ticket_closes_after_seven_days_and_is_pseudonymised_after_retention() {
    let world = dupont();
    let ticket_id = "tkt_01JQ0000000000000000000000";
    // GIVEN a ticket opened by mail from Bob, with an attachment kept as a blob
    let ports = world.ports();
    let desk = ports.tickets.desk(ACCOUNT).await.unwrap();
    let blob = format!("attachments/{ACCOUNT}/{ticket_id}/msg_1/att_0");
    world.tables.put_blob(&blob);
    let user = world.tables.user(ACCOUNT, "usr_bob").unwrap();
    let opening = Opening {
        id: ticket_id.into(),
        kind: Kind::Support,
        channel: Channel::Email,
        impact: None,
        requester: support::Requester::user(&user),
        subject: "Invoice question".into(),
        description: "See the attached scan.".into(),
        attachments: vec![Attachment {
            id: "att_0".into(),
            filename: "scan.pdf".into(),
            content_type: "application/pdf".into(),
            size: 3,
            key: blob.clone(),
        }],
        message_id: "msg_1".into(),
    };
    let (ticket, first) = support::new_ticket(&desk, 1, opening);
    let with = With::Mail("INBOUND#abc");
    assert_eq!(
        ports
            .tickets
            .open(&desk, &ticket, &first, with)
            .await
            .unwrap(),
        Written::Done
    );
    // the same mail delivered again opens nothing
    let mut again = ticket.clone();
    again.id = "tkt_01JQ0000000000000000000001".into();
    let duplicate = ports
        .tickets
        .open(&desk, &again, &first, With::Mail("INBOUND#abc"))
        .await
        .unwrap();
    assert_eq!(duplicate, Written::MailClaimed);
    let view = get(&world, &bob_viewer(), ticket_id).await.unwrap();
    assert_eq!(
        view["messages"][0]["attachments"][0]["filename"],
        "scan.pdf"
    );
    // WHEN the team resolves it and seven days pass without a word
    acknowledge(&world, &staff(), ticket_id, "P3", None)
        .await
        .unwrap();
    let (_, resolved) = staff_step(&world, ticket_id, StaffStep::Resolve)
        .await
        .unwrap();
    let resolved_at: Timestamp = resolved["resolved_at"].as_str().unwrap().parse().unwrap();
    let week = resolved_at + SignedDuration::from_hours(7 * 24);
    assert_eq!(
        check(&world, ticket_id, week - SignedDuration::from_secs(1)).await,
        0
    );
    assert_eq!(
        check(&world, ticket_id, week + SignedDuration::from_secs(1)).await,
        1
    );
    // THEN it is closed and Bob told
    let closed = &world.tables.tickets_of(ACCOUNT)[0];
    assert_eq!(closed.life.status, Status::Closed);
    let bobs = mails_to(&world, "bob@dupont.fr");
    assert_eq!(bobs.len(), 2, "resolved, closed: {bobs:?}");
    // WHEN 24 months have passed since it closed
    let closed_at = closed.life.closed_at.unwrap();
    let retention = closed_at
        .to_zoned(jiff::tz::TimeZone::UTC)
        .checked_add(jiff::Span::new().months(24))
        .unwrap()
        .timestamp();
    assert_eq!(
        check(&world, ticket_id, retention + SignedDuration::from_secs(1)).await,
        1
    );
    // THEN no one is named, nothing said is kept, the attachment is gone; the SLA stays
    let kept = &world.tables.tickets_of(ACCOUNT)[0];
    assert!(kept.life.pseudonymised);
    assert_eq!(kept.requester.email, None);
    assert_eq!(kept.requester.user_id, None);
    assert!(
        kept.requester
            .name
            .as_deref()
            .unwrap()
            .starts_with("requester-")
    );
    assert!(!kept.requester.name.as_deref().unwrap().contains("bob"));
    assert_eq!(kept.subject, "");
    assert!(world.tables.messages_of(ticket_id).is_empty());
    assert!(!world.tables.has_blob(&blob));
    assert!(!kept.life.events.is_empty());
    // and nothing is due on it any more
    let never = retention + SignedDuration::from_hours(24 * 365);
    assert_eq!(check(&world, ticket_id, never).await, 0);
}

#[tokio::test]
async fn a_lapsed_or_suspended_account_is_served_on_the_basic_plan_until_it_pays_again() {
    let world = dupont();
    set_plan(&world, SupportPlan::Enterprise);
    for status in [
        softbrik_domain::account::AccountStatus::Suspended,
        softbrik_domain::account::AccountStatus::Lapsed,
    ] {
        world.tables.change_account(ACCOUNT, |a| a.status = status);
        let (_, ticket) = open(&world, &alice(), "web", Some("critical"), None)
            .await
            .unwrap();
        assert_eq!(ticket["sla"]["plan"], "basic", "{status:?}");
        let phone = open(&world, &alice(), "phone", Some("critical"), None).await;
        assert!(matches!(
            phone,
            Err(Error::Refused(Refusal::PlanRequired(_)))
        ));
    }
    world.tables.change_account(ACCOUNT, |a| {
        a.status = softbrik_domain::account::AccountStatus::Active
    });
    let (_, ticket) = open(&world, &alice(), "web", Some("critical"), None)
        .await
        .unwrap();
    assert_eq!(ticket["sla"]["plan"], "enterprise");
}
