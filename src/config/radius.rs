//! `[radius]`: the listeners, the NASes allowed to send (`[[radius.client]]`) and the
//! AAA servers behind us (`[[radius.upstream]]`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use super::values::ip_or_net;
use super::{Problem, Secret, Seg};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RadiusConfig {
    pub auth_listen: SocketAddr,
    pub acct_listen: SocketAddr,
    /// Local address the upstream sockets bind to (port 0 = any).
    pub upstream_bind: IpAddr,
    /// How many upstream sockets to spread request IDs over (256 IDs each).
    pub upstream_sockets: usize,
    /// Packet threads, each with its own listening sockets (SO_REUSEPORT: the kernel
    /// keeps each NAS source address and port on one of them) and its own upstream
    /// sockets.
    pub workers: usize,
    /// How long a reply stays in the RFC 5080 duplicate cache.
    #[serde(with = "humantime_serde")]
    pub duplicate_lifetime: Duration,
    /// Accounting for walled-garden sessions: answered by radcare (`answer`) or also
    /// forwarded to the AAA (`forward`).
    pub garden_accounting: GardenAccounting,
    #[serde(rename = "client")]
    pub clients: Vec<ClientConfig>,
    #[serde(rename = "upstream")]
    pub upstreams: Vec<UpstreamConfig>,
}

impl Default for RadiusConfig {
    fn default() -> Self {
        RadiusConfig {
            auth_listen: "127.0.0.1:1812".parse().expect("literal"),
            acct_listen: "127.0.0.1:1813".parse().expect("literal"),
            upstream_bind: "0.0.0.0".parse().expect("literal"),
            upstream_sockets: 4,
            workers: 1,
            duplicate_lifetime: Duration::from_secs(10),
            garden_accounting: GardenAccounting::Answer,
            clients: Vec::new(),
            upstreams: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GardenAccounting {
    Answer,
    Forward,
}

/// `auto` learns from the peer's first packet, as FreeRADIUS 3.2.5+ does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Tristate {
    #[default]
    Auto,
    Yes,
    No,
}

/// A NAS / BRAS allowed to send us requests.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub name: String,
    /// An IP address or a CIDR block.
    #[serde(deserialize_with = "ip_or_net")]
    pub address: IpNet,
    pub secret: Secret,
    #[serde(default)]
    pub require_message_authenticator: Tristate,
    #[serde(default)]
    pub limit_proxy_state: Tristate,
    /// The walled-garden profile whose attributes go into a rewritten Accept; that it
    /// exists is checked when the policy is compiled.
    #[serde(default = "default_profile")]
    pub profile: String,
    /// UDP port of the NAS's RFC 5176 Dynamic Authorization Server.
    #[serde(default = "default_coa_port")]
    pub coa_port: u16,
}

fn default_profile() -> String {
    "filter-id".into()
}

fn default_coa_port() -> u16 {
    3799
}

/// An AAA server; several are tried in order (failover).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub name: String,
    pub auth: SocketAddr,
    pub acct: Option<SocketAddr>,
    pub secret: Secret,
    /// Whether replies must carry a Message-Authenticator (Debian's FreeRADIUS 3.2.1
    /// sends none in Accept/Reject): `auto` requires it once the server has sent one.
    #[serde(default)]
    pub require_message_authenticator: Tristate,
    /// How long to wait for an answer before trying the next upstream.
    #[serde(default = "default_response_window", with = "humantime_serde")]
    pub response_window: Duration,
    /// Consecutive unanswered requests after which the upstream is considered dead.
    #[serde(default = "default_dead_after")]
    pub dead_after: u32,
    /// How often a dead upstream is probed with Status-Server (RFC 5997).
    #[serde(default = "default_probe_interval", with = "humantime_serde")]
    pub probe_interval: Duration,
}

fn default_response_window() -> Duration {
    Duration::from_secs(2)
}
fn default_dead_after() -> u32 {
    3
}
fn default_probe_interval() -> Duration {
    Duration::from_secs(5)
}

impl RadiusConfig {
    pub fn validate(&self) -> Vec<Problem> {
        use Seg::*;
        let mut out = Vec::new();
        if self.auth_listen == self.acct_listen {
            out.push((
                vec![Key("radius"), Key("acct_listen")],
                "acct_listen must differ from auth_listen".into(),
            ));
        }
        if !(1..=64).contains(&self.workers) {
            out.push((
                vec![Key("radius"), Key("workers")],
                "workers must be between 1 and 64".into(),
            ));
        }
        if !(1..=64).contains(&self.upstream_sockets) {
            out.push((
                vec![Key("radius"), Key("upstream_sockets")],
                "upstream_sockets must be between 1 and 64".into(),
            ));
        }
        for (i, c) in self.clients.iter().enumerate() {
            let at = |k| vec![Key("radius"), Key("client"), Index(i), Key(k)];
            if c.secret.0.is_empty() {
                out.push((
                    at("secret"),
                    format!("client `{}`: secret must not be empty", c.name),
                ));
            }
            if c.name.is_empty() {
                out.push((at("name"), "client name must not be empty".into()));
            }
            if self.clients[..i].iter().any(|o| o.name == c.name) {
                out.push((at("name"), format!("duplicate client name `{}`", c.name)));
            }
        }
        for (i, u) in self.upstreams.iter().enumerate() {
            let at = |k| vec![Key("radius"), Key("upstream"), Index(i), Key(k)];
            if u.secret.0.is_empty() {
                out.push((
                    at("secret"),
                    format!("upstream `{}`: secret must not be empty", u.name),
                ));
            }
            if u.response_window.is_zero() {
                out.push((
                    at("response_window"),
                    "response_window must be positive".into(),
                ));
            }
            if self.upstreams[..i].iter().any(|o| o.name == u.name) {
                out.push((at("name"), format!("duplicate upstream name `{}`", u.name)));
            }
        }
        out
    }
}
