//! The team's changes that cost nothing (billing.md "Removals"): removing a Brik or a user,
//! undoing a removal, the list of the team, and what a period's end does to its users. Each
//! loads the team (the account and its users, one read), decides with
//! `softbrik_domain::team`, and commits through [`TeamTable`]: every user written only if
//! still as read, with its history entry, in one transaction.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use softbrik_domain::account::{
    Account, AccountKind, Assignment, HistoryEntry, Invoice, Role, User, UserStatus, UserView,
};
use softbrik_domain::billing_calendar::{BillingPeriod, is_locked, local_midnight};
use softbrik_domain::catalogue::Brik;
use softbrik_domain::events::{Event, UserAccess, access_changes};
use softbrik_domain::refusal::Refusal;
use softbrik_domain::team::{self as decide, PeriodEnd, Recorded, StatusDecision};

pub use softbrik_domain::team::StatusSource;
use softbrik_domain::values::{BrikId, EmailAddress, Language, PersonName};

use crate::billing::WriteFailure;
use crate::emails::invitation_email;
use crate::error::Error;
use crate::idempotency::Lease;
use crate::ids::{new_id, new_ordered_id};
use crate::ports::Ports;
use crate::ports::directory::{Directory, NewSignIn};
use crate::ports::mailer::{Mail, Mailer};
use crate::ports::records::Page;
use crate::ports::team::{Answering, Read, TeamChange, TeamRecords, TeamTable, TeamWrite};

/// An account's team as one request sees it: its records as read, "now" on the account's
/// clock, today and the current period there, and who is changing it.
#[derive(Debug, Clone)]
pub struct Team {
    pub records: TeamRecords,
    pub now: Timestamp,
    pub today: Date,
    pub period: BillingPeriod,
    pub actor: String,
    /// Whether this is a period end's change: the records as read are then judged as they
    /// stood up to the removals taking effect today, for the events it makes.
    pub period_end: bool,
}

/// What a removal answers: the date it takes effect.
#[derive(Debug, Serialize, Deserialize)]
pub struct Scheduled {
    pub effective_date: Date,
}

impl Team {
    /// The team of `account_id` as `actor` changes it, read once.
    pub async fn load(
        table: &dyn TeamTable,
        account_id: &str,
        actor: String,
    ) -> Result<Team, Error> {
        let records = table.team(account_id).await?;
        let now = table.now_for(&records.account).await?;
        Ok(Team::at(records, now, actor))
    }

    /// The team of `records` at `now`.
    pub fn at(records: TeamRecords, now: Timestamp, actor: String) -> Team {
        let today = records.account.local_date(now);
        Team {
            today,
            period_end: false,
            period: records.account.current_period(now),
            now,
            actor,
            records,
        }
    }

    pub fn account(&self) -> &Account {
        &self.records.account
    }

    /// One user of the account, present today; another account's, a removed one or an
    /// unknown id is not found.
    pub fn user(&self, user_id: &str) -> Result<&Read<User>, Error> {
        self.records
            .users
            .iter()
            .find(|u| u.value.id == user_id && u.value.present_on(self.today))
            .ok_or(Error::NotFound)
    }

    /// The users present today, in the order read.
    pub fn present(&self) -> impl Iterator<Item = &Read<User>> {
        self.records
            .users
            .iter()
            .filter(|u| u.value.present_on(self.today))
    }

    /// When a removal asked for today takes effect (`softbrik_domain::team::removal_date`).
    pub fn removal_date(&self) -> Date {
        decide::removal_date(self.account(), &self.period, self.today)
    }

    /// From local midnight starting the day before the billing date, the renewal is drafted
    /// and locked (billing.md "The 2-day cut-off").
    pub fn locked(&self) -> bool {
        is_locked(&self.period, self.today)
    }

