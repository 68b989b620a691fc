//! Tenant isolation, generated from the routes of template.yaml (issue: "Prove it holds"): every
//! route is called with another tenant's ids and with every kind of caller that must not get
//! through: another account's admin and member, platform staff where they have no business,
//! another client's SCIM token, no token, a malformed one, an unsigned one, `alg: none`, claims
//! tampered with, and validly signed tokens that are expired, for another audience or from
//! another issuer. Each answer must be 401, 403 or 404 and give nothing away, and afterwards
//! the victim's data must be exactly as before. A route of the template that this file does not
//! know how to call fails the test, so a new route cannot ship without its isolation test.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde_json::{Value, json};
use softbrik_integration_tests::{Answer, RouteSpec, Stack, Tenant, route_body, unique_email};

/// Path parameters that name a tenant's resource, and those that name the catalogue or a test
/// clock (the same for everyone).
const TENANT_PARAMS: [&str; 4] = ["user_id", "invoice_id", "ticket_id", "account_id"];
const SHARED_PARAMS: [&str; 3] = ["brik_id", "pack_id", "clock_id"];

/// Routes open to anyone by design: the catalogue, signup, test clocks (non-prod), and the
/// local stack's mail drop (IAM-only in AWS, checked by infra/check_template.py).
const PUBLIC: &[&str] = &[
    "GET /briks",
    "GET /packs",
    "POST /signup",
    "POST /test-clocks",
    "GET /test-clocks/{clock_id}",
    "POST /test-clocks/{clock_id}/advance",
    "POST /inbound/email",
    // (SCIM routes are public at the gateway; the function checks its own token, below.)
];

/// Routes a member may call on its own account (api.md); every other account route is an
/// admin's (403 for a member).
const MEMBER_ROUTES: &[&str] = &[
    "GET /account",
    "GET /tickets",
    "POST /tickets",
    "GET /tickets/{ticket_id}",
    "POST /tickets/{ticket_id}/messages",
    "POST /tickets/{ticket_id}/confirm",
    "POST /tickets/{ticket_id}/reopen",
];

/// The victim: a company with a member, an invoice, a pack and a ticket, and a reseller's
/// client with its users; everything an attacker could name.
struct Victim {
    company_id: String,
    client_id: String,
    ids: BTreeMap<&'static str, String>,
    /// Ids and addresses that must appear in no answer to anyone else.
    secrets: Vec<String>,
}

/// A caller that must not get at the victim's data.
struct Caller {
    name: String,
    /// The Authorization header value, if any.
    authorization: Option<String>,
    /// Valid for some routes of its own account: its id-less calls are allowed to succeed.
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Not authenticated for any route: 401 everywhere it is checked.
    Invalid,
    Admin,
    Member,
    Support,
    /// Another client account's SCIM token.
    Scim,
}

/// A new reseller, a client of it, and the client's SCIM token.
async fn client_with_scim(stack: &Stack) -> (Tenant, Tenant, String) {
    let reseller = stack.reseller(None).await;
    let client = stack.client_of(&reseller.token, "Client", None).await;
    let scim = stack
        .call(
            "POST",
            "/account/scim-token",
            Some(&client.token),
            None,
            None,
        )
        .await;
    assert_eq!(scim.status, 201, "{scim:?}");
    let token = scim.body["token"].as_str().unwrap().to_string();
    (reseller, client, token)
}

