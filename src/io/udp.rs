//! The UDP driver around `engine::Engine`: NAS-facing auth and accounting sockets, a set
//! of upstream sockets, and the engine's timers, all on one thread. One thread is
//! enough here: the engine is a few microseconds per packet and the kernel's UDP path
//! dominates, and a single owner needs no locks on the packet path.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram};

use super::batch::{Batch, Poller, RawAddr};
use crate::config::Config;
use crate::engine::{AuthMethod, DropReason, Engine, Event, Listener, RejectOutcome, Via};
use crate::events::EventBus;
use crate::part::Shutdown;
use crate::policy::Policy;
use crate::wire::Packet;

/// The sockets, bound before the driver starts so that bind errors are reported at once.
/// They are plain std sockets until the driver's own runtime takes them over.
pub struct ProxySockets {
    pub auth: std::net::UdpSocket,
    pub acct: std::net::UdpSocket,
    pub upstream: Vec<std::net::UdpSocket>,
}

/// Large socket buffers ride out bursts (a BRAS reboot redials thousands at once).
const SOCKET_BUFFER: usize = 4 << 20;

fn bind(addr: SocketAddr, reuse_port: bool) -> std::io::Result<std::net::UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // Best effort: the kernel caps these at net.core.[rw]mem_max.
    let _ = sock.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = sock.set_send_buffer_size(SOCKET_BUFFER);
    sock.set_nonblocking(true)?;
    if reuse_port {
        sock.set_reuse_port(true)?;
    }
    sock.bind(&addr.into())
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot bind {addr}: {e}")))?;
    Ok(sock.into())
}

/// One listening address for `workers` packet threads: a single socket, or a
/// SO_REUSEPORT group on one port (the first socket picks it when the port is 0).
fn bind_listeners(addr: SocketAddr, workers: usize) -> std::io::Result<Vec<std::net::UdpSocket>> {
    if workers == 1 {
        return Ok(vec![bind(addr, false)?]);
    }
    // A port already held (say, by another radcare started by mistake) must fail as it
    // does with one worker, not quietly share the NAS's traffic with it.
    if addr.port() != 0 {
        drop(bind(addr, false)?);
    }
    let first = bind(addr, true)?;
    let addr = first.local_addr()?;
    let mut all = vec![first];
    for _ in 1..workers {
        all.push(bind(addr, true)?);
    }
    Ok(all)
}

impl ProxySockets {
    /// The sockets of every packet thread (`radius.workers`).
    pub fn bind_all(cfg: &Config) -> std::io::Result<Vec<ProxySockets>> {
        let r = &cfg.radius;
        let auth = bind_listeners(r.auth_listen, r.workers)?;
        let acct = bind_listeners(r.acct_listen, r.workers)?;
        auth.into_iter()
            .zip(acct)
            .map(|(auth, acct)| {
                let upstream = (0..r.upstream_sockets)
                    .map(|_| bind(SocketAddr::new(r.upstream_bind, 0), false))
                    .collect::<std::io::Result<_>>()?;
                Ok(ProxySockets {
                    auth,
                    acct,
                    upstream,
                })
            })
            .collect()
    }

    pub fn auth_addr(&self) -> std::io::Result<SocketAddr> {
        self.auth.local_addr()
    }

    pub fn acct_addr(&self) -> std::io::Result<SocketAddr> {
        self.acct.local_addr()
    }
}

#[derive(Clone, Copy)]
enum Which {
    Auth,
    Acct,
    Upstream(usize),
}

impl Which {
    fn token(self) -> u64 {
        match self {
            Which::Auth => 0,
            Which::Acct => 1,
            Which::Upstream(i) => 2 + i as u64,
        }
    }

    fn from_token(t: u64) -> Which {
        match t {
            0 => Which::Auth,
            1 => Which::Acct,
            i => Which::Upstream(i as usize - 2),
        }
    }
}

/// Datagrams read from one ready socket before looking at the others again.
const BATCH: usize = 64;

/// Longest the packet thread sleeps without looking at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// Timers may fire this late. The engine's deadlines are seconds apart in meaning
/// (response windows, cache lifetimes), but at line rate the deadlines of answered
/// requests come due every few microseconds; waking for each would cost more than the
/// packets.
const TIMER_SLACK: Duration = Duration::from_millis(10);

/// How long a stopping packet thread waits for the AAA to answer the requests it has
/// already forwarded (within the process's shutdown deadline); what is still unanswered
/// then is left to the NAS's retry, to this server's successor or another one.
const DRAIN_FOR: Duration = Duration::from_secs(3);

