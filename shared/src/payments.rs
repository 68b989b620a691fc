//! The sandbox adapter of the `Payments` port (`softbrik_app::ports::payments`); [`Gate`],
//! the turn every request to the partner takes, so that an instance keeps to its share of the
//! partner's rate; and [`Paced`], every adapter as the functions call it, a refusal for that
//! rate (429) waited out.
//!
//! The sandbox provider follows the payment partner's documented test tokens and keeps its
//! ledger of charges in the table (`SANDBOX#CHARGE#<idempotency key>`), so that a retried
//! charge with the same key returns the first charge, across Lambda invocations, as the
//! partner does. Like a real partner it can take its time and limit its rate
//! ([`SandboxLimits`], template parameters `SandboxLatencyMs` and `SandboxRate`), so that a
//! bench meets what a billing run meets in production.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::account::{CardBrand, CardDetails};
use crate::error::Error;
use crate::money::Money;
use crate::store::Store;
use crate::values::PaymentMethodToken;
pub use softbrik_app::ports::payments::{
    Charge, ChargeRequest, PaymentError, Payments, RefundRequest,
};

/// What a sandbox test token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TestCard {
    Accepted(CardBrand, &'static str),
    Amex,
    DeclinedOnAttach(&'static str),
    ChargesFail,
    AttachedElsewhere,
}

fn test_card(token: &str) -> Option<TestCard> {
    Some(match token {
        "pm_card_visa" => TestCard::Accepted(CardBrand::Visa, "4242"),
        "pm_card_mastercard" => TestCard::Accepted(CardBrand::Mastercard, "4444"),
        "pm_card_amex" => TestCard::Amex,
        "pm_card_chargeDeclined" => TestCard::DeclinedOnAttach("generic_decline"),
        "pm_card_chargeDeclinedInsufficientFunds" => {
            TestCard::DeclinedOnAttach("insufficient_funds")
        }
        "pm_card_chargeCustomerFail" => TestCard::ChargesFail,
        // The sandbox's stand-in for a payment method another customer already holds.
        "pm_card_attachedToAnotherCustomer" => TestCard::AttachedElsewhere,
        _ => return None,
    })
}

/// The sandbox provider of local and test stages.
pub struct SandboxPayments {
    store: Store,
    limits: SandboxLimits,
    gate: Arc<Gate>,
}

/// How the sandbox partner answers: after `latency`, and at most `rate` requests a second
/// from all callers together (0: any), refusing the others as a partner does (429).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SandboxLimits {
    pub latency: std::time::Duration,
    pub rate: u32,
}

impl SandboxLimits {
    /// `SOFTBRIK_SANDBOX_LATENCY_MS` and `SOFTBRIK_SANDBOX_RATE`; absent: none.
    pub fn from_env() -> SandboxLimits {
        let number = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        SandboxLimits {
            latency: std::time::Duration::from_millis(number("SOFTBRIK_SANDBOX_LATENCY_MS")),
            rate: u32::try_from(number("SOFTBRIK_SANDBOX_RATE")).unwrap_or(u32::MAX),
        }
    }
}

/// The sandbox partner's count of the requests it answered in one second, and of those it
/// refused (`SANDBOX#RATE`, sort key the second): what a bench reads to show the rate kept.
pub const SANDBOX_RATE_PK: &str = "SANDBOX#RATE";

#[derive(Debug, Serialize, Deserialize)]
struct SandboxChargeItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    charge_id: String,
    account_id: String,
    amount: Money,
    description: String,
    created_at: Timestamp,
    refunded: bool,
}

impl SandboxPayments {
    pub fn new(store: Store, limits: SandboxLimits) -> Self {
        SandboxPayments {
            store,
            limits,
            gate: Arc::new(Gate::open()),
        }
    }

    /// Its requests wait their turn at `gate` (the instance's share of the partner's rate).
    pub fn paced(self, gate: Arc<Gate>) -> Self {
        SandboxPayments { gate, ..self }
    }