    /// The events of a change of the team's users (events.md): for each user written, what
    /// they may use now against what they could use as read, in the order of the writes,
    /// identified after the change's history entry (so a retried change makes the same ids).
    pub fn events_of(&self, writes: &[TeamWrite]) -> Vec<Event> {
        let history_id = writes.iter().find_map(|w| match w {
            TeamWrite::History { id, .. } => Some(id.clone()),
            _ => None,
        });
        let history_id = history_id.unwrap_or_else(|| new_ordered_id("hst", self.now));
        let before = |id: &str| {
            self.records
                .users
                .iter()
                .find(|u| u.value.id == id)
                .map(|u| {
                    if self.period_end {
                        UserAccess::before_end(&u.value, self.today)
                    } else {
                        UserAccess::of(&u.value, self.today)
                    }
                })
        };
        let changes = writes.iter().flat_map(|w| {
            let (id, before, after) = match w {
                TeamWrite::User { user, .. } => (
                    &user.id,
                    before(&user.id),
                    Some(UserAccess::of(user, self.today)),
                ),
                TeamWrite::Removed { user, .. } => (&user.id, before(&user.id), None),
                TeamWrite::Joined { user, .. } => {
                    (&user.id, None, Some(UserAccess::of(user, self.today)))
                }
                _ => return Vec::new(),
            };
            access_changes(id, before.as_ref(), after.as_ref())
        });
        crate::events::made(&history_id, self.account(), self.now, changes)
    }

    /// A change of the team of `writes`, with the events they make.
    pub fn change(&self, writes: Vec<TeamWrite>, counted: i64) -> TeamChange {
        TeamChange {
            events: self.events_of(&writes),
            writes,
            invoice: None,
            counted,
            at: self.now,
        }
    }

    /// The history entry of a decided change, under a new id.
    fn history(&self, recorded: Recorded) -> TeamWrite {
        self.history_as(new_ordered_id("hst", self.now), recorded)
    }

    /// The history entry of a decided change, under `id` (the request's reserved one).
    fn history_as(&self, id: String, recorded: Recorded) -> TeamWrite {
        TeamWrite::History {
            id,
            entry: HistoryEntry {
                at: self.now,
                actor: self.actor.clone(),
                action: recorded.action.into(),
                details: recorded.details,
            },
        }
    }

    /// Stores `user` (read as `read`) as decided, with its history entry.
    async fn write_user(
        &self,
        table: &dyn TeamTable,
        read: &Read<User>,
        user: User,
        recorded: Recorded,
    ) -> Result<(), Error> {
        self.write_counted(table, read, user, recorded, 0).await
    }

    /// [`Team::write_user`], with `counted` more active users billed to the reseller.
    async fn write_counted(
        &self,
        table: &dyn TeamTable,
        read: &Read<User>,
        user: User,
        recorded: Recorded,
        counted: i64,
    ) -> Result<(), Error> {
        let change = self.change(
            vec![
                TeamWrite::User {
                    user,
                    read: read.stamp.clone(),
                },
                self.history(recorded),
            ],
            counted,
        );
        table.commit(&self.records, change, None).await.map(drop)
    }

    /// Deletes a user whose removal takes effect: sign-in first (so that a retry still finds
    /// the user to finish), then the user and the claim on their address, only as read, with
    /// the history entry and, on a client account, one user less billed to the reseller.
    async fn remove_now(
        &self,
        ports: &Ports<'_>,
        read: &Read<User>,
        recorded: Recorded,
    ) -> Result<(), Error> {
        let user = &read.value;
        ports.directory.delete(user.email.as_str()).await?;
        let change = self.change(
            vec![
                TeamWrite::Removed {
                    user: user.clone(),
                    read: read.stamp.clone(),
                },
                self.history(recorded),
            ],
            -i64::from(decide::counts(user)),
        );
        ports
            .table
            .commit(&self.records, change, None)
            .await
            .map(drop)
    }
}

/// `DELETE /account/users/{id}/briks/{brik}`: ends the user's Brik at the end of the period
/// (no refund, access until then). A Brik the user does not hold is not found.
pub async fn remove_brik(
    ports: &Ports<'_>,
    team: &Team,
    user_id: &str,
    brik_id: &str,
) -> Result<Scheduled, Error> {
    let brik = BrikId::parse(brik_id).map_err(|_| Error::NotFound)?;
    let read = team.user(user_id)?;
    let change = decide::remove_brik(&read.value, &brik, team.today, team.removal_date())
        .ok_or(Error::NotFound)?;
    if let Some((user, recorded)) = change.write {
        team.write_user(ports.table, read, user, recorded).await?;
    }
    Ok(Scheduled {
        effective_date: change.answer,
    })
}

