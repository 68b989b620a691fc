//! Value types parsed once at the edge and trusted inside: an `EmailAddress`, a `BrikId`, a
//! `Country`... cannot hold a bad value. Each parses from text, prints back as the same text,
//! and deserialises through its parser, so serde rejects exactly what `parse` rejects.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::validation::codes;

/// Why a piece of text is not a valid value. Messages never repeat the input, which may be
/// personal data or a card number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("must not be empty")]
    Required,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    ControlCharacters,
    #[error("must be a valid email address")]
    InvalidEmail,
    #[error("must be one of fr, da, en")]
    UnknownLanguage,
    #[error("must be an ISO 3166-1 alpha-2 country code, like FR")]
    UnknownCountry,
    #[error("must be an IANA time zone name, like Europe/Paris")]
    UnknownTimeZone,
    #[error("must be {expected}")]
    InvalidFormat { expected: &'static str },
    #[error("must be between {min} and {max}")]
    OutOfRange { min: i64, max: i64 },
}

impl ValueError {
    /// The machine-readable code the API reports for this error (see [`codes`]).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Required => codes::REQUIRED,
            Self::TooLong { .. } => codes::TOO_LONG,
            Self::ControlCharacters => codes::CONTROL_CHARACTERS,
            Self::InvalidEmail => codes::INVALID_EMAIL,
            Self::UnknownLanguage => codes::UNKNOWN_LANGUAGE,
            Self::UnknownCountry => codes::UNKNOWN_COUNTRY,
            Self::UnknownTimeZone => codes::UNKNOWN_TIMEZONE,
            Self::InvalidFormat { .. } => codes::INVALID_FORMAT,
            Self::OutOfRange { .. } => codes::OUT_OF_RANGE,
        }
    }
}

/// Display, `FromStr`, `AsRef<str>` and serde (as a string, parsed on the way in) for a type
/// that has `parse` and `as_str`.
macro_rules! text_value {
    ($ty:ty) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = ValueError;

            fn from_str(s: &str) -> Result<Self, ValueError> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// Trims `raw` and checks it is a non-empty line of at most `max` characters.
fn single_line(raw: &str, max: usize) -> Result<&str, ValueError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(ValueError::Required);
    }
    if text.chars().any(char::is_control) {
        return Err(ValueError::ControlCharacters);
    }
    if text.chars().count() > max {
        return Err(ValueError::TooLong { max });
    }
    Ok(text)
}

