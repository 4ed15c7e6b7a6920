//! The captive portal: the page a walled-garden subscriber's browser is sent to, saying
//! what went wrong with the dial-up login and how to fix it, with a "reconnect me"
//! button that ends the garden session at the NAS (RFC 5176 Disconnect-Request).
//!
//! One request, one way through: find who asks by the connection's address
//! ([`identify`]), look that address up in the [`Garden`], pick the layout and OS steps
//! from the User-Agent ([`device`]) and the language from `?lang=` or Accept-Language,
//! then render a typed askama page from `portal-templates/`. OS captive-portal probes
//! and every other URL a garden subscriber asks for are redirected to the page; the
//! same probes from anyone else get the answer that means "online". A visitor who is
//! not the subscriber never sees the subscriber's account details.
//!
//! Served with `axum::serve(listener, router(state).into_make_service_with_connect_info::<SocketAddr>())`.

pub mod device;
pub mod disconnect;
pub mod identify;
pub mod texts;

use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Form, FromRequestParts, Query, State};
use axum::http::header::{
    ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_TYPE, HOST, LOCATION, RETRY_AFTER, USER_AGENT,
};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::config::{ClientConfig, Config};
use crate::garden::{Garden, GardenEntry};
pub use device::{Agent, Device, Os};
pub use disconnect::{DisconnectOutcome, DisconnectRequest, Retry, disconnect};
use identify::{Identification, Source};
use texts::{CauseText, DialupError, Lang, LangTexts, Texts};

/// Header naming the cause on every answer to a garden subscriber (and `none` on the
/// page for unknown visitors), for programs that read no HTML.
pub const CAUSE_HEADER: HeaderName = HeaderName::from_static("x-radcare-cause");

/// What the portal needs: the garden to look subscribers up in and the configuration
/// (texts, branding, NAS secrets and CoA ports).
#[derive(Debug, Clone)]
pub struct PortalState {
    pub garden: Garden,
    pub config: Arc<Config>,
    /// What a reload may change while serving: the RADIUS clients (for reconnects) and
    /// the policy (the garden session length). The `[portal]` section needs a restart.
    live: Arc<ArcSwap<Config>>,
}

impl PortalState {
    pub fn new(garden: Garden, config: Arc<Config>) -> PortalState {
        let live = Arc::new(ArcSwap::new(config.clone()));
        PortalState {
            garden,
            config,
            live,
        }
    }

    /// Where a reload puts the new config for the portal.
    pub fn live(&self) -> Arc<ArcSwap<Config>> {
        self.live.clone()
    }
}

/// Builds the portal's routes. Serve it with connect info (the peer address is how
/// subscribers are identified); `/metrics` is not ours to define.
pub fn router(state: PortalState) -> Router {
    let portal = Arc::new(Portal::new(state));
    Router::new()
        .route("/", get(landing))
        .route("/reconnect", get(to_portal).post(reconnect))
        .route("/api/captive", get(captive_api))
        .route("/healthz", get(healthz))
        .route("/favicon.ico", get(favicon))
        .route("/hotspot-detect.html", probe(Probe::Apple))
        .route("/library/test/success.html", probe(Probe::Apple))
        .route("/generate_204", probe(Probe::Android))
        .route("/gen_204", probe(Probe::Android))
        .route("/connecttest.txt", probe(Probe::WindowsConnectTest))
        .route("/ncsi.txt", probe(Probe::WindowsNcsi))
        .route("/redirect", probe(Probe::WindowsRedirect))
        .route("/success.txt", probe(Probe::FirefoxSuccess))
        .route("/canonical.html", probe(Probe::FirefoxCanonical))
        .fallback(catch_all)
        .method_not_allowed_fallback(catch_all)
        .with_state(portal)
}

/// Everything the handlers share, built once from the state.
#[derive(Debug)]
struct Portal {
    garden: Garden,
    config: Arc<Config>,
    live: Arc<ArcSwap<Config>>,
    texts: Texts,
    identification: Identification,
    portal_url: String,
    /// Host names the portal page itself is served under (others are redirected).
    portal_hosts: Vec<String>,
    default_lang: Lang,
    reconnects: ReconnectLimiter,
}

