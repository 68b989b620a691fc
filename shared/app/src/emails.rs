//! The words of every email Softbrik sends, in French, Danish and English, with amounts in
//! the language's number format ("19,20 EUR" in French and Danish, "19.20 EUR" in English).

use softbrik_domain::account::Invoice;
use softbrik_domain::values::Language;

/// The words of the invoice email in one language; `{…}` marks are filled in by
/// [`invoice_email`].
struct InvoiceWords {
    subject: &'static str,
    intro: &'static str,
    net: &'static str,
    vat: &'static str,
    gross: &'static str,
    charged: &'static str,
}

fn invoice_words(lang: Language) -> InvoiceWords {
    match lang {
        Language::Fr => InvoiceWords {
            subject: "Votre facture Softbrik {number}",
            intro: "Bonjour,\n\nVoici la facture {number} du {issue} pour {company}, période du {start} au {end}.",
            net: "Total HT : ",
            vat: "TVA ({rate} %) : ",
            gross: "Total TTC : ",
            charged: "Ce montant a été débité sur la carte enregistrée.\n\nL'équipe Softbrik",
        },
        Language::Da => InvoiceWords {
            subject: "Din Softbrik-faktura {number}",
            intro: "Hej,\n\nHer er faktura {number} af {issue} til {company}, perioden {start} til {end}.",
            net: "I alt ekskl. moms: ",
            vat: "Moms ({rate} %): ",
            gross: "I alt inkl. moms: ",
            charged: "Beløbet er trukket på det registrerede kort.\n\nVenlig hilsen\nSoftbrik",
        },
        Language::En => InvoiceWords {
            subject: "Your Softbrik invoice {number}",
            intro: "Hello,\n\nHere is invoice {number} of {issue} for {company}, period {start} to {end}.",
            net: "Net total: ",
            vat: "VAT ({rate} %): ",
            gross: "Total: ",
            charged: "This amount was charged to the card on file.\n\nThe Softbrik team",
        },
    }
}

/// Subject and text of the email that carries a finalised invoice.
pub fn invoice_email(lang: Language, company: &str, invoice: &Invoice) -> (String, String) {
    let words = invoice_words(lang);
    let number = invoice.number.as_deref().unwrap_or("-");
    let totals = &invoice.totals;
    let fill = |text: &str| {
        text.replace("{number}", number)
            .replace("{issue}", &invoice.issue_date.to_string())
            .replace("{company}", company)
            .replace("{start}", &invoice.period.start().to_string())
            .replace("{end}", &invoice.period.end().to_string())
            .replace("{rate}", &totals.vat.rate.normalize().to_string())
    };
    let mut text = fill(words.intro);
    text.push_str("\n\n");
    for line in &invoice.lines {
        text.push_str(&format!(
            "  - {}: {}\n",
            line.description,
            line.amount.format(lang)
        ));
    }
    text.push_str(&format!(
        "\n{}{}\n",
        words.net,
        totals.subtotal.format(lang)
    ));
    text.push_str(&format!(
        "{}{}\n",
        fill(words.vat),
        totals.vat.amount.format(lang)
    ));
    text.push_str(&format!("{}{}\n", words.gross, totals.total.format(lang)));
    if totals.vat.reverse_charge {
        text.push_str("\nReverse charge / Autoliquidation\n");
    }
    text.push_str(&format!("\n{}\n", words.charged));
    (fill(words.subject), text)
}

/// Subject and text of the invitation a new team member receives: where to sign in, with
/// which address, and the first password they must change at their first sign-in.
pub fn invitation_email(
    lang: Language,
    company: &str,
    email: &str,
    password: &str,
) -> (String, String) {
    let (subject, text) = match lang {
        Language::Fr => (
            "Invitation à rejoindre {company} sur Softbrik",
            "Bonjour,\n\n{company} vous invite à utiliser ses Briks sur Softbrik.\n\n\
             Identifiant : {email}\nMot de passe provisoire : {password}\n\n\
             À votre première connexion, vous choisirez votre propre mot de passe.\n\
             Le support Softbrik ne vous demandera jamais votre mot de passe.\n\nL'équipe Softbrik\n",
        ),
        Language::Da => (
            "Invitation til {company} på Softbrik",
            "Hej,\n\n{company} inviterer dig til at bruge deres Briks på Softbrik.\n\n\
             Brugernavn: {email}\nMidlertidig adgangskode: {password}\n\n\
             Ved første login vælger du din egen adgangskode.\n\
             Softbriks support vil aldrig bede om din adgangskode.\n\nVenlig hilsen\nSoftbrik\n",
        ),
        Language::En => (
            "Invitation to join {company} on Softbrik",
            "Hello,\n\n{company} invites you to use its Briks on Softbrik.\n\n\
             Username: {email}\nTemporary password: {password}\n\n\
             At your first sign-in you will choose your own password.\n\
             Softbrik support will never ask for your password.\n\nThe Softbrik team\n",
        ),
    };
    let fill = |t: &str| {
        t.replace("{company}", company)
            .replace("{email}", email)
            .replace("{password}", password)
    };
    (fill(subject), fill(text))
}

