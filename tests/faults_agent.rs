//! The terminal side of fault reports (S2) through real processes: `radcare agent
//! fetch` downloading from nginx download nodes and reporting to `radcare serve`, and
//! an operator answering with `radcare faults`.

mod support;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};
use support::nginx::Nginx;
use support::radcare::Radcare;

const IMSI_A: &str = "262010000000031";
const IMSI_B: &str = "262010000000032";

/// Ten distinct files `f0.bin`..`f9.bin` of a few kilobytes each.
fn contents() -> Vec<(String, Vec<u8>)> {
    (0..10u8)
        .map(|i| {
            let body: Vec<u8> = (0..4096u32 + u32::from(i) * 1000)
                .map(|n| (n.wrapping_mul(31) as u8) ^ i)
                .collect();
            (format!("f{i}.bin"), body)
        })
        .collect()
}

/// The download list for `files` on `node`: `URL SHA256 SIZE` a line.
fn list(dir: &Path, node: &str, files: &[(String, Vec<u8>)]) -> PathBuf {
    let mut text = String::from("# test download list\n");
    for (name, body) in files {
        let sha = hex::encode(Sha256::digest(body));
        text.push_str(&format!("{node}/{name} {sha} {}\n", body.len()));
    }
    let path = dir.join(format!("list-{}.txt", files.len()));
    fs::write(&path, text).unwrap();
    path
}

struct Run {
    code: i32,
    out: String,
}

/// `radcare agent fetch LIST --out OUT --state-dir STATE --server RC --imsi IMSI ARGS`.
fn fetch(rc: &Radcare, list: &Path, out: &Path, state: &Path, imsi: &str, args: &[&str]) -> Run {
    let o = Command::new(env!("CARGO_BIN_EXE_radcare"))
        .args(["agent", "fetch"])
        .arg(list)
        .arg("--out")
        .arg(out)
        .arg("--state-dir")
        .arg(state)
        .args([
            "--server",
            &format!("http://{}", rc.terminal),
            "--imsi",
            imsi,
        ])
        .args(args)
        .output()
        .expect("running radcare agent fetch");
    let run = Run {
        code: o.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
    };
    eprintln!(
        "agent fetch (exit {}):\n{}{}",
        run.code,
        run.out,
        String::from_utf8_lossy(&o.stderr)
    );
    run
}

/// The account id the agent printed for its report.
fn account_of(out: &str) -> String {
    let at = out.find("(account ").expect("a report was sent") + "(account ".len();
    out[at..].split(')').next().unwrap().to_string()
}

