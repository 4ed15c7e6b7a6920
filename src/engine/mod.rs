//! The sans-IO proxy core. It owns no socket and reads no clock: the driver passes
//! `now` and datagrams in, and takes transmits and events out (`poll_transmit`,
//! `poll_event`, `poll_timeout`), like quinn-proto. That keeps every protocol decision
//! (verification, duplicate detection, failover, classification, rewrite) testable with
//! simulated time and no network.
//!
//! One way through: NAS request -> verify -> duplicate? -> upstream copy -> AAA reply ->
//! verify -> Accept/Challenge relayed, Reject classified and maybe rewritten -> cached ->
//! NAS. No reply from any upstream means no reply to the NAS: never an invented Accept.

mod batch;
pub(crate) mod build;
mod dedup;
mod event;
mod learnt;
mod upstream;

pub use event::{
    AuthMethod, DropReason, Event, GardenAccountingEvent, GardenEntered, RejectOutcome, SessionId,
    SubscriberAccounting,
};
pub use learnt::Learnt;
pub use upstream::IdSpace;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use ipnet::IpNet;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{Config, GardenAccounting, RedialConfig, Tristate};
use crate::dict::Dictionary;
use crate::policy::{Policy, Redials, Rewrite};
use crate::wire::attr::types;
use crate::wire::crypto::{self, MaStatus, SharedSecret};
use crate::wire::{Code, Packet};
use build::Hop;
use dedup::{DuplicateCache, Lookup};
use upstream::{Upstream, slot_id, slot_socket};

/// Which NAS-facing socket a packet came in on or goes out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Listener {
    Auth,
    Acct,
}

/// Which socket a transmit leaves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Nas(Listener),
    /// Index of the upstream socket.
    Upstream(usize),
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    pub via: Via,
    pub dest: SocketAddr,
    pub payload: Vec<u8>,
}

#[derive(Debug)]
struct Client {
    name: String,
    net: IpNet,
    secret: SharedSecret,
    require_ma: Tristate,
    limit_proxy_state: Tristate,
    profile: usize,
    /// NAS addresses (within `net`) that have sent a Message-Authenticator (`auto`):
    /// this engine's copy of what `Engine::learnt` holds for this client.
    sends_ma: HashSet<IpAddr, foldhash::fast::RandomState>,
}

#[derive(Debug)]
enum PendingKind {
    Access,
    Accounting,
    Probe,
}

/// A request forwarded upstream and not yet answered.
#[derive(Debug)]
struct Pending {
    kind: PendingKind,
    client: usize,
    listener: Listener,
    nas: SocketAddr,
    upstream: usize,
    up_auth: [u8; 16],
    sent_at: Instant,
    /// Upstreams tried so far, as a bit set over their order.
    tried: u64,
    /// Distinguishes this use of the slot from later ones, for stale timers.
    seq: u64,
}

/// Spare buffers kept for reuse; beyond this, returned buffers are freed.
const POOL_MAX: usize = 4096;
/// Capacity of a fresh packet buffer: any RADIUS packet fits.
const BUF_CAPACITY: usize = 4096;

fn clients_from(cfg: &Config, policy: &Policy) -> Vec<Client> {
    cfg.radius
        .clients
        .iter()
        .map(|c| Client {
            name: c.name.clone(),
            net: c.address,
            secret: SharedSecret::new(c.secret.as_bytes()),
            require_ma: c.require_message_authenticator,
            limit_proxy_state: c.limit_proxy_state,
            profile: policy.profile(&c.profile).unwrap_or(0),
            sends_ma: HashSet::default(),
        })
        .collect()
}

/// Whose secret signs a packet.
#[derive(Debug, Clone, Copy)]
enum Party {
    Client(usize),
    Upstream(usize),
}

