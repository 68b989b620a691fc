//! The ticket routes of api.md ("Support tickets"): who may see and do what, and each step of
//! the incident flow (support.md): open, qualify, message, wait for the customer, workaround,
//! resolve, confirm or reopen, root-cause analysis, and the monthly incident report.
//!
//! Customers see their account's tickets (members only their own); platform staff (`support`)
//! see every ticket. Another account's ticket is a 404, exactly like a missing one. Every
//! change is one conditional write of the ticket (optimistic version) with its message and
//! idempotency record; the requester's email goes out after it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::account::{SupportPlan, new_ordered_id};
use crate::app::App;
use crate::error::Error;
use crate::http::Identity;
use crate::idempotency::{self, Lease, account_scope};
use crate::refusal::Refusal;
use crate::sla::{Priority, TargetName};
use crate::store::{UserItem, account_pk};
use crate::tickets::{
    self, AuthorKind, Channel, Desk, Impact, Kind, MessageItem, Opening, QUEUE, Requester,
    SlaEvent, Status, TicketItem, id_pointer_pk,
};
use crate::validation::ValidationErrors;

/// Longest subject kept, in characters (security.md "Input").
pub const MAX_SUBJECT_CHARS: usize = 300;
/// Longest description or message, in bytes of UTF-8 (security.md: 100 KiB).
pub const MAX_BODY_BYTES: usize = 100 * 1024;

/// Who is asking, as the ticket routes see it.
#[derive(Debug, Clone)]
pub enum Viewer {
    /// Platform staff: every ticket.
    Staff { sub: String },
    /// An account's admin: the account's tickets.
    Admin { account_id: String, user_id: String },
    /// A member: the tickets they opened.
    Member { account_id: String, user_id: String },
}