#[test]
fn the_agent_skips_what_fails_reports_it_and_mends_it_with_the_fixes_given_back() {
    if !support::require_peer("nginx") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let files = contents();
    // Node 1: two files missing, one corrupted (same length, other bytes). Node 2:
    // every file as it should be.
    let (root1, root2) = (work.path().join("node1"), work.path().join("node2"));
    fs::create_dir_all(&root1).unwrap();
    fs::create_dir_all(&root2).unwrap();
    for (i, (name, body)) in files.iter().enumerate() {
        fs::write(root2.join(name), body).unwrap();
        match i {
            3 | 6 => {}
            8 => fs::write(root1.join(name), vec![0u8; body.len()]).unwrap(),
            _ => fs::write(root1.join(name), body).unwrap(),
        }
    }
    let node1 = Nginx::start(&root1);
    let node2 = Nginx::start(&root2);
    let rc = Radcare::start("127.0.0.0/8", &[], "");
    // The operator knows this node's faults: fetch from the other one.
    for code in ["9016", "9018"] {
        let out = rc.cli(&[
            "faults",
            "resolve",
            code,
            "--node",
            "127.0.0.1",
            "--retry-url",
            &format!("{}/", node2.url()),
        ]);
        assert!(out.contains("fixed=0"), "{out}");
    }

    let list1 = list(work.path(), &node1.url(), &files);
    let (out_a, state_a) = (work.path().join("out-a"), work.path().join("state-a"));
    let run = fetch(
        &rc,
        &list1,
        &out_a,
        &state_a,
        IMSI_A,
        &["--report", "always"],
    );
    assert!(run.out.contains("7 of 10 fetched, 3 failed"), "{}", run.out);
    for failed in [
        "failed f3.bin code=9016",
        "failed f6.bin code=9016",
        "failed f8.bin code=9018",
    ] {
        assert!(run.out.contains(failed), "{failed}: {}", run.out);
    }
    assert!(run.out.contains(": 3 faults, 0 waiting"), "{}", run.out);
    for name in ["f3.bin", "f6.bin", "f8.bin"] {
        let worked = format!("retry from {}/{name}: worked", node2.url());
        assert!(run.out.contains(&worked), "{worked}: {}", run.out);
    }
    assert!(run.out.contains("all 10 files in place"), "{}", run.out);
    assert_eq!(run.code, 0);
    for (name, body) in &files {
        assert_eq!(&fs::read(out_a.join(name)).unwrap(), body, "{name}");
    }
    // Node 1 served the seven it could and refused the two it lacks; node 2 served the
    // three the fixes asked for, and nothing else.
    let log1 = node1.access_log();
    assert_eq!(log1.len(), 10);
    assert_eq!(log1.iter().filter(|a| a.status == 404).count(), 2);
    let mut from2: Vec<String> = node2
        .access_log()
        .iter()
        .map(|a| format!("{} {}", a.status, a.uri))
        .collect();
    from2.sort();
    assert_eq!(from2, ["200 /f3.bin", "200 /f6.bin", "200 /f8.bin"]);
    // The server filed one report with the three faults under the IMSI's account.
    let account = account_of(&run.out);
    let history = rc.cli(&["faults", "account", &account]);
    assert_eq!(history.matches("\nreport ").count(), 1, "{history}");
    assert_eq!(history.matches("state=fixed").count(), 3, "{history}");
    assert!(
        history.contains("identity imsi=262010000000031"),
        "{history}"
    );

    // A fault nobody knows: the file cannot be kept (a directory holds its name).
    let one = list(work.path(), &node2.url(), &files[..1]);
    let blocked_a = work.path().join("blocked-a");
    fs::create_dir_all(blocked_a.join("f0.bin")).unwrap();
    let run = fetch(&rc, &one, &blocked_a, &state_a, IMSI_A, &[]);
    assert!(run.out.contains("failed f0.bin code=9002"), "{}", run.out);
    assert!(
        run.out.contains(": 1 faults, 1 waiting for an operator"),
        "{}",
        run.out
    );
    assert!(run.out.contains("missing: f0.bin"), "{}", run.out);
    assert_eq!(run.code, 1);
    let queue = rc.cli(&["faults", "queue"]);
    assert!(
        queue.contains("code=9002") && queue.contains("item=f0.bin"),
        "{queue}"
    );

    // The operator resolves it: the fix reaches the first terminal when it next talks
    // to the server, and a second terminal with the same fault gets it at once.
    let out = rc.cli(&["faults", "resolve", "9002", "--set", "storage=/data/dl"]);
    assert!(out.contains("fixed=1"), "{out}");
    assert!(rc.cli(&["faults", "queue"]).trim().is_empty());
    let empty = work.path().join("empty.txt");
    fs::write(&empty, "# nothing to fetch\n").unwrap();
    let run = fetch(&rc, &empty, &out_a, &state_a, IMSI_A, &[]);
    assert!(
        run.out
            .contains("fix f0.bin code=9002: configuration storage=/data/dl written"),
        "{}",
        run.out
    );
    let config = fs::read_to_string(state_a.join("fix-config.toml")).unwrap();
    assert!(config.contains("storage = \"/data/dl\""), "{config}");

    let (blocked_b, state_b) = (work.path().join("blocked-b"), work.path().join("state-b"));
    fs::create_dir_all(blocked_b.join("f0.bin")).unwrap();
    let run = fetch(&rc, &one, &blocked_b, &state_b, IMSI_B, &[]);
    assert!(
        run.out.contains(": 1 faults, 0 waiting for an operator"),
        "{}",
        run.out
    );
    assert!(
        run.out
            .contains("fix f0.bin code=9002: configuration storage=/data/dl written"),
        "{}",
        run.out
    );
    assert_ne!(
        account_of(&run.out),
        account,
        "another terminal, another account"
    );
    let config = fs::read_to_string(state_b.join("fix-config.toml")).unwrap();
    assert!(config.contains("storage = \"/data/dl\""), "{config}");
    assert!(rc.cli(&["faults", "queue"]).trim().is_empty());
}

