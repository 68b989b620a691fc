//! The `renew` function: what happens when a billing period ends. The removals scheduled for
//! that date take effect (`softbrik::team::apply_removals`), then the next period is invoiced
//! and charged (`softbrik::renewal::renew`, once per account and period); failed renewal
//! payments are retried on their days (`softbrik::dunning`).
//!
//! On an account's closure date it closes the account instead (`softbrik::closure`): the end
//! of the last period.
//!
//! Invoked by its EventBridge schedule with `{"run": "renew"}`, it fans the run out to its queue
//! (`softbrik::fan_out`); invoked by that queue, it is one of the run's workers: it reads the
//! pages of the due-date index it is handed and runs the jobs of the accounts it is handed
//! (`softbrik::schedule`). Test clocks invoke it the same way for their accounts, with the
//! instant they stand at, and are answered when the workers are done. Operations can also run
//! one [`Job`] directly (replays), finish a closure now (`{"close_account": id,
//! "max_batches"?: n}`), or read a closed account's retained invoices
//! (`{"retained_invoices": id}`, the retention process).

use lambda_runtime::Error as LambdaError;
use serde::Deserialize;
use softbrik::app::App;
use softbrik::edge::{self, no_routes};
use softbrik::error::Error;
use softbrik::jobs::{Job, JobKind};
use softbrik::schedule::{Ran, Runner, ScheduleMove};
use softbrik::store::AccountRecords;
use tracing::Instrument;

/// What else operations invoke it with.
#[derive(Deserialize)]
#[serde(untagged)]
enum Command {
    Close {
        close_account: String,
        #[serde(default)]
        max_batches: Option<u32>,
    },
    Retained {
        retained_invoices: String,
    },
}

#[tokio::main]
async fn main() -> Result<(), LambdaError> {
    edge::serve(no_routes, on_event).await
}

async fn on_event(
    app: &'static App,
    event: serde_json::Value,
) -> Result<serde_json::Value, LambdaError> {
    let handle = |job, known, then_move| run_job(app, job, known, then_move);
    if let Some(answer) = softbrik::fan_out::serve(app, Runner::Renew, &event, handle).await? {
        return Ok(answer);
    }
    match serde_json::from_value(event)? {
        Command::Close {
            close_account,
            max_batches,
        } => {
            let closing =
                softbrik::closure::close_account(app, &close_account, max_batches).await?;
            Ok(serde_json::json!({"closure": closing}))
        }
        Command::Retained { retained_invoices } => {
            let kept = softbrik::closure::retained_invoices(app, &retained_invoices).await?;
            // Numbers, totals and the customer's company: what the process checks.
            let listed: Vec<serde_json::Value> = kept
                .iter()
                .map(|(invoice, customer)| {
                    serde_json::json!({
                        "number": invoice.number,
                        "kind": invoice.kind,
                        "total": invoice.totals.total,
                        "company_name": customer.company_name,
                    })
                })
                .collect();
            Ok(serde_json::json!({"invoices": listed}))
        }
    }
}

/// Runs one job; `known` is the account's records as the run read them, if they still stand
/// so; `then_move`, the schedule's move, when this is the run's only job for the account (a
/// renewal makes it in its own transaction). Answers the records as the job left them when it
/// did not write them (`None`: the run reads them again).
async fn run_job(
    app: &App,
    job: Job,
    known: Option<AccountRecords>,
    then_move: Option<ScheduleMove>,
) -> Result<Ran, Error> {
    let span = tracing::info_span!("job", account_id = %job.account_id, date = %job.date);
    async move {
        match job.job {
            JobKind::Reminder => Err(Error::internal("renew does not send reminders")),
            JobKind::Closure => {
                match softbrik::closure::close_account(app, &job.account_id, None).await? {
                    softbrik::closure::Closing::Done => Ok(Ran::left(None)),
                    softbrik::closure::Closing::Continues => {
                        Err(Error::unavailable("closure not finished"))
                    }
                }
            }
            JobKind::PaymentRetry => {
                let paid =
                    softbrik::dunning::retry_open_invoices(app, &job.account_id, job.at, false)
                        .await?;
                tracing::info!(paid, "payment retry");
                Ok(Ran::left(None))
            }
            JobKind::UsageSample => {
                let active_users =
                    softbrik::resellers::sample_daily(app, &job.account_id, job.at).await?;
                tracing::info!(active_users, "reseller usage sampled");
                Ok(Ran::left(None))
            }
            JobKind::PeriodEnd => {
                let done =
                    softbrik::renewal::period_end(app, &job.account_id, known, job.date, then_move)
                        .await?;
                let invoice = done.invoice.as_ref().map(|i| i.id.as_str());
                tracing::info!(
                    applied = done.removals,
                    packs = done.pack_changes,
                    invoice,
                    "period end"
                );
                Ok(Ran {
                    records: done.account,
                    moved: done.moved,
                })
            }
        }
    }
    .instrument(span)
    .await
}
