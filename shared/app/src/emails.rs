//! The words of every email Softbrik sends, in French, Danish and English, with amounts in
//! the language's number format ("19,20 EUR" in French and Danish, "19.20 EUR" in English).

use softbrik_domain::account::{CardBrand, CardDetails, Invoice};
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

/// A credit note's words (billing.md "Invoices"): `refunded` to the card, or deducted from
/// the unpaid invoice it credits (`{credited}`).
fn credit_note_words(lang: Language, refunded: bool) -> InvoiceWords {
    let words = invoice_words(lang);
    match lang {
        Language::Fr => InvoiceWords {
            subject: "Votre avoir Softbrik {number}",
            intro: "Bonjour,\n\nVoici l'avoir {number} du {issue} pour {company}, sur la facture {credited}.",
            charged: if refunded {
                "Ce montant a été remboursé sur la carte avec laquelle la facture a été payée.\n\nL'équipe Softbrik"
            } else {
                "Ce montant est déduit de la facture {credited}.\n\nL'équipe Softbrik"
            },
            ..words
        },
        Language::Da => InvoiceWords {
            subject: "Din Softbrik-kreditnota {number}",
            intro: "Hej,\n\nHer er kreditnota {number} af {issue} til {company} for faktura {credited}.",
            charged: if refunded {
                "Beløbet er refunderet til det kort, fakturaen blev betalt med.\n\nVenlig hilsen\nSoftbrik"
            } else {
                "Beløbet er fratrukket faktura {credited}.\n\nVenlig hilsen\nSoftbrik"
            },
            ..words
        },
        Language::En => InvoiceWords {
            subject: "Your Softbrik credit note {number}",
            intro: "Hello,\n\nHere is credit note {number} of {issue} for {company}, on invoice {credited}.",
            charged: if refunded {
                "This amount was refunded to the card the invoice was paid with.\n\nThe Softbrik team"
            } else {
                "This amount is deducted from invoice {credited}.\n\nThe Softbrik team"
            },
            ..words
        },
    }
}