async fn victim(stack: &Stack) -> Victim {
    let a = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let member_email = unique_email("member");
    let invited = stack
        .call(
            "POST",
            "/account/users",
            Some(&a.token),
            Some(&json!({"email": member_email, "name": "Bob Martin", "briks": ["files"]})),
            None,
        )
        .await;
    assert_eq!(invited.status, 201, "{invited:?}");
    let member_id = invited.body["user"]["id"].as_str().unwrap().to_string();
    let invoice_id = invited.body["invoice"]["id"].as_str().unwrap().to_string();
    let pack = stack
        .call(
            "PUT",
            "/account/packs/support-pro",
            Some(&a.token),
            Some(&json!({"quantity": 1})),
            None,
        )
        .await;
    assert_eq!(pack.status, 200, "{pack:?}");
    let ticket = stack
        .call("POST", "/tickets", Some(&a.token),
            Some(&json!({"subject": "Partage", "description": "Le partage est bloqué", "channel": "web"})), None)
        .await;
    assert_eq!(ticket.status, 201, "{ticket:?}");
    let ticket_id = ticket.body["id"].as_str().unwrap().to_string();
    let (_, client, _) = client_with_scim(stack).await;
    let (client_id, client_token) = (client.id, client.token);
    let client_users = stack
        .call("GET", "/account/users", Some(&client_token), None, None)
        .await;
    let client_user = client_users.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let client_email = client_users.body["items"][0]["email"]
        .as_str()
        .unwrap()
        .to_string();
    Victim {
        company_id: a.account_id.clone(),
        client_id: client_id.clone(),
        ids: BTreeMap::from([
            ("user_id", member_id.clone()),
            ("invoice_id", invoice_id.clone()),
            ("ticket_id", ticket_id.clone()),
            ("account_id", client_id.clone()),
            ("scim_user_id", client_user.clone()),
            ("brik_id", "files".to_string()),
            ("pack_id", "support-pro".to_string()),
        ]),
        secrets: vec![
            a.account_id,
            a.admin_email,
            member_id,
            member_email,
            invoice_id,
            ticket_id,
            client_id,
            client_user,
            client_email,
        ],
    }
}

/// B64 (no padding) of a JSON value, as in a JWT.
fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Every kind of token that must not get through, made from a real one of the attacker.
async fn invalid_callers(stack: &Stack, real: &str, victim_account: &str) -> Vec<Caller> {
    let claims = claims_of(real);
    let header = json!({"kid": "dummy", "alg": "RS256"});
    let parts: Vec<&str> = real.split('.').collect();
    let mut tampered = claims.clone();
    tampered["custom:account_id"] = json!(victim_account);
    let now = jiff::Timestamp::now().as_second();
    let mut expired = claims.clone();
    expired["exp"] = json!(now - 3600);
    expired["iat"] = json!(now - 7200);
    let mut other_audience = claims.clone();
    other_audience["aud"] = json!("another-app-client");
    let mut other_issuer = claims.clone();
    other_issuer["iss"] = json!("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_other");
    let bearer = |t: String| Some(format!("Bearer {t}"));
    vec![
        Caller {
            name: "no token".into(),
            authorization: None,
            kind: Kind::Invalid,
        },
        Caller {
            name: "not a JWT".into(),
            authorization: bearer("not-a-jwt".into()),
            kind: Kind::Invalid,
        },
        Caller {
            name: "unsigned".into(),
            authorization: bearer(format!("{}.{}.", parts[0], parts[1])),
            kind: Kind::Invalid,
        },
        Caller {
            name: "alg none".into(),
            authorization: bearer(format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "typ": "JWT"})),
                b64(&tampered)
            )),
            kind: Kind::Invalid,
        },
        Caller {
            name: "claims tampered".into(),
            authorization: bearer(format!("{}.{}.{}", b64(&header), b64(&tampered), parts[2])),
            kind: Kind::Invalid,
        },
        Caller {
            name: "expired".into(),
            authorization: bearer(stack.sign_token(&expired).await),
            kind: Kind::Invalid,
        },
        Caller {
            name: "wrong audience".into(),
            authorization: bearer(stack.sign_token(&other_audience).await),
            kind: Kind::Invalid,
        },
        Caller {
            name: "wrong issuer".into(),
            authorization: bearer(stack.sign_token(&other_issuer).await),
            kind: Kind::Invalid,
        },
    ]
}

/// The path of `route` naming the victim's resources.
fn path_for(route: &RouteSpec, victim: &Victim) -> String {
    let scim = route.path.starts_with("/scim/");
    let mut path = route.path.clone();
    for name in route.params() {
        let key = if scim && name == "user_id" {
            "scim_user_id"
        } else {
            name
        };
        let value = victim
            .ids
            .get(key)
            .unwrap_or_else(|| panic!("{}: no victim id for {{{name}}}", route.key()));
        path = path.replace(&format!("{{{name}}}"), value);
    }
    path
}

async fn call(stack: &Stack, route: &RouteSpec, path: &str, caller: &Caller) -> Answer {
    let body = route_body(&route.key());
    stack
        .call_with(
            &route.method,
            path,
            caller.authorization.as_deref(),
            body.as_ref(),
        )
        .await
}

