//! What the Brik modules are told (events.md): each change of who may use which Brik, and each
//! billing fact, as an event of the account it happened to, at the instant it took effect. Ids
//! only: no name, address or other personal data ever goes in one. Which change makes which
//! event is decided with the change (its plan); recording it in the change's transaction and
//! putting it on the bus are the adapters'.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::account::{Account, AccountStatus, Invoice, InvoiceKind, PaymentStatus, User};
use crate::money::Money;
use crate::sla::{Priority, TargetName};
use crate::ticket::{Kind, TicketLife};
use crate::values::BrikId;

/// Where an event comes from (EventBridge's `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    #[serde(rename = "softbrik.billing")]
    Billing,
    #[serde(rename = "softbrik.support")]
    Support,
}

impl Source {
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Billing => "softbrik.billing",
            Source::Support => "softbrik.support",
        }
    }
}

/// Why a Brik left a user (`Brik Unassigned`'s `reason`): their access was cut at once (an
/// immediate removal, the user made inactive), or a removal took effect at the period end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnassignReason {
    Cut,
    Removed,
}

/// A change the modules are told of, with what it says beyond the envelope (its fields are
/// the event's `detail`, with the envelope's ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    /// A signup succeeded: the Briks its admin holds.
    AccountCreated { briks: Vec<BrikId> },
    /// A user may use a Brik from now (a paid addition, an invitation, access given back).
    BrikAssigned { user_id: String, brik_id: BrikId },
    /// A user may no longer use a Brik.
    BrikUnassigned {
        user_id: String,
        brik_id: BrikId,
        reason: UnassignReason,
    },
    /// A user's access ended at once (an immediate removal, made inactive).
    UserAccessCut { user_id: String },
    /// A user's access is back (a cut undone, made active again).
    UserAccessRestored { user_id: String },
    /// Dunning ended in suspension: nobody of the account uses a Brik until it pays.
    AccountSuspended {},
    /// A suspended account paid: its users' access is as it was.
    AccountReactivated {},
    /// The account's closure took effect: every module deletes the company's data by
    /// `delete_by`.
    AccountClosed { delete_by: Date },
    /// An invoice or a credit note was numbered.
    InvoiceFinalised {
        invoice_id: String,
        number: String,
        kind: InvoiceKind,
        total: Money,
    },
    /// A charge of an invoice failed (`attempt`: how many were made, this one included).
    PaymentFailed { invoice_id: String, attempt: u32 },
    /// A customer's ticket was opened: its priority and the first SLA target it runs to.
    TicketOpened {
        ticket_id: String,
        priority: Priority,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<TargetName>,
    },
    /// An SLA target of a customer's ticket passed its due time unmet.
    SlaBreached {
        ticket_id: String,
        priority: Priority,
        target: TargetName,
    },
}

impl Change {
    /// EventBridge's `detail-type`.
    pub fn detail_type(&self) -> &'static str {
        match self {
            Change::AccountCreated { .. } => "Account Created",
            Change::BrikAssigned { .. } => "Brik Assigned",
            Change::BrikUnassigned { .. } => "Brik Unassigned",
            Change::UserAccessCut { .. } => "User Access Cut",
            Change::UserAccessRestored { .. } => "User Access Restored",
            Change::AccountSuspended {} => "Account Suspended",
            Change::AccountReactivated {} => "Account Reactivated",
            Change::AccountClosed { .. } => "Account Closed",
            Change::InvoiceFinalised { .. } => "Invoice Finalised",
            Change::PaymentFailed { .. } => "Payment Failed",
            Change::TicketOpened { .. } => "Ticket Opened",
            Change::SlaBreached { .. } => "SLA Breached",
        }
    }

    pub fn source(&self) -> Source {
        match self {
            Change::TicketOpened { .. } | Change::SlaBreached { .. } => Source::Support,
            _ => Source::Billing,
        }
    }

    /// What the event's `detail` says beyond `event_id`, `account_id` and `sequence`.
    pub fn detail(&self) -> serde_json::Value {
        let mut detail = serde_json::to_value(self).unwrap_or_default();
        if let Some(fields) = detail.as_object_mut() {
            fields.remove("type");
        }
        detail
    }
}

