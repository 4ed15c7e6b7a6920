//! Two sessions against each other over a simulated link B with time driven by hand:
//! links cut at random (the frames in flight lost), stale frames of dead links arriving
//! late (duplicates, out of order), reconnects; both byte streams must arrive exactly
//! once and in order.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

use super::proto::{Frame, Refusal, Repr, next_frame};
use super::session::{Event, Failure, Hello, Key, Limits, Session, check_hello};

const TICK: Duration = Duration::from_millis(5);

fn limits() -> Limits {
    Limits {
        linger: Duration::from_secs(60),
        keepalive: Duration::from_millis(200),
        link_timeout: Duration::from_millis(600),
        max_buffer: 64 * 1024,
        max_age: Duration::from_secs(120),
    }
}

fn split_frames(mut bytes: &[u8], into: &mut VecDeque<Vec<u8>>) {
    while let Some(len) = next_frame(bytes).unwrap() {
        into.push_back(bytes[..len].to_vec());
        bytes = &bytes[len..];
    }
    assert!(bytes.is_empty(), "sessions emit whole frames");
}

struct Sim {
    rng: StdRng,
    now: Instant,
    key: Key,
    client: Session,
    server: Option<Session>,
    linked: bool,
    /// The nonce of the server's Challenge while it waits for the client's hello.
    awaiting_hello: Option<[u8; 16]>,
    to_server: VecDeque<Vec<u8>>,
    to_client: VecDeque<Vec<u8>>,
    /// Frames of dead links and copies of delivered ones, to be replayed: (to server?, frame).
    stale: Vec<(bool, Vec<u8>)>,
    reconnect_at: Instant,
    cut_per_mille: u32,
    cuts: u32,
    /// The server application closes C once it has written everything.
    server_closes: bool,
    a_out: Vec<u8>,
    a_sent: usize,
    a_in: Vec<u8>,
    c_out: Vec<u8>,
    c_sent: usize,
    c_in: Vec<u8>,
    events: Vec<(bool, Event)>,
}

impl Sim {
    fn new(seed: u64, a_len: usize, c_len: usize, cut_per_mille: u32) -> Sim {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut a_out = vec![0; a_len];
        rng.fill_bytes(&mut a_out);
        let mut c_out = vec![0; c_len];
        rng.fill_bytes(&mut c_out);
        let now = Instant::now();
        let key = Key::new(b"shared relay key");
        Sim {
            rng,
            now,
            client: Session::client(key.clone(), limits(), now),
            key,
            server: None,
            linked: false,
            awaiting_hello: None,
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            stale: Vec::new(),
            reconnect_at: now,
            cut_per_mille,
            cuts: 0,
            server_closes: false,
            a_out,
            a_sent: 0,
            a_in: Vec::new(),
            c_out,
            c_sent: 0,
            c_in: Vec::new(),
            events: Vec::new(),
        }
    }

    fn cut(&mut self) {
        self.cuts += 1;
        self.linked = false;
        self.awaiting_hello = None;
        for (to_server, q) in [(true, &mut self.to_server), (false, &mut self.to_client)] {
            for f in q.drain(..) {
                if self.rng.random_bool(0.5) {
                    self.stale.push((to_server, f));
                }
            }
        }
        // One side may learn of the cut only by its link timeout.
        if self.rng.random_bool(0.7) {
            self.client.link_down(self.now);
        }
        if let Some(s) = &mut self.server
            && self.rng.random_bool(0.7)
        {
            s.link_down(self.now);
        }
        self.reconnect_at = self.now + Duration::from_millis(self.rng.random_range(0..3000));
    }

    fn connect(&mut self) {
        self.linked = true;
        self.client.link_up(self.now);
        let mut nonce = [0; 16];
        self.rng.fill_bytes(&mut nonce);
        self.awaiting_hello = Some(nonce);
        let mut out = Vec::new();
        Repr::Challenge { nonce }.emit(&mut out);
        self.to_client.push_back(out);
    }

