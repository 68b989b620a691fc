//! The floor the functions' cold starts are measured against (`make bench`,
//! docs/performance.md): a Lambda function on `lambda_runtime` that does nothing but answer
//! each event with itself, built with the same profile as the functions.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) },
    ))
    .await
}
