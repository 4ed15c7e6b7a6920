//! The operators' commands of software deployment: `radcare device`, `radcare
//! release`, `radcare keys`, `radcare deploy`, `radcare deployment`. They work on the
//! store and state directory the config names, beside a running `radcare serve`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use radcare::ota::release::{self, Publish};
use radcare::ota::{Ota, Target, keys};
use radcare::store::Store;
use radcare::store::ota::Device;

/// `--config FILE` for the commands that open the store.
#[derive(Args)]
pub struct ConfigArg {
    /// Config file (TOML); without it, the embedded defaults.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum DeviceCommand {
    /// Register a device; prints its token once (give it to the device).
    Add {
        /// The device's id (hawkBit's controller id).
        id: String,
        /// Hardware model: releases name the models they are for.
        #[arg(long)]
        model: String,
        /// A tag deployments can target (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// MSISDN for SMS and WAP Push notices.
        #[arg(long)]
        phone: Option<String>,
        #[arg(long, requires = "longitude", allow_negative_numbers = true)]
        latitude: Option<f64>,
        #[arg(long, requires = "latitude", allow_negative_numbers = true)]
        longitude: Option<f64>,
    },
    /// List the registered devices.
    List,
}

#[derive(Subcommand)]
pub enum ReleaseCommand {
    /// Store files as a release's artifacts and sign its manifest.
    Publish {
        #[arg(long)]
        name: String,
        /// A semver version; must be newer than what is published unless --force.
        #[arg(long)]
        version: String,
        /// A hardware model the release is for (repeatable).
        #[arg(long = "model", required = true)]
        models: Vec<String>,
        /// How long the signed manifest is valid.
        #[arg(long, default_value = "365d", value_parser = humantime::parse_duration)]
        valid_for: Duration,
        /// Publish even if it is not newer than the newest published version.
        #[arg(long)]
        force: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the versions of a release.
    List { name: String },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Print the public key devices pin to verify release manifests.
    Show,
}

#[derive(Args)]
pub struct DeployArgs {
    /// Release name and version.
    name: String,
    version: String,
    /// Target these devices (repeatable)...
    #[arg(long = "device", conflicts_with_all = ["model", "tag"])]
    devices: Vec<String>,
    /// ... or every device of a model ...
    #[arg(long, conflicts_with = "tag")]
    model: Option<String>,
    /// ... or every device with a tag.
    #[arg(long)]
    tag: Option<String>,
    /// Rollout groups: each starts once the one before has finished.
    #[arg(long, default_value_t = 1)]
    groups: usize,
    /// Failed devices after which the rollout pauses itself (0: never).
    #[arg(long, default_value_t = 0)]
    error_threshold: u32,
    /// Let the device ask its user before downloading and installing.
    #[arg(long)]
    ask_user: bool,
}

#[derive(Subcommand)]
pub enum DeploymentCommand {
    /// A deployment's devices, their state and result.
    Show { id: i64 },
    /// List the deployments.
    List,
    /// Resume a rollout that paused itself.
    Resume { id: i64 },
}

pub(super) async fn open(config: &ConfigArg) -> Result<Result<Ota, ExitCode>> {
    let loaded = match super::load_config(config.config.as_deref()) {
        Ok(l) => l,
        Err(code) => return Ok(Err(code)),
    };
    let store = Store::open(&loaded.config.store.url)
        .await
        .context("cannot open the store")?;
    Ok(Ok(Ota::open(store, loaded.config.terminal.clone())?))
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

pub fn device(config: ConfigArg, cmd: DeviceCommand) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let ota = match open(&config).await? {
            Ok(o) => o,
            Err(code) => return Ok(code),
        };
        match cmd {
            DeviceCommand::Add {
                id,
                model,
                tags,
                phone,
                latitude,
                longitude,
            } => {
                let token = ota
                    .add_device(Device {
                        id: id.clone(),
                        token_sha256: String::new(),
                        model,
                        tags: tags.join(","),
                        phone,
                        latitude,
                        longitude,
                        attributes: "{}".into(),
                        created_at_ms: radcare::ota::now_ms(),
                        last_seen_ms: None,
                    })
                    .await?;
                println!("device={id}");
                println!("token={token}");
            }
            DeviceCommand::List => {
                for d in ota.store.ota_devices().await? {
                    println!(
                        "{}\tmodel={}\ttags={}\tlast_seen_ms={}",
                        d.id,
                        d.model,
                        d.tags,
                        d.last_seen_ms.map_or("-".into(), |t| t.to_string())
                    );
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn release(config: ConfigArg, cmd: ReleaseCommand) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let ota = match open(&config).await? {
            Ok(o) => o,
            Err(code) => return Ok(code),
        };
        match cmd {
            ReleaseCommand::Publish {
                name,
                version,
                models,
                valid_for,
                force,
                files,
            } => {
                let p = Publish {
                    name,
                    version,
                    models,
                    files,
                    valid_for,
                    force,
                };
                let r = release::publish(&ota.store, &ota.config.state_dir, &ota.key, &p).await?;
                println!("release={} {}", r.name, r.version);
                for a in &r.artifacts {
                    println!(
                        "artifact={} size={} sha256={}",
                        a.filename, a.size, a.sha256
                    );
                }
                println!("signature={}", r.signature);
            }
            ReleaseCommand::List { name } => {
                let mut rs = ota.store.ota_releases(&name).await?;
                rs.sort_by(|a, b| {
                    let v =
                        |r: &radcare::store::ota::Release| semver::Version::parse(&r.version).ok();
                    v(a).cmp(&v(b))
                });
                for r in rs {
                    println!(
                        "{} {}\tmodels={}\tartifacts={}",
                        r.name,
                        r.version,
                        r.models,
                        r.artifacts.len()
                    );
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn keys(config: ConfigArg, cmd: KeysCommand) -> Result<ExitCode> {
    let KeysCommand::Show = cmd;
    let loaded = match super::load_config(config.config.as_deref()) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let key = keys::load_or_create(&loaded.config.terminal.state_dir)?;
    println!("{}", keys::public_hex(&key));
    Ok(ExitCode::SUCCESS)
}

pub fn deploy(config: ConfigArg, args: DeployArgs) -> Result<ExitCode> {
    let target = match (args.devices.is_empty(), args.model, args.tag) {
        (false, None, None) => Target::Devices(args.devices),
        (true, Some(m), None) => Target::Model(m),
        (true, None, Some(t)) => Target::Tag(t),
        _ => bail!("give the target: --device ID..., --model M or --tag T"),
    };
    runtime()?.block_on(async {
        let ota = match open(&config).await? {
            Ok(o) => o,
            Err(code) => return Ok(code),
        };
        let (d, actions) = ota
            .deploy(
                &args.name,
                &args.version,
                &target,
                args.groups,
                args.error_threshold,
                !args.ask_user,
            )
            .await?;
        println!("deployment={}", d.id);
        println!("devices={}", actions.len());
        println!(
            "groups={}",
            actions.iter().map(|a| a.rollout_group).max().unwrap_or(0)
        );
        Ok(ExitCode::SUCCESS)
    })
}

pub fn deployment(config: ConfigArg, cmd: DeploymentCommand) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let ota = match open(&config).await? {
            Ok(o) => o,
            Err(code) => return Ok(code),
        };
        match cmd {
            DeploymentCommand::List => {
                for d in ota.store.ota_deployments().await? {
                    println!(
                        "{}\t{} {}\tstate={}",
                        d.id, d.release_name, d.release_version, d.state
                    );
                }
            }
            DeploymentCommand::Show { id } => {
                let Some(d) = ota.store.ota_deployment(id).await? else {
                    eprintln!("no deployment {id}");
                    return Ok(ExitCode::from(2));
                };
                let actions = ota.store.ota_actions(id).await?;
                println!(
                    "deployment={} release={} {} policy={} state={} error_threshold={}",
                    d.id, d.release_name, d.release_version, d.policy, d.state, d.error_threshold
                );
                let mut counts = std::collections::BTreeMap::<&str, usize>::new();
                for a in &actions {
                    *counts.entry(a.state.as_str()).or_default() += 1;
                }
                let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{s}={n}")).collect();
                println!("counts {}", counts.join(" "));
                for a in &actions {
                    println!(
                        "group={}\tdevice={}\tstate={}\tinstall={}\tcode={}\tdetail={}",
                        a.rollout_group,
                        a.device,
                        a.state,
                        a.install_kind.as_deref().unwrap_or("-"),
                        a.result_code.map_or("-".into(), |c| c.to_string()),
                        a.result_detail.as_deref().unwrap_or("")
                    );
                }
            }
            DeploymentCommand::Resume { id } => {
                if !ota.store.ota_set_deployment_state(id, "running").await? {
                    eprintln!("no deployment {id}");
                    return Ok(ExitCode::from(2));
                }
                println!("deployment={id} state=running");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
