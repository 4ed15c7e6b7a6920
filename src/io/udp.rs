//! The UDP driver around `engine::Engine`: NAS-facing auth and accounting sockets, a set
//! of upstream sockets, and the engine's timers, all on one task. One task is enough
//! here: the engine is a few microseconds per packet and the kernel's UDP path dominates,
//! and a single owner needs no locks on the packet path.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::task::Poll;
use std::time::Instant;

use std::os::fd::AsRawFd;

use tokio::io::Interest;
use tokio::net::UdpSocket;

use super::batch::{Batch, RawAddr};
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use std::collections::HashMap;

use metrics::{Counter, Gauge, Histogram};

use crate::engine::{AuthMethod, Drop, Engine, Event, Listener, RejectOutcome, Via};

/// The sockets, bound before the driver starts so that bind errors are reported at once.
/// They are plain std sockets until the driver's own runtime takes them over.
pub struct ProxySockets {
    pub auth: std::net::UdpSocket,
    pub acct: std::net::UdpSocket,
    pub upstream: Vec<std::net::UdpSocket>,
}

/// Large socket buffers ride out bursts (a BRAS reboot redials thousands at once).
const SOCKET_BUFFER: usize = 4 << 20;

fn bind(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // Best effort: the kernel caps these at net.core.[rw]mem_max.
    let _ = sock.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = sock.set_send_buffer_size(SOCKET_BUFFER);
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot bind {addr}: {e}")))?;
    Ok(sock.into())
}

impl ProxySockets {
    pub fn bind(cfg: &Config) -> std::io::Result<ProxySockets> {
        let r = &cfg.radius;
        let auth = bind(r.auth_listen)?;
        let acct = bind(r.acct_listen)?;
        let mut upstream = Vec::with_capacity(r.upstream_sockets);
        for _ in 0..r.upstream_sockets {
            upstream.push(bind(SocketAddr::new(r.upstream_bind, 0))?);
        }
        Ok(ProxySockets {
            auth,
            acct,
            upstream,
        })
    }

    pub fn auth_addr(&self) -> std::io::Result<SocketAddr> {
        self.auth.local_addr()
    }

    pub fn acct_addr(&self) -> std::io::Result<SocketAddr> {
        self.acct.local_addr()
    }
}

/// The sockets registered with the driver's runtime.
struct Sockets {
    auth: UdpSocket,
    acct: UdpSocket,
    upstream: Vec<UdpSocket>,
}

impl Sockets {
    fn register(s: ProxySockets) -> std::io::Result<Sockets> {
        Ok(Sockets {
            auth: UdpSocket::from_std(s.auth)?,
            acct: UdpSocket::from_std(s.acct)?,
            upstream: s
                .upstream
                .into_iter()
                .map(UdpSocket::from_std)
                .collect::<std::io::Result<_>>()?,
        })
    }
}

#[derive(Clone, Copy)]
enum Which {
    Auth,
    Acct,
    Upstream(usize),
}

enum Input {
    Ready(Which),
    Timer,
    Shutdown,
}

/// Datagrams read from one ready socket before looking at the others again.
const BATCH: usize = 64;

pub struct ProxyDriver {
    engine: Engine,
    sockets: ProxySockets,
    events: mpsc::Sender<Event>,
}

impl ProxyDriver {
    pub fn new(engine: Engine, sockets: ProxySockets, events: mpsc::Sender<Event>) -> Self {
        ProxyDriver {
            engine,
            sockets,
            events,
        }
    }

    pub fn name(&self) -> &'static str {
        "radius-proxy"
    }

    /// Runs the packet path on the calling thread, on a runtime of its own, until
    /// `shutdown` turns true. One thread, no work stealing: on a small box shared with
    /// the rest of the process, cross-thread wake-ups cost more than they bring.
    pub fn run_blocking(self, shutdown: watch::Receiver<bool>) -> std::io::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let sockets = Sockets::register(self.sockets)?;
            let tx = (0..2 + sockets.upstream.len())
                .map(|_| Batch::new(BATCH))
                .collect();
            let driver = Loop {
                engine: self.engine,
                sockets,
                events: self.events,
                metrics: ProxyMetrics::new(),
                rx: Batch::new(BATCH),
                tx,
            };
            driver.run(shutdown).await;
            Ok(())
        })
    }
}

