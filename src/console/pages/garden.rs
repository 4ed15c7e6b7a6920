//! The walled garden: who, why, since when, where; search, and the disconnect action.

use std::net::SocketAddr;

use askama::Template;
use axum::Extension;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Chrome, when};
use crate::admin::AdminState;
use crate::console::{ConsoleError, LoggedIn, audit, html};
use crate::garden::GardenEntry;
use crate::portal::{DisconnectRequest, Retry, disconnect};

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/garden", get(garden))
        .route("/garden/disconnect", post(garden_disconnect))
}

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
