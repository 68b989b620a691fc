//! The Stripe adapter (`softbrik::stripe`) against the payment partner's emulator, localstripe
//! (infra/stripe_emulator.py): its secret key read from SSM Parameter Store as deployed, cards
//! attached and read, PaymentIntents confirmed off-session under idempotency keys, declines,
//! refunds. The rest of the stack runs on the sandbox provider; this is the adapter a stage
//! with `PaymentsProvider=stripe` runs.

use rust_decimal::Decimal;
use softbrik::account::CardBrand;
use softbrik::money::Money;
use softbrik::payments::{ChargeRequest, PaymentError, Payments, RefundRequest};
use softbrik::stripe::StripePayments;
use softbrik::values::PaymentMethodToken;
use softbrik_integration_tests::Stack;

/// The functions that charge or refund, which read the secret key on a stage with
/// `PaymentsProvider=stripe`.
const CHARGING_FUNCTIONS: [&str; 4] = ["signup", "assign-brik", "renew", "prorate"];

/// The adapter as `function` builds it, on the parameter the dev stack seeded, signing its SSM
/// request with that function's own credentials (its IAM policy is what lets it read the key).
fn stripe_of(stack: &Stack, function: &str) -> StripePayments {
    let ssm = aws_sdk_ssm::Client::new(&stack.function_aws_config(function));
    StripePayments::new(ssm, "/softbrik/stripe/secret-key", &stack.file.stripe_url)
        .expect("the adapter")
}

async fn stripe(stack: &Stack) -> StripePayments {
    stripe_of(stack, "assign-brik")
}

#[tokio::test]
async fn every_function_that_charges_may_read_the_secret_key_under_its_own_policy() {
    let stack = Stack::connect().await;
    let token = PaymentMethodToken::parse("pm_card_visa").unwrap();
    for function in CHARGING_FUNCTIONS {
        let card = stripe_of(&stack, function)
            .attach(&token, "acc_stripe_test")
            .await
            .unwrap_or_else(|e| panic!("{function} cannot use the partner: {e:?}"));
        assert_eq!(card.last4, "4242", "{function}");
    }
}

fn request(card: &str, key: &str, amount: &str) -> ChargeRequest {
    ChargeRequest {
        account_id: "acc_stripe_test".into(),
        payment_method: card.into(),
        amount: Money::new(amount.parse::<Decimal>().unwrap()),
        idempotency_key: key.into(),
        description: "Softbrik SB-000001".into(),
    }
}

fn unique_key(what: &str) -> String {
    format!("{what}:{}", uuid::Uuid::new_v4())
}

#[tokio::test]
async fn a_visa_card_is_read_from_the_partner_and_charged_once_per_key() {
    let stack = Stack::connect().await;
    let stripe = stripe(&stack).await;
    // GIVEN a Visa card token
    let token = PaymentMethodToken::parse("pm_card_visa").unwrap();
    // WHEN it is attached, THEN its brand and last digits come from the partner
    let card = stripe
        .attach(&token, "acc_stripe_test")
        .await
        .expect("attached");
    assert_eq!(card.brand, CardBrand::Visa);
    assert_eq!(card.last4, "4242");
    // WHEN 19.20 is charged twice under one key (a retried request)
    let key = unique_key("renewal");
    let now = jiff::Timestamp::now();
    let first = stripe
        .charge(&request("pm_card_visa", &key, "19.20"), now)
        .await
        .expect("charged");
    let again = stripe
        .charge(&request("pm_card_visa", &key, "19.20"), now)
        .await
        .expect("replayed");
    // THEN it is one PaymentIntent
    assert!(first.id.starts_with("pi_"), "{first:?}");
    assert_eq!(again.id, first.id);
    // AND another key is another charge
    let other = stripe
        .charge(
            &request("pm_card_visa", &unique_key("renewal"), "5.94"),
            now,
        )
        .await
        .expect("charged");
    assert_ne!(other.id, first.id);
    // AND a refund under the key goes through, twice without harm
    stripe.refund(&key).await.expect("refunded");
    stripe.refund(&key).await.expect("refunded once");
}

