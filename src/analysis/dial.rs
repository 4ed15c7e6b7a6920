//! PPPoE dial attempts per subscriber MAC: the redial-storm view.
//!
//! A dial starts with a PADI from the subscriber; PADO, PADR and PADS follow, then in
//! the session LCP and the authentication: PAP Authenticate-Request answered by Ack or
//! Nak, or CHAP Challenge, Response, and Success or Failure. A subscriber whose login
//! keeps failing redials, often every few seconds, and a whole access network of them
//! after an AAA outage is a storm. [`DialAttempts`] counts per subscriber MAC and per
//! minute; it is sans-IO (the caller gives the time), so `radcare pcap` feeds it from a
//! capture and the bridge from its subscriber-side interface.
//!
//! Frames from the access concentrator name the subscriber as the destination; in a
//! Linux cooked capture there is no destination, so the subscriber is found by the
//! session id it used.

use std::cmp::{Ordering, Reverse};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::wire::ether::{
    ETHERTYPE_PPPOE_DISCOVERY, ETHERTYPE_PPPOE_SESSION, EtherFrame, mac_string,
};
use crate::wire::pppoe::{Discovery, Error, PPP_CHAP, PPP_LCP, PPP_PAP, PppoeEvent};

/// An Ethernet address.
pub type Mac = [u8; 6];

const PAP_REQUEST: u8 = 1;
const PAP_ACK: u8 = 2;
const PAP_NAK: u8 = 3;
const CHAP_RESPONSE: u8 = 2;
const CHAP_SUCCESS: u8 = 3;
const CHAP_FAILURE: u8 = 4;

const MINUTE: Duration = Duration::from_secs(60);

/// One subscriber's dialling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscriber {
    /// PADIs sent: each starts a dial attempt.
    pub attempts: u64,
    pub padr: u64,
    /// PAP Authenticate-Requests and CHAP Responses.
    pub auth_requests: u64,
    /// PAP Authenticate-Naks and CHAP Failures.
    pub failures: u64,
    /// PAP Authenticate-Acks and CHAP Successes.
    pub successes: u64,
    pub first_seen: Duration,
    pub last_seen: Duration,
    /// The most attempts within any 60 seconds.
    pub peak_per_minute: u64,
    first_attempt: Option<Duration>,
    last_attempt: Option<Duration>,
    /// Attempt times within the last minute, for the peak.
    recent: VecDeque<Duration>,
}

impl Subscriber {
    fn attempt(&mut self, at: Duration) {
        self.attempts += 1;
        self.first_attempt.get_or_insert(at);
        self.last_attempt = Some(at);
        while self.recent.front().is_some_and(|&t| t + MINUTE <= at) {
            self.recent.pop_front();
        }
        self.recent.push_back(at);
        self.peak_per_minute = self.peak_per_minute.max(self.recent.len() as u64);
    }

    /// Attempts per minute over the span from the first attempt to the last, a span
    /// shorter than a minute counting as one.
    pub fn attempts_per_minute(&self) -> f64 {
        let span = match (self.first_attempt, self.last_attempt) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => return 0.0,
        };
        self.attempts as f64 / (span.as_secs_f64() / 60.0).max(1.0)
    }
}

/// Totals over all subscribers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DialTotals {
    /// PPPoE frames seen (discovery and session).
    pub frames: u64,
    pub padi: u64,
    pub pado: u64,
    pub padr: u64,
    pub pads: u64,
    pub padt: u64,
    pub lcp: u64,
    pub auth_requests: u64,
    pub failures: u64,
    pub successes: u64,
    /// PPPoE frames too short or with a length past the frame.
    pub malformed: u64,
    /// Frames of new subscribers not tracked because the table was full.
    pub subscribers_shed: u64,
}

/// Dialling in one minute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MinuteCounts {
    /// Start of the minute, in seconds since the origin of the timestamps (the Unix
    /// epoch for a capture).
    pub minute: u64,
    pub attempts: u64,
    pub auth_requests: u64,
    pub failures: u64,
}

/// A subscriber in the top list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Offender {
    #[serde(serialize_with = "serialize_mac")]
    pub mac: Mac,
    pub attempts: u64,
    pub attempts_per_minute: f64,
    pub peak_per_minute: u64,
    pub auth_requests: u64,
    pub failures: u64,
    pub successes: u64,
    pub first_seen: f64,
    pub last_seen: f64,
}

fn serialize_mac<S: Serializer>(mac: &Mac, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&mac_string(mac))
}

