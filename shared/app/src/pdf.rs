//! The PDF copy of an invoice or credit note (billing.md "Invoices"), attached to the invoice
//! email. Drawn in-process with `pdf-writer`: no browser nor external program in a Lambda.
//!
//! Layout, on A4 portrait pages (in points, from the bottom left): the issuer top left and the
//! document (title, number or draft mark, issue date, period) top right; the customer below,
//! on the right; then the table of lines (description, quantity, unit price, proration as
//! "23/31 days", amount), which goes on to a new page, title and table header repeated, when
//! it reaches the bottom margin; then net total, VAT with its rate, the reverse-charge mention
//! when there is one, gross total and payment status. Every page ends with "Page n/N".
//! Amounts are written by [`Money::format`]; dates as fr `12/01/2027`, da `12.01.2027`,
//! en `2027-01-12`.
//!
//! The text is set in Helvetica and Helvetica-Bold, two of the 14 fonts every PDF reader has,
//! with WinAnsiEncoding (cp1252, encoded by `encoding_rs`): no font file is embedded, so a PDF
//! weighs a few kilobytes, and cp1252 has every letter of French and Danish, "€" and the
//! no-break space of French amounts. What it lacks is drawn as "?". Right-aligning and wrapping
//! need the fonts' advance widths: Adobe's published metrics are tabled below by WinAnsi code,
//! since no maintained crate ships them in a form `pdf-writer` can use.
//!
//! Nothing in the output depends on the clock or chance (no date, no file id), so the same
//! invoice always renders to the same bytes.

use encoding_rs::WINDOWS_1252;
use jiff::civil::Date;
use pdf_writer::{Content, Name, Pdf, Rect, Ref, Str, TextStr};
use rust_decimal::Decimal;

use softbrik_domain::account::{
    Invoice, InvoiceCustomer, InvoiceKind, InvoiceStatus, PaymentStatus,
};
use softbrik_domain::invoice::InvoiceLine;
use softbrik_domain::money::Money;
use softbrik_domain::values::Language;

/// Who issues the invoices: Softbrik's own company, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    pub name: String,
    /// Street, town: one or more lines separated by `\n`.
    pub address: String,
    pub country: String,
    pub vat_number: String,
}

/// The invoice (or credit note) as a PDF, in `lang`.
pub fn invoice_pdf(
    issuer: &Issuer,
    customer: &InvoiceCustomer,
    invoice: &Invoice,
    lang: Language,
) -> Vec<u8> {
    let words = words(lang);
    let document = Document::of(invoice, &words);
    let mut sheet = Sheet::new(document.running_title());
    let below_heading = draw_heading(&mut sheet, issuer, customer, &document, &words);
    sheet.y = below_heading - 24.0;
    draw_table(&mut sheet, &invoice.lines, &words, lang);
    draw_totals(&mut sheet, invoice, &words, lang);
    let footer = words.labeled(&issuer.name, words.vat_number, &issuer.vat_number);
    sheet.into_pdf(&document.running_title(), &footer, &words)
}

// --- Page geometry, in points ---------------------------------------------------------------

const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
const LEFT: f32 = 50.0;
const RIGHT: f32 = PAGE_WIDTH - 50.0;
const TOP: f32 = PAGE_HEIGHT - 50.0;
/// The table and the totals stop above this line; the footer is below it.
const BOTTOM: f32 = 60.0;
const FOOTER_Y: f32 = 30.0;

/// The customer block and the totals start at this abscissa.
const RIGHT_BLOCK_X: f32 = 330.0;
const ISSUER_WIDTH: f32 = 260.0;

/// Table columns: the description wraps within its width; the others are right-aligned.
const DESCRIPTION_WIDTH: f32 = 250.0;
const QUANTITY_RIGHT: f32 = 335.0;
const UNIT_PRICE_RIGHT: f32 = 410.0;
const PRORATION_RIGHT: f32 = 475.0;
const AMOUNT_RIGHT: f32 = RIGHT;
/// Space between two rows of the table, beyond their lines.
const ROW_GAP: f32 = 5.0;

#[derive(Debug, Clone, Copy)]
enum Font {
    Regular,
    Bold,
}

#[derive(Debug, Clone, Copy)]
struct Style {
    font: Font,
    size: f32,
}

const BODY: Style = Style {
    font: Font::Regular,
    size: 9.0,
};
const BODY_BOLD: Style = Style {
    font: Font::Bold,
    size: 9.0,
};
const NAME: Style = Style {
    font: Font::Bold,
    size: 11.0,
};
const TITLE: Style = Style {
    font: Font::Bold,
    size: 20.0,
};
const TOTAL: Style = Style {
    font: Font::Bold,
    size: 10.0,
};
const SMALL: Style = Style {
    font: Font::Regular,
    size: 7.5,
};

impl Font {
    /// Its name in each page's resources.
    fn resource(self) -> Name<'static> {
        match self {
            Font::Regular => Name(b"F1"),
            Font::Bold => Name(b"F2"),
        }
    }

    fn base_font(self) -> Name<'static> {
        match self {
            Font::Regular => Name(b"Helvetica"),
            Font::Bold => Name(b"Helvetica-Bold"),
        }
    }

    /// Advance width of a WinAnsi code, in thousandths of the font size.
    fn advance(self, code: u8) -> u16 {
        let widths = match self {
            Font::Regular => &HELVETICA_WIDTHS,
            Font::Bold => &HELVETICA_BOLD_WIDTHS,
        };
        code.checked_sub(32)
            .map_or(0, |index| widths[usize::from(index)])
    }
}

