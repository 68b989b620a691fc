//! Directory sync of a client account (api.md "Resellers", source-docs 004): who may sync, the
//! deny list a client admin puts (which addresses, checked, and whom it makes inactive), the
//! bearer token a directory sends, and the name a provisioned user gets. Pure: the use cases
//! (`softbrik_app::directory_sync`) load and store; the SCIM protocol is the edge's.

use std::collections::BTreeMap;

use crate::account::{Account, AccountStatus, Role, User, UserStatus};
use crate::refusal::Refusal;
use crate::validation::ValidationErrors;
use crate::values::{EmailAddress, PersonName};

/// Addresses a deny list may hold.
pub const MAX_DENIED: usize = 1000;

/// The prefix of every SCIM bearer token Softbrik issues.
pub const TOKEN_PREFIX: &str = "sbscim_";

/// Directory sync is for client accounts, whose inactive users are not billed.
pub fn require_client(account: &Account) -> Result<(), Refusal> {
    if account.billed_by_reseller() {
        Ok(())
    } else {
        Err(Refusal::NotAClientAccount)
    }
}

/// Whether a directory may sync `account` with its token: a client account, active or past
/// due (any other is answered as an unknown token).
pub fn syncs(account: &Account) -> bool {
    matches!(
        account.status,
        AccountStatus::Active | AccountStatus::PastDue
    ) && account.billed_by_reseller()
}

/// The deny list `emails` asks for on `account`: each address checked and normalised, each
/// once, by its normalised form. At most [`MAX_DENIED`]; the account's admin cannot be on it.
/// Every bad address is reported, at its index.
pub fn deny_list(
    account: &Account,
    emails: &[String],
) -> Result<BTreeMap<String, EmailAddress>, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    if emails.len() > MAX_DENIED {
        errors.push(
            "emails",
            "too_many",
            format!("at most {MAX_DENIED} addresses"),
        );
    }
    let mut listed = BTreeMap::new();
    for (i, raw) in emails.iter().enumerate() {
        match EmailAddress::parse(raw) {
            Ok(email) if email.as_str() == account.admin_email.as_str() => errors.push(
                format!("emails[{i}]"),
                "admin_address",
                "the account's admin cannot be on the deny list",
            ),
            Ok(email) => {
                listed.insert(email.as_str().to_string(), email);
            }
            Err(e) => errors.push_error(e.at(format!("emails[{i}]"))),
        }
    }
    errors.into_result()?;
    Ok(listed)
}

/// Whether putting `user`'s address on the deny list makes them inactive: not the admin, not
/// already inactive, not leaving.
pub fn made_inactive_by_list(user: &User) -> bool {
    user.role != Role::Admin && user.status != UserStatus::Inactive && user.removal_date.is_none()
}

/// The token of an `Authorization` header (`Bearer <token>`), if it may be one of Softbrik's
/// SCIM tokens; anything else is no token.
pub fn bearer_token(authorization: Option<&str>) -> Option<&str> {
    authorization
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| t.starts_with(TOKEN_PREFIX) && t.len() < 200)
}

/// The name of a user a directory provisions: its display name, else the local part of its
/// address; `None` when neither is a usable name.
pub fn member_name(display_name: &str, email: &EmailAddress) -> Option<PersonName> {
    PersonName::parse(display_name)
        .or_else(|_| PersonName::parse(email.as_str().split('@').next().unwrap_or_default()))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::AccountKind;
    use crate::examples::{bob, company};
    use jiff::civil::date;

    fn client() -> Account {
        let mut account = company(date(2026, 12, 1));
        account.kind = AccountKind::Client;
        account.reseller_id = Some("acc_reseller".into());
        account
    }

    #[test]
    fn only_an_active_or_past_due_client_syncs() {
        assert_eq!(
            require_client(&company(date(2026, 12, 1))),
            Err(Refusal::NotAClientAccount)
        );
        let mut account = client();
        assert!(require_client(&account).is_ok() && syncs(&account));
        account.status = AccountStatus::PastDue;
        assert!(syncs(&account));
        account.status = AccountStatus::Suspended;
        assert!(!syncs(&account));
        assert!(!syncs(&company(date(2026, 12, 1))));
    }

    #[test]
    fn a_deny_list_is_normalised_once_each_without_the_admin() {
        let listed =
            deny_list(&client(), &["Bob@Dupont.fr".into(), "bob@dupont.fr".into()]).unwrap();
        assert_eq!(listed.keys().collect::<Vec<_>>(), vec!["bob@dupont.fr"]);
        let refused = deny_list(
            &client(),
            &["alice@dupont.fr".into(), "not an address".into()],
        )
        .unwrap_err();
        let fields: Vec<_> = refused.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(fields[0], ("emails[0]", "admin_address"));
        assert_eq!(fields[1].0, "emails[1]");
        let too_many: Vec<String> = (0..=MAX_DENIED).map(|i| format!("u{i}@x.fr")).collect();
        let refused = deny_list(&client(), &too_many).unwrap_err();
        assert_eq!(refused.as_slice()[0].code, "too_many");
    }

    #[test]
    fn the_list_makes_inactive_only_active_members_who_stay() {
        let mut user = bob(&[], date(2026, 12, 1));
        assert!(made_inactive_by_list(&user));
        user.removal_date = Some(date(2027, 1, 1));
        assert!(!made_inactive_by_list(&user));
        user.removal_date = None;
        user.status = UserStatus::Inactive;
        assert!(!made_inactive_by_list(&user));
        user.status = UserStatus::Active;
        user.role = Role::Admin;
        assert!(!made_inactive_by_list(&user));
    }

    #[test]
    fn a_bearer_token_is_one_of_softbriks() {
        assert_eq!(bearer_token(Some("Bearer sbscim_abc ")), Some("sbscim_abc"));
        assert_eq!(bearer_token(Some("bearer sbscim_abc")), Some("sbscim_abc"));
        assert_eq!(bearer_token(Some("Bearer abc")), None);
        assert_eq!(bearer_token(Some("Basic sbscim_abc")), None);
        assert_eq!(bearer_token(None), None);
        let long = format!("Bearer sbscim_{}", "a".repeat(200));
        assert_eq!(bearer_token(Some(&long)), None);
    }

    #[test]
    fn a_provisioned_user_without_a_display_name_is_named_after_the_address() {
        let email = EmailAddress::parse("jeanne.roux@dupont.fr").unwrap();
        assert_eq!(
            member_name("Jeanne Roux", &email).unwrap().as_str(),
            "Jeanne Roux"
        );
        assert_eq!(member_name("", &email).unwrap().as_str(), "jeanne.roux");
    }
}
