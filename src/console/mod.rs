//! The operators' console, on the admin listener (never the portal's): one login for
//! every part's pages, server-rendered with askama (`console-templates/console/`),
//! charts as inline SVG, nothing fetched from elsewhere.
//!
//! Every page and `/api/*` passes [`require_login`]: a session cookie (HttpOnly,
//! SameSite=Strict, its id kept only as a SHA-256), and on every POST the session's
//! CSRF token in the form and an admin role (a read-only operator may look, not act;
//! logging out is the one POST open to both). Each action (login, logout, disconnect,
//! resolve) is written to the audit trail, shown at `/audit`.

pub mod auth;
mod pages;
pub mod series;
pub mod svg;

use std::time::{Duration, Instant};

use askama::Template;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Form, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::admin::AdminState;
use crate::garden::now_ms;
use crate::store::StoreError;
use crate::store::console::{AuditRecord, Session};
use auth::{LOGIN_COOKIE, Role, SESSION_COOKIE};
pub use pages::pages;

/// How long a session lasts after login.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Failed and successful logins per operator name, and in all, per minute.
const LOGINS_PER_NAME: u32 = 5;
const LOGINS_TOTAL: u32 = 60;
/// The largest form the console accepts.
const FORM_LIMIT: usize = 64 * 1024;

/// The operator behind a request that passed [`require_login`].
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub name: String,
    pub role: Role,
    pub csrf: String,
    session_key: String,
}

/// One error enum for the console, one HTML answer.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("template: {0}")]
    Render(#[from] askama::Error),
    #[error("no store: the console needs one")]
    NoStore,
    #[error("{0}")]
    BadRequest(String),
    #[error("not found")]
    NotFound,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = match &self {
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::NotFound => StatusCode::NOT_FOUND,
            ConsoleError::Store(_) | ConsoleError::NoStore => StatusCode::SERVICE_UNAVAILABLE,
            ConsoleError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %self, "console request failed");
        }
        (
            status,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{self}\n"),
        )
            .into_response()
    }
}

/// Renders a page, never cached (it shows live state and carries the CSRF token).
fn html<T: Template>(status: StatusCode, page: &T) -> Result<Response, ConsoleError> {
    Ok((
        status,
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
        ],
        page.render()?,
    )
        .into_response())
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_string())]).into_response()
}

/// Writes an audit record; a failure is logged, not hidden behind the action's answer.
async fn audit(s: &AdminState, operator: &str, action: &str, target: &str, outcome: &str) {
    let Some(store) = &s.store else { return };
    let r = AuditRecord {
        at_ms: now_ms(),
        operator: operator.chars().take(64).collect(),
        action: action.into(),
        target: target.into(),
        outcome: outcome.into(),
    };
    if let Err(e) = store.console_audit(&r).await {
        tracing::error!(error = %e, action, "console: cannot write the audit record");
    }
}

/// A form field's raw value (CSRF tokens are hex, so no decoding is needed to compare).
fn form_field<'a>(body: &'a [u8], name: &str) -> Option<&'a [u8]> {
    body.split(|b| *b == b'&')
        .filter_map(|kv| {
            let eq = kv.iter().position(|b| *b == b'=')?;
            Some((&kv[..eq], &kv[eq + 1..]))
        })
        .find(|(k, _)| *k == name.as_bytes())
        .map(|(_, v)| v)
}

/// The gate before every page and API: a live session, and for a POST the session's
/// CSRF token and the admin role.
pub async fn require_login(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let session = match (&s.store, auth::cookie(req.headers(), SESSION_COOKIE)) {
        (Some(store), Some(id)) => {
            let key = auth::session_key(id);
            match store.console_session(&key, now_ms()).await {
                Ok(found) => found.map(|f| (key, f)),
                Err(e) => return ConsoleError::from(e).into_response(),
            }
        }
        _ => None,
    };
    let Some((
        session_key,
        Session {
            operator,
            role,
            csrf,
            ..
        },
    )) = session
    else {
        return if api || req.method() != Method::GET {
            (StatusCode::UNAUTHORIZED, "log in at /login first\n").into_response()
        } else {
            see_other("/login")
        };
    };
    let Some(role) = Role::parse(&role) else {
        return (StatusCode::FORBIDDEN, "unknown role\n").into_response();
    };
    // Only an admin acts (a form, or the planning API's PUTs); anyone logged in may
    // log out.
    let acting = !matches!(*req.method(), Method::GET | Method::HEAD);
    if acting && role != Role::Admin && req.uri().path() != "/logout" {
        tracing::warn!(
            operator,
            path = req.uri().path(),
            "console: read-only operator may not act"
        );
        return (
            StatusCode::FORBIDDEN,
            "a read-only operator cannot do this\n",
        )
            .into_response();
    }
    let mut req = req;
    if req.method() == Method::POST {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = to_bytes(body, FORM_LIMIT).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "form too large\n").into_response();
        };
        let token_ok = form_field(&bytes, "csrf")
            .and_then(|t| std::str::from_utf8(t).ok())
            .is_some_and(|t| auth::same_token(t, &csrf));
        if !token_ok {
            tracing::warn!(
                operator,
                path = parts.uri.path(),
                "console: form without a valid csrf token refused"
            );
            return (
                StatusCode::FORBIDDEN,
                "this form is stale or forged: reload the page\n",
            )
                .into_response();
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    req.extensions_mut().insert(LoggedIn {
        name: operator,
        role,
        csrf,
        session_key,
    });
    next.run(req).await
}

