//! The edge every function shares: its one `main` ([`serve`]). A function is a route table
//! for the HTTP API and, for the scheduled ones, a handler of its events; everything else
//! (logs, the [`App`] built once per cold start, the request's span with its request id and
//! account id, problem+json answers, the HTTP API's payload both ways) is here, once.
//!
//! Routes are matched on the HTTP API's route key, `"METHOD /path/{param}"`, exactly as
//! template.yaml (and api.md) writes them, so a function's table reads like the template.

use std::future::Future;
use std::pin::Pin;

use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::lambda_runtime::{self, Error as LambdaError, LambdaEvent};
use lambda_http::request::RequestContext;
use lambda_http::service_fn;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::Instrument;

use crate::app::App;
use crate::error::Error;
use crate::http::{self, answer};

/// Runs a function: `route` answers its HTTP API requests, `on_event` every other invocation
/// (a schedule's run, SES's receipt, a direct invocation). A function with only one of them
/// passes [`no_routes`] or [`no_events`] for the other.
pub async fn serve<R, RF, E, EF>(route: R, on_event: E) -> Result<(), LambdaError>
where
    R: Fn(&'static App, Request) -> RF,
    RF: Future<Output = Result<Response<Body>, Error>> + Send,
    E: Fn(&'static App, serde_json::Value) -> EF,
    EF: Future<Output = Result<serde_json::Value, LambdaError>> + Send,
{
    crate::telemetry::init();
    // Built once and kept for the life of the execution environment.
    let app: &'static App = Box::leak(Box::new(App::from_env().await?));
    let (route, on_event) = (&route, &on_event);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            if !is_http(&event.payload) {
                let span = tracing::info_span!("run", request_id = %event.context.request_id);
                // Boxed: each function's own future stays out of the runtime's type.
                let run: Pin<Box<dyn Future<Output = _> + Send>> =
                    Box::pin(on_event(app, event.payload));
                return run.instrument(span).await;
            }
            let req = http::gateway_request(event.payload)?;
            let span = tracing::info_span!(
                "request",
                request_id = %http::request_id(&req),
                account_id = tracing::field::Empty
            );
            let routed: Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(route(app, req));
            let response = answer(routed.instrument(span).await);
            Ok::<_, LambdaError>(http::gateway_response(response))
        },
    ))
    .await
}

/// An HTTP API request (payload 2.0) rather than any other event.
fn is_http(payload: &serde_json::Value) -> bool {
    payload
        .get("requestContext")
        .and_then(|c| c.get("http"))
        .is_some()
}

/// The route of a request: the HTTP API's route key, `"PUT /account/users/{user_id}/briks/{brik_id}"`.
pub fn route_key(req: &Request) -> &str {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ApiGatewayV2httpRequestContext {
            route_key: Some(key),
            ..
        })) => key,
        _ => "",
    }
}

/// Records the account a request acts on in its span (every log line after carries it).
pub fn record_account(account_id: &str) {
    tracing::Span::current().record("account_id", account_id);
}

/// For a function with no HTTP route: any request is 404.
pub async fn no_routes(_: &'static App, _: Request) -> Result<Response<Body>, Error> {
    Err(Error::NotFound)
}

/// For a function that only answers HTTP requests: any other invocation fails.
pub async fn no_events(
    _: &'static App,
    _: serde_json::Value,
) -> Result<serde_json::Value, LambdaError> {
    Err("this function answers HTTP API requests only".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(route: &str) -> serde_json::Value {
        let (method, path) = route.split_once(' ').unwrap();
        serde_json::json!({
            "version": "2.0",
            "routeKey": route,
            "rawPath": path,
            "rawQueryString": "",
            "headers": {},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "api",
                "domainName": "localhost",
                "domainPrefix": "localhost",
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                         "sourceIp": "127.0.0.1", "userAgent": "test"},
                "requestId": "req-1",
                "routeKey": route,
                "stage": "$default",
                "time": "03/Dec/2026:10:00:00 +0000",
                "timeEpoch": 0
            },
            "isBase64Encoded": false
        })
    }

    #[test]
    fn a_request_is_routed_by_the_key_the_template_gives_it() {
        let payload = event("PUT /account/users/{user_id}/briks/{brik_id}");
        assert!(is_http(&payload));
        let req = http::gateway_request(payload).unwrap();
        assert_eq!(
            route_key(&req),
            "PUT /account/users/{user_id}/briks/{brik_id}"
        );
    }

    #[test]
    fn schedules_and_mail_receipts_are_events() {
        assert!(!is_http(&serde_json::json!({"run": "renew"})));
        assert!(!is_http(&serde_json::json!({"Records": []})));
        assert!(!is_http(&serde_json::json!({"requestContext": "x"})));
    }
}