/// Subject and text of the reminder a week before a renewal: the configuration (users x
/// Briks), the projected amount, and the last day changes count.
pub fn reminder_email(
    lang: Language,
    company: &str,
    draft: &Invoice,
    changes_until: jiff::civil::Date,
) -> (String, String) {
    let (subject, intro, total, cutoff) = match lang {
        Language::Fr => (
            "Votre prochaine facture Softbrik du {date}",
            "Bonjour,\n\nLe {date}, l'abonnement de {company} sera renouvelé avec cette configuration :",
            "Montant prévu TTC : ",
            "Les modifications faites jusqu'au {cutoff} inclus seront prises en compte.",
        ),
        Language::Da => (
            "Din næste Softbrik-faktura den {date}",
            "Hej,\n\nDen {date} fornyes abonnementet for {company} med denne opsætning:",
            "Forventet beløb inkl. moms: ",
            "Ændringer foretaget til og med {cutoff} kommer med.",
        ),
        Language::En => (
            "Your next Softbrik invoice on {date}",
            "Hello,\n\nOn {date}, the subscription of {company} renews with this configuration:",
            "Projected total: ",
            "Changes made up to {cutoff} included will count.",
        ),
    };
    let fill = |t: &str| {
        t.replace("{date}", &draft.issue_date.to_string())
            .replace("{company}", company)
            .replace("{cutoff}", &changes_until.to_string())
    };
    let mut text = fill(intro);
    text.push_str("\n\n");
    for line in &draft.lines {
        text.push_str(&format!(
            "  - {}: {}\n",
            line.description,
            line.amount.format(lang)
        ));
    }
    text.push_str(&format!(
        "\n{}{}\n\n{}\n",
        total,
        draft.totals.total.format(lang),
        fill(cutoff)
    ));
    (fill(subject), text)
}

/// Subject and text of the closure confirmation.
pub fn closure_email(
    lang: Language,
    company: &str,
    effective: jiff::civil::Date,
) -> (String, String) {
    let (subject, text) = match lang {
        Language::Fr => (
            "Fermeture de votre compte Softbrik le {date}",
            "Bonjour,\n\nNous confirmons la fermeture du compte de {company}. Elle prendra effet le {date} : aucun renouvellement n'aura lieu à cette date, et toutes les données de l'entreprise seront alors supprimées définitivement. Seules les factures émises sont conservées, chiffrées, pendant la durée légale.\n\nCette demande est irréversible. Pour utiliser à nouveau Softbrik, il faudra créer un nouveau compte.\n",
        ),
        Language::Da => (
            "Lukning af din Softbrik-konto den {date}",
            "Hej,\n\nVi bekræfter lukningen af kontoen for {company}. Den træder i kraft den {date}: der sker ingen fornyelse på den dato, og alle virksomhedens data slettes da endeligt. Kun udstedte fakturaer opbevares, krypteret, i den lovpligtige periode.\n\nAnmodningen kan ikke fortrydes. For at bruge Softbrik igen skal der oprettes en ny konto.\n",
        ),
        Language::En => (
            "Your Softbrik account closes on {date}",
            "Hello,\n\nWe confirm the closure of the account of {company}. It takes effect on {date}: nothing is renewed on that date, and all the company's data is then deleted for good. Only issued invoices are kept, encrypted, for the legal retention period.\n\nThis request cannot be undone. To use Softbrik again, a new account must be created.\n",
        ),
    };
    let fill = |t: &str| {
        t.replace("{date}", &effective.to_string())
            .replace("{company}", company)
    };
    (fill(subject), fill(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use softbrik_domain::account::{InvoiceKind, InvoiceStatus, PaymentState, PaymentStatus};
    use softbrik_domain::billing_calendar::BillingPeriod;
    use softbrik_domain::invoice::{InvoiceLine, totals};
    use softbrik_domain::money::{Currency, Money};
    use softbrik_domain::values::{BrikId, Country};
    use softbrik_domain::vat::vat_treatment;

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

    #[test]
    fn the_confirmation_speaks_each_language() {
        let (fr, _) = closure_email(Language::Fr, "Dupont", jiff::civil::date(2027, 1, 12));
        let (da, _) = closure_email(Language::Da, "Hansen", jiff::civil::date(2027, 1, 12));
        let (en, body) = closure_email(Language::En, "Acme", jiff::civil::date(2027, 1, 12));
        assert_eq!(fr, "Fermeture de votre compte Softbrik le 2027-01-12");
        assert_eq!(da, "Lukning af din Softbrik-konto den 2027-01-12");
        assert_eq!(en, "Your Softbrik account closes on 2027-01-12");
        assert!(body.contains("Acme"));
    }
}
