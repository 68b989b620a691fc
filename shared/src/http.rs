//! The HTTP edge every function shares: who is calling (the claims API Gateway's JWT
//! authorizer verified), reading a JSON body safely, and writing JSON or problem+json answers.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::card_number::find_card_number;
use crate::error::Error;
use crate::validation::ValidationErrors;

/// Request bodies over this size are refused with 413 (api.md).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The caller, from the verified ID token.
#[derive(Debug, Clone)]
pub struct Identity {
    pub sub: String,
    pub account_id: Option<String>,
    /// The Softbrik user id (`custom:user_id`); staff have none.
    pub user_id: Option<String>,
    pub groups: Vec<String>,
    /// When the token was issued (`iat`, seconds since the epoch).
    pub issued_at: Option<i64>,
    /// The route called, as template.yaml writes it (`GET /account`).
    pub route: String,
}

impl Identity {
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// Who made a change, as the history shows it: the Softbrik user, else the Cognito sub.
    pub fn actor(&self) -> String {
        match &self.user_id {
            Some(id) => format!("user:{id}"),
            None => format!("cognito:{}", self.sub),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.in_group("admin")
    }

    /// The caller's account; platform staff have none, so account routes are not theirs.
    pub fn account(&self) -> Result<&str, Error> {
        self.account_id.as_deref().ok_or(Error::NotFound)
    }

    /// Only an account's admin may go on.
    pub fn require_admin(&self) -> Result<&str, Error> {
        let account = self.account()?;
        if self.is_admin() {
            Ok(account)
        } else {
            Err(Error::Forbidden)
        }
    }
}

/// The claims of the caller's token, as the JWT authorizer passed them.
pub fn identity(req: &Request) -> Result<Identity, Error> {
    let claims = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| jwt.claims.clone()),
        _ => None,
    }
    .ok_or(Error::Unauthenticated)?;
    let sub = claims.get("sub").cloned().ok_or(Error::Unauthenticated)?;
    Ok(Identity {
        sub,
        account_id: claims
            .get("custom:account_id")
            .filter(|a| !a.is_empty())
            .cloned(),
        user_id: claims
            .get("custom:user_id")
            .filter(|u| !u.is_empty())
            .cloned(),
        groups: claims
            .get("cognito:groups")
            .map(|g| parse_groups(g))
            .unwrap_or_default(),
        issued_at: claims.get("iat").and_then(|i| i.parse().ok()),
        route: crate::edge::route_key(req).to_string(),
    })
}

/// The IAM principal API Gateway verified the request's SigV4 signature for (a route with
/// `Authorizer: AWS_IAM`), if it is a session of the role `role` (the Brik modules'): a
/// request with no IAM authorization (a user's token, nothing), or signed by any other
/// principal the account lets invoke the API, is refused, whatever route let it in.
pub fn iam_caller(req: &Request, role: Option<&str>) -> Result<String, Error> {
    let arn = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .filter(|a| a.jwt.is_none())
            .and_then(|a| a.iam.as_ref())
            .and_then(|iam| iam.user_arn.clone()),
        _ => None,
    }
    .ok_or(Error::Forbidden)?;
    let role = role.ok_or(Error::Forbidden)?;
    // arn:aws:sts::<account>:assumed-role/<role>/<session>
    let session_of = arn
        .split_once(":assumed-role/")
        .and_then(|(prefix, rest)| prefix.starts_with("arn:aws:sts::").then_some(rest))
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(name, session)| name == role && !session.is_empty());
    if !session_of {
        return Err(Error::Forbidden);
    }
    Ok(arn)
}

/// The caller, admitted: the verified token's claims, and, for a user of an account, the
/// user as stored now. Access ends when it is cut (security.md): a user removed at once (no
/// item left), made inactive or whose access was revoked, or whose token was issued before
/// the instant their access was last cut, is refused (401) on the next request, though
/// Cognito's ID token stays valid until it expires. A closed account's users have no item
/// left. One consistent GetItem per request; platform staff (no account) are Cognito's alone.
pub async fn caller(app: &crate::app::App, req: &Request) -> Result<Identity, Error> {
    let caller = identity(req)?;
    admit_by_read(app, &caller).await?;
    Ok(caller)
}

/// [`admit`], the caller's user item and account item read on their own, together (one
/// consistent BatchGetItem).
pub async fn admit_by_read(app: &crate::app::App, caller: &Identity) -> Result<(), Error> {
    if let (Some(account_id), Some(user_id)) = (&caller.account_id, &caller.user_id) {
        let pk = crate::store::account_pk(account_id);
        let user_sk = crate::store::user_sk(user_id);
        let items = app
            .store
            .get_many(&[(&pk, &user_sk), (&pk, crate::store::ACCOUNT_SK)])
            .await?;
        let (mut user, mut account) = (None, None);
        for item in items {
            match item.get("sk").and_then(|sk| sk.as_s().ok()) {
                Some(sk) if *sk == user_sk => user = Some(crate::store::from_item(item)?),
                Some(sk) if sk == crate::store::ACCOUNT_SK => {
                    account = Some(crate::store::from_item(item)?)
                }
                _ => {}
            }
        }
        admit(caller, user.as_ref(), account.as_ref())?;
    }
    Ok(())
}

