//! The staff routes' edge (api.md "Support staff acting for a customer"): the caller must be
//! support staff (Cognito group `support`; anyone else 403), the body is the admin route's
//! own plus `ticket_id`, and the ticket gives the mandate (`softbrik_app::staff::mandate`:
//! 422 `ticket_required` without a ticket of that account opened by its admin). The change
//! itself is the admin's use case, made in the account named by the path.

use lambda_http::Request;
use serde::de::DeserializeOwned;
use softbrik_app::staff::Mandate;

use crate::app::App;
use crate::error::Error;
use crate::http::{self, Identity};

/// The group of Softbrik's support staff.
pub const SUPPORT_GROUP: &str = "support";

/// The caller, if support staff: a customer's admin or member is refused (403), whoever
/// the account named.
pub async fn staff(app: &App, req: &Request) -> Result<Identity, Error> {
    let caller = http::caller(app, req).await?;
    if !caller.in_group(SUPPORT_GROUP) {
        return Err(Error::Forbidden);
    }
    let account_id = http::path_param(req, "account_id")?;
    crate::edge::record_account(&account_id);
    Ok(caller)
}

/// `{..., ticket_id}`: the body as the admin's route reads it, and the mandate of its ticket
/// for the account of the path. The body is checked first (no read for a malformed one).
pub async fn mandate<T: DeserializeOwned>(app: &App, req: &Request) -> Result<(Mandate, T), Error> {
    let (mut body, _): (serde_json::Value, _) = http::json_body(req)?;
    let ticket_id = match body.as_object_mut().and_then(|o| o.remove("ticket_id")) {
        None => None,
        Some(serde_json::Value::String(id)) => Some(id),
        Some(_) => {
            return Err(Error::validation(
                "ticket_id",
                "invalid_type",
                "ticket_id is the id of the customer's ticket (a string)",
            ));
        }
    };
    let typed: T = http::typed(body)?;
    let account_id = http::path_param(req, "account_id")?;
    let mandate =
        softbrik_app::staff::mandate(&app.ports(), &account_id, ticket_id.as_deref()).await?;
    tracing::info!(ticket = %mandate.ticket, "support acting for the customer");
    Ok((mandate, typed))
}

/// `POST /staff/accounts/{account_id}/invoices/{invoice_id}/credit-notes` as sent:
/// `{ticket_id, reason, lines?: [index...], amount?}`; neither lines nor amount credits all
/// that remains.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditNoteBody {
    pub reason: String,
    #[serde(default)]
    pub lines: Option<Vec<usize>>,
    /// VAT included: what the customer gets back (`"5.00"`, or the number 5.00).
    #[serde(default)]
    pub amount: Option<serde_json::Value>,
}

impl CreditNoteBody {
    pub fn parse(self) -> Result<softbrik_app::credit_notes::CreditRequest, Error> {
        use softbrik_domain::credit::Credited;
        let reason = self.reason.trim().to_string();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(Error::validation(
                "reason",
                "invalid_reason",
                "the customer's reason, 1 to 500 characters",
            ));
        }
        let what = match (self.lines, self.amount) {
            (Some(_), Some(_)) => {
                return Err(Error::validation(
                    "amount",
                    "lines_or_amount",
                    "credit some lines or an amount, not both",
                ));
            }
            (Some(lines), None) if lines.is_empty() => {
                return Err(Error::validation(
                    "lines",
                    "invalid_lines",
                    "name at least one line of the invoice (its index, from 0)",
                ));
            }
            (Some(lines), None) => Credited::Lines(lines),
            (None, Some(raw)) => {
                let text = match raw {
                    serde_json::Value::String(text) => text,
                    serde_json::Value::Number(n) => n.to_string(),
                    _ => String::new(),
                };
                let amount = crate::money::Money::parse(&text)
                    .map_err(|e| Error::Validation(e.at("amount").into()))?;
                Credited::Amount(amount)
            }
            (None, None) => Credited::Whole,
        };
        Ok(softbrik_app::credit_notes::CreditRequest { what, reason })
    }
}

/// `GET /staff/accounts/{account_id}`: the account's billing view.
pub async fn billing_view(app: &App, req: &Request) -> Result<serde_json::Value, Error> {
    staff(app, req).await?;
    let account_id = http::path_param(req, "account_id")?;
    let view = softbrik_app::staff::billing_view(&app.ports(), &account_id).await?;
    serde_json::to_value(view).map_err(Error::internal)
}

/// A staff change made once per `Idempotency-Key` in the account of the path, like the
/// admin's: `work` is given the mandate and the admin route's body.
pub async fn act<T: DeserializeOwned>(
    app: &App,
    req: &Request,
    work: impl AsyncFnOnce(Mandate, T) -> Result<(u16, serde_json::Value), Error>,
) -> Result<(u16, serde_json::Value), Error> {
    staff(app, req).await?;
    let account_id = http::path_param(req, "account_id")?;
    http::idempotent(app, req, &account_id, async || {
        let (mandate, body) = mandate(app, req).await?;
        work(mandate, body).await
    })
    .await
}

/// `POST /staff/accounts/{account_id}/invoices/{invoice_id}/credit-notes`: 201 and the
/// credit note (`softbrik_app::credit_notes`), recorded with its answer under the request's
/// `Idempotency-Key`.
pub async fn credit_note(app: &App, req: &Request) -> Result<(u16, serde_json::Value), Error> {
    staff(app, req).await?;
    let key = crate::idempotency::parse_key(http::header(req, "idempotency-key"))?;
    let account_id = http::path_param(req, "account_id")?;
    let invoice_id = http::path_param(req, "invoice_id")?;
    softbrik_app::credit_notes::issue(
        &app.ports(),
        &account_id,
        &invoice_id,
        key.as_deref(),
        http::fingerprint(req),
        async || {
            let (mandate, body): (_, CreditNoteBody) = mandate(app, req).await?;
            Ok((mandate, body.parse()?))
        },
    )
    .await
}
