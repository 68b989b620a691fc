//! Signing a company up (`POST /signup`): the account, its admin and the Briks the admin holds,
//! the first period charged at once, all or nothing. Here: the body's checks
//! ([`SignupBody::parse`]) and the AWS adapter of the signup port; the use case is
//! `softbrik_app::signup`, what it starts with `softbrik_domain::signup`.
//!
//! Order of the steps, chosen so that a failure at any step leaves nothing behind:
//! checks that write nothing (input, email free, card accepted) → the admin's sign-in →
//! the charge (its key derived from the invoice id) → one transaction with every item →
//! the invoice email. A failure after the sign-in or the charge undoes them (delete, refund);
//! a Lambda stopped half-way is retried under the same `Idempotency-Key` with the same ids,
//! so the partner returns the first charge instead of making a second.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use jiff::Timestamp;
use serde::Deserialize;
use softbrik_app::ports::signup::{NewAccount, SignupTable};
use softbrik_app::ports::team::{Answering, Committed, Stamp};

use crate::account::{AccountKind, Invoice};
use crate::app::App;
use crate::crypto::{DataKey, KeyScope, WrappedKey};
use crate::error::Error;
use crate::invoicing::{self, StoreFailure};
use crate::store::{AccountItem, EmailClaimItem, HistoryItem, UserItem};
use crate::validation::ValidationErrors;
use crate::values::{
    BrikId, CompanyName, Country, EmailAddress, Language, PaymentMethodToken, PersonName,
    TimeZoneName, VatNumber,
};

pub use softbrik_app::signup::SignupResponse;
pub use softbrik_domain::signup::SignupCommand;

/// The body of `POST /signup` as sent; parsed into [`SignupCommand`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    pub company_name: String,
    pub country: String,
    #[serde(default)]
    pub vat_number: Option<String>,
    #[serde(default)]
    pub address: Option<serde_json::Value>,
    pub language: String,
    #[serde(default)]
    pub timezone: Option<String>,
    pub admin: AdminBody,
    pub payment_method: String,
    #[serde(default)]
    pub briks: Vec<String>,
    #[serde(default)]
    pub test_clock_id: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminBody {
    pub email: String,
    pub name: String,
    pub password: String,
}

const MAX_ADDRESS_CHARS: usize = 500;

impl SignupBody {
    /// Checks every field at once, so the client sees all its mistakes in one answer.
    pub fn parse(self) -> Result<SignupCommand, Error> {
        let mut errors = ValidationErrors::new();
        let company_name = errors.check("company_name", CompanyName::parse(&self.company_name));
        let country = errors.check("country", Country::parse(&self.country));
        let vat_number = match &self.vat_number {
            Some(v) if !v.trim().is_empty() => {
                errors.check("vat_number", VatNumber::parse(v)).map(Some)
            }
            _ => Some(None),
        };
        let language = errors.check("language", Language::parse(&self.language));
        let timezone = check_timezone(self.timezone.as_deref(), &mut errors);
        let (admin_email, admin_name) = self.admin.check(&mut errors);
        let payment_method = errors.check(
            "payment_method",
            PaymentMethodToken::parse(&self.payment_method),
        );
        let address = parse_address(self.address.as_ref(), &mut errors);
        let kind = match self.kind.as_deref() {
            None | Some("company") => AccountKind::Company,
            Some("reseller") => AccountKind::Reseller,
            Some(other) => {
                errors.push(
                    "kind",
                    "unsupported",
                    format!("account kind '{other}' is not offered: 'company' or 'reseller'"),
                );
                AccountKind::Company
            }
        };
        let briks = if kind == AccountKind::Reseller {
            if !self.briks.is_empty() {
                errors.push(
                    "briks",
                    "not_for_reseller",
                    "a reseller holds no Briks: its clients' users do",
                );
            }
            Vec::new()
        } else {
            parse_briks(&self.briks, &mut errors)
        };
        if let Some(id) = &self.test_clock_id
            && (id.is_empty()
                || id.len() > 64
                || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            errors.push("test_clock_id", "invalid_format", "not a test clock id");
        }
        errors.into_result()?;
        match (
            company_name,
            country,
            vat_number,
            language,
            timezone,
            admin_email,
            admin_name,
            payment_method,
            address,
        ) {
            (
                Some(company_name),
                Some(country),
                Some(vat_number),
                Some(language),
                Some(timezone),
                Some(admin_email),
                Some(admin_name),
                Some(payment_method),
                Some(address),
            ) => Ok(SignupCommand {
                company_name,
                country,
                vat_number,
                address,
                language,
                timezone,
                admin_email,
                admin_name,
                password: self.admin.password,
                payment_method,
                briks,
                test_clock_id: self.test_clock_id,
                kind,
            }),
            _ => Err(Error::internal("validation passed with a field missing")),
        }
    }
}

