//! Idempotency and concurrency on every route of template.yaml that changes an account, by a
//! user, the support desk's staff or a client's directory sync (SCIM)
//! (api.md "Conventions"): for each, on two identical accounts, one request on the first and
//! a burst of 8 identical requests at once (same Idempotency-Key) on the second must leave the
//! two accounts the same (items, charges, mail): the burst changed things once. Every answer of
//! the burst is the first answer or a 409 "in progress"; a later replay gives the first answer
//! again, and the key with another body is refused (409 `idempotency_key_reused`). Then, over
//! everything the test run has stored, the billing invariants: invoice numbers gapless and
//! never given twice, every charge kept by exactly one invoice, no invoice charged twice.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use softbrik_integration_tests::{Answer, Stack, Tenant, route_body, s, unique_email, with_ids};

/// One account set up for a route, and what the route's path names in it.
struct Ctx {
    token: String,
    account_id: String,
    admin_email: String,
    params: BTreeMap<&'static str, String>,
}

/// Routes that change an account through a user's token (the support desk's staff
/// included), and the account they need.
const ROUTES: [(&str, Setup); 36] = [
    ("PUT /account/settings", Setup::Company),
    ("PUT /account/payment-method", Setup::Company),
    ("POST /account/billing-alignment", Setup::Company),
    ("POST /account/closure", Setup::Company),
    ("POST /account/invoices/{invoice_id}/send", Setup::Company),
    ("POST /account/users", Setup::Company),
    ("DELETE /account/users/{user_id}", Setup::Company),
    (
        "POST /account/users/{user_id}/restore",
        Setup::RemovalScheduled,
    ),
    (
        "PUT /account/users/{user_id}/briks/{brik_id}",
        Setup::Company,
    ),
    (
        "DELETE /account/users/{user_id}/briks/{brik_id}",
        Setup::Company,
    ),
    ("PUT /account/users/{user_id}/status", Setup::Company),
    ("PUT /account/packs/{pack_id}", Setup::Company),
    ("DELETE /account/packs/{pack_id}", Setup::WithPack),
    ("POST /tickets", Setup::Company),
    ("POST /tickets/{ticket_id}/messages", Setup::Company),
    ("POST /tickets/{ticket_id}/acknowledge", Setup::TicketNew),
    (
        "POST /tickets/{ticket_id}/workaround",
        Setup::TicketAcknowledged,
    ),
    (
        "POST /tickets/{ticket_id}/resolve",
        Setup::TicketAcknowledged,
    ),
    ("POST /tickets/{ticket_id}/rca", Setup::TicketAcknowledged),
    ("POST /tickets/{ticket_id}/confirm", Setup::TicketResolved),
    ("POST /tickets/{ticket_id}/reopen", Setup::TicketResolved),
    ("POST /account/scim-token", Setup::Client),
    ("PUT /account/directory-deny-list", Setup::Client),
    ("POST /scim/v2/Users", Setup::Scim),
    ("PATCH /scim/v2/Users/{user_id}", Setup::Scim),
    ("DELETE /scim/v2/Users/{user_id}", Setup::Scim),
    (
        "POST /staff/accounts/{account_id}/billing-alignment",
        Setup::Staff,
    ),
    ("POST /staff/accounts/{account_id}/closure", Setup::Staff),
    (
        "DELETE /staff/accounts/{account_id}/users/{user_id}",
        Setup::Staff,
    ),
    (
        "POST /staff/accounts/{account_id}/invoices/{invoice_id}/send",
        Setup::Staff,
    ),
    (
        "POST /staff/accounts/{account_id}/invoices/{invoice_id}/credit-notes",
        Setup::Staff,
    ),
    ("POST /reseller/clients", Setup::Reseller),
    (
        "POST /reseller/clients/{account_id}/closure",
        Setup::ResellerClient,
    ),
    ("POST /account/transfer-code", Setup::Client),
    ("POST /reseller/clients/transfer", Setup::Transfer),
    ("POST /signup", Setup::Public),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Setup {
    Company,
    /// A company whose admin asked support in a ticket, the caller support staff.
    Staff,
    /// A company's ticket, the caller support staff: new, or acknowledged.
    TicketNew,
    TicketAcknowledged,
    /// A company's ticket resolved by support, the caller the company's admin.
    TicketResolved,
    RemovalScheduled,
    /// A client account's directory sync (its SCIM token), with an inactive user.
    Scim,
    WithPack,
    Client,
    Reseller,
    /// A reseller's client account, the caller the reseller's admin.
    ResellerClient,
    /// A reseller's client account whose admin made a transfer code, the caller another
    /// reseller's admin.
    Transfer,
    Public,
}

async fn company(stack: &Stack, setup: Setup) -> Ctx {
    let a = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let invited = stack
        .call(
            "POST",
            "/account/users",
            Some(&a.token),
            Some(
                &json!({"email": unique_email("member"), "name": "Bob Martin", "briks": ["files"]}),
            ),
            None,
        )
        .await;
    assert_eq!(invited.status, 201, "{invited:?}");
    let user_id = invited.body["user"]["id"].as_str().unwrap().to_string();
    let ticket = stack
        .call(
            "POST",
            "/tickets",
            Some(&a.token),
            Some(&json!({"subject": "Partage", "description": "Bloqué", "channel": "web"})),
            None,
        )
        .await;
    if setup == Setup::RemovalScheduled {
        let removed = stack
            .call(
                "DELETE",
                &format!("/account/users/{user_id}"),
                Some(&a.token),
                None,
                None,
            )
            .await;
        assert_eq!(removed.status, 202);
    }
    if setup == Setup::WithPack {
        let bought = stack
            .call(
                "PUT",
                "/account/packs/emails-1000",
                Some(&a.token),
                Some(&json!({"quantity": 1})),
                None,
            )
            .await;
        assert_eq!(bought.status, 200);
    }
    Ctx {
        token: a.token,
        account_id: a.account_id.clone(),
        admin_email: a.admin_email,
        params: BTreeMap::from([
            ("account_id", a.account_id.clone()),
            ("user_id", user_id),
            (
                "invoice_id",
                invited.body["invoice"]["id"].as_str().unwrap().to_string(),
            ),
            ("ticket_id", ticket.body["id"].as_str().unwrap().to_string()),
            // Assigned: care (not held yet); removed: files (held).
            ("brik_id", "care".to_string()),
            ("held_brik_id", "files".to_string()),
            ("pack_id", "emails-1000".to_string()),
        ]),
    }
}

/// An account made by the helpers of the tests crate, as a context with nothing to name.
fn ctx(tenant: Tenant) -> Ctx {
    Ctx {
        token: tenant.token,
        account_id: tenant.id,
        admin_email: tenant.admin_email,
        params: BTreeMap::new(),
    }
}

async fn setup(stack: &Stack, kind: Setup) -> Ctx {
    match kind {
        Setup::Client => {
            let reseller = stack.reseller(None).await;
            ctx(stack.client_of(&reseller.token, "Client", None).await)
        }
        Setup::Reseller => ctx(stack.reseller(None).await),
        Setup::Transfer => {
            let reseller = stack.reseller(None).await;
            let client = stack.client_of(&reseller.token, "Client", None).await;
            let code = stack.transfer_code(&client.token).await;
            Ctx {
                token: stack.reseller(None).await.token,
                account_id: client.id,
                admin_email: client.admin_email,
                params: BTreeMap::from([("transfer_code", code)]),
            }
        }
        Setup::ResellerClient => {
            let reseller = stack.reseller(None).await;
            let client = stack.client_of(&reseller.token, "Client", None).await;
            Ctx {
                token: reseller.token,
                account_id: client.id.clone(),
                admin_email: client.admin_email,
                params: BTreeMap::from([("account_id", client.id)]),
            }
        }
        Setup::Staff => {
            let mut ctx = company(stack, kind).await;
            ctx.token = stack.support_token().await;
            ctx
        }
        Setup::Scim => {
            let reseller = stack.reseller(None).await;
            let client = stack.client_of(&reseller.token, "Client", None).await;
            let admin = Some(client.token.as_str());
            let token = stack
                .call("POST", "/account/scim-token", admin, None, None)
                .await;
            let invited = stack
                .call(
                    "POST",
                    "/account/users",
                    admin,
                    Some(&json!({"email": unique_email("synced"), "name": "Bob Martin", "briks": []})),
                    None,
                )
                .await;
            let user_id = invited.body["user"]["id"].as_str().unwrap().to_string();
            let status = format!("/account/users/{user_id}/status");
            let inactive = json!({"active": false});
            let made = stack
                .call("PUT", &status, admin, Some(&inactive), None)
                .await;
            assert_eq!(made.status, 200, "{made:?}");
            Ctx {
                token: token.body["token"].as_str().unwrap().to_string(),
                account_id: client.id,
                admin_email: client.admin_email,
                params: BTreeMap::from([("user_id", user_id)]),
            }
        }
        Setup::Public => Ctx {
            token: String::new(),
            account_id: String::new(),
            admin_email: String::new(),
            params: BTreeMap::new(),
        },
        Setup::TicketNew | Setup::TicketAcknowledged | Setup::TicketResolved => {
            let mut ctx = company(stack, kind).await;
            let staff = stack.support_token().await;
            let ticket = format!("/tickets/{}", ctx.params["ticket_id"]);
            let steps: &[(&str, Value)] = match kind {
                Setup::TicketNew => &[],
                Setup::TicketAcknowledged => &[("acknowledge", json!({"priority": "P3"}))],
                _ => &[
                    ("acknowledge", json!({"priority": "P3"})),
                    ("resolve", json!({"body": "Corrigé"})),
                ],
            };
            for (step, body) in steps {
                let path = format!("{ticket}/{step}");
                let done = stack
                    .call("POST", &path, Some(&staff), Some(body), None)
                    .await;
                assert_eq!(done.status, 200, "{step}: {done:?}");
            }
            if kind != Setup::TicketResolved {
                ctx.token = staff;
            }
            ctx
        }
        _ => company(stack, kind).await,
    }
}

fn path_of(route: &str, ctx: &Ctx) -> String {
    let mut path = route.split_once(' ').unwrap().1.to_string();
    if route.starts_with("DELETE") && path.contains("{brik_id}") {
        path = path.replace("{brik_id}", &ctx.params["held_brik_id"]);
    }
    for (name, value) in &ctx.params {
        path = path.replace(&format!("{{{name}}}"), value);
    }
    assert!(!path.contains('{'), "{route}: {path}");
    path
}

async fn send(stack: &Stack, route: &str, ctx: &Ctx, body: Option<&Value>, key: &str) -> Answer {
    let (method, _) = route.split_once(' ').unwrap();
    let token = (!ctx.token.is_empty()).then_some(ctx.token.as_str());
    stack
        .call(method, &path_of(route, ctx), token, body, Some(key))
        .await
}

/// What an account is, as stored: its items by kind (with their states), its charges, its
/// mail; what a change of it shows in.
async fn state(stack: &Stack, ctx: &Ctx) -> BTreeMap<String, String> {
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for item in stack.account_items(&ctx.account_id).await {
        let sk = s(&item, "sk");
        let kind = sk.split('#').next().unwrap_or_default().to_string();
        *counts.entry(kind.clone()).or_default() += 1;
        for field in [
            "status",
            "quantity",
            "auto_renew",
            "closure_date",
            "calendar_from",
            "removal_date",
        ] {
            if let Some(value) = item.get(field) {
                let value = match value {
                    AttributeValue::S(v) | AttributeValue::N(v) => v.clone(),
                    other => format!("{other:?}"),
                };
                kinds
                    .entry(format!("{kind}.{field}"))
                    .or_default()
                    .push_str(&format!("{value},"));
            }
        }
    }
    for (kind, n) in counts {
        kinds.insert(format!("{kind} items"), n.to_string());
    }
    let mut charges: Vec<String> = stack
        .charges(&ctx.account_id)
        .await
        .into_iter()
        .map(|(amount, refunded)| format!("{amount}{}", if refunded { " refunded" } else { "" }))
        .collect();
    charges.sort();
    kinds.insert("charges".into(), charges.join(","));
    kinds.insert(
        "mail to the admin".into(),
        stack.mail_to(&ctx.admin_email).await.len().to_string(),
    );
    // Sorted value lists: items of one kind in any order compare equal.
    for value in kinds.values_mut() {
        let mut parts: Vec<&str> = value.split(',').collect();
        parts.sort();
        *value = parts.join(",");
    }
    kinds
}

/// The machine-readable code of a refusal: a problem's `code`; a SCIM error (RFC 7644 §3.12)
/// has none, its detail says it.
fn code(answer: &Answer) -> String {
    if let Some(code) = answer.body["code"].as_str() {
        return code.to_string();
    }
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    if detail.contains("still being processed") {
        "idempotency_request_in_progress".into()
    } else if detail.contains("used with another request") {
        "idempotency_key_reused".into()
    } else {
        format!("({detail})")
    }
}

/// A valid variant of a body, to reuse a key with: one value changed.
fn other_body(body: &Value) -> Value {
    let mut other = body.clone();
    let Some(object) = other.as_object_mut() else {
        return other;
    };
    for field in [
        "company_name",
        "name",
        "body",
        "subject",
        "language",
        "payment_method",
    ] {
        if let Some(Value::String(text)) = object.get(field) {
            let changed = match field {
                "language" => if text == "da" { "en" } else { "da" }.to_string(),
                "payment_method" => "pm_card_mastercard".to_string(),
                _ => format!("{text} bis"),
            };
            object.insert(field.into(), json!(changed));
            return other;
        }
    }
    if let Some(Value::String(p)) = object.get("priority").cloned() {
        object.insert(
            "priority".into(),
            json!(if p == "P3" { "P2" } else { "P3" }),
        );
        return other;
    }
    if let Some(Value::Number(n)) = object.get("quantity") {
        let more = n.as_u64().unwrap_or(1) + 1;
        object.insert("quantity".into(), json!(more));
    } else if let Some(Value::Bool(b)) = object.get("active").cloned() {
        object.insert("active".into(), json!(!b));
    } else if object.contains_key("emails") {
        object.insert("emails".into(), json!([unique_email("other")]));
    } else {
        // The only valid value is the one sent (`{"confirm": true}`, `{"mode": "calendar"}`,
        // `{}`): any other body is another request, refused as such.
        object.insert("email".into(), json!(unique_email("other")));
    }
    other
}

/// The invariants read the whole table, so they wait for the bursts (which charge and invoice
/// on accounts of their own) to be over: a scan meanwhile could meet a charge whose invoice is
/// being written, or invoice 8 stored while 7 is, and fail on work still in flight.
static QUIET: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn every_change_made_once_whatever_the_replays_and_the_concurrent_duplicates() {
    let _quiet = QUIET.lock().await;
    let stack = Stack::connect().await;
    let known: BTreeSet<&str> = ROUTES.iter().map(|(r, _)| *r).collect();
    // Every route that changes an account through a user's token is here.
    for route in &stack.file.routes {
        let key = route.key();
        let changes_an_account =
            route.method != "GET" && (route.auth == "jwt" || route.path.starts_with("/scim/"));
        assert!(
            !changes_an_account || known.contains(key.as_str()),
            "{key}: a route that changes an account, missing from tests/tests/idempotency.rs"
        );
    }
    let mut failures = Vec::new();
    let mut bursts = 0;
    for (route, kind) in ROUTES {
        let (once, burst) = (setup(&stack, kind).await, setup(&stack, kind).await);
        // (A staff route's body names the ticket of its account's admin.)
        let body_once = with_ids(route_body(route), |name| once.params.get(name).cloned());
        let body_burst = with_ids(route_body(route), |name| burst.params.get(name).cloned());
        let key = format!("k-{}", unique_email("key"));
        let first = send(&stack, route, &once, body_once.as_ref(), &key).await;
        if first.status >= 300 {
            failures.push(format!("{route}: the change itself failed: {first:?}"));
            continue;
        }
        // The burst: 8 at once, one key.
        let burst_key = format!("k-{}", unique_email("key"));
        let answers = futures::future::join_all(
            (0..8).map(|_| send(&stack, route, &burst, body_burst.as_ref(), &burst_key)),
        )
        .await;
        bursts += 1;
        let done: Vec<&Answer> = answers.iter().filter(|a| a.status < 300).collect();
        let waiting = answers
            .iter()
            .filter(|a| a.status == 409 && code(a) == "idempotency_request_in_progress")
            .count();
        if done.is_empty() || done.len() + waiting != answers.len() {
            failures.push(format!(
                "{route}: burst answered {:?}",
                answers
                    .iter()
                    .map(|a| (a.status, code(a)))
                    .collect::<Vec<_>>()
            ));
            continue;
        }
        if done
            .iter()
            .any(|a| a.body != done[0].body || a.status != done[0].status)
        {
            failures.push(format!("{route}: the burst's answers differ"));
        }
        // A replay later: the first answer again, nothing done.
        let replay = send(&stack, route, &burst, body_burst.as_ref(), &burst_key).await;
        if (replay.status, &replay.body) != (done[0].status, &done[0].body) {
            failures.push(format!(
                "{route}: the replay answered {} {}",
                replay.status, replay.body
            ));
        }
        // The key with another body is refused.
        if let Some(body) = &body_burst {
            let reused = send(&stack, route, &burst, Some(&other_body(body)), &burst_key).await;
            // (A route that takes no fields may refuse any other body as invalid first.)
            let invalid_anyway = body == &json!({}) && reused.status == 422;
            if !invalid_anyway
                && (reused.status, code(&reused).as_str()) != (409, "idempotency_key_reused")
            {
                failures.push(format!(
                    "{route}: key reused with another body: {} {}",
                    reused.status, reused.body
                ));
            }
        }
        // The two accounts are alike: the burst changed things once.
        let (mut once_id, mut burst_id) = (once.account_id.clone(), burst.account_id.clone());
        if kind == Setup::Public {
            // Signup: the accounts are the ones made.
            once_id = first.body["account"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            burst_id = done[0].body["account"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
        let view = |id: String, ctx: &Ctx| Ctx {
            token: String::new(),
            account_id: id,
            admin_email: if kind == Setup::Public {
                String::new()
            } else {
                ctx.admin_email.clone()
            },
            params: BTreeMap::new(),
        };
        let (a, b) = (
            state(&stack, &view(once_id, &once)).await,
            state(&stack, &view(burst_id, &burst)).await,
        );
        if a != b {
            let differ: Vec<String> = a
                .keys()
                .chain(b.keys())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .filter(|k| a.get(*k) != b.get(*k))
                .map(|k| format!("{k}: once {:?}, burst {:?}", a.get(k), b.get(k)))
                .collect();
            failures.push(format!(
                "{route}: once and burst differ: {}",
                differ.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "idempotency: {} routes, {bursts} bursts of 8 duplicates: each changed its account once",
        ROUTES.len()
    );
}

#[tokio::test]
async fn invoice_numbers_are_gapless_and_every_charge_has_exactly_one_invoice() {
    let _quiet = QUIET.lock().await;
    let stack = Stack::connect().await;
    // Some activity of this test's own, in case it runs alone.
    let a = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    stack.advance(&a.clock, "2027-01-12T10:00:00Z").await;
    let items = stack.scan().await;
    let mut numbers: Vec<u64> = Vec::new();
    let mut invoiced: BTreeMap<String, usize> = BTreeMap::new();
    for item in &items {
        let sk = s(item, "sk");
        if !sk.starts_with("INVOICE#") {
            continue;
        }
        if let Some(AttributeValue::S(number)) = item.get("number") {
            numbers.push(number.trim_start_matches("SB-").parse().expect("SB-nnnnnn"));
        }
        if let Some(AttributeValue::M(payment)) = item.get("payment")
            && let Some(AttributeValue::S(charge)) = payment.get("charge_id")
        {
            *invoiced.entry(charge.clone()).or_default() += 1;
        }
    }
    numbers.sort_unstable();
    let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
    assert_eq!(
        numbers, expected,
        "invoice numbers with a gap or given twice"
    );
    let twice: Vec<_> = invoiced.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "charges kept by two invoices: {twice:?}");
    let mut kept = 0;
    for item in items
        .iter()
        .filter(|i| s(i, "pk").starts_with("SANDBOX#CHARGE#"))
    {
        let refunded = matches!(item.get("refunded"), Some(AttributeValue::Bool(true)));
        let charge = s(item, "charge_id");
        if refunded {
            assert!(
                !invoiced.contains_key(&charge),
                "refunded charge {charge} still on an invoice"
            );
        } else {
            kept += 1;
            assert_eq!(
                invoiced.get(&charge),
                Some(&1),
                "charge {charge} of {} kept without exactly one invoice",
                s(item, "account_id")
            );
        }
    }
    // Every refund of part of a charge is a credit note's, and only one's.
    let mut refunds = 0;
    for item in items
        .iter()
        .filter(|i| s(i, "pk").starts_with("SANDBOX#REFUND#"))
    {
        refunds += 1;
        let refund = s(item, "refund_id");
        assert_eq!(
            invoiced.get(&refund),
            Some(&1),
            "refund {refund} of {} without exactly one credit note",
            s(item, "account_id")
        );
    }
    eprintln!(
        "invariants: {refunds} refunds each on one credit note; {} invoices numbered 1..{} without a gap, {kept} charges each on one invoice",
        numbers.len(),
        numbers.len()
    );
}
