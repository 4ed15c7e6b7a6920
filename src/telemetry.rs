//! The process's Prometheus recorder and what every metric means.
//!
//! One table ([`METRICS`]) names every metric radcare records, its type and its HELP
//! text; [`install`] sets up the recorder with real histogram buckets (summaries cannot
//! be summed across nodes), describes the table, and records `radcare_build_info`.
//! Process metrics (CPU, memory, file descriptors, threads) come from `metrics-process`,
//! collected by [`Upkeep`]. A unit test fails when a metric is recorded in `src/` but
//! missing here.

use std::time::Duration;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

use crate::part::{Part, Shutdown};

/// The version and the git commit this binary was built from ("unknown" outside a git
/// checkout), as `radcare --version`, the "serving" line and `radcare_build_info` say.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const COMMIT: &str = env!("RADCARE_COMMIT");

/// `VERSION (COMMIT)`, for `--version`.
pub const LONG_VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (", env!("RADCARE_COMMIT"), ")");

/// Buckets of every `*_seconds` histogram: AAA round trips run from sub-millisecond on
/// a LAN to the response window (seconds).
const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric radcare records: name, type, HELP text.
pub const METRICS: &[(&str, Kind, &str)] = &[
    (
        "radcare_build_info",
        Kind::Gauge,
        "Always 1; the labels say the version and git commit of the running binary.",
    ),
    (
        "radcare_requests_total",
        Kind::Counter,
        "Datagrams received from NASes, by listener (auth, acct).",
    ),
    (
        "radcare_replies_total",
        Kind::Counter,
        "Replies sent to NASes, by RADIUS code.",
    ),
    (
        "radcare_rejects_total",
        Kind::Counter,
        "Access-Rejects from the AAA by cause, action (rewrite, pass, would_rewrite) and authentication method.",
    ),
    (
        "radcare_drops_total",
        Kind::Counter,
        "Datagrams dropped, by reason (malformed, unknown_client, bad_message_authenticator, no_answer, ...).",
    ),
    (
        "radcare_duplicates_total",
        Kind::Counter,
        "RFC 5080 duplicate requests: answered from the cache, or dropped while in flight.",
    ),
    (
        "radcare_duplicate_cache_entries",
        Kind::Gauge,
        "Replies kept for retransmissions, per packet thread.",
    ),
    (
        "radcare_redial_subscribers",
        Kind::Gauge,
        "Subscribers whose bare Rejects are being counted as redials, per packet thread.",
    ),
    (
        "radcare_redial_forgotten_total",
        Kind::Counter,
        "Redial counts forgotten to keep the table bounded, per packet thread.",
    ),
    (
        "radcare_worker_datagrams_total",
        Kind::Counter,
        "Datagrams each packet thread received (from NASes and the AAA).",
    ),
    (
        "radcare_send_errors_total",
        Kind::Counter,
        "UDP sends that failed.",
    ),
    (
        "radcare_upstream_up",
        Kind::Gauge,
        "1 while the upstream AAA answers, 0 while it is dead (probed with Status-Server).",
    ),
    (
        "radcare_upstream_latency_seconds",
        Kind::Histogram,
        "AAA round-trip time per upstream.",
    ),
    (
        "radcare_garden_entries",
        Kind::Gauge,
        "Subscribers in the walled garden (memory).",
    ),
    (
        "radcare_events_lost_total",
        Kind::Counter,
        "Engine events a consumer lost because it fell behind the event bus.",
    ),
    (
        "radcare_store_up",
        Kind::Gauge,
        "1 while garden writes to the store succeed, 0 from a failed write until one succeeds.",
    ),
    (
        "radcare_store_errors_total",
        Kind::Counter,
        "Garden writes to the store that failed.",
    ),
    (
        "radcare_store_write_retries_total",
        Kind::Counter,
        "Garden write batches retried after a failure.",
    ),
    (
        "radcare_store_pending_rows",
        Kind::Gauge,
        "Garden entries waiting to be written to the store.",
    ),
    (
        "radcare_store_rows_dropped_total",
        Kind::Counter,
        "Garden entries never written: queue full, or left at shutdown with the store away.",
    ),
    (
        "radcare_store_lookup_timeouts_total",
        Kind::Counter,
        "Portal lookups the store did not answer in time.",
    ),
    (
        "radcare_store_lookup_errors_total",
        Kind::Counter,
        "Portal lookups the store failed.",
    ),
    (
        "radcare_portal_requests_total",
        Kind::Counter,
        "Portal requests by page.",
    ),
    (
        "radcare_portal_reconnects_total",
        Kind::Counter,
        "Portal reconnects (RFC 5176 Disconnect-Requests) by outcome.",
    ),
    (
        "radcare_bridge_frames_total",
        Kind::Counter,
        "Frames the bridge received, by side.",
    ),
    (
        "radcare_bridge_rewrites_total",
        Kind::Counter,
        "Access-Rejects the bridge rewrote in place.",
    ),
    (
        "radcare_bridge_opaque_frames_total",
        Kind::Counter,
        "Frames the bridge passed without looking (not RADIUS), by side.",
    ),
    (
        "radcare_bridge_send_errors_total",
        Kind::Counter,
        "Frames the bridge failed to send, by side.",
    ),
    (
        "radcare_bridge_pending_shed_total",
        Kind::Counter,
        "Access-Requests the bridge did not remember because too many awaited a reply.",
    ),
    (
        "radcare_pppoe_padi_total",
        Kind::Counter,
        "PPPoE discovery initiations seen.",
    ),
    (
        "radcare_pppoe_auth_requests_total",
        Kind::Counter,
        "PPP authentication requests seen.",
    ),
    (
        "radcare_pppoe_auth_failures_total",
        Kind::Counter,
        "PPP authentication failures seen.",
    ),
    (
        "radcare_pppoe_subscribers",
        Kind::Gauge,
        "Subscriber MACs tracked by the PPPoE observer.",
    ),
    (
        "radcare_pppoe_redialing_subscribers",
        Kind::Gauge,
        "Subscriber MACs redialling after a failure.",
    ),
    (
        "radcare_pppoe_subscribers_shed_total",
        Kind::Counter,
        "Frames of new subscriber MACs not tracked because the table was full.",
    ),
    (
        "radcare_ddi_requests_total",
        Kind::Counter,
        "Device API (hawkBit DDI) requests by endpoint and outcome.",
    ),
    (
        "radcare_ota_notices_total",
        Kind::Counter,
        "Update notices sent to devices, by channel.",
    ),
    (
        "radcare_ota_gateway_sends_total",
        Kind::Counter,
        "Notices handed to the SMS/WAP gateway, by channel and outcome.",
    ),
    (
        "radcare_fault_reports_total",
        Kind::Counter,
        "Fault reports received, by channel and outcome.",
    ),
    (
        "radcare_faults_total",
        Kind::Counter,
        "Faults filed, by channel and state (fixed from the knowledge base, or queued for a person).",
    ),
    (
        "radcare_fault_sms_total",
        Kind::Counter,
        "Fault fixes sent back by SMS, by outcome.",
    ),
    (
        "radcare_fault_commit_batch",
        Kind::Histogram,
        "Fault reports filed per store transaction (group commit).",
    ),
    (
        "radcare_planner_probes_total",
        Kind::Counter,
        "Download-node status probes (nginx stub_status), by outcome.",
    ),
    (
        "radcare_planner_nodes_down_total",
        Kind::Counter,
        "Download nodes the status probe took down (their bookings re-planned).",
    ),
    (
        "radcare_relay_sessions_total",
        Kind::Counter,
        "Relay sessions opened.",
    ),
    (
        "radcare_relay_refused_total",
        Kind::Counter,
        "Relay connections refused (authentication or limits).",
    ),
    (
        "radcare_relay_resumes_total",
        Kind::Counter,
        "Relay sessions resumed after link B dropped.",
    ),
    (
        "radcare_relay_undeliverable_bytes_total",
        Kind::Counter,
        "Bytes a relay session held that could not be delivered.",
    ),
];