/// The proxy core.
pub struct Engine {
    dict: Arc<Dictionary>,
    policy: Arc<Policy>,
    clients: Vec<Client>,
    upstreams: Vec<Upstream>,
    ids: IdSpace,
    pending: Vec<Option<Pending>>,
    /// The NAS request of each slot, for failover and for building the reply; kept
    /// and reused so that forwarding does not allocate.
    requests: Vec<Vec<u8>>,
    /// Spare packet buffers: transmits and cached replies come from here and return.
    pool: Vec<Vec<u8>>,
    dedup: DuplicateCache,
    /// Probe timers (rare, any order).
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Response-window deadlines of requests in flight, one queue per upstream: its
    /// window is constant, so deadlines arrive in order and a queue replaces a heap
    /// of hundreds of thousands of entries at line rate. Answered requests leave their
    /// entry behind; it is skipped (by `seq`) when it comes due.
    deadlines: Vec<VecDeque<(Instant, usize, u64)>>,
    garden_accounting: GardenAccounting,
    rng: StdRng,
    seq: u64,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// Scratch buffer reused for building packets.
    scratch: Vec<u8>,
    /// Shadow mode: classify and count, but pass every Reject on unchanged.
    shadow: bool,
    /// Subscribers rejected lately, for ambiguous Rejects (action `redial`), and the
    /// settings they were counted under.
    redials: Redials,
    redial_config: RedialConfig,
    /// Checks of a receive batch done ahead, in MD5 lanes.
    pre: batch::Preverifier,
    /// Keys garden ids (see `garden_id`).
    garden_key: foldhash::quality::FixedState,
    /// Whether packets built now are signed later, together (see `seal`).
    deferring: bool,
    /// Signing and caching left for the end of the batch.
    sealing: batch::Sealing,
    /// The pre-checked Message-Authenticator of the NAS datagram being handled.
    pre_nas_ma: Option<MaStatus>,
    /// The pre-checked authenticators of the AAA reply being handled.
    pre_reply: Option<batch::ReplyChecks>,
    /// What `auto` learnt of NASes and upstreams, shared with the other workers.
    learnt: Arc<Learnt>,
    /// The version of `learnt` the clients' `sends_ma` copies are up to.
    learnt_version: u64,
}

impl Engine {
    /// Builds the engine from a validated config. `seed` seeds its random streams; its
    /// first eight octets also key garden ids, so engines that should give a subscriber
    /// the same id (the workers of one process) share them.
    pub fn new(cfg: &Config, dict: Arc<Dictionary>, policy: Arc<Policy>, seed: [u8; 32]) -> Engine {
        let r = &cfg.radius;
        let clients = clients_from(cfg, &policy);
        let ids = IdSpace::new(r.upstream_sockets);
        let slots = ids.slots();
        Engine {
            dict,
            policy,
            clients,
            upstreams: r.upstreams.iter().map(Upstream::from_config).collect(),
            ids,
            pending: (0..slots).map(|_| None).collect(),
            requests: (0..slots).map(|_| Vec::new()).collect(),
            pool: Vec::new(),
            // In flight for at most every upstream's window in turn (failover).
            dedup: DuplicateCache::new(
                r.duplicate_lifetime,
                r.duplicate_lifetime + r.upstreams.iter().map(|u| u.response_window).sum(),
            ),
            timers: BinaryHeap::new(),
            deadlines: r.upstreams.iter().map(|_| VecDeque::new()).collect(),
            garden_accounting: r.garden_accounting,
            rng: StdRng::from_seed(seed),
            seq: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            scratch: Vec::with_capacity(4096),
            shadow: false,
            redials: Redials::new(&cfg.policy.redial),
            redial_config: cfg.policy.redial.clone(),
            pre: Default::default(),
            deferring: false,
            garden_key: foldhash::quality::FixedState::with_seed(
                u64::from_le_bytes(seed[..8].try_into().expect("8 octets")) ^ 0x6761_7264_656e,
            ),
            sealing: Default::default(),
            pre_nas_ma: None,
            pre_reply: None,
            learnt: Arc::new(Learnt::new(cfg)),
            learnt_version: 0,
        }
    }

    /// Shares what `auto` learns with the other engines given the same `learnt` (made
    /// from the same config).
    pub fn sharing(mut self, learnt: Arc<Learnt>) -> Engine {
        self.learnt = learnt;
        self.sync_learnt();
        self
    }

    /// Copies what the workers learnt of NASes into the clients of the same range.
    fn sync_learnt(&mut self) {
        let clients = &mut self.clients;
        self.learnt_version = self.learnt.each_nas(|net, ip| {
            for c in clients.iter_mut().filter(|c| c.net == net) {
                c.sends_ma.insert(ip);
            }
        });
    }

    /// Takes the clients and the policy of a reloaded config (everything else needs a
    /// restart). Requests in flight carry on: their client is found again by name, and
    /// keeps what `auto` learnt of its NASes if its address range is unchanged; those of
    /// a client that is gone are dropped, as if lost (its NAS retransmits, to no one).
    pub fn reconfigure(&mut self, cfg: &Config, policy: Arc<Policy>) {
        let old = std::mem::replace(&mut self.clients, clients_from(cfg, &policy));
        self.sync_learnt();
        let moved: Vec<Option<usize>> = old
            .iter()
            .map(|o| self.clients.iter().position(|c| c.name == o.name))
            .collect();
        for slot in 0..self.pending.len() {
            let Some(p) = &mut self.pending[slot] else {
                continue;
            };
            if matches!(p.kind, PendingKind::Probe) {
                continue;
            }
            match moved.get(p.client).copied().flatten() {
                Some(ci) => p.client = ci,
                None => {
                    let key = (
                        p.listener,
                        p.nas,
                        Packet::new_unchecked(&self.requests[slot][..]).identifier(),
                    );
                    self.dedup.forget_in_flight(&key, slot);
                    self.pending[slot] = None;
                    self.ids.release(slot);
                }
            }
        }
        if cfg.policy.redial != self.redial_config {
            self.redials = Redials::new(&cfg.policy.redial);
            self.redial_config = cfg.policy.redial.clone();
        }
        self.policy = policy;
    }

