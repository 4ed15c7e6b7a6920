//! `radcare plan simulate`: the planner at a country's scale, measured (see
//! docs/performance.md, "Planner at scale", and scripts/bench-planner.sh).

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;

use radcare::planner::service::{CANDIDATES, CheckIn, check_in};
use radcare::planner::simulate::{self, Board, Country, Outcome};
use radcare::planner::{Booked, Slots, candidates};
use radcare::store::Store;
use radcare::store::plan::{Booking, Plan};

#[derive(Args)]
pub struct SimulateArgs {
    #[arg(long, default_value_t = 1_000_000)]
    terminals: usize,
    #[arg(long, default_value_t = 1_000)]
    nodes: usize,
    #[arg(long, default_value_t = 50)]
    clusters: usize,
    /// Slots in the day.
    #[arg(long, default_value_t = 96)]
    slots: u32,
    /// Downloads per node per slot.
    #[arg(long, default_value_t = 12)]
    cap: u32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also through this store (`sqlite://FILE`, `postgres://...`): its tables are
    /// written to.
    #[arg(long)]
    store: Option<String>,
    /// Terminals booked through the store, per batch size.
    #[arg(long, default_value_t = 20_000)]
    store_terminals: usize,
    /// Bookings per transaction to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000")]
    batch: Vec<usize>,
    /// Terminals checked in one by one as the device API does (`check_in`).
    #[arg(long, default_value_t = 200)]
    service_terminals: usize,
}

fn row(name: &str, o: &Outcome, cap: u32) {
    println!(
        "| {name} | {} | {cap} | {} | {} | {:.1} % | {:.1} | {:.1} | {} |",
        o.peak,
        o.cells_over,
        o.downloads_over,
        o.in_nearest_cluster * 100.0,
        o.extra_km_mean,
        o.extra_km_p99,
        o.unplaced
    );
}

