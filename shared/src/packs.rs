//! Add-on packs (billing.md "Add-on packs", api.md pack ids): seats of a Brik at a discount,
//! support plans, e-mail credits, related companies, training sessions. A pack is attached to
//! the subscription with a quantity, charged now for the days left when added or enlarged (like
//! a Brik), billed by every renewal while held, and ended or reduced at the end of the period.
//!
//! Seats: the renewal bills a Brik's seat packs at their price and only the users of that Brik
//! beyond the seats by consumption; a user given the Brik mid-period while a seat is free is
//! not charged, and seats bought mid-period are charged now only beyond what the period already
//! paid for (the users holding the Brik today, or the seats held before): nothing is paid
//! twice for the same day. Packs are billed as held on the billing date (the 2-day cut-off is
//! a Brik rule: the renewal of a pack added in those two days bills it in full, the addition
//! having charged only the days left before it).
//!
//! The support plan of an account is the best support pack it holds (Basic without one); it
//! applies to tickets opened from then on.
//!
//! Here: the catalogue's items, the account's `PackItem`s, and the routes (`GET`, `PUT` and
//! `DELETE /account/packs`). What a holding means on a day and what a renewal bills are
//! `softbrik_domain::packs`; the period end's removals and reductions are
//! `softbrik_app::renewal::period_end`.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::account::{Invoice, InvoiceKind, User, new_ordered_id};
use crate::app::App;
use crate::billing_calendar::BillingPeriod;
use crate::error::Error;
use crate::idempotency::{self, Lease, account_scope};
use crate::invoicing::{self, StoreFailure};
use crate::proration::days_remaining;
use crate::refusal::Refusal;
use crate::store::account_pk;
use crate::team::{Team, charged_change};
use crate::vat::vat_treatment;
use softbrik_domain::team::holders_on;

pub use softbrik_domain::packs::{
    HeldPackView, Holding, Pack, PackKind, default_packs, line, plan_on, rank, seats_on,
};

#[derive(Debug, Serialize, Deserialize)]
struct CatalogueItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    pack: Pack,
}

#[derive(Debug, Serialize, Deserialize)]
struct SeededMarker {
    pk: String,
    sk: String,
}

/// The pack catalogue; the defaults are seeded the first time it is read (each one only if
/// missing, and a marker written last, so a seeding stopped halfway finishes next time).
/// Kept by the instance like the Brik catalogue (`app::CATALOGUE_CACHE_TTL`).
pub async fn catalogue(app: &App) -> Result<Vec<Pack>, Error> {
    app.packs.get_or_read(|| read_catalogue(app)).await
}

async fn read_catalogue(app: &App) -> Result<Vec<Pack>, Error> {
    let seeded = app
        .store
        .get::<SeededMarker>("CATALOGUE", "PACKS_SEEDED")
        .await?
        .is_some();
    if !seeded {
        for pack in default_packs(&app.catalogue().await?) {
            let item = CatalogueItem {
                pk: "CATALOGUE".into(),
                sk: format!("PACK#{}", pack.id),
                pack,
            };
            app.store.put_new(&item).await?;
        }
        app.store
            .put_new(&SeededMarker {
                pk: "CATALOGUE".into(),
                sk: "PACKS_SEEDED".into(),
            })
            .await?;
    }
    let items: Vec<CatalogueItem> = app.store.query_prefix("CATALOGUE", "PACK#").await?;
    Ok(items.into_iter().map(|i| i.pack).collect())
}

/// The item of a pack an account holds (`ACCOUNT#PACK#<pack id>` under the account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackItem {
    pub pk: String,
    pub sk: String,
    #[serde(flatten)]
    pub holding: Holding,
    pub version: u64,
}

impl PackItem {
    pub fn new(account_id: &str, pack_id: &str, since: Date) -> PackItem {
        PackItem {
            pk: account_pk(account_id),
            sk: crate::store::pack_sk(pack_id),
            holding: Holding::new(pack_id, since),
            version: 0,
        }
    }
}

/// The account's packs with their catalogue entries. A pack that left the catalogue is
/// logged and left out rather than failing every change of the account (an operator's error
/// to fix: it is neither billed nor counted until then).
pub async fn held(app: &App, account_id: &str) -> Result<Vec<(Pack, PackItem)>, Error> {
    let items: Vec<PackItem> = app
        .store
        .query_prefix(&account_pk(account_id), crate::store::PACK_SK_PREFIX)
        .await?;
    held_in(app, &items).await
}