/// What the admin of a suspended account may still do: exactly what is needed to pay
/// (billing.md "Payment": sign-in, the account, the invoices, a new card).
pub const WHILE_SUSPENDED: [&str; 6] = [
    "GET /account",
    "GET /account/invoices",
    "GET /account/invoices/{invoice_id}",
    "GET /account/invoices/{invoice_id}/pdf",
    "POST /account/invoices/{invoice_id}/send",
    "PUT /account/payment-method",
];

/// Whether the caller's token still speaks for `user`, the caller's user item as stored (read
/// by [`caller`], or among the account's records a route reads anyway): none left, or access
/// cut since the token was issued, is 401. And whether the caller's account, as stored,
/// lets them in: a suspended account's members are refused (403 `account_suspended`), and
/// its admin everywhere but [`WHILE_SUSPENDED`]; payment restores every access at once.
pub fn admit(
    caller: &Identity,
    user: Option<&crate::store::UserItem>,
    account: Option<&crate::store::AccountItem>,
) -> Result<(), Error> {
    if !user.is_some_and(|u| u.admits(caller.issued_at)) {
        tracing::warn!("a token of a user whose access was cut: refused");
        return Err(Error::Unauthenticated);
    }
    let suspended = account.is_some_and(|a| a.status == crate::account::AccountStatus::Suspended);
    if suspended && !(caller.is_admin() && WHILE_SUSPENDED.contains(&caller.route.as_str())) {
        return Err(Error::Refused(crate::refusal::Refusal::AccountSuspended));
    }
    Ok(())
}

/// API Gateway flattens array claims to `"[admin member]"`; accept JSON arrays and commas too.
fn parse_groups(raw: &str) -> Vec<String> {
    raw.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split([' ', ','])
        .map(|g| g.trim().trim_matches('"'))
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect()
}

/// The client's address as API Gateway saw it (`requestContext.http.sourceIp`).
pub fn client_address(req: &Request) -> Option<String> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    }
}

pub fn request_id(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

pub fn path_param(req: &Request, name: &str) -> Result<String, Error> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_string)
        .ok_or(Error::NotFound)
}

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// Reads a JSON body: size limit, valid JSON, no card number anywhere, then the typed form
/// (unknown fields refused where the type says so). Returns the raw value too, for
/// idempotency fingerprints.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<(T, serde_json::Value), Error> {
    let bytes = body_bytes(req);
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge);
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::MalformedJson(format!("line {}, column {}", e.line(), e.column())))?;
    if let Some(field) = find_card_number(&value) {
        return Err(Error::CardNumberNotAccepted { field });
    }
    Ok((typed(value.clone())?, value))
}

/// A JSON value (a body already read) in its typed form, refused as [`json_body`] refuses
/// a body of the wrong shape.
pub fn typed<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(type_error)
}

fn type_error(e: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = e.path().to_string();
    let message = e.inner().to_string();
    let (field, code) = if let Some(name) = backticked(&message, "missing field") {
        (join(&path, &name), "required")
    } else if backticked(&message, "unknown field").is_some() {
        // The path already ends with the unknown field's name.
        (path, "unknown_field")
    } else {
        (path, "invalid_type")
    };
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or_default()
        .to_string();
    let mut errors = ValidationErrors::new();
    errors.push(field, code, message);
    Error::Validation(errors)
}