impl Portal {
    fn new(state: PortalState) -> Portal {
        let cfg = &state.config.portal;
        let policy_causes: Vec<&str> = state
            .config
            .policy
            .causes
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        let portal_url = cfg.portal_url();
        let mut portal_hosts = vec![cfg.listen.ip().to_string()];
        portal_hosts.extend(url_host(&portal_url));
        Portal {
            texts: Texts::new(cfg, &policy_causes),
            identification: Identification::new(cfg),
            portal_url,
            portal_hosts,
            default_lang: Lang::from_tag(&cfg.default_language).unwrap_or(Lang::En),
            reconnects: ReconnectLimiter::new(cfg.reconnect_interval),
            garden: state.garden,
            config: state.config,
            live: state.live,
        }
    }

    fn is_portal_host(&self, host: Option<&str>) -> bool {
        host.is_none_or(|h| self.portal_hosts.iter().any(|p| p.eq_ignore_ascii_case(h)))
    }

    /// The page chrome for one answer.
    fn chrome<'a>(&'a self, v: &Visitor, lang: Lang, cause: &'a str) -> Chrome<'a> {
        let cfg = &self.config.portal;
        let fallback = self.default_lang.tag();
        let tag = lang.tag();
        Chrome {
            t: self.texts.get(lang),
            lang,
            other_langs: Lang::ALL.into_iter().filter(|l| *l != lang).collect(),
            brand: cfg.brand.name.get(tag, fallback),
            colour: &cfg.brand.colour,
            cause,
            device: v.agent.device,
            os: v.agent.os,
            phone: cfg.support.phone.as_deref(),
            email: cfg.support.email.as_deref(),
            support_url: cfg.support.url.as_deref(),
            hours: cfg.support.hours.as_ref().map(|h| h.get(tag, fallback)),
            links: cfg
                .links
                .iter()
                .filter(|l| l.causes.is_empty() || l.causes.iter().any(|c| c == cause))
                .map(|l| LinkView {
                    label: l.label.get(tag, fallback),
                    url: &l.url,
                })
                .collect(),
            portal_url: &self.portal_url,
        }
    }

    fn redirect(&self, v: &Visitor, page: PageKind) -> Response {
        let cause = v.cause_id(self);
        v.log(page, cause);
        PortalRedirect {
            url: &self.portal_url,
            cause,
        }
        .into_response()
    }

    /// The NAS and client entry a garden session's Disconnect-Request goes to.
    fn nas_for(&self, e: &GardenEntry) -> Option<(IpAddr, ClientConfig)> {
        nas_for(&self.live.load().radius.clients, e)
    }
}

/// The NAS of a garden session and its client entry (by the client name it came in
/// under, else by address): where a Disconnect-Request for it goes.
pub fn nas_for(clients: &[ClientConfig], e: &GardenEntry) -> Option<(IpAddr, ClientConfig)> {
    let ip: IpAddr = e.nas_addr.parse().ok()?;
    let client = clients
        .iter()
        .find(|c| !e.client.is_empty() && c.name == e.client)
        .or_else(|| clients.iter().find(|c| c.address.contains(&ip)))?;
    Some((ip, client.clone()))
}

/// The host part of an absolute URL, lowercased, without port or brackets.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    Some(strip_port(authority).to_ascii_lowercase())
}

/// `example.com:8080` -> `example.com`, `[::1]:80` -> `::1`.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// One reconnect per subscriber per interval.
#[derive(Debug)]
struct ReconnectLimiter {
    interval: Duration,
    // A std Mutex: held for a map lookup only, never across an await.
    last: Mutex<HashMap<u64, Instant>>,
}

impl ReconnectLimiter {
    fn new(interval: Duration) -> Self {
        ReconnectLimiter {
            interval,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// `Ok` to go ahead (and the press is recorded), else how long to wait.
    fn try_start(&self, id: u64, now: Instant) -> Result<(), Duration> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = last.get(&id) {
            let since = now.saturating_duration_since(*at);
            if since < self.interval {
                return Err(self.interval - since);
            }
        }
        if last.len() >= 4096 {
            last.retain(|_, at| now.saturating_duration_since(*at) < self.interval);
        }
        last.insert(id, now);
        Ok(())
    }
}

/// The pages and answers, as a fixed metrics label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageKind {
    Cause,
    Generic,
    ProbeRedirect,
    ProbeOnline,
    CaptiveApi,
    Redirect,
    Reconnect,
    NotFound,
    Health,
}

