//! The team (billing.md "Mid-period additions" and "Removals"): inviting users, assigning and
//! removing Briks. An addition is charged at once for the days left in the period and applies
//! only if the charge succeeds; a removal takes effect at the end of the period and can be
//! undone free until then. Holdings are computed from dated assignments, so nothing has to run
//! at the period's end for a removal to take effect.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Deserialize;

use crate::account::Account;
use crate::app::App;
use crate::billing_calendar::BillingPeriod;
use crate::catalogue::Brik;
use crate::clock::Clock;
use crate::crypto::DataKey;
use crate::error::Error;
use crate::http::Identity;
use crate::store::AccountRecords;
use crate::validation::ValidationErrors;
use crate::values::{BrikId, EmailAddress, Language, PersonName};
use softbrik_domain::team as decide;

/// `POST /account/users` as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    pub email: String,
    pub name: String,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub briks: Vec<String>,
}

/// `DELETE /account/users/{id}` as sent (the body is optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveBody {
    #[serde(default)]
    pub immediate: bool,
}

/// An account's team as one request sees it: the account in clear, its key, "today", and the
/// account's records as the request read them (one Query: the account, users, packs, seat
/// guards), which its decision is made from.
pub struct Team {
    pub account: Account,
    pub records: AccountRecords,
    pub key: std::sync::Arc<DataKey>,
    pub now: Timestamp,
    pub today: Date,
    pub period: BillingPeriod,
    pub actor: String,
}

impl Team {
    /// The caller's account, for its admin only, from the claims alone ([`http::identity`]):
    /// the caller is admitted from the account's records, which hold their user item (no read
    /// of its own, as [`http::caller`] makes). A token whose access was cut, or of an account
    /// that is no more, is 401; a member is 403 (after their own item only, as every route).
    ///
    /// [`http::identity`]: crate::http::identity
    /// [`http::caller`]: crate::http::caller
    pub async fn for_admin(app: &App, caller: &Identity) -> Result<Team, Error> {
        if !caller.is_admin() {
            // Not the admin's: refused as before, after one read of the caller's item (401 for
            // a token cut off, else 403, or 404 for platform staff), the account left unread.
            crate::http::admit_by_read(app, caller).await?;
            caller.require_admin()?;
        }
        let account_id = caller.account()?;
        let team = match Team::of(app, account_id, caller.actor()).await {
            Err(Error::NotFound) if caller.user_id.is_some() => {
                // No account, so no user item: not admitted (401).
                crate::http::admit(caller, None, None)?;
                return Err(Error::NotFound);
            }
            team => team?,
        };
        if let Some(user_id) = &caller.user_id {
            let sk = crate::store::user_sk(user_id);
            let user = team.records.users.iter().find(|u| u.sk == sk);
            crate::http::admit(caller, user, Some(&team.records.account))?;
        }
        caller.require_admin()?;
        Ok(team)
    }

    /// An account's team as `actor` changes it (a directory sync has no user).
    pub async fn of(app: &App, account_id: &str, actor: String) -> Result<Team, Error> {
        let records = AccountRecords::read(&app.store, account_id).await?;
        let key = app.account_key(&records.account).await?;
        let account = records.account.open(&key)?;
        let now = app.clock(account.test_clock_id.as_deref()).await?.now();
        let today = account.local_date(now);
        Ok(Team {
            period: account.current_period(now),
            today,
            now,
            key,
            actor,
            account,
            records,
        })
    }

    /// The team as the use cases of `softbrik_app::team` take it: the same records, opened.
    pub fn to_app(&self, app: &App) -> Result<softbrik_app::team::Team, Error> {
        let records = crate::team_table::team_records(app, &self.records, &self.key)?;
        Ok(softbrik_app::team::Team::at(
            records,
            self.now,
            self.actor.clone(),
        ))
    }

    /// The Softbrik user making the change, when it is one (not platform staff).
    pub fn actor_user_id(&self) -> Option<&str> {
        self.actor.strip_prefix("user:")
    }

    /// Whether the team may change: not while the account is suspended, lapsed or closing.
    pub fn changeable(&self) -> Result<(), Error> {
        Ok(softbrik_domain::team::changeable(&self.account)?)
    }

    /// From local midnight starting the day before the billing date, the renewal is drafted
    /// and locked (billing.md "The 2-day cut-off").
    pub fn locked(&self) -> bool {
        crate::billing_calendar::is_locked(&self.period, self.today)
    }

    /// When a removal asked for today takes effect: the end of this period, or after the
    /// lock, of the next one (it is already invoiced). A client account's users are not paid
    /// by the period, so for them it is today.
    pub fn removal_date(&self) -> Date {
        decide::removal_date(&self.account, &self.period, self.today)
    }
}

fn catalogue_briks<'a>(
    catalogue: &'a [Brik],
    ids: &[String],
    errors: &mut ValidationErrors,
) -> Vec<&'a Brik> {
    let mut found: Vec<&Brik> = Vec::new();
    for (i, raw) in ids.iter().enumerate() {
        match BrikId::parse(raw) {
            Ok(id) if found.iter().any(|b| b.id == id) => {
                errors.push(format!("briks[{i}]"), "duplicate", "listed twice")
            }
            Ok(id) => match catalogue.iter().find(|b| b.id == id) {
                Some(b) => found.push(b),
                None => errors.push(
                    format!("briks[{i}]"),
                    "unknown_brik",
                    format!("unknown Brik '{raw}'"),
                ),
            },
            Err(e) => errors.push_error(e.at(format!("briks[{i}]"))),
        }
    }
    found
}

/// Invites a user (email with sign-in details, Cognito group `member`) and charges the
/// Briks given to them for the days left in the period.
pub async fn invite(
    app: &App,
    team: &Team,
    body: InviteBody,
    raw: &serde_json::Value,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let catalogue = app.catalogue().await?;
    let mut errors = ValidationErrors::new();
    let email = errors.check("email", EmailAddress::parse(&body.email));
    let name = errors.check("name", PersonName::parse(&body.name));
    let language = match &body.language {
        Some(l) => errors.check("language", Language::parse(l)),
        None => Some(team.account.language),
    };
    let briks = catalogue_briks(&catalogue, &body.briks, &mut errors);
    errors.into_result()?;
    let (Some(email), Some(name), Some(language)) = (email, name, language) else {
        return Err(Error::internal("validation passed with a field missing"));
    };
    let member = NewMember {
        email,
        name,
        language,
        active: true,
    };
    let fingerprint = serde_json::json!({"route": "POST /account/users", "body": raw});
    softbrik_app::team::add_member(
        &app.ports(),
        &team.to_app(app)?,
        &member,
        &briks,
        key,
        fingerprint,
    )
    .await
}

/// `PUT /account/users/{id}/status` as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    pub active: bool,
}

pub use softbrik_app::team::{InviteResponse, NewMember, StatusSource};