    /// A request: it waits its turn on this side; the partner counts it in the second it
    /// arrives in, refusing it at once beyond its rate, then takes its time to answer.
    async fn admit(&self) -> Result<(), PaymentError> {
        self.gate.turn().await;
        self.count().await?;
        if !self.limits.latency.is_zero() {
            tokio::time::sleep(self.limits.latency).await;
        }
        Ok(())
    }

    /// The request counted in its second (`SANDBOX#RATE`, sort key the Unix second:
    /// `answered`, or `refused` beyond the rate).
    async fn count(&self) -> Result<(), PaymentError> {
        if self.limits.rate == 0 {
            return Ok(());
        }
        use aws_sdk_dynamodb::types::AttributeValue;
        let second = jiff::Timestamp::now().as_second();
        let count = |field: &str, condition: Option<&str>| {
            let update = self
                .store
                .client()
                .update_item()
                .table_name(self.store.table())
                .key("pk", AttributeValue::S(SANDBOX_RATE_PK.into()))
                .key("sk", AttributeValue::S(second.to_string()))
                .update_expression(format!("ADD {field} :one SET expires_at = :expires"))
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(
                    ":expires",
                    AttributeValue::N((second + 24 * 3600).to_string()),
                );
            match condition {
                Some(condition) => update
                    .condition_expression(condition)
                    .expression_attribute_values(
                        ":rate",
                        AttributeValue::N(self.limits.rate.to_string()),
                    ),
                None => update,
            }
        };
        let unavailable = |e: String| PaymentError::Unavailable(format!("sandbox rate: {e}"));
        match count(
            "answered",
            Some("attribute_not_exists(answered) OR answered < :rate"),
        )
        .send()
        .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = e.into_service_error();
                if !e.is_conditional_check_failed_exception() {
                    return Err(unavailable(e.to_string()));
                }
                count("refused", None)
                    .send()
                    .await
                    .map_err(|e| unavailable(e.into_service_error().to_string()))?;
                Err(PaymentError::RateLimited(format!(
                    "sandbox answered 429: over {} requests a second",
                    self.limits.rate
                )))
            }
        }
    }

    fn charge_pk(key: &str) -> String {
        format!("SANDBOX#CHARGE#{key}")
    }
}

#[async_trait]
impl Payments for SandboxPayments {
    async fn attach(
        &self,
        token: &PaymentMethodToken,
        _account_id: &str,
    ) -> Result<CardDetails, PaymentError> {
        self.admit().await?;
        match test_card(token.as_str()) {
            Some(TestCard::Accepted(brand, last4)) => Ok(CardDetails {
                brand,
                last4: last4.into(),
                exp_month: 12,
                exp_year: 2034,
            }),
            Some(TestCard::ChargesFail) => Ok(CardDetails {
                brand: CardBrand::Visa,
                last4: "0341".into(),
                exp_month: 12,
                exp_year: 2034,
            }),
            Some(TestCard::Amex) => Err(PaymentError::BrandNotSupported),
            Some(TestCard::DeclinedOnAttach(reason)) => Err(PaymentError::Declined(reason.into())),
            Some(TestCard::AttachedElsewhere) => Err(PaymentError::AttachedElsewhere),
            None => Err(PaymentError::InvalidPaymentMethod),
        }
    }