impl Style {
    fn width(self, text: &[u8]) -> f32 {
        let thousandths: u32 = text.iter().map(|&b| u32::from(self.font.advance(b))).sum();
        thousandths as f32 * self.size / 1000.0
    }

    /// From one baseline to the next.
    fn leading(self) -> f32 {
        self.size * 1.3
    }
}

// --- Words ----------------------------------------------------------------------------------

/// The PDF's words in one language, in the wording of the invoice email (emails.rs).
struct Words {
    invoice: &'static str,
    credit_note: &'static str,
    number: &'static str,
    draft: &'static str,
    issued: &'static str,
    period: &'static str,
    /// `{start}` and `{end}` are filled in.
    period_span: &'static str,
    /// A credit note's label for the invoice it credits.
    credits: &'static str,
    customer: &'static str,
    vat_number: &'static str,
    description: &'static str,
    quantity: &'static str,
    unit_price: &'static str,
    proration: &'static str,
    amount: &'static str,
    days: &'static str,
    net: &'static str,
    /// `{rate}` is filled in.
    vat: &'static str,
    gross: &'static str,
    status: &'static str,
    page: &'static str,
    /// Between a label and its value: French sets a no-break space before the colon.
    colon: &'static str,
    decimal_separator: char,
    date_format: &'static str,
}

fn words(lang: Language) -> Words {
    match lang {
        Language::Fr => Words {
            invoice: "Facture",
            credit_note: "Avoir",
            number: "N°",
            draft: "BROUILLON",
            issued: "Date d'émission",
            period: "Période",
            period_span: "du {start} au {end}",
            credits: "Facture créditée",
            customer: "Client",
            vat_number: "N° TVA",
            description: "Description",
            quantity: "Qté",
            unit_price: "Prix unitaire",
            proration: "Prorata",
            amount: "Montant",
            days: "jours",
            net: "Total HT",
            vat: "TVA ({rate} %)",
            gross: "Total TTC",
            status: "Statut",
            page: "Page",
            colon: "\u{a0}: ",
            decimal_separator: ',',
            date_format: "%d/%m/%Y",
        },
        Language::Da => Words {
            invoice: "Faktura",
            credit_note: "Kreditnota",
            number: "Nr.",
            draft: "KLADDE",
            issued: "Dato",
            period: "Periode",
            period_span: "{start} til {end}",
            credits: "Krediteret faktura",
            customer: "Kunde",
            vat_number: "Momsnr.",
            description: "Beskrivelse",
            quantity: "Antal",
            unit_price: "Enhedspris",
            proration: "Pro rata",
            amount: "Beløb",
            days: "dage",
            net: "I alt ekskl. moms",
            vat: "Moms ({rate} %)",
            gross: "I alt inkl. moms",
            status: "Status",
            page: "Side",
            colon: ": ",
            decimal_separator: ',',
            date_format: "%d.%m.%Y",
        },
        Language::En => Words {
            invoice: "Invoice",
            credit_note: "Credit note",
            number: "No.",
            draft: "DRAFT",
            issued: "Issue date",
            period: "Period",
            period_span: "{start} to {end}",
            credits: "Invoice credited",
            customer: "Customer",
            vat_number: "VAT no.",
            description: "Description",
            quantity: "Qty",
            unit_price: "Unit price",
            proration: "Proration",
            amount: "Amount",
            days: "days",
            net: "Net total",
            vat: "VAT ({rate} %)",
            gross: "Total",
            status: "Status",
            page: "Page",
            colon: ": ",
            decimal_separator: '.',
            date_format: "%Y-%m-%d",
        },
    }
}

impl Words {
    /// `label: value`, after `lead` and a dash when there is one ("Softbrik ApS – VAT no.: …").
    fn labeled(&self, lead: &str, label: &str, value: &str) -> String {
        let dash = if lead.is_empty() { "" } else { " – " };
        format!("{lead}{dash}{label}{}{value}", self.colon)
    }

    fn date(&self, date: Date) -> String {
        date.strftime(self.date_format).to_string()
    }

    /// `20`, `5,5`: the rate in percent, without trailing zeros.
    fn rate(&self, rate: Decimal) -> String {
        rate.normalize()
            .to_string()
            .replace('.', &self.decimal_separator.to_string())
    }
}

/// What a payment status is called, for one kind of document in one language.
struct Statuses {
    void: &'static str,
    settled: &'static str,
    due: &'static str,
    failed: &'static str,
    checking: &'static str,
    /// A credit note deducted from an unpaid invoice.
    applied: &'static str,
}

/// The payment status as the document states it; a credit note is refunded, not paid.
fn payment_status(invoice: &Invoice, lang: Language) -> &'static str {
    let statuses = statuses(lang, invoice.kind == InvoiceKind::CreditNote);
    match (invoice.status, invoice.payment.status) {
        (InvoiceStatus::Void, _) => statuses.void,
        // An unpaid invoice's credit note is deducted from it: no money moves.
        (InvoiceStatus::Paid, _)
            if invoice.kind == InvoiceKind::CreditNote && invoice.payment.charge_id.is_none() =>
        {
            statuses.applied
        }
        (InvoiceStatus::Paid, _) | (_, PaymentStatus::Succeeded) => statuses.settled,
        (_, PaymentStatus::Pending) => statuses.due,
        (_, PaymentStatus::Failed) => statuses.failed,
        (_, PaymentStatus::Unknown) => statuses.checking,
    }
}

