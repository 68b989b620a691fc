//! The `renew` function: what happens when a billing period ends. The removals scheduled for
//! that date take effect (`softbrik::team::apply_removals`), then the next period is invoiced
//! and charged (`softbrik::renewal::renew`, once per account and period). Invoked with a
//! [`Job`] by the test clocks, at the instant the real schedule would.

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
                JobKind::Reminder => Err(LambdaError::from("renew does not send reminders")),
                JobKind::PaymentRetry => {
                    let now = job.at;
                    let paid =
                        softbrik::dunning::retry_open_invoices(app, &job.account_id, now, false)
                            .await?;
                    tracing::info!(paid, "payment retry");
                    Ok(serde_json::json!({"paid": paid}))
                }
                JobKind::PeriodEnd => {
                    // Removals first: the users and Briks they end are not renewed.
                    let applied =
                        softbrik::team::apply_removals(app, &job.account_id, job.date).await?;
                    let renewal = softbrik::renewal::renew(app, &job.account_id, job.date).await?;
                    let invoice = renewal.as_ref().map(|i| i.id.as_str());
                    tracing::info!(applied, invoice, "period end");
                    Ok::<_, LambdaError>(
                        serde_json::json!({"applied": applied, "invoice": invoice}),
                    )
                }
            }
        }
        .instrument(span)
    }))
    .await
}
