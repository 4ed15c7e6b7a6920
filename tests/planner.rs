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
        status_url: None,
        measured: 0,
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

/// Publishes release `fw` 1.0.0 for model `m1` and deploys it to every `m1` device:
/// the deployment's id.
fn deploy_firmware(rc: &support::radcare::Radcare) -> String {
    let file = rc.dir.path().join("fw.bin");
    std::fs::write(&file, b"firmware").unwrap();
    rc.cli(&[
        "release",
        "publish",
        "--name",
        "fw",
        "--version",
        "1.0.0",
        "--model",
        "m1",
        file.to_str().unwrap(),
    ]);
    let out = rc.cli(&["deploy", "fw", "1.0.0", "--model", "m1"]);
    out.lines()
        .find_map(|l| l.strip_prefix("deployment="))
        .expect("deploy prints the deployment's id")
        .to_string()
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

/// Unmodified hawkBit clients follow the plan: until its booked time a device's poll
/// carries no deployment and a sleep that wakes it then; at its time, the download
/// link points at its booked node. `plan show` prints the timeline.
#[test]
fn polls_follow_the_plan_and_links_point_at_the_booked_node() {
    use support::http::http;
    let rc = support::radcare::Radcare::start("127.0.0.0/8", &[], "");
    let t = rc.terminal;
    let mut tokens = Vec::new();
    for id in ["cpe-a", "cpe-b"] {
        let out = rc.cli(&[
            "device",
            "add",
            id,
            "--model",
            "m1",
            "--latitude",
            "39.1",
            "--longitude",
            "117.2",
        ]);
        tokens.push(format!(
            "TargetToken {}",
            out.lines().find_map(|l| l.strip_prefix("token=")).unwrap()
        ));
    }
    let dep = deploy_firmware(&rc);
    rc.cli(&[
        "node",
        "add",
        "bj",
        "--url",
        "http://10.1.0.1/a",
        "--cluster",
        "north",
        "--latitude",
        "39.9",
        "--longitude",
        "116.4",
        "--cap",
        "2",
    ]);
    rc.cli(&[
        "node",
        "add",
        "sh",
        "--url",
        "http://10.2.0.1/a",
        "--cluster",
        "east",
        "--latitude",
        "31.2",
        "--longitude",
        "121.5",
        "--cap",
        "1",
    ]);
    // Bad input is refused and writes nothing.
    for bad in [
        vec![
            "node",
            "add",
            "x",
            "--url",
            "http://x",
            "--cluster",
            "c",
            "--latitude",
            "95",
            "--longitude",
            "0",
            "--cap",
            "1",
        ],
        vec![
            "node",
            "add",
            "x",
            "--url",
            "http://x",
            "--cluster",
            "c",
            "--latitude",
            "0",
            "--longitude",
            "0",
            "--cap",
            "-2",
        ],
        vec!["plan", "set", "777", "--slots", "3"],
    ] {
        let st = std::process::Command::new(env!("CARGO_BIN_EXE_radcare"))
            .args(&bad)
            .arg("--config")
            .arg(rc.dir.path().join("radcare.toml"))
            .output()
            .unwrap();
        assert!(!st.status.success(), "{bad:?} was accepted");
    }
    assert!(!rc.cli(&["node", "list"]).contains("\nx\t"));

    // The plan starts in an hour: cpe-a is booked then, and told to sleep till then.
    rc.cli(&[
        "plan",
        "set",
        &dep,
        "--slot",
        "1h",
        "--slots",
        "3",
        "--start-in",
        "3600",
    ]);
    let poll = |i: usize| {
        let r = http(
            t,
            "GET",
            &format!("/DEFAULT/controller/v1/cpe-{}", ["a", "b"][i]),
            &[("Authorization", &tokens[i])],
            b"",
        );
        assert_eq!(r.status, 200);
        r.json()
    };
    let p = poll(0);
    assert!(p["_links"]["deploymentBase"].is_null(), "{p}");
    let sleep = p["config"]["polling"]["sleep"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        sleep.as_str() <= "00:05:00",
        "never longer than the poll interval: {sleep}"
    );

    // Started now: cpe-b is booked in the first slot, on the nearest node (Beijing),
    // and its download link points there.
    rc.cli(&[
        "plan",
        "set",
        &dep,
        "--slot",
        "1h",
        "--slots",
        "3",
        "--start-in",
        "0",
    ]);
    let p = poll(1);
    let href = p["_links"]["deploymentBase"]["href"]
        .as_str()
        .unwrap_or_else(|| panic!("offered now: {p}\n{}", rc.cli(&["plan", "show", &dep])))
        .to_string();
    let path = &href[href.find("/DEFAULT").unwrap()..];
    let d = http(t, "GET", path, &[("Authorization", &tokens[1])], b"").json();
    let link = d["deployment"]["chunks"][0]["artifacts"][0]["_links"]["download-http"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(link.starts_with("http://10.1.0.1/a/"), "{link}");
    // Check-in with a place off the map: 400, nothing written.
    let r = http(
        t,
        "POST",
        "/DEFAULT/controller/v1/cpe-b/radcare/checkin",
        &[("Authorization", &tokens[1])],
        br#"{"latitude": 123, "longitude": 0}"#,
    );
    assert_eq!(r.status, 400);
    // The same timeline as JSON for the console, on the operators' listener only.
    let (status, body) = rc.api_get(&format!("/api/plans/{dep}"));
    assert_eq!(status, 200, "{body}");
    let timeline: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        timeline["bookings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["device"] == "cpe-b" && b["node"] == "bj"),
        "{timeline}"
    );
    let bj = timeline["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "bj")
        .unwrap();
    assert_eq!(
        (bj["cap_per_slot"].as_u64(), bj["booked"][0].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        rc.http_get(&format!("/api/plans/{dep}")).0,
        404,
        "not for subscribers"
    );
    assert_eq!(rc.api_get("/api/plans/not-a-number").0, 400);
    let shown = rc.cli(&["plan", "show", &dep]);
    assert!(shown.contains("slot=0\t"), "{shown}");
    assert!(shown.contains("node=bj\t[#.] 1/2\tcpe-b"), "{shown}");
    assert!(shown.contains("booked=2"), "{shown}");
}

#[test]
fn a_node_going_down_moves_its_bookings_within_the_caps() {
    use radcare::planner::service::replan_node;
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(&format!("sqlite://{}", dir.path().join("p.db").display()))
            .await
            .unwrap();
        setup(&store, 2).await;
        let tianjin = Location::new(39.13, 117.20).unwrap();
        for i in 0..6 {
            let got = check_in(&store, 42, &format!("cpe-{i}"), &tianjin, 999_000)
                .await
                .unwrap();
            assert!(matches!(got, CheckIn::Booked { .. }));
        }
        let on_bj1 = store.plan_bookings_on("bj-1", 0).await.unwrap().len();
        assert!(on_bj1 > 0);
        let moves = replan_node(&store, "bj-1", 999_500).await.unwrap();
        assert_eq!(moves.len(), on_bj1);
        assert!(
            moves
                .iter()
                .all(|(_, got)| matches!(got, CheckIn::Booked { node, .. } if node.id != "bj-1"))
        );
        assert!(store.plan_bookings_on("bj-1", 0).await.unwrap().is_empty());
        assert_eq!(
            store.plan_bookings(42).await.unwrap().len(),
            6,
            "nobody lost"
        );
        assert!(per_slot(&store).await.values().all(|&n| n <= 3));
        // And the counters agree with the bookings.
        let plan = store.plan_get(42).await.unwrap().unwrap();
        let counters = store.plan_booked(&plan.slots).await.unwrap();
        assert_eq!(counters.values().sum::<u32>(), 6);
    });
}

/// Bad input — a place off the map, an unknown deployment, a plan starting in the
/// past, a negative capacity — is refused with its reason by the admin API (4xx) and
/// the CLI (exit 2), and writes nothing; the same input made good is taken.
#[test]
fn bad_input_is_refused_with_its_reason_and_writes_nothing() {
    use support::http::http;
    let rc = support::radcare::Radcare::start("127.0.0.0/8", &[], "");
    let out = rc.cli(&["device", "add", "cpe-a", "--model", "m1"]);
    let token = format!(
        "TargetToken {}",
        out.lines().find_map(|l| l.strip_prefix("token=")).unwrap()
    );
    // Before any deployment: a check-in has nothing to book.
    let checkin = |body: &[u8]| {
        http(
            rc.terminal,
            "POST",
            "/DEFAULT/controller/v1/cpe-a/radcare/checkin",
            &[
                ("Authorization", &token),
                ("Content-Type", "application/json"),
            ],
            body,
        )
    };
    assert_eq!(
        checkin(br#"{"latitude": 39.1, "longitude": 117.2}"#).status,
        404
    );
    let dep = deploy_firmware(&rc);
    let admin = |method: &str, path: &str, body: &str| {
        let r = http(
            rc.admin,
            method,
            path,
            &[
                ("Content-Type", "application/json"),
                ("Cookie", rc.admin_cookie()),
            ],
            body.as_bytes(),
        );
        (r.status, String::from_utf8_lossy(&r.body).into_owned())
    };
    let node = |lat: &str, cap: &str| {
        format!(
            r#"{{"url": "http://10.1.0.1/a", "cluster": "north", "latitude": {lat}, "longitude": 116.4, "cap": {cap}}}"#
        )
    };
    let in_ms = |s: i64| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        format!(
            r#"{{"start_ms": {}, "slot_ms": 20000, "slots": 3}}"#,
            now + s * 1000
        )
    };

    // The admin API.
    let (status, body) = admin("PUT", "/api/nodes/bj", &node("95", "3"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("off the map"), "{body}");
    let (status, body) = admin("PUT", "/api/nodes/bj", &node("39.9", "-3"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("cap -3"), "{body}");
    let (status, body) = admin("PUT", "/api/plans/777", &in_ms(60));
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no deployment 777"), "{body}");
    let (status, body) = admin("PUT", &format!("/api/plans/{dep}"), &in_ms(-3600));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("in the past"), "{body}");
    let r = checkin(br#"{"latitude": 39.1, "longitude": 190}"#);
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("off the map"));

    // The CLI.
    let refused = |args: &[&str], why: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_radcare"))
            .args(args)
            .arg("--config")
            .arg(rc.dir.path().join("radcare.toml"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(why), "{args:?}: {err}");
    };
    let add = |lat: &'static str, cap: &'static str| {
        vec![
            "node",
            "add",
            "bj",
            "--url",
            "http://10.1.0.1/a",
            "--cluster",
            "north",
            "--latitude",
            lat,
            "--longitude",
            "116.4",
            "--cap",
            cap,
        ]
    };
    refused(&add("-91", "3"), "off the map");
    refused(&add("39.9", "-3"), "cap -3");
    refused(
        &["plan", "set", "777", "--slot", "20s"],
        "no deployment 777",
    );
    refused(
        &["plan", "set", &dep, "--slot", "20s", "--start-in", "-3600"],
        "in the past",
    );
    refused(&["plan", "show", &dep], "has no plan");

    // Nothing was written.
    assert_eq!(rc.cli(&["node", "list"]), "");
    assert_eq!(rc.api_get(&format!("/api/plans/{dep}")).0, 404);

    // A read-only operator may look, not plan.
    let r = http(
        rc.admin,
        "PUT",
        "/api/nodes/bj",
        &[
            ("Content-Type", "application/json"),
            ("Cookie", rc.read_only_cookie()),
        ],
        node("39.9", "3").as_bytes(),
    );
    assert_eq!(r.status, 403);
    assert_eq!(rc.cli(&["node", "list"]), "");

    // Made good, the same input is taken.
    let (status, body) = admin("PUT", "/api/nodes/bj", &node("39.9", "3"));
    assert_eq!(status, 200, "{body}");
    assert!(
        rc.cli(&["node", "list"])
            .starts_with("bj\tcluster=north\tcap=3\tup")
    );
    let (status, body) = admin("PUT", &format!("/api/plans/{dep}"), &in_ms(0));
    assert_eq!(status, 200, "{body}");
    let (status, body) = rc.api_get(&format!("/api/plans/{dep}"));
    assert_eq!(status, 200, "{body}");
    let got = checkin(br#"{"latitude": 39.1, "longitude": 117.2}"#).json();
    assert_eq!(got["node"], "bj", "{got}");
}

/// Node load from nginx's `stub_status`: connections held open on a node count as
/// downloads running now, so a node its probe sees full gets no booking in the slot
/// running now; once they close it gets one again.
#[test]
fn a_node_its_probe_sees_busy_gets_nothing_in_the_running_slot() {
    use support::http::http;
    if !support::require_peer("nginx") {
        return;
    }
    let rc = support::radcare::Radcare::start(
        "127.0.0.0/8",
        &[],
        "[planner]\nprobe_interval = \"200ms\"\n",
    );
    let root = tempfile::tempdir().unwrap();
    let nginx = support::nginx::Nginx::start(root.path());
    let mut tokens = Vec::new();
    for id in ["cpe-a", "cpe-b"] {
        let out = rc.cli(&["device", "add", id, "--model", "m1"]);
        tokens.push(format!(
            "TargetToken {}",
            out.lines().find_map(|l| l.strip_prefix("token=")).unwrap()
        ));
    }
    let dep = deploy_firmware(&rc);
    let url = nginx.url();
    let status = format!("{url}/nginx_status");
    for (id, lat, status) in [("near", "39.9", Some(&status)), ("far", "40.9", None)] {
        let mut args = vec![
            "node",
            "add",
            id,
            "--url",
            &url,
            "--cluster",
            "north",
            "--latitude",
            lat,
            "--longitude",
            "116.4",
            "--cap",
            "3",
        ];
        if let Some(s) = status {
            args.extend(["--status-url", s.as_str()]);
        }
        rc.cli(&args);
    }
    rc.cli(&["plan", "set", &dep, "--slot", "1h", "--slots", "2"]);
    let measured = |want: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let list = rc.cli(&["node", "list"]);
            if list
                .lines()
                .any(|l| l.starts_with("near\t") && l.contains(want))
            {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{want}: {list}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    let checkin = |i: usize| {
        http(
            rc.terminal,
            "POST",
            &format!(
                "/DEFAULT/controller/v1/{}/radcare/checkin",
                ["cpe-a", "cpe-b"][i]
            ),
            &[
                ("Authorization", &tokens[i]),
                ("Content-Type", "application/json"),
            ],
            br#"{"latitude": 39.9, "longitude": 116.4}"#,
        )
        .json()
    };
    // Three connections open on nginx: as busy as its cap.
    let held: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(nginx.addr).unwrap())
        .collect();
    measured("measured=3");
    let got = checkin(0);
    assert_eq!(got["node"], "far", "{got}");
    drop(held);
    measured("measured=0");
    let got = checkin(1);
    assert_eq!(got["node"], "near", "{got}");
}

/// Two `radcare serve` processes on one PostgreSQL, 100 terminals checking in at once
/// through both (each re-asking when told to, as terminals do): exactly the plan's
/// room is booked, and no node gets more than its cap in any slot.
#[test]
fn two_radcare_processes_on_one_postgresql_never_overbook() {
    use support::http::http;
    use support::radcare::Radcare;
    if !support::require_peers(&["initdb", "postgres", "pg_ctl"]) {
        return;
    }
    let pg = support::postgres::Postgres::start();
    let a = Radcare::start_with_store("127.0.0.0/8", &pg.url);
    let b = Radcare::start_with_store("127.0.0.0/8", &pg.url);
    let tokens: Vec<String> = (0..100)
        .map(|i| {
            let out = a.cli(&["device", "add", &format!("cpe-{i}"), "--model", "m1"]);
            let token = out.lines().find_map(|l| l.strip_prefix("token=")).unwrap();
            format!("TargetToken {token}")
        })
        .collect();
    let dep: i64 = deploy_firmware(&a).parse().unwrap();
    for (id, cluster, lat, lon) in [
        ("bj-1", "north", "39.90", "116.40"),
        ("bj-2", "north", "39.95", "116.30"),
        ("sh-1", "east", "31.23", "121.47"),
    ] {
        b.cli(&[
            "node",
            "add",
            id,
            "--url",
            &format!("http://10.0.0.1/{id}"),
            "--cluster",
            cluster,
            "--latitude",
            lat,
            "--longitude",
            lon,
            "--cap",
            "3",
        ]);
    }
    // 3 nodes x 3 per slot x 10 slots: room for 90 of the 100.
    let dep_s = dep.to_string();
    b.cli(&[
        "plan",
        "set",
        &dep_s,
        "--slot",
        "20s",
        "--slots",
        "10",
        "--start-in",
        "600",
    ]);

    let nodes = [a.terminal, b.terminal];
    let answers: Vec<(usize, serde_json::Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = tokens
            .iter()
            .enumerate()
            .map(|(i, token)| {
                s.spawn(move || {
                    let path = format!("/DEFAULT/controller/v1/cpe-{i}/radcare/checkin");
                    let mut last = serde_json::Value::Null;
                    for _ in 0..30 {
                        let r = http(
                            nodes[i % 2],
                            "POST",
                            &path,
                            &[
                                ("Authorization", token),
                                ("Content-Type", "application/json"),
                            ],
                            br#"{"latitude": 39.13, "longitude": 117.20}"#,
                        );
                        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                        last = r.json();
                        if last.get("node").is_some() {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                    (i, last)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let booked: Vec<_> = answers
        .iter()
        .filter(|(_, v)| v.get("node").is_some())
        .collect();
    assert_eq!(booked.len(), 90, "{answers:?}");
    assert!(
        answers
            .iter()
            .filter(|(_, v)| v.get("node").is_none())
            .all(|(_, v)| v.get("ask_again_at_ms").is_some()),
        "a terminal without room is told when to ask again: {answers:?}"
    );
    for via in 0..2 {
        assert!(
            booked.iter().any(|(i, _)| i % 2 == via),
            "both radcare nodes booked"
        );
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bookings = rt.block_on(async {
        let store = Store::open(&pg.url).await.unwrap();
        store.plan_bookings(dep).await.unwrap()
    });
    let mut per_slot: HashMap<(String, i64), u32> = HashMap::new();
    for bk in &bookings {
        *per_slot
            .entry((bk.node.clone(), bk.slot_start_ms))
            .or_default() += 1;
    }
    assert_eq!(bookings.len(), 90);
    assert!(per_slot.values().all(|&n| n <= 3), "{per_slot:?}");
    assert_eq!(
        per_slot.len(),
        30,
        "every node's every slot filled to its cap"
    );
}
