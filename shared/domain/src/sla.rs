//! SLA targets of a support ticket (support.md "Priorities and targets"): what is due when,
//! for a priority and a plan, in business time of the account's calendar or, for P1 on
//! Enterprise, around the clock; paused while the team waits for the customer; restarted,
//! never later, when the priority is raised; breached once when the due time passes unmet.
//!
//! Pure rules on instants: the ticket functions keep the events (started, paused, resumed,
//! met, breached) and call these to know the due times.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::business_hours::{BusinessHours, HOURS_PER_DAY};

/// An account's support plan: which clock its P1 targets run on (and, on the account, what it
/// pays for support).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupportPlan {
    Basic,
    Pro,
    Enterprise,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    P1,
    P2,
    P3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetName {
    Acknowledge,
    Workaround,
    Resolution,
}

/// How a target's time runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clock {
    /// Monday-Friday 09:00-18:00 local, holidays excepted.
    Business,
    /// 24/7 (P1 on Enterprise).
    Calendar,
}

/// The length of each target of a priority (support.md's table); `None`: no such target.
pub fn target_length(priority: Priority, name: TargetName) -> Option<SignedDuration> {
    let minutes = |m: i64| Some(SignedDuration::from_mins(m));
    let hours = |h: i64| Some(SignedDuration::from_hours(h));
    match (priority, name) {
        (Priority::P1, TargetName::Acknowledge) => minutes(15),
        (Priority::P1, TargetName::Workaround) => hours(2),
        (Priority::P1, TargetName::Resolution) => hours(8),
        (Priority::P2, TargetName::Acknowledge) => hours(1),
        (Priority::P2, TargetName::Workaround) => hours(4),
        (Priority::P2, TargetName::Resolution) => hours(2 * HOURS_PER_DAY),
        (Priority::P3, TargetName::Acknowledge) => hours(4),
        (Priority::P3, TargetName::Workaround) => None,
        (Priority::P3, TargetName::Resolution) => hours(5 * HOURS_PER_DAY),
    }
}

/// Which clock a plan's targets of a priority run on.
pub fn clock(plan: SupportPlan, priority: Priority) -> Clock {
    match (plan, priority) {
        (SupportPlan::Enterprise, Priority::P1) => Clock::Calendar,
        _ => Clock::Business,
    }
}

/// Only the resolution target waits while the customer is asked for something.
pub fn pauses_for_customer(name: TargetName) -> bool {
    name == TargetName::Resolution
}

/// One target's running state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub name: TargetName,
    pub clock: Clock,
    pub started_at: Timestamp,
    pub length: SignedDuration,
    /// Pauses so far: (from, until), the last open while paused.
    pub pauses: Vec<(Timestamp, Option<Timestamp>)>,
    /// A due time the target may not move past (kept across a priority raise).
    pub not_later_than: Option<Timestamp>,
    pub met_at: Option<Timestamp>,
    pub breached_at: Option<Timestamp>,
}

impl Target {
    /// The targets a ticket of `priority` on `plan` starts at `at`.
    pub fn start_all(plan: SupportPlan, priority: Priority, at: Timestamp) -> Vec<Target> {
        [
            TargetName::Acknowledge,
            TargetName::Workaround,
            TargetName::Resolution,
        ]
        .into_iter()
        .filter_map(|name| {
            Some(Target {
                name,
                clock: clock(plan, priority),
                started_at: at,
                length: target_length(priority, name)?,
                pauses: Vec::new(),
                not_later_than: None,
                met_at: None,
                breached_at: None,
            })
        })
        .collect()
    }

    pub fn is_paused(&self) -> bool {
        self.pauses.last().is_some_and(|(_, until)| until.is_none())
    }

    pub fn pause(&mut self, at: Timestamp) {
        if pauses_for_customer(self.name) && !self.is_paused() && self.met_at.is_none() {
            self.pauses.push((at, None));
        }
    }

    pub fn resume(&mut self, at: Timestamp) {
        if let Some((from, until @ None)) = self.pauses.last_mut() {
            *until = Some(at.max(*from));
        }
    }

