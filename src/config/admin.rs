//! `[admin]`: the operators' listener (/metrics, /api/dial-attempts, the console).

use std::net::SocketAddr;

use serde::Deserialize;

use super::{PortalConfig, Problem, Seg};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Loopback by default: what is served here is for operators, never subscribers.
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: "127.0.0.1:9812".parse().expect("literal"),
        }
    }
}

impl AdminConfig {
    /// Subscribers reach the portal, so sharing its listener would expose the admin one.
    pub fn validate(&self, portal: &PortalConfig) -> Vec<Problem> {
        // Port 0 (any free port) on both is two listeners, not one.
        if self.listen != portal.listen || self.listen.port() == 0 {
            return Vec::new();
        }
        vec![(
            vec![Seg::Key("admin"), Seg::Key("listen")],
            "admin listen must differ from portal listen (subscribers reach the portal)".into(),
        )]
    }
}
