//! The ticket routes' edge (api.md "Support tickets"): who the caller is to the support desk,
//! and each route handed to its use case in `softbrik_app::support` with the ports on AWS.
//! The rules (who may see and do what, each step of the incident flow, the monthly incident
//! report) live there; the tickets' items, keys and sealing in `tickets`.

use softbrik_app::support;

use crate::app::App;
use crate::error::Error;
use crate::http::Identity;

pub use softbrik_app::support::{
    AcknowledgeBody, IncidentReport, ListQuery, MAX_BODY_BYTES, MAX_SUBJECT_CHARS, MessageBody,
    NewTicketBody, StaffStep, TextBody, TicketList, TicketView, Viewer, cut_body,
};

/// The caller as the ticket routes see them: platform staff (the `support` group), an admin,
/// or a member of an account; anyone else is refused.
pub fn viewer(caller: &Identity) -> Result<Viewer, Error> {
    if caller.in_group(crate::staff::SUPPORT_GROUP) {
        return Ok(Viewer::Staff {
            sub: caller.sub.clone(),
        });
    }
    let account_id = caller.account()?.to_string();
    let user_id = caller.user_id.clone().ok_or(Error::Forbidden)?;
    if caller.is_admin() {
        Ok(Viewer::Admin {
            account_id,
            user_id,
        })
    } else if caller.in_group("member") {
        Ok(Viewer::Member {
            account_id,
            user_id,
        })
    } else {
        Err(Error::Forbidden)
    }
}

/// `POST /tickets`.
pub async fn open(
    app: &App,
    caller: &Identity,
    body: NewTicketBody,
    raw: &serde_json::Value,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    support::open(&app.ports(), &viewer(caller)?, body, raw, key).await
}

/// `GET /tickets/{id}`.
pub async fn get(
    app: &App,
    caller: &Identity,
    ticket_id: &str,
) -> Result<serde_json::Value, Error> {
    support::get(&app.ports(), &viewer(caller)?, ticket_id).await
}

/// `GET /tickets`.
pub async fn list(app: &App, caller: &Identity, query: ListQuery) -> Result<TicketList, Error> {
    support::list(&app.ports(), &viewer(caller)?, query).await
}

/// `POST /tickets/{id}/messages`.
pub async fn add_message(
    app: &App,
    caller: &Identity,
    ticket_id: &str,
    body: MessageBody,
    raw: &serde_json::Value,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let viewer = viewer(caller)?;
    support::add_message(&app.ports(), &viewer, ticket_id, body, raw, key).await
}

/// `POST /tickets/{id}/acknowledge`.
pub async fn acknowledge(
    app: &App,
    caller: &Identity,
    ticket_id: &str,
    body: AcknowledgeBody,
    raw: &serde_json::Value,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let viewer = viewer(caller)?;
    support::acknowledge(&app.ports(), &viewer, ticket_id, body, raw, key).await
}

/// `POST /tickets/{id}/workaround`, `/resolve`, `/rca`.
pub async fn staff_step(
    app: &App,
    caller: &Identity,
    ticket_id: &str,
    step: StaffStep,
    body: TextBody,
    raw: &serde_json::Value,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let viewer = viewer(caller)?;
    support::staff_step(&app.ports(), &viewer, ticket_id, step, body, raw, key).await
}

/// `POST /tickets/{id}/confirm`.
pub async fn confirm(
    app: &App,
    caller: &Identity,
    ticket_id: &str,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    support::confirm(&app.ports(), &viewer(caller)?, ticket_id, key).await
}

/// `POST /tickets/{id}/reopen`.
pub async fn reopen(
    app: &App,
    caller: &Identity,
    ticket_id: &str,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    support::reopen(&app.ports(), &viewer(caller)?, ticket_id, key).await
}

/// `GET /account/reports/incidents?month=YYYY-MM` (admins).
pub async fn incident_report(
    app: &App,
    caller: &Identity,
    month: Option<&str>,
) -> Result<IncidentReport, Error> {
    let account_id = caller.require_admin()?;
    support::incident_report(&app.ports(), account_id, month).await
}
