//! The thin tokio driver: sockets and the clock around [`Session`]. One task per
//! session owns the local socket (A or C), the current link B connection and the
//! session; it reads only as much local data as the window and the process-wide budget
//! take, so a dead link pushes back on the application.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::prefetch::Prefetch;
use super::proto::{Frame, NONCE_LEN, Refusal, Repr, next_frame};
use super::session::{Event, Failure, Hello, Key, Limits, Session, SessionId, check_hello};
use super::tls::{LinkTls, TlsError};
use crate::config::{RelayConfig, RelayRole};
use crate::part::{Part, Shutdown};

const READ_CHUNK: usize = 64 * 1024;
const TRANSMIT_BATCH: usize = 256 * 1024;
/// How long a new link B connection may take to say who it is.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
const DIAL_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Link B's two directions, over TCP or TLS alike.
type LinkRead = Box<dyn AsyncRead + Send + Unpin>;
type LinkWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// The bytes all sessions of a process hold for their peers, against one limit: many
/// sessions behind one dead link cannot take all memory between them.
#[derive(Clone)]
pub struct Budget {
    used: Arc<AtomicUsize>,
    limit: usize,
    /// Wakes the sessions that stopped reading for want of budget.
    freed: Arc<Notify>,
}

impl Budget {
    pub fn new(limit: usize) -> Budget {
        Budget {
            used: Arc::new(AtomicUsize::new(0)),
            limit,
            freed: Arc::new(Notify::new()),
        }
    }

    fn room(&self) -> usize {
        self.limit.saturating_sub(self.used.load(Ordering::Relaxed))
    }

    /// Follows a session's held bytes from `was` to `now`.
    fn track(&self, was: usize, now: usize) {
        if now > was {
            self.used.fetch_add(now - was, Ordering::Relaxed);
        } else if was > now {
            let before = self.used.fetch_sub(was - now, Ordering::Relaxed);
            if before >= self.limit {
                self.freed.notify_waiters();
            }
        }
    }
}

/// What both proxies are configured with.
#[derive(Clone)]
pub struct Settings {
    pub key: Key,
    pub limits: Limits,
    pub budget: Budget,
    pub tls: LinkTls,
}

impl Settings {
    pub fn from_config(cfg: &RelayConfig) -> Result<Settings, TlsError> {
        let tls = match (cfg.role, &cfg.tls_cert, &cfg.tls_key, &cfg.tls_ca) {
            (RelayRole::Server, Some(cert), Some(key), _) => LinkTls::server(cert, key)?,
            (RelayRole::Client, _, _, Some(ca)) => {
                let name = match &cfg.tls_name {
                    Some(n) => n.clone(),
                    None => cfg.server.map(|s| s.ip().to_string()).unwrap_or_default(),
                };
                LinkTls::client(ca, &name)?
            }
            _ => LinkTls::Plain,
        };
        Ok(Settings {
            key: Key::new(cfg.key.as_bytes()),
            limits: Limits {
                linger: cfg.linger,
                keepalive: cfg.keepalive,
                link_timeout: cfg.keepalive * 3,
                max_buffer: cfg.buffer,
                max_age: cfg.max_age,
            },
            budget: Budget::new(cfg.total_buffer),
            tls,
        })
    }
}

/// The `[relay]` section's end, as a part of `radcare serve`.
pub enum RelayPart {
    Client(RelayClient),
    Server(RelayServer),
}

impl RelayPart {
    /// The part for a validated `[relay]` section, its settings (read before anything
    /// is bound: the TLS files may be wrong) and its bound listener.
    pub fn new(cfg: &RelayConfig, settings: Settings, listener: TcpListener) -> RelayPart {
        match cfg.role {
            RelayRole::Client => RelayPart::Client(RelayClient {
                listener,
                server: cfg.server.expect("validated: a client has a server"),
                settings,
                prefetch: None,
            }),
            RelayRole::Server => RelayPart::Server(RelayServer {
                listener,
                target: cfg.target.expect("validated: a server has a target"),
                settings,
            }),
        }
    }
}

impl Part for RelayPart {
    fn name(&self) -> &'static str {
        match self {
            RelayPart::Client(c) => c.name(),
            RelayPart::Server(s) => s.name(),
        }
    }

    async fn run(self, shutdown: Shutdown) {
        match self {
            RelayPart::Client(c) => c.run(shutdown).await,
            RelayPart::Server(s) => s.run(shutdown).await,
        }
    }
}

