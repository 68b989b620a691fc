//! Inbound support email (support.md "Email to ticket"): the raw RFC 5322 message that SES
//! stored in S3, read into what the desk needs (sender, recipients, subject, text, attachments,
//! whether it is automatic mail, the ticket number its subject quotes) or dropped with a reason.
//!
//! MIME is mail-parser's job; three of its traits shape this module:
//! - It reads a `message/rfc822`, a `message/global` or a `multipart/digest` member as a nested
//!   message, recursively. Deep nesting overflows the stack (dropping the tree recurses; inside
//!   a base64 part, 3,000 levels in 120 KB are enough, and each level copies the whole message
//!   too), and a stack overflow aborts the process: `catch_unwind` cannot stop it. So mail-parser reads a copy of
//!   the bytes where the last letter of every "rfc822", "global" and "digest" (any case) is an
//!   `X`: no part can be a nested message, and a forwarded mail stays one opaque attachment. The
//!   copy has the same length, still valid base64 and quoted-printable, so its offsets hold for
//!   the original: headers, text and attachment bytes are read back from the original bytes.
//! - It makes the best of a cut or garbled message without complaint, so a truncated upload is
//!   caught here: a multipart whose closing delimiter never comes.
//! - No input made it panic under fuzzing, but it runs under `catch_unwind` all the same (the
//!   release profile unwinds), so a bug in it drops one message instead of the function.

use std::borrow::Cow;
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::html::html_to_text;
use mail_parser::parsers::MessageStream;
use mail_parser::{
    ContentType, Encoding, HeaderName, HeaderValue, Message, MessageParser, MessagePart,
    MimeHeaders, PartType,
};
use sha2::{Digest, Sha256};

use crate::values::EmailAddress;

/// Largest message taken (support.md "Limits").
pub const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
/// Attachments kept per message (support.md "Limits").
pub const MAX_ATTACHMENTS: usize = 20;
/// Text kept per message, in characters; longer text is cut and marked cut.
pub const MAX_TEXT_CHARS: usize = 64 * 1024;
/// More multipart containers than any mail client writes. The check for closing delimiters
/// looks at every line for each container, so a crafted message must not make that quadratic.
const MAX_MULTIPARTS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMail {
    /// Message-ID without angle brackets, trimmed; when absent or empty:
    /// `sha256:<hex of the raw bytes>`, so a redelivery of the same bytes is still recognised.
    pub message_id: String,
    /// The sender: the first address of From.
    pub from: EmailAddress,
    /// Lower-cased addresses of To and Cc, without repeats (the intake routes mail to the
    /// security address by these).
    pub recipients: Vec<String>,
    /// Decoded (RFC 2047), trimmed; "" when absent.
    pub subject: String,
    /// Plain text of the body: the text/plain parts, or the HTML ones converted to text,
    /// trimmed, at most [`MAX_TEXT_CHARS`] characters.
    pub text: String,
    pub text_truncated: bool,
    /// At most [`MAX_ATTACHMENTS`], in message order.
    pub attachments: Vec<InboundAttachment>,
    /// Attachments beyond [`MAX_ATTACHMENTS`], not kept.
    pub attachments_dropped: usize,
    /// Why the message is automatic mail (never answered, never reopens a ticket, never
    /// resumes a paused target), or `None` for a person's mail.
    pub automatic: Option<Automatic>,
    /// The ticket number quoted in the subject, e.g. 123 for "Re: [SB-T-000123] Printer".
    pub ticket_number: Option<u64>,
}

/// An attachment as sent: the bytes are transfer-decoded (base64, quoted-printable) but not
/// converted to another charset, and a forwarded message is its raw RFC 5322 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundAttachment {
    /// The name the sender gave, or "attachment-<n>" (n counts from 1 in message order).
    /// Untrusted: it may hold path separators.
    pub filename: String,
    /// Lower-cased "type/subtype"; application/octet-stream when absent or unreadable.
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The signs of automatic mail (support.md, RFC 3834), in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Automatic {
    /// `Auto-Submitted` with any value but `no`.
    AutoSubmitted,
    /// `Precedence: bulk`, `list`, `junk` or `auto_reply`.
    Precedence,
    /// `X-Autoreply` or `X-Autorespond`.
    XAutoreply,
    /// `List-Id` or `List-Unsubscribe`.
    MailingList,
    /// `Return-Path: <>`: a bounce or another message that must not be answered.
    EmptyReturnPath,
    /// A delivery status report (RFC 3464).
    DeliveryReport,
}

