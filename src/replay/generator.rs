//! The load loop: one thread, non-blocking sockets connected to the server, requests
//! sent and replies read in batches, in a fixed window (closed loop) or at a fixed rate
//! (open loop), bounded by a count and a duration.
//!
//! Requests in flight live in a slot table indexed by (socket, identifier); a reply is
//! matched by the socket it came in on and its identifier, and accepted only when its
//! Response Authenticator (and Message-Authenticator, if any) verify against that
//! request. Identifiers are reused first-in first-out, so a late reply rarely meets a
//! new request under its old identifier; when it does (or a reply comes twice), it is
//! recognised by the previous request's authenticator and counted as late, not
//! invalid. Timeouts are a
//! queue in send order: the timeout is the same for every request, so the oldest
//! deadline is always at the front.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use rand::rngs::StdRng;

use super::histogram::Histogram;
use super::template::{Invalid, Keys, Outcome, Template, verify_reply};
use crate::io::batch::{self, Batch, Poller};
use crate::wire::HEADER_LEN;

/// Closed or open loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Keep this many requests in flight.
    Window(usize),
    /// Send this many requests per second, whatever the replies do.
    Rate(f64),
}

/// What to send, where, and for how long.
#[derive(Clone)]
pub struct Options {
    pub server: SocketAddr,
    /// Local address to send from; the unspecified address of the server's family when
    /// `None`.
    pub bind: Option<IpAddr>,
    pub keys: Keys,
    /// Sent in order, cyclically. Never empty.
    pub templates: Vec<Template>,
    pub mode: Mode,
    /// Stop sending after this many requests.
    pub count: Option<u64>,
    /// Stop sending after this long; replies are then awaited up to the timeout.
    pub duration: Duration,
    pub timeout: Duration,
    /// Retransmissions of an unanswered request (same identifier and authenticator).
    pub retries: u32,
    /// Sockets to spread identifiers over; chosen from the mode when `None`.
    pub sockets: Option<usize>,
}

impl Options {
    /// The socket count: enough identifiers for the window with room to spare (half of
    /// each socket's 256), or for a rate's worth of requests over the timeout.
    pub fn socket_count(&self) -> usize {
        if let Some(n) = self.sockets {
            return n.clamp(1, 1024);
        }
        match self.mode {
            Mode::Window(w) => w.div_ceil(128).clamp(1, 1024),
            Mode::Rate(r) => {
                let in_flight = r * self.timeout.as_secs_f64() * f64::from(self.retries + 1);
                ((in_flight / 128.0).ceil() as usize).clamp(1, 64)
            }
        }
    }
}

/// What happened, for the report.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub sent: u64,
    pub received: u64,
    pub accepts: u64,
    /// Accepts that carry radcare's walled-garden Class (also counted in `accepts`).
    pub rewrites: u64,
    pub rejects: u64,
    pub challenges: u64,
    pub acct_responses: u64,
    pub timeouts: u64,
    /// Replies that did not verify, had the wrong code, or answered nothing we sent.
    pub invalid: u64,
    /// Valid replies to requests already answered or timed out (duplicates, or later
    /// than the timeout).
    pub late: u64,
    pub retransmits: u64,
    /// Open loop: requests due when every identifier was in flight, not sent.
    pub skipped: u64,
    /// Requests the kernel refused to take (socket buffer full), sent again later.
    pub send_stalls: u64,
    /// Requests still unanswered when the run was interrupted.
    pub outstanding: u64,
    /// From the first send to the last reply or timeout.
    pub elapsed: Duration,
    /// Time from (first) send to reply, in nanoseconds.
    pub latency: Histogram,
    /// CPU time the generator itself used (user + system), for its own ceiling.
    pub cpu: Duration,
}

impl Stats {
    pub fn req_per_s(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.received as f64 / s
        } else {
            0.0
        }
    }

    /// The generator's own CPU time per answered request, in microseconds.
    pub fn cpu_us_per_req(&self) -> f64 {
        if self.received == 0 {
            return 0.0;
        }
        self.cpu.as_secs_f64() * 1e6 / self.received as f64
    }

    /// Requests per second the generator could drive on one core at that CPU cost: its
    /// own ceiling, whatever the server.
    pub fn ceiling_req_per_s(&self) -> f64 {
        let c = self.cpu_us_per_req();
        if c > 0.0 { 1e6 / c } else { 0.0 }
    }
}

/// CPU time (user + system) of the calling thread so far.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; the clock id is a constant.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

const BATCH: usize = 64;
const IDS: usize = 256;

