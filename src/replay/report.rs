//! The replay report: a table for people, then one `key=value` line for scripts.

use std::fmt::Write as _;

use super::generator::{Mode, Stats};

/// The keys of the machine-readable line, in order. Scripts may rely on these names.
pub const KEYS: &[&str] = &[
    "sent",
    "received",
    "accepts",
    "rejects",
    "rewrites",
    "challenges",
    "timeouts",
    "invalid",
    "elapsed_s",
    "req_per_s",
    "p50_us",
    "p99_us",
    "p999_us",
    "acct_responses",
    "late",
    "retransmits",
    "skipped",
    "send_stalls",
    "outstanding",
    "max_us",
    "cpu_us_per_req",
    "ceiling_req_per_s",
];

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// The `key=value` line (no newline).
pub fn key_values(s: &Stats) -> String {
    let h = &s.latency;
    let values: [String; 22] = [
        s.sent.to_string(),
        s.received.to_string(),
        s.accepts.to_string(),
        s.rejects.to_string(),
        s.rewrites.to_string(),
        s.challenges.to_string(),
        s.timeouts.to_string(),
        s.invalid.to_string(),
        format!("{:.3}", s.elapsed.as_secs_f64()),
        format!("{:.0}", s.req_per_s()),
        format!("{:.0}", us(h.quantile(0.50))),
        format!("{:.0}", us(h.quantile(0.99))),
        format!("{:.0}", us(h.quantile(0.999))),
        s.acct_responses.to_string(),
        s.late.to_string(),
        s.retransmits.to_string(),
        s.skipped.to_string(),
        s.send_stalls.to_string(),
        s.outstanding.to_string(),
        format!("{:.0}", us(h.max())),
        format!("{:.2}", s.cpu_us_per_req()),
        format!("{:.0}", s.ceiling_req_per_s()),
    ];
    let mut out = String::new();
    for (k, v) in KEYS.iter().zip(values) {
        if !out.is_empty() {
            out.push(' ');
        }
        let _ = write!(out, "{k}={v}");
    }
    out
}

fn latency(ns: u64) -> String {
    if ns >= 10_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.0} us", us(ns))
    }
}

/// The human table (several lines, ending in a newline).
pub fn table(s: &Stats, server: &str, mode: Mode, sockets: usize) -> String {
    let mode = match mode {
        Mode::Window(w) => format!("closed loop, window {w}"),
        Mode::Rate(r) => format!("open loop, {r:.0} req/s"),
    };
    let plural = if sockets == 1 { "" } else { "s" };
    let mut out = format!("radcare replay to {server} ({mode}, {sockets} socket{plural})\n");
    let h = &s.latency;
    let rows: [(&str, String); 13] = [
        ("sent", s.sent.to_string()),
        (
            "received",
            format!(
                "{}  ({:.0} req/s over {:.3} s)",
                s.received,
                s.req_per_s(),
                s.elapsed.as_secs_f64()
            ),
        ),
        (
            "accepts",
            format!(
                "{}  (of which {} radcare walled-garden rewrites)",
                s.accepts, s.rewrites
            ),
        ),
        ("rejects", s.rejects.to_string()),
        ("challenges", s.challenges.to_string()),
        ("acct responses", s.acct_responses.to_string()),
        ("timeouts", s.timeouts.to_string()),
        ("invalid replies", s.invalid.to_string()),
        ("late replies", s.late.to_string()),
        ("retransmits", s.retransmits.to_string()),
        (
            "not sent",
            format!(
                "{} skipped (no free identifier), {} send stalls",
                s.skipped, s.send_stalls
            ),
        ),
        (
            "latency",
            format!(
                "p50 {}  p99 {}  p99.9 {}  max {}",
                latency(h.quantile(0.5)),
                latency(h.quantile(0.99)),
                latency(h.quantile(0.999)),
                latency(h.max())
            ),
        ),
        (
            "own cpu",
            format!(
                "{:.3} s, {:.2} us per reply (one core could drive {:.0} req/s)",
                s.cpu.as_secs_f64(),
                s.cpu_us_per_req(),
                s.ceiling_req_per_s()
            ),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "  {k:<16} {v}");
    }
    if s.outstanding > 0 {
        let _ = writeln!(out, "  {:<16} {}", "interrupted", s.outstanding);
    }
    out
}

/// Reads a `key=value` line back (for tests and scripts written in Rust).
pub fn parse_key_values(line: &str) -> Vec<(String, String)> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_line_with_every_key_in_order() {
        let mut s = Stats {
            sent: 10,
            received: 9,
            accepts: 8,
            rewrites: 1,
            rejects: 1,
            timeouts: 1,
            elapsed: Duration::from_millis(500),
            ..Stats::default()
        };
        s.latency.record(40_000);
        let line = key_values(&s);
        assert!(!line.contains('\n'));
        let kv = parse_key_values(&line);
        let keys: Vec<&str> = kv.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, KEYS);
        let get = |k: &str| kv.iter().find(|(n, _)| n == k).unwrap().1.clone();
        assert_eq!(get("received"), "9");
        assert_eq!(get("req_per_s"), "18");
        assert_eq!(get("elapsed_s"), "0.500");
        assert_eq!(get("p50_us"), "40");
        let t = table(&s, "127.0.0.1:1812", Mode::Window(64), 1);
        assert!(t.contains("closed loop, window 64, 1 socket)"), "{t}");
        assert!(
            t.contains("of which 1 radcare walled-garden rewrites"),
            "{t}"
        );
    }
}
