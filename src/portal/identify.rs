//! Who is asking: the subscriber's address, from the connection itself.
//!
//! The TCP peer address is the only thing a visitor cannot choose (the portal is on
//! the subscriber's own access network, and TCP's handshake rules out spoofing). BRAS
//! redirect parameters (`userip=`, `usermac=`, coova `ip=`, `mac=`) and
//! X-Forwarded-For are written by whoever sends the request, so they are believed only
//! from the configured trusted proxies. From anyone else an address hint that disagrees
//! with the peer address is ignored: a visitor who writes someone else's address in the
//! URL still gets the page for their own address, which reveals nothing about the other.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

use crate::config::PortalConfig;
use crate::garden::GardenEntry;

/// How requests are matched to subscribers.
#[derive(Debug, Clone)]
pub struct Identification {
    trusted_proxies: Vec<IpNet>,
    ip_params: Vec<String>,
    mac_params: Vec<String>,
}

/// The outcome for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The subscriber's address, when it can be told.
    pub ip: Option<IpAddr>,
    /// The request came through a trusted proxy.
    pub via_proxy: bool,
    /// A MAC the (trusted) proxy vouches for, to cross-check the garden entry.
    pub mac: Option<[u8; 6]>,
    /// A hint named another address than the one the request came from.
    pub hint_ignored: bool,
}

/// `::ffff:a.b.c.d` is the IPv4 address a.b.c.d (dual-stack listeners report it so).
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Parses one X-Forwarded-For element: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`,
/// `[2001:db8::1]:443`.
fn parse_forwarded_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    s.parse::<IpAddr>()
        .ok()
        .or_else(|| s.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .map(canonical)
}

/// A MAC address in any usual spelling: `aa:bb:cc:dd:ee:ff`, `AA-BB-...`,
/// `aabb.ccdd.eeff`, `aabbccddeeff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let s = s.trim();
    if !s
        .chars()
        .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '-' | '.'))
    {
        return None;
    }
    let digits: Vec<u8> = s
        .chars()
        .filter_map(|c| c.to_digit(16).map(|d| d as u8))
        .collect();
    if digits.len() != 12 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, pair) in digits.chunks(2).enumerate() {
        mac[i] = pair[0] << 4 | pair[1];
    }
    Some(mac)
}

impl Identification {
    pub fn new(cfg: &PortalConfig) -> Identification {
        Identification {
            trusted_proxies: cfg.trusted_proxies.clone(),
            ip_params: cfg.ip_params.clone(),
            mac_params: cfg.mac_params.clone(),
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    fn hint<'q>(names: &[String], query: &'q [(String, String)]) -> Option<&'q str> {
        names.iter().find_map(|name| {
            query
                .iter()
                .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.trim().is_empty())
                .map(|(_, v)| v.as_str())
        })
    }

    /// Works out the subscriber's address from the peer address, the headers and the
    /// query parameters.
    pub fn source(&self, peer: IpAddr, headers: &HeaderMap, query: &[(String, String)]) -> Source {
        let peer = canonical(peer);
        let ip_hint = Self::hint(&self.ip_params, query);
        let hinted_ip = ip_hint.and_then(parse_forwarded_ip);
        if !self.is_trusted(peer) {
            return Source {
                ip: Some(peer),
                via_proxy: false,
                mac: None,
                hint_ignored: ip_hint.is_some() && hinted_ip != Some(peer),
            };
        }
        let mac = Self::hint(&self.mac_params, query).and_then(parse_mac);
        // The proxy chain, client first. The last hop is the peer itself; walk back from
        // it over trusted proxies: the first address that is not one is the client.
        let chain: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let ip = if chain.is_empty() {
            // A trusted proxy that names the subscriber only in the redirect parameters
            // (a BRAS-side portal server, say); without them the proxy is the visitor.
            Some(hinted_ip.unwrap_or(peer))
        } else {
            let mut client = None;
            for hop in chain.iter().rev() {
                match parse_forwarded_ip(hop) {
                    Some(ip) if self.is_trusted(ip) => client = Some(ip),
                    // Not a proxy of ours: this is the client (or garbage: nobody).
                    other => {
                        client = other;
                        break;
                    }
                }
            }
            client
        };
        Source {
            ip,
            via_proxy: true,
            mac,
            hint_ignored: false,
        }
    }
}

impl Source {
    /// Whether a garden entry found by address may be shown to this request: a MAC
    /// vouched for by a trusted proxy must match the entry's Calling-Station-Id when
    /// that is a MAC.
    pub fn accepts(&self, entry: &GardenEntry) -> bool {
        let Some(mac) = self.mac else {
            return true;
        };
        match entry.calling_station_id.as_deref().and_then(parse_mac) {
            Some(known) => known == mac,
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ident(trusted: &[&str]) -> Identification {
        Identification::new(&PortalConfig {
            trusted_proxies: trusted.iter().map(|s| s.parse().unwrap()).collect(),
            ..Default::default()
        })
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn direct_peer_is_the_source_whatever_the_hints_say() {
        let id = ident(&["10.9.9.9/32"]);
        let s = id.source(
            ip("100.64.0.7"),
            &xff("100.64.0.8"),
            &q(&[("userip", "100.64.0.8"), ("usermac", "00:11:22:33:44:55")]),
        );
        assert_eq!(s.ip, Some(ip("100.64.0.7")));
        assert!(s.hint_ignored && !s.via_proxy);
        assert_eq!(s.mac, None, "an untrusted MAC hint is not used");
        let agreeing = id.source(
            ip("100.64.0.7"),
            &HeaderMap::new(),
            &q(&[("wlanuserip", "100.64.0.7")]),
        );
        assert!(!agreeing.hint_ignored);
        let mapped = id.source(ip("::ffff:100.64.0.7"), &HeaderMap::new(), &[]);
        assert_eq!(mapped.ip, Some(ip("100.64.0.7")));
    }

    #[test]
    fn trusted_proxy_forwarded_for() {
        let id = ident(&["10.9.0.0/16"]);
        // client, then a second proxy of ours; the peer is the last proxy.
        let s = id.source(ip("10.9.0.1"), &xff("6.6.6.6, 100.64.0.7, 10.9.0.2"), &[]);
        assert_eq!(s.ip, Some(ip("100.64.0.7")), "the rightmost untrusted hop");
        assert!(s.via_proxy);
        let s = id.source(ip("10.9.0.1"), &xff("[2001:db8::5]:1234"), &[]);
        assert_eq!(s.ip, Some(ip("2001:db8::5")));
        let s = id.source(ip("10.9.0.1"), &xff("not-an-ip"), &[]);
        assert_eq!(s.ip, None, "garbage identifies nobody");
        let s = id.source(
            ip("10.9.0.1"),
            &HeaderMap::new(),
            &q(&[("ip", "100.64.0.9"), ("mac", "aabb.ccdd.eeff")]),
        );
        assert_eq!(
            s.ip,
            Some(ip("100.64.0.9")),
            "a trusted proxy's redirect parameters"
        );
        assert_eq!(s.mac, Some([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]));
    }

    #[test]
    fn macs() {
        let m = Some([0, 0x11, 0x22, 0x33, 0x44, 0x55]);
        assert_eq!(parse_mac("00:11:22:33:44:55"), m);
        assert_eq!(parse_mac("00-11-22-33-44-55"), m);
        assert_eq!(parse_mac("0011.2233.4455"), m);
        assert_eq!(parse_mac("001122334455"), m);
        assert_eq!(parse_mac("00:11:22:33:44"), None);
        assert_eq!(parse_mac("eth 0/1/0:100.200"), None);
    }
}
