//! Starting and stopping the whole process: load and check everything, bind every
//! socket, build the parts, run them on the one tokio runtime, and on shutdown stop
//! them together within a deadline (`crate::part`).
//!
//! Audiences get a listener each: `[portal] listen` for subscribers (the portal, OS
//! probes, RFC 8908, /healthz), `[admin] listen` for operators (/metrics, the APIs).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::{TcpListener, UdpSocket};

use crate::config::{Config, ConfigErrors, locate_errors};
use crate::dict::Dictionary;
use crate::engine::{Engine, Learnt};
use crate::events::EventBus;
use crate::garden::Garden;
use crate::io::http::HttpFace;
use crate::io::{ProxyDriver, ProxySockets};
use crate::part::{Parts, Shutdown, Threads};
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
    #[error("terminal services: {0}")]
    Ota(#[from] crate::ota::OtaError),
    #[error("relay: {0}")]
    Relay(#[from] crate::relay::tls::TlsError),
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

/// A running radcare.
pub struct Running {
    pub auth_addr: SocketAddr,
    pub acct_addr: SocketAddr,
    /// The subscribers' listener (portal).
    pub portal_addr: SocketAddr,
    /// The operators' listener (metrics, APIs).
    pub admin_addr: SocketAddr,
    /// The devices' listener (software deployment).
    pub terminal_addr: SocketAddr,
    pub demo_addr: Option<SocketAddr>,
    /// The console login `serve --demo` made.
    pub demo_login: Option<crate::demo::story::DemoLogin>,
    pub garden: Garden,
    parts: Parts,
    reloader: Reloader,
}

impl Running {
    /// Applies a reloaded configuration: its RADIUS clients, policy and dictionary to
    /// every packet thread, and a new portal (texts, brand, links). Anything else that changed needs a restart, and then
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
            dict: loaded.dict,
            policy: loaded.policy,
        });
        for t in &r.packet_threads {
            let _ = t.send(reload.clone());
        }
        // A new portal (its texts, brand and links are built once per router); requests
        // in flight finish on the old one.
        let state = crate::portal::PortalState::new(r.garden.clone(), config.clone());
        r.portal.store(Arc::new(crate::portal::router(state)));
        r.live.store(config.clone());
        r.running = config;
        Ok(())
    }

    /// Stops every part and waits for them, at most `deadline` in all: the packet
    /// threads first, then the garden writer drains what they published, and the HTTP
    /// listeners finish their in-flight requests.
    pub async fn shutdown(self, deadline: Duration) {
        self.parts.stop(deadline).await;
    }
}

/// Options beside the config file.
#[derive(Clone, Default)]
pub struct Options {
    /// Also start the built-in demo AAA.
    pub demo: bool,
    /// Shadow mode: proxy unchanged, count would-be rewrites.
    pub shadow: bool,
    /// The process's Prometheus recorder (a process has one, installed by `main`),
    /// rendered at `/metrics` on the admin listener.
    pub metrics: Option<PrometheusHandle>,
}

/// Every socket and listener, bound before anything runs, so that a taken port or a
/// missing interface is refused at start with nothing half-started.
struct Bound {
    demo: Option<(UdpSocket, UdpSocket)>,
    radius: Vec<ProxySockets>,
    bridge: Option<crate::io::bridge::BridgePorts>,
    pppoe: Option<crate::io::packet_socket::PacketSocket>,
    portal: TcpListener,
    admin: TcpListener,
    terminal: TcpListener,
    relay: Option<TcpListener>,
}

impl Bound {
    async fn bind(cfg: &Config, opts: &Options) -> Result<Bound, ServeError> {
        let demo = if opts.demo {
            let auth = bind_udp(cfg.demo.listen).await?;
            let acct_addr = SocketAddr::new(
                cfg.demo.listen.ip(),
                auth.local_addr()?.port().wrapping_add(1),
            );
            Some((auth, bind_udp(acct_addr).await?))
        } else {
            None
        };
        Ok(Bound {
            demo,
            radius: ProxySockets::bind_all(cfg)?,
            bridge: match &cfg.bridge {
                Some(b) => Some(crate::io::bridge::BridgePorts::open(b)?),
                None => None,
            },
            pppoe: match &cfg.pppoe {
                Some(p) => Some(crate::io::bridge::open_observer(&p.interface)?),
                None => None,
            },
            portal: bind_tcp(cfg.portal.listen).await?,
            admin: bind_tcp(cfg.admin.listen).await?,
            terminal: bind_tcp(cfg.terminal.listen).await?,
            relay: match &cfg.relay {
                Some(r) => Some(bind_tcp(r.listen).await?),
                None => None,
            },
        })
    }
}