impl AdminBody {
    /// The admin's address and name, and a password the user pool accepts (errors under
    /// `admin.*`).
    pub(crate) fn check(
        &self,
        errors: &mut ValidationErrors,
    ) -> (Option<EmailAddress>, Option<PersonName>) {
        let email = errors.check("admin.email", EmailAddress::parse(&self.email));
        let name = errors.check("admin.name", PersonName::parse(&self.name));
        check_password(&self.password, errors);
        (email, name)
    }
}

/// An account's time zone: the one sent, else Europe/Paris.
pub(crate) fn check_timezone(
    raw: Option<&str>,
    errors: &mut ValidationErrors,
) -> Option<TimeZoneName> {
    match raw {
        Some(tz) => errors.check("timezone", TimeZoneName::parse(tz)),
        None => Some(TimeZoneName::default()),
    }
}

/// Mirrors the user pool's password policy (template.yaml), so a weak password is refused
/// before anything is created.
fn check_password(password: &str, errors: &mut ValidationErrors) {
    let strong = (10..=256).contains(&password.chars().count())
        && password.chars().any(|c| c.is_lowercase())
        && password.chars().any(|c| c.is_uppercase())
        && password.chars().any(|c| c.is_ascii_digit())
        && !password.chars().any(char::is_control);
    if !strong {
        errors.push(
            "admin.password",
            "weak_password",
            "at least 10 characters, with lower and upper case letters and a digit",
        );
    }
}

/// An address is free text or an object of text fields; kept as text.
fn parse_address(
    value: Option<&serde_json::Value>,
    errors: &mut ValidationErrors,
) -> Option<Option<String>> {
    let text = match value {
        None | Some(serde_json::Value::Null) => return Some(None),
        Some(serde_json::Value::String(s)) => s.trim().to_string(),
        Some(serde_json::Value::Object(fields))
            if fields.values().all(|v| v.is_string() || v.is_null()) =>
        {
            serde_json::Value::Object(fields.clone()).to_string()
        }
        Some(_) => {
            errors.push(
                "address",
                "invalid_type",
                "a text or an object of text fields",
            );
            return None;
        }
    };
    if text.chars().count() > MAX_ADDRESS_CHARS {
        errors.push(
            "address",
            "too_long",
            format!("at most {MAX_ADDRESS_CHARS} characters"),
        );
        return None;
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        errors.push("address", "control_characters", "no control characters");
        return None;
    }
    Some(Some(text))
}

fn parse_briks(raw: &[String], errors: &mut ValidationErrors) -> Vec<BrikId> {
    if raw.is_empty() {
        errors.push(
            "briks",
            "required",
            "choose at least one Brik for the admin",
        );
    }
    let mut briks: Vec<BrikId> = Vec::new();
    for (i, id) in raw.iter().enumerate() {
        match BrikId::parse(id) {
            Ok(b) if briks.contains(&b) => errors.push(
                format!("briks[{i}]"),
                "duplicate",
                "this Brik is listed twice",
            ),
            Ok(b) => briks.push(b),
            Err(e) => errors.push_error(e.at(format!("briks[{i}]"))),
        }
    }
    briks
}

/// A signup's new data key, made before anything else of it (the adapter's own).
struct NewKey {
    account_id: String,
    key: Arc<DataKey>,
    wrapped: WrappedKey,
}

/// The writes of a new account (a signup's, or a reseller's client's): the claim on its admin's
/// address first (a failed condition at 0 is `Error::EmailTaken`), the account, its wrapped
/// data key (from `key`, a stamp of [`SignupTable::new_key`]), its admin, its history's
/// first entry and the billing runs' schedules, each only if new. Returns the account's data
/// key with them.
pub(crate) async fn new_account_ops(
    app: &App,
    key: &Stamp,
    new: &NewAccount,
) -> Result<(Arc<DataKey>, Vec<TransactWriteItem>), Error> {
    let NewKey {
        account_id,
        key,
        wrapped,
    } = key.get()?;
    let account = &new.account;
    if *account_id != account.id {
        return Err(Error::internal("another account's key"));
    }
    let email_hash = app.email_hash(&new.admin.email).await?;
    let account_item = AccountItem::seal(account, key)?;
    let user_item = UserItem::seal(&account.id, &new.admin, key, email_hash.clone());
    let claim = EmailClaimItem::new(&email_hash, &account.id, &new.admin.id);
    let (history_id, entry) = &new.history;
    let history = HistoryItem::seal(&account.id, history_id, entry, key);
    let mut ops = vec![
        app.store.put_new_op(&claim)?,
        app.store.put_new_op(&account_item)?,
        app.store.account_key_op(&account.id, wrapped.clone())?,
        app.store.put_new_op(&user_item)?,
        app.store.put_new_op(&history)?,
    ];
    // The billing runs find the account by these (docs/billing-runs.md).
    for schedule in crate::schedule::new_schedules(&account_item, new.at)? {
        ops.push(app.store.put_new_op(&schedule)?);
    }
    // What the Brik modules are told, recorded with the account (events.md).
    ops.extend(crate::events::outbox_ops(app, &new.events)?);
    Ok((key.clone(), ops))
}