#[tokio::test]
async fn a_credit_note_refunds_part_of_a_charge_once_per_key() {
    // GIVEN 19.20 charged on a Visa card, by the function that issues credit notes
    let stack = Stack::connect().await;
    let stripe = stripe_of(&stack, "signup");
    let token = PaymentMethodToken::parse("pm_card_visa").unwrap();
    stripe
        .attach(&token, "acc_stripe_test")
        .await
        .expect("attached");
    let charge_key = unique_key("signup");
    stripe
        .charge(
            &request("pm_card_visa", &charge_key, "19.20"),
            jiff::Timestamp::now(),
        )
        .await
        .expect("charged");
    let refund = |amount: &str, refund_key: &str| RefundRequest {
        account_id: "acc_stripe_test".into(),
        charge_key: charge_key.clone(),
        amount: Money::new(amount.parse::<Decimal>().unwrap()),
        refund_key: refund_key.into(),
    };
    // WHEN 5.00 is refunded twice under one key (a retried credit note)
    let key = unique_key("credit");
    let first = stripe
        .refund_part(&refund("5.00", &key))
        .await
        .expect("refunded");
    let again = stripe
        .refund_part(&refund("5.00", &key))
        .await
        .expect("replayed");
    // THEN it is one refund
    assert!(first.starts_with("re_"), "{first}");
    assert_eq!(again, first);
    // AND the key with another amount is refused, never a second refund
    assert!(matches!(
        stripe.refund_part(&refund("6.00", &key)).await,
        Err(PaymentError::Unavailable(_))
    ));
    // AND another key refunds the rest
    let rest = stripe
        .refund_part(&refund("14.20", &unique_key("credit")))
        .await
        .expect("the rest refunded");
    assert_ne!(rest, first);
    // AND nothing charged under a key has nothing to refund
    let none = RefundRequest {
        charge_key: unique_key("never"),
        ..refund("1.00", &unique_key("credit"))
    };
    assert!(stripe.refund_part(&none).await.is_err());
}

#[tokio::test]
async fn a_card_that_fails_every_charge_is_declined_with_the_issuers_reason() {
    let stack = Stack::connect().await;
    let stripe = stripe(&stack).await;
    let token = PaymentMethodToken::parse("pm_card_chargeCustomerFail").unwrap();
    // It attaches (the issuer accepts the card)...
    stripe
        .attach(&token, "acc_stripe_test")
        .await
        .expect("attached");
    // ...and every charge on it is declined
    let answer = stripe
        .charge(
            &request(token.as_str(), &unique_key("renewal"), "19.20"),
            jiff::Timestamp::now(),
        )
        .await;
    match answer {
        Err(PaymentError::Declined(reason)) => assert!(reason.contains("declined"), "{reason}"),
        other => panic!("expected a decline, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_payment_method_is_invalid_and_an_unused_key_has_nothing_to_refund() {
    let stack = Stack::connect().await;
    let stripe = stripe(&stack).await;
    let token = PaymentMethodToken::parse("pm_doesnotexist").unwrap();
    assert!(matches!(
        stripe.attach(&token, "acc_stripe_test").await,
        Err(PaymentError::InvalidPaymentMethod)
    ));
    stripe
        .refund(&unique_key("never-charged"))
        .await
        .expect("nothing to refund");
}

/// A card's payment method made at the partner, as its payment form makes one for a customer.
async fn payment_method_at_partner(stack: &Stack) -> PaymentMethodToken {
    let made: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1/payment_methods", stack.file.stripe_url))
        .bearer_auth("sk_test_softbrik_local")
        .form(&[
            ("type", "card"),
            ("card[number]", "4242424242424242"),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2034"),
            ("card[cvc]", "123"),
        ])
        .send()
        .await
        .expect("the partner answers")
        .json()
        .await
        .expect("a payment method");
    PaymentMethodToken::parse(made["id"].as_str().expect("an id")).expect("a pm_ token")
}

#[tokio::test]
async fn a_payment_method_attached_to_another_accounts_customer_is_refused() {
    let stack = Stack::connect().await;
    let stripe = stripe(&stack).await;
    // GIVEN a card's payment method that account A attached (its customer at the partner)
    let token = payment_method_at_partner(&stack).await;
    let a = format!("acc_{}", uuid::Uuid::new_v4().simple());
    stripe.attach(&token, &a).await.expect("attached to A");
    // WHEN A attaches it again (a retry), THEN it is still A's
    stripe.attach(&token, &a).await.expect("A's again");
    // WHEN account B presents the same payment method (someone else's card id, card testing)
    let b = format!("acc_{}", uuid::Uuid::new_v4().simple());
    // THEN it is refused
    assert!(matches!(
        stripe.attach(&token, &b).await,
        Err(PaymentError::AttachedElsewhere)
    ));
}
