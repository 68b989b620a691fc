//! Spotting card numbers in input, which Softbrik refuses everywhere (billing.md, "Payment"),
//! and masking them in inbound mail, which cannot be refused (security.md): 13 to 19 digits,
//! spaces or dashes allowed between them, passing the Luhn check. Written by hand:
//! card-detection crates validate a whole field, while this must search inside text.

use std::borrow::Cow;
use std::ops::Range;

use serde_json::Value;

const MIN_DIGITS: usize = 13;
const MAX_DIGITS: usize = 19;
/// Digits of a masked card number left readable, at its end (so a customer can tell which card
/// they meant).
const KEPT_DIGITS: usize = 4;
/// What a masked digit becomes: ASCII, so a masked raw message keeps its length and structure.
const MASK: u8 = b'*';

/// Whether `s` contains, anywhere, something that looks like a card number.
///
/// Digits are read in groups (runs of digits split by spaces or dashes); every run of
/// consecutive groups holding 13 to 19 digits is checked, so "ref 12 4242 4242 4242 4242" is
/// caught while a 25-digit reference is not cut up into card-sized pieces.
pub fn looks_like_card_number(s: &str) -> bool {
    let bytes = s.as_bytes();
    digit_chains(text_classes(s), bytes.len())
        .iter()
        .any(|groups| any_run(bytes, groups, passes_luhn))
}

/// `s` with the digits of every card number in it masked but the last four
/// ("**** **** **** 4242"); borrowed when there is none.
pub fn mask_card_numbers(s: &str) -> Cow<'_, str> {
    let masked = masked(s.as_bytes(), text_classes(s));
    match masked {
        // only ASCII digits were replaced, by an ASCII byte: still UTF-8
        Some(bytes) => Cow::Owned(String::from_utf8(bytes).expect("ASCII for ASCII")),
        None => Cow::Borrowed(s),
    }
}

/// Raw bytes (a message as SES stored it) with every card number written in clear masked the
/// same way, byte for byte in place, or `None` when there is none. Numbers inside an encoding
/// (base64, a quoted-printable soft line break) are not seen here.
pub fn mask_card_numbers_in_bytes(raw: &[u8]) -> Option<Vec<u8>> {
    let classes = raw.iter().enumerate().map(|(i, b)| {
        let class = match b {
            b'0'..=b'9' => Class::Digit,
            b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c | b'-' => Class::Separator,
            _ => Class::Other,
        };
        (i, class)
    });
    masked(raw, classes)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Digit,
    Separator,
    Other,
}

/// A text's characters classed, by byte offset: whitespace and `-` separate digit groups.
fn text_classes(s: &str) -> impl Iterator<Item = (usize, Class)> + '_ {
    s.char_indices().map(|(i, c)| {
        let class = if c.is_ascii_digit() {
            Class::Digit
        } else if c.is_whitespace() || c == '-' {
            Class::Separator
        } else {
            Class::Other
        };
        (i, class)
    })
}

/// Digit groups (byte ranges), split into chains: separators join groups into one chain, any
/// other character ends it.
fn digit_chains(
    classes: impl Iterator<Item = (usize, Class)>,
    len: usize,
) -> Vec<Vec<Range<usize>>> {
    let mut chains = Vec::new();
    let mut chain = Vec::new();
    let mut group_start = None;
    for (i, class) in classes {
        if class == Class::Digit {
            group_start.get_or_insert(i);
            continue;
        }
        if let Some(start) = group_start.take() {
            chain.push(start..i);
        }
        if class == Class::Other && !chain.is_empty() {
            chains.push(std::mem::take(&mut chain));
        }
    }
    if let Some(start) = group_start {
        chain.push(start..len);
    }
    if !chain.is_empty() {
        chains.push(chain);
    }
    chains
}

/// Whether `check` holds for a run of consecutive groups holding 13 to 19 digits.
fn any_run(bytes: &[u8], groups: &[Range<usize>], check: impl FnMut(&[u8]) -> bool) -> bool {
    let mut check = check;
    (0..groups.len()).any(|first| longest_run(bytes, &groups[first..], &mut check).is_some())
}

