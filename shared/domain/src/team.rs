//! What a change of the team does to a user (billing.md "Adding and removing"): pure decisions
//! of (the user as read, the request, the dates), each returning the user as it is to be
//! written with the history entry that records it, or a refusal. The use cases (`softbrik::team`)
//! load the user, call these, and commit what they return; what to charge for an addition is
//! the proration engine's.
//!
//! Removals take effect at the end of the period (`effective`: the use case's period end, or
//! the end of the next period once the renewal is locked); nothing removed is refunded, and
//! undoing a removal before it takes effect is free.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde_json::json;

use crate::account::{
    Account, AccountStatus, Assignment, Invoice, InvoiceKind, Role, User, UserStatus,
};
use crate::billing_calendar::{BillingPeriod, is_locked};
use crate::catalogue::Brik;
use crate::invoice::{InvoiceLine, period_line_description};
use crate::proration::days_remaining;
use crate::refusal::Refusal;
use crate::values::{BrikId, Country};
use crate::vat::vat_treatment;

/// A history entry to write with the change: its action and what it names (ids and dates
/// only, never personal data).
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub action: &'static str,
    pub details: serde_json::Value,
}

/// A decided change of one user: `write` is the user as it is to be written with its history
/// entry, `None` when the request changes nothing (a repeat); `answer` is what the request is
/// answered with either way.
#[derive(Debug, Clone)]
pub struct UserChange<T> {
    pub write: Option<(User, Recorded)>,
    pub answer: T,
}

impl<T> UserChange<T> {
    fn unchanged(answer: T) -> Self {
        UserChange {
            write: None,
            answer,
        }
    }
}

/// What giving a user a Brik does.
#[derive(Debug, Clone)]
pub enum Assigning {
    /// Already held with no end: nothing to write, nothing to pay.
    AlreadyHeld(Assignment),
    /// The user (with its history entry) to write, and the assignment it now holds. `added`:
    /// a new holding to pay for; otherwise a scheduled removal undone, free.
    Changed {
        user: Box<User>,
        recorded: Recorded,
        assignment: Assignment,
        added: bool,
    },
}

/// Gives `user` the Brik `brik` from `today`. A user being removed is refused: restore them
/// first.
pub fn assign_brik(user: &User, brik: &BrikId, today: Date) -> Result<Assigning, Refusal> {
    if user.removal_date.is_some() {
        return Err(Refusal::UserRemovalScheduled);
    }
    if let Some(held) = user.holding(brik, today)
        && held.until.is_none()
    {
        return Ok(Assigning::AlreadyHeld(held.clone()));
    }
    let mut user = user.clone();
    let undoing = user.holding(brik, today).is_some();
    let action = if undoing {
        for a in user
            .briks
            .iter_mut()
            .filter(|a| &a.brik_id == brik && a.held_on(today))
        {
            a.until = None;
            a.ends_with_user = false;
        }
        "brik_removal_undone"
    } else {
        user.briks.push(Assignment::new(brik.clone(), today));
        "brik_assigned"
    };
    let assignment = user
        .holding(brik, today)
        .cloned()
        .expect("the Brik was just given or kept");
    let recorded = Recorded {
        action,
        details: json!({"user_id": user.id, "brik_id": brik}),
    };
    Ok(Assigning::Changed {
        user: Box::new(user),
        recorded,
        assignment,
        added: !undoing,
    })
}

/// Ends `user`'s Brik `brik` on `effective` (access until then, no refund). Answers the date
/// the Brik ends, an earlier one if its removal was already scheduled; `None`: the user does
/// not hold it (404).
pub fn remove_brik(
    user: &User,
    brik: &BrikId,
    today: Date,
    effective: Date,
) -> Option<UserChange<Date>> {
    let held = user.holding(brik, today)?;
    if let Some(until) = held.until {
        return Some(UserChange::unchanged(until));
    }
    let mut user = user.clone();
    for a in user
        .briks
        .iter_mut()
        .filter(|a| &a.brik_id == brik && a.held_on(today))
    {
        a.until = Some(effective);
    }
    let recorded = Recorded {
        action: "brik_removal_scheduled",
        details: json!({"user_id": user.id, "brik_id": brik, "effective_date": effective}),
    };
    Some(UserChange {
        write: Some((user, recorded)),
        answer: effective,
    })
}

