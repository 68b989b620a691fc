//! Lists a page at a time by id (api.md: `?limit=`, `?next=`): the cursor is the last id of a
//! page, opaque to clients, and a cursor that is not one of the list's ids is a validation
//! error on `next`.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::error::Error;

/// The cursor after the item `id`.
pub fn encode(id: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

/// The id a cursor of a list of ids starting with `prefix` stands for.
pub fn decode(cursor: &str, prefix: &str) -> Result<String, Error> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|id| id.starts_with(prefix) && id.len() <= 64)
        .ok_or_else(|| Error::validation("next", "invalid_format", "not a cursor of this list"))
}

/// The `limit` items of `by_id` after the id `after` (from the first without), and the cursor
/// of the next page when there are more.
pub fn page<'a, T>(
    by_id: &'a BTreeMap<String, T>,
    after: Option<&str>,
    limit: usize,
) -> (Vec<(&'a String, &'a T)>, Option<String>) {
    let from = after.map_or(Bound::Unbounded, Bound::Excluded);
    let mut rest = by_id.range::<str, _>((from, Bound::Unbounded));
    let page: Vec<_> = rest.by_ref().take(limit).collect();
    let more = rest.next().is_some();
    let next = more
        .then(|| page.last().map(|(id, _)| encode(id)))
        .flatten();
    (page, next)
}
