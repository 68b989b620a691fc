//! In-memory adapters of the ports, for in-process tests of the use cases: each keeps what it
//! was asked to do so that a test can say THEN about it, and can be told to fail.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;
use softbrik_domain::account::{
    Account, AccountKind, CardBrand, CardDetails, HistoryEntry, Invoice, User, invoice_number,
};
use softbrik_domain::account::{AccountStatus, InvoiceCustomer, InvoiceStatus};
use softbrik_domain::billing_calendar::BillingPeriod;
use softbrik_domain::catalogue::default_catalogue;
use softbrik_domain::invoice::UsagePeak;
use softbrik_domain::money::Money;
use softbrik_domain::packs::{Holding, Pack, default_packs, seats_on};
use softbrik_domain::refusal::Refusal;
use softbrik_domain::resellers::PlannedMove;
use softbrik_domain::values::{BrikId, Country, EmailAddress, PaymentMethodToken};

use crate::error::Error;
use crate::pdf::Issuer;
use crate::ports::account::{AccountChange, AccountTable, Reschedule};
use crate::ports::answers::{AnswerTable, FirstCharge, Record};
use crate::ports::billing::{Attempt, BillingTable, Dunning, PackChanges, RenewalWrite, Renewing};
use crate::ports::charges::{ChargeBook, Recording};
use crate::ports::closure::ClosureTable;
use crate::ports::directory::{Directory, NewSignIn};
use crate::ports::mailer::{InvoiceMail, Mail, Mailer};
use crate::ports::packs::{PackChange, PackTable};
use crate::ports::payments::{Charge, ChargeRequest, PaymentError, Payments, RefundRequest};
use crate::ports::records::{Page, RecordsTable};
use crate::ports::resellers::ResellerTable;
use crate::ports::signup::{NewAccount, SignupTable};
use crate::ports::team::{
    Answering, Committed, Read, Stamp, TeamChange, TeamRecords, TeamTable, TeamWrite,
};
use crate::ports::{Ports, StaffAddresses};

mod desk;
mod directory;

/// Every port in memory, for a test's GIVEN, WHEN and THEN.
pub struct World {
    pub tables: Tables,
    pub sign_ins: SignIns,
    pub outbox: Outbox,
    pub ledger: Ledger,
    /// The support desk's mail.
    pub support_outbox: Outbox,
    pub staff: StaffAddresses,
}

impl World {
    /// An empty world whose accounts' clocks read `now`.
    pub fn at(now: Timestamp) -> World {
        World {
            tables: Tables::at(now),
            sign_ins: SignIns::default(),
            outbox: Outbox::default(),
            ledger: Ledger::default(),
            support_outbox: Outbox::default(),
            staff: StaffAddresses {
                team: "support-team@softbrik.test".into(),
                success_manager: "success@softbrik.test".into(),
                security_inbox: "security@softbrik.test".into(),
            },
        }
    }

    pub fn ports(&self) -> Ports<'_> {
        Ports {
            table: &self.tables,
            billing: &self.tables,
            accounts: &self.tables,
            signups: &self.tables,
            packs: &self.tables,
            resellers: &self.tables,
            closure: &self.tables,
            records: &self.tables,
            directory: &self.sign_ins,
            mailer: &self.outbox,
            payments: &self.ledger,
            charges: &*self.tables.book,
            answers: &self.tables.answers,
            invoices: &self.tables,
            clock: &self.tables,
            tickets: &self.tables,
            blobs: &self.tables,
            inbox: &self.tables,
            directory_sync: &self.tables,
            support_mailer: &self.support_outbox,
            staff: &self.staff,
        }
    }
}

/// The table in memory: accounts with their users (each with a version), the history
/// written, the invoices numbered from one sequence, the seats of their seat packs, how many
/// active users each change moved for a reseller; the book of pending charges and the
/// idempotency answers, which a change writes in its own transaction. Every commit is all or
/// nothing, and refused when a user or a seat it writes changed since it was read.
pub struct Tables {
    state: Mutex<BTreeMap<String, Stored>>,
    now: Mutex<Timestamp>,
    sequence: Mutex<u64>,
    mailed: Mutex<Vec<String>>,
    /// The next commit fails with this, writing nothing (a write refused, or in doubt).
    pub fail_next: Mutex<Option<Error>>,
    /// Signup attempts are refused as past the hour's limit.
    pub throttled: Mutex<bool>,
    /// The signup attempts admitted: (client address, email, attempt).
    admitted: Mutex<Vec<(Option<String>, String, String)>>,
    /// The test clocks that exist.
    test_clocks: Mutex<BTreeSet<String>>,
    /// The invoices of closed accounts, kept, with until when.
    retained: Mutex<BTreeMap<String, Vec<(Invoice, Date)>>>,
    /// The accounts whose data key was shredded.
    shredded: Mutex<Vec<String>>,
    /// The invoices whose email waits to be sent again: (account, invoice).
    mail_retries: Mutex<Vec<(String, String)>>,
    pub book: Arc<Book>,
    pub answers: Answers,
    /// The support desk's tickets (`desk`).
    desk: Mutex<desk::DeskState>,
    /// Client accounts' transfer codes: hash -> (client, valid until).
    transfer_codes: Mutex<BTreeMap<String, (String, Timestamp)>>,
    /// Clients' planned moves to another reseller, by client.
    moves: Mutex<BTreeMap<String, PlannedMove>>,
    /// The events the changes recorded, in the order they were stored (events.md).
    events: Mutex<Vec<softbrik_domain::events::Event>>,
}

#[derive(Clone)]
struct Stored {
    account: Account,
    users: BTreeMap<String, (User, u64)>,
    history: Vec<(String, HistoryEntry)>,
    counted: i64,
    /// The directory deny list: keyed hashes of the addresses (`directory::address_hash`).
    deny_list: BTreeSet<String>,
    /// The SCIM token: its hash, and its version (one more at each new token).
    scim_token: Option<(String, u64)>,
    /// When each user joined, for those who joined through a change.
    joined_at: BTreeMap<String, Timestamp>,
    /// The account's version: one more at each write of the account.
    version: u64,
    /// The local date a renewal payment first failed.
    past_due_since: Option<Date>,
    /// The packs held, with their catalogue entries.
    packs: Vec<(Pack, Holding)>,
    /// The reminders marked sent, by billing date.
    reminded: BTreeSet<Date>,
    /// A reseller's peak of active users (any period).
    peak: Option<UsagePeak>,
    /// A reseller's billable totals sampled, as a test gives them: (instant, total).
    samples: Vec<(Timestamp, u32)>,
    /// The billing runs' schedule moves stored with a renewal.
    moves: u32,
    /// The schedule changes an account change asked for, in order.
    reschedules: Vec<Reschedule>,
    /// The support tickets opened by its changes.
    tickets: Vec<OpenedTicket>,
    /// The version of each Brik's seat guard (one more per seat taken).
    guards: BTreeMap<BrikId, u64>,
    invoices: Vec<Invoice>,
}

impl Stored {
    /// A new account, with nothing yet.
    fn new(account: Account) -> Stored {
        Stored {
            account,
            users: BTreeMap::new(),
            history: Vec::new(),
            counted: 0,
            deny_list: BTreeSet::new(),
            scim_token: None,
            joined_at: BTreeMap::new(),
            version: 1,
            past_due_since: None,
            packs: Vec::new(),
            reminded: BTreeSet::new(),
            peak: None,
            samples: Vec::new(),
            moves: 0,
            reschedules: Vec::new(),
            tickets: Vec::new(),
            guards: BTreeMap::new(),
            invoices: Vec::new(),
        }
    }
}

/// The seat guards' versions as a team read saw them.
struct GuardsRead(BTreeMap<BrikId, u64>, u64);

/// A user's version as read.
struct Version(u64);

impl Tables {
    pub fn at(now: Timestamp) -> Tables {
        let book = Arc::new(Book::default());
        Tables {
            state: Mutex::new(BTreeMap::new()),
            now: Mutex::new(now),
            sequence: Mutex::new(0),
            mailed: Mutex::new(Vec::new()),
            fail_next: Mutex::new(None),
            throttled: Mutex::new(false),
            admitted: Mutex::new(Vec::new()),
            test_clocks: Mutex::new(BTreeSet::new()),
            retained: Mutex::new(BTreeMap::new()),
            shredded: Mutex::new(Vec::new()),
            mail_retries: Mutex::new(Vec::new()),
            book: book.clone(),
            answers: Answers::with_book(book),
            desk: Mutex::new(desk::DeskState::default()),
            transfer_codes: Mutex::new(BTreeMap::new()),
            moves: Mutex::new(BTreeMap::new()),
            events: Mutex::new(Vec::new()),
        }
    }

