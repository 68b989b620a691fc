//! Sign-in: the users of the identity provider with their group (`admin`, `member`) and
//! the account id that scopes every request. Passwords go straight to the provider; Softbrik
//! never stores or logs them.

use async_trait::async_trait;

use crate::error::Error;

/// A user to create in the pool.
pub struct NewSignIn<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password: &'a str,
    pub account_id: &'a str,
    pub user_id: &'a str,
    pub group: &'a str,
}

#[async_trait]
pub trait Directory: Send + Sync {
    /// Creates the user with a permanent password. A user left behind by an interrupted
    /// attempt for the same account is taken over; one of another account is a conflict. A
    /// user this call created or took over but could not finish (password, group) is deleted,
    /// so that no sign-in is left for an account that does not exist.
    async fn create_with_password(&self, user: &NewSignIn<'_>) -> Result<(), Error>;

    /// Creates an invited member, who must change `user.password` at their first sign-in
    /// (Softbrik emails it, not the provider). Returns the provider's id of the user.
    async fn invite(&self, user: &NewSignIn<'_>) -> Result<String, Error>;

    /// Whether the user has signed in at least once (their first password changed).
    async fn has_signed_in(&self, email: &str) -> Result<bool, Error>;

    /// Cuts access now: the user can no longer sign in and every token is revoked.
    async fn revoke_access(&self, email: &str) -> Result<(), Error>;

    /// Gives access back after [`Directory::revoke_access`].
    async fn restore_access(&self, email: &str) -> Result<(), Error>;

    /// Gives a user who has not signed in yet a new first password (to change at sign-in).
    async fn reset_temporary_password(&self, email: &str, password: &str) -> Result<(), Error>;

    /// The account a sign-in belongs to, if the user exists.
    async fn account_of(&self, email: &str) -> Result<Option<String>, Error>;

    /// Removes a sign-in; a user already gone is not an error.
    async fn delete(&self, email: &str) -> Result<(), Error>;
}
