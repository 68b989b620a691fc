//! Where "now" comes from. Domain code is handed a `Clock` and never reads the system time
//! itself, so tests and an account's test clock can set the date.

use std::sync::Arc;

use jiff::Timestamp;

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The machine's clock: the only place Softbrik reads the system time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock stopped at one instant, for tests and test clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrozenClock(pub Timestamp);

impl FrozenClock {
    pub fn new(at: Timestamp) -> Self {
        Self(at)
    }
}

impl Clock for FrozenClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_always_answers_the_same_instant() {
        let at: Timestamp = "2026-12-19T23:30:00Z".parse().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(FrozenClock(at));
        assert_eq!(clock.now(), at);
        assert_eq!(clock.now(), at);
    }

    #[test]
    fn the_system_clock_reads_the_current_time() {
        let before = Timestamp::now();
        assert!(SystemClock.now() >= before);
    }
}
