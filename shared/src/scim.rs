//! The wire format of the subset of SCIM 2.0 (RFC 7643 for the schema, RFC 7644 for the
//! protocol) that the `/scim/v2/Users` endpoint speaks: parsing what identity providers
//! (Microsoft Entra ID, Google Workspace, Okta) send, and shaping what they expect back.
//!
//! Pure: no I/O, no AWS, no system time. The handler owns storage and authentication;
//! this module only turns JSON into decisions and decisions into JSON.
//!
//! Supported: create a User (`POST /Users`), read one or list them with
//! `filter=userName eq "..."` and `startIndex`/`count` paging, and `PATCH` of `active`
//! (the provisioning deactivate/reactivate). Everything else is refused with the error
//! RFC 7644 §3.12 names for it.

use serde_json::{Map, Value, json};

/// The core User schema URI (RFC 7643 §4.1).
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The ListResponse message URI (RFC 7644 §3.4.2).
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The PatchOp message URI (RFC 7644 §3.5.2).
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The Error message URI (RFC 7644 §3.12).
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The media type of SCIM requests and responses (RFC 7644 §8.1).
pub const CONTENT_TYPE: &str = "application/scim+json";

/// The page size when a list request gives no `count`.
pub const DEFAULT_COUNT: usize = 100;
/// The largest page this endpoint returns, whatever `count` asks (RFC 7644 §3.4.2.4 lets
/// a service provider return fewer results than asked).
pub const MAX_COUNT: usize = 200;

/// The `scimType` error keywords of RFC 7644 §3.12 (table 9) this module uses.
pub mod scim_type {
    /// The filter syntax was invalid, or the filter is not supported.
    pub const INVALID_FILTER: &str = "invalidFilter";
    /// One or more of the attribute values are already in use or are reserved.
    pub const UNIQUENESS: &str = "uniqueness";
    /// The request body message structure was invalid or did not conform to the schema.
    pub const INVALID_SYNTAX: &str = "invalidSyntax";
    /// The "path" attribute was invalid or malformed.
    pub const INVALID_PATH: &str = "invalidPath";
    /// A required value was missing, or the value was not compatible with the operation
    /// or attribute type.
    pub const INVALID_VALUE: &str = "invalidValue";
}

/// The detail of every refused attempt to change something other than `active`.
const ACTIVE_STAYS: &str = "active cannot be removed: set it to true or false";

/// A SCIM error (RFC 7644 §3.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    /// The HTTP status code, also repeated (as a string) in the body.
    pub status: u16,
    /// The RFC 7644 §3.12 keyword, for the 400 and 409 errors that have one.
    pub scim_type: Option<&'static str>,
    /// A human-readable explanation.
    pub detail: String,
}

impl ScimError {
    /// A 400 Bad Request with one of the [`scim_type`] keywords.
    pub fn bad_request(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status: 400,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    /// A 404 Not Found: the resource does not exist (RFC 7644 §3.12 gives it no `scimType`).
    pub fn not_found() -> Self {
        Self {
            status: 404,
            scim_type: None,
            detail: "resource not found".to_owned(),
        }
    }

    /// A 401 Unauthorized: the bearer token is missing or wrong (RFC 7644 §2).
    pub fn unauthorized() -> Self {
        Self {
            status: 401,
            scim_type: None,
            detail: "a valid SCIM bearer token is required".to_owned(),
        }
    }

    /// A 409 Conflict with `scimType` `uniqueness`: a create would duplicate a unique
    /// attribute such as `userName` (RFC 7644 §3.3).
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self {
            status: 409,
            scim_type: Some(scim_type::UNIQUENESS),
            detail: detail.into(),
        }
    }

    /// The error body of RFC 7644 §3.12: `schemas`, `status` — a JSON *string* per the RFC,
    /// not a number — `scimType` only when there is one, and `detail`.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("schemas".to_owned(), json!([ERROR_SCHEMA]));
        body.insert("status".to_owned(), json!(self.status.to_string()));
        if let Some(scim_type) = self.scim_type {
            body.insert("scimType".to_owned(), json!(scim_type));
        }
        body.insert("detail".to_owned(), json!(self.detail));
        Value::Object(body)
    }
}

impl std::fmt::Display for ScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.scim_type {
            Some(scim_type) => write!(f, "SCIM {} {}: {}", self.status, scim_type, self.detail),
            None => write!(f, "SCIM {}: {}", self.status, self.detail),
        }
    }
}

impl std::error::Error for ScimError {}

/// A user to create (POST /Users).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// `userName`, trimmed: the identity provider's unique login (RFC 7643 §4.1.1).
    pub user_name: String,
    /// The name to show: `displayName`, `name`, or the local part of `userName`.
    pub display_name: String,
    /// `active`, true unless the provider says otherwise.
    pub active: bool,
    /// `externalId`: the provider's own identifier for the user (RFC 7643 §3.1).
    pub external_id: Option<String>,
}