/// Subscribers tracked at most, by default: a flood of PADIs from random MACs must not
/// grow the table without limit. A few hundred bytes each, so tens of MB at the cap.
pub const MAX_SUBSCRIBERS: usize = 100_000;

/// Counts PPPoE dial attempts per subscriber MAC and per minute.
#[derive(Debug, Clone)]
pub struct DialAttempts {
    subscribers: HashMap<Mac, Subscriber>,
    /// At this many subscribers a new MAC is shed (counted, not tracked).
    limit: usize,
    /// Session id to subscriber, learnt from PADS and from the subscriber's own frames.
    sessions: HashMap<u16, Mac>,
    minutes: BTreeMap<u64, MinuteCounts>,
    totals: DialTotals,
}

impl Default for DialAttempts {
    fn default() -> DialAttempts {
        DialAttempts::with_limit(MAX_SUBSCRIBERS)
    }
}

impl DialAttempts {
    pub fn new() -> DialAttempts {
        DialAttempts::default()
    }

    /// Tracks at most `limit` subscribers.
    pub fn with_limit(limit: usize) -> DialAttempts {
        DialAttempts {
            subscribers: HashMap::new(),
            limit,
            sessions: HashMap::new(),
            minutes: BTreeMap::new(),
            totals: DialTotals::default(),
        }
    }

    /// Takes one frame seen at `at`; `payload` is what follows the Ethernet header
    /// (`frame.payload_offset` onwards). Frames other than PPPoE are ignored
    /// (`Ok(false)`); malformed PPPoE frames are counted and returned as errors.
    pub fn observe(
        &mut self,
        at: Duration,
        frame: &EtherFrame,
        payload: &[u8],
    ) -> Result<bool, Error> {
        let session = match frame.ethertype {
            ETHERTYPE_PPPOE_DISCOVERY => false,
            ETHERTYPE_PPPOE_SESSION => true,
            _ => return Ok(false),
        };
        self.totals.frames += 1;
        let event = match PppoeEvent::parse(payload, session) {
            Ok(e) => e,
            Err(e) => {
                self.totals.malformed += 1;
                return Err(e);
            }
        };
        let minute = at.as_secs() / 60 * 60;
        match event {
            PppoeEvent::Discovery { code, session } => match code {
                Discovery::Padi => {
                    self.totals.padi += 1;
                    self.minute(minute).attempts += 1;
                    if let Some(s) = self.subscriber(frame.src, at) {
                        s.attempt(at);
                    }
                }
                Discovery::Pado => self.totals.pado += 1,
                Discovery::Padr => {
                    self.totals.padr += 1;
                    if let Some(s) = self.subscriber(frame.src, at) {
                        s.padr += 1;
                    }
                }
                Discovery::Pads => {
                    self.totals.pads += 1;
                    if is_unicast(&frame.dst) {
                        self.sessions.insert(session, frame.dst);
                    }
                }
                Discovery::Padt => self.totals.padt += 1,
                Discovery::Unknown(_) => {}
            },
            PppoeEvent::Control {
                session,
                protocol,
                code,
            } => match (protocol, code) {
                (PPP_PAP, PAP_REQUEST) | (PPP_CHAP, CHAP_RESPONSE) => {
                    self.totals.auth_requests += 1;
                    self.minute(minute).auth_requests += 1;
                    self.sessions.insert(session, frame.src);
                    if let Some(s) = self.subscriber(frame.src, at) {
                        s.auth_requests += 1;
                    }
                }
                (PPP_PAP, PAP_NAK) | (PPP_CHAP, CHAP_FAILURE) => {
                    self.totals.failures += 1;
                    self.minute(minute).failures += 1;
                    if let Some(s) = self
                        .client_of(frame, session)
                        .and_then(|m| self.subscriber(m, at))
                    {
                        s.failures += 1;
                    }
                }
                (PPP_PAP, PAP_ACK) | (PPP_CHAP, CHAP_SUCCESS) => {
                    self.totals.successes += 1;
                    if let Some(s) = self
                        .client_of(frame, session)
                        .and_then(|m| self.subscriber(m, at))
                    {
                        s.successes += 1;
                    }
                }
                (PPP_LCP, _) => self.totals.lcp += 1,
                _ => {}
            },
            PppoeEvent::Data { .. } => {}
        }
        Ok(true)
    }

