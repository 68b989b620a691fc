//! Credit notes (billing.md "Invoices"): issued by support staff on a customer's documented
//! request, for a whole invoice, some of its lines or an amount, never more than what remains
//! uncredited on that invoice. A credit note refers to its invoice, shows the credited lines,
//! treats VAT as the invoice did, and is refunded to the card the invoice was paid with; an
//! unpaid invoice credited in full is void and never charged again. Numbering, the refund and
//! storage are the app's; this decides what the note says and what it does to the invoice.

use jiff::civil::Date;
use rust_decimal::Decimal;

use crate::account::{Invoice, InvoiceKind, InvoiceStatus, PaymentStatus};
use crate::invoice::{InvoiceLine, InvoiceTotals, VatLine, totals};
use crate::money::Money;
use crate::values::Language;
use crate::vat::VatTreatment;

/// What is credited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credited {
    /// All that remains uncredited: the whole invoice when nothing was credited yet.
    Whole,
    /// These lines of the invoice (their indexes), each at most once.
    Lines(Vec<usize>),
    /// An amount, VAT included (what the customer gets back).
    Amount(Money),
}

/// Why a credit note cannot be issued as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditRefusal {
    /// More than what remains uncredited on the invoice.
    #[error("a credit note of {asked} is more than the {remaining} left to credit on this invoice")]
    Exceeds { asked: Money, remaining: Money },
    #[error("a credit note credits an invoice, not another credit note")]
    NotAnInvoice,
    #[error("the invoice has no line {0}")]
    NoSuchLine(usize),
    #[error("line {0} is named twice")]
    LineTwice(usize),
    #[error("a credit note credits a positive amount")]
    NothingToCredit,
}

/// A credit note to issue and what it does.
#[derive(Debug, Clone)]
pub struct CreditPlan {
    /// The note, not yet numbered.
    pub note: Invoice,
    /// The credited invoice as it then stands: its credited amount, and void when it was
    /// unpaid and is now credited in full.
    pub invoice: Invoice,
    /// What goes back to the card: the note's total when the invoice was paid, else nothing
    /// (an unpaid invoice is owed less instead).
    pub refund: Option<Money>,
}

/// The credit note `id` of `invoice`, issued on `today`, in the account's `lang`.
pub fn credit_note(
    invoice: &Invoice,
    what: &Credited,
    id: String,
    today: Date,
    lang: Language,
) -> Result<CreditPlan, CreditRefusal> {
    if invoice.kind == InvoiceKind::CreditNote {
        return Err(CreditRefusal::NotAnInvoice);
    }
    let remaining = invoice.due();
    let vat = VatTreatment {
        rate: invoice.totals.vat.rate,
        reverse_charge: invoice.totals.vat.reverse_charge,
    };
    let whole_lines = invoice.credited.is_zero() && matches!(what, Credited::Whole);
    let (lines, note_totals) = match what {
        Credited::Whole if whole_lines => (invoice.lines.clone(), invoice.totals),
        Credited::Whole => amount_credited(invoice, remaining, &vat, lang),
        Credited::Lines(indexes) => {
            let lines = chosen_lines(&invoice.lines, indexes)?;
            let figures = totals(&lines, &vat);
            (lines, figures)
        }
        Credited::Amount(gross) => amount_credited(invoice, *gross, &vat, lang),
    };
    let asked = note_totals.total;
    if asked > remaining || remaining.is_zero() {
        return Err(CreditRefusal::Exceeds { asked, remaining });
    }
    if asked <= Money::zero() {
        return Err(CreditRefusal::NothingToCredit);
    }
    let paid = invoice.status == InvoiceStatus::Paid;
    let mut credited = invoice.clone();
    credited.credited = invoice.credited + asked;
    if !paid && credited.due().is_zero() {
        credited.status = InvoiceStatus::Void;
    }
    let mut note = Invoice::open(
        id,
        InvoiceKind::CreditNote,
        today,
        invoice.period,
        lines,
        &vat,
    );
    note.totals = note_totals;
    note.credits = Some(invoice.id.clone());
    note.credited_number = invoice.number.clone();
    // Settled when issued: refunded to the card (the app records the refund's id as its
    // charge) or, for an unpaid invoice, deducted from what it owes.
    note.status = InvoiceStatus::Paid;
    note.payment.status = PaymentStatus::Succeeded;
    Ok(CreditPlan {
        note,
        invoice: credited,
        refund: paid.then_some(asked),
    })
}

