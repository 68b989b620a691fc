//! Payments: attach a card (a payment method token), charge it once per idempotency key,
//! refund a charge. Card numbers never reach Softbrik (billing.md "Payment").

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use softbrik_domain::account::CardDetails;
use softbrik_domain::money::Money;
use softbrik_domain::values::PaymentMethodToken;

use crate::error::Error;

/// Why the partner said no.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    #[error("card brand not supported")]
    BrandNotSupported,
    #[error("card declined: {0}")]
    Declined(String),
    #[error("no such payment method")]
    InvalidPaymentMethod,
    /// Attached to a customer of the partner that is not this account's (a card of someone
    /// else's, or a token tried by card testing).
    #[error("payment method attached to another customer")]
    AttachedElsewhere,
    /// The partner did not answer or its answer is unknown: reconcile with the same key.
    #[error("payment partner unavailable: {0}")]
    Unavailable(String),
    /// The partner refused the request for its rate limit (HTTP 429): nothing was done, and
    /// the same request may be made again after a pause.
    #[error("payment partner rate limit: {0}")]
    RateLimited(String),
}

impl From<PaymentError> for Error {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::BrandNotSupported => Error::CardBrandNotSupported,
            PaymentError::Declined(reason) => Error::CardDeclined { reason },
            PaymentError::InvalidPaymentMethod => Error::InvalidPaymentMethod,
            PaymentError::AttachedElsewhere => Error::PaymentMethodAttachedElsewhere,
            // Perhaps charged: the retry must reuse the key (security.md, Reliability).
            PaymentError::Unavailable(what) => Error::InDoubt(what),
            // Nothing was done, but a retry under the same key is right either way.
            PaymentError::RateLimited(what) => Error::InDoubt(what),
        }
    }
}

/// A charge to make: the key makes retries safe (derived from the invoice id and attempt).
#[derive(Debug, Clone)]
pub struct ChargeRequest {
    pub account_id: String,
    pub payment_method: String,
    pub amount: Money,
    pub idempotency_key: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    pub id: String,
    pub amount: Money,
}

/// A refund of part (or all) of a charge: `refund_key` makes it once, whatever the retries.
#[derive(Debug, Clone)]
pub struct RefundRequest {
    pub account_id: String,
    /// The idempotency key the charge was made under.
    pub charge_key: String,
    pub amount: Money,
    pub refund_key: String,
}

#[async_trait]
pub trait Payments: Send + Sync {
    /// Checks the payment method and what card it is, and attaches it to `account_id`'s
    /// customer; declines, other brands and a method already attached to another customer are
    /// refused (security.md). Attaching again for the same account is harmless (a retry).
    async fn attach(
        &self,
        token: &PaymentMethodToken,
        account_id: &str,
    ) -> Result<CardDetails, PaymentError>;
    /// Charges once per idempotency key: the same key again returns the first charge.
    async fn charge(&self, request: &ChargeRequest, now: Timestamp)
    -> Result<Charge, PaymentError>;
    /// Refunds a charge in full (used when what it paid for could not be written).
    async fn refund(&self, idempotency_key: &str) -> Result<(), PaymentError>;
    /// Gives `amount` of a charge back to its card, once per `refund_key`: the same key again
    /// answers the first refund's id; with another amount it is refused
    /// (`PaymentError::Unavailable`: a person looks).
    async fn refund_part(&self, request: &RefundRequest) -> Result<String, PaymentError>;
}
