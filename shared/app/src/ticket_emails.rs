//! The words of the support desk's emails (support.md "Incident flow" and "Email to ticket"):
//! to the requester in the account's language (French, Danish, English), to unknown senders in
//! all three, and the support team's internal alerts in English, which carry only references,
//! ids, priority, target and times because they go to a shared mailbox.
//!
//! Placeholders are filled in one pass, so a `{…}` typed by a customer stays as typed.

use jiff::{SignedDuration, Timestamp};

use softbrik_domain::values::Language;

/// A subject and a text with `{…}` marks.
struct Template {
    subject: &'static str,
    text: &'static str,
}

/// The words of the requester's emails in one language; `{reference}`, `{subject}` and
/// `{body}` are filled in by [`requester_mail`].
struct TicketWords {
    hello: &'static str,
    signature: &'static str,
    /// Stands for an empty ticket subject, so that a subject line never ends on a colon.
    no_subject: &'static str,
    /// How to add to the ticket: the reference in brackets is what ticket-intake looks for.
    reply_hint: &'static str,
    opened: Template,
    updated: Template,
    workaround: Template,
    resolved: Template,
    closed: Template,
}

fn ticket_words(lang: Language) -> TicketWords {
    match lang {
        Language::Fr => TicketWords {
            hello: "Bonjour,",
            signature: "L'équipe support Softbrik",
            no_subject: "(sans objet)",
            reply_hint: "Vous pouvez répondre directement à cet e-mail en conservant [{reference}] \
                         dans l'objet : votre réponse sera ajoutée à la demande.",
            opened: Template {
                subject: "[{reference}] Votre demande a bien été reçue : {subject}",
                text: "Nous avons bien reçu votre demande « {subject} » et lui avons attribué \
                       le numéro de suivi {reference}.\n\n\
                       Un membre de l'équipe support va l'étudier et reviendra vers vous.",
            },
            updated: Template {
                subject: "[{reference}] Nouveau message sur votre demande : {subject}",
                text: "L'équipe support vous écrit au sujet de votre demande {reference} \
                       « {subject} » :\n\n{body}",
            },
            workaround: Template {
                subject: "[{reference}] Solution de contournement pour votre demande : {subject}",
                text: "En attendant la résolution définitive de votre demande {reference} \
                       « {subject} », l'équipe support vous propose la solution de \
                       contournement suivante :\n\n{body}\n\n\
                       Nous continuons à travailler sur une solution définitive et vous \
                       tiendrons au courant.",
            },
            resolved: Template {
                subject: "[{reference}] Votre demande est résolue : {subject}",
                text: "Votre demande {reference} « {subject} » est résolue :\n\n{body}\n\n\
                       Si tout fonctionne, vous pouvez confirmer la résolution dans le centre \
                       d'aide Softbrik. Sans réponse de votre part, la demande sera clôturée \
                       automatiquement 7 jours après sa résolution.\n\n\
                       Si le problème persiste, répondez à cet e-mail dans les 14 jours en \
                       conservant [{reference}] dans l'objet : votre réponse rouvrira la demande.",
            },
            closed: Template {
                subject: "[{reference}] Votre demande est clôturée : {subject}",
                text: "Votre demande {reference} « {subject} » est maintenant clôturée. \
                       Merci d'avoir fait appel au support Softbrik.\n\n\
                       Pour toute autre question, n'hésitez pas à ouvrir une nouvelle demande.",
            },
        },
        Language::Da => TicketWords {
            hello: "Hej,",
            signature: "Venlig hilsen\nSoftbrik Support",
            no_subject: "(intet emne)",
            reply_hint: "Du kan svare direkte på denne e-mail og beholde [{reference}] i \
                         emnefeltet. Så bliver dit svar føjet til sagen.",
            opened: Template {
                subject: "[{reference}] Vi har modtaget din henvendelse: {subject}",
                text: "Vi har modtaget din henvendelse »{subject}« og givet den sagsnummer \
                       {reference}.\n\n\
                       En medarbejder i supportteamet kigger på den og vender tilbage til dig.",
            },
            updated: Template {
                subject: "[{reference}] Ny besked om din henvendelse: {subject}",
                text: "Supportteamet skriver til dig om din henvendelse {reference} \
                       »{subject}«:\n\n{body}",
            },
            workaround: Template {
                subject: "[{reference}] Midlertidig løsning på din henvendelse: {subject}",
                text: "Indtil vi har en endelig løsning på din henvendelse {reference} \
                       »{subject}«, foreslår supportteamet denne midlertidige løsning:\n\n\
                       {body}\n\n\
                       Vi arbejder videre på en endelig løsning og holder dig orienteret.",
            },
            resolved: Template {
                subject: "[{reference}] Din henvendelse er løst: {subject}",
                text: "Din henvendelse {reference} »{subject}« er løst:\n\n{body}\n\n\
                       Hvis alt virker, kan du bekræfte løsningen i Softbriks hjælpecenter. \
                       Hører vi ikke fra dig, lukkes sagen automatisk 7 dage efter, at den \
                       er løst.\n\n\
                       Hvis problemet ikke er løst, så svar på denne e-mail inden for 14 dage \
                       og behold [{reference}] i emnefeltet. Så genåbner vi sagen.",
            },
            closed: Template {
                subject: "[{reference}] Din henvendelse er lukket: {subject}",
                text: "Din henvendelse {reference} »{subject}« er nu lukket. Tak, fordi du \
                       kontaktede Softbrik Support.\n\n\
                       Har du andre spørgsmål, er du velkommen til at oprette en ny henvendelse.",
            },
        },
        Language::En => TicketWords {
            hello: "Hello,",
            signature: "The Softbrik support team",
            no_subject: "(no subject)",
            reply_hint: "You can reply directly to this email, keeping [{reference}] in the \
                         subject: your reply will be added to the ticket.",
            opened: Template {
                subject: "[{reference}] We have received your request: {subject}",
                text: "We have received your request \"{subject}\" and given it the tracking \
                       number {reference}.\n\n\
                       A member of the support team will look into it and get back to you.",
            },
            updated: Template {
                subject: "[{reference}] New message about your request: {subject}",
                text: "The support team is writing to you about your request {reference} \
                       \"{subject}\":\n\n{body}",
            },
            workaround: Template {
                subject: "[{reference}] A workaround for your request: {subject}",
                text: "Until your request {reference} \"{subject}\" is fully resolved, the \
                       support team suggests this workaround:\n\n{body}\n\n\
                       We keep working on a permanent fix and will keep you informed.",
            },
            resolved: Template {
                subject: "[{reference}] Your request is resolved: {subject}",
                text: "Your request {reference} \"{subject}\" is resolved:\n\n{body}\n\n\
                       If everything works, you can confirm the resolution in the Softbrik \
                       help centre. Without a reply from you, the ticket closes automatically \
                       7 days after its resolution.\n\n\
                       If the problem persists, reply to this email within 14 days, keeping \
                       [{reference}] in the subject: your reply will reopen the ticket.",
            },
            closed: Template {
                subject: "[{reference}] Your request is closed: {subject}",
                text: "Your request {reference} \"{subject}\" is now closed. Thank you for \
                       contacting Softbrik support.\n\n\
                       If you have another question, feel free to open a new request.",
            },
        },
    }
}

