//! The `Payments` port's adapter for the payment partner, Stripe (PaymentIntents API).
//!
//! - A card is a PaymentMethod attached to a Customer: Stripe checks the card with its issuer
//!   then, so a declining card is refused at signup or card change, not at the first charge.
//!   The port's `attach` knows the card, not the account, so there is one Customer per card,
//!   created under an idempotency key derived from the card; the card names its Customer,
//!   which is how a charge finds it (one GET).
//! - A charge is a PaymentIntent confirmed off-session, under the charge's idempotency key:
//!   the same key again, within Stripe's 24 hours, answers the first PaymentIntent.
//! - A refund goes to the PaymentIntent charged under the key. Right after its charge (the
//!   request whose write failed) the adapter knows its id; the settlement run, which may
//!   never have seen the answer, finds it with Stripe's search on `metadata[charge_key]`,
//!   indexed within about a minute, well inside settlement's 16 minutes of grace. Found nothing:
//!   nothing was charged under that key.
//! - The secret key comes from SSM Parameter Store on first use and is never logged; neither
//!   is any card detail (only PaymentIntent and refund ids and statuses).
//!
//! Written on `reqwest` rather than a Stripe SDK crate: the five calls made are form posts
//! and reads, where an SDK compiles thousands of generated types into every function.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;

use crate::account::{CardBrand, CardDetails};
use crate::error::Error;
use crate::money::Money;
use crate::payments::{Charge, ChargeRequest, Gate, PaymentError, Payments, RefundRequest};
use crate::values::PaymentMethodToken;

pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";
/// Pinned, so that upgrading the Stripe account's default version changes nothing here.
const API_VERSION: &str = "2024-06-20";
const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// PaymentIntents kept for a refund in the same invocation, which charges a few at most.
const REMEMBERED: usize = 64;

pub struct StripePayments {
    http: reqwest::Client,
    api_base: String,
    ssm: aws_sdk_ssm::Client,
    secret_parameter: String,
    secret_key: OnceCell<SecretKey>,
    /// (charge key, PaymentIntent id) of the latest successful charges.
    charged: Mutex<VecDeque<(String, String)>>,
    /// Where each request waits its turn (the billing runs' share of the partner's rate).
    gate: Arc<Gate>,
}

/// No `Debug`, no `Display`: the key cannot end up in a log line by accident.
struct SecretKey(String);

#[derive(Debug, Deserialize)]
struct PaymentMethodObject {
    #[serde(rename = "type")]
    kind: String,
    card: Option<CardObject>,
    customer: Option<String>,
}

/// A customer of the partner, as far as the attach reads it: the account it was made for.
#[derive(Debug, Deserialize)]
struct CustomerObject {
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
}

impl CustomerObject {
    fn belongs_to(&self, account_id: &str) -> bool {
        self.metadata.get("account_id").map(String::as_str) == Some(account_id)
    }
}

#[derive(Debug, Deserialize)]
struct CardObject {
    brand: String,
    last4: String,
    exp_month: u8,
    exp_year: u16,
}

#[derive(Debug, Deserialize)]
struct IdObject {
    id: String,
}

#[derive(Debug, Deserialize)]
struct PaymentIntentObject {
    id: String,
    status: String,
    last_payment_error: Option<StripeError>,
}

#[derive(Debug, Deserialize)]
struct SearchResult {
    data: Vec<PaymentIntentObject>,
}

