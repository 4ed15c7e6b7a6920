//! Bridge mode: radcare as a transparent bump in the wire between the BRAS and the AAA,
//! so nothing is renumbered. Every frame is forwarded unchanged both ways, except an
//! Access-Reject from a configured AAA to a configured NAS, which is rewritten in place
//! into the same walled-garden Accept the proxy sends. The bridge remembers each
//! Access-Request's authenticator by (NAS, AAA, id) to sign that Accept; NAS and AAA
//! share one secret here (the client's).
//!
//! Sans-IO like the engine: frames and `now` in, a verdict and events out. The pnet
//! driver (`io::bridge`) owns the interfaces and threads.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::config::Config;
use crate::dict::Dictionary;
use crate::engine::build;
use crate::engine::{
    AuthMethod, Event, GardenAccountingEvent, GardenEntered, RejectOutcome, class_tag, garden_id,
    subscriber_id,
};
use crate::policy::{Policy, Redials, Rewrite};
use crate::wire::attr::types;
use crate::wire::crypto::{self, MaStatus, SharedSecret};
use crate::wire::ether::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, EtherFrame};
use crate::wire::ip::{self, NotUdp, UdpInIp};
use crate::wire::{Code, Packet};

/// Which interface a frame arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Nas,
    Aaa,
}

/// What happened to a frame (it is forwarded in every case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded as it came.
    Unchanged,
    /// An Access-Reject turned into a walled-garden Accept.
    Rewritten,
    /// A Reject seen and classified but passed (cause or method does not allow it).
    RejectPassed,
    /// Not something we parse (non-IP, fragment, malformed): counted, passed.
    Opaque,
}

#[derive(Debug)]
struct Client {
    name: String,
    net: IpNet,
    secret: SharedSecret,
    profile: usize,
}

#[derive(Debug)]
struct Seen {
    auth: [u8; 16],
    request: Vec<u8>,
    at: Instant,
}

/// Counters a driver exports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BridgeStats {
    pub frames: u64,
    pub requests_seen: u64,
    pub rewritten: u64,
    pub rejects_passed: u64,
    pub fragments: u64,
    pub malformed: u64,
    pub unmatched_replies: u64,
    pub bad_authenticator: u64,
    /// Access-Requests not remembered because `MAX_PENDING` were (their replies pass).
    pub pending_shed: u64,
}

pub struct Bridge {
    dict: Arc<Dictionary>,
    policy: Arc<Policy>,
    clients: Vec<Client>,
    /// AAA addresses (auth and accounting) we watch replies from.
    aaa: Vec<SocketAddr>,
    pending: HashMap<(SocketAddr, SocketAddr, u8), Seen>,
    last_sweep: Option<Instant>,
    /// Keys garden ids (`engine::garden_id`).
    garden_key: foldhash::quality::FixedState,
    events: VecDeque<Event>,
    scratch: Vec<u8>,
    /// Subscribers rejected lately, for ambiguous Rejects (action `redial`).
    redials: Redials,
    pub stats: BridgeStats,
}

/// How long an unanswered request is remembered.
const PENDING_LIFETIME: Duration = Duration::from_secs(30);
/// Requests remembered at most: anyone in a client network can send Access-Requests,
/// and each is kept 30 s before any reply proves anything. 65,536 of at most 4 KiB.
pub const MAX_PENDING: usize = 65_536;

