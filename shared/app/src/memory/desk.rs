//! The support desk's tickets in memory ([`TicketTable`], [`Blobs`]), kept in [`Tables`] with
//! the accounts they belong to.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use softbrik_domain::account::{AccountStatus, SupportPlan, User};
use softbrik_domain::business_hours::BusinessHours;
use softbrik_domain::values::EmailAddress;
use softbrik_domain::values::{Country, Language, TimeZoneName};

use super::Tables;
use crate::error::Error;
use crate::ports::inbox::{Inbox, Sender};
use crate::ports::team::{Answering, Read, Stamp};
use crate::ports::tickets::{
    Blobs, Desk, ListFilter, Listing, Message, SECURITY_ACCOUNT, Ticket, TicketPage, TicketRef,
    TicketTable, With, Written,
};

/// The tickets, their messages, the blobs and the mail claims.
#[derive(Default)]
pub struct DeskState {
    /// By ticket id: the ticket and its version.
    tickets: BTreeMap<String, (Ticket, u64)>,
    messages: BTreeMap<String, Vec<Message>>,
    last_number: u64,
    /// The blobs kept, by key.
    blobs: BTreeSet<String>,
    /// The inbound mails claimed.
    claims: BTreeSet<String>,
    /// The automatic replies sent to each sender, with their version.
    replies: BTreeMap<String, (Vec<Timestamp>, u64)>,
}

/// A ticket's version as read.
struct TicketRead(u64);

impl Tables {
    /// The answer a write records, refused if its request no longer holds its key.
    fn answering<'a>(&self, with: &'a With<'_>) -> Result<Option<&'a Answering<'a>>, Error> {
        match with {
            With::Answer(Some(answering)) if !self.answers.holds(answering.lease) => {
                Err(crate::team::concurrent_change())
            }
            With::Answer(answering) => Ok(answering.as_ref()),
            With::Mail(_) => Ok(None),
        }
    }

    fn record(&self, answer: Option<&Answering<'_>>, account_id: &str) -> Result<(), Error> {
        if let Some(answering) = answer {
            let body = (answering.body)(None)?;
            self.answers
                .record_answer(answering.lease, account_id, answering.status, &body);
        }
        Ok(())
    }
}

impl Tables {
    fn desk_state<T>(&self, f: impl FnOnce(&mut DeskState) -> T) -> T {
        let mut state = self.desk.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }

    /// The tickets of `account_id`, oldest first.
    pub fn tickets_of(&self, account_id: &str) -> Vec<Ticket> {
        self.desk_state(|d| {
            let mut tickets: Vec<Ticket> = d
                .tickets
                .values()
                .filter(|(t, _)| t.account_id == account_id)
                .map(|(t, _)| t.clone())
                .collect();
            tickets.sort_by(|a, b| (a.life.created_at, &a.id).cmp(&(b.life.created_at, &b.id)));
            tickets
        })
    }

    /// The messages of a ticket, oldest first.
    pub fn messages_of(&self, ticket_id: &str) -> Vec<Message> {
        self.desk_state(|d| d.messages.get(ticket_id).cloned().unwrap_or_default())
    }

    /// A blob kept under `key` (an attachment).
    pub fn put_blob(&self, key: &str) {
        self.desk_state(|d| d.blobs.insert(key.to_string()));
    }

    pub fn has_blob(&self, key: &str) -> bool {
        self.desk_state(|d| d.blobs.contains(key))
    }

    /// Changes a stored ticket behind the use cases' back (another request's write).
    pub fn touch_ticket(&self, ticket_id: &str, change: impl FnOnce(&mut Ticket)) {
        self.desk_state(|d| {
            if let Some((ticket, version)) = d.tickets.get_mut(ticket_id) {
                change(ticket);
                *version += 1;
            }
        });
    }
}

#[async_trait]
impl TicketTable for Tables {
    async fn desk(&self, account_id: &str) -> Result<Desk, Error> {
        let now = *self.now.lock().map_err(Error::internal)?;
        if account_id == SECURITY_ACCOUNT {
            // Softbrik's own hours (a Danish issuer), in English, on the Basic plan.
            let zone = TimeZoneName::parse("Europe/Copenhagen").map_err(Error::internal)?;
            let country = Country::parse("DK").map_err(Error::internal)?;
            return Ok(Desk {
                account_id: SECURITY_ACCOUNT.into(),
                language: Language::En,
                hours: BusinessHours::new(zone.time_zone(), country),
                plan: SupportPlan::Basic,
                test_clock_id: None,
                closed: false,
                now,
                stamp: Stamp::new(()),
            });
        }
        let account = self.account(account_id).ok_or(Error::NotFound)?;
        Ok(Desk {
            account_id: account.id.clone(),
            language: account.language,
            hours: BusinessHours::new(account.timezone.time_zone(), account.country),
            plan: account.status.support_plan(account.support_plan),
            test_clock_id: account.test_clock_id.clone(),
            closed: account.status == AccountStatus::Closed,
            now,
            stamp: Stamp::new(()),
        })
    }