#[derive(Debug, Deserialize)]
struct RefundObject {
    id: String,
    status: String,
    #[serde(default)]
    amount: i64,
    #[serde(default)]
    metadata: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct RefundList {
    data: Vec<RefundObject>,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    error: StripeError,
}

/// Stripe's error object; its `message` is left out on purpose (it is for people, and may
/// quote what was sent).
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
struct StripeError {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    decline_code: Option<String>,
}

impl StripeError {
    /// The issuer's reason when there is one (`insufficient_funds`), else Stripe's code.
    fn reason(&self) -> String {
        self.decline_code
            .clone()
            .or_else(|| self.code.clone())
            .unwrap_or_else(|| "card_declined".into())
    }
}

/// A call that did not give the object asked for.
#[derive(Debug)]
enum Failure {
    /// Stripe answered with an error status.
    Refused { status: u16, error: StripeError },
    /// No usable answer (network, timeout, unreadable body, no key): outcome unknown.
    NoAnswer(String),
}

impl Failure {
    fn refused(status: u16, body: &str) -> Failure {
        let error = serde_json::from_str::<ErrorBody>(body)
            .map(|b| b.error)
            .unwrap_or_default();
        Failure::Refused { status, error }
    }
}

impl From<Failure> for PaymentError {
    fn from(failure: Failure) -> Self {
        let (status, error) = match failure {
            Failure::NoAnswer(what) => return PaymentError::Unavailable(what),
            Failure::Refused { status, error } => (status, error),
        };
        let is = |field: &Option<String>, value: &str| field.as_deref() == Some(value);
        if status == 402 || is(&error.kind, "card_error") {
            PaymentError::Declined(error.reason())
        } else if status == 404 || is(&error.code, "resource_missing") {
            PaymentError::InvalidPaymentMethod
        } else if status == 429 {
            // Stripe's rate limit: nothing was done (its docs: retry with exponential backoff).
            PaymentError::RateLimited(format!(
                "stripe answered 429 {}",
                error.code.unwrap_or_default()
            ))
        } else {
            // 5xx (retry with the same key is safe), and what is our own fault
            // (401 key, 400 request, idempotency key reused): no charge was made.
            let code = error.code.or(error.kind).unwrap_or_default();
            PaymentError::Unavailable(format!("stripe answered {status} {code}"))
        }
    }
}

/// What the card is, from its PaymentMethod: VISA and MASTERCARD only (billing.md "Payment").
fn card_details(pm: &PaymentMethodObject) -> Result<CardDetails, PaymentError> {
    let card = match (&pm.card, pm.kind.as_str()) {
        (Some(card), "card") => card,
        _ => return Err(PaymentError::BrandNotSupported),
    };
    let brand = match card.brand.as_str() {
        "visa" => CardBrand::Visa,
        "mastercard" => CardBrand::Mastercard,
        _ => return Err(PaymentError::BrandNotSupported),
    };
    Ok(CardDetails {
        brand,
        last4: card.last4.clone(),
        exp_month: card.exp_month,
        exp_year: card.exp_year,
    })
}

/// Stripe's amounts are whole numbers of the currency's smallest unit: 19.20 EUR is 1920.
fn cents(amount: Money) -> Result<i64, PaymentError> {
    let cents = amount.amount() * Decimal::ONE_HUNDRED;
    match cents.to_i64() {
        Some(c) if c > 0 && cents.fract().is_zero() => Ok(c),
        _ => Err(PaymentError::Unavailable(format!(
            "{amount} is not an amount to charge"
        ))),
    }
}

fn payment_intent_form(
    request: &ChargeRequest,
    customer: Option<&str>,
) -> Result<Vec<(&'static str, String)>, PaymentError> {
    let mut form = vec![
        ("amount", cents(request.amount)?.to_string()),
        (
            "currency",
            request.amount.currency().as_str().to_lowercase(),
        ),
        ("payment_method", request.payment_method.clone()),
        ("payment_method_types[0]", "card".into()),
        ("confirm", "true".into()),
        ("off_session", "true".into()),
        ("description", request.description.clone()),
        ("metadata[account_id]", request.account_id.clone()),
        ("metadata[charge_key]", request.idempotency_key.clone()),
    ];
    if let Some(customer) = customer {
        form.push(("customer", customer.into()));
    }
    Ok(form)
}

/// Stripe's search query for the PaymentIntents of a charge key.
fn search_query(charge_key: &str) -> String {
    let quoted = charge_key.replace('\\', "\\\\").replace('\'', "\\'");
    format!("metadata['charge_key']:'{quoted}'")
}

impl StripePayments {
    /// `api_base` is Stripe's (`DEFAULT_API_BASE`) or an emulator's, without `/v1`.
    pub fn new(
        ssm: aws_sdk_ssm::Client,
        secret_parameter: impl Into<String>,
        api_base: &str,
    ) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(Error::internal)?;
        Ok(StripePayments {
            http,
            api_base: api_base.trim_end_matches('/').to_string(),
            ssm,
            secret_parameter: secret_parameter.into(),
            secret_key: OnceCell::new(),
            charged: Mutex::new(VecDeque::new()),
            gate: Arc::new(Gate::open()),
        })
    }

