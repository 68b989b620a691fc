//! Amounts in euros, always a whole number of cents, rounded half away from zero: the one
//! rounding billing.md allows. Written as strings with two decimals (`"5.94"`), never floats.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::values::{Language, ValueError};

/// The only currency Softbrik bills in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Currency {
    #[default]
    #[serde(rename = "EUR")]
    Eur,
}

impl Currency {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Eur => "EUR",
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount in EUR, a whole number of cents (negative for credits).
///
/// Arithmetic panics on overflow, like the integer types; amounts stay below 10^26 EUR.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(Decimal);

impl Money {
    /// Rounds `amount` half away from zero to the cent, like [`Money::round_to_cent`].
    pub fn new(amount: Decimal) -> Self {
        Self::round_to_cent(amount)
    }

    pub const fn from_cents(cents: i64) -> Self {
        // `Decimal::new` is not `const`; split the magnitude into the low and middle words.
        let magnitude = cents.unsigned_abs();
        let (low, middle) = (magnitude as u32, (magnitude >> 32) as u32);
        Self(Decimal::from_parts(low, middle, 0, cents < 0, 2))
    }

    pub const fn zero() -> Self {
        Self::from_cents(0)
    }

    /// Rounds half away from zero to the cent: 5.935 is 5.94, -5.935 is -5.94.
    pub fn round_to_cent(amount: Decimal) -> Self {
        let mut cents = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        cents.rescale(2);
        Self(cents)
    }

    /// Reads an amount as the API writes it: digits, then at most two decimals (`"8"`,
    /// `"8.5"`, `"-5.94"`). Finer amounts are refused rather than rounded.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        const EXPECTED: &str = "an amount with at most two decimals, like \"8.00\"";
        let invalid = ValueError::InvalidFormat { expected: EXPECTED };
        let unsigned = raw.strip_prefix('-').unwrap_or(raw);
        let (units, cents) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(units) || !digits(cents) || cents.len() > 2 || units.len() > 20 {
            return Err(invalid);
        }
        raw.parse::<Decimal>()
            .map(Self::round_to_cent)
            .map_err(|_| invalid)
    }

    pub fn amount(&self) -> Decimal {
        self.0
    }

    pub fn currency(&self) -> Currency {
        Currency::Eur
    }

    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// For people, in their language's conventions: fr `1 234,56 EUR` (thousands separated
    /// by U+00A0, a no-break space, so an amount never wraps), da `1.234,56 EUR`,
    /// en `1,234.56 EUR`.
    pub fn format(&self, lang: Language) -> String {
        let (thousands, decimal) = match lang {
            Language::Fr => ('\u{a0}', ','),
            Language::Da => ('.', ','),
            Language::En => (',', '.'),
        };
        let plain = format!("{:.2}", self.0.abs());
        let (units, cents) = plain.split_once('.').unwrap_or((&plain, "00"));
        let sign = if self.0.is_sign_negative() && !self.0.is_zero() {
            "-"
        } else {
            ""
        };
        let units = group_thousands(units, thousands);
        format!("{sign}{units}{decimal}{cents} {}", Currency::Eur)
    }
}

fn group_thousands(digits: &str, separator: char) -> String {
    let mut grouped = String::with_capacity(digits.len() * 2);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(separator);
        }
        grouped.push(digit);
    }
    grouped
}

/// Free-function form of [`Money::round_to_cent`].
pub fn round_to_cent(amount: Decimal) -> Money {
    Money::round_to_cent(amount)
}

impl fmt::Display for Money {
    /// The API form: `5.94`, `16.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl Add for Money {
    type Output = Money;

    fn add(self, other: Money) -> Money {
        Money(self.0 + other.0)
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, other: Money) {
        self.0 += other.0;
    }
}

impl Sub for Money {
    type Output = Money;

    fn sub(self, other: Money) -> Money {
        Money(self.0 - other.0)
    }
}

impl SubAssign for Money {
    fn sub_assign(&mut self, other: Money) {
        self.0 -= other.0;
    }
}

impl Neg for Money {
    type Output = Money;

    fn neg(self) -> Money {
        Money(-self.0)
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::zero(), Add::add)
    }
}

impl<'a> Sum<&'a Money> for Money {
    fn sum<I: Iterator<Item = &'a Money>>(iter: I) -> Money {
        iter.copied().sum()
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Strings only, as the API writes them: a JSON number may already have passed through
    /// a float.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Money::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn rounding_is_half_away_from_zero_to_the_cent() {
        assert_eq!(Money::round_to_cent(dec!(5.935)), Money::from_cents(594));
        assert_eq!(Money::round_to_cent(dec!(5.9349)), Money::from_cents(593));
        assert_eq!(Money::round_to_cent(dec!(-5.935)), Money::from_cents(-594));
        assert_eq!(Money::round_to_cent(dec!(0.125)), Money::from_cents(13));
        assert_eq!(Money::new(dec!(8)), Money::from_cents(800));
    }

    #[test]
    fn amounts_are_written_with_two_decimals() {
        let json = serde_json::to_string(&[Money::from_cents(594), Money::new(dec!(16))]);
        assert_eq!(json.unwrap(), r#"["5.94","16.00"]"#);
        assert_eq!(Money::from_cents(-5).to_string(), "-0.05");
    }

    #[test]
    fn amounts_are_read_from_strings_with_at_most_two_decimals() {
        let read = |json: &str| serde_json::from_str::<Money>(json).ok();
        assert_eq!(read(r#""5.94""#), Some(Money::from_cents(594)));
        assert_eq!(read(r#""8""#), Some(Money::from_cents(800)));
        assert_eq!(read(r#""-0.5""#), Some(Money::from_cents(-50)));
        for bad in [
            r#""5.935""#,
            "5.94",
            r#""1e3""#,
            r#""1_000""#,
            r#"" 5""#,
            r#""5.""#,
        ] {
            assert_eq!(read(bad), None, "{bad}");
        }
    }

    #[test]
    fn sums_and_differences_stay_exact() {
        let lines = [Money::from_cents(600), Money::from_cents(1000)];
        assert_eq!(lines.iter().sum::<Money>(), Money::from_cents(1600));
        assert_eq!(
            Money::from_cents(1920) - Money::from_cents(320),
            Money::from_cents(1600)
        );
    }

    #[test]
    fn amounts_read_naturally_in_each_language() {
        let amount = Money::from_cents(123_456);
        assert_eq!(amount.format(Language::Fr), "1\u{a0}234,56 EUR");
        assert_eq!(amount.format(Language::Da), "1.234,56 EUR");
        assert_eq!(amount.format(Language::En), "1,234.56 EUR");
        assert_eq!(Money::from_cents(594).format(Language::Fr), "5,94 EUR");
        assert_eq!(
            Money::from_cents(-123_456_789).format(Language::En),
            "-1,234,567.89 EUR"
        );
        assert_eq!(
            Money::from_cents(100_000).format(Language::Da),
            "1.000,00 EUR"
        );
    }

    #[test]
    fn the_currency_is_always_eur() {
        assert_eq!(serde_json::to_string(&Currency::Eur).unwrap(), "\"EUR\"");
        assert_eq!(Money::zero().currency(), Currency::Eur);
    }
}
