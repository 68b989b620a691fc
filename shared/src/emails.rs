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
