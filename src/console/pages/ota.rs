//! Software deployment: releases, deployments by state and rollout group, download
//! nodes and their load, a plan's node-by-slot grid.

use std::collections::BTreeMap;

use askama::Template;
use axum::Extension;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::{Chrome, when};
use crate::admin::AdminState;
use crate::console::{ConsoleError, LoggedIn, html, svg};

pub(super) fn routes() -> Router<AdminState> {
    Router::new().route("/ota", get(ota))
}

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
