//! The words of every email Softbrik sends, in French, Danish and English, with amounts in
//! the language's number format ("19,20 EUR" in French and Danish, "19.20 EUR" in English).

use crate::account::Invoice;
use crate::money::Money;
use crate::values::Language;

/// Subject and text of the email that carries a finalised invoice.
pub fn invoice_email(lang: Language, company: &str, invoice: &Invoice) -> (String, String) {
    let number = invoice.number.as_deref().unwrap_or("-");
    let m = |amount: Money| amount.format(lang);
    let lines: String = invoice
        .lines
        .iter()
        .map(|l| format!("  - {}: {}\n", l.description, m(l.amount)))
        .collect();
    let totals = &invoice.totals;
    let rate = totals.vat.rate.normalize();
    let mention = if totals.vat.reverse_charge {
        "\nReverse charge / Autoliquidation\n"
    } else {
        ""
    };
    let (period_start, period_end) = (invoice.period.start(), invoice.period.end());
    match lang {
        Language::Fr => (
            format!("Votre facture Softbrik {number}"),
            format!(
                "Bonjour,\n\nVoici la facture {number} du {issue} pour {company}, \
                 période du {period_start} au {period_end}.\n\n{lines}\n\
                 Total HT : {net}\nTVA ({rate} %) : {vat}\nTotal TTC : {gross}\n{mention}\n\
                 Ce montant a été débité sur la carte enregistrée.\n\nL'équipe Softbrik\n",
                issue = invoice.issue_date,
                net = m(totals.subtotal),
                vat = m(totals.vat.amount),
                gross = m(totals.total),
            ),
        ),
        Language::Da => (
            format!("Din Softbrik-faktura {number}"),
            format!(
                "Hej,\n\nHer er faktura {number} af {issue} til {company}, \
                 perioden {period_start} til {period_end}.\n\n{lines}\n\
                 I alt ekskl. moms: {net}\nMoms ({rate} %): {vat}\nI alt inkl. moms: {gross}\n{mention}\n\
                 Beløbet er trukket på det registrerede kort.\n\nVenlig hilsen\nSoftbrik\n",
                issue = invoice.issue_date,
                net = m(totals.subtotal),
                vat = m(totals.vat.amount),
                gross = m(totals.total),
            ),
        ),
        Language::En => (
            format!("Your Softbrik invoice {number}"),
            format!(
                "Hello,\n\nHere is invoice {number} of {issue} for {company}, \
                 period {period_start} to {period_end}.\n\n{lines}\n\
                 Net total: {net}\nVAT ({rate} %): {vat}\nTotal: {gross}\n{mention}\n\
                 This amount was charged to the card on file.\n\nThe Softbrik team\n",
                issue = invoice.issue_date,
                net = m(totals.subtotal),
                vat = m(totals.vat.amount),
                gross = m(totals.total),
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{InvoiceKind, InvoiceStatus, PaymentState, PaymentStatus};
    use crate::billing_calendar::BillingPeriod;
    use crate::invoice::{InvoiceLine, totals};
    use crate::money::Currency;
    use crate::values::{BrikId, Country};
    use crate::vat::vat_treatment;
    use jiff::civil::date;

    fn invoice(customer: &str) -> Invoice {
        let lines = vec![
            InvoiceLine::new(
                BrikId::parse("files").unwrap(),
                "File storage",
                1,
                Money::from_cents(600),
                None,
            ),
            InvoiceLine::new(
                BrikId::parse("care").unwrap(),
                "Care",
                1,
                Money::from_cents(123_400),
                None,
            ),
        ];
        let vat = vat_treatment(
            &Country::parse("DK").unwrap(),
            &Country::parse(customer).unwrap(),
            None,
        );
        Invoice {
            id: "inv_1".into(),
            number: Some("SB-000042".into()),
            status: InvoiceStatus::Paid,
            kind: InvoiceKind::Signup,
            issue_date: date(2026, 12, 12),
            period: BillingPeriod::new(date(2026, 12, 12), date(2027, 1, 12)).unwrap(),
            totals: totals(&lines, &vat),
            lines,
            currency: Currency::Eur,
            payment: PaymentState {
                status: PaymentStatus::Succeeded,
                attempts: 1,
                last_error: None,
                charge_id: None,
            },
        }
    }

    #[test]
    fn the_invoice_email_speaks_the_account_language_with_its_number_format() {
        let (fr_subject, fr) = invoice_email(Language::Fr, "Dupont", &invoice("FR"));
        assert_eq!(fr_subject, "Votre facture Softbrik SB-000042");
        assert!(fr.contains("Total TTC : 1\u{a0}488,00 EUR"), "{fr}");
        let (da_subject, da) = invoice_email(Language::Da, "Hansen", &invoice("DK"));
        assert_eq!(da_subject, "Din Softbrik-faktura SB-000042");
        assert!(da.contains("I alt inkl. moms: 1.550,00 EUR"), "{da}");
        let (en_subject, en) = invoice_email(Language::En, "Acme", &invoice("US"));
        assert_eq!(en_subject, "Your Softbrik invoice SB-000042");
        assert!(en.contains("Total: 1,240.00 EUR"), "{en}");
    }
}
