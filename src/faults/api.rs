//! Fault reports on the terminal listener, beside the device API:
//!
//! - `POST /{tenant}/controller/v1/{id}/radcare/faults`: a device, authenticated as
//!   for the rest of the device API; `GET .../radcare/fixes`: the fixes given since.
//! - `POST /{tenant}/faults`: anonymous, identified by IMSI/IMEI, rate-limited;
//!   `GET /{tenant}/faults/fixes?imsi=...` (or `imei=`): its fixes given since.
//! - `GET /{tenant}/faults/sms?secret=...&from=%p&text=%a`: smsbox's sms-service
//!   get-url, one incoming SMS each; the fixes go back by SMS.
//!
//! A report is committed before the 2xx; a malformed one is refused whole (400, 413)
//! and writes nothing.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{FaultError, Faults, Origin, ReportBody, check, parse_fix};
use crate::ota::ddi::{authenticate, bad_body, refuse, store_failed};
use crate::ota::now_ms;
use crate::store::faults::{Fault, Filed};
use crate::wire::crypto::ct_eq;

pub fn router(faults: Faults) -> Router {
    let limit = faults.ota.config.max_body;
    Router::new()
        .route(
            "/{tenant}/controller/v1/{id}/radcare/faults",
            post(device_report),
        )
        .route(
            "/{tenant}/controller/v1/{id}/radcare/fixes",
            get(device_fixes),
        )
        .route("/{tenant}/faults", post(anonymous_report))
        .route("/{tenant}/faults/fixes", get(anonymous_fixes))
        .route("/{tenant}/faults/sms", get(sms_report))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(faults)
}

fn count(channel: &'static str, outcome: &'static str) {
    metrics::counter!("radcare_fault_reports_total", "channel" => channel, "outcome" => outcome)
        .increment(1);
}

fn refused(e: &FaultError, channel: &'static str) -> Response {
    match e {
        FaultError::Store(e) => store_failed(e),
        FaultError::TooMany(_) => {
            count(channel, "too_large");
            refuse(StatusCode::PAYLOAD_TOO_LARGE, &e.to_string())
        }
        _ => {
            count(channel, "bad_request");
            refuse(StatusCode::BAD_REQUEST, &e.to_string())
        }
    }
}

fn too_many(channel: &'static str) -> Response {
    count(channel, "limited");
    let mut r = refuse(
        StatusCode::TOO_MANY_REQUESTS,
        "too many reports from this terminal, try again later",
    );
    r.headers_mut()
        .insert(axum::http::header::RETRY_AFTER, 60.into());
    r
}

fn fault_json(f: &Fault) -> Value {
    let mut v = json!({ "seq": f.seq, "code": f.code, "state": f.state, "report": f.report_id });
    if let Some(fix) = f.fix.as_deref().and_then(parse_fix) {
        v["fix"] = json!(fix);
    }
    v
}

fn filed_json(filed: &Filed, report: &str) -> Response {
    Json(json!({
        "account": filed.account,
        "report": report,
        "duplicate": filed.duplicate,
        "faults": filed.faults.iter().map(fault_json).collect::<Vec<_>>(),
    }))
    .into_response()
}

/// Checks, limits (when unauthenticated) and files a report.
async fn take(
    faults: &Faults,
    body: &ReportBody,
    origin: Origin,
    channel: &'static str,
) -> Result<Filed, Response> {
    let max = faults.ota.config.faults.max_faults;
    let report = check(body, &origin, max, now_ms()).map_err(|e| refused(&e, channel))?;
    if !matches!(origin, Origin::Device { .. }) && !faults.admit(&report) {
        return Err(too_many(channel));
    }
    let filed = faults
        .file(&report)
        .await
        .map_err(|e| refused(&e, channel))?;
    count(channel, if filed.duplicate { "duplicate" } else { "ok" });
    Ok(filed)
}

async fn device_report(
    State(faults): State<Faults>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<ReportBody>, JsonRejection>,
) -> Response {
    let device = match authenticate(&faults.ota, &tenant, &id, &headers, "faults").await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let body = match body {
        Ok(Json(b)) => b,
        Err(r) => return bad_body(r, "faults", "a fault report: {id, faults: [{code, ...}]}"),
    };
    let origin = Origin::Device {
        id: device.id,
        model: device.model,
    };
    match take(&faults, &body, origin, "device").await {
        Ok(filed) => filed_json(&filed, &body.id),
        Err(r) => r,
    }
}

