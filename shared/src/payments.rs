//! The sandbox adapter of the `Payments` port (`softbrik_app::ports::payments`); [`Gate`],
//! the turn every request to the partner takes, so that the billing runs together keep to
//! their share of the partner's rate; and [`Paced`], every adapter as the functions call it,
//! a refusal for that rate (429) waited out.
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

    /// Its requests wait their turn at `gate` (the billing runs' share of the partner's rate).
    pub fn paced(self, gate: Arc<Gate>) -> Self {
        SandboxPayments { gate, ..self }
    }

    /// A request: it waits its turn on this side; the partner counts it in the second it
    /// arrives in, refusing it at once beyond its rate, then takes its time to answer.
    async fn admit(&self) -> Result<(), PaymentError> {
        self.gate.turn().await?;
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
        let second = Timestamp::now().as_second();
        let unavailable = |e: Error| PaymentError::Unavailable(format!("sandbox rate: {e}"));
        let counted = |field, limit| {
            self.store
                .count_in_second(SANDBOX_RATE_PK, second, field, limit)
        };
        if counted("answered", Some(self.limits.rate))
            .await
            .map_err(unavailable)?
        {
            return Ok(());
        }
        counted("refused", None).await.map_err(unavailable)?;
        Err(PaymentError::RateLimited(format!(
            "sandbox answered 429: over {} requests a second",
            self.limits.rate
        )))
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
/// itself waits its turn at the [`Gate`].
pub struct Paced {
    inner: Arc<dyn Payments>,
    backoff: std::time::Duration,
}

/// Requests made in all when the partner keeps refusing for its rate: the pauses between
/// them, from 250 ms doubling, last about 8 s together, within a billing worker's batch and
/// an API request's 20 s.
pub const RATE_LIMIT_TRIES: u32 = 6;

/// Where the billing runs count their requests to the partner: one item per second of the
/// clock (`PARTNER#QUOTA`, sort key the Unix second, field `taken`).
pub const PARTNER_QUOTA_PK: &str = "PARTNER#QUOTA";

/// How much of a second is left unused at its end: a turn taken later than this falls, with
/// the time the request takes to leave, in the partner's next second.
const SECOND_MARGIN_MS: i64 = 100;

/// The turn every request to the partner takes. The billing runs' gate keeps all their
/// requests together, from every worker on every instance, to `PartnerRate` in each second of
/// the clock: a turn is one count in that second's item in the table, taken only while the
/// count is under the rate (a conditional update). The partner counts requests, not charges,
/// so a Stripe charge takes two turns (the card read, the PaymentIntent). The API's
/// functions have no rate and go at once.
///
/// The count is shared rather than divided: workers dividing the rate each kept their share
/// in their own instance, and a worker whose next batch went to another instance started that
/// second afresh there (the bench saw 4 requests in a second paced at 2). It costs one
/// request to the table per request to the partner, and lets any number of workers share any
/// rate.
#[derive(Clone, Default)]
pub struct Gate {
    quota: Option<(Store, u32)>,
}

/// What a request does at `now_ms` (of the clock, Unix): take a turn in that second, or wait
/// for the next one when too little of this one is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Take(i64),
    Wait(std::time::Duration),
}

impl Step {
    pub fn at(now_ms: i64) -> Step {
        let second = now_ms.div_euclid(1000);
        let left = (second + 1) * 1000 - now_ms;
        if left > SECOND_MARGIN_MS {
            Step::Take(second)
        } else {
            Step::Wait(Self::until_next(now_ms))
        }
    }

    /// How long from `now_ms` to the start of the next second.
    pub fn until_next(now_ms: i64) -> std::time::Duration {
        let next = (now_ms.div_euclid(1000) + 1) * 1000;
        std::time::Duration::from_millis((next - now_ms) as u64)
    }

