//! The ports the use cases talk through. Each has an AWS (or partner) adapter in the `softbrik`
//! crate and an in-memory one in [`crate::memory`] for in-process tests.
//!
//! | port | AWS adapter | in memory |
//! |---|---|---|
//! | [`crate::clock::Clock`] | `SystemClock`, an account's test clock | `FrozenClock` |
//! | [`mailer::Mailer`] | SES (`softbrik::mailer::SesMailer`) | [`crate::memory::Outbox`] |
//! | [`payments::Payments`] | Stripe, the sandbox partner | [`crate::memory::Ledger`] |
//! | [`answers::AnswerTable`] | DynamoDB (`softbrik::idempotency`, `IDEMPOTENCY#` items) | [`crate::memory::Answers`] |
//! | [`charges::ChargeBook`] | DynamoDB (`softbrik::invoicing`, `PENDING#` items) | [`crate::memory::Book`] |
//! | [`directory::Directory`] | Cognito (`softbrik::directory::CognitoDirectory`) | [`crate::memory::SignIns`] |
//! | [`team::TeamTable`] (and the account's clock) | DynamoDB (`softbrik::team_table`) | [`crate::memory::Tables`] |
//! | [`account::AccountTable`] | DynamoDB (`softbrik::records`) | [`crate::memory::Tables`] |
//! | [`packs::PackTable`] | DynamoDB (`softbrik::packs`), the support desk (a training's ticket) | [`crate::memory::Tables`] |
//! | [`resellers::ResellerTable`] | DynamoDB (`softbrik::resellers`, the count's retries) | [`crate::memory::Tables`] |
//! | [`closure::ClosureTable`] | DynamoDB, S3, the retention key (`softbrik::closure`) | [`crate::memory::Tables`] |
//! | [`records::RecordsTable`] | DynamoDB (`softbrik::records`, `softbrik::invoicing`'s `MAILRETRY#` items) | [`crate::memory::Tables`] |
//! | [`signup::SignupTable`] | DynamoDB, KMS, the rate limit (`softbrik::signup`) | [`crate::memory::Tables`] |
//! | [`billing::BillingTable`] | DynamoDB (`softbrik::renewal`) | [`crate::memory::Tables`] |
//! | [`tickets::TicketTable`] | DynamoDB, the account's key (`softbrik::tickets`) | [`crate::memory::Tables`] |
//! | [`tickets::Blobs`] | S3 (`softbrik::attachments`) | [`crate::memory::Tables`] |
//! | [`inbox::Inbox`] | DynamoDB, the lookup key (`softbrik::intake`) | [`crate::memory::Tables`] |
//! | [`directory_sync::DirectorySyncTable`] | DynamoDB, the lookup key (`softbrik::directory_sync`) | [`crate::memory::Tables`] |

pub mod account;
pub mod answers;
pub mod billing;
pub mod charges;
pub mod closure;
pub mod directory;
pub mod directory_sync;
pub mod inbox;
pub mod mailer;
pub mod packs;
pub mod payments;
pub mod records;
pub mod resellers;
pub mod signup;
pub mod team;
pub mod tickets;

/// The ports a use case is given.
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    pub table: &'a dyn team::TeamTable,
    pub billing: &'a dyn billing::BillingTable,
    pub accounts: &'a dyn account::AccountTable,
    pub signups: &'a dyn signup::SignupTable,
    pub packs: &'a dyn packs::PackTable,
    pub resellers: &'a dyn resellers::ResellerTable,
    pub closure: &'a dyn closure::ClosureTable,
    pub records: &'a dyn records::RecordsTable,
    pub directory: &'a dyn directory::Directory,
    pub mailer: &'a dyn mailer::Mailer,
    pub invoices: &'a dyn mailer::InvoiceMail,
    pub payments: &'a dyn payments::Payments,
    pub charges: &'a dyn charges::ChargeBook,
    pub answers: &'a dyn answers::AnswerTable,
    pub tickets: &'a dyn tickets::TicketTable,
    pub blobs: &'a dyn tickets::Blobs,
    /// The mail intake's claims, senders and auto-reply counts.
    pub inbox: &'a dyn inbox::Inbox,
    /// A client account's directory sync: its deny list, its SCIM token, its users as read.
    pub directory_sync: &'a dyn directory_sync::DirectorySyncTable,
    /// The support desk's mail (from its own address, replies come back to it).
    pub support_mailer: &'a dyn mailer::Mailer,
    /// Where the support desk's alerts go.
    pub staff: &'a StaffAddresses,
    /// The real time (leases, idempotency windows), not an account's test clock.
    pub clock: &'a dyn crate::clock::Clock,
}

/// The addresses of Softbrik's own people the support desk alerts.
#[derive(Debug, Clone)]
pub struct StaffAddresses {
    /// The support team: breaches, P1 updates due, new security reports.
    pub team: String,
    /// The customer success manager: an Enterprise P1's breaches too.
    pub success_manager: String,
    /// The address vulnerabilities are reported to: mail to it is a security report.
    pub security_inbox: String,
}
