//! How long refusing a body takes, by its shape (security.md "Bad input": every scan of input
//! runs in time linear in its size, so a 64 KiB body of any shape is refused about as fast as
//! a small one). Each body goes through what every handler does first (`http::json_body`:
//! size, JSON, the card-number scan), on the largest body a handler reads (64 KiB); the time
//! is the median of repeated runs, beside a small bad body's. Measured, never asserted: run by
//! `make bench`, figures in docs/reliability.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use lambda_http::{Body, Request};
use softbrik::card_number::looks_like_card_number;
use softbrik::http::json_body;

const SIZE: usize = 64 * 1024 - 16;

fn request(body: String) -> Request {
    Request::new(Body::Text(body))
}

/// A JSON string whose content repeats `unit` up to the body limit.
fn string_of(unit: &str) -> String {
    format!("{{\"name\": \"{}\"}}", unit.repeat(SIZE / unit.len()))
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn time(body: &str, runs: usize) -> Duration {
    let req = request(body.to_string());
    median(
        (0..runs)
            .map(|_| {
                let start = Instant::now();
                let _ = black_box(json_body::<serde_json::Value>(&req));
                start.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let small = time(r#"{"name": 4242424242424241}"#, 201);
    println!("# Input scan: a 64 KiB body refused, against a small bad body\n");
    println!("| body | median | ratio to the small body's |\n|---|---|---|");
    println!("| small bad body (26 bytes) | {small:?} | 1 |");
    let shapes = [
        ("digits and spaces, \"1 1 1 ...\"", string_of("1 ")),
        ("digits and dashes, \"1-1-1-...\"", string_of("1-")),
        ("groups of four, \"4242 4242 ...\"", string_of("4242 ")),
        ("one run of digits", string_of("7")),
        ("letters", string_of("a")),
        ("text with numbers", string_of("ref 12 34, ")),
        (
            "an array of numbers",
            format!("[{}1]", "1,".repeat(SIZE / 2 - 4)),
        ),
    ];
    for (name, body) in shapes {
        let t = time(&body, 21);
        let ratio = t.as_secs_f64() / small.as_secs_f64();
        println!("| {name} ({} bytes) | {t:?} | {ratio:.0} |", body.len());
    }
    // The scan on its own, on the shape that was quadratic: per byte, small against large.
    let per_byte = |n: usize| {
        let text = "1 ".repeat(n / 2);
        let t = median(
            (0..21)
                .map(|_| {
                    let start = Instant::now();
                    black_box(looks_like_card_number(black_box(&text)));
                    start.elapsed()
                })
                .collect(),
        );
        t.as_secs_f64() * 1e9 / n as f64
    };
    println!(
        "\nThe scan alone on \"1 1 1 ...\": {:.1} ns a byte at 1 KiB, {:.1} at 64 KiB (linear: about the same)",
        per_byte(1024),
        per_byte(64 * 1024)
    );
}
