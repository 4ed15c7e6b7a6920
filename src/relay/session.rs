//! One relayed connection's state machine, sans IO: the caller passes `now`, the frames
//! that arrived on link B and the bytes its local socket (A or C) gave; it gets back the
//! frames to send, the bytes to write locally, a deadline and events.
//!
//! Each direction is a stream of u64 positions. The sender holds every byte from
//! `first_held` until the peer acks it; the receiver acks what its local socket took,
//! so the sender's bound (`max_buffer`) is the flow-control window too: a producer
//! faster than the link, or than the far application, is pushed back by
//! [`Session::room`] going to zero.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::proto::{ID_LEN, MAC_LEN, MAX_PAYLOAD, NONCE_LEN, Refusal, Repr};

pub type SessionId = [u8; ID_LEN];

/// The limits and timers of a session; both ends should use the same values.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How long a session outlives a lost link before A or C is closed.
    pub linger: Duration,
    /// How often an idle link carries a keepalive.
    pub keepalive: Duration,
    /// Silence after which a link is taken for dead.
    pub link_timeout: Duration,
    /// Unacked bytes held per session and direction.
    pub max_buffer: usize,
    /// How long a byte may stay unacked before the session is given up.
    pub max_age: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            linger: Duration::from_secs(60),
            keepalive: Duration::from_secs(5),
            link_timeout: Duration::from_secs(15),
            max_buffer: 4 << 20,
            max_age: Duration::from_secs(300),
        }
    }
}

/// The shared key both proxies hold; it proves the client on every Open and Resume.
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(redacted)")
    }
}

impl Key {
    pub fn new(bytes: &[u8]) -> Key {
        Key(bytes.to_vec())
    }

    fn hmac(&self, label: &[u8], parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes keys of any length");
        m.update(label);
        for p in parts {
            m.update(p);
        }
        m
    }

    pub fn open_mac(&self, nonce: &[u8; NONCE_LEN]) -> [u8; MAC_LEN] {
        self.hmac(b"radcare-relay open", &[nonce])
            .finalize()
            .into_bytes()
            .into()
    }

    /// Signs the session id with the server's fresh nonce (so a recorded Resume is
    /// worthless on the next connection) and the positions (so they cannot be altered).
    pub fn resume_mac(
        &self,
        id: &SessionId,
        nonce: &[u8; NONCE_LEN],
        received: u64,
        first_held: u64,
    ) -> [u8; MAC_LEN] {
        self.resume_hmac(RESUME, id, nonce, received, first_held)
            .finalize()
            .into_bytes()
            .into()
    }

    /// A Resume of a session whose application is gone (see [`Event::Detached`]): the
    /// same frame, signed under another label, so a server tells the two apart.
    pub fn deliver_mac(
        &self,
        id: &SessionId,
        nonce: &[u8; NONCE_LEN],
        received: u64,
        first_held: u64,
    ) -> [u8; MAC_LEN] {
        self.resume_hmac(DELIVER, id, nonce, received, first_held)
            .finalize()
            .into_bytes()
            .into()
    }

    fn resume_hmac(
        &self,
        label: &[u8],
        id: &SessionId,
        nonce: &[u8; NONCE_LEN],
        received: u64,
        first_held: u64,
    ) -> Hmac<Sha256> {
        self.hmac(
            label,
            &[
                id,
                nonce,
                &received.to_be_bytes(),
                &first_held.to_be_bytes(),
            ],
        )
    }
}

const RESUME: &[u8] = b"radcare-relay resume";
const DELIVER: &[u8] = b"radcare-relay deliver";

/// What a server makes of a client's first frame on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hello {
    Open,
    Resume {
        id: SessionId,
        received: u64,
        first_held: u64,
    },
    /// A Resume from a client whose application is gone, with bytes still to deliver:
    /// also taken when the server's end already lingered out (on a new connection to C).
    Deliver {
        id: SessionId,
        received: u64,
        first_held: u64,
    },
    /// A bad MAC, or not a hello at all: answered with `Refused(Denied)`.
    Denied,
}