/// To the requester when a ticket is opened (from the web, chat, phone or email): the
/// tracking number, that the team will come back to them, and that replies to this email are
/// added to the ticket. It does not acknowledge the ticket (support.md): no time is promised.
pub fn ticket_opened(lang: Language, reference: &str, subject: &str) -> (String, String) {
    requester_mail(lang, |w| &w.opened, true, reference, subject, "")
}

/// To the requester on each public message of the support team; `body` is the message.
pub fn ticket_updated(
    lang: Language,
    reference: &str,
    subject: &str,
    body: &str,
) -> (String, String) {
    requester_mail(lang, |w| &w.updated, true, reference, subject, body)
}

/// To the requester when the team proposes a workaround (`body`).
pub fn ticket_workaround(
    lang: Language,
    reference: &str,
    subject: &str,
    body: &str,
) -> (String, String) {
    requester_mail(lang, |w| &w.workaround, true, reference, subject, body)
}

/// To the requester when the ticket is resolved: the resolution (`body`), how to confirm or
/// reopen (reply within 14 days), and that it closes automatically 7 days after resolution
/// without a reply.
pub fn ticket_resolved(
    lang: Language,
    reference: &str,
    subject: &str,
    body: &str,
) -> (String, String) {
    requester_mail(lang, |w| &w.resolved, false, reference, subject, body)
}

