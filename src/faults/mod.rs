//! Terminal fault reports (S2): a terminal that failed to download something reports
//! the fault codes; radcare files them under one account per IMSI/IMEI, looks each up
//! in the knowledge base and sends the fix back (in the HTTP answer, when the terminal
//! next asks, or by SMS); an unknown fault waits for an operator, whose fix becomes an
//! entry for every later report. A fault that comes back after its fix counts against
//! the entry; under the threshold it goes back to the queue.
//!
//! Channels: the device API (`api`, authenticated as `ota::ddi` does), anonymous HTTP
//! identified by IMSI/IMEI, and SMS through Kannel's smsbox (`sms`). Every report is
//! committed before the 2xx, and one sent again (same id) changes nothing.

pub mod api;
pub mod ingest;
pub mod sms;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::ota::{Ota, Target, now_ms};
use crate::part::{Part, Shutdown};
use crate::store::StoreError;
use crate::store::faults::{Fault, Filed, Judge, NewEntry, NewFault, NewReport};

#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    BadReport(String),
    #[error("a report carries 1 to {0} faults")]
    TooMany(usize),
    #[error("fault code `{0}`: two or four digits")]
    BadCode(String),
}

/// What radcare does about a fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Fix {
    /// Deploy this release to the terminal (a device known to the OTA service).
    Deploy { name: String, version: String },
    /// Configuration for the terminal to apply.
    Config { values: BTreeMap<String, String> },
    /// A text for the user.
    Text { text: String },
    /// Download again, from `url` (another node), or from the same source.
    Retry { url: Option<String> },
}

impl Fix {
    /// The fix in an SMS: `FIX <report> <code> <what>`.
    pub fn sms(&self, report: &str, code: &str) -> String {
        let what = match self {
            Fix::Deploy { name, version } => format!("DEPLOY {name} {version}"),
            Fix::Config { values } => {
                let kv: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("CONFIG {}", kv.join(" "))
            }
            Fix::Text { text } => format!("TEXT {text}"),
            Fix::Retry { url: Some(u) } => format!("RETRY {u}"),
            Fix::Retry { url: None } => "RETRY".into(),
        };
        format!("FIX {report} {code} {what}")
    }
}

/// A report as a terminal sends it, over HTTP as JSON or parsed from an SMS.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    /// The terminal's id for this report: the same id again is the same report.
    pub id: String,
    /// Who the terminal is, when it is not an authenticated device.
    #[serde(default)]
    pub identity: Option<IdentityBody>,
    #[serde(default)]
    pub imsi: Option<String>,
    #[serde(default)]
    pub imei: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    pub faults: Vec<FaultBody>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityBody {
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultBody {
    pub code: String,
    /// What was being downloaded.
    #[serde(default)]
    pub item: Option<String>,
    /// Where from (a URL or node name).
    #[serde(default)]
    pub from: Option<String>,
    /// When, in Unix seconds.
    #[serde(default)]
    pub at: Option<i64>,
    #[serde(default)]
    pub detail: Option<String>,
    /// The parts the terminal skipped.
    #[serde(default)]
    pub skipped: Vec<String>,
}

/// Where a report came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An authenticated device (its id) and its model from registration.
    Device { id: String, model: String },
    /// Anonymous HTTP.
    Http,
    /// An SMS from this number.
    Sms { from: String },
}

pub fn valid_code(code: &str) -> bool {
    matches!(code.len(), 2 | 4) && code.bytes().all(|b| b.is_ascii_digit())
}