/// Reads the body of a `POST /Users` (RFC 7644 §3.3).
///
/// `schemas` must list the core User schema; `userName` is required (RFC 7643 §4.1.1);
/// `displayName`, `name`, `active` and `externalId` are optional. Attributes this endpoint
/// does not keep (emails, phone numbers, the enterprise extension...) are ignored, which
/// RFC 7644 §3.3 allows. Attribute names are matched case-insensitively (RFC 7643 §2.1)
/// and a `null` counts as absent (RFC 7643 §2.5).
pub fn parse_create(body: &Value) -> Result<NewUser, ScimError> {
    let object = body_object(body)?;
    require_schema(object, USER_SCHEMA)?;
    let user_name = parse_user_name(object)?;
    let display_name = parse_display_name(object, &user_name)?;
    let active = match attribute(object, "active") {
        Some(value) => parse_bool(value, "active")?,
        None => true,
    };
    let external_id = optional_string(object, "externalId")?
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    Ok(NewUser {
        user_name,
        display_name,
        active,
        external_id,
    })
}

/// What a PATCH asks of `active`, the one attribute SCIM changes here (`None`: nothing).
///
/// RFC 7644 §3.5.2: the body is a PatchOp message whose `Operations` each have an `op`
/// (`add`, `remove` or `replace`, matched case-insensitively since Entra sends `Replace`),
/// an optional `path` and a `value`. Two forms set `active`:
/// `{"op":"replace","path":"active","value":false}` (Entra, whose value may be the string
/// `"False"`) and `{"op":"replace","value":{"active":false}}` (Google, Okta). The operations
/// apply in order, so the last one decides. Operations on attributes this service does not
/// keep (names, emails, `externalId`, the enterprise extension) are accepted and leave the
/// user as stored: the directory is the source of those, and refusing them would fail every
/// provisioning cycle of Entra ID, which sends them with `active`. `active` cannot be removed.
pub fn parse_patch(body: &Value) -> Result<Option<bool>, ScimError> {
    let object = body_object(body)?;
    require_schema(object, PATCH_SCHEMA)?;
    let operations = match attribute(object, "Operations") {
        Some(Value::Array(operations)) if !operations.is_empty() => operations,
        _ => {
            return Err(ScimError::bad_request(
                scim_type::INVALID_SYNTAX,
                "Operations must be a non-empty array",
            ));
        }
    };
    let mut active = None;
    for operation in operations {
        if let Some(value) = parse_operation(operation)? {
            active = Some(value);
        }
    }
    Ok(active)
}

/// `filter=userName eq "..."` (RFC 7644 §3.4.2.2), the only filter this endpoint supports.
///
/// The attribute name and the operator are case-insensitive (RFC 7644 §3.4.2.2), separated
/// by one or more spaces; the value is a JSON string literal (so `\"` and `\\` escapes work);
/// nothing may follow it. Returns the decoded value.
pub fn parse_filter(filter: &str) -> Result<String, ScimError> {
    const EXPECTED: &str = "expected a filter of the form userName eq \"value\"";
    let filter = filter.trim();
    let (attribute, rest) = filter
        .split_once(' ')
        .ok_or_else(|| invalid_filter(EXPECTED))?;
    if !is_attribute(attribute, "userName") {
        return Err(invalid_filter("only userName can be filtered on"));
    }
    let (operator, literal) = rest
        .trim_start_matches(' ')
        .split_once(' ')
        .ok_or_else(|| invalid_filter(EXPECTED))?;
    if !operator.eq_ignore_ascii_case("eq") {
        return Err(invalid_filter("only the eq operator is supported"));
    }
    parse_string_literal(literal.trim_start_matches(' '))
}

/// A User resource as returned (RFC 7643 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserResource<'a> {
    /// The service provider's identifier (RFC 7643 §3.1), also the last segment of `location`.
    pub id: &'a str,
    pub user_name: &'a str,
    pub display_name: &'a str,
    pub active: bool,
    pub external_id: Option<&'a str>,
    pub created: jiff::Timestamp,
    pub last_modified: jiff::Timestamp,
    /// The resource's URI (RFC 7643 §3.1 `meta.location`).
    pub location: &'a str,
}

impl UserResource<'_> {
    /// The resource's JSON: the core attributes, `name.formatted` and a primary work email
    /// (the `userName`, an email address here) for providers that read them, `externalId`
    /// only when known, and `meta` with RFC 3339 timestamps (RFC 7643 §3.1).
    pub fn to_json(&self) -> Value {
        let mut resource = json!({
            "schemas": [USER_SCHEMA],
            "id": self.id,
            "userName": self.user_name,
            "displayName": self.display_name,
            "name": {"formatted": self.display_name},
            "emails": [{"value": self.user_name, "primary": true, "type": "work"}],
            "active": self.active,
            "meta": {
                "resourceType": "User",
                "created": self.created.to_string(),
                "lastModified": self.last_modified.to_string(),
                "location": self.location,
            },
        });
        if let (Some(external_id), Some(object)) = (self.external_id, resource.as_object_mut()) {
            object.insert("externalId".to_owned(), json!(external_id));
        }
        resource
    }
}

