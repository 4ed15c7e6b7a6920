//! Starting and stopping the whole process: load and check everything, bind every
//! socket, then spawn the long-running parts (RADIUS proxy, garden writer, HTTP, demo
//! AAA) on the one tokio runtime, and stop them together on shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::IntoResponse;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{Config, ConfigErrors, locate_errors};
use crate::dict::Dictionary;
use crate::engine::Engine;
use crate::garden::Garden;
use crate::io::{ProxyDriver, ProxySockets};
use crate::policy::Policy;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    #[error("dictionary: {0}")]
    Dictionary(#[from] crate::dict::DictError),
    #[error("{0}")]
    Bind(#[from] std::io::Error),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// Everything loaded and checked, nothing bound yet.
pub struct Loaded {
    pub config: Config,
    pub dict: Arc<Dictionary>,
    pub policy: Arc<Policy>,
}

/// Loads the dictionary and compiles the policy for a parsed config; errors are located
/// in `text` (the config's source) when they are about it.
pub fn load(config: Config, file: &str, text: &str) -> Result<Loaded, ServeError> {
    let dict = match &config.dictionary {
        Some(p) => Dictionary::load(p)?,
        None => Dictionary::builtin()?,
    };
    // The config's own problems and the policy's, reported together.
    let mut problems = config.validate();
    let policy = match Policy::compile(&config, &dict) {
        Ok(policy) if problems.is_empty() => policy,
        Ok(_) => return Err(locate_errors(file, text, problems).into()),
        Err(p) => {
            problems.extend(p);
            return Err(locate_errors(file, text, problems).into());
        }
    };
    Ok(Loaded {
        config,
        dict: Arc::new(dict),
        policy: Arc::new(policy),
    })
}

/// Reads, parses and checks a config file (or the embedded default).
pub fn load_file(path: Option<&Path>) -> Result<Loaded, ServeError> {
    let (name, text) = match path {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p).map_err(|e| {
                ConfigErrors(vec![crate::config::ConfigError {
                    file: p.display().to_string(),
                    line: 0,
                    column: 0,
                    message: format!("cannot read: {e}"),
                }])
            })?,
        ),
        None => (
            "<embedded>".to_string(),
            crate::config::DEFAULT_CONFIG.to_string(),
        ),
    };
    let config = Config::read(&name, &text)?;
    load(config, &name, &text)
}

/// Extra HTTP routes the caller serves beside ours (the metrics exporter lives in main,
/// because a process has one recorder).
pub type HttpRoutes = Router;

/// A running radcare.
pub struct Running {
    pub auth_addr: SocketAddr,
    pub acct_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub demo_addr: Option<SocketAddr>,
    pub garden: Garden,
    shutdown: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    reloader: Reloader,
}

impl Running {
    /// Applies a reloaded configuration: its RADIUS clients and policy, to every packet
    /// thread and the portal. Anything else that changed needs a restart, and then
    /// nothing is applied: returns those sections.
    pub fn reload(&mut self, loaded: Loaded) -> Result<(), Vec<&'static str>> {
        let r = &mut self.reloader;
        let restart = crate::config::reload::needs_restart(&r.running, &loaded.config);
        if !restart.is_empty() {
            return Err(restart);
        }
        let config = Arc::new(loaded.config);
        let reload = Arc::new(crate::io::Reload {
            config: config.clone(),
            policy: loaded.policy,
        });
        for t in &r.packet_threads {
            let _ = t.send(reload.clone());
        }
        r.portal.store(config.clone());
        r.running = config;
        Ok(())
    }

    /// Signals every part to stop and waits for them, at most `deadline`.
    pub async fn shutdown(self, deadline: Duration) {
        let _ = self.shutdown.send(true);
        let wait = async {
            for (name, t) in self.tasks {
                if let Err(e) = t.await {
                    tracing::warn!(task = name, error = %e, "task ended abnormally");
                }
            }
        };
        if tokio::time::timeout(deadline, wait).await.is_err() {
            tracing::warn!("shutdown deadline passed; some tasks were still running");
        }
    }
}

/// Options beside the config file.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Also start the built-in demo AAA.
    pub demo: bool,
    /// Shadow mode: proxy unchanged, count would-be rewrites.
    pub shadow: bool,
}

