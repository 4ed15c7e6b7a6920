//! The command lines of the benchmark kit (`replay`, `aaa-sim`, `udp-forward`, `storm`):
//! argument parsing and printing only; the work is in `radcare::replay`.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use radcare::dict::Dictionary;

use super::secret::SecretRequired;
use radcare::io::batch;
use radcare::replay::{self, Keys, MaPolicy, Mode, forward, generator, report, sim, storm};
use radcare::wire::Code;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Kind {
    /// Access-Requests (default port 1812).
    Auth,
    /// Accounting-Requests (default port 1813).
    Acct,
    /// Status-Server (default port 1812).
    Status,
}

impl Kind {
    fn code(self) -> Code {
        match self {
            Kind::Auth => Code::AccessRequest,
            Kind::Acct => Code::AccountingRequest,
            Kind::Status => Code::StatusServer,
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Kind::Acct => 1813,
            Kind::Auth | Kind::Status => 1812,
        }
    }
}

/// `radcare replay [-f FILE] [--window N | --rate R] SERVER auth|acct|status SECRET`
///
/// Exits 0 when replies came and none was invalid, 1 otherwise (timeouts alone do not
/// fail a run: a benchmark past a peer's capacity is still a result).
#[derive(Args)]
pub struct ReplayArgs {
    /// Read the requests from FILE (radclient's format) instead of standard input.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Closed loop: keep this many requests in flight.
    #[arg(long, default_value_t = 64, value_name = "N", conflicts_with = "rate")]
    window: usize,
    /// Open loop: send this many requests per second (instead of a window).
    #[arg(long, value_name = "REQ_PER_S")]
    rate: Option<f64>,
    /// Stop after this many requests (the input repeats cyclically).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Stop sending after this many seconds (whichever of --count and this comes first).
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    duration: f64,
    /// Seconds to wait for a reply.
    #[arg(long, default_value_t = 2.0, value_name = "SECS")]
    timeout: f64,
    /// Retransmissions of an unanswered request.
    #[arg(long, default_value_t = 0, value_name = "N")]
    retries: u32,
    /// Add no Message-Authenticator to Access-Requests unless the input has one (as
    /// radclient does).
    #[arg(long)]
    no_message_authenticator: bool,
    /// Sockets to spread request identifiers over (default: from the window or rate).
    #[arg(long, value_name = "N")]
    sockets: Option<usize>,
    /// A FreeRADIUS dictionary to read attribute names from (default: radcare's own).
    #[arg(long, value_name = "FILE")]
    dictionary: Option<PathBuf>,
    /// Local address to send from.
    #[arg(long, value_name = "IP")]
    bind: Option<IpAddr>,
    /// HOST[:PORT] of the RADIUS server.
    server: String,
    /// What to send, as radclient's command (a Packet-Type line in the input wins).
    kind: Kind,
    #[command(flatten)]
    secret: SecretRequired,
}

fn seconds(name: &str, v: f64) -> Result<Duration> {
    if v.is_nan() || v <= 0.0 {
        bail!("--{name} must be more than 0 seconds");
    }
    Duration::try_from_secs_f64(v).with_context(|| format!("--{name} {v} is not a duration"))
}

/// HOST, HOST:PORT, IPv6 or [IPv6]:PORT.
fn resolve(server: &str, default_port: u16) -> Result<SocketAddr> {
    if let Ok(a) = server.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = server.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    let (host, port) = match server.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (
            h,
            p.parse::<u16>()
                .with_context(|| format!("bad port in {server:?}"))?,
        ),
        _ => (server, default_port),
    };
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host:?}"))?
        .next()
        .with_context(|| format!("{host:?} has no address"))
}

