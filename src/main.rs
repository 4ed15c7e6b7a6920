//! The `radcare` command line: `serve` runs the middlebox; the rest are operator tools
//! that use the same code (config check, dictionary check, packet decode, classify,
//! capture analysis).

mod cli_replay;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::routing::get;
use clap::{Parser, Subcommand};

use radcare::analysis::{Analyzer, DEFAULT_PORTS, Settings};
use radcare::capture::CaptureReader;
use radcare::dict::{Dictionary, VENDOR_NONE};
use radcare::server::{self, Options, ServeError};
use radcare::wire::crypto::{self, MaStatus};
use radcare::wire::{Code, Packet};

#[derive(Parser)]
#[command(
    name = "radcare",
    version,
    about = "Inline RADIUS middlebox: explains and fixes dial failures"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy, the portal and the terminal services.
    Serve {
        /// Config file (TOML); without it, the embedded defaults (loopback, SQLite).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Also start a built-in demo AAA with sample subscribers.
        #[arg(long)]
        demo: bool,
        /// Shadow mode: proxy every packet unchanged, but classify each Reject and count
        /// what would have been rewritten (radcare_rejects_total{action="would_rewrite"}).
        #[arg(long)]
        shadow: bool,
    },
    /// Run as a transparent layer-2 bridge (the config's [bridge] section), with the
    /// portal and the rest beside it; needs CAP_NET_RAW.
    Bridge {
        #[arg(long)]
        config: PathBuf,
    },
    /// Validate a config file: exit 0, or print every error and exit 2.
    CheckConfig { file: PathBuf },
    /// Dictionary tools.
    Dict {
        #[command(subcommand)]
        command: DictCommand,
    },
    /// Decode a RADIUS packet given as hex, verifying its authenticators.
    Decode {
        /// Shared secret, to verify authenticators.
        #[arg(long)]
        secret: Option<String>,
        /// The request's authenticator (hex), to verify a reply.
        #[arg(long)]
        request_authenticator: Option<String>,
        /// Dictionary tree to use instead of the built-in one.
        #[arg(long)]
        dictionary: Option<PathBuf>,
        hex: String,
    },
    /// Analyse a pcap or pcapng capture of RADIUS and PPPoE traffic (shadow mode).
    ///
    /// Reads RADIUS (UDP ports 1812, 1813, 1645, 1646, 3799 and any --port) and PPPoE
    /// frames, and reports requests, accepts, rejects per cause, challenges and
    /// accounting; the Rejects radcare would rewrite into a walled-garden Accept; how
    /// fast users redial after a Reject; the most rejected users; and PPPoE dial
    /// attempts per subscriber MAC (the redial-storm view).
    ///
    /// This is radcare's shadow mode: capture on the live network (a mirror port, or
    /// tcpdump/dumpcap beside the AAA) before going inline, and see what radcare would
    /// have done, with your cause table (--config). Link types: Ethernet (VLAN, QinQ),
    /// Linux cooked (SLL, SLL2, `-i any`), raw IP, BSD loopback. See docs/pcap.md.
    Pcap {
        /// The capture file (pcap or pcapng).
        file: PathBuf,
        /// Shared secret: verify Response Authenticators and Message-Authenticators,
        /// and count the invalid ones (which radcare would drop, not rewrite).
        #[arg(long)]
        secret: Option<String>,
        /// Config whose cause table to classify Rejects with; the built-in one otherwise.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print one JSON document instead of tables.
        #[arg(long)]
        json: bool,
        /// Another UDP port carrying RADIUS (repeatable).
        #[arg(long = "port", value_name = "P")]
        ports: Vec<u16>,
        /// How many entries the top lists show.
        #[arg(long, default_value_t = 20)]
        top: usize,
    },
    /// Classify an Access-Reject (hex) with the cause table.
    Classify {
        /// Config whose cause table to use; the built-in one otherwise.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, requires = "request_authenticator")]
        secret: Option<String>,
        #[arg(long, requires = "secret")]
        request_authenticator: Option<String>,
        hex: String,
    },
    /// Load generator: replay radclient-format requests at a fixed window or rate,
    /// verify every reply, print a table and one key=value line.
    ///
    /// Exits 1 when no reply came or a reply did not verify; timeouts alone do not fail
    /// a run.
    Replay(cli_replay::ReplayArgs),
    /// A fast AAA responder for benchmarks: Accept, or Reject (arrears) for a share.
    AaaSim(cli_replay::SimArgs),
    /// The trivial UDP forward (no RADIUS parsing): the yardstick for proxies.
    UdpForward(cli_replay::ForwardArgs),
    /// Simulate routers that redial after a failure; count AAA requests per subscriber.
    Storm(cli_replay::StormArgs),
}

