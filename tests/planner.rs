//! Upgrade planning through the store: every check-in gets a node of its nearest
//! cluster with room and a slot, no node ever gets more than its cap per slot, and
//! two radcare nodes on one PostgreSQL booking at once never double-book.

mod support;

use std::collections::HashMap;

use radcare::planner::service::{CheckIn, check_in};
use radcare::planner::{Location, Node, Slots};
use radcare::store::Store;
use radcare::store::plan::Plan;

fn node(id: &str, cluster: &str, lat: f64, lon: f64) -> Node {
    Node {
        id: id.into(),
        url: format!("http://127.0.0.1/{id}"),
        cluster: cluster.into(),
        latitude: lat,
        longitude: lon,
        cap_per_slot: 3,
        up: true,
    }
}

async fn setup(store: &Store, slots: u32) -> Plan {
    for n in [
        node("bj-1", "north", 39.90, 116.40),
        node("bj-2", "north", 39.95, 116.30),
        node("sh-1", "east", 31.23, 121.47),
    ] {
        store.plan_put_node(&n).await.unwrap();
    }
    let plan = Plan {
        deployment: 42,
        slots: Slots {
            start_ms: 1_000_000,
            length_ms: 20_000,
            count: slots,
        },
        allowed: vec![],
    };
    store.plan_put(&plan).await.unwrap();
    plan
}

/// Per (node, slot start): bookings, straight from the bookings table.
async fn per_slot(store: &Store) -> HashMap<(String, i64), u32> {
    let mut out = HashMap::new();
    for b in store.plan_bookings(42).await.unwrap() {
        *out.entry((b.node, b.slot_start_ms)).or_default() += 1;
    }
    out
}

#[test]
fn check_ins_fill_the_nearest_cluster_then_the_next_and_never_exceed_a_cap() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(&format!("sqlite://{}", dir.path().join("p.db").display()))
            .await
            .unwrap();
        let plan = setup(&store, 3).await;
        let tianjin = Location::new(39.13, 117.20).unwrap();
        let hangzhou = Location::new(30.27, 120.15).unwrap();
        let (mut north, mut east, mut later) = (0, 0, 0);
        for i in 0..30 {
            let at = if i % 3 == 0 { &hangzhou } else { &tianjin };
            match check_in(&store, 42, &format!("cpe-{i}"), at, 999_000)
                .await
                .unwrap()
            {
                CheckIn::Booked { node, booking } => {
                    assert!(booking.slot_start_ms >= plan.slots.start_ms);
                    if node.cluster == "north" {
                        north += 1
                    } else {
                        east += 1
                    }
                }
                CheckIn::AskAgainAt(t) => {
                    assert!(t >= plan.slots.starts_at(3));
                    later += 1;
                }
            }
        }
        // 3 nodes x 3 per slot x 3 slots = 27 places; the 3 left over are told when
        // to ask again, not dropped.
        assert_eq!((north + east, later), (27, 3));
        assert!(per_slot(&store).await.values().all(|&n| n <= 3));
        // Checking in again keeps the booking.
        let again = check_in(&store, 42, "cpe-1", &tianjin, 999_500)
            .await
            .unwrap();
        let first = store.plan_booking(42, "cpe-1").await.unwrap().unwrap();
        assert!(matches!(again, CheckIn::Booked { booking, .. } if booking == first));
        // Hangzhou's terminals went east while it had room.
        let b0 = store.plan_booking(42, "cpe-0").await.unwrap().unwrap();
        assert_eq!(b0.node, "sh-1");
    });
}

#[test]
fn two_radcare_nodes_on_one_postgresql_never_double_book() {
    if !support::require_peers(&["initdb", "postgres", "pg_ctl"]) {
        return;
    }
    let pg = support::postgres::Postgres::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = Store::open(&pg.url).await.unwrap();
        let b = Store::open(&pg.url).await.unwrap();
        setup(&a, 10).await;
        let tianjin = Location::new(39.13, 117.20).unwrap();
        let mut tasks = Vec::new();
        for i in 0..100 {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                check_in(&store, 42, &format!("cpe-{i}"), &tianjin, 999_000)
                    .await
                    .unwrap()
            }));
        }
        let mut booked = 0;
        for t in tasks {
            if let CheckIn::Booked { .. } = t.await.unwrap() {
                booked += 1;
            }
        }
        // 90 places for 100 terminals, taken at once from two nodes.
        assert_eq!(booked, 90);
        let slots = per_slot(&a).await;
        assert!(slots.values().all(|&n| n <= 3), "{slots:?}");
        assert_eq!(slots.values().sum::<u32>(), 90);
    });
}