/// Reads radclient-format requests from `file` or standard input and encodes them.
fn read_templates(
    file: Option<&PathBuf>,
    dictionary: Option<&PathBuf>,
    code: Code,
    ma: MaPolicy,
) -> Result<Vec<replay::Template>> {
    let text = match file {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading requests from standard input")?;
            s
        }
    };
    // `status` needs no attributes: an empty input is one bare Status-Server.
    let blank = text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
    let text = if code == Code::StatusServer && blank {
        "Packet-Type = Status-Server\n".to_string()
    } else {
        text
    };
    let dict = match dictionary {
        Some(p) => Dictionary::load(p)?,
        None => Dictionary::builtin()?,
    };
    let source = file.map_or("standard input".to_string(), |p| p.display().to_string());
    replay::load_templates(&text, &dict, code, ma).with_context(|| format!("in {source}"))
}

pub fn replay(a: ReplayArgs) -> Result<ExitCode> {
    let server = resolve(&a.server, a.kind.default_port())?;
    let mode = match a.rate {
        Some(r) if r > 0.0 && r.is_finite() => Mode::Rate(r),
        Some(r) => bail!("--rate {r}: must be a positive number of requests per second"),
        None if a.window == 0 => bail!("--window must be at least 1"),
        None => Mode::Window(a.window),
    };
    let ma = if a.no_message_authenticator {
        MaPolicy::AsInput
    } else {
        MaPolicy::Add
    };
    let templates = read_templates(a.file.as_ref(), a.dictionary.as_ref(), a.kind.code(), ma)?;
    let opts = replay::Options {
        server,
        bind: a.bind,
        keys: Keys::new(a.secret.get()?.as_bytes()),
        templates,
        mode,
        count: a.count,
        duration: seconds("duration", a.duration)?,
        timeout: seconds("timeout", a.timeout)?,
        retries: a.retries,
        sockets: a.sockets,
    };
    let stop = batch::stop_on_signals();
    let progress = replay::Progress::default();
    let done = std::sync::atomic::AtomicBool::new(false);
    let stats = std::thread::scope(|s| {
        s.spawn(|| super::progress::replay(&progress, &done, opts.count, opts.duration));
        let stats = generator::run_with_progress(&opts, stop, Some(&progress));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        stats
    })
    .context("replay failed")?;
    let mut out = std::io::stdout().lock();
    write!(
        out,
        "{}",
        report::table(&stats, &server.to_string(), mode, opts.socket_count())
    )?;
    writeln!(out, "{}", report::key_values(&stats))?;
    out.flush()?;
    Ok(if stats.received > 0 && stats.invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `radcare aaa-sim --listen ADDR --secret S [--reject-percent P]`
#[derive(Args)]
pub struct SimArgs {
    /// Auth address; accounting listens on the next port.
    #[arg(long, default_value = "127.0.0.1:11812")]
    listen: SocketAddr,
    /// Shared secret for every client.
    #[arg(
        long,
        default_value = "aaa-secret",
        env = "RADCARE_SECRET",
        hide_env_values = true
    )]
    secret: String,
    /// Share of Access-Requests answered with an arrears Reject (deterministic: every
    /// n-th request).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(0..=100))]
    reject_percent: u8,
}

pub fn aaa_sim(a: SimArgs) -> Result<ExitCode> {
    let s = sim::Sim::bind(&sim::SimOptions {
        listen: a.listen,
        secret: a.secret.into_bytes(),
        reject_percent: a.reject_percent,
    })?;
    println!("aaa-sim auth={} acct={}", s.auth_addr()?, s.acct_addr()?);
    std::io::stdout().flush()?;
    let stats = s.run(batch::stop_on_signals())?;
    println!("{}", stats.key_values());
    Ok(ExitCode::SUCCESS)
}

/// `radcare udp-forward --listen ADDR --to ADDR`
#[derive(Args)]
pub struct ForwardArgs {
    #[arg(long)]
    listen: SocketAddr,
    #[arg(long)]
    to: SocketAddr,
    /// Upstream sockets: how many requests with the same identifier can be in flight.
    #[arg(long, default_value_t = 4)]
    upstream_sockets: usize,
}