/// How long a full socket send buffer may hold up the packet thread before the
/// datagrams that do not fit are counted as lost (a NAS retransmits).
const SEND_STALL: Duration = Duration::from_millis(5);

/// A reloaded configuration for the packet threads: its clients and policy take effect
/// (`Engine::reconfigure`); the server has checked that nothing else changed.
pub struct Reload {
    pub config: Arc<Config>,
    pub dict: Arc<crate::dict::Dictionary>,
    pub policy: Arc<Policy>,
}

pub struct ProxyDriver {
    engine: Engine,
    sockets: ProxySockets,
    events: EventBus,
    worker: usize,
}

impl ProxyDriver {
    /// The packet thread `worker` (from 0) around `engine` and its sockets.
    pub fn new(engine: Engine, sockets: ProxySockets, events: EventBus, worker: usize) -> Self {
        ProxyDriver {
            engine,
            sockets,
            events,
            worker,
        }
    }

    /// Starts the packet path on a thread of its own, until `stop` is cancelled.
    ///
    /// Why a plain thread around epoll and not a tokio task: the packet path is one
    /// owner of the engine with no awaits in it, and on a small box shared with the
    /// rest of the process every reactor wake-up and cross-thread hand-off shows up in
    /// the CPU per request. This is the same loop as the trivial forward it is measured
    /// against (`radcare udp-forward`), with the engine in the middle.
    pub fn spawn(
        self,
        stop: Shutdown,
        reloads: std::sync::mpsc::Receiver<Arc<Reload>>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let mut poller = Poller::new()?;
        let s = &self.sockets;
        poller.add(&s.auth, Which::Auth.token())?;
        poller.add(&s.acct, Which::Acct.token())?;
        for (i, u) in s.upstream.iter().enumerate() {
            poller.add(u, Which::Upstream(i).token())?;
        }
        let tx = (0..2 + s.upstream.len())
            .map(|_| Batch::new(BATCH))
            .collect();
        let driver = Loop {
            engine: self.engine,
            sockets: self.sockets,
            events: self.events,
            metrics: ProxyMetrics::new(self.worker),
            poller,
            rx: Batch::new(BATCH),
            tx,
            reloads,
            worker: self.worker,
            taken: 0,
            replied: 0,
        };
        std::thread::Builder::new()
            .name(format!("radius-packet-{}", self.worker))
            .spawn(move || driver.run(&stop))
    }
}

/// The running packet path.
struct Loop {
    engine: Engine,
    sockets: ProxySockets,
    events: EventBus,
    metrics: ProxyMetrics,
    poller: Poller,
    /// recvmmsg buffers, reused.
    rx: Batch,
    /// One sendmmsg batch per socket: auth, acct, then the upstream ones.
    tx: Vec<Batch>,
    reloads: std::sync::mpsc::Receiver<Arc<Reload>>,
    worker: usize,
    /// Datagrams taken from the NAS sockets, and replies sent to NASes: the shutdown
    /// report (what was taken and answered).
    taken: u64,
    replied: u64,
}

impl Loop {
    fn socket(&self, which: Which) -> &std::net::UdpSocket {
        match which {
            Which::Auth => &self.sockets.auth,
            Which::Acct => &self.sockets.acct,
            Which::Upstream(i) => &self.sockets.upstream[i],
        }
    }

