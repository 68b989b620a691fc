//! What the mail intake needs besides the tickets: the claims that make a message handled
//! once, who a sender is, and the count of a sender's automatic replies.

use async_trait::async_trait;
use jiff::Timestamp;
use softbrik_domain::values::EmailAddress;

use crate::error::Error;
use crate::ports::team::{Read, Stamp};

/// A user of an account, found by the address they sign in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub account_id: String,
    pub user_id: String,
}

#[async_trait]
pub trait Inbox: Send + Sync {
    /// The key of the claim on a message (its Message-ID, hashed: the table never holds it).
    async fn claim_key(&self, message_id: &str) -> Result<String, Error>;

    /// Whether a delivery of the message claimed `claim` already.
    async fn claimed(&self, claim: &str) -> Result<bool, Error>;

    /// Claims a message that makes nothing else (an unknown sender's): `false` when another
    /// delivery claimed it first. (A message that makes a ticket or a reply is claimed in
    /// the same write: `ports::tickets::With::Mail`.)
    async fn claim(&self, claim: &str) -> Result<bool, Error>;

    /// The keyed hash of a sender's address (the auto-replies' count is kept under it).
    async fn sender_hash(&self, email: &EmailAddress) -> Result<String, Error>;

    /// The user who signs in with the address hashed as `sender_hash`, if any.
    async fn sender(&self, sender_hash: &str) -> Result<Option<Sender>, Error>;

    /// When the automatic replies to the sender hashed as `sender_hash` were sent (those of
    /// the last hours at least), with the stamp [`Inbox::save_replies`] needs.
    async fn replies(&self, sender_hash: &str) -> Result<Read<Vec<Timestamp>>, Error>;

    /// Stores the replies' instants, only if none was added since `read`: `false` then.
    async fn save_replies(
        &self,
        sender_hash: &str,
        read: &Stamp,
        sent: &[Timestamp],
    ) -> Result<bool, Error>;
}
