//! `radcare agent` as terminals run it, against a real `radcare serve` driven by the
//! operator commands: twenty agents install a release (over an older version or
//! fresh), a corrupted artifact is refused (9018), a killed download resumes with
//! Range, and a result made while the server is down reaches it once it is back.
//! The first acceptance bullet end to end: twenty running agents with Kannel, told by
//! IP push, SMS and WAP Push in two rollout groups, one finding it by its active check.

mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::Digest;
use support::kannel::{KANNEL_PEERS, Kannel, SENDSMS_PASSWORD, SENDSMS_USER};
use support::radcare::Radcare;

fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
}

/// Registers `ids` (model hg8245); their tokens.
fn add_devices(rc: &Radcare, ids: &[String]) -> Vec<String> {
    ids.iter()
        .map(|id| {
            value(
                &rc.cli(&["device", "add", id, "--model", "hg8245"]),
                "token",
            )
            .into()
        })
        .collect()
}

/// Publishes `image` as fw `version`; its sha256.
fn publish(rc: &Radcare, version: &str, image: &[u8]) -> String {
    let file = rc.dir.path().join("fw.bin");
    std::fs::write(&file, image).unwrap();
    let args = [
        "release",
        "publish",
        "--name",
        "fw",
        "--version",
        version,
        "--model",
        "hg8245",
    ];
    let mut args = args.to_vec();
    args.push(file.to_str().unwrap());
    rc.cli(&args);
    hex::encode(sha2::Sha256::digest(image))
}

fn image(len: u32, seed: u32) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(7) ^ seed) as u8).collect()
}

/// One device's agent: its directories and how to start it.
struct Device {
    id: String,
    token: String,
    dir: tempfile::TempDir,
}

impl Device {
    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn install(&self) -> PathBuf {
        self.dir.path().join("install")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("agent.log")
    }

    fn command(&self, rc: &Radcare, key: &str, extra: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_radcare"));
        c.arg("agent")
            .args(["--server", &format!("http://{}", rc.terminal)])
            .args(["--device", &self.id, "--public-key", key])
            .arg("--state-dir")
            .arg(self.state())
            .arg("--install-dir")
            .arg(self.install())
            .args(extra)
            .env("RADCARE_AGENT_TOKEN", &self.token)
            .env("RUST_LOG", "radcare=debug")
            .stdin(Stdio::null());
        c
    }

    /// Starts the agent with its log appended to `agent.log`.
    fn spawn(&self, rc: &Radcare, key: &str, extra: &[&str]) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        self.command(rc, key, extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    fn agent_log(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }
}

fn devices(rc: &Radcare, prefix: &str, n: usize) -> Vec<Device> {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:02}")).collect();
    let tokens = add_devices(rc, &ids);
    ids.into_iter()
        .zip(tokens)
        .map(|(id, token)| Device {
            id,
            token,
            dir: tempfile::tempdir().unwrap(),
        })
        .collect()
}

fn success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