impl Viewer {
    pub fn of(caller: &Identity) -> Result<Viewer, Error> {
        if caller.in_group("support") {
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

    fn is_staff(&self) -> bool {
        matches!(self, Viewer::Staff { .. })
    }

    /// Where this caller's idempotency keys live.
    fn scope(&self) -> String {
        match self {
            Viewer::Staff { sub } => format!("STAFF#{sub}"),
            Viewer::Admin { account_id, .. } | Viewer::Member { account_id, .. } => {
                account_scope(account_id)
            }
        }
    }

    fn user_id(&self) -> Option<&str> {
        match self {
            Viewer::Staff { .. } => None,
            Viewer::Admin { user_id, .. } | Viewer::Member { user_id, .. } => Some(user_id),
        }
    }

    /// Whether the caller may see `ticket` (else it does not exist for them).
    fn sees(&self, ticket: &TicketItem) -> bool {
        match self {
            Viewer::Staff { .. } => true,
            Viewer::Admin { account_id, .. } => &ticket.account_id == account_id,
            Viewer::Member {
                account_id,
                user_id,
            } => {
                &ticket.account_id == account_id
                    && ticket.requester_user_id.as_deref() == Some(user_id)
            }
        }
    }
}

// --- Bodies ------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTicketBody {
    pub subject: String,
    pub description: String,
    pub channel: String,
    #[serde(default)]
    pub impact: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    pub body: String,
    #[serde(default = "yes")]
    pub public: bool,
    /// Staff only: the team now waits for the customer (the resolution clock stops).
    #[serde(default)]
    pub pending_customer: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeBody {
    pub priority: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextBody {
    pub body: String,
}

fn subject_text(errors: &mut ValidationErrors, value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        errors.push("subject", "required", "must not be empty");
    } else if value.chars().count() > MAX_SUBJECT_CHARS {
        errors.push(
            "subject",
            "too_long",
            format!("at most {MAX_SUBJECT_CHARS} characters"),
        );
    }
    value.to_string()
}

fn text(errors: &mut ValidationErrors, field: &str, value: &str) -> String {
    let value = value.trim();
    if value.is_empty() {
        errors.push(field, "required", "must not be empty");
    } else if value.len() > MAX_BODY_BYTES {
        errors.push(field, "too_long", "at most 100 KiB");
    }
    value.to_string()
}

/// Cuts a text to at most [`MAX_BODY_BYTES`] on a character boundary (mail is not refused
/// for being long: it is kept up to the limit).
pub fn cut_body(text: &str) -> &str {
    if text.len() <= MAX_BODY_BYTES {
        return text;
    }
    let mut end = MAX_BODY_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn parse_priority(raw: &str) -> Option<Priority> {
    match raw {
        "P1" => Some(Priority::P1),
        "P2" => Some(Priority::P2),
        "P3" => Some(Priority::P3),
        _ => None,
    }
}

// --- Views -------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct TicketView {
    pub id: String,
    pub number: String,
    pub kind: Kind,
    pub subject: String,
    pub status: Status,
    pub priority: Priority,
    pub channel: Channel,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact: Option<Impact>,
    pub requester: Requester,
    pub account_id: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rca: Option<RcaView>,
    pub sla: SlaView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<MessageView>>,
}

#[derive(Debug, Serialize)]
pub struct RcaView {
    pub body: String,
    pub at: Timestamp,
}

#[derive(Debug, Serialize)]
pub struct SlaView {
    pub plan: SupportPlan,
    pub targets: Vec<TargetView>,
    pub events: Vec<SlaEvent>,
}

#[derive(Debug, Serialize)]
pub struct TargetView {
    pub name: TargetName,
    pub due_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met_at: Option<Timestamp>,
    pub breached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breached_at: Option<Timestamp>,
    pub paused: bool,
}

#[derive(Debug, Serialize)]
pub struct MessageView {
    pub id: String,
    pub at: Timestamp,
    pub author: AuthorView,
    pub public: bool,
    pub body: String,
    pub automatic: bool,
    pub attachments: Vec<AttachmentView>,
}

#[derive(Debug, Serialize)]
pub struct AuthorView {
    pub kind: AuthorKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AttachmentView {
    pub id: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub url: String,
    pub url_expires_at: Timestamp,
}

/// The API's `Ticket`, as of the desk's "now"; with its messages when asked (internal notes
/// only for staff).
pub async fn view(
    app: &App,
    desk: &Desk,
    ticket: &TicketItem,
    messages: Option<(&[MessageItem], bool)>,
) -> Result<TicketView, Error> {
    let now = desk.now;
    let targets = ticket
        .life
        .targets
        .iter()
        .map(|t| TargetView {
            name: t.name,
            due_at: t.due_at(&desk.hours, now),
            met_at: t.met_at,
            breached: t.breached_at.is_some(),
            breached_at: t.breached_at,
            paused: t.is_paused(),
        })
        .collect();
    let rca = match (&ticket.rca, ticket.life.rca_at) {
        (Some(sealed), Some(at)) => Some(RcaView {
            body: desk.open((&ticket.pk, &ticket.sk), "ticket_rca", sealed)?,
            at,
        }),
        _ => None,
    };
    let messages = match messages {
        None => None,
        Some((items, staff)) => {
            let mut views = Vec::new();
            for m in items.iter().filter(|m| m.public || staff) {
                let mut attachments = Vec::new();
                for a in &m.attachments {
                    let filename = desk.open(
                        crate::tickets::attachment_item(&a.key),
                        "attachment_name",
                        &a.filename,
                    )?;
                    let (url, url_expires_at) =
                        crate::attachments::link(app, &a.key, &filename).await?;
                    attachments.push(AttachmentView {
                        id: a.id.clone(),
                        filename,
                        content_type: a.content_type.clone(),
                        size: a.size,
                        url,
                        url_expires_at,
                    });
                }
                views.push(MessageView {
                    id: m.id.clone(),
                    at: m.at,
                    author: AuthorView {
                        kind: m.author,
                        user_id: m.author_user_id.clone(),
                        name: m
                            .author_name
                            .as_ref()
                            .map(|n| desk.open((&m.pk, &m.sk), "message_author", n))
                            .transpose()?,
                    },
                    public: m.public,
                    body: desk.open((&m.pk, &m.sk), "message_body", &m.body)?,
                    automatic: m.automatic,
                    attachments,
                });
            }
            Some(views)
        }
    };
    Ok(TicketView {
        id: ticket.id.clone(),
        number: ticket.reference(),
        kind: ticket.life.kind,
        subject: ticket.subject(desk)?,
        status: ticket.life.status,
        priority: ticket.life.priority,
        channel: ticket.channel,
        impact: ticket.impact,
        requester: ticket.requester(desk)?,
        account_id: ticket.account_id.clone(),
        created_at: ticket.life.created_at,
        updated_at: ticket.updated_at,
        resolved_at: ticket.life.resolved_at,
        closed_at: ticket.life.closed_at,
        rca,
        sla: SlaView {
            plan: ticket.life.plan,
            targets,
            events: ticket.life.events.clone(),
        },
        messages,
    })
}

async fn full_view(
    app: &App,
    desk: &Desk,
    ticket: &TicketItem,
    viewer: &Viewer,
) -> Result<serde_json::Value, Error> {
    let messages = tickets::messages(app, ticket).await?;
    let view = view(app, desk, ticket, Some((&messages, viewer.is_staff()))).await?;
    serde_json::to_value(view).map_err(Error::internal)
}

// --- Opening -----------------------------------------------------------------------------

/// `POST /tickets`: an admin or member opens a ticket; the tracking number is emailed at once.
pub async fn open(
    app: &App,
    caller: &Identity,
    body: NewTicketBody,
    raw: &serde_json::Value,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    let viewer = Viewer::of(caller)?;
    let (Some(account_id), Some(user_id)) = (account_of(&viewer), viewer.user_id()) else {
        // Staff record phone calls on a customer's behalf through the customer's admin.
        return Err(Error::Forbidden);
    };
    let mut errors = ValidationErrors::new();
    let subject = subject_text(&mut errors, &body.subject);
    let description = text(&mut errors, "description", &body.description);
    let channel = match body.channel.as_str() {
        "web" => Some(Channel::Web),
        "chat" => Some(Channel::Chat),
        "phone" => Some(Channel::Phone),
        _ => {
            errors.push("channel", "invalid_choice", "one of web, chat, phone");
            None
        }
    };
    let impact = match body.impact.as_deref() {
        None => None,
        Some("critical") => Some(Impact::Critical),
        Some("high") => Some(Impact::High),
        Some("normal") => Some(Impact::Normal),
        Some(_) => {
            errors.push("impact", "invalid_choice", "one of critical, high, normal");
            None
        }
    };
    errors.into_result()?;
    let channel = channel.ok_or_else(|| Error::internal("channel checked"))?;
    let desk = Desk::of_account(app, account_id).await?;
    // The phone channel comes with the plans (support.md "Plans"): Pro for P2/P3, Enterprise
    // for every priority.
    if channel == Channel::Phone {
        let allowed = match desk.plan {
            SupportPlan::Basic => false,
            SupportPlan::Pro => impact != Some(Impact::Critical),
            SupportPlan::Enterprise => true,
        };
        if !allowed {
            return Err(Error::Refused(Refusal::PlanRequired(
                "phone support comes with the Pro plan (P2 and P3) and the Enterprise plan (every priority)",
            )));
        }
    }
    let user: UserItem = app
        .store
        .get(&account_pk(account_id), &crate::store::user_sk(user_id))
        .await?
        .ok_or(Error::NotFound)?;
    if !user.may_ask_support() {
        return Err(Error::Forbidden);
    }
    let user = user.open(account_id, &desk.key)?;
    // The caller is part of the fingerprint: a colleague's key never replays their ticket.
    let fingerprint = serde_json::json!({"route": "POST /tickets", "user": user_id, "body": raw});
    let now = desk.now;
    let reserve = || {
        BTreeMap::from([
            ("ticket".to_string(), new_ordered_id("tkt", now)),
            ("message".to_string(), new_ordered_id("msg", now)),
        ])
    };
    idempotency::once(
        app,
        &viewer.scope(),
        key,
        fingerprint,
        reserve,
        async |lease: &Lease| {
            let number = tickets::next_number(app).await?;
            let opening = Opening {
                id: lease.id("ticket"),
                kind: Kind::Support,
                channel,
                impact,
                requester: Requester {
                    user_id: Some(user.id.clone()),
                    name: Some(user.name.as_str().to_string()),
                    email: Some(user.email.as_str().to_string()),
                },
                subject,
                description,
                attachments: Vec::new(),
                message_id: lease.id("message"),
            };
            let (ticket, mut ops) = TicketItem::open(app, &desk, number, opening)?;
            let answer = serde_json::to_value(view(app, &desk, &ticket, None).await?)
                .map_err(Error::internal)?;
            ops.extend(idempotency::finish_op(
                app, lease, account_id, &desk.key, 201, &answer,
            )?);
            app.store
                .transact(ops)
                .await
                .map_err(|e| e.into_error(|_| Error::internal("new ticket id collision")))?;
            tracing::info!(ticket_id = %ticket.id, priority = ?ticket.life.priority, "ticket opened");
            tickets::notify_requester(app, &desk, &ticket, |lang, reference, subject| {
                crate::ticket_emails::ticket_opened(lang, reference, subject)
            })
            .await?;
            Ok((201, answer))
        },
    )
    .await
}

/// A ticket opened on a customer's behalf from inside Softbrik (buying the training pack asks
/// the team to schedule the sessions), with `user_id` as requester: the ticket and its writes,
/// for the caller's transaction; [`tell_opened`] once they are in.
pub async fn ticket_for_account(
    app: &App,
    account_id: &str,
    user_id: Option<&str>,
    (ticket_id, message_id): (&str, &str),
    subject: &str,
    description: &str,
) -> Result<(TicketItem, Vec<aws_sdk_dynamodb::types::TransactWriteItem>), Error> {
    let desk = Desk::of_account(app, account_id).await?;
    let mut requester = Requester {
        user_id: None,
        name: None,
        email: None,
    };
    if let Some(id) = user_id {
        let item: Option<UserItem> = app
            .store
            .get(&account_pk(account_id), &crate::store::user_sk(id))
            .await?;
        if let Some(item) = item {
            let user = item.open(account_id, &desk.key)?;
            requester = Requester {
                user_id: Some(user.id.clone()),
                name: Some(user.name.as_str().to_string()),
                email: Some(user.email.as_str().to_string()),
            };
        }
    }
    let opening = Opening {
        id: ticket_id.to_string(),
        kind: Kind::Support,
        channel: Channel::Web,
        impact: None,
        requester,
        subject: subject.to_string(),
        description: description.to_string(),
        attachments: Vec::new(),
        message_id: message_id.to_string(),
    };
    let number = tickets::next_number(app).await?;
    TicketItem::open(app, &desk, number, opening)
}

/// Tells the requester of a ticket opened for them its number (logged if it fails).
pub async fn tell_opened(app: &App, account_id: &str, ticket: &TicketItem) {
    let told = async {
        let desk = Desk::of_account(app, account_id).await?;
        tickets::notify_requester(app, &desk, ticket, crate::ticket_emails::ticket_opened).await
    };
    if let Err(e) = told.await {
        tracing::error!(error = %e, ticket_id = %ticket.id, "ticket opening not told");
    }
}

fn account_of(viewer: &Viewer) -> Option<&str> {
    match viewer {
        Viewer::Staff { .. } => None,
        Viewer::Admin { account_id, .. } | Viewer::Member { account_id, .. } => Some(account_id),
    }
}

// --- Reading -----------------------------------------------------------------------------

/// Finds a ticket the caller may see, with its desk; anything else is a 404.
pub async fn locate(
    app: &App,
    viewer: &Viewer,
    ticket_id: &str,
) -> Result<(TicketItem, Desk), Error> {
    // Ticket ids are `tkt_` and 26 characters; anything else names no ticket.
    if !ticket_id.starts_with("tkt_") || ticket_id.len() > 40 {
        return Err(Error::NotFound);
    }
    let account_id = match account_of(viewer) {
        Some(account) => account.to_string(),
        None => {
            tickets::find_pointer(app, &id_pointer_pk(ticket_id))
                .await?
                .ok_or(Error::NotFound)?
                .account_id
        }
    };
    let ticket = tickets::load(app, &account_id, ticket_id).await?;
    if !viewer.sees(&ticket) {
        return Err(Error::NotFound);
    }
    let desk = Desk::of_account(app, &account_id).await?;
    Ok((ticket, desk))
}

/// `GET /tickets/{id}`: the ticket with its messages.
pub async fn get(
    app: &App,
    caller: &Identity,
    ticket_id: &str,
) -> Result<serde_json::Value, Error> {
    let viewer = Viewer::of(caller)?;
    let (ticket, desk) = locate(app, &viewer, ticket_id).await?;
    full_view(app, &desk, &ticket, &viewer).await
}

/// Filters and page of `GET /tickets`.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub status: Option<String>,
    pub priority: Option<String>,
    pub limit: Option<String>,
    pub next: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TicketList {
    /// (api.md's one list shape)
    pub items: Vec<TicketView>,
    pub next: Option<String>,
}

/// `GET /tickets`: newest first; the account's (admin), one's own (member), every one (staff).
pub async fn list(app: &App, caller: &Identity, query: ListQuery) -> Result<TicketList, Error> {
    let viewer = Viewer::of(caller)?;
    let mut errors = ValidationErrors::new();
    let status = match query.status.as_deref() {
        None => None,
        Some(raw) => match serde_json::from_value::<Status>(serde_json::json!(raw)) {
            Ok(s) => Some(s),
            Err(_) => {
                errors.push("status", "invalid_choice", "a ticket status");
                None
            }
        },
    };
    let priority = match query.priority.as_deref() {
        None => None,
        Some(raw) => {
            let parsed = parse_priority(raw);
            if parsed.is_none() {
                errors.push("priority", "invalid_choice", "one of P1, P2, P3");
            }
            parsed
        }
    };
    let limit = match query.limit.as_deref().map(str::parse::<i32>) {
        None => 50,
        Some(Ok(n)) if (1..=200).contains(&n) => n,
        Some(_) => {
            errors.push("limit", "out_of_range", "1 to 200");
            50
        }
    };
    errors.into_result()?;
    let mut filters = Vec::new();
    let mut values: HashMap<String, AttributeValue> = HashMap::new();
    let mut names: HashMap<String, String> = HashMap::new();
    if let Some(status) = status {
        filters.push("#status = :status");
        names.insert("#status".into(), "status".into());
        values.insert(
            ":status".into(),
            AttributeValue::S(
                serde_json::to_value(status)
                    .map_err(Error::internal)?
                    .as_str()
                    .unwrap_or_default()
                    .into(),
            ),
        );
    }
    if let Some(priority) = priority {
        filters.push("priority = :priority");
        values.insert(
            ":priority".into(),
            AttributeValue::S(format!("{priority:?}")),
        );
    }
    let mut request = app
        .store
        .client()
        .query()
        .table_name(app.store.table())
        .scan_index_forward(false)
        .limit(limit);
    match &viewer {
        Viewer::Staff { .. } => {
            request = request
                .index_name("gsi1")
                .key_condition_expression("gsi1pk = :pk");
            values.insert(":pk".into(), AttributeValue::S(QUEUE.into()));
        }
        Viewer::Admin { account_id, .. } | Viewer::Member { account_id, .. } => {
            request = request.key_condition_expression("pk = :pk AND begins_with(sk, :prefix)");
            values.insert(":pk".into(), AttributeValue::S(account_pk(account_id)));
            values.insert(":prefix".into(), AttributeValue::S("TICKET#".into()));
            if let Viewer::Member { user_id, .. } = &viewer {
                filters.push("requester_user_id = :me");
                values.insert(":me".into(), AttributeValue::S(user_id.clone()));
            }
        }
    }
    if !filters.is_empty() {
        request = request.filter_expression(filters.join(" AND "));
    }
    if !names.is_empty() {
        request = request.set_expression_attribute_names(Some(names));
    }
    let start = query
        .next
        .as_deref()
        .map(|c| decode_cursor(c, &viewer))
        .transpose()?;
    let out = request
        .set_expression_attribute_values(Some(values))
        .set_exclusive_start_key(start)
        .send()
        .await
        .map_err(|e| {
            Error::unavailable(format!(
                "dynamodb Query tickets: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e.into_service_error())
            ))
        })?;
    let mut desks: HashMap<String, Arc<Desk>> = HashMap::new();
    let mut views = Vec::new();
    for item in out.items.unwrap_or_default() {
        let ticket: TicketItem = serde_dynamo::from_item(item)
            .map_err(|e| Error::internal(format!("stored ticket: {e}")))?;
        let desk = match desks.get(&ticket.account_id) {
            Some(desk) => desk.clone(),
            None => match Desk::of_account(app, &ticket.account_id).await {
                Ok(desk) => {
                    let desk = Arc::new(desk);
                    desks.insert(ticket.account_id.clone(), desk.clone());
                    desk
                }
                // An account being closed: its tickets are on their way out.
                Err(Error::NotFound) => continue,
                Err(e) => return Err(e),
            },
        };
        views.push(view(app, &desk, &ticket, None).await?);
    }
    let next = out
        .last_evaluated_key
        .filter(|k| !k.is_empty())
        .map(|k| encode_cursor(&k));
    Ok(TicketList { items: views, next })
}

fn encode_cursor(key: &HashMap<String, AttributeValue>) -> String {
    use base64::Engine;
    let plain: BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str())))
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&plain).unwrap_or_default())
}

