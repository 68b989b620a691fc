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
