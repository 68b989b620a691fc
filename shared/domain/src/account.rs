//! The account as the business sees it: company, admin, billing settings and card, its users
//! and what they hold, its invoices and history, and the shapes the API returns (`Account`,
//! `User`, `Invoice` of api.md). Computed fields (current period, next billing date) are
//! derived from the anchor and today's local date, never stored.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::billing_calendar::{AnchorDay, BillingMode, BillingPeriod, Calendar};
use crate::invoice::{InvoiceLine, InvoiceTotals};
use crate::money::{Currency, Money};
use crate::values::{
    BrikId, CompanyName, Country, EmailAddress, Language, PersonName, TimeZoneName, VatNumber,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    PastDue,
    Suspended,
    Lapsed,
    Closing,
    Closed,
}

impl AccountStatus {
    /// The support plan a new ticket of an account in this status is served on: the one it
    /// pays for, but Basic while its subscription is not running (lapsed, or suspended for
    /// want of payment): a paid plan's targets come with the subscription that pays for them.
    pub fn support_plan(self, paid_for: SupportPlan) -> SupportPlan {
        match self {
            AccountStatus::Lapsed | AccountStatus::Suspended => SupportPlan::Basic,
            _ => paid_for,
        }
    }
}

/// Who pays for an account (billing.md "Resellers billed on maximum active users"): a company
/// for its own Briks; a reseller for the maximum of active users across its clients; a client
/// account, nothing itself (its reseller is billed for its active users).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    #[default]
    Company,
    Reseller,
    Client,
}

pub use crate::sla::SupportPlan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Member,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Invited,
    Active,
    RemovalScheduled,
    AccessRevoked,
    Inactive,
}

impl UserStatus {
    /// Whether a user in this status may use Softbrik (sign in, call the API, write to
    /// support): not once their access is cut or they are marked inactive.
    pub fn has_access(self) -> bool {
        !matches!(self, UserStatus::AccessRevoked | UserStatus::Inactive)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardBrand {
    Visa,
    Mastercard,
}

/// What the API may show of a card; the card itself stays with the payment partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardDetails {
    pub brand: CardBrand,
    pub last4: String,
    pub exp_month: u8,
    pub exp_year: u16,
}

/// The partner's payment method and what it says of the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub token: String,
    pub card: CardDetails,
}

/// A company's account, with its personal and business data in clear (only ever in memory).
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub company_name: CompanyName,
    pub country: Country,
    pub vat_number: Option<VatNumber>,
    pub address: Option<String>,
    pub language: Language,
    pub timezone: TimeZoneName,
    pub status: AccountStatus,
    pub admin_email: EmailAddress,
    pub created_at: Timestamp,
    pub kind: AccountKind,
    /// The reseller a client account belongs to and is billed to.
    pub reseller_id: Option<String>,
    /// A client account's free trial: its users are not billed through this date (inclusive).
    pub trial_until: Option<Date>,
    /// The day of month periods start on before any switch to calendar months.
    pub anchor_day: AnchorDay,
    /// The billing date calendar months start from, once asked for (`POST /account/billing-alignment`).
    pub calendar_from: Option<Date>,
    pub auto_renew: bool,
    pub closure_date: Option<Date>,
    /// The card charged; none for a client account, billed through its reseller.
    pub payment_method: Option<PaymentMethod>,
    pub support_plan: SupportPlan,
    pub test_clock_id: Option<String>,
    /// Where invoices go instead of the admin's address, when set.
    pub invoice_email: Option<EmailAddress>,
}

impl Account {
    pub fn local_date(&self, now: Timestamp) -> Date {
        crate::billing_calendar::local_date(now, &self.timezone.time_zone())
    }

    /// How the account's periods fall (anchor day, then calendar months once switched).
    pub fn calendar(&self) -> Calendar {
        Calendar::new(self.anchor_day, self.calendar_from)
    }

    /// The billing period that today's local date falls in.
    pub fn current_period(&self, now: Timestamp) -> BillingPeriod {
        self.calendar().period_containing(self.local_date(now))
    }

    /// Whether the account is billed through its reseller rather than on its own card.
    pub fn billed_by_reseller(&self) -> bool {
        self.kind == AccountKind::Client
    }

    /// Refuses what only an account paying for itself can do (cards, packs, calendar,
    /// closure): a client account asks its reseller.
    pub fn require_own_billing(&self) -> Result<(), crate::refusal::Refusal> {
        if self.billed_by_reseller() {
            return Err(crate::refusal::Refusal::BilledByReseller);
        }
        Ok(())
    }

