//! Test clocks (api.md): a frozen "now" that accounts created with `test_clock_id` live on,
//! moved forward only by `advance`. Only non-prod stages have them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::store::Store;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestClock {
    pub id: String,
    pub frozen_time: Timestamp,
    pub status: TestClockStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestClockStatus {
    /// Not advancing: its time stands still.
    Ready,
    /// An advance is running the jobs due between the old and the new time.
    Advancing,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestClockItem {
    pub pk: String,
    pub sk: String,
    #[serde(flatten)]
    pub clock: TestClock,
    pub version: u64,
}

impl TestClockItem {
    pub fn pk(id: &str) -> String {
        format!("TESTCLOCK#{id}")
    }

    pub fn new(clock: TestClock) -> Self {
        TestClockItem {
            pk: Self::pk(&clock.id),
            sk: "TESTCLOCK".into(),
            clock,
            version: 1,
        }
    }

    pub async fn load(store: &Store, id: &str) -> Result<Option<TestClock>, Error> {
        Ok(store
            .get::<TestClockItem>(&Self::pk(id), "TESTCLOCK")
            .await?
            .map(|i| i.clock))
    }
}
