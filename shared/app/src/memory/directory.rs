//! A client account's directory sync in memory ([`DirectorySyncTable`]), kept in [`Tables`]
//! with the account: the deny list as keyed hashes, the current token's hash with its
//! version, the users as stored.

use std::hash::{DefaultHasher, Hash, Hasher};

use async_trait::async_trait;
use jiff::Timestamp;
use softbrik_domain::account::HistoryEntry;
use softbrik_domain::refusal::Refusal;
use softbrik_domain::values::EmailAddress;

use super::{Stored, Tables};
use crate::error::Error;
use crate::ports::directory_sync::{DirectorySyncTable, Provisioned};
use crate::ports::team::{Answering, Stamp, TeamRecords};

/// The keyed hash of an address in memory (what the deny list holds: never the address).
pub fn address_hash(email: &str) -> String {
    let mut hasher = DefaultHasher::new();
    ("memory lookup key", email).hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// The version of the account's token as read (0: none yet).
struct TokenRead(u64);

impl Tables {
    /// The account's deny list as stored: keyed hashes.
    pub fn deny_list(&self, account_id: &str) -> Vec<String> {
        self.of(account_id, |a| a.deny_list.iter().cloned().collect())
    }

    /// The hash of the account's current SCIM token, as stored.
    pub fn scim_token_hash(&self, account_id: &str) -> Option<String> {
        self.of(account_id, |a| {
            a.scim_token.as_ref().map(|(h, _)| h.clone())
        })
    }
}

/// The user `user_id` of `stored`, as a directory reads them.
fn provisioned(stored: &Stored, user_id: &str) -> Option<Provisioned> {
    stored.users.get(user_id).map(|(user, _)| Provisioned {
        user: user.clone(),
        created_at: stored.joined_at.get(user_id).copied(),
    })
}

/// Adds the history entry `(id, entry)` to `stored`; an id written twice is a bug.
fn add_history(stored: &mut Stored, (id, entry): (String, HistoryEntry)) -> Result<(), Error> {
    if stored.history.iter().any(|(i, _)| *i == id) {
        return Err(Error::internal("a history id written twice"));
    }
    stored.history.push((id, entry));
    Ok(())
}

#[async_trait]
impl DirectorySyncTable for Tables {
    async fn denied(&self, team: &TeamRecords, email: &EmailAddress) -> Result<bool, Error> {
        let hash = address_hash(email.as_str());
        Ok(self.of(&team.account.id, |a| a.deny_list.contains(&hash)))
    }

    async fn put_deny_list(
        &self,
        team: &TeamRecords,
        emails: &[EmailAddress],
        history: (String, HistoryEntry),
    ) -> Result<(), Error> {
        self.failure()?;
        self.with(|s| {
            let stored = s.get_mut(&team.account.id).ok_or(Error::NotFound)?;
            let mut next = stored.clone();
            next.deny_list = emails.iter().map(|e| address_hash(e.as_str())).collect();
            add_history(&mut next, history)?;
            *stored = next;
            Ok(())
        })
    }

    async fn token(&self, team: &TeamRecords) -> Result<Option<Stamp>, Error> {
        Ok(self.of(&team.account.id, |a| {
            a.scim_token
                .as_ref()
                .map(|(_, version)| Stamp::new(TokenRead(*version)))
        }))
    }

    async fn replace_token(
        &self,
        team: &TeamRecords,
        token_hash: &str,
        previous: Option<&Stamp>,
        history: (String, HistoryEntry),
        _at: Timestamp,
        answer: Option<Answering<'_>>,
    ) -> Result<(), Error> {
        let read = match previous {
            Some(stamp) => stamp.get::<TokenRead>()?.0,
            None => 0,
        };
        let numbered = self.numbering(None, answer.as_ref())?;
        self.with(|s| {
            let stored = s.get_mut(&team.account.id).ok_or(Error::NotFound)?;
            let current = stored.scim_token.as_ref().map_or(0, |(_, v)| *v);
            if current != read {
                return Err(Error::Refused(Refusal::ConcurrentChange(
                    "another token was made meanwhile; retry",
                )));
            }
            let mut next = stored.clone();
            next.scim_token = Some((token_hash.to_string(), current + 1));
            add_history(&mut next, history)?;
            *stored = next;
            Ok(())
        })?;
        self.numbered(numbered, answer.as_ref(), &team.account.id);
        Ok(())
    }

    async fn account_of_token(&self, token_hash: &str) -> Result<Option<String>, Error> {
        Ok(self.with(|s| {
            s.values()
                .find(|a| a.scim_token.as_ref().is_some_and(|(h, _)| h == token_hash))
                .map(|a| a.account.id.clone())
        }))
    }

    async fn user(&self, team: &TeamRecords, user_id: &str) -> Result<Option<Provisioned>, Error> {
        Ok(self.of(&team.account.id, |a| provisioned(a, user_id)))
    }

    async fn users(&self, team: &TeamRecords) -> Result<Vec<Provisioned>, Error> {
        Ok(self.of(&team.account.id, |a| {
            a.users.keys().filter_map(|id| provisioned(a, id)).collect()
        }))
    }

    async fn user_by_address(
        &self,
        team: &TeamRecords,
        email: &EmailAddress,
    ) -> Result<Option<Provisioned>, Error> {
        Ok(self.of(&team.account.id, |a| {
            a.users
                .values()
                .find(|(u, _)| u.email == *email)
                .and_then(|(u, _)| provisioned(a, &u.id))
        }))
    }
}