/// The account's admin stays: it cannot be removed.
pub fn removable(user: &User) -> Result<(), Refusal> {
    if user.role == Role::Admin {
        return Err(Refusal::CannotRemoveAdmin);
    }
    Ok(())
}

/// A user's removal as decided: the date it takes effect, and whether access is cut now
/// (the directory's part, done by the use case before it writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removal {
    pub effective: Date,
    pub revoke_access: bool,
}

/// Removes `user` from the account on `effective` (kept if a removal was already scheduled),
/// ending every Brik still held by then; `immediate` also cuts their access now. Asking again
/// changes nothing, unless it now asks for the immediate cut.
pub fn remove_user(
    user: &User,
    today: Date,
    effective: Date,
    immediate: bool,
) -> Result<UserChange<Removal>, Refusal> {
    removable(user)?;
    let effective = user.removal_date.unwrap_or(effective);
    let newly = user.removal_date.is_none();
    let revoke = immediate && user.status != UserStatus::AccessRevoked;
    let removal = Removal {
        effective,
        revoke_access: revoke,
    };
    if !newly && !revoke {
        return Ok(UserChange::unchanged(removal));
    }
    let mut user = user.clone();
    user.removal_date = Some(effective);
    for a in user.briks.iter_mut().filter(|a| a.held_on(today)) {
        if a.until.is_none_or(|u| u > effective) {
            a.until = Some(effective);
            a.ends_with_user = true;
        }
    }
    if revoke {
        user.status = UserStatus::AccessRevoked;
    } else {
        user.status = UserStatus::RemovalScheduled;
    }
    let recorded = Recorded {
        action: if revoke {
            "user_access_revoked"
        } else {
            "user_removal_scheduled"
        },
        details: json!({"user_id": user.id, "effective_date": effective, "immediate": immediate}),
    };
    Ok(UserChange {
        write: Some((user, recorded)),
        answer: removal,
    })
}

/// A removal undone: the user as it is to be written, once the directory has said whether
/// they ever signed in (`signed_in`), and whether their access must be given back first.
#[derive(Debug, Clone)]
pub struct Restoring {
    pub restore_access: bool,
    user: User,
}

impl Restoring {
    /// The user back, `Active` if they ever signed in, else still `Invited`, with the history
    /// entry.
    pub fn with_sign_in(self, signed_in: bool) -> (User, Recorded) {
        let mut user = self.user;
        user.status = if signed_in {
            UserStatus::Active
        } else {
            UserStatus::Invited
        };
        let recorded = Recorded {
            action: "user_removal_undone",
            details: json!({"user_id": user.id}),
        };
        (user, recorded)
    }
}

/// Undoes `user`'s scheduled removal before it takes effect, free: the Briks the removal ended
/// are held again (a Brik removed on its own stays removed). `None`: no removal to undo.
pub fn restore_user(user: &User) -> Option<Restoring> {
    let date = user.removal_date?;
    let mut user = user.clone();
    user.removal_date = None;
    for a in user
        .briks
        .iter_mut()
        .filter(|a| a.ends_with_user && a.until == Some(date))
    {
        a.until = None;
        a.ends_with_user = false;
    }
    Some(Restoring {
        restore_access: user.status == UserStatus::AccessRevoked,
        user,
    })
}

/// Who asks for a status change: the admin by hand, or a directory sync, which cannot make
/// active an address on the account's deny list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusSource {
    Admin,
    DirectorySync,
}

