//! Hostile input on every route of template.yaml that takes a body: random JSON of every
//! shape, a valid body with a field dropped, retyped, swapped for junk or padded beyond the
//! 64 KiB limit, a field of 62 KiB of "1 1 1 ..." (linear-time scans, security.md), unknown fields, and bytes that are not JSON at all (truncated, not UTF-8,
//! nested 100,000 deep, trailing garbage). Sent by the route's rightful caller, so that each
//! body gets past authentication. Every answer must be a 2xx or a 4xx problem (SCIM: a SCIM
//! error), never a 5xx: no crash, no half-written change (security.md).
//!
//! Cases per route: `HOSTILE_CASES` (default 24, seeded: `HOSTILE_SEED`); longer runs are in
//! docs/reliability.md.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use softbrik_integration_tests::{
    RouteSpec, Stack, env_number, route_body, unique_email, with_ids,
};

fn random_string(rng: &mut StdRng) -> String {
    let pick = [
        "",
        " ",
        "files",
        "pm_card_visa",
        "pm_card_attachedToAnotherCustomer",
        "4242424242424242",
        "P1",
        "fr",
        "2027-02-30",
        "calendar",
        "a@b",
        "\u{0}",
        "\u{202e}evil",
        "'; DROP TABLE",
        "{{name}}",
        "../../etc/passwd",
        "😀",
    ];
    match rng.gen_range(0..4) {
        0 => pick[rng.gen_range(0..pick.len())].to_string(),
        1 => (0..rng.gen_range(0..40))
            .map(|_| char::from_u32(rng.gen_range(0..0x3000)).unwrap_or('?'))
            .collect(),
        2 => "x".repeat(rng.gen_range(200..5000)),
        _ => unique_email("z"),
    }
}

fn random_json(rng: &mut StdRng, depth: u32) -> Value {
    match rng.gen_range(0..if depth > 3 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => json!(rng.r#gen::<bool>()),
        2 => json!([0i64, -1, 1, i64::MAX, i64::MIN, 4_294_967_296][rng.gen_range(0..6)]),
        3 => json!([0.5f64, -0.0, 1e300, 1.000_000_1][rng.gen_range(0..4)]),
        4 | 5 => json!(random_string(rng)),
        6 => Value::Array(
            (0..rng.gen_range(0..5))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "email", "name", "briks", "quantity", "active", "body", "priority", "x", "",
            ];
            let mut map = Map::new();
            for _ in 0..rng.gen_range(0..5) {
                map.insert(
                    keys[rng.gen_range(0..keys.len())].to_string(),
                    random_json(rng, depth + 1),
                );
            }
            Value::Object(map)
        }
    }
}

/// One hostile body: bytes, since some are not JSON at all.
fn hostile(rng: &mut StdRng, valid: &Value) -> Vec<u8> {
    let fields: Vec<String> = valid
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let mut body = valid.clone();
    let field = (!fields.is_empty()).then(|| fields[rng.gen_range(0..fields.len())].clone());
    match rng.gen_range(0..11) {
        0 => return random_json(rng, 0).to_string().into_bytes(),
        1 => {
            if let (Some(f), Some(o)) = (&field, body.as_object_mut()) {
                o.remove(f);
            }
        }
        2 | 3 => {
            if let (Some(f), Some(o)) = (&field, body.as_object_mut()) {
                o.insert(f.clone(), random_json(rng, 1));
            }
        }
        4 => {
            if let Some(o) = body.as_object_mut() {
                o.insert("account_id".into(), json!("acc_someone_else"));
            }
        }
        5 => {
            if let (Some(f), Some(o)) = (&field, body.as_object_mut()) {
                o.insert(f.clone(), json!("y".repeat(70 * 1024)));
            }
        }
        6 => {
            let text = valid.to_string();
            let cut = rng.gen_range(0..text.len().max(1));
            return text.as_bytes()[..cut].to_vec();
        }
        7 => {
            let mut bytes = valid.to_string().into_bytes();
            bytes.insert(bytes.len() / 2, 0xff);
            return bytes;
        }
        8 => return "[".repeat(100_000).into_bytes(),
        9 => {
            // The shape that made the card-number scan quadratic (12 s to refuse 60 KB): one
            // run of one-digit groups, up to the body limit.
            if let (Some(f), Some(o)) = (&field, body.as_object_mut()) {
                o.insert(f.clone(), json!("1 ".repeat(31 * 1024)));
            }
        }
        _ => return format!("{valid} trailing").into_bytes(),
    }
    body.to_string().into_bytes()
}

struct Owner {
    authorization: Option<String>,
}