    /// The planned moves of clients to another reseller.
    pub fn planned_moves(&self) -> Vec<PlannedMove> {
        self.moves
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Moves every account's clock to `now`.
    pub fn set_now(&self, now: Timestamp) {
        if let Ok(mut at) = self.now.lock() {
            *at = now;
        }
    }

    /// What `f` reads of the account `account_id` as stored; the default without it.
    fn of<T: Default>(&self, account_id: &str, f: impl FnOnce(&Stored) -> T) -> T {
        self.with(|s| s.get(account_id).map(f).unwrap_or_default())
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, Stored>) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }

    pub fn add_account(&self, account: Account) {
        self.with(|s| s.insert(account.id.clone(), Stored::new(account)));
    }

    pub fn add_user(&self, account_id: &str, user: User) {
        self.with(|s| {
            if let Some(stored) = s.get_mut(account_id) {
                stored.users.insert(user.id.clone(), (user, 1));
            }
        });
    }

    /// Gives the account a seat pack of `seats` seats for `brik`, held on.
    pub fn set_seats(&self, account_id: &str, brik: &str, seats: u32) {
        self.add_seats(account_id, brik, seats, None);
    }

    /// Gives the account a seat pack of `seats` seats for `brik` until `until` (exclusive:
    /// its removal takes effect then), or held on.
    pub fn add_seats(&self, account_id: &str, brik: &str, seats: u32, until: Option<Date>) {
        let mut holding = Holding::new(&format!("seats-{brik}"), Date::MIN);
        holding.quantity = seats;
        holding.until = until;
        self.add_pack(account_id, holding);
    }

    /// Gives the account `holding` of a pack of the default catalogue.
    pub fn add_pack(&self, account_id: &str, holding: Holding) {
        let pack = default_packs(&default_catalogue())
            .into_iter()
            .find(|p| p.id == holding.pack_id);
        self.with(|s| {
            if let (Some(stored), Some(pack)) = (s.get_mut(account_id), pack) {
                stored.packs.push((pack, holding));
            }
        });
    }

    /// The packs the account holds, as stored now.
    pub fn packs(&self, account_id: &str) -> Vec<Holding> {
        self.of(account_id, |a| {
            a.packs.iter().map(|(_, h)| h.clone()).collect()
        })
    }

    /// The account as stored now.
    pub fn account(&self, account_id: &str) -> Option<Account> {
        self.with(|s| s.get(account_id).map(|a| a.account.clone()))
    }

    /// Changes the account as another request would (its version moves on).
    pub fn change_account(&self, account_id: &str, change: impl FnOnce(&mut Account)) {
        self.with(|s| {
            if let Some(stored) = s.get_mut(account_id) {
                change(&mut stored.account);
                stored.version += 1;
            }
        });
    }

    /// The local date the account's renewal payment first failed, as stored.
    pub fn past_due_since(&self, account_id: &str) -> Option<Date> {
        self.with(|s| s.get(account_id).and_then(|a| a.past_due_since))
    }

    /// Sets the date a renewal payment first failed (an account already in dunning).
    pub fn set_past_due_since(&self, account_id: &str, since: Date) {
        self.with(|s| {
            if let Some(stored) = s.get_mut(account_id) {
                stored.past_due_since = Some(since);
            }
        });
    }

    /// Sets a reseller's peak of active users over its clients.
    pub fn set_peak(&self, account_id: &str, peak: UsagePeak) {
        self.with(|s| {
            if let Some(stored) = s.get_mut(account_id) {
                stored.peak = Some(peak);
            }
        });
    }

    /// How many billing runs' schedule moves were stored with the account's renewals.
    pub fn schedule_moves(&self, account_id: &str) -> u32 {
        self.with(|s| s.get(account_id).map_or(0, |a| a.moves))
    }

    /// Makes a test clock `id` exist (its time is the tables' now).
    pub fn add_test_clock(&self, id: &str) {
        if let Ok(mut clocks) = self.test_clocks.lock() {
            clocks.insert(id.to_string());
        }
    }