/// What marking a user active or inactive does, before anything is asked of the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusDecision {
    /// The user already has that status: nothing changes.
    Unchanged,
    /// A directory sync asked to deactivate the account's admin: the directory does not lock
    /// the account out, so the admin stays as they are.
    AdminLeftActive,
    /// The status changes; a directory sync making someone active must first check the
    /// account's deny list (`check_deny_list`).
    Change { active: bool, check_deny_list: bool },
}

/// Marks `user` active or inactive (no access; on a client account, no longer billed to the
/// reseller). The admin cannot be made inactive by hand, nor a user being removed.
pub fn status_change(
    user: &User,
    active: bool,
    source: StatusSource,
) -> Result<StatusDecision, Refusal> {
    let inactive = user.status == UserStatus::Inactive;
    if active != inactive {
        return Ok(StatusDecision::Unchanged);
    }
    if user.role == Role::Admin {
        if source == StatusSource::DirectorySync {
            return Ok(StatusDecision::AdminLeftActive);
        }
        return Err(Refusal::CannotDeactivateAdmin);
    }
    if user.removal_date.is_some() {
        return Err(Refusal::UserRemovalScheduled);
    }
    Ok(StatusDecision::Change {
        active,
        check_deny_list: active && source == StatusSource::DirectorySync,
    })
}

/// The user with the status the change gives, once the directory has answered: made active,
/// `Active` if they ever signed in (`signed_in`), else `Invited` again (sent a new
/// invitation); made inactive, `Inactive`. With the history entry, and how the count of
/// active users moves (+1 or -1).
pub fn with_status(
    user: &User,
    active: bool,
    signed_in: bool,
    source: StatusSource,
) -> (User, Recorded, i64) {
    let mut user = user.clone();
    let (action, delta) = if active {
        user.status = if signed_in {
            UserStatus::Active
        } else {
            UserStatus::Invited
        };
        ("user_reactivated", 1)
    } else {
        user.status = UserStatus::Inactive;
        ("user_deactivated", -1)
    };
    let via = match source {
        StatusSource::Admin => "admin",
        StatusSource::DirectorySync => "directory_sync",
    };
    let recorded = Recorded {
        action,
        details: json!({"user_id": user.id, "via": via}),
    };
    (user, recorded, delta)
}

/// When a removal asked for `today` takes effect: the end of `period`, or after the lock, of
/// the next one (it is already invoiced). A client account's users are not paid by the period,
/// so for them it is today.
pub fn removal_date(account: &Account, period: &BillingPeriod, today: Date) -> Date {
    if account.billed_by_reseller() {
        today
    } else if is_locked(period, today) {
        account.calendar().following(period).end()
    } else {
        period.end()
    }
}

/// Whether `user` counts as an active user of a client account, whom its reseller is billed
/// for: present, not marked inactive nor cut off (an invited user can already receive
/// content, so counts).
pub fn counts(user: &User) -> bool {
    !matches!(
        user.status,
        UserStatus::Inactive | UserStatus::AccessRevoked
    )
}

/// Whether the team and the subscription may change: not while the account is suspended,
/// lapsed, closing or closed.
pub fn changeable(account: &Account) -> Result<(), Refusal> {
    match account.status {
        AccountStatus::Active | AccountStatus::PastDue => Ok(()),
        AccountStatus::Suspended => Err(Refusal::AccountSuspended),
        other => Err(Refusal::AccountNotActive(
            format!("the team cannot change while the account is {other:?}").to_lowercase(),
        )),
    }
}

/// What the end of a period on `date` does to a user (billing.md "Removals"): nothing, the
/// user leaves (their removal takes effect), or the Briks whose removal takes effect leave
/// the user.
#[derive(Debug, Clone)]
pub enum PeriodEnd {
    Stays,
    Leaves(Recorded),
    BriksEnd(Box<User>, Recorded),
}