#[test]
fn a_batch_kept_for_later_arrives_whole_and_once() {
    if !support::require_peer("nginx") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let files = contents();
    // The node has only the first file: every other one is a fault.
    let root = work.path().join("node");
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join(&files[0].0), &files[0].1).unwrap();
    let node = Nginx::start(&root);
    let mut rc = Radcare::start("127.0.0.0/8", &[], "");
    let (out, state) = (work.path().join("out"), work.path().join("state"));

    // Two runs keep their faults (1, then 2 more).
    let run = fetch(
        &rc,
        &list(work.path(), &node.url(), &files[..2]),
        &out,
        &state,
        IMSI_A,
        &["--report", "later"],
    );
    assert!(
        run.out.contains("1 faults kept for the next report"),
        "{}",
        run.out
    );
    // Asked, the user answers nonsense, then "later".
    let mut child = Command::new(env!("CARGO_BIN_EXE_radcare"))
        .args(["agent", "fetch"])
        .arg(list(work.path(), &node.url(), &files[..3]))
        .arg("--out")
        .arg(&out)
        .arg("--state-dir")
        .arg(&state)
        .args(["--server", &format!("http://{}", rc.terminal)])
        .args(["--imsi", IMSI_A, "--interactive"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"maybe\nlater\n")
        .unwrap();
    let asked = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    assert_eq!(asked.matches("Send the report now?").count(), 2, "{asked}");
    assert!(
        asked.contains("2 downloads failed (1 faults kept from before)"),
        "{asked}"
    );
    assert!(
        asked.contains("3 faults kept for the next report"),
        "{asked}"
    );

    // The next report goes with them, but the server is down: kept, as one batch.
    rc.stop();
    let run = fetch(
        &rc,
        &list(work.path(), &node.url(), &files[..4]),
        &out,
        &state,
        IMSI_A,
        &["--report", "always"],
    );
    assert!(
        run.out.contains("not sent") && run.out.contains("1 reports kept"),
        "{}",
        run.out
    );
    let outbox: Vec<_> = fs::read_dir(state.join("faults/outbox")).unwrap().collect();
    assert_eq!(outbox.len(), 1);

    // Up again: the batch arrives whole.
    rc.restart();
    let empty = work.path().join("empty.txt");
    fs::write(&empty, "\n").unwrap();
    let run = fetch(&rc, &empty, &out, &state, IMSI_A, &["--report", "always"]);
    assert!(run.out.contains(": 6 faults, 0 waiting"), "{}", run.out);
    let account = account_of(&run.out);

    // The answer lost on the way (the agent sends the same report again): the server
    // had it, and nothing is filed twice.
    let sent: Vec<PathBuf> = fs::read_dir(state.join("faults/sent"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(sent.len(), 1);
    fs::copy(
        &sent[0],
        state
            .join("faults/outbox")
            .join(sent[0].file_name().unwrap()),
    )
    .unwrap();
    let run = fetch(&rc, &empty, &out, &state, IMSI_A, &["--report", "always"]);
    assert!(run.out.contains("(the server had it)"), "{}", run.out);
    let history = rc.cli(&["faults", "account", &account]);
    assert_eq!(history.matches("\nreport ").count(), 1, "{history}");
    let faults = history.lines().filter(|l| l.starts_with("report=")).count();
    assert_eq!(faults, 6, "{history}");
    for name in ["f1.bin", "f2.bin", "f3.bin"] {
        assert!(
            history.contains(&format!("item={name}")),
            "{name}: {history}"
        );
    }
}

/// The value of `key=` in a line of operator output.
fn value<'a>(out: &'a str, key: &str) -> &'a str {
    let at = out.find(&format!("{key}=")).expect(key) + key.len() + 1;
    out[at..].split_whitespace().next().unwrap()
}