/// The next connection on `listener`, or `None` once `shutdown` is cancelled; a failed
/// accept (out of descriptors, a connection reset before it was taken) is logged and
/// the wait goes on.
async fn accept(
    listener: &TcpListener,
    shutdown: &Shutdown,
) -> Option<(tokio::net::TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => return Some(a),
                Err(e) => tracing::warn!(error = %e, "relay: cannot accept"),
            },
            _ = shutdown.cancelled() => return None,
        }
    }
}

/// `relay client`: each application connection on A is a session to the server proxy.
pub struct RelayClient {
    pub listener: TcpListener,
    pub server: SocketAddr,
    pub settings: Settings,
    pub prefetch: Option<Prefetch>,
}

impl Part for RelayClient {
    fn name(&self) -> &'static str {
        "relay-client"
    }

    async fn run(self, shutdown: Shutdown) {
        // The sessions under way: prefetching waits for none.
        let active = Arc::new(AtomicUsize::new(0));
        if let Some(prefetch) = self.prefetch
            && let Ok(a) = self.listener.local_addr()
        {
            let run = prefetch.run(a, self.server, active.clone(), shutdown.clone());
            tokio::spawn(run);
        }
        loop {
            let Some((local, peer)) = accept(&self.listener, &shutdown).await else {
                return;
            };
            tracing::debug!(%peer, "relay: application connected");
            let s = self.settings.clone();
            let links = Links::Dial {
                server: self.server,
                tls: s.tls.clone(),
                pending: None,
                failures: 0,
            };
            let session = Session::client(s.key.clone(), s.limits.clone(), now());
            let stop = shutdown.clone();
            let active = active.clone();
            active.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                drive(session, local, links, s, None, stop).await;
                active.fetch_sub(1, Ordering::Relaxed);
            });
        }
    }
}

/// A session's entry on the server: the way to hand it a new link, or, once it ended by
/// a Close, a tombstone so that a client whose Closed was lost learns it on resume; or,
/// once it lingered out, where C stopped taking the client's bytes, so that the client
/// can deliver the rest to a new connection to C ([`Hello::Deliver`]).
enum Entry {
    Live(mpsc::Sender<Attach>),
    Closed(Instant),
    Expired { at: Instant, received: u64 },
}

/// How [`drive`] ended.
enum Outcome {
    Closed,
    /// The link stayed down past the linger time; C took the client's bytes up to
    /// `received`.
    Expired {
        received: u64,
    },
    Failed,
}

/// A std Mutex: held only for a lookup or an insert, never across an await.
type Registry = Arc<Mutex<HashMap<SessionId, Entry>>>;

/// A resumed link B connection for a live session.
struct Attach {
    read: LinkRead,
    write: LinkWrite,
    received: u64,
    first_held: u64,
}

/// `relay server`: accepts link B connections, opens C for each new session and hands
/// resumed connections to their sessions.
pub struct RelayServer {
    pub listener: TcpListener,
    pub target: SocketAddr,
    pub settings: Settings,
}

impl Part for RelayServer {
    fn name(&self) -> &'static str {
        "relay-server"
    }

    async fn run(self, shutdown: Shutdown) {
        let registry: Registry = Arc::default();
        loop {
            let Some((link, peer)) = accept(&self.listener, &shutdown).await else {
                return;
            };
            let hello = ServerHello {
                settings: self.settings.clone(),
                target: self.target,
                registry: registry.clone(),
            };
            let stop = shutdown.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HELLO_TIMEOUT, hello.handle(link, stop)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "relay: link refused"),
                    Err(_) => tracing::debug!(%peer, "relay: no hello in time"),
                }
            });
        }
    }
}

struct ServerHello {
    settings: Settings,
    target: SocketAddr,
    registry: Registry,
}