/// [`PeriodEnd`] for `user` on `date`. Running it again on the user as written finds nothing.
pub fn period_end(user: &User, date: Date) -> PeriodEnd {
    if user.removal_date.is_some_and(|d| d <= date) {
        return PeriodEnd::Leaves(Recorded {
            action: "user_removed",
            details: json!({"user_id": user.id}),
        });
    }
    let ends = |a: &Assignment| a.until.is_some_and(|u| u <= date);
    let ended: Vec<&str> = user
        .briks
        .iter()
        .filter(|a| ends(a))
        .map(|a| a.brik_id.as_str())
        .collect();
    if ended.is_empty() {
        return PeriodEnd::Stays;
    }
    let recorded = Recorded {
        action: "brik_removed",
        details: json!({"user_id": user.id, "briks": ended}),
    };
    let mut user = user.clone();
    user.briks.retain(|a| !ends(a));
    PeriodEnd::BriksEnd(Box::new(user), recorded)
}

/// What an added Brik costs now: the rest of this period, and after the cut-off the next one.
#[derive(Debug, Clone, Copy)]
pub struct Charge<'a> {
    pub brik: &'a Brik,
    pub now: bool,
    pub next: bool,
}

/// Counts per Brik on the day of a change and on the first day of the next period: the
/// seats the account's packs give, or the users holding each Brik.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeatCounts {
    pub now: BTreeMap<BrikId, u32>,
    pub next: BTreeMap<BrikId, u32>,
}

impl SeatCounts {
    /// Whether a seat pack covers `brik` today or for the next period.
    pub fn has_seats(&self, brik: &BrikId) -> bool {
        [&self.now, &self.next]
            .iter()
            .any(|seats| seats.get(brik).is_some_and(|n| *n > 0))
    }
}

/// How many users hold each Brik on `day`.
pub fn holders_on(users: &[User], day: Date) -> BTreeMap<BrikId, u32> {
    let mut holders = BTreeMap::new();
    for user in users.iter().filter(|u| u.present_on(day)) {
        for a in user.briks.iter().filter(|a| a.held_on(day)) {
            *holders.entry(a.brik_id.clone()).or_insert(0) += 1;
        }
    }
    holders
}

/// What each added Brik costs once free seats are used (billing.md "Add-on packs"): a Brik
/// with more seats than holders today is not charged for today, one with a seat free on the
/// next period's first day not for the next period. `holders` are counted before the change.
pub fn seat_charges<'a>(
    added: &[&'a Brik],
    seats: &SeatCounts,
    holders: &SeatCounts,
) -> Vec<Charge<'a>> {
    let free = |seats: &BTreeMap<BrikId, u32>, holders: &BTreeMap<BrikId, u32>, b: &Brik| {
        seats.get(&b.id).copied().unwrap_or(0) > holders.get(&b.id).copied().unwrap_or(0)
    };
    added
        .iter()
        .map(|b| Charge {
            brik: b,
            now: !free(&seats.now, &holders.now, b),
            next: !free(&seats.next, &holders.next, b),
        })
        .collect()
}

/// The prorated invoice for Briks added `today` in `period`: one line per (user, Brik), for the
/// rest of the period and, after the cut-off, the next one (`next`: false where a seat pays
/// it). `issuer` is Softbrik's country, for VAT. Refused only if `today` is outside `period`.
pub fn addition_invoice(
    account: &Account,
    period: &BillingPeriod,
    today: Date,
    issuer: &Country,
    id: String,
    added: &[Charge<'_>],
) -> Result<Invoice, &'static str> {
    let left = days_remaining(period, today).ok_or("today is outside its period")?;
    let slice = BillingPeriod::new(today, period.end()).map_err(|_| "an empty period")?;
    let lang = account.language;
    let next = account.calendar().following(period);
    let locked = is_locked(period, today);
    let mut lines: Vec<InvoiceLine> = Vec::new();
    for charge in added {
        let b = charge.brik;
        if charge.now {
            let text = period_line_description(b.name_in(lang), &slice, 1, lang);
            lines.push(InvoiceLine::new(
                b.id.clone(),
                text,
                1,
                b.monthly_price,
                Some(left),
            ));
        }
        // After the lock the next period is already invoiced without this Brik: it is
        // charged now in full, so nothing is ever free.
        if locked && charge.next {
            // A calendar stub next is its share of a month (20/31), as its renewal bills.
            let text = period_line_description(b.name_in(lang), &next, 1, lang);
            lines.push(InvoiceLine::new(
                b.id.clone(),
                text,
                1,
                b.monthly_price,
                next.share(),
            ));
        }
    }
    let vat = vat_treatment(issuer, &account.country, account.vat_number.as_ref());
    Ok(Invoice::open(
        id,
        InvoiceKind::Proration,
        today,
        *period,
        lines,
        &vat,
    ))
}