    /// Subscribers remembered for ambiguous Rejects, and those forgotten early to stay
    /// within `[policy.redial] remember`.
    pub fn redial_memory(&self) -> (usize, u64) {
        (self.redials.len(), self.redials.forgotten())
    }

    /// Shadow mode (`serve --shadow`): proxy everything unchanged, but classify each
    /// Reject and count what would have been rewritten.
    pub fn set_shadow(&mut self, on: bool) {
        self.shadow = on;
    }

    pub fn upstream_sockets(&self) -> usize {
        self.ids.sockets()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Gives a sent transmit's buffer back, so the next one needs no allocation.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.pool.len() < POOL_MAX {
            buf.clear();
            self.pool.push(buf);
        }
    }

    /// A pooled copy of `scratch`.
    fn scratch_copy(&mut self) -> Vec<u8> {
        let mut buf = self
            .pool
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUF_CAPACITY));
        buf.clear();
        buf.extend_from_slice(&self.scratch);
        buf
    }

    /// The cause id of an index in `Event::Rejected`.
    pub fn cause_id(&self, index: usize) -> &str {
        self.policy.cause_id(index)
    }

    /// How many causes there are (for metrics handles by index).
    pub fn cause_count(&self) -> usize {
        self.policy.causes.len()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// A reloaded dictionary (the policy given to `reconfigure` was compiled with it).
    pub fn set_dictionary(&mut self, dict: Arc<Dictionary>) {
        self.dict = dict;
    }

    /// NAS requests forwarded upstream and neither answered nor given up yet (probes of
    /// dead upstreams are not counted): what a draining packet thread waits for.
    pub fn in_flight(&self) -> usize {
        self.pending
            .iter()
            .flatten()
            .filter(|p| !matches!(p.kind, PendingKind::Probe))
            .count()
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let t = self
            .deadlines
            .iter()
            .filter_map(|q| q.front().map(|d| d.0))
            .chain(self.timers.peek().map(|Reverse((at, _))| *at))
            .min();
        match (t, self.dedup.next_expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Upstream names and whether each is alive.
    pub fn upstream_states(&self) -> impl Iterator<Item = (&str, bool)> {
        self.upstreams.iter().map(|u| (u.name.as_str(), u.alive))
    }

    /// Entries in the duplicate cache (in flight and answered).
    pub fn duplicate_cache_len(&self) -> usize {
        self.dedup.len()
    }

    pub fn upstream_name(&self, i: usize) -> &str {
        self.upstreams.get(i).map_or("?", |u| u.name.as_str())
    }

    fn drop(&mut self, why: DropReason) {
        tracing::debug!(reason = why.as_str(), "dropping packet");
        self.events.push_back(Event::Dropped(why));
    }

    fn send(&mut self, via: Via, dest: SocketAddr) {
        let payload = self.scratch_copy();
        self.transmits.push_back(Transmit { via, dest, payload });
    }

    /// Signs `scratch` (the packet `send` queues next) now, or, in a batch, notes it for
    /// `seal_deferred`.
    fn seal(&mut self, seal: build::Seal, party: Party) {
        if self.deferring {
            let transmit = self.transmits.len();
            self.sealing.sign(seal, party, transmit);
        } else {
            let secret = match party {
                Party::Client(ci) => &self.clients[ci].secret,
                Party::Upstream(ui) => &self.upstreams[ui].secret,
            };
            seal.apply(&mut self.scratch, secret);
        }
    }

    fn client_for(&self, ip: IpAddr) -> Option<usize> {
        most_specific(self.clients.iter().map(|c| &c.net), ip)
    }

    /// A datagram from a NAS on one of our listeners.
    pub fn handle_nas(&mut self, now: Instant, listener: Listener, src: SocketAddr, data: &[u8]) {
        let Ok(pkt) = Packet::new_checked(data) else {
            return self.drop(DropReason::Malformed);
        };
        let Some(ci) = self.client_for(src.ip()) else {
            return self.drop(DropReason::UnknownClient);
        };
        match (listener, pkt.code()) {
            (Listener::Auth, Code::AccessRequest) => self.access_request(now, ci, src, &pkt),
            (Listener::Acct, Code::AccountingRequest) => {
                self.accounting_request(now, ci, src, &pkt)
            }
            (l, Code::StatusServer) => self.status_server(ci, l, src, &pkt),
            _ => self.drop(DropReason::UnexpectedCode),
        }
    }

    /// Checks a NAS request's Message-Authenticator against the client's policy.
    fn check_nas_ma(
        &mut self,
        ci: usize,
        src: SocketAddr,
        pkt: &Packet<&[u8]>,
    ) -> Result<(), DropReason> {
        // One atomic load: another worker may have learnt this NAS.
        if self.learnt.version() != self.learnt_version {
            self.sync_learnt();
        }
        let c = &mut self.clients[ci];
        let status = match self.pre_nas_ma.take() {
            Some(s) => s,
            None => crypto::verify_message_authenticator(pkt.as_bytes(), None, &c.secret),
        };
        match status {
            MaStatus::Invalid => Err(DropReason::BadMessageAuthenticator),
            MaStatus::Valid => {
                if c.require_ma == Tristate::Auto && c.sends_ma.insert(src.ip()) {
                    self.learnt.learn_nas(c.net, src.ip());
                }
                Ok(())
            }
            MaStatus::Absent => {
                let required = match c.require_ma {
                    Tristate::Yes => true,
                    Tristate::No => false,
                    Tristate::Auto => c.sends_ma.contains(&src.ip()),
                };
                if required {
                    return Err(DropReason::MissingMessageAuthenticator);
                }
                // BlastRADIUS: Proxy-State without Message-Authenticator is how the forged
                // collision is carried; only a client explicitly trusted may send it.
                let limit = match c.limit_proxy_state {
                    Tristate::Yes | Tristate::Auto => {
                        c.require_ma != Tristate::No || c.limit_proxy_state == Tristate::Yes
                    }
                    Tristate::No => false,
                };
                if limit && pkt.find(types::PROXY_STATE).is_some() {
                    return Err(DropReason::ProxyStateWithoutMessageAuthenticator);
                }
                Ok(())
            }
        }
    }

    /// Duplicate handling shared by auth and accounting. Returns true if the request is
    /// new and should be processed.
    fn dedup_admit(&mut self, listener: Listener, src: SocketAddr, pkt: &Packet<&[u8]>) -> bool {
        let key = (listener, src, pkt.identifier());
        match self.dedup.lookup(&key, pkt.authenticator()) {
            Lookup::New => true,
            Lookup::Answered(reply) => {
                self.scratch.clear();
                self.scratch.extend_from_slice(reply);
                self.events.push_back(Event::Duplicate { answered: true });
                self.send(Via::Nas(listener), src);
                false
            }
            Lookup::InFlight => {
                self.events.push_back(Event::Duplicate { answered: false });
                self.drop(DropReason::DuplicateInFlight);
                false
            }
            Lookup::Replaced {
                old_slot,
                old_reply,
            } => {
                // Only if the slot still carries that request: never someone else's.
                if let Some(slot) = old_slot
                    && self.pending[slot]
                        .as_ref()
                        .is_some_and(|p| (p.listener, p.nas) == (listener, src))
                    && Packet::new_unchecked(&self.requests[slot][..]).identifier()
                        == pkt.identifier()
                {
                    self.release(slot);
                }
                if let Some(buf) = old_reply {
                    self.recycle(buf);
                }
                true
            }
        }
    }

    fn access_request(&mut self, now: Instant, ci: usize, src: SocketAddr, pkt: &Packet<&[u8]>) {
        if let Err(d) = self.check_nas_ma(ci, src, pkt) {
            return self.drop(d);
        }
        if !self.dedup_admit(Listener::Auth, src, pkt) {
            return;
        }
        self.forward(
            now,
            ci,
            Listener::Auth,
            src,
            pkt.as_bytes(),
            PendingKind::Access,
            0,
        );
    }

    fn accounting_request(
        &mut self,
        now: Instant,
        ci: usize,
        src: SocketAddr,
        pkt: &Packet<&[u8]>,
    ) {
        let secret = &self.clients[ci].secret;
        if !crypto::verify_hashed_request(pkt.as_bytes(), secret) {
            return self.drop(DropReason::BadAuthenticator);
        }
        if crypto::verify_message_authenticator(pkt.as_bytes(), None, secret) == MaStatus::Invalid {
            return self.drop(DropReason::BadMessageAuthenticator);
        }
        if !self.dedup_admit(Listener::Acct, src, pkt) {
            return;
        }
        if let Some(ev) = GardenAccountingEvent::of(pkt, src) {
            self.events.push_back(Event::GardenAccounting(ev));
            if self.garden_accounting == GardenAccounting::Answer {
                // The AAA rejected this user; it has no session to account for.
                let secret = &self.clients[ci].secret;
                if build::accounting_response(pkt, secret, &mut self.scratch).is_ok() {
                    let key = (Listener::Acct, src, pkt.identifier());
                    self.cache_reply(now, key, *pkt.authenticator());
                    self.send(Via::Nas(Listener::Acct), src);
                }
                return;
            }
        } else {
            // The BRAS may strip the Class tag: the garden matches the subscriber.
            let subscriber = subscriber_id(&self.garden_key, pkt, src);
            self.events
                .push_back(Event::SubscriberAccounting(SubscriberAccounting::of(
                    pkt, src, subscriber,
                )));
        }
        self.forward(
            now,
            ci,
            Listener::Acct,
            src,
            pkt.as_bytes(),
            PendingKind::Accounting,
            0,
        );
    }

    fn status_server(
        &mut self,
        ci: usize,
        listener: Listener,
        src: SocketAddr,
        pkt: &Packet<&[u8]>,
    ) {
        // RFC 5997 section 3: a Status-Server without a valid Message-Authenticator is
        // silently discarded.
        let secret = &self.clients[ci].secret;
        match crypto::verify_message_authenticator(pkt.as_bytes(), None, secret) {
            MaStatus::Valid => {}
            MaStatus::Absent => return self.drop(DropReason::MissingMessageAuthenticator),
            MaStatus::Invalid => return self.drop(DropReason::BadMessageAuthenticator),
        }
        let code = match listener {
            Listener::Auth => Code::AccessAccept,
            Listener::Acct => Code::AccountingResponse,
        };
        if build::status_reply(pkt, code, secret, &mut self.scratch).is_ok() {
            self.send(Via::Nas(listener), src);
        }
    }

    /// Picks the next upstream to try: the first alive one not yet tried, in config
    /// order; if all untried ones are dead, the first untried one anyway (a dead mark is
    /// a guess, and no answer at all is worse).
    fn choose_upstream(&self, kind: &PendingKind, tried: u64) -> Option<usize> {
        let usable = |i: usize, u: &Upstream| {
            tried & (1 << i.min(63)) == 0
                && match kind {
                    PendingKind::Accounting => u.acct.is_some(),
                    _ => true,
                }
        };
        let mut candidates = self
            .upstreams
            .iter()
            .enumerate()
            .filter(|(i, u)| usable(*i, u));
        let first = candidates.clone().next().map(|(i, _)| i);
        candidates.find(|(_, u)| u.alive).map(|(i, _)| i).or(first)
    }

    #[allow(clippy::too_many_arguments)]
    fn forward(
        &mut self,
        now: Instant,
        ci: usize,
        listener: Listener,
        nas: SocketAddr,
        request: &[u8],
        kind: PendingKind,
        tried: u64,
    ) {
        let key = (listener, nas, Packet::new_unchecked(request).identifier());
        let Some(ui) = self.choose_upstream(&kind, tried) else {
            return self.drop(if tried == 0 {
                DropReason::NoUpstream
            } else {
                DropReason::NoAnswer
            });
        };
        let Some(slot) = self.ids.allocate() else {
            return self.drop(DropReason::IdsExhausted);
        };
        let u = &self.upstreams[ui];
        let req = Packet::new_unchecked(request);
        let mut up_auth = [0u8; 16];
        let built = match kind {
            PendingKind::Access => {
                self.rng.fill_bytes(&mut up_auth);
                let hop = Hop {
                    from_secret: &self.clients[ci].secret,
                    from_auth: req.authenticator(),
                    to_secret: &u.secret,
                    to_auth: &up_auth,
                };
                build::upstream_access_request(&req, slot_id(slot), &hop, &mut self.scratch)
                    .map(Some)
            }
            PendingKind::Accounting => build::upstream_accounting_request(
                &req,
                slot_id(slot),
                &u.secret,
                &mut self.scratch,
            )
            .map(|a| {
                up_auth = a;
                None
            }),
            PendingKind::Probe => Ok(None),
        };
        match built {
            Ok(Some(seal)) => self.seal(seal, Party::Upstream(ui)),
            Ok(None) => {}
            Err(_) => {
                self.ids.release(slot);
                return self.drop(DropReason::TooBig);
            }
        }
        let u = &self.upstreams[ui];
        let dest = match kind {
            PendingKind::Accounting => u.acct.unwrap_or(u.auth),
            _ => u.auth,
        };
        let deadline = now + u.response_window;
        self.seq += 1;
        let seq = self.seq;
        self.deadlines[ui].push_back((deadline, slot, seq));
        self.dedup
            .insert_in_flight(now, key, *req.authenticator(), slot);
        self.pending[slot] = Some(Pending {
            kind,
            client: ci,
            listener,
            nas,
            upstream: ui,
            up_auth,
            sent_at: now,
            tried: tried | (1 << ui.min(63)),
            seq,
        });
        let kept = &mut self.requests[slot];
        kept.clear();
        kept.extend_from_slice(request);
        self.send(Via::Upstream(slot_socket(slot)), dest);
    }

    fn release(&mut self, slot: usize) {
        if self.pending.get_mut(slot).and_then(Option::take).is_some() {
            self.ids.release(slot);
        }
    }

    /// A datagram on upstream socket `socket`.
    pub fn handle_upstream(&mut self, now: Instant, socket: usize, src: SocketAddr, data: &[u8]) {
        let Ok(reply) = Packet::new_checked(data) else {
            return self.drop(DropReason::Malformed);
        };
        let slot = socket * 256 + reply.identifier() as usize;
        let Some(p) = self.pending.get(slot).and_then(Option::as_ref) else {
            return self.drop(DropReason::UnknownReply);
        };
        let u = &self.upstreams[p.upstream];
        let expected_src = match p.kind {
            PendingKind::Accounting => u.acct.unwrap_or(u.auth),
            _ => u.auth,
        };
        if src != expected_src {
            return self.drop(DropReason::WrongUpstreamSource);
        }
        let checked = self.pre_reply.take().filter(|c| c.up_auth == p.up_auth);
        let response_ok = match &checked {
            Some(c) => c.response_ok,
            None => crypto::verify_response(reply.as_bytes(), &p.up_auth, &u.secret),
        };
        if !response_ok {
            return self.drop(DropReason::UpstreamBadAuthenticator);
        }
        let ma = match &checked {
            Some(c) => c.ma,
            None => {
                crypto::verify_message_authenticator(reply.as_bytes(), Some(&p.up_auth), &u.secret)
            }
        };
        match ma {
            MaStatus::Invalid => return self.drop(DropReason::UpstreamBadMessageAuthenticator),
            MaStatus::Absent
                if u.requires_ma(self.learnt.upstream_sends_ma(p.upstream))
                    && !matches!(p.kind, PendingKind::Accounting) =>
            {
                return self.drop(DropReason::UpstreamMissingMessageAuthenticator);
            }
            MaStatus::Valid => {
                let ui = p.upstream;
                if self.upstreams[ui].require_ma == Tristate::Auto {
                    self.learnt.learn_upstream(ui);
                }
            }
            MaStatus::Absent => {}
        }
        let Some(p) = self.pending[slot].take() else {
            return;
        };
        let request = std::mem::take(&mut self.requests[slot]);
        self.upstream_answered(p.upstream);
        self.events.push_back(Event::UpstreamLatency {
            upstream: p.upstream,
            rtt: now.saturating_duration_since(p.sent_at),
        });
        match (&p.kind, reply.code()) {
            (PendingKind::Probe, _) => {}
            (PendingKind::Access, Code::AccessAccept | Code::AccessChallenge) => {
                self.relay(now, slot, &p, &request, &reply)
            }
            (PendingKind::Access, Code::AccessReject) => {
                self.reject(now, slot, &p, &request, &reply)
            }
            (PendingKind::Accounting, Code::AccountingResponse) => {
                self.relay(now, slot, &p, &request, &reply)
            }
            _ => {
                let key = (
                    p.listener,
                    p.nas,
                    Packet::new_unchecked(&request[..]).identifier(),
                );
                self.dedup.forget_in_flight(&key, slot);
                self.drop(DropReason::UnexpectedCode);
            }
        }
        // The slot is free again only now, with its buffer back.
        self.requests[slot] = request;
        self.ids.release(slot);
    }

    /// Caches `scratch` as the reply to a request (RFC 5080). While a batch defers its
    /// signing, the reply is cached once signed, from the transmit `send` queues next.
    fn cache_reply(&mut self, now: Instant, key: dedup::Key, auth: [u8; 16]) {
        if self.deferring {
            let transmit = self.transmits.len();
            self.sealing.cache(now, key, auth, transmit);
            return;
        }
        let copy = self.scratch_copy();
        if let Some(old) = self.dedup.answer(now, key, auth, copy) {
            self.recycle(old);
        }
    }

    fn upstream_answered(&mut self, ui: usize) {
        let u = &mut self.upstreams[ui];
        u.timeouts_in_a_row = 0;
        if !u.alive {
            u.alive = true;
            u.next_probe = None;
            tracing::info!(upstream = %u.name, "upstream is alive again");
            self.events.push_back(Event::UpstreamUp {
                upstream: u.name.clone(),
            });
        }
    }

    fn finish(&mut self, now: Instant, p: &Pending, request: &[u8]) {
        let req = Packet::new_unchecked(request);
        let key = (p.listener, p.nas, req.identifier());
        self.cache_reply(now, key, *req.authenticator());
        self.send(Via::Nas(p.listener), p.nas);
    }

    /// A reply that cannot be built: the request is dropped, and forgotten by the
    /// duplicate cache, so that the NAS's retransmission is tried again rather than
    /// dropped as in flight for ever.
    fn abandon(&mut self, slot: usize, p: &Pending, request: &[u8], why: DropReason) {
        let key = (
            p.listener,
            p.nas,
            Packet::new_unchecked(request).identifier(),
        );
        self.dedup.forget_in_flight(&key, slot);
        self.drop(why);
    }

    fn relay(
        &mut self,
        now: Instant,
        slot: usize,
        p: &Pending,
        request: &[u8],
        reply: &Packet<&[u8]>,
    ) {
        let req = Packet::new_unchecked(request);
        let u = &self.upstreams[p.upstream];
        let c = &self.clients[p.client];
        let hop = Hop {
            from_secret: &u.secret,
            from_auth: &p.up_auth,
            to_secret: &c.secret,
            to_auth: req.authenticator(),
        };
        match build::relay_reply(reply, req.identifier(), &hop, &mut self.scratch) {
            Ok(seal) => self.seal(seal, Party::Client(p.client)),
            Err(_) => return self.abandon(slot, p, request, DropReason::TooBig),
        }
        self.finish(now, p, request);
    }

    fn reject(
        &mut self,
        now: Instant,
        slot: usize,
        p: &Pending,
        request: &[u8],
        reply: &Packet<&[u8]>,
    ) {
        let req = Packet::new_unchecked(request);
        let method = AuthMethod::of(&req);
        let user = req.find(types::USER_NAME).map_or(&[][..], |a| a.value);
        let verdict = self.policy.verdict(reply.as_bytes(), user, &self.dict);
        let subscriber = subscriber_id(&self.garden_key, &req, p.nas);
        let rewrite = verdict.rewrite(method.allows_rewrite(), &mut self.redials, now, subscriber);
        let outcome = match (rewrite, self.shadow) {
            (Rewrite::No, _) => RejectOutcome::Passed,
            (Rewrite::AwaitingRedial, _) => RejectOutcome::AwaitingRedial,
            (Rewrite::Yes, true) => RejectOutcome::WouldRewrite,
            (Rewrite::Yes, false) => RejectOutcome::Rewritten,
        };
        self.events.push_back(Event::Rejected {
            cause: verdict.index,
            outcome,
            method,
        });
        if outcome != RejectOutcome::Rewritten {
            return self.relay(now, slot, p, request, reply);
        }
        let garden_id = garden_id(&self.garden_key, &req, p.nas, verdict.index);
        // The Class tag, written on the stack: the packet path does not allocate.
        let mut tag = [0u8; 253];
        let Some(tag_len) = class_tag(&mut tag, self.policy.cause_id(verdict.index), garden_id)
        else {
            return self.abandon(slot, p, request, DropReason::TooBig);
        };
        let c = &self.clients[p.client];
        let g = build::GardenAccept {
            nas_id: req.identifier(),
            nas_auth: req.authenticator(),
            profile: &self.policy.profiles[c.profile].encoded,
            session_timeout: self.policy.garden_session_timeout,
            class: &tag[..tag_len],
            request: &req,
        };
        let Ok(seal) = build::garden_accept(&g, &mut self.scratch) else {
            return self.abandon(slot, p, request, DropReason::TooBig);
        };
        self.events
            .push_back(Event::GardenEntered(GardenEntered::new(
                garden_id,
                subscriber,
                &req,
                p.nas,
                &c.name,
                self.policy.cause_id(verdict.index),
                crate::policy::reason_text(reply.as_bytes()),
                method,
            )));
        self.seal(seal, Party::Client(p.client));
        self.finish(now, p, request);
    }

    /// Runs expired timers: upstream timeouts (failover), probes, cache expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        let pool = &mut self.pool;
        self.dedup.expire(now, |buf| {
            if pool.len() < POOL_MAX {
                pool.push(buf);
            }
        });
        for ui in 0..self.deadlines.len() {
            while let Some(&(at, slot, seq)) = self.deadlines[ui].front() {
                if at > now {
                    break;
                }
                self.deadlines[ui].pop_front();
                self.pending_timeout(now, slot, seq);
            }
        }
        while let Some(Reverse((at, upstream))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            self.probe(now, upstream);
        }
    }

    fn pending_timeout(&mut self, now: Instant, slot: usize, seq: u64) {
        if self.pending[slot].as_ref().is_none_or(|p| p.seq != seq) {
            return;
        }
        let Some(p) = self.pending[slot].take() else {
            return;
        };
        let ui = p.upstream;
        if !matches!(p.kind, PendingKind::Probe) {
            let u = &mut self.upstreams[ui];
            u.timeouts_in_a_row += 1;
            if u.alive && u.timeouts_in_a_row >= u.dead_after {
                u.alive = false;
                tracing::warn!(upstream = %u.name, "upstream is not answering; marking it dead");
                self.events.push_back(Event::UpstreamDown {
                    upstream: u.name.clone(),
                });
                let at = now + u.probe_interval;
                self.timers.push(Reverse((at, ui)));
            }
        }
        match p.kind {
            PendingKind::Probe => {
                self.ids.release(slot);
                let at = now + self.upstreams[ui].probe_interval;
                self.timers.push(Reverse((at, ui)));
            }
            kind => {
                let request = std::mem::take(&mut self.requests[slot]);
                let key = (
                    p.listener,
                    p.nas,
                    Packet::new_unchecked(&request[..]).identifier(),
                );
                self.dedup.forget_in_flight(&key, slot);
                // Forward before freeing this slot, so the failover gets another one.
                self.forward(now, p.client, p.listener, p.nas, &request, kind, p.tried);
                self.requests[slot] = request;
                self.ids.release(slot);
            }
        }
    }

    fn probe(&mut self, now: Instant, ui: usize) {
        if self.upstreams[ui].alive {
            return;
        }
        let Some(slot) = self.ids.allocate() else {
            let at = now + self.upstreams[ui].probe_interval;
            self.timers.push(Reverse((at, ui)));
            return;
        };
        let mut auth = [0u8; 16];
        self.rng.fill_bytes(&mut auth);
        let u = &self.upstreams[ui];
        if build::status_probe(slot_id(slot), &auth, &u.secret, &mut self.scratch).is_err() {
            self.ids.release(slot);
            return;
        }
        let dest = u.auth;
        self.seq += 1;
        let seq = self.seq;
        let deadline = now + u.response_window;
        self.deadlines[ui].push_back((deadline, slot, seq));
        self.pending[slot] = Some(Pending {
            kind: PendingKind::Probe,
            client: 0,
            listener: Listener::Auth,
            nas: dest,
            upstream: ui,
            up_auth: auth,
            sent_at: now,
            tried: 0,
            seq,
        });
        self.send(Via::Upstream(slot_socket(slot)), dest);
    }
}

/// The index of the most specific block containing `ip`: a single NAS can have its own
/// secret inside a range.
pub(crate) fn most_specific<'a>(
    nets: impl Iterator<Item = &'a IpNet>,
    ip: IpAddr,
) -> Option<usize> {
    nets.enumerate()
        .filter(|(_, n)| n.contains(&ip))
        .max_by_key(|(_, n)| n.prefix_len())
        .map(|(i, _)| i)
}

