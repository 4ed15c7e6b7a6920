//! `[terminal]`: the devices' listener and the software deployment service (OTA):
//! where devices poll (hawkBit DDI), where releases and the signing key are kept, and
//! how devices are told of an update (`[terminal.notices]`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{AdminConfig, PortalConfig, Problem, Secret, Seg};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TerminalConfig {
    /// Devices reach this one: neither the portal's nor the operators' listener.
    pub listen: SocketAddr,
    /// Absolute URL devices reach `listen` by, for the links in DDI answers and
    /// notices. Default: `http://<listen>`.
    pub public_url: Option<String>,
    /// The hawkBit tenant in `/{tenant}/controller/v1/{controllerId}`.
    pub tenant: String,
    /// Release artifacts (content-addressed) and the release signing key.
    pub state_dir: PathBuf,
    /// How long a device sleeps between polls (`config.polling.sleep`).
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// A device that presents this key (`Authorization: GatewayToken`) with an
    /// unknown controller id is registered on its first poll. Unset: operators
    /// register every device (`radcare device add`).
    pub enrolment_key: Option<Secret>,
    /// Largest request body a device may send (feedback, configData).
    pub max_body: usize,
    /// How devices are told that a deployment offers them an update.
    pub notices: NoticesConfig,
    /// Terminals' fault reports and their fixes.
    pub faults: FaultsConfig,
}

/// `[terminal.faults]`: fault reports (S2). Fixes go back by SMS through
/// `[terminal.notices]`'s sendsms gateway.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultsConfig {
    /// The secret smsbox's get-url carries (`secret=`): without it, no SMS reports.
    pub sms_secret: Option<Secret>,
    /// Faults one report may carry.
    pub max_faults: usize,
    /// Reports without a device token (anonymous HTTP, SMS) per minute, per IMSI, IMEI
    /// or sender, and in all.
    pub per_identity_per_minute: u32,
    pub per_minute: u32,
    /// An entry whose fixes worked for fewer than this share of its faults (once given
    /// `min_given` times) is suspended and its fault goes back to the queue.
    pub threshold: f64,
    pub min_given: u32,
    /// Group commit: reports filed in one transaction at most (1: one transaction per
    /// report), and how long the first of a batch may wait for others (0: a batch is
    /// what arrived while the previous one committed).
    pub commit_batch: usize,
    #[serde(with = "humantime_serde")]
    pub commit_wait: Duration,
    /// Batches in flight at once (each its own transaction); by default as many as
    /// the store has connections (SQLite 1, PostgreSQL 8).
    pub commit_writers: Option<usize>,
}

impl Default for FaultsConfig {
    fn default() -> Self {
        FaultsConfig {
            sms_secret: None,
            max_faults: 32,
            per_identity_per_minute: 10,
            per_minute: 600,
            threshold: 0.5,
            min_given: 5,
            commit_batch: 64,
            commit_wait: Duration::ZERO,
            commit_writers: None,
        }
    }
}

impl FaultsConfig {
    fn validate(&self, out: &mut Vec<Problem>) {
        let at = |k| vec![Seg::Key("terminal"), Seg::Key("faults"), Seg::Key(k)];
        if self.sms_secret.as_ref().is_some_and(|k| k.0.len() < 16) {
            out.push((
                at("sms_secret"),
                "sms_secret must be at least 16 characters".into(),
            ));
        }
        if !(1..=1000).contains(&self.max_faults) {
            out.push((
                at("max_faults"),
                "max_faults must be between 1 and 1000".into(),
            ));
        }
        if self.per_identity_per_minute == 0 || self.per_minute < self.per_identity_per_minute {
            out.push((
                at("per_minute"),
                "per_identity_per_minute must be at least 1 and per_minute at least that".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.threshold) {
            out.push((at("threshold"), "threshold must be between 0 and 1".into()));
        }
        if self.min_given == 0 {
            out.push((at("min_given"), "min_given must be at least 1".into()));
        }
        if !(1..=1000).contains(&self.commit_batch) {
            out.push((
                at("commit_batch"),
                "commit_batch must be between 1 and 1000".into(),
            ));
        }
        if self.commit_writers.is_some_and(|w| !(1..=64).contains(&w)) {
            out.push((
                at("commit_writers"),
                "commit_writers must be between 1 and 64".into(),
            ));
        }
        if self.commit_wait > Duration::from_secs(1) {
            out.push((at("commit_wait"), "commit_wait must be at most 1s".into()));
        }
    }
}

/// How a device with a phone number and no IP push connection is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhoneChannel {
    /// Not by phone: the notice waits for the device's IP push connection.
    #[default]
    None,
    /// A text SMS through the gateway's sendsms interface.
    Sms,
    /// A WAP Push Service Indication through the gateway's PPG.
    Wap,
}

/// `[terminal.notices]`: the IP push channel's limits and the SMS / WAP Push gateway
/// (Kannel: smsbox's sendsms and wapbox's PPG).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoticesConfig {
    pub phone_channel: PhoneChannel,
    /// smsbox's sendsms URL, e.g. `http://127.0.0.1:13013/cgi-bin/sendsms`.
    pub sendsms_url: Option<String>,
    /// The sendsms-user's name and password.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The sender number of SMS notices (the gateway's default when unset).
    pub from: Option<String>,
    /// The Push Proxy Gateway's URL, e.g. `http://127.0.0.1:8080/wappush`.
    pub ppg_url: Option<String>,
    /// How long an IP push request is held when there is nothing to tell.
    #[serde(with = "humantime_serde")]
    pub hold: Duration,
    /// Requests held at once, per device and in all: each holds a connection.
    pub max_held_per_device: usize,
    pub max_held: usize,
    /// Gateway attempts per notice before it is given up (backoff between them).
    pub max_attempts: u32,
}

