//! Signing a company up (`POST /signup`): the account, its admin and the Briks the admin holds,
//! the first period charged at once, all or nothing.
//!
//! Order of the steps, chosen so that a failure at any step leaves nothing behind:
//! checks that write nothing (input, email free, card accepted) → the admin's sign-in →
//! the charge (its key derived from the invoice id) → one transaction with every item →
//! the invoice email. A failure after the sign-in or the charge undoes them (delete, refund);
//! a Lambda stopped half-way is retried under the same `Idempotency-Key` with the same ids,
//! so the partner returns the first charge instead of making a second.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::account::{
    Account, AccountKind, AccountStatus, AccountView, Assignment, HistoryEntry, Invoice,
    InvoiceKind, PaymentMethod, Role, SupportPlan, User, UserStatus, new_id, new_ordered_id,
};
use crate::app::App;
use crate::billing_calendar::{AnchorDay, BillingPeriod};
use crate::catalogue::Brik;
use crate::crypto::{DataKey, KeyScope};
use crate::error::Error;
use crate::idempotency::{self, Begin, Lease};
use crate::invoice::{InvoiceLine, period_line_description};
use crate::invoicing::{self, StoreFailure};
use crate::store::{AccountItem, EmailClaimItem, HistoryItem, UserItem, email_claim_pk};
use crate::validation::ValidationErrors;
use crate::values::{
    BrikId, CompanyName, Country, EmailAddress, Language, PaymentMethodToken, PersonName,
    TimeZoneName, VatNumber,
};
use crate::vat::vat_treatment;

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

/// A signup whose every field has been checked.
#[derive(Debug)]
pub struct SignupCommand {
    pub company_name: CompanyName,
    pub country: Country,
    pub vat_number: Option<VatNumber>,
    pub address: Option<String>,
    pub language: Language,
    pub timezone: TimeZoneName,
    pub admin_email: EmailAddress,
    pub admin_name: PersonName,
    pub password: String,
    pub payment_method: PaymentMethodToken,
    pub briks: Vec<BrikId>,
    pub test_clock_id: Option<String>,
    /// A company (billed for its Briks) or a reseller (billed for its clients' active users).
    pub kind: AccountKind,
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

/// What `POST /signup` answers. A reseller has nothing to pay at signup (it is billed at the
/// end of each period for its clients' users), so its answer has no invoice.
#[derive(Debug, Serialize, Deserialize)]
pub struct SignupResponse {
    pub account: AccountView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<Invoice>,
}

/// Runs a signup from `client_address`, or replays the answer of the first one made with the
/// same key.
pub async fn signup(
    app: &App,
    body: &serde_json::Value,
    cmd: SignupCommand,
    idempotency_key: Option<&str>,
    client_address: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let catalogue = app.catalogue().await?;
    let priced = price_briks(&catalogue, &cmd.briks)?;
    let clock = app.clock(cmd.test_clock_id.as_deref()).await?;
    let now = clock.now();
    let email_hash = app.email_hash(&cmd.admin_email).await?;
    let reserve = || {
        BTreeMap::from([
            ("account".to_string(), new_id("acc")),
            ("user".to_string(), new_id("usr")),
            ("invoice".to_string(), new_ordered_id("inv", now)),
            ("history".to_string(), new_ordered_id("hst", now)),
        ])
    };
    let lease = match idempotency::begin(app, "signup", idempotency_key, body, reserve).await? {
        Begin::Replay { status, body } => return Ok((status, body)),
        Begin::Run(lease) => lease,
    };
    let result = async {
        crate::rate_limit::admit_signup(
            app,
            client_address,
            cmd.admin_email.as_str(),
            &lease.id("account"),
            crate::clock::Clock::now(&app.system_clock),
        )
        .await?;
        run(app, &cmd, &priced, now, &email_hash, &lease).await
    }
    .await;
    if let Err(e) = &result {
        idempotency::after_failure(app, &lease, e).await;
    }
    result.map(|body| (201, body))
}

fn price_briks<'a>(catalogue: &'a [Brik], wanted: &[BrikId]) -> Result<Vec<&'a Brik>, Error> {
    wanted
        .iter()
        .map(|id| {
            catalogue
                .iter()
                .find(|b| &b.id == id)
                .ok_or_else(|| Error::UnknownBrik(id.as_str().to_string()))
        })
        .collect()
}

