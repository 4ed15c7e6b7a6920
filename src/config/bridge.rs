//! `[bridge]` and `[pppoe]`: the layer-2 parts, both absent unless configured.

use serde::Deserialize;

use super::{Problem, Seg};

/// The two interfaces of the bump in the wire.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    /// Interface towards the BRAS / NAS.
    pub nas_side: String,
    /// Interface towards the AAA servers.
    pub aaa_side: String,
}

impl BridgeConfig {
    pub fn validate(&self) -> Vec<Problem> {
        if !self.nas_side.is_empty() && !self.aaa_side.is_empty() && self.nas_side != self.aaa_side
        {
            return Vec::new();
        }
        vec![(
            vec![Seg::Key("bridge"), Seg::Key("nas_side")],
            "bridge needs two different interfaces, nas_side and aaa_side".into(),
        )]
    }
}

/// Where to watch subscribers dial.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PppoeConfig {
    /// A subscriber-side interface or a mirror port carrying the PPPoE traffic.
    pub interface: String,
}
