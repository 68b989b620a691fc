//! Signing a company up, end to end: the real functions under cargo-lambda, the gateway's JWT
//! checks, Cognito sign-in, KMS-sealed items in DynamoDB and the mail SES recorded.

use serde_json::json;
use softbrik_integration_tests::{PASSWORD, Stack, s, signup_body, unique_email};

#[tokio::test]
async fn signup_on_dec_12_charges_the_first_month_and_emails_the_french_invoice() {
    // GIVEN a test clock at 2026-12-12T10:00:00Z
    let stack = Stack::connect().await;
    let clock = stack.new_clock("2026-12-12T10:00:00Z").await;
    let email = unique_email("alice");

    // WHEN a French company signs up with File storage and Automated customer service
    let answer = stack
        .call(
            "POST",
            "/signup",
            None,
            Some(&signup_body(&email, Some(&clock))),
            None,
        )
        .await;

    // THEN the first period is invoiced: 16.00 + 20 % VAT = 19.20, Dec 12 to Jan 12
    assert_eq!(answer.status, 201, "{answer:?}");
    let invoice = &answer.body["invoice"];
    assert_eq!(invoice["subtotal"], "16.00");
    assert_eq!(invoice["vat"]["rate"], "20.00");
    assert_eq!(invoice["vat"]["amount"], "3.20");
    assert_eq!(invoice["vat"]["reverse_charge"], false);
    assert_eq!(invoice["total"], "19.20");
    assert_eq!(invoice["currency"], "EUR");
    assert_eq!(invoice["kind"], "signup");
    assert_eq!(invoice["status"], "paid");
    assert_eq!(
        invoice["period"],
        json!({"start": "2026-12-12", "end": "2027-01-12"})
    );
    assert!(invoice["number"].as_str().unwrap().starts_with("SB-"));
    let account_id = answer.body["account"]["id"].as_str().unwrap().to_string();

    // AND the card is charged once, the total
    assert_eq!(
        stack.charges(&account_id).await,
        vec![("19.20".to_string(), false)]
    );

    // AND the admin signs in through Cognito and sees the next billing date
    let token = stack
        .sign_in(&email, PASSWORD)
        .await
        .expect("the admin can sign in");
    let account = stack
        .call("GET", "/account", Some(&token), None, None)
        .await;
    assert_eq!(account.status, 200, "{account:?}");
    assert_eq!(account.body["id"], account_id.as_str());
    assert_eq!(account.body["billing"]["next_billing_date"], "2027-01-12");
    assert_eq!(account.body["billing"]["anchor_day"], 12);
    assert_eq!(account.body["billing"]["payment_method"]["brand"], "visa");
    assert_eq!(account.body["status"], "active");
    assert_eq!(account.body["company_name"], "Fromagerie Dupont");

    // AND the French invoice email is in the SES outbox
    let mail = stack.mail_to(&email).await;
    assert_eq!(mail.len(), 1, "one invoice email");
    assert!(
        mail[0].subject.starts_with("Votre facture Softbrik SB-"),
        "{}",
        mail[0].subject
    );
    assert!(
        mail[0].text.contains("Total TTC : 19,20 EUR"),
        "{}",
        mail[0].text
    );
    assert!(
        mail[0].text.contains("Stockage de fichiers"),
        "{}",
        mail[0].text
    );
    assert_eq!(
        mail[0].header("Auto-Submitted").as_deref(),
        Some("auto-generated")
    );
}

#[tokio::test]
async fn the_table_holds_no_company_name_or_admin_email_in_clear() {
    let stack = Stack::connect().await;
    let email = unique_email("clear-text-check");
    let mut body = signup_body(&email, None);
    body["company_name"] = json!("Boulangerie Introuvable");
    body["vat_number"] = json!("FR40303265045");
    let answer = stack.call("POST", "/signup", None, Some(&body), None).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let account_id = answer.body["account"]["id"].as_str().unwrap();

    let dump = format!("{:?}", stack.scan().await).to_lowercase();
    for secret in [
        "boulangerie introuvable",
        &email.to_lowercase(),
        "fr40303265045",
        "rue des fromages",
        "alice dupont",
    ] {
        assert!(!dump.contains(secret), "'{secret}' is stored in clear");
    }
    // The account's items exist, sealed: account, admin, invoice, history.
    let kinds: Vec<String> = stack
        .account_items(account_id)
        .await
        .iter()
        .map(|i| s(i, "sk"))
        .collect();
    for prefix in ["ACCOUNT", "ACCOUNT#USER#", "INVOICE#", "HISTORY#"] {
        assert!(
            kinds.iter().any(|k| k.starts_with(prefix)),
            "no {prefix} item in {kinds:?}"
        );
    }
}

