//! The benchmark kit as an operator runs it: the real `radcare` binary as `aaa-sim`,
//! `udp-forward` and `replay`, on loopback ports, talking real RADIUS; then replay
//! through the proxy (`radcare serve` with the simulator as its AAA) and against
//! FreeRADIUS, compared with radclient. Counts only: no timing is asserted here.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use support::radcare::{NAS_SECRET, Radcare, Upstream};
use support::{FreeRadius, require_peers};

const SIM_SECRET: &str = "sim-secret";

const PAP_AND_CHAP: &str = "\
# two subscribers, one PAP and one CHAP
User-Name = alice
User-Password = \"alice-pass\"
NAS-IP-Address = 127.0.0.1
NAS-Port = 1
Calling-Station-Id = \"00-11-22-33-44-01\"

User-Name = bob
CHAP-Password = \"bob-pass\"
NAS-Port = 2
Calling-Station-Id = \"00-11-22-33-44-02\"
";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_radcare"))
}

/// A running `radcare aaa-sim` or `udp-forward`; SIGTERM on drop.
struct Tool {
    child: Child,
    stdout: BufReader<ChildStdout>,
    /// `key=value` pairs of the first line it printed (its addresses).
    banner: HashMap<String, String>,
}

impl Tool {
    fn start(args: &[&str]) -> Tool {
        let mut child = bin()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning radcare");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).expect("reading the banner");
        assert!(
            !line.is_empty(),
            "{args:?} exited before printing its addresses"
        );
        Tool {
            child,
            stdout,
            banner: key_values(&line),
        }
    }

    fn addr(&self, key: &str) -> SocketAddr {
        self.banner[key].parse().expect("an address")
    }

    /// The simulator as radcare's upstream.
    fn upstream(&self) -> Upstream {
        Upstream {
            name: "sim",
            auth: self.addr("auth"),
            acct: self.addr("acct"),
            secret: SIM_SECRET.into(),
        }
    }