impl PageKind {
    fn as_str(self) -> &'static str {
        match self {
            PageKind::Cause => "cause",
            PageKind::Generic => "generic",
            PageKind::ProbeRedirect => "probe_redirect",
            PageKind::ProbeOnline => "probe_online",
            PageKind::CaptiveApi => "captive_api",
            PageKind::Redirect => "redirect",
            PageKind::Reconnect => "reconnect",
            PageKind::NotFound => "not_found",
            PageKind::Health => "healthz",
        }
    }
}

fn count(page: PageKind) {
    metrics::counter!("radcare_portal_requests_total", "page" => page.as_str()).increment(1);
}

/// Who asks: address, garden entry (if theirs), device, language, Host.
#[derive(Debug)]
struct Visitor {
    source: Source,
    entry: Option<GardenEntry>,
    agent: Agent,
    lang: Lang,
    host: Option<String>,
}

impl Visitor {
    fn cause_id<'a>(&'a self, portal: &'a Portal) -> &'a str {
        match &self.entry {
            Some(e) => &portal.texts.get(self.lang).cause(&e.cause).id,
            None => "none",
        }
    }

    fn log(&self, page: PageKind, cause: &str) {
        count(page);
        let ip = self.source.ip.map(|i| i.to_string()).unwrap_or_default();
        match (&self.entry, page) {
            (Some(e), PageKind::Cause) => tracing::info!(
                garden_id = e.id,
                cause,
                device = self.agent.device.as_str(),
                os = self.agent.os.as_str(),
                lang = self.lang.tag(),
                ip,
                "portal page served"
            ),
            (entry, _) => tracing::debug!(
                garden_id = entry.as_ref().map(|e| e.id),
                cause,
                page = page.as_str(),
                device = self.agent.device.as_str(),
                ip,
                hint_ignored = self.source.hint_ignored,
                "portal request"
            ),
        }
    }
}

/// Slack for the NAS's Session-Timeout and for clocks of other nodes sharing the store.
const GARDEN_EXPIRY_SLACK: Duration = Duration::from_secs(60);

/// Whether a garden entry can still be online. Every garden Accept carries
/// Session-Timeout = `garden_session_timeout`, so past that the NAS has ended the
/// session even if its Accounting Stop was lost, and the address may already be
/// someone else's: their page must not show the old subscriber's account.
fn still_in_garden(e: &GardenEntry, session_timeout: Duration, now_ms: i64) -> bool {
    let limit = (session_timeout + GARDEN_EXPIRY_SLACK).as_millis() as i64;
    now_ms.saturating_sub(e.entered_at_ms) <= limit
}

/// Picks the language: `?lang=`, then Accept-Language by quality, then the default.
fn negotiate(query_lang: Option<&str>, accept: Option<&str>, default: Lang) -> Lang {
    if let Some(l) = query_lang.and_then(Lang::from_tag) {
        return l;
    }
    let mut ranges: Vec<(f32, Lang)> = accept
        .unwrap_or("")
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let lang = Lang::from_tag(parts.next()?)?;
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (q > 0.0).then_some((q, lang))
        })
        .collect();
    // Stable: among equal qualities the first listed wins.
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranges.first().map_or(default, |r| r.1)
}

impl FromRequestParts<Arc<Portal>> for Visitor {
    type Rejection = PortalError;

    async fn from_request_parts(
        parts: &mut Parts,
        portal: &Arc<Portal>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip())
            .ok_or(PortalError::NoPeerAddress)?;
        let query: Vec<(String, String)> = Query::try_from_uri(&parts.uri)
            .map(|q: Query<Vec<(String, String)>>| q.0)
            .unwrap_or_default();
        let source = portal.identification.source(peer, &parts.headers, &query);
        let timeout = portal.live.load().policy.garden_session_timeout;
        let entry = match source.ip {
            Some(ip) => portal.garden.by_ip(ip).await,
            None => None,
        }
        .filter(|e| source.accepts(e) && still_in_garden(e, timeout, crate::garden::now_ms()));
        let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let query_lang = query
            .iter()
            .find(|(k, _)| k == "lang")
            .map(|(_, v)| v.as_str());
        let lang = negotiate(query_lang, header(ACCEPT_LANGUAGE), portal.default_lang);
        let host = parts
            .uri
            .host()
            .or_else(|| header(HOST))
            .map(|h| strip_port(h).to_ascii_lowercase());
        Ok(Visitor {
            source,
            entry,
            agent: Agent::from_user_agent(header(USER_AGENT)),
            lang,
            host,
        })
    }
}