impl Automatic {
    /// The name written in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AutoSubmitted => "auto_submitted",
            Self::Precedence => "precedence",
            Self::XAutoreply => "x_autoreply",
            Self::MailingList => "mailing_list",
            Self::EmptyReturnPath => "empty_return_path",
            Self::DeliveryReport => "delivery_report",
        }
    }
}

/// Why a message was dropped instead of read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dropped {
    /// Over [`MAX_MESSAGE_BYTES`]; not parsed at all.
    TooLarge { bytes: usize },
    /// Not a message the desk can take; the reason is one of "unparseable", "no_headers",
    /// "truncated_multipart", "too_many_parts", "no_sender".
    Malformed(&'static str),
    /// mail-parser (or this module) panicked on it.
    ParserPanicked,
}

impl Dropped {
    /// The reason written in the log line.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::Malformed(reason) => reason,
            Self::ParserPanicked => "parser_panicked",
        }
    }
}

/// Reads a raw message. Never panics: mail-parser runs inside `catch_unwind`, and a panic
/// becomes [`Dropped::ParserPanicked`].
pub fn parse(raw: &[u8]) -> Result<InboundMail, Dropped> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return Err(Dropped::TooLarge { bytes: raw.len() });
    }
    catch_unwind(AssertUnwindSafe(|| read(raw))).unwrap_or(Err(Dropped::ParserPanicked))
}

/// "SB-T-000123": the display form of a ticket number (6 digits, zero-padded, more digits when
/// needed).
pub fn ticket_reference(number: u64) -> String {
    format!("SB-T-{number:06}")
}

/// Finds "[SB-T-<digits>]" anywhere in a subject ("sb-t-" in any case); the first one that
/// holds a number that fits in a u64 wins.
pub fn ticket_number_in(subject: &str) -> Option<u64> {
    const OPENING: &[u8] = b"[sb-t-";
    let bytes = subject.as_bytes();
    (0..bytes.len()).find_map(|start| {
        let rest = bytes.get(start..)?;
        if !rest.get(..OPENING.len())?.eq_ignore_ascii_case(OPENING) {
            return None;
        }
        let rest = &rest[OPENING.len()..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || rest.get(digits) != Some(&b']') {
            return None;
        }
        std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
    })
}

fn read(raw: &[u8]) -> Result<InboundMail, Dropped> {
    let copy = without_nested_messages(raw);
    let parser = MessageParser::default();
    let structure = parser
        .parse(&copy[..])
        .ok_or(Dropped::Malformed("unparseable"))?;
    let head = parser
        .parse_headers(raw)
        .ok_or(Dropped::Malformed("no_headers"))?;
    if !head
        .headers()
        .iter()
        .any(|h| is_field_name(h.name.as_str()))
    {
        return Err(Dropped::Malformed("no_headers"));
    }
    check_multiparts_closed(&structure, &copy)?;
    let from = sender(&head).ok_or(Dropped::Malformed("no_sender"))?;
    let subject = head.subject().unwrap_or_default().trim().to_owned();
    let (text, text_truncated) = cut(&body_text(raw, &structure));
    let (attachments, attachments_dropped) = attachments(raw, &structure);
    Ok(InboundMail {
        message_id: message_id(&head, raw),
        from,
        recipients: recipients(&head),
        ticket_number: ticket_number_in(&subject),
        subject,
        text,
        text_truncated,
        attachments,
        attachments_dropped,
        automatic: automatic(&head, raw, &structure),
    })
}

/// The bytes mail-parser reads: the original, with the last letter of every "rfc822",
/// "global" and "digest" (any case) replaced by `X` (see the module comment).
fn without_nested_messages(raw: &[u8]) -> Cow<'_, [u8]> {
    const WORDS: [&[u8]; 3] = [b"rfc822", b"global", b"digest"];
    let mut copy: Option<Vec<u8>> = None;
    for (start, window) in raw.windows(6).enumerate() {
        if WORDS.iter().any(|word| window.eq_ignore_ascii_case(word)) {
            copy.get_or_insert_with(|| raw.to_vec())[start + 5] = b'X';
        }
    }
    copy.map_or(Cow::Borrowed(raw), Cow::Owned)
}

/// RFC 5322 field names: printable ASCII but the colon. mail-parser also returns a line of
/// text without any colon as a "header", which does not make a header section.
fn is_field_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

