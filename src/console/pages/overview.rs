//! The overview: rejects by cause and rewrites vs pass-throughs over time, each NAS
//! and each upstream with its state.

use std::collections::BTreeMap;

use askama::Template;
use axum::Extension;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::{Chrome, samples_now, tristate};
use crate::admin::AdminState;
use crate::console::series::deltas;
use crate::console::{ConsoleError, LoggedIn, html, svg};

pub(super) fn routes() -> Router<AdminState> {
    Router::new().route("/", get(overview))
}

struct NasRow {
    name: String,
    address: String,
    ma_policy: &'static str,
    ma_seen: String,
    garden: usize,
    online: usize,
}

struct UpstreamRow {
    name: String,
    address: String,
    state: &'static str,
    latency: String,
    ma_policy: &'static str,
    ma_seen: &'static str,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    c: Chrome,
    rejects_chart: String,
    actions_chart: String,
    totals: Vec<(String, String)>,
    nas: Vec<NasRow>,
    upstreams: Vec<UpstreamRow>,
    timeouts: String,
    ma_drops: String,
}

async fn overview(
    State(s): State<AdminState>,
    Extension(who): Extension<LoggedIn>,
) -> Result<Response, ConsoleError> {
    let samples = samples_now(&s);
    let latest = samples.last().cloned().unwrap_or_default();
    let rejects_chart = svg::stacked_bars("Rejects by cause", &deltas(&samples, |s| &s.rejects));
    let actions_chart = svg::stacked_bars(
        "Rewrites and pass-throughs",
        &deltas(&samples, |s| &s.actions),
    );
    let count = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
    let totals = vec![
        (
            "Rejects".into(),
            format!("{:.0}", latest.rejects.values().sum::<f64>()),
        ),
        (
            "Rewritten".into(),
            format!("{:.0}", count(&latest.actions, "rewrite")),
        ),
        (
            "Passed through".into(),
            format!("{:.0}", count(&latest.actions, "pass")),
        ),
        (
            "Passed until redial".into(),
            format!("{:.0}", count(&latest.actions, "pass_until_redial")),
        ),
        (
            "Would rewrite (shadow)".into(),
            format!("{:.0}", count(&latest.actions, "would_rewrite")),
        ),
    ];
    // (garden sessions, online) per client name.
    let mut per_client: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    if let Some(g) = &s.garden {
        g.for_each(|e| {
            let c = per_client.entry(e.client.clone()).or_default();
            c.0 += 1;
            c.1 += usize::from(e.is_online());
        });
    }
    let ma_nas = s
        .learnt
        .as_ref()
        .map(|l| l.nas_sending_ma())
        .unwrap_or_default();
    let (mut nas, mut upstreams) = (Vec::new(), Vec::new());
    if let Some(cfg) = &s.config {
        let cfg = cfg.load();
        for c in &cfg.radius.clients {
            let seen: Vec<String> = ma_nas
                .iter()
                .filter(|ip| c.address.contains(*ip))
                .map(|ip| ip.to_string())
                .collect();
            let (garden, online) = per_client.get(&c.name).copied().unwrap_or_default();
            nas.push(NasRow {
                name: c.name.clone(),
                address: c.address.to_string(),
                ma_policy: tristate(c.require_message_authenticator),
                ma_seen: if seen.is_empty() {
                    "not seen".into()
                } else {
                    format!("sent by {}", seen.join(", "))
                },
                garden,
                online,
            });
        }
        for (i, u) in cfg.radius.upstreams.iter().enumerate() {
            let m = latest.upstreams.get(&u.name);
            upstreams.push(UpstreamRow {
                name: u.name.clone(),
                address: u.auth.to_string(),
                state: match m.and_then(|m| m.up) {
                    Some(true) => "alive",
                    Some(false) => "dead",
                    None => "unknown",
                },
                latency: m
                    .and_then(|m| m.mean_latency_ms())
                    .map_or("-".into(), |l| format!("{l:.1} ms")),
                ma_policy: tristate(u.require_message_authenticator),
                ma_seen: if s.learnt.as_ref().is_some_and(|l| l.upstream_sent_ma(i)) {
                    "sent"
                } else {
                    "not seen"
                },
            });
        }
    }
    let ma_drops = latest
        .drops
        .iter()
        .filter(|(k, _)| k.contains("message_authenticator"))
        .fold(0.0, |n, (_, v)| n + v);
    html(
        StatusCode::OK,
        &OverviewPage {
            c: Chrome::new(&who, "overview"),
            rejects_chart,
            actions_chart,
            totals,
            nas,
            upstreams,
            timeouts: format!("{:.0}", count(&latest.drops, "no_answer")),
            ma_drops: format!("{ma_drops:.0}"),
        },
    )
}
