//! `[demo]`: the built-in demo AAA (`serve --demo`).

use std::net::SocketAddr;

use serde::Deserialize;

use super::Secret;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// Where the demo AAA listens (auth; accounting is the next port).
    pub listen: SocketAddr,
    pub secret: Secret,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            listen: "127.0.0.1:11812".parse().expect("literal"),
            secret: Secret("aaa-secret".into()),
        }
    }
}