/// The routes open to anyone: the login form and its POST.
pub fn login() -> Router<AdminState> {
    Router::new().route("/login", get(login_form).post(log_in))
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    csrf: String,
    error: Option<&'static str>,
}

/// The login form, with a fresh CSRF token double-submitted as a cookie.
fn login_page(status: StatusCode, error: Option<&'static str>) -> Result<Response, ConsoleError> {
    let csrf = auth::token();
    let mut r = html(
        status,
        &LoginPage {
            csrf: csrf.clone(),
            error,
        },
    )?;
    if let Ok(v) = HeaderValue::from_str(&auth::set_cookie(LOGIN_COOKIE, &csrf, 3600)) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    Ok(r)
}

async fn login_form() -> Result<Response, ConsoleError> {
    login_page(StatusCode::OK, None)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

async fn log_in(
    State(s): State<AdminState>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ConsoleError> {
    let Ok(Form(f)) = form else {
        return Err(ConsoleError::BadRequest(
            "a login form: name, password, csrf".into(),
        ));
    };
    let cookie_ok = auth::cookie(&headers, LOGIN_COOKIE)
        .is_some_and(|c| !f.csrf.is_empty() && auth::same_token(c, &f.csrf));
    if !cookie_ok {
        tracing::warn!(operator = %f.name, "console: login form without a valid csrf token refused");
        return login_page(
            StatusCode::FORBIDDEN,
            Some("The form had expired; try again."),
        );
    }
    let store = s.store.as_ref().ok_or(ConsoleError::NoStore)?;
    if !s
        .logins
        .admit(&[&f.name], LOGINS_PER_NAME, LOGINS_TOTAL, Instant::now())
    {
        tracing::warn!(operator = %f.name, "console: too many logins, refused");
        audit(&s, &f.name, "login", "console", "rate_limited").await;
        return login_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many attempts; wait a minute."),
        );
    }
    let operator = store.console_operator(&f.name).await?;
    let hash = operator.as_ref().map_or_else(
        || auth::decoy_hash().to_string(),
        |o| o.password_hash.clone(),
    );
    let password = f.password;
    // Argon2 takes tens of milliseconds of CPU on purpose: off the async workers.
    let matches = tokio::task::spawn_blocking(move || auth::verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    let Some(operator) = operator.filter(|_| matches) else {
        tracing::warn!(operator = %f.name, "console: login failed");
        audit(&s, &f.name, "login", "console", "failed").await;
        return login_page(StatusCode::UNAUTHORIZED, Some("Wrong name or password."));
    };
    let id = auth::token();
    let now = now_ms();
    let session = Session {
        operator: operator.name.clone(),
        role: operator.role.clone(),
        csrf: auth::token(),
        expires_at_ms: now + SESSION_TTL.as_millis() as i64,
    };
    store
        .console_session_open(&auth::session_key(&id), &session, now)
        .await?;
    tracing::info!(operator = %operator.name, role = %operator.role, "console: logged in");
    audit(&s, &operator.name, "login", "console", "ok").await;
    let mut r = see_other("/");
    let headers = r.headers_mut();
    for c in [
        auth::set_cookie(SESSION_COOKIE, &id, SESSION_TTL.as_secs() as i64),
        auth::set_cookie(LOGIN_COOKIE, "", 0),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            headers.append(SET_COOKIE, v);
        }
    }
    Ok(r)
}

/// `POST /logout`: ends the session here and in the browser.
async fn log_out(
    State(s): State<AdminState>,
    axum::Extension(who): axum::Extension<LoggedIn>,
) -> Result<Response, ConsoleError> {
    let store = s.store.as_ref().ok_or(ConsoleError::NoStore)?;
    store.console_session_close(&who.session_key).await?;
    audit(&s, &who.name, "logout", "console", "ok").await;
    let mut r = see_other("/login");
    if let Ok(v) = HeaderValue::from_str(&auth::set_cookie(SESSION_COOKIE, "", 0)) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    Ok(r)
}

fn logout_route() -> Router<AdminState> {
    Router::new().route("/logout", post(log_out))
}

/// Samples the process's counters into the overview's history until shutdown.
pub async fn run_sampler(
    handle: metrics_exporter_prometheus::PrometheusHandle,
    series: series::Series,
    stop: crate::part::Shutdown,
) {
    // Every counter is zero when the process starts: the first interval's bars count
    // from there, whatever happened before the first tick.
    series.push(series::Sample {
        at_ms: now_ms(),
        ..series::Sample::default()
    });
    let mut tick = tokio::time::interval_at(
        tokio::time::Instant::now() + series::INTERVAL,
        series::INTERVAL,
    );
    while stop.run_until_cancelled(tick.tick()).await.is_some() {
        series.push(series::Sample::parse(now_ms(), &handle.render()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::console::Operator;
    use axum::http::Request as HttpRequest;
    use tower::ServiceExt;

    async fn send(router: &Router, method: &str, path: &str, cookie: &str, form: &str) -> Response {
        let req = HttpRequest::builder()
            .method(method)
            .uri(path)
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form.to_string()))
            .unwrap();
        router.clone().oneshot(req).await.unwrap()
    }

    fn cookie_of(r: &Response, name: &str) -> String {
        r.headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.split(';').next())
            .unwrap()
            .to_string()
    }

    /// Logs in; returns the session cookie and its CSRF token (from a page's form).
    async fn login(router: &Router, name: &str) -> (String, String) {
        let form = send(router, "GET", "/login", "", "").await;
        let token = cookie_of(&form, LOGIN_COOKIE);
        let r = send(
            router,
            "POST",
            "/login",
            &format!("{LOGIN_COOKIE}={token}"),
            &format!("csrf={token}&name={name}&password=password-1"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let cookie = format!("{SESSION_COOKIE}={}", cookie_of(&r, SESSION_COOKIE));
        let page = send(router, "GET", "/audit", &cookie, "").await;
        assert_eq!(page.status(), StatusCode::OK);
        let body = to_bytes(page.into_body(), 1 << 20).await.unwrap();
        let body = String::from_utf8_lossy(&body);
        let key = "name=\"csrf\" value=\"";
        let at = body.find(key).unwrap() + key.len();
        (cookie, body[at..at + 64].to_string())
    }

    #[tokio::test]
    async fn the_gate_before_every_page_and_action() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        for (name, role) in [("ann", "admin"), ("rob", "read-only")] {
            let op = Operator {
                name: name.into(),
                password_hash: auth::hash_password("password-1").unwrap(),
                role: role.into(),
                created_at_ms: 0,
            };
            store.console_add_operator(&op).await.unwrap();
        }
        let router = crate::admin::router(AdminState {
            store: Some(store),
            ..AdminState::default()
        });
        let r = send(&router, "GET", "/garden", "", "").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[LOCATION], "/login");
        let r = send(&router, "GET", "/api/plans/1", "", "").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

        let (ann, ann_csrf) = login(&router, "ann").await;
        let (rob, rob_csrf) = login(&router, "rob").await;
        let act = |cookie: &str, form: String| {
            let (router, cookie) = (router.clone(), cookie.to_string());
            async move {
                send(&router, "POST", "/garden/disconnect", &cookie, &form)
                    .await
                    .status()
            }
        };
        assert_eq!(
            act(&rob, format!("csrf={rob_csrf}&id=1")).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(act(&ann, "id=1".into()).await, StatusCode::FORBIDDEN);
        assert_eq!(
            act(&ann, format!("csrf={rob_csrf}&id=1")).await,
            StatusCode::FORBIDDEN
        );
        // Past the gate: no such garden session.
        assert_eq!(
            act(&ann, format!("csrf={ann_csrf}&id=1")).await,
            StatusCode::NOT_FOUND
        );
        // Logging out is the one POST a read-only operator may make.
        let r = send(
            &router,
            "POST",
            "/logout",
            &rob,
            &format!("csrf={rob_csrf}"),
        )
        .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            send(&router, "GET", "/", &rob, "").await.status(),
            StatusCode::SEE_OTHER
        );
    }

    #[tokio::test]
    async fn logins_are_limited_per_name() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let router = crate::admin::router(AdminState {
            store: Some(store),
            ..AdminState::default()
        });
        let attempt = |name: &'static str| {
            let router = router.clone();
            async move {
                let form = send(&router, "GET", "/login", "", "").await;
                let token = cookie_of(&form, LOGIN_COOKIE);
                send(
                    &router,
                    "POST",
                    "/login",
                    &format!("{LOGIN_COOKIE}={token}"),
                    &format!("csrf={token}&name={name}&password=guess-1234"),
                )
                .await
                .status()
            }
        };
        for _ in 0..LOGINS_PER_NAME {
            assert_eq!(attempt("eve").await, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(attempt("eve").await, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(attempt("ann").await, StatusCode::UNAUTHORIZED, "per name");
    }

    #[test]
    fn form_fields_are_found_by_exact_name() {
        let body = b"xcsrf=1&csrf=abc&id=7";
        assert_eq!(form_field(body, "csrf"), Some(&b"abc"[..]));
        assert_eq!(form_field(body, "id"), Some(&b"7"[..]));
        assert_eq!(form_field(body, "nope"), None);
        assert_eq!(form_field(b"", "csrf"), None);
    }
}
