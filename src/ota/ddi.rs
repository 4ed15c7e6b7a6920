//! The device API on the terminal listener: the hawkBit Direct Device Integration API
//! as existing clients use it (SWUpdate's suricatta, rauc-hawkbit, the `hawkbit`
//! crate), under `/{tenant}/controller/v1/{controllerId}`, and radcare's extensions
//! beside it under `.../radcare/` (the active check, the IP push of notices).
//!
//! Every request is authenticated (`Authorization: TargetToken <device token>`, or
//! `GatewayToken <enrolment key>`); a missing, unknown or wrong one gets 401 and
//! nothing is written.

use std::collections::BTreeMap;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::release::{artifact_path, safe_filename};
use super::{Ota, keys, now_ms, token_hash};
use crate::store::ota::{Device, Feedback};

pub fn router(ota: Ota) -> Router {
    let limit = ota.config.max_body;
    Router::new()
        .route("/{tenant}/controller/v1/{id}", get(poll))
        .route("/{tenant}/controller/v1/{id}/configData", put(config_data))
        .route(
            "/{tenant}/controller/v1/{id}/deploymentBase/{action}",
            get(deployment_base),
        )
        .route(
            "/{tenant}/controller/v1/{id}/deploymentBase/{action}/feedback",
            post(feedback),
        )
        .route(
            "/{tenant}/controller/v1/{id}/artifacts/{sha256}/{filename}",
            get(download),
        )
        .route("/{tenant}/controller/v1/{id}/radcare/check", post(check))
        .route(
            "/{tenant}/controller/v1/{id}/radcare/checkin",
            post(checkin),
        )
        .route("/{tenant}/controller/v1/{id}/radcare/notices", get(notices))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(ota)
}

/// A refusal with a reason, as JSON: `{"error": "..."}`.
pub(crate) fn refuse(status: StatusCode, why: &str) -> Response {
    (status, Json(json!({ "error": why }))).into_response()
}

/// A body that is not what the endpoint takes: too large (413), or not its JSON (400).
pub(crate) fn bad_body(
    rejection: axum::extract::rejection::JsonRejection,
    endpoint: &'static str,
    expected: &str,
) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        count(endpoint, "too_large");
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    }
    count(endpoint, "bad_request");
    refuse(StatusCode::BAD_REQUEST, &format!("{expected}: {rejection}"))
}

pub(crate) fn store_failed(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "terminal API: store failed");
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "store unavailable, try again",
    )
}

fn count(endpoint: &'static str, outcome: &'static str) {
    metrics::counter!("radcare_ddi_requests_total", "endpoint" => endpoint, "outcome" => outcome)
        .increment(1);
}

/// The device a request is from, or the answer that refuses it.
pub(crate) async fn authenticate(
    ota: &Ota,
    tenant: &str,
    id: &str,
    headers: &HeaderMap,
    endpoint: &'static str,
) -> Result<Device, Response> {
    if tenant != ota.config.tenant {
        count(endpoint, "unknown_tenant");
        return Err(refuse(StatusCode::NOT_FOUND, "unknown tenant"));
    }
    let unauthorized = || {
        count(endpoint, "unauthorized");
        refuse(StatusCode::UNAUTHORIZED, "missing or wrong token")
    };
    let auth = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (scheme, token) = auth.split_once(' ').unwrap_or(("", ""));
    let token = token.trim();
    if token.is_empty() || !super::valid_device_id(id) {
        return Err(unauthorized());
    }
    let device = ota.store.ota_device(id).await.map_err(store_failed)?;
    match scheme {
        "TargetToken" => match device {
            Some(d)
                if crate::wire::crypto::ct_eq(
                    token_hash(token).as_bytes(),
                    d.token_sha256.as_bytes(),
                ) =>
            {
                Ok(d)
            }
            _ => Err(unauthorized()),
        },
        "GatewayToken" => {
            let Some(key) = &ota.config.enrolment_key else {
                return Err(unauthorized());
            };
            if !crate::wire::crypto::ct_eq(token.as_bytes(), key.as_bytes()) {
                return Err(unauthorized());
            }
            match device {
                Some(d) => Ok(d),
                None => enrol(ota, id).await,
            }
        }
        _ => Err(unauthorized()),
    }
}

