//! The Cognito adapter: sign-in users with their group (`admin`, `member`) and the
//! `custom:account_id` attribute that scopes every request. Passwords go straight to Cognito;
//! Softbrik never stores or logs them.

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType};

use crate::error::Error;

pub const ACCOUNT_ID_ATTRIBUTE: &str = "custom:account_id";

/// A user to create in the pool.
pub struct NewSignIn<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password: &'a str,
    pub account_id: &'a str,
    pub group: &'a str,
}

#[derive(Clone)]
pub struct Directory {
    idp: Client,
    pool_id: String,
}

impl Directory {
    pub fn new(idp: Client, pool_id: impl Into<String>) -> Self {
        Directory {
            idp,
            pool_id: pool_id.into(),
        }
    }

    /// Creates the user with a permanent password. A user left behind by an interrupted
    /// attempt for the same account is taken over; one of another account is a conflict.
    pub async fn create_with_password(&self, user: &NewSignIn<'_>) -> Result<(), Error> {
        let attribute = |name: &str, value: &str| {
            AttributeType::builder()
                .name(name)
                .value(value)
                .build()
                .map_err(Error::internal)
        };
        let created = self
            .idp
            .admin_create_user()
            .user_pool_id(&self.pool_id)
            .username(user.email)
            .message_action(MessageActionType::Suppress)
            .user_attributes(attribute("email", user.email)?)
            .user_attributes(attribute("email_verified", "true")?)
            .user_attributes(attribute("name", user.name)?)
            .user_attributes(attribute(ACCOUNT_ID_ATTRIBUTE, user.account_id)?)
            .send()
            .await;
        if let Err(e) = created {
            if e.code() != Some("UsernameExistsException") {
                return Err(Error::unavailable(format!(
                    "cognito AdminCreateUser: {}",
                    e.into_service_error()
                )));
            }
            if self.account_of(user.email).await?.as_deref() != Some(user.account_id) {
                return Err(Error::EmailTaken);
            }
        }
        let password = self
            .idp
            .admin_set_user_password()
            .user_pool_id(&self.pool_id)
            .username(user.email)
            .password(user.password)
            .permanent(true)
            .send()
            .await;
        if let Err(e) = password {
            if e.code() == Some("InvalidPasswordException") {
                return Err(Error::validation(
                    "admin.password",
                    "weak_password",
                    "the password needs at least 10 characters with lower and upper case letters and a digit",
                ));
            }
            return Err(Error::unavailable(format!(
                "cognito AdminSetUserPassword: {}",
                e.into_service_error()
            )));
        }
        self.idp
            .admin_add_user_to_group()
            .user_pool_id(&self.pool_id)
            .username(user.email)
            .group_name(user.group)
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

    /// The account a sign-in belongs to, if the user exists.
    pub async fn account_of(&self, email: &str) -> Result<Option<String>, Error> {
        match self
            .idp
            .admin_get_user()
            .user_pool_id(&self.pool_id)
            .username(email)
            .send()
            .await
        {
            Ok(user) => Ok(user
                .user_attributes()
                .iter()
                .find(|a| a.name() == ACCOUNT_ID_ATTRIBUTE)
                .and_then(|a| a.value().map(str::to_string))),
            Err(e) if e.code() == Some("UserNotFoundException") => Ok(None),
            Err(e) => Err(Error::unavailable(format!(
                "cognito AdminGetUser: {}",
                e.into_service_error()
            ))),
        }
    }

    /// Removes a sign-in; a user already gone is not an error.
    pub async fn delete(&self, email: &str) -> Result<(), Error> {
        match self
            .idp
            .admin_delete_user()
            .user_pool_id(&self.pool_id)
            .username(email)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("UserNotFoundException") => Ok(()),
            Err(e) => Err(Error::unavailable(format!(
                "cognito AdminDeleteUser: {}",
                e.into_service_error()
            ))),
        }
    }
}
