//! Softbrik's pure domain: the values and rules every decision is made of. Nothing here
//! reaches a server or reads the system clock; its dependency tree has no AWS, Lambda, tokio or
//! HTTP crate (issue 22's first layer), so the compiler keeps the rules apart from the I/O. The
//! `softbrik` crate re-exports each module under its old path.

pub mod account;
pub mod billing_calendar;
pub mod business_hours;
pub mod card_number;
pub mod catalogue;
pub mod inbound;
pub mod invoice;
pub mod money;
pub mod proration;
pub mod refusal;
pub mod renewal;
pub mod sla;
pub mod team;
pub mod ticket;
pub mod validation;
pub mod values;
pub mod vat;
