//! The UDP driver around `engine::Engine`: NAS-facing auth and accounting sockets, a set
//! of upstream sockets, and the engine's timers, all on one task. One task is enough
//! here: the engine is a few microseconds per packet and the kernel's UDP path dominates,
//! and a single owner needs no locks on the packet path.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::task::Poll;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use crate::config::Config;
use std::collections::HashMap;

use metrics::{Counter, Gauge, Histogram};

use crate::engine::{AuthMethod, Drop, Engine, Event, Listener, Transmit, Via};

/// The sockets, bound before the driver starts so that bind errors are reported at once.
pub struct ProxySockets {
    pub auth: UdpSocket,
    pub acct: UdpSocket,
    pub upstream: Vec<UdpSocket>,
}

impl ProxySockets {
    pub async fn bind(cfg: &Config) -> std::io::Result<ProxySockets> {
        let r = &cfg.radius;
        let bind = |addr: SocketAddr| async move {
            UdpSocket::bind(addr)
                .await
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot bind {addr}: {e}")))
        };
        let auth = bind(r.auth_listen).await?;
        let acct = bind(r.acct_listen).await?;
        let mut upstream = Vec::with_capacity(r.upstream_sockets);
        for _ in 0..r.upstream_sockets {
            upstream.push(bind(SocketAddr::new(r.upstream_bind, 0)).await?);
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

#[derive(Clone, Copy)]
enum Which {
    Auth,
    Acct,
    Upstream(usize),
}

enum Input {
    Nas(Listener, SocketAddr, usize),
    Upstream(usize, SocketAddr, usize),
    Timer,
    Shutdown,
}

pub struct ProxyDriver {
    engine: Engine,
    sockets: ProxySockets,
    events: mpsc::Sender<Event>,
    metrics: ProxyMetrics,
}

impl ProxyDriver {
    pub fn new(engine: Engine, sockets: ProxySockets, events: mpsc::Sender<Event>) -> Self {
        ProxyDriver {
            engine,
            sockets,
            events,
            metrics: ProxyMetrics::new(),
        }
    }

    pub fn name(&self) -> &'static str {
        "radius-proxy"
    }

    /// Runs until `shutdown` turns true. Never returns an error for bad input: malformed
    /// packets are the engine's to count and drop.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut buf = vec![0u8; 65536];
        for (name, up) in self.engine.upstream_states() {
            metrics::gauge!("radcare_upstream_up", "upstream" => name.to_string()).set(if up {
                1.0
            } else {
                0.0
            });
        }
        loop {
            let deadline = self.engine.poll_timeout();
            let input = {
                let s = &self.sockets;
                let sleep = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d.into()).await,
                        None => std::future::pending().await,
                    }
                };
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
                    which = ready => {
                        let sock = match which {
                            Which::Auth => &s.auth,
                            Which::Acct => &s.acct,
                            Which::Upstream(i) => &s.upstream[i],
                        };
                        match (which, sock.try_recv_from(&mut buf)) {
                            (Which::Auth, Ok((n, src))) => Input::Nas(Listener::Auth, src, n),
                            (Which::Acct, Ok((n, src))) => Input::Nas(Listener::Acct, src, n),
                            (Which::Upstream(i), Ok((n, src))) => Input::Upstream(i, src, n),
                            (_, Err(e)) => {
                                if e.kind() != std::io::ErrorKind::WouldBlock {
                                    tracing::debug!(error = %e, "receive error");
                                }
                                continue;
                            }
                        }
                    },
                    _ = sleep => Input::Timer,
                    _ = shutdown.changed() => Input::Shutdown,
                }
            };
            let now = Instant::now();
            match input {
                Input::Nas(l, src, n) => {
                    self.metrics.request(l).increment(1);
                    self.engine.handle_nas(now, l, src, &buf[..n]);
                }
                Input::Upstream(i, src, n) => self.engine.handle_upstream(now, i, src, &buf[..n]),
                Input::Timer => self.engine.handle_timeout(now),
                Input::Shutdown => break,
            }
            self.flush().await;
        }
        tracing::info!("radius proxy stopped");
    }

    async fn flush(&mut self) {
        while let Some(t) = self.engine.poll_transmit() {
            self.send(&t).await;
            self.engine.recycle(t.payload);
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
                    rewritten,
                    shadowed,
                    method,
                } => {
                    let name = self.engine.cause_id(*cause);
                    let action = if *rewritten {
                        "rewrite"
                    } else if *shadowed {
                        "shadow"
                    } else {
                        "pass"
                    };
                    self.metrics
                        .reject(*cause, name, action, *method)
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

    async fn send(&mut self, t: &Transmit) {
        let sock = match t.via {
            Via::Nas(Listener::Auth) => &self.sockets.auth,
            Via::Nas(Listener::Acct) => &self.sockets.acct,
            Via::Upstream(i) => match self.sockets.upstream.get(i) {
                Some(s) => s,
                None => return,
            },
        };
        if let Via::Nas(_) = t.via {
            self.metrics.reply(t.payload[0]).increment(1);
        }
        if let Err(e) = sock.send_to(&t.payload, t.dest).await {
            self.metrics.send_errors.increment(1);
            tracing::debug!(dest = %t.dest, error = %e, "send failed");
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
    rejects: HashMap<(usize, &'static str, AuthMethod), Counter>,
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

    /// `action`: "rewrite", "pass", or "shadow" (would have been rewritten, passed
    /// unchanged in shadow mode).
    fn reject(
        &mut self,
        cause: usize,
        name: &str,
        action: &'static str,
        method: AuthMethod,
    ) -> &Counter {
        self.rejects.entry((cause, action, method)).or_insert_with(|| {
            metrics::counter!("radcare_rejects_total", "cause" => name.to_string(), "action" => action, "method" => method.as_str())
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