#[derive(Clone, Copy, Default)]
struct Slot {
    /// 0 when free; otherwise the sequence number of the request in it.
    seq: u32,
    template: u32,
    tries: u32,
    first_ns: u64,
    auth: [u8; 16],
    /// The authenticator of the previous request in this slot (answered or timed out):
    /// a reply that verifies against it is late or a duplicate, not invalid.
    stale: Option<[u8; 16]>,
}

struct Deadline {
    slot: u32,
    seq: u32,
    at_ns: u64,
}

struct Flight {
    slots: Vec<Slot>,
    free: Vec<VecDeque<u8>>,
    deadlines: VecDeque<Deadline>,
    in_flight: usize,
    next_seq: u32,
    /// The socket new requests go to while it has free identifiers.
    current: usize,
}

impl Flight {
    fn new(sockets: usize) -> Flight {
        Flight {
            slots: vec![Slot::default(); sockets * IDS],
            free: (0..sockets)
                .map(|_| (0..=255u8).collect::<VecDeque<u8>>())
                .collect(),
            deadlines: VecDeque::with_capacity(1 << 16),
            in_flight: 0,
            next_seq: 1,
            current: 0,
        }
    }

    /// A free (socket, id), preferring the current socket so that batches stay long.
    fn take(&mut self) -> Option<(usize, u8)> {
        let n = self.free.len();
        for k in 0..n {
            let s = (self.current + k) % n;
            if let Some(id) = self.free[s].pop_front() {
                self.current = s;
                return Some((s, id));
            }
        }
        None
    }

    fn release(&mut self, slot: usize) {
        self.slots[slot].seq = 0;
        self.free[slot / IDS].push_back((slot % IDS) as u8);
        self.in_flight -= 1;
    }

    fn seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        s
    }
}

/// The running generator: sockets, buffers and counters, allocated once.
struct Generator<'a> {
    opts: &'a Options,
    progress: Option<&'a Progress>,
    sockets: Vec<std::net::UdpSocket>,
    poller: Poller,
    flight: Flight,
    out: Batch,
    inb: Batch,
    rng: StdRng,
    clock: Instant,
    stats: Stats,
    next_template: usize,
    /// Requests sent or skipped so far (the count bound and the open-loop schedule).
    issued: u64,
    last_event_ns: u64,
}

/// Counts a running load publishes for another thread to show (a progress bar).
#[derive(Debug, Default)]
pub struct Progress {
    pub sent: AtomicU64,
    pub received: AtomicU64,
}

/// Runs the load until the count or the duration is reached (or `stop` is set), waits
/// for the replies still due, and returns the counts.
pub fn run(opts: &Options, stop: &AtomicBool) -> io::Result<Stats> {
    run_with_progress(opts, stop, None)
}

