//! The proxy between real peers: FreeRADIUS (Debian) as the AAA, radclient as the NAS,
//! tshark to decode what we send. Each test starts its own FreeRADIUS and radcare on
//! free loopback ports.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use radcare::wire::attr::types;
use radcare::wire::crypto::{self, MaStatus};
use radcare::wire::{Builder, Code, Packet};
use support::radcare::{NAS_SECRET, Radcare, Upstream};
use support::{FreeRadius, parse_radclient, radclient, require_peers};

const AAA_SECRET: &str = "aaa-secret";

fn upstream(fr: &FreeRadius, name: &'static str) -> Upstream {
    Upstream {
        name,
        auth: fr.auth_addr(),
        acct: fr.acct_addr(),
        secret: AAA_SECRET.into(),
    }
}

fn setup() -> Option<(FreeRadius, Radcare)> {
    if !require_peers(&["freeradius", "radclient"]) {
        return None;
    }
    let fr = FreeRadius::start(AAA_SECRET);
    let rc = Radcare::start("127.0.0.0/8", &[upstream(&fr, "aaa-1")], "");
    Some((fr, rc))
}

fn auth(rc: &Radcare, input: &str) -> Option<support::RadclientReply> {
    let out = radclient(&rc.auth.to_string(), "auth", NAS_SECRET, input);
    parse_radclient(&out)
}

/// radclient prints Class (octets in Debian's dictionary) as 0x-hex.
fn class_text(reply: &support::RadclientReply) -> String {
    let v = reply.get("Class").expect("Class in the rewritten Accept");
    let bytes = hex::decode(v.trim_start_matches("0x")).expect("hex Class");
    String::from_utf8(bytes).expect("utf-8 Class")
}

#[test]
fn good_user_gets_the_aaa_accept() {
    let Some((_fr, rc)) = setup() else { return };
    for input in [
        "User-Name = alice\nUser-Password = alice-pass\nMessage-Authenticator = 0x00",
        "User-Name = alice\nCHAP-Password = alice-pass\nMessage-Authenticator = 0x00",
    ] {
        let r = auth(&rc, input).expect("a reply");
        assert_eq!(r.code, "Access-Accept", "{input}");
        assert_eq!(r.get("Reply-Message").as_deref(), Some("welcome alice"));
        assert_eq!(r.get("Framed-IP-Address").as_deref(), Some("10.0.0.5"));
        assert_eq!(r.get("Session-Timeout").as_deref(), Some("3600"));
        assert!(r.get("Filter-Id").is_none());
    }
}

#[test]
fn rejects_become_walled_garden_accepts_by_cause() {
    let Some((_fr, rc)) = setup() else { return };
    for (input, cause) in [
        (
            "User-Name = bob\nUser-Password = wrong\nMessage-Authenticator = 0x00",
            "wrong-password",
        ),
        (
            "User-Name = bob\nCHAP-Password = wrong\nMessage-Authenticator = 0x00",
            "wrong-password",
        ),
        (
            "User-Name = carol\nUser-Password = x\nMessage-Authenticator = 0x00",
            "arrears",
        ),
        (
            "User-Name = dave\nUser-Password = x\nMessage-Authenticator = 0x00",
            "account-disabled",
        ),
        (
            "User-Name = frank\nUser-Password = frank-pass\nMessage-Authenticator = 0x00",
            "account-expired",
        ),
        (
            "User-Name = grace\nUser-Password = x\nMessage-Authenticator = 0x00",
            "session-limit",
        ),
    ] {
        // radclient only prints a reply whose authenticators it accepted.
        let r = auth(&rc, input).unwrap_or_else(|| panic!("no reply for {input}\n{}", rc.log()));
        assert_eq!(r.code, "Access-Accept", "{input}");
        assert_eq!(r.get("Filter-Id").as_deref(), Some("radcare-garden"));
        assert_eq!(r.get("Session-Timeout").as_deref(), Some("300"));
        assert!(
            r.get("Reply-Message").is_none(),
            "no Reply-Message in a garden Accept"
        );
        let class = class_text(&r);
        assert!(
            class.starts_with(&format!("radcare;cause={cause};g=")),
            "{class}"
        );
    }
    // Unknown users are never let in by default.
    let r = auth(
        &rc,
        "User-Name = mallory\nUser-Password = x\nMessage-Authenticator = 0x00",
    )
    .unwrap();
    assert_eq!(r.code, "Access-Reject");
    assert_eq!(r.get("Reply-Message").as_deref(), Some("user not found"));
    assert_eq!(
        rc.wait_metric(
            "radcare_rejects_total{cause=\"arrears\",action=\"rewrite\",method=\"pap\"}",
            1.0
        ),
        1.0
    );
}

