//! `serve --demo` tells the whole story: a demo operator for the console, sample
//! subscribers dialling through the proxy (some let into the walled garden, with
//! accounting), three terminals running the real upgrade agent in-process, two
//! releases (one deployed in two rollout groups, one planned over download nodes that
//! this demo serves), and two fault reports: one answered from the knowledge base, one
//! waiting for an operator. Each step is idempotent, so a restarted demo adds nothing
//! twice.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::Path as UrlPath;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::net::UdpSocket;

use crate::console::auth::{Role, hash_password};
use crate::faults::Faults;
use crate::ota::agent::{Agent, Consent, Settings};
use crate::ota::{Ota, Target};
use crate::part::Shutdown;
use crate::planner::{Node, Slots};
use crate::store::console::Operator;
use crate::store::faults::{NewFault, NewReport};
use crate::store::ota::Device;
use crate::store::plan::Plan;
use crate::store::{Store, StoreError};
use crate::wire::attr::types;
use crate::wire::{Builder, Code, Packet, crypto};

/// The console login `serve --demo` prints.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub name: String,
    pub password: String,
}

const OPERATOR: &str = "demo";
const MODEL: &str = "demo-cpe";
const RELEASE: &str = "demo-firmware";
const DEVICES: [(&str, f64, f64); 3] = [
    ("demo-cpe-1", 52.52, 13.40),
    ("demo-cpe-2", 52.53, 13.41),
    ("demo-cpe-3", 48.14, 11.58),
];

/// (user, password, dials): carol, dave, frank and grace are refused for a reason the
/// cause table knows, so let into the garden at once; bob's router has a stale
/// password, a Reject that says nothing more, passed until he is plainly redialling.
const DIALS: [(&str, &str, usize); 6] = [
    ("carol", "carol-pass", 2),
    ("dave", "dave-pass", 1),
    ("frank", "frank-pass", 1),
    ("grace", "grace-pass", 1),
    ("alice", "alice-pass", 2),
    ("bob", "bobs-old-password", 4),
];

/// Makes the demo operator (an admin) with a fresh random password: the one printed is
/// the one that works, also after a restart.
pub async fn operator(store: &Store) -> Result<DemoLogin, StoreError> {
    let mut raw = [0u8; 9];
    crypto::os_random(&mut raw);
    let password = hex::encode(raw);
    let hash = {
        let p = password.clone();
        tokio::task::spawn_blocking(move || hash_password(&p))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default()
    };
    store.console_remove_operator(OPERATOR).await?;
    store
        .console_add_operator(&Operator {
            name: OPERATOR.into(),
            password_hash: hash,
            role: Role::Admin.as_str().into(),
            created_at_ms: crate::garden::now_ms(),
        })
        .await?;
    Ok(DemoLogin {
        name: OPERATOR.into(),
        password,
    })
}

/// The rest of the story, as a part of `serve --demo`.
pub struct Story {
    pub ota: Ota,
    pub faults: Faults,
    pub auth: SocketAddr,
    pub acct: SocketAddr,
    /// The terminal listener the agents talk to.
    pub terminal: SocketAddr,
    /// The secret of the RADIUS client that covers 127.0.0.1, if one does.
    pub nas_secret: Option<Vec<u8>>,
}

impl crate::part::Part for Story {
    fn name(&self) -> &'static str {
        "demo-story"
    }

    async fn run(self, shutdown: Shutdown) {
        let work = async {
            if let Some(secret) = &self.nas_secret
                && let Err(e) = dials(self.auth, self.acct, secret).await
            {
                tracing::warn!(error = %e, "demo: dials failed");
            }
            if let Err(e) = self.fault_reports().await {
                tracing::warn!(error = %e, "demo: fault reports failed");
            }
            let (agents, nodes) = match self.terminals().await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "demo: terminals failed");
                    return;
                }
            };
            let mut tasks = tokio::task::JoinSet::new();
            tasks.spawn(node_server(self.ota.config.state_dir.clone(), nodes));
            for agent in agents {
                tasks.spawn(agent.push_channel());
                tasks.spawn(agent.run(Some(Duration::from_secs(30))));
            }
            // The planned release once the first rollout had time to finish, so each
            // terminal takes the versions in order.
            tokio::time::sleep(Duration::from_secs(10)).await;
            if let Err(e) = self.planned_deployment().await {
                tracing::warn!(error = %e, "demo: planned deployment failed");
            }
            while tasks.join_next().await.is_some() {}
        };
        tokio::select! {
            () = work => {}
            () = shutdown.cancelled() => {}
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum StoryError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Ota(#[from] crate::ota::OtaError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Faults(#[from] crate::faults::FaultError),
    #[error("{0}")]
    Agent(#[from] crate::ota::agent::AgentError),
    #[error("no answer from the proxy")]
    NoAnswer,
}

/// Sends one request from `sock` and waits for its answer.
async fn exchange(sock: &UdpSocket, to: SocketAddr, packet: &[u8]) -> Result<Vec<u8>, StoryError> {
    let mut buf = vec![0u8; 4096];
    for _ in 0..3 {
        sock.send_to(packet, to).await?;
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf)).await
        {
            buf.truncate(n);
            return Ok(buf);
        }
    }
    Err(StoryError::NoAnswer)
}

