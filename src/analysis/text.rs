//! A report as aligned text tables, for a terminal.

use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

use super::Report;
use crate::wire::ether::mac_string;

/// A table: left-aligned text columns, right-aligned numbers.
struct Table {
    head: Vec<&'static str>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns as (heading, right-aligned).
    fn new(cols: &[(&'static str, bool)]) -> Table {
        Table {
            head: cols.iter().map(|c| c.0).collect(),
            right: cols.iter().map(|c| c.1).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn write(&self, out: &mut String) {
        let heading: Vec<String> = self.head.iter().map(|h| (*h).to_owned()).collect();
        let lines: Vec<&Vec<String>> = std::iter::once(&heading).chain(&self.rows).collect();
        let mut widths = vec![0; self.head.len()];
        for l in &lines {
            for (w, c) in widths.iter_mut().zip(l.iter()) {
                *w = (*w).max(c.chars().count());
            }
        }
        for l in lines {
            let mut line = String::from(" ");
            for ((c, w), right) in l.iter().zip(&widths).zip(&self.right) {
                line.push(' ');
                if *right {
                    let _ = write!(line, "{c:>w$}");
                } else {
                    let _ = write!(line, "{c:<w$}");
                }
                line.push(' ');
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

/// A user name as one word: quoted when empty or holding spaces or control characters.
fn word(s: &str) -> String {
    if s.is_empty() || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
        format!("{s:?}")
    } else {
        s.to_owned()
    }
}

/// Free text on one line: control characters escaped.
fn line(s: &str) -> String {
    if s.chars().any(char::is_control) {
        format!("{s:?}")
    } else {
        s.to_owned()
    }
}

/// A capture timestamp (seconds since the epoch) in RFC 3339, UTC.
fn time(secs: f64) -> String {
    // Past the year 9999 RFC 3339 has no notation (and a corrupt capture can say so).
    const YEAR_10000: f64 = 253_402_300_800.0;
    if !(1.0e9..YEAR_10000).contains(&secs) {
        // Not a wall-clock time: no timestamps, a relative origin, or nonsense.
        return format!("{secs:.3} s");
    }
    let t = UNIX_EPOCH + Duration::from_secs_f64(secs);
    humantime::format_rfc3339_millis(t).to_string()
}

fn section(out: &mut String, title: &str) {
    out.push('\n');
    out.push_str(title);
    out.push('\n');
}

pub(super) fn render(r: &Report) -> String {
    let mut out = String::new();
    let mut t = Table::new(&[("", false), ("", false)]);
    if let Some(s) = &r.source {
        t.row(vec!["source".into(), s.clone()]);
    }
    if let (Some(f), Some(l)) = (r.span.first_seen, r.span.last_seen) {
        t.row(vec![
            "span".into(),
            format!("{} .. {} ({:.1} s)", time(f), time(l), r.span.seconds),
        ]);
    }
    let links: Vec<String> = r
        .span
        .link_types
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    t.row(vec!["link types".into(), links.join(", ")]);
    let f = &r.frames;
    t.row(vec![
        "frames".into(),
        format!(
            "{} (radius {}, pppoe {}, ip fragments {}, unparseable {}, unsupported link {}, other {})",
            f.frames, f.radius, f.pppoe, f.ip_fragments, f.unparseable, f.unsupported_link, f.other
        ),
    ]);
    if let Some(e) = &r.error {
        t.row(vec!["stopped early".into(), e.clone()]);
    }
    // Drop the empty heading line of this key/value table.
    let mut kv = String::new();
    t.write(&mut kv);
    out.extend(kv.lines().skip(1).map(|l| format!("{}\n", l.trim_start())));

    let c = &r.radius.counts;
    section(&mut out, "RADIUS");
    if c.packets == 0 && c.malformed == 0 {
        out.push_str("  (no RADIUS packets)\n");
    } else {
        radius(&mut out, r);
    }
    pppoe(&mut out, r);
    out
}

fn radius(out: &mut String, r: &Report) {
    let c = &r.radius.counts;
    let mut t = Table::new(&[("", false), ("", true)]);
    let rows: [(&str, u64); 14] = [
        ("access requests", c.access_requests),
        ("accepts", c.accepts),
        ("rejects", c.rejects),
        ("challenges", c.challenges),
        ("accounting requests", c.accounting_requests),
        ("accounting responses", c.accounting_responses),
        ("other", c.other),
        ("retransmissions", c.retransmissions),
        ("unanswered", c.unanswered),
        ("unmatched replies", c.unmatched_replies),
        ("duplicate replies", c.duplicate_replies),
        ("malformed", c.malformed),
        ("would-be rewrites", c.would_be_rewrites),
        ("blocked by auth method", c.blocked_by_auth_method),
    ];
    for (k, v) in rows {
        t.row(vec![k.into(), v.to_string()]);
    }
    t.row(vec![
        "invalid".into(),
        if r.radius.verified {
            c.invalid.to_string()
        } else {
            "-".into()
        },
    ]);
    let mut kv = String::new();
    t.write(&mut kv);
    out.extend(kv.lines().skip(1).map(|l| format!("{l}\n")));
    if !r.radius.verified {
        out.push_str("  (authenticators not checked: give --secret)\n");
    }

    section(out, "Rejects per cause");
    if r.radius.rejects_by_cause.is_empty() {
        out.push_str("  (none)\n");
    } else {
        let mut t = Table::new(&[
            ("CAUSE", false),
            ("ACTION", false),
            ("REJECTS", true),
            ("WOULD REWRITE", true),
        ]);
        for cc in &r.radius.rejects_by_cause {
            t.row(vec![
                cc.cause.clone(),
                cc.action.into(),
                cc.rejects.to_string(),
                cc.would_be_rewrites.to_string(),
            ]);
        }
        t.write(out);
    }

    section(
        out,
        &format!(
            "Top rejected users ({} of {})",
            r.radius.top_rejected_users.len(),
            r.radius.rejected_users
        ),
    );
    if r.radius.top_rejected_users.is_empty() {
        out.push_str("  (none)\n");
    } else {
        let mut t = Table::new(&[
            ("USER", false),
            ("REJECTS", true),
            ("LAST CAUSE", false),
            ("LAST REASON", false),
        ]);
        for u in &r.radius.top_rejected_users {
            t.row(vec![
                word(&u.user),
                u.rejects.to_string(),
                u.last_cause.clone(),
                line(&u.last_reason),
            ]);
        }
        t.write(out);
    }

    section(
        out,
        &format!(
            "Redials after a reject ({} of {} users)",
            r.radius.redials.len(),
            r.radius.redialling_users
        ),
    );
    if r.radius.redials.is_empty() {
        out.push_str("  (none)\n");
    } else {
        let mut t = Table::new(&[
            ("USER", false),
            ("REDIALS", true),
            ("MIN S", true),
            ("MEDIAN S", true),
        ]);
        for d in &r.radius.redials {
            t.row(vec![
                word(&d.user),
                d.redials.to_string(),
                format!("{:.3}", d.min_seconds),
                format!("{:.3}", d.median_seconds),
            ]);
        }
        t.write(out);
    }
}

fn pppoe(out: &mut String, r: &Report) {
    let p = &r.pppoe.totals;
    section(out, "PPPoE");
    if p.frames == 0 {
        out.push_str("  (no PPPoE frames)\n");
        return;
    }
    let mut t = Table::new(&[("", false), ("", true)]);
    let rows: [(&str, u64); 12] = [
        ("frames", p.frames),
        ("subscribers", r.pppoe.subscribers as u64),
        ("PADI (dial attempts)", p.padi),
        ("PADO", p.pado),
        ("PADR", p.padr),
        ("PADS", p.pads),
        ("PADT", p.padt),
        ("LCP", p.lcp),
        ("auth requests", p.auth_requests),
        ("auth failures", p.failures),
        ("auth successes", p.successes),
        ("malformed", p.malformed),
    ];
    // Only a capture of more MACs than the table holds sheds any: no line otherwise.
    let shed = (p.subscribers_shed > 0).then_some(("subscribers shed", p.subscribers_shed));
    for (k, v) in rows.into_iter().chain(shed) {
        t.row(vec![k.into(), v.to_string()]);
    }
    let mut kv = String::new();
    t.write(&mut kv);
    out.extend(kv.lines().skip(1).map(|l| format!("{l}\n")));

    if !r.pppoe.top_offenders.is_empty() {
        section(
            out,
            &format!(
                "Top dialling subscribers ({} of {})",
                r.pppoe.top_offenders.len(),
                r.pppoe.subscribers
            ),
        );
        let mut t = Table::new(&[
            ("MAC", false),
            ("ATTEMPTS", true),
            ("PER MIN", true),
            ("PEAK/MIN", true),
            ("AUTH REQ", true),
            ("FAILURES", true),
            ("SUCCESSES", true),
            ("LAST SEEN", false),
        ]);
        for o in &r.pppoe.top_offenders {
            t.row(vec![
                mac_string(&o.mac),
                o.attempts.to_string(),
                format!("{:.1}", o.attempts_per_minute),
                o.peak_per_minute.to_string(),
                o.auth_requests.to_string(),
                o.failures.to_string(),
                o.successes.to_string(),
                time(o.last_seen),
            ]);
        }
        t.write(out);

        // The busiest minutes, in time order.
        let mut minutes = r.pppoe.per_minute.clone();
        let total = minutes.len();
        minutes.sort_by(|a, b| b.attempts.cmp(&a.attempts).then(a.minute.cmp(&b.minute)));
        minutes.truncate(r.pppoe.top_offenders.len().max(10));
        minutes.sort_by_key(|m| m.minute);
        section(
            out,
            &format!(
                "Dial attempts per minute (busiest {} of {})",
                minutes.len(),
                total
            ),
        );
        let mut t = Table::new(&[
            ("MINUTE", false),
            ("ATTEMPTS", true),
            ("AUTH REQ", true),
            ("FAILURES", true),
        ]);
        for m in &minutes {
            t.row(vec![
                time(m.minute as f64),
                m.attempts.to_string(),
                m.auth_requests.to_string(),
                m.failures.to_string(),
            ]);
        }
        t.write(out);
    }
}

#[cfg(test)]
mod tests {
    use super::time;

    #[test]
    fn times_out_of_range_are_seconds() {
        assert_eq!(time(1_760_000_000.5), "2025-10-09T08:53:20.500Z");
        assert_eq!(time(12.0), "12.000 s");
        // Found by fuzzing: a corrupt timestamp past the year 9999.
        assert_eq!(time(3.0e11), "300000000000.000 s");
        assert_eq!(time(u64::MAX as f64), "18446744073709551616.000 s");
    }
}