#[derive(Subcommand)]
enum DictCommand {
    /// Load a dictionary tree (ours if no PATH) and print its counts.
    Check { path: Option<PathBuf> },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve {
            config,
            demo,
            shadow,
        } => serve(config, demo, shadow),
        Command::Bridge { config } => match server::load_file(Some(&config)) {
            Ok(l) if l.config.bridge.is_some() => serve(Some(config), false, false),
            Ok(_) => {
                eprintln!(
                    "{}: no [bridge] section (nas_side, aaa_side)",
                    config.display()
                );
                Ok(ExitCode::from(2))
            }
            Err(e) => {
                eprintln!("{e}");
                Ok(ExitCode::from(2))
            }
        },
        Command::CheckConfig { file } => match server::load_file(Some(&file)) {
            Ok(l) => {
                println!(
                    "{}: ok ({} clients, {} upstreams, {} causes, {} profiles)",
                    file.display(),
                    l.config.radius.clients.len(),
                    l.config.radius.upstreams.len(),
                    l.policy.causes.len(),
                    l.policy.profiles.len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("{e}");
                Ok(ExitCode::from(2))
            }
        },
        Command::Dict {
            command: DictCommand::Check { path },
        } => {
            let d = match &path {
                Some(p) => Dictionary::load(p),
                None => Dictionary::builtin(),
            };
            match d {
                Ok(d) => {
                    let c = d.counts();
                    println!(
                        "attributes={} values={} vendors={}",
                        c.attributes, c.values, c.vendors
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{e}");
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Decode {
            secret,
            request_authenticator,
            dictionary,
            hex,
        } => decode(secret, request_authenticator, dictionary, &hex),
        Command::Classify {
            config,
            secret,
            request_authenticator,
            hex,
        } => classify(config, secret, request_authenticator, &hex),
        Command::Replay(args) => cli_replay::replay(args),
        Command::AaaSim(args) => cli_replay::aaa_sim(args),
        Command::UdpForward(args) => cli_replay::udp_forward(args),
        Command::Storm(args) => cli_replay::storm(args),
        Command::Pcap {
            file,
            secret,
            config,
            json,
            ports,
            top,
        } => pcap(PcapArgs {
            file,
            secret,
            config,
            json,
            ports,
            top,
        }),
    }
}

struct PcapArgs {
    file: PathBuf,
    secret: Option<String>,
    config: Option<PathBuf>,
    json: bool,
    ports: Vec<u16>,
    top: usize,
}

/// `radcare pcap`: the whole capture through the analyzer, then one report. A capture
/// that breaks off (truncated, corrupt) still gets the report of what came before, and
/// the exit status says it broke.
fn pcap(args: PcapArgs) -> Result<ExitCode> {
    let loaded = match server::load_file(args.config.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let name = args.file.display().to_string();
    let file = std::fs::File::open(&args.file).with_context(|| format!("cannot open {name}"))?;
    let mut reader = match CaptureReader::new(file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {name}: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let mut ports = DEFAULT_PORTS.to_vec();
    ports.extend(&args.ports);
    ports.sort_unstable();
    ports.dedup();
    let settings = Settings {
        ports,
        secret: args.secret.map(String::into_bytes),
        top: args.top,
    };
    let mut analyzer = Analyzer::new(settings, loaded.policy, loaded.dict);
    let error = loop {
        match reader.next_record() {
            Ok(Some(r)) => analyzer.observe(r.timestamp, r.link, r.data),
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    let mut report = analyzer.report();
    report.source = Some(format!("{name} ({})", reader.format()));
    report.error = error.as_ref().map(ToString::to_string);
    let out = if args.json {
        let mut s = serde_json::to_string_pretty(&report).context("cannot write JSON")?;
        s.push('\n');
        s
    } else {
        report.to_text()
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(e).context("cannot write the report");
        }
        _ => {}
    }
    if let Some(e) = error {
        eprintln!("error: {name}: {e}");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(config: Option<PathBuf>, demo: bool, shadow: bool) -> Result<ExitCode> {
    let loaded = match server::load_file(config.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(async move {
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .context("cannot install the metrics recorder")?;
        // Histogram samples queue in the recorder until folded in; with nobody scraping
        // /metrics they would grow without bound (tens of MB per minute at line rate).
        let upkeep = metrics.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                tick.tick().await;
                upkeep.run_upkeep();
            }
        });
        let routes = Router::new().route(
            "/metrics",
            get(move || std::future::ready(metrics.render())),
        );
        let mut running = match server::start(loaded, Options { demo, shadow }, routes).await {
            Ok(r) => r,
            Err(ServeError::Bind(e)) => bail!("{e}"),
            Err(e) => bail!("{e}"),
        };
        if let Some(d) = running.demo_addr {
            eprintln!(
                "demo AAA on {d}; try: radtest carol carol-pass {} 0 testing123",
                running.auth_addr
            );
        }
        let stop = wait_for_signal();
        tokio::pin!(stop);
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("cannot listen for SIGHUP")?;
        loop {
            #[cfg(unix)]
            let hangup = hup.recv();
            #[cfg(not(unix))]
            let hangup = std::future::pending::<Option<()>>();
            tokio::select! {
                _ = &mut stop => break,
                _ = hangup => reload(&mut running, config.as_deref()),
            }
        }
        tracing::info!("shutting down");
        running.shutdown(Duration::from_secs(5)).await;
        Ok(ExitCode::SUCCESS)
    })
}

/// SIGHUP: reads the config file again; applies its RADIUS clients and policy, or says
/// why not (errors with file:line, or the sections that need a restart) and keeps
/// running as before.
fn reload(running: &mut server::Running, config: Option<&std::path::Path>) {
    let Some(path) = config else {
        tracing::warn!("SIGHUP: running on the embedded configuration; nothing to reload");
        return;
    };
    match server::load_file(Some(path)) {
        Err(e) => {
            for line in e.to_string().lines() {
                tracing::error!(config = %path.display(), "reload refused: {line}");
            }
        }
        Ok(loaded) => match running.reload(loaded) {
            Ok(()) => {
                tracing::info!(config = %path.display(), "reloaded: RADIUS clients and policy")
            }
            Err(sections) => tracing::error!(
                config = %path.display(),
                needs_restart = %sections.join(", "),
                "reload refused: these changes need a restart; nothing was applied"
            ),
        },
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn parse_hex(s: &str) -> Result<Vec<u8>> {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    let clean = clean.strip_prefix("0x").unwrap_or(&clean);
    hex::decode(clean).context("not valid hex")
}

fn parse_auth(s: &str) -> Result<[u8; 16]> {
    parse_hex(s)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("a request authenticator is 16 octets (32 hex digits)"))
}

fn decode(
    secret: Option<String>,
    request_auth: Option<String>,
    dictionary: Option<PathBuf>,
    hex: &str,
) -> Result<ExitCode> {
    let bytes = parse_hex(hex)?;
    let p = Packet::new_checked(&bytes[..]).context("not a RADIUS packet")?;
    let dict = match dictionary {
        Some(path) => Dictionary::load(&path)?,
        None => Dictionary::builtin()?,
    };
    let req_auth = request_auth.as_deref().map(parse_auth).transpose()?;
    println!(
        "code={} id={} length={}",
        p.code().name(),
        p.identifier(),
        p.length()
    );
    if let Some(secret) = &secret {
        let s = secret.as_bytes();
        let auth = if p.code().has_hashed_request_authenticator() {
            verdict(crypto::verify_hashed_request(p.as_bytes(), s))
        } else if p.code().is_response() {
            match &req_auth {
                Some(ra) => verdict(crypto::verify_response(p.as_bytes(), ra, s)),
                None => "unverified (give --request-authenticator)",
            }
        } else {
            "nonce (a request authenticator is random)"
        };
        println!("authenticator={auth}");
        let ma = crypto::verify_message_authenticator(p.as_bytes(), req_auth.as_ref(), s);
        let ma = match (ma, p.code().is_response(), &req_auth) {
            (MaStatus::Absent, ..) => "absent",
            (_, true, None) => "unverified (give --request-authenticator)",
            (m, ..) => m.as_str(),
        };
        println!("message-authenticator={ma}");
    }
    for a in p.attrs() {
        if let Some(vsa) = a.vsa() {
            for s in vsa.subs() {
                match s {
                    Ok(s) => println!(
                        "{}",
                        describe(&dict, vsa.vendor, s.typ, s.value, &p, secret.as_deref())
                    ),
                    Err(_) => println!("Vendor-Specific = 0x{} (malformed)", hex::encode(a.value)),
                }
            }
        } else {
            println!(
                "{}",
                describe(
                    &dict,
                    VENDOR_NONE,
                    u32::from(a.typ),
                    a.value,
                    &p,
                    secret.as_deref()
                )
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "valid" } else { "invalid" }
}

fn describe(
    dict: &Dictionary,
    vendor: u32,
    typ: u32,
    value: &[u8],
    p: &Packet<&[u8]>,
    secret: Option<&str>,
) -> String {
    let Some(def) = dict.attr(vendor, typ) else {
        let name = if vendor == VENDOR_NONE {
            format!("Attr-{typ}")
        } else {
            format!("Attr-26.{vendor}.{typ}")
        };
        return format!("{name} = 0x{}", hex::encode(value));
    };
    if vendor == VENDOR_NONE && typ == u32::from(radcare::wire::attr::types::USER_PASSWORD) {
        // Never print a password; say whether it un-hides to text with this secret.
        let note = match secret {
            Some(s) if p.code() == Code::AccessRequest => {
                let mut out = [0u8; crypto::MAX_PASSWORD_LEN];
                match crypto::unhide_password(value, s.as_bytes(), p.authenticator(), &mut out) {
                    Ok(n)
                        if std::str::from_utf8(&out[..n])
                            .is_ok_and(|t| !t.chars().any(char::is_control)) =>
                    {
                        format!("<hidden, {n} characters>")
                    }
                    _ => "<hidden, does not un-hide to text with this secret>".into(),
                }
            }
            _ => format!("<hidden, {} octets>", value.len()),
        };
        return format!("{} = {note}", def.name);
    }
    format!("{} = {}", def.name, dict.format_value(def, value))
}

fn classify(
    config: Option<PathBuf>,
    secret: Option<String>,
    request_auth: Option<String>,
    hex: &str,
) -> Result<ExitCode> {
    let loaded = match server::load_file(config.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(2));
        }
    };
    let bytes = parse_hex(hex)?;
    let p = Packet::new_checked(&bytes[..]).context("not a RADIUS packet")?;
    let c = loaded.policy.classify(p.as_bytes(), &loaded.dict);
    println!("cause={}", c.id);
    println!(
        "action={}",
        match c.action {
            radcare::config::Action::Rewrite => "rewrite",
            radcare::config::Action::Pass => "pass",
        }
    );
    println!("why={}", c.why);
    if !c.reason.is_empty() {
        println!("reason={:?}", c.reason);
    }
    if p.code() != Code::AccessReject {
        println!("note=packet is a {}, not an Access-Reject", p.code().name());
    }
    if let (Some(s), Some(ra)) = (secret, request_auth) {
        let ra = parse_auth(&ra)?;
        println!(
            "authenticator={}",
            verdict(crypto::verify_response(p.as_bytes(), &ra, s.as_bytes()))
        );
        let ma = crypto::verify_message_authenticator(p.as_bytes(), Some(&ra), s.as_bytes());
        println!("message-authenticator={}", ma.as_str());
    }
    Ok(ExitCode::SUCCESS)
}