/// `DELETE /account/users/{id}`: removes a user at the end of the period; `immediate` also
/// cuts their access now. A client account's user leaves at once (nothing is paid by the
/// period), and its reseller's count with them.
pub async fn remove_user(
    ports: &Ports<'_>,
    team: &Team,
    user_id: &str,
    immediate: bool,
) -> Result<Scheduled, Error> {
    let read = team.user(user_id)?;
    decide::removable(&read.value)?;
    if team.account().billed_by_reseller() {
        let recorded = Recorded {
            action: "user_removed",
            details: serde_json::json!({"user_id": read.value.id}),
        };
        team.remove_now(ports, read, recorded).await?;
        return Ok(Scheduled {
            effective_date: team.today,
        });
    }
    let change = decide::remove_user(&read.value, team.today, team.removal_date(), immediate)?;
    if let Some((user, recorded)) = change.write {
        if change.answer.revoke_access {
            ports.directory.revoke_access(user.email.as_str()).await?;
        }
        team.write_user(ports.table, read, user, recorded).await?;
    }
    Ok(Scheduled {
        effective_date: change.answer.effective,
    })
}

/// `POST /account/users/{id}/restore`: undoes a scheduled removal before it takes effect,
/// free, as if it never happened (access given back if it was cut). Answers the user.
pub async fn restore_user(
    ports: &Ports<'_>,
    team: &Team,
    user_id: &str,
) -> Result<UserView, Error> {
    let read = team.user(user_id)?;
    let Some(restoring) = decide::restore_user(&read.value) else {
        return Ok(read.value.view(team.today));
    };
    let email = read.value.email.as_str();
    if restoring.restore_access {
        ports.directory.restore_access(email).await?;
    }
    let signed_in = ports.directory.has_signed_in(email).await?;
    let (user, recorded) = restoring.with_sign_in(signed_in);
    let view = user.view(team.today);
    team.write_user(ports.table, read, user, recorded).await?;
    Ok(view)
}

/// `PUT /account/users/{id}/status`, and a directory sync: marks a user inactive (no access;
/// on a client account, no longer billed to the reseller) or active again. Asking for the
/// status a user already has changes nothing. Access changes first, then the stored status
/// and the count; if those cannot be written, access is put back as it was, so that access
/// and billing never disagree. A user made active who never signed in gets a new first
/// password by email. Answers the user as they now are.
pub async fn set_status(
    ports: &Ports<'_>,
    team: &Team,
    user_id: &str,
    active: bool,
    source: StatusSource,
) -> Result<User, Error> {
    let read = team.user(user_id)?;
    let user = &read.value;
    let check_deny_list = match decide::status_change(user, active, source)? {
        StatusDecision::Unchanged => return Ok(user.clone()),
        StatusDecision::AdminLeftActive => {
            tracing::info!(user = %user.id, "directory sync left the account's admin active");
            return Ok(user.clone());
        }
        StatusDecision::Change {
            check_deny_list, ..
        } => check_deny_list,
    };
    if check_deny_list && ports.table.denied(&team.records, read).await? {
        tracing::info!(user = %user.id, "directory sync left a deny-listed user inactive");
        return Ok(user.clone());
    }
    let email = user.email.as_str();
    let directory = ports.directory;
    let mut invitation = None;
    let signed_in = if active {
        directory.restore_access(email).await?;
        let first_sign_in = async {
            let signed_in = directory.has_signed_in(email).await?;
            if !signed_in {
                // Never signed in: the first invitation may be lost or its password expired.
                let password = temporary_password();
                directory.reset_temporary_password(email, &password).await?;
                invitation = Some(password);
            }
            Ok::<_, Error>(signed_in)
        };
        match first_sign_in.await {
            Ok(signed_in) => signed_in,
            Err(e) => {
                undo_access(directory, user, false).await;
                return Err(e);
            }
        }
    } else {
        directory.revoke_access(email).await?;
        false
    };
    let (changed, recorded, counted) = decide::with_status(user, active, signed_in, source);
    let stored = team
        .write_counted(ports.table, read, changed.clone(), recorded, counted)
        .await;
    if let Err(e) = stored {
        // Put back only when the write surely did not land: access and billing must agree.
        if !e.may_have_landed() {
            undo_access(directory, user, !active).await;
        }
        return Err(e);
    }
    if let Some(password) = invitation {
        send_invitation(
            ports.mailer,
            team.account().company_name.as_str(),
            &changed,
            &password,
        )
        .await;
    }
    Ok(changed)
}

