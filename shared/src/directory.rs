//! The Cognito adapter: sign-in users with their group (`admin`, `member`) and the
//! `custom:account_id` attribute that scopes every request. Passwords go straight to Cognito;
//! Softbrik never stores or logs them.

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::operation::admin_create_user::AdminCreateUserError;
use aws_sdk_cognitoidentityprovider::operation::admin_delete_user::AdminDeleteUserError;
use aws_sdk_cognitoidentityprovider::operation::admin_get_user::AdminGetUserError;
use aws_sdk_cognitoidentityprovider::operation::admin_set_user_password::AdminSetUserPasswordError;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType};

use crate::error::Error;

pub const ACCOUNT_ID_ATTRIBUTE: &str = "custom:account_id";
/// The Softbrik user id, so that a token names its user (the actor of history entries).
pub const USER_ID_ATTRIBUTE: &str = "custom:user_id";

pub use softbrik_app::ports::directory::{Directory, NewSignIn};

/// The Cognito user pool.
#[derive(Clone)]
pub struct CognitoDirectory {
    idp: Client,
    pool_id: String,
}

impl CognitoDirectory {
    pub fn new(idp: Client, pool_id: impl Into<String>) -> Self {
        CognitoDirectory {
            idp,
            pool_id: pool_id.into(),
        }
    }

    /// AdminCreateUser with Softbrik's attributes; Cognito sends no message (Softbrik does).
    async fn create_user(
        &self,
        user: &NewSignIn<'_>,
        temporary_password: Option<&str>,
    ) -> Result<
        aws_sdk_cognitoidentityprovider::operation::admin_create_user::AdminCreateUserOutput,
        aws_sdk_cognitoidentityprovider::error::SdkError<AdminCreateUserError>,
    > {
        let attribute =
            |name: &str, value: &str| AttributeType::builder().name(name).value(value).build();
        let mut request = self
            .idp
            .admin_create_user()
            .user_pool_id(&self.pool_id)
            .username(user.email)
            .message_action(MessageActionType::Suppress)
            .set_temporary_password(temporary_password.map(str::to_string));
        for (name, value) in [
            ("email", user.email),
            ("email_verified", "true"),
            ("name", user.name),
            (ACCOUNT_ID_ATTRIBUTE, user.account_id),
            (USER_ID_ATTRIBUTE, user.user_id),
        ] {
            if let Ok(a) = attribute(name, value) {
                request = request.user_attributes(a);
            }
        }
        request.send().await
    }

    /// Sets the permanent password of a new user and puts it in its group.
    async fn finish_with_password(&self, user: &NewSignIn<'_>) -> Result<(), Error> {
        let password = self
            .idp
            .admin_set_user_password()
            .user_pool_id(&self.pool_id)
            .username(user.email)
            .password(user.password)
            .permanent(true)
            .send()
            .await;
        match password.map_err(|e| e.into_service_error()) {
            Ok(_) => {}
            Err(AdminSetUserPasswordError::InvalidPasswordException(_)) => {
                return Err(Error::validation(
                    "admin.password",
                    "weak_password",
                    "the password needs at least 10 characters with lower and upper case letters and a digit",
                ));
            }
            Err(e) => {
                return Err(Error::unavailable(format!(
                    "cognito AdminSetUserPassword: {e}"
                )));
            }
        }
        self.add_to_group(user.email, user.group).await?;
        Ok(())
    }

