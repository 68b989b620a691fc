//! The one error type every use case returns, in the caller's terms, and its problem+json form
//! (RFC 9457). Mapping to HTTP happens here and nowhere else.

use serde::Serialize;

use softbrik_domain::refusal::Refusal;
use softbrik_domain::validation::{FieldError, ValidationErrors};

/// What went wrong, said so that a client can act on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the request body is not valid JSON")]
    MalformedJson(String),
    #[error("the request body is larger than 64 KiB")]
    PayloadTooLarge,
    #[error("the request is invalid")]
    Validation(ValidationErrors),
    #[error("unknown Brik: {0}")]
    UnknownBrik(String),
    #[error("card numbers are not accepted; send a payment method token")]
    CardNumberNotAccepted { field: String },
    #[error("card brand not supported: only VISA and MASTERCARD are accepted")]
    CardBrandNotSupported,
    #[error("the payment method is not valid")]
    InvalidPaymentMethod,
    #[error("the card was declined")]
    CardDeclined { reason: String },
    #[error(
        "this payment method belongs to another customer of the payment partner: add the card again"
    )]
    PaymentMethodAttachedElsewhere,
    /// Too many requests of one kind from one client: retry after this many seconds.
    #[error("too many requests: retry later")]
    Throttled { retry_after: u64 },
    #[error("this email address already has an account")]
    EmailTaken,
    #[error("this Idempotency-Key was used with another request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still being processed")]
    IdempotencyInProgress,
    #[error("not authenticated")]
    Unauthenticated,
    #[error("not allowed for this role")]
    Forbidden,
    #[error("not found")]
    NotFound,
    /// A staff change without a ticket of the account opened by its admin (api.md "Support
    /// staff acting for a customer").
    #[error("a ticket of this account opened by its admin is required: the customer's request")]
    TicketRequired,
    /// A credit note beyond what remains uncredited on its invoice.
    #[error("a credit note of {asked} is more than the {remaining} left to credit on this invoice")]
    CreditExceedsInvoice {
        asked: softbrik_domain::money::Money,
        remaining: softbrik_domain::money::Money,
    },
    /// The rules refuse it: 403 when the account cannot do it at all, 409 when not now.
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    #[error("a dependency is unavailable")]
    Unavailable(String),
    /// A write whose outcome is unknown (it timed out, or its answer was lost): it may still
    /// land. Answered like `Unavailable`, but nothing it paid for may be taken back: the
    /// retry (same ids, same charge key) or the settlement run decides.
    #[error("a dependency is unavailable")]
    InDoubt(String),
    #[error("internal error")]
    Internal(String),
}

/// A problem+json document.
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

impl Error {
    pub fn validation(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        let mut errors = ValidationErrors::new();
        errors.push(field, code, message);
        Error::Validation(errors)
    }

    /// Wraps an AWS or partner failure that the caller can retry.
    pub fn unavailable(what: impl std::fmt::Display) -> Self {
        Error::Unavailable(what.to_string())
    }

    pub fn internal(what: impl std::fmt::Display) -> Self {
        Error::Internal(what.to_string())
    }