#[test]
fn mschapv2_reject_passes_and_mppe_keys_are_reencrypted() {
    let Some((_fr, rc)) = setup() else { return };
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    // A wrong MS-CHAPv2 response: the Reject passes through, still a Reject.
    let bad = support::packet_fixture("mschapv2-bad-request");
    sock.send_to(&bad, rc.auth).unwrap();
    let (n, _) = sock.recv_from(&mut buf).expect("reply");
    let reply = Packet::new_checked(&buf[..n]).unwrap();
    assert_eq!(reply.code(), Code::AccessReject);
    assert!(crypto::verify_response(
        reply.as_bytes(),
        Packet::new_unchecked(&bad[..]).authenticator(),
        NAS_SECRET.as_bytes()
    ));
    let err = reply.find_vendor(311, 2).expect("MS-CHAP-Error kept");
    assert!(String::from_utf8_lossy(err).contains("E=691"));
    // A good one: the Accept's MPPE keys decrypt with the NAS secret to the same keys
    // FreeRADIUS gave when asked directly (recorded in the fixture).
    let good = support::packet_fixture("mschapv2-request");
    let direct = support::packet_fixture("mschapv2-accept");
    sock.send_to(&good, rc.auth).unwrap();
    let (n, _) = sock.recv_from(&mut buf).expect("reply");
    let ours = Packet::new_checked(&buf[..n]).unwrap();
    assert_eq!(ours.code(), Code::AccessAccept);
    let auth = *Packet::new_unchecked(&good[..]).authenticator();
    assert!(crypto::verify_response(
        ours.as_bytes(),
        &auth,
        NAS_SECRET.as_bytes()
    ));
    let direct = Packet::new_checked(&direct[..]).unwrap();
    for key in [16u8, 17] {
        let mut a = ours.find_vendor(311, key).expect("MPPE key").to_vec();
        let mut b = direct.find_vendor(311, key).expect("MPPE key").to_vec();
        crypto::salt_decrypt(&mut a, NAS_SECRET.as_bytes(), &auth).unwrap();
        crypto::salt_decrypt(&mut b, NAS_SECRET.as_bytes(), &auth).unwrap();
        assert_eq!(a[2..], b[2..], "MS-MPPE key {key} re-encrypted for the NAS");
    }
    assert_eq!(
        ours.find_vendor(311, 26),
        direct.find_vendor(311, 26),
        "MS-CHAP2-Success unchanged"
    );
}

#[test]
fn tshark_validates_the_rewritten_accept() {
    if !require_peers(&["tshark", "dumpcap"]) {
        return;
    }
    let Some((_fr, rc)) = setup() else { return };
    let pcap = rc.dir.path().join("cap.pcapng");
    let mut cap = Command::new("dumpcap")
        // Stops by itself after the request and its reply (bounded by time too), so
        // the file is complete without signalling it.
        .args(["-q", "-c", "2", "-a", "duration:20", "-i", "lo", "-f"])
        .arg(format!("udp port {}", rc.auth.port()))
        .arg("-w")
        .arg(&pcap)
        .spawn()
        .expect("dumpcap");
    // dumpcap needs a moment to attach; poll until the file exists.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pcap.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let r = auth(
        &rc,
        "User-Name = carol\nUser-Password = x\nMessage-Authenticator = 0x00",
    )
    .unwrap();
    assert_eq!(r.code, "Access-Accept");
    let _ = cap.wait();
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-d", &format!("udp.port=={},radius", rc.auth.port())])
        .args(["-o", &format!("radius.shared_secret:{NAS_SECRET}")])
        .args(["-o", "radius.validate_authenticator:TRUE"])
        .args(["-Y", "radius.code == 2", "-T", "fields"])
        .args([
            "-e",
            "radius.authenticator.valid",
            "-e",
            "radius.Filter_Id",
            "-e",
            "udp.payload",
        ])
        .output()
        .expect("tshark");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or_else(|| {
        panic!(
            "no Accept decoded: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(
        fields[0], "1",
        "tshark: Response Authenticator valid ({line})"
    );
    assert_eq!(fields[1], "radcare-garden");
    // tshark 4.0 only shows Message-Authenticator; verify it with our HMAC code against
    // the request's authenticator, taken from the same capture.
    let req = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-d", &format!("udp.port=={},radius", rc.auth.port())])
        .args([
            "-Y",
            "radius.code == 1",
            "-T",
            "fields",
            "-e",
            "radius.authenticator",
        ])
        .output()
        .expect("tshark");
    let req_auth = String::from_utf8_lossy(&req.stdout)
        .lines()
        .next()
        .unwrap()
        .replace(':', "");
    let req_auth: [u8; 16] = hex::decode(req_auth).unwrap().try_into().unwrap();
    let accept = hex::decode(fields[2].replace(':', "")).unwrap();
    assert_eq!(
        crypto::verify_message_authenticator(&accept, Some(&req_auth), NAS_SECRET.as_bytes()),
        MaStatus::Valid
    );
    let p = Packet::new_checked(&accept[..]).unwrap();
    assert_eq!(
        p.attrs().next().unwrap().typ,
        types::MESSAGE_AUTHENTICATOR,
        "first"
    );
}

fn pap_request(id: u8, user: &str, password: &str) -> (Vec<u8>, [u8; 16]) {
    let auth: [u8; 16] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(id));
    let mut buf = Vec::new();
    let mut b = Builder::new(&mut buf, Code::AccessRequest, id, &auth);
    b.message_authenticator().unwrap();
    b.attr(types::USER_NAME, user.as_bytes()).unwrap();
    let mut h = [0u8; crypto::MAX_PASSWORD_LEN];
    let n =
        crypto::hide_password(password.as_bytes(), NAS_SECRET.as_bytes(), &auth, &mut h).unwrap();
    b.attr(types::USER_PASSWORD, &h[..n]).unwrap();
    b.attr(types::NAS_IP_ADDRESS, &[127, 0, 0, 1]).unwrap();
    crypto::sign_access_request(&mut buf, NAS_SECRET.as_bytes());
    (buf, auth)
}