#[test]
fn twenty_agents_install_over_older_versions_and_fresh() {
    let rc = Radcare::start("127.0.0.0/8", &[], "");
    let devs = devices(&rc, "cpe", 20);
    let key = rc.cli(&["keys", "show"]).trim().to_string();
    let new = image(300_000, 0x5a);
    publish(&rc, "2.0.0", &new);

    // Before any deployment, the active check already tells of 2.0.0.
    let out = devs[0]
        .command(&rc, &key, &["--check", "--installed", "fw=1.0.0"])
        .output()
        .unwrap();
    success(&out, "check");
    assert!(String::from_utf8_lossy(&out.stdout).contains("newer name=fw version=2.0.0"));

    // Even devices run 1.0.0 already; odd ones have no fw.
    for d in devs.iter().step_by(2) {
        std::fs::create_dir_all(d.install().join("fw")).unwrap();
        std::fs::write(d.install().join("fw/fw.bin"), b"old firmware").unwrap();
        std::fs::write(d.install().join("fw/old-only"), b"dropped by the update").unwrap();
    }
    let deployment = value(
        &rc.cli(&["deploy", "fw", "2.0.0", "--model", "hg8245"]),
        "deployment",
    )
    .to_string();

    let agents: Vec<Child> = devs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let pre: &[&str] = if i % 2 == 0 {
                &["--installed", "fw=1.0.0"]
            } else {
                &[]
            };
            let mut args = vec!["--once", "--policy", "accept"];
            args.extend_from_slice(pre);
            d.spawn(&rc, &key, &args)
        })
        .collect();
    for (d, mut a) in devs.iter().zip(agents) {
        let status = a.wait().unwrap();
        assert!(status.success(), "{}: {}", d.id, d.agent_log());
    }
    for d in &devs {
        assert_eq!(
            std::fs::read(d.install().join("fw/fw.bin")).unwrap(),
            new,
            "{}",
            d.id
        );
        assert!(
            !d.install().join("fw/old-only").exists(),
            "replaced as a whole"
        );
        let installed = std::fs::read_to_string(d.state().join("installed.json")).unwrap();
        assert!(installed.contains("\"2.0.0\""), "{installed}");
    }
    let shown = rc.cli(&["deployment", "show", &deployment]);
    assert!(shown.contains("counts success=20"), "{shown}");
    for (i, d) in devs.iter().enumerate() {
        let kind = if i % 2 == 0 { "overwrite" } else { "fresh" };
        assert!(
            shown.contains(&format!("device={}\tstate=success\tinstall={kind}", d.id)),
            "{shown}"
        );
    }
    // The server learnt what each runs.
    let listed = rc.cli(&["device", "list"]);
    assert!(listed.contains("cpe-19"), "{listed}");

    // Nothing more to do: another cycle installs nothing and reports nothing.
    let out = devs[1].command(&rc, &key, &["--once"]).output().unwrap();
    success(&out, "idle cycle");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("installed"));
}

#[test]
fn a_corrupted_artifact_is_refused_and_reported_as_9018() {
    let rc = Radcare::start("127.0.0.0/8", &[], "");
    let devs = devices(&rc, "bad", 1);
    let d = &devs[0];
    let key = rc.cli(&["keys", "show"]).trim().to_string();
    let sha = publish(&rc, "1.0.0", &image(100_000, 1));
    // A flipped byte on the server's disk: same length, another hash.
    let stored = rc.dir.path().join("state/artifacts").join(&sha);
    let mut bytes = std::fs::read(&stored).unwrap();
    bytes[50_000] ^= 0xff;
    std::fs::write(&stored, bytes).unwrap();
    let deployment = value(
        &rc.cli(&["deploy", "fw", "1.0.0", "--device", &d.id]),
        "deployment",
    )
    .to_string();

    let out = d.command(&rc, &key, &["--once"]).output().unwrap();
    success(&out, "agent");
    assert!(!d.install().join("fw").exists(), "nothing installed");
    assert!(
        !d.state().join("partial").join(&sha).exists(),
        "the bad bytes are dropped"
    );
    let shown = rc.cli(&["deployment", "show", &deployment]);
    assert!(
        shown.contains(&format!(
            "device={}\tstate=failure\tinstall=-\tcode=9018",
            d.id
        )),
        "{shown}"
    );
}

#[test]
fn a_killed_download_resumes_where_it_stopped() {
    let rc = Radcare::start("127.0.0.0/8", &[], "");
    let devs = devices(&rc, "slow", 1);
    let d = &devs[0];
    let key = rc.cli(&["keys", "show"]).trim().to_string();
    let big = image(3_000_000, 9);
    let sha = publish(&rc, "3.0.0", &big);
    let deployment = value(
        &rc.cli(&["deploy", "fw", "3.0.0", "--device", &d.id]),
        "deployment",
    )
    .to_string();

    // 300 kB/s: ten seconds for the whole; killed after a few hundred kB.
    let mut agent = d.spawn(&rc, &key, &["--once", "--max-rate", "300k"]);
    let partial = d.state().join("partial").join(&sha);
    wait_for("a partial download", Duration::from_secs(20), || {
        file_len(&partial) >= 200_000
    });
    agent.kill().unwrap();
    agent.wait().unwrap();
    let before = file_len(&partial);
    assert!(before < big.len() as u64, "killed mid-way");

    let out = d.command(&rc, &key, &["--once"]).output().unwrap();
    success(&out, "resumed agent");
    let log = String::from_utf8_lossy(&out.stderr);
    let offset: u64 = log
        .lines()
        .find_map(|l| l.split("resuming download at offset ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no resume in {log}"));
    assert!(
        offset >= before && offset > 0,
        "resumed at {offset}, had {before}"
    );
    assert_eq!(std::fs::read(d.install().join("fw/fw.bin")).unwrap(), big);
    let shown = rc.cli(&["deployment", "show", &deployment]);
    assert!(shown.contains("state=success\tinstall=fresh"), "{shown}");
}