/// Errors of the portal surface: internal only (a visitor's mistakes get pages).
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("no peer address: serve the router with into_make_service_with_connect_info")]
    NoPeerAddress,
    #[error("cannot render a portal page: {0}")]
    Render(#[from] askama::Error),
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self, "portal error");
        metrics::counter!("radcare_portal_requests_total", "page" => "error").increment(1);
        let body = ErrorPage.render().unwrap_or_else(|_| "error".into());
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            [
                (CONTENT_TYPE, "text/html; charset=utf-8"),
                (CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response()
    }
}

/// The page when the portal itself fails: no state needed, both languages.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage;

/// The parts every HTML page shares (base.html).
struct Chrome<'a> {
    t: &'a LangTexts,
    lang: Lang,
    other_langs: Vec<Lang>,
    brand: &'a str,
    colour: &'a str,
    /// `data-cause`: the cause id, or `none`.
    cause: &'a str,
    device: Device,
    os: Os,
    phone: Option<&'a str>,
    email: Option<&'a str>,
    support_url: Option<&'a str>,
    hours: Option<&'a str>,
    links: Vec<LinkView<'a>>,
    portal_url: &'a str,
}

impl Chrome<'_> {
    fn has_contact(&self) -> bool {
        self.phone.is_some() || self.email.is_some() || self.support_url.is_some()
    }

    /// Phones and tablets can place a call from a `tel:` link.
    fn can_call(&self) -> bool {
        matches!(self.device, Device::Phone | Device::Tablet)
    }
}

struct LinkView<'a> {
    label: &'a str,
    url: &'a str,
}

/// A heading and a paragraph of OS-specific help.
struct HelpItem<'a> {
    heading: &'a str,
    text: &'a str,
}

/// Where the visitor acts: the router always; the device itself when it may dial.
fn os_help<'a>(t: &'a LangTexts, os: Os, texts: &'a texts::OsTexts) -> Vec<HelpItem<'a>> {
    let ui = t.ui;
    let own = match os {
        Os::Windows => Some(&texts.windows),
        Os::Macos => Some(&texts.macos),
        Os::Linux => Some(&texts.linux),
        Os::Ios => Some(&texts.ios),
        Os::Android => Some(&texts.android),
        Os::Other => None,
    };
    let mut items = Vec::new();
    if os.is_mobile()
        && let Some(own) = own
    {
        items.push(HelpItem {
            heading: ui.on_this_device,
            text: own,
        });
    }
    items.push(HelpItem {
        heading: ui.if_router,
        text: &texts.router,
    });
    if !os.is_mobile()
        && let Some(own) = own
    {
        items.push(HelpItem {
            heading: ui.if_this_computer,
            text: own,
        });
    }
    items
}

#[derive(Template)]
#[template(path = "cause/page.html")]
struct CausePage<'a> {
    c: Chrome<'a>,
    cause: &'a CauseText,
    user: &'a str,
    reason: &'a str,
    garden_id: u64,
    help: Vec<HelpItem<'a>>,
}

#[derive(Template)]
#[template(path = "cause/page.txt")]
struct CausePlain<'a> {
    p: &'a CausePage<'a>,
}

#[derive(Template)]
#[template(path = "generic/page.html")]
struct GenericPage<'a> {
    c: Chrome<'a>,
    address: Option<IpAddr>,
    common: &'a [CauseText],
    dialup_errors: &'a [DialupError],
}

#[derive(Template)]
#[template(path = "generic/page.txt")]
struct GenericPlain<'a> {
    p: &'a GenericPage<'a>,
}

#[derive(Template)]
#[template(path = "reconnect/result.html")]
struct ResultPage<'a> {
    c: Chrome<'a>,
    title: &'a str,
    body: String,
    detail: Option<String>,
    /// How to dial again (after a successful disconnect).
    redial: Vec<HelpItem<'a>>,
}

#[derive(Template)]
#[template(path = "reconnect/result.txt")]
struct ResultPlain<'a> {
    p: &'a ResultPage<'a>,
}

#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundPage<'a> {
    c: Chrome<'a>,
}

