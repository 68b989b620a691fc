//! Support staff acting for a customer (billing.md "What support staff do for a customer",
//! api.md "Support staff acting for a customer"). The FAQ sends customers to support for the
//! calendar switch, closure, an immediate cut-off and an invoice sent again; staff make these
//! changes through the admin's own use cases, with the same rules, answers and errors, on
//! the strength of the ticket in which the account's admin asked ([`mandate`]). Each change
//! is written in the account's history with the actor `support` and that ticket's number.
//! Staff see no more of the account than the change needs ([`billing_view`]).

use softbrik_domain::account::{Invoice, Role, support_actor};

use crate::error::Error;
use crate::ports::Ports;
use crate::ports::tickets::SECURITY_ACCOUNT;

/// What lets staff change an account: a ticket of that account opened by its admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mandate {
    pub account_id: String,
    /// The ticket's number, as customers see it (`SB-000123`).
    pub ticket: String,
}

impl Mandate {
    /// Who the history says made the change: support, in this ticket.
    pub fn actor(&self) -> String {
        support_actor(&self.ticket)
    }
}

/// The mandate `ticket_id` gives for `account_id`: 404 for an account that is not (or no
/// longer) there, 422 `ticket_required` without a ticket of that account opened by a user
/// who is its admin.
pub async fn mandate(
    ports: &Ports<'_>,
    account_id: &str,
    ticket_id: Option<&str>,
) -> Result<Mandate, Error> {
    if account_id == SECURITY_ACCOUNT {
        return Err(Error::NotFound);
    }
    let desk = ports.tickets.desk(account_id).await?;
    if desk.closed {
        return Err(Error::NotFound);
    }
    let Some(ticket_id) = ticket_id else {
        return Err(Error::TicketRequired);
    };
    let ticket = ports
        .tickets
        .ticket(&desk, ticket_id)
        .await?
        .map(|read| read.value)
        .filter(|ticket| ticket.account_id == account_id)
        .ok_or(Error::TicketRequired)?;
    let requester = ticket
        .requester
        .user_id
        .as_deref()
        .ok_or(Error::TicketRequired)?;
    let by_admin = ports
        .tickets
        .user(&desk, requester)
        .await?
        .is_some_and(|user| user.role == Role::Admin);
    if !by_admin {
        return Err(Error::TicketRequired);
    }
    Ok(Mandate {
        account_id: account_id.to_string(),
        ticket: ticket.reference(),
    })
}

/// `GET /staff/accounts/{account_id}`: what a billing request needs and no more: the
/// account's status, its period and billing dates, its card's brand and last 4 digits, and
/// its open invoices. No users, no addresses, no tickets.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BillingView {
    pub account_id: String,
    pub status: softbrik_domain::account::AccountStatus,
    pub kind: softbrik_domain::account::AccountKind,
    pub language: softbrik_domain::values::Language,
    pub current_period: softbrik_domain::billing_calendar::BillingPeriod,
    pub next_billing_date: jiff::civil::Date,
    pub auto_renew: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar_from: Option<jiff::civil::Date>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closure_date: Option<jiff::civil::Date>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<Card>,
    pub open_invoices: Vec<Invoice>,
}

/// A card as staff see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Card {
    pub brand: softbrik_domain::account::CardBrand,
    pub last4: String,
}

pub async fn billing_view(ports: &Ports<'_>, account_id: &str) -> Result<BillingView, Error> {
    if account_id == SECURITY_ACCOUNT {
        return Err(Error::NotFound);
    }
    let dunning = ports.billing.dunning(account_id).await?;
    let account = dunning.account;
    let now = ports.table.now_for(&account).await?;
    let period = account.current_period(now);
    Ok(BillingView {
        account_id: account.id.clone(),
        status: account.status,
        kind: account.kind,
        language: account.language,
        current_period: period,
        next_billing_date: period.end(),
        auto_renew: account.auto_renew,
        calendar_from: account.calendar_from,
        closure_date: account.closure_date,
        payment_method: account.payment_method.as_ref().map(|method| Card {
            brand: method.card.brand,
            last4: method.card.last4.clone(),
        }),
        open_invoices: dunning.open,
    })
}
