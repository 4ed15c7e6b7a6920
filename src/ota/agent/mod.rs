//! The upgrade agent a terminal runs (S3): it polls the hawkBit DDI API of a radcare
//! (or hawkBit) server, asks its user when the deployment lets it, downloads with
//! resume, verifies every file against the DDI hashes and the signed manifest,
//! installs atomically (over an older version, or fresh), and reports the result,
//! which is kept on disk until the server has it.
//!
//! `core` decides, without IO; this module does the talking and the files.

pub mod booking;
pub mod core;
pub mod faults;
pub mod fetch;
pub mod http;
pub mod install;
pub mod state;

use std::collections::BTreeMap;
use std::io::{BufRead, Seek, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use hyper::header::{CONTENT_RANGE, ETAG, IF_RANGE, RANGE};
use sha2::Digest as _;
use tokio::sync::Notify;

use self::core::{Failure, Fault, Offer, Policy, Verdict};
use self::http::{Client, HttpError};
use self::state::{Report, State};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("state directory {0}: {1}")]
    State(PathBuf, std::io::Error),
    #[error("{0}")]
    Http(#[from] HttpError),
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{0}: not the JSON expected")]
    BadAnswer(String),
}

/// What to do with a deployment that lets the user decide (DDI `attempt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    /// Ask on stdin, y/n.
    Ask,
    Accept,
    Decline,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `http://host:port` of the terminal listener.
    pub server: String,
    pub tenant: String,
    pub device: String,
    pub token: String,
    /// The release signing key (hex), pinned.
    pub public_key: String,
    pub state_dir: PathBuf,
    pub install_dir: PathBuf,
    pub consent: Consent,
    /// Versions installed before the agent managed them (its own record wins).
    pub preinstalled: BTreeMap<String, String>,
    /// Download at most this many octets a second (a subscriber's line is not ours).
    pub max_rate: Option<u64>,
    /// Where the terminal is (latitude, longitude): with it the agent checks in to
    /// the upgrade plan and downloads at its booked time from its node (S5).
    pub location: Option<(f64, f64)>,
    /// What to do with the faults of files that did not download (docs/faults.md).
    pub fault_report: self::faults::ReportMode,
}

/// Wakes a running agent for an immediate poll; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Notices(Arc<Notify>);

/// A notice (SMS, WAP Push, IP push: the text as received) says there is something
/// for this device: poll now rather than at the end of the sleep.
pub fn handle_notice(notices: &Notices, notice: &str) {
    tracing::info!(notice = notice.trim(), "notice received: polling now");
    notices.0.notify_one();
}

/// Calls [`handle_notice`] for every line appended to `path` (by a modem handler),
/// from its length when this starts; forever.
pub async fn watch_notice_file(path: PathBuf, notices: Notices) {
    let mut offset = std::fs::metadata(&path).map_or(0, |m| m.len());
    let mut pending = String::new();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Ok(mut f) = std::fs::File::open(&path) else {
            continue;
        };
        let len = f.metadata().map_or(0, |m| m.len());
        if len < offset {
            // Truncated or replaced: read it from the start.
            offset = 0;
        }
        if len == offset || f.seek(std::io::SeekFrom::Start(offset)).is_err() {
            continue;
        }
        let mut reader = std::io::BufReader::new(f);
        let mut line = String::new();
        while let Ok(n) = reader.read_line(&mut line) {
            if n == 0 {
                break;
            }
            offset += n as u64;
            pending.push_str(&line);
            line.clear();
            if pending.ends_with('\n') {
                handle_notice(&notices, &pending);
                pending.clear();
            }
        }
    }
}