/// Subject and text of the email that carries a finalised invoice or credit note.
pub fn invoice_email(lang: Language, company: &str, invoice: &Invoice) -> (String, String) {
    let words = if invoice.kind == softbrik_domain::account::InvoiceKind::CreditNote {
        credit_note_words(lang, invoice.payment.charge_id.is_some())
    } else {
        invoice_words(lang)
    };
    let number = invoice.number.as_deref().unwrap_or("-");
    let totals = &invoice.totals;
    let fill = |text: &str| {
        text.replace("{number}", number)
            .replace(
                "{credited}",
                invoice.credited_number.as_deref().unwrap_or("-"),
            )
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
    text.push_str(&format!("\n{}\n", fill(words.charged)));
    (fill(words.subject), text)
}

/// Subject and text telling a client account's admin, and its current reseller, that the
/// client moves to `new_reseller` on `on` (docs/resellers.md "Moving to another reseller").
pub fn reseller_move_email(
    lang: Language,
    client: &str,
    new_reseller: &str,
    on: jiff::civil::Date,
) -> (String, String) {
    match lang {
        Language::Fr => (
            format!("{client} change de revendeur Softbrik le {on}"),
            format!(
                "Bonjour,\n\nLe compte Softbrik de {client} sera géré et facturé par {new_reseller} à partir du {on}. Jusque-là, rien ne change.\n\nL'équipe Softbrik"
            ),
        ),
        Language::Da => (
            format!("{client} skifter Softbrik-forhandler den {on}"),
            format!(
                "Hej,\n\n{client}s Softbrik-konto administreres og faktureres af {new_reseller} fra {on}. Indtil da ændres intet.\n\nVenlig hilsen\nSoftbrik"
            ),
        ),
        Language::En => (
            format!("{client} moves to another Softbrik reseller on {on}"),
            format!(
                "Hello,\n\nThe Softbrik account of {client} will be managed and billed by {new_reseller} from {on}. Until then nothing changes.\n\nThe Softbrik team"
            ),
        ),
    }
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

/// Subject and text of the email a user gets when a Brik is assigned to them (billing.md
/// "Telling users and Briks"): which Brik, from when.
pub fn brik_assigned_email(
    lang: Language,
    company: &str,
    brik: &str,
    since: jiff::civil::Date,
) -> (String, String) {
    let (subject, text) = match lang {
        Language::Fr => (
            "Nouveau Brik : {brik}",
            "Bonjour,\n\n{company} vous a attribué le Brik {brik}, disponible à partir du {since}. Connectez-vous à Softbrik pour l'utiliser.\n\nL'équipe Softbrik\n",
        ),
        Language::Da => (
            "Ny Brik: {brik}",
            "Hej,\n\n{company} har tildelt dig Brikken {brik}, som du har adgang til fra den {since}. Log ind på Softbrik for at bruge den.\n\nVenlig hilsen\nSoftbrik\n",
        ),
        Language::En => (
            "New Brik: {brik}",
            "Hello,\n\n{company} has given you the {brik} Brik, yours from {since}. Sign in to Softbrik to use it.\n\nThe Softbrik team\n",
        ),
    };
    let fill = |t: &str| {
        t.replace("{company}", company)
            .replace("{brik}", brik)
            .replace("{since}", &since.to_string())
    };
    (fill(subject), fill(text))
}

/// What follows a failed charge: the next retry's date, or the suspension (the last retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    Retry(jiff::civil::Date),
    Suspension,
}

fn card_words(card: Option<&CardDetails>) -> String {
    match card {
        Some(card) => {
            let brand = match card.brand {
                CardBrand::Visa => "VISA",
                CardBrand::Mastercard => "MASTERCARD",
            };
            format!("{brand} **** {}", card.last4)
        }
        None => "-".into(),
    }
}

/// Subject and text of "payment failed" (billing.md "Payment"): the invoice, its amount, the
/// card tried, and the next retry's date or, after the last, the suspension.
pub fn payment_failed_email(
    lang: Language,
    company: &str,
    invoice: &Invoice,
    card: Option<&CardDetails>,
    after: AfterFailure,
) -> (String, String) {
    let (subject, intro, retry, suspension, update) = match lang {
        Language::Fr => (
            "Échec du paiement de la facture Softbrik {number}",
            "Bonjour,\n\nLe paiement de la facture {number} de {company} ({amount}) sur la carte {card} a été refusé.",
            "Nous réessaierons le {date}.",
            "C'était la dernière tentative : le compte est suspendu jusqu'au paiement. Les utilisateurs n'ont plus accès à leurs Briks ; vos données sont conservées.",
            "Vous pouvez enregistrer une nouvelle carte à tout moment depuis votre compte : toutes les factures ouvertes seront alors réglées aussitôt.\n\nL'équipe Softbrik",
        ),
        Language::Da => (
            "Betaling af Softbrik-faktura {number} mislykkedes",
            "Hej,\n\nBetalingen af faktura {number} for {company} ({amount}) med kortet {card} blev afvist.",
            "Vi prøver igen den {date}.",
            "Det var sidste forsøg: kontoen er suspenderet, indtil der er betalt. Brugerne har ikke længere adgang til deres Briks; jeres data bevares.",
            "I kan til enhver tid registrere et nyt kort på kontoen: alle åbne fakturaer betales så med det samme.\n\nVenlig hilsen\nSoftbrik",
        ),
        Language::En => (
            "Payment of Softbrik invoice {number} failed",
            "Hello,\n\nThe payment of invoice {number} of {company} ({amount}) on the card {card} was declined.",
            "We will try again on {date}.",
            "This was the last attempt: the account is suspended until it is paid. Users no longer have access to their Briks; your data is kept.",
            "You can register a new card on your account at any time: every open invoice is then paid at once.\n\nThe Softbrik team",
        ),
    };
    let next = match after {
        AfterFailure::Retry(date) => retry.replace("{date}", &date.to_string()),
        AfterFailure::Suspension => suspension.to_string(),
    };
    let fill = |t: &str| {
        t.replace("{number}", invoice.number.as_deref().unwrap_or("-"))
            .replace("{company}", company)
            .replace("{amount}", &invoice.due().format(lang))
            .replace("{card}", &card_words(card))
    };
    (
        fill(subject),
        format!("{}\n\n{next}\n\n{}\n", fill(intro), update),
    )
}

/// Subject and text of "account suspended": the last retry failed.
pub fn suspended_email(lang: Language, company: &str, open: &[Invoice]) -> (String, String) {
    let (subject, intro, outro) = match lang {
        Language::Fr => (
            "Votre compte Softbrik est suspendu",
            "Bonjour,\n\nLes paiements ayant échoué, le compte de {company} est suspendu : les utilisateurs n'ont plus accès à leurs Briks. Vos données et votre facturation sont conservées. Factures ouvertes :",
            "Enregistrez une nouvelle carte depuis votre compte : les factures ouvertes seront réglées aussitôt et tous les accès rétablis.\n\nL'équipe Softbrik",
        ),
        Language::Da => (
            "Din Softbrik-konto er suspenderet",
            "Hej,\n\nDa betalingerne er mislykkedes, er kontoen for {company} suspenderet: brugerne har ikke længere adgang til deres Briks. Jeres data og fakturering bevares. Åbne fakturaer:",
            "Registrer et nyt kort på kontoen: de åbne fakturaer betales med det samme, og al adgang genoprettes.\n\nVenlig hilsen\nSoftbrik",
        ),
        Language::En => (
            "Your Softbrik account is suspended",
            "Hello,\n\nAs its payments failed, the account of {company} is suspended: users no longer have access to their Briks. Your data and billing are kept. Open invoices:",
            "Register a new card on your account: the open invoices are paid at once and every access is restored.\n\nThe Softbrik team",
        ),
    };
    let mut text = intro.replace("{company}", company);
    text.push_str("\n\n");
    for invoice in open {
        text.push_str(&format!(
            "  - {}: {}\n",
            invoice.number.as_deref().unwrap_or("-"),
            invoice.due().format(lang)
        ));
    }
    text.push_str(&format!("\n{outro}\n"));
    (subject.to_string(), text)
}

/// Subject and text of "payment received": an open invoice paid (on a retry or with a new
/// card); its PDF goes with it.
pub fn payment_received_email(
    lang: Language,
    company: &str,
    invoice: &Invoice,
) -> (String, String) {
    let (subject, text) = match lang {
        Language::Fr => (
            "Paiement reçu pour la facture Softbrik {number}",
            "Bonjour,\n\nNous avons bien reçu le paiement de la facture {number} de {company} ({amount}). Merci ! La facture est jointe.\n\nL'équipe Softbrik\n",
        ),
        Language::Da => (
            "Betaling modtaget for Softbrik-faktura {number}",
            "Hej,\n\nVi har modtaget betalingen af faktura {number} for {company} ({amount}). Tak! Fakturaen er vedhæftet.\n\nVenlig hilsen\nSoftbrik\n",
        ),
        Language::En => (
            "Payment received for Softbrik invoice {number}",
            "Hello,\n\nWe received the payment of invoice {number} of {company} ({amount}). Thank you! The invoice is attached.\n\nThe Softbrik team\n",
        ),
    };
    let fill = |t: &str| {
        t.replace("{number}", invoice.number.as_deref().unwrap_or("-"))
            .replace("{company}", company)
            .replace("{amount}", &invoice.due().format(lang))
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
            credited: Default::default(),
            credits: None,
            credited_number: None,
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

    #[test]
    fn the_dunning_emails_name_the_invoice_the_card_and_what_comes_next() {
        let mut open = invoice("FR");
        open.status = InvoiceStatus::Open;
        let card = CardDetails {
            brand: CardBrand::Visa,
            last4: "4242".into(),
            exp_month: 12,
            exp_year: 2034,
        };
        let retry = AfterFailure::Retry(date(2027, 1, 13));
        let (subject, fr) = payment_failed_email(Language::Fr, "Dupont", &open, Some(&card), retry);
        assert_eq!(
            subject,
            "Échec du paiement de la facture Softbrik SB-000042"
        );
        assert!(fr.contains("VISA **** 4242"), "{fr}");
        assert!(fr.contains("1\u{a0}488,00 EUR"), "{fr}");
        assert!(fr.contains("le 2027-01-13"), "{fr}");
        let (_, da) = payment_failed_email(
            Language::Da,
            "Hansen",
            &open,
            Some(&card),
            AfterFailure::Suspension,
        );
        assert!(da.contains("sidste forsøg"), "{da}");
        let (subject, en) = suspended_email(Language::En, "Acme", std::slice::from_ref(&open));
        assert_eq!(subject, "Your Softbrik account is suspended");
        assert!(en.contains("SB-000042"), "{en}");
        let (subject, _) = payment_received_email(Language::Da, "Hansen", &open);
        assert_eq!(subject, "Betaling modtaget for Softbrik-faktura SB-000042");
    }
}
