//! Add-on packs (billing.md "Add-on packs"): the packs an account holds, a quantity put (more
//! charged now, fewer at the period end, the same undoing a removal; support plans replacing
//! each other; a training asking the team to schedule its sessions), and a pack removed at
//! the end of the period. Each reads the packs from the team's one read
//! ([`PackTable::held`]), decides with `softbrik_domain::packs`, and commits one change.
//!
//! [`PackTable::held`]: crate::ports::packs::PackTable::held

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use softbrik_domain::account::{HistoryEntry, Invoice, User};
use softbrik_domain::packs::{self as decide, HeldPackView, Holding, Pack, PackKind};
use softbrik_domain::team::holders_on;

use crate::error::Error;
use crate::idempotency::{self, Lease, account_scope};
use crate::ids::new_ordered_id;
use crate::ports::Ports;
use crate::ports::packs::PackChange;
use crate::ports::team::{Answering, Read};
use crate::team::Team;

/// What `PUT /account/packs/{pack_id}` answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct PackResponse {
    pub pack: HeldPackView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<Invoice>,
}

/// `GET /account/packs`: the packs held today, and those starting later.
pub async fn list(ports: &Ports<'_>, team: &Team) -> Result<Vec<HeldPackView>, Error> {
    Ok(ports
        .packs
        .held(&team.records)
        .await?
        .iter()
        .map(|read| &read.value)
        .filter(|(_, h)| h.held_on(team.today) || h.since > team.today)
        .map(|(pack, holding)| holding.view(pack))
        .collect())
}

fn values(held: &[Read<(Pack, Holding)>]) -> Vec<(Pack, Holding)> {
    held.iter().map(|read| read.value.clone()).collect()
}

/// `PUT /account/packs/{pack_id}`: `quantity` units of the pack (`softbrik_domain::packs::
/// put`), charged now for what the period has not paid yet, answered once per
/// `Idempotency-Key`.
pub async fn put(
    ports: &Ports<'_>,
    team: &Team,
    pack_id: &str,
    quantity: u32,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let account = team.account();
    softbrik_domain::team::changeable(account)?;
    account.require_own_billing()?;
    let catalogue = ports.packs.catalogue().await?;
    let pack = catalogue
        .iter()
        .find(|p| p.id == pack_id)
        .cloned()
        .ok_or(Error::NotFound)?;
    if quantity == 0 || quantity > pack.max_quantity() {
        return Err(Error::validation(
            "quantity",
            "out_of_range",
            format!("1 to {}", pack.max_quantity()),
        ));
    }
    let now = team.now;
    let reserve = || {
        BTreeMap::from([
            ("invoice".to_string(), new_ordered_id("inv", now)),
            ("history".to_string(), new_ordered_id("hst", now)),
            ("ticket".to_string(), new_ordered_id("tkt", now)),
            ("message".to_string(), new_ordered_id("msg", now)),
        ])
    };
    let fingerprint =
        serde_json::json!({"route": "PUT /account/packs", "pack": pack.id, "quantity": quantity});
    let scope = account_scope(&account.id);
    let work = async |lease: &Lease| put_once(ports, team, &pack, quantity, lease).await;
    idempotency::once_in(ports, &scope, key, fingerprint, reserve, work).await
}

