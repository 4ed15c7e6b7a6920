//! `radcare pcap` on captures recorded here: RADIUS traffic between radclient and the
//! fixture FreeRADIUS captured by dumpcap on the loopback, and a PPPoE redial storm
//! written frame by frame (there is no PPPoE peer on this machine).

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use radcare::capture::{LinkType, PcapWriter};
use serde_json::Value;
use support::{FreeRadius, find_peer, radclient};

const SECRET: &str = "testing123";

fn radcare(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_radcare"))
        .args(args)
        .output()
        .expect("running radcare");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The number at the end of the `label` line of a key/value section.
fn value(text: &str, label: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            let rest = l.trim_start().strip_prefix(label)?;
            let rest = rest.strip_prefix("  ")?;
            rest.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{text}"))
}

/// The cells of the table row whose first cell is `first`.
fn row<'a>(text: &'a str, first: &str) -> Vec<&'a str> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&first))
        .unwrap_or_else(|| panic!("no `{first}` row in:\n{text}"))
}

fn json_cause(json: &Value, cause: &str) -> (u64, u64) {
    let c = json["radius"]["rejects_by_cause"]
        .as_array()
        .expect("rejects_by_cause")
        .iter()
        .find(|c| c["cause"] == cause)
        .unwrap_or_else(|| panic!("no {cause} in {json:#}"));
    (
        c["rejects"].as_u64().unwrap(),
        c["would_be_rewrites"].as_u64().unwrap(),
    )
}

/// Waits for `path` to exist while `child` runs.
fn wait_for_file(path: &Path, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !path.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!("dumpcap exited ({status}) before capturing: {err}");
        }
        assert!(Instant::now() < deadline, "dumpcap never created {path:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn auth(fr: &FreeRadius, user: &str, password: &str) -> String {
    let out = radclient(
        &format!("127.0.0.1:{}", fr.auth_port),
        "auth",
        SECRET,
        &format!("User-Name = {user}\nUser-Password = {password}\nNAS-Port = 1"),
    );
    support::parse_radclient(&out)
        .map(|r| r.code)
        .unwrap_or_else(|| panic!("no reply for {user}: {out:?}"))
}

