//! The `ticket-intake` function: inbound support email (`softbrik::intake`). SES stores each
//! message in S3 and invokes it with its receipt notification; the local stack (and any
//! IAM-signed caller) posts the raw message to `POST /inbound/email` instead. A message that
//! cannot be used is logged and dropped with a success answer, so that nothing retries it in
//! a loop; only a dependency being down fails the invocation (SES's async retries then).

use lambda_http::{Body, Error as LambdaError, LambdaEvent, service_fn};
use softbrik::app::App;
use softbrik::error::Error;
use softbrik::http::{self, answer, json};
use softbrik::intake::{self, SenderChecks, SesEvent};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    softbrik::telemetry::init();
    let app = App::from_env().await?;
    lambda_http::lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let app = &app;
        let span = tracing::info_span!("inbound", request_id = %event.context.request_id);
        async move {
            if event.payload.get("Records").is_some() {
                let event: SesEvent = serde_json::from_value(event.payload)?;
                let outcomes = intake::from_ses(app, event).await?;
                return Ok::<_, LambdaError>(serde_json::to_value(outcomes)?);
            }
            let req = http::gateway_request(event.payload)?;
            let response = answer(post(app, &req).await);
            Ok(http::gateway_response(response))
        }
        .instrument(span)
    }))
    .await
}

/// `POST /inbound/email`: the raw message as the body, received; 202 with the outcome whatever
/// the message was. SES's verdicts come as headers (local-stack.md "Inbound mail locally":
/// `X-SES-SPF-Verdict`, `X-SES-DKIM-Verdict`, `X-SES-DMARC-Verdict`, absent meaning `PASS`,
/// and `X-SES-DMARC-Policy`, absent meaning none published). Nothing keeps the raw message
/// (SES's copy is deleted once received too).
async fn post(app: &App, req: &lambda_http::Request) -> Result<lambda_http::Response<Body>, Error> {
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