/// To the requester when it closes (confirmed by the customer, or automatically 7 days after
/// resolution).
pub fn ticket_closed(lang: Language, reference: &str, subject: &str) -> (String, String) {
    requester_mail(lang, |w| &w.closed, false, reference, subject, "")
}

/// Fills one of the requester's templates between greeting and signature; `with_reply_hint`
/// adds how to answer into the ticket (resolved says it in its own words, closed not at all).
fn requester_mail(
    lang: Language,
    template: fn(&TicketWords) -> &Template,
    with_reply_hint: bool,
    reference: &str,
    subject: &str,
    body: &str,
) -> (String, String) {
    let words = ticket_words(lang);
    let reference = one_line(reference);
    let subject = ticket_subject(subject);
    let subject = if subject.is_empty() {
        words.no_subject
    } else {
        &subject
    };
    let values = [
        ("reference", reference.as_str()),
        ("subject", subject),
        ("body", body.trim()),
    ];
    let template = template(&words);
    let mut text = format!("{}\n\n{}\n\n", words.hello, fill(template.text, &values));
    if with_reply_hint {
        text.push_str(&fill(words.reply_hint, &values));
        text.push_str("\n\n");
    }
    text.push_str(words.signature);
    text.push('\n');
    (fill(template.subject, &values), text)
}

/// To an unknown sender: no ticket was opened; write from the address registered with
/// Softbrik. The language is unknown, so the text says it in English, French and Danish.
/// The original subject is quoted shortened: the sender may be forged, and this reply must
/// not carry someone else's text to them in full.
pub fn unknown_sender(original_subject: &str) -> (String, String) {
    let quoted = shortened(&ticket_subject(original_subject), 80);
    let subject = "Softbrik support: please write from your registered address / \
                   merci d'écrire depuis votre adresse enregistrée / \
                   skriv venligst fra din registrerede adresse";
    let text = "Hello,\n\n\
        We received your message \"{subject}\", but we could not match the address you wrote \
        from to a Softbrik account, so no ticket was opened. Please send your message again \
        from the email address registered with your Softbrik account.\n\n\
        The Softbrik support team\n\n\
        ---\n\n\
        Bonjour,\n\n\
        Nous avons reçu votre message « {subject} », mais l'adresse depuis laquelle vous nous \
        avez écrit ne correspond à aucun compte Softbrik : aucune demande n'a donc été ouverte. \
        Merci de nous renvoyer votre message depuis l'adresse e-mail enregistrée sur votre \
        compte Softbrik.\n\n\
        L'équipe support Softbrik\n\n\
        ---\n\n\
        Hej,\n\n\
        Vi har modtaget din besked »{subject}«, men den adresse, du skrev fra, hører ikke til \
        nogen Softbrik-konto, så der er ikke oprettet en sag. Send venligst din besked igen \
        fra den e-mailadresse, der er registreret på din Softbrik-konto.\n\n\
        Venlig hilsen\nSoftbrik Support\n";
    (subject.to_string(), fill(text, &[("subject", &quoted)]))
}

/// To the support team (English, internal): target `target` ("acknowledge", "workaround",
/// "resolution") of ticket `reference` was due at `due_at` (RFC 3339) and is breached.
pub fn breach_alert(
    reference: &str,
    priority: &str,
    plan: &str,
    account_id: &str,
    target: &str,
    due_at: &str,
) -> (String, String) {
    let subject = "SLA breached: {target} of {reference} ({priority}, {plan})";
    let text = "The {target} target of ticket {reference} was due at {due_at} and is breached.\n\n\
        Ticket: {reference}\nPriority: {priority}\nPlan: {plan}\nAccount: {account_id}\n\
        Target: {target}\nDue at: {due_at}\n\n\
        Please handle the ticket now.\n";
    let values = internal_values(&[
        ("reference", reference),
        ("priority", priority),
        ("plan", plan),
        ("account_id", account_id),
        ("target", target),
        ("due_at", due_at),
    ]);
    internal_mail(subject, text, &values)
}