    async fn charge(
        &self,
        request: &ChargeRequest,
        now: Timestamp,
    ) -> Result<Charge, PaymentError> {
        self.admit().await?;
        match test_card(&request.payment_method) {
            Some(TestCard::Accepted(..)) => {}
            Some(TestCard::ChargesFail) => {
                return Err(PaymentError::Declined("card_declined".into()));
            }
            _ => return Err(PaymentError::InvalidPaymentMethod),
        }
        let pk = Self::charge_pk(&request.idempotency_key);
        let item = SandboxChargeItem {
            pk: pk.clone(),
            sk: "CHARGE".into(),
            gsi1pk: format!("SANDBOX#ACCOUNT#{}", request.account_id),
            gsi1sk: format!("{now}#{}", request.idempotency_key),
            charge_id: crate::account::new_id("ch"),
            account_id: request.account_id.clone(),
            amount: request.amount,
            description: request.description.clone(),
            created_at: now,
            refunded: false,
        };
        let unavailable = |e: Error| PaymentError::Unavailable(e.to_string());
        if self.store.put_new(&item).await.map_err(unavailable)? {
            return Ok(Charge {
                id: item.charge_id,
                amount: item.amount,
            });
        }
        // Same key again: the partner answers with the first charge, or refuses other params.
        let first: SandboxChargeItem = self
            .store
            .get(&pk, "CHARGE")
            .await
            .map_err(unavailable)?
            .ok_or_else(|| PaymentError::Unavailable("sandbox charge vanished".into()))?;
        if first.amount != request.amount || first.account_id != request.account_id {
            return Err(PaymentError::Unavailable(
                "idempotency key reused with other parameters".into(),
            ));
        }
        Ok(Charge {
            id: first.charge_id,
            amount: first.amount,
        })
    }

    async fn refund(&self, idempotency_key: &str) -> Result<(), PaymentError> {
        self.admit().await?;
        let pk = Self::charge_pk(idempotency_key);
        let charge: Option<SandboxChargeItem> = self
            .store
            .get(&pk, "CHARGE")
            .await
            .map_err(|e| PaymentError::Unavailable(e.to_string()))?;
        let Some(mut charge) = charge else {
            return Ok(());
        };
        charge.refunded = true;
        self.store
            .client()
            .put_item()
            .table_name(self.store.table())
            .set_item(Some(
                crate::store::to_item(&charge)
                    .map_err(|e| PaymentError::Unavailable(e.to_string()))?,
            ))
            .send()
            .await
            .map_err(|e| {
                PaymentError::Unavailable(format!("sandbox ledger: {}", e.into_service_error()))
            })?;
        Ok(())
    }

    async fn refund_part(&self, request: &RefundRequest) -> Result<String, PaymentError> {
        self.admit().await?;
        let unavailable = |e: Error| PaymentError::Unavailable(e.to_string());
        let charge: Option<SandboxChargeItem> = self
            .store
            .get(&Self::charge_pk(&request.charge_key), "CHARGE")
            .await
            .map_err(unavailable)?;
        let Some(charge) = charge.filter(|c| !c.refunded) else {
            return Err(PaymentError::Unavailable(format!(
                "no charge under {} to refund",
                request.charge_key
            )));
        };
        if request.amount > charge.amount || request.amount <= Money::zero() {
            return Err(PaymentError::Unavailable(
                "a refund beyond its charge".into(),
            ));
        }
        let refund = SandboxRefundItem {
            pk: format!("SANDBOX#REFUND#{}", request.refund_key),
            sk: "REFUND".into(),
            gsi1pk: format!("SANDBOX#ACCOUNT#{}", request.account_id),
            gsi1sk: format!("REFUND#{}", request.refund_key),
            refund_id: crate::account::new_id("re"),
            charge_id: charge.charge_id,
            account_id: request.account_id.clone(),
            // Money going back: listed with the account's charges as a negative amount.
            amount: Money::zero() - request.amount,
        };
        if self.store.put_new(&refund).await.map_err(unavailable)? {
            return Ok(refund.refund_id);
        }
        // Same key again: the first refund, or a refusal for another amount.
        let first: SandboxRefundItem = self
            .store
            .get(&refund.pk, &refund.sk)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| PaymentError::Unavailable("sandbox refund vanished".into()))?;
        if first.amount != refund.amount {
            return Err(PaymentError::Unavailable(
                "refund key reused with another amount".into(),
            ));
        }
        Ok(first.refund_id)
    }
}

/// Every adapter as the functions call it: a request refused for the partner's rate limit
/// (429) made again, with the same idempotency key, after a pause that doubles each time (with
/// jitter, as Stripe advises), [`RATE_LIMIT_TRIES`] times in all. Each request of the adapter
/// itself waits its turn at the instance's [`Gate`].
pub struct Paced {
    inner: Arc<dyn Payments>,
    backoff: std::time::Duration,
}