/// As [`run`], publishing the counts to `progress` as it goes.
pub fn run_with_progress(
    opts: &Options,
    stop: &AtomicBool,
    progress: Option<&Progress>,
) -> io::Result<Stats> {
    assert!(!opts.templates.is_empty(), "replay needs a request");
    let n = opts.socket_count();
    let bind = opts.bind.unwrap_or(match opts.server {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    let mut sockets = Vec::with_capacity(n);
    let mut poller = Poller::new()?;
    for i in 0..n {
        let s = batch::udp_socket(SocketAddr::new(bind, 0), Some(opts.server))?;
        poller.add(&s, i as u64)?;
        sockets.push(s);
    }
    batch::tighten_timer_slack();
    let mut g = Generator {
        opts,
        progress,
        sockets,
        poller,
        flight: Flight::new(n),
        out: Batch::new(BATCH),
        inb: Batch::new(BATCH),
        rng: rand::make_rng(),
        clock: Instant::now(),
        stats: Stats::default(),
        next_template: 0,
        issued: 0,
        last_event_ns: 0,
    };
    let cpu0 = thread_cpu();
    g.run(stop)?;
    g.stats.cpu = thread_cpu().saturating_sub(cpu0);
    Ok(g.stats)
}

impl Generator<'_> {
    fn now_ns(&self) -> u64 {
        self.clock.elapsed().as_nanos() as u64
    }

    fn run(&mut self, stop: &AtomicBool) -> io::Result<()> {
        let duration_ns = self.opts.duration.as_nanos() as u64;
        let count = self.opts.count.unwrap_or(u64::MAX);
        self.clock = Instant::now();
        loop {
            if stop.load(Ordering::Relaxed) {
                self.stats.outstanding = self.flight.in_flight as u64;
                break;
            }
            let now = self.now_ns();
            let sending = self.issued < count && now < duration_ns;
            if !sending && self.flight.in_flight == 0 {
                break;
            }
            if sending {
                self.send_due(now, count);
            }
            let now = self.now_ns();
            self.expire(now);
            if let Some(p) = self.progress {
                p.sent.store(self.stats.sent, Ordering::Relaxed);
                p.received.store(self.stats.received, Ordering::Relaxed);
            }
            // Wait for replies, or until the next thing to do.
            let wake = self.next_wake(now, duration_ns, count);
            let ready = self.poller.wait(wake)?;
            for i in 0..ready {
                let s = self.poller.token(i) as usize;
                self.receive(s)?;
            }
        }
        self.stats.elapsed = Duration::from_nanos(self.last_event_ns);
        Ok(())
    }

    /// How long the next wait may last: zero when there is room to send now.
    fn next_wake(&self, now: u64, duration_ns: u64, count: u64) -> Option<Duration> {
        let sending = self.issued < count && now < duration_ns;
        let mut until = now + 200_000_000;
        if let Some(d) = self.flight.deadlines.front() {
            until = until.min(d.at_ns);
        }
        if sending {
            until = until.min(duration_ns);
            match self.opts.mode {
                Mode::Window(w) => {
                    if self.flight.in_flight < w {
                        until = now;
                    }
                }
                Mode::Rate(r) => {
                    let next = (self.issued as f64 * 1e9 / r) as u64;
                    until = until.min(next);
                }
            }
        }
        Some(Duration::from_nanos(until.saturating_sub(now)))
    }

    /// Sends what the mode allows now, in batches per socket.
    fn send_due(&mut self, now: u64, count: u64) {
        let mut want = match self.opts.mode {
            Mode::Window(w) => w.saturating_sub(self.flight.in_flight) as u64,
            Mode::Rate(r) => {
                let due = (now as f64 * r / 1e9) as u64 + 1;
                due.saturating_sub(self.issued)
            }
        };
        want = want.min(count - self.issued).min(4 * BATCH as u64);
        let mut batch_socket = usize::MAX;
        // Slots of the requests in the pending batch, to undo the ones not sent.
        let mut pending = [0u32; BATCH];
        while want > 0 {
            let Some((s, id)) = self.flight.take() else {
                if matches!(self.opts.mode, Mode::Rate(_)) {
                    // Open loop: the schedule does not wait for identifiers.
                    self.stats.skipped += want;
                    self.issued += want;
                }
                break;
            };
            if s != batch_socket || self.out.is_full() {
                self.flush(batch_socket, &pending, now);
                batch_socket = s;
            }
            let t = self.next_template;
            self.next_template = (t + 1) % self.opts.templates.len();
            let template = &self.opts.templates[t];
            let mut nonce = [0u8; 16];
            if template.random_authenticator() {
                self.rng.fill_bytes(&mut nonce);
            }
            let (len, auth) = template.write(self.out.spare(), id, &nonce, &self.opts.keys);
            pending[self.out.len()] = (s * IDS + id as usize) as u32;
            self.out.commit(len, None);
            let seq = self.flight.seq();
            let slot = &mut self.flight.slots[s * IDS + id as usize];
            slot.seq = seq;
            slot.template = t as u32;
            slot.tries = 1;
            slot.first_ns = now;
            slot.auth = auth;
            self.flight.in_flight += 1;
            self.issued += 1;
            want -= 1;
        }
        self.flush(batch_socket, &pending, now);
    }

    /// Sends the pending batch on socket `s`; requests the kernel did not take are
    /// taken back (their identifiers freed, the template order rewound).
    fn flush(&mut self, s: usize, pending: &[u32; BATCH], now: u64) {
        let n = self.out.len();
        if n == 0 {
            return;
        }
        let sent = self.out.send(self.sockets[s].as_raw_fd());
        for &slot in &pending[..sent] {
            let slot = slot as usize;
            let seq = self.flight.slots[slot].seq;
            self.flight.deadlines.push_back(Deadline {
                slot: slot as u32,
                seq,
                at_ns: now + self.opts.timeout.as_nanos() as u64,
            });
        }
        self.stats.sent += sent as u64;
        let unsent = n - sent;
        if unsent > 0 {
            for &slot in pending[sent..n].iter().rev() {
                self.flight.release(slot as usize);
            }
            self.stats.send_stalls += unsent as u64;
            self.issued -= unsent as u64;
            let k = self.opts.templates.len();
            self.next_template = (self.next_template + k - unsent % k) % k;
        }
    }

    fn receive(&mut self, s: usize) -> io::Result<()> {
        loop {
            let n = self.inb.recv(self.sockets[s].as_raw_fd())?;
            if n == 0 {
                return Ok(());
            }
            let now = self.now_ns();
            for i in 0..n {
                self.on_reply(s, i, now);
            }
            if n < self.inb.capacity() {
                return Ok(());
            }
        }
    }

    fn on_reply(&mut self, s: usize, i: usize, now: u64) {
        let (data, _) = self.inb.get(i);
        if data.len() < HEADER_LEN {
            self.stats.invalid += 1;
            return;
        }
        let idx = s * IDS + data[1] as usize;
        let slot = self.flight.slots[idx];
        let code = self.opts.templates[slot.template as usize].code();
        let keys = &self.opts.keys;
        let verdict = if slot.seq != 0 {
            verify_reply(data, code, &slot.auth, keys)
        } else {
            Err(Invalid::BadAuthenticator)
        };
        let outcome = match verdict {
            Ok(o) => o,
            Err(_) => {
                let late = slot
                    .stale
                    .is_some_and(|a| verify_reply(data, code, &a, keys).is_ok());
                if late {
                    self.stats.late += 1;
                } else {
                    self.stats.invalid += 1;
                }
                return;
            }
        };
        self.stats.received += 1;
        match outcome {
            Outcome::Accept => self.stats.accepts += 1,
            Outcome::Rewrite => {
                self.stats.accepts += 1;
                self.stats.rewrites += 1;
            }
            Outcome::Reject => self.stats.rejects += 1,
            Outcome::Challenge => self.stats.challenges += 1,
            Outcome::AccountingResponse => self.stats.acct_responses += 1,
        }
        self.stats.latency.record(now.saturating_sub(slot.first_ns));
        self.last_event_ns = self.last_event_ns.max(now);
        self.flight.slots[idx].stale = Some(slot.auth);
        self.flight.release(idx);
    }

    /// Retransmits or gives up on requests whose deadline passed.
    fn expire(&mut self, now: u64) {
        while let Some(d) = self.flight.deadlines.front() {
            let slot = self.flight.slots[d.slot as usize];
            if slot.seq != d.seq {
                self.flight.deadlines.pop_front();
                continue;
            }
            if d.at_ns > now {
                return;
            }
            let idx = d.slot as usize;
            self.flight.deadlines.pop_front();
            if slot.tries <= self.opts.retries {
                self.retransmit(idx, now);
                continue;
            }
            self.stats.timeouts += 1;
            self.last_event_ns = self.last_event_ns.max(now);
            self.flight.slots[idx].stale = Some(slot.auth);
            self.flight.release(idx);
        }
    }

    fn retransmit(&mut self, idx: usize, now: u64) {
        let slot = self.flight.slots[idx];
        let template = &self.opts.templates[slot.template as usize];
        let (s, id) = (idx / IDS, (idx % IDS) as u8);
        // The same identifier and authenticator give the same bytes (RFC 5080 2.2.1).
        let (len, _) = template.write(self.out.spare(), id, &slot.auth, &self.opts.keys);
        self.out.commit(len, None);
        let sent = self.out.send(self.sockets[s].as_raw_fd());
        self.flight.slots[idx].tries += 1;
        self.stats.retransmits += sent as u64;
        self.flight.deadlines.push_back(Deadline {
            slot: idx as u32,
            seq: slot.seq,
            at_ns: now + self.opts.timeout.as_nanos() as u64,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_reused_first_in_first_out() {
        let mut f = Flight::new(2);
        let (s, a) = f.take().unwrap();
        f.in_flight += 1;
        assert_eq!((s, a), (0, 0));
        f.release(a as usize);
        let mut seen = Vec::new();
        for _ in 0..256 {
            let (s, id) = f.take().unwrap();
            f.in_flight += 1;
            seen.push((s, id));
        }
        assert_eq!(seen[0], (0, 1), "the released id goes to the back");
        assert_eq!(seen[254], (0, 255));
        assert_eq!(seen[255], (0, 0));
        let (s, id) = f.take().unwrap();
        assert_eq!((s, id), (1, 0), "the next socket when one runs out");
    }

    #[test]
    fn socket_counts() {
        let o = |mode, sockets| Options {
            server: "127.0.0.1:1812".parse().unwrap(),
            bind: None,
            keys: Keys::new(b"s"),
            templates: Vec::new(),
            mode,
            count: None,
            duration: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
            retries: 0,
            sockets,
        };
        assert_eq!(o(Mode::Window(64), None).socket_count(), 1);
        assert_eq!(o(Mode::Window(300), None).socket_count(), 3);
        assert_eq!(o(Mode::Window(64), Some(4)).socket_count(), 4);
        assert_eq!(o(Mode::Rate(10_000.0), None).socket_count(), 64);
        assert_eq!(o(Mode::Rate(100.0), None).socket_count(), 2);
    }
}