    /// In its free trial on `day` (a client account's users are not billed then).
    pub fn in_trial_on(&self, day: Date) -> bool {
        self.trial_until.is_some_and(|until| day <= until)
    }

    /// The API's `Account`; members see no billing fields, nor does a client account, which
    /// its reseller pays for.
    pub fn view(&self, now: Timestamp, with_billing: bool) -> AccountView {
        let period = self.current_period(now);
        let (mode, anchor) = self.calendar().mode_on(period.start());
        AccountView {
            id: self.id.clone(),
            company_name: self.company_name.as_str().to_string(),
            country: self.country.code().to_string(),
            language: self.language,
            timezone: self.timezone.as_str().to_string(),
            status: self.status,
            admin_email: self.admin_email.as_str().to_string(),
            created_at: self.created_at,
            support_plan: self.support_plan,
            kind: self.kind,
            trial_until: self.trial_until,
            billing: self
                .payment_method
                .as_ref()
                .filter(|_| with_billing)
                .map(|card| BillingView {
                    mode,
                    anchor_day: anchor.get(),
                    next_billing_date: period.end(),
                    current_period: period,
                    auto_renew: self.auto_renew,
                    closure_date: self.closure_date,
                    payment_method: card.card.clone(),
                }),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountView {
    pub id: String,
    pub company_name: String,
    pub country: String,
    pub language: Language,
    pub timezone: String,
    pub status: AccountStatus,
    pub admin_email: String,
    pub created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing: Option<BillingView>,
    pub support_plan: SupportPlan,
    #[serde(default)]
    pub kind: AccountKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_until: Option<Date>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BillingView {
    pub mode: BillingMode,
    pub anchor_day: u8,
    pub current_period: BillingPeriod,
    pub next_billing_date: Date,
    pub auto_renew: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closure_date: Option<Date>,
    pub payment_method: CardDetails,
}

/// A user holding a Brik from `since` until `until` (exclusive), when a removal is scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub brik_id: BrikId,
    pub since: Date,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
    /// `until` is the user's scheduled removal, not a removal of this Brik: undoing the
    /// user's removal undoes it, and only it (a Brik removed on its own stays removed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ends_with_user: bool,
}

/// A team member (or the admin) of an account, in clear.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: EmailAddress,
    pub name: PersonName,
    pub role: Role,
    pub status: UserStatus,
    pub language: Language,
    pub removal_date: Option<Date>,
    pub briks: Vec<Assignment>,
}

impl Assignment {
    /// A new holding from `since`, with no end.
    pub fn new(brik_id: BrikId, since: Date) -> Self {
        Self {
            brik_id,
            since,
            until: None,
            ends_with_user: false,
        }
    }

    /// Held on `day`: assigned by then and not yet past a scheduled removal.
    pub fn held_on(&self, day: Date) -> bool {
        self.since <= day && self.until.is_none_or(|until| day < until)
    }
}

impl User {
    /// Still a user of the account on `day` (a removal takes effect on its date).
    pub fn present_on(&self, day: Date) -> bool {
        self.removal_date.is_none_or(|date| day < date)
    }

    /// The assignment of `brik` that is current on `day`, if any.
    pub fn holding(&self, brik: &BrikId, day: Date) -> Option<&Assignment> {
        self.briks
            .iter()
            .find(|a| &a.brik_id == brik && a.held_on(day))
    }

    /// The API's `User` on `day`: only the Briks still held or scheduled to end.
    pub fn view(&self, day: Date) -> UserView {
        UserView {
            id: self.id.clone(),
            email: self.email.as_str().to_string(),
            name: self.name.as_str().to_string(),
            role: self.role,
            status: self.status,
            removal_date: self.removal_date,
            briks: self
                .briks
                .iter()
                .filter(|a| a.held_on(day) || a.since > day)
                .cloned()
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub status: UserStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removal_date: Option<Date>,
    pub briks: Vec<Assignment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Open,
    Paid,
    Void,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    Signup,
    Renewal,
    Proration,
    CreditNote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Succeeded,
    Failed,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentState {
    pub status: PaymentStatus,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charge_id: Option<String>,
}

/// An invoice as stored and as the API returns it. Amounts and Brik ids are clear (queries
/// need them); the customer block is sealed separately (see `store`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invoice {
    pub id: String,
    pub number: Option<String>,
    pub status: InvoiceStatus,
    pub kind: InvoiceKind,
    pub issue_date: Date,
    pub period: BillingPeriod,
    pub lines: Vec<InvoiceLine>,
    #[serde(flatten)]
    pub totals: InvoiceTotals,
    pub currency: Currency,
    pub payment: PaymentState,
    /// What credit notes have given back of this invoice so far (gross).
    #[serde(default, skip_serializing_if = "Money::is_zero")]
    pub credited: Money,
    /// A credit note's: the invoice it credits, and that invoice's number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credited_number: Option<String>,
}

impl Invoice {
    /// What is left to pay of an unpaid invoice: its total less what was credited.
    pub fn due(&self) -> Money {
        self.totals.total - self.credited
    }

    /// A new open invoice, not yet numbered nor charged; totals computed from its lines.
    pub fn open(
        id: String,
        kind: InvoiceKind,
        issue_date: Date,
        period: BillingPeriod,
        lines: Vec<InvoiceLine>,
        vat: &crate::vat::VatTreatment,
    ) -> Invoice {
        Invoice {
            id,
            number: None,
            status: InvoiceStatus::Open,
            kind,
            issue_date,
            period,
            totals: crate::invoice::totals(&lines, vat),
            lines,
            currency: Currency::Eur,
            payment: PaymentState {
                status: PaymentStatus::Pending,
                attempts: 0,
                last_error: None,
                charge_id: None,
            },
            credited: Money::zero(),
            credits: None,
            credited_number: None,
        }
    }
}

/// Invoice numbers: one gapless, never-reset sequence (`SB-000001`, …).
pub fn invoice_number(sequence: u64) -> String {
    format!("SB-{sequence:06}")
}

/// Who the invoice is addressed to, as it was when issued (sealed in storage).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvoiceCustomer {
    pub company_name: String,
    pub country: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vat_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub email: String,
}

/// One entry of the subscription history (`GET /account/history`). `actor` is who made the
/// change: `user:<id>`, `system`, ..., or [`support_actor`] for support staff acting on a
/// customer's request, which the API shows as the actor `support` with the ticket's number.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "HistoryView", from = "HistoryView")]
pub struct HistoryEntry {
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub details: serde_json::Value,
}

/// The actor of a change support staff made for a customer, who asked in ticket `reference`
/// (billing.md "What support staff do for a customer").
pub fn support_actor(reference: &str) -> String {
    format!("{SUPPORT_ACTOR}:{reference}")
}

const SUPPORT_ACTOR: &str = "support";

/// A history entry as the API writes it: support's ticket apart from the actor.
#[derive(Serialize, Deserialize)]
struct HistoryView {
    at: Timestamp,
    actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ticket: Option<String>,
    action: String,
    details: serde_json::Value,
}

impl From<HistoryEntry> for HistoryView {
    fn from(entry: HistoryEntry) -> Self {
        let (actor, ticket) = match entry.actor.split_once(':') {
            Some((SUPPORT_ACTOR, ticket)) => (SUPPORT_ACTOR.to_string(), Some(ticket.to_string())),
            _ => (entry.actor, None),
        };
        HistoryView {
            at: entry.at,
            actor,
            ticket,
            action: entry.action,
            details: entry.details,
        }
    }
}

impl From<HistoryView> for HistoryEntry {
    fn from(view: HistoryView) -> Self {
        HistoryEntry {
            at: view.at,
            actor: match view.ticket {
                Some(ticket) if view.actor == SUPPORT_ACTOR => support_actor(&ticket),
                _ => view.actor,
            },
            action: view.action,
            details: view.details,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supports_change_shows_the_actor_support_and_the_ticket() {
        let entry = HistoryEntry {
            at: Timestamp::UNIX_EPOCH,
            actor: support_actor("SB-000042"),
            action: "calendar_switch".into(),
            details: serde_json::json!({}),
        };
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(
            (&json["actor"], &json["ticket"]),
            (
                &serde_json::json!("support"),
                &serde_json::json!("SB-000042")
            )
        );
        let back: HistoryEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back.actor, "support:SB-000042");
        let user = HistoryEntry {
            actor: "user:usr_1".into(),
            ..entry
        };
        let json = serde_json::to_value(&user).unwrap();
        assert_eq!(json["actor"], "user:usr_1");
        assert!(json.get("ticket").is_none());
    }

    #[test]
    fn invoice_numbers_are_zero_padded_to_six_digits() {
        assert_eq!(invoice_number(1), "SB-000001");
        assert_eq!(invoice_number(1_234_567), "SB-1234567");
    }
}
