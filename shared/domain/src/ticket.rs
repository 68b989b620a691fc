//! The life of a support ticket (support.md): its status, priority and SLA targets, and the
//! rules that move them. Pure: each change is a method of [`TicketLife`] given the instant it
//! happens at; the ticket functions load a ticket, apply these, and store what they return.
//! The storage record (`softbrik::tickets::TicketItem`) carries a `TicketLife` and adds what
//! is sealed or only stored (subject, requester, keys, versions).

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

use crate::business_hours::BusinessHours;
use crate::refusal::Refusal;
use crate::sla::{Priority, SupportPlan, Target, TargetName};

/// A resolved ticket closes by itself this long after resolution without a reply.
pub const AUTO_CLOSE: SignedDuration = SignedDuration::from_hours(7 * 24);
/// A resolved ticket can be reopened this long after resolution.
pub const REOPEN_WINDOW: SignedDuration = SignedDuration::from_hours(14 * 24);
/// A P1 without workaround gets a public update at least this often.
pub const P1_UPDATE_EVERY: SignedDuration = SignedDuration::from_hours(2);
/// Closed tickets are pseudonymised this many months after closing.
pub const RETENTION_MONTHS: i32 = 24;
/// Security reports are acknowledged within this many business hours.
pub const SECURITY_ACKNOWLEDGE: SignedDuration = SignedDuration::from_hours(24);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Acknowledged,
    PendingCustomer,
    Workaround,
    Resolved,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Web,
    Chat,
    Phone,
    Email,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    Critical,
    High,
    Normal,
}

impl Impact {
    /// A new ticket is P3 until qualified, unless its impact says otherwise.
    pub fn priority(impact: Option<Impact>) -> Priority {
        match impact {
            Some(Impact::Critical) => Priority::P1,
            Some(Impact::High) => Priority::P2,
            Some(Impact::Normal) | None => Priority::P3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Support,
    Security,
}

/// A change of a target, kept with the ticket; reports are built from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Started,
    Paused,
    Resumed,
    Met,
    Breached,
    Restarted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaEvent {
    pub at: Timestamp,
    pub target: TargetName,
    pub change: Change,
}

/// A ticket's life as the SLA rules see it: what it is, where it stands, its targets and the
/// events they went through (reports are built from these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketLife {
    pub kind: Kind,
    pub status: Status,
    pub priority: Priority,
    /// The plan when the ticket was opened: a later plan change applies to later tickets.
    pub plan: SupportPlan,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    /// The support team's last public message (P1 updates count from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_at: Option<Timestamp>,
    /// The last P1 update due time the team was alerted of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_alerted_for: Option<Timestamp>,
    /// When the root-cause analysis was written, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rca_at: Option<Timestamp>,
    pub targets: Vec<Target>,
    pub events: Vec<SlaEvent>,
    #[serde(default)]
    pub pseudonymised: bool,
}

impl TicketLife {
    /// A ticket of `kind` opened at `at` with the impact its requester gave, on `plan`: its
    /// targets started (a security report is acknowledged within [`SECURITY_ACKNOWLEDGE`]).
    pub fn open(kind: Kind, impact: Option<Impact>, plan: SupportPlan, at: Timestamp) -> Self {
        let priority = Impact::priority(impact);
        let mut targets = Target::start_all(plan, priority, at);
        if kind == Kind::Security {
            for t in &mut targets {
                if t.name == TargetName::Acknowledge {
                    t.length = SECURITY_ACKNOWLEDGE;
                }
            }
        }
        let events = targets
            .iter()
            .map(|t| SlaEvent {
                at,
                target: t.name,
                change: Change::Started,
            })
            .collect();
        TicketLife {
            kind,
            status: Status::New,
            priority,
            plan,
            created_at: at,
            resolved_at: None,
            closed_at: None,
            last_update_at: None,
            update_alerted_for: None,
            rca_at: None,
            targets,
            events,
            pseudonymised: false,
        }
    }

    pub fn target_mut(&mut self, name: TargetName) -> Option<&mut Target> {
        self.targets.iter_mut().find(|t| t.name == name)
    }

    fn event(&mut self, at: Timestamp, target: TargetName, change: Change) {
        self.events.push(SlaEvent { at, target, change });
    }