/// A truncated upload still parses; what gives it away is a multipart (top-level or nested)
/// whose closing delimiter `--<boundary>--` never starts a line.
fn check_multiparts_closed(structure: &Message<'_>, bytes: &[u8]) -> Result<(), Dropped> {
    let mut open: Vec<&str> = Vec::new();
    for part in &structure.parts {
        let boundary = part
            .content_type()
            .filter(|ct| ct.ctype() == "multipart")
            .and_then(|ct| ct.attribute("boundary"));
        if let Some(boundary) = boundary
            && !open.contains(&boundary)
        {
            if open.len() == MAX_MULTIPARTS {
                return Err(Dropped::Malformed("too_many_parts"));
            }
            open.push(boundary);
        }
    }
    for line in bytes.split(|&b| b == b'\n') {
        if open.is_empty() {
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix(b"--") {
            open.retain(|boundary| {
                rest.strip_prefix(boundary.as_bytes())
                    .is_none_or(|after| !after.starts_with(b"--"))
            });
        }
    }
    if open.is_empty() {
        Ok(())
    } else {
        Err(Dropped::Malformed("truncated_multipart"))
    }
}

fn sender(head: &Message<'_>) -> Option<EmailAddress> {
    let from = head
        .header_values(HeaderName::From)
        .find_map(HeaderValue::as_address)?;
    let address = from.iter().find_map(|addr| addr.address.as_deref())?;
    EmailAddress::parse(address).ok()
}

fn recipients(head: &Message<'_>) -> Vec<String> {
    let mut seen = HashSet::new();
    head.header_values(HeaderName::To)
        .chain(head.header_values(HeaderName::Cc))
        .filter_map(HeaderValue::as_address)
        .flat_map(|address| address.iter())
        .filter_map(|addr| addr.address.as_deref())
        .map(|address| address.trim().to_lowercase())
        .filter(|address| !address.is_empty() && seen.insert(address.clone()))
        .collect()
}

fn message_id(head: &Message<'_>, raw: &[u8]) -> String {
    let id = head
        .message_id()
        .map(|id| {
            id.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
        })
        .unwrap_or_default();
    if id.is_empty() {
        let digest = Sha256::digest(raw);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    } else {
        id.to_owned()
    }
}

/// The text parts mail-parser chose for the body, read from the original bytes, one paragraph
/// each; reading stops once there is more than can be kept.
fn body_text(raw: &[u8], structure: &Message<'_>) -> String {
    let mut text = String::new();
    let mut chars = 0;
    for part in structure
        .text_body
        .iter()
        .filter_map(|&id| structure.parts.get(id as usize))
    {
        let Some(piece) = part_text(raw, part) else {
            continue;
        };
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\n\n");
            chars += 2;
        }
        text.push_str(piece);
        chars += piece.chars().count();
        if chars > MAX_TEXT_CHARS {
            break;
        }
    }
    text
}

/// What mail-parser's `body_text` gives, but from the original bytes: transfer-decoded, then
/// from the part's charset to UTF-8, then HTML to text.
fn part_text(raw: &[u8], part: &MessagePart<'_>) -> Option<String> {
    let is_html = match part.body {
        PartType::Text(_) => false,
        PartType::Html(_) => true,
        _ => return None,
    };
    let bytes = transfer_decoded(raw, part);
    let head = original_head(raw, part);
    let decoder = head
        .as_ref()
        .and_then(|head| head.content_type())
        .and_then(|ct| ct.attribute("charset"))
        .and_then(|charset| charset_decoder(charset.as_bytes()));
    let text = match decoder {
        Some(decode) => decode(&bytes),
        None => String::from_utf8_lossy(&bytes).into_owned(),
    };
    Some(if is_html { html_to_text(&text) } else { text })
}

/// Cuts trimmed text to [`MAX_TEXT_CHARS`] on a char boundary; says whether it cut.
fn cut(text: &str) -> (String, bool) {
    let text = text.trim();
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((end, _)) => (text[..end].trim_end().to_owned(), true),
        None => (text.to_owned(), false),
    }
}

fn attachments(raw: &[u8], structure: &Message<'_>) -> (Vec<InboundAttachment>, usize) {
    let kept: Vec<InboundAttachment> = structure
        .attachments()
        .take(MAX_ATTACHMENTS)
        .enumerate()
        .map(|(n, part)| attachment(raw, part, n + 1))
        .collect();
    let dropped = structure.attachment_count().saturating_sub(kept.len());
    (kept, dropped)
}

fn attachment(raw: &[u8], part: &MessagePart<'_>, number: usize) -> InboundAttachment {
    let head = original_head(raw, part);
    let filename = head
        .as_ref()
        .and_then(|head| head.attachment_name())
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map_or_else(|| format!("attachment-{number}"), str::to_owned);
    let content_type = head
        .as_ref()
        .and_then(|head| head.content_type())
        .and_then(type_and_subtype)
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    InboundAttachment {
        filename,
        content_type,
        bytes: transfer_decoded(raw, part).into_owned(),
    }
}