impl Default for NoticesConfig {
    fn default() -> Self {
        NoticesConfig {
            phone_channel: PhoneChannel::None,
            sendsms_url: None,
            username: None,
            password: None,
            from: None,
            ppg_url: None,
            hold: Duration::from_secs(30),
            max_held_per_device: 2,
            max_held: 10_000,
            max_attempts: 10,
        }
    }
}

impl NoticesConfig {
    fn validate(&self, out: &mut Vec<Problem>) {
        let at = |k| vec![Seg::Key("terminal"), Seg::Key("notices"), Seg::Key(k)];
        // The gateway is reached in plain HTTP: it sits beside radcare, not across
        // the internet.
        for (key, url) in [
            ("sendsms_url", &self.sendsms_url),
            ("ppg_url", &self.ppg_url),
        ] {
            if let Some(u) = url
                && crate::ota::gateway::HttpTarget::parse(u).is_none()
            {
                out.push((
                    at(key),
                    format!("{key} must be an http://host:port/path URL"),
                ));
            }
        }
        match self.phone_channel {
            PhoneChannel::Sms => {
                let complete = self.sendsms_url.is_some()
                    && self.username.is_some()
                    && self.password.is_some();
                if !complete {
                    out.push((
                        at("phone_channel"),
                        "phone_channel = \"sms\" needs sendsms_url, username and password".into(),
                    ));
                }
            }
            PhoneChannel::Wap if self.ppg_url.is_none() => {
                out.push((
                    at("phone_channel"),
                    "phone_channel = \"wap\" needs ppg_url".into(),
                ));
            }
            PhoneChannel::Wap | PhoneChannel::None => {}
        }
        if self.hold.is_zero() || self.hold > Duration::from_secs(300) {
            out.push((at("hold"), "hold must be between 1s and 5m".into()));
        }
        if self.max_held_per_device == 0 || self.max_held < self.max_held_per_device {
            out.push((
                at("max_held"),
                "max_held_per_device must be at least 1 and max_held at least that".into(),
            ));
        }
        if self.max_attempts == 0 {
            out.push((at("max_attempts"), "max_attempts must be at least 1".into()));
        }
    }
}

impl Default for TerminalConfig {
    fn default() -> Self {
        TerminalConfig {
            listen: "127.0.0.1:8090".parse().expect("literal"),
            public_url: None,
            tenant: "DEFAULT".into(),
            state_dir: "radcare-state".into(),
            poll_interval: Duration::from_secs(300),
            enrolment_key: None,
            max_body: 64 * 1024,
            notices: NoticesConfig::default(),
            faults: FaultsConfig::default(),
        }
    }
}

impl TerminalConfig {
    /// The base URL devices are given, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }

    pub fn validate(&self, portal: &PortalConfig, admin: &AdminConfig) -> Vec<Problem> {
        let at = |k| vec![Seg::Key("terminal"), Seg::Key(k)];
        let mut out = Vec::new();
        if self.listen.port() != 0 && (self.listen == portal.listen || self.listen == admin.listen)
        {
            out.push((
                at("listen"),
                "terminal listen must differ from the portal's and the admin listener".into(),
            ));
        }
        let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if self.tenant.is_empty() || !self.tenant.chars().all(plain) {
            out.push((
                at("tenant"),
                "tenant: letters, digits, `-` and `_` only".into(),
            ));
        }
        if self.poll_interval.is_zero() || self.poll_interval > Duration::from_secs(86_400) {
            out.push((
                at("poll_interval"),
                "poll_interval must be between 1s and 24h".into(),
            ));
        }
        if self.enrolment_key.as_ref().is_some_and(|k| k.0.len() < 16) {
            out.push((
                at("enrolment_key"),
                "enrolment_key must be at least 16 characters".into(),
            ));
        }
        if let Some(u) = &self.public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            out.push((at("public_url"), "public_url must be an http(s) URL".into()));
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.max_body) {
            out.push((
                at("max_body"),
                "max_body must be between 1024 and 16777216".into(),
            ));
        }
        self.notices.validate(&mut out);
        self.faults.validate(&mut out);
        out
    }
}
