//! The `renew` function: what happens when a billing period ends. For now, the removals
//! scheduled for that date take effect (`softbrik::team::apply_removals`); renewal invoicing
//! joins it with the billing runs. Invoked with a [`Job`] by the test clocks, which run it at
//! the instant the real schedule would.

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
            match job.job {
                JobKind::PeriodEnd => {
                    let applied =
                        softbrik::team::apply_removals(app, &job.account_id, job.date).await?;
                    tracing::info!(applied, "period end");
                    Ok::<_, LambdaError>(serde_json::json!({"applied": applied}))
                }
            }
        }
        .instrument(span)
    }))
    .await
}
