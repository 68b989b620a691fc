//! Softbrik's domain crate: the billing rules and value types every function shares,
//! the ports the functions talk through, and the adapters to the AWS services behind them.
//!
//! The pure modules (values, the account's types, money, VAT, billing calendar, proration,
//! invoices, the catalogue, business hours, SLA targets, a ticket's life, refusals, card-number
//! scans, inbound mail parsing) live in the `softbrik-domain` crate (`shared/domain`), whose
//! dependency tree has no AWS, Lambda, tokio or HTTP crate; they are re-exported here under
//! their old paths (`account` adds how ids are made). docs/architecture.md has the layers.

pub use softbrik_domain::{
    billing_calendar, business_hours, card_number, catalogue, inbound, invoice, money, proration,
    refusal, sla, ticket, validation, values, vat,
};

pub use softbrik_app::{clock, emails, error, pdf, ticket_emails};

pub mod account;
pub mod app;
pub mod attachments;
pub mod closure;
pub mod crypto;
pub mod directory;
pub mod directory_sync;
pub mod dunning;
pub mod edge;
pub mod events;
pub mod fan_out;
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
pub mod staff;
pub mod store;
pub mod stripe;
pub mod support_desk;
pub mod team;
pub mod team_table;
pub mod telemetry;
pub mod test_clock;
pub mod tickets;