#[test]
fn retransmission_gets_the_same_bytes_and_reaches_the_aaa_once() {
    let Some((_fr, rc)) = setup() else { return };
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (req, _) = pap_request(42, "carol", "x");
    let mut buf = [0u8; 4096];
    sock.send_to(&req, rc.auth).unwrap();
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    let first = buf[..n].to_vec();
    sock.send_to(&req, rc.auth).unwrap();
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], &first[..], "byte-identical reply");
    assert_eq!(
        rc.wait_metric("radcare_duplicates_total{state=\"answered\"}", 1.0),
        1.0
    );
    assert_eq!(
        rc.wait_metric(
            "radcare_upstream_latency_seconds_count{upstream=\"aaa-1\"}",
            1.0
        ),
        1.0,
        "one request reached the AAA"
    );
}

#[test]
fn dead_aaa_means_no_reply_and_a_second_upstream_takes_over() {
    if !require_peers(&["freeradius", "radclient"]) {
        return;
    }
    // Nothing listens on the dead upstream's port.
    let dead_port = support::free_udp_port();
    let dead = Upstream {
        name: "dead",
        auth: format!("127.0.0.1:{dead_port}").parse().unwrap(),
        acct: format!("127.0.0.1:{dead_port}").parse().unwrap(),
        secret: AAA_SECRET.into(),
    };
    let rc = Radcare::start("127.0.0.0/8", &[dead], "");
    let input = "User-Name = alice\nUser-Password = alice-pass\nMessage-Authenticator = 0x00";
    assert!(auth(&rc, input).is_none(), "no AAA answer: no reply at all");
    assert!(
        auth(
            &rc,
            "User-Name = carol\nUser-Password = x\nMessage-Authenticator = 0x00"
        )
        .is_none(),
        "never an invented Accept"
    );
    drop(rc);

    let fr = FreeRadius::start(AAA_SECRET);
    let dead = Upstream {
        name: "dead",
        auth: format!("127.0.0.1:{dead_port}").parse().unwrap(),
        acct: format!("127.0.0.1:{dead_port}").parse().unwrap(),
        secret: AAA_SECRET.into(),
    };
    let rc = Radcare::start("127.0.0.0/8", &[dead, upstream(&fr, "aaa-2")], "");
    let r = auth(&rc, input).expect("failover to the second upstream");
    assert_eq!(r.code, "Access-Accept");
    assert_eq!(r.get("Reply-Message").as_deref(), Some("welcome alice"));
}