    async fn add_to_group(&self, email: &str, group: &str) -> Result<(), Error> {
        self.idp
            .admin_add_user_to_group()
            .user_pool_id(&self.pool_id)
            .username(email)
            .group_name(group)
            .send()
            .await
            .map_err(|e| {
                Error::unavailable(format!(
                    "cognito AdminAddUserToGroup: {}",
                    e.into_service_error()
                ))
            })?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Directory for CognitoDirectory {
    /// Creates the user with a permanent password. A user left behind by an interrupted
    /// attempt for the same account is taken over; one of another account is a conflict. A
    /// user this call created or took over but could not finish (password, group) is deleted,
    /// so that no sign-in is left for an account that does not exist.
    async fn create_with_password(&self, user: &NewSignIn<'_>) -> Result<(), Error> {
        let created = self.create_user(user, None).await;
        match created.map_err(|e| e.into_service_error()) {
            Ok(_) => {}
            Err(AdminCreateUserError::UsernameExistsException(_)) => {
                if self.account_of(user.email).await?.as_deref() != Some(user.account_id) {
                    return Err(Error::EmailTaken);
                }
            }
            Err(e) => return Err(Error::unavailable(format!("cognito AdminCreateUser: {e}"))),
        }
        let finished = self.finish_with_password(user).await;
        if finished.is_err()
            && let Err(e) = self.delete(user.email).await
        {
            tracing::error!(error = %e, "unfinished sign-in not deleted; a retry takes it over");
        }
        finished
    }

    /// Creates an invited member: Cognito keeps them in FORCE_CHANGE_PASSWORD until their
    /// first sign-in with `temporary_password` (which Softbrik emails them, not Cognito).
    /// Returns the user's `sub`.
    async fn invite(&self, user: &NewSignIn<'_>) -> Result<String, Error> {
        let created = self.create_user(user, Some(user.password)).await;
        let sub = match created.map_err(|e| e.into_service_error()) {
            Ok(out) => out
                .user()
                .and_then(|u| u.attributes().iter().find(|a| a.name() == "sub"))
                .and_then(|a| a.value().map(str::to_string))
                .unwrap_or_default(),
            Err(AdminCreateUserError::UsernameExistsException(_)) => return Err(Error::EmailTaken),
            Err(e) => return Err(Error::unavailable(format!("cognito AdminCreateUser: {e}"))),
        };
        self.add_to_group(user.email, user.group).await?;
        Ok(sub)
    }

    /// Whether the user has signed in at least once (no longer FORCE_CHANGE_PASSWORD).
    async fn has_signed_in(&self, email: &str) -> Result<bool, Error> {
        let found = self
            .idp
            .admin_get_user()
            .user_pool_id(&self.pool_id)
            .username(email)
            .send()
            .await;
        match found.map_err(|e| e.into_service_error()) {
            Ok(user) => Ok(user
                .user_status()
                .is_some_and(|s| s.as_str() != "FORCE_CHANGE_PASSWORD")),
            Err(AdminGetUserError::UserNotFoundException(_)) => Ok(false),
            Err(e) => Err(Error::unavailable(format!("cognito AdminGetUser: {e}"))),
        }
    }

    /// Cuts access now: the user can no longer sign in and every token is revoked.
    async fn revoke_access(&self, email: &str) -> Result<(), Error> {
        self.idp
            .admin_disable_user()
            .user_pool_id(&self.pool_id)
            .username(email)
            .send()
            .await
            .map_err(|e| {
                Error::unavailable(format!(
                    "cognito AdminDisableUser: {}",
                    e.into_service_error()
                ))
            })?;
        self.idp
            .admin_user_global_sign_out()
            .user_pool_id(&self.pool_id)
            .username(email)
            .send()
            .await
            .map_err(|e| {
                Error::unavailable(format!(
                    "cognito AdminUserGlobalSignOut: {}",
                    e.into_service_error()
                ))
            })?;
        Ok(())
    }

    /// Gives access back after [`Directory::revoke_access`].
    async fn restore_access(&self, email: &str) -> Result<(), Error> {
        self.idp
            .admin_enable_user()
            .user_pool_id(&self.pool_id)
            .username(email)
            .send()
            .await
            .map_err(|e| {
                Error::unavailable(format!(
                    "cognito AdminEnableUser: {}",
                    e.into_service_error()
                ))
            })?;
        Ok(())
    }

    /// Gives a user who has not signed in yet a new first password (to change at sign-in).
    async fn reset_temporary_password(&self, email: &str, password: &str) -> Result<(), Error> {
        self.idp
            .admin_set_user_password()
            .user_pool_id(&self.pool_id)
            .username(email)
            .password(password)
            .permanent(false)
            .send()
            .await
            .map_err(|e| {
                Error::unavailable(format!(
                    "cognito AdminSetUserPassword: {}",
                    e.into_service_error()
                ))
            })?;
        Ok(())
    }

    /// The account a sign-in belongs to, if the user exists.
    async fn account_of(&self, email: &str) -> Result<Option<String>, Error> {
        let found = self
            .idp
            .admin_get_user()
            .user_pool_id(&self.pool_id)
            .username(email)
            .send()
            .await;
        match found.map_err(|e| e.into_service_error()) {
            Ok(user) => Ok(user
                .user_attributes()
                .iter()
                .find(|a| a.name() == ACCOUNT_ID_ATTRIBUTE)
                .and_then(|a| a.value().map(str::to_string))),
            Err(AdminGetUserError::UserNotFoundException(_)) => Ok(None),
            Err(e) => Err(Error::unavailable(format!("cognito AdminGetUser: {e}"))),
        }
    }

    /// Removes a sign-in; a user already gone is not an error.
    async fn delete(&self, email: &str) -> Result<(), Error> {
        let deleted = self
            .idp
            .admin_delete_user()
            .user_pool_id(&self.pool_id)
            .username(email)
            .send()
            .await;
        match deleted.map_err(|e| e.into_service_error()) {
            Ok(_) | Err(AdminDeleteUserError::UserNotFoundException(_)) => Ok(()),
            Err(e) => Err(Error::unavailable(format!("cognito AdminDeleteUser: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cognitoidentityprovider::operation::admin_add_user_to_group::AdminAddUserToGroupOutput;
    use aws_sdk_cognitoidentityprovider::operation::admin_get_user::AdminGetUserOutput;
    use aws_sdk_cognitoidentityprovider::operation::admin_set_user_password::AdminSetUserPasswordOutput;
    use aws_sdk_cognitoidentityprovider::types::error::{
        InvalidPasswordException, UsernameExistsException,
    };
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

    fn exists() -> Rule {
        mock!(Client::admin_create_user).then_error(|| {
            AdminCreateUserError::UsernameExistsException(
                UsernameExistsException::builder().build(),
            )
        })
    }

    fn belongs_to(account: &'static str) -> Rule {
        mock!(Client::admin_get_user).then_output(move || {
            AdminGetUserOutput::builder()
                .username("alice@dupont.fr")
                .user_attributes(
                    AttributeType::builder()
                        .name(ACCOUNT_ID_ATTRIBUTE)
                        .value(account)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        })
    }

    fn user(account_id: &str) -> NewSignIn<'_> {
        NewSignIn {
            email: "alice@dupont.fr",
            name: "Alice",
            password: "Correct-Horse-42",
            account_id,
            user_id: "usr_1",
            group: "admin",
        }
    }

    #[tokio::test]
    async fn a_sign_in_left_by_an_interrupted_signup_of_the_same_account_is_taken_over() {
        let password = mock!(Client::admin_set_user_password)
            .then_output(|| AdminSetUserPasswordOutput::builder().build());
        let group = mock!(Client::admin_add_user_to_group)
            .then_output(|| AdminAddUserToGroupOutput::builder().build());
        let (exists, owner) = (exists(), belongs_to("acc_1"));
        let idp = mock_client!(
            aws_sdk_cognitoidentityprovider,
            RuleMode::MatchAny,
            [&exists, &owner, &password, &group]
        );
        CognitoDirectory::new(idp, "pool")
            .create_with_password(&user("acc_1"))
            .await
            .unwrap();
        assert_eq!(group.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_sign_in_of_another_account_means_the_email_is_taken() {
        let (exists, owner) = (exists(), belongs_to("acc_other"));
        let idp = mock_client!(
            aws_sdk_cognitoidentityprovider,
            RuleMode::MatchAny,
            [&exists, &owner]
        );
        let err = CognitoDirectory::new(idp, "pool")
            .create_with_password(&user("acc_1"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "email_taken");
    }

    #[tokio::test]
    async fn a_password_cognito_refuses_is_a_validation_error_on_the_password() {
        let (exists, owner) = (exists(), belongs_to("acc_1"));
        let password = mock!(Client::admin_set_user_password).then_error(|| {
            AdminSetUserPasswordError::InvalidPasswordException(
                InvalidPasswordException::builder().build(),
            )
        });
        // The sign-in it took over but could not finish is deleted.
        let deleted = mock!(Client::admin_delete_user).then_output(|| {
            aws_sdk_cognitoidentityprovider::operation::admin_delete_user::AdminDeleteUserOutput::builder().build()
        });
        let idp = mock_client!(
            aws_sdk_cognitoidentityprovider,
            RuleMode::MatchAny,
            [&exists, &owner, &password, &deleted]
        );
        let err = CognitoDirectory::new(idp, "pool")
            .create_with_password(&user("acc_1"))
            .await
            .unwrap_err();
        assert_eq!(err.status(), 422);
        assert_eq!(err.problem().errors.unwrap()[0].field, "admin.password");
    }
}