fn backticked(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    let start = rest.find('`')? + 1;
    let end = rest[start..].find('`')? + start;
    Some(rest[start..end].to_string())
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() || path == "." {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

pub fn json<T: Serialize>(status: u16, body: &T) -> Response<Body> {
    json_as(status, "application/json", body)
}

/// A JSON answer of another media type (SCIM's `application/scim+json`); `null` sends no body.
pub fn json_as<T: Serialize>(status: u16, content_type: &str, body: &T) -> Response<Body> {
    match serde_json::to_value(body) {
        Ok(serde_json::Value::Null) => respond(status, content_type, String::new()),
        Ok(value) => respond(status, content_type, value.to_string()),
        Err(_) => respond(status, content_type, "{}".into()),
    }
}

/// A file (200): binary, so API Gateway sends it base64-decoded; `inline` with its name.
pub fn file(content_type: &str, filename: &str, bytes: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::Binary(bytes));
    let headers = response.headers_mut();
    if let Ok(value) = lambda_http::http::HeaderValue::from_str(content_type) {
        headers.insert("content-type", value);
    }
    let disposition = format!("inline; filename=\"{}\"", filename.replace(['"', '\\'], ""));
    if let Ok(value) = lambda_http::http::HeaderValue::from_str(&disposition) {
        headers.insert("content-disposition", value);
    }
    response
}

/// The problem+json answer for an error; what the client must not see goes to the log.
pub fn problem(error: &Error) -> Response<Body> {
    match error {
        Error::Internal(detail) => tracing::error!(detail = %detail, "request failed"),
        Error::Unavailable(detail) | Error::InDoubt(detail) => {
            tracing::warn!(detail = %detail, "dependency unavailable")
        }
        other => tracing::info!(
            code = other.code(),
            status = other.status(),
            "request refused"
        ),
    }
    let text = serde_json::to_string(&error.problem()).unwrap_or_else(|_| "{}".into());
    let mut response = respond(error.status(), "application/problem+json", text);
    let retry_after = match error {
        Error::Throttled { retry_after } => Some(retry_after.max(&1).to_string()),
        _ if error.status() == 503 => Some("5".to_string()),
        _ => None,
    };
    if let Some(value) = retry_after.and_then(|s| lambda_http::http::HeaderValue::from_str(&s).ok())
    {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

fn respond(status: u16, content_type: &str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = lambda_http::http::StatusCode::from_u16(status)
        .unwrap_or(lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = lambda_http::http::HeaderValue::from_str(content_type) {
        response.headers_mut().insert("content-type", value);
    }
    response
}

/// An HTTP API event received as plain JSON (by a function that also takes other events):
/// the request, as `lambda_http` would have handed it over.
pub fn gateway_request(event: serde_json::Value) -> Result<Request, Error> {
    let request: lambda_http::request::LambdaRequest = serde_json::from_value(event)
        .map_err(|e| Error::internal(format!("not an HTTP API event: {e}")))?;
    Ok(Request::from(request))
}

/// The HTTP API (payload 2.0) answer for a response, as `lambda_http` would have sent it.
pub fn gateway_response(response: Response<Body>) -> serde_json::Value {
    use base64::Engine;
    let headers: serde_json::Map<String, serde_json::Value> = response
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.into())))
        .collect();
    let (body, encoded) = match response.body() {
        Body::Empty => (String::new(), false),
        Body::Text(t) => (t.clone(), false),
        Body::Binary(b) => (base64::engine::general_purpose::STANDARD.encode(b), true),
        _ => (String::new(), false),
    };
    serde_json::json!({
        "statusCode": response.status().as_u16(),
        "headers": headers,
        "body": body,
        "isBase64Encoded": encoded,
    })
}

/// Runs a change of `account_id` under the request's `Idempotency-Key`, for the routes whose
/// change does not record its answer itself ([`crate::idempotency::guard`]; the others record
/// it in their own transaction, `softbrik_app::idempotency::once`): the same key and the same
/// method, path and body replay the first answer. The caller is authorised before (security.md:
/// a member who sends an admin's key gets 403, never the admin's recorded answer), so
/// `account_id` is the caller's own. Every such route of every function goes through here.
pub async fn idempotent(
    app: &crate::app::App,
    req: &Request,
    account_id: &str,
    work: impl AsyncFnOnce() -> Result<(u16, serde_json::Value), Error>,
) -> Result<(u16, serde_json::Value), Error> {
    let key = crate::idempotency::parse_key(header(req, "idempotency-key"))?;
    crate::idempotency::guard(app, account_id, key.as_deref(), fingerprint(req), work).await
}

/// For a route that takes no fields: no body, or `{}` (anything else is 400/422).
pub fn no_fields(req: &Request) -> Result<(), Error> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NoFields {}
    if !String::from_utf8_lossy(body_bytes(req)).trim().is_empty() {
        let _: (NoFields, _) = json_body(req)?;
    }
    Ok(())
}

/// What makes two requests the same for `Idempotency-Key`: method, path and body.
pub fn fingerprint(req: &Request) -> serde_json::Value {
    serde_json::json!({
        "route": format!("{} {}", req.method(), req.uri().path()),
        "body": String::from_utf8_lossy(body_bytes(req)),
    })
}

/// Turns a handler's result into the answer.
pub fn answer(result: Result<Response<Body>, Error>) -> Response<Body> {
    result.unwrap_or_else(|e| problem(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_come_as_api_gateway_flattens_them() {
        assert_eq!(parse_groups("[admin]"), vec!["admin"]);
        assert_eq!(parse_groups("[admin member]"), vec!["admin", "member"]);
        assert_eq!(parse_groups("[\"support\"]"), vec!["support"]);
        assert_eq!(parse_groups("admin,member"), vec!["admin", "member"]);
    }

    #[test]
    fn a_missing_field_is_named_with_its_path() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Admin {
            email: String,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body {
            admin: Admin,
        }
        let value = serde_json::json!({"admin": {}});
        let err = serde_path_to_error::deserialize::<_, Body>(value).unwrap_err();
        let Error::Validation(errors) = type_error(err) else {
            panic!("not a validation error")
        };
        assert_eq!(errors.as_slice()[0].field, "admin.email");
        assert_eq!(errors.as_slice()[0].code, "required");
    }
}