/// Checks a client's first frame against the nonce this connection was challenged with
/// (MACs compared in constant time).
pub fn check_hello(key: &Key, nonce: &[u8; NONCE_LEN], frame: &Repr<'_>) -> Hello {
    match *frame {
        Repr::Open { mac } => {
            let ok = key
                .hmac(b"radcare-relay open", &[nonce])
                .verify_slice(&mac)
                .is_ok();
            if ok { Hello::Open } else { Hello::Denied }
        }
        Repr::Resume {
            id,
            received,
            first_held,
            mac,
        } => {
            let signed = |label| {
                key.resume_hmac(label, &id, nonce, received, first_held)
                    .verify_slice(&mac)
                    .is_ok()
            };
            if signed(RESUME) {
                Hello::Resume {
                    id,
                    received,
                    first_held,
                }
            } else if signed(DELIVER) {
                Hello::Deliver {
                    id,
                    received,
                    first_held,
                }
            } else {
                Hello::Denied
            }
        }
        _ => Hello::Denied,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// Why a session ended without a Close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Link B stayed down past the linger time.
    Linger,
    /// A byte stayed unacked past `max_age`.
    Stale,
    /// The resume handshake found bytes that no side holds any more.
    Gap,
    /// The server refused the Open or the Resume.
    Refused(Refusal),
    /// The peer sent more than any window allows.
    Overrun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Event {
    /// The client learnt its session id from the server.
    Established(SessionId),
    /// A new link carries the session on.
    Resumed,
    /// The link went silent: the driver drops the connection (and the client dials
    /// again).
    LinkLost,
    /// The session is closed by a Close: write out what is deliverable, then close the
    /// local socket. `discarded`: bytes this side still held for the peer, which the
    /// close made moot. A client that answered the server's Close is not done yet: it
    /// waits for the server's confirmation ([`Session::is_done`]).
    Closed { discarded: u64 },
    /// The session ended without a Close: close the local socket. `undeliverable`:
    /// bytes held for the peer that will never reach it.
    Failed { reason: Failure, undeliverable: u64 },
    /// Client only: the linger time passed with `pending` bytes held for the server.
    /// The driver closes A (after writing what is deliverable); the session lives on
    /// without it, dials until the network is back and delivers the bytes over a new
    /// link (to a new connection to C if the server's end lingered out too), then
    /// closes. Bounded by `max_age`; a refusal reports them undeliverable.
    Detached { pending: u64 },
}

#[derive(Debug, Clone, Copy)]
enum Link {
    /// `since`: when the session last lost a working link; attempts that fail before
    /// their handshake do not restart the linger time.
    Down {
        since: Instant,
    },
    /// Client only: connected at `at`, the handshake not yet answered.
    Handshake {
        at: Instant,
        since: Instant,
    },
    Up {
        heard: Instant,
        sent: Instant,
    },
}

pub struct Session {
    role: Role,
    limits: Limits,
    key: Option<Key>,
    id: Option<SessionId>,
    link: Link,
    /// Bytes for the peer, positions `first_held..first_held + held.len()`.
    held: VecDeque<u8>,
    first_held: u64,
    next_send: u64,
    /// (end position of a push, when it was pushed): the age of the oldest held byte.
    pushed: VecDeque<(u64, Instant)>,
    local_end: Option<u64>,
    close_sent: bool,
    /// Bytes for the local socket, positions `consumed..consumed + inbound.len()`.
    inbound: VecDeque<u8>,
    consumed: u64,
    ack_sent: u64,
    peer_end: Option<u64>,
    control: Vec<u8>,
    events: VecDeque<Event>,
    done: bool,
    /// Ended by a Close (either side's): a resume after a lost Closed is answered
    /// Closed again.
    closed: bool,
    /// Client only: it answered the server's Close and waits for the server's Closed,
    /// the proof that its answer arrived (else the server would linger out and report
    /// what it sent as undeliverable).
    answered: bool,
    /// Client only: lingered out with bytes to deliver, see [`Event::Detached`].
    detached: bool,
    /// Bytes that arrived for an application that is gone (after [`Event::Detached`]).
    dropped: u64,
}

impl Session {
    /// A client session; it opens on its first link.
    pub fn client(key: Key, limits: Limits, now: Instant) -> Session {
        Session::new(Role::Client, Some(key), None, limits, now)
    }

    /// A server session for an Open that [`check_hello`] accepted on a link that is up.
    pub fn server(id: SessionId, limits: Limits, now: Instant) -> Session {
        let mut s = Session::new(Role::Server, None, Some(id), limits, now);
        Repr::Accepted { id }.emit(&mut s.control);
        s.link = Link::Up {
            heard: now,
            sent: now,
        };
        s
    }

    fn new(
        role: Role,
        key: Option<Key>,
        id: Option<SessionId>,
        limits: Limits,
        now: Instant,
    ) -> Session {
        Session {
            role,
            limits,
            key,
            id,
            link: Link::Down { since: now },
            held: VecDeque::new(),
            first_held: 0,
            next_send: 0,
            pushed: VecDeque::new(),
            local_end: None,
            close_sent: false,
            inbound: VecDeque::new(),
            consumed: 0,
            ack_sent: 0,
            peer_end: None,
            control: Vec::new(),
            events: VecDeque::new(),
            done: false,
            closed: false,
            answered: false,
            detached: false,
            dropped: 0,
        }
    }

    /// A server session continuing one whose end lingered out (its connection to C
    /// closed) for a client that delivers what it still held ([`Hello::Deliver`]):
    /// `received` is where the old end's application stopped taking bytes, `sent`
    /// where the client's stream from this side stands. The caller goes on with
    /// [`Session::resume`].
    pub fn continued(
        id: SessionId,
        limits: Limits,
        now: Instant,
        sent: u64,
        received: u64,
    ) -> Session {
        let mut s = Session::new(Role::Server, None, Some(id), limits, now);
        (s.first_held, s.next_send) = (sent, sent);
        (s.consumed, s.ack_sent) = (received, received);
        s
    }

    pub fn id(&self) -> Option<SessionId> {
        self.id
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Where this side's application stopped taking the peer's bytes.
    pub fn received(&self) -> u64 {
        self.consumed
    }

    /// Bytes that arrived after the application was gone ([`Event::Detached`]).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn is_linked(&self) -> bool {
        matches!(self.link, Link::Up { .. } | Link::Handshake { .. })
    }

    /// How many more local bytes [`Session::push`] takes now: zero when the window is
    /// full (stop reading A or C), after a local EOF, or once the session is over.
    pub fn room(&self) -> usize {
        if self.done || self.local_end.is_some() || self.answered {
            0
        } else {
            self.limits.max_buffer.saturating_sub(self.held.len())
        }
    }

    /// Bytes held for the peer (not yet acked).
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Takes bytes read from the local socket; the caller keeps to [`Session::room`].
    pub fn push(&mut self, now: Instant, data: &[u8]) {
        if data.is_empty() || self.done {
            return;
        }
        self.held.extend(data);
        self.pushed.push_back((self.send_end(), now));
    }

    /// The local socket reached EOF: the session closes once everything is delivered.
    pub fn close(&mut self) {
        if self.local_end.is_none() {
            self.local_end = Some(self.send_end());
        }
    }

    fn send_end(&self) -> u64 {
        self.first_held + self.held.len() as u64
    }

    fn recv_next(&self) -> u64 {
        self.consumed + self.inbound.len() as u64
    }

    /// The next bytes to write to the local socket (empty if none).
    pub fn deliverable(&self) -> &[u8] {
        let (a, b) = self.inbound.as_slices();
        if a.is_empty() { b } else { a }
    }

    /// The local socket took `n` bytes of [`Session::deliverable`].
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.inbound.len());
        self.inbound.drain(..n);
        self.consumed += n as u64;
        self.check_peer_end();
    }

    /// A connection for link B is up (client; the server's come through
    /// [`Session::resume`]).
    pub fn link_up(&mut self, now: Instant) {
        if !self.done && self.role == Role::Client {
            self.control.clear();
            let since = match self.link {
                Link::Down { since } | Link::Handshake { since, .. } => since,
                Link::Up { .. } => now,
            };
            self.link = Link::Handshake { at: now, since };
        }
    }

    /// Link B's connection is gone: keep everything and wait (the linger time) for the
    /// next.
    pub fn link_down(&mut self, now: Instant) {
        if !self.done && self.is_linked() {
            let since = match self.link {
                Link::Handshake { since, .. } => since,
                _ => now,
            };
            self.link = Link::Down { since };
            self.control.clear();
            self.close_sent = false;
        }
    }

    /// The server's side of a Resume that [`check_hello`] accepted, on a new link.
    /// A gap (the client needs bytes this side no longer holds, or holds more than it
    /// could have been sent) refuses the resume and ends the session.
    pub fn resume(&mut self, now: Instant, received: u64, first_held: u64) {
        self.control.clear();
        if self.done {
            let answer = if self.closed {
                Repr::Closed
            } else {
                Repr::Refused(Refusal::Denied)
            };
            answer.emit(&mut self.control);
            return;
        }
        if !self.can_resume(received, first_held) {
            Repr::Refused(Refusal::Gap).emit(&mut self.control);
            self.fail(Failure::Gap);
            return;
        }
        self.handle_ack(received);
        self.next_send = received;
        self.close_sent = false;
        Repr::Resumed {
            received: self.recv_next(),
            first_held: self.first_held,
        }
        .emit(&mut self.control);
        self.link = Link::Up {
            heard: now,
            sent: now,
        };
        self.events.push_back(Event::Resumed);
    }

    /// The peer's `received` must lie within what this side holds, and the peer must
    /// still hold what this side has not received yet.
    fn can_resume(&self, peer_received: u64, peer_first_held: u64) -> bool {
        (self.first_held..=self.send_end()).contains(&peer_received)
            && peer_first_held <= self.recv_next()
    }

    /// A frame from link B.
    pub fn handle_frame(&mut self, now: Instant, frame: &Repr<'_>) {
        if self.done {
            return;
        }
        match self.link {
            Link::Up { ref mut heard, .. } => *heard = now,
            Link::Handshake { .. } => return self.handshake(now, frame),
            // A frame after the link was given up belongs to the dead connection.
            Link::Down { .. } => return,
        }
        match *frame {
            Repr::Data { seq, ack, payload } => {
                self.handle_ack(ack);
                self.handle_data(seq, payload);
            }
            Repr::Keepalive { ack } => self.handle_ack(ack),
            Repr::Close { end, ack } => {
                self.handle_ack(ack);
                // The stream cannot end before bytes already received.
                if end < self.recv_next() {
                    return self.fail(Failure::Overrun);
                }
                // The server sends its Close again after a resume: answer again.
                if self.answered {
                    Repr::Closed.emit(&mut self.control);
                }
                self.peer_end = Some(end);
                self.check_peer_end();
            }
            Repr::Closed if self.answered => {
                self.done = true;
            }
            Repr::Closed if self.close_sent => {
                self.done = true;
                self.closed = true;
                // The server confirms the client's answer to its Close, see `answered`.
                if self.role == Role::Server {
                    Repr::Closed.emit(&mut self.control);
                }
                self.events.push_back(Event::Closed { discarded: 0 });
            }
            // Handshake frames of an older link, or stray ones: nothing to do.
            _ => {}
        }
    }

    fn handshake(&mut self, now: Instant, frame: &Repr<'_>) {
        let key = self.key.as_ref().expect("a client has its key");
        match *frame {
            Repr::Challenge { nonce } => match self.id {
                None => Repr::Open {
                    mac: key.open_mac(&nonce),
                }
                .emit(&mut self.control),
                Some(id) => {
                    let (received, first_held) = (self.recv_next(), self.first_held);
                    let sign = if self.detached {
                        Key::deliver_mac
                    } else {
                        Key::resume_mac
                    };
                    Repr::Resume {
                        id,
                        received,
                        first_held,
                        mac: sign(key, &id, &nonce, received, first_held),
                    }
                    .emit(&mut self.control)
                }
            },
            Repr::Accepted { id } if self.id.is_none() => {
                self.id = Some(id);
                self.up(now);
                self.events.push_back(Event::Established(id));
            }
            Repr::Resumed {
                received,
                first_held,
            } if self.id.is_some() => {
                if !self.can_resume(received, first_held) {
                    return self.fail(Failure::Gap);
                }
                self.handle_ack(received);
                self.next_send = received;
                self.up(now);
                self.events.push_back(Event::Resumed);
            }
            // The server had closed; its Closed was lost with the link.
            Repr::Closed if self.answered => self.done = true,
            Repr::Closed if self.local_end.is_some() => {
                self.done = true;
                self.events.push_back(Event::Closed { discarded: 0 });
            }
            Repr::Refused(why) => self.fail(Failure::Refused(why)),
            _ => {}
        }
    }

    fn up(&mut self, now: Instant) {
        self.link = Link::Up {
            heard: now,
            sent: now,
        };
    }

    /// Releases what the peer acked. An ack below what is released is stale; one past
    /// what was ever held is bogus: both are ignored.
    fn handle_ack(&mut self, ack: u64) {
        if ack <= self.first_held || ack > self.send_end() {
            return;
        }
        let n = (ack - self.first_held) as usize;
        self.held.drain(..n);
        self.first_held = ack;
        self.next_send = self.next_send.max(ack);
        while self.pushed.front().is_some_and(|&(end, _)| end <= ack) {
            self.pushed.pop_front();
        }
    }

    /// Keeps the part of a Data frame not received yet. A frame that starts past
    /// `recv_next` comes from a dead link (the live one is in order): dropped, the
    /// resumed stream brings its bytes again.
    fn handle_data(&mut self, seq: u64, payload: &[u8]) {
        let next = self.recv_next();
        let end = seq + payload.len() as u64;
        if seq > next || end <= next {
            return;
        }
        let fresh = &payload[(next - seq) as usize..];
        // The peer may hold at most its window unacked; more is a broken peer.
        if self.inbound.len() + fresh.len() > 4 * self.limits.max_buffer + MAX_PAYLOAD {
            return self.fail(Failure::Overrun);
        }
        self.inbound.extend(fresh);
        if self.detached {
            let n = self.inbound.len();
            self.inbound.clear();
            self.consumed += n as u64;
            self.dropped += n as u64;
        }
    }

    /// Once everything up to the peer's Close is delivered: answer Closed. The server
    /// then forgets the session; the client waits for the server's Closed in return,
    /// see `answered`.
    fn check_peer_end(&mut self) {
        if self.done || self.peer_end != Some(self.consumed) {
            return;
        }
        if self.answered {
            return;
        }
        Repr::Closed.emit(&mut self.control);
        match self.role {
            Role::Server => {
                self.done = true;
                self.closed = true;
            }
            Role::Client => self.answered = true,
        }
        self.events.push_back(Event::Closed {
            discarded: self.held.len() as u64,
        });
    }

    /// The linger time passed: a client with bytes for the server detaches from its
    /// application and delivers them later; otherwise the session fails.
    fn linger_out(&mut self) {
        if self.role == Role::Server || self.held.is_empty() || self.answered || self.detached {
            return self.fail(Failure::Linger);
        }
        self.detached = true;
        self.close();
        self.events.push_back(Event::Detached {
            pending: self.held.len() as u64,
        });
    }

    fn fail(&mut self, reason: Failure) {
        if self.done {
            return;
        }
        self.done = true;
        self.events.push_back(Event::Failed {
            reason,
            undeliverable: self.held.len() as u64,
        });
    }

    /// Appends the frames to send on link B to `out`, until about `max` octets.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>, max: usize) {
        let start = out.len();
        out.append(&mut self.control);
        let Link::Up { sent, .. } = self.link else {
            return;
        };
        if self.done {
            return;
        }
        while self.next_send < self.send_end() && out.len() - start < max {
            let offset = (self.next_send - self.first_held) as usize;
            let (a, b) = self.held.as_slices();
            let run = if offset < a.len() {
                &a[offset..]
            } else {
                &b[offset - a.len()..]
            };
            let payload = &run[..run.len().min(MAX_PAYLOAD)];
            Repr::Data {
                seq: self.next_send,
                ack: self.consumed,
                payload,
            }
            .emit(out);
            self.next_send += payload.len() as u64;
            self.ack_sent = self.consumed;
        }
        if let Some(end) = self.local_end
            && self.next_send == end
            && !self.close_sent
        {
            Repr::Close {
                end,
                ack: self.consumed,
            }
            .emit(out);
            self.close_sent = true;
            self.ack_sent = self.consumed;
        }
        // An ack once a quarter window was consumed keeps the peer sending; when nothing
        // else goes out, an ack at once (the peer's buffer frees and, should the link
        // fail, what was delivered is not counted as lost); a keepalive when idle.
        let unacked = self.consumed - self.ack_sent;
        let ack_due =
            unacked >= (self.limits.max_buffer / 4) as u64 || (unacked > 0 && out.len() == start);
        if ack_due || (out.len() == start && now >= sent + self.limits.keepalive) {
            Repr::Keepalive { ack: self.consumed }.emit(out);
            self.ack_sent = self.consumed;
        }
        if out.len() > start {
            self.link = Link::Up {
                heard: match self.link {
                    Link::Up { heard, .. } => heard,
                    _ => now,
                },
                sent: now,
            };
        }
    }

    /// When [`Session::handle_timeout`] should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        let link = match self.link {
            // Detached: no linger any more, only the age of what it holds.
            Link::Down { .. } if self.detached => None,
            Link::Down { since } => Some(since + self.limits.linger),
            Link::Handshake { at, .. } if self.detached => Some(at + self.limits.link_timeout),
            Link::Handshake { at, since } => {
                Some((at + self.limits.link_timeout).min(since + self.limits.linger))
            }
            Link::Up { heard, sent } => {
                Some((heard + self.limits.link_timeout).min(sent + self.limits.keepalive))
            }
        };
        let age = self.pushed.front().map(|&(_, at)| at + self.limits.max_age);
        match (link, age) {
            (Some(l), Some(a)) => Some(l.min(a)),
            (l, a) => l.or(a),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.done {
            return;
        }
        if self
            .pushed
            .front()
            .is_some_and(|&(_, at)| now >= at + self.limits.max_age)
        {
            return self.fail(Failure::Stale);
        }
        match self.link {
            Link::Down { since } | Link::Handshake { since, .. }
                if !self.detached && now >= since + self.limits.linger =>
            {
                self.linger_out()
            }
            Link::Handshake { at, .. } if now >= at + self.limits.link_timeout => {
                self.link_down(now);
                self.events.push_back(Event::LinkLost);
            }
            Link::Up { heard, .. } if now >= heard + self.limits.link_timeout => {
                self.link_down(now);
                self.events.push_back(Event::LinkLost);
            }
            _ => {}
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}