async fn put_once(
    ports: &Ports<'_>,
    team: &Team,
    pack: &Pack,
    quantity: u32,
    lease: &Lease,
) -> Result<(u16, serde_json::Value), Error> {
    let account = team.account();
    let held = ports.packs.held(&team.records).await?;
    let users: Vec<User> = team.records.users.iter().map(|u| u.value.clone()).collect();
    let decided = decide::put(
        &values(&held),
        pack,
        quantity,
        team.today,
        &team.period,
        team.removal_date(),
        team.locked(),
        &holders_on(&users, team.today),
    );
    let view = decided.holding.view(pack);
    let respond = |invoice: Option<&Invoice>| {
        serde_json::to_value(PackResponse {
            pack: view.clone(),
            invoice: invoice.cloned(),
        })
        .map_err(Error::internal)
    };
    if decided.unchanged() {
        let answer = respond(None)?;
        idempotency::finish_alone(ports.answers, lease, &account.id, 200, &answer).await?;
        return Ok((200, answer));
    }
    // What this charge pays for: this period's rest, and after the cut-off the next one.
    let invoice = if decided.chargeable > 0 {
        let invoice = decide::addition_invoice(
            account,
            pack,
            decided.chargeable,
            team.today,
            &team.period,
            team.locked(),
            &team.records.issuer,
            lease.id("invoice"),
        );
        Some(invoice.ok_or_else(|| Error::internal("today is outside its period"))?)
    } else {
        None
    };
    let entry = HistoryEntry {
        at: team.now,
        actor: team.actor.clone(),
        action: decided.action.into(),
        details: serde_json::json!({"pack_id": pack.id, "quantity": quantity, "charged_units": decided.chargeable, "since": decided.holding.since}),
    };
    // Buying training asks the team to schedule the sessions, in the same transaction.
    let ticket = if pack.kind == PackKind::Training && decided.added > 0 {
        let description = format!(
            "{} web onboarding session(s) bought on {}: please propose dates for the sessions.",
            decided.added, team.today
        );
        Some(
            ports
                .packs
                .training_ticket(
                    &team.records,
                    (&lease.id("ticket"), &lease.id("message")),
                    team.actor.strip_prefix("user:"),
                    "Training: schedule the web onboarding sessions",
                    &description,
                )
                .await?,
        )
    } else {
        None
    };
    let read_of = |pack_id: &str| {
        held.iter()
            .find(|read| read.value.1.pack_id == pack_id)
            .map(|read| read.stamp.clone())
    };
    let mut holdings = vec![(decided.holding.clone(), read_of(&pack.id))];
    for ends in &decided.ending {
        holdings.push((ends.clone(), read_of(&ends.pack_id)));
    }
    let change = PackChange {
        holdings,
        plan: decided.plan,
        history: (lease.id("history"), entry),
        ticket: ticket.clone(),
        invoice: None,
    };
    let commit = async |invoice: Option<Invoice>| {
        let change = PackChange { invoice, ..change };
        let answering = lease.held().map(|held| Answering {
            lease: held,
            status: 200,
            body: &respond,
        });
        ports.packs.commit(&team.records, change, answering).await
    };
    let total = invoice.as_ref().map(|i| i.totals.total);
    let charged = crate::billing::charged(ports, account, invoice, team.now, commit).await;
    let committed = crate::team::payment_failed_noted(ports, team, charged, total).await?;
    if let Some(invoice) = &committed.invoice {
        ports.invoices.email(account, invoice).await;
    }
    if let Some(ticket) = &ticket {
        ports.packs.tell_opened(&team.records, ticket).await;
    }
    let answer = match committed.answer {
        Some(answer) => answer,
        None => respond(committed.invoice.as_ref())?,
    };
    Ok((200, answer))
}

/// `DELETE /account/packs/{pack_id}`: the pack ends at the end of the period (after the
/// cut-off, of the next one, already invoiced); no refund. Answers the date it ends.
pub async fn remove(
    ports: &Ports<'_>,
    team: &Team,
    pack_id: &str,
) -> Result<serde_json::Value, Error> {
    softbrik_domain::team::changeable(team.account())?;
    let held = ports.packs.held(&team.records).await?;
    let read = held
        .iter()
        .find(|read| {
            let (pack, holding) = &read.value;
            pack.id == pack_id && (holding.held_on(team.today) || holding.since > team.today)
        })
        .ok_or(Error::NotFound)?;
    let (_, holding) = &read.value;
    let effective = team.removal_date().max(holding.since);
    if holding.until != Some(effective) {
        let mut ending = holding.clone();
        ending.until = Some(effective);
        let entry = HistoryEntry {
            at: team.now,
            actor: team.actor.clone(),
            action: "pack_removal_scheduled".into(),
            details: serde_json::json!({"pack_id": pack_id, "effective_date": effective}),
        };
        let change = PackChange {
            holdings: vec![(ending, Some(read.stamp.clone()))],
            plan: team.account().support_plan,
            history: (new_ordered_id("hst", team.now), entry),
            ticket: None,
            invoice: None,
        };
        ports.packs.commit(&team.records, change, None).await?;
    }
    Ok(serde_json::json!({"effective_date": effective}))
}