    fn server_receives(&mut self, bytes: &[u8]) {
        let frame = Repr::parse(&Frame::new_checked(bytes).unwrap()).unwrap();
        if let Some(nonce) = self.awaiting_hello.take() {
            let mut out = Vec::new();
            match check_hello(&self.key, &nonce, &frame) {
                Hello::Open => {
                    let mut id = [0; 16];
                    self.rng.fill_bytes(&mut id);
                    self.server = Some(Session::server(id, limits(), self.now));
                    // An Open whose Accepted was lost leaves its session to linger
                    // out; the new one is a new connection to C.
                    self.c_sent = 0;
                    self.c_in.clear();
                }
                Hello::Resume {
                    id,
                    received,
                    first_held,
                } => match &mut self.server {
                    Some(s) if s.id() == Some(id) => s.resume(self.now, received, first_held),
                    _ => Repr::Refused(Refusal::Denied).emit(&mut out),
                },
                Hello::Deliver {
                    id,
                    received,
                    first_held,
                } => match &mut self.server {
                    Some(s) if s.id() == Some(id) && !s.is_done() => {
                        s.resume(self.now, received, first_held)
                    }
                    // Lingered out: a new connection to C takes the rest.
                    Some(s) if s.id() == Some(id) => {
                        let mut new =
                            Session::continued(id, limits(), self.now, received, s.received());
                        new.resume(self.now, received, first_held);
                        *s = new;
                    }
                    _ => Repr::Refused(Refusal::Denied).emit(&mut out),
                },
                Hello::Denied => Repr::Refused(Refusal::Denied).emit(&mut out),
            }
            split_frames(&out, &mut self.to_client);
            return;
        }
        if let Some(s) = &mut self.server {
            s.handle_frame(self.now, &frame);
        }
    }

    fn step(&mut self) {
        let now = self.now;
        // The applications write what the windows take.
        let n = self
            .client
            .room()
            .min(self.a_out.len() - self.a_sent)
            .min(self.rng.random_range(0..20_000));
        self.client
            .push(now, &self.a_out[self.a_sent..self.a_sent + n]);
        self.a_sent += n;
        if let Some(s) = &mut self.server {
            let n = s
                .room()
                .min(self.c_out.len() - self.c_sent)
                .min(self.rng.random_range(0..20_000));
            s.push(now, &self.c_out[self.c_sent..self.c_sent + n]);
            self.c_sent += n;
        }
        if self.server_closes
            && self.c_sent == self.c_out.len()
            && let Some(s) = &mut self.server
        {
            s.close();
        }
        // The client application closes once it sent and received everything.
        if self.a_sent == self.a_out.len() && self.a_in.len() == self.c_out.len() {
            self.client.close();
        }

        if self.linked {
            let mut out = Vec::new();
            self.client.poll_transmit(now, &mut out, 32 * 1024);
            split_frames(&out, &mut self.to_server);
            if let Some(s) = &mut self.server {
                out.clear();
                s.poll_transmit(now, &mut out, 32 * 1024);
                split_frames(&out, &mut self.to_client);
            }
            if self.rng.random_range(0..1000) < self.cut_per_mille {
                self.cut();
            }
        }

        // The link carries a few frames each way per tick.
        for _ in 0..self.rng.random_range(0..8) {
            if let Some(f) = self.to_server.pop_front() {
                self.server_receives(&f);
                self.remember(true, f);
            }
            if let Some(f) = self.to_client.pop_front() {
                let frame = Repr::parse(&Frame::new_checked(&f[..]).unwrap()).unwrap();
                self.client.handle_frame(now, &frame);
                self.remember(false, f);
            }
        }
        // Late frames of dead links, only between handshakes: a new TCP connection
        // never carries an old one's frames before its own handshake.
        if self.awaiting_hello.is_none() && !self.stale.is_empty() && self.rng.random_bool(0.05) {
            let i = self.rng.random_range(0..self.stale.len());
            let (to_server, f) = self.stale.swap_remove(i);
            let frame = Repr::parse(&Frame::new_checked(&f[..]).unwrap()).unwrap();
            if matches!(frame, Repr::Data { .. } | Repr::Keepalive { .. }) {
                if to_server {
                    if let Some(s) = &mut self.server {
                        s.handle_frame(now, &frame);
                    }
                } else {
                    self.client.handle_frame(now, &frame);
                }
            }
        }

        // The applications read at their own pace.
        let take = self.rng.random_range(0..30_000);
        let d = self.client.deliverable();
        let n = d.len().min(take);
        self.a_in.extend_from_slice(&d[..n]);
        self.client.consume(n);
        if let Some(s) = &mut self.server {
            let d = s.deliverable();
            let n = d.len().min(take);
            self.c_in.extend_from_slice(&d[..n]);
            s.consume(n);
        }

        if !self.linked && !self.client.is_done() && now >= self.reconnect_at {
            if self.client.is_linked() {
                self.client.link_down(now);
            }
            self.connect();
        }
        self.timers();
        self.now += TICK;
    }

    fn remember(&mut self, to_server: bool, f: Vec<u8>) {
        if self.stale.len() < 64 && self.rng.random_bool(0.1) {
            self.stale.push((to_server, f));
        }
    }