/// To the support team (English, internal): a P1 ticket without workaround has had no public
/// update for 2 hours since `last_update_at` (RFC 3339); the customer must get one now
/// (support.md "Incident flow", step 3). The due time is `last_update_at` plus 2 hours, shown
/// in UTC; it is left out if `last_update_at` does not parse.
pub fn update_due_alert(
    reference: &str,
    account_id: &str,
    last_update_at: &str,
) -> (String, String) {
    let due_at = last_update_at
        .trim()
        .parse::<Timestamp>()
        .ok()
        .and_then(|at| at.checked_add(SignedDuration::from_hours(2)).ok())
        .map(|due| due.to_string());
    let subject = "P1 update overdue: {reference}, no public update since {last_update_at}";
    let mut text = String::from(
        "P1 ticket {reference} has no workaround yet and no public update since \
         {last_update_at}. The customer must get a public update now, then at least every \
         2 hours until a workaround is in place.\n\n\
         Ticket: {reference}\nPriority: P1\nAccount: {account_id}\n\
         Last public update: {last_update_at}\n",
    );
    if due_at.is_some() {
        text.push_str("Update overdue since: {due_at}\n");
    }
    let values = internal_values(&[
        ("reference", reference),
        ("account_id", account_id),
        ("last_update_at", last_update_at),
        ("due_at", due_at.as_deref().unwrap_or_default()),
    ]);
    internal_mail(subject, &text, &values)
}

/// To the support team (English, internal): a new security report (vulnerability disclosure
/// channel) to acknowledge within 24 business hours. Its content stays in the ticket.
pub fn security_report_alert(reference: &str) -> (String, String) {
    let subject = "New security report {reference}: acknowledge within 24 business hours";
    let text = "A new security report came in through the vulnerability disclosure channel: \
        ticket {reference}.\n\n\
        It must be acknowledged within 24 business hours. Read it in the ticket, not in a \
        forwarded copy.\n";
    let values = internal_values(&[("reference", reference)]);
    internal_mail(subject, text, &values)
}

/// Internal alerts carry the reference bare, not in brackets: a reply or forward of an alert
/// to the support address must not be taken by ticket-intake as mail about the ticket.
fn internal_values<'a>(values: &[(&'a str, &str)]) -> Vec<(&'a str, String)> {
    values
        .iter()
        .map(|(name, value)| (*name, one_line(value)))
        .collect()
}

fn internal_mail(subject: &str, text: &str, values: &[(&str, String)]) -> (String, String) {
    let values: Vec<(&str, &str)> = values.iter().map(|(k, v)| (*k, v.as_str())).collect();
    (fill(subject, &values), fill(text, &values))
}

