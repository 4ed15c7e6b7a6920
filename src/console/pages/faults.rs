//! Fault reports: the queue with its resolve form, the knowledge base with success
//! rates, the accounts.

use askama::Template;
use axum::Extension;
use axum::Router;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Chrome, when};
use crate::admin::AdminState;
use crate::console::{ConsoleError, LoggedIn, audit, html};
use crate::faults::{Fix, parse_fix};

pub(super) fn routes() -> Router<AdminState> {
    Router::new()
        .route("/faults", get(faults))
        .route("/faults/resolve", post(faults_resolve))
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