#[cfg(test)]
mod tests {
    //! GIVEN a user as read, WHEN a change is decided, THEN the user to write, the history and
    //! the answer are as billing.md says. Period 2026-12-12 to 2027-01-12.

    use super::*;
    use crate::account::Role;
    use crate::values::{EmailAddress, Language, PersonName};
    use jiff::civil::date;

    const TODAY: Date = date(2026, 12, 20);
    const PERIOD_END: Date = date(2027, 1, 12);

    fn brik(id: &str) -> BrikId {
        BrikId::parse(id).unwrap()
    }

    /// Bob, a member holding `files` since the period's start.
    fn bob() -> User {
        User {
            id: "usr_bob".into(),
            email: EmailAddress::parse("bob@dupont.fr").unwrap(),
            name: PersonName::parse("Bob Martin").unwrap(),
            role: Role::Member,
            status: UserStatus::Active,
            language: Language::Fr,
            removal_date: None,
            briks: vec![Assignment::new(brik("files"), date(2026, 12, 12))],
        }
    }

    #[test]
    fn a_new_brik_is_added_from_today_and_recorded() {
        let Ok(Assigning::Changed {
            user,
            recorded,
            assignment,
            added,
        }) = assign_brik(&bob(), &brik("stock"), TODAY)
        else {
            panic!("a change");
        };
        assert!(added);
        assert_eq!(assignment, Assignment::new(brik("stock"), TODAY));
        assert_eq!(user.briks.len(), 2);
        assert_eq!(recorded.action, "brik_assigned");
        assert_eq!(recorded.details["brik_id"], "stock");
    }

    #[test]
    fn a_brik_already_held_is_not_added_again() {
        let Ok(Assigning::AlreadyHeld(held)) = assign_brik(&bob(), &brik("files"), TODAY) else {
            panic!("already held");
        };
        assert_eq!(held.since, date(2026, 12, 12));
    }

    #[test]
    fn giving_back_a_brik_being_removed_undoes_the_removal_for_free() {
        let removed = remove_brik(&bob(), &brik("files"), TODAY, PERIOD_END).unwrap();
        let (user, _) = removed.write.unwrap();
        let Ok(Assigning::Changed {
            user,
            recorded,
            assignment,
            added,
        }) = assign_brik(&user, &brik("files"), TODAY)
        else {
            panic!("a change");
        };
        assert!(!added, "nothing to pay");
        assert_eq!(recorded.action, "brik_removal_undone");
        assert_eq!(assignment.until, None);
        assert_eq!(user.briks.len(), 1, "the same holding, not a new one");
    }

    #[test]
    fn a_user_being_removed_gets_no_new_brik() {
        let removed = remove_user(&bob(), TODAY, PERIOD_END, false).unwrap();
        let (user, _) = removed.write.unwrap();
        assert_eq!(
            assign_brik(&user, &brik("stock"), TODAY).unwrap_err(),
            Refusal::UserRemovalScheduled
        );
    }

