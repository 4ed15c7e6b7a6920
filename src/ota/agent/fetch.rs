//! `radcare agent fetch`: downloads a list of files (see `faults::parse_list`), records
//! a fault for each one that fails and goes on with the rest, then reports the faults
//! (now, later in one batch, or never), and carries out the fixes the server gives
//! back: a retry (from another node), a configuration, a text for the user; an upgrade
//! comes through the OTA agent. A fix that does not work is a fault again, reported as
//! any other: that is how the server learns it did not work.
//!
//! On disk, under `<state-dir>/faults/`: `pending.json` (faults kept for later),
//! `outbox/<id>.json` (reports being sent: the id is chosen once, so a report sent
//! again after a lost answer is the same report), `sent/<id>.json` (the last 256 sent, to
//! match fixes given later to their files); the configuration fixes write
//! `<state-dir>/fix-config.toml`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::Method;
use hyper::header::{AUTHORIZATION, HeaderName, USER_AGENT};
use sha2::Digest as _;

use super::faults::{self, Batch, Codes, Given, Identity, Recorded, ReportMode, Trouble, Wanted};
use super::state::{sync_dir, write_atomic};
use crate::faults::Fix;
use crate::io::http_client::{self, Call, HttpError};

/// Longest wait for a connection, an answer's head, or the next piece of a body.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Largest answer read from the fault API.
const MAX_ANSWER: usize = 1 << 20;
/// Sent reports kept, to match the fixes given later to their files.
const KEEP_SENT: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("state directory {0}: {1}")]
    State(PathBuf, std::io::Error),
}

/// Who reports: a registered device (the device API), or an anonymous terminal known
/// by its IMSI/IMEI.
#[derive(Debug, Clone)]
pub enum Reporter {
    Device { id: String, token: String },
    Anonymous,
}

#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// `http://host:port` of radcare's terminal listener.
    pub server: String,
    pub tenant: String,
    pub reporter: Reporter,
    pub identity: Identity,
    pub state_dir: PathBuf,
    pub out_dir: PathBuf,
    pub codes: Codes,
}

/// What a reporting step did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Reports the server took (or had taken).
    pub sent: usize,
    /// Reports still waiting in the outbox.
    pub waiting: usize,
    /// Faults a fix was tried for, and of those the ones it did not mend (reported
    /// again).
    pub tried: usize,
    pub failed_again: Vec<Recorded>,
    /// The files a retry fix brought.
    pub mended: Vec<String>,
}

/// What carrying out a fix came to.
enum Applied {
    /// A retry brought the file.
    Mended(String),
    /// It did not mend the fault: the fault as it is now.
    Again(Box<Recorded>),
    /// Done as far as the agent goes (written, shown, left to the OTA agent).
    Done,
}

pub struct Fetcher {
    s: FetchSettings,
    dir: PathBuf,
}

fn now_s() -> i64 {
    crate::ota::now_ms() / 1000
}

