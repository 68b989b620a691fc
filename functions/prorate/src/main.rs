//! The `prorate` function: the settlement side of the proration engine. `assign-brik` (and
//! signup) price and charge a change in-process with the engine of the `softbrik` crate
//! (`team`, `invoicing`); every charge is recorded as pending until the transaction that
//! applies its change removes the record. This function, run by EventBridge Scheduler every
//! five minutes, settles what is left: a change whose invoice exists was applied; any other
//! charge (the function stopped after charging, or the partner's answer never came) is
//! refunded with its own idempotency key. A change thus ends fully applied or not at all.
//! The same run sends again the invoices whose email failed (`invoicing::resend_invoices`),
//! and puts on the event bus the events a request left in the outbox (`events::publish_pending`),
//! which a run of its own also does every minute (`{"job": "publish_events"}`), so that an
//! event delayed by the bus is told within the minute (events.md).

use lambda_runtime::Error as LambdaError;
use softbrik::app::App;
use softbrik::edge::{self, no_routes};
use softbrik::invoicing::{resend_invoices, settle_pending};

/// A pending charge younger than this may still be written by the invocation that made it:
/// longer than any Lambda invocation may last (15 minutes, the `renew` run's timeout), so a
/// charge is never refunded while its invoice is being written.
const GRACE: jiff::SignedDuration = jiff::SignedDuration::from_secs(16 * 60);

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    edge::serve(no_routes, settle).await
}

/// One settlement run: pending charges settled, then failed invoice emails sent again, then
/// the events left in the outbox told; `{"job": "publish_events"}`: the events alone.
async fn settle(
    app: &'static App,
    job: serde_json::Value,
) -> Result<serde_json::Value, LambdaError> {
    if job["job"] == "publish_events" {
        let published = softbrik::events::publish_pending(app).await.map_err(|e| {
            tracing::error!(error = %e, "events left in the outbox");
            e
        })?;
        tracing::info!(events = published, "pending events run");
        return Ok(serde_json::json!({ "events": published }));
    }
    let mut done = settle_pending(app, GRACE).await.map_err(|e| {
        tracing::error!(error = %e, "settlement run failed");
        e
    })?;
    (done.mailed, done.mail_left) = resend_invoices(app).await.map_err(|e| {
        tracing::error!(error = %e, "invoice emails not sent again");
        e
    })?;
    // Events a request could not put on the bus (events.md: delayed, never lost).
    match softbrik::events::publish_pending(app).await {
        Ok(published) => done.events = published,
        Err(e) => tracing::error!(error = %e, "events left in the outbox"),
    }
    tracing::info!(
        events = done.events,
        applied = done.applied,
        refunded = done.refunded,
        left = done.left,
        mailed = done.mailed,
        mail_left = done.mail_left,
        "settlement run"
    );
    Ok(serde_json::to_value(done)?)
}