/// `Invoice Finalised` of an invoice or credit note as numbered; `None` before its number.
pub fn invoice_finalised(invoice: &Invoice) -> Option<Change> {
    Some(Change::InvoiceFinalised {
        invoice_id: invoice.id.clone(),
        number: invoice.number.clone()?,
        kind: invoice.kind,
        total: invoice.totals.total,
    })
}

/// `Payment Failed` of an invoice whose last charge failed; `None` otherwise.
pub fn payment_failed(invoice: &Invoice) -> Option<Change> {
    (invoice.payment.status == PaymentStatus::Failed).then(|| Change::PaymentFailed {
        invoice_id: invoice.id.clone(),
        attempt: invoice.payment.attempts,
    })
}

/// `Ticket Opened` of a customer's ticket `ticket_id` (a security report is the team's own,
/// of no account: none).
pub fn ticket_opened(ticket_id: &str, life: &TicketLife) -> Option<Change> {
    (life.kind == Kind::Support).then(|| Change::TicketOpened {
        ticket_id: ticket_id.into(),
        priority: life.priority,
        target: life.targets.first().map(|t| t.name),
    })
}

/// `SLA Breached` for each target of a customer's ticket whose breach `now` records and `was`
/// did not.
pub fn sla_breached(ticket_id: &str, was: &TicketLife, now: &TicketLife) -> Vec<Change> {
    if now.kind != Kind::Support {
        return Vec::new();
    }
    now.targets
        .iter()
        .filter(|t| t.breached_at.is_some())
        .filter(|t| {
            !was.targets
                .iter()
                .any(|w| w.name == t.name && w.breached_at.is_some())
        })
        .map(|t| Change::SlaBreached {
            ticket_id: ticket_id.into(),
            priority: now.priority,
            target: t.name,
        })
        .collect()
}

/// How long the Brik modules have to delete a closed company's data: 30 days from the
/// closure, as a processor deletes a controller's data "without undue delay" (Softbrik itself
/// deletes at once; a module's backups and queues may need the month).
pub const MODULES_DELETE_WITHIN_DAYS: i32 = 30;

/// `Account Closed`, for a closure taking effect on `closed_on`.
pub fn account_closed(closed_on: Date) -> Change {
    let delete_by = closed_on
        .checked_add(jiff::Span::new().days(MODULES_DELETE_WITHIN_DAYS))
        .unwrap_or(closed_on);
    Change::AccountClosed { delete_by }
}

/// The events of an account's status going from `from` to `to`: suspended (for want of
/// payment, or lapsed: nobody uses a Brik), or back from it (paid, renewed, or closing: a
/// closing account's users work until its closure, whatever its standing before).
pub fn standing_changes(from: AccountStatus, to: AccountStatus) -> Vec<Change> {
    let stopped = |s| matches!(s, AccountStatus::Suspended | AccountStatus::Lapsed);
    let running = |s| {
        matches!(
            s,
            AccountStatus::Active | AccountStatus::PastDue | AccountStatus::Closing
        )
    };
    if !stopped(from) && stopped(to) {
        vec![Change::AccountSuspended {}]
    } else if stopped(from) && running(to) {
        vec![Change::AccountReactivated {}]
    } else {
        Vec::new()
    }
}

/// What a user may use, as the events announce it: whether their access is on, and the Briks
/// they may use (none while it is cut).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserAccess {
    pub active: bool,
    pub briks: BTreeSet<BrikId>,
}

impl UserAccess {
    /// `user`'s access up to a period end on `date`, before its removals take effect: the
    /// Briks held that day or ending on it (a Brik given that day included), if their access
    /// is not cut.
    pub fn before_end(user: &User, date: Date) -> UserAccess {
        let active = user.status.has_access();
        let briks = if active {
            user.briks
                .iter()
                .filter(|a| a.since <= date && a.until.is_none_or(|until| until >= date))
                .map(|a| a.brik_id.clone())
                .collect()
        } else {
            BTreeSet::new()
        };
        UserAccess { active, briks }
    }