    /// Meets a target (once).
    pub fn meet(&mut self, name: TargetName, at: Timestamp) {
        let met = match self.target_mut(name) {
            Some(t) if t.met_at.is_none() => {
                t.resume(at);
                t.met_at = Some(at);
                true
            }
            _ => false,
        };
        if met {
            self.event(at, name, Change::Met);
        }
    }

    /// The team waits for the customer: the resolution clock stops. Only while the ticket is
    /// being worked on (not once resolved).
    pub fn pause(&mut self, at: Timestamp) {
        if matches!(self.status, Status::Resolved | Status::Closed) {
            return;
        }
        let mut paused = Vec::new();
        for t in &mut self.targets {
            if !t.is_paused() {
                t.pause(at);
                if t.is_paused() {
                    paused.push(t.name);
                }
            }
        }
        for name in paused {
            self.event(at, name, Change::Paused);
        }
        self.status = Status::PendingCustomer;
    }

    /// The customer answered: paused clocks run again.
    pub fn resume(&mut self, at: Timestamp) {
        let mut resumed = Vec::new();
        for t in &mut self.targets {
            if t.is_paused() {
                t.resume(at);
                resumed.push(t.name);
            }
        }
        for name in resumed {
            self.event(at, name, Change::Resumed);
        }
        if self.status == Status::PendingCustomer {
            self.status = self.working_status();
        }
    }

    /// The status of a ticket being worked on, from what was met.
    fn working_status(&self) -> Status {
        let met = |name| {
            self.targets
                .iter()
                .any(|t: &Target| t.name == name && t.met_at.is_some())
        };
        if met(TargetName::Workaround) {
            Status::Workaround
        } else if met(TargetName::Acknowledge) {
            Status::Acknowledged
        } else {
            Status::New
        }
    }

    /// Qualification: the priority set by the team. Raised, the new targets count from now
    /// but are never due later than the old ones; lowered, they keep their start, pauses and
    /// state with the lower priority's lengths (a target the lower priority adds counts from
    /// the ticket's opening).
    pub fn qualify(&mut self, priority: Priority, hours: &BusinessHours, at: Timestamp) {
        if priority == self.priority {
            return;
        }
        let raised = priority < self.priority;
        let mut next = Vec::new();
        for fresh in Target::start_all(self.plan, priority, at) {
            let old = self.targets.iter().find(|t| t.name == fresh.name);
            let mut target = match (old, raised) {
                (Some(old), true) => old
                    .raised(self.plan, priority, hours, at)
                    .unwrap_or(fresh.clone()),
                (Some(old), false) => Target {
                    started_at: old.started_at,
                    pauses: old.pauses.clone(),
                    met_at: old.met_at,
                    breached_at: old.breached_at,
                    ..fresh.clone()
                },
                (None, true) => fresh.clone(),
                (None, false) => Target {
                    started_at: self.created_at,
                    ..fresh.clone()
                },
            };
            if let Some(old) = old {
                target.breached_at = old.breached_at;
                // A raised target starts now: a pause still running goes on from now.
                if raised && old.is_paused() && !target.is_paused() {
                    target.pauses = vec![(at, None)];
                }
            }
            next.push(target);
        }
        for t in &next {
            self.events.push(SlaEvent {
                at,
                target: t.name,
                change: Change::Restarted,
            });
        }
        self.targets = next;
        self.priority = priority;
    }

    /// Records the breach of every target due before `now` and still unmet (once each):
    /// the targets breached by this call, with their due times.
    pub fn check_breaches(
        &mut self,
        hours: &BusinessHours,
        now: Timestamp,
    ) -> Vec<(TargetName, Timestamp)> {
        let mut breached = Vec::new();
        for t in &mut self.targets {
            if t.check_breach(hours, now)
                && let Some(due) = t.breached_at
            {
                breached.push((t.name, due));
            }
        }
        for (target, due) in &breached {
            self.event(*due, *target, Change::Breached);
        }
        breached
    }

    /// The customer confirms a resolved ticket: it closes now. A P1 waits for its root-cause
    /// analysis (support.md), so it is refused until the team has written one.
    pub fn confirm(&mut self, at: Timestamp) -> Result<(), Refusal> {
        if self.status != Status::Resolved {
            return Err(Refusal::NotResolved(
                "only a resolved ticket can be confirmed",
            ));
        }
        if self.priority == Priority::P1 && self.rca_at.is_none() {
            return Err(Refusal::RcaRequired);
        }
        self.status = Status::Closed;
        self.closed_at = Some(at);
        Ok(())
    }

