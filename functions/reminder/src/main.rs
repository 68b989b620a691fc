//! The `reminder` function: a week before each billing date, the admin is emailed the renewal
//! as it stands (users x Briks, projected amount, last day changes count), once per period
//! (`softbrik::renewal::remind`).
//!
//! Invoked by its EventBridge schedule with `{"run": "reminder"}`: the accounts due are found
//! through the due-date index (`softbrik::schedule`). Test clocks invoke it the same way for
//! their accounts; one [`Job`] can also be run directly.

use lambda_runtime::{Error as LambdaError, LambdaEvent, service_fn};
use serde::Deserialize;
use softbrik::app::App;
use softbrik::error::Error;
use softbrik::jobs::{Job, JobKind};
use softbrik::schedule::{RunRequest, Runner};
use softbrik::store::AccountItem;
use tracing::Instrument;

#[derive(Deserialize)]
#[serde(untagged)]
enum Event {
    Run(RunRequest),
    Job(Job),
}

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    softbrik::telemetry::init();
    let app = App::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Event>| {
        let app = &app;
        let span = tracing::info_span!("run", request_id = %event.context.request_id);
        async move {
            match event.payload {
                Event::Run(request) => {
                    let report =
                        softbrik::schedule::serve(app, Runner::Reminder, request, |job, known| {
                            remind(app, job, known)
                        })
                        .await?;
                    Ok::<_, LambdaError>(serde_json::to_value(report)?)
                }
                Event::Job(job) => {
                    remind(app, job, None).await?;
                    Ok(serde_json::json!({"ran": true}))
                }
            }
        }
        .instrument(span)
    }))
    .await
}

/// Sends one reminder; `known` is the account as the run read it. A reminder does not write
/// the account, so it is answered back as it came.
async fn remind(
    app: &App,
    job: Job,
    known: Option<AccountItem>,
) -> Result<Option<AccountItem>, Error> {
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
        Ok(known)
    }
    .instrument(span)
    .await
}