/// The installed recorder: rendered at `/metrics`.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Full("radcare_fault_commit_batch".into()),
            &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
        )?
        .install_recorder()?;
    describe();
    metrics_process::Collector::default().describe();
    metrics::gauge!("radcare_build_info", "version" => VERSION, "commit" => COMMIT).set(1.0);
    Ok(handle)
}

/// Hands every HELP text to the installed recorder.
fn describe() {
    for &(name, kind, help) in METRICS {
        match kind {
            Kind::Counter => metrics::describe_counter!(name, help),
            Kind::Gauge => metrics::describe_gauge!(name, help),
            Kind::Histogram => metrics::describe_histogram!(name, help),
        }
    }
}

/// Every few seconds: folds histogram samples into their buckets and reads the process
/// metrics. Samples queue in the recorder until folded; with nobody scraping `/metrics`
/// they would grow without bound (tens of MB per minute at line rate).
pub struct Upkeep {
    pub handle: PrometheusHandle,
}

impl Part for Upkeep {
    fn name(&self) -> &'static str {
        "metrics-upkeep"
    }

    async fn run(self, shutdown: Shutdown) {
        let process = metrics_process::Collector::default();
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        while shutdown.run_until_cancelled(tick.tick()).await.is_some() {
            process.collect();
            self.handle.run_upkeep();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push((
                    path.display().to_string(),
                    std::fs::read_to_string(&path).unwrap(),
                ));
            }
        }
    }

    #[test]
    fn every_metric_recorded_in_src_has_its_help_text_and_type() {
        let re = regex::Regex::new(r#"metrics::(counter|gauge|histogram)!\(\s*"(radcare_\w+)""#)
            .unwrap();
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut seen = 0;
        for (file, text) in &files {
            for c in re.captures_iter(text) {
                let kind = match &c[1] {
                    "counter" => Kind::Counter,
                    "gauge" => Kind::Gauge,
                    _ => Kind::Histogram,
                };
                let entry = METRICS.iter().find(|m| m.0 == &c[2]);
                assert_eq!(
                    entry.map(|m| m.1),
                    Some(kind),
                    "{file}: {} is not in telemetry::METRICS as a {kind:?}",
                    &c[2]
                );
                seen += 1;
            }
        }
        assert!(seen > 40, "the scan found the metrics ({seen})");
    }

    #[test]
    fn every_described_metric_is_named_once_with_help() {
        for (i, m) in METRICS.iter().enumerate() {
            assert!(m.0.starts_with("radcare_") && !m.2.is_empty(), "{}", m.0);
            assert!(METRICS[i + 1..].iter().all(|o| o.0 != m.0), "{} twice", m.0);
        }
    }
}