async fn fixes_answer(faults: &Faults, kind: &str, value: &str) -> Response {
    match faults
        .ota
        .store
        .faults_take_fixes(kind, value, now_ms())
        .await
    {
        Ok(list) => Json(json!({ "fixes": list.iter().map(fault_json).collect::<Vec<_>>() }))
            .into_response(),
        Err(e) => store_failed(e),
    }
}

async fn device_fixes(
    State(faults): State<Faults>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authenticate(&faults.ota, &tenant, &id, &headers, "fixes").await {
        return r;
    }
    fixes_answer(&faults, "device", &id).await
}

/// The refusal of a tenant this node does not serve.
fn unknown_tenant(faults: &Faults, tenant: &str) -> Option<Response> {
    (tenant != faults.ota.config.tenant).then(|| refuse(StatusCode::NOT_FOUND, "unknown tenant"))
}

async fn anonymous_report(
    State(faults): State<Faults>,
    Path(tenant): Path<String>,
    body: Result<Json<ReportBody>, JsonRejection>,
) -> Response {
    if let Some(r) = unknown_tenant(&faults, &tenant) {
        return r;
    }
    let body = match body {
        Ok(Json(b)) => b,
        Err(r) => {
            return bad_body(
                r,
                "faults",
                "a fault report: {id, imsi or imei, faults: [{code, ...}]}",
            );
        }
    };
    match take(&faults, &body, Origin::Http, "http").await {
        Ok(filed) => filed_json(&filed, &body.id),
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
struct FixesQuery {
    imsi: Option<String>,
    imei: Option<String>,
}

async fn anonymous_fixes(
    State(faults): State<Faults>,
    Path(tenant): Path<String>,
    query: Result<Query<FixesQuery>, QueryRejection>,
) -> Response {
    if let Some(r) = unknown_tenant(&faults, &tenant) {
        return r;
    }
    let (kind, value) = match query {
        Ok(Query(FixesQuery { imsi: Some(v), .. })) => ("imsi", v),
        Ok(Query(FixesQuery { imei: Some(v), .. })) => ("imei", v),
        _ => return refuse(StatusCode::BAD_REQUEST, "imsi= or imei="),
    };
    let c = &faults.ota.config.faults;
    let key = format!("{kind}:{value}");
    let now = std::time::Instant::now();
    if !faults
        .limiter
        .admit(&[&key], c.per_identity_per_minute, c.per_minute, now)
    {
        return too_many("http");
    }
    fixes_answer(&faults, kind, &value).await
}

#[derive(Debug, Deserialize)]
struct SmsQuery {
    secret: Option<String>,
    from: Option<String>,
    text: Option<String>,
}

async fn sms_report(
    State(faults): State<Faults>,
    Path(tenant): Path<String>,
    query: Result<Query<SmsQuery>, QueryRejection>,
) -> Response {
    if let Some(r) = unknown_tenant(&faults, &tenant) {
        return r;
    }
    let Ok(Query(q)) = query else {
        count("sms", "bad_request");
        return refuse(StatusCode::BAD_REQUEST, "secret, from and text");
    };
    let authentic = match (&faults.ota.config.faults.sms_secret, &q.secret) {
        (Some(want), Some(got)) => ct_eq(want.as_bytes(), got.as_bytes()),
        _ => false,
    };
    if !authentic {
        count("sms", "unauthorized");
        return refuse(StatusCode::UNAUTHORIZED, "missing or wrong secret");
    }
    let (Some(from), Some(text)) = (q.from, q.text) else {
        count("sms", "bad_request");
        return refuse(StatusCode::BAD_REQUEST, "from and text");
    };
    let from = from.trim().to_string();
    if !(3..=20).contains(&from.len())
        || !from
            .trim_start_matches('+')
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        count("sms", "bad_request");
        return refuse(StatusCode::BAD_REQUEST, "from: a phone number");
    }
    let body = match super::sms::parse(&text) {
        Ok(b) => b,
        Err(e) => return refused(&e, "sms"),
    };
    match take(&faults, &body, Origin::Sms { from }, "sms").await {
        // smsbox sends no answer back (max-messages = 0): the fixes go by sendsms.
        Ok(filed) => filed_json(&filed, &body.id),
        Err(r) => r,
    }
}