/// Puts a user's access back as it was before a status change that could not be stored
/// (`access`: whether they had it).
async fn undo_access(directory: &dyn Directory, user: &User, access: bool) {
    let email = user.email.as_str();
    let undone = if access {
        directory.restore_access(email).await
    } else {
        directory.revoke_access(email).await
    };
    if let Err(e) = undone {
        tracing::error!(error = %e, user = %user.id, "access not put back after a failed status change");
    }
}

/// A first password that meets the pool's policy; the user must change it at first sign-in.
pub fn temporary_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let body: String = (0..16)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("Sb-{body}-7a")
}

/// Emails `user` their sign-in details for `company`'s Softbrik, in their language. A mail
/// that cannot be sent is logged: the change it follows stands (the admin can make the user
/// active again for a new password).
pub async fn send_invitation(mailer: &dyn Mailer, company: &str, user: &User, password: &str) {
    let (subject, text) = invitation_email(user.language, company, user.email.as_str(), password);
    let mail = Mail {
        to: user.email.as_str().into(),
        subject,
        text,
        auto_submitted: "auto-generated",
        attachments: vec![],
    };
    if let Err(e) = mailer.send(&mail).await {
        tracing::error!(error = %e, user = %user.id, "invitation email not sent");
    }
}

/// Someone joining a team: by invitation, or provisioned by a directory sync (`active`:
/// false for an address on the deny list, who gets no access until made active).
pub struct NewMember {
    pub email: EmailAddress,
    pub name: PersonName,
    pub language: Language,
    pub active: bool,
}

/// What adding a user answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct InviteResponse {
    pub user: UserView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<Invoice>,
}

/// `POST /account/users`, and a directory sync's new user: adds a member holding `briks`
/// (charged now for the days left, but on a client account, whose reseller counts one active
/// user more). The sign-in is made first; if the change cannot be stored it is deleted, so no
/// sign-in is left without its user. The invitation (their first password) and the invoice
/// are emailed once stored. An address any account already has is refused (409), and so is a
/// reseller's Brik. Answers 201 with the user and the invoice; `request` is what the
/// `Idempotency-Key` is checked against.
pub async fn add_member(
    ports: &Ports<'_>,
    team: &Team,
    member: &NewMember,
    briks: &[&Brik],
    key: Option<&str>,
    request: serde_json::Value,
) -> Result<(u16, serde_json::Value), Error> {
    let now = team.now;
    let reserve = || {
        BTreeMap::from([
            ("user".into(), new_id("usr")),
            ("invoice".into(), new_ordered_id("inv", now)),
            ("history".into(), new_ordered_id("hst", now)),
        ])
    };
    let account = team.account();
    let scope = crate::idempotency::account_scope(&account.id);
    let email = member.email.as_str();
    let work = async |lease: &Lease| {
        if ports.table.address_taken(&member.email).await? {
            return Err(Error::EmailTaken);
        }
        let user = User {
            id: lease.id("user"),
            email: member.email.clone(),
            name: member.name.clone(),
            role: Role::Member,
            status: if member.active {
                UserStatus::Invited
            } else {
                UserStatus::Inactive
            },
            language: member.language,
            removal_date: None,
            briks: briks
                .iter()
                .map(|b| Assignment::new(b.id.clone(), team.today))
                .collect(),
        };
        let password = temporary_password();
        let sign_in = NewSignIn {
            email,
            name: member.name.as_str(),
            password: &password,
            account_id: &account.id,
            user_id: &user.id,
            group: "member",
        };
        let sub = ports.directory.invite(&sign_in).await?;
        let joined = async {
            if !member.active {
                ports.directory.revoke_access(email).await?;
            }
            join(ports, team, lease, &user, sub, briks).await
        }
        .await;
        match joined {
            Ok((invoice, body)) => {
                if member.active {
                    send_invitation(
                        ports.mailer,
                        account.company_name.as_str(),
                        &user,
                        &password,
                    )
                    .await;
                }
                if let Some(invoice) = &invoice {
                    ports.invoices.email(account, invoice).await;
                }
                if member.active {
                    for brik in briks {
                        tell_brik_assigned(ports, account, &user.email, brik, team.today).await;
                    }
                }
                Ok((201, body))
            }
            // A write that may still have landed keeps its sign-in: deleting it could leave a
            // member stored, and charged, who cannot sign in.
            Err(e) if e.may_have_landed() => Err(e),
            Err(e) => {
                if let Err(undo) = ports.directory.delete(email).await {
                    tracing::error!(error = %undo, "sign-in of a refused invitation not deleted");
                }
                Err(e)
            }
        }
    };
    crate::idempotency::once_in(ports, &scope, key, request, reserve, work).await
}