impl Bridge {
    pub fn new(cfg: &Config, dict: Arc<Dictionary>, policy: Arc<Policy>, seed: [u8; 32]) -> Bridge {
        let clients = cfg
            .radius
            .clients
            .iter()
            .map(|c| Client {
                name: c.name.clone(),
                net: c.address,
                secret: SharedSecret::new(c.secret.as_bytes()),
                profile: policy.profile(&c.profile).unwrap_or(0),
            })
            .collect();
        let aaa = cfg
            .radius
            .upstreams
            .iter()
            .flat_map(|u| std::iter::once(u.auth).chain(u.acct))
            .collect();
        Bridge {
            dict,
            policy,
            clients,
            aaa,
            pending: HashMap::new(),
            last_sweep: None,
            garden_key: foldhash::quality::FixedState::with_seed(u64::from_le_bytes(
                seed[..8].try_into().expect("8 octets"),
            )),
            events: VecDeque::new(),
            scratch: Vec::with_capacity(4096),
            redials: Redials::new(&cfg.policy.redial),
            stats: BridgeStats::default(),
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn client(&self, ip: IpAddr) -> Option<usize> {
        crate::engine::most_specific(self.clients.iter().map(|c| &c.net), ip)
    }

    /// Looks at one frame from `side`; may rewrite it in place (its length can change).
    pub fn handle_frame(&mut self, now: Instant, side: Side, frame: &mut Vec<u8>) -> Outcome {
        self.stats.frames += 1;
        self.sweep(now);
        let Ok(eth) = EtherFrame::parse(frame) else {
            self.stats.malformed += 1;
            return Outcome::Opaque;
        };
        if !matches!(eth.ethertype, ETHERTYPE_IPV4 | ETHERTYPE_IPV6) {
            return Outcome::Unchanged;
        }
        let l3 = eth.payload_offset;
        let udp = match ip::udp_in_ip(&frame[l3..]) {
            Ok(u) => u,
            Err(NotUdp::OtherProtocol) => return Outcome::Unchanged,
            Err(NotUdp::Fragment) => {
                self.stats.fragments += 1;
                return Outcome::Opaque;
            }
            Err(NotUdp::Malformed(_)) => {
                self.stats.malformed += 1;
                return Outcome::Opaque;
            }
        };
        let src = SocketAddr::new(udp.src, udp.src_port);
        let dst = SocketAddr::new(udp.dst, udp.dst_port);
        match side {
            Side::Nas if self.aaa.contains(&dst) => {
                self.on_nas_packet(now, src, dst, &frame[l3..][udp.payload_range()]);
                Outcome::Unchanged
            }
            Side::Aaa if self.aaa.contains(&src) => {
                self.on_aaa_packet(now, src, dst, frame, l3, &udp)
            }
            _ => Outcome::Unchanged,
        }
    }

    fn on_nas_packet(&mut self, now: Instant, nas: SocketAddr, aaa: SocketAddr, data: &[u8]) {
        let Ok(pkt) = Packet::new_checked(data) else {
            self.stats.malformed += 1;
            return;
        };
        let Some(ci) = self.client(nas.ip()) else {
            return;
        };
        match pkt.code() {
            Code::AccessRequest => {
                self.stats.requests_seen += 1;
                let full = self.pending.len() >= MAX_PENDING;
                let seen = match self.pending.entry((nas, aaa, pkt.identifier())) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(_) if full => {
                        self.stats.pending_shed += 1;
                        return;
                    }
                    Entry::Vacant(e) => e.insert(Seen {
                        auth: [0; 16],
                        request: Vec::new(),
                        at: now,
                    }),
                };
                seen.auth = *pkt.authenticator();
                seen.request.clear();
                seen.request.extend_from_slice(pkt.as_bytes());
                seen.at = now;
            }
            Code::AccountingRequest
                if crypto::verify_hashed_request(pkt.as_bytes(), &self.clients[ci].secret) =>
            {
                if let Some(ev) = GardenAccountingEvent::of(&pkt, nas) {
                    self.events.push_back(Event::GardenAccounting(ev));
                }
            }
            _ => {}
        }
    }

    fn on_aaa_packet(
        &mut self,
        now: Instant,
        aaa: SocketAddr,
        nas: SocketAddr,
        frame: &mut Vec<u8>,
        l3: usize,
        udp: &UdpInIp,
    ) -> Outcome {
        let Ok(reply) = Packet::new_checked(&frame[l3..][udp.payload_range()]) else {
            self.stats.malformed += 1;
            return Outcome::Opaque;
        };
        if !matches!(
            reply.code(),
            Code::AccessAccept | Code::AccessReject | Code::AccessChallenge
        ) {
            return Outcome::Unchanged;
        }
        let Some(ci) = self.client(nas.ip()) else {
            return Outcome::Unchanged;
        };
        let Some(seen) = self.pending.remove(&(nas, aaa, reply.identifier())) else {
            self.stats.unmatched_replies += 1;
            return Outcome::Unchanged;
        };
        let secret = &self.clients[ci].secret;
        let ma = crypto::verify_message_authenticator(reply.as_bytes(), Some(&seen.auth), secret);
        if !crypto::verify_response(reply.as_bytes(), &seen.auth, secret) || ma == MaStatus::Invalid
        {
            // Not provably from the AAA: never turn it into an Accept.
            self.stats.bad_authenticator += 1;
            return Outcome::Unchanged;
        }
        if reply.code() != Code::AccessReject {
            return Outcome::Unchanged;
        }
        let req = Packet::new_unchecked(&seen.request[..]);
        let method = AuthMethod::of(&req);
        let user = req.find(types::USER_NAME).map_or(&[][..], |a| a.value);
        let verdict = self.policy.verdict(reply.as_bytes(), user, &self.dict);
        let subscriber = subscriber_id(&self.garden_key, &req, nas);
        let rewrite = verdict.rewrite(method.allows_rewrite(), &mut self.redials, now, subscriber);
        self.events.push_back(Event::Rejected {
            cause: verdict.index,
            outcome: match rewrite {
                Rewrite::Yes => RejectOutcome::Rewritten,
                Rewrite::No => RejectOutcome::Passed,
                Rewrite::AwaitingRedial => RejectOutcome::AwaitingRedial,
            },
            method,
        });
        if rewrite != Rewrite::Yes {
            self.stats.rejects_passed += 1;
            return Outcome::RejectPassed;
        }
        let garden_id = garden_id(&self.garden_key, &req, nas, verdict.index);
        let mut tag = [0u8; 253];
        let cause = self.policy.cause_id(verdict.index);
        let Some(tag_len) = class_tag(&mut tag, cause, garden_id) else {
            return Outcome::Unchanged;
        };
        let c = &self.clients[ci];
        let g = build::GardenAccept {
            nas_id: req.identifier(),
            nas_auth: &seen.auth,
            profile: &self.policy.profiles[c.profile].encoded,
            session_timeout: self.policy.garden_session_timeout,
            class: &tag[..tag_len],
            request: &req,
        };
        match build::garden_accept(&g, &mut self.scratch) {
            Ok(seal) => seal.apply(&mut self.scratch, &c.secret),
            Err(_) => return Outcome::Unchanged,
        }
        let reason = crate::policy::reason_text(reply.as_bytes());
        self.events
            .push_back(Event::GardenEntered(GardenEntered::new(
                garden_id, subscriber, &req, nas, &c.name, cause, reason, method,
            )));
        splice_udp_payload(frame, l3, udp, &self.scratch);
        self.stats.rewritten += 1;
        Outcome::Rewritten
    }

    /// Requests awaiting a reply, and the table's capacity.
    pub fn pending_len(&self) -> (usize, usize) {
        (self.pending.len(), self.pending.capacity())
    }

    fn sweep(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        self.last_sweep = Some(now);
        self.pending
            .retain(|_, s| now.saturating_duration_since(s.at) < PENDING_LIFETIME);
    }
}

/// Replaces the UDP payload of the IP packet at `l3` in `frame`, fixing the IP and UDP
/// lengths and checksums. Anything after the IP packet (Ethernet padding) is dropped.
fn splice_udp_payload(frame: &mut Vec<u8>, l3: usize, udp: &UdpInIp, payload: &[u8]) {
    frame.truncate(l3 + udp.payload_offset);
    frame.extend_from_slice(payload);
    let packet = &mut frame[l3..];
    let at = UdpInIp {
        payload_len: payload.len(),
        ..*udp
    };
    ip::set_lengths(packet, &at);
    ip::fix_ipv4_checksum(packet);
    ip::fix_udp_checksum(packet, &at);
}

#[cfg(test)]
mod tests;