/// `held`, from the account's pack items as already read.
pub async fn held_in(app: &App, items: &[PackItem]) -> Result<Vec<(Pack, PackItem)>, Error> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let catalogue = catalogue(app).await?;
    Ok(items
        .iter()
        .filter_map(
            |item| match catalogue.iter().find(|p| p.id == item.holding.pack_id) {
                Some(pack) => Some((pack.clone(), item.clone())),
                None => {
                    tracing::error!(pack = %item.holding.pack_id, "held pack missing from the catalogue");
                    None
                }
            },
        )
        .collect())
}

/// The packs held, without their items' keys.
pub fn holdings(held: &[(Pack, PackItem)]) -> Vec<(Pack, Holding)> {
    held.iter()
        .map(|(pack, item)| (pack.clone(), item.holding.clone()))
        .collect()
}

// --- Routes ------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackBody {
    pub quantity: u32,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PackResponse {
    pub pack: HeldPackView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice: Option<Invoice>,
}

/// `GET /account/packs`.
pub async fn list(app: &App, team: &Team) -> Result<Vec<HeldPackView>, Error> {
    Ok(held(app, &team.account.id)
        .await?
        .iter()
        .filter(|(_, item)| item.holding.held_on(team.today) || item.holding.since > team.today)
        .map(|(pack, item)| item.holding.view(pack))
        .collect())
}