/// An item as plain JSON, maps in key order, so that two reads of it compare equal.
fn plain(value: AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!(s),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::Bool(b) => json!(b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(list) => Value::Array(list.into_iter().map(plain).collect()),
        // Keys in order, so that an item's text is the same at every read (the map comes in
        // hash order, which serde_json keeps when its `preserve_order` is unified in).
        AttributeValue::M(map) => Value::Object(
            map.into_iter()
                .collect::<std::collections::BTreeMap<_, _>>()
                .into_iter()
                .map(|(k, v)| (k, plain(v)))
                .collect(),
        ),
        other => json!(format!("{other:?}")),
    }
}

/// What the victim has, as stored: its partitions, its charges and the mail it was sent.
async fn snapshot(stack: &Stack, victim: &Victim) -> Vec<String> {
    let mut seen = Vec::new();
    for account in [&victim.company_id, &victim.client_id] {
        let mut items: Vec<String> = stack
            .account_items(account)
            .await
            .into_iter()
            .map(|i| plain(AttributeValue::M(i)).to_string())
            .collect();
        items.sort();
        seen.extend(items);
        seen.push(format!("charges {:?}", stack.charges(account).await));
    }
    seen
}

#[tokio::test]
async fn no_route_lets_another_tenant_or_a_bad_token_at_an_accounts_data() {
    let stack = Stack::connect().await;
    let routes = stack.file.routes.clone();
    assert!(
        routes.len() > 40,
        "stack.json lists the template's routes: {}",
        routes.len()
    );
    let victim = victim(&stack).await;
    let before = snapshot(&stack, &victim).await;

    // The attackers: another company's admin and member, staff, another reseller's client.
    let b = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let member_email = unique_email("member");
    let invited = stack
        .call(
            "POST",
            "/account/users",
            Some(&b.token),
            Some(&json!({"email": member_email, "name": "Eve Martin", "briks": []})),
            None,
        )
        .await;
    assert_eq!(invited.status, 201, "{invited:?}");
    let member = stack.member_token(&member_email).await;
    let (other_reseller, _, other_scim) = client_with_scim(&stack).await;
    let other_reseller = other_reseller.token;
    let support = stack.support_token().await;
    let bearer = |t: &str| Some(format!("Bearer {t}"));
    let mut callers = invalid_callers(&stack, &b.token, &victim.company_id).await;
    callers.extend([
        Caller {
            name: "another company's admin".into(),
            authorization: bearer(&b.token),
            kind: Kind::Admin,
        },
        Caller {
            name: "another company's member".into(),
            authorization: bearer(&member),
            kind: Kind::Member,
        },
        Caller {
            name: "another reseller's admin".into(),
            authorization: bearer(&other_reseller),
            kind: Kind::Admin,
        },
        Caller {
            name: "support staff".into(),
            authorization: bearer(&support),
            kind: Kind::Support,
        },
        Caller {
            name: "another client's SCIM token".into(),
            authorization: bearer(&other_scim),
            kind: Kind::Scim,
        },
    ]);

    let mut failures = Vec::new();
    let mut calls = 0;
    let mut refusals = 0;
    for route in &routes {
        let key = route.key();
        if PUBLIC.contains(&key.as_str()) {
            continue;
        }
        let scim = route.path.starts_with("/scim/");
        let params = route.params();
        for name in &params {
            assert!(
                TENANT_PARAMS.contains(name) || SHARED_PARAMS.contains(name),
                "{key}: unknown path parameter {{{name}}}: classify it in tests/tests/isolation.rs"
            );
        }
        let names_tenant = params.iter().any(|p| TENANT_PARAMS.contains(p));
        let mutating = route.method != "GET";
        assert!(
            !mutating || route_body(&key).is_some() || BODILESS.contains(&key.as_str()),
            "{key}: a mutating route without a body in tests/tests/isolation.rs (route_body in tests/src/lib.rs, or BODILESS)"
        );
        let path = path_for(route, &victim);
        for caller in &callers {
            // Which callers are legitimately let in, so that the route answers about their
            // own account (id-less routes) or, for staff, the support desk they run.
            if caller.kind == Kind::Support
                && (route.path.starts_with("/tickets") || route.path.starts_with("/staff/"))
            {
                // Staff run every account's support desk, and act on any account's billing
                // at its admin's request, by design (support.md, billing.md).
                continue;
            }
            let may_pass = match caller.kind {
                Kind::Invalid | Kind::Support => false,
                Kind::Scim => scim && !names_tenant,
                _ if scim => false,
                Kind::Admin => !names_tenant,
                Kind::Member => !names_tenant && MEMBER_ROUTES.contains(&key.as_str()),
            };
            if may_pass && mutating {
                // A change to the attacker's own account proves nothing and could stop the
                // run (a closure); only reading answers are checked for leaks.
                continue;
            }
            let answer = call(&stack, route, &path, caller).await;
            calls += 1;
            let text = answer.body.to_string();
            let leaked: Vec<&String> = victim
                .secrets
                .iter()
                .filter(|s| text.contains(s.as_str()))
                .collect();
            if !leaked.is_empty() {
                failures.push(format!(
                    "{key} as {}: {} leaked {leaked:?}",
                    caller.name, answer.status
                ));
            }
            let refused = matches!(answer.status, 401 | 403 | 404);
            refusals += usize::from(refused);
            let expected_refusal = !may_pass;
            // An IAM route (the Brik modules' entitlements) takes a SigV4 signature of the
            // modules' role only: any token, or none, is API Gateway's 403.
            if route.auth == "iam" {
                if answer.status != 403 {
                    failures.push(format!(
                        "{key} as {}: {} instead of the gateway's 403",
                        caller.name, answer.status
                    ));
                }
                continue;
            }
            // A Cognito token is no SCIM token, and a SCIM token no Cognito token.
            let unauthenticated = caller.kind == Kind::Invalid
                || (scim && caller.kind != Kind::Scim)
                || (!scim && caller.kind == Kind::Scim);
            if unauthenticated && answer.status != 401 {
                failures.push(format!(
                    "{key} as {}: {} instead of 401",
                    caller.name, answer.status
                ));
            } else if expected_refusal && !refused {
                failures.push(format!(
                    "{key} as {}: {} {}",
                    caller.name, answer.status, answer.body
                ));
            } else if !expected_refusal && answer.status >= 500 {
                failures.push(format!("{key} as {}: {}", caller.name, answer.status));
            }
            if refused && !scim && answer.status != 401 {
                // A refusal is problem+json, never a stack trace.
                if answer.content_type != "application/problem+json" {
                    failures.push(format!(
                        "{key} as {}: {} as {}",
                        caller.name, answer.status, answer.content_type
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // AND nothing of the victim changed
    let after = snapshot(&stack, &victim).await;
    let changed: Vec<&String> = after.iter().filter(|i| !before.contains(i)).collect();
    let gone: Vec<&String> = before.iter().filter(|i| !after.contains(i)).collect();
    assert!(
        changed.is_empty() && gone.is_empty(),
        "the victim's data changed: new {changed:?}, gone {gone:?}"
    );
    eprintln!(
        "isolation: {} routes x {} callers: {calls} calls, {refusals} refused, nothing leaked or changed",
        routes.len(),
        callers.len()
    );
}

/// Mutating routes called without a body (their body is optional or none).
const BODILESS: &[&str] = &[
    "DELETE /account/users/{user_id}",
    "POST /account/users/{user_id}/restore",
    "PUT /account/users/{user_id}/briks/{brik_id}",
    "DELETE /account/users/{user_id}/briks/{brik_id}",
    "DELETE /account/packs/{pack_id}",
    "POST /account/scim-token",
    "DELETE /scim/v2/Users/{user_id}",
];

#[tokio::test]
async fn a_member_replaying_an_admins_idempotency_key_is_refused_not_answered() {
    // GIVEN an account's admin who made each admin-only change of the account routes that
    // take no id, under an Idempotency-Key, and a member of the same account
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let member_email = unique_email("member");
    let invited = stack
        .call(
            "POST",
            "/account/users",
            Some(&company.token),
            Some(&json!({"email": member_email, "name": "Bob Martin", "briks": ["files"]})),
            None,
        )
        .await;
    assert_eq!(invited.status, 201, "{invited:?}");
    let member = stack.member_token(&member_email).await;
    let mut routes: Vec<&RouteSpec> = stack
        .file
        .routes
        .iter()
        .filter(|r| r.method != "GET" && r.path.starts_with("/account/") && !r.path.contains('{'))
        .filter(|r| !MEMBER_ROUTES.contains(&r.key().as_str()))
        .collect();
    // The closure last: the account no longer changes after it.
    routes.sort_by_key(|r| r.path == "/account/closure");
    assert!(routes.len() >= 6, "{routes:?}");
    let mut recorded = 0;
    for route in routes {
        let body = route_body(&route.key())
            .unwrap_or_else(|| panic!("no body for {}: add it to route_body", route.key()));
        let key = format!("admin-{}", uuid::Uuid::new_v4().simple());
        let admin = stack
            .call(
                &route.method,
                &route.path,
                Some(&company.token),
                Some(&body),
                Some(&key),
            )
            .await;
        recorded += usize::from(admin.status < 300);

        // WHEN the member sends the same request under the admin's key
        let replay = stack
            .call(
                &route.method,
                &route.path,
                Some(&member),
                Some(&body),
                Some(&key),
            )
            .await;

        // THEN it is refused as any member's admin request is, and learns nothing of the answer
        assert_eq!(replay.status, 403, "{}: {replay:?}", route.key());
        assert_ne!(replay.body, admin.body, "{}", route.key());
    }
    // (a client account's routes answer this company's admin 409: the others recorded theirs)
    assert!(recorded >= 5, "only {recorded} admin answers were recorded");
}

/// A plain text message from `from` to the support desk.
fn mail(from: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: support@softbrik.com\r\nSubject: {subject}\r\n\
         Message-ID: <{}@mail.example.fr>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        uuid::Uuid::new_v4().simple()
    )
    .into_bytes()
}

#[tokio::test]
async fn mail_with_a_forged_from_cannot_open_answer_or_reopen_a_companys_tickets() {
    // GIVEN a company whose domain publishes no DMARC policy, with a ticket its admin opened by
    // email (SPF passing: authenticated without DMARC)
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2027-03-23T08:00:00Z").await;
    let from = company.admin_email.as_str();
    let no_dmarc_spf_pass = [
        ("X-SES-SPF-Verdict", "PASS"),
        ("X-SES-DKIM-Verdict", "GRAY"),
        ("X-SES-DMARC-Verdict", "GRAY"),
    ];
    let opened = stack
        .deliver_mail_with(
            mail(from, "Imprimante", "Elle ne marche plus."),
            &no_dmarc_spf_pass,
        )
        .await;
    assert_eq!(opened.body["outcome"], "opened", "{opened:?}");
    let number = opened.body["number"].as_str().unwrap().to_string();
    let id = opened.body["ticket_id"].as_str().unwrap().to_string();
    let before = stack
        .call(
            "GET",
            &format!("/tickets/{id}"),
            Some(&company.token),
            None,
            None,
        )
        .await;
    let tickets_before = stack
        .call("GET", "/tickets", Some(&company.token), None, None)
        .await;
    let mail_before = stack.mail_to(from).await.len();

    // WHEN someone else writes as the admin, with nothing authenticating them: a reply to the
    // ticket, a new request, each with the verdicts SES gives a forged From
    let forged: [&[(&str, &str)]; 4] = [
        // no DMARC record, SPF and DKIM failing
        &[
            ("X-SES-SPF-Verdict", "FAIL"),
            ("X-SES-DKIM-Verdict", "FAIL"),
            ("X-SES-DMARC-Verdict", "GRAY"),
        ],
        // no DMARC record, nothing checked
        &[
            ("X-SES-SPF-Verdict", "GRAY"),
            ("X-SES-DKIM-Verdict", "GRAY"),
            ("X-SES-DMARC-Verdict", "GRAY"),
        ],
        // a published policy that DMARC could not confirm: SPF alone is not enough
        &[
            ("X-SES-SPF-Verdict", "PASS"),
            ("X-SES-DKIM-Verdict", "FAIL"),
            ("X-SES-DMARC-Verdict", "PROCESSING_FAILED"),
            ("X-SES-DMARC-Policy", "NONE"),
        ],
        // the domain disowns it
        &[
            ("X-SES-SPF-Verdict", "FAIL"),
            ("X-SES-DKIM-Verdict", "FAIL"),
            ("X-SES-DMARC-Verdict", "FAIL"),
            ("X-SES-DMARC-Policy", "REJECT"),
        ],
    ];
    for verdicts in forged {
        let reply = stack
            .deliver_mail_with(
                mail(
                    from,
                    &format!("Re: [{number}] Imprimante"),
                    "Fermez tout, merci.",
                ),
                verdicts,
            )
            .await;
        let new = stack
            .deliver_mail_with(mail(from, "Urgent", "Changez mon IBAN."), verdicts)
            .await;

        // THEN neither reaches the company's tickets, and nobody is answered
        for answer in [&reply, &new] {
            assert_eq!(answer.status, 202, "{verdicts:?}: {answer:?}");
            let outcome = answer.body["outcome"].as_str().unwrap();
            assert!(
                matches!(outcome, "unknown_sender" | "dropped"),
                "{verdicts:?}: {answer:?}"
            );
            assert_ne!(answer.body["replied"], true, "{verdicts:?}");
        }
    }
    // AND through SES's receipt path too (its verdicts in the receipt)
    let ses_id = uuid::Uuid::new_v4().simple().to_string();
    stack
        .put_object(
            &format!("inbound/{ses_id}"),
            mail(from, &format!("Re: [{number}] Imprimante"), "Fermez tout."),
        )
        .await;
    let receipt = json!({"Records": [{"eventSource": "aws:ses", "ses": {
        "mail": {"messageId": ses_id},
        "receipt": {"recipients": ["support@softbrik.com"],
                    "spfVerdict": {"status": "FAIL"}, "dkimVerdict": {"status": "GRAY"},
                    "dmarcVerdict": {"status": "GRAY"}}
    }}]});
    let outcomes = stack.invoke("ticket-intake", &receipt).await;
    assert_eq!(outcomes[0]["outcome"], "unknown_sender", "{outcomes}");
    assert_eq!(stack.objects_under(&format!("inbound/{ses_id}")).await, 0);

    let after = stack
        .call(
            "GET",
            &format!("/tickets/{id}"),
            Some(&company.token),
            None,
            None,
        )
        .await;
    assert_eq!(after.body, before.body);
    let tickets_after = stack
        .call("GET", "/tickets", Some(&company.token), None, None)
        .await;
    assert_eq!(tickets_after.body, tickets_before.body);
    assert_eq!(stack.mail_to(from).await.len(), mail_before);
}

#[tokio::test]
async fn a_sealed_value_copied_into_another_item_of_the_account_does_not_open() {
    // GIVEN an account with two users, Alice (the admin) and Bob
    let stack = Stack::connect().await;
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let bob_email = unique_email("bob");
    let invited = stack
        .call(
            "POST",
            "/account/users",
            Some(&company.token),
            Some(&json!({"email": bob_email, "name": "Bob Secretname", "briks": []})),
            None,
        )
        .await;
    assert_eq!(invited.status, 201, "{invited:?}");
    let bob_id = invited.body["user"]["id"].as_str().unwrap().to_string();

    // WHEN someone with write access to the table (a bug, a restore gone wrong, an insider)
    // pastes Bob's sealed name and email over another user's: same account, same key
    let items = stack.account_items(&company.account_id).await;
    let user_items: Vec<_> = items
        .iter()
        .filter(|i| matches!(i.get("sk"), Some(AttributeValue::S(sk)) if sk.starts_with("ACCOUNT#USER#")))
        .collect();
    let bob = user_items
        .iter()
        .find(|i| i.get("id") == Some(&AttributeValue::S(bob_id.clone())))
        .expect("Bob's item");
    let mut other = (*user_items
        .iter()
        .find(|i| i.get("id") != Some(&AttributeValue::S(bob_id.clone())))
        .expect("the admin's item"))
    .clone();
    other.insert("name".into(), bob["name"].clone());
    other.insert("email".into(), bob["email"].clone());
    stack.put_raw_item(other).await;

    // THEN the pasted values do not open: the list of users fails rather than show Bob's
    // name or address under another user
    let users = stack
        .call("GET", "/account/users", Some(&company.token), None, None)
        .await;
    assert_ne!(users.status, 200, "{users:?}");
    let text = users.body.to_string();
    assert!(
        !text.contains("Secretname") && !text.contains(&bob_email),
        "{text}"
    );
}
