//! Structured JSON logs through `tracing`, one line per event, with the request id and the
//! account id of the span they happen in. Never a secret, token, card detail or personal data.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber; call once at the start of `main`.
pub fn init() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .init();
}