async fn run(
    app: &App,
    cmd: &SignupCommand,
    briks: &[&Brik],
    now: Timestamp,
    email_hash: &str,
    lease: &Lease,
) -> Result<serde_json::Value, Error> {
    if app
        .store
        .get::<EmailClaimItem>(&email_claim_pk(email_hash), "EMAIL")
        .await?
        .is_some()
    {
        return Err(Error::EmailTaken);
    }
    let card = app
        .payments
        .attach(&cmd.payment_method, &lease.id("account"))
        .await?;
    let payment_method = PaymentMethod {
        token: cmd.payment_method.as_str().into(),
        card,
    };
    let account = new_account(cmd, lease.id("account"), now, Some(payment_method));
    let admin = new_admin(cmd, lease.id("user"), &account, briks);
    let mut invoice = (account.kind == AccountKind::Company)
        .then(|| first_invoice(app, &account, briks, lease.id("invoice"), now));
    let (key, wrapped) = app
        .keys
        .create(&KeyScope::Account(account.id.clone()))
        .await?;
    app.directory
        .create_with_password(&crate::directory::NewSignIn {
            email: cmd.admin_email.as_str(),
            name: cmd.admin_name.as_str(),
            password: &cmd.password,
            account_id: &account.id,
            user_id: &admin.id,
            group: "admin",
        })
        .await?;
    if let Some(invoice) = invoice.as_mut()
        && let Err(e) = softbrik_app::billing::charge(&app.ports(), &account, invoice, now).await
    {
        undo(app, cmd, None).await;
        return Err(e);
    }
    match write_all(
        app,
        &account,
        &admin,
        invoice.as_mut(),
        &key,
        wrapped,
        email_hash,
        lease,
        now,
    )
    .await
    {
        Ok(response) => {
            if let Some(invoice) = &invoice {
                invoicing::email(app, &account, invoice).await;
            }
            Ok(response)
        }
        // A write that may still land keeps its sign-in and charge: the retry (same ids, same
        // charge key) completes it, or finds it done.
        Err(e @ Error::InDoubt(_)) => Err(e),
        Err(e) => {
            undo(app, cmd, invoice.as_ref()).await;
            Err(e)
        }
    }
}

/// Takes back what a failed signup made outside the table: the sign-in and the charge.
async fn undo(app: &App, cmd: &SignupCommand, charged: Option<&Invoice>) {
    if let Some(invoice) = charged {
        softbrik_app::billing::refund(&app.ports(), invoice).await;
    }
    if let Err(e) = app.directory.delete(cmd.admin_email.as_str()).await {
        tracing::error!(error = %e, "sign-in of a failed signup not deleted");
    }
}

fn new_account(
    cmd: &SignupCommand,
    id: String,
    now: Timestamp,
    payment_method: Option<PaymentMethod>,
) -> Account {
    let today = crate::billing_calendar::local_date(now, &cmd.timezone.time_zone());
    Account {
        id,
        company_name: cmd.company_name.clone(),
        country: cmd.country,
        vat_number: cmd.vat_number.clone(),
        address: cmd.address.clone(),
        language: cmd.language,
        timezone: cmd.timezone.clone(),
        status: AccountStatus::Active,
        admin_email: cmd.admin_email.clone(),
        created_at: now,
        kind: cmd.kind,
        reseller_id: None,
        trial_until: None,
        anchor_day: AnchorDay::of(today),
        calendar_from: None,
        auto_renew: true,
        closure_date: None,
        payment_method,
        support_plan: SupportPlan::Basic,
        test_clock_id: cmd.test_clock_id.clone(),
        invoice_email: None,
    }
}

fn new_admin(cmd: &SignupCommand, id: String, account: &Account, briks: &[&Brik]) -> User {
    let since = account.local_date(account.created_at);
    User {
        id,
        email: cmd.admin_email.clone(),
        name: cmd.admin_name.clone(),
        role: Role::Admin,
        status: UserStatus::Active,
        language: cmd.language,
        removal_date: None,
        briks: briks
            .iter()
            .map(|b| Assignment::new(b.id.clone(), since))
            .collect(),
    }
}

