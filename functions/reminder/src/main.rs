//! The `reminder` function: a week before each billing date, the admin is emailed the renewal
//! as it stands (users x Briks, projected amount, last day changes count), once per period
//! (`softbrik::renewal::remind`).
//!
//! Invoked by its EventBridge schedule with `{"run": "reminder"}`, it fans the run out to its
//! queue; invoked by that queue, it is one of the run's workers (`softbrik::fan_out`). Test
//! clocks invoke it the same way for their accounts; one [`Job`] can also be run directly.

use lambda_runtime::Error as LambdaError;
use softbrik::app::App;
use softbrik::edge::{self, no_routes};
use softbrik::error::Error;
use softbrik::jobs::{Job, JobKind};
use softbrik::schedule::{Ran, Runner};
use softbrik::store::AccountRecords;
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    edge::serve(no_routes, on_event).await
}

async fn on_event(
    app: &'static App,
    event: serde_json::Value,
) -> Result<serde_json::Value, LambdaError> {
    let handle = |job, known, _| remind(app, job, known);
    softbrik::fan_out::serve(app, Runner::Reminder, &event, handle)
        .await?
        .ok_or_else(|| "the reminder function runs billing runs only".into())
}

/// Sends one reminder; `known` is the account's records as the run read them. A reminder
/// does not write them, so they are answered back as they came.
async fn remind(app: &App, job: Job, known: Option<AccountRecords>) -> Result<Ran, Error> {
    if job.job != JobKind::Reminder {
        return Err(Error::internal(format!(
            "reminder cannot run {:?}",
            job.job
        )));
    }
    let span = tracing::info_span!("job", account_id = %job.account_id, date = %job.date);
    async move {
        let sent =
            softbrik::renewal::remind(app, &job.account_id, known.as_ref(), job.date).await?;
        tracing::info!(sent, "reminder");
        Ok(Ran::left(known))
    }
    .instrument(span)
    .await
}