    async fn account_of(&self, ticket: TicketRef<'_>) -> Result<Option<(String, String)>, Error> {
        Ok(self.desk_state(|d| {
            d.tickets
                .values()
                .find(|(t, _)| match ticket {
                    TicketRef::Id(id) => t.id == id,
                    TicketRef::Number(n) => t.number == n,
                })
                .map(|(t, _)| (t.account_id.clone(), t.id.clone()))
        }))
    }

    async fn ticket(&self, desk: &Desk, ticket_id: &str) -> Result<Option<Read<Ticket>>, Error> {
        Ok(self.desk_state(|d| {
            d.tickets
                .get(ticket_id)
                .filter(|(t, _)| t.account_id == desk.account_id)
                .map(|(t, version)| Read {
                    value: t.clone(),
                    stamp: Stamp::new(TicketRead(*version)),
                })
        }))
    }

    async fn messages(&self, _desk: &Desk, ticket: &Ticket) -> Result<Vec<Message>, Error> {
        Ok(self.messages_of(&ticket.id))
    }

    async fn user(&self, desk: &Desk, user_id: &str) -> Result<Option<User>, Error> {
        Ok(super::Tables::user(self, &desk.account_id, user_id))
    }

    async fn next_number(&self) -> Result<u64, Error> {
        Ok(self.desk_state(|d| {
            d.last_number += 1;
            d.last_number
        }))
    }

    async fn open(
        &self,
        _desk: &Desk,
        ticket: &Ticket,
        message: &Message,
        with: With<'_>,
    ) -> Result<Written, Error> {
        self.failure()?;
        let answer = self.answering(&with)?;
        let written = self.desk_state(|d| {
            if d.tickets.contains_key(&ticket.id) {
                return Err(Error::internal("new ticket id collision"));
            }
            if let With::Mail(mail) = with
                && !d.claims.insert(mail.to_string())
            {
                return Ok(Written::MailClaimed);
            }
            d.tickets.insert(ticket.id.clone(), (ticket.clone(), 1));
            d.messages.insert(ticket.id.clone(), vec![message.clone()]);
            Ok(Written::Done)
        })?;
        if written == Written::Done {
            self.record(answer, &ticket.account_id)?;
            let opened = softbrik_domain::events::ticket_opened(&ticket.id, &ticket.life);
            self.recorded(crate::events::of_ticket(ticket, opened));
        }
        Ok(written)
    }

    async fn save(
        &self,
        desk: &Desk,
        read: &Stamp,
        ticket: &Ticket,
        message: Option<&Message>,
        with: With<'_>,
    ) -> Result<Written, Error> {
        self.failure()?;
        let TicketRead(version) = read.get::<TicketRead>()?;
        let answer = self.answering(&with)?;
        let mut breached = Vec::new();
        let written = self.desk_state(|d| {
            let Some((stored, stored_version)) = d.tickets.get(&ticket.id) else {
                return Written::Changed;
            };
            if stored_version != version || stored.account_id != desk.account_id {
                return Written::Changed;
            }
            breached =
                softbrik_domain::events::sla_breached(&ticket.id, &stored.life, &ticket.life);
            if let With::Mail(mail) = with
                && !d.claims.insert(mail.to_string())
            {
                return Written::MailClaimed;
            }
            d.tickets
                .insert(ticket.id.clone(), (ticket.clone(), version + 1));
            if let Some(message) = message {
                d.messages
                    .entry(ticket.id.clone())
                    .or_default()
                    .push(message.clone());
            }
            Written::Done
        });
        if written == Written::Done {
            self.record(answer, &desk.account_id)?;
            self.recorded(crate::events::of_ticket(ticket, breached));
        }
        Ok(written)
    }

