//! Traffic analysis for operators: what the RADIUS and PPPoE traffic on a link says,
//! and what radcare would have done had it been inline (the shadow mode).
//!
//! Sans-IO: an [`Analyzer`] is fed `(timestamp, link type, frame bytes)` and asked for
//! a [`Report`]; it reads no file and no clock. `radcare pcap` feeds it from a capture;
//! the PPPoE part, [`DialAttempts`], takes Ethernet frames and is meant to be fed by the
//! bridge as well.

pub mod dial;
pub mod radius;
mod text;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use dial::{DialAttempts, DialTotals, Mac, MinuteCounts, Offender, Subscriber};
pub use radius::{CauseCount, RadiusCounts, RadiusReport, RadiusTally, Redials, RejectedUser};

use crate::capture::LinkType;
use crate::capture::link::{self, Layer};
use crate::dict::Dictionary;
use crate::policy::Policy;
use crate::wire::ether::{ETHERTYPE_PPPOE_DISCOVERY, ETHERTYPE_PPPOE_SESSION};
use crate::wire::ip::{self, NotUdp};

/// RADIUS ports looked at by default: authentication and accounting (RFC 2865/2866
/// and the old 1645/1646), and dynamic authorization (RFC 5176).
pub const DEFAULT_PORTS: [u16; 5] = [1812, 1813, 1645, 1646, 3799];

/// What the analysis looks at, and how much it lists.
#[derive(Debug, Clone)]
pub struct Settings {
    /// UDP ports whose datagrams (to or from) are RADIUS.
    pub ports: Vec<u16>,
    /// The shared secret, to verify authenticators.
    pub secret: Option<Vec<u8>>,
    /// How many entries the top lists keep.
    pub top: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            ports: DEFAULT_PORTS.to_vec(),
            secret: None,
            top: 20,
        }
    }
}

/// What the frames were.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FrameCounts {
    pub frames: u64,
    /// Well-formed RADIUS packets.
    pub radius: u64,
    /// PPPoE discovery and session frames.
    pub pppoe: u64,
    /// IP fragments: not reassembled, so a fragmented RADIUS packet is not seen.
    pub ip_fragments: u64,
    /// Frames that could not be parsed at some layer (Ethernet, IP, UDP, PPPoE,
    /// RADIUS), snap-length-cut frames included.
    pub unparseable: u64,
    /// Frames of a link type or address family we do not decode.
    pub unsupported_link: u64,
    /// Everything else: other protocols, other ports.
    pub other: u64,
}

/// When the traffic was seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Span {
    /// Seconds since the timestamps' origin (the Unix epoch for a capture).
    pub first_seen: Option<f64>,
    pub last_seen: Option<f64>,
    pub seconds: f64,
    /// Link types seen, with their frame counts.
    pub link_types: BTreeMap<String, u64>,
}

/// The PPPoE half of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DialReport {
    pub totals: DialTotals,
    pub subscribers: usize,
    pub top_offenders: Vec<Offender>,
    pub per_minute: Vec<MinuteCounts>,
}

/// Everything an analysis found. Serializes to the `--json` document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Where the frames came from (set by the caller, e.g. the capture's format).
    pub source: Option<String>,
    /// Why reading stopped early, if it did (set by the caller).
    pub error: Option<String>,
    pub span: Span,
    pub frames: FrameCounts,
    pub radius: RadiusReport,
    pub pppoe: DialReport,
}

/// Feeds frames to the RADIUS and PPPoE tallies.
pub struct Analyzer {
    ports: Vec<u16>,
    top: usize,
    frames: FrameCounts,
    first: Option<Duration>,
    last: Option<Duration>,
    links: BTreeMap<String, u64>,
    radius: RadiusTally,
    dial: DialAttempts,
}

impl Analyzer {
    pub fn new(settings: Settings, policy: Arc<Policy>, dict: Arc<Dictionary>) -> Analyzer {
        Analyzer {
            ports: settings.ports,
            top: settings.top,
            frames: FrameCounts::default(),
            first: None,
            last: None,
            links: BTreeMap::new(),
            radius: RadiusTally::new(policy, dict, settings.secret),
            dial: DialAttempts::new(),
        }
    }

    /// Takes one frame captured at `at` on a link of type `link`.
    pub fn observe(&mut self, at: Duration, link: LinkType, frame: &[u8]) {
        self.frames.frames += 1;
        self.first = Some(self.first.map_or(at, |f| f.min(at)));
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
        let name = match link {
            LinkType::Unknown(v) => format!("{v}"),
            known => known.name().to_owned(),
        };
        *self.links.entry(name).or_default() += 1;

        let layer = match link::decode(link, frame) {
            Ok(l) => l,
            Err(_) => {
                self.frames.unparseable += 1;
                return;
            }
        };
        if let Layer::Ether { frame, payload } = &layer
            && matches!(
                frame.ethertype,
                ETHERTYPE_PPPOE_DISCOVERY | ETHERTYPE_PPPOE_SESSION
            )
        {
            match self.dial.observe(at, frame, payload) {
                Ok(_) => self.frames.pppoe += 1,
                Err(_) => self.frames.unparseable += 1,
            }
            return;
        }
        let Some(packet) = link::ip_packet(&layer) else {
            if layer == Layer::Unsupported {
                self.frames.unsupported_link += 1;
            } else {
                self.frames.other += 1;
            }
            return;
        };
        let udp = match ip::udp_in_ip(packet) {
            Ok(u) => u,
            Err(NotUdp::Fragment) => {
                self.frames.ip_fragments += 1;
                return;
            }
            Err(NotUdp::OtherProtocol) => {
                self.frames.other += 1;
                return;
            }
            Err(NotUdp::Malformed(_)) => {
                self.frames.unparseable += 1;
                return;
            }
        };
        if !self.ports.contains(&udp.src_port) && !self.ports.contains(&udp.dst_port) {
            self.frames.other += 1;
            return;
        }
        let payload = &packet[udp.payload_range()];
        let src = SocketAddr::new(udp.src, udp.src_port);
        let dst = SocketAddr::new(udp.dst, udp.dst_port);
        match self.radius.observe(at, src, dst, payload) {
            Ok(()) => self.frames.radius += 1,
            Err(_) => self.frames.unparseable += 1,
        }
    }

    /// The PPPoE counting, for callers that want it live.
    pub fn dial_attempts(&self) -> &DialAttempts {
        &self.dial
    }

    /// Everything so far.
    pub fn report(&self) -> Report {
        let seconds = match (self.first, self.last) {
            (Some(f), Some(l)) => l.saturating_sub(f).as_secs_f64(),
            _ => 0.0,
        };
        Report {
            source: None,
            error: None,
            span: Span {
                first_seen: self.first.map(|t| t.as_secs_f64()),
                last_seen: self.last.map(|t| t.as_secs_f64()),
                seconds,
                link_types: self.links.clone(),
            },
            frames: self.frames,
            radius: self.radius.report(self.top),
            pppoe: DialReport {
                totals: self.dial.totals(),
                subscribers: self.dial.subscriber_count(),
                top_offenders: self.dial.top(self.top),
                per_minute: self.dial.per_minute(),
            },
        }
    }
}

impl Report {
    /// The report as aligned text tables, for people.
    pub fn to_text(&self) -> String {
        text::render(self)
    }
}

#[cfg(test)]
mod tests;