    /// Refused on a closed ticket: it takes no step any more.
    fn open_still(&self) -> Result<(), Refusal> {
        if self.status == Status::Closed {
            return Err(Refusal::TicketClosed);
        }
        Ok(())
    }

    /// The team qualifies the ticket (its priority, which sets the targets' lengths): that
    /// meets the acknowledge target; a new ticket is acknowledged.
    pub fn acknowledge(
        &mut self,
        priority: Priority,
        hours: &BusinessHours,
        at: Timestamp,
    ) -> Result<(), Refusal> {
        self.open_still()?;
        self.qualify(priority, hours, at);
        self.meet(TargetName::Acknowledge, at);
        if self.status == Status::New {
            self.status = Status::Acknowledged;
        }
        Ok(())
    }

    /// The team gives a workaround: it answers the acknowledgement too, and a clock paused on
    /// the customer runs again. Not on a resolved ticket.
    pub fn work_around(&mut self, at: Timestamp) -> Result<(), Refusal> {
        self.open_still()?;
        if self.status == Status::Resolved {
            return Err(Refusal::TicketResolved("the ticket is resolved"));
        }
        self.resume(at);
        self.meet(TargetName::Acknowledge, at);
        self.meet(TargetName::Workaround, at);
        self.status = Status::Workaround;
        self.last_update_at = Some(at);
        Ok(())
    }

    /// The team resolves the ticket: a resolution also answers the acknowledgement and any
    /// workaround due.
    pub fn resolve(&mut self, at: Timestamp) -> Result<(), Refusal> {
        self.open_still()?;
        self.resume(at);
        self.meet(TargetName::Acknowledge, at);
        self.meet(TargetName::Workaround, at);
        self.meet(TargetName::Resolution, at);
        self.status = Status::Resolved;
        self.resolved_at = Some(at);
        self.last_update_at = Some(at);
        Ok(())
    }

    /// A message of the team: a public one is an update (the P1 update clock starts again);
    /// `pending_customer` pauses the clocks until the customer answers, which a resolved ticket
    /// has nothing to wait for.
    pub fn team_message(
        &mut self,
        public: bool,
        pending_customer: bool,
        at: Timestamp,
    ) -> Result<(), Refusal> {
        self.open_still()?;
        if public {
            self.last_update_at = Some(at);
        }
        if pending_customer {
            if self.status == Status::Resolved {
                return Err(Refusal::TicketResolved(
                    "the ticket is resolved: nothing waits for the customer",
                ));
            }
            self.pause(at);
        }
        Ok(())
    }

    /// A message of the customer: a paused clock runs again; a resolved ticket is reopened
    /// (it does not close by itself while the customer is still writing).
    pub fn customer_message(&mut self, at: Timestamp) -> Result<(), Refusal> {
        self.open_still()?;
        if self.status == Status::Resolved {
            self.reopen(at)?;
        }
        self.resume(at);
        Ok(())
    }

    /// The customer reopens a resolved (or closed) ticket within [`REOPEN_WINDOW`] of its
    /// resolution: the resolution clock goes on from where it stopped (the time it stood
    /// resolved does not count); the ticket goes back to where the team had it.
    pub fn reopen(&mut self, at: Timestamp) -> Result<(), Refusal> {
        let resolved_at = match (self.status, self.resolved_at) {
            (Status::Resolved | Status::Closed, Some(resolved)) => resolved,
            _ => {
                return Err(Refusal::NotResolved(
                    "only a resolved ticket can be reopened",
                ));
            }
        };
        if at > resolved_at + REOPEN_WINDOW {
            return Err(Refusal::ReopenWindowPassed);
        }
        if let Some(target) = self.target_mut(TargetName::Resolution) {
            target.met_at = None;
            target.pauses.push((resolved_at, Some(at.max(resolved_at))));
        }
        self.event(at, TargetName::Resolution, Change::Resumed);
        self.resolved_at = None;
        self.closed_at = None;
        let worked_around = self
            .targets
            .iter()
            .any(|t| t.name == TargetName::Workaround && t.met_at.is_some());
        self.status = if worked_around {
            Status::Workaround
        } else {
            Status::Acknowledged
        };
        Ok(())
    }

