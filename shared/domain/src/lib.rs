//! Softbrik's pure domain: the values and rules every decision is made of. Nothing here
//! reaches a server or reads the system clock; its dependency tree has no AWS, Lambda, tokio or
//! HTTP crate (issue 22's first layer), so the compiler keeps the rules apart from the I/O. The
//! `softbrik` crate re-exports each module under its old path.

pub mod account;
pub mod billing_calendar;
pub mod business_hours;
pub mod card_number;
pub mod catalogue;
pub mod credit;
pub mod directory_sync;
pub mod dunning;
pub mod events;
#[cfg(any(test, feature = "examples"))]
pub mod examples;
pub mod inbound;
pub mod invoice;
pub mod money;
pub mod packs;
pub mod proration;
pub mod refusal;
pub mod renewal;
pub mod resellers;
pub mod signup;
pub mod sla;
pub mod subscription;
pub mod team;
pub mod ticket;
pub mod validation;
pub mod values;
pub mod vat;

/// What the domain's tests share: Paris business hours and instants written as text.
#[cfg(test)]
pub(crate) mod test_support {
    use jiff::Timestamp;
    use jiff::tz::TimeZone;

    use crate::business_hours::BusinessHours;
    use crate::values::Country;

    pub fn paris() -> BusinessHours {
        BusinessHours::new(
            TimeZone::get("Europe/Paris").unwrap(),
            Country::parse("FR").unwrap(),
        )
    }

    pub fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }
}
