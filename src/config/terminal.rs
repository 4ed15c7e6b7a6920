//! `[terminal]`: the devices' listener and the software deployment service (OTA):
//! where devices poll (hawkBit DDI), where releases and the signing key are kept.

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
        out
    }
}