pub fn udp_forward(a: ForwardArgs) -> Result<ExitCode> {
    let f = forward::Forward::bind(&forward::ForwardOptions {
        listen: a.listen,
        to: a.to,
        upstream_sockets: a.upstream_sockets,
        lifetime: Duration::from_secs(5),
    })?;
    println!("udp-forward listen={} to={}", f.local_addr()?, a.to);
    std::io::stdout().flush()?;
    let stats = f.run(batch::stop_on_signals())?;
    println!("{}", stats.key_values());
    Ok(ExitCode::SUCCESS)
}

/// `radcare storm [-f FILE] [--subscribers N] SERVER SECRET`
#[derive(Args)]
pub struct StormArgs {
    /// The subscribers' Access-Requests (radclient's format); subscriber i sends request
    /// i modulo their number. Standard input when absent.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// Routers to simulate (default: one per request in the input).
    #[arg(long, value_name = "N")]
    subscribers: Option<usize>,
    /// Seconds a router waits before redialling after a failure.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    redial: f64,
    /// Uniform jitter on the redial interval, +/- this many seconds.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    jitter: f64,
    /// Seconds to wait for an answer before counting a failure.
    #[arg(long, default_value_t = 3.0, value_name = "SECS")]
    timeout: f64,
    /// Session length when an Accept has no Session-Timeout.
    #[arg(long, default_value_t = 3600.0, value_name = "SECS")]
    default_session: f64,
    /// Seconds to run.
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    duration: f64,
    /// A FreeRADIUS dictionary to read attribute names from (default: radcare's own).
    #[arg(long, value_name = "FILE")]
    dictionary: Option<PathBuf>,
    /// HOST[:PORT] of the RADIUS server (port 1812 by default).
    server: String,
    #[command(flatten)]
    secret: SecretRequired,
}

pub fn storm(a: StormArgs) -> Result<ExitCode> {
    let server = resolve(&a.server, 1812)?;
    let templates = read_templates(
        a.file.as_ref(),
        a.dictionary.as_ref(),
        Code::AccessRequest,
        MaPolicy::Add,
    )?;
    let redial = seconds("redial", a.redial)?;
    let jitter = if a.jitter == 0.0 {
        Duration::ZERO
    } else {
        seconds("jitter", a.jitter)?
    };
    if jitter > redial {
        bail!("--jitter must not exceed --redial");
    }
    let opts = storm::StormOptions {
        server,
        keys: Keys::new(a.secret.get()?.as_bytes()),
        subscribers: a.subscribers.unwrap_or(templates.len()).max(1),
        templates,
        redial,
        jitter,
        timeout: seconds("timeout", a.timeout)?,
        default_session: seconds("default-session", a.default_session)?,
        duration: seconds("duration", a.duration)?,
    };
    let r = storm::run(&opts, batch::stop_on_signals()).context("storm failed")?;
    println!(
        "radcare storm to {server}: {} subscribers for {:.0} s, redial {:.1} s +/- {:.1} s",
        r.subscribers,
        r.duration.as_secs_f64(),
        redial.as_secs_f64(),
        jitter.as_secs_f64()
    );
    println!(
        "  answers          {} accepts ({} walled-garden), {} rejects, {} challenges, {} timeouts, {} invalid",
        r.accepts, r.garden, r.rejects, r.challenges, r.timeouts, r.invalid
    );
    println!(
        "  failing subs     {} (rejected by the AAA, directly or rewritten)",
        r.failing
    );
    println!(
        "  requests each    {:.2} in the run; per hour: {:.0} (run x {:.0}), {:.0} (the routers' schedule)",
        r.per_failing(),
        r.per_hour_measured(),
        3600.0 / r.duration.as_secs_f64().max(1e-9),
        r.per_hour_schedule()
    );
    println!("{}", r.key_values());
    Ok(ExitCode::SUCCESS)
}