    /// Stops it with SIGTERM and returns the counts it printed on the way out.
    fn stop(mut self) -> HashMap<String, String> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let mut rest = String::new();
        self.stdout
            .read_to_string(&mut rest)
            .expect("reading stats");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit status {status}");
        key_values(rest.lines().last().unwrap_or_default())
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn key_values(line: &str) -> HashMap<String, String> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn sim(reject_percent: u8) -> Tool {
    Tool::start(&[
        "aaa-sim",
        "--listen",
        "127.0.0.1:0",
        "--secret",
        SIM_SECRET,
        "--reject-percent",
        &reject_percent.to_string(),
    ])
}

/// Runs `radcare replay` with `input` on stdin; returns the table and the key=value line.
fn replay(server: SocketAddr, kind: &str, secret: &str, args: &[&str], input: &str) -> Run {
    let mut child = bin()
        .arg("replay")
        .args(args)
        .args(["--duration", "60", &server.to_string(), kind, secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning radcare replay");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "replay did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let last = stdout.lines().last().unwrap_or_default().to_string();
    Run {
        kv: key_values(&last),
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        success: out.status.success(),
    }
}

struct Run {
    kv: HashMap<String, String>,
    stdout: String,
    stderr: String,
    success: bool,
}

impl Run {
    fn n(&self, key: &str) -> u64 {
        self.kv
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in:\n{}\n{}", self.stdout, self.stderr))
            .parse()
            .unwrap()
    }
}

#[test]
fn replay_against_the_simulator() {
    let s = sim(10);
    let r = replay(
        s.addr("auth"),
        "auth",
        SIM_SECRET,
        &["--count", "2000", "--window", "32"],
        PAP_AND_CHAP,
    );
    assert!(r.success, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("closed loop, window 32"), "{}", r.stdout);
    assert_eq!(r.n("sent"), 2000);
    assert_eq!(r.n("received"), 2000);
    assert_eq!(r.n("accepts") + r.n("rejects"), 2000);
    assert_eq!(r.n("rejects"), 200, "every 10th request");
    assert_eq!(r.n("invalid"), 0);
    assert_eq!(r.n("timeouts"), 0);
    assert_eq!(r.n("rewrites"), 0);

    // Open loop, and accounting on the next port.
    let r = replay(
        s.addr("auth"),
        "auth",
        SIM_SECRET,
        &["--count", "300", "--rate", "3000"],
        PAP_AND_CHAP,
    );
    assert_eq!(r.n("received"), 300, "{}", r.stdout);
    assert_eq!(r.n("rejects"), 30);
    let r = replay(
        s.addr("acct"),
        "acct",
        SIM_SECRET,
        &["--count", "100"],
        "Acct-Status-Type = Start\nAcct-Session-Id = \"s-1\"\nUser-Name = alice\n",
    );
    assert_eq!(r.n("acct_responses"), 100, "{}", r.stdout);
    assert_eq!(r.n("invalid"), 0);

    // Status-Server needs no input.
    let r = replay(s.addr("auth"), "status", SIM_SECRET, &["--count", "10"], "");
    assert_eq!(r.n("accepts"), 10, "{}\n{}", r.stdout, r.stderr);

    let stats = s.stop();
    assert_eq!(stats["status"], "10");
    assert_eq!(stats["access_requests"], "2300");
    assert_eq!(stats["rejects"], "230");
    assert_eq!(stats["accounting"], "100");
    assert_eq!(stats["bad_auth"], "0");
}

#[test]
fn wrong_secret_is_invalid_not_accepted() {
    let s = sim(0);
    // The simulator drops a request whose Message-Authenticator does not verify...
    let r = replay(
        s.addr("auth"),
        "auth",
        "not-the-secret",
        &["--count", "5", "--timeout", "0.3"],
        PAP_AND_CHAP,
    );
    assert!(!r.success);
    assert_eq!(r.n("timeouts"), 5);
    assert_eq!(r.n("received"), 0);
    // ...and without one it answers, with a reply that cannot verify for us.
    let r = replay(
        s.addr("auth"),
        "auth",
        "not-the-secret",
        &[
            "--count",
            "5",
            "--no-message-authenticator",
            "--timeout",
            "0.3",
        ],
        PAP_AND_CHAP,
    );
    assert_eq!(r.n("invalid"), 5, "{}", r.stdout);
    assert_eq!(r.n("accepts"), 0);
    assert_eq!(r.n("timeouts"), 5, "an invalid reply answers nothing");
    assert!(!r.success);
}

#[test]
fn bad_input_names_the_line() {
    let r = replay(
        "127.0.0.1:9".parse().unwrap(),
        "auth",
        "x",
        &["--count", "1"],
        "User-Name = a\n\nUser-Name = b\nFramed-Thing = 1\n",
    );
    assert!(!r.success);
    assert!(
        r.stderr
            .contains("in standard input: line 4: unknown attribute \"Framed-Thing\""),
        "{}",
        r.stderr
    );
}

#[test]
fn replay_through_the_trivial_forward() {
    let s = sim(10);
    let f = Tool::start(&[
        "udp-forward",
        "--listen",
        "127.0.0.1:0",
        "--to",
        &s.addr("auth").to_string(),
    ]);
    let r = replay(
        f.addr("listen"),
        "auth",
        SIM_SECRET,
        &["--count", "1000", "--window", "300"],
        PAP_AND_CHAP,
    );
    assert!(r.stdout.contains("3 sockets"), "{}", r.stdout);
    assert_eq!(r.n("received"), 1000, "{}", r.stdout);
    assert_eq!(r.n("rejects"), 100);
    assert_eq!(r.n("invalid"), 0);
    let fs = f.stop();
    assert_eq!(fs["requests"], "1000");
    assert_eq!(fs["replies"], "1000");
}

#[test]
fn replay_through_the_proxy_counts_rewrites() {
    let s = sim(10);
    let rc = Radcare::start("127.0.0.0/8", &[s.upstream()], "");
    let r = replay(
        rc.auth,
        "auth",
        NAS_SECRET,
        &["--count", "2000", "--window", "32"],
        PAP_AND_CHAP,
    );
    let stats = s.stop();
    assert_eq!(r.n("received"), 2000, "{}\n{}", r.stdout, rc.log());
    assert_eq!(r.n("invalid"), 0);
    assert_eq!(r.n("timeouts"), 0);
    assert_eq!(stats["rejects"], "200");
    // Every arrears Reject became a walled-garden Accept; nothing else was rewritten.
    assert_eq!(r.n("rewrites"), 200);
    assert_eq!(r.n("rejects"), 0);
    assert_eq!(r.n("accepts"), 2000);
}

/// `radius.workers = 2`: two packet threads share the listening port, the kernel
/// spreading NAS source ports over them; everything is answered, both threads work, and
/// a second radcare on the same port is refused as with one thread.
#[test]
fn two_workers_share_the_port_and_the_work() {
    let s = sim(10);
    let rc = Radcare::start_with_radius("127.0.0.0/8", &[s.upstream()], "workers = 2");
    // Status-Server from 32 source ports (a fresh socket each): all answered.
    for i in 0..32 {
        assert!(
            support::status_server(rc.auth, NAS_SECRET, i, Duration::from_secs(2)),
            "Status-Server {i} unanswered"
        );
    }
    let per_worker =
        |w: u32| rc.metric(&format!("radcare_worker_datagrams_total{{worker=\"{w}\"}}"));
    assert!(
        per_worker(0) > 0.0 && per_worker(1) > 0.0,
        "{} / {}",
        per_worker(0),
        per_worker(1)
    );
    // The 32 probes, and the start-up probes of the test harness.
    assert!(per_worker(0) + per_worker(1) >= 32.0);
    let r = replay(
        rc.auth,
        "auth",
        NAS_SECRET,
        &["--count", "1000", "--window", "32"],
        PAP_AND_CHAP,
    );
    assert_eq!(r.n("received"), 1000, "{}\n{}", r.stdout, rc.log());
    assert_eq!(
        (r.n("rewrites"), r.n("invalid"), r.n("timeouts")),
        (100, 0, 0)
    );

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("second.toml");
    std::fs::write(
        &cfg,
        format!(
            "[radius]\nauth_listen = \"{}\"\nacct_listen = \"127.0.0.1:0\"\nworkers = 2\n\n\
             [[radius.client]]\nname = \"n\"\naddress = \"127.0.0.1\"\nsecret = \"s\"\n\n\
             [[radius.upstream]]\nname = \"u\"\nauth = \"127.0.0.1:9\"\nsecret = \"s\"\n\n\
             [portal]\nlisten = \"127.0.0.1:0\"\n\n[store]\nurl = \"sqlite://{}\"\n",
            rc.auth,
            dir.path().join("db").display()
        ),
    )
    .unwrap();
    let out = bin()
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .expect("running a second radcare");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a second radcare took the port: {stderr}"
    );
    assert!(
        stderr.contains(&format!("cannot bind {}", rc.auth)),
        "{stderr}"
    );
}

/// SIGHUP applies a changed client secret to the running packet threads; a config that
/// does not parse, or a change that needs a restart, is refused with the reason and the
/// running configuration stays.
#[test]
fn sighup_reloads_clients_and_refuses_what_needs_a_restart() {
    let s = sim(0);
    let rc = Radcare::start_with_radius("127.0.0.0/8", &[s.upstream()], "workers = 2");
    let answers = |secret: &str| {
        (0..8).all(|i| support::status_server(rc.auth, secret, i, Duration::from_millis(500)))
    };
    assert!(answers(NAS_SECRET));

    rc.reload(|t| {
        t.replace(
            &format!("secret = \"{NAS_SECRET}\""),
            "secret = \"rotated-secret\"",
        )
    });
    assert!(
        rc.wait_log("reloaded: RADIUS clients and policy"),
        "{}",
        rc.log()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !answers("rotated-secret") {
        assert!(
            Instant::now() < deadline,
            "the new secret never took:\n{}",
            rc.log()
        );
    }
    assert!(!support::status_server(
        rc.auth,
        NAS_SECRET,
        9,
        Duration::from_millis(300)
    ));

    // Broken: refused with the file and line; the rotated secret still works.
    rc.reload(|t| t.replace("[portal]", "[portal\n"));
    assert!(rc.wait_log("reload refused"), "{}", rc.log());
    assert!(rc.log().contains("radcare.toml:"), "{}", rc.log());
    rc.reload(|t| t.replace("[portal\n", "[portal]"));
    assert!(answers("rotated-secret"));

    // A listener change needs a restart: nothing is applied, not even the secret.
    rc.reload(|t| {
        t.replace("workers = 2", "workers = 3")
            .replace("rotated-secret", "third-secret")
    });
    assert!(rc.wait_log("need a restart"), "{}", rc.log());
    std::thread::sleep(Duration::from_millis(300));
    assert!(answers("rotated-secret"));
    assert!(!support::status_server(
        rc.auth,
        "third-secret",
        10,
        Duration::from_millis(300)
    ));

    // A section that cannot be applied live is refused by its name.
    let admin = format!("listen = \"{}\"", rc.admin);
    rc.reload(|t| {
        t.replace("workers = 3", "workers = 2")
            .replace("third-secret", "rotated-secret")
            .replace(&admin, "listen = \"127.0.0.1:1\"")
    });
    assert!(rc.wait_log("needs_restart=[admin]"), "{}", rc.log());
    assert!(answers("rotated-secret"));
}

#[test]
fn replay_matches_radclient_against_freeradius() {
    if !require_peers(&["freeradius", "radclient"]) {
        return;
    }
    let fr = FreeRadius::start("fr-secret");
    let input = "\
User-Name = alice
User-Password = alice-pass

User-Name = alice
CHAP-Password = alice-pass

User-Name = bob
User-Password = wrong

User-Name = carol
CHAP-Password = x

User-Name = mallory
User-Password = x
";
    let out = fr.radclient("auth", input);
    let text = String::from_utf8_lossy(&out.stdout);
    let count = |code: &str| {
        text.lines()
            .filter(|l| l.starts_with(&format!("Received {code} ")))
            .count() as u64
    };
    let (accepts, rejects) = (count("Access-Accept"), count("Access-Reject"));
    assert_eq!((accepts, rejects), (2, 3), "radclient:\n{text}");
    let r = replay(
        fr.auth_addr(),
        "auth",
        "fr-secret",
        &["--count", "5", "--window", "1"],
        input,
    );
    assert_eq!(
        (r.n("accepts"), r.n("rejects")),
        (accepts, rejects),
        "{}",
        r.stdout
    );
    assert_eq!(r.n("invalid"), 0);
    // A few rounds of the same list, a few in flight at once.
    let r = replay(
        fr.auth_addr(),
        "auth",
        "fr-secret",
        &["--count", "50", "--window", "8"],
        input,
    );
    assert_eq!((r.n("accepts"), r.n("rejects")), (20, 30), "{}", r.stdout);
    assert_eq!(r.n("invalid"), 0);
}

#[test]
fn storm_of_redials_with_and_without_radcare() {
    let s = sim(100);
    let storm = |server: SocketAddr, secret: &str| {
        let out = bin()
            .args([
                "storm",
                "--subscribers",
                "10",
                "--redial",
                "1",
                "--jitter",
                "0",
            ])
            .args(["--duration", "3", &server.to_string(), secret])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(PAP_AND_CHAP.as_bytes())?;
                c.wait_with_output()
            })
            .expect("running radcare storm");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{stdout}");
        let kv = key_values(stdout.lines().last().unwrap_or_default());
        let n = |k: &str| kv[k].parse::<f64>().unwrap();
        (n("failing"), n("requests"), n("rejects"), n("garden"))
    };
    // Straight to an AAA that rejects everyone: every answer is a Reject, and each
    // router dials again after its interval.
    let (failing, requests, rejects, garden) = storm(s.addr("auth"), SIM_SECRET);
    assert_eq!(failing, 10.0);
    assert_eq!(rejects, requests);
    assert_eq!(garden, 0.0);
    assert!(requests > 10.0, "routers redial after a Reject");
    // Through radcare: one walled-garden Accept each, then quiet for the session.
    let rc = Radcare::start("127.0.0.0/8", &[s.upstream()], "");
    let (failing, requests, rejects, garden) = storm(rc.auth, NAS_SECRET);
    assert_eq!(
        (failing, requests, rejects, garden),
        (10.0, 10.0, 0.0, 10.0)
    );
}

#[test]
fn unanswered_requests_are_retransmitted_then_time_out() {
    // A socket that never answers.
    let hole = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let r = replay(
        hole.local_addr().unwrap(),
        "auth",
        "x",
        &["--count", "3", "--retries", "2", "--timeout", "0.1"],
        PAP_AND_CHAP,
    );
    assert_eq!(r.n("sent"), 3);
    assert_eq!(r.n("retransmits"), 6, "{}", r.stdout);
    assert_eq!(r.n("timeouts"), 3);
    assert!(!r.success);
    // Each request went out three times, byte for byte the same.
    hole.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    let mut seen: HashMap<Vec<u8>, u32> = HashMap::new();
    while let Ok(n) = hole.recv(&mut buf) {
        *seen.entry(buf[..n].to_vec()).or_default() += 1;
    }
    assert_eq!(seen.len(), 3);
    assert!(seen.values().all(|&c| c == 3), "{seen:?}");
}

#[test]
fn duplicate_replies_are_late_not_invalid() {
    use radcare::dict::Dictionary;
    use radcare::replay::sim::Responder;
    use radcare::replay::{Keys, MaPolicy, Mode, Options, generator, load_templates};
    use radcare::wire::Code;
    use std::sync::atomic::AtomicBool;

    // A responder that answers every request twice.
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let addr = server.local_addr().unwrap();
    let answering = std::thread::spawn(move || {
        let mut r = Responder::new(SIM_SECRET.as_bytes(), 0);
        let (mut buf, mut out) = ([0u8; 4096], [0u8; 4096]);
        while let Ok((n, from)) = server.recv_from(&mut buf) {
            if let Some(len) = r.answer(&buf[..n], &mut out) {
                server.send_to(&out[..len], from).unwrap();
                server.send_to(&out[..len], from).unwrap();
            }
        }
    });
    let dict = Dictionary::builtin().unwrap();
    let opts = Options {
        server: addr,
        bind: None,
        keys: Keys::new(SIM_SECRET.as_bytes()),
        templates: load_templates(PAP_AND_CHAP, &dict, Code::AccessRequest, MaPolicy::Add).unwrap(),
        mode: Mode::Window(4),
        count: Some(50),
        duration: Duration::from_secs(30),
        timeout: Duration::from_secs(2),
        retries: 0,
        sockets: None,
    };
    let stats = generator::run(&opts, &AtomicBool::new(false)).unwrap();
    answering.join().unwrap();
    assert_eq!(stats.received, 50);
    assert_eq!(stats.accepts, 50);
    // Every second copy; loopback keeps the order, so only the last one can come
    // after the run ended.
    assert!((49..=50).contains(&stats.late), "late={}", stats.late);
    assert_eq!(stats.invalid, 0);
}

/// Reject counters are kept per cause index on the packet path; a reload that changes
/// the cause table must not count a new cause under the old one's label.
#[test]
fn a_reload_that_renumbers_the_causes_keeps_their_labels() {
    let s = sim(100);
    let rc = Radcare::start("127.0.0.0/8", &[s.upstream()], "");
    let pap = "User-Name = alice\nUser-Password = \"alice-pass\"\nNAS-Port = 1\n";
    let series = |cause: &str| {
        format!("radcare_rejects_total{{cause=\"{cause}\",action=\"rewrite\",method=\"pap\"}}")
    };
    let r = replay(rc.auth, "auth", NAS_SECRET, &["--count", "1"], pap);
    assert_eq!(r.n("rejects") + r.n("accepts"), 1, "{}", r.stdout);
    assert_eq!(rc.wait_metric(&series("arrears"), 1.0), 1.0);
    // The simulator's "arrears" text is now cause `billing`, at the index arrears had.
    let arrears_at = radcare::policy::BUILTIN_CAUSES
        .iter()
        .position(|c| *c == "arrears")
        .unwrap();
    let mut table = String::from("[policy]\nreplace_builtin_causes = true\n\n");
    for i in 0..arrears_at {
        table.push_str(&format!(
            "[[policy.cause]]\nid = \"never-{i}\"\nreply_message = \"^never matches$\"\n\n"
        ));
    }
    table.push_str("[[policy.cause]]\nid = \"billing\"\naction = \"rewrite\"\nreply_message = \"(?i)arrear\"\n");
    rc.reload(|t| format!("{t}\n{table}"));
    assert!(
        rc.wait_log("reloaded: RADIUS clients and policy"),
        "{}",
        rc.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    let pap = pap.replace("NAS-Port = 1", "NAS-Port = 2");
    replay(rc.auth, "auth", NAS_SECRET, &["--count", "1"], &pap);
    assert_eq!(rc.wait_metric(&series("billing"), 1.0), 1.0, "{}", rc.log());
    assert_eq!(
        rc.metric(&series("arrears")),
        1.0,
        "not counted under the old label"
    );
}

/// `script` runs a command on a pseudo-terminal; returns what the terminal showed.
fn on_a_terminal(command: &str) -> String {
    let out = Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux)");
    assert!(out.status.success(), "{command}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn progress_shows_on_a_terminal_and_never_in_a_pipe() {
    if !support::require_peer("script") {
        return;
    }
    let sim = sim(0);
    let input = "User-Name = alice\nUser-Password = alice-pass\n";
    let piped = replay(
        sim.addr("auth"),
        "auth",
        SIM_SECRET,
        &["--count", "20000"],
        input,
    );
    assert!(piped.success, "{}", piped.stderr);
    for text in [&piped.stdout, &piped.stderr] {
        assert!(
            !text.contains('\r') && !text.contains('\x1b') && !text.contains(", received "),
            "progress in a pipe:\n{text}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("input.txt");
    std::fs::write(&file, input).unwrap();
    let bin = env!("CARGO_BIN_EXE_radcare");
    let shown = on_a_terminal(&format!(
        "{bin} replay -f {} --count 20000 --duration 60 {} auth {SIM_SECRET}",
        file.display(),
        sim.addr("auth")
    ));
    assert!(shown.contains("received="), "the report: {shown}");
    assert!(
        shown.contains("\x1b[") && shown.contains(", received "),
        "a progress bar on the terminal: {shown:?}"
    );

    let pcap = support::packets_fixture_dir().join("radclient.pcap");
    let piped = bin_output(&["pcap", pcap.to_str().unwrap()]);
    assert!(!piped.contains('\r') && !piped.contains('\x1b'), "{piped}");
    let shown = on_a_terminal(&format!("{bin} pcap {}", pcap.display()));
    assert!(
        shown.contains("\x1b["),
        "a progress bar on the terminal: {shown:?}"
    );
}

fn bin_output(args: &[&str]) -> String {
    let out = bin().args(args).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}