    /// Time paused so far, in the target's own time, as of `now`.
    fn paused(&self, hours: &BusinessHours, now: Timestamp) -> SignedDuration {
        self.pauses
            .iter()
            .map(|(from, until)| {
                let until = until.unwrap_or(now);
                match self.clock {
                    Clock::Business => hours.between(*from, until),
                    Clock::Calendar => until.duration_since(*from).max(SignedDuration::ZERO),
                }
            })
            .sum()
    }

    /// When the target is due, as of `now` (a running pause keeps pushing it back). A limit
    /// kept from before a priority raise moves with the pauses since, like the target itself.
    pub fn due_at(&self, hours: &BusinessHours, now: Timestamp) -> Timestamp {
        let paused = self.paused(hours, now);
        let later = |from: Timestamp, by: SignedDuration| match self.clock {
            Clock::Business => hours.add(from, by),
            Clock::Calendar => from + by,
        };
        let due = later(self.started_at, self.length + paused);
        self.not_later_than
            .map_or(due, |limit| due.min(later(limit, paused)))
    }

    /// The same target for a raised priority, counted from `at` but never due later than now.
    pub fn raised(
        &self,
        plan: SupportPlan,
        priority: Priority,
        hours: &BusinessHours,
        at: Timestamp,
    ) -> Option<Target> {
        let mut next = Target::start_all(plan, priority, at)
            .into_iter()
            .find(|t| t.name == self.name)?;
        next.not_later_than = Some(self.due_at(hours, at));
        next.met_at = self.met_at;
        Some(next)
    }