    /// When the team owes a P1 requester its next update, if it does.
    pub fn update_due(&self) -> Option<Timestamp> {
        let waiting = self.kind == Kind::Support
            && self.priority == Priority::P1
            && matches!(
                self.status,
                Status::New | Status::Acknowledged | Status::PendingCustomer
            );
        if !waiting {
            return None;
        }
        let since = self.last_update_at.unwrap_or(self.created_at);
        let base = self.update_alerted_for.map_or(since, |a| a.max(since));
        Some(base + P1_UPDATE_EVERY)
    }

    /// When a resolved ticket closes by itself: 7 days after resolution, and for a P1 not
    /// before its root-cause analysis is written.
    pub fn auto_close_at(&self) -> Option<Timestamp> {
        if self.status != Status::Resolved
            || (self.priority == Priority::P1 && self.rca_at.is_none())
        {
            return None;
        }
        self.resolved_at.map(|r| r + AUTO_CLOSE)
    }

    /// When a closed ticket is pseudonymised.
    pub fn pseudonymise_at(&self) -> Option<Timestamp> {
        if self.status != Status::Closed || self.pseudonymised {
            return None;
        }
        let closed = self.closed_at?;
        closed
            .to_zoned(TimeZone::UTC)
            .checked_add(RETENTION_MONTHS.months())
            .ok()
            .map(|z| z.timestamp())
    }

