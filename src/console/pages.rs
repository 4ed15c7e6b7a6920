//! The console's pages, one handler and one typed template each, and its two actions:
//! a garden session's disconnect and a fault code's resolve.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;

use super::series::{Sample, deltas};
use super::{ConsoleError, LoggedIn, audit, html, svg};
use crate::admin::AdminState;
use crate::config::Tristate;
use crate::faults::{Fix, parse_fix};
use crate::garden::{GardenEntry, now_ms};
use crate::portal::{DisconnectRequest, Retry, disconnect};

/// The routes behind the login.
pub fn pages() -> Router<AdminState> {
    Router::new()
        .route("/", get(overview))
        .route("/garden", get(garden))
        .route("/garden/disconnect", post(garden_disconnect))
        .route("/redial", get(redial))
        .route("/ota", get(ota))
        .route("/faults", get(faults))
        .route("/faults/resolve", post(faults_resolve))
        .route("/audit", get(audit_page))
        .merge(super::logout_route())
}

/// What every page's frame (console/base.html) shows.
struct Chrome {
    operator: String,
    admin: bool,
    csrf: String,
    active: &'static str,
}

impl Chrome {
    fn new(who: &LoggedIn, active: &'static str) -> Chrome {
        Chrome {
            operator: who.name.clone(),
            admin: who.role == super::auth::Role::Admin,
            csrf: who.csrf.clone(),
            active,
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` UTC of a Unix time in ms.
fn when(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn tristate(t: Tristate) -> &'static str {
    match t {
        Tristate::Auto => "auto",
        Tristate::Yes => "required",
        Tristate::No => "not required",
    }
}

// ---- overview ----

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

/// The kept samples and one taken now, so the page is current between samples.
fn samples_now(s: &AdminState) -> Vec<Sample> {
    let mut samples = s.series.samples();
    if let Some(h) = &s.metrics {
        samples.push(Sample::parse(now_ms(), &h.render()));
    }
    samples
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

// ---- garden ----

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct GardenRow {
    id: String,
    user: String,
    cause: String,
    reason: String,
    since: String,
    address: String,
    mac: String,
    nas: String,
    online: bool,
}

impl GardenRow {
    fn of(e: &GardenEntry) -> GardenRow {
        GardenRow {
            id: e.id.to_string(),
            user: String::from_utf8_lossy(&e.user).into_owned(),
            cause: e.cause.clone(),
            reason: e.reason.clone(),
            since: when(e.entered_at_ms),
            address: e.framed_ip.map_or("-".into(), |ip| ip.to_string()),
            mac: e.calling_station_id.clone().unwrap_or_else(|| "-".into()),
            nas: format!(
                "{} {}{}",
                e.client,
                e.nas_addr,
                e.nas_port_id
                    .as_deref()
                    .map_or(String::new(), |p| format!(" port {p}"))
            ),
            online: e.is_online(),
        }
    }

    fn matches(&self, q: &str) -> bool {
        [
            &self.user,
            &self.cause,
            &self.reason,
            &self.address,
            &self.mac,
            &self.nas,
        ]
        .iter()
        .any(|f| f.to_lowercase().contains(q))
    }
}

#[derive(Template)]
#[template(path = "console/garden.html")]
struct GardenPage {
    c: Chrome,
    q: String,
    rows: Vec<GardenRow>,
    total: usize,
    result: Option<String>,
}

#[derive(Deserialize, Default)]
struct Search {
    #[serde(default)]
    q: String,
}

/// Rows shown at most (the newest first).
const GARDEN_ROWS: usize = 200;

fn garden_page(
    s: &AdminState,
    who: &LoggedIn,
    q: &str,
    result: Option<String>,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    // The newest matches, kept in a bounded min-heap: a garden of 100,000 costs a pass,
    // not a copy and a sort.
    let needle = q.trim().to_lowercase();
    let mut total = 0;
    let mut newest = std::collections::BinaryHeap::with_capacity(GARDEN_ROWS + 1);
    if let Some(g) = &s.garden {
        g.for_each(|e| {
            total += 1;
            let row = GardenRow::of(e);
            if needle.is_empty() || row.matches(&needle) {
                newest.push((std::cmp::Reverse(e.entered_at_ms), e.id, row));
                if newest.len() > GARDEN_ROWS {
                    newest.pop();
                }
            }
        });
    }
    let rows = newest
        .into_sorted_vec()
        .into_iter()
        .map(|(_, _, row)| row)
        .collect();
    html(
        status,
        &GardenPage {
            c: Chrome::new(who, "garden"),
            q: q.to_string(),
            rows,
            total,
            result,
        },
    )
}

async fn garden(
    State(s): State<AdminState>,
    Extension(who): Extension<LoggedIn>,
    Query(search): Query<Search>,
) -> Result<Response, ConsoleError> {
    garden_page(&s, &who, &search.q, None, StatusCode::OK)
}

#[derive(Deserialize)]
struct DisconnectForm {
    id: String,
}

/// `POST /garden/disconnect`: an RFC 5176 Disconnect-Request for the session, as the
/// portal's "reconnect me" sends it.
async fn garden_disconnect(
    State(s): State<AdminState>,
    Extension(who): Extension<LoggedIn>,
    form: Result<Form<DisconnectForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ConsoleError> {
    let id = form
        .ok()
        .and_then(|Form(f)| f.id.parse::<u64>().ok())
        .ok_or_else(|| ConsoleError::BadRequest("a garden id".into()))?;
    let entry = s
        .garden
        .as_ref()
        .and_then(|g| g.by_id(id))
        .ok_or(ConsoleError::NotFound)?;
    let user = String::from_utf8_lossy(&entry.user).into_owned();
    let target = format!("garden {id:016x} user {user}");
    let cfg = s.config.as_ref().map(|c| c.load_full());
    let found = cfg
        .as_ref()
        .and_then(|c| crate::portal::nas_for(&c.radius.clients, &entry));
    let (outcome, status) = match (found, cfg) {
        (Some((nas_ip, client)), Some(cfg)) => {
            let req = DisconnectRequest {
                nas: SocketAddr::new(nas_ip, client.coa_port),
                secret: client.secret.as_bytes(),
                user_name: &entry.user,
                acct_session_id: entry.acct_session_id.as_deref(),
                framed_ip: entry.framed_ip,
                nas_ip: Some(nas_ip),
            };
            let retry = Retry {
                tries: cfg.portal.disconnect_tries,
                timeout: cfg.portal.disconnect_timeout,
            };
            match disconnect(&req, retry).await {
                Ok(o) if o.is_success() => (o.as_str().to_string(), StatusCode::OK),
                Ok(o) => (o.as_str().to_string(), StatusCode::BAD_GATEWAY),
                Err(e) => {
                    tracing::warn!(garden_id = id, error = %e, "console: disconnect-request failed");
                    ("failed".into(), StatusCode::BAD_GATEWAY)
                }
            }
        }
        _ => ("no_client_for_nas".into(), StatusCode::SERVICE_UNAVAILABLE),
    };
    tracing::info!(operator = %who.name, garden_id = id, outcome, "console: disconnect");
    audit(&s, &who.name, "disconnect", &target, &outcome).await;
    garden_page(
        &s,
        &who,
        "",
        Some(format!("Disconnect of {user}: {outcome}")),
        status,
    )
}

// ---- redial storms ----

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

// ---- OTA ----

struct DeploymentRow {
    id: i64,
    release: String,
    state: String,
    policy: String,
    created: String,
    states: String,
    groups: String,
}

#[derive(Template)]
#[template(path = "console/ota.html")]
struct OtaPage {
    c: Chrome,
    releases: Vec<crate::store::console::ReleaseSummary>,
    deployments: Vec<DeploymentRow>,
    plan: Option<PlanView>,
    nodes: Vec<(String, String, u32, bool, i64)>,
}

struct PlanView {
    deployment: i64,
    slots: String,
    grid: String,
    bookings: Vec<(String, String, String)>,
}

#[derive(Deserialize, Default)]
struct OtaQuery {
    deployment: Option<i64>,
}

async fn ota(
    State(s): State<AdminState>,
    Extension(who): Extension<LoggedIn>,
    Query(q): Query<OtaQuery>,
) -> Result<Response, ConsoleError> {
    let store = s.store.as_ref().ok_or(ConsoleError::NoStore)?;
    let releases = store.console_releases().await?;
    let mut deployments = Vec::new();
    let list = store.ota_deployments().await?;
    for d in &list {
        let actions = store.ota_actions(d.id).await?;
        let mut states: BTreeMap<&str, usize> = BTreeMap::new();
        let mut groups: BTreeMap<i64, usize> = BTreeMap::new();
        for a in &actions {
            *states.entry(a.state.as_str()).or_default() += 1;
            *groups.entry(a.rollout_group).or_default() += 1;
        }
        deployments.push(DeploymentRow {
            id: d.id,
            release: format!("{} {}", d.release_name, d.release_version),
            state: d.state.clone(),
            policy: d.policy.clone(),
            created: when(d.created_at_ms),
            states: states
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            groups: groups
                .iter()
                .map(|(k, v)| format!("#{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let nodes_list = store.plan_nodes().await?;
    // The asked deployment's plan, else the newest that has one.
    let mut plan = None;
    let wanted = q.deployment.into_iter().chain(list.iter().map(|d| d.id));
    for id in wanted {
        if let Some(p) = store.plan_get(id).await? {
            plan = Some(p);
            break;
        }
    }
    let mut load: BTreeMap<String, i64> = BTreeMap::new();
    let plan = match plan {
        None => None,
        Some(p) => {
            let booked = store.plan_booked(&p.slots).await?;
            let bookings = store.plan_bookings(p.deployment).await?;
            let shown = p.slots.count.min(24);
            let grid = svg::Grid {
                columns: (0..shown)
                    .map(|i| when(p.slots.starts_at(i))[11..16].to_string())
                    .collect(),
                rows: nodes_list
                    .iter()
                    .map(|n| {
                        let counts: Vec<i64> = (0..shown)
                            .map(|i| booked.get(&(n.id.clone(), i)).copied().unwrap_or(0) as i64)
                            .collect();
                        load.insert(n.id.clone(), counts.iter().sum());
                        (n.id.as_str(), n.cap_per_slot, counts)
                    })
                    .collect(),
            };
            Some(PlanView {
                deployment: p.deployment,
                slots: format!(
                    "{} slots of {} min from {} UTC{}",
                    p.slots.count,
                    p.slots.length_ms / 60_000,
                    when(p.slots.start_ms),
                    if p.allowed.is_empty() {
                        String::new()
                    } else {
                        format!(", allowed: {:?}", p.allowed)
                    }
                ),
                grid: svg::load_grid("Bookings per node and slot", &grid),
                bookings: bookings
                    .iter()
                    .take(100)
                    .map(|b| (b.device.clone(), b.node.clone(), when(b.slot_start_ms)))
                    .collect(),
            })
        }
    };
    let nodes = nodes_list
        .iter()
        .map(|n| {
            (
                n.id.clone(),
                n.cluster.clone(),
                n.cap_per_slot,
                n.up,
                load.get(&n.id).copied().unwrap_or(0),
            )
        })
        .collect();
    html(
        StatusCode::OK,
        &OtaPage {
            c: Chrome::new(&who, "ota"),
            releases,
            deployments,
            plan,
            nodes,
        },
    )
}

// ---- faults ----

struct FaultRow {
    account: i64,
    report: String,
    code: String,
    item: String,
    detail: String,
    evidence: String,
}

struct KbRow {
    id: i64,
    code: String,
    scope: String,
    fix: String,
    origin: String,
    state: String,
    given: i64,
    failed: i64,
    rate: String,
}

#[derive(Template)]
#[template(path = "console/faults.html")]
struct FaultsPage {
    c: Chrome,
    /// (id, identities, created, reports, queued).
    accounts: Vec<(i64, String, String, i64, i64)>,
    queue: Vec<FaultRow>,
    kb: Vec<KbRow>,
    result: Option<String>,
}

fn fix_text(fix: &str) -> String {
    match parse_fix(fix) {
        Some(Fix::Text { text }) => format!("text: {text}"),
        Some(Fix::Retry { url }) => format!("retry {}", url.unwrap_or_default()),
        Some(Fix::Deploy { name, version }) => format!("deploy {name} {version}"),
        Some(Fix::Config { values }) => format!(
            "config {}",
            values
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        None => fix.to_string(),
    }
}

async fn faults_page(
    s: &AdminState,
    who: &LoggedIn,
    result: Option<String>,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let store = s.store.as_ref().ok_or(ConsoleError::NoStore)?;
    let accounts = store
        .console_fault_accounts(50)
        .await?
        .into_iter()
        .map(|a| {
            (
                a.id,
                a.identities,
                when(a.created_at_ms),
                a.reports,
                a.queued,
            )
        })
        .collect();
    let queue = store
        .faults_queue()
        .await?
        .into_iter()
        .map(|f| FaultRow {
            account: f.account,
            report: format!("{} #{}", f.report_id, f.seq),
            code: f.code,
            item: f.item.unwrap_or_default(),
            detail: f.detail.unwrap_or_default(),
            evidence: f.evidence.unwrap_or_default(),
        })
        .collect();
    let kb = store
        .faults_kb()
        .await?
        .into_iter()
        .map(|e| KbRow {
            rate: e
                .success_rate()
                .map_or("-".into(), |r| format!("{:.0}%", r * 100.0)),
            id: e.id,
            scope: [&e.model, &e.version, &e.node]
                .iter()
                .filter_map(|x| x.as_deref())
                .collect::<Vec<_>>()
                .join(" / "),
            fix: fix_text(&e.fix),
            code: e.code,
            origin: e.origin,
            state: e.state,
            given: e.given,
            failed: e.failed,
        })
        .collect();
    html(
        status,
        &FaultsPage {
            c: Chrome::new(who, "faults"),
            accounts,
            queue,
            kb,
            result,
        },
    )
}

async fn faults(
    State(s): State<AdminState>,
    Extension(who): Extension<LoggedIn>,
) -> Result<Response, ConsoleError> {
    faults_page(&s, &who, None, StatusCode::OK).await
}

#[derive(Deserialize)]
struct ResolveForm {
    code: String,
    /// `text`, `retry` or `deploy`.
    kind: String,
    #[serde(default)]
    value: String,
}

impl ResolveForm {
    fn fix(&self) -> Result<Fix, String> {
        let value = self.value.trim();
        match self.kind.as_str() {
            "text" if !value.is_empty() => Ok(Fix::Text { text: value.into() }),
            "retry" if value.is_empty() => Ok(Fix::Retry { url: None }),
            "retry" if value.starts_with("http://") || value.starts_with("https://") => {
                Ok(Fix::Retry {
                    url: Some(value.into()),
                })
            }
            "deploy" => match value.split_whitespace().collect::<Vec<_>>()[..] {
                [name, version] => Ok(Fix::Deploy {
                    name: name.into(),
                    version: version.into(),
                }),
                _ => Err("deploy: NAME VERSION".into()),
            },
            "text" => Err("text: the text for the user".into()),
            "retry" => Err("retry: an http(s) URL, or nothing".into()),
            _ => Err("a fix kind: text, retry or deploy".into()),
        }
    }
}

/// `POST /faults/resolve`: a knowledge-base entry for the code, given to every queued
/// fault it applies to (as `radcare faults resolve`).
async fn faults_resolve(
    State(s): State<AdminState>,
    Extension(who): Extension<LoggedIn>,
    form: Result<Form<ResolveForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ConsoleError> {
    let Ok(Form(f)) = form else {
        return Err(ConsoleError::BadRequest(
            "a resolve form: code, kind, value".into(),
        ));
    };
    let faults = s.faults.as_ref().ok_or(ConsoleError::NoStore)?;
    let fix = match f.fix() {
        Ok(fix) => fix,
        Err(why) => {
            return faults_page(&s, &who, Some(why), StatusCode::BAD_REQUEST).await;
        }
    };
    let target = format!("fault code {}", f.code);
    match faults.resolve(&f.code, None, None, None, &fix).await {
        Ok((entry, fixed)) => {
            let outcome = format!("kb {entry}, {} fixed", fixed.len());
            tracing::info!(operator = %who.name, code = %f.code, kb = entry, fixed = fixed.len(), "console: resolve");
            audit(&s, &who.name, "resolve", &target, &outcome).await;
            faults_page(
                &s,
                &who,
                Some(format!("Code {}: {outcome}", f.code)),
                StatusCode::OK,
            )
            .await
        }
        Err(crate::faults::FaultError::BadCode(c)) => {
            faults_page(
                &s,
                &who,
                Some(format!("not a fault code: {c}")),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(e) => {
            tracing::error!(error = %e, "console: resolve failed");
            audit(&s, &who.name, "resolve", &target, "failed").await;
            faults_page(
                &s,
                &who,
                Some("the resolve failed".into()),
                StatusCode::SERVICE_UNAVAILABLE,
            )
            .await
        }
    }
}

// ---- audit ----

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    c: Chrome,
    rows: Vec<(String, String, String, String, String)>,
}

async fn audit_page(
    State(s): State<AdminState>,
    Extension(who): Extension<LoggedIn>,
) -> Result<Response, ConsoleError> {
    let store = s.store.as_ref().ok_or(ConsoleError::NoStore)?;
    let rows = store
        .console_audit_list(500)
        .await?
        .into_iter()
        .map(|r| (when(r.at_ms), r.operator, r.action, r.target, r.outcome))
        .collect();
    html(
        StatusCode::OK,
        &AuditPage {
            c: Chrome::new(&who, "audit"),
            rows,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(when(0), "1970-01-01 00:00:00");
        assert_eq!(when(1_709_210_096_000), "2024-02-29 12:34:56");
    }

    #[test]
    fn resolve_forms_say_what_is_wrong() {
        let form = |kind: &str, value: &str| ResolveForm {
            code: "21".into(),
            kind: kind.into(),
            value: value.into(),
        };
        assert_eq!(
            form("deploy", "fw 1.2").fix(),
            Ok(Fix::Deploy {
                name: "fw".into(),
                version: "1.2".into()
            })
        );
        assert!(form("deploy", "fw").fix().is_err());
        assert!(form("retry", "ftp://x").fix().is_err());
        assert!(form("text", " ").fix().is_err());
        assert!(form("nope", "x").fix().is_err());
    }
}