/// `PUT /account/packs/{pack_id}`: adds the pack or changes its quantity. More units are
/// charged now for the days left (after the cut-off, the next period too, like a Brik); fewer
/// take effect at the end of the period; the same quantity undoes a scheduled removal, free.
/// Support plans replace each other: a better plan is charged now and the other ends with the
/// period; a lesser one starts with the next period, charged by its renewal.
pub async fn put(
    app: &App,
    team: &Team,
    pack_id: &str,
    body: PackBody,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let catalogue = catalogue(app).await?;
    let pack = catalogue
        .iter()
        .find(|p| p.id == pack_id)
        .cloned()
        .ok_or(Error::NotFound)?;
    if body.quantity == 0 || body.quantity > pack.max_quantity() {
        return Err(Error::validation(
            "quantity",
            "out_of_range",
            format!("1 to {}", pack.max_quantity()),
        ));
    }
    team.changeable()?;
    if pack.seats_of().is_some() && team.locked() {
        // Seats decide what users pay for the next period, which is already invoiced.
        return Err(Error::Refused(Refusal::RenewalLocked(team.period.end())));
    }
    let today = team.today;
    let now = team.now;
    let reserve = || {
        BTreeMap::from([
            ("invoice".to_string(), new_ordered_id("inv", now)),
            ("history".to_string(), new_ordered_id("hst", now)),
            ("ticket".to_string(), new_ordered_id("tkt", now)),
            ("message".to_string(), new_ordered_id("msg", now)),
        ])
    };
    let fingerprint = serde_json::json!({"route": "PUT /account/packs", "pack": pack.id, "quantity": body.quantity});
    let scope = account_scope(&team.account.id);
    idempotency::once(app, &scope, key, fingerprint, reserve, async |lease: &Lease| {
        // The account item is the turnstile: every pack change writes it, conditionally, so
        // two changes of the same account's packs never both go through on stale reads.
        let (account_item, _) = app.account_item(&team.account.id).await?;
        let held = held(app, &team.account.id).await?;
        let current = held.iter().find(|(p, _)| p.id == pack.id).map(|(_, i)| i.clone());
        let held_now = current.as_ref().map_or(0, |i| i.holding.quantity_on(today));
        let was_held = current.as_ref().is_some_and(|i| i.holding.held_on(today));
        let mut item = current.clone().unwrap_or_else(|| PackItem::new(&team.account.id, &pack.id, today));
        let read = current.as_ref().map_or(0, |i| i.version);
        let mut others: Vec<PackItem> = Vec::new();
        let mut starts_later = false;
        if let PackKind::SupportPlan { plan } = pack.kind {
            // The other plans held end with the period; a lesser plan waits for it.
            for (other, other_item) in held.iter().filter(|(p, _)| p.id != pack.id) {
                if let PackKind::SupportPlan { plan: other_plan } = other.kind
                    && other_item.holding.held_on(today)
                {
                    if rank(other_plan) > rank(plan) && other_item.holding.until.is_none() {
                        starts_later = true;
                    }
                    if other_item.holding.until.is_none() {
                        let mut ending = other_item.clone();
                        ending.holding.until = Some(team.removal_date());
                        ending.version += 1;
                        others.push(ending);
                    }
                }
            }
        }
        let added = body.quantity.saturating_sub(held_now);
        let (action, chargeable) = if body.quantity < held_now {
            item.holding.next_quantity = Some(body.quantity);
            item.holding.resize_on = Some(team.removal_date());
            item.holding.until = None;
            ("pack_reduced", 0)
        } else {
            let undo = item.holding.until.is_some() || item.holding.next_quantity.is_some();
            item.holding.until = None;
            item.holding.next_quantity = None;
            item.holding.resize_on = None;
            if starts_later {
                item.holding.since = team.removal_date();
            } else if !was_held {
                item.holding.since = today;
            }
            item.holding.quantity = body.quantity;
            let chargeable = if starts_later {
                0
            } else {
                chargeable_units(app, team, &pack, &held, held_now, body.quantity).await?
            };
            let action = match (added, undo, read) {
                (0, true, _) => "pack_removal_undone",
                (0, false, _) => "pack_unchanged",
                (_, _, 0) => "pack_added",
                _ => "pack_enlarged",
            };
            (action, chargeable)
        };
        if action == "pack_unchanged" && others.is_empty() {
            let answer = serde_json::to_value(PackResponse { pack: item.holding.view(&pack), invoice: None })
                .map_err(Error::internal)?;
            let ops: Vec<_> = idempotency::finish_op(app, lease, &team.account.id, &team.key, 200, &answer)?
                .into_iter()
                .collect();
            if !ops.is_empty() {
                app.store.transact(ops).await.map_err(|e| e.into_error(|_| Error::IdempotencyInProgress))?;
            }
            return Ok((200, answer));
        }
        // What this charge pays for: this period's rest, and after the cut-off the next one;
        // renewals of those periods leave the units out (`prepaid`).
        let next_start = team.period.end();
        let charge_next = team.locked();
        if chargeable > 0 {
            *item.holding.prepaid.entry(team.period.start()).or_insert(0) += chargeable;
            if charge_next {
                *item.holding.prepaid.entry(next_start).or_insert(0) += chargeable;
            }
            item.holding.prune_prepaid(team.period.start());
        }
        item.version = read + 1;
        let invoice = if chargeable > 0 {
            Some(proration_invoice(app, team, &pack, chargeable, charge_next, lease.id("invoice"))?)
        } else {
            None
        };
        let history = team.history(
            &lease.id("history"),
            action,
            serde_json::json!({"pack_id": pack.id, "quantity": body.quantity, "charged_units": chargeable, "since": item.holding.since}),
        );
        let mut after: Vec<(Pack, Holding)> = held
            .iter()
            .filter(|(p, _)| p.id != pack.id)
            .map(|(p, i)| (p.clone(), others.iter().find(|o| o.holding.pack_id == p.id).unwrap_or(i).holding.clone()))
            .collect();
        after.push((pack.clone(), item.holding.clone()));
        let mut account_next = account_item.clone();
        account_next.support_plan = plan_on(&after, today);
        account_next.version = account_item.version + 1;
        // Buying training asks the team to schedule the sessions, in the same transaction.
        let training = if pack.kind == PackKind::Training && added > 0 {
            Some(training_ticket(app, team, &lease.id("ticket"), &lease.id("message"), added).await?)
        } else {
            None
        };
        let view = item.holding.view(&pack);
        let respond = |invoice: Option<&Invoice>| {
            serde_json::to_value(PackResponse { pack: view.clone(), invoice: invoice.cloned() })
                .map_err(Error::internal)
        };
        let change = |_: Option<&Invoice>, answer: &serde_json::Value| -> Result<Vec<_>, Error> {
            let mut ops = vec![
                app.store.put_if_version_op(&account_next, account_item.version)?,
                if read == 0 {
                    app.store.put_new_op(&item)?
                } else {
                    app.store.put_if_version_op(&item, read)?
                },
                app.store.put_new_op(&history)?,
            ];
            for other in &others {
                ops.push(app.store.put_if_version_op(other, other.version - 1)?);
            }
            if let Some((_, ticket_ops)) = &training {
                ops.extend(ticket_ops.iter().cloned());
            }
            ops.extend(idempotency::finish_op(app, lease, &team.account.id, &team.key, 200, answer)?);
            Ok(ops)
        };
        let (invoice, answer) = charged_change(app, team, invoice, respond, change)
            .await
            .map_err(|failure| match failure {
                StoreFailure::Conflict(_) => Error::Refused(Refusal::ConcurrentChange("the subscription was changed by another request; retry")),
                StoreFailure::Failed(e) => e,
            })?;
        if let Some(invoice) = &invoice {
            invoicing::email(app, &team.account, invoice).await;
        }
        if let Some((ticket, _)) = &training {
            crate::support_desk::tell_opened(app, &team.account.id, ticket).await;
        }
        Ok((200, answer))
    })
    .await
}

