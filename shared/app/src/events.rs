//! The events of a change (events.md), made with it: their ids.

/// The id of the event a change makes, from the id of its history entry (`hst_<ULID>`): the
/// same ULID, so that a retried change makes the same event and events sort in the order
/// their changes were made.
pub fn event_id(history_id: &str) -> String {
    let ulid = history_id
        .split_once('_')
        .map_or(history_id, |(_, ulid)| ulid);
    format!("evt_{ulid}")
}

/// `Account Created` of `account`, made by the change whose history entry is `history_id`:
/// the Briks its admin holds.
pub fn account_created(
    history_id: &str,
    account: &softbrik_domain::account::Account,
    admin: &softbrik_domain::account::User,
    at: jiff::Timestamp,
) -> softbrik_domain::events::Event {
    softbrik_domain::events::Event {
        id: event_id(history_id),
        account_id: account.id.clone(),
        at,
        change: softbrik_domain::events::Change::AccountCreated {
            briks: admin.briks.iter().map(|b| b.brik_id.clone()).collect(),
        },
    }
}