/// The IP push channel (S3): keeps the device's authenticated long-poll open and turns
/// each notice into an immediate poll; a lost connection is taken up again, backing
/// off while the server is away. Forever.
pub async fn hold_push(client: Client, base: String, notices: Notices) {
    let url = format!("{base}/radcare/notices");
    let mut backoff = Duration::from_secs(1);
    loop {
        match client.call_held(&url, PUSH_HOLD).await {
            Ok((200, body)) => {
                backoff = Duration::from_secs(1);
                let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                for n in answer["notices"].as_array().into_iter().flatten() {
                    handle_notice(&notices, &format!("IP push: {n}"));
                }
                continue;
            }
            Ok((status, _)) => {
                tracing::warn!(
                    status,
                    "the IP push channel was refused; trying again later"
                )
            }
            Err(e) => tracing::debug!(error = %e, "the IP push channel is down; trying again"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}

/// Longest the server holds the push request (its `[terminal.notices] hold` is 30 s by
/// default); the client waits that plus its usual timeout.
const PUSH_HOLD: Duration = Duration::from_secs(60);

/// How a download attempt went wrong: worth another try, or not.
enum DownloadError {
    Retry(Failure),
    Fatal(Failure),
}

pub struct Agent {
    s: Settings,
    client: Client,
    state: State,
    notices: Notices,
    sleep: Duration,
    /// The plan's booking (also on disk) and when to ask again when there was no room.
    booking: Option<booking::Booking>,
    ask_again_ms: Option<i64>,
    /// The node confirmed at the booked time: artifacts come from it.
    node_url: Option<String>,
}

/// Unix seconds.
fn now_s() -> i64 {
    super::now_ms() / 1000
}

impl Agent {
    pub fn new(s: Settings) -> Result<Agent, AgentError> {
        let state =
            State::open(&s.state_dir).map_err(|e| AgentError::State(s.state_dir.clone(), e))?;
        Ok(Agent {
            client: Client::new(&s.token),
            state,
            notices: Notices::default(),
            // Until the server says otherwise: hawkBit's default.
            sleep: Duration::from_secs(300),
            booking: booking::load(&s.state_dir),
            ask_again_ms: None,
            node_url: None,
            s,
        })
    }

    pub fn notices(&self) -> Notices {
        self.notices.clone()
    }

    /// Holds the IP push channel for this agent (see [`hold_push`]).
    pub fn push_channel(&self) -> impl std::future::Future<Output = ()> + use<> {
        hold_push(self.client.clone(), self.base(), self.notices.clone())
    }

    fn base(&self) -> String {
        format!(
            "{}/{}/controller/v1/{}",
            self.s.server.trim_end_matches('/'),
            self.s.tenant,
            self.s.device
        )
    }

    fn state_err(&self, e: std::io::Error) -> AgentError {
        AgentError::State(self.s.state_dir.clone(), e)
    }

    /// What is installed: the agent's record, then what it was told was there.
    pub fn installed(&self) -> Result<BTreeMap<String, String>, AgentError> {
        let mut all = self.s.preinstalled.clone();
        all.extend(self.state.installed().map_err(|e| self.state_err(e))?);
        Ok(all)
    }

    /// Polls until cancelled by dropping: the sleep the server asks for (with jitter),
    /// cut short by a notice or by an active check (every `check_every`) that finds a
    /// newer release: a terminal whose notice was lost learns of it that way.
    pub async fn run(mut self, check_every: Option<Duration>) {
        let mut next_check = check_every.map(|d| Instant::now() + d);
        loop {
            let timer = match self.follow_plan().await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "check-in failed; trying again after the sleep");
                    None
                }
            };
            if let Err(e) = self.cycle().await {
                tracing::warn!(error = %e, "poll failed; trying again after the sleep");
            }
            let mut r = [0u8; 8];
            crate::wire::crypto::os_random(&mut r);
            let mut wake = Instant::now() + core::jittered(self.sleep, u64::from_le_bytes(r));
            // The booked time, exactly: the plan's keep-alive timer.
            if let Some(t) = timer {
                let due = Duration::from_millis((t - super::now_ms()).max(0) as u64);
                wake = wake.min(Instant::now() + due);
            }
            loop {
                let until = next_check.map_or(wake, |c| c.min(wake));
                tokio::select! {
                    () = tokio::time::sleep_until(until.into()) => {}
                    () = self.notices.0.notified() => break,
                }
                if let (Some(c), Some(every)) = (next_check, check_every)
                    && Instant::now() >= c
                {
                    let newer = self.check().await;
                    next_check = Some(Instant::now() + every);
                    match newer {
                        Ok(newer) if !newer.is_empty() => {
                            tracing::info!("the active check found a newer release: polling now");
                            break;
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "active check failed"),
                    }
                }
                if Instant::now() >= wake {
                    break;
                }
            }
        }
    }

    /// The plan (S5), for an agent that knows where it is: until its booked time it
    /// only waits (the time returned, Unix ms); at that time it checks in again (a
    /// booking moved by a re-plan is learnt here and waited for), gets the version
    /// confirmed by the active check, and lets the poll that follows download from
    /// its node. `None`: nothing to wait for.
    pub async fn follow_plan(&mut self) -> Result<Option<i64>, AgentError> {
        self.node_url = None;
        let Some((latitude, longitude)) = self.s.location else {
            return Ok(None);
        };
        let now = super::now_ms();
        if let booking::Next::WaitUntil(t) =
            booking::next(self.booking.as_ref(), self.ask_again_ms, now)
        {
            return Ok(Some(t));
        }
        let url = format!("{}/radcare/checkin", self.base());
        let body = serde_json::json!({ "latitude": latitude, "longitude": longitude });
        let (status, answer) = self.client.call(Method::POST, &url, Some(&body)).await?;
        self.ask_again_ms = None;
        if status == 404 {
            // No deployment for this device (any more): nothing booked.
            self.set_booking(None)?;
            return Ok(None);
        }
        if status != 200 {
            return Err(AgentError::Status { url, status });
        }
        match booking::parse_answer(&answer).ok_or_else(|| AgentError::BadAnswer(url))? {
            booking::Answer::Booked(b) => {
                let at = b.at_ms;
                if at > now {
                    tracing::info!(
                        node = b.node,
                        at_ms = at,
                        "upgrade booked: waiting for its time"
                    );
                    self.set_booking(Some(b))?;
                    return Ok(Some(at));
                }
                let newer = self.check().await?;
                tracing::info!(
                    node = b.node,
                    confirmed = newer.len(),
                    "booked time: downloading from the node"
                );
                self.node_url = Some(b.url.clone());
                self.set_booking(Some(b))?;
                Ok(None)
            }
            booking::Answer::AskAgainAt(t) => {
                tracing::info!(at_ms = t, "no room in the plan yet: asking again then");
                self.set_booking(None)?;
                self.ask_again_ms = Some(t);
                Ok(Some(t))
            }
            booking::Answer::Unplanned => {
                self.set_booking(None)?;
                Ok(None)
            }
        }
    }

    fn set_booking(&mut self, b: Option<booking::Booking>) -> Result<(), AgentError> {
        let dir = &self.s.state_dir;
        match &b {
            Some(b) if self.booking.as_ref() != Some(b) => booking::save(dir, b),
            Some(_) => Ok(()),
            None => booking::clear(dir),
        }
        .map_err(|e| self.state_err(e))?;
        self.booking = b;
        Ok(())
    }

    /// One poll cycle: deliver waiting reports, poll, answer configData, take a
    /// deployment.
    pub async fn cycle(&mut self) -> Result<(), AgentError> {
        self.deliver_reports().await;
        let url = self.base();
        let (status, body) = self.client.call(Method::GET, &url, None).await?;
        if status != 200 {
            return Err(AgentError::Status { url, status });
        }
        let poll = core::parse_poll(&body).ok_or_else(|| AgentError::BadAnswer(url.clone()))?;
        if let Some(sleep) = poll.sleep {
            self.sleep = sleep.max(Duration::from_secs(1));
        }
        if let Some(href) = poll.config_data {
            self.send_identity(&href).await;
        }
        if let Some(href) = poll.deployment {
            self.deployment(&href).await?;
        }
        Ok(())
    }

    async fn send_identity(&self, href: &str) {
        let body = match self.installed() {
            Ok(installed) => core::identity(&self.s.device, &installed),
            Err(e) => {
                tracing::warn!(error = %e, "configData not sent");
                return;
            }
        };
        match self.client.call(Method::PUT, href, Some(&body)).await {
            Ok((200..=299, _)) => tracing::debug!("configData sent"),
            Ok((status, _)) => tracing::warn!(status, "configData refused"),
            Err(e) => tracing::warn!(error = %e, "configData not sent"),
        }
    }

    /// The active check: the server answers with newer signed releases, if any.
    pub async fn check(&self) -> Result<Vec<crate::ota::release::Manifest>, AgentError> {
        let url = format!("{}/radcare/check", self.base());
        let body = serde_json::json!({ "installed": self.installed()? });
        let (status, answer) = self.client.call(Method::POST, &url, Some(&body)).await?;
        if status != 200 {
            return Err(AgentError::Status { url, status });
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&answer).map_err(|_| AgentError::BadAnswer(url))?;
        let newer = core::check_answer(&answer, &self.s.public_key, now_s());
        for m in &newer {
            tracing::info!(
                name = m.name,
                version = m.version,
                "a newer release is published"
            );
        }
        if newer.is_empty() {
            tracing::info!("active check: up to date");
        }
        Ok(newer)
    }

    /// Sends every waiting report; each stays on disk until the server has it.
    async fn deliver_reports(&self) {
        let reports = match self.state.reports() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the waiting reports");
                return;
            }
        };
        for (path, r) in reports {
            match self.client.call(Method::POST, &r.url, Some(&r.body)).await {
                // 410: the action was closed already, by this report sent before.
                Ok((status @ (200..=299 | 410), _)) => {
                    tracing::info!(status, report = %r.body["status"], "result report delivered");
                    if let Err(e) = std::fs::remove_file(&path) {
                        tracing::error!(error = %e, path = %path.display(), "delivered report not removed");
                    }
                }
                Ok((status, _)) => tracing::warn!(status, "result report refused; kept"),
                Err(e) => tracing::warn!(error = %e, "result report not delivered; kept"),
            }
        }
    }

    /// Writes a result report to disk, then tries to deliver it.
    async fn report(&self, feedback_url: &str, action: &str, body: serde_json::Value) {
        let r = Report {
            url: feedback_url.into(),
            body,
        };
        if let Err(e) = self.state.save_report(action, &r) {
            tracing::error!(error = %e, "cannot keep the result report; sending it once");
            let _ = self.client.call(Method::POST, &r.url, Some(&r.body)).await;
            return;
        }
        self.deliver_reports().await;
    }

    async fn deployment(&mut self, href: &str) -> Result<(), AgentError> {
        let (status, body) = self.client.call(Method::GET, href, None).await?;
        if status != 200 {
            return Err(AgentError::Status {
                url: href.into(),
                status,
            });
        }
        let body: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| AgentError::BadAnswer(href.into()))?;
        let Some(action) = core::action_id(&body) else {
            return Err(AgentError::BadAnswer(href.into()));
        };
        let feedback = format!("{}/feedback", href.split('?').next().unwrap_or(href));
        if self.state.has_report(&action) {
            // Done here; its report waits for the server.
            return Ok(());
        }
        let verdict = core::check_offer(&body, &self.s.public_key, &self.installed()?, now_s());
        let result = match verdict {
            Err(f) => Err(f),
            Ok(Verdict::AlreadyInstalled { name, version }) => {
                let detail = format!("{name} {version} is installed");
                tracing::info!("{detail}");
                Ok(core::success(&action, None, detail))
            }
            Ok(Verdict::Install(offer)) => {
                if !self.consents(&offer).await {
                    if offer.policy == Policy::Skip {
                        return Ok(());
                    }
                    Err(Failure::new(Fault::RequestDenied, "declined by the user"))
                } else {
                    let note = core::proceeding(
                        &action,
                        format!("downloading {} {}", offer.name, offer.version),
                    );
                    // Progress only: a lost one is not worth keeping.
                    let _ = self.client.call(Method::POST, &feedback, Some(&note)).await;
                    self.install(&offer).await
                }
            }
        };
        let body = match result {
            Ok(body) => body,
            Err(f) => {
                tracing::warn!(code = f.fault as i64, detail = f.detail, "update failed");
                core::failure(&action, &f)
            }
        };
        self.report(&feedback, &action, body).await;
        Ok(())
    }

    async fn consents(&self, offer: &Offer) -> bool {
        match (offer.policy, self.s.consent) {
            (Policy::Skip, _) => false,
            (Policy::Forced, _) | (Policy::Attempt, Consent::Accept) => true,
            (Policy::Attempt, Consent::Decline) => false,
            (Policy::Attempt, Consent::Ask) => {
                let question = format!(
                    "Install {} {} ({} files, {} octets{})? [y/N] ",
                    offer.name,
                    offer.version,
                    offer.artifacts.len(),
                    offer.total_size(),
                    offer
                        .replaces
                        .as_ref()
                        .map_or(String::new(), |v| format!(", replacing {v}"))
                );
                tokio::task::spawn_blocking(move || {
                    eprint!("{question}");
                    let _ = std::io::stderr().flush();
                    let mut answer = String::new();
                    std::io::stdin().lock().read_line(&mut answer).is_ok()
                        && matches!(answer.trim(), "y" | "Y" | "yes")
                })
                .await
                .unwrap_or(false)
            }
        }
    }

    /// Downloads, verifies and installs an offer; the success report, or why not.
    async fn install(&mut self, offer: &Offer) -> Result<serde_json::Value, Failure> {
        let mut files = Vec::with_capacity(offer.artifacts.len());
        let mut faults = Vec::new();
        let mut first = None;
        for a in &offer.artifacts {
            let mut a = a.clone();
            // Planned: from the node radcare's check-in named, by content address.
            if let Some(node) = &self.node_url {
                a.href = format!("{node}/{}", a.sha256);
            }
            // A file that fails is skipped: the others are downloaded all the same, so
            // that the next try needs only the ones that failed.
            match self.download(&a).await {
                Ok(path) => files.push((a.filename.clone(), path)),
                Err(f) => {
                    tracing::warn!(file = a.filename, code = f.fault as i64, "skipped");
                    faults.push(self::faults::artifact_fault(
                        f.fault as i64,
                        &f.detail,
                        &a.href,
                        &a.sha256,
                        a.size,
                        now_s(),
                    ));
                    first.get_or_insert(f);
                }
            }
        }
        if let Some(f) = first {
            fetch::report_artifact_faults(&self.s, &faults, self.s.fault_report).await;
            return Err(f);
        }
        let internal = |e: std::io::Error| Failure::new(Fault::Internal, format!("install: {e}"));
        install::install(&self.s.install_dir, &offer.name, &files).map_err(internal)?;
        self.state
            .set_installed(&offer.name, &offer.version)
            .map_err(internal)?;
        for a in &offer.artifacts {
            self.state.drop_partial(&a.sha256);
        }
        let kind = offer.install_kind();
        let detail = match &offer.replaces {
            Some(old) => format!("{} {} installed over {old}", offer.name, offer.version),
            None => format!("{} {} installed", offer.name, offer.version),
        };
        tracing::info!(install = kind, "{detail}");
        // The server keeps what a device runs: tell it now, not at the next ask.
        self.send_identity(&format!("{}/configData", self.base()))
            .await;
        Ok(core::success(&offer.action, Some(kind), detail))
    }

    /// Downloads one artifact into the state directory (resuming a partial one), a
    /// few tries, and verifies its length and SHA-256.
    async fn download(&self, a: &core::Artifact) -> Result<PathBuf, Failure> {
        let mut last = None;
        for attempt in 0..4u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
            }
            match self.fetch(a).await {
                Ok(()) => {
                    last = None;
                    break;
                }
                Err(DownloadError::Fatal(f)) => return Err(f),
                Err(DownloadError::Retry(f)) => {
                    tracing::warn!(
                        file = a.filename,
                        attempt,
                        detail = f.detail,
                        "download interrupted"
                    );
                    last = Some(f);
                }
            }
        }
        if let Some(f) = last {
            return Err(f);
        }
        let path = self.state.partial(&a.sha256);
        let (len, sha256) = hash_file(&path).map_err(|e| {
            Failure::new(
                Fault::CannotCompleteDownload,
                format!("{}: {e}", path.display()),
            )
        })?;
        if len != a.size || sha256 != a.sha256 {
            self.state.drop_partial(&a.sha256);
            return Err(Failure::new(
                Fault::FileCorrupted,
                format!(
                    "{}: {len} octets with sha256 {sha256}; signed: {} octets, sha256 {}",
                    a.filename, a.size, a.sha256
                ),
            ));
        }
        Ok(path)
    }

    /// One download attempt: from the partial file's length, `If-Range` its ETag.
    async fn fetch(&self, a: &core::Artifact) -> Result<(), DownloadError> {
        let path = self.state.partial(&a.sha256);
        let io = |e: std::io::Error| {
            DownloadError::Fatal(Failure::new(
                Fault::Internal,
                format!("{}: {e}", path.display()),
            ))
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        let mut have = file.metadata().map_err(io)?.len();
        if have > a.size {
            file.set_len(0).map_err(io)?;
            have = 0;
        }
        if have == a.size {
            return Ok(());
        }
        let mut headers = Vec::new();
        if have > 0 {
            tracing::info!(
                file = a.filename,
                offset = have,
                size = a.size,
                "resuming download at offset {have}"
            );
            headers.push((RANGE, format!("bytes={have}-")));
            if let Some(etag) = self.state.etag(&a.sha256) {
                headers.push((IF_RANGE, etag));
            }
        }
        let retry = |fault, e: String| {
            DownloadError::Retry(Failure::new(fault, format!("{}: {e}", a.filename)))
        };
        let resp = self
            .client
            .send(Method::GET, &a.href, &headers, None)
            .await
            .map_err(|e| {
                let fault = if e.is_connect() {
                    Fault::CannotContactServer
                } else {
                    Fault::CannotCompleteDownload
                };
                retry(fault, e.to_string())
            })?;
        match resp.status().as_u16() {
            206 => {
                let from = resp
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next())
                    .and_then(|v| v.parse::<u64>().ok());
                if from != Some(have) {
                    file.set_len(0).map_err(io)?;
                    return Err(retry(
                        Fault::CannotCompleteDownload,
                        "the server sent another range".into(),
                    ));
                }
            }
            200 => {
                // The whole file: the server does not resume, or it changed.
                file.set_len(0).map_err(io)?;
                have = 0;
            }
            416 => {
                file.set_len(0).map_err(io)?;
                return Err(retry(
                    Fault::CannotCompleteDownload,
                    "range refused; from zero".into(),
                ));
            }
            status @ 500..=599 => {
                return Err(retry(
                    Fault::CannotCompleteDownload,
                    format!("HTTP {status}"),
                ));
            }
            status => {
                return Err(DownloadError::Fatal(Failure::new(
                    Fault::CannotCompleteDownload,
                    format!("{}: HTTP {status}", a.filename),
                )));
            }
        }
        if let Some(etag) = resp.headers().get(ETAG).and_then(|v| v.to_str().ok()) {
            self.state.set_etag(&a.sha256, etag).map_err(io)?;
        }
        let started = Instant::now();
        let mut got = 0u64;
        let mut body = resp.into_body();
        loop {
            let frame = http::next_frame(&mut body)
                .await
                .map_err(|e| retry(Fault::CannotCompleteDownload, e.to_string()))?;
            let Some(frame) = frame else { break };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let room = (a.size - have) as usize;
            file.write_all(&data[..data.len().min(room)]).map_err(io)?;
            have += data.len().min(room) as u64;
            if data.len() > room {
                return Err(DownloadError::Fatal(Failure::new(
                    Fault::FileCorrupted,
                    format!("{}: longer than the signed {} octets", a.filename, a.size),
                )));
            }
            got += data.len() as u64;
            if let Some(rate) = self.s.max_rate {
                let due = Duration::from_secs_f64(got as f64 / rate.max(1) as f64);
                tokio::time::sleep_until((started + due).into()).await;
            }
        }
        file.sync_data().map_err(io)?;
        if have < a.size {
            return Err(retry(
                Fault::CannotCompleteDownload,
                format!("ended at {have} of {} octets", a.size),
            ));
        }
        Ok(())
    }
}

/// A file's length and SHA-256 (hex).
fn hash_file(path: &std::path::Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    loop {
        let n = std::io::Read::read(&mut f, &mut buf)?;
        if n == 0 {
            return Ok((len, hex::encode(h.finalize())));
        }
        h.update(&buf[..n]);
        len += n as u64;
    }
}