#[test]
fn a_result_made_while_the_server_is_down_is_delivered_when_it_is_back() {
    let mut rc = Radcare::start_with_terminal_lines("127.0.0.0/8", "poll_interval = \"1s\"");
    let devs = devices(&rc, "away", 1);
    let d = &devs[0];
    let key = rc.cli(&["keys", "show"]).trim().to_string();
    // Larger than what the kernel buffers between the two (it drains at 1 MB/s).
    let sha = publish(&rc, "1.0.0", &image(20_000_000, 3));
    let deployment = value(
        &rc.cli(&["deploy", "fw", "1.0.0", "--device", &d.id]),
        "deployment",
    )
    .to_string();

    // A long-running agent; the server goes away in the middle of the download. The
    // result (a failure, or a success from what the kernel had buffered) is made
    // while it is away.
    let mut agent = d.spawn(&rc, &key, &["--max-rate", "1M"]);
    let partial = d.state().join("partial").join(&sha);
    wait_for("a partial download", Duration::from_secs(20), || {
        file_len(&partial) > 0
    });
    rc.stop();
    let reports = d.state().join("reports");
    let report = || {
        let mut r = std::fs::read_dir(&reports).ok()?;
        let path = r.next()?.ok()?.path();
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(path).ok()?).ok()
    };
    let mut made = None;
    wait_for("the report on disk", Duration::from_secs(30), || {
        made = report();
        made.is_some()
    });
    let made = made.unwrap();
    rc.restart();
    wait_for("the report delivered", Duration::from_secs(20), || {
        report().is_none()
    });
    agent.kill().unwrap();
    agent.wait().unwrap();
    let shown = rc.cli(&["deployment", "show", &deployment]);
    let status = &made["body"]["status"];
    let want = match status["code"].as_i64() {
        Some(code) => format!("device={}\tstate=failure\tinstall=-\tcode={code}", d.id),
        None => format!("device={}\tstate=success\tinstall=fresh", d.id),
    };
    assert!(shown.contains(&want), "{shown}\n{}", d.agent_log());
}

