//! An invoice's figures (billing.md, "Invoices"): lines rounded once each, a net total that
//! is their sum, VAT on that total rounded once, and the gross total charged. Numbering and
//! storage live elsewhere; this is the arithmetic only.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::billing_calendar::BillingPeriod;
use crate::money::Money;
use crate::proration::Proration;
use crate::values::{BrikId, Language};
use crate::vat::{self, VatTreatment};

/// One invoiced (Brik, quantity) pair, for a full period or prorated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    /// The Brik billed, or none for a pack's line (api.md: `brik_id` or `pack_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brik_id: Option<BrikId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_id: Option<String>,
    pub description: String,
    pub quantity: u32,
    /// Net, per user per month.
    pub unit_price: Money,
    /// `None` for a full period.
    pub proration: Option<Proration>,
    /// `unit_price x quantity`, prorated, rounded once.
    pub amount: Money,
    /// A reseller's line: the maximum of active users it bills and the day it was reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsagePeak>,
}

/// The peak a reseller is billed for (billing.md "Resellers billed on maximum active users").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsagePeak {
    pub max_active_users: u32,
    /// The reseller's local date the maximum was first reached in the period.
    pub reached_on: jiff::civil::Date,
}

impl InvoiceLine {
    pub fn new(
        brik_id: BrikId,
        description: impl Into<String>,
        quantity: u32,
        unit_price: Money,
        proration: Option<Proration>,
    ) -> Self {
        Self {
            brik_id: Some(brik_id),
            pack_id: None,
            description: description.into(),
            quantity,
            unit_price,
            proration,
            amount: line_amount(unit_price, quantity, proration),
            usage: None,
        }
    }
}

impl InvoiceLine {
    /// A pack's line (billing.md "Add-on packs"): priced like a Brik's.
    pub fn for_pack(
        pack_id: &str,
        description: impl Into<String>,
        quantity: u32,
        unit_price: Money,
        proration: Option<Proration>,
    ) -> Self {
        Self {
            brik_id: None,
            pack_id: Some(pack_id.to_string()),
            description: description.into(),
            quantity,
            unit_price,
            proration,
            amount: line_amount(unit_price, quantity, proration),
            usage: None,
        }
    }

    /// A reseller's line for a period: the peak of active users at the per-user price, with
    /// the peak and its date in the text and in `usage`.
    pub fn for_usage(
        period: &BillingPeriod,
        peak: UsagePeak,
        unit_price: Money,
        lang: Language,
    ) -> Self {
        let (start, end, n, on) = (
            period.start(),
            period.end(),
            peak.max_active_users,
            peak.reached_on,
        );
        let users = users(n, lang);
        let description = match lang {
            Language::Fr => format!(
                "Utilisateurs actifs de vos clients, du {start} au {end} : maximum {n} {users}, atteint le {on}"
            ),
            Language::Da => format!(
                "Aktive brugere hos dine kunder, {start} til {end}: højst {n} {users}, nået {on}"
            ),
            Language::En => format!(
                "Active users across your clients, {start} to {end}: maximum {n} {users}, reached on {on}"
            ),
        };
        Self {
            brik_id: None,
            pack_id: None,
            description,
            quantity: n,
            unit_price,
            // A calendar stub (billing.md "Calendar months") is billed as its share of a month.
            proration: period.share(),
            amount: line_amount(unit_price, n, period.share()),
            usage: Some(peak),
        }
    }
}

/// `unit_price x quantity x days / period_days`, rounded half-up once for the whole line.
pub fn line_amount(unit_price: Money, quantity: u32, proration: Option<Proration>) -> Money {
    let full = unit_price.amount() * Decimal::from(quantity);
    Money::round_to_cent(proration.map_or(full, |share| share.apply(full)))
}

/// The VAT part of an invoice: its rate in percent, amount, and whether it is reverse charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VatLine {
    #[serde(serialize_with = "vat::serialize_rate")]
    pub rate: Decimal,
    pub amount: Money,
    pub reverse_charge: bool,
}

impl VatLine {
    /// The legal mention the invoice prints, if any.
    pub fn mention(&self) -> Option<&'static str> {
        self.reverse_charge.then_some(vat::REVERSE_CHARGE_MENTION)
    }
}

/// Net total, VAT and gross total (the amount charged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceTotals {
    pub subtotal: Money,
    pub vat: VatLine,
    pub total: Money,
}