/// The lines named, in the order named.
fn chosen_lines(
    lines: &[InvoiceLine],
    indexes: &[usize],
) -> Result<Vec<InvoiceLine>, CreditRefusal> {
    let mut chosen = Vec::with_capacity(indexes.len());
    for (at, &index) in indexes.iter().enumerate() {
        if indexes[..at].contains(&index) {
            return Err(CreditRefusal::LineTwice(index));
        }
        chosen.push(
            lines
                .get(index)
                .cloned()
                .ok_or(CreditRefusal::NoSuchLine(index))?,
        );
    }
    Ok(chosen)
}

/// One line crediting `gross` (VAT included) of the invoice: its net is the gross less the
/// VAT the invoice's rate puts in it, rounded half-up once, so that net + VAT = `gross`.
fn amount_credited(
    invoice: &Invoice,
    gross: Money,
    vat: &VatTreatment,
    lang: Language,
) -> (Vec<InvoiceLine>, InvoiceTotals) {
    let net = Money::round_to_cent(
        gross.amount() * Decimal::ONE_HUNDRED / (Decimal::ONE_HUNDRED + vat.rate),
    );
    let number = invoice.number.as_deref().unwrap_or(&invoice.id);
    let description = match lang {
        Language::Fr => format!("Avoir sur la facture {number}"),
        Language::Da => format!("Kreditering af faktura {number}"),
        Language::En => format!("Credit on invoice {number}"),
    };
    let line = InvoiceLine {
        brik_id: None,
        pack_id: None,
        description,
        quantity: 1,
        unit_price: net,
        proration: None,
        amount: net,
        usage: None,
    };
    let totals = InvoiceTotals {
        subtotal: net,
        vat: VatLine {
            rate: vat.rate,
            amount: gross - net,
            reverse_charge: vat.reverse_charge,
        },
        total: gross,
    };
    (vec![line], totals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing_calendar::BillingPeriod;
    use crate::values::BrikId;
    use jiff::civil::date;
    use rust_decimal_macros::dec;

    /// The FAQ's signup invoice: File storage 6.00 and customer service 10.00, 20 % VAT, 19.20.
    fn signup_invoice(paid: bool) -> Invoice {
        let period = BillingPeriod::new(date(2026, 12, 12), date(2027, 1, 12)).unwrap();
        let line = |id: &str, cents| {
            InvoiceLine::new(
                BrikId::parse(id).unwrap(),
                id,
                1,
                Money::from_cents(cents),
                None,
            )
        };
        let mut invoice = Invoice::open(
            "inv_1".into(),
            InvoiceKind::Signup,
            date(2026, 12, 12),
            period,
            vec![line("files", 600), line("care", 1000)],
            &VatTreatment::charged(dec!(20)),
        );
        invoice.number = Some("SB-000001".into());
        if paid {
            invoice.status = InvoiceStatus::Paid;
            invoice.payment.status = PaymentStatus::Succeeded;
        }
        invoice
    }

    fn credit(invoice: &Invoice, what: Credited) -> Result<CreditPlan, CreditRefusal> {
        credit_note(
            invoice,
            &what,
            "cn_1".into(),
            date(2026, 12, 20),
            Language::En,
        )
    }

    #[test]
    fn a_whole_paid_invoice_is_credited_line_for_line_and_refunded_in_full() {
        let plan = credit(&signup_invoice(true), Credited::Whole).unwrap();
        assert_eq!(plan.note.kind, InvoiceKind::CreditNote);
        assert_eq!(plan.note.credits.as_deref(), Some("inv_1"));
        assert_eq!(plan.note.lines.len(), 2);
        assert_eq!(plan.note.totals.total, Money::from_cents(1920));
        assert_eq!(plan.refund, Some(Money::from_cents(1920)));
        assert_eq!(plan.invoice.credited, Money::from_cents(1920));
        assert_eq!(plan.invoice.status, InvoiceStatus::Paid);
    }

    #[test]
    fn a_line_is_credited_with_the_invoices_vat() {
        // Customer service alone: 10.00 net, 20 % = 2.00, 12.00 back.
        let plan = credit(&signup_invoice(true), Credited::Lines(vec![1])).unwrap();
        assert_eq!(plan.note.lines[0].description, "care");
        assert_eq!(plan.note.totals.subtotal, Money::from_cents(1000));
        assert_eq!(plan.note.totals.vat.amount, Money::from_cents(200));
        assert_eq!(plan.refund, Some(Money::from_cents(1200)));
    }

    #[test]
    fn an_amount_is_vat_included_and_split_as_the_invoice_was() {
        // 5.00 back: 4.17 net + 0.83 VAT at 20 %.
        let plan = credit(
            &signup_invoice(true),
            Credited::Amount(Money::from_cents(500)),
        )
        .unwrap();
        let totals = plan.note.totals;
        assert_eq!(
            (totals.subtotal, totals.vat.amount, totals.total),
            (
                Money::from_cents(417),
                Money::from_cents(83),
                Money::from_cents(500)
            )
        );
        assert_eq!(
            plan.note.lines[0].description,
            "Credit on invoice SB-000001"
        );
    }

    #[test]
    fn never_more_than_what_remains_uncredited() {
        let mut invoice = signup_invoice(true);
        invoice.credited = Money::from_cents(1200);
        // 7.20 remain: 7.21 is refused, the whole is what remains.
        assert_eq!(
            credit(&invoice, Credited::Amount(Money::from_cents(721))).unwrap_err(),
            CreditRefusal::Exceeds {
                asked: Money::from_cents(721),
                remaining: Money::from_cents(720)
            }
        );
        let rest = credit(&invoice, Credited::Whole).unwrap();
        assert_eq!(rest.note.totals.total, Money::from_cents(720));
        assert_eq!(rest.invoice.credited, Money::from_cents(1920));
        // Then nothing is left.
        assert!(matches!(
            credit(&rest.invoice, Credited::Whole),
            Err(CreditRefusal::Exceeds { .. })
        ));
        // Lines already paid back count too: customer service (12.00) again is 12.00 > 7.20.
        assert!(matches!(
            credit(&invoice, Credited::Lines(vec![1])),
            Err(CreditRefusal::Exceeds { .. })
        ));
    }

    #[test]
    fn an_unpaid_invoice_credited_in_full_is_void_and_nothing_is_refunded() {
        let plan = credit(&signup_invoice(false), Credited::Whole).unwrap();
        assert_eq!(plan.invoice.status, InvoiceStatus::Void);
        assert_eq!(plan.refund, None);
        // In part: it stays open, owing the rest.
        let part = credit(&signup_invoice(false), Credited::Lines(vec![0])).unwrap();
        assert_eq!(part.invoice.status, InvoiceStatus::Open);
        assert_eq!(part.invoice.due(), Money::from_cents(1200));
    }

    #[test]
    fn bad_selections_are_refused() {
        let invoice = signup_invoice(true);
        assert_eq!(
            credit(&invoice, Credited::Lines(vec![2])).unwrap_err(),
            CreditRefusal::NoSuchLine(2)
        );
        assert_eq!(
            credit(&invoice, Credited::Lines(vec![0, 0])).unwrap_err(),
            CreditRefusal::LineTwice(0)
        );
        assert_eq!(
            credit(&invoice, Credited::Amount(Money::zero())).unwrap_err(),
            CreditRefusal::NothingToCredit
        );
        let note = credit(&invoice, Credited::Whole).unwrap().note;
        assert_eq!(
            credit(&note, Credited::Whole).unwrap_err(),
            CreditRefusal::NotAnInvoice
        );
    }
}