    /// `user`'s access on `day`: the Briks held that day, if their access is not cut.
    pub fn of(user: &User, day: Date) -> UserAccess {
        let active = user.status.has_access() && user.present_on(day);
        let briks = if active {
            user.briks
                .iter()
                .filter(|a| a.held_on(day))
                .map(|a| a.brik_id.clone())
                .collect()
        } else {
            BTreeSet::new()
        };
        UserAccess { active, briks }
    }
}

/// The events that tell what changed for `user_id` from `before` to `after` (`None`: not a
/// user of the account then), in the order a module applies them: the access cut, then the
/// Briks that leave; the access back, then the Briks that come.
pub fn access_changes(
    user_id: &str,
    before: Option<&UserAccess>,
    after: Option<&UserAccess>,
) -> Vec<Change> {
    // Joining or leaving says nothing of the access itself: only of the Briks.
    let nothing = |other: Option<&UserAccess>| UserAccess {
        active: other.is_none_or(|o| o.active),
        briks: BTreeSet::new(),
    };
    let (before, after) = match (before, after) {
        (Some(b), Some(a)) => (b.clone(), a.clone()),
        (Some(b), None) => (b.clone(), nothing(Some(b))),
        (None, Some(a)) => (nothing(Some(a)), a.clone()),
        (None, None) => return Vec::new(),
    };
    let mut changes = Vec::new();
    if before.active && !after.active {
        changes.push(Change::UserAccessCut {
            user_id: user_id.into(),
        });
    }
    if !before.active && after.active {
        changes.push(Change::UserAccessRestored {
            user_id: user_id.into(),
        });
    }
    let reason = if after.active {
        UnassignReason::Removed
    } else {
        UnassignReason::Cut
    };
    for brik in before.briks.difference(&after.briks) {
        changes.push(Change::BrikUnassigned {
            user_id: user_id.into(),
            brik_id: brik.clone(),
            reason,
        });
    }
    for brik in after.briks.difference(&before.briks) {
        changes.push(Change::BrikAssigned {
            user_id: user_id.into(),
            brik_id: brik.clone(),
        });
    }
    changes
}

/// The entitlements route's `access`: what a module must let `user` do, in the order it wins:
/// a closed account, a suspended or lapsed one (nobody uses a Brik until it pays or renews), a
/// user whose access is cut, else active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Active,
    Cut,
    Suspended,
    Closed,
}

/// What a user may use on `day`, as the route answers it, from the same state the events
/// announce: the access, and the Briks the user's own access gives (kept while the account is
/// suspended, so that a module sees what comes back with the payment).
pub fn entitlement(account: &Account, user: &User, day: Date) -> (Access, Vec<BrikId>) {
    let own = UserAccess::of(user, day);
    let access = match account.status {
        AccountStatus::Closed => Access::Closed,
        AccountStatus::Suspended | AccountStatus::Lapsed => Access::Suspended,
        _ if !own.active => Access::Cut,
        _ => Access::Active,
    };
    let briks = if access == Access::Closed {
        Vec::new()
    } else {
        own.briks.into_iter().collect()
    };
    (access, briks)
}

/// An event of `account_id`: `id` is its `event_id` (a ULID, so events of one account sort
/// in the order they were made), `at` the instant the change took effect (simulated under a
/// test clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub account_id: String,
    pub at: Timestamp,
    pub change: Change,
}