/// Renders an HTML page.
fn html<T: Template>(page: &T, status: StatusCode, cause: &str) -> Result<Response, PortalError> {
    Ok(answer(
        status,
        "text/html; charset=utf-8",
        cause,
        page.render()?,
    ))
}

/// Renders a text/plain answer.
fn plain<T: Template>(page: &T, status: StatusCode, cause: &str) -> Result<Response, PortalError> {
    Ok(answer(
        status,
        "text/plain; charset=utf-8",
        cause,
        page.render()?,
    ))
}

fn answer(status: StatusCode, content_type: &'static str, cause: &str, body: String) -> Response {
    let cause = HeaderValue::from_str(cause).unwrap_or(HeaderValue::from_static("unknown"));
    (
        status,
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (CAUSE_HEADER, cause),
        ],
        body,
    )
        .into_response()
}

/// A 302 to the portal page, with a line of text for programs that do not follow it.
struct PortalRedirect<'a> {
    url: &'a str,
    cause: &'a str,
}

impl IntoResponse for PortalRedirect<'_> {
    fn into_response(self) -> Response {
        let mut r = answer(
            StatusCode::FOUND,
            "text/plain; charset=utf-8",
            self.cause,
            format!("See {}\n", self.url),
        );
        if let Ok(v) = HeaderValue::from_str(self.url) {
            r.headers_mut().insert(LOCATION, v);
        }
        r
    }
}

/// `GET /`: the page for the visitor's cause, or the generic page.
async fn landing(State(p): State<Arc<Portal>>, v: Visitor) -> Result<Response, PortalError> {
    match &v.entry {
        Some(_) if !p.is_portal_host(v.host.as_deref()) => Ok(p.redirect(&v, PageKind::Redirect)),
        Some(e) => cause_page(&p, &v, e),
        None => generic_page(&p, &v),
    }
}

fn cause_page(p: &Portal, v: &Visitor, e: &GardenEntry) -> Result<Response, PortalError> {
    let t = p.texts.get(v.lang);
    let cause = t.cause(&e.cause);
    v.log(PageKind::Cause, &cause.id);
    let page = CausePage {
        c: p.chrome(v, v.lang, &cause.id),
        cause,
        user: &String::from_utf8_lossy(&e.user),
        reason: &e.reason,
        garden_id: e.id,
        help: if cause.credentials_help {
            os_help(t, v.agent.os, &t.credentials)
        } else {
            Vec::new()
        },
    };
    if v.agent.device.is_browser() {
        html(&page, StatusCode::OK, &cause.id)
    } else {
        plain(&CausePlain { p: &page }, StatusCode::OK, &cause.id)
    }
}

fn generic_page(p: &Portal, v: &Visitor) -> Result<Response, PortalError> {
    v.log(PageKind::Generic, "none");
    let t = p.texts.get(v.lang);
    let page = GenericPage {
        c: p.chrome(v, v.lang, "none"),
        address: v.source.ip,
        common: &t.common,
        dialup_errors: &t.dialup_errors,
    };
    if v.agent.device.is_browser() {
        html(&page, StatusCode::OK, "none")
    } else {
        plain(&GenericPlain { p: &page }, StatusCode::OK, "none")
    }
}

/// Any URL we have no route for: a garden subscriber's browsing, redirected by the
/// BRAS, goes to the portal page; anyone else gets a 404.
async fn catch_all(State(p): State<Arc<Portal>>, v: Visitor) -> Result<Response, PortalError> {
    if v.entry.is_some() {
        return Ok(p.redirect(&v, PageKind::Redirect));
    }
    v.log(PageKind::NotFound, "none");
    let page = NotFoundPage {
        c: p.chrome(&v, v.lang, "none"),
    };
    html(&page, StatusCode::NOT_FOUND, "none")
}

/// `GET /reconnect` (a reload of the result page): back to the portal page.
async fn to_portal(State(p): State<Arc<Portal>>, v: Visitor) -> Response {
    p.redirect(&v, PageKind::Redirect)
}

async fn healthz() -> &'static str {
    count(PageKind::Health);
    "ok"
}

async fn favicon() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// The OS connectivity checks we recognise by path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Apple,
    Android,
    WindowsConnectTest,
    WindowsNcsi,
    WindowsRedirect,
    FirefoxSuccess,
    FirefoxCanonical,
}