/// A ListResponse (RFC 7644 §3.4.2): `start_index` is 1-based.
///
/// `totalResults` counts every match; `itemsPerPage` the resources on this page.
pub fn list_response(resources: Vec<Value>, total: usize, start_index: usize) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// `startIndex` and `count` query parameters (RFC 7644 §3.4.2.4), as `(start_index, count)`.
///
/// `startIndex` is 1-based and defaults to 1; below 1 it "SHALL be interpreted as 1".
/// `count` defaults to [`DEFAULT_COUNT`] and is capped at [`MAX_COUNT`]; a negative count
/// "SHALL be interpreted as 0". Non-numbers are 400 `invalidValue`; integers too large for
/// the machine saturate instead of failing.
pub fn parse_paging(
    start_index: Option<&str>,
    count: Option<&str>,
) -> Result<(usize, usize), ScimError> {
    let start_index = match start_index {
        Some(raw) => {
            usize::try_from(parse_integer(raw, "startIndex")?.max(1)).unwrap_or(usize::MAX)
        }
        None => 1,
    };
    let count = match count {
        Some(raw) => {
            let count = parse_integer(raw, "count")?;
            usize::try_from(count).map_or(0, |count| count.min(MAX_COUNT))
        }
        None => DEFAULT_COUNT,
    };
    Ok((start_index, count))
}

/// The body as a JSON object, or 400 `invalidSyntax`.
fn body_object(body: &Value) -> Result<&Map<String, Value>, ScimError> {
    body.as_object().ok_or_else(|| {
        ScimError::bad_request(scim_type::INVALID_SYNTAX, "the body must be a JSON object")
    })
}

/// An attribute of `object`, its name matched case-insensitively (RFC 7643 §2.1: attribute
/// names are case-insensitive), the exact spelling first. `null` counts as absent (RFC 7643
/// §2.5: unassigned and null are equivalent).
fn attribute<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    object
        .get(name)
        .or_else(|| {
            object
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value)
        })
        .filter(|value| !value.is_null())
}

/// Checks that `schemas` is an array listing `schema` (RFC 7643 §3: every message names its
/// schemas; URIs compared case-insensitively), or 400 `invalidSyntax`.
fn require_schema(object: &Map<String, Value>, schema: &str) -> Result<(), ScimError> {
    let listed = attribute(object, "schemas")
        .and_then(Value::as_array)
        .is_some_and(|schemas| {
            schemas
                .iter()
                .filter_map(Value::as_str)
                .any(|listed| listed.eq_ignore_ascii_case(schema))
        });
    if listed {
        Ok(())
    } else {
        Err(ScimError::bad_request(
            scim_type::INVALID_SYNTAX,
            format!("schemas must be an array containing \"{schema}\""),
        ))
    }
}

/// Whether `name` is `attribute`, bare or fully qualified with the core User schema URI
/// (RFC 7644 §3.10 allows `urn:ietf:params:scim:schemas:core:2.0:User:active`).
fn is_attribute(name: &str, attribute: &str) -> bool {
    if name.eq_ignore_ascii_case(attribute) {
        return true;
    }
    let prefix_length = USER_SCHEMA.len() + 1;
    name.len() == prefix_length + attribute.len()
        && name
            .get(..USER_SCHEMA.len())
            .is_some_and(|urn| urn.eq_ignore_ascii_case(USER_SCHEMA))
        && name.get(USER_SCHEMA.len()..prefix_length) == Some(":")
        && name
            .get(prefix_length..)
            .is_some_and(|rest| rest.eq_ignore_ascii_case(attribute))
}

/// `userName`: required, a string, trimmed, non-empty and free of control characters
/// (RFC 7643 §4.1.1: "REQUIRED"), or 400 `invalidValue`.
fn parse_user_name(object: &Map<String, Value>) -> Result<String, ScimError> {
    let user_name = optional_string(object, "userName")?
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .ok_or_else(|| {
            ScimError::bad_request(
                scim_type::INVALID_VALUE,
                "userName is required and must be a non-empty string",
            )
        })?;
    Ok(user_name.to_owned())
}

/// The name to show: the first present of `displayName`, `name.formatted`, and
/// `name.givenName` + `name.familyName` (either alone will do); failing all, the part of
/// `userName` before the `@` (or the whole `userName` when that part is empty).
fn parse_display_name(object: &Map<String, Value>, user_name: &str) -> Result<String, ScimError> {
    if let Some(display_name) = non_blank(optional_string(object, "displayName")?) {
        return Ok(display_name.to_owned());
    }
    if let Some(name) = attribute(object, "name") {
        let name = name.as_object().ok_or_else(|| {
            ScimError::bad_request(scim_type::INVALID_VALUE, "name must be an object")
        })?;
        if let Some(formatted) = non_blank(optional_string(name, "formatted")?) {
            return Ok(formatted.to_owned());
        }
        let parts: Vec<&str> = [
            non_blank(optional_string(name, "givenName")?),
            non_blank(optional_string(name, "familyName")?),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !parts.is_empty() {
            return Ok(parts.join(" "));
        }
    }
    let local_part = user_name.split('@').next().unwrap_or_default();
    Ok(if local_part.is_empty() {
        user_name
    } else {
        local_part
    }
    .to_owned())
}

/// An optional string attribute: absent or null gives `None`; any other non-string, or a
/// string with control characters, is 400 `invalidValue` naming the attribute.
fn optional_string<'v>(
    object: &'v Map<String, Value>,
    name: &str,
) -> Result<Option<&'v str>, ScimError> {
    match attribute(object, name) {
        None => Ok(None),
        Some(Value::String(value)) if value.chars().any(char::is_control) => {
            Err(ScimError::bad_request(
                scim_type::INVALID_VALUE,
                format!("{name} must not contain control characters"),
            ))
        }
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(ScimError::bad_request(
            scim_type::INVALID_VALUE,
            format!("{name} must be a string"),
        )),
    }
}

