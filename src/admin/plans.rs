//! The operators' planning API (S5), beside the CLI: `PUT /api/nodes/{id}` enters a
//! download node, `PUT /api/plans/{deployment}` plans a deployment over time slots.
//! Input is checked as the CLI checks it (`planner::input`); bad input is a 400 with
//! its reason, an unknown deployment a 404, and neither writes anything. A 2xx means
//! the row is committed.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Json, Router};
use serde_json::json;

use super::AdminState;
use crate::planner::input::{NodeSpec, PlanSpec};
use crate::store::StoreError;

pub fn router() -> Router<AdminState> {
    Router::new()
        .route("/api/nodes/{id}", put(put_node))
        .route("/api/plans/{deployment}", put(put_plan))
}

fn refuse(status: StatusCode, why: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": why.to_string() }))).into_response()
}

fn unavailable(e: StoreError) -> Response {
    tracing::error!(error = %e, "admin API: store failed");
    refuse(StatusCode::SERVICE_UNAVAILABLE, "store unavailable")
}

async fn put_node(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    body: Result<Json<NodeSpec>, JsonRejection>,
) -> Response {
    let Some(store) = &s.store else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let node = match body.map(|Json(b)| b.check(&id)) {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => return refuse(StatusCode::BAD_REQUEST, e),
        Err(r) => return refuse(StatusCode::BAD_REQUEST, r.body_text()),
    };
    match store.plan_put_node(&node).await {
        Ok(()) => Json(json!({ "node": node.id })).into_response(),
        Err(e) => unavailable(e),
    }
}

async fn put_plan(
    State(s): State<AdminState>,
    Path(deployment): Path<String>,
    body: Result<Json<PlanSpec>, JsonRejection>,
) -> Response {
    let Some(store) = &s.store else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok(deployment) = deployment.parse::<i64>() else {
        return refuse(StatusCode::BAD_REQUEST, "a deployment id is a number");
    };
    let plan = match body.map(|Json(b)| b.check(deployment, crate::ota::now_ms())) {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => return refuse(StatusCode::BAD_REQUEST, e),
        Err(r) => return refuse(StatusCode::BAD_REQUEST, r.body_text()),
    };
    match store.ota_deployment(deployment).await {
        Ok(Some(_)) => {}
        Ok(None) => return refuse(StatusCode::NOT_FOUND, format!("no deployment {deployment}")),
        Err(e) => return unavailable(e),
    }
    match store.plan_put(&plan).await {
        Ok(()) => Json(json!({
            "deployment": deployment,
            "start_ms": plan.slots.start_ms,
            "slot_ms": plan.slots.length_ms,
            "slots": plan.slots.count,
            "allow": plan.allowed,
        }))
        .into_response(),
        Err(e) => unavailable(e),
    }
}