/// Replaces each `{name}` of `template` with its value, in one pass: a value that contains a
/// `{…}` of its own (a customer's subject, a message) is copied as it is, never filled in.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let mark = &rest[start..];
        let found = mark.find('}').and_then(|end| {
            let name = &mark[1..end];
            values
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (end, *value))
        });
        match found {
            Some((end, value)) => {
                out.push_str(value);
                rest = &mark[end + 1..];
            }
            None => {
                out.push('{');
                rest = &mark[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A ticket's subject as it may appear in our mail: on one line (a line break in a subject
/// header would start a new header), without any `[SB-T-…]` it carried, so that only this
/// ticket's reference is in brackets and a reply cannot be filed under another ticket.
fn ticket_subject(subject: &str) -> String {
    let mut out = String::with_capacity(subject.len());
    let mut rest = subject;
    while let Some(start) = find_ascii_case_insensitive(rest, "[SB-T-") {
        let tail = &rest[start + "[SB-T-".len()..];
        let digits = tail.len() - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 && tail[digits..].starts_with(']') {
            out.push_str(&rest[..start]);
            rest = &tail[digits + 1..];
        } else {
            out.push_str(&rest[..start + 1]);
            rest = &rest[start + 1..];
        }
    }
    out.push_str(rest);
    one_line(&out)
}

fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Any run of whitespace, line breaks included, as one space; trimmed.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn shortened(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max_chars - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF: &str = "SB-T-000123";
    const SUBJECT: &str = "Export CSV vide";
    const BODY: &str = "Please clear the cache and export again.";

    /// Every requester email, for one language: (name, subject, text).
    fn requester_mails(lang: Language) -> Vec<(&'static str, String, String)> {
        let mails = [
            ("opened", ticket_opened(lang, REF, SUBJECT)),
            ("updated", ticket_updated(lang, REF, SUBJECT, BODY)),
            ("workaround", ticket_workaround(lang, REF, SUBJECT, BODY)),
            ("resolved", ticket_resolved(lang, REF, SUBJECT, BODY)),
            ("closed", ticket_closed(lang, REF, SUBJECT)),
        ];
        mails
            .into_iter()
            .map(|(name, (subject, text))| (name, subject, text))
            .collect()
    }

    #[test]
    fn every_requester_subject_starts_with_the_reference_in_brackets_and_names_the_ticket() {
        for lang in Language::ALL {
            for (name, subject, text) in requester_mails(lang) {
                assert!(
                    subject.starts_with("[SB-T-000123] "),
                    "{lang:?} {name}: {subject}"
                );
                assert!(subject.ends_with(SUBJECT), "{lang:?} {name}: {subject}");
                assert!(text.contains(REF), "{lang:?} {name}: {text}");
                assert!(text.contains(SUBJECT), "{lang:?} {name}: {text}");
                assert!(
                    !text.contains('{') && !subject.contains('{'),
                    "{name}: {text}"
                );
            }
        }
    }

    #[test]
    fn requester_mail_speaks_the_account_language_with_its_greeting_and_signature() {
        for (name, _, text) in requester_mails(Language::Fr) {
            assert!(text.starts_with("Bonjour,\n\n"), "{name}: {text}");
            assert!(
                text.ends_with("L'équipe support Softbrik\n"),
                "{name}: {text}"
            );
        }
        for (name, _, text) in requester_mails(Language::Da) {
            assert!(text.starts_with("Hej,\n\n"), "{name}: {text}");
            assert!(
                text.ends_with("Venlig hilsen\nSoftbrik Support\n"),
                "{name}: {text}"
            );
        }
        for (name, _, text) in requester_mails(Language::En) {
            assert!(text.starts_with("Hello,\n\n"), "{name}: {text}");
            assert!(
                text.ends_with("The Softbrik support team\n"),
                "{name}: {text}"
            );
        }
    }

    #[test]
    fn the_opening_mail_gives_the_tracking_number_and_says_replies_join_the_ticket() {
        let (subject, text) = ticket_opened(Language::Fr, REF, SUBJECT);
        assert_eq!(
            subject,
            "[SB-T-000123] Votre demande a bien été reçue : Export CSV vide"
        );
        assert!(text.contains("numéro de suivi SB-T-000123"), "{text}");
        assert!(text.contains("reviendra vers vous"), "{text}");
        assert!(
            text.contains("votre réponse sera ajoutée à la demande"),
            "{text}"
        );
        let (_, da) = ticket_opened(Language::Da, REF, SUBJECT);
        assert!(da.contains("sagsnummer SB-T-000123"), "{da}");
        assert!(da.contains("føjet til sagen"), "{da}");
        let (_, en) = ticket_opened(Language::En, REF, SUBJECT);
        assert!(en.contains("tracking number SB-T-000123"), "{en}");
        assert!(en.contains("added to the ticket"), "{en}");
    }

    #[test]
    fn updates_workarounds_and_resolutions_carry_the_team_message() {
        for lang in Language::ALL {
            for (name, _, text) in requester_mails(lang) {
                let carries_body = matches!(name, "updated" | "workaround" | "resolved");
                assert_eq!(text.contains(BODY), carries_body, "{lang:?} {name}: {text}");
            }
        }
    }

    #[test]
    fn the_resolution_mail_says_how_to_reopen_within_14_days_and_the_close_after_7() {
        let texts = [
            (Language::Fr, "7 jours", "14 jours"),
            (Language::Da, "7 dage", "14 dage"),
            (Language::En, "7 days", "14 days"),
        ];
        for (lang, close, reopen) in texts {
            let (_, text) = ticket_resolved(lang, REF, SUBJECT, BODY);
            assert!(text.contains(close), "{lang:?}: {text}");
            assert!(text.contains(reopen), "{lang:?}: {text}");
            assert!(text.contains("[SB-T-000123]"), "{lang:?}: {text}");
        }
    }

    #[test]
    fn another_tickets_reference_in_the_subject_is_dropped() {
        let (subject, text) = ticket_opened(Language::En, REF, "Re: [sb-t-000999] Export [x]");
        assert_eq!(
            subject,
            "[SB-T-000123] We have received your request: Re: Export [x]"
        );
        assert!(!text.to_ascii_lowercase().contains("000999"), "{text}");
    }

    #[test]
    fn a_subject_stays_on_one_line_and_an_empty_one_reads_as_no_subject() {
        let (subject, _) = ticket_updated(Language::Fr, REF, "a\r\nBcc: x@y.z", BODY);
        assert_eq!(
            subject,
            "[SB-T-000123] Nouveau message sur votre demande : a Bcc: x@y.z"
        );
        let (subject, _) = ticket_closed(Language::Da, REF, "  ");
        assert_eq!(
            subject,
            "[SB-T-000123] Din henvendelse er lukket: (intet emne)"
        );
    }

    #[test]
    fn braces_typed_by_the_customer_are_not_filled_in() {
        let (subject, text) = ticket_updated(Language::En, REF, "{body} {reference}", "{subject}");
        assert!(subject.ends_with(": {body} {reference}"), "{subject}");
        assert!(text.contains("\n\n{subject}\n\n"), "{text}");
    }

    #[test]
    fn an_unknown_sender_is_told_in_three_languages_that_no_ticket_was_opened() {
        let (subject, text) = unknown_sender("Facture introuvable");
        assert!(subject.starts_with("Softbrik support: please write from your registered"));
        assert!(subject.contains("merci d'écrire") && subject.contains("skriv venligst"));
        assert!(text.starts_with("Hello,"), "{text}");
        assert!(text.contains("no ticket was opened"), "{text}");
        assert!(
            text.contains("Bonjour,") && text.contains("aucune demande"),
            "{text}"
        );
        assert!(
            text.contains("Hej,") && text.contains("ikke oprettet en sag"),
            "{text}"
        );
        assert!(text.contains("« Facture introuvable »"), "{text}");
        assert!(!text.contains('{') && !text.contains("SB-T-"), "{text}");
    }

    #[test]
    fn an_unknown_senders_subject_is_quoted_short() {
        let long = "spam ".repeat(100);
        let (_, text) = unknown_sender(&long);
        assert!(!text.contains(long.trim()), "{text}");
        assert!(text.contains("spam spam…"), "{text}");
    }

    #[test]
    fn a_breach_alert_names_the_ticket_target_and_due_time_only() {
        let (subject, text) = breach_alert(
            REF,
            "P1",
            "enterprise",
            "acc_42",
            "workaround",
            "2026-03-10T14:00:00Z",
        );
        assert_eq!(
            subject,
            "SLA breached: workaround of SB-T-000123 (P1, enterprise)"
        );
        for expected in [REF, "P1", "enterprise", "acc_42", "2026-03-10T14:00:00Z"] {
            assert!(text.contains(expected), "{expected}: {text}");
        }
        assert!(
            !subject.contains('[') && !text.contains('['),
            "{subject} {text}"
        );
        assert!(!subject.contains(SUBJECT) && !text.contains(SUBJECT));
    }

    #[test]
    fn a_p1_update_alert_gives_the_last_update_and_when_the_next_was_due() {
        let (subject, text) = update_due_alert(REF, "acc_42", "2026-03-10T12:00:00+01:00");
        assert!(subject.contains(REF), "{subject}");
        assert!(text.contains("acc_42"), "{text}");
        assert!(
            text.contains("Last public update: 2026-03-10T12:00:00+01:00"),
            "{text}"
        );
        assert!(
            text.contains("Update overdue since: 2026-03-10T13:00:00Z"),
            "{text}"
        );
        assert!(!subject.contains(SUBJECT) && !text.contains(SUBJECT));
        let (_, unparsed) = update_due_alert(REF, "acc_42", "yesterday");
        assert!(!unparsed.contains("overdue since"), "{unparsed}");
        assert!(!unparsed.contains('{'), "{unparsed}");
    }

    #[test]
    fn a_security_report_alert_asks_for_acknowledgement_within_24_business_hours() {
        let (subject, text) = security_report_alert("SB-T-000124");
        assert!(subject.contains("SB-T-000124"), "{subject}");
        assert!(text.contains("SB-T-000124"), "{text}");
        assert!(text.contains("24 business hours"), "{text}");
        assert!(!subject.contains(SUBJECT) && !text.contains(SUBJECT));
    }
}