    /// Runs until `stop` is cancelled. Never returns early for bad input: malformed packets
    /// are the engine's to count and drop.
    fn run(mut self, stop: &Shutdown) {
        for (name, up) in self.engine.upstream_states() {
            metrics::gauge!("radcare_upstream_up", "upstream" => name.to_string()).set(if up {
                1.0
            } else {
                0.0
            });
        }
        // Set once `stop` is cancelled: NAS sockets are no longer read (their queued
        // datagrams are left to the NASes' retries), upstream replies still are, until
        // nothing is in flight or this instant.
        let mut draining: Option<Instant> = None;
        loop {
            if draining.is_none() && stop.is_cancelled() {
                for sock in [&self.sockets.auth, &self.sockets.acct] {
                    if let Err(e) = self.poller.remove(sock) {
                        tracing::error!(error = %e, "cannot stop reading a NAS socket");
                    }
                }
                draining = Some(Instant::now() + DRAIN_FOR);
                tracing::info!(
                    worker = self.worker,
                    in_flight = self.engine.in_flight(),
                    "radius proxy draining: no new requests"
                );
            }
            if let Some(until) = draining
                && (self.engine.in_flight() == 0 || Instant::now() >= until)
            {
                break;
            }
            // At most STOP_CHECK after a reload was sent: between batches, never inside.
            while let Ok(r) = self.reloads.try_recv() {
                self.engine.reconfigure(&r.config, r.policy.clone());
                self.engine.set_dictionary(r.dict.clone());
                // Reject counters are cached by cause index; the table may have changed.
                self.metrics.rejects.clear();
                tracing::info!(
                    worker = self.worker,
                    "packet thread reloaded clients and policy"
                );
            }
            let now = Instant::now();
            let wait = match self.engine.poll_timeout() {
                Some(at) if at <= now => Duration::ZERO,
                Some(at) => (at - now).clamp(TIMER_SLACK, STOP_CHECK),
                None => STOP_CHECK,
            };
            let ready = match self.poller.wait(Some(wait)) {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "epoll failed; the radius proxy stops");
                    break;
                }
            };
            let now = Instant::now();
            for r in 0..ready {
                let which = Which::from_token(self.poller.token(r));
                // A NAS datagram already reported ready when the drain began.
                if draining.is_some() && !matches!(which, Which::Upstream(_)) {
                    continue;
                }
                self.receive(now, which);
            }
            if self.engine.poll_timeout().is_some_and(|at| at <= now) {
                self.engine.handle_timeout(now);
            }
            self.flush();
        }
        tracing::info!(
            worker = self.worker,
            requests = self.taken,
            replies = self.replied,
            unanswered = self.engine.in_flight(),
            "radius proxy stopped"
        );
    }

    /// One recvmmsg from a ready socket (up to a batch, so the other sockets and the
    /// timers get their turn), each datagram handed to the engine.
    fn receive(&mut self, now: Instant, which: Which) {
        let fd = self.socket(which).as_raw_fd();
        let n = match self.rx.recv(fd) {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(error = %e, "receive error");
                0
            }
        };
        self.metrics.datagrams.increment(n as u64);
        if !matches!(which, Which::Upstream(_)) {
            self.taken += n as u64;
        }
        let rx = &self.rx;
        let datagrams = (0..n).filter_map(|i| {
            let (data, from) = rx.get(i);
            from.to_socket_addr().map(|src| (src, data))
        });
        // The whole batch at once: the engine checks its authenticators side by side.
        match which {
            Which::Auth => {
                self.metrics.requests[0].increment(n as u64);
                self.engine.handle_nas_batch(now, Listener::Auth, datagrams);
            }
            Which::Acct => {
                self.metrics.requests[1].increment(n as u64);
                self.engine.handle_nas_batch(now, Listener::Acct, datagrams);
            }
            Which::Upstream(u) => self.engine.handle_upstream_batch(now, u, datagrams),
        }
    }

    /// Sends everything the engine wants sent, one sendmmsg per socket, then hands the
    /// engine's events to metrics and the garden writer.
    fn flush(&mut self) {
        while let Some(t) = self.engine.poll_transmit() {
            let slot = match t.via {
                Via::Nas(Listener::Auth) => 0,
                Via::Nas(Listener::Acct) => 1,
                Via::Upstream(i) => 2 + i,
            };
            if let Via::Nas(_) = t.via {
                self.replied += 1;
                self.metrics
                    .reply(Packet::new_unchecked(&t.payload[..]).code().into())
                    .increment(1);
            }
            if self.tx[slot].is_full() {
                self.send_batch(slot);
            }
            let to = RawAddr::from_socket_addr(t.dest);
            if !self.tx[slot].push(&t.payload, Some(&to)) {
                self.metrics.send_errors.increment(1);
            }
            self.engine.recycle(t.payload);
        }
        for slot in 0..self.tx.len() {
            if !self.tx[slot].is_empty() {
                self.send_batch(slot);
            }
        }
        self.metrics
            .dedup_entries
            .set(self.engine.duplicate_cache_len() as f64);
        let (remembered, forgotten) = self.engine.redial_memory();
        self.metrics.redial_subscribers.set(remembered as f64);
        let m = &mut self.metrics;
        m.redial_forgotten
            .increment(forgotten.saturating_sub(m.redial_forgotten_seen));
        m.redial_forgotten_seen = forgotten;
        while let Some(ev) = self.engine.poll_event() {
            match &ev {
                Event::Dropped(d) => {
                    self.metrics.drop(*d).increment(1);
                    continue;
                }
                Event::Duplicate { answered } => {
                    self.metrics.duplicates[usize::from(*answered)].increment(1);
                    continue;
                }
                Event::Rejected {
                    cause,
                    outcome,
                    method,
                } => {
                    let name = self.engine.cause_id(*cause);
                    self.metrics
                        .reject(*cause, name, *outcome, *method)
                        .increment(1);
                    continue;
                }
                Event::UpstreamLatency { upstream, rtt } => {
                    let name = self.engine.upstream_name(*upstream);
                    self.metrics
                        .latency(*upstream, name)
                        .record(rtt.as_secs_f64());
                    continue;
                }
                Event::UpstreamUp { upstream } => {
                    metrics::gauge!("radcare_upstream_up", "upstream" => upstream.clone()).set(1.0);
                }
                Event::UpstreamDown { upstream } => {
                    metrics::gauge!("radcare_upstream_up", "upstream" => upstream.clone()).set(0.0);
                }
                Event::GardenEntered(_)
                | Event::GardenAccounting(_)
                | Event::SubscriberAccounting(_) => {}
            }
            self.events.publish(ev);
        }
    }

    /// Sends one socket's batch with sendmmsg. When the socket buffer is full, waits a
    /// little for room; datagrams the kernel still refuses are counted, as a NAS
    /// retransmits.
    fn send_batch(&mut self, slot: usize) {
        let which = match slot {
            0 => Which::Auth,
            1 => Which::Acct,
            i => Which::Upstream(i - 2),
        };
        let fd = self.socket(which).as_raw_fd();
        let batch = &mut self.tx[slot];
        let want = batch.len();
        let sent = batch.send_waiting(fd, SEND_STALL);
        if sent < want {
            self.metrics.send_errors.increment((want - sent) as u64);
            tracing::debug!(lost = want - sent, "send buffer full");
        }
    }
}