#[tokio::test]
async fn replaying_a_signup_with_its_idempotency_key_returns_the_same_answer_and_creates_nothing() {
    let stack = Stack::connect().await;
    let email = unique_email("replay");
    let body = signup_body(&email, None);
    let key = uuid::Uuid::new_v4().to_string();

    let first = stack
        .call("POST", "/signup", None, Some(&body), Some(&key))
        .await;
    assert_eq!(first.status, 201, "{first:?}");
    let account_id = first.body["account"]["id"].as_str().unwrap().to_string();
    let items = stack.account_items(&account_id).await.len();

    let again = stack
        .call("POST", "/signup", None, Some(&body), Some(&key))
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body, "the replay is the first answer");
    assert_eq!(
        stack.account_items(&account_id).await.len(),
        items,
        "nothing more stored"
    );
    assert_eq!(stack.charges(&account_id).await.len(), 1, "charged once");
    assert_eq!(stack.mail_to(&email).await.len(), 1, "one invoice email");

    // The same key with another body is a misuse, not a replay.
    let mut other = body.clone();
    other["company_name"] = json!("Another Company");
    let reused = stack
        .call("POST", "/signup", None, Some(&other), Some(&key))
        .await;
    assert_eq!(reused.status, 409);
    assert_eq!(reused.body["code"], "idempotency_key_reused");

    // The same email with another key is taken.
    let taken = stack
        .call("POST", "/signup", None, Some(&body), Some("another-key"))
        .await;
    assert_eq!(taken.status, 409, "{taken:?}");
    assert_eq!(taken.body["code"], "email_taken");
    assert_eq!(taken.content_type, "application/problem+json");
}

#[tokio::test]
async fn refused_cards_leave_no_account_no_sign_in_and_no_charge() {
    let stack = Stack::connect().await;
    let cases = [
        ("pm_card_amex", 422, "card_brand_not_supported"),
        ("pm_card_chargeDeclined", 402, "card_declined"),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            402,
            "card_declined",
        ),
        ("pm_card_chargeCustomerFail", 402, "card_declined"),
        // a payment method another customer of the partner holds (card testing, or someone
        // else's card id): security.md
        (
            "pm_card_attachedToAnotherCustomer",
            422,
            "payment_method_attached_elsewhere",
        ),
    ];
    for (card, status, code) in cases {
        let email = unique_email("refused");
        let mut body = signup_body(&email, None);
        body["payment_method"] = json!(card);
        let answer = stack
            .call(
                "POST",
                "/signup",
                None,
                Some(&body),
                Some(&uuid::Uuid::new_v4().to_string()),
            )
            .await;
        assert_eq!(answer.status, status, "{card}: {answer:?}");
        assert_eq!(answer.body["code"], code, "{card}");
        assert!(
            !stack.cognito_user_exists(&email).await,
            "{card}: a Cognito user was left"
        );
        assert!(
            stack.mail_to(&email).await.is_empty(),
            "{card}: mail was sent"
        );

        // Nothing holds the address: the same company signs up with a good card.
        body["payment_method"] = json!("pm_card_mastercard");
        let retry = stack.call("POST", "/signup", None, Some(&body), None).await;
        assert_eq!(retry.status, 201, "{card}: {retry:?}");
        let account_id = retry.body["account"]["id"].as_str().unwrap();
        assert_eq!(
            stack.charges(account_id).await,
            vec![("19.20".to_string(), false)],
            "{card}"
        );
    }
}