pub async fn simulate(a: SimulateArgs) -> Result<std::process::ExitCode> {
    let made = Instant::now();
    let c = simulate::country(a.seed, a.terminals, a.nodes, a.clusters, a.cap);
    println!(
        "map: {} terminals, {} nodes in {} clusters, {} slots, cap {} per node per slot \
         ({} places); made in {:.1} s",
        c.terminals.len(),
        c.nodes.len(),
        a.clusters,
        a.slots,
        a.cap,
        c.nodes.len() as u64 * u64::from(a.slots) * u64::from(a.cap),
        made.elapsed().as_secs_f64()
    );

    // In memory, on this thread: the Board, then the service's core (`candidates`)
    // on a sample.
    let mut board = Board::new(&c.nodes, a.slots, &Booked::new());
    let t = Instant::now();
    let got: Vec<_> = c.terminals.iter().map(|at| board.book(at)).collect();
    let took = t.elapsed();
    println!(
        "in memory (Board): {} check-ins in {:.3} s = {:.0} check-ins/s",
        got.len(),
        took.as_secs_f64(),
        got.len() as f64 / took.as_secs_f64()
    );
    core_rate(&c, a.slots);

    let scoring = Board::new(&c.nodes, a.slots, &Booked::new());
    println!();
    println!(
        "| rollout | peak downloads on a node | cap | node-slots over cap | downloads over cap | in nearest cluster | extra km, mean | extra km, p99 | no slot |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    row(
        "plan",
        &simulate::outcome(&scoring, &c.terminals, &got),
        a.cap,
    );
    let at_once = simulate::everyone_at_once(&scoring, &c.terminals);
    row(
        "everyone at once",
        &simulate::outcome(&scoring, &c.terminals, &at_once),
        a.cap,
    );
    let groups = simulate::fixed_groups(&scoring, &c.terminals);
    row(
        "fixed groups (one per slot)",
        &simulate::outcome(&scoring, &c.terminals, &groups),
        a.cap,
    );

    if let Some(url) = &a.store {
        store_runs(&a, url, &c).await?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The service's own core, `candidates`, per check-in (it ranks every node by
/// haversine and lists every candidate): on the first terminals for 2 s at most.
fn core_rate(c: &Country, slots: u32) {
    let s = Slots {
        start_ms: 0,
        length_ms: 900_000,
        count: slots,
    };
    let mut booked = Booked::new();
    let t = Instant::now();
    let mut n = 0;
    for at in &c.terminals {
        if let Some((node, slot)) = candidates(at, &c.nodes, &booked, &s, &[], 0, None, CANDIDATES)
            .into_iter()
            .next()
        {
            *booked.entry((node, slot)).or_default() += 1;
        }
        n += 1;
        if t.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    let took = t.elapsed().as_secs_f64();
    println!(
        "in memory (candidates, the service's core): {n} check-ins in {took:.3} s = {:.0} check-ins/s",
        n as f64 / took
    );
}

async fn store_runs(a: &SimulateArgs, url: &str, c: &Country) -> Result<()> {
    let store = Store::open(url).await.context("opening the store")?;
    for n in &c.nodes {
        store.plan_put_node(n).await?;
    }
    let day_ms = i64::from(a.slots) * 900_000;
    // Each run its own day, so that their slot counters are apart.
    let base = radcare::ota::now_ms() + day_ms;
    let terminals = &c.terminals[..a.store_terminals.min(c.terminals.len())];
    println!();
    println!(
        "store {}: {} terminals per run",
        redact(url),
        terminals.len()
    );
    for (run, &batch) in a.batch.iter().enumerate() {
        let plan = plan(&store, 10_000 + run as i64, base + run as i64 * day_ms, a).await?;
        let nodes = store.plan_nodes().await?;
        let mut board = Board::new(&nodes, a.slots, &store.plan_booked(&plan.slots).await?);
        let t = Instant::now();
        let (mut made, mut lost) = (0usize, 0usize);
        for (k, chunk) in terminals.chunks(batch.max(1)).enumerate() {
            let mut want = Vec::with_capacity(chunk.len());
            for (i, at) in chunk.iter().enumerate() {
                if let Some((n, slot)) = board.book(at) {
                    let b = Booking {
                        deployment: plan.deployment,
                        device: format!("t{}", k * batch + i),
                        node: nodes[n].id.clone(),
                        slot_start_ms: plan.slots.starts_at(slot),
                    };
                    want.push(((b, nodes[n].cap_per_slot), (n, slot)));
                }
            }
            let (rows, places): (Vec<_>, Vec<_>) = want.into_iter().unzip();
            let ok = store.plan_book_many(&rows, radcare::ota::now_ms()).await?;
            for (ok, (n, slot)) in ok.into_iter().zip(places) {
                if ok {
                    made += 1;
                } else {
                    // Another writer took the place: not ours any more.
                    board.unbook(n, slot);
                    lost += 1;
                }
            }
        }
        let took = t.elapsed().as_secs_f64();
        println!(
            "  batch {batch:>5}: {made} booked ({lost} lost races) in {took:.2} s = {:.0} bookings/s",
            made as f64 / took
        );
        check_caps(&store, &plan).await?;
    }
    // The device API's path: one check-in, one transaction, reading the plan each time.
    let plan = plan(&store, 9_999, base + a.batch.len() as i64 * day_ms, a).await?;
    let t = Instant::now();
    let mut booked = 0;
    for (i, at) in terminals.iter().take(a.service_terminals).enumerate() {
        let got = check_in(
            &store,
            plan.deployment,
            &format!("s{i}"),
            at,
            radcare::ota::now_ms(),
        )
        .await?;
        if let CheckIn::Booked { .. } = got {
            booked += 1;
        }
    }
    let took = t.elapsed().as_secs_f64();
    println!(
        "  check_in one by one: {booked} booked in {took:.2} s = {:.0} check-ins/s",
        f64::from(booked) / took
    );
    check_caps(&store, &plan).await?;
    Ok(())
}

async fn plan(store: &Store, deployment: i64, start_ms: i64, a: &SimulateArgs) -> Result<Plan> {
    let plan = Plan {
        deployment,
        slots: Slots {
            start_ms,
            length_ms: 900_000,
            count: a.slots,
        },
        allowed: Vec::new(),
    };
    store.plan_put(&plan).await?;
    Ok(plan)
}

/// The store's own counters and bookings: none over its cap.
async fn check_caps(store: &Store, plan: &Plan) -> Result<()> {
    let nodes = store.plan_nodes().await?;
    let mut per = std::collections::HashMap::<(String, i64), u32>::new();
    for b in store.plan_bookings(plan.deployment).await? {
        *per.entry((b.node, b.slot_start_ms)).or_default() += 1;
    }
    let over = per
        .iter()
        .filter(|((n, _), k)| nodes.iter().any(|x| &x.id == n && **k > x.cap_per_slot))
        .count();
    println!("    node-slots over cap in the store: {over}");
    anyhow::ensure!(over == 0, "bookings over a cap");
    Ok(())
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((_, host)) => format!("postgres://…@{host}"),
        None => url.to_string(),
    }
}
