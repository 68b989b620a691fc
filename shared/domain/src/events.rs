//! What the Brik modules are told (events.md): each change of who may use which Brik, and each
//! billing fact, as an event of the account it happened to, at the instant it took effect. Ids
//! only: no name, address or other personal data ever goes in one. Which change makes which
//! event is decided with the change (its plan); recording it in the change's transaction and
//! putting it on the bus are the adapters'.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

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

/// A change the modules are told of, with what it says beyond the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    /// A signup succeeded: the Briks its admin holds.
    AccountCreated { briks: Vec<BrikId> },
}

impl Change {
    /// EventBridge's `detail-type`.
    pub fn detail_type(&self) -> &'static str {
        match self {
            Change::AccountCreated { .. } => "Account Created",
        }
    }

    pub fn source(&self) -> Source {
        match self {
            Change::AccountCreated { .. } => Source::Billing,
        }
    }

    /// What the event's `detail` says beyond `event_id`, `account_id` and `sequence`.
    pub fn detail(&self) -> serde_json::Value {
        match self {
            Change::AccountCreated { briks } => serde_json::json!({ "briks": briks }),
        }
    }
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
}