    async fn list(
        &self,
        listing: &Listing,
        filter: ListFilter,
        limit: u32,
        next: Option<&str>,
    ) -> Result<TicketPage, Error> {
        let after = match next {
            None => None,
            Some(cursor) => Some(
                cursor
                    .strip_prefix("after:")
                    .filter(|id| id.starts_with("tkt_"))
                    .ok_or_else(|| {
                        Error::validation("next", "invalid_format", "not a cursor of this list")
                    })?
                    .to_string(),
            ),
        };
        let mut tickets: Vec<Ticket> =
            self.desk_state(|d| d.tickets.values().map(|(t, _)| t.clone()).collect());
        tickets.retain(|t| match listing {
            Listing::Queue => true,
            Listing::Account {
                account_id,
                requester,
            } => {
                &t.account_id == account_id
                    && requester
                        .as_ref()
                        .is_none_or(|r| t.requester.user_id.as_ref() == Some(r))
            }
        });
        tickets.sort_by(|a, b| (b.life.created_at, &b.id).cmp(&(a.life.created_at, &a.id)));
        if let Some(after) = after {
            let at = tickets.iter().position(|t| t.id == after);
            tickets = tickets.split_off(at.map_or(tickets.len(), |i| i + 1));
        }
        // Like a DynamoDB Query: the limit counts the tickets read, before the filters.
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = tickets.len() > limit;
        tickets.truncate(limit);
        let next = more
            .then(|| tickets.last().map(|t| format!("after:{}", t.id)))
            .flatten();
        let mut page = Vec::new();
        let mut desks: BTreeMap<String, Arc<Desk>> = BTreeMap::new();
        for ticket in tickets {
            if filter.status.is_some_and(|s| s != ticket.life.status)
                || filter.priority.is_some_and(|p| p != ticket.life.priority)
            {
                continue;
            }
            let desk = match desks.get(&ticket.account_id) {
                Some(desk) => desk.clone(),
                None => {
                    let desk = Arc::new(self.desk(&ticket.account_id).await?);
                    desks.insert(ticket.account_id.clone(), desk.clone());
                    desk
                }
            };
            page.push((desk, ticket));
        }
        Ok(TicketPage {
            tickets: page,
            next,
        })
    }

    async fn all(&self, desk: &Desk) -> Result<Vec<Ticket>, Error> {
        Ok(self.tickets_of(&desk.account_id))
    }

    async fn pseudonym(&self, who: &str) -> Result<String, Error> {
        // Stable and not the address: good enough for tests (the AWS adapter keys an HMAC).
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in who.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        Ok(format!("{hash:016x}"))
    }

    async fn forget(&self, _desk: &Desk, messages: &[Message]) -> Result<(), Error> {
        self.desk_state(|d| {
            for m in messages {
                if let Some(kept) = d.messages.get_mut(&m.ticket_id) {
                    kept.retain(|k| k.id != m.id);
                }
            }
        });
        Ok(())
    }
}

#[async_trait]
impl Blobs for Tables {
    async fn link(&self, key: &str, filename: &str) -> Result<(String, Timestamp), Error> {
        let now = *self.now.lock().map_err(Error::internal)?;
        let expires = now + jiff::SignedDuration::from_mins(5);
        Ok((format!("memory://{key}?filename={filename}"), expires))
    }

    async fn put(&self, key: &str, _content_type: &str, _bytes: &[u8]) -> Result<(), Error> {
        self.put_blob(key);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        self.desk_state(|d| d.blobs.remove(key));
        Ok(())
    }
}

/// The version of a sender's replies as read.
struct RepliesRead(u64);

/// The mail intake in memory: a sender's "hash" is their address (nothing here is stored
/// for real); the senders are the users of the accounts kept.
#[async_trait]
impl Inbox for Tables {
    async fn claim_key(&self, message_id: &str) -> Result<String, Error> {
        Ok(format!("INBOUND#{message_id}"))
    }

    async fn claimed(&self, claim: &str) -> Result<bool, Error> {
        Ok(self.desk_state(|d| d.claims.contains(claim)))
    }

    async fn claim(&self, claim: &str) -> Result<bool, Error> {
        Ok(self.desk_state(|d| d.claims.insert(claim.to_string())))
    }

    async fn sender_hash(&self, email: &EmailAddress) -> Result<String, Error> {
        Ok(format!("sender:{}", email.as_str()))
    }

    async fn sender(&self, sender_hash: &str) -> Result<Option<Sender>, Error> {
        let email = sender_hash.trim_start_matches("sender:");
        Ok(self.with(|s| {
            s.values().find_map(|stored| {
                stored
                    .users
                    .values()
                    .find(|(u, _)| u.email.as_str() == email)
                    .map(|(u, _)| Sender {
                        account_id: stored.account.id.clone(),
                        user_id: u.id.clone(),
                    })
            })
        }))
    }

    async fn replies(&self, sender_hash: &str) -> Result<Read<Vec<Timestamp>>, Error> {
        let (sent, version) =
            self.desk_state(|d| d.replies.get(sender_hash).cloned().unwrap_or_default());
        Ok(Read {
            value: sent,
            stamp: Stamp::new(RepliesRead(version)),
        })
    }

    async fn save_replies(
        &self,
        sender_hash: &str,
        read: &Stamp,
        sent: &[Timestamp],
    ) -> Result<bool, Error> {
        let RepliesRead(version) = read.get::<RepliesRead>()?;
        Ok(self.desk_state(|d| {
            let kept = d.replies.entry(sender_hash.to_string()).or_default();
            if kept.1 != *version {
                return false;
            }
            *kept = (sent.to_vec(), version + 1);
            true
        }))
    }
}