/// The sample subscribers dial as a NAS on loopback would; the garden Accepts get an
/// Accounting-Start with an address, so the garden shows where they are.
async fn dials(auth: SocketAddr, acct: SocketAddr, secret: &[u8]) -> Result<(), StoryError> {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let mut id = 0u8;
    for (n, (user, password, times)) in DIALS.iter().enumerate() {
        let mac = format!("02:00:5e:00:00:{:02x}", n + 1);
        for _ in 0..*times {
            id = id.wrapping_add(1);
            let mut ra = [0u8; 16];
            crypto::os_random(&mut ra);
            let mut req = Vec::new();
            let mut b = Builder::new(&mut req, Code::AccessRequest, id, &ra);
            b.message_authenticator().ok();
            b.attr(types::USER_NAME, user.as_bytes()).ok();
            let mut hidden = [0u8; crypto::MAX_PASSWORD_LEN];
            let len =
                crypto::hide_password(password.as_bytes(), secret, &ra, &mut hidden).unwrap_or(0);
            b.attr(types::USER_PASSWORD, &hidden[..len]).ok();
            b.attr(types::NAS_IP_ADDRESS, &Ipv4Addr::LOCALHOST.octets())
                .ok();
            b.attr(types::CALLING_STATION_ID, mac.as_bytes()).ok();
            crypto::sign_access_request(&mut req, secret);
            let reply = exchange(&sock, auth, &req).await?;
            let Ok(p) = Packet::new_checked(&reply[..]) else {
                continue;
            };
            let Some(class) = p.find(types::CLASS).map(|c| c.value.to_vec()) else {
                continue;
            };
            if p.code() != Code::AccessAccept {
                continue;
            }
            id = id.wrapping_add(1);
            let framed = Ipv4Addr::new(10, 64, 0, n as u8 + 10);
            let mut req = Vec::new();
            let mut b = Builder::new(&mut req, Code::AccountingRequest, id, &[0; 16]);
            b.attr(types::USER_NAME, user.as_bytes()).ok();
            b.attr_u32(types::ACCT_STATUS_TYPE, 1).ok();
            b.attr(types::ACCT_SESSION_ID, format!("demo-{user}").as_bytes())
                .ok();
            b.attr(types::FRAMED_IP_ADDRESS, &framed.octets()).ok();
            b.attr(types::NAS_IP_ADDRESS, &Ipv4Addr::LOCALHOST.octets())
                .ok();
            b.attr(types::CALLING_STATION_ID, mac.as_bytes()).ok();
            b.attr(types::CLASS, &class).ok();
            crypto::sign_hashed_request(&mut req, secret);
            exchange(&sock, acct, &req).await?;
        }
    }
    Ok(())
}

impl Story {
    /// One report answered from the knowledge base (9018, a bad download: fetch it
    /// again), one with a code nobody knows yet (7001), which waits for an operator.
    async fn fault_reports(&self) -> Result<(), StoryError> {
        let now = crate::garden::now_ms();
        for (id, imsi, code, detail) in [
            (
                "demo-report-1",
                "262019990000001",
                "9018",
                "sha256 mismatch",
            ),
            (
                "demo-report-2",
                "262019990000002",
                "7001",
                "modem firmware refuses the APN",
            ),
        ] {
            self.faults
                .file(&NewReport {
                    report_id: id.into(),
                    channel: "http",
                    identity: ("ip", "10.64.0.99".into()),
                    reply_to: None,
                    imsi: Some(imsi.into()),
                    imei: Some(format!("35999900000{}", &id[id.len() - 1..])),
                    model: Some(MODEL.into()),
                    version: Some("0.9.0".into()),
                    received_at_ms: now,
                    faults: vec![NewFault {
                        code: code.into(),
                        item: Some("firmware.bin".into()),
                        source: Some("http://cdn1.example/firmware.bin".into()),
                        at_ms: Some(now),
                        detail: Some(detail.into()),
                        skipped: None,
                    }],
                })
                .await?;
        }
        Ok(())
    }

