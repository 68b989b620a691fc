//! The events of a change (events.md), made with it: their ids.

use jiff::Timestamp;
use softbrik_domain::account::{Account, User};
use softbrik_domain::events::{Change, Event};

/// The id of the `n`th event a change makes, from the id of its history entry (`hst_<ULID>`):
/// the same ULID plus `n`, so that a retried change makes the same events, and events sort
/// in the order their changes, then the change, made them.
pub fn event_id(history_id: &str, n: usize) -> String {
    let text = history_id
        .split_once('_')
        .map_or(history_id, |(_, ulid)| ulid);
    let ulid = ulid::Ulid::from_string(&text.to_uppercase()).unwrap_or_else(|_| {
        // Not a ULID (a run's entry named after what it records): the same digest, the
        // same id.
        let digest = crate::ids::digest_hex(history_id.as_bytes());
        ulid::Ulid(u128::from_str_radix(&digest[..32], 16).unwrap_or_default())
    });
    let id = ulid::Ulid(ulid.0.wrapping_add(n as u128));
    format!("evt_{}", id.to_string().to_lowercase())
}

/// The events of `account` that `changes` make, the change recorded as `history_id`, at `at`.
pub fn made(
    history_id: &str,
    account: &Account,
    at: Timestamp,
    changes: impl IntoIterator<Item = Change>,
) -> Vec<Event> {
    made_for(history_id, &account.id, at, changes)
}

/// [`made`], for the account `account_id`.
pub fn made_for(
    history_id: &str,
    account_id: &str,
    at: Timestamp,
    changes: impl IntoIterator<Item = Change>,
) -> Vec<Event> {
    changes
        .into_iter()
        .enumerate()
        .map(|(n, change)| Event {
            id: event_id(history_id, n),
            account_id: account_id.to_string(),
            at,
            change,
        })
        .collect()
}

/// The events of a change of `ticket` (a ticket opened, its targets breached), at its last
/// change.
pub fn of_ticket(
    ticket: &crate::ports::tickets::Ticket,
    changes: impl IntoIterator<Item = Change>,
) -> Vec<Event> {
    let id = crate::ids::new_ordered_id("evt", ticket.updated_at);
    made_for(&id, &ticket.account_id, ticket.updated_at, changes)
}

/// The events of `account` that `changes` make at `at`, for a change with no history entry
/// of its own (a new id each time: a change refused writes none).
pub fn fresh(account: &Account, at: Timestamp, changes: Vec<Change>) -> Vec<Event> {
    made(&crate::ids::new_ordered_id("evt", at), account, at, changes)
}

/// The events of `account`'s status moving to `to` at `at` (suspended, reactivated).
pub fn standing(
    account: &Account,
    to: softbrik_domain::account::AccountStatus,
    at: Timestamp,
) -> Vec<Event> {
    fresh(
        account,
        at,
        softbrik_domain::events::standing_changes(account.status, to),
    )
}

/// `Account Created` of `account`, made by the change whose history entry is `history_id`:
/// the Briks its admin holds.
pub fn account_created(history_id: &str, account: &Account, admin: &User, at: Timestamp) -> Event {
    let briks = admin.briks.iter().map(|b| b.brik_id.clone()).collect();
    let mut made = made(history_id, account, at, [Change::AccountCreated { briks }]);
    made.remove(0)
}

/// What `GET /entitlements/{account_id}/users/{user_id}` answers a Brik module (api.md).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entitlements {
    pub account_id: String,
    pub user_id: String,
    pub access: softbrik_domain::events::Access,
    pub briks: Vec<softbrik_domain::values::BrikId>,
    pub as_of: Timestamp,
}

/// What `user_id` of `account_id` may use now, from the same state the events announce
/// (`softbrik_domain::events::entitlement`), for a module that missed an event. An unknown
/// account or user, or a user whose removal took effect, is not found.
pub async fn entitlements(
    ports: &crate::ports::Ports<'_>,
    account_id: &str,
    user_id: &str,
) -> Result<Entitlements, crate::error::Error> {
    let team = ports.table.team(account_id).await?;
    let now = ports.table.now_for(&team.account).await?;
    let today = team.account.local_date(now);
    let user = team
        .users
        .iter()
        .map(|u| &u.value)
        .find(|u| u.id == user_id && u.present_on(today))
        .ok_or(crate::error::Error::NotFound)?;
    let (access, briks) = softbrik_domain::events::entitlement(&team.account, user, today);
    Ok(Entitlements {
        account_id: team.account.id.clone(),
        user_id: user.id.clone(),
        access,
        briks,
        as_of: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changes_events_follow_its_history_entry_in_order() {
        let history = "hst_01jbq3x4y5z6a7b8c9d0e1f2g3";
        let first = event_id(history, 0);
        assert_eq!(first, "evt_01jbq3x4y5z6a7b8c9d0e1f2g3");
        assert!(event_id(history, 1) > first);
        assert_eq!(event_id(history, 1), event_id(history, 1));
        let named = event_id("hst_0c1d2e3f", 0);
        assert!(named.starts_with("evt_") && named.len() == 30, "{named}");
    }
}
