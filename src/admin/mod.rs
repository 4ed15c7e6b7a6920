//! The operators' face: `/metrics` for Prometheus, `/api/dial-attempts` (subscribers'
//! MACs and redial counts), `/healthz`, and next the console.
//!
//! It is served on its own listener (`[admin] listen`, loopback by default), never on
//! the portal's, which every walled-garden subscriber can reach. Who may reach it is
//! decided by where it listens (and by a firewall or an authenticating reverse proxy in
//! front), not by looking at the peer address, which behind a proxy is the proxy's.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::io::bridge::DialView;

/// What the operators' endpoints read.
#[derive(Clone, Default)]
pub struct AdminState {
    /// The process's Prometheus recorder; `None` when none is installed (a library
    /// user's own process), then `/metrics` is not served.
    pub metrics: Option<PrometheusHandle>,
    /// The PPPoE redial view, when `[pppoe]` is configured.
    pub dial: Option<DialView>,
}

pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/api/dial-attempts", get(dial_attempts))
        .route("/healthz", get(|| async { "ok\n" }))
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
        assert_eq!(
            status(r.clone(), "/api/dial-attempts").await,
            StatusCode::NOT_FOUND
        );
        assert_eq!(status(r, "/healthz").await, StatusCode::OK);
    }

    #[tokio::test]
    async fn dial_attempts_are_served_to_any_peer_of_this_listener() {
        let state = AdminState {
            metrics: None,
            dial: Some(Default::default()),
        };
        assert_eq!(
            status(router(state), "/api/dial-attempts").await,
            StatusCode::OK
        );
    }
}