/// The garden id of a rewritten dial: the same for the same subscriber (User-Name and
/// Calling-Station-Id at one NAS) and cause, so that a subscriber who keeps redialing
/// has one entry, updated, rather than one per dial; keyed per process, so that it
/// cannot be guessed. Never zero.
pub(crate) fn garden_id(
    key: &impl std::hash::BuildHasher,
    req: &Packet<&[u8]>,
    src: SocketAddr,
    cause: usize,
) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = key.build_hasher();
    let value = |typ| req.find(typ).map_or(&[][..], |a| a.value);
    value(types::USER_NAME).hash(&mut h);
    value(types::CALLING_STATION_ID).hash(&mut h);
    nas_addr(req, src).hash(&mut h);
    cause.hash(&mut h);
    h.finish() | 1
}

/// A subscriber whatever the cause (User-Name, Calling-Station-Id, NAS), keyed as
/// garden ids are: what counts redials, and what finds a garden entry from accounting
/// that lost radcare's Class.
pub(crate) fn subscriber_id(
    key: &impl std::hash::BuildHasher,
    req: &Packet<&[u8]>,
    src: SocketAddr,
) -> u64 {
    garden_id(key, req, src, usize::MAX)
}

/// Writes the Class tag `radcare;cause=<id>;g=<garden id>` on the stack; `None` if it
/// does not fit an attribute.
pub(crate) fn class_tag(buf: &mut [u8; 253], cause: &str, garden_id: u64) -> Option<usize> {
    use std::io::Write;
    let mut cur = &mut buf[..];
    write!(cur, "radcare;cause={cause};g={garden_id:016x}").ok()?;
    Some(253 - cur.len())
}

/// The garden id in a `radcare;...;g=<hex>` Class attribute.
fn garden_class(pkt: &Packet<&[u8]>) -> Option<u64> {
    pkt.attrs()
        .filter(|a| a.typ == types::CLASS && a.value.starts_with(b"radcare;"))
        .find_map(|a| {
            let s = std::str::from_utf8(a.value).ok()?;
            let g = s.split(';').find_map(|kv| kv.strip_prefix("g="))?;
            u64::from_str_radix(g, 16).ok()
        })
}

/// The NAS's own address: NAS-IP-Address if it sent one, else the packet's source.
fn nas_addr(pkt: &Packet<&[u8]>, src: SocketAddr) -> IpAddr {
    pkt.find(types::NAS_IP_ADDRESS)
        .and_then(|a| <[u8; 4]>::try_from(a.value).ok())
        .map(|b| IpAddr::V4(b.into()))
        .unwrap_or(src.ip())
}

#[cfg(test)]
mod tests;
