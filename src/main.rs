//! The `radcare` command line: `serve` runs the middlebox; the rest are operator tools
//! that use the same code (config check, dictionary check, packet decode, classify,
//! capture analysis).

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "radcare",
    version = radcare::telemetry::LONG_VERSION,
    about = "Inline RADIUS middlebox: explains and fixes dial failures"
)]
struct Cli {
    /// Log lines as text for people, or as one JSON object per line for collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "RADCARE_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy, the portal and the terminal services.
    Serve(cli::serve::ServeArgs),
    /// Run as a transparent layer-2 bridge (the config's [bridge] section), with the
    /// portal and the rest beside it; needs CAP_NET_RAW.
    Bridge {
        #[arg(long)]
        config: PathBuf,
    },
    /// Tell the running server to reload its config file (as SIGHUP does): RADIUS
    /// clients, policy, dictionary and portal texts.
    Reload {
        /// The pid file `serve --pid-file` wrote.
        #[arg(long, default_value = "/run/radcare/radcare.pid")]
        pid_file: PathBuf,
    },
    /// Validate a config file: exit 0, or print every error and exit 2.
    CheckConfig { file: PathBuf },
    /// Dictionary tools.
    Dict {
        #[command(subcommand)]
        command: DictCommand,
    },
    /// Decode a RADIUS packet given as hex, verifying its authenticators.
    Decode(cli::decode::DecodeArgs),
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
    Pcap(cli::pcap::PcapArgs),
    /// Classify an Access-Reject (hex) with the cause table.
    Classify(cli::decode::ClassifyArgs),
    /// Load generator: replay radclient-format requests at a fixed window or rate,
    /// verify every reply, print a table and one key=value line.
    ///
    /// Exits 1 when no reply came or a reply did not verify; timeouts alone do not fail
    /// a run.
    Replay(cli::replay::ReplayArgs),
    /// A fast AAA responder for benchmarks: Accept, or Reject (arrears) for a share.
    AaaSim(cli::replay::SimArgs),
    /// Terminals that take software from radcare (hawkBit DDI): register, list.
    Device {
        #[command(flatten)]
        config: cli::ota::ConfigArg,
        #[command(subcommand)]
        command: cli::ota::DeviceCommand,
    },
    /// Software releases: publish (content-addressed artifacts, a signed manifest), list.
    Release {
        #[command(flatten)]
        config: cli::ota::ConfigArg,
        #[command(subcommand)]
        command: cli::ota::ReleaseCommand,
    },
    /// The release signing key.
    Keys {
        #[command(flatten)]
        config: cli::ota::ConfigArg,
        #[command(subcommand)]
        command: cli::ota::KeysCommand,
    },
    /// Deploy a release to devices, in rollout groups.
    Deploy {
        #[command(flatten)]
        config: cli::ota::ConfigArg,
        #[command(flatten)]
        args: cli::ota::DeployArgs,
    },
    /// Deployments: list, show (per-device state and result), resume a paused one.
    Deployment {
        #[command(flatten)]
        config: cli::ota::ConfigArg,
        #[command(subcommand)]
        command: cli::ota::DeploymentCommand,
    },
    /// Download nodes for upgrade planning: add, list, down, up.
    Node {
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: cli::plan::NodeCommand,
    },
    /// Upgrade plans: a deployment's slots, and its timeline per node and slot.
    Plan {
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: cli::plan::PlanCommand,
    },
    /// The upgrade agent a terminal runs: polls the device API, downloads with resume,
    /// verifies against the signed manifest, installs atomically, reports the result.
    Agent(Box<cli::agent::AgentCommandLine>),
    /// Console operators: add (password from stdin or -S FILE), list, remove.
    Operator {
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: cli::operator::OperatorCommand,
    },
    /// Terminals' fault reports: accounts, the human queue, the knowledge base.
    Faults {
        #[command(flatten)]
        config: cli::ota::ConfigArg,
        #[command(subcommand)]
        command: cli::faults::FaultsCommand,
    },
    /// The trivial UDP forward (no RADIUS parsing): the yardstick for proxies.
    UdpForward(cli::replay::ForwardArgs),
    /// The resumable relay (S4): a client proxy and a server proxy that keep TCP
    /// connections open while the link between them drops (docs/relay.md).
    Relay {
        #[command(subcommand)]
        command: cli::relay::RelayCommand,
    },
    /// Simulate routers that redial after a failure; count AAA requests per subscriber.
    Storm(cli::replay::StormArgs),
    /// Write the man page (roff) to stdout, from this command tree (for packagers).
    #[command(hide = true)]
    Man,
    /// Write shell completions to stdout (for packagers).
    #[command(hide = true)]
    Completions { shell: clap_complete::Shell },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum DictCommand {
    /// Load a dictionary tree (ours if no PATH) and print its counts.
    Check { path: Option<PathBuf> },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        // Colour codes only for a person at a terminal, not for journald or a file.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().flatten_event(true).with_ansi(false).init(),
    }
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
        Command::Serve(args) => cli::serve::serve(args),
        Command::Bridge { config } => cli::serve::bridge(config),
        Command::Reload { pid_file } => cli::serve::reload_running(&pid_file),
        Command::CheckConfig { file } => Ok(cli::check::check_config(&file)),
        Command::Dict {
            command: DictCommand::Check { path },
        } => Ok(cli::check::dict_check(path)),
        Command::Decode(args) => cli::decode::decode(args),
        Command::Classify(args) => cli::decode::classify(args),
        Command::Replay(args) => cli::replay::replay(args),
        Command::AaaSim(args) => cli::replay::aaa_sim(args),
        Command::UdpForward(args) => cli::replay::udp_forward(args),
        Command::Relay { command } => cli::relay::relay(command),
        Command::Storm(args) => cli::replay::storm(args),
        Command::Pcap(args) => cli::pcap::pcap(args),
        Command::Device { config, command } => cli::ota::device(config, command),
        Command::Release { config, command } => cli::ota::release(config, command),
        Command::Keys { config, command } => cli::ota::keys(config, command),
        Command::Deploy { config, args } => cli::ota::deploy(config, args),
        Command::Deployment { config, command } => cli::ota::deployment(config, command),
        Command::Node { config, command } => cli::plan::node(config, command),
        Command::Plan { config, command } => cli::plan::plan(config, command),
        Command::Agent(args) => cli::agent::main(*args),
        Command::Faults { config, command } => cli::faults::faults(config, command),
        Command::Man => cli::generate::man(Cli::command()),
        Command::Completions { shell } => cli::generate::completions(Cli::command(), shell),
        Command::Operator { config, command } => cli::operator::operator(config, command),
    }
}
