//! Upgrade planning end to end with real processes: `radcare serve`, three nginx
//! download nodes in two clusters serving the content-addressed artifacts, and thirty
//! `radcare agent` processes at different places, cap 3 per node per 20-second slot.
//! Every agent checks in, keeps its booking on disk, waits for its time and downloads
//! from a node of its nearest cluster then; nginx's own access logs show no node over
//! its cap in any slot, and `plan show` printed the bookings the agents hold. Midway
//! one nginx is stopped: its status probe fails, its later bookings move, and the
//! agents concerned still upgrade.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::nginx::Nginx;
use support::radcare::Radcare;

const SLOT_MS: i64 = 20_000;
const CAP: usize = 3;

fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One terminal: where it is, which cluster is nearest, its directories.
struct Terminal {
    id: String,
    token: String,
    at: (f64, f64),
    cluster: &'static str,
    dir: tempfile::TempDir,
}

impl Terminal {
    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn installed(&self) -> bool {
        std::fs::read_to_string(self.state().join("installed.json"))
            .is_ok_and(|s| s.contains("\"2.0.0\""))
    }

    /// The booking the agent keeps on disk: (node, at_ms).
    fn booking(&self) -> Option<(String, i64)> {
        let text = std::fs::read_to_string(self.state().join("booking.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some((v["node"].as_str()?.to_string(), v["at_ms"].as_i64()?))
    }

    fn spawn(&self, rc: &Radcare, key: &str, log: &str) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(log))
            .unwrap();
        Command::new(env!("CARGO_BIN_EXE_radcare"))
            .arg("agent")
            .args(["--server", &format!("http://{}", rc.terminal)])
            .args(["--device", &self.id, "--public-key", key])
            .arg("--state-dir")
            .arg(self.state())
            .arg("--install-dir")
            .arg(self.dir.path().join("install"))
            .args(["--installed", "fw=1.0.0", "--policy", "accept", "--no-push"])
            .args(["--latitude", &self.at.0.to_string()])
            .args(["--longitude", &self.at.1.to_string()])
            .env("RADCARE_AGENT_TOKEN", &self.token)
            .env("RUST_LOG", "radcare=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }
}

/// Kills the agents however the test ends.
struct Agents(Vec<Child>);

impl Drop for Agents {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `plan show`'s timeline: (node, slot) -> devices.
fn timeline(shown: &str) -> BTreeMap<(String, u32), Vec<String>> {
    let mut out = BTreeMap::new();
    for line in shown.lines().filter(|l| l.starts_with("slot=")) {
        let f: Vec<&str> = line.split('\t').collect();
        let slot: u32 = f[0].strip_prefix("slot=").unwrap().parse().unwrap();
        let node = f[2].strip_prefix("node=").unwrap().to_string();
        let devices = f[4].split(',').map(String::from).collect();
        out.insert((node, slot), devices);
    }
    out
}

/// Artifact downloads (whole-file GETs) a node served, by the slot they started in.
fn downloads_per_slot(nginx: &Nginx, sha256: &str, start_ms: i64) -> BTreeMap<u32, usize> {
    let mut out = BTreeMap::new();
    for a in nginx.access_log() {
        if a.uri != format!("/{sha256}") || a.method != "GET" {
            continue;
        }
        assert_eq!(a.status, 200, "{a:?}");
        let started = (a.start * 1000.0) as i64;
        assert!(started >= start_ms, "a download before the plan: {a:?}");
        *out.entry(((started - start_ms) / SLOT_MS) as u32)
            .or_default() += 1;
    }
    out
}

#[test]
fn thirty_agents_upgrade_at_their_booked_times_within_every_nodes_cap() {
    if !support::require_peer("nginx") {
        return;
    }
    let rc = Radcare::start(
        "127.0.0.0/8",
        &[],
        "[planner]\nprobe_interval = \"500ms\"\nprobe_failures = 2\n",
    );
    let key = rc.cli(&["keys", "show"]).trim().to_string();
    let image: Vec<u8> = (0..200_000u32).map(|i| ((i * 13) ^ 0x5a) as u8).collect();
    let file = rc.dir.path().join("fw.bin");
    std::fs::write(&file, &image).unwrap();
    rc.cli(&[
        "release",
        "publish",
        "--name",
        "fw",
        "--version",
        "2.0.0",
        "--model",
        "m1",
        file.to_str().unwrap(),
    ]);
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&image));
    // Every node serves the state directory's content-addressed artifacts.
    let artifacts = rc.dir.path().join("state/artifacts");
    assert!(artifacts.join(&sha256).exists());
    let mut nginx: HashMap<&str, Nginx> = ["bj-1", "bj-2", "sh-1"]
        .into_iter()
        .map(|id| (id, Nginx::start(&artifacts)))
        .collect();
    for (id, cluster, lat, lon) in [
        ("bj-1", "north", "39.90", "116.40"),
        ("bj-2", "north", "39.95", "116.30"),
        ("sh-1", "east", "31.23", "121.47"),
    ] {
        let url = nginx[id].url();
        rc.cli(&[
            "node",
            "add",
            id,
            "--url",
            &url,
            "--status-url",
            &format!("{url}/nginx_status"),
            "--cluster",
            cluster,
            "--latitude",
            lat,
            "--longitude",
            lon,
            "--cap",
            &CAP.to_string(),
        ]);
    }

    // 18 terminals around Beijing and Tianjin, 12 around Shanghai and Hangzhou, each
    // at its own place.
    let mut terminals = Vec::new();
    for i in 0..30 {
        let (id, cluster, at) = if i < 18 {
            let k = f64::from(i);
            (
                format!("n-{i:02}"),
                "north",
                (38.9 + k * 0.08, 115.9 + k * 0.09),
            )
        } else {
            let k = f64::from(i - 18);
            (
                format!("e-{:02}", i - 18),
                "east",
                (30.0 + k * 0.15, 119.8 + k * 0.14),
            )
        };
        let out = rc.cli(&["device", "add", &id, "--model", "m1"]);
        let dir = tempfile::tempdir().unwrap();
        let install = dir.path().join("install/fw");
        std::fs::create_dir_all(&install).unwrap();
        std::fs::write(install.join("fw.bin"), b"1.0.0").unwrap();
        terminals.push(Terminal {
            token: value(&out, "token").to_string(),
            id,
            at,
            cluster,
            dir,
        });
    }
    let dep = value(
        &rc.cli(&["deploy", "fw", "2.0.0", "--model", "m1"]),
        "deployment",
    )
    .to_string();
    // Six 20-second slots from 20 s on: time for every agent to check in first.
    let set = rc.cli(&[
        "plan",
        "set",
        &dep,
        "--slot",
        "20s",
        "--slots",
        "6",
        "--start-in",
        "20",
    ]);
    assert!(set.contains("slot_ms=20000"), "{set}");
    let start_ms = value(&rc.cli(&["plan", "show", &dep]), "plan")
        .split_whitespace()
        .find_map(|f| f.strip_prefix("start_ms="))
        .unwrap()
        .parse::<i64>()
        .unwrap();

    let mut agents = Agents(
        terminals
            .iter()
            .map(|t| t.spawn(&rc, &key, "agent.log"))
            .collect(),
    );
    wait_for(
        "every agent's booking on disk",
        Duration::from_secs(12),
        || terminals.iter().all(|t| t.booking().is_some()),
    );
    assert!(now_ms() < start_ms, "checked in before the plan started");

    // `plan show` prints exactly the bookings the agents hold.
    let shown = rc.cli(&["plan", "show", &dep]);
    let planned = timeline(&shown);
    let mut held: BTreeMap<(String, u32), Vec<String>> = BTreeMap::new();
    for t in &terminals {
        let (node, at) = t.booking().unwrap();
        assert_eq!((at - start_ms) % SLOT_MS, 0, "{} at a slot's start", t.id);
        held.entry((node, ((at - start_ms) / SLOT_MS) as u32))
            .or_default()
            .push(t.id.clone());
    }
    for list in held.values_mut() {
        list.sort();
    }
    assert_eq!(planned, held, "{shown}");
    assert!(shown.contains("booked=30"), "{shown}");
    assert!(planned.values().all(|d| d.len() <= CAP), "{shown}");
    for t in &terminals {
        let (node, _) = t.booking().unwrap();
        let want = if t.cluster == "north" { "bj-" } else { "sh-" };
        assert!(node.starts_with(want), "{} booked on {node}", t.id);
    }
    // 18 in the north on two nodes: slots 0 to 2; 12 in the east on one: 0 to 3.
    assert_eq!(planned.keys().map(|k| k.1).max(), Some(3), "{shown}");

    // An agent restarted while it waits keeps its booking from disk.
    let restarted = terminals
        .iter()
        .position(|t| t.cluster == "east" && t.booking().unwrap().1 >= start_ms + 2 * SLOT_MS)
        .unwrap();
    let _ = agents.0[restarted].kill();
    let _ = agents.0[restarted].wait();
    agents.0[restarted] = terminals[restarted].spawn(&rc, &key, "agent-again.log");

    // bj-1 stops in slot 1, after its downloads there and well before slot 2.
    let bj1_later: Vec<String> = planned
        .iter()
        .filter(|((n, s), _)| n == "bj-1" && *s >= 2)
        .flat_map(|(_, d)| d.clone())
        .collect();
    assert!(!bj1_later.is_empty(), "{shown}");
    let stop_at = start_ms + SLOT_MS + 8_000;
    std::thread::sleep(Duration::from_millis((stop_at - now_ms()).max(0) as u64));
    assert_eq!(
        downloads_per_slot(&nginx["bj-1"], &sha256, start_ms).get(&1),
        planned.get(&("bj-1".to_string(), 1)).map(Vec::len).as_ref(),
        "bj-1 served slot 1 before it stopped"
    );
    nginx.get_mut("bj-1").unwrap().stop();
    wait_for(
        "bj-1 taken down by its probe",
        Duration::from_secs(5),
        || {
            rc.cli(&["node", "list"])
                .lines()
                .any(|l| l.starts_with("bj-1\t") && l.contains("\tdown\t"))
        },
    );
    let replanned = timeline(&rc.cli(&["plan", "show", &dep]));
    for d in &bj1_later {
        let (node, slot) = replanned
            .iter()
            .find(|(_, ds)| ds.contains(d))
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| panic!("{d} lost its booking"));
        assert_eq!(node, "bj-2", "{d}: the next best node of its cluster");
        assert!(slot >= 2, "{d}");
    }

