//! `radcare relay client|server`: the two ends of the resumable relay, standalone.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use radcare::part::{Part, Shutdown};
use radcare::relay::prefetch::Prefetch;
use radcare::relay::session::{Key, Limits};
use radcare::relay::tcp::{Budget, RelayClient, RelayServer, Settings};
use radcare::relay::tls::LinkTls;

#[derive(Subcommand)]
pub enum RelayCommand {
    /// The client proxy: applications connect to --listen (A); each connection is a
    /// session carried to the server proxy (--server, link B).
    Client {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        server: SocketAddr,
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        prefetch: PrefetchArgs,
    },
    /// The server proxy: accepts sessions on --listen (link B) and opens one connection
    /// to --target (C) for each.
    Server {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        target: SocketAddr,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args)]
pub struct Common {
    /// The shared key (at least 16 octets), the same file on both ends.
    #[arg(long)]
    key_file: PathBuf,
    /// How long a session outlives a lost link before A and C are closed.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    linger: Duration,
    /// An idle link's keepalive interval; a link silent three times as long is dead.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    keepalive: Duration,
    /// Bytes a session holds unacked per direction (its window).
    #[arg(long, default_value_t = 4 << 20)]
    buffer: usize,
    /// Bytes all sessions of this process hold in total.
    #[arg(long, default_value_t = 256 << 20)]
    total_buffer: usize,
    /// How long a byte may stay unacked before its session is given up.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    max_age: Duration,
    /// Server: TLS on link B with this certificate chain (PEM), and --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Client: TLS on link B; the server's certificate must chain to this CA (PEM).
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// Client: the name the server's certificate must carry (default: its IP address).
    #[arg(long, requires = "tls_ca")]
    tls_name: Option<String>,
}

/// Prefetching on the client proxy, see docs/relay.md.
#[derive(Args)]
pub struct PrefetchArgs {
    /// A path (with its query) to fetch from the server application over the relay
    /// while it is idle, e.g. /tiles/12/2048/1361.png; repeatable. Needs
    /// --prefetch-listen.
    #[arg(long = "prefetch", value_name = "PATH", requires = "prefetch_listen", value_parser = path)]
    paths: Vec<String>,
    /// A path on the server application that lists paths to prefetch, one a line
    /// (what the server proposes); fetched on every round.
    #[arg(long, value_name = "PATH", requires = "prefetch_listen", value_parser = path)]
    prefetch_list: Option<String>,
    /// The local HTTP endpoint serving the prefetched answers by path.
    #[arg(long)]
    prefetch_listen: Option<SocketAddr>,
    /// Body octets the cache holds at most.
    #[arg(long, default_value_t = 64 << 20)]
    prefetch_cache: usize,
    /// How often the paths are fetched again.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    prefetch_every: Duration,
}

/// A path on the server application, as a request line carries it.
fn path(s: &str) -> Result<String, String> {
    if s.starts_with('/') && !s.contains(char::is_whitespace) {
        Ok(s.to_owned())
    } else {
        Err("a path starts with / and has no spaces".into())
    }
}

impl PrefetchArgs {
    async fn prefetch(self) -> Result<Option<Prefetch>> {
        let Some(listen) = self.prefetch_listen else {
            return Ok(None);
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        Ok(Some(Prefetch {
            paths: self.paths,
            list: self.prefetch_list,
            listener,
            limit: self.prefetch_cache,
            every: self.prefetch_every,
        }))
    }
}

impl Common {
    fn settings(&self, server: Option<SocketAddr>) -> Result<Settings> {
        let tls = match (&self.tls_cert, &self.tls_key, &self.tls_ca) {
            (Some(cert), Some(key), _) => LinkTls::server(cert, key)?,
            (_, _, Some(ca)) => {
                let name = match (&self.tls_name, server) {
                    (Some(n), _) => n.clone(),
                    (None, Some(s)) => s.ip().to_string(),
                    (None, None) => bail!("--tls-ca is for the client"),
                };
                LinkTls::client(ca, &name)?
            }
            _ => LinkTls::Plain,
        };
        Ok(Settings {
            key: read_key(&self.key_file)?,
            limits: Limits {
                linger: self.linger,
                keepalive: self.keepalive,
                link_timeout: self.keepalive * 3,
                max_buffer: self.buffer,
                max_age: self.max_age,
            },
            budget: Budget::new(self.total_buffer),
            tls,
        })
    }
}

fn read_key(path: &Path) -> Result<Key> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let key = text.trim_ascii();
    if key.len() < 16 {
        bail!("{}: the key must be at least 16 octets", path.display());
    }
    Ok(Key::new(key))
}

pub fn relay(command: RelayCommand) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(async move {
        let shutdown = Shutdown::new();
        let stop = shutdown.clone();
        let signal = super::serve::stop_signal()?;
        tokio::spawn(async move {
            signal.await;
            stop.cancel();
        });
        match command {
            RelayCommand::Client {
                listen,
                server,
                common,
                prefetch,
            } => {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                let settings = common.settings(Some(server))?;
                let prefetch = prefetch.prefetch().await?;
                tracing::info!(%listen, %server, "relay client started");
                RelayClient {
                    listener,
                    server,
                    settings,
                    prefetch,
                }
                .run(shutdown)
                .await;
            }
            RelayCommand::Server {
                listen,
                target,
                common,
            } => {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen}"))?;
                let settings = common.settings(None)?;
                tracing::info!(%listen, %target, "relay server started");
                RelayServer {
                    listener,
                    target,
                    settings,
                }
                .run(shutdown)
                .await;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