/// Apple's answer that means "online" (captive.apple.com/hotspot-detect.html).
const APPLE_SUCCESS: &str =
    "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>\n";
/// Firefox's detectportal canonical page.
const FIREFOX_CANONICAL: &str = "<meta http-equiv=\"refresh\" \
    content=\"0;url=https://support.mozilla.org/kb/captive-portal\"/>";

fn probe(kind: Probe) -> MethodRouter<Arc<Portal>> {
    get(move |State(p): State<Arc<Portal>>, v: Visitor| async move { probe_answer(kind, &p, &v) })
}

fn probe_answer(kind: Probe, p: &Portal, v: &Visitor) -> Result<Response, PortalError> {
    if v.entry.is_some() {
        // Not "online": the OS opens its captive-portal sheet on our page.
        return Ok(p.redirect(v, PageKind::ProbeRedirect));
    }
    let online = |content_type: &'static str, body: &'static str| {
        v.log(PageKind::ProbeOnline, "none");
        Ok(answer(StatusCode::OK, content_type, "none", body.into()))
    };
    match kind {
        Probe::Apple => online("text/html", APPLE_SUCCESS),
        Probe::Android => {
            v.log(PageKind::ProbeOnline, "none");
            Ok(answer(
                StatusCode::NO_CONTENT,
                "text/plain",
                "none",
                String::new(),
            ))
        }
        Probe::WindowsConnectTest => online("text/plain", "Microsoft Connect Test"),
        Probe::WindowsNcsi => online("text/plain", "Microsoft NCSI"),
        // Windows opens /redirect in the browser after a failed check: nothing to
        // redirect to for a visitor who is not in the garden, so explain instead.
        Probe::WindowsRedirect => generic_page(p, v),
        Probe::FirefoxSuccess => online("text/plain", "success\n"),
        Probe::FirefoxCanonical => online("text/html", FIREFOX_CANONICAL),
    }
}

/// RFC 8908 section 5 API document.
#[derive(Debug, Serialize)]
struct CaptiveApi<'a> {
    captive: bool,
    #[serde(rename = "user-portal-url")]
    user_portal_url: &'a str,
    #[serde(rename = "venue-info-url", skip_serializing_if = "Option::is_none")]
    venue_info_url: Option<&'a str>,
    #[serde(rename = "can-extend-session")]
    can_extend_session: bool,
}

/// `GET /api/captive` (RFC 8908): whether this client is held in the garden.
async fn captive_api(State(p): State<Arc<Portal>>, v: Visitor) -> Response {
    v.log(PageKind::CaptiveApi, v.cause_id(&p));
    let doc = CaptiveApi {
        captive: v.entry.is_some(),
        user_portal_url: &p.portal_url,
        venue_info_url: p.config.portal.venue_info_url.as_deref(),
        can_extend_session: false,
    };
    (
        [
            (CONTENT_TYPE, "application/captive+json"),
            (CACHE_CONTROL, "private, no-store"),
        ],
        Json(doc),
    )
        .into_response()
}

#[derive(Debug, Default, Deserialize)]
struct ReconnectForm {
    /// The garden id the page was rendered for.
    g: Option<String>,
    lang: Option<String>,
}

/// What became of a press of the reconnect button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reconnect {
    Done(DisconnectOutcome),
    Unavailable,
    Wait(Duration),
    NotFound,
    Stale,
}

impl Reconnect {
    fn label(self) -> &'static str {
        match self {
            Reconnect::Done(o) => o.as_str(),
            Reconnect::Unavailable => "unavailable",
            Reconnect::Wait(_) => "rate_limited",
            Reconnect::NotFound => "not_in_garden",
            Reconnect::Stale => "stale_page",
        }
    }
}