/// Requests made in all when the partner keeps refusing for its rate: the pauses between
/// them, from 250 ms doubling, last about 8 s together, within a billing worker's batch and
/// an API request's 20 s.
pub const RATE_LIMIT_TRIES: u32 = 6;

/// The turns of one instance's requests to the partner: at most its [`Pace`] in each second
/// of the clock. One per instance, shared by its adapter's every request (a Stripe charge is
/// two: the card read, the PaymentIntent), since the partner counts requests, not charges.
#[derive(Debug, Default)]
pub struct Gate {
    pace: Option<Pace>,
    /// The second this instance last took a turn in, and the turns taken in it.
    used: tokio::sync::Mutex<Turns>,
}

impl Gate {
    /// No pace: every request at once (the API's functions).
    pub fn open() -> Gate {
        Gate::default()
    }

    /// At `pace`; none, open.
    pub fn new(pace: Option<Pace>) -> Gate {
        Gate {
            pace,
            used: tokio::sync::Mutex::new(Turns::default()),
        }
    }

    /// Waits for this instance's next turn.
    pub async fn turn(&self) {
        let Some(pace) = self.pace else {
            return;
        };
        let wait = {
            let mut turns = self.used.lock().await;
            // The partner's seconds are the clock's: this is not the business time the
            // use cases are given, but the wall clock both sides count requests by.
            pace.take(&mut turns, Timestamp::now().as_millisecond())
        };
        tokio::time::sleep(wait).await;
    }
}

/// One worker's share of the partner's rate: `quota` requests in each second of the clock.
/// The partner counts requests by second; `workers` workers that each keep to
/// `floor(rate / workers)` in every second make at most `rate` together in any second,
/// whichever way their requests fall, where spacing each worker's requests by
/// `workers / rate` would not (four workers spaced 400 ms apart make up to 12 requests in one
/// second at a rate of 10). The floor gives up what is left of the division: workers that
/// divide the rate use all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    quota: u32,
}

/// The turns an instance has taken: in `second` (of the clock, Unix), `taken` of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Turns {
    second: i64,
    taken: u32,
}

impl Pace {
    /// The pace of a function given `SOFTBRIK_PARTNER_RATE` (requests a second, all
    /// workers) and `SOFTBRIK_BILLING_WORKERS` (workers at once): the billing runs' workers.
    pub fn from_env() -> Option<Pace> {
        Self::of(
            std::env::var("SOFTBRIK_PARTNER_RATE").ok().as_deref(),
            std::env::var("SOFTBRIK_BILLING_WORKERS").ok().as_deref(),
        )
    }

    /// One of `workers`' share of `rate` requests a second; at least one a second (more
    /// workers than the rate would exceed it: the 429s are then waited out).
    fn of(rate: Option<&str>, workers: Option<&str>) -> Option<Pace> {
        let number =
            |value: Option<&str>| value.and_then(|v| v.parse::<u32>().ok()).filter(|n| *n > 0);
        let rate = number(rate)?;
        let workers = number(workers).unwrap_or(1);
        Some(Pace {
            quota: (rate / workers).max(1),
        })
    }

    /// A turn for a request asked for at `now_ms` (Unix milliseconds), given the turns taken:
    /// how long to wait before making it (the start of the first second with a turn left), and
    /// that turn taken.
    pub fn take(self, turns: &mut Turns, now_ms: i64) -> std::time::Duration {
        let now_second = now_ms.div_euclid(1000);
        let second = match now_second.max(turns.second) {
            s if s == turns.second && turns.taken >= self.quota => s + 1,
            s => s,
        };
        if second != turns.second {
            *turns = Turns { second, taken: 0 };
        }
        turns.taken += 1;
        let wait = (second * 1000 - now_ms).max(0);
        std::time::Duration::from_millis(wait as u64)
    }
}

impl Paced {
    pub fn new(inner: Arc<dyn Payments>) -> Paced {
        Paced {
            inner,
            backoff: std::time::Duration::from_millis(250),
        }
    }

