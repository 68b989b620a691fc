//! Fuzzing the inbound mail parser (support.md "Email to ticket": a malformed message never
//! crashes the function). Whatever the bytes, arbitrary or a real multipart message cut, flipped
//! or spliced with noise, `inbound::parse` returns: it never panics, never reports that
//! mail-parser panicked (it survives that, but it would be a bug to look at), and a message
//! it keeps has an id and stays within the limits.
//!
//! Each property runs 512 cases by default, so the file takes about ten seconds in the debug
//! profile; set INBOUND_FUZZ_CASES for a longer run, e.g.
//! `INBOUND_FUZZ_CASES=20000 cargo test -p softbrik --release --test inbound_fuzz`.

use proptest::prelude::*;
use softbrik::inbound::{self, Dropped, MAX_ATTACHMENTS, MAX_TEXT_CHARS};

fn config() -> ProptestConfig {
    let cases = std::env::var("INBOUND_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(512);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// A message as a mail client sends it: alternative text and HTML, a forwarded message, a
/// base64 attachment, an RFC 2047 subject.
const SAMPLE: &str = "Return-Path: <alice@example.fr>\r\n\
From: Alice Martin <alice@example.fr>\r\n\
To: support@softbrik.example\r\n\
Subject: =?UTF-8?Q?Re=3A_=5BSB-T-000123=5D_Imprimante_bloqu=C3=A9e?=\r\n\
Message-ID: <m1@example.fr>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
--outer\r\n\
Content-Type: multipart/alternative; boundary=\"inner\"\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
L'imprimante ne r=C3=A9pond plus.\r\n\
--inner\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>L'imprimante ne r&eacute;pond plus.</p>\r\n\
--inner--\r\n\
--outer\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
From: bob@example.fr\r\n\
Subject: global digest\r\n\
\r\n\
Forwarded.\r\n\
--outer\r\n\
Content-Type: application/pdf; name=\"facture.pdf\"\r\n\
Content-Disposition: attachment; filename=\"facture.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSPj4Kc3RyZWFtCg==\r\n\
--outer--\r\n";

fn check(raw: &[u8]) -> Result<(), TestCaseError> {
    match inbound::parse(raw) {
        Ok(mail) => {
            prop_assert!(!mail.message_id.is_empty());
            prop_assert!(mail.attachments.len() <= MAX_ATTACHMENTS);
            prop_assert!(mail.text.chars().count() <= MAX_TEXT_CHARS);
        }
        Err(dropped) => prop_assert_ne!(dropped, Dropped::ParserPanicked),
    }
    Ok(())
}

/// The sample, changed in one of three ways: cut at any point, some bytes flipped, or noise
/// spliced in at any point.
fn mutated_sample() -> impl Strategy<Value = Vec<u8>> {
    let len = SAMPLE.len();
    let cut = (0..=len).prop_map(|end| SAMPLE.as_bytes()[..end].to_vec());
    let flipped = prop::collection::vec((0..len, any::<u8>()), 1..16).prop_map(|flips| {
        let mut raw = SAMPLE.as_bytes().to_vec();
        for (at, byte) in flips {
            raw[at] = byte;
        }
        raw
    });
    let spliced = (0..=len, 0..=len, prop::collection::vec(any::<u8>(), 0..512)).prop_map(
        |(start, end, noise)| {
            let (start, end) = (start.min(end), start.max(end));
            let mut raw = SAMPLE.as_bytes().to_vec();
            raw.splice(start..end, noise);
            raw
        },
    );
    prop_oneof![cut, flipped, spliced]
}

#[test]
fn the_sample_is_read_whole() {
    let mail = inbound::parse(SAMPLE.as_bytes()).expect("the sample is a valid message");
    assert_eq!(mail.ticket_number, Some(123));
    assert_eq!(mail.text, "L'imprimante ne répond plus.");
    let names: Vec<_> = mail
        .attachments
        .iter()
        .map(|a| a.filename.as_str())
        .collect();
    assert_eq!(names, ["attachment-1", "facture.pdf"]);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_never_break_the_parser(raw in prop::collection::vec(any::<u8>(), 0..65537)) {
        check(&raw)?;
    }

    #[test]
    fn a_damaged_message_never_breaks_the_parser(raw in mutated_sample()) {
        check(&raw)?;
    }
}