/// Metric handles registered once: the `metrics` macros build their label set on every
/// call, which would allocate per packet, so the packet path keeps handles instead.
struct ProxyMetrics {
    requests: [Counter; 2],
    duplicates: [Counter; 2],
    dedup_entries: Gauge,
    redial_subscribers: Gauge,
    redial_forgotten: Counter,
    /// What `redial_forgotten` was last set from (the engine counts, we add the rise).
    redial_forgotten_seen: u64,
    /// Datagrams this packet thread received (NAS and upstream): how the work spreads.
    datagrams: Counter,
    send_errors: Counter,
    replies: HashMap<u8, Counter>,
    drops: HashMap<DropReason, Counter>,
    rejects: HashMap<(usize, RejectOutcome, AuthMethod), Counter>,
    latency: Vec<Option<Histogram>>,
}

impl ProxyMetrics {
    fn new(worker: usize) -> Self {
        let worker = worker.to_string();
        ProxyMetrics {
            requests: [
                metrics::counter!("radcare_requests_total", "listener" => "auth"),
                metrics::counter!("radcare_requests_total", "listener" => "acct"),
            ],
            duplicates: [
                metrics::counter!("radcare_duplicates_total", "state" => "in_flight"),
                metrics::counter!("radcare_duplicates_total", "state" => "answered"),
            ],
            dedup_entries: metrics::gauge!("radcare_duplicate_cache_entries", "worker" => worker.clone()),
            redial_subscribers: metrics::gauge!("radcare_redial_subscribers", "worker" => worker.clone()),
            redial_forgotten: metrics::counter!("radcare_redial_forgotten_total", "worker" => worker.clone()),
            redial_forgotten_seen: 0,
            datagrams: metrics::counter!("radcare_worker_datagrams_total", "worker" => worker),
            send_errors: metrics::counter!("radcare_send_errors_total"),
            replies: HashMap::new(),
            drops: HashMap::new(),
            rejects: HashMap::new(),
            latency: Vec::new(),
        }
    }

    fn reply(&mut self, code: u8) -> &Counter {
        self.replies.entry(code).or_insert_with(|| {
            metrics::counter!("radcare_replies_total", "code" => crate::wire::Code::from(code).name())
        })
    }

    fn drop(&mut self, d: DropReason) -> &Counter {
        self.drops
            .entry(d)
            .or_insert_with(|| metrics::counter!("radcare_drops_total", "reason" => d.as_str()))
    }

    fn reject(
        &mut self,
        cause: usize,
        name: &str,
        outcome: RejectOutcome,
        method: AuthMethod,
    ) -> &Counter {
        self.rejects.entry((cause, outcome, method)).or_insert_with(|| {
            metrics::counter!("radcare_rejects_total", "cause" => name.to_string(), "action" => outcome.as_str(), "method" => method.as_str())
        })
    }

    fn latency(&mut self, upstream: usize, name: &str) -> &Histogram {
        if self.latency.len() <= upstream {
            self.latency.resize_with(upstream + 1, || None);
        }
        self.latency[upstream].get_or_insert_with(|| {
            metrics::histogram!("radcare_upstream_latency_seconds", "upstream" => name.to_string())
        })
    }
}