    /// Records a breach if the target is due before `now`, unmet and not yet breached;
    /// returns whether this call recorded it (a breach is recorded once).
    pub fn check_breach(&mut self, hours: &BusinessHours, now: Timestamp) -> bool {
        if self.met_at.is_some() || self.breached_at.is_some() || self.is_paused() {
            return false;
        }
        let due = self.due_at(hours, now);
        if due < now {
            self.breached_at = Some(due);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{at, paris};

    fn target(targets: &[Target], name: TargetName) -> &Target {
        targets.iter().find(|t| t.name == name).unwrap()
    }

    /// Friday 2027-03-26 17:30 Paris.
    const OPENED: &str = "2027-03-26T16:30:00Z";

    #[test]
    fn a_basic_p2_opened_before_easter_is_due_tuesday_and_wednesday() {
        let targets = Target::start_all(SupportPlan::Basic, Priority::P2, at(OPENED));
        let now = at(OPENED);
        assert_eq!(
            target(&targets, TargetName::Acknowledge).due_at(&paris(), now),
            at("2027-03-30T07:30:00Z")
        );
        assert_eq!(
            target(&targets, TargetName::Resolution).due_at(&paris(), now),
            at("2027-03-31T15:30:00Z")
        );
    }

    #[test]
    fn an_enterprise_p1_runs_around_the_clock() {
        let targets = Target::start_all(SupportPlan::Enterprise, Priority::P1, at(OPENED));
        assert_eq!(
            target(&targets, TargetName::Acknowledge).due_at(&paris(), at(OPENED)),
            at("2027-03-26T16:45:00Z")
        );
        // Opened at 17:50, the same P1 is due 18:05 on Enterprise, Tuesday 09:05 on Basic
        let late = at("2027-03-26T16:50:00Z");
        let enterprise = Target::start_all(SupportPlan::Enterprise, Priority::P1, late);
        assert_eq!(
            target(&enterprise, TargetName::Acknowledge).due_at(&paris(), late),
            at("2027-03-26T17:05:00Z")
        );
        let basic = Target::start_all(SupportPlan::Basic, Priority::P1, late);
        assert_eq!(
            target(&basic, TargetName::Acknowledge).due_at(&paris(), late),
            at("2027-03-30T07:05:00Z")
        );
    }

    #[test]
    fn p3_has_no_workaround_target() {
        let targets = Target::start_all(SupportPlan::Pro, Priority::P3, at(OPENED));
        assert!(targets.iter().all(|t| t.name != TargetName::Workaround));
        assert_eq!(targets.len(), 2);
    }

    #[test]
    fn three_business_hours_waiting_for_the_customer_push_the_resolution_three_hours() {
        // Tuesday 2027-01-12 10:00 Paris, P2 on Basic: due Thursday 10:00
        let opened = at("2027-01-12T09:00:00Z");
        let mut resolution = Target::start_all(SupportPlan::Basic, Priority::P2, opened)
            .into_iter()
            .find(|t| t.name == TargetName::Resolution)
            .unwrap();
        let before = resolution.due_at(&paris(), opened);
        assert_eq!(before, at("2027-01-14T09:00:00Z"));
        // Paused from 11:00 to 14:00 Paris the same day
        resolution.pause(at("2027-01-12T10:00:00Z"));
        assert!(resolution.is_paused());
        resolution.resume(at("2027-01-12T13:00:00Z"));
        assert_eq!(
            resolution.due_at(&paris(), at("2027-01-12T13:00:00Z")),
            at("2027-01-14T12:00:00Z")
        );
        // A pause over a night counts only its business hours (17:00 to 10:00 = 2 h)
        resolution.pause(at("2027-01-12T16:00:00Z"));
        resolution.resume(at("2027-01-13T09:00:00Z"));
        assert_eq!(
            resolution.due_at(&paris(), at("2027-01-13T09:00:00Z")),
            at("2027-01-14T14:00:00Z")
        );
    }

    #[test]
    fn acknowledge_does_not_pause() {
        let mut ack = Target::start_all(SupportPlan::Basic, Priority::P3, at(OPENED))
            .into_iter()
            .find(|t| t.name == TargetName::Acknowledge)
            .unwrap();
        ack.pause(at(OPENED));
        assert!(!ack.is_paused());
    }

    #[test]
    fn a_raised_priority_restarts_its_targets_but_never_later() {
        // P3 opened Monday 2027-01-11 09:00 Paris: acknowledge due 13:00
        let opened = at("2027-01-11T08:00:00Z");
        let ack = Target::start_all(SupportPlan::Basic, Priority::P3, opened)
            .into_iter()
            .find(|t| t.name == TargetName::Acknowledge)
            .unwrap();
        assert_eq!(ack.due_at(&paris(), opened), at("2027-01-11T12:00:00Z"));
        // Raised to P2 at 10:00: 1 h from then, 11:00
        let raised = ack
            .raised(
                SupportPlan::Basic,
                Priority::P2,
                &paris(),
                at("2027-01-11T09:00:00Z"),
            )
            .unwrap();
        assert_eq!(
            raised.due_at(&paris(), at("2027-01-11T09:00:00Z")),
            at("2027-01-11T10:00:00Z")
        );
        // Raised to P2 at 12:30: 1 h would be 13:30, but the old due time 13:00 stands
        let late = ack
            .raised(
                SupportPlan::Basic,
                Priority::P2,
                &paris(),
                at("2027-01-11T11:30:00Z"),
            )
            .unwrap();
        assert_eq!(
            late.due_at(&paris(), at("2027-01-11T11:30:00Z")),
            at("2027-01-11T12:00:00Z")
        );
    }

    #[test]
    fn a_breach_is_recorded_once_at_the_due_time() {
        let mut ack = Target::start_all(SupportPlan::Basic, Priority::P2, at(OPENED))
            .into_iter()
            .find(|t| t.name == TargetName::Acknowledge)
            .unwrap();
        assert!(!ack.check_breach(&paris(), at("2027-03-30T07:00:00Z")));
        assert!(ack.check_breach(&paris(), at("2027-03-30T08:00:00Z")));
        assert_eq!(ack.breached_at, Some(at("2027-03-30T07:30:00Z")));
        assert!(
            !ack.check_breach(&paris(), at("2027-03-30T09:00:00Z")),
            "once"
        );
    }
}