/// A cursor of this caller's list, or a 422: the keys must be the list's own.
fn decode_cursor(raw: &str, viewer: &Viewer) -> Result<HashMap<String, AttributeValue>, Error> {
    use base64::Engine;
    let bad = || Error::validation("next", "invalid_format", "not a cursor of this list");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| bad())?;
    let plain: BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let field = |name: &str| plain.get(name).map(String::as_str).unwrap_or_default();
    let valid_ticket = |sk: &str| sk.starts_with("TICKET#") && sk.len() <= 64;
    let ours = match viewer {
        Viewer::Staff { .. } => {
            plain.len() == 4
                && field("gsi1pk") == QUEUE
                && field("gsi1sk").len() <= 96
                && field("pk").starts_with("ACCOUNT#")
                && valid_ticket(field("sk"))
        }
        Viewer::Admin { account_id, .. } | Viewer::Member { account_id, .. } => {
            plain.len() == 2 && field("pk") == account_pk(account_id) && valid_ticket(field("sk"))
        }
    };
    if !ours {
        return Err(bad());
    }
    Ok(plain
        .into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
}

// --- Changes -----------------------------------------------------------------------------

/// What a step tells the requester once written.
pub enum Notice {
    None,
    Updated(String),
    Workaround(String),
    Resolved(String),
    Closed,
}