#[test]
fn an_ota_download_fault_is_skipped_reported_by_the_device_and_mended() {
    if !support::require_peer("nginx") {
        return;
    }
    let rc = Radcare::start("127.0.0.0/8", &[], "");
    let work = tempfile::tempdir().unwrap();
    let token = value(
        &rc.cli(&["device", "add", "cpe-1", "--model", "hg8245"]),
        "token",
    )
    .to_string();
    let key = rc.cli(&["keys", "show"]).trim().to_string();
    let files = contents();
    let (fw, cfg) = (work.path().join("fw.bin"), work.path().join("cfg.bin"));
    fs::write(&fw, &files[0].1).unwrap();
    fs::write(&cfg, &files[1].1).unwrap();
    let (fw_s, cfg_s) = (fw.display().to_string(), cfg.display().to_string());
    rc.cli(&[
        "release",
        "publish",
        "--name",
        "fw",
        "--version",
        "1.0.0",
        "--model",
        "hg8245",
        &fw_s,
        &cfg_s,
    ]);
    // The server's copy of cfg.bin is damaged; a mirror node holds the artifacts by
    // their SHA-256, as radcare stores them.
    let cfg_sha = hex::encode(Sha256::digest(&files[1].1));
    let stored = rc.dir.path().join("state/artifacts").join(&cfg_sha);
    fs::write(&stored, vec![7u8; files[1].1.len()]).unwrap();
    let mirror_root = work.path().join("mirror");
    fs::create_dir_all(&mirror_root).unwrap();
    fs::write(mirror_root.join(&cfg_sha), &files[1].1).unwrap();
    let mirror = Nginx::start(&mirror_root);
    rc.cli(&[
        "faults",
        "resolve",
        "9018",
        "--node",
        "127.0.0.1",
        "--retry-url",
        &format!("{}/", mirror.url()),
    ]);
    rc.cli(&["deploy", "fw", "1.0.0", "--device", "cpe-1"]);

    let state = work.path().join("state");
    let agent = |extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_radcare"))
            .arg("agent")
            .args(["--server", &format!("http://{}", rc.terminal)])
            .args(["--device", "cpe-1", "--public-key", &key, "--once"])
            .arg("--state-dir")
            .arg(&state)
            .arg("--install-dir")
            .arg(work.path().join("install"))
            .args(extra)
            .env("RADCARE_AGENT_TOKEN", &token)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        eprintln!("agent:\n{out}{}", String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success());
        out
    };
    let out = agent(&[]);
    // fw.bin downloaded all the same; cfg.bin reported by the device and mended from
    // the mirror, verified, where the next download of it looks.
    assert!(out.contains(": 1 faults, 0 waiting"), "{out}");
    assert!(
        out.contains(&format!("retry from {}/{cfg_sha}: worked", mirror.url())),
        "{out}"
    );
    let fw_sha = hex::encode(Sha256::digest(&files[0].1));
    assert_eq!(
        fs::read(state.join("partial").join(&fw_sha)).unwrap(),
        files[0].1
    );
    assert_eq!(
        fs::read(state.join("partial").join(&cfg_sha)).unwrap(),
        files[1].1
    );
    let history = rc.cli(&["faults", "account", &account_of(&out)]);
    assert!(history.contains("identity device=cpe-1"), "{history}");
    assert!(
        history.contains("code=9018") && history.contains(&format!("item={cfg_sha}")),
        "{history}"
    );
    assert!(
        !work.path().join("install/fw").exists(),
        "not installed with a file missing"
    );

    // Offered again, it installs from what it has: nothing more from the server.
    rc.cli(&["deploy", "fw", "1.0.0", "--device", "cpe-1"]);
    agent(&[]);
    assert_eq!(
        fs::read(work.path().join("install/fw/cfg.bin")).unwrap(),
        files[1].1
    );
    assert_eq!(mirror.access_log().len(), 1);
}

#[test]
fn a_fix_that_does_not_work_is_reported_and_counts_against_its_entry() {
    if !support::require_peer("nginx") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let files = contents();
    // Neither node has the file: the retry the operator chose cannot work.
    let empty_root = work.path().join("node");
    fs::create_dir_all(&empty_root).unwrap();
    let node = Nginx::start(&empty_root);
    let rc = Radcare::start("127.0.0.0/8", &[], "");
    let out = rc.cli(&[
        "faults",
        "resolve",
        "9016",
        "--node",
        "127.0.0.1",
        "--retry-url",
        &format!("{}/", node.url()),
    ]);
    let entry = value(&out, "entry").to_string();
    let (dl, state) = (work.path().join("out"), work.path().join("state"));
    let run = fetch(
        &rc,
        &list(work.path(), &node.url(), &files[..1]),
        &dl,
        &state,
        IMSI_A,
        &[],
    );
    // Reported, retried, failed again: reported again (counted against the entry),
    // retried again, and what still fails is kept for the next run.
    assert_eq!(run.out.matches(": retry from").count(), 2, "{}", run.out);
    assert_eq!(run.out.matches("did not work").count(), 2, "{}", run.out);
    assert_eq!(run.out.matches("\nreport ").count(), 2, "{}", run.out);
    assert!(
        run.out.contains("1 faults kept for the next report"),
        "{}",
        run.out
    );
    assert_eq!(run.code, 1);
    let kb = rc.cli(&["faults", "kb"]);
    let line = kb
        .lines()
        .find(|l| l.starts_with(&format!("{entry}\t")))
        .expect("the entry");
    assert!(line.contains("given=2\tfailed=1\tsuccess=50%"), "{kb}");
}