fn type_and_subtype(ct: &ContentType<'_>) -> Option<String> {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !b"/;:\"()<>@,[]\\?=".contains(&b))
    };
    let subtype = ct.subtype()?;
    (token(ct.ctype()) && token(subtype))
        .then(|| format!("{}/{subtype}", ct.ctype()).to_ascii_lowercase())
}

/// The headers of a part as they are in the original bytes (the copy mail-parser read has the
/// same offsets).
fn original_head<'a>(raw: &'a [u8], part: &MessagePart<'_>) -> Option<Message<'a>> {
    let head = raw.get(part.offset_header as usize..part.offset_body as usize)?;
    MessageParser::default().parse_headers(head)
}

/// A part's body from the original bytes, with its Content-Transfer-Encoding undone.
fn transfer_decoded<'a>(raw: &'a [u8], part: &MessagePart<'_>) -> Cow<'a, [u8]> {
    let body = raw
        .get(part.offset_body as usize..part.offset_end as usize)
        .unwrap_or_default();
    let (end, decoded) = match part.encoding {
        Encoding::Base64 => MessageStream::new(body).decode_base64_mime(b""),
        Encoding::QuotedPrintable => MessageStream::new(body).decode_quoted_printable_mime(b""),
        Encoding::None => return Cow::Borrowed(body),
    };
    if end == usize::MAX {
        Cow::Borrowed(body)
    } else {
        decoded
    }
}

fn automatic(head: &Message<'_>, raw: &[u8], structure: &Message<'_>) -> Option<Automatic> {
    let values = |name: &'static str| {
        head.headers()
            .iter()
            .filter(move |h| h.name.as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value())
    };
    let present = |name: &'static str| values(name).next().is_some();
    if values("Auto-Submitted").any(|v| keyword(v) != "no") {
        Some(Automatic::AutoSubmitted)
    } else if values("Precedence")
        .any(|v| matches!(keyword(v).as_str(), "bulk" | "list" | "junk" | "auto_reply"))
    {
        Some(Automatic::Precedence)
    } else if present("X-Autoreply") || present("X-Autorespond") {
        Some(Automatic::XAutoreply)
    } else if present("List-Id") || present("List-Unsubscribe") {
        Some(Automatic::MailingList)
    } else if values("Return-Path").any(is_empty_path) {
        Some(Automatic::EmptyReturnPath)
    } else if is_delivery_report(head, raw, structure) {
        Some(Automatic::DeliveryReport)
    } else {
        None
    }
}

/// "auto-replied; owner-email=..." or "no (a comment)": the keyword is what counts.
fn keyword(value: &HeaderValue<'_>) -> String {
    let text = value.as_text().unwrap_or_default();
    let keyword = text.split([';', '(']).next().unwrap_or_default();
    keyword.trim().to_ascii_lowercase()
}

/// `<>` (mail-parser reads it as no value at all) or blank.
fn is_empty_path(value: &HeaderValue<'_>) -> bool {
    match value {
        HeaderValue::Empty => true,
        HeaderValue::Text(text) => text
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim()
            .is_empty(),
        HeaderValue::TextList(list) => list.iter().all(|text| text.trim().is_empty()),
        _ => false,
    }
}