/// Registers a device that presented the enrolment key; its model comes with its
/// configData.
async fn enrol(ota: &Ota, id: &str) -> Result<Device, Response> {
    let d = Device {
        id: id.into(),
        // No token of its own: it keeps using the gateway token.
        token_sha256: String::new(),
        model: "unknown".into(),
        tags: String::new(),
        phone: None,
        latitude: None,
        longitude: None,
        attributes: "{}".into(),
        created_at_ms: now_ms(),
        last_seen_ms: None,
    };
    ota.store.ota_add_device(&d).await.map_err(store_failed)?;
    tracing::info!(device = id, "device enrolled with the enrolment key");
    Ok(d)
}

/// Where a device's DDI resources are (the software's location in its notices).
pub(super) fn base_url(ota: &Ota, id: &str) -> String {
    format!(
        "{}/{}/controller/v1/{id}",
        ota.config.public_url(),
        ota.config.tenant
    )
}

/// `HH:MM:SS`, as DDI writes the polling interval.
fn hms(d: std::time::Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

async fn poll(
    State(ota): State<Ota>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let device = match authenticate(&ota, &tenant, &id, &headers, "poll").await {
        Ok(d) => d,
        Err(r) => return r,
    };
    if let Err(e) = ota.store.ota_device_seen(&id, now_ms(), None).await {
        return store_failed(e);
    }
    let action = match ota.store.ota_open_action(&id).await {
        Ok(a) => a,
        Err(e) => return store_failed(e),
    };
    let base = base_url(&ota, &id);
    let mut links = serde_json::Map::new();
    let mut sleep = ota.config.poll_interval;
    if let Some(a) = action {
        // A planned deployment is offered at the device's booked time only; until
        // then its poll says when to come back (S5 for unmodified hawkBit clients).
        let now = now_ms();
        let wait_until = match planned(&ota, &device, a.deployment, now).await {
            Ok(Some(Planned::At(booking, _))) if booking.slot_start_ms > now => {
                Some(booking.slot_start_ms)
            }
            Ok(Some(Planned::AskAgainAt(t))) => Some(t),
            Ok(_) => None,
            Err(r) => return r,
        };
        match wait_until {
            Some(t) => {
                let wait = std::time::Duration::from_millis((t - now).max(1000) as u64);
                sleep = sleep.min(wait);
            }
            None => {
                links.insert(
                    "deploymentBase".into(),
                    json!({ "href": format!("{base}/deploymentBase/{}?c={}", a.id, a.updated_at_ms) }),
                );
            }
        }
    }
    if device.attributes == "{}" {
        links.insert(
            "configData".into(),
            json!({ "href": format!("{base}/configData") }),
        );
    }
    count("poll", "ok");
    let mut body = json!({ "config": { "polling": { "sleep": hms(sleep) } } });
    if !links.is_empty() {
        body["_links"] = Value::Object(links);
    }
    Json(body).into_response()
}

#[derive(Debug, Deserialize)]
struct ConfigData {
    #[serde(default)]
    mode: Option<String>,
    data: BTreeMap<String, Value>,
}

async fn config_data(
    State(ota): State<Ota>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<ConfigData>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let device = match authenticate(&ota, &tenant, &id, &headers, "config_data").await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let body = match body {
        Ok(Json(b)) => b,
        Err(r) => return bad_body(r, "config_data", "configData: a JSON object with `data`"),
    };
    let mut attrs: BTreeMap<String, Value> =
        serde_json::from_str(&device.attributes).unwrap_or_default();
    match body.mode.as_deref().unwrap_or("merge") {
        "merge" => attrs.extend(body.data),
        "replace" => attrs = body.data,
        "remove" => {
            for k in body.data.keys() {
                attrs.remove(k);
            }
        }
        _ => return refuse(StatusCode::BAD_REQUEST, "mode: merge, replace or remove"),
    }
    let text = serde_json::to_string(&attrs).expect("a map serializes");
    if text.len() > ota.config.max_body {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "attributes too large");
    }
    if let Err(e) = ota.store.ota_device_seen(&id, now_ms(), Some(&text)).await {
        return store_failed(e);
    }
    count("config_data", "ok");
    StatusCode::OK.into_response()
}