#[test]
fn radius_capture_of_freeradius_traffic() {
    if !support::require_peers(&["freeradius", "radclient", "dumpcap"]) {
        return;
    }
    let fr = FreeRadius::start(SECRET);
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("radius.pcapng");
    // 8 requests and their 8 replies; -c stops dumpcap by itself, file flushed.
    let packets = 16;
    let mut dumpcap = Command::new(find_peer("dumpcap").unwrap())
        .args(["-q", "-i", "lo", "-f"])
        .arg(format!("udp port {}", fr.auth_port))
        .args(["-c", &packets.to_string(), "-a", "duration:20", "-w"])
        .arg(&cap)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning dumpcap");
    wait_for_file(&cap, &mut dumpcap);
    std::thread::sleep(Duration::from_millis(500));

    assert_eq!(auth(&fr, "alice", "alice-pass"), "Access-Accept");
    assert_eq!(auth(&fr, "alice", "alice-pass"), "Access-Accept");
    for _ in 0..3 {
        // A subscriber redialling with the wrong password.
        assert_eq!(auth(&fr, "bob", "not-bobs-pass"), "Access-Reject");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(auth(&fr, "carol", "carol-pass"), "Access-Reject");
    assert_eq!(auth(&fr, "grace", "grace-pass"), "Access-Reject");
    assert_eq!(auth(&fr, "mallory", "whatever"), "Access-Reject");

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = dumpcap.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "dumpcap did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "dumpcap: {status}");
    let cap_arg = cap.to_str().unwrap();
    let port = fr.auth_port.to_string();

    let (code, text, err) = radcare(&["pcap", cap_arg, "--secret", SECRET, "--port", &port]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(value(&text, "access requests"), 8, "{text}");
    assert_eq!(value(&text, "accepts"), 2);
    assert_eq!(value(&text, "rejects"), 6);
    assert_eq!(value(&text, "would-be rewrites"), 5);
    assert_eq!(value(&text, "invalid"), 0);
    assert_eq!(value(&text, "unanswered"), 0);
    for (cause, action, rejects, rewrites) in [
        ("wrong-password", "rewrite", "3", "3"),
        ("arrears", "rewrite", "1", "1"),
        ("session-limit", "rewrite", "1", "1"),
        // Passed by default: the name may simply be mistyped.
        ("user-unknown", "pass", "1", "0"),
    ] {
        assert_eq!(
            row(&text, cause),
            [cause, action, rejects, rewrites],
            "{text}"
        );
    }
    let bob = row(&text, "bob");
    assert_eq!(&bob[..3], ["bob", "3", "wrong-password"], "{text}");
    // Redials table: bob, 2 redials, min and median seconds.
    let redials = text
        .split("Redials after a reject")
        .nth(1)
        .expect("a redials section");
    let bob = row(redials, "bob");
    assert_eq!(bob[1], "2", "{text}");
    let min: f64 = bob[2].parse().unwrap();
    assert!(min > 0.0 && min < 10.0, "{text}");

    let (code, json, err) = radcare(&[
        "pcap", cap_arg, "--secret", SECRET, "--port", &port, "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&json).expect("--json output parses");
    let counts = &json["radius"]["counts"];
    assert_eq!(counts["access_requests"], 8);
    assert_eq!(counts["accepts"], 2);
    assert_eq!(counts["rejects"], 6);
    assert_eq!(counts["would_be_rewrites"], 5);
    assert_eq!(counts["invalid"], 0);
    assert_eq!(json["radius"]["verified"], true);
    assert_eq!(json_cause(&json, "wrong-password"), (3, 3));
    assert_eq!(json_cause(&json, "arrears"), (1, 1));
    assert_eq!(json_cause(&json, "session-limit"), (1, 1));
    assert_eq!(json_cause(&json, "user-unknown"), (1, 0));
    assert_eq!(json["radius"]["top_rejected_users"][0]["user"], "bob");
    let redials = json["radius"]["redials"].as_array().unwrap();
    let bob = redials
        .iter()
        .find(|r| r["user"] == "bob")
        .expect("bob redialled");
    assert_eq!(bob["redials"], 2);
    assert!(bob["min_seconds"].as_f64().unwrap() <= bob["median_seconds"].as_f64().unwrap());
    assert_eq!(json["frames"]["radius"], packets);

    // Without the port the capture's RADIUS is on a port radcare does not look at.
    let (_, json, _) = radcare(&["pcap", cap_arg, "--json"]);
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["frames"]["radius"], 0);
    assert_eq!(json["frames"]["other"], packets);
}

const AC: [u8; 6] = [0x02, 0xac, 0, 0, 0, 1];
const STORM: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
const CALM: [u8; 6] = [0x02, 0x66, 0x77, 0x88, 0x99, 0xaa];

/// An Ethernet frame, with an 802.1Q tag when `vlan` is given.
fn ether(dst: [u8; 6], src: [u8; 6], vlan: Option<u16>, ethertype: u16, body: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&src);
    if let Some(v) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(body);
    f
}

/// A PPPoE discovery packet with a Service-Name tag (and an AC-Name in PADO).
fn discovery(code: u8, session: u16) -> Vec<u8> {
    let mut tags = vec![0x01, 0x01, 0, 0];
    if code == 0x07 {
        tags.extend_from_slice(&[0x01, 0x02, 0, 4]);
        tags.extend_from_slice(b"bras");
    }
    let mut p = vec![0x11, code];
    p.extend_from_slice(&session.to_be_bytes());
    p.extend_from_slice(&(tags.len() as u16).to_be_bytes());
    p.extend_from_slice(&tags);
    p
}

/// A PAP packet in a PPPoE session: Authenticate-Request (1) with peer id and
/// password, or Ack (2) / Nak (3) with a message.
fn pap(session: u16, code: u8, ident: u8) -> Vec<u8> {
    let data: Vec<u8> = if code == 1 {
        let mut d = vec![3];
        d.extend_from_slice(b"bob");
        d.push(5);
        d.extend_from_slice(b"wrong");
        d
    } else {
        let mut d = vec![2];
        d.extend_from_slice(b"no");
        d
    };
    let mut ppp = vec![0xc0, 0x23, code, ident];
    ppp.extend_from_slice(&((4 + data.len()) as u16).to_be_bytes());
    ppp.extend_from_slice(&data);
    let mut p = vec![0x11, 0x00];
    p.extend_from_slice(&session.to_be_bytes());
    p.extend_from_slice(&(ppp.len() as u16).to_be_bytes());
    p.extend_from_slice(&ppp);
    p
}

/// One dial: PADI, PADO, PADR, PADS, PAP request, and the AC's Ack or Nak.
fn dial(
    w: &mut PcapWriter<Vec<u8>>,
    at: Duration,
    mac: [u8; 6],
    vlan: Option<u16>,
    session: u16,
    ok: bool,
) {
    const DISC: u16 = 0x8863;
    const SESS: u16 = 0x8864;
    let frames = [
        ether([0xff; 6], mac, vlan, DISC, &discovery(0x09, 0)),
        ether(mac, AC, vlan, DISC, &discovery(0x07, 0)),
        ether(AC, mac, vlan, DISC, &discovery(0x19, 0)),
        ether(mac, AC, vlan, DISC, &discovery(0x65, session)),
        ether(AC, mac, vlan, SESS, &pap(session, 1, 1)),
        ether(
            mac,
            AC,
            vlan,
            SESS,
            &pap(session, if ok { 2 } else { 3 }, 1),
        ),
    ];
    for (i, f) in frames.iter().enumerate() {
        w.write(at + Duration::from_millis(10 * i as u64), f)
            .unwrap();
    }
}

#[test]
fn pppoe_redial_storm() {
    let t0 = Duration::from_secs(1_760_000_000);
    let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, false).unwrap();
    // One subscriber redials every 8 seconds, failing each time; another, on VLAN
    // 100, logs in once.
    for i in 0..5u16 {
        dial(
            &mut w,
            t0 + Duration::from_secs(8 * u64::from(i)),
            STORM,
            None,
            0x100 + i,
            false,
        );
    }
    dial(
        &mut w,
        t0 + Duration::from_secs(3),
        CALM,
        Some(100),
        0x200,
        true,
    );
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("pppoe.pcap");
    std::fs::write(&cap, w.into_inner()).unwrap();
    let cap = cap.to_str().unwrap();

    let (code, json, err) = radcare(&["pcap", cap, "--json"]);
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["frames"]["pppoe"], 36);
    let p = &json["pppoe"];
    assert_eq!(p["subscribers"], 2);
    assert_eq!(p["totals"]["padi"], 6);
    assert_eq!(p["totals"]["auth_requests"], 6);
    assert_eq!(p["totals"]["failures"], 5);
    assert_eq!(p["totals"]["successes"], 1);
    let top = p["top_offenders"].as_array().unwrap();
    assert_eq!(top[0]["mac"], "02:11:22:33:44:55");
    assert_eq!(top[0]["attempts"], 5);
    assert_eq!(top[0]["auth_requests"], 5);
    assert_eq!(top[0]["failures"], 5);
    assert_eq!(top[0]["peak_per_minute"], 5);
    assert_eq!(top[1]["mac"], "02:66:77:88:99:aa");
    assert_eq!(top[1]["attempts"], 1);
    assert_eq!(
        (top[1]["failures"].as_u64(), top[1]["successes"].as_u64()),
        (Some(0), Some(1))
    );
    let minutes = p["per_minute"].as_array().unwrap();
    let attempts: u64 = minutes
        .iter()
        .map(|m| m["attempts"].as_u64().unwrap())
        .sum();
    assert_eq!(attempts, 6);

    let (code, text, _) = radcare(&["pcap", cap]);
    assert_eq!(code, 0);
    assert_eq!(value(&text, "PADI (dial attempts)"), 6, "{text}");
    let storm = row(&text, "02:11:22:33:44:55");
    // MAC, attempts, per minute, peak per minute, auth requests, failures, successes.
    assert_eq!(
        &storm[..7],
        ["02:11:22:33:44:55", "5", "5.0", "5", "5", "5", "0"],
        "{text}"
    );
    let top_line = text
        .split("Top dialling subscribers")
        .nth(1)
        .and_then(|s| s.lines().nth(2))
        .unwrap_or_default();
    assert!(
        top_line.trim_start().starts_with("02:11:22:33:44:55"),
        "{text}"
    );
}

#[test]
fn broken_captures_are_reported_with_their_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, false).unwrap();
    dial(
        &mut w,
        Duration::from_secs(1_760_000_000),
        STORM,
        None,
        1,
        false,
    );
    let mut bytes = w.into_inner();
    let whole = bytes.len();
    bytes.truncate(whole - 3);
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, &bytes).unwrap();
    // The report of what came before, and a failure naming where it broke.
    let (code, json, err) = radcare(&["pcap", cut.to_str().unwrap(), "--json"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("truncated") && err.contains("offset"), "{err}");
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["frames"]["pppoe"], 5);
    assert!(json["error"].as_str().unwrap().contains("offset"));

    let junk = dir.path().join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture at all").unwrap();
    let (code, out, err) = radcare(&["pcap", junk.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("not a pcap or pcapng file"), "{err}");

    let (code, _, err) = radcare(&["pcap", dir.path().join("missing.pcap").to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("cannot open"), "{err}");
}
