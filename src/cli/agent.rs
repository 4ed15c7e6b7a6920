//! `radcare agent`: the upgrade agent a terminal runs against a radcare (or hawkBit)
//! server's device API. See docs/ota.md.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};

use radcare::ota::agent::{self, Agent, Consent, Settings};

#[derive(Clone, Copy, ValueEnum)]
pub enum PolicyArg {
    Accept,
    Decline,
}

/// `radcare agent [OPTIONS]` runs the upgrade agent; `radcare agent fetch ...`
/// downloads a list of files and reports what failed.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct AgentCommandLine {
    #[command(subcommand)]
    command: Option<AgentCommand>,
    #[command(flatten)]
    run: Option<AgentArgs>,
}

#[derive(Subcommand)]
enum AgentCommand {
    /// Download a list of files, skip what fails, report the faults and apply the
    /// fixes given back (docs/faults.md).
    Fetch(super::fetch::FetchArgs),
}

pub fn main(cl: AgentCommandLine) -> Result<ExitCode> {
    match (cl.command, cl.run) {
        (Some(AgentCommand::Fetch(args)), _) => super::fetch::fetch(args),
        (None, Some(args)) => agent(args),
        (None, None) => bail!("give the agent's options, or a subcommand (see --help)"),
    }
}

#[derive(Args)]
pub struct AgentArgs {
    /// The server's terminal listener, `http://host:port`.
    #[arg(long)]
    server: String,
    /// The hawkBit tenant.
    #[arg(long, default_value = "DEFAULT")]
    tenant: String,
    /// This device's id (hawkBit's controller id), as registered.
    #[arg(long)]
    device: String,
    /// The device token `radcare device add` printed.
    #[arg(long, env = "RADCARE_AGENT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A file holding the device token (kept out of the process list).
    #[arg(short = 'S', long, conflicts_with = "token")]
    token_file: Option<PathBuf>,
    /// The release signing key to trust (hex; `radcare keys show` on the server).
    #[arg(long)]
    public_key: String,
    /// Where the agent keeps installed versions, partial downloads and reports.
    #[arg(long)]
    state_dir: PathBuf,
    /// Software is installed as `<install-dir>/<name>/`.
    #[arg(long)]
    install_dir: PathBuf,
    /// One poll cycle, then exit (cron, tests).
    #[arg(long)]
    once: bool,
    /// Ask on the terminal before installing an update that lets the user decide.
    #[arg(long, conflicts_with = "policy")]
    interactive: bool,
    /// Without --interactive: what to do with an update that lets the user decide.
    #[arg(long, value_enum, default_value = "accept")]
    policy: PolicyArg,
    /// Ask the server whether newer software is published (the active check), print
    /// the answer (`newer name=.. version=..`) and exit.
    #[arg(long, conflicts_with_all = ["once", "check_every"])]
    check: bool,
    /// Also ask it this often (e.g. `1h`); a newer release found means a poll at once.
    #[arg(long, value_parser = humantime::parse_duration)]
    check_every: Option<Duration>,
    /// Software installed before this agent, as `name=version` (repeatable).
    #[arg(long = "installed", value_parser = parse_installed)]
    installed: Vec<(String, String)>,
    /// Each line appended to this file (by a modem's SMS or WAP Push handler) is a
    /// notice: poll at once.
    #[arg(long)]
    notice_file: Option<PathBuf>,
    /// Do not hold the IP push channel (a long-poll on the device API that tells the
    /// agent of an update at once).
    #[arg(long)]
    no_push: bool,
    /// Download at most this many octets a second (`500k`, `2M`).
    #[arg(long, value_parser = parse_rate)]
    max_rate: Option<u64>,
    /// Where this terminal is: it checks in to the upgrade plan with it and downloads
    /// at its booked time from its node (the booking is kept in --state-dir).
    #[arg(long, requires = "longitude", allow_negative_numbers = true)]
    latitude: Option<f64>,
    #[arg(long, requires = "latitude", allow_negative_numbers = true)]
    longitude: Option<f64>,
    /// The faults of files that did not download: report them now (with their fixes
    /// carried out), keep them for the next report, or not (docs/faults.md).
    #[arg(long, value_enum, default_value = "always")]
    report: super::fetch::ReportArg,
}

fn parse_installed(s: &str) -> Result<(String, String), String> {
    let (name, version) = s.split_once('=').ok_or("name=version")?;
    semver::Version::parse(version).map_err(|e| format!("{version}: {e}"))?;
    Ok((name.into(), version.into()))
}

fn parse_rate(s: &str) -> Result<u64, String> {
    let (digits, unit) = match s.strip_suffix(['k', 'K']) {
        Some(d) => (d, 1_000),
        None => match s.strip_suffix('M') {
            Some(d) => (d, 1_000_000),
            None => (s, 1),
        },
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}`: octets a second, e.g. 500k"))?;
    Ok(n * unit)
}

pub fn agent(args: AgentArgs) -> Result<ExitCode> {
    let token = match (args.token, &args.token_file) {
        (Some(t), None) => t,
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the token from {}", path.display()))?
            .trim()
            .to_string(),
        _ => bail!("give the device token: --token, -S FILE or RADCARE_AGENT_TOKEN"),
    };
    let consent = match (args.interactive, args.policy) {
        (true, _) => Consent::Ask,
        (false, PolicyArg::Accept) => Consent::Accept,
        (false, PolicyArg::Decline) => Consent::Decline,
    };
    let settings = Settings {
        server: args.server,
        tenant: args.tenant,
        device: args.device,
        token,
        public_key: args.public_key,
        state_dir: args.state_dir,
        install_dir: args.install_dir,
        consent,
        preinstalled: args.installed.into_iter().collect::<BTreeMap<_, _>>(),
        max_rate: args.max_rate,
        location: args.latitude.zip(args.longitude),
        fault_report: args.report.mode(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(async {
        let mut agent = Agent::new(settings)?;
        if args.check {
            for m in agent.check().await? {
                println!("newer name={} version={}", m.name, m.version);
            }
            return Ok(ExitCode::SUCCESS);
        }
        if args.once {
            match agent.follow_plan().await? {
                Some(t) => println!("waiting_until_ms={t}"),
                None => agent.cycle().await?,
            }
            return Ok(ExitCode::SUCCESS);
        }
        if let Some(path) = args.notice_file {
            tokio::spawn(agent::watch_notice_file(path, agent.notices()));
        }
        if !args.no_push {
            tokio::spawn(agent.push_channel());
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("SIGTERM handler")?;
        // Stopping mid-way loses nothing: partial downloads resume, reports are on disk.
        tokio::select! {
            () = agent.run(args.check_every) => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}