    /// Whether a turn taken in `second` is still good at `now_ms` (taking it took time).
    pub fn in_time(second: i64, now_ms: i64) -> bool {
        Step::at(now_ms) == Step::Take(second)
    }

    /// What follows asking for a turn in `second`, answered at `now_ms` (`taken`: counted):
    /// go (`None`), or how long to wait before asking again. A second found full, or a turn
    /// that came too late to use, waits for the next second; one already begun is asked at
    /// once.
    pub fn after(second: i64, taken: bool, now_ms: i64) -> Option<std::time::Duration> {
        if taken && Step::in_time(second, now_ms) {
            None
        } else if now_ms.div_euclid(1000) == second {
            Some(Step::until_next(now_ms))
        } else {
            Some(std::time::Duration::ZERO)
        }
    }
}

impl Gate {
    /// No rate: every request at once (the API's functions).
    pub fn open() -> Gate {
        Gate::default()
    }

    /// `rate` requests a second for every holder of this gate's `store` together; none, open.
    pub fn shared(store: Store, rate: Option<u32>) -> Gate {
        Gate {
            quota: rate.filter(|r| *r > 0).map(|r| (store, r)),
        }
    }

    /// The billing runs' rate, `SOFTBRIK_PARTNER_RATE` (requests a second); absent, or not a
    /// positive number: none.
    pub fn rate_from_env() -> Option<u32> {
        std::env::var("SOFTBRIK_PARTNER_RATE")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|r| *r > 0)
    }

    /// Waits for a turn: a second whose count is under the rate. The partner's seconds are the
    /// clock's: not the business time the use cases are given, but the wall clock both sides
    /// count requests by.
    pub async fn turn(&self) -> Result<(), PaymentError> {
        let Some((store, rate)) = &self.quota else {
            return Ok(());
        };
        loop {
            let now = Timestamp::now().as_millisecond();
            let second = match Step::at(now) {
                Step::Take(second) => second,
                Step::Wait(wait) => {
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            let taken = store
                .count_in_second(PARTNER_QUOTA_PK, second, "taken", Some(*rate))
                .await
                .map_err(|e| PaymentError::Unavailable(format!("partner quota: {e}")))?;
            match Step::after(second, taken, Timestamp::now().as_millisecond()) {
                None => return Ok(()),
                Some(wait) if wait.is_zero() => {}
                // With a little jitter, so that the waiting workers do not all ask at the
                // next second's first instant.
                Some(wait) => {
                    let jitter = rand::Rng::gen_range(&mut rand::thread_rng(), 0..20);
                    tokio::time::sleep(wait + std::time::Duration::from_millis(jitter)).await;
                }
            }
        }
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
    fn a_turn_is_taken_in_the_second_it_is_asked_in_unless_its_end_is_too_near() {
        let ms = std::time::Duration::from_millis;
        assert_eq!(Step::at(10_000), Step::Take(10));
        assert_eq!(Step::at(10_899), Step::Take(10));
        assert_eq!(Step::at(10_900), Step::Wait(ms(100)));
        assert_eq!(Step::at(10_999), Step::Wait(ms(1)));
        assert_eq!(Step::until_next(10_000), ms(1000));
        // A turn whose taking ran into the end of its second, or past it, is not used.
        assert!(Step::in_time(10, 10_500));
        assert!(!Step::in_time(10, 10_950));
        assert!(!Step::in_time(10, 11_010));
    }

    #[test]
    fn a_full_second_or_a_late_turn_waits_for_the_next_second() {
        let ms = std::time::Duration::from_millis;
        assert_eq!(Step::after(10, true, 10_500), None);
        assert_eq!(Step::after(10, false, 10_300), Some(ms(700)));
        assert_eq!(Step::after(10, true, 10_950), Some(ms(50)));
        // The answer came after its second ended: the new one is asked at once.
        assert_eq!(Step::after(10, false, 11_010), Some(ms(0)));
        assert_eq!(Step::after(10, true, 11_010), Some(ms(0)));
    }
}