    /// The next instant the SLA run has something to look at.
    pub fn next_check(&self, hours: &BusinessHours, now: Timestamp) -> Option<Timestamp> {
        let mut next: Vec<Timestamp> = Vec::new();
        if !matches!(self.status, Status::Closed) {
            // A breach is when the due time has passed: look one second after it.
            next.extend(
                self.targets
                    .iter()
                    .filter(|t| t.met_at.is_none() && t.breached_at.is_none() && !t.is_paused())
                    .map(|t| t.due_at(hours, now) + SignedDuration::from_secs(1)),
            );
        }
        next.extend(self.update_due());
        next.extend(self.auto_close_at());
        next.extend(self.pseudonymise_at());
        next.into_iter().min()
    }
}

/// The instant rounded up to a whole second.
pub fn ceil_second(at: Timestamp) -> Timestamp {
    let nanos = at.subsec_nanosecond();
    if nanos == 0 {
        at
    } else {
        at + SignedDuration::from_nanos(i64::from(1_000_000_000 - nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{at, paris};

    /// A support ticket opened at `opened`, its events not yet counted.
    fn ticket(plan: SupportPlan, impact: Option<Impact>, opened: Timestamp) -> TicketLife {
        TicketLife {
            events: Vec::new(),
            ..TicketLife::open(Kind::Support, impact, plan, opened)
        }
    }

    fn met(t: &TicketLife, name: TargetName) -> Option<Timestamp> {
        t.targets.iter().find(|x| x.name == name).unwrap().met_at
    }

    #[test]
    fn qualifying_a_new_ticket_acknowledges_it_and_a_closed_ticket_takes_no_step() {
        // GIVEN a new ticket on the Pro plan, opened on Monday 2027-01-11 10:00 Paris
        let opened = at("2027-01-11T09:00:00Z");
        let mut t = ticket(SupportPlan::Pro, None, opened);
        // WHEN the team qualifies it P2 an hour later
        let later = at("2027-01-11T10:00:00Z");
        t.acknowledge(Priority::P2, &paris(), later).unwrap();
        // THEN it is acknowledged, its acknowledgement met then
        assert_eq!(t.status, Status::Acknowledged);
        assert_eq!(t.priority, Priority::P2);
        assert_eq!(met(&t, TargetName::Acknowledge), Some(later));
        // AND once closed, no step of the team or the customer is taken
        t.status = Status::Closed;
        for refused in [
            t.clone().acknowledge(Priority::P1, &paris(), later),
            t.clone().work_around(later),
            t.clone().resolve(later),
            t.clone().team_message(true, false, later),
            t.clone().customer_message(later),
        ] {
            assert_eq!(refused, Err(Refusal::TicketClosed));
        }
    }

    #[test]
    fn a_resolution_meets_every_target_and_then_a_workaround_is_refused() {
        let opened = at("2027-01-11T09:00:00Z");
        let mut t = ticket(SupportPlan::Pro, Some(Impact::High), opened);
        let resolved = at("2027-01-11T11:00:00Z");
        t.resolve(resolved).unwrap();
        assert_eq!(t.status, Status::Resolved);
        assert_eq!(t.resolved_at, Some(resolved));
        assert_eq!(t.last_update_at, Some(resolved));
        for target in &t.targets {
            assert_eq!(target.met_at, Some(resolved), "{:?}", target.name);
        }
        assert_eq!(
            t.work_around(resolved),
            Err(Refusal::TicketResolved("the ticket is resolved"))
        );
    }

    #[test]
    fn waiting_for_the_customer_pauses_the_clocks_until_the_customer_answers() {
        // GIVEN an acknowledged ticket
        let opened = at("2027-01-11T09:00:00Z");
        let mut t = ticket(SupportPlan::Pro, Some(Impact::High), opened);
        t.acknowledge(Priority::P2, &paris(), opened).unwrap();
        // WHEN the team asks the customer something, waiting for the answer
        let asked = at("2027-01-11T10:00:00Z");
        t.team_message(true, true, asked).unwrap();
        // THEN the running clocks are paused and the update counts
        assert_eq!(t.status, Status::PendingCustomer);
        assert_eq!(t.last_update_at, Some(asked));
        assert!(
            t.events
                .iter()
                .any(|e| e.at == asked && e.change == Change::Paused)
        );
        // WHEN the customer answers
        let answered = at("2027-01-11T15:00:00Z");
        t.customer_message(answered).unwrap();
        // THEN they run again, from where the ticket was
        assert_eq!(t.status, Status::Acknowledged);
        assert!(t.targets.iter().all(|x| !x.is_paused()));
        assert!(
            t.events
                .iter()
                .any(|e| e.at == answered && e.change == Change::Resumed)
        );
        // AND a resolved ticket has nothing to wait for
        t.resolve(answered).unwrap();
        assert!(matches!(
            t.team_message(true, true, answered),
            Err(Refusal::TicketResolved(_))
        ));
    }

    #[test]
    fn a_resolved_ticket_reopens_within_14_days_and_its_clock_skips_the_time_it_stood_resolved() {
        // GIVEN a ticket worked around, then resolved on Jan 11
        let opened = at("2027-01-11T09:00:00Z");
        let mut t = ticket(SupportPlan::Pro, Some(Impact::High), opened);
        t.work_around(at("2027-01-11T10:00:00Z")).unwrap();
        let resolved = at("2027-01-11T11:00:00Z");
        t.resolve(resolved).unwrap();
        // WHEN the customer writes again on Jan 20
        let again = at("2027-01-20T09:00:00Z");
        t.customer_message(again).unwrap();
        // THEN it is back where the team had it, its resolution due again, the time it stood
        // resolved a pause
        assert_eq!(t.status, Status::Workaround);
        assert_eq!(t.resolved_at, None);
        let resolution = t
            .targets
            .iter()
            .find(|x| x.name == TargetName::Resolution)
            .unwrap();
        assert_eq!(resolution.met_at, None);
        assert!(resolution.pauses.contains(&(resolved, Some(again))));
        // AND after 14 days it no longer reopens; an open ticket has nothing to reopen
        t.resolve(again).unwrap();
        let late = again + REOPEN_WINDOW + SignedDuration::from_secs(1);
        assert_eq!(t.clone().reopen(late), Err(Refusal::ReopenWindowPassed));
        let mut open = ticket(SupportPlan::Pro, None, opened);
        assert!(matches!(open.reopen(again), Err(Refusal::NotResolved(_))));
    }

    fn due(t: &TicketLife, name: TargetName, now: Timestamp) -> Timestamp {
        t.targets
            .iter()
            .find(|x| x.name == name)
            .unwrap()
            .due_at(&paris(), now)
    }

    #[test]
    fn qualified_p2_before_easter_is_due_after_the_holiday_in_summer_time() {
        // Friday 2027-03-26 17:30 Paris (16:30Z), P3 until qualified P2 at once.
        let opened = at("2027-03-26T16:30:00Z");
        let mut t = ticket(SupportPlan::Basic, None, opened);
        t.qualify(Priority::P2, &paris(), opened);
        t.meet(TargetName::Acknowledge, opened);
        assert_eq!(
            due(&t, TargetName::Acknowledge, opened),
            at("2027-03-30T07:30:00Z")
        );
        assert_eq!(
            due(&t, TargetName::Resolution, opened),
            at("2027-03-31T15:30:00Z")
        );
        assert!(t.targets.iter().any(|x| x.name == TargetName::Workaround));
    }

    #[test]
    fn a_critical_ticket_on_enterprise_runs_around_the_clock() {
        let opened = at("2027-03-26T16:30:00Z");
        let t = ticket(SupportPlan::Enterprise, Some(Impact::Critical), opened);
        assert_eq!(
            due(&t, TargetName::Acknowledge, opened),
            at("2027-03-26T16:45:00Z")
        );
    }

    #[test]
    fn a_lowered_priority_counts_from_the_opening() {
        let opened = at("2027-03-23T08:00:00Z"); // Tuesday 09:00 Paris
        let mut t = ticket(SupportPlan::Basic, Some(Impact::High), opened);
        t.qualify(Priority::P3, &paris(), at("2027-03-23T09:00:00Z"));
        assert_eq!(
            due(&t, TargetName::Acknowledge, opened),
            at("2027-03-23T12:00:00Z")
        );
        assert!(t.targets.iter().all(|x| x.name != TargetName::Workaround));
    }

    #[test]
    fn a_priority_raised_while_waiting_for_the_customer_stays_paused_from_then() {
        let opened = at("2027-03-23T08:00:00Z"); // Tuesday 09:00 Paris
        let mut t = ticket(SupportPlan::Basic, None, opened);
        t.pause(at("2027-03-23T09:00:00Z"));
        t.qualify(Priority::P2, &paris(), at("2027-03-23T10:00:00Z"));
        let resolution = t
            .targets
            .iter()
            .find(|x| x.name == TargetName::Resolution)
            .unwrap();
        assert!(resolution.is_paused());
        assert_eq!(resolution.pauses, vec![(at("2027-03-23T10:00:00Z"), None)]);
        t.resume(at("2027-03-23T12:00:00Z"));
        // 18 business hours from 11:00 Paris plus the 2 hours waited: Thursday 13:00 Paris.
        assert_eq!(
            due(&t, TargetName::Resolution, at("2027-03-23T12:00:00Z")),
            at("2027-03-25T12:00:00Z")
        );
    }

    #[test]
    fn a_pause_after_a_raise_pushes_back_the_raised_target_and_its_limit_alike() {
        // P3 opened Monday 2027-01-11 09:00 Paris, qualified P2 at 10:00, waiting for the
        // customer from 11:00 to Monday 25th 11:00 (10 business days).
        let opened = at("2027-01-11T08:00:00Z");
        let mut t = ticket(SupportPlan::Basic, None, opened);
        t.qualify(Priority::P2, &paris(), at("2027-01-11T09:00:00Z"));
        t.pause(at("2027-01-11T10:00:00Z"));
        t.resume(at("2027-01-25T10:00:00Z"));
        let now = at("2027-01-25T10:00:00Z");
        let expected = paris().add(
            at("2027-01-11T09:00:00Z"),
            SignedDuration::from_hours(18 + 90),
        );
        assert_eq!(due(&t, TargetName::Resolution, now), expected);
        assert!(expected > now);
        let resolution = t.target_mut(TargetName::Resolution).unwrap();
        assert!(!resolution.check_breach(&paris(), now));
    }

    #[test]
    fn a_resolved_ticket_does_not_wait_for_the_customer() {
        let opened = at("2027-01-11T08:00:00Z");
        let mut t = ticket(SupportPlan::Basic, None, opened);
        t.status = Status::Resolved;
        t.pause(at("2027-01-11T09:00:00Z"));
        assert_eq!(t.status, Status::Resolved);
        assert!(t.targets.iter().all(|x| !x.is_paused()));
    }

    #[test]
    fn index_instants_are_rounded_up_to_the_second() {
        assert_eq!(
            ceil_second(at("2027-01-11T10:00:00.25Z")),
            at("2027-01-11T10:00:01Z")
        );
        assert_eq!(
            ceil_second(at("2027-01-11T10:00:00Z")),
            at("2027-01-11T10:00:00Z")
        );
    }

    #[test]
    fn pending_customer_pauses_only_resolution_and_a_reply_resumes_it() {
        let opened = at("2027-03-23T08:00:00Z");
        let mut t = ticket(SupportPlan::Basic, Some(Impact::High), opened);
        let before = due(&t, TargetName::Resolution, opened);
        t.pause(at("2027-03-23T09:00:00Z"));
        assert_eq!(t.status, Status::PendingCustomer);
        t.resume(at("2027-03-23T12:00:00Z"));
        assert_eq!(t.status, Status::New);
        let after = due(&t, TargetName::Resolution, at("2027-03-23T12:00:00Z"));
        assert_eq!(
            paris().between(before, after),
            SignedDuration::from_hours(3)
        );
        let kinds: Vec<Change> = t.events.iter().map(|e| e.change).collect();
        assert_eq!(kinds, vec![Change::Paused, Change::Resumed]);
    }

    #[test]
    fn the_next_check_is_just_after_the_earliest_unmet_target() {
        let opened = at("2027-03-23T08:00:00Z");
        let mut t = ticket(SupportPlan::Basic, None, opened);
        assert_eq!(
            t.next_check(&paris(), opened),
            Some(at("2027-03-23T12:00:01Z"))
        );
        t.meet(TargetName::Acknowledge, opened);
        t.meet(TargetName::Resolution, opened);
        assert_eq!(t.next_check(&paris(), opened), None);
    }

    #[test]
    fn p1_updates_are_due_every_two_hours_until_a_workaround() {
        let opened = at("2027-03-23T08:00:00Z");
        let mut t = ticket(SupportPlan::Basic, Some(Impact::Critical), opened);
        assert_eq!(t.update_due(), Some(at("2027-03-23T10:00:00Z")));
        t.last_update_at = Some(at("2027-03-23T09:00:00Z"));
        assert_eq!(t.update_due(), Some(at("2027-03-23T11:00:00Z")));
        t.update_alerted_for = Some(at("2027-03-23T11:00:00Z"));
        assert_eq!(t.update_due(), Some(at("2027-03-23T13:00:00Z")));
        t.status = Status::Workaround;
        assert_eq!(t.update_due(), None);
    }

    #[test]
    fn a_resolved_p1_waits_for_its_rca_before_closing_by_itself() {
        let opened = at("2027-03-23T08:00:00Z");
        let mut t = ticket(SupportPlan::Basic, Some(Impact::Critical), opened);
        t.status = Status::Resolved;
        t.resolved_at = Some(opened);
        assert_eq!(t.auto_close_at(), None);
        t.rca_at = Some(opened);
        assert_eq!(t.auto_close_at(), Some(at("2027-03-30T08:00:00Z")));
    }

    #[test]
    fn closed_tickets_are_pseudonymised_24_months_later() {
        let opened = at("2027-03-23T08:00:00Z");
        let mut t = ticket(SupportPlan::Basic, None, opened);
        t.status = Status::Closed;
        t.closed_at = Some(at("2027-04-02T10:00:00Z"));
        assert_eq!(t.pseudonymise_at(), Some(at("2029-04-02T10:00:00Z")));
        assert_eq!(
            t.next_check(&paris(), opened),
            Some(at("2029-04-02T10:00:00Z"))
        );
    }

    #[test]
    fn a_resolved_p1_is_confirmed_closed_once_its_rca_is_written() {
        let opened = at("2027-03-23T08:00:00Z");
        let mut t = ticket(SupportPlan::Basic, Some(Impact::Critical), opened);
        assert_eq!(t.confirm(opened).unwrap_err().code(), "not_resolved");
        t.status = Status::Resolved;
        t.resolved_at = Some(opened);
        assert_eq!(t.confirm(opened), Err(Refusal::RcaRequired));
        assert_eq!(t.status, Status::Resolved);
        t.rca_at = Some(opened);
        t.confirm(at("2027-03-24T08:00:00Z")).unwrap();
        assert_eq!(t.status, Status::Closed);
        assert_eq!(t.closed_at, Some(at("2027-03-24T08:00:00Z")));
    }
}