/// What a step adds besides the ticket's own change.
pub struct Effects {
    pub message: Option<MessageItem>,
    pub notice: Notice,
}

/// Runs one step on a ticket the caller may see: idempotent under the caller's key, the ticket
/// written only if nobody changed it meanwhile (read again and retried then).
async fn step<F>(
    app: &App,
    caller: &Identity,
    ticket_id: &str,
    key: Option<&str>,
    fingerprint: serde_json::Value,
    apply: F,
) -> Result<(u16, serde_json::Value), Error>
where
    F: Fn(&mut TicketItem, &Desk, &Viewer, &str) -> Result<Effects, Error>,
{
    let viewer = Viewer::of(caller)?;
    let (located, desk) = locate(app, &viewer, ticket_id).await?;
    let now = desk.now;
    let reserve = || BTreeMap::from([("message".to_string(), new_ordered_id("msg", now))]);
    let mut located = Some(located);
    idempotency::once(
        app,
        &viewer.scope(),
        key,
        fingerprint,
        reserve,
        async |lease: &Lease| {
            for _ in 0..3 {
                // The ticket `locate` read serves the first attempt; a retry reads it again.
                let mut ticket = match located.take() {
                    Some(ticket) => ticket,
                    None => tickets::load(app, &desk.account_id, ticket_id).await?,
                };
                let read = ticket.version;
                let effects = apply(&mut ticket, &desk, &viewer, &lease.id("message"))?;
                let mut ops = vec![ticket.save_op(app, &desk.hours, read, now)?];
                if let Some(message) = &effects.message {
                    ops.push(app.store.put_new_op(message)?);
                }
                // The answer shows the ticket as written, its new message included.
                let mut messages = tickets::messages(app, &ticket).await?;
                messages.extend(effects.message.iter().cloned());
                let answer = view(app, &desk, &ticket, Some((&messages, viewer.is_staff())))
                    .await
                    .and_then(|v| serde_json::to_value(v).map_err(Error::internal))?;
                ops.extend(idempotency::finish_op(
                    app,
                    lease,
                    &desk.account_id,
                    &desk.key,
                    200,
                    &answer,
                )?);
                match app.store.transact(ops).await {
                    Ok(()) => {
                        tell(app, &desk, &ticket, effects.notice).await?;
                        return Ok((200, answer));
                    }
                    Err(e) if e.condition_failed(0) => continue,
                    Err(e) => {
                        return Err(e.into_error(|_| {
                            Error::Refused(Refusal::TicketChanged("the ticket changed; retry"))
                        }));
                    }
                }
            }
            Err(Error::Refused(Refusal::TicketChanged(
                "the ticket is being changed by someone else; retry",
            )))
        },
    )
    .await
}

