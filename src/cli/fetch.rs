//! `radcare agent fetch LIST`: the agent downloads a list of files, skipping the ones
//! that fail, and reports their faults (docs/faults.md, "The agent").

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use radcare::ota::agent::faults::{self, Answer, Codes, Identity, ReportMode};
use radcare::ota::agent::fetch::{FetchSettings, Fetcher, Reporter};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportArg {
    /// Send the faults (with those kept before) now.
    Always,
    /// Do not report.
    Never,
    /// Keep them on disk; they go with the next report, as one batch.
    Later,
}

impl ReportArg {
    pub fn mode(self) -> ReportMode {
        match self {
            ReportArg::Always => ReportMode::Always,
            ReportArg::Never => ReportMode::Never,
            ReportArg::Later => ReportMode::Later,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum CodesArg {
    /// TR-069 transfer fault codes (9015 cannot connect, 9016 no such file, 9018
    /// corrupted, ...).
    Tr069,
    /// S2's two-digit codes (01 cannot connect, 02 download failed, 03 garbled).
    Simple,
}

#[derive(Args)]
pub struct FetchArgs {
    /// The list: one file a line, `URL SHA256 SIZE [NAME]`; `-` reads stdin.
    list: PathBuf,
    /// Where the verified files go (as NAME).
    #[arg(long)]
    out: PathBuf,
    /// Where the agent keeps faults not yet reported and the fixes' configuration.
    #[arg(long)]
    state_dir: PathBuf,
    /// radcare's terminal listener, `http://host:port`.
    #[arg(long)]
    server: String,
    #[arg(long, default_value = "DEFAULT")]
    tenant: String,
    /// Report as this registered device (the device API, with its token); without
    /// it the report is anonymous, identified by --imsi/--imei.
    #[arg(long)]
    device: Option<String>,
    #[arg(long, env = "RADCARE_AGENT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[arg(short = 'S', long, conflicts_with = "token")]
    token_file: Option<PathBuf>,
    #[arg(long)]
    imsi: Option<String>,
    #[arg(long)]
    imei: Option<String>,
    /// This terminal's phone number (where an SMS reaches it).
    #[arg(long)]
    phone: Option<String>,
    /// Hardware model and software version, for fixes narrowed to them.
    #[arg(long)]
    model: Option<String>,
    #[arg(long)]
    version: Option<String>,
    /// Show what failed and ask whether to send the report now, later or never.
    #[arg(long, conflicts_with = "report")]
    interactive: bool,
    /// Without --interactive: what to do with the faults.
    #[arg(long, value_enum, default_value = "always")]
    report: ReportArg,
    #[arg(long, value_enum, default_value = "tr069")]
    codes: CodesArg,
}

/// Fix rounds at most in one run: a retry that fails is reported, and its new fix
/// tried, this many times; what still fails is kept for the next run.
const ROUNDS: usize = 3;

pub fn fetch(args: FetchArgs) -> Result<ExitCode> {
    let text = if args.list.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the list from stdin")?
    } else {
        std::fs::read_to_string(&args.list)
            .with_context(|| format!("reading {}", args.list.display()))?
    };
    let list = match faults::parse_list(&text) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{}: {e}", args.list.display());
            return Ok(ExitCode::from(2));
        }
    };
    let reporter = match args.device {
        Some(id) => {
            let token = match (args.token, &args.token_file) {
                (Some(t), None) => t,
                (None, Some(path)) => std::fs::read_to_string(path)
                    .with_context(|| format!("reading the token from {}", path.display()))?
                    .trim()
                    .to_string(),
                _ => {
                    eprintln!("--device needs its token: --token, -S FILE or RADCARE_AGENT_TOKEN");
                    return Ok(ExitCode::from(2));
                }
            };
            Reporter::Device { id, token }
        }
        None if args.imsi.is_none() && args.imei.is_none() && args.report != ReportArg::Never => {
            eprintln!("an anonymous report needs --imsi or --imei (or --device)");
            return Ok(ExitCode::from(2));
        }
        None => Reporter::Anonymous,
    };
    let fetcher = Fetcher::new(FetchSettings {
        server: args.server,
        tenant: args.tenant,
        reporter,
        identity: Identity {
            imsi: args.imsi,
            imei: args.imei,
            phone: args.phone,
            model: args.model,
            version: args.version,
        },
        state_dir: args.state_dir,
        out_dir: args.out,
        codes: match args.codes {
            CodesArg::Tr069 => Codes::Tr069,
            CodesArg::Simple => Codes::Simple,
        },
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let failed = rt.block_on(fetcher.fetch_all(&list));
    println!(
        "{} of {} fetched, {} failed",
        list.len() - failed.len(),
        list.len(),
        failed.len()
    );
    let kept = fetcher.pending()?.len();
    let mode = if args.interactive && !(failed.is_empty() && kept == 0) {
        ask(failed.len(), kept)?
    } else {
        args.report
    };
    let mut missing: Vec<String> = failed.iter().map(|f| f.file.name.clone()).collect();
    match mode {
        ReportArg::Never => println!("not reported"),
        ReportArg::Later => {
            fetcher.keep(&failed)?;
            println!("{} faults kept for the next report", kept + failed.len());
        }
        ReportArg::Always => {
            let mut faults = failed;
            for round in 1..=ROUNDS {
                if round == ROUNDS {
                    // A fix that keeps failing is not tried forever in one run.
                    fetcher.keep(&faults)?;
                    println!("{} faults kept for the next report", faults.len());
                    break;
                }
                fetcher.seal(&faults)?;
                let d = rt.block_on(fetcher.deliver())?;
                missing.retain(|m| !d.mended.contains(m));
                if d.waiting > 0 {
                    println!("{} reports kept, sent again next time", d.waiting);
                }
                faults = d.failed_again;
                if faults.is_empty() {
                    break;
                }
            }
        }
    }
    if missing.is_empty() {
        println!("all {} files in place", list.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("missing: {}", missing.join(" "));
        Ok(ExitCode::from(1))
    }
}

/// Shows the count and asks on the terminal: send now, later, or never.
fn ask(new: usize, kept: usize) -> Result<ReportArg> {
    let stdin = std::io::stdin();
    loop {
        println!(
            "{new} downloads failed ({kept} faults kept from before). \
             Send the report now? [y]es, [l]ater, [n]o"
        );
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).context("reading stdin")? == 0 {
            // No one to ask: keep them, the user decides next time.
            return Ok(ReportArg::Later);
        }
        match faults::parse_answer(&line) {
            Some(Answer::Send) => return Ok(ReportArg::Always),
            Some(Answer::Keep) => return Ok(ReportArg::Later),
            Some(Answer::Drop) => return Ok(ReportArg::Never),
            None => continue,
        }
    }
}
