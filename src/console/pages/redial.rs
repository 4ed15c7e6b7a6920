//! Redial storms: users by garden sessions, Rejects held until the redial, and the
//! PPPoE dial attempts per MAC.

use std::collections::BTreeMap;

use askama::Template;
use axum::Extension;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::{Chrome, samples_now, when};
use crate::admin::AdminState;
use crate::console::series::deltas;
use crate::console::{ConsoleError, LoggedIn, html, svg};

pub(super) fn routes() -> Router<AdminState> {
    Router::new().route("/redial", get(redial))
}

struct DialRow {
    mac: String,
    attempts: u64,
    per_minute: String,
    peak: u64,
    failures: u64,
}

#[derive(Template)]
#[template(path = "console/redial.html")]
struct RedialPage {
    c: Chrome,
    pppoe: bool,
    dial_totals: Vec<(&'static str, u64)>,
    subscribers: usize,
    top: Vec<DialRow>,
    users: Vec<(String, usize, String)>,
    redial_chart: String,
    remembered: String,
}

async fn redial(
    State(s): State<AdminState>,
    Extension(who): Extension<LoggedIn>,
) -> Result<Response, ConsoleError> {
    let (mut dial_totals, mut top, mut subscribers) = (Vec::new(), Vec::new(), 0);
    if let Some(dial) = &s.dial {
        let d = dial.lock().unwrap_or_else(|p| p.into_inner());
        let t = d.totals();
        dial_totals = vec![
            ("PADI", t.padi),
            ("PADR", t.padr),
            ("PADT", t.padt),
            ("Auth requests", t.auth_requests),
            ("Failures", t.failures),
            ("Successes", t.successes),
        ];
        subscribers = d.subscriber_count();
        top = d
            .top(20)
            .into_iter()
            .map(|o| DialRow {
                mac: crate::wire::ether::mac_string(&o.mac),
                attempts: o.attempts,
                per_minute: format!("{:.1}", o.attempts_per_minute),
                peak: o.peak_per_minute,
                failures: o.failures,
            })
            .collect();
    }
    // Per user: garden sessions (each a rewritten Reject) kept in memory.
    let mut per_user: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    if let Some(g) = &s.garden {
        g.for_each(|e| {
            let u = per_user
                .entry(String::from_utf8_lossy(&e.user).into_owned())
                .or_default();
            u.0 += 1;
            u.1 = u.1.max(e.entered_at_ms);
        });
    }
    let mut users: Vec<(String, usize, i64)> =
        per_user.into_iter().map(|(k, (n, t))| (k, n, t)).collect();
    users.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)));
    let samples = samples_now(&s);
    let redials = deltas(&samples, |s| &s.actions)
        .into_iter()
        .map(|(at, m)| {
            let held = m.get("pass_until_redial").copied().unwrap_or(0.0);
            (
                at,
                BTreeMap::from([("passed until redial".to_string(), held)]),
            )
        })
        .collect::<Vec<_>>();
    let remembered = s.metrics.as_ref().map_or(0.0, |h| {
        h.render()
            .lines()
            .filter(|l| l.starts_with("radcare_redial_subscribers"))
            .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
            .sum()
    });
    html(
        StatusCode::OK,
        &RedialPage {
            c: Chrome::new(&who, "redial"),
            pppoe: s.dial.is_some(),
            dial_totals,
            subscribers,
            top,
            users: users
                .into_iter()
                .take(20)
                .map(|(u, n, t)| (u, n, when(t)))
                .collect(),
            redial_chart: svg::stacked_bars("Rejects held until the redial", &redials),
            remembered: format!("{remembered:.0}"),
        },
    )
}