    wait_for(
        "every agent upgraded",
        Duration::from_millis((start_ms + 5 * SLOT_MS - now_ms()).max(0) as u64),
        || terminals.iter().all(Terminal::installed),
    );
    for t in &terminals {
        let fw = std::fs::read(t.dir.path().join("install/fw/fw.bin")).unwrap();
        assert!(fw == image, "{} installed the release", t.id);
    }

    // nginx's own logs: each node served, per slot, exactly the downloads booked on
    // it then (so each at its booked time), never more than its cap.
    let last = timeline(&rc.cli(&["plan", "show", &dep]));
    for (id, n) in &nginx {
        let served = downloads_per_slot(n, &sha256, start_ms);
        let booked: BTreeMap<u32, usize> = last
            .iter()
            .filter(|((node, _), _)| node == id)
            .map(|((_, s), d)| (*s, d.len()))
            .collect();
        assert_eq!(served, booked, "{id}: served per slot vs booked");
        assert!(served.values().all(|&k| k <= CAP), "{id}: {served:?}");
    }
    for t in &terminals {
        let (node, _) = last
            .iter()
            .find(|(_, ds)| ds.contains(&t.id))
            .map(|(k, _)| k.clone())
            .unwrap();
        let want = if t.cluster == "north" { "bj-" } else { "sh-" };
        assert!(node.starts_with(want), "{} upgraded from {node}", t.id);
    }
    // The restarted agent did not need to check in again before its time.
    let again = terminals[restarted].log("agent-again.log");
    assert!(!again.contains("upgrade booked"), "{again}");
    assert!(again.contains("booked time: downloading"), "{again}");
    let shown = rc.cli(&["deployment", "show", &dep]);
    assert!(shown.contains("counts success=30"), "{shown}");
}