/// The first period, charged in full at signup (billing.md "Billing period").
fn first_invoice(
    app: &App,
    account: &Account,
    briks: &[&Brik],
    id: String,
    now: Timestamp,
) -> Invoice {
    let period: BillingPeriod = account.current_period(now);
    let lines: Vec<InvoiceLine> = briks
        .iter()
        .map(|b| {
            let text =
                period_line_description(b.name_in(account.language), &period, 1, account.language);
            InvoiceLine::new(b.id.clone(), text, 1, b.monthly_price, None)
        })
        .collect();
    let vat = vat_treatment(
        &app.config.issuer_country,
        &account.country,
        account.vat_number.as_ref(),
    );
    Invoice::open(
        id,
        InvoiceKind::Signup,
        account.local_date(now),
        period,
        lines,
        &vat,
    )
}

/// Everything signup stores, in one transaction with the numbered invoice: a number is never
/// skipped nor given twice, and a taken email cancels it all. A reseller's signup has no
/// invoice and starts its count of active users instead.
#[allow(clippy::too_many_arguments)]
async fn write_all(
    app: &App,
    account: &Account,
    admin: &User,
    invoice: Option<&mut Invoice>,
    key: &DataKey,
    wrapped: crate::crypto::WrappedKey,
    email_hash: &str,
    lease: &Lease,
    now: Timestamp,
) -> Result<serde_json::Value, Error> {
    let account_item = AccountItem::seal(account, key)?;
    let user_item = UserItem::seal(&account.id, admin, key, email_hash.to_string());
    let claim = EmailClaimItem::new(email_hash, &account.id, &admin.id);
    let history = HistoryItem::seal(
        &account.id,
        &lease.id("history"),
        &HistoryEntry {
            at: now,
            actor: format!("user:{}", admin.id),
            action: "signup".into(),
            details: serde_json::json!({
                "kind": account.kind,
                "briks": admin.briks.iter().map(|b| b.brik_id.as_str()).collect::<Vec<_>>(),
                "invoice_id": invoice.as_ref().map(|i| i.id.as_str()),
                "card_brand": account.payment_method.as_ref().map(|m| m.card.brand),
            }),
        },
        key,
    );
    // The billing runs find the account by these (docs/billing-runs.md).
    let schedules = crate::schedule::new_schedules(&account_item, now)?;
    let usage = (account.kind == AccountKind::Reseller)
        .then(|| crate::resellers::UsageItem::new(&account.id));
    let mut body = serde_json::Value::Null;
    let mut items = |invoice: Option<&Invoice>| {
        body = serde_json::to_value(SignupResponse {
            account: account.view(now, true),
            invoice: invoice.cloned(),
        })
        .map_err(Error::internal)?;
        let mut ops = vec![
            app.store.put_new_op(&claim)?,
            app.store.put_new_op(&account_item)?,
            app.store.account_key_op(&account.id, wrapped.clone())?,
            app.store.put_new_op(&user_item)?,
            app.store.put_new_op(&history)?,
        ];
        for schedule in &schedules {
            ops.push(app.store.put_new_op(schedule)?);
        }
        if let Some(usage) = &usage {
            ops.push(app.store.put_new_op(usage)?);
        }
        ops.extend(idempotency::finish_op(
            app,
            lease,
            &account.id,
            key,
            201,
            &body,
        )?);
        Ok(ops)
    };
    let stored = match invoice {
        Some(invoice) => {
            invoicing::store_numbered(app, account, key, invoice, |i| items(Some(i))).await
        }
        None => match items(None) {
            Ok(ops) => app.store.transact(ops).await.map_err(StoreFailure::from),
            Err(e) => Err(StoreFailure::Failed(e)),
        },
    };
    match stored {
        Ok(()) => Ok(body),
        Err(StoreFailure::Conflict(0)) => Err(Error::EmailTaken),
        Err(StoreFailure::Conflict(i)) => Err(Error::unavailable(format!(
            "signup item {i} already exists"
        ))),
        Err(StoreFailure::Failed(e)) => Err(e),
    }
}