    fn timers(&mut self) {
        let now = self.now;
        if self.client.poll_timeout().is_some_and(|t| now >= t) {
            self.client.handle_timeout(now);
        }
        if let Some(s) = &mut self.server
            && s.poll_timeout().is_some_and(|t| now >= t)
        {
            s.handle_timeout(now);
        }
        let mut lost = false;
        while let Some(e) = self.client.poll_event() {
            lost |= e == Event::LinkLost;
            self.events.push((false, e));
        }
        if let Some(s) = &mut self.server {
            while let Some(e) = s.poll_event() {
                lost |= e == Event::LinkLost;
                self.events.push((true, e));
            }
        }
        // A side that gives up the link closes the TCP connection: both sides see it.
        if lost && self.linked {
            self.cut();
            self.client.link_down(now);
            if let Some(s) = &mut self.server {
                s.link_down(now);
            }
        }
    }

    fn run(&mut self, max_ticks: u32) {
        for _ in 0..max_ticks {
            if self.client.is_done() && self.server.as_ref().is_some_and(Session::is_done) {
                return;
            }
            self.step();
        }
        panic!(
            "not finished: to server {}/{}, to client {}/{}, {} cuts",
            self.c_in.len(),
            self.a_out.len(),
            self.a_in.len(),
            self.c_out.len(),
            self.cuts
        );
    }

    fn assert_exactly_once(&self) {
        assert!(self.c_in == self.a_out, "client to server stream differs");
        assert!(self.a_in == self.c_out, "server to client stream differs");
        for (server, e) in &self.events {
            assert!(!matches!(e, Event::Failed { .. }), "server {server}: {e:?}");
        }
        let closed = |server: bool| {
            self.events
                .iter()
                .any(|&(s, e)| s == server && matches!(e, Event::Closed { .. }))
        };
        assert!(closed(true) && closed(false), "no Close on both sides");
    }
}

#[test]
fn both_streams_arrive_exactly_once_through_many_cuts() {
    let mut sim = Sim::new(7, 2_000_000, 1_500_000, 100);
    sim.run(200_000);
    sim.assert_exactly_once();
    assert!(sim.cuts >= 20, "only {} cuts", sim.cuts);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_schedules_deliver_exactly_once(
        seed in any::<u64>(),
        a_len in 0usize..300_000,
        c_len in 0usize..300_000,
        cut_per_mille in 0u32..60,
    ) {
        let mut sim = Sim::new(seed, a_len, c_len, cut_per_mille);
        sim.run(400_000);
        sim.assert_exactly_once();
    }
}

fn established() -> Sim {
    let mut sim = Sim::new(1, 3_000_000, 3_000_000, 0);
    sim.connect();
    while sim.server.is_none() || sim.client.id().is_none() {
        sim.step();
    }
    sim
}

#[test]
fn a_client_close_ends_both_sides_at_once() {
    let mut sim = established();
    sim.run(100_000);
    sim.assert_exactly_once();
}

#[test]
fn a_server_close_delivers_everything_then_ends_both_sides() {
    for seed in 0..20 {
        let mut sim = Sim::new(seed, 0, 500_000, 30);
        sim.server_closes = true;
        sim.run(200_000);
        sim.assert_exactly_once();
    }
}

/// Both ends lose the link and linger out at the same time.
fn lingered_out() -> (Sim, u64, u64) {
    let mut sim = established();
    for _ in 0..5 {
        sim.step();
    }
    sim.cut();
    sim.client.link_down(sim.now);
    let server = sim.server.as_mut().unwrap();
    server.link_down(sim.now);
    let held = server.held() as u64;
    let client_held = sim.client.held() as u64;
    assert!(held > 0 && client_held > 0);
    let at = sim.now + limits().linger;
    assert!(server.poll_timeout().unwrap() <= at);
    server.handle_timeout(at);
    sim.client.handle_timeout(at);
    sim.now = at;
    (sim, held, client_held)
}

#[test]
fn a_link_down_past_the_linger_time_fails_the_server_and_detaches_the_client() {
    let (mut sim, held, client_held) = lingered_out();
    let server = sim.server.as_mut().unwrap();
    assert_eq!(
        server.poll_event(),
        Some(Event::Failed {
            reason: Failure::Linger,
            undeliverable: held
        })
    );
    assert_eq!(
        sim.client.poll_event(),
        Some(Event::Detached {
            pending: client_held
        })
    );
    assert_eq!(sim.client.room(), 0, "A is closed: nothing more is read");
    assert!(!sim.client.is_done());
    // No linger any more; only the age of what it holds ends it.
    let t = sim.client.poll_timeout().unwrap();
    assert!(t > sim.now && t <= sim.now - limits().linger + limits().max_age);
}