/// The support ticket that asks the team to schedule bought training sessions.
async fn training_ticket(
    app: &App,
    team: &Team,
    ticket_id: &str,
    message_id: &str,
    sessions: u32,
) -> Result<
    (
        crate::tickets::TicketItem,
        Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    ),
    Error,
> {
    crate::support_desk::ticket_for_account(
        app,
        &team.account.id,
        team.actor_user_id(),
        (ticket_id, message_id),
        "Training: schedule the web onboarding sessions",
        &format!(
            "{sessions} web onboarding session(s) bought on {}: please propose dates for the sessions.",
            team.today
        ),
    )
    .await
}

/// The units of an addition charged now: all of them, except for seats, where the period
/// already paid for the users holding the Brik today and for the seats held before.
async fn chargeable_units(
    app: &App,
    team: &Team,
    pack: &Pack,
    held: &[(Pack, PackItem)],
    held_now: u32,
    quantity: u32,
) -> Result<u32, Error> {
    let added = quantity.saturating_sub(held_now);
    let Some(brik) = pack.seats_of() else {
        return Ok(added);
    };
    let users: Vec<User> = team.users(app).await?.into_iter().map(|(_, u)| u).collect();
    let holders = holders_on(&users, team.today)
        .get(brik)
        .copied()
        .unwrap_or(0);
    let seats_before = seats_on(&holdings(held), team.today)
        .get(brik)
        .copied()
        .unwrap_or(0);
    let seats_after = seats_before - held_now + quantity;
    Ok(seats_after.saturating_sub(seats_before.max(holders)))
}

fn proration_invoice(
    app: &App,
    team: &Team,
    pack: &Pack,
    units: u32,
    next_period_too: bool,
    id: String,
) -> Result<Invoice, Error> {
    let left = days_remaining(&team.period, team.today)
        .ok_or_else(|| Error::internal("today is outside its period"))?;
    let slice = BillingPeriod::new(team.today, team.period.end()).map_err(Error::internal)?;
    let lang = team.account.language;
    let mut lines = vec![line(pack, &slice, units, Some(left), lang)];
    if next_period_too {
        let next = team.account.calendar().following(&team.period);
        lines.push(line(pack, &next, units, next.share(), lang));
    }
    let vat = vat_treatment(
        &app.config.issuer_country,
        &team.account.country,
        team.account.vat_number.as_ref(),
    );
    Ok(Invoice::open(
        id,
        InvoiceKind::Proration,
        team.today,
        team.period,
        lines,
        &vat,
    ))
}

/// `DELETE /account/packs/{pack_id}`: ends the pack at the end of the period (after the
/// cut-off, of the next one, already invoiced); no refund.
pub async fn remove(app: &App, team: &Team, pack_id: &str) -> Result<serde_json::Value, Error> {
    let (account_item, _) = app.account_item(&team.account.id).await?;
    let held = held(app, &team.account.id).await?;
    let (_, item) = held
        .iter()
        .find(|(p, i)| {
            p.id == pack_id && (i.holding.held_on(team.today) || i.holding.since > team.today)
        })
        .cloned()
        .ok_or(Error::NotFound)?;
    let effective = team.removal_date().max(item.holding.since);
    if item.holding.until != Some(effective) {
        let mut next = item.clone();
        next.holding.until = Some(effective);
        next.version = item.version + 1;
        let mut account_next = account_item.clone();
        account_next.version = account_item.version + 1;
        let history = team.history(
            &new_ordered_id("hst", team.now),
            "pack_removal_scheduled",
            serde_json::json!({"pack_id": pack_id, "effective_date": effective}),
        );
        app.store
            .transact(vec![
                app.store
                    .put_if_version_op(&account_next, account_item.version)?,
                app.store.put_if_version_op(&next, item.version)?,
                app.store.put_new_op(&history)?,
            ])
            .await
            .map_err(|e| {
                e.into_error(|_| {
                    Error::Refused(Refusal::ConcurrentChange(
                        "the subscription was changed by another request; retry",
                    ))
                })
            })?;
    }
    Ok(serde_json::json!({"effective_date": effective}))
}