#[tokio::test]
async fn no_body_on_any_route_gets_a_5xx() {
    let stack = Stack::connect().await;
    let cases: usize = env_number("HOSTILE_CASES", 24);
    let seed: u64 = env_number("HOSTILE_SEED", 2026);
    let mut rng = StdRng::seed_from_u64(seed);

    // The rightful callers and the resources they may name.
    let company = stack.company_on_clock("2026-12-12T10:00:00Z").await;
    let invited = stack
        .call(
            "POST",
            "/account/users",
            Some(&company.token),
            Some(
                &json!({"email": unique_email("member"), "name": "Bob Martin", "briks": ["files"]}),
            ),
            None,
        )
        .await;
    let user_id = invited.body["user"]["id"].as_str().unwrap().to_string();
    let invoice_id = invited.body["invoice"]["id"].as_str().unwrap().to_string();
    let ticket = stack
        .call(
            "POST",
            "/tickets",
            Some(&company.token),
            Some(&json!({"subject": "Partage", "description": "Bloqué", "channel": "web"})),
            None,
        )
        .await;
    let ticket_id = ticket.body["id"].as_str().unwrap().to_string();
    let support = stack.support_token().await;
    let reseller = stack.reseller(None).await;
    let client = stack.client_of(&reseller.token, "Client", None).await;
    let (reseller, client_id, client) = (reseller.token, client.id, client.token);
    let scim = stack
        .call("POST", "/account/scim-token", Some(&client), None, None)
        .await
        .body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let scim_user = stack
        .call("GET", "/account/users", Some(&client), None, None)
        .await
        .body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let empty_clock = stack.new_clock("2027-01-01T00:00:00Z").await;

    let mut routes: Vec<RouteSpec> = stack
        .file
        .routes
        .iter()
        .filter(|r| r.method != "GET" && r.path != "/inbound/email")
        .cloned()
        .collect();
    // Last: a new SCIM token (it replaces the one the SCIM routes use) and the closure (once
    // asked for, the account's other changes are refused with 409).
    routes.sort_by_key(|r| {
        (
            r.path == "/account/scim-token",
            r.path == "/account/closure" || r.path.ends_with("/closure"),
        )
    });
    assert!(routes.len() > 25, "{routes:?}");
    let bearer = |t: &str| Some(format!("Bearer {t}"));
    let mut failures = Vec::new();
    let mut sent = 0;
    for route in &routes {
        let key = route.key();
        let scim_route = route.path.starts_with("/scim/");
        let owner = match () {
            _ if scim_route => Owner {
                authorization: bearer(&scim),
            },
            _ if route.auth == "none" => Owner {
                authorization: None,
            },
            _ if key.contains("/acknowledge")
                || key.contains("/workaround")
                || key.contains("/resolve")
                || key.contains("/rca") =>
            {
                Owner {
                    authorization: bearer(&support),
                }
            }
            _ if route.path.starts_with("/staff/") => Owner {
                authorization: bearer(&support),
            },
            _ if route.path.starts_with("/reseller/") => Owner {
                authorization: bearer(&reseller),
            },
            _ if key.contains("scim-token")
                || key.contains("deny-list")
                || key.contains("transfer-code") =>
            {
                Owner {
                    authorization: bearer(&client),
                }
            }
            _ => Owner {
                authorization: bearer(&company.token),
            },
        };
        let mut path = route.path.clone();
        for (name, value) in [
            ("{user_id}", if scim_route { &scim_user } else { &user_id }),
            ("{invoice_id}", &invoice_id),
            ("{ticket_id}", &ticket_id),
            (
                "{account_id}",
                if route.path.starts_with("/staff/") {
                    &company.account_id
                } else {
                    &client_id
                },
            ),
            ("{clock_id}", &empty_clock),
            ("{brik_id}", &"files".to_string()),
            ("{pack_id}", &"support-pro".to_string()),
        ] {
            path = path.replace(name, value);
        }
        assert!(
            !path.contains('{'),
            "{key}: a path parameter this test does not know"
        );
        let valid = with_ids(route_body(&key), |name| {
            (name == "ticket_id").then(|| ticket_id.clone())
        })
        .unwrap_or_else(|| json!({}));
        for _ in 0..cases {
            let bytes = hostile(&mut rng, &valid);
            let answer = stack
                .call_bytes(
                    &route.method,
                    &path,
                    owner.authorization.as_deref(),
                    bytes.clone(),
                )
                .await;
            sent += 1;
            let problem = if scim_route {
                "application/scim+json"
            } else {
                "application/problem+json"
            };
            let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(160)]).to_string();
            if answer.status >= 500 {
                failures.push(format!(
                    "{key}: {} for {shown}: {}",
                    answer.status, answer.body
                ));
            } else if answer.status >= 400 && answer.content_type != problem {
                failures.push(format!(
                    "{key}: {} as {} for {shown}",
                    answer.status, answer.content_type
                ));
            } else if answer.status >= 400
                && !scim_route
                && answer.body["code"].as_str().is_none_or(str::is_empty)
            {
                failures.push(format!(
                    "{key}: {} without a code for {shown}",
                    answer.status
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {sent} hostile bodies went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "hostile input: {} routes x {cases} bodies = {sent}, none answered 5xx (seed {seed})",
        routes.len()
    );
}