/// Subtotal = sum of the rounded lines; VAT on the subtotal, rounded once; total = both.
pub fn totals(lines: &[InvoiceLine], treatment: &VatTreatment) -> InvoiceTotals {
    let subtotal: Money = lines.iter().map(|line| line.amount).sum();
    let vat = VatLine {
        rate: treatment.rate,
        amount: vat::vat_amount(subtotal, treatment),
        reverse_charge: treatment.reverse_charge,
    };
    InvoiceTotals {
        subtotal,
        vat,
        total: subtotal + vat.amount,
    }
}

/// A line's text: the Brik, the period and the number of users, in `lang`
/// (en "File storage, 2026-12-12 to 2027-01-12, 1 user"). The end shown is the period's end,
/// the next billing date, as billing.md writes periods ("Dec 12 - Jan 12").
pub fn period_line_description(
    brik_name: &str,
    period: &BillingPeriod,
    quantity: u32,
    lang: Language,
) -> String {
    let (start, end) = (period.start(), period.end());
    let users = users(quantity, lang);
    match lang {
        Language::Fr => format!("{brik_name}, du {start} au {end}, {quantity} {users}"),
        Language::Da => format!("{brik_name}, {start} til {end}, {quantity} {users}"),
        Language::En => format!("{brik_name}, {start} to {end}, {quantity} {users}"),
    }
}

