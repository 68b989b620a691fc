//! Softbrik's domain crate: the billing rules and value types every function shares,
//! the ports the functions talk through, and the adapters to the AWS services behind them.
//!
//! The domain modules (money, VAT, billing calendar, proration, values, invoices) are pure:
//! no AWS type and no system time in their signatures, so they are tested without any server.

pub mod billing_calendar;
pub mod business_hours;
pub mod card_number;
pub mod catalogue;
pub mod clock;
pub mod inbound;
pub mod invoice;
pub mod money;
pub mod pdf;
pub mod proration;
pub mod validation;
pub mod values;
pub mod vat;

pub mod account;
pub mod app;
pub mod attachments;
pub mod closure;
pub mod crypto;
pub mod directory;
pub mod directory_sync;
pub mod dunning;
pub mod emails;
pub mod error;
pub mod http;
pub mod idempotency;
pub mod intake;
pub mod invoicing;
pub mod jobs;
pub mod mailer;
pub mod packs;
pub mod payments;
pub mod rate_limit;
pub mod records;
pub mod renewal;
pub mod resellers;
pub mod schedule;
pub mod scim;
pub mod signup;
pub mod sla;
pub mod store;
pub mod stripe;
pub mod support_desk;
pub mod team;
pub mod telemetry;
pub mod test_clock;
pub mod ticket_emails;
pub mod tickets;
