//! Spotting card numbers in input, which Softbrik refuses everywhere (billing.md, "Payment"):
//! 13 to 19 digits, spaces or dashes allowed between them, passing the Luhn check. Written by
//! hand: card-detection crates validate a whole field, while this must search inside text.

use serde_json::Value;

const MIN_DIGITS: usize = 13;
const MAX_DIGITS: usize = 19;

/// Whether `s` contains, anywhere, something that looks like a card number.
///
/// Digits are read in groups (runs of digits split by spaces or dashes); every run of
/// consecutive groups holding 13 to 19 digits is checked, so "ref 12 4242 4242 4242 4242" is
/// caught while a 25-digit reference is not cut up into card-sized pieces.
pub fn looks_like_card_number(s: &str) -> bool {
    digit_chains(s).iter().any(|groups| has_card_number(groups))
}

/// Digit groups, split into chains: separators (whitespace, `-`) join groups into one
/// chain, any other character ends it.
fn digit_chains(s: &str) -> Vec<Vec<&str>> {
    let mut chains = Vec::new();
    let mut chain = Vec::new();
    let mut group_start = None;
    for (i, c) in s.char_indices() {
        if c.is_ascii_digit() {
            group_start.get_or_insert(i);
            continue;
        }
        if let Some(start) = group_start.take() {
            chain.push(&s[start..i]);
        }
        let separator = c.is_whitespace() || c == '-';
        if !separator && !chain.is_empty() {
            chains.push(std::mem::take(&mut chain));
        }
    }
    if let Some(start) = group_start {
        chain.push(&s[start..]);
    }
    if !chain.is_empty() {
        chains.push(chain);
    }
    chains
}

fn has_card_number(groups: &[&str]) -> bool {
    any_run(groups, passes_luhn)
}

/// Whether `check` holds for a run of consecutive groups holding 13 to 19 digits. From each
/// group the run stops as soon as it would pass 19 digits (nothing longer can become a card
/// number again), so a chain of n groups is checked at most 7n times, on at most 19 digits
/// each: the scan is linear in the input, whatever its shape (security.md "Bad input"; a run
/// that kept growing made a 60 KB body of "1 1 1 ..." take 12 s to refuse).
fn any_run(groups: &[&str], mut check: impl FnMut(&[u8]) -> bool) -> bool {
    let mut digits = [0u8; MAX_DIGITS];
    (0..groups.len()).any(|first| {
        let mut len = 0;
        for group in &groups[first..] {
            let end = len + group.len();
            if end > MAX_DIGITS {
                return false;
            }
            digits[len..end].copy_from_slice(group.as_bytes());
            len = end;
            if len >= MIN_DIGITS && check(&digits[..len]) {
                return true;
            }
        }
        false
    })
}

fn passes_luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The path (`admin.name`, `briks[2]`, `$` for the document itself) of the first place in
/// `value` holding something that looks like a card number: a string, a number, or an
/// object key. A key is reported by its object's path, so the number is never echoed back.
pub fn find_card_number(value: &Value) -> Option<String> {
    let mut path = Vec::new();
    holds_card_number(value, &mut path).then(|| display_path(&path))
}

/// A step from a JSON document to one of its values.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Whether `value` holds a card number; `path` is left leading to it. The path is written out
/// only when one is found, so a large array or object costs no string per element.
fn holds_card_number<'a>(value: &'a Value, path: &mut Vec<Step<'a>>) -> bool {
    let within = |step: Step<'a>, inner: &'a Value, path: &mut Vec<Step<'a>>| {
        path.push(step);
        let found = holds_card_number(inner, path);
        if !found {
            path.pop();
        }
        found
    };
    match value {
        Value::String(text) => looks_like_card_number(text),
        Value::Number(number) => looks_like_card_number(&number.to_string()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .any(|(i, item)| within(Step::Index(i), item, path)),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, field)| looks_like_card_number(key) || within(Step::Key(key), field, path)),
        Value::Null | Value::Bool(_) => false,
    }
}

fn display_path(path: &[Step]) -> String {
    if path.is_empty() {
        return "$".to_owned();
    }
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(key) if out.is_empty() => out.push_str(key),
            Step::Key(key) => {
                out.push('.');
                out.push_str(key);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn card_numbers_are_spotted_with_or_without_separators() {
        for card in [
            "4242 4242 4242 4242",
            "4242-4242-4242-4242",
            "4242424242424242",
            "my card is 5555 5555 5555 4444, thanks",
            "ref 12 4242 4242 4242 4242",
            "378282246310005",
        ] {
            assert!(looks_like_card_number(card), "{card}");
        }
    }

    #[test]
    fn numbers_that_are_not_card_numbers_pass() {
        for other in [
            "4242 4242 4242 4241",
            "+45 12 34 56 78",
            "FR12345678901",
            "2026-12-20",
            "2026-12-12 to 2027-01-12",
            "1234567890123456789012345",
            "pm_card_visa",
            "",
        ] {
            assert!(!looks_like_card_number(other), "{other}");
        }
    }

    #[test]
    fn the_path_of_the_first_field_holding_a_card_number_is_reported() {
        let body = json!({"admin": {"email": "bob@example.com", "name": "4242 4242 4242 4242"}});
        assert_eq!(find_card_number(&body).as_deref(), Some("admin.name"));
        let body = json!({"briks": ["files", "stock", "4242-4242-4242-4242"]});
        assert_eq!(find_card_number(&body).as_deref(), Some("briks[2]"));
        let body = json!({"users": [{"briks": [], "phone": 4242424242424242_u64}]});
        assert_eq!(find_card_number(&body).as_deref(), Some("users[0].phone"));
        assert_eq!(
            find_card_number(&json!("4242424242424242")).as_deref(),
            Some("$")
        );
    }

    #[test]
    fn a_card_number_used_as_a_key_is_reported_without_echoing_it() {
        let body = json!({"notes": {"4242424242424242": true}});
        assert_eq!(find_card_number(&body).as_deref(), Some("notes"));
    }

    #[test]
    fn the_scan_is_linear_in_the_input_whatever_its_shape() {
        // Each digit group starts at most 7 candidates (13 to 19 digits), each of at most 19
        // digits: the work is bounded by the input's length, for the shapes that made the old
        // scan quadratic (one long chain of short groups) as for any other.
        for shape in ["1 ", "1-", "12 ", "4242 ", "1 a ", "99999999999999999999 "] {
            let text = shape.repeat(64 * 1024 / shape.len());
            let mut checked = 0;
            for groups in digit_chains(&text) {
                any_run(&groups, |digits| {
                    checked += digits.len();
                    false
                });
            }
            // at most 7 checks of at most 19 digits for each group, and a group takes 2 bytes
            assert!(checked <= 7 * 19 * text.len() / 2, "{shape:?}: {checked}");
        }
        // and the candidates near a card number are still all tried
        assert!(looks_like_card_number(&format!(
            "{}4242 4242 4242 4242",
            "1 ".repeat(30_000)
        )));
    }

    #[test]
    fn a_body_without_card_numbers_passes() {
        let body = json!({
            "company": {"name": "Acme", "vat_number": "FR12345678901", "country": "FR"},
            "admin": {"phone": "+45 12 34 56 78", "email": "bob@example.com"},
            "briks": ["files"],
            "quantity": 3,
            "payment_method": "pm_card_visa"
        });
        assert_eq!(find_card_number(&body), None);
    }
}