/// A multipart/report of report-type delivery-status, or any part of type
/// message/delivery-status (global- for RFC 6533's internationalised reports). Only the
/// message's own parts count: a forwarded bounce is a person's mail.
fn is_delivery_report(head: &Message<'_>, raw: &[u8], structure: &Message<'_>) -> bool {
    let is_status = |s: &str| {
        s.eq_ignore_ascii_case("delivery-status")
            || s.eq_ignore_ascii_case("global-delivery-status")
    };
    let report = head.content_type().is_some_and(|ct| {
        ct.ctype() == "multipart"
            && ct.subtype() == Some("report")
            && ct.attribute("report-type").is_some_and(is_status)
    });
    report
        || structure
            .parts
            .iter()
            .filter(|part| {
                part.content_type()
                    .is_some_and(|ct| ct.ctype() == "message")
            })
            .filter_map(|part| original_head(raw, part))
            .any(|part_head| {
                part_head.content_type().is_some_and(|ct| {
                    ct.ctype() == "message" && ct.subtype().is_some_and(is_status)
                })
            })
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use rand::rngs::StdRng;
    use rand::{RngCore, SeedableRng};

    use super::*;

    /// A message from header lines and a body, with the CRLF line ends SES stores.
    fn message(headers: &str, body: &str) -> Vec<u8> {
        format!("{headers}\n\n{body}")
            .replace('\n', "\r\n")
            .into_bytes()
    }

    const ALICE: &str = "From: Alice Martin <Alice@Example.FR>\n\
                         To: Support <SUPPORT@softbrik.example>\n\
                         Message-ID: <m1@example.fr>";

    fn read_ok(raw: &[u8]) -> InboundMail {
        match parse(raw) {
            Ok(mail) => mail,
            Err(dropped) => panic!("dropped: {}", dropped.reason()),
        }
    }

    /// A multipart/mixed message: a text part, then `count` base64 PDFs.
    fn with_pdfs(count: usize) -> String {
        let mut raw = String::from(
            "From: alice@example.fr\r\nSubject: files\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n\
             --XYZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nVoici les fichiers.\r\n",
        );
        for i in 1..=count {
            raw.push_str(&format!(
                "--XYZ\r\nContent-Type: Application/PDF; name=\"f{i}.pdf\"\r\n\
                 Content-Disposition: attachment; filename=\"facture-{i}.pdf\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
            ));
        }
        raw.push_str("--XYZ--\r\n");
        raw
    }

    #[test]
    fn a_plain_message_gives_sender_recipients_subject_and_text() {
        let raw = message(
            &format!(
                "{ALICE}\nCc: \"Bob\" <Bob@Example.FR>, support@softbrik.example\n\
                 Subject:   Imprimante bloquée  "
            ),
            "  Bonjour,\n\nL'imprimante ne répond plus.\n\n",
        );
        let mail = read_ok(&raw);
        assert_eq!(mail.from.as_str(), "alice@example.fr");
        assert_eq!(
            mail.recipients,
            ["support@softbrik.example", "bob@example.fr"]
        );
        assert_eq!(mail.message_id, "m1@example.fr");
        assert_eq!(mail.subject, "Imprimante bloquée");
        assert_eq!(mail.text, "Bonjour,\r\n\r\nL'imprimante ne répond plus.");
        assert!(!mail.text_truncated);
        assert_eq!(mail.automatic, None);
        assert_eq!(mail.ticket_number, None);
        assert!(mail.attachments.is_empty());
        assert_eq!(mail.attachments_dropped, 0);
    }

    #[test]
    fn quoted_printable_and_an_rfc_2047_subject_are_decoded() {
        let raw = message(
            &format!(
                "{ALICE}\nSubject: =?UTF-8?Q?R=C3=A9ponse_=C3=A0_votre_demande?=\n\
                 Content-Type: text/plain; charset=iso-8859-1\n\
                 Content-Transfer-Encoding: quoted-printable"
            ),
            "L'imprimante ne r=E9pond plus, m=EAme apr=E8s red=E9marrage. Merci =\nd'avance.",
        );
        let mail = read_ok(&raw);
        assert_eq!(mail.subject, "Réponse à votre demande");
        assert_eq!(
            mail.text,
            "L'imprimante ne répond plus, même après redémarrage. Merci d'avance."
        );
    }

    #[test]
    fn an_html_only_body_becomes_text() {
        let raw = message(
            &format!("{ALICE}\nSubject: html\nContent-Type: text/html; charset=utf-8"),
            "<html><head><style>p { color: red }</style></head><body>\
             <p>Bonjour <b>l'équipe</b>,</p><p>tout est &eacute;teint &amp; rien ne marche.</p>\
             </body></html>",
        );
        let text = read_ok(&raw).text;
        assert!(text.starts_with("Bonjour l'équipe,"), "{text:?}");
        assert!(
            text.contains("tout est éteint & rien ne marche."),
            "{text:?}"
        );
        assert!(!text.contains('<') && !text.contains("color"), "{text:?}");
    }

    #[test]
    fn the_text_is_what_mail_parser_reads_when_nothing_needed_hiding() {
        let samples = [
            message(
                &format!("{ALICE}\nContent-Type: text/html"),
                "<p>Un <i>deux</i></p><p>trois</p>",
            ),
            message(
                &format!(
                    "{ALICE}\nContent-Type: text/plain; charset=windows-1252\n\
                     Content-Transfer-Encoding: base64"
                ),
                &BASE64.encode(b"Co\xfbt : 12 \x80"),
            ),
            with_pdfs(1).into_bytes(),
        ];
        for raw in samples {
            let expected = MessageParser::default().parse(&raw).unwrap();
            let expected = expected.body_text(0).unwrap();
            assert_eq!(read_ok(&raw).text, expected.trim());
        }
    }

    #[test]
    fn a_long_text_is_cut_on_a_char_boundary_and_marked() {
        let long = "é".repeat(MAX_TEXT_CHARS + 10);
        let mail = read_ok(&message(ALICE, &long));
        assert_eq!(mail.text.chars().count(), MAX_TEXT_CHARS);
        assert!(mail.text_truncated);
        let exact = read_ok(&mail_of_len(MAX_TEXT_CHARS));
        assert_eq!(exact.text.chars().count(), MAX_TEXT_CHARS);
        assert!(!exact.text_truncated);
    }

    fn mail_of_len(chars: usize) -> Vec<u8> {
        message(ALICE, &"x".repeat(chars))
    }

    #[test]
    fn the_ticket_number_is_found_only_between_brackets() {
        assert_eq!(ticket_number_in("Re: [SB-T-000123] x"), Some(123));
        assert_eq!(ticket_number_in("AW: [sb-t-42]"), Some(42));
        assert_eq!(ticket_number_in("SB-T-12 without brackets"), None);
        assert_eq!(ticket_number_in("[SB-T-12"), None);
        assert_eq!(
            ticket_number_in("[SB-T-] [SB-T-1x] [SB-T-7] [SB-T-8]"),
            Some(7)
        );
        assert_eq!(
            ticket_number_in("[SB-T-99999999999999999999] [SB-T-5]"),
            Some(5)
        );
        assert_eq!(ticket_number_in("Réf. é[Sb-T-000009]"), Some(9));
        let raw = message(
            &format!("{ALICE}\nSubject: Re: [SB-T-000123] Printer"),
            "merci",
        );
        assert_eq!(read_ok(&raw).ticket_number, Some(123));
    }

    #[test]
    fn a_ticket_reference_has_six_digits_or_more() {
        assert_eq!(ticket_reference(123), "SB-T-000123");
        assert_eq!(ticket_reference(1_234_567), "SB-T-1234567");
        for number in [0, 1, 999_999, 1_000_000, u64::MAX] {
            assert_eq!(
                ticket_number_in(&format!("[{}]", ticket_reference(number))),
                Some(number)
            );
        }
    }

    #[test]
    fn each_sign_of_automatic_mail_is_seen() {
        let cases = [
            (
                "Auto-Submitted: auto-replied",
                Some(Automatic::AutoSubmitted),
            ),
            (
                "Auto-Submitted: Auto-Generated; owner-email=\"x@example.fr\"",
                Some(Automatic::AutoSubmitted),
            ),
            ("Auto-Submitted:", Some(Automatic::AutoSubmitted)),
            ("Auto-Submitted: no", None),
            ("Auto-Submitted: No (a person wrote this)", None),
            ("Precedence: bulk", Some(Automatic::Precedence)),
            ("Precedence: LIST", Some(Automatic::Precedence)),
            ("Precedence: junk", Some(Automatic::Precedence)),
            ("Precedence: auto_reply", Some(Automatic::Precedence)),
            ("Precedence: first-class", None),
            ("X-Autoreply: yes", Some(Automatic::XAutoreply)),
            ("X-Autorespond: vacation", Some(Automatic::XAutoreply)),
            (
                "List-Id: Nouvelles <news.example.fr>",
                Some(Automatic::MailingList),
            ),
            (
                "List-Unsubscribe: <mailto:u@example.fr>",
                Some(Automatic::MailingList),
            ),
            ("Return-Path: <>", Some(Automatic::EmptyReturnPath)),
            ("Return-Path: <alice@example.fr>", None),
        ];
        for (header, expected) in cases {
            let raw = message(&format!("{ALICE}\n{header}"), "x");
            assert_eq!(read_ok(&raw).automatic, expected, "{header}");
        }
        assert_eq!(read_ok(&message(ALICE, "x")).automatic, None);
    }

    #[test]
    fn a_delivery_status_report_is_automatic() {
        let report = |top: &str, status_type: &str| {
            message(
                &format!("From: MAILER-DAEMON@mx.example.fr\nContent-Type: {top}; boundary=R"),
                &format!(
                    "--R\nContent-Type: text/plain\n\nDelivery failed.\n\
                     --R\nContent-Type: {status_type}\n\nReporting-MTA: dns; mx.example.fr\n\
                     --R\nContent-Type: message/rfc822\n\nFrom: a@example.fr\n\nhello\n--R--\n"
                ),
            )
        };
        let dsn = Some(Automatic::DeliveryReport);
        let report_type = "multipart/report; report-type=Delivery-Status";
        assert_eq!(read_ok(&report(report_type, "text/plain")).automatic, dsn);
        assert_eq!(
            read_ok(&report("multipart/mixed", "message/delivery-status")).automatic,
            dsn
        );
        let global = "message/global-delivery-status";
        assert_eq!(read_ok(&report("multipart/mixed", global)).automatic, dsn);
        assert_eq!(
            read_ok(&report("multipart/mixed", "text/plain")).automatic,
            None
        );
    }

    #[test]
    fn without_a_message_id_the_id_is_the_hash_of_the_bytes() {
        let raw = message("From: alice@example.fr\nSubject: sans id", "x");
        let id = read_ok(&raw).message_id;
        let hex = id.strip_prefix("sha256:").unwrap();
        assert_eq!(hex.len(), 64);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(read_ok(&raw).message_id, id);
        let other = message("From: alice@example.fr\nSubject: sans id", "y");
        assert_ne!(read_ok(&other).message_id, id);
        let empty = message("From: alice@example.fr\nMessage-ID: <>", "x");
        assert!(read_ok(&empty).message_id.starts_with("sha256:"));
    }

    #[test]
    fn twenty_attachments_are_kept_and_the_rest_counted() {
        let mail = read_ok(with_pdfs(21).as_bytes());
        assert_eq!(mail.attachments.len(), MAX_ATTACHMENTS);
        assert_eq!(mail.attachments_dropped, 1);
        for (i, attachment) in mail.attachments.iter().enumerate() {
            assert_eq!(attachment.filename, format!("facture-{}.pdf", i + 1));
            assert_eq!(attachment.content_type, "application/pdf");
            assert_eq!(attachment.bytes, b"%PDF-1.4\n");
        }
        assert_eq!(mail.text, "Voici les fichiers.");
    }

    #[test]
    fn an_attachment_without_name_or_type_gets_defaults() {
        let raw = message(
            "From: alice@example.fr\nContent-Type: multipart/mixed; boundary=B",
            "--B\n\nle texte\n\
             --B\nContent-Type: image/png; name=\"  \"\nContent-Disposition: attachment\n\
             Content-Transfer-Encoding: base64\n\niVBORw==\n\
             --B\nContent-Disposition: attachment\n\nnotes\n--B--\n",
        );
        let mail = read_ok(&raw);
        let names: Vec<_> = mail
            .attachments
            .iter()
            .map(|a| a.filename.as_str())
            .collect();
        assert_eq!(names, ["attachment-1", "attachment-2"]);
        assert_eq!(mail.attachments[0].content_type, "image/png");
        assert_eq!(mail.attachments[0].bytes, b"\x89PNG");
        assert_eq!(mail.attachments[1].content_type, "application/octet-stream");
        assert_eq!(mail.attachments[1].bytes, b"notes");
        assert_eq!(mail.text, "le texte");
    }

    #[test]
    fn a_forwarded_message_stays_one_attachment_and_every_byte_is_kept() {
        // Base64 whose text holds the hidden words, so the copy mail-parser reads differs.
        let payload = BASE64.decode("globalRFC822digestAA").unwrap();
        let forwarded = "From: bob@example.fr\nSubject: Global digest\n\
                         Content-Type: text/plain\n\nThe global digest, per RFC822.\n";
        let raw = message(
            &format!(
                "{ALICE}\nSubject: Fwd: global digest\n\
                 Content-Type: multipart/mixed; boundary=digest-1"
            ),
            &format!(
                "--digest-1\nContent-Type: text/plain\n\nSee the global digest (RFC822) below.\n\
                 --digest-1\nContent-Type: message/rfc822\n\n{forwarded}\
                 --digest-1\nContent-Type: application/octet-stream; name=\"global.bin\"\n\
                 Content-Transfer-Encoding: base64\n\n{}\n--digest-1--\n",
                BASE64.encode(&payload)
            ),
        );
        let mail = read_ok(&raw);
        assert_eq!(mail.subject, "Fwd: global digest");
        assert_eq!(mail.text, "See the global digest (RFC822) below.");
        assert_eq!(mail.attachments.len(), 2);
        assert_eq!(mail.attachments[0].content_type, "message/rfc822");
        assert_eq!(mail.attachments[0].filename, "attachment-1");
        // The line end before a boundary belongs to the boundary.
        let forwarded = forwarded.trim_end().replace('\n', "\r\n");
        assert_eq!(mail.attachments[0].bytes, forwarded.as_bytes());
        assert_eq!(mail.attachments[1].filename, "global.bin");
        assert_eq!(mail.attachments[1].bytes, payload);
    }

    /// `depth` messages each wrapped in the next; mail-parser alone overflows the stack on this.
    fn nested(depth: usize) -> Vec<u8> {
        let mut raw = Vec::new();
        for _ in 0..depth {
            raw.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        }
        raw.extend_from_slice(b"From: alice@example.fr\r\n\r\nhello\r\n");
        raw
    }

    #[test]
    fn deeply_nested_messages_neither_overflow_the_stack_nor_leak_in() {
        let plain = [b"From: alice@example.fr\r\n".as_slice(), &nested(50_000)].concat();
        let mail = read_ok(&plain);
        assert_eq!(mail.attachments.len(), 1);
        assert_eq!(mail.text, "");
        let encoded = message(
            "From: alice@example.fr\nContent-Type: message/rfc822\n\
             Content-Transfer-Encoding: base64",
            &BASE64.encode(nested(5_000)),
        );
        let mail = read_ok(&encoded);
        assert_eq!(mail.attachments.len(), 1);
        assert_eq!(mail.attachments[0].bytes, nested(5_000));
    }

    #[test]
    fn a_truncated_multipart_message_is_dropped() {
        let whole = with_pdfs(2);
        assert!(parse(whole.as_bytes()).is_ok());
        let cut = &whole.as_bytes()[..whole.len() * 6 / 10];
        assert_eq!(parse(cut), Err(Dropped::Malformed("truncated_multipart")));
        // The outer part closes, the inner alternative never does.
        let inner_open = message(
            "From: alice@example.fr\nContent-Type: multipart/mixed; boundary=OUT",
            "--OUT\nContent-Type: multipart/alternative; boundary=IN\n\n\
             --IN\nContent-Type: text/plain\n\nhello\n--OUT--\n",
        );
        assert_eq!(
            parse(&inner_open),
            Err(Dropped::Malformed("truncated_multipart"))
        );
    }

    #[test]
    fn a_message_without_a_usable_sender_is_dropped() {
        let no_sender = Err(Dropped::Malformed("no_sender"));
        assert_eq!(
            parse(&message("To: support@softbrik.example", "x")),
            no_sender
        );
        assert_eq!(parse(&message("From: Alice", "x")), no_sender);
        assert_eq!(parse(&message("From: alice@localhost", "x")), no_sender);
        let second_is_fine = message("From: undisclosed-recipients:;, bob@example.fr", "x");
        assert_eq!(read_ok(&second_is_fine).from.as_str(), "bob@example.fr");
    }

    #[test]
    fn bytes_without_headers_are_dropped() {
        assert!(matches!(parse(b""), Err(Dropped::Malformed(_))));
        assert_eq!(
            parse(b"\r\n\r\nFrom: a@example.fr"),
            Err(Dropped::Malformed("no_headers"))
        );
        assert_eq!(
            parse(b"just words, no colon"),
            Err(Dropped::Malformed("no_headers"))
        );
    }

    #[test]
    fn a_mebibyte_of_noise_is_dropped() {
        let mut noise = vec![0; 1024 * 1024];
        StdRng::seed_from_u64(20_260_101).fill_bytes(&mut noise);
        assert!(matches!(parse(&noise), Err(Dropped::Malformed(_))));
        let mut noisy_body =
            b"From: alice@example.fr\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
                .to_vec();
        noisy_body.extend_from_slice(&noise);
        assert_eq!(
            parse(&noisy_body),
            Err(Dropped::Malformed("truncated_multipart"))
        );
    }

    #[test]
    fn a_message_over_ten_mebibytes_is_not_parsed() {
        let mut huge = message(ALICE, "x");
        huge.resize(MAX_MESSAGE_BYTES + 1, b'x');
        assert_eq!(
            parse(&huge),
            Err(Dropped::TooLarge {
                bytes: MAX_MESSAGE_BYTES + 1
            })
        );
        huge.truncate(MAX_MESSAGE_BYTES);
        assert!(parse(&huge).is_ok());
    }

    #[test]
    fn drop_reasons_are_snake_case_names() {
        assert_eq!(Dropped::TooLarge { bytes: 1 }.reason(), "too_large");
        assert_eq!(Dropped::Malformed("no_sender").reason(), "no_sender");
        assert_eq!(Dropped::ParserPanicked.reason(), "parser_panicked");
        assert_eq!(Automatic::EmptyReturnPath.as_str(), "empty_return_path");
        assert_eq!(Automatic::XAutoreply.as_str(), "x_autoreply");
    }
}