    /// The subscriber `mac`, added if there is room; `None` (counted) if not.
    fn subscriber(&mut self, mac: Mac, at: Duration) -> Option<&mut Subscriber> {
        let full = self.subscribers.len() >= self.limit;
        let s = match self.subscribers.entry(mac) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(_) if full => {
                self.totals.subscribers_shed += 1;
                return None;
            }
            Entry::Vacant(e) => e.insert(Subscriber {
                first_seen: at,
                ..Subscriber::default()
            }),
        };
        s.last_seen = at;
        Some(s)
    }

    fn minute(&mut self, minute: u64) -> &mut MinuteCounts {
        self.minutes.entry(minute).or_insert(MinuteCounts {
            minute,
            ..MinuteCounts::default()
        })
    }

    /// The subscriber an access concentrator's frame is for.
    fn client_of(&self, frame: &EtherFrame, session: u16) -> Option<Mac> {
        if is_unicast(&frame.dst) {
            Some(frame.dst)
        } else {
            self.sessions.get(&session).copied()
        }
    }

    pub fn totals(&self) -> DialTotals {
        self.totals
    }

    pub fn subscriber_count(&self) -> usize {
        self.subscribers.len()
    }

    pub fn subscriber_of(&self, mac: &Mac) -> Option<&Subscriber> {
        self.subscribers.get(mac)
    }

    /// Dialling per minute, oldest first; minutes without attempts, requests or
    /// failures are absent.
    pub fn per_minute(&self) -> Vec<MinuteCounts> {
        self.minutes.values().copied().collect()
    }

    /// The `n` subscribers with the most attempts (then failures, then authentication
    /// requests), kept in a heap of `n` rather than sorting them all.
    pub fn top(&self, n: usize) -> Vec<Offender> {
        let n = n.min(self.subscribers.len());
        if n == 0 {
            return Vec::new();
        }
        // A max-heap of the worst kept so far: its top is the first to give way.
        let mut kept = BinaryHeap::with_capacity(n + 1);
        for (mac, s) in &self.subscribers {
            kept.push(Ranked(mac, s));
            if kept.len() > n {
                kept.pop();
            }
        }
        kept.into_sorted_vec()
            .into_iter()
            .map(|Ranked(mac, s)| Offender {
                mac: *mac,
                attempts: s.attempts,
                attempts_per_minute: s.attempts_per_minute(),
                peak_per_minute: s.peak_per_minute,
                auth_requests: s.auth_requests,
                failures: s.failures,
                successes: s.successes,
                first_seen: s.first_seen.as_secs_f64(),
                last_seen: s.last_seen.as_secs_f64(),
            })
            .collect()
    }

    /// Subscribers dialling at least `per_minute` times a minute, more than once.
    pub fn redialing(&self, per_minute: f64) -> usize {
        self.subscribers
            .values()
            .filter(|s| s.attempts > 1 && s.attempts_per_minute() >= per_minute)
            .count()
    }

    /// When the table is full, forgets the subscribers that dialled once and not in the
    /// last minute (what a flood of random MACs leaves), to make room for new ones.
    pub fn make_room(&mut self, now: Duration) {
        if self.subscribers.len() >= self.limit {
            self.subscribers
                .retain(|_, s| s.attempts > 1 || s.last_seen + MINUTE > now);
            self.forget_orphan_sessions();
        }
    }

    /// Forgets subscribers not seen since `before`, and older minutes: for a long-running
    /// observer that must stay bounded.
    pub fn forget_before(&mut self, before: Duration) {
        self.subscribers.retain(|_, s| s.last_seen >= before);
        let keep = before.as_secs() / 60 * 60;
        self.minutes = self.minutes.split_off(&keep);
        self.forget_orphan_sessions();
    }

    fn forget_orphan_sessions(&mut self) {
        let subscribers = &self.subscribers;
        self.sessions.retain(|_, mac| subscribers.contains_key(mac));
    }

    /// The table's capacity, to show it stays bounded.
    #[cfg(test)]
    fn subscriber_capacity(&self) -> usize {
        self.subscribers.capacity()
    }
}

/// A subscriber ordered by rank: `Less` is the more dialling (the order of `top`).
struct Ranked<'a>(&'a Mac, &'a Subscriber);

impl Ranked<'_> {
    fn key(&self) -> (Reverse<u64>, Reverse<u64>, Reverse<u64>, &Mac) {
        let s = self.1;
        (
            Reverse(s.attempts),
            Reverse(s.failures),
            Reverse(s.auth_requests),
            self.0,
        )
    }
}