/// The trimmed value, unless it is blank.
fn non_blank(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|value| !value.is_empty())
}

/// A boolean attribute: a JSON boolean (RFC 7643 §2.3.2), or the string `"true"`/`"false"`
/// in any case, which Microsoft Entra sends; anything else is 400 `invalidValue`.
fn parse_bool(value: &Value, name: &str) -> Result<bool, ScimError> {
    match value {
        Value::Bool(value) => Ok(*value),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ScimError::bad_request(
            scim_type::INVALID_VALUE,
            format!("{name} must be true or false"),
        )),
    }
}

/// One PATCH operation (RFC 7644 §3.5.2): the value it sets `active` to, if it sets it.
fn parse_operation(operation: &Value) -> Result<Option<bool>, ScimError> {
    let operation = operation.as_object().ok_or_else(|| {
        ScimError::bad_request(
            scim_type::INVALID_SYNTAX,
            "each operation must be an object",
        )
    })?;
    let op = attribute(operation, "op")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ScimError::bad_request(scim_type::INVALID_SYNTAX, "each operation needs an op")
        })?;
    let path = attribute(operation, "path");
    let about_active = matches!(path, Some(Value::String(p)) if is_attribute(p, "active"));
    if op.eq_ignore_ascii_case("remove") {
        return match path {
            Some(Value::String(_)) if !about_active => Ok(None),
            _ => Err(ScimError::bad_request(
                scim_type::INVALID_PATH,
                ACTIVE_STAYS,
            )),
        };
    }
    if !op.eq_ignore_ascii_case("add") && !op.eq_ignore_ascii_case("replace") {
        return Err(ScimError::bad_request(
            scim_type::INVALID_SYNTAX,
            "op must be add, remove or replace",
        ));
    }
    let value = attribute(operation, "value");
    match path {
        Some(Value::String(_)) if about_active => match value {
            Some(value) => parse_bool(value, "active").map(Some),
            None => Err(ScimError::bad_request(
                scim_type::INVALID_VALUE,
                "value is required to set active",
            )),
        },
        Some(Value::String(_)) => Ok(None),
        Some(_) => Err(ScimError::bad_request(
            scim_type::INVALID_PATH,
            "path must be a string",
        )),
        None => parse_value_object(value),
    }
}

/// The value of a PATCH operation without `path`: an object of attributes to set
/// (RFC 7644 §3.5.2.3); only its `active` is taken, if any.
fn parse_value_object(value: Option<&Value>) -> Result<Option<bool>, ScimError> {
    let attributes = value.and_then(Value::as_object).ok_or_else(|| {
        ScimError::bad_request(
            scim_type::INVALID_VALUE,
            "without a path, value must be an object such as {\"active\": false}",
        )
    })?;
    let mut active = None;
    for (name, value) in attributes {
        if is_attribute(name, "active") {
            active = Some(parse_bool(value, "active")?);
        }
    }
    Ok(active)
}

/// A 400 `invalidFilter` with `detail`.
fn invalid_filter(detail: &str) -> ScimError {
    ScimError::bad_request(scim_type::INVALID_FILTER, detail)
}

/// The compared value of a filter: a JSON string literal (RFC 7644 §3.4.2.2 takes values
/// from JSON), which must end the filter.
fn parse_string_literal(literal: &str) -> Result<String, ScimError> {
    if !literal.starts_with('"') {
        return Err(invalid_filter(
            "the compared value must be a double-quoted string",
        ));
    }
    let mut values = serde_json::Deserializer::from_str(literal).into_iter::<String>();
    let value = match values.next() {
        Some(Ok(value)) => value,
        _ => {
            return Err(invalid_filter(
                "the compared value is not a valid JSON string",
            ));
        }
    };
    let rest = literal.get(values.byte_offset()..).unwrap_or_default();
    if !rest.trim().is_empty() {
        return Err(invalid_filter(
            "only one comparison is supported: nothing may follow the value",
        ));
    }
    Ok(value)
}