fn digits(s: &str, lens: std::ops::RangeInclusive<usize>) -> bool {
    lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// Printable text without control characters, at most `max` characters.
/// An empty one is none.
fn text(field: &str, v: Option<&str>, max: usize) -> Result<Option<String>, FaultError> {
    match v {
        Some(s) if s.chars().count() > max || s.chars().any(char::is_control) => Err(
            FaultError::BadReport(format!("{field}: at most {max} printable characters")),
        ),
        Some("") | None => Ok(None),
        Some(s) => Ok(Some(s.to_string())),
    }
}

/// Checks a report whole, before anything is written.
pub fn check(
    body: &ReportBody,
    origin: &Origin,
    max_faults: usize,
    now_ms: i64,
) -> Result<NewReport, FaultError> {
    let id_ok = (1..=64).contains(&body.id.len())
        && body
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if !id_ok {
        return Err(FaultError::BadReport(
            "id: 1 to 64 letters, digits, `-`, `_`, `.` or `:`".into(),
        ));
    }
    if let Some(i) = &body.imsi
        && !digits(i, 5..=15)
    {
        return Err(FaultError::BadReport("imsi: 5 to 15 digits".into()));
    }
    if let Some(i) = &body.imei
        && !digits(i, 14..=16)
    {
        return Err(FaultError::BadReport("imei: 14 to 16 digits".into()));
    }
    if body.faults.is_empty() || body.faults.len() > max_faults {
        return Err(FaultError::TooMany(max_faults));
    }
    let given = body.identity.clone().unwrap_or_default();
    let given = [
        ("phone", text("identity.phone", given.phone.as_deref(), 32)?),
        (
            "email",
            text("identity.email", given.email.as_deref(), 254)?,
        ),
        ("ip", text("identity.ip", given.ip.as_deref(), 45)?),
    ]
    .into_iter()
    .find_map(|(k, v)| Some((k, v?)));
    let (identity, reply_to, channel, model) = match origin {
        Origin::Device { id, model } => (("device", id.clone()), None, "device", Some(model)),
        Origin::Sms { from } => (("phone", from.clone()), Some(from.clone()), "sms", None),
        Origin::Http => {
            // Anonymous: the SIM or the handset is who it is.
            let by = match (&body.imsi, &body.imei) {
                (Some(i), _) => ("imsi", i.clone()),
                (None, Some(i)) => ("imei", i.clone()),
                _ => return Err(FaultError::BadReport("an imsi or an imei is needed".into())),
            };
            (given.unwrap_or(by), None, "http", None)
        }
    };
    let mut faults = Vec::with_capacity(body.faults.len());
    for f in &body.faults {
        if !valid_code(&f.code) {
            return Err(FaultError::BadCode(f.code.clone()));
        }
        if f.skipped.len() > 64 {
            return Err(FaultError::BadReport("skipped: at most 64 parts".into()));
        }
        let mut skipped = Vec::with_capacity(f.skipped.len());
        for s in &f.skipped {
            let s = text("skipped", Some(s), 256)?.unwrap_or_default();
            if s.contains(',') {
                return Err(FaultError::BadReport("skipped: names without `,`".into()));
            }
            skipped.push(s);
        }
        faults.push(NewFault {
            code: f.code.clone(),
            item: text("item", f.item.as_deref(), 256)?,
            source: text("from", f.from.as_deref(), 512)?,
            at_ms: f.at.map(|s| s.saturating_mul(1000)),
            detail: text("detail", f.detail.as_deref(), 1000)?,
            skipped: (!skipped.is_empty()).then(|| skipped.join(",")),
        });
    }
    Ok(NewReport {
        report_id: body.id.clone(),
        channel,
        identity,
        reply_to,
        imsi: body.imsi.clone(),
        imei: body.imei.clone(),
        model: text("model", body.model.as_deref(), 64)?.or_else(|| model.cloned()),
        version: text("version", body.version.as_deref(), 64)?,
        received_at_ms: now_ms,
        faults,
    })
}

/// Reports without a device token per minute, per identity and in all: fixed one-minute
/// windows (the map holds at most `total` keys).
#[derive(Default)]
pub struct Limiter {
    inner: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    start: Option<Instant>,
    total: u32,
    per: HashMap<String, u32>,
}

impl Limiter {
    /// Whether one more report from `keys` fits, counting it if so.
    pub fn admit(&self, keys: &[&str], per_key: u32, total: u32, now: Instant) -> bool {
        let mut w = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if w.start
            .is_none_or(|s| now.duration_since(s) >= Duration::from_secs(60))
        {
            *w = Window {
                start: Some(now),
                ..Window::default()
            };
        }
        if w.total >= total
            || keys
                .iter()
                .any(|k| w.per.get(*k).is_some_and(|n| *n >= per_key))
        {
            return false;
        }
        w.total += 1;
        for k in keys {
            *w.per.entry((*k).to_string()).or_default() += 1;
        }
        true
    }
}

/// The fault service: the OTA service's store, config and gateway, and the limiter.
#[derive(Clone)]
pub struct Faults {
    pub ota: Ota,
    limiter: Arc<Limiter>,
    /// The group-commit task, started with the first report filed.
    ingest: Arc<OnceLock<ingest::Ingest>>,
}

impl Faults {
    pub fn new(ota: Ota) -> Faults {
        Faults {
            ota,
            limiter: Arc::default(),
            ingest: Arc::default(),
        }
    }

    fn judge(&self) -> Judge {
        let c = &self.ota.config.faults;
        Judge {
            threshold: c.threshold,
            min_given: i64::from(c.min_given),
        }
    }

    /// Whether an unauthenticated report from these identities fits the rate limits.
    pub fn admit(&self, r: &NewReport) -> bool {
        let c = &self.ota.config.faults;
        let mut keys: Vec<String> = [
            r.imsi.as_ref().map(|v| format!("imsi:{v}")),
            r.imei.as_ref().map(|v| format!("imei:{v}")),
            Some(format!("{}:{}", r.identity.0, r.identity.1)),
        ]
        .into_iter()
        .flatten()
        .collect();
        // The identity may be the IMSI itself: one report counts once.
        keys.sort_unstable();
        keys.dedup();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.limiter.admit(
            &keys,
            c.per_identity_per_minute,
            c.per_minute,
            Instant::now(),
        )
    }

    /// Files a checked report (committed on return), then carries out its deploy fixes.
    pub async fn file(&self, r: &NewReport) -> Result<Filed, FaultError> {
        let c = &self.ota.config.faults;
        let filed = if c.commit_batch > 1 {
            let ingest = self.ingest.get_or_init(|| {
                let gather = ingest::Gather {
                    max_batch: c.commit_batch,
                    max_wait: c.commit_wait,
                    // One batch per connection: on SQLite's one, a second would
                    // only wait, and make the batches smaller.
                    writers: c.commit_writers.unwrap_or_else(|| {
                        self.ota.store.pool.options().get_max_connections() as usize
                    }),
                };
                ingest::Ingest::start(self.ota.store.clone(), self.judge(), gather)
            });
            ingest.file(r.clone(), crate::ota::new_id()).await?
        } else {
            self.ota
                .store
                .faults_file(r, self.judge(), crate::ota::new_id())
                .await?
        };
        if !filed.duplicate {
            for f in &filed.faults {
                metrics::counter!("radcare_faults_total", "channel" => r.channel, "state" => if f.state == "fixed" { "fixed" } else { "queued" })
                    .increment(1);
            }
            for kb in &filed.suspended {
                tracing::warn!(
                    entry = kb,
                    "fault fix under the threshold: suspended, back to the queue"
                );
            }
            self.apply(&filed.faults).await;
        }
        Ok(filed)
    }

    /// An operator's fix for `code`: a new entry, given to every queued fault it
    /// applies to (their deploy fixes carried out); returns those faults.
    pub async fn resolve(
        &self,
        code: &str,
        model: Option<&str>,
        version: Option<&str>,
        node: Option<&str>,
        fix: &Fix,
    ) -> Result<(i64, Vec<Fault>), FaultError> {
        if !valid_code(code) {
            return Err(FaultError::BadCode(code.into()));
        }
        let id = crate::ota::new_id();
        let json = serde_json::to_string(fix).expect("a fix serializes");
        let entry = NewEntry {
            id,
            code,
            model,
            version,
            node,
            fix: &json,
        };
        let fixed = self.ota.store.faults_resolve(&entry, now_ms()).await?;
        self.apply(&fixed).await;
        Ok((id, fixed))
    }

    /// Carries out what radcare does itself: a deployment to a known device. The other
    /// fixes are the terminal's to run, delivered as they are.
    async fn apply(&self, faults: &[Fault]) {
        for f in faults {
            let Some(Fix::Deploy { name, version }) = f.fix.as_deref().and_then(parse_fix) else {
                continue;
            };
            let device = match self.ota.store.faults_account_device(f.account).await {
                Ok(Some(d)) => d,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "fault fix: cannot find the account's device");
                    continue;
                }
            };
            let target = Target::Devices(vec![device.clone()]);
            match self.ota.deploy(&name, &version, &target, 1, 0, true).await {
                Ok((d, _)) => {
                    tracing::info!(
                        device,
                        deployment = d.id,
                        "fault fix: {name} {version} deployed"
                    )
                }
                Err(e) => {
                    tracing::warn!(device, error = %e, "fault fix: cannot deploy {name} {version}")
                }
            }
        }
    }
}