impl ServerHello {
    async fn handle(self, link: TcpStream, shutdown: Shutdown) -> io::Result<()> {
        link.set_nodelay(true)?;
        let (mut read, mut write) = match &self.settings.tls {
            LinkTls::Accept(acceptor) => split(acceptor.accept(link).await?),
            _ => split(link),
        };
        let mut nonce = [0; NONCE_LEN];
        crate::wire::crypto::os_random(&mut nonce);
        send(&mut write, Repr::Challenge { nonce }).await?;
        let mut buf = Vec::with_capacity(128);
        let len = loop {
            if let Some(len) = next_frame(&buf).map_err(invalid)? {
                break len;
            }
            if read.read_buf(&mut buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        };
        let frame = Frame::new_checked(&buf[..len]).map_err(invalid)?;
        let repr = Repr::parse(&frame).map_err(invalid)?;
        match check_hello(&self.settings.key, &nonce, &repr) {
            Hello::Open => self.open(read, write, shutdown).await,
            Hello::Resume {
                id,
                received,
                first_held,
            } => {
                let mut attach = Attach {
                    read,
                    write,
                    received,
                    first_held,
                };
                match self.lookup(&id) {
                    Some(Entry::Live(tx)) => hand_over(tx, attach).await,
                    Some(Entry::Closed(_)) => send(&mut attach.write, Repr::Closed).await,
                    // The client's application is still there: its stream must not go
                    // on, unnoticed, into a new connection to C.
                    Some(Entry::Expired { .. }) | None => {
                        refuse(&mut attach.write, Refusal::Denied).await
                    }
                }
            }
            Hello::Deliver {
                id,
                received,
                first_held,
            } => {
                let mut attach = Attach {
                    read,
                    write,
                    received,
                    first_held,
                };
                match self.lookup(&id) {
                    Some(Entry::Live(tx)) => hand_over(tx, attach).await,
                    Some(Entry::Closed(_)) => send(&mut attach.write, Repr::Closed).await,
                    Some(Entry::Expired {
                        received: taken, ..
                    }) => {
                        let session = Session::continued(
                            id,
                            self.settings.limits.clone(),
                            now(),
                            received,
                            taken,
                        );
                        let Some(target) = self.target(&mut attach.write).await? else {
                            return Ok(());
                        };
                        tracing::debug!(session = %hex::encode(id), "relay: delivering to a new connection");
                        self.start(id, session, target, attach, shutdown);
                        Ok(())
                    }
                    None => refuse(&mut attach.write, Refusal::Denied).await,
                }
            }
            Hello::Denied => refuse(&mut write, Refusal::Denied).await,
        }
    }

    /// The session's entry, tombstones past their time forgotten first.
    fn lookup(&self, id: &SessionId) -> Option<Entry> {
        let mut sessions = self.registry.lock().expect("registry lock");
        let limits = &self.settings.limits;
        sessions.retain(|_, e| match e {
            Entry::Live(_) => true,
            Entry::Closed(at) => at.elapsed() <= limits.linger,
            Entry::Expired { at, .. } => at.elapsed() <= limits.max_age,
        });
        sessions.get(id).map(|e| match e {
            Entry::Live(tx) => Entry::Live(tx.clone()),
            Entry::Closed(at) => Entry::Closed(*at),
            Entry::Expired { at, received } => Entry::Expired {
                at: *at,
                received: *received,
            },
        })
    }

    /// A new connection to C, or `None` after refusing the client.
    async fn target(&self, write: &mut LinkWrite) -> io::Result<Option<TcpStream>> {
        match TcpStream::connect(self.target).await {
            Ok(t) => Ok(Some(t)),
            Err(e) => {
                tracing::warn!(target = %self.target, error = %e, "relay: cannot reach the target");
                refuse(write, Refusal::Unavailable).await.map(|()| None)
            }
        }
    }

    async fn open(
        self,
        read: LinkRead,
        mut write: LinkWrite,
        shutdown: Shutdown,
    ) -> io::Result<()> {
        let Some(target) = self.target(&mut write).await? else {
            return Ok(());
        };
        let mut id = [0; 16];
        crate::wire::crypto::os_random(&mut id);
        metrics::counter!("radcare_relay_sessions_total").increment(1);
        let session = Session::server(id, self.settings.limits.clone(), now());
        let attach = Attach {
            read,
            write,
            received: 0,
            first_held: 0,
        };
        self.start(id, session, target, attach, shutdown);
        Ok(())
    }

    /// Registers the session and drives it on its own task; a continued session
    /// resumes on `link` first.
    fn start(
        self,
        id: SessionId,
        mut session: Session,
        target: TcpStream,
        link: Attach,
        shutdown: Shutdown,
    ) {
        if !session.is_linked() {
            session.resume(now(), link.received, link.first_held);
        }
        let (tx, rx) = mpsc::channel(1);
        self.registry
            .lock()
            .expect("registry lock")
            .insert(id, Entry::Live(tx));
        let links = Links::Accept(rx);
        let registry = self.registry.clone();
        tokio::spawn(async move {
            let outcome = drive(
                session,
                target,
                links,
                self.settings,
                Some((link.read, link.write)),
                shutdown,
            )
            .await;
            let mut sessions = registry.lock().expect("registry lock");
            match outcome {
                Outcome::Closed => sessions.insert(id, Entry::Closed(Instant::now())),
                Outcome::Expired { received } => sessions.insert(
                    id,
                    Entry::Expired {
                        at: Instant::now(),
                        received,
                    },
                ),
                Outcome::Failed => sessions.remove(&id),
            };
        });
    }
}

/// Hands a resumed link to its live session.
async fn hand_over(tx: mpsc::Sender<Attach>, attach: Attach) -> io::Result<()> {
    if let Err(mpsc::error::SendError(mut a)) = tx.send(attach).await {
        refuse(&mut a.write, Refusal::Denied).await?;
    }
    Ok(())
}

fn split<S: AsyncRead + AsyncWrite + Send + 'static>(stream: S) -> (LinkRead, LinkWrite) {
    let (r, w) = tokio::io::split(stream);
    (Box::new(r), Box::new(w))
}