fn statuses(lang: Language, credit_note: bool) -> Statuses {
    match (lang, credit_note) {
        (Language::Fr, false) => Statuses {
            void: "Annulée",
            settled: "Payée",
            due: "À payer",
            failed: "Paiement refusé",
            checking: "Paiement en cours de vérification",
            applied: "Payée",
        },
        (Language::Fr, true) => Statuses {
            void: "Annulé",
            settled: "Remboursé",
            due: "À rembourser",
            failed: "Remboursement refusé",
            checking: "Remboursement en cours de vérification",
            applied: "Déduit de la facture",
        },
        (Language::Da, false) => Statuses {
            void: "Annulleret",
            settled: "Betalt",
            due: "Til betaling",
            failed: "Betaling afvist",
            checking: "Betaling under kontrol",
            applied: "Betalt",
        },
        (Language::Da, true) => Statuses {
            void: "Annulleret",
            settled: "Refunderet",
            due: "Refunderes",
            failed: "Refundering afvist",
            checking: "Refundering under kontrol",
            applied: "Fratrukket fakturaen",
        },
        (Language::En, false) => Statuses {
            void: "Void",
            settled: "Paid",
            due: "To be paid",
            failed: "Payment failed",
            checking: "Payment being checked",
            applied: "Paid",
        },
        (Language::En, true) => Statuses {
            void: "Void",
            settled: "Refunded",
            due: "To be refunded",
            failed: "Refund failed",
            checking: "Refund being checked",
            applied: "Deducted from the invoice",
        },
    }
}

// --- The document's parts -------------------------------------------------------------------

/// What the heading says of the document, in words.
struct Document {
    title: &'static str,
    /// The number, or the draft mark when it has none yet.
    number: String,
    is_draft: bool,
    issued: String,
    period: String,
    /// A credit note's: the number of the invoice it credits.
    credits: Option<String>,
}

impl Document {
    fn of(invoice: &Invoice, words: &Words) -> Document {
        let number = invoice
            .number
            .as_deref()
            .filter(|_| invoice.status != InvoiceStatus::Draft);
        let title = match invoice.kind {
            InvoiceKind::CreditNote => words.credit_note,
            InvoiceKind::Signup | InvoiceKind::Renewal | InvoiceKind::Proration => words.invoice,
        };
        Document {
            title,
            number: number.unwrap_or(words.draft).to_string(),
            is_draft: number.is_none(),
            issued: words.date(invoice.issue_date),
            period: words
                .period_span
                .replace("{start}", &words.date(invoice.period.start()))
                .replace("{end}", &words.date(invoice.period.end())),
            credits: invoice.credited_number.clone(),
        }
    }

    /// What the pages after the first start with ("Facture SB-000042").
    fn running_title(&self) -> String {
        format!("{} {}", self.title, self.number)
    }
}

/// Issuer on the left, document on the right, customer below it; returns the lowest baseline.
fn draw_heading(
    sheet: &mut Sheet,
    issuer: &Issuer,
    customer: &InvoiceCustomer,
    document: &Document,
    words: &Words,
) -> f32 {
    let mut left = sheet.paragraph(LEFT, TOP - NAME.size, NAME, ISSUER_WIDTH, &issuer.name);
    for text in [
        issuer.address.as_str(),
        &issuer.country,
        &words.labeled("", words.vat_number, &issuer.vat_number),
    ] {
        left = sheet.paragraph(LEFT, left, BODY, ISSUER_WIDTH, text);
    }

    sheet.text_right(RIGHT, TOP - 16.0, TITLE, document.title);
    let mut right = TOP - 16.0 - TITLE.leading();
    let number = if document.is_draft {
        document.number.clone()
    } else {
        words.labeled("", words.number, &document.number)
    };
    sheet.text_right(RIGHT, right, TOTAL, &number);
    right -= TOTAL.leading() + 2.0;
    let credits = document
        .credits
        .as_deref()
        .map(|number| words.labeled("", words.credits, number));
    for text in [
        words.labeled("", words.issued, &document.issued),
        words.labeled("", words.period, &document.period),
    ]
    .into_iter()
    .chain(credits)
    {
        sheet.text_right(RIGHT, right, BODY, &text);
        right -= BODY.leading();
    }

    let width = RIGHT - RIGHT_BLOCK_X;
    let mut y = right - 18.0;
    sheet.text(RIGHT_BLOCK_X, y, BODY_BOLD, words.customer);
    y = sheet.paragraph(
        RIGHT_BLOCK_X,
        y - NAME.leading(),
        NAME,
        width,
        &customer.company_name,
    );
    let vat = customer
        .vat_number
        .as_deref()
        .map(|number| words.labeled("", words.vat_number, number));
    for text in [customer.address.as_deref(), Some(&customer.country)]
        .into_iter()
        .chain([vat.as_deref(), Some(&customer.email)])
        .flatten()
    {
        y = sheet.paragraph(RIGHT_BLOCK_X, y, BODY, width, text);
    }
    y.min(left)
}

fn draw_table(sheet: &mut Sheet, lines: &[InvoiceLine], words: &Words, lang: Language) {
    draw_table_header(sheet, words);
    for line in lines {
        draw_row(sheet, line, words, lang);
    }
    sheet.rule(sheet.y + BODY.leading() - 1.0);
}