    /// Devices, releases, nodes, deployments and a plan; returns the agents to run and
    /// the download nodes' listener (bound here: its address is in the nodes' URL).
    async fn terminals(&self) -> Result<(Vec<Agent>, tokio::net::TcpListener), StoryError> {
        let ota = &self.ota;
        let store = &ota.store;
        let dir = ota.config.state_dir.join("demo");
        std::fs::create_dir_all(&dir)?;
        let mut agents = Vec::new();
        for (id, latitude, longitude) in DEVICES {
            let token_file = dir.join(format!("{id}.token"));
            let token = if store.ota_device(id).await?.is_none() {
                let token = ota
                    .add_device(Device {
                        id: id.into(),
                        token_sha256: String::new(),
                        model: MODEL.into(),
                        tags: "demo".into(),
                        phone: None,
                        latitude: Some(latitude),
                        longitude: Some(longitude),
                        attributes: "{}".into(),
                        created_at_ms: crate::garden::now_ms(),
                        last_seen_ms: None,
                    })
                    .await?;
                std::fs::write(&token_file, &token)?;
                token
            } else {
                std::fs::read_to_string(&token_file)?.trim().to_string()
            };
            agents.push(Agent::new(Settings {
                server: format!("http://{}", self.terminal),
                tenant: ota.config.tenant.clone(),
                device: id.into(),
                token,
                public_key: crate::ota::keys::public_hex(&ota.key),
                state_dir: dir.join(id).join("state"),
                install_dir: dir.join(id).join("installed"),
                consent: Consent::Accept,
                preinstalled: Default::default(),
                max_rate: None,
                location: None,
                fault_report: Default::default(),
            })?);
        }
        for version in ["1.0.0", "1.1.0"] {
            if store.ota_release(RELEASE, version).await?.is_some() {
                continue;
            }
            let file = dir.join("firmware.bin");
            std::fs::write(&file, firmware(version))?;
            crate::ota::release::publish(
                store,
                &ota.config.state_dir,
                &ota.key,
                &crate::ota::release::Publish {
                    name: RELEASE.into(),
                    version: version.into(),
                    models: vec![MODEL.into()],
                    files: vec![file],
                    valid_for: Duration::from_secs(365 * 86_400),
                    force: false,
                },
            )
            .await?;
        }
        let nodes = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let url = format!("http://{}", nodes.local_addr()?);
        for (id, cluster, cap, latitude, longitude) in [
            ("demo-node-berlin", "north", 1, 52.5, 13.4),
            ("demo-node-munich", "south", 2, 48.1, 11.6),
        ] {
            store
                .plan_put_node(&Node {
                    id: id.into(),
                    url: url.clone(),
                    cluster: cluster.into(),
                    latitude,
                    longitude,
                    cap_per_slot: cap,
                    up: true,
                    status_url: None,
                    measured: 0,
                })
                .await?;
        }
        if !self.deployed("1.0.0").await? {
            let target = Target::Model(MODEL.into());
            ota.deploy(RELEASE, "1.0.0", &target, 2, 0, true).await?;
        }
        Ok((agents, nodes))
    }

    async fn deployed(&self, version: &str) -> Result<bool, StoryError> {
        let all = self.ota.store.ota_deployments().await?;
        Ok(all
            .iter()
            .any(|d| d.release_name == RELEASE && d.release_version == version))
    }

    /// 1.1.0 over the download nodes, in two-minute slots from now: each terminal
    /// checks in, is booked on a node with room, and downloads from it at its time.
    async fn planned_deployment(&self) -> Result<(), StoryError> {
        if self.deployed("1.1.0").await? {
            return Ok(());
        }
        let target = Target::Model(MODEL.into());
        let (planned, _) = self
            .ota
            .deploy(RELEASE, "1.1.0", &target, 1, 0, true)
            .await?;
        self.ota
            .store
            .plan_put(&Plan {
                deployment: planned.id,
                slots: Slots {
                    start_ms: crate::garden::now_ms(),
                    length_ms: 2 * 60_000,
                    count: 8,
                },
                allowed: Vec::new(),
            })
            .await?;
        Ok(())
    }
}

/// Some octets that differ per version.
fn firmware(version: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * 1024);
    while out.len() < 64 * 1024 {
        out.extend_from_slice(b"radcare demo firmware ");
        out.extend_from_slice(version.as_bytes());
        out.push(b'\n');
    }
    out
}

/// The demo's download nodes: artifacts by their SHA-256, as nginx over the state
/// directory's `artifacts/` serves them in production.
async fn node_server(state_dir: PathBuf, listener: tokio::net::TcpListener) {
    let app = axum::Router::new().route(
        "/{sha256}",
        axum::routing::get(move |UrlPath(sha): UrlPath<String>, headers: HeaderMap| {
            let state_dir = state_dir.clone();
            async move { artifact(&state_dir, &sha, &headers).await }
        }),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::warn!(error = %e, "demo: download node stopped");
    }
}

async fn artifact(state_dir: &Path, sha: &str, headers: &HeaderMap) -> Response {
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let path = crate::ota::release::artifact_path(state_dir, sha);
    match tokio::fs::metadata(&path).await {
        Ok(m) => crate::ota::download::serve(&path, m.len(), sha, headers).await,
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
