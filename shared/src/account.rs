//! The account's types live in the domain (`softbrik_domain::account`, re-exported here), and
//! how their ids are made in the app crate (`softbrik_app::ids`).

pub use softbrik_app::ids::{new_id, new_ordered_id, ordered_id};
pub use softbrik_domain::account::*;