/// An email address, stored lowercased: Softbrik treats addresses case-insensitively, so
/// `Bob@Example.com` and `bob@example.com` are one admin for uniqueness and look-ups.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// RFC 5321's limit on a forward path, in bytes.
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(ValueError::Required);
        }
        if text.chars().any(char::is_control) {
            return Err(ValueError::ControlCharacters);
        }
        if text.len() > Self::MAX_LEN {
            return Err(ValueError::TooLong { max: Self::MAX_LEN });
        }
        // A bare address only: no "Bob <bob@x.com>", no IP literal, and a dotted domain,
        // since every real recipient has one.
        let options = email_address::Options::default()
            .without_display_text()
            .without_domain_literal()
            .with_required_tld();
        email_address::EmailAddress::parse_with_options(text, options)
            .map_err(|_| ValueError::InvalidEmail)?;
        Ok(Self(text.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_value!(EmailAddress);

/// The id of a Brik: a lowercase letter then up to 31 lowercase letters, digits or dashes.
/// Whether the catalogue has it is checked elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BrikId(Cow<'static, str>);

impl BrikId {
    pub const MAX_LEN: usize = 32;
    const EXPECTED: &'static str = "a lowercase letter then lowercase letters, digits or dashes";

    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        if raw.is_empty() {
            return Err(ValueError::Required);
        }
        if raw.len() > Self::MAX_LEN {
            return Err(ValueError::TooLong { max: Self::MAX_LEN });
        }
        if !is_brik_id(raw) {
            return Err(ValueError::InvalidFormat {
                expected: Self::EXPECTED,
            });
        }
        Ok(Self(Cow::Owned(raw.to_owned())))
    }

    /// For ids written in the code. Only call it in a `const` item, where a bad id fails the
    /// build instead of panicking at run time.
    pub(crate) const fn from_static(id: &'static str) -> Self {
        assert!(is_brik_id(id), "not a Brik id");
        Self(Cow::Borrowed(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_value!(BrikId);

const fn is_brik_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    if bytes.is_empty() || bytes.len() > BrikId::MAX_LEN || !bytes[0].is_ascii_lowercase() {
        return false;
    }
    let mut i = 1;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

/// A language Softbrik writes its emails, invoices and pages in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Language {
    Fr,
    Da,
    En,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::Fr, Language::Da, Language::En];

    /// Accepts `fr`, `da` or `en`, in any case.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let code = raw.trim();
        Self::ALL
            .into_iter()
            .find(|lang| lang.as_str().eq_ignore_ascii_case(code))
            .ok_or(ValueError::UnknownLanguage)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Fr => "fr",
            Self::Da => "da",
            Self::En => "en",
        }
    }
}

text_value!(Language);

/// A country, by its officially assigned ISO 3166-1 alpha-2 code (`GR` for Greece, `GB` for
/// the United Kingdom).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Country(&'static str);

impl Country {
    /// Accepts the code in either case and stores it in uppercase.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let code = raw.trim().to_ascii_uppercase();
        COUNTRY_CODES
            .binary_search(&code.as_str())
            .map(|index| Self(COUNTRY_CODES[index]))
            .map_err(|_| ValueError::UnknownCountry)
    }

    pub fn code(&self) -> &'static str {
        self.0
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// Member of the European Union (27 states), which decides the VAT rules that apply.
    pub fn is_eu(&self) -> bool {
        EU_MEMBER_STATES.contains(&self.0)
    }
}

text_value!(Country);

const EU_MEMBER_STATES: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// The 249 officially assigned ISO 3166-1 alpha-2 codes, sorted for binary search (the same
/// list as the tz database's `iso3166.tab`).
const COUNTRY_CODES: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// An IANA time zone name known to the bundled tz database, kept with the zone it names.
#[derive(Debug, Clone)]
pub struct TimeZoneName {
    name: String,
    zone: jiff::tz::TimeZone,
}

impl TimeZoneName {
    pub const DEFAULT: &'static str = "Europe/Paris";

    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(ValueError::Required);
        }
        // Only the characters IANA names use, so nothing path-like reaches the tz lookup.
        let iana_chars = |c: char| c.is_ascii_alphanumeric() || "/_-+".contains(c);
        if name.len() > 64 || name.contains("..") || !name.chars().all(iana_chars) {
            return Err(ValueError::UnknownTimeZone);
        }
        let zone = jiff::tz::TimeZone::get(name).map_err(|_| ValueError::UnknownTimeZone)?;
        let name = zone.iana_name().unwrap_or(name).to_owned();
        Ok(Self { name, zone })
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    pub fn time_zone(&self) -> jiff::tz::TimeZone {
        self.zone.clone()
    }
}

impl Default for TimeZoneName {
    /// `Europe/Paris`, the zone an account gets when signup names none.
    fn default() -> Self {
        let zone = jiff::tz::TimeZone::get(Self::DEFAULT).unwrap_or(jiff::tz::TimeZone::UTC);
        Self {
            name: Self::DEFAULT.to_owned(),
            zone,
        }
    }
}