async fn deployment_base(
    State(ota): State<Ota>,
    Path((tenant, id, action)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let device = match authenticate(&ota, &tenant, &id, &headers, "deployment_base").await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Ok(action_id) = action.parse::<i64>() else {
        return refuse(StatusCode::NOT_FOUND, "no such action");
    };
    let action = match ota.store.ota_action(action_id, &id).await {
        Ok(Some(a)) => a,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "no such action"),
        Err(e) => return store_failed(e),
    };
    let deployment = match ota.store.ota_deployment(action.deployment).await {
        Ok(Some(d)) => d,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "no such action"),
        Err(e) => return store_failed(e),
    };
    let release = match ota
        .store
        .ota_release(&deployment.release_name, &deployment.release_version)
        .await
    {
        Ok(Some(r)) => r,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "release withdrawn"),
        Err(e) => return store_failed(e),
    };
    let base = base_url(&ota, &id);
    // A planned device downloads from its booked node, which serves the artifacts by
    // their SHA-256 (nginx over the state directory's artifacts/).
    let node = match planned(&ota, &device, action.deployment, now_ms()).await {
        Ok(Some(Planned::At(_, node))) => Some(node),
        Ok(_) => None,
        Err(r) => return r,
    };
    let artifacts: Vec<Value> = release
        .artifacts
        .iter()
        .map(|a| {
            let href = match &node {
                Some(n) => format!("{}/{}", n.url, a.sha256),
                None => format!("{base}/artifacts/{}/{}", a.sha256, a.filename),
            };
            json!({
                "filename": a.filename,
                "size": a.size,
                "hashes": { "sha1": a.sha1, "md5": a.md5, "sha256": a.sha256 },
                "_links": { "download-http": { "href": href } },
            })
        })
        .collect();
    count("deployment_base", "ok");
    Json(json!({
        "id": action.id.to_string(),
        "deployment": {
            "download": deployment.policy,
            "update": deployment.policy,
            "maintenanceWindow": "available",
            "chunks": [{
                "part": "os",
                "name": release.name,
                "version": release.version,
                "artifacts": artifacts,
            }],
        },
        "actionHistory": { "status": action.state, "messages": [] },
        "radcare": {
            "manifest": release.manifest,
            "signature": release.signature,
            "publicKey": keys::public_hex(&ota.key),
        },
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct FeedbackBody {
    status: FeedbackStatus,
    /// radcare's agent says how it installed (`overwrite` or `fresh`).
    #[serde(default)]
    radcare: Option<RadcareFeedback>,
}

#[derive(Debug, Deserialize)]
struct FeedbackStatus {
    execution: String,
    result: FeedbackResult,
    #[serde(default)]
    details: Vec<String>,
    /// hawkBit's optional status code (the agent's failure code).
    #[serde(default)]
    code: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct FeedbackResult {
    finished: String,
}

#[derive(Debug, Deserialize)]
struct RadcareFeedback {
    install: Option<String>,
}

/// A device's feedback as an action state, or why it is not one.
fn action_state(s: &FeedbackStatus) -> Result<&'static str, &'static str> {
    Ok(match (s.execution.as_str(), s.result.finished.as_str()) {
        ("closed", "success") => "success",
        ("closed", "failure") | ("rejected", _) => "failure",
        ("closed", _) => return Err("a closed action is finished: success or failure"),
        ("canceled", _) => "canceled",
        ("downloaded", _) => "downloaded",
        ("proceeding" | "resumed" | "scheduled" | "download", _) => "proceeding",
        _ => return Err("unknown execution state"),
    })
}

async fn feedback(
    State(ota): State<Ota>,
    Path((tenant, id, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Result<Json<FeedbackBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Err(r) = authenticate(&ota, &tenant, &id, &headers, "feedback").await {
        return r;
    }
    let body = match body {
        Ok(Json(b)) => b,
        Err(r) => {
            return bad_body(
                r,
                "feedback",
                "feedback: {status: {execution, result: {finished}}}",
            );
        }
    };
    let state = match action_state(&body.status) {
        Ok(s) => s,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, why),
    };
    let Ok(action_id) = action.parse::<i64>() else {
        return refuse(StatusCode::NOT_FOUND, "no such action");
    };
    let action = match ota.store.ota_action(action_id, &id).await {
        Ok(Some(a)) => a,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "no such action"),
        Err(e) => return store_failed(e),
    };
    if action.is_finished() {
        return refuse(StatusCode::GONE, "the action is closed");
    }
    let detail = body.status.details.join("; ");
    let install = body
        .radcare
        .and_then(|r| r.install)
        .filter(|k| k == "overwrite" || k == "fresh");
    let f = Feedback {
        state: state.into(),
        result_code: body.status.code,
        result_detail: (!detail.is_empty()).then(|| detail.chars().take(1000).collect()),
        install_kind: install,
    };
    match ota.store.ota_feedback(&action, &f, now_ms()).await {
        Ok(paused) => {
            if paused {
                tracing::warn!(
                    deployment = action.deployment,
                    "failures reached the error threshold: rollout paused"
                );
            }
            count("feedback", "ok");
            StatusCode::OK.into_response()
        }
        Err(e) => store_failed(e),
    }
}

async fn download(
    State(ota): State<Ota>,
    Path((tenant, id, sha256, filename)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authenticate(&ota, &tenant, &id, &headers, "download").await {
        return r;
    }
    // The path names a file only by its hash: nothing can leave the artifact store.
    let hash_ok = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
    if !hash_ok || !safe_filename(&filename) {
        count("download", "bad_request");
        return refuse(StatusCode::BAD_REQUEST, "no such artifact");
    }
    let sha256 = sha256.to_ascii_lowercase();
    let size = match ota.store.ota_artifact(&sha256).await {
        Ok(Some(s)) => s,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "no such artifact"),
        Err(e) => return store_failed(e),
    };
    count("download", "ok");
    let path = artifact_path(&ota.config.state_dir, &sha256);
    super::download::serve(&path, size as u64, &sha256, &headers).await
}

/// Where a planned device stands.
enum Planned {
    At(crate::store::plan::Booking, crate::planner::Node),
    AskAgainAt(i64),
}

/// The device's booking in a deployment's plan (making one if it has none yet), or
/// `None` when the deployment is not planned.
async fn planned(
    ota: &Ota,
    device: &Device,
    deployment: i64,
    now: i64,
) -> Result<Option<Planned>, Response> {
    use crate::planner::service::{CheckIn, CheckInError, check_in};
    // A device that never said where it is books as if at (0, 0): any cluster.
    let at = crate::planner::Location::new(
        device.latitude.unwrap_or(0.0),
        device.longitude.unwrap_or(0.0),
    )
    .unwrap_or(crate::planner::Location {
        latitude: 0.0,
        longitude: 0.0,
    });
    match check_in(&ota.store, deployment, &device.id, &at, now).await {
        Ok(CheckIn::Booked { booking, node }) => Ok(Some(Planned::At(booking, node))),
        Ok(CheckIn::AskAgainAt(t)) => Ok(Some(Planned::AskAgainAt(t))),
        Err(CheckInError::NoPlan(_)) => Ok(None),
        Err(CheckInError::Store(e)) => Err(store_failed(e)),
    }
}

#[derive(Debug, Deserialize)]
struct CheckInBody {
    latitude: f64,
    longitude: f64,
}

/// S5's check-in: the terminal says where it is; for its open, planned deployment it
/// gets its node and time (booked, durable), or when to ask again.
async fn checkin(
    State(ota): State<Ota>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<CheckInBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let mut device = match authenticate(&ota, &tenant, &id, &headers, "checkin").await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let body = match body {
        Ok(Json(b)) => b,
        Err(r) => return bad_body(r, "checkin", "checkin: {latitude, longitude}"),
    };
    let Ok(at) = crate::planner::Location::new(body.latitude, body.longitude) else {
        count("checkin", "bad_request");
        return refuse(StatusCode::BAD_REQUEST, "location off the map");
    };
    if let Err(e) = ota
        .store
        .ota_device_locate(&id, at.latitude, at.longitude)
        .await
    {
        return store_failed(e);
    }
    (device.latitude, device.longitude) = (Some(at.latitude), Some(at.longitude));
    let action = match ota.store.ota_open_action(&id).await {
        Ok(Some(a)) => a,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "no deployment for this device"),
        Err(e) => return store_failed(e),
    };
    count("checkin", "ok");
    match planned(&ota, &device, action.deployment, now_ms()).await {
        Ok(Some(Planned::At(b, node))) => Json(json!({
            "deployment": b.deployment,
            "node": node.id,
            "url": node.url,
            "at_ms": b.slot_start_ms,
        }))
        .into_response(),
        Ok(Some(Planned::AskAgainAt(t))) => Json(json!({ "ask_again_at_ms": t })).into_response(),
        Ok(None) => {
            Json(json!({ "deployment": action.deployment, "at_ms": now_ms() })).into_response()
        }
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
struct CheckBody {
    /// Installed software: name -> version.
    installed: BTreeMap<String, String>,
}

/// The active check (S3): the device says what it runs; the answer lists, for each,
/// a newer release for its model, with the signed manifest.
async fn check(
    State(ota): State<Ota>,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<CheckBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let device = match authenticate(&ota, &tenant, &id, &headers, "check").await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let body = match body {
        Ok(Json(b)) => b,
        Err(r) => return bad_body(r, "check", "check: {installed: {name: version}}"),
    };
    let mut newer = Vec::new();
    for (name, version) in &body.installed {
        let Ok(have) = semver::Version::parse(version) else {
            return refuse(StatusCode::BAD_REQUEST, "installed versions must be semver");
        };
        let releases = match ota.store.ota_releases(name).await {
            Ok(r) => r,
            Err(e) => return store_failed(e),
        };
        let best = releases
            .into_iter()
            .filter(|r| r.models.split(',').any(|m| m == device.model))
            .filter_map(|r| Some((semver::Version::parse(&r.version).ok()?, r)))
            .filter(|(v, _)| *v > have)
            .max_by(|a, b| a.0.cmp(&b.0));
        if let Some((_, r)) = best {
            newer.push(json!({
                "name": r.name,
                "version": r.version,
                "manifest": r.manifest,
                "signature": r.signature,
            }));
        }
    }
    count("check", "ok");
    Json(json!({ "newer": newer, "publicKey": keys::public_hex(&ota.key) })).into_response()
}

#[derive(Debug, Deserialize)]
struct NoticesQuery {
    /// The last notice number the device has; without it, the notices it was not
    /// given yet.
    after: Option<i64>,
}

/// The IP push channel (S3): the device's long-lived authenticated request. Answers at
/// once with its notices newer than `after`, or holds the request until one comes or
/// `[terminal.notices] hold` passes (then an empty list: ask again).
async fn notices(
    State(ota): State<Ota>,
    Path((tenant, id)): Path<(String, String)>,
    query: Result<Query<NoticesQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authenticate(&ota, &tenant, &id, &headers, "notices").await {
        return r;
    }
    let Ok(Query(query)) = query else {
        count("notices", "bad_request");
        return refuse(StatusCode::BAD_REQUEST, "after: a notice number");
    };
    let cfg = &ota.config.notices;
    let hold = match ota.push.hold(&id, cfg.max_held_per_device, cfg.max_held) {
        Ok(h) => h,
        Err(busy) => {
            count("notices", "busy");
            let why = match busy {
                super::notice::Busy::Device => "this device holds enough requests already",
                super::notice::Busy::Everyone => "too many held requests, try again",
            };
            let mut r = refuse(StatusCode::TOO_MANY_REQUESTS, why);
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, 5.into());
            return r;
        }
    };
    if let Err(e) = ota.store.ota_device_seen(&id, now_ms(), None).await {
        return store_failed(e);
    }
    let deadline = tokio::time::Instant::now() + cfg.hold;
    loop {
        // Registered before the store is read, so a notice recorded in between still
        // wakes this request.
        let woken = hold.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let found = match ota.store.ota_push_notices(&id, query.after).await {
            Ok(n) => n,
            Err(e) => return store_failed(e),
        };
        if let Some(last) = found.last() {
            if let Err(e) = ota.store.ota_push_delivered(&id, last.seq, now_ms()).await {
                return store_failed(e);
            }
            count("notices", "ok");
            let list: Vec<Value> = found
                .iter()
                .map(|n| {
                    json!({
                        "seq": n.seq,
                        "action": n.action.to_string(),
                        "name": n.release_name,
                        "version": n.release_version,
                        "href": base_url(&ota, &id),
                        "server": ota.config.public_url(),
                        "timestamp": n.created_at_ms / 1000,
                    })
                })
                .collect();
            return Json(json!({ "after": last.seq, "notices": list })).into_response();
        }
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep_until(deadline) => break,
            _ = ota.push.closing() => break,
        }
    }
    count("notices", "empty");
    Json(json!({ "after": query.after, "notices": [] })).into_response()
}
