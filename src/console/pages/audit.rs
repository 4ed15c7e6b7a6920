//! The audit trail: who did what, when, with what outcome.

use askama::Template;
use axum::Extension;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::{Chrome, when};
use crate::admin::AdminState;
use crate::console::{ConsoleError, LoggedIn, html};

pub(super) fn routes() -> Router<AdminState> {
    Router::new().route("/audit", get(audit_page))
}

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