/// A query parameter integer, with optional sign; magnitudes beyond `i64` saturate.
/// Anything else is 400 `invalidValue` naming the parameter.
fn parse_integer(raw: &str, name: &str) -> Result<i64, ScimError> {
    let raw = raw.trim();
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, raw.strip_prefix('+').unwrap_or(raw)),
    };
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(ScimError::bad_request(
            scim_type::INVALID_VALUE,
            format!("{name} must be an integer"),
        ));
    }
    // Only digits remain, so parsing fails only on overflow.
    let magnitude = digits.parse::<i64>().unwrap_or(i64::MAX);
    Ok(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    /// A create with the given attributes added to a valid minimal body.
    fn create_with(extra: Value) -> Value {
        let mut body = json!({"schemas": [USER_SCHEMA], "userName": "ada@example.fr"});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            for (key, value) in extra {
                body.insert(key.clone(), value.clone());
            }
        }
        body
    }

    /// A PatchOp message with the given operations.
    fn patch(operations: Value) -> Value {
        json!({"schemas": [PATCH_SCHEMA], "Operations": operations})
    }

    fn scim_type_of<T: std::fmt::Debug>(result: Result<T, ScimError>) -> (u16, &'static str) {
        let error = result.expect_err("expected a SCIM error");
        (error.status, error.scim_type.expect("expected a scimType"))
    }

    fn timestamp(text: &str) -> jiff::Timestamp {
        text.parse().expect("valid timestamp")
    }

    // --- errors ---------------------------------------------------------------------------

    #[test]
    fn error_body_has_the_status_as_a_string_and_the_scim_type() {
        let error = ScimError::bad_request("invalidValue", "userName is required");
        assert_eq!(error.status, 400);
        assert_eq!(
            error.body(),
            json!({
                "schemas": [ERROR_SCHEMA],
                "status": "400",
                "scimType": "invalidValue",
                "detail": "userName is required",
            })
        );
    }

    #[test]
    fn error_body_omits_scim_type_when_there_is_none() {
        assert_eq!(
            ScimError::not_found().body(),
            json!({"schemas": [ERROR_SCHEMA], "status": "404", "detail": "resource not found"})
        );
        assert_eq!(
            ScimError::unauthorized().body(),
            json!({
                "schemas": [ERROR_SCHEMA],
                "status": "401",
                "detail": "a valid SCIM bearer token is required",
            })
        );
    }

    #[test]
    fn uniqueness_is_a_409() {
        let error = ScimError::uniqueness("userName ada@example.fr is taken");
        assert_eq!(
            error,
            ScimError {
                status: 409,
                scim_type: Some("uniqueness"),
                detail: "userName ada@example.fr is taken".to_owned(),
            }
        );
        assert_eq!(error.body()["status"], json!("409"));
        assert_eq!(error.body()["scimType"], json!("uniqueness"));
    }

    #[test]
    fn error_displays_status_type_and_detail() {
        assert_eq!(
            ScimError::bad_request("invalidFilter", "bad").to_string(),
            "SCIM 400 invalidFilter: bad"
        );
        assert_eq!(
            ScimError::not_found().to_string(),
            "SCIM 404: resource not found"
        );
    }

    // --- create ---------------------------------------------------------------------------

    #[test]
    fn parses_a_microsoft_entra_create() {
        let body = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee@testuser.com",
            "active": true,
            "emails": [{
                "primary": true,
                "type": "work",
                "value": "Test_User_fd0ea19b@testuser.com",
            }],
            "meta": {"resourceType": "User"},
            "name": {
                "formatted": "Ada Lovelace",
                "familyName": "Lovelace",
                "givenName": "Ada",
            },
            "roles": [],
            ENTERPRISE_SCHEMA: {"employeeNumber": "42", "department": "Engineering"},
        });
        assert_eq!(
            parse_create(&body),
            Ok(NewUser {
                user_name: "Test_User_ab6490ee@testuser.com".to_owned(),
                display_name: "Ada Lovelace".to_owned(),
                active: true,
                external_id: Some("0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef".to_owned()),
            })
        );
    }

    #[test]
    fn parses_a_minimal_create_with_defaults() {
        let body = json!({"schemas": [USER_SCHEMA], "userName": "  ada@example.fr "});
        assert_eq!(
            parse_create(&body),
            Ok(NewUser {
                user_name: "ada@example.fr".to_owned(),
                display_name: "ada".to_owned(),
                active: true,
                external_id: None,
            })
        );
    }

    #[test]
    fn display_name_wins_over_name() {
        let body = create_with(json!({
            "displayName": " Countess of Lovelace ",
            "name": {"formatted": "Ada Lovelace"},
        }));
        assert_eq!(
            parse_create(&body).map(|user| user.display_name),
            Ok("Countess of Lovelace".to_owned())
        );
    }

    #[test]
    fn blank_display_name_falls_back_to_name_formatted() {
        let body = create_with(json!({"displayName": "  ", "name": {"formatted": "Ada L."}}));
        assert_eq!(
            parse_create(&body).map(|user| user.display_name),
            Ok("Ada L.".to_owned())
        );
    }

    #[test]
    fn display_name_from_given_and_family_names() {
        let both = create_with(json!({"name": {"givenName": "Ada", "familyName": "Lovelace"}}));
        let given = create_with(json!({"name": {"givenName": "Ada"}}));
        let family = create_with(json!({"name": {"familyName": "Lovelace", "givenName": ""}}));
        assert_eq!(
            parse_create(&both).map(|user| user.display_name),
            Ok("Ada Lovelace".to_owned())
        );
        assert_eq!(
            parse_create(&given).map(|user| user.display_name),
            Ok("Ada".to_owned())
        );
        assert_eq!(
            parse_create(&family).map(|user| user.display_name),
            Ok("Lovelace".to_owned())
        );
    }

    #[test]
    fn display_name_falls_back_to_the_user_name() {
        let empty_name = create_with(json!({"name": {}}));
        let no_at = json!({"schemas": [USER_SCHEMA], "userName": "ada"});
        let leading_at = json!({"schemas": [USER_SCHEMA], "userName": "@ada"});
        assert_eq!(
            parse_create(&empty_name).map(|user| user.display_name),
            Ok("ada".to_owned())
        );
        assert_eq!(
            parse_create(&no_at).map(|user| user.display_name),
            Ok("ada".to_owned())
        );
        assert_eq!(
            parse_create(&leading_at).map(|user| user.display_name),
            Ok("@ada".to_owned())
        );
    }

    #[test]
    fn active_accepts_entra_strings_in_any_case() {
        for (value, expected) in [
            (json!(false), false),
            (json!("False"), false),
            (json!("FALSE"), false),
            (json!("True"), true),
            (json!("true"), true),
            (json!(null), true),
        ] {
            let body = create_with(json!({"active": value}));
            assert_eq!(
                parse_create(&body).map(|user| user.active),
                Ok(expected),
                "{value}"
            );
        }
    }

    #[test]
    fn active_refuses_other_values() {
        for value in [json!("yes"), json!(1), json!(""), json!(["true"])] {
            let error = parse_create(&create_with(json!({"active": value})));
            assert_eq!(
                error,
                Err(ScimError::bad_request(
                    "invalidValue",
                    "active must be true or false"
                ))
            );
        }
    }

    #[test]
    fn create_requires_the_user_schema() {
        let missing = json!({"userName": "ada@example.fr"});
        let other = json!({"schemas": [ENTERPRISE_SCHEMA], "userName": "ada@example.fr"});
        let not_array = json!({"schemas": USER_SCHEMA, "userName": "ada@example.fr"});
        for body in [missing, other, not_array] {
            assert_eq!(scim_type_of(parse_create(&body)), (400, "invalidSyntax"));
        }
    }

    #[test]
    fn create_body_must_be_an_object() {
        assert_eq!(
            parse_create(&json!([USER_SCHEMA])),
            Err(ScimError::bad_request(
                "invalidSyntax",
                "the body must be a JSON object"
            ))
        );
    }

    #[test]
    fn user_name_is_required() {
        for body in [
            json!({"schemas": [USER_SCHEMA]}),
            json!({"schemas": [USER_SCHEMA], "userName": "   "}),
            json!({"schemas": [USER_SCHEMA], "userName": null}),
        ] {
            let error = parse_create(&body).expect_err("userName is required");
            assert_eq!((error.status, error.scim_type), (400, Some("invalidValue")));
            assert!(error.detail.contains("userName"), "{}", error.detail);
        }
    }

    #[test]
    fn user_name_must_be_a_string_without_control_characters() {
        let number = json!({"schemas": [USER_SCHEMA], "userName": 42});
        let control = json!({"schemas": [USER_SCHEMA], "userName": "ada\u{0}@example.fr"});
        assert_eq!(
            parse_create(&number),
            Err(ScimError::bad_request(
                "invalidValue",
                "userName must be a string"
            ))
        );
        assert_eq!(
            parse_create(&control),
            Err(ScimError::bad_request(
                "invalidValue",
                "userName must not contain control characters"
            ))
        );
    }

    #[test]
    fn known_attributes_of_the_wrong_type_are_refused() {
        let external_id = create_with(json!({"externalId": 7}));
        let name = create_with(json!({"name": "Ada"}));
        let display_name = create_with(json!({"displayName": "Ada\nLovelace"}));
        assert_eq!(
            scim_type_of(parse_create(&external_id)),
            (400, "invalidValue")
        );
        assert_eq!(scim_type_of(parse_create(&name)), (400, "invalidValue"));
        assert_eq!(
            scim_type_of(parse_create(&display_name)),
            (400, "invalidValue")
        );
    }

    #[test]
    fn attribute_names_are_case_insensitive() {
        let body = json!({
            "Schemas": [USER_SCHEMA.to_uppercase()],
            "USERNAME": "ada@example.fr",
            "DisplayName": "Ada",
            "ACTIVE": "false",
            "externalID": "e-1",
        });
        assert_eq!(
            parse_create(&body),
            Ok(NewUser {
                user_name: "ada@example.fr".to_owned(),
                display_name: "Ada".to_owned(),
                active: false,
                external_id: Some("e-1".to_owned()),
            })
        );
    }

    #[test]
    fn empty_external_id_is_none() {
        let body = create_with(json!({"externalId": ""}));
        assert_eq!(parse_create(&body).map(|user| user.external_id), Ok(None));
    }

    // --- patch ----------------------------------------------------------------------------

    #[test]
    fn parses_an_entra_deactivation() {
        let body = json!({
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
        });
        assert_eq!(parse_patch(&body), Ok(Some(false)));
    }

    #[test]
    fn parses_an_entra_add_with_a_true_string() {
        let body = patch(json!([{"op": "Add", "path": "Active", "value": "True"}]));
        assert_eq!(parse_patch(&body), Ok(Some(true)));
    }

    #[test]
    fn parses_a_google_or_okta_value_object() {
        let activate = patch(json!([{"op": "replace", "value": {"active": true}}]));
        let deactivate = patch(json!([{"op": "replace", "value": {"active": false}}]));
        assert_eq!(parse_patch(&activate), Ok(Some(true)));
        assert_eq!(parse_patch(&deactivate), Ok(Some(false)));
    }

    #[test]
    fn accepts_the_fully_qualified_active_path() {
        let path = format!("{USER_SCHEMA}:active");
        let body = patch(json!([{"op": "replace", "path": path, "value": false}]));
        assert_eq!(parse_patch(&body), Ok(Some(false)));
    }

    #[test]
    fn the_last_operation_wins() {
        let body = patch(json!([
            {"op": "replace", "path": "active", "value": false},
            {"op": "replace", "value": {"active": "true"}},
            {"op": "replace", "path": "active", "value": false},
        ]));
        assert_eq!(parse_patch(&body), Ok(Some(false)));
    }

    #[test]
    fn a_patch_of_display_name_alone_changes_nothing() {
        let body = patch(json!([{"op": "Replace", "path": "displayName", "value": "Ada"}]));
        assert_eq!(parse_patch(&body), Ok(None));
    }

    #[test]
    fn active_is_taken_among_operations_on_other_attributes() {
        let body = patch(json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "name.givenName", "value": "Ada"},
            {"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"},
        ]));
        assert_eq!(parse_patch(&body), Ok(Some(false)));
    }

    #[test]
    fn active_cannot_be_removed() {
        for operation in [
            json!({"op": "Remove", "path": "active"}),
            json!({"op": "remove"}),
        ] {
            assert_eq!(
                parse_patch(&patch(json!([operation]))),
                Err(ScimError::bad_request(
                    "invalidPath",
                    "active cannot be removed: set it to true or false"
                ))
            );
        }
    }

    #[test]
    fn a_value_object_sets_active_and_leaves_the_rest() {
        let body = patch(json!([
            {"op": "replace", "value": {"active": false, "displayName": "Ada"}}
        ]));
        assert_eq!(parse_patch(&body), Ok(Some(false)));
        let body = patch(json!([{"op": "replace", "value": {"displayName": "Ada"}}]));
        assert_eq!(parse_patch(&body), Ok(None));
    }

    #[test]
    fn an_empty_or_missing_value_is_refused() {
        for operation in [
            json!({"op": "replace"}),
            json!({"op": "replace", "value": false}),
            json!({"op": "replace", "path": "active"}),
            json!({"op": "replace", "path": "active", "value": "no"}),
            json!({"op": "replace", "value": {"active": 0}}),
            json!({"op": "replace", "value": {"active": null, "x": 1}}),
        ] {
            assert_eq!(
                scim_type_of(parse_patch(&patch(json!([operation])))),
                (400, "invalidValue")
            );
        }
    }

    #[test]
    fn a_malformed_patch_message_is_invalid_syntax() {
        for body in [
            json!({"Operations": [{"op": "replace", "path": "active", "value": false}]}),
            json!({"schemas": [USER_SCHEMA], "Operations": [{"op": "replace", "value": {"active": false}}]}),
            patch(json!([])),
            json!({"schemas": [PATCH_SCHEMA]}),
            patch(json!({"op": "replace"})),
            patch(json!(["replace"])),
            patch(json!([{"path": "active", "value": false}])),
            patch(json!([{"op": "move", "path": "active", "value": false}])),
            json!("replace"),
        ] {
            assert_eq!(
                scim_type_of(parse_patch(&body)),
                (400, "invalidSyntax"),
                "{body}"
            );
        }
    }

    // --- filter ---------------------------------------------------------------------------

    #[test]
    fn parses_a_user_name_filter() {
        assert_eq!(
            parse_filter("userName eq \"a@b.fr\""),
            Ok("a@b.fr".to_owned())
        );
    }

    #[test]
    fn filter_names_and_operator_are_case_insensitive_and_escapes_decode() {
        assert_eq!(parse_filter(r#"USERNAME EQ "x\"y""#), Ok("x\"y".to_owned()));
        assert_eq!(parse_filter(r#"username Eq "a\\b""#), Ok("a\\b".to_owned()));
    }

    #[test]
    fn filter_tolerates_extra_spaces_around_and_between() {
        assert_eq!(
            parse_filter("  userName   eq    \"a b\"  "),
            Ok("a b".to_owned())
        );
        let qualified = format!("{USER_SCHEMA}:userName eq \"a@b.fr\"");
        assert_eq!(parse_filter(&qualified), Ok("a@b.fr".to_owned()));
    }

    #[test]
    fn filter_refuses_other_operators() {
        assert_eq!(
            parse_filter("userName co \"a\""),
            Err(ScimError::bad_request(
                "invalidFilter",
                "only the eq operator is supported"
            ))
        );
    }

    #[test]
    fn filter_refuses_other_attributes() {
        assert_eq!(
            parse_filter("emails eq \"a\""),
            Err(ScimError::bad_request(
                "invalidFilter",
                "only userName can be filtered on"
            ))
        );
    }

    #[test]
    fn filter_refuses_anything_after_the_value() {
        assert_eq!(
            parse_filter("userName eq \"a\" and active eq true"),
            Err(ScimError::bad_request(
                "invalidFilter",
                "only one comparison is supported: nothing may follow the value"
            ))
        );
    }

    #[test]
    fn filter_refuses_unquoted_and_malformed_values() {
        assert_eq!(
            parse_filter("userName eq a@b.fr"),
            Err(ScimError::bad_request(
                "invalidFilter",
                "the compared value must be a double-quoted string"
            ))
        );
        assert_eq!(
            parse_filter("userName eq \"a@b.fr"),
            Err(ScimError::bad_request(
                "invalidFilter",
                "the compared value is not a valid JSON string"
            ))
        );
    }

    #[test]
    fn filter_refuses_incomplete_filters() {
        for filter in [
            "",
            "userName",
            "userName eq",
            "userName eq ",
            "userName eq\"a\"",
        ] {
            assert_eq!(
                scim_type_of(parse_filter(filter)),
                (400, "invalidFilter"),
                "{filter:?}"
            );
        }
    }

    // --- resources ------------------------------------------------------------------------

    #[test]
    fn user_resource_json() {
        let resource = UserResource {
            id: "01JABCDEF",
            user_name: "ada@example.fr",
            display_name: "Ada Lovelace",
            active: false,
            external_id: Some("e-1"),
            created: timestamp("2025-01-02T03:04:05Z"),
            last_modified: timestamp("2025-02-03T04:05:06Z"),
            location: "https://api.example.fr/scim/v2/Users/01JABCDEF",
        };
        assert_eq!(
            resource.to_json(),
            json!({
                "schemas": [USER_SCHEMA],
                "id": "01JABCDEF",
                "userName": "ada@example.fr",
                "displayName": "Ada Lovelace",
                "name": {"formatted": "Ada Lovelace"},
                "emails": [{"value": "ada@example.fr", "primary": true, "type": "work"}],
                "active": false,
                "externalId": "e-1",
                "meta": {
                    "resourceType": "User",
                    "created": "2025-01-02T03:04:05Z",
                    "lastModified": "2025-02-03T04:05:06Z",
                    "location": "https://api.example.fr/scim/v2/Users/01JABCDEF",
                },
            })
        );
    }

    #[test]
    fn user_resource_omits_an_unknown_external_id() {
        let resource = UserResource {
            id: "u",
            user_name: "ada@example.fr",
            display_name: "Ada",
            active: true,
            external_id: None,
            created: timestamp("2025-01-02T03:04:05Z"),
            last_modified: timestamp("2025-01-02T03:04:05Z"),
            location: "/scim/v2/Users/u",
        };
        let json = resource.to_json();
        assert_eq!(json.get("externalId"), None);
        assert_eq!(json["active"], json!(true));
        assert_eq!(json["meta"]["lastModified"], json!("2025-01-02T03:04:05Z"));
    }

    #[test]
    fn list_response_shape() {
        let resources = vec![json!({"id": "a"}), json!({"id": "b"})];
        assert_eq!(
            list_response(resources, 7, 3),
            json!({
                "schemas": [LIST_SCHEMA],
                "totalResults": 7,
                "startIndex": 3,
                "itemsPerPage": 2,
                "Resources": [{"id": "a"}, {"id": "b"}],
            })
        );
    }

    #[test]
    fn empty_list_response_keeps_an_empty_resources_array() {
        assert_eq!(
            list_response(Vec::new(), 0, 1),
            json!({
                "schemas": [LIST_SCHEMA],
                "totalResults": 0,
                "startIndex": 1,
                "itemsPerPage": 0,
                "Resources": [],
            })
        );
    }

    // --- paging ---------------------------------------------------------------------------

    #[test]
    fn paging_defaults() {
        assert_eq!(parse_paging(None, None), Ok((1, 100)));
    }

    #[test]
    fn paging_takes_the_given_values() {
        assert_eq!(parse_paging(Some("11"), Some("10")), Ok((11, 10)));
        assert_eq!(parse_paging(Some("+2"), Some(" 0 ")), Ok((2, 0)));
    }

    #[test]
    fn start_index_below_one_is_one() {
        assert_eq!(parse_paging(Some("0"), None), Ok((1, 100)));
        assert_eq!(parse_paging(Some("-5"), None), Ok((1, 100)));
    }

    #[test]
    fn count_is_bounded() {
        assert_eq!(parse_paging(None, Some("200")), Ok((1, 200)));
        assert_eq!(parse_paging(None, Some("201")), Ok((1, 200)));
        assert_eq!(parse_paging(None, Some("-1")), Ok((1, 0)));
    }

    #[test]
    fn huge_paging_values_saturate() {
        assert_eq!(
            parse_paging(
                Some("99999999999999999999999"),
                Some("99999999999999999999999")
            ),
            Ok((usize::try_from(i64::MAX).expect("64-bit"), 200))
        );
        assert_eq!(
            parse_paging(
                Some("-99999999999999999999999"),
                Some("-99999999999999999999999")
            ),
            Ok((1, 0))
        );
    }

    #[test]
    fn paging_refuses_non_numbers() {
        assert_eq!(
            parse_paging(Some("first"), None),
            Err(ScimError::bad_request(
                "invalidValue",
                "startIndex must be an integer"
            ))
        );
        for count in ["ten", "", "1.5", "-", "0x10"] {
            assert_eq!(
                parse_paging(None, Some(count)),
                Err(ScimError::bad_request(
                    "invalidValue",
                    "count must be an integer"
                )),
                "{count:?}"
            );
        }
    }
}
