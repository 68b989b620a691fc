//! Softbrik's use cases over ports, and the in-memory adapters their in-process tests run on.
//!
//! A use case loads what its decision needs through a port, decides with the pure functions of
//! `softbrik-domain`, and commits the plan through the ports. The adapters to AWS live in the
//! `softbrik` crate, which depends on this one; nothing here knows DynamoDB, KMS, SES or
//! Cognito (no AWS crate is in this crate's tree: `make layers`).

pub mod billing;
pub mod clock;
pub mod closure;
pub mod credit_notes;
pub mod directory_sync;
pub mod dunning;
pub mod emails;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod ids;
pub mod intake;
pub mod invoices;
pub mod memory;
pub mod packs;
pub mod paging;
pub mod pdf;
pub mod ports;
pub mod renewal;
pub mod resellers;
pub mod signup;
pub mod staff;
pub mod subscription;
pub mod support;
pub mod team;
pub mod ticket_emails;

pub use error::Error;