/// `POST /reconnect`: ends the subscriber's garden session at the NAS so that their
/// router or computer dials again (and, if they fixed the cause, gets in).
async fn reconnect(
    State(p): State<Arc<Portal>>,
    mut v: Visitor,
    form: Result<Form<ReconnectForm>, FormRejection>,
) -> Result<Response, PortalError> {
    let form = form.map(|f| f.0).unwrap_or_default();
    if let Some(l) = form.lang.as_deref().and_then(Lang::from_tag) {
        v.lang = l;
    }
    let outcome = match &v.entry {
        None => Reconnect::NotFound,
        Some(e) if form.g.as_deref().is_some_and(|g| g != e.id.to_string()) => Reconnect::Stale,
        Some(e) => match p.reconnects.try_start(e.id, Instant::now()) {
            Err(wait) => Reconnect::Wait(wait),
            Ok(()) => send_disconnect(&p, e).await,
        },
    };
    let cause = v.cause_id(&p);
    count(PageKind::Reconnect);
    metrics::counter!("radcare_portal_reconnects_total", "outcome" => outcome.label()).increment(1);
    tracing::info!(
        garden_id = v.entry.as_ref().map(|e| e.id),
        cause,
        device = v.agent.device.as_str(),
        outcome = outcome.label(),
        "reconnect requested"
    );
    result_page(&p, &v, outcome, cause)
}

async fn send_disconnect(p: &Portal, e: &GardenEntry) -> Reconnect {
    let Some((nas_ip, client)) = p.nas_for(e) else {
        tracing::warn!(
            garden_id = e.id,
            client = %e.client,
            nas = %e.nas_addr,
            "no radius client for the garden session's nas: cannot send a disconnect-request"
        );
        return Reconnect::Unavailable;
    };
    let cfg = &p.config.portal;
    let req = DisconnectRequest {
        nas: SocketAddr::new(nas_ip, client.coa_port),
        secret: client.secret.as_bytes(),
        user_name: &e.user,
        acct_session_id: e.acct_session_id.as_deref(),
        framed_ip: e.framed_ip,
        nas_ip: Some(nas_ip),
    };
    let retry = Retry {
        tries: cfg.disconnect_tries,
        timeout: cfg.disconnect_timeout,
    };
    match disconnect(&req, retry).await {
        Ok(outcome) => Reconnect::Done(outcome),
        Err(err) => {
            tracing::warn!(garden_id = e.id, nas = %req.nas, error = %err, "disconnect-request failed");
            Reconnect::Unavailable
        }
    }
}

fn result_page(
    p: &Portal,
    v: &Visitor,
    outcome: Reconnect,
    cause: &str,
) -> Result<Response, PortalError> {
    let t = p.texts.get(v.lang);
    let ui = t.ui;
    let (status, title, body, detail) = match outcome {
        Reconnect::Done(o) if o.is_success() => (
            StatusCode::OK,
            ui.result_done_title,
            ui.result_done_body.to_string(),
            None,
        ),
        Reconnect::Done(DisconnectOutcome::Nak { error_cause }) => (
            StatusCode::BAD_GATEWAY,
            ui.result_nak_title,
            ui.result_nak_body.to_string(),
            Some(match error_cause {
                Some(c) => format!(
                    "Disconnect-NAK, Error-Cause {c} ({})",
                    disconnect::error_cause_name(c)
                ),
                None => "Disconnect-NAK".to_string(),
            }),
        ),
        Reconnect::Done(_) => (
            StatusCode::GATEWAY_TIMEOUT,
            ui.result_no_answer_title,
            ui.result_no_answer_body.to_string(),
            None,
        ),
        Reconnect::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            ui.result_unavailable_title,
            ui.result_unavailable_body.to_string(),
            None,
        ),
        Reconnect::Wait(wait) => (
            StatusCode::TOO_MANY_REQUESTS,
            ui.result_wait_title,
            ui.result_wait_body
                .replace("{secs}", &wait.as_secs().max(1).to_string()),
            None,
        ),
        Reconnect::NotFound => (
            StatusCode::NOT_FOUND,
            ui.result_not_found_title,
            ui.result_not_found_body.to_string(),
            None,
        ),
        Reconnect::Stale => (
            StatusCode::CONFLICT,
            ui.result_stale_title,
            ui.result_stale_body.to_string(),
            None,
        ),
    };
    let redial = match outcome {
        Reconnect::Done(o) if o.is_success() => os_help(t, v.agent.os, &t.redial),
        _ => Vec::new(),
    };
    let page = ResultPage {
        c: p.chrome(v, v.lang, cause),
        title,
        body,
        detail,
        redial,
    };
    let mut response = if v.agent.device.is_browser() {
        html(&page, status, cause)?
    } else {
        plain(&ResultPlain { p: &page }, status, cause)?
    };
    if let Reconnect::Wait(wait) = outcome {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
    }
    Ok(response)
}

#[cfg(test)]
mod tests;