/// Stores a new member with the Briks given and its history entry, paying for the Briks first.
async fn join(
    ports: &Ports<'_>,
    team: &Team,
    lease: &Lease,
    user: &User,
    sub: String,
    briks: &[&Brik],
) -> Result<(Option<Invoice>, serde_json::Value), Error> {
    let account = team.account();
    let (invoice, mut writes) = addition(ports.table, team, lease, briks).await?;
    // A client account's active users are its reseller's to pay for.
    let counted = if account.billed_by_reseller() {
        i64::from(decide::counts(user))
    } else {
        0
    };
    let recorded = Recorded {
        action: "user_invited",
        details: serde_json::json!({
            "user_id": user.id,
            "briks": briks.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(),
        }),
    };
    writes.push(TeamWrite::Joined {
        user: user.clone(),
        sub,
    });
    writes.push(team.history_as(lease.id("history"), recorded));
    let body = |invoice: Option<&Invoice>| {
        serde_json::to_value(InviteResponse {
            user: user.view(team.today),
            invoice: invoice.cloned(),
        })
        .map_err(Error::internal)
    };
    let change = team.change(writes, counted);
    paid(ports, team, lease, change, invoice, 201, &body).await
}

/// Stores `change` paid by `invoice` (if any) through the one rule of every addition
/// (`billing::charged`: charged first, given back if the write fails), with the request's
/// answer (`status`, `body` built from the invoice as numbered) in the same transaction.
/// Answers the invoice as stored and the answer.
async fn paid(
    ports: &Ports<'_>,
    team: &Team,
    lease: &Lease,
    change: TeamChange,
    invoice: Option<Invoice>,
    status: u16,
    body: &(dyn Fn(Option<&Invoice>) -> Result<serde_json::Value, Error> + Send + Sync),
) -> Result<(Option<Invoice>, serde_json::Value), Error> {
    let commit = async |invoice: Option<Invoice>| {
        let change = TeamChange { invoice, ..change };
        let answering = lease.held().map(|held| Answering {
            lease: held,
            status,
            body,
        });
        ports.table.commit(&team.records, change, answering).await
    };
    let total = invoice.as_ref().map(|i| i.totals.total);
    let charged = crate::billing::charged(ports, team.account(), invoice, team.now, commit).await;
    let committed = payment_failed_noted(ports, team, charged, total).await?;
    let answer = match committed.answer {
        Some(answer) => answer,
        None => body(committed.invoice.as_ref())?,
    };
    Ok((committed.invoice, answer))
}

/// What adding `added` costs the account, and the seats it takes: nothing on a client account
/// (its reseller is billed for its users), refused on a reseller's (it holds no Briks),
/// otherwise the invoice, under the request's reserved id, of what free seats do not pay
/// ([`uncovered`]); none when nothing is due now.
async fn addition(
    table: &dyn TeamTable,
    team: &Team,
    lease: &Lease,
    added: &[&Brik],
) -> Result<(Option<Invoice>, Vec<TeamWrite>), Error> {
    let (charges, taken) = match team.account().kind {
        AccountKind::Client => return Ok((None, Vec::new())),
        AccountKind::Reseller if !added.is_empty() => {
            return Err(Error::Refused(Refusal::NotForReseller));
        }
        _ => uncovered(table, team, added).await?,
    };
    if !charges.iter().any(|c| c.now || (c.next && team.locked())) {
        return Ok((None, taken));
    }
    let invoice = decide::addition_invoice(
        team.account(),
        &team.period,
        team.today,
        &team.records.issuer,
        lease.id("invoice"),
        &charges,
    )
    .map_err(Error::internal)?;
    Ok((Some(invoice), taken))
}

/// What assigning a Brik answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct AssignResponse {
    pub assignment: Assignment,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<Invoice>,
}