    /// What went wrong behind an internal or unavailable error, for the logs only (never a
    /// client's answer); empty for the others, whose message says it all.
    pub fn detail(&self) -> &str {
        match self {
            Error::Unavailable(detail) | Error::InDoubt(detail) | Error::Internal(detail) => detail,
            _ => "",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Error::MalformedJson(_) => 400,
            Error::Unauthenticated => 401,
            Error::CardDeclined { .. } => 402,
            Error::Forbidden => 403,
            Error::Refused(refusal) if refusal.is_not_offered() => 403,
            Error::NotFound => 404,
            Error::EmailTaken
            | Error::IdempotencyKeyReused
            | Error::IdempotencyInProgress
            | Error::Refused(_) => 409,
            Error::PayloadTooLarge => 413,
            Error::Validation(_)
            | Error::UnknownBrik(_)
            | Error::CardNumberNotAccepted { .. }
            | Error::CardBrandNotSupported
            | Error::InvalidPaymentMethod
            | Error::PaymentMethodAttachedElsewhere
            | Error::TicketRequired
            | Error::CreditExceedsInvoice { .. } => 422,
            Error::Throttled { .. } => 429,
            Error::Unavailable(_) | Error::InDoubt(_) => 503,
            Error::Internal(_) => 500,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            Error::MalformedJson(_) => "malformed_json",
            Error::PayloadTooLarge => "payload_too_large",
            Error::Validation(_) => "validation_failed",
            Error::UnknownBrik(_) => "unknown_brik",
            Error::CardNumberNotAccepted { .. } => "card_number_not_accepted",
            Error::CardBrandNotSupported => "card_brand_not_supported",
            Error::InvalidPaymentMethod => "invalid_payment_method",
            Error::PaymentMethodAttachedElsewhere => "payment_method_attached_elsewhere",
            Error::Throttled { .. } => "too_many_requests",
            Error::CardDeclined { .. } => "card_declined",
            Error::EmailTaken => "email_taken",
            Error::IdempotencyKeyReused => "idempotency_key_reused",
            Error::IdempotencyInProgress => "idempotency_request_in_progress",
            Error::Unauthenticated => "unauthenticated",
            Error::Forbidden => "forbidden",
            Error::NotFound => "not_found",
            Error::TicketRequired => "ticket_required",
            Error::CreditExceedsInvoice { .. } => "credit_exceeds_invoice",
            Error::Refused(refusal) => refusal.code(),
            Error::Unavailable(_) | Error::InDoubt(_) => "service_unavailable",
            Error::Internal(_) => "internal_error",
        }
    }

    /// The problem+json body. Internal details (AWS messages) stay in the logs.
    pub fn problem(&self) -> Problem {
        let detail = match self {
            Error::MalformedJson(reason) => format!("The request body is not valid JSON: {reason}"),
            Error::UnknownBrik(id) => format!("There is no Brik with id '{id}'; see GET /briks."),
            Error::CardNumberNotAccepted { field } => format!(
                "Field '{field}' looks like a card number. Softbrik never takes card numbers: \
                 send the payment method token from the payment partner (pm_...)."
            ),
            Error::CardBrandNotSupported => {
                "Only VISA and MASTERCARD cards are accepted.".to_string()
            }
            Error::CardDeclined { reason } => format!("The card was declined: {reason}."),
            Error::Refused(refusal) => refusal.to_string(),
            Error::Throttled { retry_after } => format!(
                "Too many sign-ups from this address or email domain; retry in {retry_after} seconds."
            ),
            Error::Unavailable(_) => {
                "A service Softbrik depends on did not answer; nothing was changed. Retry later."
                    .to_string()
            }
            Error::InDoubt(_) => {
                "A service Softbrik depends on did not answer in time. Retry with the same Idempotency-Key: the request is then completed once."
                    .to_string()
            }
            Error::Internal(_) => "Something went wrong on our side; nothing was changed.".into(),
            other => other.to_string(),
        };
        let errors = match self {
            Error::Validation(errors) => Some(errors.as_slice().to_vec()),
            Error::UnknownBrik(id) => Some(vec![FieldError {
                field: "briks".into(),
                code: "unknown_brik",
                message: format!("unknown Brik '{id}'"),
            }]),
            _ => None,
        };
        Problem {
            kind: format!("https://docs.softbrik.com/problems/{}", self.code()),
            title: title(self.status()).to_string(),
            status: self.status(),
            detail,
            code: self.code().to_string(),
            errors,
        }
    }
}

fn title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        413 => "Payload Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

impl From<ValidationErrors> for Error {
    fn from(errors: ValidationErrors) -> Self {
        Error::Validation(errors)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_403_when_the_account_cannot_do_it_and_409_when_not_now() {
        let not_offered = Error::Refused(Refusal::BilledByReseller);
        assert_eq!(
            (not_offered.status(), not_offered.code()),
            (403, "billed_by_reseller")
        );
        let not_now = Error::Refused(Refusal::TicketClosed);
        assert_eq!((not_now.status(), not_now.code()), (409, "ticket_closed"));
        assert_eq!(
            not_now.problem().detail,
            "the ticket is closed; open a new one"
        );
        let plan = Error::Refused(Refusal::PlanRequired("the report comes with Pro"));
        assert_eq!((plan.status(), plan.code()), (403, "plan_required"));
    }
}