fn draw_table_header(sheet: &mut Sheet, words: &Words) {
    let y = sheet.y;
    sheet.text(LEFT, y, BODY_BOLD, words.description);
    sheet.text_right(QUANTITY_RIGHT, y, BODY_BOLD, words.quantity);
    sheet.text_right(UNIT_PRICE_RIGHT, y, BODY_BOLD, words.unit_price);
    sheet.text_right(PRORATION_RIGHT, y, BODY_BOLD, words.proration);
    sheet.text_right(AMOUNT_RIGHT, y, BODY_BOLD, words.amount);
    sheet.rule(y - 5.0);
    sheet.y = y - 5.0 - BODY.leading() - 2.0;
}

/// One line of the table, on a new page (with the table header again) when it would cross the
/// bottom margin.
fn draw_row(sheet: &mut Sheet, line: &InvoiceLine, words: &Words, lang: Language) {
    let description = wrap(&line.description, BODY, DESCRIPTION_WIDTH);
    let height = description.len().max(1) as f32 * BODY.leading() + ROW_GAP;
    if sheet.y - height < BOTTOM {
        sheet.new_page();
        draw_table_header(sheet, words);
    }
    let y = sheet.y;
    let mut baseline = y;
    for text in &description {
        sheet.write(LEFT, baseline, BODY, text);
        baseline -= BODY.leading();
    }
    sheet.text_right(QUANTITY_RIGHT, y, BODY, &line.quantity.to_string());
    sheet.text_right(UNIT_PRICE_RIGHT, y, BODY, &line.unit_price.format(lang));
    if let Some(share) = line.proration.filter(|share| !share.is_full()) {
        let text = format!("{share} {}", words.days);
        sheet.text_right(PRORATION_RIGHT, y, BODY, &text);
    }
    sheet.text_right(AMOUNT_RIGHT, y, BODY, &line.amount.format(lang));
    sheet.y = y - height;
}

/// Net, VAT, gross, the reverse-charge mention and the payment status, kept on one page.
fn draw_totals(sheet: &mut Sheet, invoice: &Invoice, words: &Words, lang: Language) {
    let totals = &invoice.totals;
    let mention = totals.vat.mention();
    let rows = if mention.is_some() { 6.0 } else { 5.0 };
    if sheet.y - 8.0 - rows * TOTAL.leading() < BOTTOM {
        sheet.new_page();
    }
    let mut y = sheet.y - 8.0;
    let vat = words.vat.replace("{rate}", &words.rate(totals.vat.rate));
    let amounts: [(&str, Money, Style); 3] = [
        (words.net, totals.subtotal, BODY),
        (&vat, totals.vat.amount, BODY),
        (words.gross, totals.total, TOTAL),
    ];
    for (label, amount, style) in amounts {
        sheet.text(RIGHT_BLOCK_X, y, style, label);
        sheet.text_right(RIGHT, y, style, &amount.format(lang));
        y -= TOTAL.leading();
    }
    if let Some(mention) = mention {
        sheet.text(RIGHT_BLOCK_X, y, BODY, mention);
        y -= TOTAL.leading();
    }
    let status = words.labeled("", words.status, payment_status(invoice, lang));
    sheet.text(RIGHT_BLOCK_X, y - 6.0, TOTAL, &status);
}

// --- Pages ----------------------------------------------------------------------------------

/// The pages drawn so far, the last one still being drawn.
struct Sheet {
    done: Vec<Content>,
    current: Content,
    /// The baseline of the next thing drawn on the current page.
    y: f32,
    running_title: String,
}

impl Sheet {
    fn new(running_title: String) -> Sheet {
        Sheet {
            done: Vec::new(),
            current: Content::new(),
            y: TOP,
            running_title,
        }
    }

    /// Starts a page, headed with the document's title and number.
    fn new_page(&mut self) {
        let full = std::mem::replace(&mut self.current, Content::new());
        self.done.push(full);
        let title = self.running_title.clone();
        self.text(LEFT, TOP - BODY.size, BODY_BOLD, &title);
        self.y = TOP - BODY.size - 24.0;
    }

    /// `text` in WinAnsi codes, its left end at `x`.
    fn write(&mut self, x: f32, y: f32, style: Style, text: &[u8]) {
        show(&mut self.current, x, y, style, text);
    }

    fn text(&mut self, x: f32, y: f32, style: Style, text: &str) {
        show(&mut self.current, x, y, style, &win_ansi(text));
    }

    fn text_right(&mut self, right: f32, y: f32, style: Style, text: &str) {
        show_right(&mut self.current, right, y, style, text);
    }

    /// `text` wrapped to `width` from the baseline `y` down; returns the baseline after it.
    fn paragraph(&mut self, x: f32, y: f32, style: Style, width: f32, text: &str) -> f32 {
        let mut y = y;
        for line in wrap(text, style, width) {
            self.write(x, y, style, &line);
            y -= style.leading();
        }
        y
    }

    /// A thin grey line across the page.
    fn rule(&mut self, y: f32) {
        self.current
            .save_state()
            .set_stroke_gray(0.6)
            .set_line_width(0.5)
            .move_to(LEFT, y)
            .line_to(RIGHT, y)
            .stroke()
            .restore_state();
    }