/// Loads the garden, binds everything, then starts every part.
pub async fn start(loaded: Loaded, opts: Options) -> Result<Running, ServeError> {
    let Loaded {
        config,
        dict,
        policy,
    } = loaded;
    let cfg = Arc::new(config);
    let relay = match &cfg.relay {
        Some(r) => Some(crate::relay::tcp::Settings::from_config(r)?),
        None => None,
    };
    let bound = Bound::bind(&cfg, &opts).await?;
    let store = Store::open(&cfg.store.url).await?;
    let ota = crate::ota::Ota::open(store.clone(), cfg.terminal.clone())?;
    let garden = Garden::new(Some(store));
    let warmed = garden
        .warm(crate::garden::now_ms() - crate::garden::MEMORY_WINDOW_MS)
        .await;

    let auth_addr = bound.radius[0].auth_addr()?;
    let acct_addr = bound.radius[0].acct_addr()?;
    let portal_addr = bound.portal.local_addr()?;
    let admin_addr = bound.admin.local_addr()?;
    let terminal_addr = bound.terminal.local_addr()?;
    let demo_addr = match &bound.demo {
        Some((auth, _)) => Some(auth.local_addr()?),
        None => None,
    };

    let shutdown = Shutdown::new();
    let mut parts = Parts::new(shutdown.clone());
    let bus = EventBus::default();
    // Subscribed before any publisher starts, so the writer sees every event.
    let garden_events = bus.subscribe("garden");

    let mut seed = [0u8; 32];
    crate::wire::crypto::os_random(&mut seed);
    let garden_key: [u8; 8] = seed[..8].try_into().expect("8 octets");
    let mut reload_senders = Vec::with_capacity(bound.radius.len());
    let mut drivers = Vec::with_capacity(bound.radius.len());
    // A NAS's requests may land on any worker (by source port): what `auto` learns of
    // Message-Authenticators holds for all of them.
    let learnt = Arc::new(Learnt::new(&cfg));
    for (worker, sockets) in bound.radius.into_iter().enumerate() {
        // Each worker its own random streams, all the same garden-id key (the seed's
        // first octets), so a subscriber has one garden id whichever thread sees it.
        crate::wire::crypto::os_random(&mut seed);
        seed[..8].copy_from_slice(&garden_key);
        let mut engine =
            Engine::new(&cfg, dict.clone(), policy.clone(), seed).sharing(learnt.clone());
        engine.set_shadow(opts.shadow);
        let (reload_tx, reload_rx) = std::sync::mpsc::channel();
        reload_senders.push(reload_tx);
        drivers.push((
            ProxyDriver::new(engine, sockets, bus.clone(), worker),
            reload_rx,
        ));
    }
    parts.start(Threads::spawn("radius-proxy", &shutdown, |stop| {
        drivers
            .into_iter()
            .map(|(driver, reloads)| driver.spawn(stop.clone(), reloads))
            .collect()
    })?);
    if let Some(ports) = bound.bridge {
        crate::wire::crypto::os_random(&mut seed);
        let core = Arc::new(std::sync::Mutex::new(crate::bridge::Bridge::new(
            &cfg,
            dict.clone(),
            policy.clone(),
            seed,
        )));
        let events = bus.clone();
        parts.start(Threads::spawn("bridge", &shutdown, |stop| {
            crate::io::bridge::spawn(ports, core, events, stop)
        })?);
    }
    // The publishers hold the only other handles: once they stop, the writer drains
    // what they sent and ends.
    drop(bus);
    let writer = garden.clone();
    parts.start_task("garden-writer", move |_| writer.run_writer(garden_events));

    let mut admin = crate::admin::AdminState {
        metrics: opts.metrics.clone(),
        store: Some(ota.store.clone()),
        garden: Some(garden.clone()),
        learnt: Some(learnt.clone()),
        ..Default::default()
    };
    if let Some(sock) = bound.pppoe {
        let dial: crate::io::bridge::DialView = Default::default();
        admin.dial = Some(dial.clone());
        parts.start(Threads::spawn("pppoe-observer", &shutdown, |stop| {
            Ok(vec![crate::io::bridge::spawn_observer(sock, dial, stop)?])
        })?);
    }
    if let Some(handle) = opts.metrics.clone() {
        let series = admin.series.clone();
        parts.start_task("console-sampler", move |stop| {
            crate::console::run_sampler(handle, series, stop)
        });
    }
    if let Some(handle) = opts.metrics {
        parts.start(crate::telemetry::Upkeep { handle });
    }
    if let Some((auth, acct)) = bound.demo {
        parts.start(crate::demo::DemoAaa {
            auth,
            acct,
            secret: cfg.demo.secret.as_bytes().to_vec(),
        });
    }

    let portal = crate::portal::PortalState::new(garden.clone(), cfg.clone());
    // The console reads the running config (RADIUS clients for a disconnect) as
    // reloads change it.
    let live = portal.live();
    admin.config = Some(live.clone());
    let portal = Arc::new(arc_swap::ArcSwap::from_pointee(crate::portal::router(
        portal,
    )));
    let reloader = Reloader {
        running: cfg.clone(),
        packet_threads: reload_senders,
        garden: garden.clone(),
        portal: portal.clone(),
        live,
    };
    parts.start(HttpFace {
        name: "portal",
        listener: bound.portal,
        router: swappable(portal),
    });
    parts.start(crate::ota::notice::Notifier { ota: ota.clone() });
    parts.start(crate::planner::probe::Probe {
        store: ota.store.clone(),
        every: cfg.planner.probe_interval,
        failures: cfg.planner.probe_failures,
    });
    let faults = crate::faults::Faults::new(ota.clone());
    admin.faults = Some(faults.clone());
    parts.start(HttpFace {
        name: "admin",
        listener: bound.admin,
        router: crate::admin::router(admin),
    });
    let demo_login = if opts.demo {
        parts.start(crate::demo::story::Story {
            ota: ota.clone(),
            faults: faults.clone(),
            auth: auth_addr,
            acct: acct_addr,
            terminal: terminal_addr,
            nas_secret: cfg
                .radius
                .clients
                .iter()
                .find(|c| c.address.contains(&std::net::IpAddr::from([127, 0, 0, 1])))
                .map(|c| c.secret.as_bytes().to_vec()),
        });
        Some(crate::demo::story::operator(&ota.store).await?)
    } else {
        None
    };
    parts.start(crate::faults::SmsReplies {
        faults: faults.clone(),
    });
    parts.start(HttpFace {
        name: "terminal",
        listener: bound.terminal,
        router: crate::ota::ddi::router(ota).merge(crate::faults::api::router(faults)),
    });

    if let (Some(listener), Some(settings), Some(r)) = (bound.relay, relay, &cfg.relay) {
        parts.start(crate::relay::tcp::RelayPart::new(r, settings, listener));
    }

    tracing::info!(
        version = crate::telemetry::VERSION,
        commit = crate::telemetry::COMMIT,
        auth = %auth_addr,
        acct = %acct_addr,
        portal = %portal_addr,
        admin = %admin_addr,
        terminal = %terminal_addr,
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
        portal_addr,
        admin_addr,
        terminal_addr,
        demo_addr,
        demo_login,
        garden,
        parts,
        reloader,
    })
}

async fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    UdpSocket::bind(addr).await.map_err(|e| bind_error(addr, e))
}

async fn bind_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| bind_error(addr, e))
}

/// Applies a reloaded configuration to the running parts.
struct Reloader {
    running: Arc<Config>,
    packet_threads: Vec<std::sync::mpsc::Sender<Arc<crate::io::Reload>>>,
    garden: Garden,
    /// The portal's router, replaced on reload.
    portal: Arc<arc_swap::ArcSwap<axum::Router>>,
    /// The running config the console reads.
    live: Arc<arc_swap::ArcSwap<Config>>,
}

/// A router that hands each request to whichever router `current` holds then.
fn swappable(current: Arc<arc_swap::ArcSwap<axum::Router>>) -> axum::Router {
    axum::Router::new().fallback_service(tower::service_fn(move |req: axum::extract::Request| {
        let router = axum::Router::clone(&current.load());
        async move { tower::ServiceExt::oneshot(router, req).await }
    }))
}

fn bind_error(addr: SocketAddr, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("cannot bind {addr}: {e}"))
}