async fn tell(app: &App, desk: &Desk, ticket: &TicketItem, notice: Notice) -> Result<(), Error> {
    use crate::ticket_emails as words;
    match notice {
        Notice::None => Ok(()),
        Notice::Updated(body) => {
            tickets::notify_requester(app, desk, ticket, |l, r, s| {
                words::ticket_updated(l, r, s, &body)
            })
            .await
        }
        Notice::Workaround(body) => {
            tickets::notify_requester(app, desk, ticket, |l, r, s| {
                words::ticket_workaround(l, r, s, &body)
            })
            .await
        }
        Notice::Resolved(body) => {
            tickets::notify_requester(app, desk, ticket, |l, r, s| {
                words::ticket_resolved(l, r, s, &body)
            })
            .await
        }
        Notice::Closed => tickets::notify_requester(app, desk, ticket, words::ticket_closed).await,
    }
}

fn staff_only(viewer: &Viewer) -> Result<(), Error> {
    if viewer.is_staff() {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}

fn customer_only(viewer: &Viewer) -> Result<(), Error> {
    if viewer.is_staff() {
        Err(Error::Forbidden)
    } else {
        Ok(())
    }
}

/// A message of the support team (author name "Softbrik support") or of the customer.
fn message(
    desk: &Desk,
    ticket: &TicketItem,
    viewer: &Viewer,
    id: &str,
    body: &str,
    public: bool,
) -> MessageItem {
    let (author, user) = match viewer {
        Viewer::Staff { .. } => (AuthorKind::Support, None),
        Viewer::Admin { user_id, .. } | Viewer::Member { user_id, .. } => {
            (AuthorKind::Customer, Some(user_id.clone()))
        }
    };
    let name = viewer.is_staff().then_some("Softbrik support");
    MessageItem::new(
        desk,
        ticket,
        id,
        author,
        user,
        name,
        public,
        false,
        body,
        Vec::new(),
    )
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
    let mut errors = ValidationErrors::new();
    let text = text(&mut errors, "body", &body.body);
    errors.into_result()?;
    let viewer = Viewer::of(caller)?;
    if !viewer.is_staff() && (!body.public || body.pending_customer) {
        return Err(Error::validation(
            if body.public {
                "pending_customer"
            } else {
                "public"
            },
            "staff_only",
            "internal notes and waiting for the customer are for the support team",
        ));
    }
    let fingerprint =
        serde_json::json!({"route": "POST /tickets/messages", "ticket": ticket_id, "body": raw});
    let (status, answer) = step(
        app,
        caller,
        ticket_id,
        key,
        fingerprint,
        |ticket, desk, viewer, id| {
            let at = desk.now;
            let message = message(desk, ticket, viewer, id, &text, body.public);
            let notice = if viewer.is_staff() {
                ticket
                    .life
                    .team_message(body.public, body.pending_customer, at)?;
                if body.public {
                    Notice::Updated(text.clone())
                } else {
                    Notice::None
                }
            } else {
                ticket.life.customer_message(at)?;
                Notice::None
            };
            Ok(Effects {
                message: Some(message),
                notice,
            })
        },
    )
    .await?;
    Ok((if status == 200 { 201 } else { status }, answer))
}

/// `POST /tickets/{id}/acknowledge`: qualification by the support team (priority), which
/// meets the acknowledge target.
pub async fn acknowledge(
    app: &App,
    caller: &Identity,
    ticket_id: &str,
    body: AcknowledgeBody,
    raw: &serde_json::Value,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    staff_only(&Viewer::of(caller)?)?;
    let priority = parse_priority(&body.priority)
        .ok_or_else(|| Error::validation("priority", "invalid_choice", "one of P1, P2, P3"))?;
    let fingerprint =
        serde_json::json!({"route": "POST /tickets/acknowledge", "ticket": ticket_id, "body": raw});
    step(
        app,
        caller,
        ticket_id,
        key,
        fingerprint,
        |ticket, desk, _, _| {
            ticket.life.acknowledge(priority, &desk.hours, desk.now)?;
            Ok(Effects {
                message: None,
                notice: Notice::None,
            })
        },
    )
    .await
}

/// `POST /tickets/{id}/workaround`, `/resolve`, `/rca`: the support team's steps with a text.
pub async fn staff_step(
    app: &App,
    caller: &Identity,
    ticket_id: &str,
    action: &str,
    body: TextBody,
    raw: &serde_json::Value,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    staff_only(&Viewer::of(caller)?)?;
    let mut errors = ValidationErrors::new();
    let text = text(&mut errors, "body", &body.body);
    errors.into_result()?;
    let fingerprint = serde_json::json!({"route": format!("POST /tickets/{action}"), "ticket": ticket_id, "body": raw});
    step(
        app,
        caller,
        ticket_id,
        key,
        fingerprint,
        |ticket, desk, viewer, id| {
            let at = desk.now;
            match action {
                "workaround" => {
                    ticket.life.work_around(at)?;
                    Ok(Effects {
                        message: Some(message(desk, ticket, viewer, id, &text, true)),
                        notice: Notice::Workaround(text.clone()),
                    })
                }
                "resolve" => {
                    ticket.life.resolve(at)?;
                    Ok(Effects {
                        message: Some(message(desk, ticket, viewer, id, &text, true)),
                        notice: Notice::Resolved(text.clone()),
                    })
                }
                "rca" => {
                    ticket.rca = Some(desk.seal((&ticket.pk, &ticket.sk), "ticket_rca", &text));
                    ticket.life.rca_at = Some(at);
                    Ok(Effects {
                        message: None,
                        notice: Notice::None,
                    })
                }
                other => Err(Error::internal(format!("unknown staff step {other}"))),
            }
        },
    )
    .await
}

/// `POST /tickets/{id}/confirm`: the customer validates the resolution; the ticket closes (a P1
/// only once its root-cause analysis is written).
pub async fn confirm(
    app: &App,
    caller: &Identity,
    ticket_id: &str,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    customer_only(&Viewer::of(caller)?)?;
    let fingerprint = serde_json::json!({"route": "POST /tickets/confirm", "ticket": ticket_id});
    step(
        app,
        caller,
        ticket_id,
        key,
        fingerprint,
        |ticket, desk, _, _| {
            ticket.life.confirm(desk.now)?;
            Ok(Effects {
                message: None,
                notice: Notice::Closed,
            })
        },
    )
    .await
}

/// `POST /tickets/{id}/reopen`: within 14 days of resolution; the resolution clock goes on
/// from where it stopped (the time it stood resolved does not count).
pub async fn reopen(
    app: &App,
    caller: &Identity,
    ticket_id: &str,
    key: Option<&str>,
) -> Result<(u16, serde_json::Value), Error> {
    customer_only(&Viewer::of(caller)?)?;
    let fingerprint = serde_json::json!({"route": "POST /tickets/reopen", "ticket": ticket_id});
    step(
        app,
        caller,
        ticket_id,
        key,
        fingerprint,
        |ticket, desk, _, _| {
            ticket.life.reopen(desk.now)?;
            Ok(Effects {
                message: None,
                notice: Notice::None,
            })
        },
    )
    .await
}

// --- Reports -----------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct IncidentReport {
    pub month: String,
    pub plan: SupportPlan,
    pub tickets: Vec<ReportTicket>,
    pub summary: ReportSummary,
}