    /// `call` in turn, made again while the partner refuses it for its rate.
    async fn call<T, F, Fut>(&self, call: F) -> Result<T, PaymentError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, PaymentError>>,
    {
        let mut pause = self.backoff;
        for attempt in 1..=RATE_LIMIT_TRIES {
            match call().await {
                Err(PaymentError::RateLimited(what)) if attempt < RATE_LIMIT_TRIES => {
                    let jitter = rand::Rng::gen_range(&mut rand::thread_rng(), 0.5..1.0);
                    tracing::warn!(attempt, what, "payment partner rate limit: waiting");
                    tokio::time::sleep(pause.mul_f64(jitter)).await;
                    pause *= 2;
                }
                other => return other,
            }
        }
        unreachable!("the last attempt returns")
    }
}

#[async_trait]
impl Payments for Paced {
    async fn attach(
        &self,
        token: &PaymentMethodToken,
        account_id: &str,
    ) -> Result<CardDetails, PaymentError> {
        self.call(|| self.inner.attach(token, account_id)).await
    }

    async fn charge(
        &self,
        request: &ChargeRequest,
        now: Timestamp,
    ) -> Result<Charge, PaymentError> {
        self.call(|| self.inner.charge(request, now)).await
    }

    async fn refund(&self, idempotency_key: &str) -> Result<(), PaymentError> {
        self.call(|| self.inner.refund(idempotency_key)).await
    }

    async fn refund_part(&self, request: &RefundRequest) -> Result<String, PaymentError> {
        self.call(|| self.inner.refund_part(request)).await
    }
}