#[test]
fn accounting_start_teaches_the_garden_and_other_accounting_is_forwarded() {
    let Some((fr, rc)) = setup() else { return };
    let r = auth(
        &rc,
        "User-Name = carol\nUser-Password = x\nMessage-Authenticator = 0x00",
    )
    .unwrap();
    let class = r.get("Class").unwrap();
    let out = radclient(
        &rc.acct.to_string(),
        "acct",
        NAS_SECRET,
        &format!(
            "User-Name = carol\nAcct-Status-Type = Start\nAcct-Session-Id = \"s-77\"\n\
             Framed-IP-Address = 127.0.0.77\nNAS-IP-Address = 127.0.0.1\nClass = {class}"
        ),
    );
    assert_eq!(
        parse_radclient(&out).expect("answered").code,
        "Accounting-Response"
    );
    // The garden entry is written behind; the store sees the address shortly.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("sqlite://{}", rc.db_path().display());
    let deadline = Instant::now() + Duration::from_secs(5);
    let row = loop {
        let store = rt.block_on(radcare::store::Store::open(&url)).unwrap();
        if let Some(row) = rt
            .block_on(store.garden_by_ip("127.0.0.77".parse().unwrap()))
            .unwrap()
        {
            break row;
        }
        assert!(Instant::now() < deadline, "garden never learnt 127.0.0.77");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        (&row.user[..], row.cause.as_str()),
        (&b"carol"[..], "arrears")
    );
    assert_eq!(row.acct_session_id.as_deref(), Some("s-77"));
    // Garden accounting was answered here, not sent to the AAA that rejected carol.
    let detail = std::fs::read_to_string(fr.detail_file()).unwrap_or_default();
    assert!(
        !detail.contains("s-77"),
        "garden accounting must not reach the AAA"
    );
    // A normal subscriber's accounting goes to the AAA and is acknowledged after it.
    let out = radclient(
        &rc.acct.to_string(),
        "acct",
        NAS_SECRET,
        "User-Name = alice\nAcct-Status-Type = Start\nAcct-Session-Id = \"s-alice\"\nNAS-IP-Address = 127.0.0.1",
    );
    assert_eq!(
        parse_radclient(&out).expect("answered").code,
        "Accounting-Response"
    );
    let detail = std::fs::read_to_string(fr.detail_file()).unwrap_or_default();
    assert!(
        detail.contains("s-alice"),
        "forwarded accounting recorded by the AAA"
    );
}

#[test]
fn bad_packets_are_dropped_and_counted_and_serving_goes_on() {
    if !require_peers(&["freeradius", "radclient"]) {
        return;
    }
    let fr = FreeRadius::start(AAA_SECRET);
    // Only 127.0.0.1 is a known NAS; 127.0.0.2 is not.
    let rc = Radcare::start("127.0.0.1/32", &[upstream(&fr, "aaa-1")], "");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (good, _) = pap_request(7, "alice", "alice-pass");
    sock.send_to(&good[..25], rc.auth).unwrap(); // truncated
    sock.send_to(&[0xffu8; 3], rc.auth).unwrap(); // garbage
    let mut bad_len = Packet::new_unchecked(good.clone());
    bad_len.set_length(bad_len.length() + 40); // Length over the datagram
    let bad_len = bad_len.into_inner();
    sock.send_to(&bad_len, rc.auth).unwrap();
    let stranger = UdpSocket::bind("127.0.0.2:0").unwrap();
    stranger.send_to(&good, rc.auth).unwrap();
    // Wrong secret: radclient signs with another secret.
    let wrong = radclient(
        &rc.auth.to_string(),
        "auth",
        "not-the-secret",
        "User-Name = alice\nUser-Password = alice-pass\nMessage-Authenticator = 0x00",
    );
    assert!(parse_radclient(&wrong).is_none());
    let deadline = Instant::now() + Duration::from_secs(5);
    while rc.metric("radcare_drops_total{reason=\"malformed\"}") < 3.0 && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        rc.wait_metric("radcare_drops_total{reason=\"malformed\"}", 3.0),
        3.0
    );
    assert_eq!(
        rc.wait_metric("radcare_drops_total{reason=\"unknown_client\"}", 1.0),
        1.0
    );
    assert!(
        rc.wait_metric(
            "radcare_drops_total{reason=\"bad_message_authenticator\"}",
            1.0
        ) >= 1.0
    );
    let r = auth(
        &rc,
        "User-Name = alice\nUser-Password = alice-pass\nMessage-Authenticator = 0x00",
    )
    .expect("still serving");
    assert_eq!(r.code, "Access-Accept");
    let _ = SocketAddr::from(([127, 0, 0, 1], 0));
}