async fn send(write: &mut LinkWrite, frame: Repr<'_>) -> io::Result<()> {
    let mut out = Vec::new();
    frame.emit(&mut out);
    write.write_all(&out).await?;
    write.flush().await
}

async fn refuse(write: &mut LinkWrite, why: Refusal) -> io::Result<()> {
    metrics::counter!("radcare_relay_refused_total").increment(1);
    send(write, Repr::Refused(why)).await
}

fn invalid(e: super::proto::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Where a session's next link B connection comes from.
enum Links {
    /// The client dials the server, with a backoff after failures.
    Dial {
        server: SocketAddr,
        tls: LinkTls,
        pending: Option<JoinHandle<io::Result<(LinkRead, LinkWrite)>>>,
        failures: u32,
    },
    /// The server waits for the client's Resume, checked by [`ServerHello`].
    Accept(mpsc::Receiver<Attach>),
}

impl Links {
    /// The session is carried again: the next lost link is dialled at once.
    fn linked(&mut self) {
        if let Links::Dial { failures, .. } = self {
            *failures = 0;
        }
    }
}

enum NewLink {
    Dialled(io::Result<(LinkRead, LinkWrite)>),
    Attached(Attach),
}

impl Links {
    /// Waits for the next connection; never resolves while one is not wanted.
    async fn next(&mut self, wanted: bool) -> NewLink {
        match self {
            Links::Dial {
                server,
                tls,
                pending,
                failures,
            } => {
                if !wanted {
                    return std::future::pending().await;
                }
                let handle = pending.get_or_insert_with(|| {
                    let server = *server;
                    let tls = tls.clone();
                    let backoff = if *failures == 0 {
                        Duration::ZERO
                    } else {
                        (Duration::from_millis(100) * 2u32.pow((*failures).min(6)))
                            .min(DIAL_BACKOFF_MAX)
                    };
                    tokio::spawn(async move {
                        tokio::time::sleep(backoff).await;
                        let stream = TcpStream::connect(server).await?;
                        stream.set_nodelay(true)?;
                        match tls {
                            LinkTls::Connect(connector, name) => {
                                Ok(split(connector.connect(name, stream).await?))
                            }
                            _ => Ok(split(stream)),
                        }
                    })
                });
                let result = handle.await.unwrap_or_else(|e| Err(io::Error::other(e)));
                *pending = None;
                // A connection counts as a failure until its handshake succeeds
                // ([`Links::linked`]): something that accepts and drops connections
                // must not be dialled in a tight loop.
                *failures = failures.saturating_add(1);
                NewLink::Dialled(result)
            }
            Links::Accept(rx) => match rx.recv().await {
                Some(a) => NewLink::Attached(a),
                None => std::future::pending().await,
            },
        }
    }
}

async fn read_link(read: &mut Option<LinkRead>, buf: &mut Vec<u8>) -> io::Result<usize> {
    match read {
        Some(r) => r.read_buf(buf).await,
        None => std::future::pending().await,
    }
}

/// Writes some of `data`, or flushes once it is all written (TLS holds records until
/// flushed). One branch for both, and each step restartable, so nothing is lost when
/// the select picks another branch.
async fn write_link(write: &mut Option<LinkWrite>, data: &[u8]) -> io::Result<usize> {
    match write {
        Some(w) if data.is_empty() => w.flush().await.map(|()| 0),
        Some(w) => match w.write(data).await? {
            0 => Err(io::ErrorKind::WriteZero.into()),
            n => Ok(n),
        },
        None => std::future::pending().await,
    }
}

/// Runs one session to its end.
async fn drive(
    mut session: Session,
    local: TcpStream,
    mut links: Links,
    settings: Settings,
    first_link: Option<(LinkRead, LinkWrite)>,
    shutdown: Shutdown,
) -> Outcome {
    let _ = local.set_nodelay(true);
    let (mut local_r, mut local_w) = local.into_split();
    let (mut link_r, mut link_w) = match first_link {
        Some((r, w)) => (Some(r), Some(w)),
        None => (None, None),
    };
    let mut link_in: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut link_out: Vec<u8> = Vec::new();
    let mut link_out_pos = 0;
    let mut unflushed = false;
    let mut local_in = vec![0u8; READ_CHUNK];
    let mut local_out: Vec<u8> = Vec::new();
    let mut local_eof = false;
    let mut held = 0;
    let mut outcome = Outcome::Failed;
    let mut detached = false;

    loop {
        let t = now();
        while let Some(event) = session.poll_event() {
            match event {
                Event::Established(id) => {
                    links.linked();
                    tracing::debug!(session = %hex::encode(id), "relay: session open")
                }
                Event::Resumed => {
                    links.linked();
                    metrics::counter!("radcare_relay_resumes_total").increment(1);
                    tracing::debug!("relay: session resumed")
                }
                Event::LinkLost => {
                    tracing::debug!("relay: link silent, dropped");
                    (link_r, link_w) = (None, None);
                }
                Event::Closed { discarded } if detached && discarded > 0 => {
                    // C closed before the bytes of a gone application all reached it.
                    outcome = Outcome::Closed;
                    metrics::counter!("radcare_relay_undeliverable_bytes_total")
                        .increment(discarded);
                    tracing::warn!(
                        undeliverable = discarded,
                        "relay: the target closed before all bytes held for it were delivered"
                    );
                }
                Event::Closed { discarded } => {
                    outcome = Outcome::Closed;
                    tracing::debug!(discarded, "relay: session closed");
                    // A client that answered the server's Close has delivered all; its
                    // application hears the end now, not after the server's confirmation.
                    if !session.is_done() {
                        let _ = local_w.shutdown().await;
                        local_eof = true;
                    }
                }
                Event::Detached { pending } => {
                    tracing::info!(
                        pending,
                        "relay: linger time passed; the application is closed, held bytes wait for the network"
                    );
                    detached = true;
                    local_eof = true;
                    local_out.clear();
                    deliver_rest(&mut session, &mut local_w).await;
                }
                Event::Failed {
                    reason,
                    undeliverable,
                } => {
                    if reason == Failure::Linger {
                        outcome = Outcome::Expired {
                            received: session.received(),
                        };
                    }
                    metrics::counter!("radcare_relay_undeliverable_bytes_total")
                        .increment(undeliverable);
                    tracing::warn!(
                        ?reason,
                        undeliverable,
                        "relay: session ended without a close; bytes held for the peer are undeliverable"
                    );
                }
            }
        }
        if link_w.is_none() {
            unflushed = false;
            session.link_down(t);
            link_out.clear();
            link_out_pos = 0;
            link_in.clear();
        } else if link_out_pos == link_out.len() {
            link_out.clear();
            link_out_pos = 0;
            session.poll_transmit(t, &mut link_out, TRANSMIT_BATCH);
        }
        budget_track(&settings.budget, &mut held, session.held());
        if local_out.is_empty() {
            let d = session.deliverable();
            local_out.extend_from_slice(&d[..d.len().min(READ_CHUNK)]);
        }
        if session.is_done() && (link_w.is_none() || link_out_pos == link_out.len() && !unflushed) {
            break;
        }
        // Registered before the budget is read, so a release in between is not missed.
        let freed = settings.budget.freed.notified();
        tokio::pin!(freed);
        freed.as_mut().enable();
        let starved = session.room() > 0 && settings.budget.room() == 0 && !local_eof;
        let room = session.room().min(settings.budget.room()).min(READ_CHUNK);
        let deadline = session
            .poll_timeout()
            .map(Instant::from_std)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let want_link = link_w.is_none() && !session.is_done();
        tokio::select! {
            r = local_r.read(&mut local_in[..room]), if room > 0 && !local_eof => match r {
                Ok(0) | Err(_) => {
                    local_eof = true;
                    session.close();
                }
                Ok(n) => session.push(now(), &local_in[..n]),
            },
            r = local_w.write(&local_out), if !local_out.is_empty() => match r {
                Ok(n) => {
                    local_out.drain(..n);
                    session.consume(n);
                }
                Err(e) => {
                    // The application is gone: what it was sent can no longer reach it.
                    tracing::debug!(error = %e, "relay: local socket failed");
                    local_eof = true;
                    session.close();
                    let n = session.deliverable().len();
                    local_out.clear();
                    session.consume(n);
                }
            },
            r = read_link(&mut link_r, &mut link_in) => {
                let ok = match r {
                    Ok(0) | Err(_) => false,
                    Ok(_) => handle_frames(&mut session, &mut link_in),
                };
                if !ok {
                    (link_r, link_w) = (None, None);
                }
            }
            r = write_link(&mut link_w, &link_out[link_out_pos..]), if link_out_pos < link_out.len() || unflushed => match r {
                Ok(0) => unflushed = false,
                Ok(n) => {
                    link_out_pos += n;
                    unflushed = true;
                }
                Err(_) => (link_r, link_w) = (None, None),
            },
            link = links.next(want_link) => match link {
                NewLink::Dialled(Ok((r, w))) => {
                    (link_r, link_w) = (Some(r), Some(w));
                    link_in.clear();
                    session.link_up(now());
                }
                NewLink::Dialled(Err(e)) => tracing::debug!(error = %e, "relay: cannot reach the server"),
                NewLink::Attached(a) => {
                    (link_r, link_w) = (Some(a.read), Some(a.write));
                    link_in.clear();
                    link_out.clear();
                    link_out_pos = 0;
                    unflushed = false;
                    session.resume(now(), a.received, a.first_held);
                }
            },
            _ = &mut freed, if starved => {}
            _ = tokio::time::sleep_until(deadline) => session.handle_timeout(now()),
            _ = shutdown.cancelled() => {
                let held = session.held() as u64;
                metrics::counter!("radcare_relay_undeliverable_bytes_total").increment(held);
                tracing::warn!(undeliverable = held, "relay: stopping with bytes held for the peer");
                break;
            }
        }
    }
    // What was received before the end still goes to the application.
    if !detached {
        deliver_rest(&mut session, &mut local_w).await;
    } else if session.dropped() > 0 {
        tracing::debug!(
            dropped = session.dropped(),
            "relay: bytes for an application that was gone"
        );
    }
    budget_track(&settings.budget, &mut held, 0);
    if let Outcome::Expired { received } = &mut outcome {
        *received = session.received();
    }
    outcome
}

/// Writes what is deliverable to the local socket, then closes it.
async fn deliver_rest(session: &mut Session, local_w: &mut tokio::net::tcp::OwnedWriteHalf) {
    loop {
        let d = session.deliverable();
        if d.is_empty() {
            break;
        }
        let n = d.len();
        if local_w.write_all(d).await.is_err() {
            break;
        }
        session.consume(n);
    }
    let _ = local_w.shutdown().await;
}

fn budget_track(budget: &Budget, held: &mut usize, now: usize) {
    budget.track(*held, now);
    *held = now;
}

/// Feeds every whole frame in `buf` to the session; false on a malformed frame, which
/// ends the link (the peer is broken or hostile, and the resume will tell).
fn handle_frames(session: &mut Session, buf: &mut Vec<u8>) -> bool {
    let t = now();
    let mut at = 0;
    loop {
        match next_frame(&buf[at..]) {
            Ok(Some(len)) => {
                let bytes = &buf[at..at + len];
                let parsed = Frame::new_checked(bytes).and_then(|f| Repr::parse(&f));
                match parsed {
                    Ok(repr) => session.handle_frame(t, &repr),
                    Err(e) => {
                        tracing::debug!(error = %e, "relay: bad frame");
                        return false;
                    }
                }
                at += len;
            }
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "relay: bad frame");
                return false;
            }
        }
    }
    buf.drain(..at);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_starved_of_budget_wakes_when_another_releases() {
        let budget = Budget::new(100);
        budget.track(0, 100);
        assert_eq!(budget.room(), 0);
        let waiter = budget.clone();
        let woken = tokio::spawn(async move {
            let freed = waiter.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if waiter.room() == 0 {
                freed.await;
            }
            waiter.room()
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        budget.track(100, 40);
        let room = tokio::time::timeout(Duration::from_secs(1), woken)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(room, 60);
    }
}