/// A refund of part of a charge in the sandbox's ledger (`SANDBOX#REFUND#<refund key>`).
#[derive(Debug, Serialize, Deserialize)]
struct SandboxRefundItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    refund_id: String,
    charge_id: String,
    account_id: String,
    amount: Money,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partner_test_tokens_stand_for_the_documented_cards() {
        assert_eq!(
            test_card("pm_card_visa"),
            Some(TestCard::Accepted(CardBrand::Visa, "4242"))
        );
        assert_eq!(
            test_card("pm_card_mastercard"),
            Some(TestCard::Accepted(CardBrand::Mastercard, "4444"))
        );
        assert_eq!(test_card("pm_card_amex"), Some(TestCard::Amex));
        assert_eq!(
            test_card("pm_card_chargeDeclinedInsufficientFunds"),
            Some(TestCard::DeclinedOnAttach("insufficient_funds"))
        );
        assert_eq!(
            test_card("pm_card_chargeCustomerFail"),
            Some(TestCard::ChargesFail)
        );
        assert_eq!(test_card("pm_unknown"), None);
    }

    /// A partner that refuses for its rate the first `refusals` requests, and records when
    /// each request came.
    struct Busy {
        refusals: std::sync::Mutex<u32>,
        calls: std::sync::Mutex<Vec<std::time::Instant>>,
    }

    #[async_trait]
    impl Payments for Busy {
        async fn attach(
            &self,
            _: &PaymentMethodToken,
            _: &str,
        ) -> Result<CardDetails, PaymentError> {
            Err(PaymentError::InvalidPaymentMethod)
        }
        async fn charge(
            &self,
            request: &ChargeRequest,
            _: Timestamp,
        ) -> Result<Charge, PaymentError> {
            self.calls.lock().unwrap().push(std::time::Instant::now());
            let mut refusals = self.refusals.lock().unwrap();
            if *refusals > 0 {
                *refusals -= 1;
                return Err(PaymentError::RateLimited("429".into()));
            }
            Ok(Charge {
                id: request.idempotency_key.clone(),
                amount: request.amount,
            })
        }
        async fn refund(&self, _: &str) -> Result<(), PaymentError> {
            Ok(())
        }
        async fn refund_part(&self, _: &RefundRequest) -> Result<String, PaymentError> {
            Ok("re".into())
        }
    }

    fn busy(refusals: u32) -> Arc<Busy> {
        Arc::new(Busy {
            refusals: std::sync::Mutex::new(refusals),
            calls: std::sync::Mutex::new(Vec::new()),
        })
    }

    fn request() -> ChargeRequest {
        ChargeRequest {
            account_id: "acc_1".into(),
            payment_method: "pm_card_visa".into(),
            amount: Money::parse("19.20").unwrap(),
            idempotency_key: "inv_1:1".into(),
            description: "renewal".into(),
        }
    }

    #[tokio::test]
    async fn a_refusal_for_the_partners_rate_is_waited_out_and_made_again_with_the_same_key() {
        let partner = busy(2);
        let mut paced = Paced::new(partner.clone());
        paced.backoff = std::time::Duration::from_millis(1);
        let charge = paced
            .charge(&request(), Timestamp::UNIX_EPOCH)
            .await
            .unwrap();
        assert_eq!(charge.id, "inv_1:1");
        assert_eq!(partner.calls.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_partner_that_keeps_refusing_is_given_up_on_after_the_last_try() {
        let partner = busy(100);
        let mut paced = Paced::new(partner.clone());
        paced.backoff = std::time::Duration::from_millis(1);
        let refused = paced.charge(&request(), Timestamp::UNIX_EPOCH).await;
        assert!(
            matches!(refused, Err(PaymentError::RateLimited(_))),
            "{refused:?}"
        );
        assert_eq!(
            partner.calls.lock().unwrap().len(),
            RATE_LIMIT_TRIES as usize
        );
    }

    #[test]
    fn an_instance_takes_at_most_its_quota_in_each_second_of_the_clock() {
        let pace = Pace { quota: 2 };
        let mut turns = Turns::default();
        let ms = std::time::Duration::from_millis;
        // Three asked at once, 300 ms into a second: two go now, the third at the next second.
        assert_eq!(pace.take(&mut turns, 10_300), ms(0));
        assert_eq!(pace.take(&mut turns, 10_300), ms(0));
        assert_eq!(pace.take(&mut turns, 10_300), ms(700));
        // That second has one turn left; then the one after.
        assert_eq!(pace.take(&mut turns, 10_400), ms(600));
        assert_eq!(pace.take(&mut turns, 10_500), ms(1500));
        // Later, a fresh second.
        assert_eq!(pace.take(&mut turns, 20_999), ms(0));
        assert_eq!(
            turns,
            Turns {
                second: 20,
                taken: 1
            }
        );
    }

    #[test]
    fn workers_at_their_pace_never_exceed_the_rate_in_any_second() {
        // Four workers sharing 10 a second, asking as fast as they can, each from its own
        // offset in the second: the partner, counting by second, sees at most 10.
        let pace = Pace::of(Some("10"), Some("4")).unwrap();
        let mut by_second = std::collections::BTreeMap::<i64, u32>::new();
        for offset in [0, 130, 480, 999] {
            let mut turns = Turns::default();
            let mut now = 5_000 + offset;
            for _ in 0..40 {
                now += pace.take(&mut turns, now).as_millis() as i64;
                *by_second.entry(now.div_euclid(1000)).or_default() += 1;
                now += 90; // the request itself
            }
        }
        assert!(by_second.values().all(|n| *n <= 10), "{by_second:?}");
        assert_eq!(*by_second.values().max().unwrap(), 8);
    }

    #[test]
    fn the_quota_is_the_workers_share_of_the_partners_rate() {
        let quota = |rate, workers| Pace::of(rate, workers).map(|p| p.quota);
        assert_eq!(quota(Some("100"), Some("50")), Some(2));
        assert_eq!(quota(Some("100"), Some("35")), Some(2));
        assert_eq!(quota(Some("8"), Some("1")), Some(8));
        assert_eq!(quota(Some("100"), None), Some(100));
        // More workers than the rate: one each (the 429s are waited out).
        assert_eq!(quota(Some("4"), Some("8")), Some(1));
        // No rate (the API's functions), or none that makes sense: not paced.
        assert_eq!(quota(None, Some("4")), None);
        assert_eq!(quota(Some("0"), Some("4")), None);
        assert_eq!(quota(Some("fast"), Some("4")), None);
    }
}
