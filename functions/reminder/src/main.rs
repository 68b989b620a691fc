//! The `reminder` function: a week before each billing date, the admin is emailed the renewal
//! as it stands (users x Briks, projected amount, last day changes count), once per period
//! (`softbrik::renewal::remind`). Invoked with a [`Job`] by the test clocks, at the instant
//! the real schedule would.

use lambda_runtime::{Error as LambdaError, LambdaEvent, service_fn};
use softbrik::app::App;
use softbrik::jobs::{Job, JobKind};
use tracing::Instrument;

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    softbrik::telemetry::init();
    let app = App::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Job>| {
        let app = &app;
        let job = event.payload;
        let span = tracing::info_span!(
            "job",
            request_id = %event.context.request_id,
            account_id = %job.account_id,
            date = %job.date
        );
        async move {
            if job.job != JobKind::Reminder {
                return Err(LambdaError::from(format!(
                    "reminder cannot run {:?}",
                    job.job
                )));
            }
            let sent = softbrik::renewal::remind(app, &job.account_id, job.date).await?;
            tracing::info!(sent, "reminder");
            Ok(serde_json::json!({"sent": sent}))
        }
        .instrument(span)
    }))
    .await
}
