//! The operators' face: `/metrics` for Prometheus, `/healthz`, the console
//! (`crate::console`) and its JSON APIs, `/api/dial-attempts` (subscribers' MACs and
//! redial counts) and `/api/plans/{deployment}`.
//!
//! `/metrics` and `/healthz` are open, for Prometheus and probes; every page and
//! `/api/*` needs an operator's login.
//!
//! It is served on its own listener (`[admin] listen`, loopback by default), never on
//! the portal's, which every walled-garden subscriber can reach. Who may reach it is
//! decided by where it listens (and by a firewall or an authenticating reverse proxy in
//! front), not by looking at the peer address, which behind a proxy is the proxy's.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::io::bridge::DialView;

mod plans;

/// What the operators' endpoints read.
#[derive(Clone, Default)]
pub struct AdminState {
    /// The process's Prometheus recorder; `None` when none is installed (a library
    /// user's own process), then `/metrics` is not served.
    pub metrics: Option<PrometheusHandle>,
    /// The PPPoE redial view, when `[pppoe]` is configured.
    pub dial: Option<DialView>,
    /// The store: operators and sessions, the plans' timelines, the console's pages.
    pub store: Option<crate::store::Store>,
    /// The walled garden, for the console's list and its disconnects.
    pub garden: Option<crate::garden::Garden>,
    /// The running config as reloads change it (clients, upstreams, portal settings).
    pub config: Option<Arc<arc_swap::ArcSwap<crate::config::Config>>>,
    /// What the proxy learnt of Message-Authenticators.
    pub learnt: Option<Arc<crate::engine::Learnt>>,
    /// The fault service, for the console's resolve.
    pub faults: Option<crate::faults::Faults>,
    /// The overview's history of counters.
    pub series: crate::console::series::Series,
    /// Login attempts per operator name and in all.
    pub logins: Arc<crate::faults::Limiter>,
}

pub fn router(state: AdminState) -> Router {
    let guarded = crate::console::pages()
        .route("/api/dial-attempts", get(dial_attempts))
        .route("/api/plans/{deployment}", get(plan_timeline))
        .merge(plans::router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::console::require_login,
        ));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(crate::console::login())
        .merge(guarded)
        .with_state(state)
}

async fn metrics(State(s): State<AdminState>) -> Response {
    match &s.metrics {
        Some(h) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            h.render(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn dial_attempts(State(s): State<AdminState>) -> Response {
    let Some(dial) = &s.dial else {
        return (
            StatusCode::NOT_FOUND,
            "no [pppoe] section: PPPoE dial attempts are not observed\n",
        )
            .into_response();
    };
    let d = dial.lock().unwrap_or_else(|p| p.into_inner());
    axum::Json(serde_json::json!({
        "totals": d.totals(),
        "subscribers": d.subscriber_count(),
        "top": d.top(20),
    }))
    .into_response()
}

/// A deployment's plan as the console draws it: the slots, every booking in time
/// order, and the nodes with their caps and what is booked per slot.
async fn plan_timeline(
    State(s): State<AdminState>,
    axum::extract::Path(deployment): axum::extract::Path<String>,
) -> Response {
    let Ok(deployment) = deployment.parse::<i64>() else {
        return (StatusCode::BAD_REQUEST, "a deployment id is a number\n").into_response();
    };
    let Some(store) = &s.store else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let unavailable = |e: crate::store::StoreError| {
        tracing::error!(error = %e, "admin API: store failed");
        (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
    };
    let plan = match store.plan_get(deployment).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return (StatusCode::NOT_FOUND, "no plan for that deployment\n").into_response();
        }
        Err(e) => return unavailable(e),
    };
    let (nodes, bookings, booked) = match tokio::try_join!(
        store.plan_nodes(),
        store.plan_bookings(deployment),
        store.plan_booked(&plan.slots)
    ) {
        Ok(t) => t,
        Err(e) => return unavailable(e),
    };
    let slots = &plan.slots;
    axum::Json(serde_json::json!({
        "deployment": deployment,
        "slots": { "start_ms": slots.start_ms, "length_ms": slots.length_ms, "count": slots.count },
        "allowed": plan.allowed,
        "nodes": nodes.iter().map(|n| serde_json::json!({
            "id": n.id,
            "cluster": n.cluster,
            "cap_per_slot": n.cap_per_slot,
            "up": n.up,
            "measured": n.measured,
            "booked": (0..slots.count)
                .map(|i| booked.get(&(n.id.clone(), i)).copied().unwrap_or(0))
                .collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "bookings": bookings.iter().map(|b| serde_json::json!({
            "device": b.device,
            "node": b.node,
            "at_ms": b.slot_start_ms,
        })).collect::<Vec<_>>(),
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn status(router: Router, path: &str) -> StatusCode {
        let req = Request::get(path).body(Body::empty()).unwrap();
        router.oneshot(req).await.unwrap().status()
    }

    #[tokio::test]
    async fn without_a_recorder_or_pppoe_those_endpoints_are_absent() {
        let r = router(AdminState::default());
        assert_eq!(status(r.clone(), "/metrics").await, StatusCode::NOT_FOUND);
        assert_eq!(status(r, "/healthz").await, StatusCode::OK);
    }

    #[tokio::test]
    async fn the_apis_need_a_login() {
        let state = AdminState {
            dial: Some(Default::default()),
            ..AdminState::default()
        };
        let r = router(state);
        for path in ["/api/dial-attempts", "/api/plans/1"] {
            assert_eq!(status(r.clone(), path).await, StatusCode::UNAUTHORIZED);
        }
    }
}
