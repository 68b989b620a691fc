//! The sandbox adapter of the `Payments` port (`softbrik_app::ports::payments`).
//!
//! The sandbox provider follows the payment partner's documented test tokens and keeps its
//! ledger of charges in the table (`SANDBOX#CHARGE#<idempotency key>`), so that a retried
//! charge with the same key returns the first charge, across Lambda invocations, as the
//! partner does.

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
}

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
    pub fn new(store: Store) -> Self {
        SandboxPayments { store }
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
}