    /// Its requests wait their turn at `gate`: a charge is two requests (the card read, the
    /// PaymentIntent), and the partner's rate counts requests.
    pub fn paced(self, gate: Arc<Gate>) -> Self {
        StripePayments { gate, ..self }
    }

    async fn secret_key(&self) -> Result<&SecretKey, Failure> {
        self.secret_key
            .get_or_try_init(|| async {
                let out = self
                    .ssm
                    .get_parameter()
                    .name(&self.secret_parameter)
                    .with_decryption(true)
                    .send()
                    .await
                    .map_err(|e| {
                        Failure::NoAnswer(format!(
                            "stripe secret key from SSM: {}",
                            e.into_service_error()
                        ))
                    })?;
                out.parameter
                    .and_then(|p| p.value)
                    .map(SecretKey)
                    .ok_or_else(|| Failure::NoAnswer("stripe secret key: no value".into()))
            })
            .await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, Failure> {
        let key = self.secret_key().await?;
        // Nothing is sent without a turn (the table did not answer): no outcome to fear.
        self.gate
            .turn()
            .await
            .map_err(|e| Failure::NoAnswer(e.to_string()))?;
        let no_answer =
            |e: reqwest::Error| Failure::NoAnswer(format!("stripe: {}", e.without_url()));
        let response = request
            .bearer_auth(&key.0)
            .header("Stripe-Version", API_VERSION)
            .send()
            .await
            .map_err(no_answer)?;
        let status = response.status();
        let body = response.text().await.map_err(no_answer)?;
        if !status.is_success() {
            return Err(Failure::refused(status.as_u16(), &body));
        }
        serde_json::from_str(&body)
            .map_err(|e| Failure::NoAnswer(format!("stripe answer not understood: {e}")))
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, Failure> {
        let url = format!("{}/v1/{path}", self.api_base);
        self.send(self.http.get(url).query(query)).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: Option<&str>,
    ) -> Result<T, Failure> {
        let url = format!("{}/v1/{path}", self.api_base);
        let mut request = self.http.post(url).form(form);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        self.send(request).await
    }

    fn remember(&self, charge_key: &str, payment_intent: &str) {
        let mut charged = self.charged.lock().unwrap_or_else(PoisonError::into_inner);
        if charged.len() == REMEMBERED {
            charged.pop_front();
        }
        charged.push_back((charge_key.into(), payment_intent.into()));
    }

    fn remembered(&self, charge_key: &str) -> Option<String> {
        let charged = self.charged.lock().unwrap_or_else(PoisonError::into_inner);
        charged
            .iter()
            .rev()
            .find(|(key, _)| key == charge_key)
            .map(|(_, id)| id.clone())
    }

    /// The PaymentIntent that took money under this charge key, if any.
    async fn paid_under(&self, charge_key: &str) -> Result<Option<String>, PaymentError> {
        if let Some(id) = self.remembered(charge_key) {
            return Ok(Some(id));
        }
        let found: SearchResult = self
            .get(
                "payment_intents/search",
                &[("query", search_query(charge_key))],
            )
            .await?;
        if found.data.iter().any(|pi| pi.status == "processing") {
            return Err(PaymentError::Unavailable(format!(
                "the payment under {charge_key} is still processing"
            )));
        }
        let mut paid: Vec<String> = found
            .data
            .into_iter()
            .filter(|pi| pi.status == "succeeded")
            .map(|pi| pi.id)
            .collect();
        if paid.len() > 1 {
            // Only a key reused after Stripe's 24 hours could do this: a person decides.
            return Err(PaymentError::Unavailable(format!(
                "{} payments under the key {charge_key}: refund by hand",
                paid.len()
            )));
        }
        Ok(paid.pop())
    }
}

#[async_trait]
impl Payments for StripePayments {
    async fn attach(
        &self,
        token: &PaymentMethodToken,
        account_id: &str,
    ) -> Result<CardDetails, PaymentError> {
        let pm_path = format!("payment_methods/{}", token.as_str());
        let pm: PaymentMethodObject = self.get(&pm_path, &[]).await?;
        let card = card_details(&pm)?;
        match pm.customer {
            // Attached before: only a customer made for this account (a retry) may hold it.
            Some(customer) => {
                let holder: CustomerObject =
                    self.get(&format!("customers/{customer}"), &[]).await?;
                if !holder.belongs_to(account_id) {
                    tracing::warn!("a payment method attached to another customer: refused");
                    return Err(PaymentError::AttachedElsewhere);
                }
            }
            None => {
                let customer: IdObject = self
                    .post(
                        "customers",
                        &[
                            ("metadata[account_id]", account_id.into()),
                            ("metadata[payment_method]", token.as_str().into()),
                        ],
                        Some(&format!("customer:{account_id}:{}", token.as_str())),
                    )
                    .await?;
                // Attaching again is harmless, and a retry must not replay an outage's answer.
                let _: IdObject = self
                    .post(
                        &format!("{pm_path}/attach"),
                        &[("customer", customer.id)],
                        None,
                    )
                    .await?;
            }
        }
        Ok(card)
    }

    async fn charge(
        &self,
        request: &ChargeRequest,
        _now: Timestamp,
    ) -> Result<Charge, PaymentError> {
        let pm_path = format!("payment_methods/{}", request.payment_method);
        let pm: PaymentMethodObject = self.get(&pm_path, &[]).await?;
        let form = payment_intent_form(request, pm.customer.as_deref())?;
        let pi: PaymentIntentObject = self
            .post("payment_intents", &form, Some(&request.idempotency_key))
            .await?;
        tracing::info!(payment_intent = %pi.id, status = %pi.status, "stripe payment intent");
        match pi.status.as_str() {
            "succeeded" => {
                self.remember(&request.idempotency_key, &pi.id);
                Ok(Charge {
                    id: pi.id,
                    amount: request.amount,
                })
            }
            "requires_payment_method" | "requires_action" => Err(PaymentError::Declined(
                pi.last_payment_error
                    .map_or_else(|| "authentication_required".into(), |e| e.reason()),
            )),
            other => Err(PaymentError::Unavailable(format!(
                "payment intent {} is {other}",
                pi.id
            ))),
        }
    }

    async fn refund(&self, idempotency_key: &str) -> Result<(), PaymentError> {
        let Some(payment_intent) = self.paid_under(idempotency_key).await? else {
            return Ok(());
        };
        let form = [
            ("payment_intent", payment_intent.clone()),
            ("metadata[charge_key]", idempotency_key.to_string()),
        ];
        let answer: Result<RefundObject, Failure> = self
            .post("refunds", &form, Some(&format!("refund:{idempotency_key}")))
            .await;
        match answer {
            Ok(refund) => {
                tracing::info!(payment_intent = %payment_intent, refund = %refund.id, status = %refund.status, "stripe refund");
                Ok(())
            }
            // Refunded before, beyond the 24 hours of the refund's own idempotency key.
            Err(Failure::Refused { error, .. })
                if error.code.as_deref() == Some("charge_already_refunded") =>
            {
                Ok(())
            }
            Err(failure) => Err(PaymentError::Unavailable(format!(
                "refund of {payment_intent}: {}",
                PaymentError::from(failure)
            ))),
        }
    }

    async fn refund_part(&self, request: &RefundRequest) -> Result<String, PaymentError> {
        let Some(payment_intent) = self.paid_under(&request.charge_key).await? else {
            return Err(PaymentError::Unavailable(format!(
                "no payment under {} to refund",
                request.charge_key
            )));
        };
        let amount = cents(request.amount)?;
        // Refunded before under this key, beyond the 24 hours of Stripe's idempotency key:
        // the refunds of a PaymentIntent carry their key.
        let made: RefundList = self
            .get(
                "refunds",
                &[
                    ("payment_intent", payment_intent.clone()),
                    ("limit", "100".into()),
                ],
            )
            .await?;
        if let Some(refund) = made
            .data
            .into_iter()
            .find(|r| r.metadata.get("refund_key") == Some(&request.refund_key))
        {
            return if refund.amount == amount {
                Ok(refund.id)
            } else {
                Err(PaymentError::Unavailable(format!(
                    "refund key {} used for another amount: refund by hand",
                    request.refund_key
                )))
            };
        }
        let form = [
            ("payment_intent", payment_intent.clone()),
            ("amount", amount.to_string()),
            ("metadata[refund_key]", request.refund_key.clone()),
            ("metadata[account_id]", request.account_id.clone()),
        ];
        let refund: RefundObject = self
            .post(
                "refunds",
                &form,
                Some(&format!("refund:{}", request.refund_key)),
            )
            .await
            .map_err(|failure| {
                PaymentError::Unavailable(format!(
                    "refund of {payment_intent}: {}",
                    PaymentError::from(failure)
                ))
            })?;
        tracing::info!(payment_intent = %payment_intent, refund = %refund.id, status = %refund.status, "stripe partial refund");
        Ok(refund.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn refusal(status: u16, body: &str) -> PaymentError {
        Failure::refused(status, body).into()
    }

    fn request(amount: Money) -> ChargeRequest {
        ChargeRequest {
            account_id: "acc_1".into(),
            payment_method: "pm_1".into(),
            amount,
            idempotency_key: "inv_1:1".into(),
            description: "Softbrik inv_1".into(),
        }
    }

    #[test]
    fn an_amount_is_charged_in_whole_cents_without_rounding() {
        assert_eq!(cents(Money::new(dec!(19.20))), Ok(1920));
        assert_eq!(cents(Money::new(dec!(5.94))), Ok(594));
        assert_eq!(cents(Money::new(dec!(0.01))), Ok(1));
        assert_eq!(cents(Money::new(dec!(123456.78))), Ok(12_345_678));
    }

    #[test]
    fn nothing_or_a_credit_is_never_sent_as_a_charge() {
        assert!(matches!(
            cents(Money::zero()),
            Err(PaymentError::Unavailable(_))
        ));
        assert!(matches!(
            cents(Money::new(dec!(-5.94))),
            Err(PaymentError::Unavailable(_))
        ));
    }

    #[test]
    fn a_payment_intent_is_confirmed_off_session_in_eur_cents_with_its_key_and_account() {
        let form = payment_intent_form(&request(Money::new(dec!(19.20))), Some("cus_1")).unwrap();
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(field("amount"), Some("1920"));
        assert_eq!(field("currency"), Some("eur"));
        assert_eq!(field("payment_method"), Some("pm_1"));
        assert_eq!(field("customer"), Some("cus_1"));
        assert_eq!(field("confirm"), Some("true"));
        assert_eq!(field("off_session"), Some("true"));
        assert_eq!(field("metadata[account_id]"), Some("acc_1"));
        assert_eq!(field("metadata[charge_key]"), Some("inv_1:1"));
        let without = payment_intent_form(&request(Money::new(dec!(1))), None).unwrap();
        assert!(without.iter().all(|(k, _)| *k != "customer"));
    }

    #[test]
    fn a_card_error_is_a_decline_with_the_issuers_reason() {
        let body = r#"{"error": {"type": "card_error", "code": "card_declined",
            "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."}}"#;
        assert_eq!(
            refusal(402, body),
            PaymentError::Declined("insufficient_funds".into())
        );
        // localstripe answers 402 without a decline code and with another type
        let body = r#"{"error": {"type": "invalid_request_error", "code": "card_declined"}}"#;
        assert_eq!(
            refusal(402, body),
            PaymentError::Declined("card_declined".into())
        );
        let body = r#"{"error": {"type": "card_error", "code": "authentication_required"}}"#;
        assert_eq!(
            refusal(402, body),
            PaymentError::Declined("authentication_required".into())
        );
    }

    #[test]
    fn an_unknown_payment_method_is_invalid() {
        let body = r#"{"error": {"type": "invalid_request_error", "code": "resource_missing",
            "param": "payment_method", "message": "No such PaymentMethod: 'pm_nope'"}}"#;
        assert_eq!(refusal(400, body), PaymentError::InvalidPaymentMethod);
        assert_eq!(
            refusal(404, r#"{"error": {"type": "invalid_request_error"}}"#),
            PaymentError::InvalidPaymentMethod
        );
    }

    #[test]
    fn rate_limits_outages_and_our_own_mistakes_leave_the_outcome_to_the_same_key() {
        for (status, body) in [
            (500, r#"{"error": {"type": "api_error"}}"#),
            (503, "<html>Service Unavailable</html>"),
            (401, r#"{"error": {"type": "invalid_request_error"}}"#),
            (400, r#"{"error": {"type": "idempotency_error"}}"#),
        ] {
            assert!(
                matches!(refusal(status, body), PaymentError::Unavailable(_)),
                "{status} {body}"
            );
        }
        // The rate limit is told apart: it is waited out and tried again (payments::Paced).
        assert_eq!(
            refusal(429, r#"{"error": {"code": "rate_limit"}}"#),
            PaymentError::RateLimited("stripe answered 429 rate_limit".into())
        );
    }

    fn payment_method(kind: &str, brand: &str) -> PaymentMethodObject {
        serde_json::from_value(serde_json::json!({
            "id": "pm_1", "object": "payment_method", "type": kind, "customer": null,
            "card": {"brand": brand, "last4": "4242", "exp_month": 12, "exp_year": 2034,
                     "country": "FR", "funding": "credit"}
        }))
        .unwrap()
    }

    #[test]
    fn visa_and_mastercard_are_taken_with_what_the_api_may_show() {
        assert_eq!(
            card_details(&payment_method("card", "visa")),
            Ok(CardDetails {
                brand: CardBrand::Visa,
                last4: "4242".into(),
                exp_month: 12,
                exp_year: 2034,
            })
        );
        assert_eq!(
            card_details(&payment_method("card", "mastercard")).map(|c| c.brand),
            Ok(CardBrand::Mastercard)
        );
    }

    #[test]
    fn other_brands_and_other_kinds_of_payment_method_are_refused() {
        for brand in ["amex", "discover", "unionpay", "unknown"] {
            assert_eq!(
                card_details(&payment_method("card", brand)),
                Err(PaymentError::BrandNotSupported)
            );
        }
        let sepa: PaymentMethodObject = serde_json::from_str(
            r#"{"id": "pm_2", "type": "sepa_debit", "customer": null, "sepa_debit": {"last4": "3000"}}"#,
        )
        .unwrap();
        assert_eq!(card_details(&sepa), Err(PaymentError::BrandNotSupported));
    }

    #[test]
    fn the_search_for_a_charge_key_quotes_it() {
        assert_eq!(search_query("inv_1:2"), "metadata['charge_key']:'inv_1:2'");
        assert_eq!(search_query("a'b\\c"), r"metadata['charge_key']:'a\'b\\c'");
    }
}