    /// The document, each page with its footer: the issuer on the left, "Page n/N" on the right.
    fn into_pdf(self, title: &str, footer: &str, words: &Words) -> Vec<u8> {
        let mut pages = self.done;
        pages.push(self.current);
        let count = pages.len();

        let mut ids = Ref::new(1);
        let (catalog, tree, info) = (ids.bump(), ids.bump(), ids.bump());
        let fonts = [(Font::Regular, ids.bump()), (Font::Bold, ids.bump())];
        let page_ids: Vec<(Ref, Ref)> = (0..count).map(|_| (ids.bump(), ids.bump())).collect();

        let mut pdf = Pdf::new();
        pdf.catalog(catalog).pages(tree);
        pdf.pages(tree)
            .kids(page_ids.iter().map(|&(page, _)| page))
            .count(i32::try_from(count).unwrap_or(i32::MAX));
        pdf.document_info(info).title(TextStr(title));
        for (font, id) in fonts {
            pdf.type1_font(id)
                .base_font(font.base_font())
                .encoding_predefined(Name(b"WinAnsiEncoding"));
        }
        let pages = pages.into_iter().zip(page_ids);
        for (number, (mut content, (page, content_id))) in (1..).zip(pages) {
            show(&mut content, LEFT, FOOTER_Y, SMALL, &win_ansi(footer));
            let page_number = format!("{} {number}/{count}", words.page);
            show_right(&mut content, RIGHT, FOOTER_Y, SMALL, &page_number);
            pdf.page(page)
                .media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT))
                .parent(tree)
                .contents(content_id)
                .resources()
                .fonts()
                .pairs(fonts.map(|(font, id)| (font.resource(), id)));
            pdf.stream(content_id, &content.finish());
        }
        pdf.finish()
    }
}

/// `text` in WinAnsi codes, its left end at `x`, on the baseline `y`.
fn show(content: &mut Content, x: f32, y: f32, style: Style, text: &[u8]) {
    content
        .begin_text()
        .set_font(style.font.resource(), style.size)
        .next_line(x, y)
        .show(Str(text))
        .end_text();
}

/// `text` with its right end at `right`.
fn show_right(content: &mut Content, right: f32, y: f32, style: Style, text: &str) {
    let encoded = win_ansi(text);
    show(content, right - style.width(&encoded), y, style, &encoded);
}

// --- Text -----------------------------------------------------------------------------------

/// `text` in WinAnsiEncoding: cp1252, with "?" for what it lacks and for control characters,
/// which no font draws.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars().map(win_ansi_code).collect()
}

fn win_ansi_code(c: char) -> u8 {
    if c == '\t' {
        return b' ';
    }
    if c.is_control() {
        return b'?';
    }
    let mut utf8 = [0; 4];
    let (bytes, _, unmappable) = WINDOWS_1252.encode(c.encode_utf8(&mut utf8));
    match *bytes {
        [code] if !unmappable => code,
        _ => b'?',
    }
}

/// `text` in WinAnsi codes, in lines no wider than `width`: its own lines, broken at spaces
/// (not at no-break spaces), and a word wider than `width` broken anywhere. Blank lines go.
fn wrap(text: &str, style: Style, width: f32) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let encoded = win_ansi(paragraph);
        let mut line: Vec<u8> = Vec::new();
        let words = encoded
            .split(|&b| b == b' ')
            .filter(|word| !word.is_empty());
        for piece in words.flat_map(|word| pieces(word, style, width)) {
            let spaced = if line.is_empty() {
                0.0
            } else {
                style.width(b" ")
            };
            if !line.is_empty() && style.width(&line) + spaced + style.width(piece) > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(b' ');
            }
            line.extend_from_slice(piece);
        }
        if !line.is_empty() {
            lines.push(line);
        }
    }
    lines
}

/// `word` cut into pieces no wider than `width` (at least one character each).
fn pieces(word: &[u8], style: Style, width: f32) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    let mut rest = word;
    while !rest.is_empty() {
        let fitting = (1..=rest.len())
            .take_while(|&end| style.width(&rest[..end]) <= width)
            .last()
            .unwrap_or(1);
        let (piece, after) = rest.split_at(fitting);
        pieces.push(piece);
        rest = after;
    }
    pieces
}

/// Helvetica's advance widths by WinAnsi code from 32 (space) to 255, in thousandths of the
/// font size, from Adobe's AFM metrics (which every PDF reader uses for the base-14 fonts).
#[rustfmt::skip]
const HELVETICA_WIDTHS: [u16; 224] = [
     278,  278,  355,  556,  556,  889,  667,  191,  333,  333,  389,  584,  278,  333,  278,  278, // 0x20
     556,  556,  556,  556,  556,  556,  556,  556,  556,  556,  278,  278,  584,  584,  584,  556, // 0x30
    1015,  667,  667,  722,  722,  667,  611,  778,  722,  278,  500,  667,  556,  833,  722,  778, // 0x40
     667,  778,  722,  667,  611,  722,  667,  944,  667,  667,  611,  278,  278,  278,  469,  556, // 0x50
     333,  556,  556,  500,  556,  556,  278,  556,  556,  222,  222,  500,  222,  833,  556,  556, // 0x60
     556,  556,  333,  500,  278,  556,  500,  722,  500,  500,  500,  334,  260,  334,  584,  350, // 0x70
     556,  350,  222,  556,  333, 1000,  556,  556,  333, 1000,  667,  333, 1000,  350,  611,  350, // 0x80
     350,  222,  222,  333,  333,  350,  556, 1000,  333, 1000,  500,  333,  944,  350,  500,  667, // 0x90
     278,  333,  556,  556,  556,  556,  260,  556,  333,  737,  370,  556,  584,  333,  737,  333, // 0xA0
     400,  584,  333,  333,  333,  578,  537,  278,  333,  333,  365,  556,  834,  834,  834,  611, // 0xB0
     667,  667,  667,  667,  667,  667, 1000,  722,  667,  667,  667,  667,  278,  278,  278,  278, // 0xC0
     722,  722,  778,  778,  778,  778,  778,  584,  778,  722,  722,  722,  722,  667,  667,  611, // 0xD0
     556,  556,  556,  556,  556,  556,  889,  500,  556,  556,  556,  556,  278,  278,  278,  278, // 0xE0
     556,  556,  556,  556,  556,  556,  556,  584,  611,  556,  556,  556,  556,  500,  556,  500, // 0xF0
];