#[derive(Debug, Serialize)]
pub struct ReportTicket {
    pub id: String,
    pub number: String,
    pub priority: Priority,
    pub status: Status,
    pub created_at: Timestamp,
    pub targets: Vec<ReportTarget>,
}

#[derive(Debug, Serialize)]
pub struct ReportTarget {
    pub name: TargetName,
    pub due_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met_at: Option<Timestamp>,
    pub achieved: bool,
    pub breached: bool,
}

#[derive(Debug, Serialize)]
pub struct ReportSummary {
    pub tickets: usize,
    pub targets_met: usize,
    pub targets_breached: usize,
}

/// `GET /account/reports/incidents?month=YYYY-MM`: the month's tickets (opened in that month,
/// local time) and each target achieved or breached; Pro and Enterprise plans.
pub async fn incident_report(
    app: &App,
    caller: &Identity,
    month: Option<&str>,
) -> Result<IncidentReport, Error> {
    let account_id = caller.require_admin()?;
    let bad = || Error::validation("month", "invalid_format", "a month, YYYY-MM");
    let month = month.ok_or_else(bad)?;
    let first =
        jiff::civil::Date::strptime("%Y-%m-%d", format!("{month}-01")).map_err(|_| bad())?;
    if month.len() != 7 || !(2000..=2999).contains(&first.year()) {
        return Err(bad());
    }
    let desk = Desk::of_account(app, account_id).await?;
    if desk.plan == SupportPlan::Basic {
        return Err(Error::Refused(Refusal::PlanRequired(
            "the monthly incident report comes with the Pro and Enterprise support plans",
        )));
    }
    let zone = desk.hours.zone().clone();
    let start = first
        .to_zoned(zone.clone())
        .map_err(Error::internal)?
        .timestamp();
    let end = first
        .checked_add(jiff::Span::new().months(1))
        .map_err(Error::internal)?
        .to_zoned(zone)
        .map_err(Error::internal)?
        .timestamp();
    let all: Vec<TicketItem> = app
        .store
        .query_prefix(&account_pk(account_id), "TICKET#")
        .await?;
    let mut report = IncidentReport {
        month: month.to_string(),
        plan: desk.plan,
        tickets: Vec::new(),
        summary: ReportSummary {
            tickets: 0,
            targets_met: 0,
            targets_breached: 0,
        },
    };
    for ticket in all.iter().filter(|t| {
        t.life.created_at >= start && t.life.created_at < end && t.life.kind == Kind::Support
    }) {
        let targets: Vec<ReportTarget> = ticket
            .life
            .targets
            .iter()
            .map(|t| {
                let due_at = t.due_at(&desk.hours, desk.now);
                let breached = t.breached_at.is_some();
                ReportTarget {
                    name: t.name,
                    due_at,
                    met_at: t.met_at,
                    achieved: t.met_at.is_some_and(|m| m <= due_at) && !breached,
                    breached,
                }
            })
            .collect();
        report.summary.targets_met += targets.iter().filter(|t| t.achieved).count();
        report.summary.targets_breached += targets.iter().filter(|t| t.breached).count();
        report.tickets.push(ReportTicket {
            id: ticket.id.clone(),
            number: ticket.reference(),
            priority: ticket.life.priority,
            status: ticket.life.status,
            created_at: ticket.life.created_at,
            targets,
        });
    }
    report.summary.tickets = report.tickets.len();
    Ok(report)
}
