//! Why the rules refuse a well-formed request: this kind of account or this support plan does
//! not offer it, or the account, a user, a ticket or a clock does not allow it in the state it
//! is in now, or another request changed it meanwhile. Each has a stable code (api.md's error
//! codes) and a detail for people. What status a refusal is answered with is the edge's
//! business (`softbrik::error`: 403 for what the account cannot do at all, 409 for the rest).

use jiff::civil::Date;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Another request changed what this one was decided on; a retry reads it again. The
    /// detail says what changed.
    #[error("{0}")]
    ConcurrentChange(&'static str),
    /// A ticket changed under a request (or is being changed); a retry reads it again.
    #[error("{0}")]
    TicketChanged(&'static str),
    #[error("the account is suspended until its open invoices are paid: replace the card")]
    AccountSuspended,
    /// The account is not active (closing, closed, lapsed...): the detail says what waits.
    #[error("{0}")]
    AccountNotActive(String),
    #[error("the account closes at the end of its period: its billing no longer changes")]
    AccountClosing,
    #[error("the account already closes on {0}")]
    ClosureAlreadyRequested(Date),
    /// A reseller with client accounts cannot do this (the detail says what).
    #[error("{0}")]
    ResellerHasClients(&'static str),
    #[error("the user is being removed: restore them first")]
    UserRemovalScheduled,
    #[error("the account's admin cannot be removed")]
    CannotRemoveAdmin,
    #[error("the account's admin cannot be made inactive")]
    CannotDeactivateAdmin,
    /// Seat packs are fixed in the 2 days before the billing date; they change again from
    /// this date.
    #[error("seat packs cannot change in the 2 days before the billing date; change them from {0}")]
    RenewalLocked(Date),
    #[error("the ticket is closed; open a new one")]
    TicketClosed,
    /// A resolved ticket: the detail says what no longer applies.
    #[error("{0}")]
    TicketResolved(&'static str),
    /// Only a resolved ticket can be confirmed or reopened.
    #[error("{0}")]
    NotResolved(&'static str),
    #[error(
        "a P1 ticket can be closed once the support team has written its root-cause analysis; confirm again then"
    )]
    RcaRequired,
    #[error("a ticket can be reopened within 14 days of its resolution; open a new one")]
    ReopenWindowPassed,
    #[error("the clock was advanced by another request")]
    ClockBusy,
    /// A directory client's request refused by the SCIM rules (its detail as SCIM says it).
    #[error("{0}")]
    ScimRefused(String),
    /// Cards, packs, the calendar and closure of a client account are its reseller's.
    #[error("this account is billed through its reseller, who manages its subscription")]
    BilledByReseller,
    #[error("a reseller holds no Briks: its clients' users do")]
    NotForReseller,
    #[error("only a reseller account has clients")]
    NotAReseller,
    #[error("this client account is already yours")]
    AlreadyYourClient,
    /// A client account's move to another reseller is already planned.
    #[error("this client account already moves to another reseller on {0}")]
    MoveAlreadyPlanned(Date),
    #[error("directory sync is offered to the client accounts of a reseller")]
    NotAClientAccount,
    /// What the account's support plan does not include (the detail says which plan does).
    #[error("{0}")]
    PlanRequired(&'static str),
}

impl Refusal {
    /// The stable code clients act on.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::ConcurrentChange(_) => "concurrent_change",
            Refusal::TicketChanged(_) => "ticket_changed",
            Refusal::AccountSuspended => "account_suspended",
            Refusal::AlreadyYourClient => "already_your_client",
            Refusal::MoveAlreadyPlanned(_) => "move_already_planned",
            Refusal::AccountNotActive(_) => "account_not_active",
            Refusal::AccountClosing => "account_closing",
            Refusal::ClosureAlreadyRequested(_) => "closure_already_requested",
            Refusal::ResellerHasClients(_) => "reseller_has_clients",
            Refusal::UserRemovalScheduled => "user_removal_scheduled",
            Refusal::CannotRemoveAdmin => "cannot_remove_admin",
            Refusal::CannotDeactivateAdmin => "cannot_deactivate_admin",
            Refusal::RenewalLocked(_) => "renewal_locked",
            Refusal::TicketClosed => "ticket_closed",
            Refusal::TicketResolved(_) => "ticket_resolved",
            Refusal::NotResolved(_) => "not_resolved",
            Refusal::RcaRequired => "rca_required",
            Refusal::ReopenWindowPassed => "reopen_window_passed",
            Refusal::ClockBusy => "clock_busy",
            Refusal::ScimRefused(_) => "scim_refused",
            Refusal::BilledByReseller => "billed_by_reseller",
            Refusal::NotForReseller => "not_for_reseller",
            Refusal::NotAReseller => "not_a_reseller",
            Refusal::NotAClientAccount => "not_a_client_account",
            Refusal::PlanRequired(_) => "plan_required",
        }
    }

    /// Whether the account can never do this as it is (its kind, its plan, its suspension:
    /// billing.md "Suspended means suspended"), rather than not now: the edge answers the
    /// first 403 and the rest 409.
    pub fn is_not_offered(&self) -> bool {
        matches!(
            self,
            Refusal::AccountSuspended
                | Refusal::BilledByReseller
                | Refusal::NotForReseller
                | Refusal::NotAReseller
                | Refusal::NotAClientAccount
                | Refusal::PlanRequired(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn a_refusal_says_its_code_and_why() {
        let locked = Refusal::RenewalLocked(date(2027, 1, 12));
        assert_eq!(locked.code(), "renewal_locked");
        assert!(locked.to_string().ends_with("change them from 2027-01-12"));
        let closing = Refusal::ClosureAlreadyRequested(date(2027, 2, 1));
        assert_eq!(
            closing.to_string(),
            "the account already closes on 2027-02-01"
        );
        assert_eq!(
            Refusal::ConcurrentChange("the account changed meanwhile; retry").to_string(),
            "the account changed meanwhile; retry"
        );
        assert!(!locked.is_not_offered());
        assert!(Refusal::BilledByReseller.is_not_offered());
        assert_eq!(Refusal::PlanRequired("Pro").code(), "plan_required");
    }
}