/// `PUT /account/users/{id}/briks/{brik}`: gives a user a Brik of `catalogue`. Already held:
/// nothing to pay (answered 200, and recorded for the key all the same). Held but scheduled to
/// end: the removal is undone, free. Otherwise charged now for the days left in the period
/// (and after the cut-off the next one), unless a free seat pays for it; the card refused,
/// nothing is written (402). A client account's Briks are not charged (its reseller is billed
/// for its users); a reseller holds none. The invoice is emailed once stored.
pub async fn assign(
    ports: &Ports<'_>,
    team: &Team,
    catalogue: &[Brik],
    user_id: &str,
    brik_id: &str,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let brik = BrikId::parse(brik_id)
        .ok()
        .and_then(|id| catalogue.iter().find(|b| b.id == id))
        .ok_or(Error::NotFound)?;
    let read = team.user(user_id)?;
    let decided = decide::assign_brik(&read.value, &brik.id, team.today)?;
    let now = team.now;
    let reserve = || {
        BTreeMap::from([
            ("invoice".into(), new_ordered_id("inv", now)),
            ("history".into(), new_ordered_id("hst", now)),
        ])
    };
    let request =
        serde_json::json!({"route": "PUT /account/users/briks", "user": user_id, "brik": brik_id});
    let account = team.account();
    let scope = crate::idempotency::account_scope(&account.id);
    crate::idempotency::once_in(
        ports,
        &scope,
        key,
        request,
        reserve,
        async |lease: &Lease| {
            let (user, recorded, assignment, added) = match decided {
                decide::Assigning::AlreadyHeld(held) => {
                    let body = serde_json::to_value(AssignResponse {
                        assignment: held,
                        invoice: None,
                    })
                    .map_err(Error::internal)?;
                    crate::idempotency::finish_alone(ports.answers, lease, &account.id, 200, &body)
                        .await?;
                    return Ok((200, body));
                }
                decide::Assigning::Changed {
                    user,
                    recorded,
                    assignment,
                    added,
                } => (*user, recorded, assignment, added),
            };
            let told = added.then(|| (user.email.clone(), assignment.since));
            let added: Vec<&Brik> = if added { vec![brik] } else { vec![] };
            let (invoice, mut writes) = addition(ports.table, team, lease, &added).await?;
            writes.push(TeamWrite::User {
                user,
                read: read.stamp.clone(),
            });
            writes.push(team.history_as(lease.id("history"), recorded));
            let body = |invoice: Option<&Invoice>| {
                serde_json::to_value(AssignResponse {
                    assignment: assignment.clone(),
                    invoice: invoice.cloned(),
                })
                .map_err(Error::internal)
            };
            let change = team.change(writes, 0);
            let (invoice, answer) = paid(ports, team, lease, change, invoice, 200, &body).await?;
            if let Some(invoice) = &invoice {
                ports.invoices.email(account, invoice).await;
            }
            if let Some((email, since)) = told {
                tell_brik_assigned(ports, account, &email, brik, since).await;
            }
            Ok((200, answer))
        },
    )
    .await
}

/// The added Briks still to pay for: a free seat (a seat pack with fewer holders than seats)
/// pays for a Brik today; after the cut-off, the next period needs a seat free then too, else
/// that period is charged now like any addition. With them, the seats they take: the holders
/// were counted from the team's read, so two additions must not both take the last seat.
pub async fn uncovered<'a>(
    table: &dyn TeamTable,
    team: &Team,
    added: &[&'a Brik],
) -> Result<(Vec<decide::Charge<'a>>, Vec<TeamWrite>), Error> {
    let all = |b: &&'a Brik| decide::Charge {
        brik: b,
        now: true,
        next: true,
    };
    let next_start = team.period.end();
    let seats = decide::SeatCounts {
        now: table.seats_on(&team.records, team.today).await?,
        next: table.seats_on(&team.records, next_start).await?,
    };
    if !added.iter().any(|b| seats.has_seats(&b.id)) {
        return Ok((added.iter().map(all).collect(), Vec::new()));
    }
    let users: Vec<User> = team.present().map(|u| u.value.clone()).collect();
    let holders = decide::SeatCounts {
        now: decide::holders_on(&users, team.today),
        next: decide::holders_on(&users, next_start),
    };
    let charges = decide::seat_charges(added, &seats, &holders);
    let taken = charges
        .iter()
        .filter(|c| seats.has_seats(&c.brik.id) && (!c.now || !c.next))
        .map(|c| TeamWrite::SeatTaken {
            brik: c.brik.id.clone(),
        })
        .collect();
    Ok((charges, taken))
}

