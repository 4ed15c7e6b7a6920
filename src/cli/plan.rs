//! The operators' planning commands: `radcare node` (download nodes) and `radcare plan`
//! (a deployment's slots, and the timeline of every terminal's upgrade time).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use radcare::planner::free_capacity;
use radcare::planner::input::{NodeSpec, PlanSpec};
use radcare::store::Store;
use radcare::store::plan::Plan;

#[derive(Subcommand)]
pub enum NodeCommand {
    /// Add (or replace) a download node.
    Add {
        id: String,
        /// Where devices fetch artifacts: `<url>/<sha256>` (a static server such as
        /// nginx serving the state directory's artifacts/).
        #[arg(long)]
        url: String,
        #[arg(long)]
        cluster: String,
        #[arg(long, allow_negative_numbers = true)]
        latitude: f64,
        #[arg(long, allow_negative_numbers = true)]
        longitude: f64,
        /// Downloads the node takes in one slot.
        #[arg(long, allow_negative_numbers = true)]
        cap: i64,
        /// Its status page (nginx `stub_status`), probed for its current load; a
        /// probe failing takes the node down. Without: bookings only.
        #[arg(long)]
        status_url: Option<String>,
    },
    /// List the nodes.
    List,
    /// Take a node out of planning (nothing new is booked on it).
    Down { id: String },
    /// Put a node back.
    Up { id: String },
}

#[derive(Subcommand)]
pub enum PlanCommand {
    /// Plan a deployment over time slots.
    Set {
        deployment: i64,
        /// Slot length.
        #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
        slot: Duration,
        /// How many slots, from --start.
        #[arg(long, default_value_t = 96)]
        slots: u32,
        /// First slot's start, as seconds from now (not in the past).
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        start_in: i64,
        /// Only these slots (comma-separated indexes); default: as soon as possible.
        #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
        allow: Vec<i64>,
    },
    /// The timeline: every booking by node and slot, with free capacity and a chart.
    Show { deployment: i64 },
    /// A country's terminals and nodes planned in memory (and through a store),
    /// beside today's rollouts: throughput, load per node against its cap, distance.
    Simulate(super::plan_simulate::SimulateArgs),
}

async fn open(config: Option<&std::path::Path>) -> Result<Result<Store, ExitCode>> {
    let loaded = match super::load_config(config) {
        Ok(l) => l,
        Err(code) => return Ok(Err(code)),
    };
    Ok(Ok(Store::open(&loaded.config.store.url)
        .await
        .context("cannot open the store")?))
}

/// Bad input: said on stderr, nothing written, exit 2 (as clap's own usage errors).
fn refuse(why: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {why}");
    ExitCode::from(2)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

pub fn node(config: Option<PathBuf>, cmd: NodeCommand) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let store = match open(config.as_deref()).await? {
            Ok(s) => s,
            Err(code) => return Ok(code),
        };
        match cmd {
            NodeCommand::Add {
                id,
                url,
                cluster,
                latitude,
                longitude,
                cap,
                status_url,
            } => {
                let node = NodeSpec {
                    url,
                    cluster,
                    latitude,
                    longitude,
                    cap,
                    status_url,
                }
                .check(&id);
                let node = match node {
                    Ok(n) => n,
                    Err(e) => return Ok(refuse(e)),
                };
                store.plan_put_node(&node).await?;
                println!("node={id}");
            }
            NodeCommand::List => {
                for n in store.plan_nodes().await? {
                    println!(
                        "{}\tcluster={}\tcap={}\t{}\tmeasured={}\t{:.4},{:.4}\t{}",
                        n.id,
                        n.cluster,
                        n.cap_per_slot,
                        if n.up { "up" } else { "down" },
                        n.measured,
                        n.latitude,
                        n.longitude,
                        n.url
                    );
                }
            }
            NodeCommand::Down { id } => {
                if !store.plan_nodes().await?.iter().any(|n| n.id == id) {
                    return Ok(refuse(format!("no node {id}")));
                }
                let moves =
                    radcare::planner::service::replan_node(&store, &id, radcare::ota::now_ms())
                        .await?;
                println!("node={id} down");
                for (old, got) in moves {
                    match got {
                        radcare::planner::service::CheckIn::Booked { booking, .. } => println!(
                            "moved device={} from={}@{} to={}@{}",
                            old.device,
                            old.node,
                            old.slot_start_ms,
                            booking.node,
                            booking.slot_start_ms
                        ),
                        radcare::planner::service::CheckIn::AskAgainAt(t) => println!(
                            "unbooked device={} from={}@{} ask_again_at_ms={t}",
                            old.device, old.node, old.slot_start_ms
                        ),
                    }
                }
            }
            NodeCommand::Up { id } => set_up(&store, &id, true).await?,
        }
        Ok(ExitCode::SUCCESS)
    })
}