fn users(quantity: u32, lang: Language) -> &'static str {
    // French counts 0 and 1 as singular; Danish and English only 1.
    match (lang, quantity) {
        (Language::Fr, 0 | 1) => "utilisateur",
        (Language::Fr, _) => "utilisateurs",
        (Language::Da, 1) => "bruger",
        (Language::Da, _) => "brugere",
        (Language::En, 1) => "user",
        (Language::En, _) => "users",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing_calendar::{AnchorDay, period_containing};
    use crate::catalogue::default_catalogue;
    use crate::proration::days_remaining;
    use crate::values::{Country, VatNumber};
    use crate::vat::vat_treatment;
    use jiff::civil::date;
    use rust_decimal_macros::dec;

    #[test]
    fn a_resellers_line_bills_the_peak_and_a_calendar_stub_its_share() {
        let peak = UsagePeak {
            max_active_users: 11,
            reached_on: date(2027, 1, 10),
        };
        let price = Money::new(dec!(5.00));
        let month = BillingPeriod::new(date(2027, 1, 1), date(2027, 2, 1)).unwrap();
        let line = InvoiceLine::for_usage(&month, peak, price, Language::En);
        assert_eq!(line.amount, Money::new(dec!(55.00)));
        assert_eq!((line.brik_id.clone(), line.pack_id.clone()), (None, None));
        assert_eq!(
            line.description,
            "Active users across your clients, 2027-01-01 to 2027-02-01: maximum 11 users, reached on 2027-01-10"
        );
        // Dec 12 to Jan 1 after a switch to calendar months: 20/31 of a month, rounded once.
        let stub = BillingPeriod::new(date(2026, 12, 12), date(2027, 1, 1)).unwrap();
        let line = InvoiceLine::for_usage(&stub, peak, price, Language::Fr);
        assert_eq!(line.amount, Money::new(dec!(35.48)));
        assert!(
            line.description.contains("atteint le 2027-01-10"),
            "{}",
            line.description
        );
    }

    fn signup_period() -> BillingPeriod {
        period_containing(AnchorDay::of(date(2026, 12, 12)), date(2026, 12, 12))
    }

    fn full_period_lines(ids: &[&str], quantity: u32) -> Vec<InvoiceLine> {
        default_catalogue()
            .into_iter()
            .filter(|brik| ids.contains(&brik.id.as_str()))
            .map(|brik| {
                let text =
                    period_line_description(&brik.name, &signup_period(), quantity, Language::En);
                InvoiceLine::new(brik.id, text, quantity, brik.monthly_price, None)
            })
            .collect()
    }

    fn country(code: &str) -> Country {
        Country::parse(code).unwrap()
    }

    #[test]
    fn a_french_signup_with_files_and_care_pays_19_20() {
        // GIVEN a French company signing up on 2026-12-12 with File storage and customer service
        let lines = full_period_lines(&["files", "care"], 1);
        // WHEN its first invoice is computed by a French issuer
        let totals = totals(&lines, &vat_treatment(&country("FR"), &country("FR"), None));
        // THEN 16.00 net, 20 % VAT = 3.20, 19.20 charged
        assert_eq!(totals.subtotal, Money::from_cents(1600));
        assert_eq!(totals.vat.rate, dec!(20));
        assert_eq!(totals.vat.amount, Money::from_cents(320));
        assert_eq!(totals.total, Money::from_cents(1920));
    }

    #[test]
    fn a_german_customer_with_a_vat_number_is_reverse_charged_by_the_danish_issuer() {
        let lines = full_period_lines(&["files", "care"], 1);
        let vat_number = VatNumber::parse("DE123456789").unwrap();
        let treatment = vat_treatment(&country("DK"), &country("DE"), Some(&vat_number));
        let totals = totals(&lines, &treatment);
        assert_eq!(totals.vat.amount, Money::zero());
        assert_eq!(totals.total, Money::from_cents(1600));
        assert_eq!(
            totals.vat.mention(),
            Some("Reverse charge / Autoliquidation")
        );
    }

    #[test]
    fn a_customer_outside_the_eu_pays_no_vat() {
        let lines = full_period_lines(&["stock"], 3);
        let totals = totals(&lines, &vat_treatment(&country("DK"), &country("US"), None));
        assert_eq!(totals.subtotal, Money::from_cents(2400));
        assert_eq!(totals.vat.amount, Money::zero());
        assert!(!totals.vat.reverse_charge);
        assert_eq!(totals.total, Money::from_cents(2400));
    }

    #[test]
    fn a_prorated_line_is_rounded_once_for_all_its_users() {
        // 3 users x 8.00 x 23/31 = 17.806... -> 17.81, not 3 x 5.94 = 17.82
        let proration = days_remaining(&signup_period(), date(2026, 12, 20));
        let stock = BrikId::parse("stock").unwrap();
        let line = InvoiceLine::new(stock, "Inventory", 3, Money::from_cents(800), proration);
        assert_eq!(line.amount, Money::from_cents(1781));
    }

    #[test]
    fn an_addition_after_the_lock_is_charged_for_today_and_the_next_period() {
        // GIVEN billing date 2027-01-12; WHEN Bob gets Inventory on 2027-01-11
        let period = signup_period();
        let stock = BrikId::parse("stock").unwrap();
        let price = Money::from_cents(800);
        let today = days_remaining(&period, date(2027, 1, 11));
        let lines = [
            InvoiceLine::new(stock.clone(), "Inventory", 1, price, today),
            InvoiceLine::new(stock, "Inventory", 1, price, None),
        ];
        // THEN 0.26 + 8.00 = 8.26 net
        let totals = totals(&lines, &VatTreatment::none());
        assert_eq!(totals.subtotal, Money::from_cents(826));
    }

    #[test]
    fn line_text_names_the_brik_the_period_and_the_users_in_each_language() {
        let period = signup_period();
        let text = |name, quantity, lang| period_line_description(name, &period, quantity, lang);
        assert_eq!(
            text("File storage", 1, Language::En),
            "File storage, 2026-12-12 to 2027-01-12, 1 user"
        );
        assert_eq!(
            text("Stockage de fichiers", 1, Language::Fr),
            "Stockage de fichiers, du 2026-12-12 au 2027-01-12, 1 utilisateur"
        );
        assert_eq!(
            text("Fillagring", 1, Language::Da),
            "Fillagring, 2026-12-12 til 2027-01-12, 1 bruger"
        );
        assert!(text("File storage", 2, Language::En).ends_with("2 users"));
        assert!(text("Stockage de fichiers", 2, Language::Fr).ends_with("2 utilisateurs"));
        assert!(text("Fillagring", 2, Language::Da).ends_with("2 brugere"));
    }

    #[test]
    fn totals_are_written_as_money_strings_and_a_two_decimal_rate() {
        let lines = full_period_lines(&["files", "care"], 1);
        let totals = totals(&lines, &VatTreatment::charged(dec!(20)));
        let json = serde_json::to_value(totals).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "subtotal": "16.00",
                "vat": {"rate": "20.00", "amount": "3.20", "reverse_charge": false},
                "total": "19.20"
            })
        );
        let line = serde_json::to_value(&lines[0]).unwrap();
        assert_eq!(line["amount"], "6.00");
        assert_eq!(line["proration"], serde_json::Value::Null);
    }
}
