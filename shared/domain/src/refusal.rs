//! Why the rules refuse a well-formed change in the state things are in now: the account, a
//! user, a ticket or a clock does not allow it, or another request changed it meanwhile. Each
//! has a stable code (api.md's error codes) and a detail for people. What status a refusal is
//! answered with is the edge's business (`softbrik::error`: all of these are 409).

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
}

impl Refusal {
    /// The stable code clients act on.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::ConcurrentChange(_) => "concurrent_change",
            Refusal::TicketChanged(_) => "ticket_changed",
            Refusal::AccountSuspended => "account_suspended",
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
        }
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
    }
}
