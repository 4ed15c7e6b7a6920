//! The cost of a new walled-garden entry in the SQLite store: N new distinct entries
//! written as the garden writer writes them (batches, one transaction each), into a
//! store already holding 200,000 entries and into an empty one. A new entry should
//! cost the same in both.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use radcare::store::{GardenEntry, Store};

/// Entries per batch, about what 50 ms of a BRAS's rejects bring.
const BATCH: usize = 100;
const NEW: usize = 1_000;

fn entry(id: u64) -> GardenEntry {
    GardenEntry {
        id: id.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        user: format!("user{id}@isp").into_bytes(),
        calling_station_id: Some(format!("02-00-{:08x}", id as u32)),
        client: "bras-1".into(),
        nas_addr: "10.0.0.1".into(),
        nas_identifier: Some("bras-1".into()),
        nas_port_id: Some(format!("eth 0/1/{}", id % 4096)),
        cause: "arrears".into(),
        reason: "欠费 arrears".into(),
        method: "pap".into(),
        entered_at_ms: 1_760_000_000_000 + id as i64,
        framed_ip: None,
        acct_session_id: None,
        acct_status: None,
        updated_at_ms: 1_760_000_000_000 + id as i64,
    }
}

async fn write(store: &Store, ids: std::ops::Range<u64>) {
    let rows: Vec<GardenEntry> = ids.map(entry).collect();
    for batch in rows.chunks(BATCH) {
        store.upsert_gardens(batch).await.unwrap();
    }
}

fn new_entries(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("garden_store");
    g.throughput(Throughput::Elements(NEW as u64));
    g.sample_size(10);
    for held in [0u64, 200_000] {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = rt.block_on(Store::open(&url)).unwrap();
        rt.block_on(write(&store, 0..held));
        let mut next = held;
        g.bench_function(BenchmarkId::new("new_entries", held), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let ids = next..next + NEW as u64;
                    next += NEW as u64;
                    let t = Instant::now();
                    rt.block_on(write(&store, ids));
                    spent += t.elapsed();
                }
                spent
            })
        });
    }
    g.finish();
}

criterion_group!(benches, new_entries);
criterion_main!(benches);
