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
//! Here: the catalogue's items, the account's `PackItem`s, the routes (`GET`, `PUT` and
//! `DELETE /account/packs`) and the DynamoDB adapter of the packs' port. The use cases are
//! `softbrik_app::packs`; what a holding means on a day, what putting a quantity does and
//! what a renewal bills, `softbrik_domain::packs`; the period end's removals and reductions,
//! `softbrik_app::renewal::period_end`.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use softbrik_app::ports::packs::{PackChange, PackTable};
use softbrik_app::ports::team::{Answering, Committed, Read, Stamp, TeamRecords};

use crate::account::Invoice;
use crate::app::App;
use crate::error::Error;
use crate::invoicing::{self, StoreFailure};
use crate::refusal::Refusal;
use crate::store::account_pk;
use crate::team::Team;
use softbrik_app::support::{self, Requester, Ticket};

pub use softbrik_app::packs::PackResponse;
pub use softbrik_domain::packs::{HeldPackView, Holding, Pack, PackKind, default_packs, seats_on};

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

/// The account's packs as read (`items`) with their catalogue entries. A pack that left the
/// catalogue is logged and left out rather than failing every change of the account (an
/// operator's error to fix: it is neither billed nor counted until then).
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

/// `GET /account/packs` (`softbrik_app::packs::list`).
pub async fn list(app: &App, team: &Team) -> Result<Vec<HeldPackView>, Error> {
    softbrik_app::packs::list(&app.ports(), &team.to_app(app)?).await
}

/// `PUT /account/packs/{pack_id}` (`softbrik_app::packs::put`).
pub async fn put(
    app: &App,
    team: &Team,
    pack_id: &str,
    body: PackBody,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    softbrik_app::packs::put(
        &app.ports(),
        &team.to_app(app)?,
        pack_id,
        body.quantity,
        key,
    )
    .await
}

/// `DELETE /account/packs/{pack_id}` (`softbrik_app::packs::remove`).
pub async fn remove(app: &App, team: &Team, pack_id: &str) -> Result<serde_json::Value, Error> {
    softbrik_app::packs::remove(&app.ports(), &team.to_app(app)?, pack_id).await
}

// --- The adapter -------------------------------------------------------------------------

/// A training ticket made ready for a change: the ticket, its desk, and the writes that open
/// it.
struct TicketPrepared {
    desk: support::Desk,
    ticket: Ticket,
    ops: Vec<TransactWriteItem>,
}

/// The packs on DynamoDB: the account's `PackItem`s as the team's Query read them, a change
/// written in one transaction with the account item (the turnstile: conditional on its
/// version), its sealed history entry, a training's ticket, the answer and the numbered
/// invoice.
#[async_trait]
impl PackTable for App {
    async fn catalogue(&self) -> Result<Vec<Pack>, Error> {
        catalogue(self).await
    }

    async fn held(&self, team: &TeamRecords) -> Result<Vec<Read<(Pack, Holding)>>, Error> {
        let (_, records) = crate::team_table::sealing(team)?;
        Ok(held_in(self, &records.packs)
            .await?
            .into_iter()
            .map(|(pack, item)| Read {
                value: (pack, item.holding.clone()),
                stamp: Stamp::new(item),
            })
            .collect())
    }

    async fn training_ticket(
        &self,
        team: &TeamRecords,
        (ticket_id, message_id): (&str, &str),
        requester: Option<&str>,
        subject: &str,
        description: &str,
    ) -> Result<Stamp, Error> {
        // The account and its users are the team's read: nothing is read again.
        let (key, records) = crate::team_table::sealing(team)?;
        let desk = crate::tickets::desk_of_item(self, records.account.clone(), key.clone()).await?;
        let requester = requester
            .and_then(|id| team.users.iter().find(|u| u.value.id == id))
            .map_or_else(Requester::nobody, |u| Requester::user(&u.value));
        let opening = support::Opening {
            id: ticket_id.to_string(),
            kind: crate::ticket::Kind::Support,
            channel: crate::ticket::Channel::Web,
            impact: None,
            requester,
            subject: subject.to_string(),
            description: description.to_string(),
            attachments: Vec::new(),
            message_id: message_id.to_string(),
        };
        let number = crate::tickets::next_number(self).await?;
        let (ticket, message) = support::new_ticket(&desk, number, opening);
        let ops = crate::tickets::open_ops(self, &desk, &ticket, &message)?;
        Ok(Stamp::new(TicketPrepared { desk, ticket, ops }))
    }

    async fn commit(
        &self,
        team: &TeamRecords,
        change: PackChange,
        answer: Option<Answering<'_>>,
    ) -> Result<Committed, Error> {
        let (key, records) = crate::team_table::sealing(team)?;
        let account = &team.account;
        let item = &records.account;
        let mut next = item.clone();
        next.support_plan = change.plan;
        next.version = item.version + 1;
        let mut ops = vec![self.store.put_if_version_op(&next, item.version)?];
        for (holding, read) in change.holdings {
            match read {
                Some(read) => {
                    let was: &PackItem = read.get()?;
                    let written = PackItem {
                        holding,
                        version: was.version + 1,
                        ..was.clone()
                    };
                    ops.push(self.store.put_if_version_op(&written, was.version)?);
                }
                None => {
                    let mut written = PackItem::new(&account.id, &holding.pack_id, holding.since);
                    written.holding = holding;
                    written.version = 1;
                    ops.push(self.store.put_new_op(&written)?);
                }
            }
        }
        let (id, entry) = &change.history;
        ops.push(self.store.put_new_op(&crate::store::HistoryItem::seal(
            &account.id,
            id,
            entry,
            key,
        ))?);
        if let Some(ticket) = &change.ticket {
            let TicketPrepared { ops: opening, .. } = ticket.get()?;
            ops.extend(opening.iter().cloned());
        }
        let answered = |invoice: Option<&Invoice>| {
            crate::idempotency::answered(self, answer.as_ref(), &account.id, key, invoice)
        };
        let conflict = |failure| match failure {
            StoreFailure::Conflict(_) => Error::Refused(Refusal::ConcurrentChange(
                "the subscription was changed by another request; retry",
            )),
            StoreFailure::Failed(e) => e,
        };
        let mut answer_body = None;
        let invoice = match change.invoice {
            None => {
                if let Some((body, recorded)) = answered(None)? {
                    ops.extend(recorded);
                    answer_body = Some(body);
                }
                self.store
                    .transact(ops)
                    .await
                    .map_err(StoreFailure::from)
                    .map_err(conflict)?;
                None
            }
            Some(mut invoice) => {
                invoicing::store_numbered(self, account, key, &mut invoice, entry.at, |numbered| {
                    let mut all = ops.clone();
                    if let Some((body, recorded)) = answered(Some(numbered))? {
                        all.extend(recorded);
                        answer_body = Some(body);
                    }
                    Ok(all)
                })
                .await
                .map_err(conflict)?;
                Some(invoice)
            }
        };
        Ok(Committed {
            invoice,
            answer: answer_body,
        })
    }

    async fn tell_opened(&self, _team: &TeamRecords, ticket: &Stamp) {
        match ticket.get::<TicketPrepared>() {
            Ok(TicketPrepared { desk, ticket, .. }) => {
                let opened = crate::ticket_emails::ticket_opened;
                support::tell_requester(&self.ports(), desk, ticket, opened).await;
            }
            Err(e) => tracing::error!(error = %e, "ticket opening not told"),
        }
    }
}