pub fn parse_fix(json: &str) -> Option<Fix> {
    serde_json::from_str(json).ok()
}

/// How many SMS fixes are sent per round.
const BATCH: i64 = 100;

/// The part that sends fixes back by SMS to terminals that reported by SMS: those given
/// at once and those an operator gave later (perhaps from another process).
pub struct SmsReplies {
    pub faults: Faults,
}

impl Part for SmsReplies {
    fn name(&self) -> &'static str {
        "fault-replies"
    }

    async fn run(self, shutdown: Shutdown) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while shutdown.run_until_cancelled(tick.tick()).await.is_some() {
            // Cut short, nothing is lost: an unrecorded send is sent again.
            match shutdown.run_until_cancelled(self.round()).await {
                Some(Err(e)) => tracing::warn!(error = %e, "fault replies: store failed"),
                Some(Ok(())) => {}
                None => break,
            }
        }
    }
}

impl SmsReplies {
    async fn round(&self) -> Result<(), StoreError> {
        let ota = &self.faults.ota;
        let cfg = &ota.config.notices;
        if cfg.sendsms_url.is_none() {
            return Ok(());
        }
        let due = ota
            .store
            .faults_sms_due(now_ms(), cfg.max_attempts, BATCH)
            .await?;
        for (f, to, attempts) in due {
            let fix = f.fix.as_deref().and_then(parse_fix);
            let text = match &fix {
                Some(fix) => fix.sms(&f.report_id, &f.code),
                None => format!("FIX {} {}", f.report_id, f.code),
            };
            match crate::ota::gateway::send_sms(cfg, &to, &text).await {
                Ok(()) => {
                    ota.store.faults_fix_sent(&f, now_ms(), None).await?;
                    metrics::counter!("radcare_fault_sms_total", "outcome" => "sent").increment(1);
                }
                Err(e) => {
                    let next =
                        now_ms() + crate::ota::notice::backoff(attempts + 1).as_millis() as i64;
                    ota.store.faults_fix_sent(&f, now_ms(), Some(next)).await?;
                    tracing::warn!(to, error = %e, "fault fix SMS not sent, will retry");
                    metrics::counter!("radcare_fault_sms_total", "outcome" => "failed")
                        .increment(1);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(codes: &[&str]) -> ReportBody {
        ReportBody {
            id: "r1".into(),
            imsi: Some("262011234567890".into()),
            faults: codes
                .iter()
                .map(|c| FaultBody {
                    code: (*c).into(),
                    ..FaultBody::default()
                })
                .collect(),
            ..ReportBody::default()
        }
    }

    #[test]
    fn reports_are_checked_whole() {
        let r = check(&body(&["9018", "01"]), &Origin::Http, 4, 5).unwrap();
        assert_eq!(r.identity, ("imsi", "262011234567890".into()));
        assert_eq!(r.faults.len(), 2);
        assert!(matches!(
            check(&body(&["9018", "1x"]), &Origin::Http, 4, 5),
            Err(FaultError::BadCode(_))
        ));
        assert!(matches!(
            check(&body(&["01"; 5]), &Origin::Http, 4, 5),
            Err(FaultError::TooMany(4))
        ));
        let mut anon = body(&["01"]);
        anon.imsi = None;
        assert!(check(&anon, &Origin::Http, 4, 5).is_err(), "who is it?");
        let sms = Origin::Sms {
            from: "+4915".into(),
        };
        assert_eq!(
            check(&anon, &sms, 4, 5).unwrap().reply_to.as_deref(),
            Some("+4915")
        );
    }

    #[test]
    fn the_limit_is_per_identity_and_in_all() {
        let l = Limiter::default();
        let t = Instant::now();
        assert!(l.admit(&["a"], 2, 3, t) && l.admit(&["a"], 2, 3, t));
        assert!(!l.admit(&["a"], 2, 3, t), "a: two a minute");
        assert!(l.admit(&["b"], 2, 3, t));
        assert!(!l.admit(&["c"], 2, 3, t), "three in all");
        assert!(
            l.admit(&["a"], 2, 3, t + Duration::from_secs(61)),
            "a new minute"
        );
    }

    #[test]
    fn fixes_read_as_sms() {
        let f = Fix::Config {
            values: [("apn".to_string(), "web".to_string())].into(),
        };
        assert_eq!(f.sms("r1", "01"), "FIX r1 01 CONFIG apn=web");
        let json = serde_json::to_string(&Fix::Retry { url: None }).unwrap();
        assert_eq!(json, r#"{"kind":"retry","url":null}"#);
        assert_eq!(parse_fix(&json), Some(Fix::Retry { url: None }));
    }
}
