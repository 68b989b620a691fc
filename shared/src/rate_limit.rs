//! Signups limited per client address and per email domain (security.md: card testing). A
//! signup is the only public route that reaches the payment partner, so without a limit anyone
//! could try stolen card tokens through it. Each attempt that gets past validation is counted
//! in a fixed one-hour window, for its client address and for its admin's email domain, both
//! in one transaction: beyond either limit the signup answers 429 with `Retry-After` (the
//! seconds left in the window) and goes no further. A retry under the same Idempotency-Key is
//! the same attempt, counted once. Addresses and domains are kept as keyed hashes only.

use jiff::Timestamp;

use crate::app::App;
use crate::error::Error;
use crate::invoicing::StoreFailure;

/// Signups one client address may attempt in an hour (an office signing up its companies
/// stays far below; a card-testing script does not).
pub const SIGNUPS_PER_ADDRESS_PER_HOUR: u32 = 10;
/// Signups one email domain may attempt in an hour, across all addresses (webmail domains
/// included: many companies sign up from them).
pub const SIGNUPS_PER_DOMAIN_PER_HOUR: u32 = 50;
const WINDOW_SECONDS: i64 = 3600;

/// The counting window `now` falls in: its start, and the seconds left in it.
pub fn window(now: Timestamp) -> (i64, u64) {
    let second = now.as_second();
    let start = second - second.rem_euclid(WINDOW_SECONDS);
    let left = u64::try_from(start + WINDOW_SECONDS - second).unwrap_or(1);
    (start, left.max(1))
}

/// The domain of an email address, lower-cased.
pub fn email_domain(email: &str) -> &str {
    email.rsplit_once('@').map_or(email, |(_, d)| d)
}

/// Counts signup attempt `attempt` for `client_address` (when the gateway gave one) and for
/// `email`'s domain at `now` (system time), or refuses it with `Error::Throttled`.
pub async fn admit_signup(
    app: &App,
    client_address: Option<&str>,
    email: &str,
    attempt: &str,
    now: Timestamp,
) -> Result<(), Error> {
    let (start, left) = window(now);
    let expires_at = start + 2 * WINDOW_SECONDS;
    let sk = format!("WINDOW#{start}");
    let mut ops = Vec::new();
    if let Some(address) = client_address {
        let pk = format!(
            "RATE#SIGNUP#ADDRESS#{}",
            app.keyed_hash(&format!("client-address:{address}")).await?
        );
        ops.push(app.store.count_attempt_op(
            (&pk, &sk),
            attempt,
            app.config.signups_per_address_per_hour,
            expires_at,
        )?);
    }
    let domain = email_domain(email).to_ascii_lowercase();
    let pk = format!(
        "RATE#SIGNUP#DOMAIN#{}",
        app.keyed_hash(&format!("email-domain:{domain}")).await?
    );
    ops.push(app.store.count_attempt_op(
        (&pk, &sk),
        attempt,
        app.config.signups_per_domain_per_hour,
        expires_at,
    )?);
    match app.store.transact(ops).await.map_err(StoreFailure::from) {
        Ok(()) => Ok(()),
        Err(StoreFailure::Conflict(_)) => {
            tracing::warn!(retry_after = left, "signup refused: rate limit");
            Err(Error::Throttled { retry_after: left })
        }
        Err(StoreFailure::Failed(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_the_clock_hour_and_says_what_is_left_of_it() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        let (start, left) = window(t("2026-12-03T10:59:30Z"));
        assert_eq!(start, t("2026-12-03T10:00:00Z").as_second());
        assert_eq!(left, 30);
        assert_eq!(window(t("2026-12-03T11:00:00Z")).1, 3600);
        assert_eq!(email_domain("Alice@Example.FR"), "Example.FR");
    }
}