/// Helvetica-Bold's, likewise.
#[rustfmt::skip]
const HELVETICA_BOLD_WIDTHS: [u16; 224] = [
     278,  333,  474,  556,  556,  889,  722,  238,  333,  333,  389,  584,  278,  333,  278,  278, // 0x20
     556,  556,  556,  556,  556,  556,  556,  556,  556,  556,  333,  333,  584,  584,  584,  611, // 0x30
     975,  722,  722,  722,  722,  667,  611,  778,  722,  278,  556,  722,  611,  833,  722,  778, // 0x40
     667,  778,  722,  667,  611,  722,  667,  944,  667,  667,  611,  333,  278,  333,  584,  556, // 0x50
     333,  556,  611,  556,  611,  556,  333,  611,  611,  278,  278,  556,  278,  889,  611,  611, // 0x60
     611,  611,  389,  556,  333,  611,  556,  778,  556,  556,  500,  389,  280,  389,  584,  350, // 0x70
     556,  350,  278,  556,  500, 1000,  556,  556,  333, 1000,  667,  333, 1000,  350,  611,  350, // 0x80
     350,  278,  278,  500,  500,  350,  556, 1000,  333, 1000,  556,  333,  944,  350,  500,  667, // 0x90
     278,  333,  556,  556,  556,  556,  280,  556,  333,  737,  370,  556,  584,  333,  737,  333, // 0xA0
     400,  584,  333,  333,  333,  611,  556,  278,  333,  333,  365,  556,  834,  834,  834,  611, // 0xB0
     722,  722,  722,  722,  722,  722, 1000,  722,  667,  667,  667,  667,  278,  278,  278,  278, // 0xC0
     722,  722,  778,  778,  778,  778,  778,  584,  778,  722,  722,  722,  722,  667,  667,  611, // 0xD0
     556,  556,  556,  556,  556,  556,  889,  556,  556,  556,  556,  556,  278,  278,  278,  278, // 0xE0
     611,  611,  611,  611,  611,  611,  611,  584,  611,  611,  611,  611,  611,  556,  611,  556, // 0xF0
];

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use rust_decimal_macros::dec;
    use softbrik_domain::account::{InvoiceKind, PaymentState};
    use softbrik_domain::billing_calendar::BillingPeriod;
    use softbrik_domain::proration::Proration;
    use softbrik_domain::values::BrikId;
    use softbrik_domain::vat::VatTreatment;

    fn softbrik() -> Issuer {
        Issuer {
            name: "Softbrik ApS".into(),
            address: "Vesterbrogade 1\n1620 København V".into(),
            country: "DK".into(),
            vat_number: "DK12345678".into(),
        }
    }

    fn fromagerie(vat_number: Option<&str>) -> InvoiceCustomer {
        InvoiceCustomer {
            company_name: "Fromagerie Dupont".into(),
            country: "FR".into(),
            vat_number: vat_number.map(str::to_string),
            address: Some("12 rue des Fromages\n75001 Paris".into()),
            email: "alice@fromagerie.example.fr".into(),
        }
    }

    fn line(
        brik: &str,
        text: &str,
        quantity: u32,
        cents: i64,
        share: Option<Proration>,
    ) -> InvoiceLine {
        let brik = BrikId::parse(brik).unwrap();
        InvoiceLine::new(brik, text, quantity, Money::from_cents(cents), share)
    }

    /// An invoice of the period 2027-01-12 to 2027-02-12, issued on 2027-01-12, numbered and paid.
    fn invoice(kind: InvoiceKind, lines: Vec<InvoiceLine>, vat: VatTreatment) -> Invoice {
        let period = BillingPeriod::new(date(2027, 1, 12), date(2027, 2, 12)).unwrap();
        let mut invoice =
            Invoice::open("inv_1".into(), kind, date(2027, 1, 12), period, lines, &vat);
        invoice.number = Some("SB-000042".into());
        invoice.status = InvoiceStatus::Paid;
        invoice.payment = PaymentState {
            status: PaymentStatus::Succeeded,
            attempts: 1,
            last_error: None,
            charge_id: Some("ch_1".into()),
        };
        invoice
    }

    fn french_renewal() -> Invoice {
        let lines = vec![
            line(
                "files",
                "Stockage de fichiers, du 2027-01-12 au 2027-02-12, 1 utilisateur",
                1,
                600,
                None,
            ),
            line(
                "care",
                // wrapped within its column
                "Service client automatisé, du 2027-01-12 au 2027-02-12, 1\nutilisateur",
                1,
                1000,
                None,
            ),
        ];
        invoice(InvoiceKind::Renewal, lines, VatTreatment::reverse_charge())
    }

    /// The text a reader extracts, one shown string a line; WinAnsi's no-break space comes
    /// back as a plain space.
    fn text_of(pdf: &[u8]) -> String {
        let document = lopdf::Document::load_mem(pdf).unwrap();
        let pages: Vec<u32> = document.get_pages().into_keys().collect();
        document.extract_text(&pages).unwrap()
    }

    fn page_count(pdf: &[u8]) -> usize {
        lopdf::Document::load_mem(pdf).unwrap().get_pages().len()
    }

    #[test]
    fn a_french_renewal_lists_its_number_lines_totals_and_the_reverse_charge_mention() {
        // GIVEN a French company with a VAT number, billed by the Danish issuer for 2 Briks
        let invoice = french_renewal();
        // WHEN its PDF is made in French
        let pdf = invoice_pdf(
            &softbrik(),
            &fromagerie(Some("FR12345678901")),
            &invoice,
            Language::Fr,
        );
        // THEN it reads as a French invoice, accents included
        let text = text_of(&pdf);
        for expected in [
            "Facture",
            "N° : SB-000042",
            "Date d'émission : 12/01/2027",
            "Période : du 12/01/2027 au 12/02/2027",
            "Softbrik ApS",
            "København V",
            "N° TVA : DK12345678",
            "Fromagerie Dupont",
            "12 rue des Fromages",
            "75001 Paris",
            "N° TVA : FR12345678901",
            "alice@fromagerie.example.fr",
            "Qté",
            // wrapped within its column
            "Service client automatisé, du 2027-01-12 au 2027-02-12, 1\nutilisateur",
            "6,00 EUR",
            "10,00 EUR",
            "Total HT",
            "16,00 EUR",
            "TVA (0 %)",
            "0,00 EUR",
            "Total TTC",
            "Reverse charge / Autoliquidation",
            "Statut : Payée",
            "Page 1/1",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
    }

    #[test]
    fn a_french_customer_of_a_french_issuer_sees_20_percent_vat_and_no_mention() {
        let lines = french_renewal().lines;
        let invoice = invoice(InvoiceKind::Renewal, lines, VatTreatment::charged(dec!(20)));
        let text = text_of(&invoice_pdf(
            &softbrik(),
            &fromagerie(None),
            &invoice,
            Language::Fr,
        ));
        assert!(text.contains("TVA (20 %)\n3,20 EUR"), "{text}");
        assert!(text.contains("Total TTC\n19,20 EUR"), "{text}");
        assert!(!text.contains("Autoliquidation"), "{text}");
        assert!(!text.contains("FR12345678901"), "{text}");
    }

    #[test]
    fn a_danish_invoice_writes_amounts_and_dates_the_danish_way() {
        // GIVEN a Danish company with 144 users of Lagerstyring
        let customer = InvoiceCustomer {
            company_name: "Ærø Økologiske Bageri ApS".into(),
            country: "DK".into(),
            vat_number: None,
            address: Some("Søndergade 5\n5970 Ærøskøbing".into()),
            email: "bogholderi@baageri.example.dk".into(),
        };
        let lines = vec![line(
            "stock",
            "Lagerstyring, 2027-01-12 til 2027-02-12, 144 brugere",
            144,
            857,
            None,
        )];
        let invoice = invoice(InvoiceKind::Renewal, lines, VatTreatment::charged(dec!(25)));
        // WHEN its PDF is made in Danish
        let text = text_of(&invoice_pdf(&softbrik(), &customer, &invoice, Language::Da));
        // THEN 1.234,08 net, 25 % VAT 308,52, 1.542,60 in all, dated 12.01.2027
        for expected in [
            "Faktura",
            "Nr.: SB-000042",
            "Dato: 12.01.2027",
            "Periode: 12.01.2027 til 12.02.2027",
            "Ærø Økologiske Bageri ApS",
            "Søndergade 5",
            "5970 Ærøskøbing",
            "Beløb",
            "8,57 EUR",
            "I alt ekskl. moms\n1.234,08 EUR",
            "Moms (25 %)\n308,52 EUR",
            "I alt inkl. moms\n1.542,60 EUR",
            "Status: Betalt",
            "Side 1/1",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
    }

    #[test]
    fn a_prorated_line_shows_its_share_of_the_period_in_days() {
        let share = Proration::new(23, 31).unwrap();
        let lines = vec![line(
            "stock",
            "Inventory, 2026-12-20 to 2027-01-12, 1 user",
            1,
            800,
            Some(share),
        )];
        let invoice = invoice(InvoiceKind::Proration, lines, VatTreatment::none());
        let text = text_of(&invoice_pdf(
            &softbrik(),
            &fromagerie(None),
            &invoice,
            Language::En,
        ));
        assert!(text.contains("8.00 EUR\n23/31 days\n5.94 EUR"), "{text}");
        assert!(text.contains("Issue date: 2027-01-12"), "{text}");
        assert!(text.contains("Period: 2027-01-12 to 2027-02-12"), "{text}");
        assert!(text.contains("Status: Paid"), "{text}");
    }

    #[test]
    fn an_unnumbered_invoice_is_marked_as_a_draft_to_be_paid() {
        let mut invoice = french_renewal();
        invoice.number = None;
        invoice.status = InvoiceStatus::Draft;
        invoice.payment.status = PaymentStatus::Pending;
        let pdf = |lang| text_of(&invoice_pdf(&softbrik(), &fromagerie(None), &invoice, lang));
        let (fr, da, en) = (pdf(Language::Fr), pdf(Language::Da), pdf(Language::En));
        assert!(
            fr.contains("BROUILLON") && fr.contains("Statut : À payer"),
            "{fr}"
        );
        assert!(
            da.contains("KLADDE") && da.contains("Status: Til betaling"),
            "{da}"
        );
        assert!(
            en.contains("DRAFT") && en.contains("Status: To be paid"),
            "{en}"
        );
        assert!(!fr.contains("SB-000042"), "{fr}");
    }

    #[test]
    fn a_credit_note_is_titled_as_one_in_each_language() {
        let lines = vec![line("files", "Stockage de fichiers", 1, -600, None)];
        let credit = invoice(
            InvoiceKind::CreditNote,
            lines,
            VatTreatment::charged(dec!(20)),
        );
        let pdf = |lang| text_of(&invoice_pdf(&softbrik(), &fromagerie(None), &credit, lang));
        let (fr, da, en) = (pdf(Language::Fr), pdf(Language::Da), pdf(Language::En));
        assert!(
            fr.starts_with("Avoir\n") || fr.contains("\nAvoir\n"),
            "{fr}"
        );
        assert!(
            fr.contains("-7,20 EUR") && fr.contains("Statut : Remboursé"),
            "{fr}"
        );
        assert!(da.contains("Kreditnota") && !da.contains("Faktura"), "{da}");
        assert!(
            en.contains("Credit note") && en.contains("Status: Refunded"),
            "{en}"
        );
    }

    #[test]
    fn a_failed_payment_is_stated() {
        let mut invoice = french_renewal();
        invoice.status = InvoiceStatus::Open;
        invoice.payment.status = PaymentStatus::Failed;
        let text = text_of(&invoice_pdf(
            &softbrik(),
            &fromagerie(None),
            &invoice,
            Language::En,
        ));
        assert!(text.contains("Status: Payment failed"), "{text}");
    }

    #[test]
    fn sixty_lines_go_on_to_a_second_page_and_every_amount_is_shown() {
        // GIVEN 60 lines of distinct amounts, 6.00 to 6.59
        let lines = (0..60)
            .map(|i| {
                line(
                    "files",
                    &format!("Stockage de fichiers, ligne {i}"),
                    1,
                    600 + i,
                    None,
                )
            })
            .collect();
        let invoice = invoice(InvoiceKind::Renewal, lines, VatTreatment::charged(dec!(20)));
        // WHEN its PDF is made
        let pdf = invoice_pdf(&softbrik(), &fromagerie(None), &invoice, Language::Fr);
        // THEN it has more than one page, each numbered, and shows every line and its amount
        let pages = page_count(&pdf);
        assert!(pages >= 2, "{pages} page(s)");
        let text = text_of(&pdf);
        assert!(text.contains(&format!("Page 1/{pages}")), "{text}");
        assert!(text.contains(&format!("Page {pages}/{pages}")), "{text}");
        assert!(
            text.contains("Facture SB-000042"),
            "the next pages repeat the title: {text}"
        );
        for i in 0..60 {
            let amount = Money::from_cents(600 + i).format(Language::Fr);
            assert!(
                text.contains(&format!(
                    "Stockage de fichiers, ligne {i}\n1\n{amount}\n{amount}\n"
                )),
                "line {i}: {text}"
            );
        }
        assert!(text.contains("Total HT\n377,70 EUR"), "{text}");
    }

    #[test]
    fn a_long_description_wraps_within_its_column() {
        let long = "Service client automatisé avec une description bien plus longue que la colonne qui lui est réservée, du 2027-01-12 au 2027-02-12";
        let widest = wrap(long, BODY, DESCRIPTION_WIDTH)
            .iter()
            .map(|line| BODY.width(line))
            .fold(0.0, f32::max);
        assert!(widest <= DESCRIPTION_WIDTH, "{widest}");
        let lines = vec![line("care", long, 1, 1000, None)];
        let invoice = invoice(InvoiceKind::Renewal, lines, VatTreatment::none());
        let text = text_of(&invoice_pdf(
            &softbrik(),
            &fromagerie(None),
            &invoice,
            Language::Fr,
        ));
        assert!(text.replace('\n', " ").contains(long), "{text}");
    }

    #[test]
    fn rendering_twice_gives_the_same_bytes_and_a_pdf() {
        let render = || {
            invoice_pdf(
                &softbrik(),
                &fromagerie(None),
                &french_renewal(),
                Language::Fr,
            )
        };
        let (first, second) = (render(), render());
        assert!(first.starts_with(b"%PDF-"));
        assert_eq!(first, second);
    }

    #[test]
    fn text_is_encoded_in_win_ansi_with_a_question_mark_for_what_it_lacks() {
        // French and Danish letters, the euro sign and the no-break space have a code ...
        assert_eq!(win_ansi("é è à ç"), b"\xe9 \xe8 \xe0 \xe7");
        assert_eq!(win_ansi("æøåÆØÅ"), b"\xe6\xf8\xe5\xc6\xd8\xc5");
        assert_eq!(win_ansi("5\u{a0}€ – «ok»"), b"5\xa0\x80 \x96 \xabok\xbb");
        // ... what cp1252 lacks, and control characters, have none
        assert_eq!(win_ansi("Łódź 日本 🙂\u{7}\u{81}"), b"?\xf3d? ?? ???");
    }
}