#[tokio::test]
async fn the_catalogue_lists_the_default_briks_with_their_prices() {
    let stack = Stack::connect().await;
    let answer = stack.call("GET", "/briks", None, None, None).await;
    assert_eq!(answer.status, 200);
    // a page, like every list (api.md), the whole catalogue in it
    let briks = answer.body["items"].as_array().expect("a page");
    assert!(answer.body["next"].is_null(), "{answer:?}");
    let price = |id: &str| {
        briks
            .iter()
            .find(|b| b["id"] == id)
            .map(|b| (b["monthly_price"].clone(), b["currency"].clone()))
    };
    assert_eq!(price("files"), Some((json!("6.00"), json!("EUR"))));
    assert_eq!(price("stock"), Some((json!("8.00"), json!("EUR"))));
    assert_eq!(price("care"), Some((json!("10.00"), json!("EUR"))));
}

#[tokio::test]
async fn the_account_route_needs_a_valid_token() {
    let stack = Stack::connect().await;
    let email = unique_email("token");
    let answer = stack
        .call(
            "POST",
            "/signup",
            None,
            Some(&signup_body(&email, None)),
            None,
        )
        .await;
    assert_eq!(answer.status, 201);
    let token = stack.sign_in(&email, PASSWORD).await.unwrap();

    assert_eq!(
        stack.call("GET", "/account", None, None, None).await.status,
        401
    );
    assert_eq!(
        stack
            .call("GET", "/account", Some("not-a-jwt"), None, None)
            .await
            .status,
        401
    );
    // A token whose payload was altered no longer matches its signature.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[1] = parts[1].chars().rev().collect();
    assert_eq!(
        stack
            .call("GET", "/account", Some(&parts.join(".")), None, None)
            .await
            .status,
        401
    );
    // An unsigned token (alg: none) is refused.
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let unsigned = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        token.split('.').nth(1).unwrap()
    );
    assert_eq!(
        stack
            .call("GET", "/account", Some(&unsigned), None, None)
            .await
            .status,
        401
    );
}

/// A random address of the loopback network: one client of its own.
fn client_address() -> std::net::IpAddr {
    let [a, b, c, ..] = *uuid::Uuid::new_v4().as_bytes();
    std::net::Ipv4Addr::new(127, a.max(1), b, c.clamp(1, 254)).into()
}

#[tokio::test]
async fn signups_beyond_the_limit_of_one_address_or_one_domain_are_throttled() {
    let stack = Stack::connect().await;
    // GIVEN a script trying card after card from one address (each refused by the issuer)
    let from = client_address();
    for _ in 0..10 {
        let mut body = signup_body(&unique_email("testing"), None);
        body["payment_method"] = json!("pm_card_chargeDeclined");
        let tried = stack.signup_from(from, &body).await;
        assert_eq!(tried.status, 402, "{tried:?}");
    }
    // WHEN it tries an eleventh, with a card that would pass
    let email = unique_email("eleventh");
    let body = signup_body(&email, None);
    let throttled = stack.signup_from(from, &body).await;

    // THEN it is throttled with a Retry-After, and nothing was made
    assert_eq!(throttled.status, 429, "{throttled:?}");
    assert_eq!(throttled.body["code"], "too_many_requests");
    let retry_after = throttled.retry_after.expect("Retry-After");
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert!(!stack.cognito_user_exists(&email).await);
    // AND the same company from its own address signs up
    let own = stack.signup_from(client_address(), &body).await;
    assert_eq!(own.status, 201, "{own:?}");

    // GIVEN fifty attempts with one email domain, each from another address
    let domain = format!("{}.example.fr", uuid::Uuid::new_v4().simple());
    let at_domain = |n: usize| {
        let mut body = signup_body(&format!("testing{n}@{domain}"), None);
        body["payment_method"] = json!("pm_card_chargeDeclined");
        body
    };
    for n in 0..50 {
        let tried = stack.signup_from(client_address(), &at_domain(n)).await;
        assert_eq!(tried.status, 402, "{n}: {tried:?}");
    }
    // WHEN the fifty-first comes from yet another address, THEN the domain is throttled
    let throttled = stack.signup_from(client_address(), &at_domain(50)).await;
    assert_eq!(throttled.status, 429, "{throttled:?}");
    assert!(throttled.retry_after.is_some());
}