/// `GET /account/users`: the team today, a page of `limit` in id order from after the cursor
/// `next`. Invited users who have signed in since are shown, and stored, as active (a failed
/// write only logs: they are shown active anyway).
pub async fn list_users(
    ports: &Ports<'_>,
    team: &Team,
    limit: usize,
    next: Option<&str>,
) -> Result<Page<UserView>, Error> {
    let after = next.map(|c| crate::paging::decode(c, "usr_")).transpose()?;
    let present: BTreeMap<String, &Read<User>> = team
        .present()
        .map(|read| (read.value.id.clone(), read))
        .collect();
    let (page, next) = crate::paging::page(&present, after.as_deref(), limit);
    let mut views = Vec::new();
    for (_, read) in page {
        let read = *read;
        let mut user = read.value.clone();
        if user.status == UserStatus::Invited
            && ports.directory.has_signed_in(user.email.as_str()).await?
        {
            user.status = UserStatus::Active;
            let recorded = Recorded {
                action: "user_joined",
                details: serde_json::json!({"user_id": user.id}),
            };
            if let Err(e) = team
                .write_user(ports.table, read, user.clone(), recorded)
                .await
            {
                tracing::warn!(error = %e, "first sign-in not recorded; shown anyway");
            }
        }
        views.push(user.view(team.today));
    }
    Ok(Page { items: views, next })
}

/// The end of a period on `date` for the team of `records`: users whose removal takes effect
/// lose their sign-in and are deleted with their address; Briks whose removal takes effect
/// leave the user. Each write is made only if the user is still as read; the account is never
/// written. Running it again finds nothing left to do. Answers how many users it changed
/// (their records are then no longer as read).
pub async fn apply_removals(
    ports: &Ports<'_>,
    records: TeamRecords,
    date: Date,
) -> Result<u32, Error> {
    let now = local_midnight(date, &records.account.timezone.time_zone());
    let team = Team {
        today: date,
        period_end: true,
        ..Team::at(records, now, "system".into())
    };
    let mut applied = 0;
    for read in &team.records.users {
        match decide::period_end(&read.value, date) {
            PeriodEnd::Stays => continue,
            PeriodEnd::Leaves(recorded) => team.remove_now(ports, read, recorded).await?,
            PeriodEnd::BriksEnd(user, recorded) => {
                team.write_user(ports.table, read, *user, recorded).await?
            }
        }
        applied += 1;
    }
    Ok(applied)
}

/// A write refused because a record changed since it was read.
pub fn concurrent_change() -> Error {
    Error::Refused(Refusal::ConcurrentChange(
        "the user was changed by another request; retry",
    ))
}

/// billing.md "Payment": a charge refused during a request (402) writes a `payment_failed`
/// entry in the account's history, by the request's author, and nothing else of the change.
/// (If that entry cannot be written, the refusal still stands: it is logged.)
pub async fn payment_failed_noted<T>(
    ports: &Ports<'_>,
    team: &Team,
    result: Result<T, Error>,
    total: Option<softbrik_domain::money::Money>,
) -> Result<T, Error> {
    if let Err(Error::CardDeclined { reason }) = &result {
        let entry = HistoryEntry {
            at: team.now,
            actor: team.actor.clone(),
            action: "payment_failed".into(),
            details: serde_json::json!({"total": total, "reason": reason}),
        };
        let change = team.change(
            vec![TeamWrite::History {
                id: new_ordered_id("hst", team.now),
                entry,
            }],
            0,
        );
        if let Err(e) = ports.table.commit(&team.records, change, None).await {
            tracing::error!(error = %e, "payment_failed not written to the history");
        }
    }
    result
}

/// Emails the user a Brik was just assigned to (billing.md "Telling users and Briks": at
/// once, in the account's language): which Brik, from when. A failure is logged: the
/// assignment stands.
async fn tell_brik_assigned(
    ports: &Ports<'_>,
    account: &Account,
    email: &EmailAddress,
    brik: &Brik,
    since: Date,
) {
    let (subject, text) = crate::emails::brik_assigned_email(
        account.language,
        account.company_name.as_str(),
        brik.name_in(account.language),
        since,
    );
    let mail = Mail {
        to: email.as_str().to_string(),
        subject,
        text,
        auto_submitted: "auto-generated",
        attachments: Vec::new(),
    };
    if let Err(e) = ports.mailer.send(&mail).await {
        tracing::error!(error = %e, code = e.code(), "brik assignment email not sent");
    }
}