    #[test]
    fn a_brik_removal_takes_effect_at_the_period_end_and_asking_again_changes_nothing() {
        let first = remove_brik(&bob(), &brik("files"), TODAY, PERIOD_END).unwrap();
        assert_eq!(first.answer, PERIOD_END);
        let (user, recorded) = first.write.unwrap();
        assert_eq!(recorded.action, "brik_removal_scheduled");
        assert_eq!(user.briks[0].until, Some(PERIOD_END));
        // Still held until then: access and billing to the end of the period.
        assert!(user.holding(&brik("files"), date(2027, 1, 11)).is_some());
        assert!(user.holding(&brik("files"), PERIOD_END).is_none());
        let again = remove_brik(&user, &brik("files"), TODAY, PERIOD_END).unwrap();
        assert!(again.write.is_none());
        assert_eq!(again.answer, PERIOD_END);
    }

    #[test]
    fn removing_a_brik_the_user_does_not_hold_is_not_found() {
        assert!(remove_brik(&bob(), &brik("stock"), TODAY, PERIOD_END).is_none());
    }

    #[test]
    fn a_removed_user_keeps_access_and_briks_until_the_period_end() {
        let removed = remove_user(&bob(), TODAY, PERIOD_END, false).unwrap();
        assert_eq!(
            removed.answer,
            Removal {
                effective: PERIOD_END,
                revoke_access: false
            }
        );
        let (user, recorded) = removed.write.unwrap();
        assert_eq!(recorded.action, "user_removal_scheduled");
        assert_eq!(user.status, UserStatus::RemovalScheduled);
        assert_eq!(user.removal_date, Some(PERIOD_END));
        assert_eq!(user.briks[0].until, Some(PERIOD_END));
        assert!(user.briks[0].ends_with_user);
    }

    #[test]
    fn an_immediate_removal_cuts_access_now_and_still_bills_to_the_period_end() {
        let removed = remove_user(&bob(), TODAY, PERIOD_END, true).unwrap();
        assert!(removed.answer.revoke_access);
        let (user, recorded) = removed.write.unwrap();
        assert_eq!(recorded.action, "user_access_revoked");
        assert_eq!(user.status, UserStatus::AccessRevoked);
        assert_eq!(user.removal_date, Some(PERIOD_END), "no refund");
        // Asked again: nothing more to do.
        let again = remove_user(&user, TODAY, PERIOD_END, true).unwrap();
        assert!(again.write.is_none());
        assert!(!again.answer.revoke_access);
    }

    #[test]
    fn a_scheduled_removal_made_immediate_keeps_its_date() {
        let (scheduled, _) = remove_user(&bob(), TODAY, PERIOD_END, false)
            .unwrap()
            .write
            .unwrap();
        // Asked again after the lock, when a new removal would end a period later.
        let cut = remove_user(&scheduled, TODAY, date(2027, 2, 12), true).unwrap();
        assert_eq!(cut.answer.effective, PERIOD_END);
        assert!(cut.answer.revoke_access);
    }

    #[test]
    fn the_admin_cannot_be_removed() {
        let admin = User {
            role: Role::Admin,
            ..bob()
        };
        assert_eq!(
            remove_user(&admin, TODAY, PERIOD_END, false).unwrap_err(),
            Refusal::CannotRemoveAdmin
        );
    }

    #[test]
    fn a_restored_user_gets_back_what_the_removal_ended_but_not_a_brik_removed_on_its_own() {
        let user = {
            let mut user = bob();
            user.briks.push(Assignment::new(brik("stock"), TODAY));
            user
        };
        let (user, _) = remove_brik(&user, &brik("stock"), TODAY, PERIOD_END)
            .unwrap()
            .write
            .unwrap();
        let (user, _) = remove_user(&user, TODAY, PERIOD_END, true)
            .unwrap()
            .write
            .unwrap();
        let restoring = restore_user(&user).unwrap();
        assert!(restoring.restore_access, "access was cut: give it back");
        let (user, recorded) = restoring.with_sign_in(true);
        assert_eq!(recorded.action, "user_removal_undone");
        assert_eq!(user.status, UserStatus::Active);
        assert_eq!(user.removal_date, None);
        assert_eq!(user.holding(&brik("files"), TODAY).unwrap().until, None);
        assert_eq!(
            user.holding(&brik("stock"), TODAY).unwrap().until,
            Some(PERIOD_END),
            "removed on its own: stays removed"
        );
    }

