//! Field-level validation errors: what a handler collects while parsing a request, and
//! reports all at once (as a JSON array in the problem+json body) instead of the first only.

use std::fmt;

use serde::Serialize;

use crate::values::ValueError;

/// The error codes clients can rely on, one per kind of bad input.
pub mod codes {
    pub const REQUIRED: &str = "required";
    pub const INVALID_EMAIL: &str = "invalid_email";
    pub const TOO_LONG: &str = "too_long";
    pub const CONTROL_CHARACTERS: &str = "control_characters";
    pub const UNKNOWN_LANGUAGE: &str = "unknown_language";
    pub const UNKNOWN_COUNTRY: &str = "unknown_country";
    pub const UNKNOWN_TIMEZONE: &str = "unknown_timezone";
    pub const INVALID_FORMAT: &str = "invalid_format";
    pub const OUT_OF_RANGE: &str = "out_of_range";
    pub const UNKNOWN_BRIK: &str = "unknown_brik";
    pub const CARD_NUMBER_NOT_ACCEPTED: &str = "card_number_not_accepted";
}

/// One bad field: its path in the request (`admin.email`, `users[2].briks`), a code from
/// [`codes`] and a message for humans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

impl ValueError {
    /// This error, reported against the request field `field`.
    pub fn at(&self, field: impl Into<String>) -> FieldError {
        FieldError::new(field, self.code(), self.to_string())
    }
}

/// Names the field a value came from: `EmailAddress::parse(raw).field("admin.email")?`.
pub trait ParseField<T> {
    fn field(self, field: &str) -> Result<T, FieldError>;
}

impl<T> ParseField<T> for Result<T, ValueError> {
    fn field(self, field: &str) -> Result<T, FieldError> {
        self.map_err(|error| error.at(field))
    }
}

/// Every bad field of one request. Serialises as a JSON array of [`FieldError`]s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ValidationErrors(Vec<FieldError>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(
        &mut self,
        field: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) {
        self.0.push(FieldError::new(field, code, message));
    }

    pub fn push_error(&mut self, error: FieldError) {
        self.0.push(error);
    }

    /// Keeps the parsed value, or records why `field` is bad and gives `None`, so a handler
    /// can parse every field before answering.
    pub fn check<T>(&mut self, field: &str, parsed: Result<T, ValueError>) -> Option<T> {
        parsed
            .map_err(|error| self.push_error(error.at(field)))
            .ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn as_slice(&self) -> &[FieldError] {
        &self.0
    }

    pub fn iter(&self) -> std::slice::Iter<'_, FieldError> {
        self.0.iter()
    }

    /// `Ok` when no field was bad.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid input")?;
        for (i, error) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl From<FieldError> for ValidationErrors {
    fn from(error: FieldError) -> Self {
        Self(vec![error])
    }
}

impl FromIterator<FieldError> for ValidationErrors {
    fn from_iter<I: IntoIterator<Item = FieldError>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl Extend<FieldError> for ValidationErrors {
    fn extend<I: IntoIterator<Item = FieldError>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl IntoIterator for ValidationErrors {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ValidationErrors {
    type Item = &'a FieldError;
    type IntoIter = std::slice::Iter<'a, FieldError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{EmailAddress, Language};

    #[test]
    fn every_bad_field_is_reported_not_just_the_first() {
        let mut errors = ValidationErrors::new();
        let email = errors.check("admin.email", EmailAddress::parse("bob"));
        let language = errors.check("language", Language::parse("de"));
        let ok = errors.check("other_language", Language::parse("fr"));
        assert!(email.is_none() && language.is_none());
        assert_eq!(ok, Some(Language::Fr));
        let codes: Vec<_> = errors.iter().map(|e| e.code).collect();
        assert_eq!(codes, ["invalid_email", "unknown_language"]);
        assert!(errors.into_result().is_err());
    }

    #[test]
    fn no_bad_field_means_ok() {
        assert_eq!(ValidationErrors::new().into_result(), Ok(()));
    }

    #[test]
    fn errors_serialise_as_an_array_of_field_code_message() {
        let mut errors = ValidationErrors::new();
        errors.push("name", codes::TOO_LONG, "must be at most 200 characters");
        let json = serde_json::to_value(&errors).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{
                "field": "name",
                "code": "too_long",
                "message": "must be at most 200 characters"
            }])
        );
    }

    #[test]
    fn a_parse_error_names_its_field() {
        let error = EmailAddress::parse("bob").field("admin.email").unwrap_err();
        assert_eq!(error.field, "admin.email");
        assert_eq!(error.code, "invalid_email");
        assert_eq!(
            error.to_string(),
            "admin.email: must be a valid email address"
        );
    }
}