async fn set_up(store: &Store, id: &str, up: bool) -> Result<()> {
    if !store.plan_set_up(id, up).await? {
        bail!("no node {id}");
    }
    println!("node={id} {}", if up { "up" } else { "down" });
    Ok(())
}

pub fn plan(config: Option<PathBuf>, cmd: PlanCommand) -> Result<ExitCode> {
    runtime()?.block_on(async {
        // The simulation needs no config: its store, if any, is named on its own.
        if matches!(cmd, PlanCommand::Simulate(_)) {
            let PlanCommand::Simulate(args) = cmd else {
                return Ok(ExitCode::SUCCESS);
            };
            return super::plan_simulate::simulate(args).await;
        }
        let store = match open(config.as_deref()).await? {
            Ok(s) => s,
            Err(code) => return Ok(code),
        };
        match cmd {
            PlanCommand::Simulate(_) => {}
            PlanCommand::Set {
                deployment,
                slot,
                slots,
                start_in,
                allow,
            } => {
                let now = radcare::ota::now_ms();
                let plan = PlanSpec {
                    start_ms: now.saturating_add(start_in.saturating_mul(1000)),
                    slot_ms: slot.as_millis().min(i64::MAX as u128) as i64,
                    slots: i64::from(slots),
                    allow,
                }
                .check(deployment, now);
                let plan = match plan {
                    Ok(p) => p,
                    Err(e) => return Ok(refuse(e)),
                };
                if store.ota_deployment(deployment).await?.is_none() {
                    return Ok(refuse(format!("no deployment {deployment}")));
                }
                store.plan_put(&plan).await?;
                println!(
                    "plan={deployment} slots={slots} slot_ms={}",
                    plan.slots.length_ms
                );
            }
            PlanCommand::Show { deployment } => {
                let Some(plan) = store.plan_get(deployment).await? else {
                    return Ok(refuse(format!("deployment {deployment} has no plan")));
                };
                show(&store, &plan).await?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Prints the timeline per node and slot: bookings, cap, a bar, then each booking.
async fn show(store: &Store, plan: &Plan) -> Result<()> {
    let nodes = store.plan_nodes().await?;
    let bookings = store.plan_bookings(plan.deployment).await?;
    let booked = store.plan_booked(&plan.slots).await?;
    let s = &plan.slots;
    println!(
        "plan={} slots={} slot_ms={} start_ms={}",
        plan.deployment, s.count, s.length_ms, s.start_ms
    );
    let mut by_slot: std::collections::BTreeMap<u32, Vec<&radcare::store::plan::Booking>> =
        Default::default();
    for b in &bookings {
        let slot = ((b.slot_start_ms - s.start_ms) / s.length_ms) as u32;
        by_slot.entry(slot).or_default().push(b);
    }
    for (slot, list) in &by_slot {
        for n in &nodes {
            let here: Vec<&str> = list
                .iter()
                .filter(|b| b.node == n.id)
                .map(|b| b.device.as_str())
                .collect();
            if here.is_empty() {
                continue;
            }
            let all = booked.get(&(n.id.clone(), *slot)).copied().unwrap_or(0);
            let bar: String = (0..n.cap_per_slot)
                .map(|i| if i < all { '#' } else { '.' })
                .collect();
            println!(
                "slot={slot}\tat_ms={}\tnode={}\t[{bar}] {all}/{}\t{}",
                s.starts_at(*slot),
                n.id,
                n.cap_per_slot,
                here.join(",")
            );
        }
    }
    let free: u32 = free_capacity(&nodes, &booked, s, 0, s.running(radcare::ota::now_ms()))
        .iter()
        .map(|f| f.2)
        .sum();
    println!("booked={} free={free}", bookings.len());
    Ok(())
}