/// The longest run of groups from the first one holding 13 to 19 digits for which `check`
/// holds, as a number of groups. The run stops as soon as it would pass 19 digits (nothing
/// longer can become a card number again), so a chain of n groups is checked at most 7n
/// times, on at most 19 digits each: the scan is linear in the input, whatever its shape
/// (security.md "Bad input"; a run that kept growing made a 60 KB body of "1 1 1 ..." take
/// 12 s to refuse).
fn longest_run(
    bytes: &[u8],
    groups: &[Range<usize>],
    check: &mut impl FnMut(&[u8]) -> bool,
) -> Option<usize> {
    let mut digits = [0u8; MAX_DIGITS];
    let mut len = 0;
    let mut found = None;
    for (n, group) in groups.iter().enumerate() {
        let end = len + group.len();
        if end > MAX_DIGITS {
            break;
        }
        digits[len..end].copy_from_slice(&bytes[group.clone()]);
        len = end;
        if len >= MIN_DIGITS && check(&digits[..len]) {
            found = Some(n + 1);
        }
    }
    found
}

/// `bytes` with the card numbers among `classes` masked, or `None` when there is none. A chain
/// is read left to right; a card number found from a group is masked whole (its longest
/// reading) and the search goes on after it.
fn masked(bytes: &[u8], classes: impl Iterator<Item = (usize, Class)>) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    for groups in digit_chains(classes, bytes.len()) {
        let mut first = 0;
        while first < groups.len() {
            let Some(n) = longest_run(bytes, &groups[first..], &mut passes_luhn) else {
                first += 1;
                continue;
            };
            let run = &groups[first..first + n];
            let digits: usize = run.iter().map(|g| g.len()).sum();
            let out = out.get_or_insert_with(|| bytes.to_vec());
            let mut to_mask = digits - KEPT_DIGITS;
            for group in run {
                for i in group.clone() {
                    if to_mask == 0 {
                        break;
                    }
                    out[i] = MASK;
                    to_mask -= 1;
                }
            }
            first += n;
        }
    }
    out
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
            for groups in digit_chains(text_classes(&text), text.len()) {
                any_run(text.as_bytes(), &groups, |digits| {
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
    fn card_numbers_in_text_are_masked_but_their_last_four_digits() {
        assert_eq!(
            mask_card_numbers("my card is 4242 4242 4242 4242, thanks"),
            "my card is **** **** **** 4242, thanks"
        );
        assert_eq!(
            mask_card_numbers("5555-5555-5555-4444 and 378282246310005"),
            "****-****-****-4444 and ***********0005"
        );
        assert_eq!(
            mask_card_numbers("ref 12 4242 4242 4242 4242 é"),
            "ref 12 **** **** **** 4242 é"
        );
        for other in [
            "+45 12 34 56 78",
            "invoice SB-2026-000042 of 2026-12-20",
            "4242 4242 4242 4241",
            "",
        ] {
            assert!(
                matches!(mask_card_numbers(other), Cow::Borrowed(_)),
                "{other}"
            );
        }
    }

    #[test]
    fn card_numbers_in_a_raw_message_are_masked_in_place() {
        let raw = b"Subject: card 4242424242424242\r\n\r\nIt is 4242 4242\r\n4242 4242.\r\n\xff";
        let masked = mask_card_numbers_in_bytes(raw).expect("found");
        assert_eq!(masked.len(), raw.len());
        assert_eq!(
            masked,
            b"Subject: card ************4242\r\n\r\nIt is **** ****\r\n**** 4242.\r\n\xff"
        );
        assert_eq!(
            mask_card_numbers_in_bytes(b"Date: 2026-12-03 10:00\r\n"),
            None
        );
    }

    #[test]
    fn masking_is_linear_in_the_input_too() {
        let text = "1 ".repeat(32 * 1024) + "4242 4242 4242 4242";
        let masked = mask_card_numbers(&text);
        assert_eq!(masked.len(), text.len());
        assert!(
            !looks_like_card_number(&masked),
            "a card number left in clear"
        );
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