#[test]
fn bytes_held_past_the_linger_time_reach_c_over_a_new_connection() {
    let (mut sim, _, client_held) = lingered_out();
    let sent = sim.a_sent;
    let reached_c = sim.c_in.len();
    // C may have taken bytes whose ack the cut lost: the client holds them too.
    assert!(reached_c + client_held as usize >= sent && reached_c < sent);
    sim.run(100_000);
    // The old connection to C took the first part, the new one the rest, each byte once.
    assert!(sim.c_in == sim.a_out[..sent], "the client's stream differs");
    let server_events: Vec<_> = sim.events.iter().filter(|e| e.0).collect();
    assert!(
        server_events
            .iter()
            .any(|e| matches!(e.1, Event::Closed { .. })),
        "{server_events:?}"
    );
    let client_events: Vec<_> = sim.events.iter().filter(|e| !e.0).map(|e| e.1).collect();
    assert!(
        client_events.contains(&Event::Closed { discarded: 0 }),
        "{client_events:?}"
    );
    assert!(
        !client_events
            .iter()
            .any(|e| matches!(e, Event::Failed { .. })),
        "{client_events:?}"
    );
}

#[test]
fn a_detached_client_whose_target_refuses_reports_its_bytes_undeliverable() {
    let (mut sim, _, client_held) = lingered_out();
    while sim.client.poll_event().is_some() {}
    sim.client.link_up(sim.now);
    let challenge = Repr::Challenge { nonce: [3; 16] };
    sim.client.handle_frame(sim.now, &challenge);
    let mut out = Vec::new();
    sim.client.poll_transmit(sim.now, &mut out, 1024);
    let hello = Repr::parse(&Frame::new_checked(&out[..]).unwrap()).unwrap();
    assert!(matches!(
        check_hello(&sim.key, &[3; 16], &hello),
        Hello::Deliver { .. }
    ));
    sim.client
        .handle_frame(sim.now, &Repr::Refused(Refusal::Unavailable));
    assert_eq!(
        sim.client.poll_event(),
        Some(Event::Failed {
            reason: Failure::Refused(Refusal::Unavailable),
            undeliverable: client_held
        })
    );
}

/// The Resume a client sent on an earlier connection.
fn recorded_resume(sim: &mut Sim) -> Vec<u8> {
    sim.cut();
    sim.client.link_down(sim.now);
    sim.connect();
    let challenge = sim.to_client.pop_front().unwrap();
    let frame = Repr::parse(&Frame::new_checked(&challenge[..]).unwrap()).unwrap();
    sim.client.handle_frame(sim.now, &frame);
    let mut out = Vec::new();
    sim.client.poll_transmit(sim.now, &mut out, 1024);
    out
}

#[test]
fn a_replayed_or_guessed_session_id_gets_nothing() {
    let mut sim = established();
    let resume = recorded_resume(&mut sim);
    let frame = Repr::parse(&Frame::new_checked(&resume[..]).unwrap()).unwrap();
    let Repr::Resume { id, .. } = frame else {
        panic!("{frame:?}")
    };
    // Replayed on a new connection: the nonce differs, the MAC no longer matches.
    assert_eq!(check_hello(&sim.key, &[9; 16], &frame), Hello::Denied);
    // A valid id without the key, whatever MAC is guessed.
    let guess = Repr::Resume {
        id,
        received: 0,
        first_held: 0,
        mac: [0; 32],
    };
    assert_eq!(check_hello(&sim.key, &[9; 16], &guess), Hello::Denied);
    // Signed with another key.
    let other = Key::new(b"not the key");
    let forged = Repr::Resume {
        id,
        received: 0,
        first_held: 0,
        mac: other.resume_mac(&id, &[9; 16], 0, 0),
    };
    assert_eq!(check_hello(&sim.key, &[9; 16], &forged), Hello::Denied);
    let open = Repr::Open {
        mac: other.open_mac(&[9; 16]),
    };
    assert_eq!(check_hello(&sim.key, &[9; 16], &open), Hello::Denied);
}

#[test]
fn a_gap_that_cannot_be_filled_is_refused() {
    let mut sim = established();
    for _ in 0..5 {
        sim.step();
    }
    let server = sim.server.as_mut().unwrap();
    // A client that claims bytes the server never sent.
    server.resume(sim.now, u64::MAX / 2, 0);
    let mut out = Vec::new();
    server.poll_transmit(sim.now, &mut out, 1024);
    let frame = Repr::parse(&Frame::new_checked(&out[..]).unwrap()).unwrap();
    assert_eq!(frame, Repr::Refused(Refusal::Gap));
    assert!(matches!(
        server.poll_event(),
        Some(Event::Failed {
            reason: Failure::Gap,
            ..
        })
    ));
}

#[test]
fn a_full_window_pushes_the_producer_back() {
    let now = Instant::now();
    let mut s = Session::client(Key::new(b"k"), limits(), now);
    assert_eq!(s.room(), limits().max_buffer);
    s.push(now, &vec![1; limits().max_buffer]);
    assert_eq!(s.room(), 0);
}
