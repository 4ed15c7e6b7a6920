//! The overview's history: the process's own Prometheus counters, sampled every
//! [`INTERVAL`] and kept for an hour in memory, so the console draws rejects by cause
//! and rewrites against pass-throughs over time with no time-series database beside it.
//!
//! The counters are read from the recorder's rendering rather than from the event bus:
//! the packet threads count Rejects and latencies into metrics and do not publish them
//! (a broadcast per Reject would cost the hot path), and the rendering is what
//! Prometheus itself would see.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a sample is taken.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// Samples kept: one hour.
pub const KEEP: usize = 360;

/// Counters at one moment (cumulative, as exported).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub at_ms: i64,
    /// Rejects by cause, every action.
    pub rejects: BTreeMap<String, f64>,
    /// Rejects by action (`rewrite`, `pass`, `would_rewrite`, `pass_until_redial`).
    pub actions: BTreeMap<String, f64>,
    /// Drops by reason.
    pub drops: BTreeMap<String, f64>,
    pub upstreams: BTreeMap<String, Upstream>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Upstream {
    /// `radcare_upstream_up`; `None` before the proxy said.
    pub up: Option<bool>,
    pub latency_sum: f64,
    pub latency_count: f64,
}

impl Upstream {
    /// The mean round trip so far, in milliseconds.
    pub fn mean_latency_ms(&self) -> Option<f64> {
        (self.latency_count > 0.0).then(|| self.latency_sum / self.latency_count * 1000.0)
    }
}

impl Sample {
    /// Reads the counters the console shows from a Prometheus text exposition; other
    /// lines are ignored.
    pub fn parse(at_ms: i64, text: &str) -> Sample {
        let mut s = Sample {
            at_ms,
            ..Sample::default()
        };
        for line in text.lines() {
            let Some((name, labels, value)) = parse_line(line) else {
                continue;
            };
            let label = |k: &str| {
                labels
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            match name {
                "radcare_rejects_total" => {
                    *s.rejects.entry(label("cause")).or_default() += value;
                    *s.actions.entry(label("action")).or_default() += value;
                }
                "radcare_drops_total" => *s.drops.entry(label("reason")).or_default() += value,
                "radcare_upstream_up" => {
                    s.upstreams.entry(label("upstream")).or_default().up = Some(value > 0.0)
                }
                "radcare_upstream_latency_seconds_sum" => {
                    s.upstreams
                        .entry(label("upstream"))
                        .or_default()
                        .latency_sum += value
                }
                "radcare_upstream_latency_seconds_count" => {
                    s.upstreams
                        .entry(label("upstream"))
                        .or_default()
                        .latency_count += value
                }
                _ => {}
            }
        }
        s
    }
}

/// A sample line's labels, in order.
type Labels<'a> = Vec<(&'a str, String)>;

/// `name{k="v",...} value` -> its parts; `None` for comments and what is not a sample.
fn parse_line(line: &str) -> Option<(&str, Labels<'_>, f64)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (head, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let Some((name, rest)) = head.split_once('{') else {
        return Some((head, Vec::new(), value));
    };
    let body = rest.strip_suffix('}')?;
    let mut labels = Vec::new();
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < body.len() {
        let eq = body[i..].find("=\"")? + i;
        let key = body[i..eq].trim_start_matches(',');
        let mut val = String::new();
        let mut j = eq + 2;
        loop {
            match *bytes.get(j)? {
                b'\\' => {
                    match bytes.get(j + 1)? {
                        b'n' => val.push('\n'),
                        &o => val.push(o as char),
                    }
                    j += 2;
                }
                b'"' => break,
                _ => {
                    // A whole UTF-8 character, not one octet of it.
                    let ch = body[j..].chars().next()?;
                    val.push(ch);
                    j += ch.len_utf8();
                }
            }
        }
        labels.push((key, val));
        i = j + 1;
    }
    Some((name, labels, value))
}

/// The kept samples, oldest first; shared by the sampler and the pages.
#[derive(Debug, Clone, Default)]
pub struct Series {
    inner: Arc<Mutex<VecDeque<Sample>>>,
}

impl Series {
    pub fn push(&self, s: Sample) {
        let mut q = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() == KEEP {
            q.pop_front();
        }
        q.push_back(s);
    }

    pub fn samples(&self) -> Vec<Sample> {
        let q = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        q.iter().cloned().collect()
    }
}

/// What changed between consecutive samples: one point per interval, for the charts.
/// A counter that went down (a restart of its series) counts from zero.
pub fn deltas(
    samples: &[Sample],
    pick: impl Fn(&Sample) -> &BTreeMap<String, f64>,
) -> Vec<(i64, BTreeMap<String, f64>)> {
    samples
        .windows(2)
        .map(|w| {
            let (before, after) = (pick(&w[0]), pick(&w[1]));
            let d = after
                .iter()
                .map(|(k, v)| {
                    let was = before.get(k).copied().unwrap_or(0.0);
                    (k.clone(), if *v >= was { v - was } else { *v })
                })
                .collect();
            (w[1].at_ms, d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# TYPE radcare_rejects_total counter
radcare_rejects_total{cause="arrears",action="rewrite",method="pap"} 3
radcare_rejects_total{cause="arrears",action="pass",method="chap"} 1
radcare_rejects_total{cause="odd \"one\", here",action="pass",method="pap"} 2
radcare_drops_total{reason="no_answer"} 4
radcare_upstream_up{upstream="aaa"} 1
radcare_upstream_latency_seconds_sum{upstream="aaa"} 0.5
radcare_upstream_latency_seconds_count{upstream="aaa"} 10
radcare_upstream_latency_seconds{upstream="aaa",quantile="0.5"} 0.04
"#;

    #[test]
    fn reads_the_counters_it_shows() {
        let s = Sample::parse(7, TEXT);
        assert_eq!(s.rejects["arrears"], 4.0);
        assert_eq!(s.rejects["odd \"one\", here"], 2.0);
        assert_eq!(s.actions["rewrite"], 3.0);
        assert_eq!(s.actions["pass"], 3.0);
        assert_eq!(s.drops["no_answer"], 4.0);
        let aaa = &s.upstreams["aaa"];
        assert_eq!(aaa.up, Some(true));
        assert_eq!(aaa.mean_latency_ms(), Some(50.0));
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let s = Sample::parse(0, "radcare_rejects_total{cause=\"x} 1\nnope\n{} 2\n");
        assert!(s.rejects.is_empty());
    }

    #[test]
    fn deltas_per_interval_and_bounded_history() {
        let series = Series::default();
        for i in 0..(KEEP + 5) {
            let mut s = Sample {
                at_ms: i as i64,
                ..Sample::default()
            };
            s.rejects.insert("arrears".into(), (i * 2) as f64);
            series.push(s);
        }
        let samples = series.samples();
        assert_eq!(samples.len(), KEEP);
        assert_eq!(samples[0].at_ms, 5);
        let d = deltas(&samples, |s| &s.rejects);
        assert_eq!(d.len(), KEEP - 1);
        assert!(d.iter().all(|(_, m)| m["arrears"] == 2.0));
    }
}
