//! What a company's renewal bills (billing.md "What is billed"): on the billing date, one line
//! per Brik for the users holding it that day at the full monthly price (a calendar stub: its
//! share of a month), less the users a seat pack covers, plus the packs themselves. Pure: the
//! use case (`softbrik::renewal`) reads the users, packs and catalogue, and charges and stores
//! what this returns.

use std::collections::BTreeMap;

use jiff::civil::Date;

use crate::account::{Account, Invoice, InvoiceKind, InvoiceStatus, User};
use crate::billing_calendar::counts_in_renewal;
use crate::catalogue::Brik;
use crate::invoice::{InvoiceLine, period_line_description};
use crate::values::{BrikId, Country};
use crate::vat::vat_treatment;

/// How many users hold each Brik for the period starting on `day`, as the renewal locked it:
/// assignments made after the cut-off were charged for this period when they were made.
pub fn holdings(users: &[User], day: Date) -> BTreeMap<BrikId, u32> {
    let mut held = BTreeMap::new();
    for user in users.iter().filter(|u| u.present_on(day)) {
        for a in user
            .briks
            .iter()
            .filter(|a| a.held_on(day) && counts_in_renewal(a.since, day))
        {
            *held.entry(a.brik_id.clone()).or_insert(0) += 1;
        }
    }
    held
}

/// The renewal draft of the period starting on `billing_date` for `users` as they stand:
/// `pack_lines` and `seats` are the packs' lines and the seats they give (`softbrik::packs`),
/// `issuer` Softbrik's country for VAT. A draft: not numbered, not charged.
#[allow(clippy::too_many_arguments)]
pub fn company_invoice(
    account: &Account,
    users: &[User],
    catalogue: &[Brik],
    pack_lines: Vec<InvoiceLine>,
    seats: &BTreeMap<BrikId, u32>,
    billing_date: Date,
    issuer: &Country,
    id: String,
) -> Invoice {
    let lang = account.language;
    let period = account.calendar().period_containing(billing_date);
    let mut lines: Vec<InvoiceLine> = holdings(users, billing_date)
        .into_iter()
        .map(|(brik_id, quantity)| {
            let covered = seats.get(&brik_id).copied().unwrap_or(0);
            (brik_id, quantity.saturating_sub(covered))
        })
        .filter(|(_, quantity)| *quantity > 0)
        .filter_map(|(brik_id, quantity)| {
            let brik = catalogue.iter().find(|b| b.id == brik_id)?;
            let text = period_line_description(brik.name_in(lang), &period, quantity, lang);
            // A calendar stub is billed as its share of a month (20/31).
            Some(InvoiceLine::new(
                brik_id,
                text,
                quantity,
                brik.monthly_price,
                period.share(),
            ))
        })
        .collect();
    lines.extend(pack_lines);
    let vat = vat_treatment(issuer, &account.country, account.vat_number.as_ref());
    let mut invoice = Invoice::open(id, InvoiceKind::Renewal, billing_date, period, lines, &vat);
    invoice.status = InvoiceStatus::Draft;
    invoice
}
