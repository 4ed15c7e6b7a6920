//! Operations: what the dashboard and the alert rules in docs/ name exists in a real
//! scrape, and SIGTERM drains what radcare took.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::net::UdpSocket;

use support::radcare::{NAS_SECRET, Radcare, Upstream};
use support::{FreeRadius, parse_radclient, radclient, repo_root, require_peers};

const AAA_SECRET: &str = "aaa-secret";

fn upstream(fr: &FreeRadius) -> Upstream {
    Upstream {
        name: "aaa-1",
        auth: fr.auth_addr(),
        acct: fr.acct_addr(),
        secret: AAA_SECRET.into(),
    }
}

/// The radcare_* and process_* names in a dashboard's or rule file's expressions
/// (`up` and the like are Prometheus's own).
fn metric_names(text: &str) -> BTreeSet<String> {
    regex::Regex::new(r"\b((?:radcare|process)_[a-z0-9_]+)")
        .unwrap()
        .captures_iter(text)
        .map(|c| c[1].to_string())
        .collect()
}

/// `# TYPE` per metric family, `# HELP` families, and every sample's name.
struct Scrape {
    types: HashMap<String, String>,
    help: BTreeSet<String>,
    samples: BTreeSet<String>,
}

fn parse_scrape(body: &str) -> Scrape {
    let mut s = Scrape {
        types: HashMap::new(),
        help: BTreeSet::new(),
        samples: BTreeSet::new(),
    };
    for line in body.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("#"), Some("TYPE"), Some(name)) => {
                s.types
                    .insert(name.to_string(), words.next().unwrap_or("").to_string());
            }
            (Some("#"), Some("HELP"), Some(name)) if words.next().is_some() => {
                s.help.insert(name.to_string());
            }
            (Some(first), _, _) if !first.starts_with('#') => {
                let name = first.split('{').next().unwrap_or(first);
                s.samples.insert(name.to_string());
            }
            _ => {}
        }
    }
    s
}

/// The family a sample name belongs to: a histogram's `_bucket`, `_sum` and `_count`
/// series are its family's.
fn family<'a>(scrape: &Scrape, name: &'a str) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && scrape.types.get(base).map(String::as_str) == Some("histogram")
        {
            return base;
        }
    }
    name
}

#[test]
fn every_metric_of_the_dashboard_and_the_alerts_is_in_a_scrape_with_help_and_type() {
    if !require_peers(&["freeradius", "radclient"]) {
        return;
    }
    let fr = FreeRadius::start(AAA_SECRET);
    let rc = Radcare::start("127.0.0.1/32", &[upstream(&fr)], "");
    // Traffic: an Accept, a rewritten Reject, a malformed datagram, a portal page.
    for user in [
        "alice\nUser-Password = alice-pass",
        "carol\nUser-Password = x",
    ] {
        let out = radclient(
            &rc.auth.to_string(),
            "auth",
            NAS_SECRET,
            &format!("User-Name = {user}\nMessage-Authenticator = 0x00"),
        );
        assert_eq!(
            parse_radclient(&out).expect("a reply").code,
            "Access-Accept",
            "{user}"
        );
    }
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(&[0xff; 3], rc.auth)
        .unwrap();
    assert_eq!(
        rc.wait_metric("radcare_drops_total{reason=\"malformed\"}", 1.0),
        1.0
    );
    assert_eq!(rc.http_get("/").0, 200);

    let (status, body) = rc.admin_get("/metrics");
    assert_eq!(status, 200);
    let scrape = parse_scrape(&body);

    let dashboard = std::fs::read_to_string(repo_root().join("docs/grafana/radcare.json"))
        .expect("the dashboard");
    let json: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard JSON");
    let mut exprs = String::new();
    for panel in json["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            exprs.push_str(target["expr"].as_str().expect("expr"));
            exprs.push('\n');
        }
    }
    let alerts = std::fs::read_to_string(repo_root().join("docs/prometheus/alerts.yml"))
        .expect("the alert rules");
    let from_dashboard = metric_names(&exprs);
    let from_alerts = metric_names(&alerts);
    assert!(from_dashboard.len() >= 15, "{from_dashboard:?}");
    for name in [
        "radcare_upstream_up",
        "radcare_events_lost_total",
        "radcare_drops_total",
        "radcare_store_up",
    ] {
        assert!(from_alerts.contains(name), "an alert on {name}");
    }

    let mut missing = Vec::new();
    for name in from_dashboard.union(&from_alerts) {
        let fam = family(&scrape, name);
        if !scrape.samples.contains(name.as_str()) {
            missing.push(format!("{name}: no sample"));
        }
        if !scrape.types.contains_key(fam) {
            missing.push(format!("{fam}: no TYPE"));
        }
        if !scrape.help.contains(fam) {
            missing.push(format!("{fam}: no HELP"));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}\nscrape:\n{body}");

    // Real histograms (summable across nodes), and the build's identity.
    assert_eq!(
        scrape.types["radcare_upstream_latency_seconds"], "histogram",
        "{body}"
    );
    assert!(
        body.contains("radcare_upstream_latency_seconds_bucket{upstream=\"aaa-1\",le=\"0.005\"}"),
        "{body}"
    );
    let build = body
        .lines()
        .find(|l| l.starts_with("radcare_build_info{"))
        .expect("radcare_build_info");
    assert!(
        build.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            && build.contains("commit=\"")
            && build.ends_with(" 1"),
        "{build}"
    );
    // Every family radcare records has its HELP text.
    for (fam, _) in scrape
        .types
        .iter()
        .filter(|(f, _)| f.starts_with("radcare_"))
    {
        assert!(scrape.help.contains(fam), "{fam} has no HELP");
    }
}

