//! The terminals' IP push over the resumable relay (S4 item 4): `radcare agent` holds
//! its long-poll through `radcare relay client` -> `radcare serve`'s `[relay]` part ->
//! the terminal listener; a notice sent while link B is cut reaches the agent once the
//! link is back, exactly once.

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::cuttable::Cuttable;
use support::radcare::Radcare;

const KEY: &str = "a shared key of the push test, 32";

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn a_notice_sent_while_link_b_is_cut_reaches_the_agent_once_it_is_back() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let terminal = addr(support::free_tcp_port());
    let b = addr(support::free_tcp_port());
    let relay = format!(
        "[relay]\nrole = \"server\"\nlisten = \"{b}\"\ntarget = \"{terminal}\"\nkey = \"{KEY}\"\nkeepalive = \"500ms\"\n"
    );
    let rc = Radcare::start_with_terminal("127.0.0.0/8", terminal, &relay);
    let link = rt.block_on(Cuttable::start(b));

    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("relay.key");
    std::fs::write(&key_file, KEY).unwrap();
    let a = addr(support::free_tcp_port());
    let _client = Kill(
        Command::new(env!("CARGO_BIN_EXE_radcare"))
            .args(["relay", "client", "--keepalive", "500ms"])
            .args(["--listen", &a.to_string(), "--server", &link.at.to_string()])
            .arg("--key-file")
            .arg(&key_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let device = "push-relay-00";
    let token = rc.cli(&["device", "add", device, "--model", "hg8245"]);
    let token = value(&token, "token").to_string();
    let image: Vec<u8> = (0..20_000u32).map(|i| (i * 7) as u8).collect();
    let fw = rc.dir.path().join("fw.bin");
    std::fs::write(&fw, &image).unwrap();
    rc.cli(&[
        "release",
        "publish",
        "--name",
        "fw",
        "--version",
        "2.0.0",
        "--model",
        "hg8245",
        fw.to_str().unwrap(),
    ]);
    let public_key = rc.cli(&["keys", "show"]).trim().to_string();
    let log = dir.path().join("agent.log");
    // The agent knows only the relay client's A as its server.
    let _agent = Kill(
        Command::new(env!("CARGO_BIN_EXE_radcare"))
            .arg("agent")
            .args(["--server", &format!("http://{a}")])
            .args(["--device", device, "--public-key", &public_key])
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--install-dir")
            .arg(dir.path().join("install"))
            .env("RADCARE_AGENT_TOKEN", &token)
            .env("RUST_LOG", "radcare=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let agent_log = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_for(
        "the first poll over the relay",
        Duration::from_secs(15),
        || agent_log().contains("configData sent"),
    );
    // The long-poll is held by now, through the relay.
    std::thread::sleep(Duration::from_millis(500));
    let pushes = || agent_log().matches("IP push: {").count();
    assert_eq!(pushes(), 0);

    link.down();
    std::thread::sleep(Duration::from_millis(300));
    rc.cli(&["deploy", "fw", "2.0.0", "--device", device]);
    // Answered by the server into the relay's buffer; the agent hears nothing yet.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(pushes(), 0, "{}", agent_log());

    link.up();
    wait_for(
        "the notice after the link is back",
        Duration::from_secs(15),
        || pushes() > 0,
    );
    let installed = dir.path().join("install/fw/fw.bin");
    wait_for(
        "the install after the notice",
        Duration::from_secs(15),
        || std::fs::read(&installed).is_ok_and(|b| b == image),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(pushes(), 1, "exactly once:\n{}", agent_log());
    drop(rt);
}