/// Binds every socket (so errors come before anything runs), then starts all parts.
pub async fn start(
    loaded: Loaded,
    opts: Options,
    extra_routes: HttpRoutes,
) -> Result<Running, ServeError> {
    let Loaded {
        config,
        dict,
        policy,
    } = loaded;
    let cfg = Arc::new(config);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks: Vec<(&'static str, JoinHandle<()>)> = Vec::new();

    let demo_sockets = if opts.demo {
        let auth = UdpSocket::bind(cfg.demo.listen)
            .await
            .map_err(|e| bind_error(cfg.demo.listen, e))?;
        let acct_addr = SocketAddr::new(
            cfg.demo.listen.ip(),
            auth.local_addr()?.port().wrapping_add(1),
        );
        let acct = UdpSocket::bind(acct_addr)
            .await
            .map_err(|e| bind_error(acct_addr, e))?;
        Some((auth, acct))
    } else {
        None
    };
    let worker_sockets = ProxySockets::bind_all(&cfg)?;
    let bridge_ports = match &cfg.bridge {
        Some(b) => Some(crate::io::bridge::BridgePorts::open(b)?),
        None => None,
    };
    let http = TcpListener::bind(cfg.portal.listen)
        .await
        .map_err(|e| bind_error(cfg.portal.listen, e))?;
    let store = Store::open(&cfg.store.url).await?;
    let garden = Garden::new(Some(store));
    let warmed = garden
        .warm(crate::garden::now_ms() - crate::garden::MEMORY_WINDOW_MS)
        .await;

    let auth_addr = worker_sockets[0].auth_addr()?;
    let acct_addr = worker_sockets[0].acct_addr()?;
    let http_addr = http.local_addr()?;
    let mut demo_addr = None;
    if let Some((auth, acct)) = demo_sockets {
        demo_addr = Some(auth.local_addr()?);
        let secret = cfg.demo.secret.as_bytes().to_vec();
        tasks.push((
            "demo-aaa",
            tokio::spawn(crate::demo::run(auth, acct, secret, shutdown_rx.clone())),
        ));
    }

    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let garden_key: [u8; 8] = seed[..8].try_into().expect("8 octets");
    let mut engines = Vec::with_capacity(worker_sockets.len());
    for _ in 0..worker_sockets.len() {
        // Each worker its own random streams, all the same garden-id key (the seed's
        // first octets), so a subscriber has one garden id whichever thread sees it.
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        seed[..8].copy_from_slice(&garden_key);
        let mut engine = Engine::new(&cfg, dict.clone(), policy.clone(), seed);
        engine.set_shadow(opts.shadow);
        engines.push(engine);
    }
    let (events_tx, events_rx) = mpsc::channel(16 * 1024);
    if let Some(ports) = bridge_ports {
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
        let core = Arc::new(std::sync::Mutex::new(crate::bridge::Bridge::new(
            &cfg, dict, policy, seed,
        )));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = crate::io::bridge::spawn(ports, core, events_tx.clone(), stop.clone())?;
        let mut rx = shutdown_rx.clone();
        tasks.push((
            "bridge",
            tokio::spawn(async move {
                let _ = rx.changed().await;
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                let _ = tokio::task::spawn_blocking(move || {
                    for t in threads {
                        let _ = t.join();
                    }
                })
                .await;
            }),
        ));
    }
    let proxy_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut packet_threads = Vec::with_capacity(engines.len());
    let mut reload_senders = Vec::with_capacity(engines.len());
    for (worker, (engine, sockets)) in engines.into_iter().zip(worker_sockets).enumerate() {
        let driver = ProxyDriver::new(engine, sockets, events_tx.clone(), worker);
        let (reload_tx, reload_rx) = std::sync::mpsc::channel();
        reload_senders.push(reload_tx);
        packet_threads.push(driver.spawn(proxy_stop.clone(), reload_rx)?);
    }
    drop(events_tx);
    let mut rx = shutdown_rx.clone();
    tasks.push((
        "radius-proxy",
        tokio::spawn(async move {
            let _ = rx.changed().await;
            proxy_stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = tokio::task::spawn_blocking(move || {
                for t in packet_threads {
                    let _ = t.join();
                }
            })
            .await;
        }),
    ));
    tasks.push((
        "garden-writer",
        tokio::spawn(garden.clone().run_writer(events_rx)),
    ));

    let mut extra_routes = extra_routes;
    if let Some(p) = &cfg.pppoe {
        let dial: crate::io::bridge::DialView = Default::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = crate::io::bridge::spawn_observer(&p.interface, dial.clone(), stop.clone())?;
        let mut rx = shutdown_rx.clone();
        tasks.push((
            "pppoe-observer",
            tokio::spawn(async move {
                let _ = rx.changed().await;
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }),
        ));
        extra_routes = extra_routes.route(
            "/api/dial-attempts",
            axum::routing::get(
                move |axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>| {
                    let dial = dial.clone();
                    async move {
                        // Subscribers' MACs are for operators only: this listener is the
                        // portal, which every walled-garden subscriber can reach.
                        if !peer.ip().is_loopback() {
                            return axum::http::StatusCode::FORBIDDEN.into_response();
                        }
                        let d = dial.lock().unwrap_or_else(|p| p.into_inner());
                        axum::Json(serde_json::json!({
                            "totals": d.totals(),
                            "subscribers": d.subscriber_count(),
                            "top": d.top(20),
                        }))
                        .into_response()
                    }
                },
            ),
        );
    }
    // The portal (with /healthz) and the caller's routes (/metrics) on one listener.
    let portal = crate::portal::PortalState::new(garden.clone(), cfg.clone());
    let reloader = Reloader {
        running: cfg.clone(),
        packet_threads: reload_senders,
        portal: portal.live(),
    };
    let router = crate::portal::router(portal)
        .merge(extra_routes)
        .into_make_service_with_connect_info::<SocketAddr>();
    let mut http_shutdown = shutdown_rx.clone();
    tasks.push((
        "http",
        tokio::spawn(async move {
            let stop = async move {
                let _ = http_shutdown.changed().await;
            };
            if let Err(e) = axum::serve(http, router).with_graceful_shutdown(stop).await {
                tracing::error!(error = %e, "http server failed");
            }
        }),
    ));

    tracing::info!(
        auth = %auth_addr,
        acct = %acct_addr,
        http = %http_addr,
        demo = ?demo_addr,
        clients = cfg.radius.clients.len(),
        bridge = cfg.bridge.is_some(),
        upstreams = cfg.radius.upstreams.len(),
        garden_warmed = warmed,
        "radcare is serving"
    );
    Ok(Running {
        auth_addr,
        acct_addr,
        http_addr,
        demo_addr,
        garden,
        shutdown,
        tasks,
        reloader,
    })
}

/// Applies a reloaded configuration to the running parts.
struct Reloader {
    running: Arc<Config>,
    packet_threads: Vec<std::sync::mpsc::Sender<Arc<crate::io::Reload>>>,
    portal: Arc<arc_swap::ArcSwap<Config>>,
}

fn bind_error(addr: SocketAddr, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("cannot bind {addr}: {e}"))
}