#[test]
fn a_notice_wakes_the_agent_and_the_user_decides() {
    // Devices poll every 5 minutes: only the notice can make this quick.
    let rc = Radcare::start("127.0.0.0/8", &[], "");
    let devs = devices(&rc, "ask", 2);
    let key = rc.cli(&["keys", "show"]).trim().to_string();
    let new = image(50_000, 4);
    publish(&rc, "1.2.0", &new);

    let notices = devs[0].dir.path().join("notices");
    let notice_arg = notices.to_str().unwrap();
    let log = std::fs::File::create(devs[0].log()).unwrap();
    let mut agent = devs[0]
        .command(&rc, &key, &["--interactive", "--notice-file", notice_arg])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    std::io::Write::write_all(agent.stdin.as_mut().unwrap(), b"y\n").unwrap();
    wait_for("the first poll", Duration::from_secs(10), || {
        devs[0].agent_log().contains("configData sent")
    });
    let args = [
        "deploy",
        "fw",
        "1.2.0",
        "--ask-user",
        "--device",
        &devs[0].id,
        "--device",
        &devs[1].id,
    ];
    let deployment = value(&rc.cli(&args), "deployment").to_string();
    std::fs::write(&notices, "SMS from 10086: fw 1.2.0 for you\n").unwrap();
    let installed = devs[0].install().join("fw/fw.bin");
    wait_for(
        "the install after the notice",
        Duration::from_secs(10),
        || std::fs::read(&installed).is_ok_and(|b| b == new),
    );
    // Installed first, reported after.
    wait_for("the success report", Duration::from_secs(10), || {
        devs[0].agent_log().contains("result report delivered")
    });
    agent.kill().unwrap();
    agent.wait().unwrap();
    assert!(devs[0].agent_log().contains("notice received"));

    // The other user says no: nothing installed, the server told why.
    let mut other = devs[1]
        .command(&rc, &key, &["--once", "--interactive"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(other.stdin.as_mut().unwrap(), b"n\n").unwrap();
    assert!(other.wait().unwrap().success());
    assert!(!devs[1].install().join("fw").exists());
    let shown = rc.cli(&["deployment", "show", &deployment]);
    assert!(
        shown.contains(&format!(
            "device={}\tstate=success\tinstall=fresh",
            devs[0].id
        )),
        "{shown}"
    );
    assert!(
        shown.contains(&format!(
            "device={}\tstate=failure\tinstall=-\tcode=9001\tdetail=declined by the user",
            devs[1].id
        )),
        "{shown}"
    );
}

/// The IP push channel: an agent that polls every 5 minutes holds its long-poll open;
/// a deployment made meanwhile reaches it at once, and it installs.
#[test]
fn an_ip_push_notice_reaches_a_waiting_agent_at_once() {
    let rc = Radcare::start("127.0.0.0/8", &[], "");
    let devs = devices(&rc, "push", 1);
    let key = rc.cli(&["keys", "show"]).trim().to_string();
    let new = image(30_000, 7);
    publish(&rc, "1.3.0", &new);
    let mut agent = devs[0].spawn(&rc, &key, &[]);
    wait_for("the first poll", Duration::from_secs(10), || {
        devs[0].agent_log().contains("configData sent")
    });
    // Held by now: the server counts a device that holds its request as reachable.
    std::thread::sleep(Duration::from_millis(500));
    rc.cli(&["deploy", "fw", "1.3.0", "--device", &devs[0].id]);
    let installed = devs[0].install().join("fw/fw.bin");
    wait_for(
        "the install after the IP push",
        Duration::from_secs(15),
        || std::fs::read(&installed).is_ok_and(|b| b == new),
    );
    agent.kill().unwrap();
    agent.wait().unwrap();
    assert!(
        devs[0].agent_log().contains("IP push"),
        "{}",
        devs[0].agent_log()
    );
}

/// How the harness tells one device of the deployment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Channel {
    IpPush,
    Sms,
    WapPush,
    /// An SMS the modem loses: the agent must find the release by its active check.
    Dropped,
}

/// The first acceptance bullet in one run: `radcare serve`, Kannel with fakesmsc and
/// twenty running agents (no `--once`: they sleep the server's five minutes between
/// polls, so only a notice or the active check can wake them). A release deployed in
/// two rollout groups reaches agents by IP push, by SMS and by WAP Push (the harness
/// plays each phone's modem: what fakesmsc got for a number is appended to that
/// agent's notice file); the one agent whose SMS is lost finds the release by its
/// active check. Half install over 1.0.0, half fresh; radcare records which.
#[test]
fn twenty_running_agents_are_told_by_ip_push_sms_and_wap_push_in_two_groups() {
    if !support::require_peers(KANNEL_PEERS) {
        return;
    }
    let kannel = Kannel::start();
    let extra = format!(
        "[terminal.notices]\nsendsms_url = \"{}\"\nusername = \"{SENDSMS_USER}\"\n\
         password = \"{SENDSMS_PASSWORD}\"\nfrom = \"4000\"\nppg_url = \"{}\"\nhold = \"2s\"\n",
        kannel.sendsms_url, kannel.ppg_url
    );
    let rc = Radcare::start("127.0.0.0/8", &[], &extra);
    let key = rc.cli(&["keys", "show"]).trim().to_string();

    // Device ids sort in index order, so group 1 is 00..09 and group 2 is 10..19,
    // each with every channel; the lost SMS is in group 1, which holds group 2 back
    // until the active check has done its work. It runs 1.0.0 (the check tells of
    // what is newer than what a device runs).
    let channel = |i: usize| match (i, i % 3) {
        (4, _) => Channel::Dropped,
        (_, 0) => Channel::IpPush,
        (_, 1) => Channel::Sms,
        _ => Channel::WapPush,
    };
    let phone = |i: usize| format!("+4915100000{i:02}");
    let devs: Vec<Device> = (0..20)
        .map(|i| {
            let id = format!("e2e-{i:02}");
            let mut args = vec!["device", "add", &id, "--model", "hg8245"];
            let number = phone(i);
            match channel(i) {
                Channel::IpPush => {}
                Channel::Sms | Channel::Dropped => {
                    args.extend(["--phone", &number, "--tag", "notice-sms"])
                }
                Channel::WapPush => args.extend(["--phone", &number, "--tag", "notice-wap"]),
            }
            let token = value(&rc.cli(&args), "token").to_string();
            Device {
                id,
                token,
                dir: tempfile::tempdir().unwrap(),
            }
        })
        .collect();
    let notice_file = |d: &Device| d.dir.path().join("notices");

    let new = image(400_000, 0x33);
    publish(&rc, "2.0.0", &new);
    let mut agents: Vec<Child> = devs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut args = vec!["--policy".to_string(), "accept".into()];
            if i % 2 == 0 {
                std::fs::create_dir_all(d.install().join("fw")).unwrap();
                std::fs::write(d.install().join("fw/fw.bin"), b"old firmware").unwrap();
                std::fs::write(d.install().join("fw/old-only"), b"gone after").unwrap();
                args.extend(["--installed".into(), "fw=1.0.0".into()]);
            }
            // A phone's agent hears only what its modem hands it.
            if channel(i) != Channel::IpPush {
                let file = notice_file(d).to_str().unwrap().to_string();
                args.extend(["--no-push".into(), "--notice-file".into(), file]);
            }
            if channel(i) == Channel::Dropped {
                args.extend(["--check-every".into(), "2s".into()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            d.spawn(&rc, &key, &args)
        })
        .collect();
    // Every agent has polled once (nothing for it yet) and now sleeps; the IP push
    // agents hold their long-poll, so the server counts them as reachable that way.
    wait_for("every first poll", Duration::from_secs(20), || {
        devs.iter()
            .all(|d| d.agent_log().contains("configData sent"))
    });
    std::thread::sleep(Duration::from_millis(500));
    let out = rc.cli(&[
        "deploy", "fw", "2.0.0", "--model", "hg8245", "--groups", "2",
    ]);
    assert!(out.contains("groups=2"), "{out}");
    let deployment = value(&out, "deployment").to_string();

    // The modem of each phone: a message fakesmsc got for its number goes to the
    // agent's notice file, except the one that is lost.
    let owner = |msg: &str| {
        let to = msg.split(' ').nth(1)?;
        (0..20).find(|&i| channel(i) != Channel::IpPush && phone(i) == to)
    };
    let mut handed = 0;
    let deadline = Instant::now() + Duration::from_secs(90);
    let shown = loop {
        let messages = kannel.messages();
        for m in &messages[handed..] {
            let i = owner(m).unwrap_or_else(|| panic!("a message for no device: {m}"));
            if channel(i) != Channel::Dropped {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(notice_file(&devs[i]))
                    .unwrap();
                writeln!(f, "{m}").unwrap();
            }
        }
        handed = messages.len();
        let shown = rc.cli(&["deployment", "show", &deployment]);
        if shown.contains("counts success=20") {
            break shown;
        }
        if Instant::now() > deadline {
            let waiting: Vec<String> = devs
                .iter()
                .filter(|d| !shown.contains(&format!("device={}\tstate=success", d.id)))
                .map(|d| format!("== {}\n{}", d.id, d.agent_log()))
                .collect();
            panic!("not all succeeded:\n{shown}\n{}", waiting.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    for a in &mut agents {
        a.kill().unwrap();
        a.wait().unwrap();
    }

    // Installed and verified everywhere, over 1.0.0 or fresh, and recorded as such.
    for (i, d) in devs.iter().enumerate() {
        assert_eq!(
            std::fs::read(d.install().join("fw/fw.bin")).unwrap(),
            new,
            "{}",
            d.id
        );
        assert!(!d.install().join("fw/old-only").exists(), "{}", d.id);
        let installed = std::fs::read_to_string(d.state().join("installed.json")).unwrap();
        assert!(installed.contains("\"2.0.0\""), "{installed}");
        let (group, kind) = (i / 10 + 1, if i % 2 == 0 { "overwrite" } else { "fresh" });
        let line = format!(
            "group={group}\tdevice={}\tstate=success\tinstall={kind}",
            d.id
        );
        assert!(shown.contains(&line), "{line} in {shown}");
    }
    // Group 2 began only once group 1 was done: every group-2 file was written after
    // every group-1 file (same clock, the install directory's filesystem).
    let written = |d: &Device| {
        std::fs::metadata(d.install().join("fw/fw.bin"))
            .and_then(|m| m.modified())
            .unwrap()
    };
    let last_first = devs[..10].iter().map(written).max().unwrap();
    let first_second = devs[10..].iter().map(written).min().unwrap();
    assert!(
        last_first < first_second,
        "group 2 started before group 1 was done"
    );

    // Each woke the way it was told, and was told once.
    let messages = kannel.messages();
    for (i, d) in devs.iter().enumerate() {
        let log = d.agent_log();
        let theirs: Vec<&String> = messages.iter().filter(|m| owner(m) == Some(i)).collect();
        match channel(i) {
            Channel::IpPush => {
                assert!(log.contains("notice received"), "{log}");
                assert!(log.contains("IP push"), "{log}");
                assert!(theirs.is_empty());
            }
            Channel::Sms | Channel::WapPush => {
                assert_eq!(theirs.len(), 1, "{}: {theirs:?}", d.id);
                let want = if channel(i) == Channel::Sms {
                    " text RADCARE OTA fw 2.0.0 "
                } else {
                    " udh %06%05%04%0B%84"
                };
                assert!(theirs[0].contains(want), "{}: {}", d.id, theirs[0]);
                assert!(log.contains("notice received"), "{log}");
                assert!(!log.contains("IP push"), "{log}");
            }
            Channel::Dropped => {
                assert_eq!(theirs.len(), 1, "the SMS was sent: {theirs:?}");
                assert!(!log.contains("notice received"), "{log}");
                assert!(
                    log.contains("the active check found a newer release: polling now"),
                    "{log}"
                );
            }
        }
    }
}

/// The third acceptance bullet with real agents: the stored artifact has a flipped
/// byte, so each agent refuses it and reports 9018; one failure leaves the rollout
/// running (the threshold is two), the second pauses it, and the next group's agent is
/// offered nothing.
#[test]
fn the_second_refused_artifact_pauses_the_rollout_at_its_threshold() {
    let rc = Radcare::start("127.0.0.0/8", &[], "");
    let devs = devices(&rc, "thr", 4);
    let key = rc.cli(&["keys", "show"]).trim().to_string();
    let sha = publish(&rc, "1.0.0", &image(100_000, 5));
    let stored = rc.dir.path().join("state/artifacts").join(&sha);
    let mut bytes = std::fs::read(&stored).unwrap();
    bytes[99_999] ^= 0x01;
    std::fs::write(&stored, bytes).unwrap();
    let args = [
        "deploy",
        "fw",
        "1.0.0",
        "--model",
        "hg8245",
        "--groups",
        "4",
        "--error-threshold",
        "2",
    ];
    let deployment = value(&rc.cli(&args), "deployment").to_string();
    let cycle = |d: &Device| success(&d.command(&rc, &key, &["--once"]).output().unwrap(), &d.id);
    let refused = |d: &Device| format!("device={}\tstate=failure\tinstall=-\tcode=9018", d.id);

    cycle(&devs[0]);
    let shown = rc.cli(&["deployment", "show", &deployment]);
    assert!(shown.contains(&refused(&devs[0])), "{shown}");
    assert!(shown.contains("state=running"), "one failure: {shown}");

    cycle(&devs[1]);
    let shown = rc.cli(&["deployment", "show", &deployment]);
    assert!(shown.contains(&refused(&devs[1])), "{shown}");
    assert!(shown.contains("state=paused"), "two failures: {shown}");
    assert!(shown.contains("counts failure=2 scheduled=2"), "{shown}");

    // Group 3 is not offered the release while the rollout is paused.
    cycle(&devs[2]);
    assert!(!devs[2].install().join("fw").exists());
    assert!(!devs[2].state().join("partial").join(&sha).exists());
    let shown = rc.cli(&["deployment", "show", &deployment]);
    assert!(
        shown.contains(&format!("device={}\tstate=scheduled", devs[2].id)),
        "{shown}"
    );
    for d in &devs[..2] {
        assert!(!d.install().join("fw").exists(), "{}", d.id);
    }
}