/// The running packet path.
struct Loop {
    engine: Engine,
    sockets: Sockets,
    events: mpsc::Sender<Event>,
    metrics: ProxyMetrics,
    /// recvmmsg buffers, reused.
    rx: Batch,
    /// One sendmmsg batch per socket: auth, acct, then the upstream ones.
    tx: Vec<Batch>,
}

impl Loop {
    /// Runs until `shutdown` turns true. Never returns an error for bad input: malformed
    /// packets are the engine's to count and drop.
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        for (name, up) in self.engine.upstream_states() {
            metrics::gauge!("radcare_upstream_up", "upstream" => name.to_string()).set(if up {
                1.0
            } else {
                0.0
            });
        }
        // One timer, moved only when the engine's next deadline changes: re-arming a
        // fresh one per packet costs a timer-wheel insertion each time.
        let far = || tokio::time::Instant::now() + std::time::Duration::from_secs(3600);
        let sleep = tokio::time::sleep_until(far());
        tokio::pin!(sleep);
        let mut armed: Option<Instant> = None;
        loop {
            let deadline = self.engine.poll_timeout();
            if deadline != armed {
                sleep.as_mut().reset(deadline.map_or_else(far, Into::into));
                armed = deadline;
            }
            let input = {
                let s = &self.sockets;
                // Readiness of every socket in one future; the read happens below into
                // the one shared buffer.
                let ready = poll_fn(|cx| {
                    for (which, sock) in [(Which::Auth, &s.auth), (Which::Acct, &s.acct)] {
                        if sock.poll_recv_ready(cx).is_ready() {
                            return Poll::Ready(which);
                        }
                    }
                    for (i, sock) in s.upstream.iter().enumerate() {
                        if sock.poll_recv_ready(cx).is_ready() {
                            return Poll::Ready(Which::Upstream(i));
                        }
                    }
                    Poll::Pending
                });
                tokio::select! {
                    which = ready => Input::Ready(which),
                    _ = &mut sleep => Input::Timer,
                    _ = shutdown.changed() => Input::Shutdown,
                }
            };
            match input {
                // Drain what the socket has queued (bounded, so the other sockets and
                // the timers get their turn), then send everything at once.
                // One recvmmsg takes what the socket has queued (up to a batch), so
                // the other sockets and the timers get their turn, then everything the
                // engine wants sent goes out in one sendmmsg per socket.
                Input::Ready(which) => {
                    let sock = match which {
                        Which::Auth => &self.sockets.auth,
                        Which::Acct => &self.sockets.acct,
                        Which::Upstream(i) => &self.sockets.upstream[i],
                    };
                    let rx = &mut self.rx;
                    let got = sock.try_io(Interest::READABLE, || match rx.recv(sock.as_raw_fd()) {
                        Ok(0) => Err(std::io::ErrorKind::WouldBlock.into()),
                        r => r,
                    });
                    let n = match got {
                        Ok(n) => n,
                        Err(e) => {
                            if e.kind() != std::io::ErrorKind::WouldBlock {
                                tracing::debug!(error = %e, "receive error");
                            }
                            0
                        }
                    };
                    let now = Instant::now();
                    for i in 0..n {
                        let (data, from) = self.rx.get(i);
                        let Some(src) = from.to_socket_addr() else {
                            continue;
                        };
                        match which {
                            Which::Auth | Which::Acct => {
                                let l = if matches!(which, Which::Auth) {
                                    Listener::Auth
                                } else {
                                    Listener::Acct
                                };
                                self.metrics.request(l).increment(1);
                                self.engine.handle_nas(now, l, src, data);
                            }
                            Which::Upstream(i) => self.engine.handle_upstream(now, i, src, data),
                        }
                    }
                }
                Input::Timer => {
                    self.engine.handle_timeout(Instant::now());
                    // The timer has fired: re-arm it whatever the next deadline is.
                    armed = None;
                }
                Input::Shutdown => break,
            }
            self.flush().await;
        }
        tracing::info!("radius proxy stopped");
    }

    async fn flush(&mut self) {
        while let Some(t) = self.engine.poll_transmit() {
            let slot = match t.via {
                Via::Nas(Listener::Auth) => 0,
                Via::Nas(Listener::Acct) => 1,
                Via::Upstream(i) => 2 + i,
            };
            if let Via::Nas(_) = t.via {
                self.metrics.reply(t.payload[0]).increment(1);
            }
            if self.tx[slot].is_full() {
                self.send_batch(slot).await;
            }
            let to = RawAddr::from_socket_addr(t.dest);
            if !self.tx[slot].push(&t.payload, Some(&to)) {
                self.metrics.send_errors.increment(1);
            }
            self.engine.recycle(t.payload);
        }
        for slot in 0..self.tx.len() {
            if !self.tx[slot].is_empty() {
                self.send_batch(slot).await;
            }
        }
        self.metrics
            .dedup_entries
            .set(self.engine.duplicate_cache_len() as f64);
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
                Event::GardenEntered(_) | Event::GardenAccounting(_) => {}
            }
            if self.events.try_send(ev).is_err() {
                // The garden writer is behind: better to lose a record than stall RADIUS.
                metrics::counter!("radcare_events_lost_total").increment(1);
                tracing::warn!("event channel full; garden event lost");
            }
        }
    }

    /// Sends one socket's batch with sendmmsg, waiting for room if the socket buffer is
    /// full; datagrams the kernel still refuses are counted, as a NAS retransmits.
    async fn send_batch(&mut self, slot: usize) {
        let sock = match slot {
            0 => &self.sockets.auth,
            1 => &self.sockets.acct,
            i => &self.sockets.upstream[i - 2],
        };
        let batch = &mut self.tx[slot];
        let want = batch.len();
        if sock.writable().await.is_err() {
            batch.clear();
            self.metrics.send_errors.increment(want as u64);
            return;
        }
        let sent = batch.send(sock.as_raw_fd());
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
    send_errors: Counter,
    replies: HashMap<u8, Counter>,
    drops: HashMap<Drop, Counter>,
    rejects: HashMap<(usize, RejectOutcome, AuthMethod), Counter>,
    latency: Vec<Option<Histogram>>,
}

impl ProxyMetrics {
    fn new() -> Self {
        ProxyMetrics {
            requests: [
                metrics::counter!("radcare_requests_total", "listener" => "auth"),
                metrics::counter!("radcare_requests_total", "listener" => "acct"),
            ],
            duplicates: [
                metrics::counter!("radcare_duplicates_total", "state" => "in_flight"),
                metrics::counter!("radcare_duplicates_total", "state" => "answered"),
            ],
            dedup_entries: metrics::gauge!("radcare_duplicate_cache_entries"),
            send_errors: metrics::counter!("radcare_send_errors_total"),
            replies: HashMap::new(),
            drops: HashMap::new(),
            rejects: HashMap::new(),
            latency: Vec::new(),
        }
    }

    fn request(&self, l: Listener) -> &Counter {
        &self.requests[match l {
            Listener::Auth => 0,
            Listener::Acct => 1,
        }]
    }

    fn reply(&mut self, code: u8) -> &Counter {
        self.replies.entry(code).or_insert_with(|| {
            metrics::counter!("radcare_replies_total", "code" => crate::wire::Code::from(code).name())
        })
    }

    fn drop(&mut self, d: Drop) -> &Counter {
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
