//! Value types more than one section uses: secrets and addresses.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

/// A shared secret. Its `Debug` never shows the value, so it cannot reach a log.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

fn parse_ip_or_net<E: serde::de::Error>(s: &str) -> Result<IpNet, E> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| E::custom(format!("`{s}` is neither an IP address nor a CIDR block")))
}

/// An IP address (a /32 or /128) or a CIDR block.
pub(super) fn ip_or_net<'de, D: serde::Deserializer<'de>>(d: D) -> Result<IpNet, D::Error> {
    parse_ip_or_net(&String::deserialize(d)?)
}

pub(super) fn ip_or_net_list<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| parse_ip_or_net(s))
        .collect()
}