    /// The signup attempts admitted, in order: (client address, email, attempt).
    pub fn admitted(&self) -> Vec<(Option<String>, String, String)> {
        self.admitted.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// The invoices a closed account left, kept, with until when.
    pub fn retained(&self, account_id: &str) -> Vec<(Invoice, Date)> {
        self.retained
            .lock()
            .map(|r| r.get(account_id).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// The invoices whose email waits to be sent again: (account, invoice).
    pub fn mail_retries(&self) -> Vec<(String, String)> {
        self.mail_retries
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// The accounts whose data key was shredded, in order.
    pub fn shredded(&self) -> Vec<String> {
        self.shredded.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The events of `account_id` its changes recorded, in order.
    pub fn events(&self, account_id: &str) -> Vec<softbrik_domain::events::Event> {
        self.events
            .lock()
            .map(|e| {
                e.iter()
                    .filter(|e| e.account_id == account_id)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Records `Invoice Finalised` of an invoice just numbered, as the adapters do with it.
    fn finalised(&self, account: &Account, invoice: &Invoice) {
        let now = self.now.lock().map(|n| *n).unwrap_or(Timestamp::UNIX_EPOCH);
        let id = crate::ids::new_ordered_id("evt", now);
        let finalised = softbrik_domain::events::invoice_finalised(invoice);
        self.recorded(crate::events::made(&id, account, now, finalised));
    }

    /// Records the events of a change stored.
    fn recorded(&self, events: Vec<softbrik_domain::events::Event>) {
        if let Ok(mut all) = self.events.lock() {
            all.extend(events);
        }
    }

    /// The ids of every account stored.
    pub fn account_ids(&self) -> Vec<String> {
        self.with(|s| s.keys().cloned().collect())
    }

    /// The support tickets the account's changes opened.
    pub fn tickets(&self, account_id: &str) -> Vec<OpenedTicket> {
        self.of(account_id, |a| a.tickets.clone())
    }

    /// The schedule changes the account's changes asked for, in order.
    pub fn reschedules(&self, account_id: &str) -> Vec<Reschedule> {
        self.of(account_id, |a| a.reschedules.clone())
    }

    /// The billing dates whose reminder is marked sent.
    pub fn reminded(&self, account_id: &str) -> Vec<Date> {
        self.of(account_id, |a| a.reminded.iter().copied().collect())
    }

    /// The account's invoices, as stored.
    /// Stores an invoice of the account as it is (numbered or not), as a write did.
    pub fn add_invoice(&self, account_id: &str, invoice: Invoice) {
        self.with(|s| {
            if let Some(stored) = s.get_mut(account_id) {
                stored.invoices.push(invoice);
            }
        });
    }

    pub fn invoices(&self, account_id: &str) -> Vec<Invoice> {
        self.of(account_id, |a| a.invoices.clone())
    }

    /// The ids of the invoices emailed, in order.
    pub fn mailed(&self) -> Vec<String> {
        self.mailed.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Puts `email` on the account's directory deny list (as its keyed hash).
    pub fn deny(&self, account_id: &str, email: &str) {
        self.with(|s| {
            if let Some(stored) = s.get_mut(account_id) {
                stored.deny_list.insert(directory::address_hash(email));
            }
        });
    }

    /// A user as stored now.
    pub fn user(&self, account_id: &str, user_id: &str) -> Option<User> {
        self.with(|s| {
            s.get(account_id)?
                .users
                .get(user_id)
                .map(|(u, _)| u.clone())
        })
    }

    /// Another request's write of a user: its version moves on.
    pub fn touch_user(&self, account_id: &str, user_id: &str) {
        self.with(|s| {
            if let Some((_, version)) = s.get_mut(account_id).and_then(|a| a.users.get_mut(user_id))
            {
                *version += 1;
            }
        });
    }

    /// The account's history entries, in the order written.
    pub fn history(&self, account_id: &str) -> Vec<HistoryEntry> {
        self.of(account_id, |a| {
            a.history.iter().map(|(_, e)| e.clone()).collect()
        })
    }

    /// How many active users the account's changes moved for its reseller, in all.
    pub fn counted(&self, account_id: &str) -> i64 {
        self.with(|s| s.get(account_id).map_or(0, |a| a.counted))
    }
}

/// Whether a user of any account has `email` (each address is claimed by one user).
fn claimed(accounts: &BTreeMap<String, Stored>, email: &EmailAddress) -> bool {
    accounts
        .values()
        .any(|a| a.users.values().any(|(u, _)| &u.email == email))
}

/// The user's version, if it is still the one `read`; otherwise the change is refused.
fn unchanged(stored: &Stored, user_id: &str, read: &Stamp) -> Result<u64, Error> {
    let read = read.get::<Version>()?;
    match stored.users.get(user_id) {
        Some((_, current)) if *current == read.0 => Ok(read.0),
        _ => Err(crate::team::concurrent_change()),
    }
}

#[async_trait]
impl InvoiceMail for Tables {
    async fn email(&self, _account: &Account, invoice: &Invoice) {
        if let Ok(mut mailed) = self.mailed.lock() {
            mailed.push(invoice.id.clone());
        }
    }

    async fn email_owed(&self, account: &Account, invoice: &Invoice) {
        self.email(account, invoice).await;
        if let Ok(mut owed) = self.mail_retries.lock() {
            owed.retain(|(a, i)| *a != account.id || *i != invoice.id);
        }
    }
}

/// The tables' clock is the real time of the world (leases, windows) as well as its accounts'.
impl crate::clock::Clock for Tables {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl TeamTable for Tables {
    async fn team(&self, account_id: &str) -> Result<TeamRecords, Error> {
        self.with(|s| {
            let stored = s.get(account_id).ok_or(Error::NotFound)?;
            Ok(TeamRecords {
                account: stored.account.clone(),
                users: stored
                    .users
                    .values()
                    .map(|(user, v)| Read {
                        value: user.clone(),
                        stamp: Stamp::new(Version(*v)),
                    })
                    .collect(),
                issuer: Country::parse("FR").map_err(Error::internal)?,
                stamp: Stamp::new(GuardsRead(stored.guards.clone(), stored.version)),
            })
        })
    }

    async fn commit(
        &self,
        team: &TeamRecords,
        change: TeamChange,
        answer: Option<Answering<'_>>,
    ) -> Result<Committed, Error> {
        let GuardsRead(guards_read, _) = team.stamp.get::<GuardsRead>()?;
        let numbered = self.numbering(change.invoice, answer.as_ref())?;
        let invoice = &numbered.invoice;
        self.with(|s| {
            let claims: Vec<EmailAddress> = s
                .values()
                .flat_map(|a| a.users.values().map(|(u, _)| u.email.clone()))
                .collect();
            let stored = s.get_mut(&team.account.id).ok_or(Error::NotFound)?;
            let mut next = stored.clone();
            for write in change.writes {
                match write {
                    TeamWrite::User { user, read } => {
                        let v = unchanged(&next, &user.id, &read)?;
                        next.users.insert(user.id.clone(), (user, v + 1));
                    }
                    TeamWrite::Removed { user, read } => {
                        unchanged(&next, &user.id, &read)?;
                        next.users.remove(&user.id);
                    }
                    TeamWrite::History { id, entry } => {
                        if next.history.iter().any(|(i, _)| *i == id) {
                            return Err(Error::internal("a history id written twice"));
                        }
                        next.history.push((id, entry));
                    }
                    TeamWrite::Joined { user, .. } => {
                        if claims.contains(&user.email)
                            || next.users.values().any(|(u, _)| u.email == user.email)
                        {
                            return Err(Error::EmailTaken);
                        }
                        next.joined_at.insert(user.id.clone(), change.at);
                        next.users.insert(user.id.clone(), (user, 1));
                    }
                    TeamWrite::Credited { invoice, before } => {
                        let stored = next
                            .invoices
                            .iter_mut()
                            .find(|i| i.id == invoice.id)
                            .ok_or(Error::NotFound)?;
                        if stored.credited != before {
                            return Err(crate::team::concurrent_change());
                        }
                        stored.credited = invoice.credited;
                        stored.status = invoice.status;
                    }
                    TeamWrite::SeatTaken { brik } => {
                        let read = guards_read.get(&brik).copied().unwrap_or(0);
                        let guard = next.guards.entry(brik).or_insert(0);
                        if *guard != read {
                            return Err(crate::team::concurrent_change());
                        }
                        *guard += 1;
                    }
                }
            }
            if let Some(invoice) = invoice {
                if next.invoices.iter().any(|i| i.id == invoice.id) {
                    return Err(Error::internal("an invoice id stored twice"));
                }
                next.invoices.push(invoice.clone());
            }
            // As the reseller's count is kept: for a client account only, never with an invoice.
            if change.counted != 0 && invoice.is_some() {
                return Err(Error::internal(
                    "a change paid by an invoice moved a reseller's count",
                ));
            }
            if next.account.kind == AccountKind::Client && next.account.reseller_id.is_some() {
                next.counted += change.counted;
            }
            *stored = next;
            Ok(())
        })?;
        self.recorded(change.events);
        Ok(self.numbered(numbered, answer.as_ref(), &team.account.id))
    }

    async fn address_taken(&self, email: &EmailAddress) -> Result<bool, Error> {
        Ok(self.with(|s| claimed(s, email)))
    }

    async fn seats_on(
        &self,
        team: &TeamRecords,
        day: Date,
    ) -> Result<BTreeMap<BrikId, u32>, Error> {
        self.with(|s| {
            let stored = s.get(&team.account.id).ok_or(Error::NotFound)?;
            Ok(seats_on(&stored.packs, day))
        })
    }

    async fn denied(&self, team: &TeamRecords, user: &Read<User>) -> Result<bool, Error> {
        self.with(|s| {
            let stored = s.get(&team.account.id).ok_or(Error::NotFound)?;
            Ok(stored
                .deny_list
                .contains(&directory::address_hash(user.value.email.as_str())))
        })
    }

    async fn now_for(&self, _account: &Account) -> Result<Timestamp, Error> {
        Ok(*self.now.lock().map_err(Error::internal)?)
    }
}

/// The account's version as a renewal read it.
struct AccountRead(u64);

/// What a reseller pays per active user of its clients, as the deployed configuration says.
const RESELLER_USER_PRICE_CENTS: i64 = 500;

impl Tables {
    /// Takes the next failure a test asked for, if any.
    fn failure(&self) -> Result<(), Error> {
        match self.fail_next.lock().map_err(Error::internal)?.take() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }

    /// Applies `f` to the account's records, all or nothing; when `as_read`, only if the
    /// account is still as `records` read it.
    fn write_account<T>(
        &self,
        records: &Renewing,
        as_read: bool,
        f: impl FnOnce(&mut Stored) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let AccountRead(read) = records.stamp.get::<AccountRead>()?;
        self.with(|s| {
            let stored = s.get_mut(&records.account.id).ok_or(Error::NotFound)?;
            if as_read && stored.version != *read {
                return Err(Error::Refused(
                    softbrik_domain::refusal::Refusal::ConcurrentChange(
                        "the account changed during its renewal",
                    ),
                ));
            }
            let mut next = stored.clone();
            let done = f(&mut next)?;
            *stored = next;
            Ok(done)
        })
    }
}

#[async_trait]
impl BillingTable for Tables {
    async fn renewing(&self, account_id: &str) -> Result<Renewing, Error> {
        self.with(|s| {
            let stored = s.get(account_id).ok_or(Error::NotFound)?;
            Ok(Renewing {
                account: stored.account.clone(),
                past_due_since: stored.past_due_since,
                users: stored.users.values().map(|(u, _)| u.clone()).collect(),
                packs: stored.packs.clone(),
                catalogue: default_catalogue(),
                issuer: Country::parse("FR").map_err(Error::internal)?,
                reseller_user_price: Money::from_cents(RESELLER_USER_PRICE_CENTS),
                stamp: Stamp::new(AccountRead(stored.version)),
            })
        })
    }

    async fn invoice(&self, account_id: &str, invoice_id: &str) -> Result<Option<Invoice>, Error> {
        Ok(self
            .invoices(account_id)
            .into_iter()
            .find(|i| i.id == invoice_id))
    }

    async fn store_renewal(
        &self,
        records: &Renewing,
        write: RenewalWrite,
    ) -> Result<Invoice, Error> {
        self.failure()?;
        let mut sequence = self.sequence.lock().map_err(Error::internal)?;
        let mut invoice = write.invoice;
        invoice.number = Some(invoice_number(*sequence + 1));
        let numbered = invoice.clone();
        // The account is written when past due; a schedule move is conditional on it as read.
        let as_read = write.past_due.is_some() || write.moving.is_some();
        self.write_account(records, as_read, |next| {
            if next.invoices.iter().any(|i| i.id == invoice.id) {
                return Err(Error::internal("an invoice id stored twice"));
            }
            next.invoices.push(invoice);
            next.history.push(write.history);
            if let Some(past_due) = write.past_due {
                next.account.status = past_due.status;
                next.past_due_since = Some(past_due.since);
                next.version += 1;
            }
            if write.moving.is_some() {
                next.moves += 1;
            }
            Ok(())
        })?;
        *sequence += 1;
        drop(sequence);
        if numbered.payment.charge_id.is_some() {
            self.book.strike_off(&crate::billing::charge_key(&numbered));
        }
        if write.mail_owed {
            // Owed at once here: the tables have no grace to wait out.
            self.mail_retries
                .lock()
                .map_err(Error::internal)?
                .push((records.account.id.clone(), numbered.id.clone()));
        }
        self.recorded(write.events);
        self.finalised(&records.account, &numbered);
        Ok(numbered)
    }

    async fn end_packs(&self, records: &Renewing, changes: PackChanges) -> Result<(), Error> {
        self.failure()?;
        self.write_account(records, true, |next| {
            next.packs
                .retain(|(_, holding)| !changes.ended.contains(&holding.pack_id));
            for reduced in changes.reduced {
                if let Some((_, holding)) = next
                    .packs
                    .iter_mut()
                    .find(|(_, h)| h.pack_id == reduced.pack_id)
                {
                    *holding = reduced;
                }
            }
            next.account.support_plan = changes.plan;
            next.version += 1;
            for (id, entry) in changes.history {
                // Ids derived from what they say: a run again writes the same entries.
                next.history.retain(|(kept, _)| *kept != id);
                next.history.push((id, entry));
            }
            Ok(())
        })
        .map_err(|e| match e {
            Error::Refused(_) => Error::unavailable("the account's packs changed; retry"),
            e => e,
        })
    }

    async fn lapse(
        &self,
        records: &Renewing,
        history: (String, HistoryEntry),
        events: Vec<softbrik_domain::events::Event>,
    ) -> Result<(), Error> {
        self.failure()?;
        self.write_account(records, true, |next| {
            next.account.status = AccountStatus::Lapsed;
            next.version += 1;
            next.history.push(history);
            Ok(())
        })?;
        self.recorded(events);
        Ok(())
    }

    async fn usage_peak(
        &self,
        account: &Account,
        _period: &BillingPeriod,
    ) -> Result<Option<UsagePeak>, Error> {
        Ok(self.with(|s| s.get(&account.id).and_then(|a| a.peak)))
    }

    async fn claim_reminder(&self, account_id: &str, billing_date: Date) -> Result<bool, Error> {
        self.with(|s| {
            let stored = s.get_mut(account_id).ok_or(Error::NotFound)?;
            Ok(stored.reminded.insert(billing_date))
        })
    }

    async fn release_reminder(&self, account_id: &str, billing_date: Date) -> Result<(), Error> {
        self.with(|s| {
            if let Some(stored) = s.get_mut(account_id) {
                stored.reminded.remove(&billing_date);
            }
        });
        Ok(())
    }

    async fn dunning(&self, account_id: &str) -> Result<Dunning, Error> {
        self.with(|s| {
            let stored = s.get(account_id).ok_or(Error::NotFound)?;
            Ok(Dunning {
                account: stored.account.clone(),
                past_due_since: stored.past_due_since,
                open: stored
                    .invoices
                    .iter()
                    .filter(|i| i.status == InvoiceStatus::Open)
                    .cloned()
                    .collect(),
                stamp: Stamp::new(AccountRead(stored.version)),
            })
        })
    }

    async fn record_attempt(&self, dunning: &Dunning, attempt: Attempt) -> Result<(), Error> {
        self.failure()?;
        let invoice = attempt.invoice;
        self.with(|s| {
            let stored = s.get_mut(&dunning.account.id).ok_or(Error::NotFound)?;
            let kept = stored
                .invoices
                .iter_mut()
                .find(|i| i.id == invoice.id)
                .ok_or(Error::NotFound)?;
            if kept.payment.attempts != attempt.previous_attempts {
                return Err(Error::Refused(
                    softbrik_domain::refusal::Refusal::ConcurrentChange(
                        "the invoice was retried meanwhile",
                    ),
                ));
            }
            *kept = invoice.clone();
            stored.history.push(attempt.history);
            Ok(())
        })?;
        if invoice.status == InvoiceStatus::Paid {
            self.book.strike_off(&crate::billing::charge_key(&invoice));
        }
        self.recorded(attempt.events);
        Ok(())
    }

    async fn set_standing(
        &self,
        dunning: &Dunning,
        status: AccountStatus,
        events: Vec<softbrik_domain::events::Event>,
    ) -> Result<(), Error> {
        self.failure()?;
        let AccountRead(read) = dunning.stamp.get::<AccountRead>()?;
        self.with(|s| {
            let stored = s.get_mut(&dunning.account.id).ok_or(Error::NotFound)?;
            if stored.version != *read {
                return Err(Error::Refused(
                    softbrik_domain::refusal::Refusal::ConcurrentChange(
                        "the account changed meanwhile",
                    ),
                ));
            }
            stored.account.status = status;
            if status == AccountStatus::Active {
                stored.past_due_since = None;
            }
            stored.version += 1;
            Ok(())
        })?;
        self.recorded(events);
        Ok(())
    }
}

#[async_trait]
impl AccountTable for Tables {
    async fn account(&self, account_id: &str) -> Result<Read<Account>, Error> {
        self.with(|s| {
            let stored = s.get(account_id).ok_or(Error::NotFound)?;
            Ok(Read {
                value: stored.account.clone(),
                stamp: Stamp::new(AccountRead(stored.version)),
            })
        })
    }

    async fn save(&self, read: &Read<Account>, change: AccountChange) -> Result<(), Error> {
        self.failure()?;
        let AccountRead(version) = read.stamp.get::<AccountRead>()?;
        self.with(|s| {
            let stored = s.get_mut(&read.value.id).ok_or(Error::NotFound)?;
            if stored.version != *version {
                return Err(Error::Refused(
                    softbrik_domain::refusal::Refusal::ConcurrentChange(
                        "the account changed meanwhile; retry",
                    ),
                ));
            }
            stored.account = change.account;
            stored.version += 1;
            stored.history.extend(change.history);
            if change.reschedule != Reschedule::Keep {
                stored.reschedules.push(change.reschedule);
            }
            Ok(())
        })?;
        self.recorded(change.events);
        Ok(())
    }

    async fn has_clients(&self, reseller: &Account) -> Result<bool, Error> {
        Ok(reseller.kind == AccountKind::Reseller
            && self.with(|s| {
                s.values()
                    .any(|a| a.account.reseller_id.as_deref() == Some(reseller.id.as_str()))
            }))
    }
}

/// A change being stored in memory, as one transaction would: the invoice it pays with
/// numbered with the next number of the sequence (held until the change is done), and its
/// answer built from it.
struct Numbered<'a> {
    sequence: std::sync::MutexGuard<'a, u64>,
    invoice: Option<Invoice>,
    body: Option<serde_json::Value>,
}

impl Tables {
    /// Starts storing a change paid by `invoice` with `answer`: refused (writing nothing) when
    /// a failure was asked for, or the request no longer holds its key.
    fn numbering(
        &self,
        invoice: Option<Invoice>,
        answer: Option<&Answering<'_>>,
    ) -> Result<Numbered<'_>, Error> {
        self.failure()?;
        if let Some(answering) = answer
            && !self.answers.holds(answering.lease)
        {
            return Err(crate::team::concurrent_change());
        }
        let sequence = self.sequence.lock().map_err(Error::internal)?;
        let invoice = invoice.map(|mut invoice| {
            invoice.number = Some(invoice_number(*sequence + 1));
            invoice
        });
        let body = answer.map(|a| (a.body)(invoice.as_ref())).transpose()?;
        Ok(Numbered {
            sequence,
            invoice,
            body,
        })
    }

    /// The rest of the same transaction, once the records of `account_id` are written: the
    /// number taken, the charge struck off the book, the answer recorded.
    fn numbered(
        &self,
        mut change: Numbered<'_>,
        answer: Option<&Answering<'_>>,
        account_id: &str,
    ) -> Committed {
        if let Some(invoice) = &change.invoice {
            *change.sequence += 1;
            if invoice.payment.charge_id.is_some() {
                self.book.strike_off(&crate::billing::charge_key(invoice));
            }
            if let Some(account) = self.account(account_id) {
                self.finalised(&account, invoice);
            }
        }
        if let (Some(answering), Some(body)) = (answer, &change.body) {
            self.answers
                .record_answer(answering.lease, account_id, answering.status, body);
        }
        Committed {
            invoice: change.invoice,
            answer: change.body,
        }
    }
}

/// A support ticket a change opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedTicket {
    pub id: String,
    pub subject: String,
    pub description: String,
    /// The user who asked for it (the change's author).
    pub requester: Option<String>,
    /// Whether the requester was told its number.
    pub told: bool,
}

#[async_trait]
impl PackTable for Tables {
    async fn catalogue(&self) -> Result<Vec<Pack>, Error> {
        Ok(default_packs(&default_catalogue()))
    }

    async fn held(&self, team: &TeamRecords) -> Result<Vec<Read<(Pack, Holding)>>, Error> {
        self.with(|s| {
            let stored = s.get(&team.account.id).ok_or(Error::NotFound)?;
            Ok(stored
                .packs
                .iter()
                .map(|(pack, holding)| Read {
                    value: (pack.clone(), holding.clone()),
                    stamp: Stamp::new(holding.clone()),
                })
                .collect())
        })
    }

    async fn training_ticket(
        &self,
        _team: &TeamRecords,
        (ticket_id, _message_id): (&str, &str),
        requester: Option<&str>,
        subject: &str,
        description: &str,
    ) -> Result<Stamp, Error> {
        Ok(Stamp::new(OpenedTicket {
            id: ticket_id.to_string(),
            subject: subject.to_string(),
            description: description.to_string(),
            requester: requester.map(str::to_string),
            told: false,
        }))
    }

    async fn commit(
        &self,
        team: &TeamRecords,
        change: PackChange,
        answer: Option<Answering<'_>>,
    ) -> Result<Committed, Error> {
        let GuardsRead(_, account_read) = team.stamp.get::<GuardsRead>()?;
        let ticket = change
            .ticket
            .as_ref()
            .map(|t| t.get::<OpenedTicket>())
            .transpose()?;
        let numbered = self.numbering(change.invoice, answer.as_ref())?;
        let invoice = &numbered.invoice;
        let changed = || {
            Error::Refused(softbrik_domain::refusal::Refusal::ConcurrentChange(
                "the subscription was changed by another request; retry",
            ))
        };
        self.with(|s| {
            let stored = s.get_mut(&team.account.id).ok_or(Error::NotFound)?;
            if stored.version != *account_read {
                return Err(changed());
            }
            let mut next = stored.clone();
            for (holding, read) in change.holdings {
                let at = next
                    .packs
                    .iter()
                    .position(|(_, h)| h.pack_id == holding.pack_id);
                match (at, read) {
                    (Some(i), Some(read)) if *read.get::<Holding>()? == next.packs[i].1 => {
                        next.packs[i].1 = holding;
                    }
                    (None, None) => {
                        let pack = default_packs(&default_catalogue())
                            .into_iter()
                            .find(|p| p.id == holding.pack_id)
                            .ok_or(Error::NotFound)?;
                        next.packs.push((pack, holding));
                    }
                    _ => return Err(changed()),
                }
            }
            next.account.support_plan = change.plan;
            next.version += 1;
            next.history.push(change.history);
            if let Some(ticket) = ticket {
                next.tickets.push(ticket.clone());
            }
            if let Some(invoice) = &invoice {
                next.invoices.push(invoice.clone());
            }
            *stored = next;
            Ok(())
        })?;
        Ok(self.numbered(numbered, answer.as_ref(), &team.account.id))
    }

    async fn tell_opened(&self, team: &TeamRecords, ticket: &Stamp) {
        if let Ok(OpenedTicket { id, .. }) = ticket.get::<OpenedTicket>() {
            self.with(|s| {
                let opened = s
                    .get_mut(&team.account.id)
                    .and_then(|a| a.tickets.iter_mut().find(|t| t.id == *id));
                if let Some(opened) = opened {
                    opened.told = true;
                }
            });
        }
    }
}

#[async_trait]
impl ResellerTable for Tables {
    async fn keep_transfer_code(
        &self,
        client: &Account,
        code_hash: &str,
        expires_at: Timestamp,
    ) -> Result<(), Error> {
        self.transfer_codes
            .lock()
            .map_err(Error::internal)?
            .insert(code_hash.to_string(), (client.id.clone(), expires_at));
        Ok(())
    }

    async fn transfer_code(
        &self,
        code_hash: &str,
        now: Timestamp,
    ) -> Result<Option<String>, Error> {
        Ok(self
            .transfer_codes
            .lock()
            .map_err(Error::internal)?
            .get(code_hash)
            .filter(|(_, until)| *until > now)
            .map(|(client, _)| client.clone()))
    }

    async fn stop_billing(&self, _client: &Account, _until: Timestamp) -> Result<(), Error> {
        // The in-memory count is the clients present: a closed client is gone.
        Ok(())
    }

    async fn plan_move(
        &self,
        planned: &PlannedMove,
        _until: Timestamp,
        code_hash: &str,
        history: Vec<(&Read<Account>, String, HistoryEntry)>,
    ) -> Result<(), Error> {
        let mut moves = self.moves.lock().map_err(Error::internal)?;
        if let Some(pending) = moves.get(&planned.client_id) {
            return Err(Refusal::MoveAlreadyPlanned(pending.on).into());
        }
        let mut codes = self.transfer_codes.lock().map_err(Error::internal)?;
        if codes.remove(code_hash).is_none() {
            return Err(Error::NotFound);
        }
        moves.insert(planned.client_id.clone(), planned.clone());
        self.with(|s| {
            for (account, id, entry) in history {
                if let Some(stored) = s.get_mut(&account.value.id) {
                    stored.history.push((id, entry));
                }
            }
            Ok(())
        })
    }

    async fn moves_due(&self, reseller: &Account, day: Date) -> Result<Vec<PlannedMove>, Error> {
        Ok(self
            .moves
            .lock()
            .map_err(Error::internal)?
            .values()
            .filter(|m| m.from == reseller.id && m.on <= day)
            .cloned()
            .collect())
    }

    async fn complete_move(
        &self,
        planned: &PlannedMove,
        _billed_from: Option<Timestamp>,
        _at: Timestamp,
    ) -> Result<(), Error> {
        self.with(|s| {
            let client = s.get_mut(&planned.client_id).ok_or(Error::NotFound)?;
            if client.account.reseller_id.as_deref() == Some(planned.from.as_str()) {
                client.account.reseller_id = Some(planned.to.clone());
                client.version += 1;
            }
            Ok::<(), Error>(())
        })?;
        self.moves
            .lock()
            .map_err(Error::internal)?
            .remove(&planned.client_id);
        Ok(())
    }

    async fn add_client(
        &self,
        reseller: &Read<Account>,
        key: &Stamp,
        new: NewAccount,
        reseller_entry: (String, HistoryEntry),
        _billed_from: Option<Timestamp>,
        answer: Option<Answering<'_>>,
    ) -> Result<Committed, Error> {
        if let Some(answering) = &answer
            && !self.answers.holds(answering.lease)
        {
            return Err(crate::team::concurrent_change());
        }
        let client_id = new.account.id.clone();
        let committed = SignupTable::create(self, key, new, None).await?;
        let body = answer
            .as_ref()
            .map(|a| (a.body)(committed.invoice.as_ref()))
            .transpose()?;
        self.with(|s| {
            if let Some(stored) = s.get_mut(&reseller.value.id) {
                stored.history.push(reseller_entry);
            }
            // Its admin is the client's first active user, for its reseller to pay.
            if let Some(client) = s.get_mut(&client_id) {
                client.counted += 1;
            }
        });
        if let (Some(answering), Some(body)) = (&answer, &body) {
            self.answers
                .record_answer(answering.lease, &reseller.value.id, answering.status, body);
        }
        Ok(Committed {
            invoice: None,
            answer: body,
        })
    }

    /// The accounts of `reseller`'s clients, each with the active users its changes counted
    /// and the end of its trial on the reseller's clock.
    async fn clients(
        &self,
        reseller: &Account,
    ) -> Result<BTreeMap<String, softbrik_domain::resellers::ClientCount>, Error> {
        Ok(self.with(|s| {
            s.values()
                .filter(|a| {
                    a.account.kind == AccountKind::Client
                        && a.account.reseller_id.as_deref() == Some(reseller.id.as_str())
                })
                .map(|a| {
                    let count = softbrik_domain::resellers::ClientCount {
                        active: u32::try_from(a.counted.max(0)).unwrap_or(u32::MAX),
                        billed_from: softbrik_domain::resellers::billed_from(&a.account, reseller),
                        billed_until: None,
                    };
                    (a.account.id.clone(), count)
                })
                .collect()
        }))
    }

    async fn peak(
        &self,
        reseller: &Account,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Option<(u32, Timestamp)>, Error> {
        let mut samples = self.of(&reseller.id, |a| a.samples.clone());
        samples.sort_by_key(|(at, _)| *at);
        let carried_in = samples.iter().rev().find(|(at, _)| *at < from);
        let within: Vec<(Timestamp, u32)> = samples
            .iter()
            .filter(|(at, _)| *at >= from && *at < to)
            .copied()
            .collect();
        Ok(softbrik_domain::resellers::peak_of(
            carried_in.map(|(_, n)| *n),
            from,
            &within,
        ))
    }

    async fn client(&self, client_id: &str) -> Result<(Account, Vec<User>), Error> {
        self.with(|s| {
            let stored = s.get(client_id).ok_or(Error::NotFound)?;
            let users = stored.users.values().map(|(u, _)| u.clone()).collect();
            Ok((stored.account.clone(), users))
        })
    }

    fn user_price(&self) -> Money {
        Money::from_cents(RESELLER_USER_PRICE_CENTS)
    }
}

impl Tables {
    /// Counts `active` users of the client account `account_id` for its reseller (as its
    /// changes would have).
    pub fn set_counted(&self, account_id: &str, active: i64) {
        self.with(|s| {
            if let Some(stored) = s.get_mut(account_id) {
                stored.counted = active;
            }
        });
    }

    /// Records a sample of the reseller's billable total, `active` users at `at` (a change of
    /// a client's users, or the midnight sample).
    pub fn sample(&self, reseller_id: &str, at: Timestamp, active: u32) {
        self.with(|s| {
            if let Some(stored) = s.get_mut(reseller_id) {
                stored.samples.push((at, active));
            }
        });
    }
}

/// A page of `items` (newest first: by id, descending) after the cursor `next`, `limit` long.
fn page<T: Clone>(mut items: Vec<(String, T)>, limit: i32, next: Option<&str>) -> Page<T> {
    items.sort_by(|a, b| b.0.cmp(&a.0));
    let after: Vec<(String, T)> = items
        .into_iter()
        .filter(|(id, _)| next.is_none_or(|cursor| id.as_str() < cursor))
        .collect();
    let limit = usize::try_from(limit).unwrap_or(0);
    let more = after.len() > limit;
    let items: Vec<(String, T)> = after.into_iter().take(limit).collect();
    Page {
        next: more
            .then(|| items.last().map(|(id, _)| id.clone()))
            .flatten(),
        items: items.into_iter().map(|(_, item)| item).collect(),
    }
}

/// The invoices' issuer in memory: Softbrik's own company.
fn softbrik() -> Issuer {
    Issuer {
        name: "Softbrik ApS".into(),
        address: "Vesterbrogade 1\n1620 København V".into(),
        country: "DK".into(),
        vat_number: "DK12345678".into(),
    }
}

#[async_trait]
impl RecordsTable for Tables {
    async fn invoices(
        &self,
        account_id: &str,
        limit: i32,
        next: Option<&str>,
    ) -> Result<Page<Invoice>, Error> {
        let invoices = self.of(account_id, |a| {
            a.invoices
                .iter()
                .map(|i| (i.id.clone(), i.clone()))
                .collect()
        });
        Ok(page(invoices, limit, next))
    }

    async fn issued(
        &self,
        account_id: &str,
        invoice_id: &str,
    ) -> Result<(Invoice, InvoiceCustomer, Account), Error> {
        self.with(|s| {
            let stored = s.get(account_id).ok_or(Error::NotFound)?;
            let invoice = stored
                .invoices
                .iter()
                .find(|i| i.id == invoice_id)
                .ok_or(Error::NotFound)?;
            Ok((
                invoice.clone(),
                crate::invoices::customer(&stored.account),
                stored.account.clone(),
            ))
        })
    }

    async fn history(
        &self,
        account_id: &str,
        limit: i32,
        next: Option<&str>,
    ) -> Result<Page<HistoryEntry>, Error> {
        let history = self.of(account_id, |a| a.history.clone());
        Ok(page(history, limit, next))
    }

    fn issuer(&self) -> Issuer {
        softbrik()
    }

    async fn leave_for_retry(&self, account_id: &str, invoice_id: &str) -> Result<(), Error> {
        self.failure()?;
        self.mail_retries
            .lock()
            .map_err(Error::internal)?
            .push((account_id.to_string(), invoice_id.to_string()));
        Ok(())
    }

    async fn retries(&self) -> Result<Vec<(String, String, Stamp)>, Error> {
        Ok(self
            .mail_retries()
            .into_iter()
            .map(|(account, invoice)| {
                let stamp = Stamp::new((account.clone(), invoice.clone()));
                (account, invoice, stamp)
            })
            .collect())
    }

    async fn retried(&self, retry: &Stamp) -> Result<(), Error> {
        let done = retry.get::<(String, String)>()?;
        self.mail_retries
            .lock()
            .map_err(Error::internal)?
            .retain(|r| r != done);
        Ok(())
    }

    async fn mailed(&self, account_id: &str, invoice_id: &str) -> Result<(), Error> {
        self.failure()?;
        let done = (account_id.to_string(), invoice_id.to_string());
        self.mail_retries
            .lock()
            .map_err(Error::internal)?
            .retain(|r| *r != done);
        Ok(())
    }
}

/// A batch of a closing account's other records: which kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leftover {
    History,
    Packs,
    Tickets,
    Reminders,
}

#[async_trait]
impl ClosureTable for Tables {
    async fn leave_reseller(&self, account: &Read<Account>, _now: Timestamp) -> Result<(), Error> {
        self.with(|s| {
            if let Some(stored) = s.get_mut(&account.value.id) {
                stored.counted = 0;
            }
            Ok(())
        })
    }

    async fn closing(&self, account_id: &str) -> Result<Option<Read<Account>>, Error> {
        Ok(self.with(|s| {
            s.get(account_id).map(|stored| Read {
                value: stored.account.clone(),
                stamp: Stamp::new(AccountRead(stored.version)),
            })
        }))
    }

    async fn mark_closed(
        &self,
        account: &Read<Account>,
        events: Vec<softbrik_domain::events::Event>,
    ) -> Result<(), Error> {
        self.failure()?;
        let AccountRead(read) = account.stamp.get::<AccountRead>()?;
        self.with(|s| {
            let stored = s.get_mut(&account.value.id).ok_or(Error::NotFound)?;
            if stored.version != *read {
                return Err(Error::unavailable("the account changed; retry"));
            }
            stored.account.status = AccountStatus::Closed;
            stored.version += 1;
            Ok(())
        })?;
        self.recorded(events);
        Ok(())
    }

    async fn users(&self, account: &Read<Account>) -> Result<Vec<Read<User>>, Error> {
        Ok(self.of(&account.value.id, |a| {
            a.users
                .values()
                .map(|(user, v)| Read {
                    value: user.clone(),
                    stamp: Stamp::new(Version(*v)),
                })
                .collect()
        }))
    }

    async fn forget_user(&self, account: &Read<Account>, user: &Read<User>) -> Result<(), Error> {
        self.failure()?;
        self.with(|s| {
            if let Some(stored) = s.get_mut(&account.value.id) {
                stored.users.remove(&user.value.id);
            }
        });
        Ok(())
    }

    async fn invoices(&self, account: &Read<Account>) -> Result<Vec<Read<Invoice>>, Error> {
        Ok(self.of(&account.value.id, |a| {
            a.invoices
                .iter()
                .map(|invoice| Read {
                    value: invoice.clone(),
                    stamp: Stamp::new(()),
                })
                .collect()
        }))
    }

    async fn retain(
        &self,
        account: &Read<Account>,
        invoice: &Read<Invoice>,
        until: Date,
    ) -> Result<(), Error> {
        self.failure()?;
        let id = &account.value.id;
        self.with(|s| {
            if let Some(stored) = s.get_mut(id) {
                stored.invoices.retain(|i| i.id != invoice.value.id);
            }
        });
        self.retained
            .lock()
            .map_err(Error::internal)?
            .entry(id.clone())
            .or_default()
            .push((invoice.value.clone(), until));
        Ok(())
    }

    async fn leftovers(&self, account: &Read<Account>) -> Result<Vec<Stamp>, Error> {
        let id = account.value.id.clone();
        Ok(self.of(&account.value.id, |a| {
            [
                (Leftover::History, !a.history.is_empty()),
                (Leftover::Packs, !a.packs.is_empty()),
                (Leftover::Tickets, !a.tickets.is_empty()),
                (Leftover::Reminders, !a.reminded.is_empty()),
            ]
            .into_iter()
            .filter(|(_, any)| *any)
            .map(|(kind, _)| Stamp::new((id.clone(), kind)))
            .collect()
        }))
    }

    async fn delete(&self, batch: &Stamp) -> Result<(), Error> {
        self.failure()?;
        let (account_id, kind) = batch.get::<(String, Leftover)>()?;
        self.with(|s| {
            if let Some(stored) = s.get_mut(account_id) {
                match kind {
                    Leftover::History => stored.history.clear(),
                    Leftover::Packs => stored.packs.clear(),
                    Leftover::Tickets => stored.tickets.clear(),
                    Leftover::Reminders => stored.reminded.clear(),
                }
            }
        });
        Ok(())
    }

    async fn shred(&self, account: &Read<Account>) -> Result<(), Error> {
        self.failure()?;
        self.with(|s| s.remove(&account.value.id));
        self.shredded
            .lock()
            .map_err(Error::internal)?
            .push(account.value.id.clone());
        Ok(())
    }
}

/// A data key made for a new account (memory seals nothing: only whose key it is).
struct KeyFor(String);

#[async_trait]
impl SignupTable for Tables {
    async fn now_on(&self, test_clock_id: Option<&str>) -> Result<Timestamp, Error> {
        if let Some(id) = test_clock_id
            && !self
                .test_clocks
                .lock()
                .map_err(Error::internal)?
                .contains(id)
        {
            return Err(Error::NotFound);
        }
        Ok(crate::clock::Clock::now(self))
    }

    async fn admit(
        &self,
        client_address: Option<&str>,
        email: &EmailAddress,
        attempt: &str,
    ) -> Result<(), Error> {
        if set(&self.throttled) {
            return Err(Error::Throttled { retry_after: 3600 });
        }
        self.admitted.lock().map_err(Error::internal)?.push((
            client_address.map(str::to_string),
            email.as_str().to_string(),
            attempt.to_string(),
        ));
        Ok(())
    }

    async fn catalogue(&self) -> Result<Vec<softbrik_domain::catalogue::Brik>, Error> {
        Ok(default_catalogue())
    }

    fn issuer(&self) -> Country {
        Country::parse("FR").unwrap_or_else(|_| unreachable!("FR is a country"))
    }

    async fn new_key(&self, account_id: &str) -> Result<Stamp, Error> {
        Ok(Stamp::new(KeyFor(account_id.to_string())))
    }

    async fn create(
        &self,
        key: &Stamp,
        new: NewAccount,
        answer: Option<Answering<'_>>,
    ) -> Result<Committed, Error> {
        let KeyFor(keyed) = key.get::<KeyFor>()?;
        if *keyed != new.account.id {
            return Err(Error::internal("another account's key"));
        }
        let numbered = self.numbering(new.invoice, answer.as_ref())?;
        let invoice = &numbered.invoice;
        let account_id = new.account.id.clone();
        self.with(|s| {
            if claimed(s, &new.admin.email) {
                return Err(Error::EmailTaken);
            }
            if s.contains_key(&account_id) {
                return Err(Error::unavailable("the account already exists"));
            }
            let mut stored = Stored::new(new.account);
            stored.users.insert(new.admin.id.clone(), (new.admin, 1));
            stored.history.push(new.history);
            stored.invoices.extend(invoice.iter().cloned());
            s.insert(account_id.clone(), stored);
            Ok(())
        })?;
        self.recorded(new.events);
        Ok(self.numbered(numbered, answer.as_ref(), &account_id))
    }
}

/// The mail sent, in order. `unavailable` makes sending fail.
#[derive(Default)]
pub struct Outbox {
    sent: Mutex<Vec<Mail>>,
    pub unavailable: Mutex<bool>,
}

impl Outbox {
    pub fn sent(&self) -> Vec<Mail> {
        self.sent.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Forgets what was sent (the mail of a test's GIVEN).
    pub fn clear(&self) {
        if let Ok(mut sent) = self.sent.lock() {
            sent.clear();
        }
    }
}

#[async_trait]
impl Mailer for Outbox {
    async fn send(&self, mail: &Mail) -> Result<String, Error> {
        if set(&self.unavailable) {
            return Err(Error::unavailable("the mail service did not answer"));
        }
        let mut sent = self.sent.lock().map_err(Error::internal)?;
        sent.push(mail.clone());
        Ok(format!("mail-{}", sent.len()))
    }
}

/// A payment partner's ledger: one charge per idempotency key, refunds marked on it.
/// `decline` makes every charge fail as a declined card; `unavailable`, every call fail as
/// the partner not answering.
#[derive(Default)]
pub struct Ledger {
    charges: Mutex<BTreeMap<String, (ChargeRequest, Charge, bool)>>,
    /// Refunds of part of a charge, by refund key, with their ids.
    refunds: Mutex<BTreeMap<String, (RefundRequest, String)>>,
    pub decline: Mutex<bool>,
    pub unavailable: Mutex<bool>,
}

fn set(flag: &Mutex<bool>) -> bool {
    flag.lock().map(|f| *f).unwrap_or(false)
}

impl Ledger {
    /// The refunds of part of a charge made.
    pub fn refunds(&self) -> Vec<RefundRequest> {
        self.refunds
            .lock()
            .map(|r| r.values().map(|(request, _)| request.clone()).collect())
            .unwrap_or_default()
    }

    /// The charges made, by idempotency key: the request, and whether it was refunded.
    pub fn charges(&self) -> Vec<(ChargeRequest, bool)> {
        self.charges
            .lock()
            .map(|c| {
                c.values()
                    .map(|(r, _, refunded)| (r.clone(), *refunded))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[async_trait]
impl Payments for Ledger {
    async fn attach(
        &self,
        _token: &PaymentMethodToken,
        _account_id: &str,
    ) -> Result<CardDetails, PaymentError> {
        Ok(CardDetails {
            brand: CardBrand::Visa,
            last4: "4242".into(),
            exp_month: 12,
            exp_year: 2034,
        })
    }

    async fn charge(
        &self,
        request: &ChargeRequest,
        _now: Timestamp,
    ) -> Result<Charge, PaymentError> {
        if set(&self.unavailable) {
            return Err(PaymentError::Unavailable(
                "the partner did not answer".into(),
            ));
        }
        if set(&self.decline) {
            return Err(PaymentError::Declined("card_declined".into()));
        }
        let mut charges = self
            .charges
            .lock()
            .map_err(|e| PaymentError::Unavailable(e.to_string()))?;
        let next = charges.len() + 1;
        let (_, charge, _) = charges
            .entry(request.idempotency_key.clone())
            .or_insert_with(|| {
                let charge = Charge {
                    id: format!("ch_{next}"),
                    amount: request.amount,
                };
                (request.clone(), charge, false)
            });
        Ok(charge.clone())
    }

    async fn refund(&self, idempotency_key: &str) -> Result<(), PaymentError> {
        if set(&self.unavailable) {
            return Err(PaymentError::Unavailable(
                "the partner did not answer".into(),
            ));
        }
        let mut charges = self
            .charges
            .lock()
            .map_err(|e| PaymentError::Unavailable(e.to_string()))?;
        if let Some((_, _, refunded)) = charges.get_mut(idempotency_key) {
            *refunded = true;
        }
        Ok(())
    }
    async fn refund_part(&self, request: &RefundRequest) -> Result<String, PaymentError> {
        if set(&self.unavailable) {
            return Err(PaymentError::Unavailable(
                "the partner did not answer".into(),
            ));
        }
        if !self
            .charges
            .lock()
            .map_err(|e| PaymentError::Unavailable(e.to_string()))?
            .contains_key(&request.charge_key)
        {
            return Err(PaymentError::Unavailable("no such charge".into()));
        }
        let mut refunds = self
            .refunds
            .lock()
            .map_err(|e| PaymentError::Unavailable(e.to_string()))?;
        let next = refunds.len() + 1;
        let (first, id) = refunds
            .entry(request.refund_key.clone())
            .or_insert_with(|| (request.clone(), format!("re_{next}")));
        if first.amount != request.amount {
            return Err(PaymentError::Unavailable(
                "refund key reused with another amount".into(),
            ));
        }
        Ok(id.clone())
    }
}

/// The book of pending charges: each key with whether it was given back, and whether it is
/// still listed for settlement. `unavailable` makes marking a refund fail.
#[derive(Default)]
pub struct Book {
    entries: Mutex<BTreeMap<String, BookEntry>>,
    pub unavailable: Mutex<bool>,
}

/// A charge key in the [`Book`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookEntry {
    pub account_id: String,
    pub invoice_id: String,
    pub refunded: bool,
    /// Listed for the settlement run: pending, or refunded but the refund not yet done.
    pub listed: bool,
}

impl Book {
    /// The keys in the book, with their entries.
    pub fn entries(&self) -> BTreeMap<String, BookEntry> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Strikes off a charge whose invoice was stored (the adapter does it in the invoice's
    /// transaction).
    pub fn strike_off(&self, charge_key: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(charge_key);
        }
    }
}

#[async_trait]
impl ChargeBook for Book {
    /// In memory every charge listed is old enough: a test's requests are over when it
    /// settles.
    async fn pending_before(
        &self,
        _cutoff: Timestamp,
    ) -> Result<Vec<crate::ports::charges::Pending>, Error> {
        Ok(self
            .entries()
            .into_iter()
            .filter(|(_, entry)| entry.listed)
            .map(|(charge_key, entry)| crate::ports::charges::Pending {
                account_id: entry.account_id,
                invoice_id: entry.invoice_id,
                charge_key,
                refunded: entry.refunded,
            })
            .collect())
    }

    async fn record(
        &self,
        account_id: &str,
        invoice_id: &str,
        charge_key: &str,
    ) -> Result<Recording, Error> {
        let mut entries = self.entries.lock().map_err(Error::internal)?;
        Ok(match entries.get(charge_key) {
            Some(entry) if entry.refunded => Recording::Refunded,
            Some(_) => Recording::Again,
            None => {
                entries.insert(
                    charge_key.into(),
                    BookEntry {
                        account_id: account_id.into(),
                        invoice_id: invoice_id.into(),
                        refunded: false,
                        listed: true,
                    },
                );
                Recording::New
            }
        })
    }

    async fn forget(&self, charge_key: &str) {
        self.strike_off(charge_key);
    }

    async fn mark_refunded(&self, charge_key: &str) -> Result<(), Error> {
        if set(&self.unavailable) {
            return Err(Error::unavailable("the table did not answer"));
        }
        let mut entries = self.entries.lock().map_err(Error::internal)?;
        let entry = entries.entry(charge_key.into()).or_insert(BookEntry {
            account_id: String::new(),
            invoice_id: String::new(),
            refunded: false,
            listed: true,
        });
        entry.refunded = true;
        Ok(())
    }

    async fn refund_done(&self, charge_key: &str) {
        if let Ok(mut entries) = self.entries.lock()
            && let Some(entry) = entries.get_mut(charge_key)
        {
            entry.listed = false;
        }
    }
}

/// The idempotency records: each key's record, the token of the request holding it, and its
/// answer once recorded (with the account it is sealed for). A first lease's charge is
/// recorded in `book` with it, and struck off with the answer.
#[derive(Default)]
pub struct Answers {
    records: Mutex<BTreeMap<(String, String), Kept>>,
    tokens: Mutex<u64>,
    book: Arc<Book>,
}

#[derive(Debug, Clone)]
struct Kept {
    record: Record,
    token: u64,
    answer: Option<(String, u16, serde_json::Value)>,
}

/// A lease held, or a record read, in [`Answers`], with the first charge recorded with it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Held {
    at: (String, String),
    token: u64,
    charge: Option<String>,
}

impl Answers {
    /// Answers whose first charges go to `book`.
    pub fn with_book(book: Arc<Book>) -> Answers {
        Answers {
            book,
            ..Answers::default()
        }
    }

    /// Strikes the lease's first charge off the book, unless it was given back (then it
    /// stays, never to be charged again, and listed until its refund is done).
    fn strike_first_charge(&self, held: &Held) {
        let Some(key) = &held.charge else {
            return;
        };
        let given_back = self.book.entries().get(key).is_some_and(|e| e.refunded);
        if !given_back {
            self.book.strike_off(key);
        }
    }

    /// The record of `key` in `scope`, if any.
    pub fn record(&self, scope: &str, key: &str) -> Option<Record> {
        let records = self.records.lock().ok()?;
        records
            .get(&(scope.to_string(), key.to_string()))
            .map(|k| k.record.clone())
    }

    fn held(stamp: &Stamp) -> Result<&Held, Error> {
        stamp.get::<Held>()
    }

    /// Whether `lease` still holds its key.
    fn holds(&self, lease: &Stamp) -> bool {
        let mut holds = false;
        self.holding(lease, |_, _| holds = true);
        holds
    }

    /// Records the answer of the request holding `lease`; `false` if it no longer does.
    fn record_answer(
        &self,
        lease: &Stamp,
        account_id: &str,
        status: u16,
        body: &serde_json::Value,
    ) -> bool {
        let mut finished = false;
        self.holding(lease, |records, held| {
            if let Some(kept) = records.get_mut(&held.at) {
                kept.record.done = true;
                kept.answer = Some((account_id.to_string(), status, body.clone()));
                finished = true;
            }
        });
        if finished && let Ok(held) = Self::held(lease) {
            self.strike_first_charge(held);
        }
        finished
    }

    /// Runs `f` on the record `held` names, if this lease still holds it.
    fn holding(&self, held: &Stamp, f: impl FnOnce(&mut BTreeMap<(String, String), Kept>, &Held)) {
        if let (Ok(held), Ok(mut records)) = (Self::held(held), self.records.lock())
            && records.get(&held.at).is_some_and(|k| k.token == held.token)
        {
            f(&mut records, held);
        }
    }
}

#[async_trait]
impl AnswerTable for Answers {
    async fn fingerprint(&self, request: &serde_json::Value) -> Result<String, Error> {
        Ok(crate::idempotency::canonical(request).to_string())
    }

    async fn read(&self, scope: &str, key: &str) -> Result<Option<(Record, Stamp)>, Error> {
        let records = self.records.lock().map_err(Error::internal)?;
        let at = (scope.to_string(), key.to_string());
        Ok(records.get(&at).map(|k| {
            let token = k.token;
            (
                k.record.clone(),
                Stamp::new(Held {
                    at,
                    token,
                    charge: None,
                }),
            )
        }))
    }

    async fn take(
        &self,
        scope: &str,
        key: &str,
        record: &Record,
        first: bool,
        now: i64,
        charge: Option<&FirstCharge>,
    ) -> Result<Option<Stamp>, Error> {
        let token = {
            let mut records = self.records.lock().map_err(Error::internal)?;
            let at = (scope.to_string(), key.to_string());
            let free = match records.get(&at) {
                None => true,
                Some(_) if first => false,
                Some(k) => {
                    k.record.expires_at < now || (!k.record.done && k.record.lease_until < now)
                }
            };
            if !free {
                return Ok(None);
            }
            let mut tokens = self.tokens.lock().map_err(Error::internal)?;
            *tokens += 1;
            records.insert(
                at,
                Kept {
                    record: record.clone(),
                    token: *tokens,
                    answer: None,
                },
            );
            *tokens
        };
        if let Some(charge) = charge {
            self.book
                .record(&charge.account_id, &charge.invoice_id, &charge.charge_key)
                .await?;
        }
        Ok(Some(Stamp::new(Held {
            at: (scope.to_string(), key.to_string()),
            token,
            charge: charge.map(|c| c.charge_key.clone()),
        })))
    }

    async fn replay(&self, stamp: &Stamp) -> Result<(u16, serde_json::Value), Error> {
        let held = Self::held(stamp)?;
        let records = self.records.lock().map_err(Error::internal)?;
        match records.get(&held.at).and_then(|k| k.answer.clone()) {
            Some((_, status, body)) => Ok((status, body)),
            None => Err(Error::internal(
                "finished idempotency record without answer",
            )),
        }
    }

    async fn finish(
        &self,
        lease: &Stamp,
        account_id: &str,
        status: u16,
        body: &serde_json::Value,
    ) -> Result<(), Error> {
        self.record_answer(lease, account_id, status, body)
            .then_some(())
            .ok_or(Error::IdempotencyInProgress)
    }

    async fn release(&self, lease: &Stamp) {
        let mut released = false;
        self.holding(lease, |records, held| {
            released = records.remove(&held.at).is_some();
        });
        if released && let Ok(held) = Self::held(lease) {
            self.strike_first_charge(held);
        }
    }

    async fn free(&self, lease: &Stamp, keep_invoice: bool) {
        self.holding(lease, |records, held| {
            if let Some(kept) = records.get_mut(&held.at)
                && !kept.record.done
            {
                kept.record.lease_until = 0;
                if !keep_invoice {
                    kept.record.reserved.remove("invoice");
                }
            }
        });
    }
}

/// One sign-in of [`SignIns`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    pub account_id: String,
    pub user_id: String,
    pub group: String,
    pub signed_in: bool,
    pub access: bool,
}

/// An identity provider's users, by email. `unavailable` makes every call fail as the
/// provider not answering.
#[derive(Default)]
pub struct SignIns {
    users: Mutex<BTreeMap<String, SignIn>>,
    pub unavailable: Mutex<bool>,
}

impl SignIns {
    /// The sign-in of `email`, if there is one.
    pub fn get(&self, email: &str) -> Option<SignIn> {
        self.users.lock().ok()?.get(email).cloned()
    }

    /// Records that `email` signed in (changed their first password).
    pub fn signs_in(&self, email: &str) {
        if let Ok(mut users) = self.users.lock()
            && let Some(user) = users.get_mut(email)
        {
            user.signed_in = true;
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, SignIn>) -> T) -> Result<T, Error> {
        if set(&self.unavailable) {
            return Err(Error::unavailable("identity provider down"));
        }
        let mut users = self.users.lock().map_err(Error::internal)?;
        Ok(f(&mut users))
    }

    /// A new sign-in; one left behind for the same account is taken over when `take_over`
    /// (Cognito's adapter does so for a signup's admin, never for an invitation).
    fn create(&self, user: &NewSignIn<'_>, signed_in: bool, take_over: bool) -> Result<(), Error> {
        self.with(|users| match users.get(user.email) {
            Some(existing) if !take_over || existing.account_id != user.account_id => {
                Err(Error::EmailTaken)
            }
            _ => {
                users.insert(
                    user.email.to_string(),
                    SignIn {
                        account_id: user.account_id.to_string(),
                        user_id: user.user_id.to_string(),
                        group: user.group.to_string(),
                        signed_in,
                        access: true,
                    },
                );
                Ok(())
            }
        })?
    }

    fn set_access(&self, email: &str, access: bool) -> Result<(), Error> {
        self.with(|users| match users.get_mut(email) {
            Some(user) => {
                user.access = access;
                Ok(())
            }
            None => Err(Error::NotFound),
        })?
    }
}

#[async_trait]
impl Directory for SignIns {
    async fn create_with_password(&self, user: &NewSignIn<'_>) -> Result<(), Error> {
        self.create(user, true, true)
    }

    async fn invite(&self, user: &NewSignIn<'_>) -> Result<String, Error> {
        self.create(user, false, false)?;
        Ok(format!("sub-{}", user.user_id))
    }

    async fn has_signed_in(&self, email: &str) -> Result<bool, Error> {
        self.with(|users| users.get(email).is_some_and(|u| u.signed_in))
    }

    async fn revoke_access(&self, email: &str) -> Result<(), Error> {
        self.set_access(email, false)
    }

    async fn restore_access(&self, email: &str) -> Result<(), Error> {
        self.set_access(email, true)
    }

    async fn reset_temporary_password(&self, email: &str, _password: &str) -> Result<(), Error> {
        self.with(|users| users.contains_key(email))?
            .then_some(())
            .ok_or(Error::NotFound)
    }

    async fn account_of(&self, email: &str) -> Result<Option<String>, Error> {
        self.with(|users| users.get(email).map(|u| u.account_id.clone()))
    }

    async fn delete(&self, email: &str) -> Result<(), Error> {
        self.with(|users| {
            users.remove(email);
        })
    }
}
