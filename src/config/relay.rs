//! `[relay]`: one end of the resumable relay as a part of `radcare serve`
//! (docs/relay.md); absent unless configured.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{Problem, Secret, Seg};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayRole {
    /// Applications connect to `listen` (A); sessions go to `server` (link B).
    Client,
    /// Link B arrives on `listen`; each session opens a connection to `target` (C).
    Server,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    pub role: RelayRole,
    pub listen: SocketAddr,
    /// The server proxy (client role).
    pub server: Option<SocketAddr>,
    /// Where sessions go (server role).
    pub target: Option<SocketAddr>,
    /// The key shared by both ends, at least 16 octets.
    pub key: Secret,
    #[serde(default = "defaults::linger", with = "humantime_serde")]
    pub linger: Duration,
    #[serde(default = "defaults::keepalive", with = "humantime_serde")]
    pub keepalive: Duration,
    /// Bytes a session holds unacked per direction.
    #[serde(default = "defaults::buffer")]
    pub buffer: usize,
    /// Bytes all sessions hold in total.
    #[serde(default = "defaults::total_buffer")]
    pub total_buffer: usize,
    #[serde(default = "defaults::max_age", with = "humantime_serde")]
    pub max_age: Duration,
    /// TLS on link B, server role: the certificate chain and its key (PEM).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// TLS on link B, client role: the CA (PEM) the server's certificate must chain to,
    /// and the name it must carry (the server's IP address if not given).
    pub tls_ca: Option<PathBuf>,
    pub tls_name: Option<String>,
}

mod defaults {
    use std::time::Duration;
    pub fn linger() -> Duration {
        Duration::from_secs(60)
    }
    pub fn keepalive() -> Duration {
        Duration::from_secs(5)
    }
    pub fn buffer() -> usize {
        4 << 20
    }
    pub fn total_buffer() -> usize {
        256 << 20
    }
    pub fn max_age() -> Duration {
        Duration::from_secs(300)
    }
}

impl RelayConfig {
    pub fn validate(&self) -> Vec<Problem> {
        let at = |k: &'static str| vec![Seg::Key("relay"), Seg::Key(k)];
        let mut out = Vec::new();
        match self.role {
            RelayRole::Client if self.server.is_none() => {
                out.push((at("server"), "a relay client needs `server`".into()))
            }
            RelayRole::Server if self.target.is_none() => {
                out.push((at("target"), "a relay server needs `target`".into()))
            }
            _ => {}
        }
        if self.key.as_bytes().len() < 16 {
            out.push((at("key"), "the relay key must be at least 16 octets".into()));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            out.push((at("tls_cert"), "tls_cert and tls_key go together".into()));
        }
        let wrong_side = match self.role {
            RelayRole::Client => self.tls_cert.is_some().then_some("tls_cert"),
            RelayRole::Server => self.tls_ca.is_some().then_some("tls_ca"),
        };
        if let Some(k) = wrong_side {
            out.push((at(k), format!("`{k}` is for the other role")));
        }
        if self.keepalive.is_zero() {
            out.push((at("keepalive"), "keepalive must be above zero".into()));
        }
        if self.buffer == 0 || self.total_buffer < self.buffer {
            out.push((
                at("buffer"),
                "buffer must be above zero and at most total_buffer".into(),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, RelayRole};

    #[test]
    fn a_relay_server_section_parses_with_defaults() {
        let text = "[relay]\nrole = \"server\"\nlisten = \"127.0.0.1:7000\"\n\
                    target = \"127.0.0.1:22\"\nkey = \"0123456789abcdef\"\n";
        let r = Config::parse("r.toml", text).unwrap().relay.unwrap();
        assert_eq!(r.role, RelayRole::Server);
        assert_eq!(r.linger.as_secs(), 60);
        assert_eq!(r.buffer, 4 << 20);
    }

    #[test]
    fn a_client_without_server_and_a_short_key_are_refused_with_lines() {
        let text = "[relay]\nrole = \"client\"\nlisten = \"127.0.0.1:7000\"\nkey = \"short\"\n";
        let e = Config::parse("r.toml", text).unwrap_err().to_string();
        assert!(e.contains("a relay client needs `server`"), "{e}");
        assert!(e.contains("r.toml:4:"), "{e}");
        assert!(e.contains("at least 16 octets"), "{e}");
    }
}