/// `POST /signup` on AWS: `softbrik_app::signup::signup` over the ports.
pub async fn signup(
    app: &App,
    body: &serde_json::Value,
    cmd: SignupCommand,
    idempotency_key: Option<&str>,
    client_address: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let answer =
        softbrik_app::signup::signup(&app.ports(), body, cmd, idempotency_key, client_address)
            .await?;
    // Its events are told after the write; with an invoice, numbering it told them already
    // (`invoicing::store_numbered`).
    let numbered = answer.1.get("invoice").is_some_and(|i| !i.is_null());
    if let Some(account_id) = answer.1.pointer("/account/id").and_then(|v| v.as_str())
        && !numbered
    {
        crate::events::publish_account(app, account_id).await;
    }
    Ok(answer)
}

/// What a signup needs on AWS: the test clocks, the rate limit's counters, the catalogue, KMS
/// for the new account's data key, and the one transaction of every item it starts with.
#[async_trait]
impl SignupTable for App {
    async fn now_on(&self, test_clock_id: Option<&str>) -> Result<Timestamp, Error> {
        Ok(self.clock(test_clock_id).await?.now())
    }

    async fn admit(
        &self,
        client_address: Option<&str>,
        email: &EmailAddress,
        attempt: &str,
    ) -> Result<(), Error> {
        crate::rate_limit::admit_signup(
            self,
            client_address,
            email.as_str(),
            attempt,
            self.system_clock.now(),
        )
        .await
    }

    async fn catalogue(&self) -> Result<Vec<crate::catalogue::Brik>, Error> {
        App::catalogue(self).await
    }

    fn issuer(&self) -> Country {
        self.config.issuer_country
    }

    async fn new_key(&self, account_id: &str) -> Result<Stamp, Error> {
        let (key, wrapped) = self
            .keys
            .create(&KeyScope::Account(account_id.to_string()))
            .await?;
        Ok(Stamp::new(NewKey {
            account_id: account_id.to_string(),
            key,
            wrapped,
        }))
    }

    /// Everything a signup stores, in one transaction with the numbered invoice: a number is
    /// never skipped nor given twice, and a taken address cancels it all. A reseller's signup
    /// has no invoice and starts its count of active users instead.
    async fn create(
        &self,
        key: &Stamp,
        new: NewAccount,
        answer: Option<Answering<'_>>,
    ) -> Result<Committed, Error> {
        let (key, created) = new_account_ops(self, key, &new).await?;
        let key = &key;
        let account = &new.account;
        let usage = (account.kind == AccountKind::Reseller)
            .then(|| crate::resellers::UsageItem::new(&account.id));
        let mut answered = None;
        let mut items = |invoice: Option<&Invoice>| {
            let mut ops = created.clone();
            if let Some(usage) = &usage {
                ops.push(self.store.put_new_op(usage)?);
            }
            if let Some((body, recorded)) =
                crate::idempotency::answered(self, answer.as_ref(), &account.id, key, invoice)?
            {
                ops.extend(recorded);
                answered = Some(body);
            }
            Ok(ops)
        };
        let mut invoice = new.invoice;
        let stored = match invoice.as_mut() {
            Some(invoice) => {
                invoicing::store_numbered(self, account, key, invoice, new.at, |i| items(Some(i)))
                    .await
            }
            None => match items(None) {
                Ok(ops) => self.store.transact(ops).await.map_err(StoreFailure::from),
                Err(e) => Err(StoreFailure::Failed(e)),
            },
        };
        match stored {
            Ok(()) => Ok(Committed {
                invoice,
                answer: answered,
            }),
            Err(StoreFailure::Conflict(0)) => Err(Error::EmailTaken),
            Err(StoreFailure::Conflict(i)) => Err(Error::unavailable(format!(
                "signup item {i} already exists"
            ))),
            Err(StoreFailure::Failed(e)) => Err(e),
        }
    }
}