impl Event {
    /// The event's `detail` as published: the envelope's ids, its `sequence` in the account's
    /// events, and what the change says.
    pub fn detail(&self, sequence: u64) -> serde_json::Value {
        let mut detail = serde_json::json!({
            "event_id": self.id,
            "account_id": self.account_id,
            "sequence": sequence,
        });
        if let (Some(all), serde_json::Value::Object(more)) =
            (detail.as_object_mut(), self.change.detail())
        {
            all.extend(more);
        }
        detail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_created_says_the_admins_briks_with_ids_only() {
        let event = Event {
            id: "evt_01".into(),
            account_id: "acc_1".into(),
            at: Timestamp::UNIX_EPOCH,
            change: Change::AccountCreated {
                briks: vec![
                    BrikId::parse("files").unwrap(),
                    BrikId::parse("care").unwrap(),
                ],
            },
        };
        assert_eq!(event.change.detail_type(), "Account Created");
        assert_eq!(event.change.source().as_str(), "softbrik.billing");
        assert_eq!(
            event.detail(1),
            serde_json::json!({
                "event_id": "evt_01", "account_id": "acc_1", "sequence": 1,
                "briks": ["files", "care"],
            })
        );
    }

    use crate::account::{Role, UserStatus};
    use crate::examples::{company, user};
    use crate::team::{Assigning, PeriodEnd, assign_brik, period_end, remove_user, restore_user};
    use jiff::civil::date;

    fn files() -> BrikId {
        BrikId::parse("files").unwrap()
    }

    fn names(changes: &[Change]) -> Vec<String> {
        changes
            .iter()
            .map(|c| {
                // Keys in order, whatever map serde_json was built with.
                let detail: std::collections::BTreeMap<String, serde_json::Value> =
                    serde_json::from_value(c.detail()).unwrap();
                let detail = serde_json::to_string(&detail).unwrap();
                format!("{} {detail}", c.detail_type())
            })
            .collect()
    }

    #[test]
    fn an_addition_assigns_the_brik_and_an_undone_removal_says_nothing() {
        let today = date(2026, 3, 10);
        let bob = user(
            "usr_bob",
            "bob@dupont.fr",
            Role::Member,
            &["care"],
            date(2026, 3, 1),
        );
        let Ok(Assigning::Changed { user: after, .. }) = assign_brik(&bob, &files(), today) else {
            panic!("an addition");
        };
        let changes = access_changes(
            "usr_bob",
            Some(&UserAccess::of(&bob, today)),
            Some(&UserAccess::of(&after, today)),
        );
        assert_eq!(
            names(&changes),
            [r#"Brik Assigned {"brik_id":"files","user_id":"usr_bob"}"#]
        );
        // A removal scheduled then undone: the Brik was never taken away.
        let scheduled = crate::team::remove_brik(&after, &files(), today, date(2026, 4, 1))
            .unwrap()
            .write
            .unwrap()
            .0;
        let Ok(Assigning::Changed { user: undone, .. }) = assign_brik(&scheduled, &files(), today)
        else {
            panic!("undone");
        };
        for (before, after) in [(&*after, &scheduled), (&scheduled, &*undone)] {
            let changes = access_changes(
                "usr_bob",
                Some(&UserAccess::of(before, today)),
                Some(&UserAccess::of(after, today)),
            );
            assert!(changes.is_empty(), "{changes:?}");
        }
    }

    #[test]
    fn an_immediate_cut_cuts_access_then_every_brik_and_its_undoing_gives_them_back() {
        let today = date(2026, 3, 10);
        let bob = user(
            "usr_bob",
            "bob@dupont.fr",
            Role::Member,
            &["files", "care"],
            today,
        );
        let cut = remove_user(&bob, today, date(2026, 4, 1), true)
            .unwrap()
            .write
            .unwrap()
            .0;
        assert_eq!(cut.status, UserStatus::AccessRevoked);
        let (before, after) = (UserAccess::of(&bob, today), UserAccess::of(&cut, today));
        assert_eq!(
            names(&access_changes("usr_bob", Some(&before), Some(&after))),
            [
                r#"User Access Cut {"user_id":"usr_bob"}"#,
                r#"Brik Unassigned {"brik_id":"care","reason":"cut","user_id":"usr_bob"}"#,
                r#"Brik Unassigned {"brik_id":"files","reason":"cut","user_id":"usr_bob"}"#,
            ]
        );
        let (back, _) = restore_user(&cut).unwrap().with_sign_in(true);
        assert_eq!(
            names(&access_changes(
                "usr_bob",
                Some(&after),
                Some(&UserAccess::of(&back, today))
            )),
            [
                r#"User Access Restored {"user_id":"usr_bob"}"#,
                r#"Brik Assigned {"brik_id":"care","user_id":"usr_bob"}"#,
                r#"Brik Assigned {"brik_id":"files","user_id":"usr_bob"}"#,
            ]
        );
        // Leaving at the period end after the cut: nothing more to tell.
        let end = date(2026, 4, 1);
        let last_day = end.yesterday().unwrap();
        assert!(matches!(period_end(&cut, end), PeriodEnd::Leaves(_)));
        assert!(access_changes("usr_bob", Some(&UserAccess::of(&cut, last_day)), None).is_empty());
    }

    #[test]
    fn a_removal_at_the_period_end_unassigns_what_was_used_up_to_its_last_day() {
        let end = date(2026, 4, 1);
        let last_day = end.yesterday().unwrap();
        let bob = user(
            "usr_bob",
            "bob@dupont.fr",
            Role::Member,
            &["files"],
            date(2026, 3, 1),
        );
        let leaving = remove_user(&bob, date(2026, 3, 10), end, false)
            .unwrap()
            .write
            .unwrap()
            .0;
        // Still used until the end: nothing said when it is scheduled.
        let today = date(2026, 3, 10);
        assert!(
            access_changes(
                "usr_bob",
                Some(&UserAccess::of(&bob, today)),
                Some(&UserAccess::of(&leaving, today))
            )
            .is_empty()
        );
        assert_eq!(
            names(&access_changes(
                "usr_bob",
                Some(&UserAccess::of(&leaving, last_day)),
                None
            )),
            [r#"Brik Unassigned {"brik_id":"files","reason":"removed","user_id":"usr_bob"}"#]
        );
    }

    #[test]
    fn the_route_answers_the_accounts_state_before_the_users() {
        let today = date(2026, 3, 10);
        let mut acme = company(date(2026, 3, 1));
        let bob = user("usr_bob", "bob@dupont.fr", Role::Member, &["files"], today);
        assert_eq!(
            entitlement(&acme, &bob, today),
            (Access::Active, vec![files()])
        );
        acme.status = AccountStatus::Suspended;
        assert_eq!(
            entitlement(&acme, &bob, today),
            (Access::Suspended, vec![files()])
        );
        acme.status = AccountStatus::Closed;
        assert_eq!(entitlement(&acme, &bob, today), (Access::Closed, vec![]));
        acme.status = AccountStatus::PastDue;
        let mut cut = bob.clone();
        cut.status = UserStatus::Inactive;
        assert_eq!(entitlement(&acme, &cut, today), (Access::Cut, vec![]));
    }

    #[test]
    fn at_a_period_end_a_brik_given_that_day_is_not_told_again() {
        // Files ends on Jan 12; Care was given on Jan 12 before the run applied the removal
        let end = date(2027, 1, 12);
        let mut bob = user(
            "usr_bob",
            "bob@dupont.fr",
            Role::Member,
            &["files"],
            date(2026, 12, 12),
        );
        bob.briks[0].until = Some(end);
        let Ok(Assigning::Changed { user: given, .. }) =
            assign_brik(&bob, &BrikId::parse("care").unwrap(), end)
        else {
            panic!("given");
        };
        let PeriodEnd::BriksEnd(after, _) = period_end(&given, end) else {
            panic!("Files ends");
        };
        assert_eq!(
            names(&access_changes(
                "usr_bob",
                Some(&UserAccess::before_end(&given, end)),
                Some(&UserAccess::of(&after, end))
            )),
            [r#"Brik Unassigned {"brik_id":"files","reason":"removed","user_id":"usr_bob"}"#]
        );
    }

    #[test]
    fn suspension_and_its_end_are_told_whatever_ends_it() {
        use AccountStatus::*;
        let told = |from, to| {
            standing_changes(from, to)
                .iter()
                .map(Change::detail_type)
                .collect::<Vec<_>>()
        };
        assert_eq!(told(PastDue, Suspended), ["Account Suspended"]);
        assert_eq!(told(Active, Lapsed), ["Account Suspended"]);
        assert_eq!(told(Suspended, Active), ["Account Reactivated"]);
        assert_eq!(told(Lapsed, Active), ["Account Reactivated"]);
        // A closing account's users work until the closure
        assert_eq!(told(Suspended, Closing), ["Account Reactivated"]);
        assert!(told(Active, PastDue).is_empty());
        assert!(told(Active, Closing).is_empty());
        assert!(told(Suspended, Suspended).is_empty());
    }
}