impl PartialEq for Ranked<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Ranked<'_> {}

impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// A real station address: not all zeros (unknown), not multicast or broadcast.
fn is_unicast(mac: &Mac) -> bool {
    mac[0] & 1 == 0 && *mac != [0; 6]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::pppoe;

    const AC: Mac = [0x02, 0xac, 0, 0, 0, 1];
    const A: Mac = [0x02, 0, 0, 0, 0, 0xa];
    const B: Mac = [0x02, 0, 0, 0, 0, 0xb];
    const BROADCAST: Mac = [0xff; 6];

    fn frame(src: Mac, dst: Mac, ethertype: u16) -> EtherFrame {
        EtherFrame {
            dst,
            src,
            vlans: [None, None],
            ethertype,
            payload_offset: 14,
        }
    }

    /// A discovery frame with an empty Service-Name tag.
    fn discovery(code: u8, session: u16) -> Vec<u8> {
        let mut p = Vec::new();
        pppoe::emit(&mut p, code, session, &[0x01, 0x01, 0, 0]);
        p
    }

    /// An empty LCP, PAP or CHAP packet (code, identifier 1, length 4) in a session.
    fn control(session: u16, protocol: u16, code: u8) -> Vec<u8> {
        let mut ppp = Vec::new();
        pppoe::emit_ppp(&mut ppp, protocol, &[code, 1, 0, 4]);
        let mut p = Vec::new();
        pppoe::emit(&mut p, pppoe::SESSION_CODE, session, &ppp);
        p
    }

    fn dial(d: &mut DialAttempts, at: u64, mac: Mac, session: u16, pap_reply: u8) {
        let t = |ms: u64| Duration::from_millis(at * 1000 + ms);
        let disc = ETHERTYPE_PPPOE_DISCOVERY;
        let sess = ETHERTYPE_PPPOE_SESSION;
        let steps: [(u64, EtherFrame, Vec<u8>); 6] = [
            (0, frame(mac, BROADCAST, disc), discovery(0x09, 0)),
            (1, frame(AC, mac, disc), discovery(0x07, 0)),
            (2, frame(mac, AC, disc), discovery(0x19, 0)),
            (3, frame(AC, mac, disc), discovery(0x65, session)),
            (
                4,
                frame(mac, AC, sess),
                control(session, PPP_PAP, PAP_REQUEST),
            ),
            (
                5,
                frame(AC, mac, sess),
                control(session, PPP_PAP, pap_reply),
            ),
        ];
        for (ms, f, p) in steps {
            assert_eq!(d.observe(t(ms), &f, &p), Ok(true));
        }
    }

    #[test]
    fn a_redial_storm_and_a_good_login() {
        let mut d = DialAttempts::new();
        for i in 0..5 {
            dial(&mut d, 600 + i * 10, A, 0x10 + i as u16, PAP_NAK);
        }
        dial(&mut d, 605, B, 0x20, PAP_ACK);
        let t = d.totals();
        assert_eq!((t.padi, t.pado, t.padr, t.pads), (6, 6, 6, 6));
        assert_eq!((t.auth_requests, t.failures, t.successes), (6, 5, 1));
        let top = d.top(10);
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].mac, A);
        assert_eq!(
            (top[0].attempts, top[0].failures, top[0].peak_per_minute),
            (5, 5, 5)
        );
        assert_eq!(top[0].attempts_per_minute, 5.0);
        assert_eq!((top[1].mac, top[1].successes), (B, 1));
        let minutes = d.per_minute();
        assert_eq!(
            minutes,
            vec![MinuteCounts {
                minute: 600,
                attempts: 6,
                auth_requests: 6,
                failures: 5
            }]
        );
        let json = serde_json::to_value(&top[0]).unwrap();
        assert_eq!(json["mac"], "02:00:00:00:00:0a");
    }

    #[test]
    fn peak_uses_a_sliding_minute() {
        let mut s = Subscriber::default();
        for secs in [0, 30, 59, 60, 61, 200] {
            s.attempt(Duration::from_secs(secs));
        }
        // 0, 30, 59 within a minute; at 60 the first falls out: 30, 59, 60; then 30..61.
        assert_eq!(s.peak_per_minute, 4);
        assert_eq!(s.attempts, 6);
        assert!((s.attempts_per_minute() - 6.0 / (200.0 / 60.0)).abs() < 1e-9);
    }

    #[test]
    fn cooked_capture_without_destination_uses_the_session() {
        let mut d = DialAttempts::new();
        let sess = ETHERTYPE_PPPOE_SESSION;
        let req = control(7, PPP_CHAP, CHAP_RESPONSE);
        d.observe(Duration::ZERO, &frame(A, [0; 6], sess), &req)
            .unwrap();
        let fail = control(7, PPP_CHAP, CHAP_FAILURE);
        d.observe(Duration::ZERO, &frame(AC, [0; 6], sess), &fail)
            .unwrap();
        let a = d.subscriber_of(&A).unwrap();
        assert_eq!((a.auth_requests, a.failures), (1, 1));
        assert!(d.subscriber_of(&AC).is_none());
    }

    #[test]
    fn other_frames_are_ignored_and_malformed_counted() {
        let mut d = DialAttempts::new();
        assert_eq!(
            d.observe(Duration::ZERO, &frame(A, AC, 0x0800), &[0x45]),
            Ok(false)
        );
        assert!(
            d.observe(
                Duration::ZERO,
                &frame(A, AC, ETHERTYPE_PPPOE_DISCOVERY),
                &[0x11]
            )
            .is_err()
        );
        assert_eq!((d.totals().frames, d.totals().malformed), (1, 1));
    }

    #[test]
    fn forgetting_keeps_recent_subscribers() {
        let mut d = DialAttempts::new();
        dial(&mut d, 60, A, 1, PAP_NAK);
        dial(&mut d, 600, B, 2, PAP_NAK);
        d.forget_before(Duration::from_secs(300));
        assert!(d.subscriber_of(&A).is_none());
        assert!(d.subscriber_of(&B).is_some());
        assert_eq!(d.per_minute().len(), 1);
        assert_eq!(d.subscriber_count(), 1);
    }

    /// A distinct, unicast, locally administered MAC for each `i`.
    fn mac_of(i: u64) -> Mac {
        let h = i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes();
        [0x02, h[0], h[1], h[2], h[3], h[4] ^ h[7]]
    }

    #[test]
    fn a_padi_flood_from_random_macs_is_shed_at_the_cap() {
        let mut d = DialAttempts::new();
        let padi = discovery(0x09, 0);
        let mut at_cap = None;
        let mut distinct = std::collections::HashSet::new();
        for i in 0..1_000_000u64 {
            let mac = mac_of(i);
            distinct.insert(mac);
            let at = Duration::from_millis(i / 10);
            let f = frame(mac, BROADCAST, ETHERTYPE_PPPOE_DISCOVERY);
            assert_eq!(d.observe(at, &f, &padi), Ok(true));
            if at_cap.is_none() && d.subscriber_count() == MAX_SUBSCRIBERS {
                at_cap = Some(d.subscriber_capacity());
            }
        }
        assert_eq!(distinct.len(), 1_000_000);
        assert_eq!(d.subscriber_count(), MAX_SUBSCRIBERS);
        assert_eq!(Some(d.subscriber_capacity()), at_cap);
        let shed = 1_000_000 - MAX_SUBSCRIBERS as u64;
        assert_eq!(d.totals().subscribers_shed, shed);
        assert_eq!(d.totals().padi, 1_000_000);

        // Once the flood is a minute old its one-dial MACs give way to a redialler.
        let later = Duration::from_secs(200);
        d.make_room(later);
        assert_eq!(d.subscriber_count(), 0);
        dial(&mut d, 200, A, 1, PAP_NAK);
        dial(&mut d, 210, A, 2, PAP_NAK);
        assert_eq!(d.top(1)[0].mac, A);
        assert_eq!(d.redialing(2.0), 1);
    }

    #[test]
    fn top_n_is_ranked_as_a_full_sort_would() {
        let mut d = DialAttempts::new();
        let padi = discovery(0x09, 0);
        for i in 0..500u64 {
            let f = frame(mac_of(i), BROADCAST, ETHERTYPE_PPPOE_DISCOVERY);
            for _ in 0..(i * 7919 % 13) {
                d.observe(Duration::from_secs(i), &f, &padi).unwrap();
            }
        }
        let all = d.top(usize::MAX);
        assert_eq!(all.len(), d.subscriber_count());
        assert!(all.windows(2).all(|w| {
            (w[1].attempts, w[1].failures, w[1].auth_requests, w[0].mac)
                <= (w[0].attempts, w[0].failures, w[0].auth_requests, w[1].mac)
        }));
        for n in [0, 1, 7, 20] {
            assert_eq!(d.top(n), all[..n]);
        }
    }
}