/// A report id: random, so two terminals never share one.
fn new_report_id() -> String {
    let mut b = [0u8; 8];
    crate::wire::crypto::os_random(&mut b);
    format!("a-{}", hex::encode(b))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(std::io::Error::other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl Fetcher {
    pub fn new(s: FetchSettings) -> Result<Fetcher, FetchError> {
        let dir = s.state_dir.join("faults");
        for sub in ["outbox", "sent"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| FetchError::State(s.state_dir.clone(), e))?;
        }
        std::fs::create_dir_all(&s.out_dir).map_err(|e| FetchError::State(s.out_dir.clone(), e))?;
        Ok(Fetcher { s, dir })
    }

    fn err(&self, e: std::io::Error) -> FetchError {
        FetchError::State(self.s.state_dir.clone(), e)
    }

    /// Downloads every file of the list; the faults of those that failed (the others
    /// are in the output directory, verified).
    pub async fn fetch_all(&self, list: &[Wanted]) -> Vec<Recorded> {
        let mut failed = Vec::new();
        for w in list {
            match self.download(&w.url, w).await {
                Ok(()) => println!("fetched {}", w.name),
                Err(f) => {
                    println!("failed {} code={} {}", w.name, f.code, f.detail);
                    failed.push(f);
                }
            }
        }
        failed
    }

    /// Downloads `url` as `w` into the output directory, checking length and SHA-256
    /// before the file takes its name; or the fault.
    pub async fn download(&self, url: &str, w: &Wanted) -> Result<(), Recorded> {
        let fault = |trouble: Trouble, detail: String| Recorded {
            code: trouble.code(self.s.codes).into(),
            from: url.into(),
            at: now_s(),
            detail,
            file: w.clone(),
        };
        let local = |e: std::io::Error| fault(Trouble::Local, format!("{}: {e}", w.name));
        let headers = [(USER_AGENT, user_agent())];
        let resp = http_client::send(Call {
            method: Method::GET,
            url,
            headers: &headers,
            body: None,
            timeout: TIMEOUT,
        })
        .await
        .map_err(|e| {
            let t = if e.is_connect() {
                Trouble::CannotConnect
            } else {
                Trouble::Incomplete
            };
            fault(t, e.to_string())
        })?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(fault(
                Trouble::from_status(status),
                format!("HTTP {status}"),
            ));
        }
        let mut tmp = tempfile::NamedTempFile::new_in(&self.s.out_dir).map_err(local)?;
        let mut hash = sha2::Sha256::new();
        let mut len = 0u64;
        let mut body = resp.into_body();
        loop {
            let frame = http_client::next_frame(&mut body, TIMEOUT)
                .await
                .map_err(|e| fault(Trouble::Incomplete, format!("after {len} octets: {e}")))?;
            let Some(frame) = frame else { break };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            len += data.len() as u64;
            if len > w.size {
                return Err(fault(
                    Trouble::Corrupted,
                    format!("longer than the listed {} octets", w.size),
                ));
            }
            hash.update(&data);
            std::io::Write::write_all(&mut tmp, &data).map_err(local)?;
        }
        let sha256 = hex::encode(hash.finalize());
        if len != w.size || sha256 != w.sha256 {
            return Err(fault(
                Trouble::Corrupted,
                format!(
                    "{len} octets with sha256 {sha256}; listed: {} octets, sha256 {}",
                    w.size, w.sha256
                ),
            ));
        }
        tmp.as_file().sync_all().map_err(local)?;
        tmp.persist(self.s.out_dir.join(&w.name))
            .map_err(|e| local(e.error))?;
        sync_dir(&self.s.out_dir).map_err(local)
    }

    fn pending_path(&self) -> PathBuf {
        self.dir.join("pending.json")
    }

    /// The faults kept for later.
    pub fn pending(&self) -> Result<Vec<Recorded>, FetchError> {
        Ok(read_json(&self.pending_path())
            .map_err(|e| self.err(e))?
            .unwrap_or_default())
    }

    /// Keeps `faults` on disk for the next report.
    pub fn keep(&self, faults: &[Recorded]) -> Result<(), FetchError> {
        let mut all = self.pending()?;
        all.extend_from_slice(faults);
        let text = serde_json::to_vec(&all).expect("faults serialize");
        write_atomic(&self.pending_path(), &text).map_err(|e| self.err(e))
    }

    /// Turns the kept faults and `faults` into reports in the outbox (their ids chosen
    /// now), then forgets the kept ones: from here a crash sends them, once.
    pub fn seal(&self, faults: &[Recorded]) -> Result<(), FetchError> {
        let mut all = self.pending()?;
        all.extend_from_slice(faults);
        for b in faults::batches(all, new_report_id) {
            let text = serde_json::to_vec(&b).expect("a batch serializes");
            write_atomic(
                &self.dir.join("outbox").join(format!("{}.json", b.id)),
                &text,
            )
            .map_err(|e| self.err(e))?;
        }
        match std::fs::remove_file(self.pending_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(self.err(e)),
            _ => Ok(()),
        }
    }

    fn batches_in(&self, sub: &str) -> Result<Vec<(PathBuf, Batch)>, FetchError> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.dir.join(sub)).map_err(|e| self.err(e))? {
            let path = entry.map_err(|e| self.err(e))?.path();
            if path.extension().is_some_and(|e| e == "json") {
                match read_json::<Batch>(&path) {
                    Ok(Some(b)) => out.push((path, b)),
                    _ => tracing::warn!(path = %path.display(), "unreadable report, skipped"),
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn headers(&self) -> Vec<(HeaderName, String)> {
        let mut h = vec![(USER_AGENT, user_agent())];
        if let Reporter::Device { token, .. } = &self.s.reporter {
            h.push((AUTHORIZATION, format!("TargetToken {token}")));
        }
        h
    }

    fn api(&self, what: &str) -> String {
        let server = self.s.server.trim_end_matches('/');
        let tenant = &self.s.tenant;
        match &self.s.reporter {
            Reporter::Device { id, .. } => {
                format!("{server}/{tenant}/controller/v1/{id}/radcare/{what}")
            }
            Reporter::Anonymous => {
                let by = match (&self.s.identity.imsi, &self.s.identity.imei) {
                    (Some(i), _) => format!("?imsi={i}"),
                    (None, Some(i)) => format!("?imei={i}"),
                    (None, None) => String::new(),
                };
                match what {
                    "faults" => format!("{server}/{tenant}/faults"),
                    _ => format!("{server}/{tenant}/faults/fixes{by}"),
                }
            }
        }
    }

    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>), HttpError> {
        let headers = self.headers();
        let call = Call {
            method,
            url,
            headers: &headers,
            body: body.map(|b| ("application/json", b)),
            timeout: TIMEOUT,
        };
        http_client::call(call, MAX_ANSWER).await
    }

    /// Sends every report in the outbox (each until the server has it: a 2xx, or a 4xx
    /// that sending again would not change), carries out the fixes given, then asks
    /// for fixes given since (an operator's).
    pub async fn deliver(&self) -> Result<Delivery, FetchError> {
        let mut d = Delivery::default();
        let mut given = Vec::new();
        for (path, batch) in self.batches_in("outbox")? {
            let body = faults::report_json(&batch, &self.s.identity).to_string();
            let url = self.api("faults");
            match self.call(Method::POST, &url, Some(body.into_bytes())).await {
                Ok((200..=299, answer)) => {
                    let answer: serde_json::Value =
                        serde_json::from_slice(&answer).unwrap_or_default();
                    let queued = answer["faults"]
                        .as_array()
                        .map_or(0, |l| l.iter().filter(|f| f["state"] == "queued").count());
                    println!(
                        "report {} sent (account {}): {} faults, {queued} waiting for an operator{}",
                        batch.id,
                        answer["account"],
                        batch.faults.len(),
                        if answer["duplicate"] == true {
                            " (the server had it)"
                        } else {
                            ""
                        }
                    );
                    let sent = self.dir.join("sent").join(format!("{}.json", batch.id));
                    std::fs::rename(&path, &sent).map_err(|e| self.err(e))?;
                    sync_dir(&self.dir.join("sent")).map_err(|e| self.err(e))?;
                    given.extend(faults::given_fixes(&answer, Some(&batch.id)));
                    d.sent += 1;
                }
                Ok((status @ 400..=499, answer)) if status != 429 => {
                    // Refused whole: sending it again would be refused again.
                    println!(
                        "report {} refused: HTTP {status} {}; dropped",
                        batch.id,
                        String::from_utf8_lossy(&answer)
                    );
                    std::fs::remove_file(&path).map_err(|e| self.err(e))?;
                }
                Ok((status, _)) => {
                    println!("report {} not sent: HTTP {status}; kept", batch.id);
                    d.waiting += 1;
                }
                Err(e) => {
                    println!("report {} not sent: {e}; kept", batch.id);
                    d.waiting += 1;
                }
            }
        }
        if d.waiting == 0 {
            given.extend(self.later_fixes().await);
        }
        self.prune_sent()?;
        for g in &given {
            match self.apply(g).await? {
                Applied::Mended(name) => d.mended.push(name),
                Applied::Again(f) => d.failed_again.push(*f),
                Applied::Done => {}
            }
            d.tried += 1;
        }
        Ok(d)
    }

    /// Forgets the oldest sent reports past [`KEEP_SENT`]: a fix given for one of them
    /// later than that finds nothing to act on.
    fn prune_sent(&self) -> Result<(), FetchError> {
        let mut sent: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(self.dir.join("sent")).map_err(|e| self.err(e))? {
            let entry = entry.map_err(|e| self.err(e))?;
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .map_err(|e| self.err(e))?;
            sent.push((modified, entry.path()));
        }
        if sent.len() > KEEP_SENT {
            sent.sort();
            for (_, path) in &sent[..sent.len() - KEEP_SENT] {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(())
    }

    /// Fixes an operator gave since (each is given once).
    async fn later_fixes(&self) -> Vec<Given> {
        if matches!(self.s.reporter, Reporter::Anonymous)
            && self.s.identity.imsi.is_none()
            && self.s.identity.imei.is_none()
        {
            return Vec::new();
        }
        match self.call(Method::GET, &self.api("fixes"), None).await {
            Ok((200, body)) => {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                faults::given_fixes(&v, None)
            }
            Ok((status, _)) => {
                tracing::warn!(status, "fixes not read");
                Vec::new()
            }
            Err(e) => {
                tracing::warn!(error = %e, "fixes not read");
                Vec::new()
            }
        }
    }

    /// Carries out one fix.
    async fn apply(&self, g: &Given) -> Result<Applied, FetchError> {
        let sent = self.dir.join("sent").join(format!("{}.json", g.report));
        let fault = read_json::<Batch>(&sent)
            .map_err(|e| self.err(e))?
            .and_then(|b| b.faults.get(g.seq).cloned());
        let Some(fault) = fault else {
            tracing::warn!(
                report = g.report,
                seq = g.seq,
                "a fix for a fault this agent does not know"
            );
            return Ok(Applied::Done);
        };
        let name = &fault.file.name;
        match &g.fix {
            Fix::Retry { url } => {
                let url = faults::retry_url(url.as_deref(), &fault.file);
                match self.download(&url, &fault.file).await {
                    Ok(()) => {
                        println!("fix {name} code={}: retry from {url}: worked", fault.code);
                        Ok(Applied::Mended(name.clone()))
                    }
                    Err(again) => {
                        println!(
                            "fix {name} code={}: retry from {url}: did not work (code={} {})",
                            fault.code, again.code, again.detail
                        );
                        Ok(Applied::Again(Box::new(again)))
                    }
                }
            }
            Fix::Config { values } => {
                let path = self.s.state_dir.join("fix-config.toml");
                let old = std::fs::read_to_string(&path).unwrap_or_default();
                let text = faults::merge_config(&old, values)
                    .map_err(|e| self.err(std::io::Error::other(e)))?;
                write_atomic(&path, text.as_bytes()).map_err(|e| self.err(e))?;
                let kv: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!(
                    "fix {name} code={}: configuration {} written to {}",
                    fault.code,
                    kv.join(" "),
                    path.display()
                );
                Ok(Applied::Done)
            }
            Fix::Text { text } => {
                println!("fix {name} code={}: {text}", fault.code);
                Ok(Applied::Done)
            }
            Fix::Deploy { name: sw, version } => {
                println!(
                    "fix {name} code={}: upgrade to {sw} {version}, installed by the OTA agent at its next poll",
                    fault.code
                );
                Ok(Applied::Done)
            }
        }
    }
}

fn user_agent() -> String {
    concat!("radcare-agent/", env!("CARGO_PKG_VERSION")).to_string()
}

/// The OTA agent's download faults (a deployment's artifacts that failed while the
/// others were downloaded): sent now through the device API with the fixes carried
/// out (a retry puts the artifact among the partial downloads, verified, for the
/// next offer), kept for the next report, or dropped, as `mode` says.
pub async fn report_artifact_faults(ota: &super::Settings, faults: &[Recorded], mode: ReportMode) {
    let fetcher = Fetcher::new(FetchSettings {
        server: ota.server.clone(),
        tenant: ota.tenant.clone(),
        reporter: Reporter::Device {
            id: ota.device.clone(),
            token: ota.token.clone(),
        },
        identity: Identity::default(),
        state_dir: ota.state_dir.clone(),
        out_dir: ota.state_dir.join("partial"),
        codes: Codes::Tr069,
    });
    let result = match (fetcher, mode) {
        (_, ReportMode::Never) => Ok(()),
        (Ok(f), ReportMode::Later) => f.keep(faults),
        (Ok(f), ReportMode::Always) => match f.seal(faults) {
            Ok(()) => f.deliver().await.map(|d| {
                tracing::info!(
                    sent = d.sent,
                    waiting = d.waiting,
                    fixes = d.tried,
                    mended = d.mended.len(),
                    "download faults reported"
                );
                // What a fix did not mend is kept for the next report.
                if !d.failed_again.is_empty() {
                    let _ = f.keep(&d.failed_again);
                }
            }),
            Err(e) => Err(e),
        },
        (Err(e), _) => Err(e),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "download faults not kept");
    }
}
