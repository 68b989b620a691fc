//! How ids are made: random ones, and time-ordered ones for what is listed newest first. This
//! needs randomness and the real time, which the domain does not have.

use jiff::Timestamp;

use crate::clock::{Clock, SystemClock};

/// Prefixed random ids: `acc_…`, `usr_…`, `clock_…`: 128 random bits in Crockford base32.
/// Not hexadecimal: 32 hex characters hold a run of 13+ digits passing the Luhn check about
/// once in 250 ids, and an id the API hands out must never look like a card number when the
/// client sends it back (billing.md "Payment").
pub fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        ulid::Ulid(rand::random::<u128>())
            .to_string()
            .to_lowercase()
    )
}

/// A time-ordered id (ULID) for things listed newest first (invoices, history, tickets,
/// messages): ordered by `at` on the account's clock, then, for ids made at the same instant
/// (a test clock stands still), by the real time they were made at, then 32 random bits.
pub fn new_ordered_id(prefix: &str, at: Timestamp) -> String {
    ordered_id(prefix, at, SystemClock.now())
}

/// [`new_ordered_id`] with the real time given.
pub fn ordered_id(prefix: &str, at: Timestamp, real: Timestamp) -> String {
    let millis = u64::try_from(at.as_millisecond()).unwrap_or_default();
    let micros = u128::try_from(real.as_microsecond()).unwrap_or_default() & ((1 << 48) - 1);
    let random = (micros << 32) | u128::from(rand::random::<u32>());
    let ulid = ulid::Ulid::from_parts(millis, random);
    format!("{prefix}_{}", ulid.to_string().to_lowercase())
}

/// The SHA-256 of `bytes`, in lowercase hexadecimal.
pub fn digest_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new secret (a bearer token, a transfer code): 32 random bytes behind `prefix`, shown
/// once and stored as its hash only.
pub fn new_secret(prefix: &str) -> String {
    use base64::Engine;
    let secret: [u8; 32] = rand::random();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_never_look_like_card_numbers() {
        for _ in 0..20_000 {
            let id = new_id("acc");
            assert!(
                !softbrik_domain::card_number::looks_like_card_number(&id),
                "{id}"
            );
        }
    }

    #[test]
    fn ordered_ids_sort_by_the_clock_they_were_made_with() {
        let earlier = new_ordered_id("inv", "2026-12-12T10:00:00Z".parse().unwrap());
        let later = new_ordered_id("inv", "2027-01-12T10:00:00Z".parse().unwrap());
        assert!(earlier < later);
        assert!(earlier.starts_with("inv_"));
    }
}