impl PartialEq for TimeZoneName {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for TimeZoneName {}

impl std::hash::Hash for TimeZoneName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

text_value!(TimeZoneName);

/// A company's name: one line of 1 to 200 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CompanyName(String);

impl CompanyName {
    pub const MAX_LEN: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        single_line(raw, Self::MAX_LEN).map(|name| Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_value!(CompanyName);

/// A person's name: one line of 1 to 200 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PersonName(String);

impl PersonName {
    pub const MAX_LEN: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        single_line(raw, Self::MAX_LEN).map(|name| Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_value!(PersonName);

/// A VAT identification number, normalised: no spaces, uppercase, a two-letter prefix then
/// 2 to 13 letters or digits (`FR12345678901`, `DK12345678`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VatNumber(String);

impl VatNumber {
    const EXPECTED: &'static str = "two letters then 2 to 13 letters or digits, like FR12345678901";

    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let number: String = raw.trim().chars().filter(|c| *c != ' ').collect();
        if number.is_empty() {
            return Err(ValueError::Required);
        }
        let number = number.to_ascii_uppercase();
        let (prefix, rest) = number
            .split_at_checked(2)
            .ok_or(ValueError::InvalidFormat {
                expected: Self::EXPECTED,
            })?;
        let well_formed = prefix.chars().all(|c| c.is_ascii_uppercase())
            && (2..=13).contains(&rest.len())
            && rest.chars().all(|c| c.is_ascii_alphanumeric());
        if !well_formed {
            return Err(ValueError::InvalidFormat {
                expected: Self::EXPECTED,
            });
        }
        Ok(Self(number))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The two-letter prefix (a country code, except `EL` for Greece).
    pub fn prefix(&self) -> &str {
        self.0.get(..2).unwrap_or_default()
    }
}

text_value!(VatNumber);

/// A payment method token from the payment partner (`pm_...`). Card numbers never reach
/// Softbrik; this token stands for the card.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PaymentMethodToken(String);

impl PaymentMethodToken {
    const EXPECTED: &'static str = "a payment method token, like pm_card_visa";

    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        if raw.is_empty() {
            return Err(ValueError::Required);
        }
        let body = raw.strip_prefix("pm_").unwrap_or_default();
        let well_formed = (1..=250).contains(&body.len())
            && body.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !well_formed {
            return Err(ValueError::InvalidFormat {
                expected: Self::EXPECTED,
            });
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_value!(PaymentMethodToken);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_trimmed_and_lowercased_so_case_never_makes_a_second_admin() {
        let email = EmailAddress::parse("  Bob@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "bob@example.com");
        assert_eq!(email, EmailAddress::parse("bob@example.com").unwrap());
    }

    #[test]
    fn emails_that_are_not_emails_are_refused() {
        for bad in [
            "bob",
            "bob@",
            "@example.com",
            "bob@localhost",
            "Bob <bob@example.com>",
        ] {
            assert_eq!(
                EmailAddress::parse(bad),
                Err(ValueError::InvalidEmail),
                "{bad}"
            );
        }
        assert_eq!(EmailAddress::parse("  "), Err(ValueError::Required));
        assert_eq!(
            EmailAddress::parse("bob\n@example.com"),
            Err(ValueError::ControlCharacters)
        );
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(
            EmailAddress::parse(&long),
            Err(ValueError::TooLong { max: 254 })
        );
    }

    #[test]
    fn a_brik_id_is_a_short_lowercase_slug() {
        for good in ["files", "stock", "care", "e-mail2", "a"] {
            assert!(BrikId::parse(good).is_ok(), "{good}");
        }
        for bad in ["Files", "2fa", "-x", "files ", "fi_les", "stóck"] {
            assert_eq!(
                BrikId::parse(bad).map_err(|e| e.code()),
                Err("invalid_format")
            );
        }
        assert_eq!(BrikId::parse(""), Err(ValueError::Required));
        assert_eq!(
            BrikId::parse(&"a".repeat(33)),
            Err(ValueError::TooLong { max: 32 })
        );
        assert!(BrikId::parse(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn only_french_danish_and_english_are_supported() {
        assert_eq!(Language::parse("fr"), Ok(Language::Fr));
        assert_eq!(Language::parse("DA"), Ok(Language::Da));
        assert_eq!(Language::parse(" en "), Ok(Language::En));
        assert_eq!(Language::parse("de"), Err(ValueError::UnknownLanguage));
        assert_eq!(
            serde_json::to_string(&Language::Da).unwrap(),
            "\"da\"".to_owned()
        );
        assert!(serde_json::from_str::<Language>("\"sv\"").is_err());
    }

    #[test]
    fn countries_are_the_officially_assigned_iso_codes() {
        assert_eq!(COUNTRY_CODES.len(), 249);
        assert!(COUNTRY_CODES.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(Country::parse(" dk ").unwrap().code(), "DK");
        for unassigned in ["UK", "EL", "XK", "EU", "D", "DNK", ""] {
            assert_eq!(Country::parse(unassigned), Err(ValueError::UnknownCountry));
        }
    }

    #[test]
    fn the_eu_has_27_member_states_and_greece_is_gr() {
        let eu: Vec<_> = COUNTRY_CODES
            .iter()
            .filter(|code| Country::parse(code).unwrap().is_eu())
            .collect();
        assert_eq!(eu.len(), 27);
        assert!(Country::parse("GR").unwrap().is_eu());
        for outside in ["GB", "NO", "CH", "US", "IS"] {
            assert!(!Country::parse(outside).unwrap().is_eu(), "{outside}");
        }
    }

    #[test]
    fn a_time_zone_must_be_an_iana_name() {
        let paris = TimeZoneName::parse("Europe/Paris").unwrap();
        assert_eq!(paris.as_str(), "Europe/Paris");
        assert_eq!(paris.time_zone().iana_name(), Some("Europe/Paris"));
        assert_eq!(TimeZoneName::default(), paris);
        for bad in [
            "Europe/Parsi",
            "Mars/Olympus",
            "../etc/passwd",
            "+01:00",
            "",
        ] {
            assert!(TimeZoneName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_one_line_of_at_most_200_characters() {
        assert_eq!(CompanyName::parse("  Acme  ").unwrap().as_str(), "Acme");
        assert!(PersonName::parse(&"é".repeat(200)).is_ok());
        assert_eq!(
            PersonName::parse(&"é".repeat(201)),
            Err(ValueError::TooLong { max: 200 })
        );
        assert_eq!(
            CompanyName::parse("Acme\u{0}Corp"),
            Err(ValueError::ControlCharacters)
        );
        assert_eq!(PersonName::parse(" \t "), Err(ValueError::Required));
    }

    #[test]
    fn a_vat_number_is_normalised_to_uppercase_without_spaces() {
        let vat = VatNumber::parse(" fr 12 345 678 901 ").unwrap();
        assert_eq!(vat.as_str(), "FR12345678901");
        assert_eq!(vat.prefix(), "FR");
        assert!(VatNumber::parse("DK12345678").is_ok());
        for bad in ["F", "FR1", "12345678901", "FR123456789012345", "FR-1234567"] {
            assert_eq!(
                VatNumber::parse(bad).map_err(|e| e.code()),
                Err("invalid_format")
            );
        }
    }

    #[test]
    fn a_payment_method_is_a_partner_token_never_a_card_number() {
        assert!(PaymentMethodToken::parse("pm_card_visa").is_ok());
        assert!(PaymentMethodToken::parse("pm_card_chargeDeclinedInsufficientFunds").is_ok());
        for bad in ["pm_", "4242424242424242", "pm_card visa", "tok_visa"] {
            assert!(PaymentMethodToken::parse(bad).is_err(), "{bad}");
        }
        assert!(PaymentMethodToken::parse(&format!("pm_{}", "a".repeat(251))).is_err());
    }

    #[test]
    fn serde_reads_values_through_their_parsers() {
        let email: EmailAddress = serde_json::from_str("\"Bob@Example.com\"").unwrap();
        assert_eq!(
            serde_json::to_string(&email).unwrap(),
            "\"bob@example.com\""
        );
        assert!(serde_json::from_str::<EmailAddress>("\"not an email\"").is_err());
        assert!(serde_json::from_str::<Country>("\"XX\"").is_err());
        assert!(serde_json::from_str::<TimeZoneName>("\"Nowhere/Town\"").is_err());
    }
}