/// `radclient -x` output: each received reply's code and its Class (hex), in order.
fn received(out: &str) -> Vec<(String, Option<String>)> {
    let mut replies: Vec<(String, Option<String>)> = Vec::new();
    let mut in_reply = false;
    for line in out.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Received ") {
            replies.push((
                rest.split_whitespace().next().unwrap_or("").to_string(),
                None,
            ));
            in_reply = true;
        } else if t.starts_with("Sent ") || t.starts_with('(') {
            in_reply = false;
        } else if in_reply && let Some(v) = t.strip_prefix("Class = ") {
            replies.last_mut().expect("a reply").1 = Some(v.trim_start_matches("0x").to_string());
        }
    }
    replies
}

/// The `key=value` fields of the last log line with `message`.
fn log_fields(log: &str, message: &str) -> HashMap<String, String> {
    let line = log
        .lines()
        .rfind(|l| l.contains(message))
        .unwrap_or_else(|| panic!("no {message:?} in the log:\n{log}"));
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn sigterm_under_radclient_load_answers_what_was_taken_and_loses_no_garden_write() {
    if !require_peers(&["freeradius", "radclient"]) {
        return;
    }
    let fr = FreeRadius::start(AAA_SECRET);
    let mut rc = Radcare::start("127.0.0.1/32", &[upstream(&fr)], "");
    // Many distinct subscribers: every other one in arrears (a garden entry each, by
    // its Calling-Station-Id), the others accepted.
    const REQUESTS: usize = 4000;
    let mut input = String::new();
    for i in 0..REQUESTS {
        let user = if i % 2 == 0 {
            "carol\nUser-Password = x"
        } else {
            "alice\nUser-Password = alice-pass"
        };
        input.push_str(&format!(
            "User-Name = {user}\nCalling-Station-Id = \"02-00-00-{:02x}-{:02x}-{:02x}\"\nMessage-Authenticator = 0x00\n\n",
            i >> 16,
            (i >> 8) & 0xff,
            i & 0xff
        ));
    }
    let file = rc.dir.path().join("load.txt");
    let replies_file = rc.dir.path().join("radclient.out");
    std::fs::write(&file, input).unwrap();
    // Line-buffered, so that what it received is in the file when it is stopped.
    let nas = std::process::Command::new("stdbuf")
        .arg("-oL")
        .arg(support::find_peer("radclient").unwrap())
        .args(["-x", "-r", "1", "-t", "5", "-p", "64", "-d"])
        .arg(support::freeradius_fixture_dir())
        .arg("-f")
        .arg(&file)
        .args([&rc.auth.to_string(), "auth", NAS_SECRET])
        // To a file: a pipe nobody reads until the end would stall radclient.
        .stdout(std::fs::File::create(&replies_file).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("radclient");
    // SIGTERM in the middle of the load.
    let taken = rc.wait_metric("radcare_requests_total{listener=\"auth\"}", 300.0);
    assert!(
        taken >= 300.0,
        "radcare saw the load ({taken})\n{}",
        rc.log()
    );
    let started = std::time::Instant::now();
    let status = rc
        .terminate(std::time::Duration::from_secs(8))
        .expect("radcare exits within its 5 s deadline (and 8 s at most)");
    let took = started.elapsed();
    assert!(status.success(), "exit status {status:?}\n{}", rc.log());
    // Replies radcare sent are on loopback by now; the rest would only time out.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let mut nas = nas;
    let _ = nas.kill();
    nas.wait().expect("radclient ends");
    let replies = received(&std::fs::read_to_string(&replies_file).unwrap());

    let log = rc.log();
    let stopped = log_fields(&log, "radius proxy stopped");
    let count = |k: &str| -> usize { stopped[k].parse().unwrap() };
    assert!(
        count("requests") < REQUESTS,
        "SIGTERM came during the load: {stopped:?}"
    );
    assert_eq!(count("unanswered"), 0, "{stopped:?}");
    assert_eq!(
        count("requests"),
        count("replies"),
        "every request taken was answered: {stopped:?}"
    );
    // radcare's own count has the Status-Server that saw it start.
    assert_eq!(
        replies.len() + 1,
        count("replies"),
        "radclient received every reply radcare sent"
    );
    assert!(replies.iter().all(|(code, _)| code == "Access-Accept"));

    // Every garden entry a rewritten Accept announced is in the store.
    let announced: BTreeSet<u64> = replies
        .iter()
        .filter_map(|(_, class)| {
            let class = String::from_utf8(hex::decode(class.as_ref()?).ok()?).ok()?;
            u64::from_str_radix(class.rsplit_once(";g=")?.1, 16).ok()
        })
        .collect();
    assert!(announced.len() >= 100, "{} garden entries", announced.len());
    let stored: BTreeSet<u64> = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async {
            let store =
                radcare::store::Store::open(&format!("sqlite://{}", rc.db_path().display()))
                    .await
                    .expect("the store");
            store.garden_since(0).await.expect("garden rows")
        })
        .into_iter()
        .map(|g| g.id)
        .collect();
    let lost: Vec<_> = announced.difference(&stored).collect();
    assert!(lost.is_empty(), "{} garden writes lost", lost.len());
    let drained = log_fields(&log, "radius proxy draining");
    eprintln!(
        "SIGTERM after {taken} requests ({} in flight then): {} taken and answered, {} garden entries stored, exit in {took:?}",
        drained["in_flight"],
        count("requests"),
        announced.len()
    );
}

#[test]
fn radcare_reload_applies_portal_texts_and_a_dictionary() {
    let run = tempfile::tempdir().unwrap();
    let pid_file = run.path().join("radcare.pid");
    let rc = Radcare::start_with_args(
        "127.0.0.1/32",
        &[],
        "[portal.brand]\nname = { en = \"Before Broadband\" }\n",
        &["--pid-file", pid_file.to_str().unwrap()],
    );
    let (_, page) = rc.http_get("/?lang=en");
    assert!(page.contains("Before Broadband"), "{page}");
    // Portal texts and a dictionary of its own: both used to need a restart.
    let dict = rc.dir.path().join("dictionaries");
    std::fs::create_dir(&dict).unwrap();
    for e in std::fs::read_dir(repo_root().join("dictionaries")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dict.join(e.file_name())).unwrap();
    }
    let path = rc.dir.path().join("radcare.toml");
    let cfg = std::fs::read_to_string(&path).unwrap();
    let cfg = format!(
        "dictionary = \"{}\"\n{}",
        dict.join("dictionary").display(),
        cfg.replace("Before Broadband", "After Broadband")
    );
    std::fs::write(&path, cfg).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_radcare"))
        .args(["reload", "--pid-file"])
        .arg(&pid_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        rc.wait_log("reloaded: RADIUS clients and policy, the dictionary, the portal"),
        "{}",
        rc.log()
    );
    let (_, page) = rc.http_get("/?lang=en");
    assert!(page.contains("After Broadband"), "{page}");
    // No server behind a pid file: a clear error, exit 2.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_radcare"))
        .args(["reload", "--pid-file"])
        .arg(run.path().join("absent.pid"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
