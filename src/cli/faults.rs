//! `radcare faults`: an account's history, the queue of faults waiting for a person,
//! resolving a fault code (a new knowledge-base entry, given to every queued report of
//! it), and the knowledge base with each entry's success rate.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use radcare::faults::{Faults, Fix, parse_fix};
use radcare::store::faults::Fault;

use super::ota::{ConfigArg, open, runtime};

#[derive(Subcommand)]
pub enum FaultsCommand {
    /// An account's identities, reports and faults.
    Account { id: i64 },
    /// The faults waiting for a person, with the evidence of fixes that stopped working.
    Queue,
    /// Give a fault code a fix: a knowledge-base entry, applied to every queued report
    /// of the code now and to later ones automatically.
    Resolve(ResolveArgs),
    /// The knowledge base: each entry's fix, state and success rate.
    Kb,
}

#[derive(Args)]
pub struct ResolveArgs {
    /// The fault code (two or four digits).
    code: String,
    /// Only for this hardware model.
    #[arg(long)]
    model: Option<String>,
    /// Only for this software version.
    #[arg(long)]
    version: Option<String>,
    /// Only for downloads from this node (a host name).
    #[arg(long)]
    node: Option<String>,
    /// A text for the user.
    #[arg(long)]
    text: Option<String>,
    /// Download again from this URL (another node).
    #[arg(long)]
    retry_url: Option<String>,
    /// Configuration for the terminal, KEY=VALUE (repeatable). Not `--config`: that
    /// names radcare's config file here as everywhere.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    values: Vec<String>,
    /// Deploy this release (NAME VERSION) to the terminal.
    #[arg(long, num_args = 2, value_names = ["NAME", "VERSION"])]
    deploy: Vec<String>,
}

impl ResolveArgs {
    fn fix(&self) -> Result<Fix> {
        let mut fixes = Vec::new();
        if let Some(t) = &self.text {
            fixes.push(Fix::Text { text: t.clone() });
        }
        if let Some(u) = &self.retry_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                bail!("--retry-url: an http(s) URL");
            }
            fixes.push(Fix::Retry {
                url: Some(u.clone()),
            });
        }
        if !self.values.is_empty() {
            let mut values = BTreeMap::new();
            for kv in &self.values {
                let Some((k, v)) = kv.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                    bail!("--set {kv}: KEY=VALUE");
                };
                values.insert(k.to_string(), v.to_string());
            }
            fixes.push(Fix::Config { values });
        }
        if let [name, version] = &self.deploy[..] {
            fixes.push(Fix::Deploy {
                name: name.clone(),
                version: version.clone(),
            });
        }
        match <[Fix; 1]>::try_from(fixes) {
            Ok([f]) => Ok(f),
            Err(_) => bail!("give one fix: --text, --retry-url, --set or --deploy"),
        }
    }
}

fn describe(fix: Option<&str>) -> String {
    match fix.and_then(parse_fix) {
        Some(f) => serde_json::to_string(&f).expect("a fix serializes"),
        None => "-".into(),
    }
}

fn print_fault(f: &Fault) {
    println!(
        "report={}\tseq={}\tcode={}\tstate={}\titem={}\tfix={}{}",
        f.report_id,
        f.seq,
        f.code,
        f.state,
        f.item.as_deref().unwrap_or("-"),
        describe(f.fix.as_deref()),
        f.evidence
            .as_deref()
            .map_or(String::new(), |e| format!("\tevidence={e}"))
    );
}

pub fn faults(config: ConfigArg, cmd: FaultsCommand) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let ota = match open(&config).await? {
            Ok(o) => o,
            Err(code) => return Ok(code),
        };
        let faults = Faults::new(ota);
        let store = &faults.ota.store;
        match cmd {
            FaultsCommand::Account { id } => {
                let Some(a) = store.faults_account(id).await? else {
                    eprintln!("no account {id}");
                    return Ok(ExitCode::from(2));
                };
                println!("account={} created_ms={}", a.id, a.created_at_ms);
                for (kind, value, seen) in &a.identities {
                    println!("identity {kind}={value}\tfirst_seen_ms={seen}");
                }
                for (report, channel, at) in &a.reports {
                    println!("report {report}\tchannel={channel}\treceived_ms={at}");
                }
                for f in &a.faults {
                    print_fault(f);
                }
            }
            FaultsCommand::Queue => {
                for f in store.faults_queue().await? {
                    print!("account={}\t", f.account);
                    print_fault(&f);
                }
            }
            FaultsCommand::Resolve(args) => {
                let fix = args.fix()?;
                let (id, fixed) = faults
                    .resolve(
                        &args.code,
                        args.model.as_deref(),
                        args.version.as_deref(),
                        args.node.as_deref(),
                        &fix,
                    )
                    .await?;
                println!("entry={id}");
                println!("fixed={}", fixed.len());
            }
            FaultsCommand::Kb => {
                for e in store.faults_kb().await? {
                    let rate = e
                        .success_rate()
                        .map_or("-".into(), |r| format!("{:.0}%", r * 100.0));
                    println!(
                        "{}\tcode={}\tmodel={}\tversion={}\tnode={}\tstate={}\torigin={}\tgiven={}\tfailed={}\tsuccess={}\tfix={}",
                        e.id,
                        e.code,
                        e.model.as_deref().unwrap_or("*"),
                        e.version.as_deref().unwrap_or("*"),
                        e.node.as_deref().unwrap_or("*"),
                        e.state,
                        e.origin,
                        e.given,
                        e.failed,
                        rate,
                        describe(Some(&e.fix))
                    );
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
