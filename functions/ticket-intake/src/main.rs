//! The `ticket-intake` function: inbound support email (`softbrik::intake`). SES stores each
//! message in S3 and invokes it with its receipt notification; the local stack (and any
//! IAM-signed caller) posts the raw message to `POST /inbound/email` instead. A message that
//! cannot be used is logged and dropped with a success answer, so that nothing retries it in
//! a loop; only a dependency being down fails the invocation (SES's async retries then).

use lambda_http::{Body, Error as LambdaError, Request, Response};
use softbrik::app::App;
use softbrik::edge::{self, route_key};
use softbrik::error::Error;
use softbrik::http::json;
use softbrik::intake::{self, SenderChecks, SesEvent};

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    edge::serve(route, from_ses).await
}

async fn route(app: &App, req: Request) -> Result<Response<Body>, Error> {
    match route_key(&req) {
        "POST /inbound/email" => post(app, &req).await,
        _ => Err(Error::NotFound),
    }
}

/// SES's receipt notification: the messages it stored in S3, with its verdicts.
async fn from_ses(
    app: &'static App,
    event: serde_json::Value,
) -> Result<serde_json::Value, LambdaError> {
    let event: SesEvent = serde_json::from_value(event)?;
    let outcomes = intake::from_ses(app, event).await?;
    Ok(serde_json::to_value(outcomes)?)
}

/// `POST /inbound/email`: the raw message as the body, received; 202 with the outcome whatever
/// the message was. SES's verdicts come as headers (local-stack.md "Inbound mail locally":
/// `X-SES-SPF-Verdict`, `X-SES-DKIM-Verdict`, `X-SES-DMARC-Verdict`, absent meaning `PASS`,
/// and `X-SES-DMARC-Policy`, absent meaning none published). Nothing keeps the raw message
/// (SES's copy is deleted once received too).
async fn post(app: &App, req: &Request) -> Result<Response<Body>, Error> {
    let raw: Vec<u8> = match req.body() {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.as_bytes().to_vec(),
        Body::Binary(b) => b.clone(),
        _ => Vec::new(),
    };
    if raw.len() > softbrik::inbound::MAX_MESSAGE_BYTES {
        return Err(Error::PayloadTooLarge);
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_uppercase())
    };
    let passed = SenderChecks::passed();
    let checks = SenderChecks {
        spf: header("x-ses-spf-verdict").unwrap_or(passed.spf),
        dkim: header("x-ses-dkim-verdict").unwrap_or(passed.dkim),
        dmarc: header("x-ses-dmarc-verdict").unwrap_or(passed.dmarc),
        dmarc_policy: header("x-ses-dmarc-policy"),
    };
    let outcome = intake::receive(app, &raw, &[], &checks).await?;
    Ok(json(202, &outcome))
}