    #[test]
    fn a_user_who_never_signed_in_is_restored_as_invited_and_nothing_is_restored_twice() {
        let (user, _) = remove_user(&bob(), TODAY, PERIOD_END, false)
            .unwrap()
            .write
            .unwrap();
        let restoring = restore_user(&user).unwrap();
        assert!(!restoring.restore_access);
        let (user, _) = restoring.with_sign_in(false);
        assert_eq!(user.status, UserStatus::Invited);
        assert!(restore_user(&user).is_none());
    }

    #[test]
    fn a_free_seat_pays_for_today_and_one_free_next_period_for_that_too() {
        let catalogue = crate::catalogue::default_catalogue();
        let stock = catalogue.iter().find(|b| b.id.as_str() == "stock").unwrap();
        let files = catalogue.iter().find(|b| b.id.as_str() == "files").unwrap();
        let counts = |now: u32, next: u32| SeatCounts {
            now: BTreeMap::from([(stock.id.clone(), now)]),
            next: BTreeMap::from([(stock.id.clone(), next)]),
        };
        // 10 seats, 9 holders today; the pack shrinks to 9 from the next period.
        let seats = counts(10, 9);
        let holders = counts(9, 9);
        assert!(seats.has_seats(&stock.id) && !seats.has_seats(&files.id));
        let charges = seat_charges(&[stock, files], &seats, &holders);
        assert!(!charges[0].now, "the 10th seat pays for today");
        assert!(
            charges[0].next,
            "no seat free next period: charged if locked"
        );
        assert!(charges[1].now && charges[1].next, "no pack: charged");
        // The last seat taken: the next addition pays.
        let charges = seat_charges(&[stock], &seats, &counts(10, 9));
        assert!(charges[0].now);
    }

    #[test]
    fn a_user_made_inactive_and_active_again_moves_the_count_both_ways() {
        let decided = status_change(&bob(), false, StatusSource::Admin).unwrap();
        assert_eq!(
            decided,
            StatusDecision::Change {
                active: false,
                check_deny_list: false
            }
        );
        let (inactive, recorded, delta) = with_status(&bob(), false, true, StatusSource::Admin);
        assert_eq!(
            (inactive.status, recorded.action, delta),
            (UserStatus::Inactive, "user_deactivated", -1)
        );
        assert_eq!(
            status_change(&inactive, false, StatusSource::Admin).unwrap(),
            StatusDecision::Unchanged
        );
        // Back through the directory: the deny list first; never signed in, invited again.
        assert_eq!(
            status_change(&inactive, true, StatusSource::DirectorySync).unwrap(),
            StatusDecision::Change {
                active: true,
                check_deny_list: true
            }
        );
        let (back, recorded, delta) =
            with_status(&inactive, true, false, StatusSource::DirectorySync);
        assert_eq!((back.status, delta), (UserStatus::Invited, 1));
        assert_eq!(recorded.details["via"], "directory_sync");
    }

    #[test]
    fn the_admin_stays_active_and_a_user_being_removed_keeps_their_status() {
        let admin = User {
            role: Role::Admin,
            ..bob()
        };
        assert_eq!(
            status_change(&admin, false, StatusSource::Admin).unwrap_err(),
            Refusal::CannotDeactivateAdmin
        );
        assert_eq!(
            status_change(&admin, false, StatusSource::DirectorySync).unwrap(),
            StatusDecision::AdminLeftActive
        );
        let (leaving, _) = remove_user(&bob(), TODAY, PERIOD_END, false)
            .unwrap()
            .write
            .unwrap();
        assert_eq!(
            status_change(&leaving, false, StatusSource::Admin).unwrap_err(),
            Refusal::UserRemovalScheduled
        );
    }
}
