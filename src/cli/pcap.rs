//! `radcare pcap`: what a capture of RADIUS and PPPoE traffic says (the shadow mode).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use super::secret::SecretOption;

use radcare::analysis::{Analyzer, DEFAULT_PORTS, Settings};
use radcare::capture::CaptureReader;

#[derive(Args)]
pub struct PcapArgs {
    /// The capture file (pcap or pcapng).
    file: PathBuf,
    /// Shared secret: verify Response Authenticators and Message-Authenticators,
    /// and count the invalid ones (which radcare would drop, not rewrite).
    #[command(flatten)]
    secret: SecretOption,
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
}

/// `radcare pcap`: the whole capture through the analyzer, then one report. A capture
/// that breaks off (truncated, corrupt) still gets the report of what came before, and
/// the exit status says it broke.
pub fn pcap(args: PcapArgs) -> Result<ExitCode> {
    let loaded = match super::load_config(args.config.as_deref()) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let name = args.file.display().to_string();
    let file = std::fs::File::open(&args.file).with_context(|| format!("cannot open {name}"))?;
    let bar = super::progress::bytes(file.metadata().map(|m| m.len()).unwrap_or(0));
    let mut reader = match CaptureReader::new(bar.wrap_read(file)) {
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
        secret: args.secret.get()?.map(String::into_bytes),
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
    bar.finish_and_clear();
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
