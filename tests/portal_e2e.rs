//! The whole S1 loop with real peers: radclient dials through radcare to FreeRADIUS, is
//! rejected for arrears and let into the walled garden; accounting tells radcare its
//! address; its browser traffic from that address gets its own explanation page, and
//! nobody else's does.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use support::radcare::{NAS_SECRET, Radcare, Upstream};
use support::{FreeRadius, parse_radclient, radclient, require_peers};

/// An HTTP GET from a chosen loopback source address.
fn get_from(src: &str, to: SocketAddr, path: &str, ua: &str) -> (u16, String) {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let src: SocketAddr = format!("{src}:0").parse().unwrap();
    sock.bind(&src.into()).unwrap();
    sock.connect(&to.into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {to}\r\nUser-Agent: {ua}\r\nAccept-Language: en\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";

#[test]
fn rejected_dial_then_accounting_then_the_subscribers_own_page() {
    if !require_peers(&["freeradius", "radclient"]) {
        return;
    }
    let fr = FreeRadius::start("aaa-secret");
    let up = Upstream {
        name: "aaa-1",
        auth: fr.auth_addr(),
        acct: fr.acct_addr(),
        secret: "aaa-secret".into(),
    };
    let rc = Radcare::start("127.0.0.0/8", &[up], "");
    let out = radclient(
        &rc.auth.to_string(),
        "auth",
        NAS_SECRET,
        "User-Name = carol\nUser-Password = carol-pass\nNAS-IP-Address = 127.0.0.1\nMessage-Authenticator = 0x00",
    );
    let accept = parse_radclient(&out).expect("garden accept");
    assert_eq!(accept.code, "Access-Accept");
    let class = accept.get("Class").unwrap();
    let out = radclient(
        &rc.acct.to_string(),
        "acct",
        NAS_SECRET,
        &format!(
            "User-Name = carol\nAcct-Status-Type = Start\nAcct-Session-Id = \"e2e-1\"\n\
             Framed-IP-Address = 127.0.0.61\nNAS-IP-Address = 127.0.0.1\nClass = {class}"
        ),
    );
    assert_eq!(parse_radclient(&out).unwrap().code, "Accounting-Response");

    // The subscriber's own address: its page, with its cause and account.
    let deadline = Instant::now() + Duration::from_secs(5);
    let page = loop {
        let (status, body) = get_from("127.0.0.61", rc.http, "/", IPHONE);
        if status == 200 && body.contains("data-cause=\"arrears\"") {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no arrears page: {status}\n{body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(page.contains("data-device=\"phone\""), "{page}");
    assert!(
        page.contains("carol"),
        "the subscriber sees its own account"
    );
    assert!(page.contains("arrears"), "the AAA's reason for support");

    // Someone else claiming that address via the BRAS parameter learns nothing.
    let (_, other) = get_from("127.0.0.62", rc.http, "/?userip=127.0.0.61", IPHONE);
    assert!(!other.contains("carol"), "{other}");
    assert!(!other.contains("12.50"), "{other}");
    assert!(!other.contains("data-cause=\"arrears\""), "{other}");

    // The OS probes from the garden address open the portal sheet.
    for path in [
        "/hotspot-detect.html",
        "/generate_204",
        "/connecttest.txt",
        "/success.txt",
    ] {
        let (status, head) = get_from("127.0.0.61", rc.http, path, IPHONE);
        assert_eq!(status, 302, "{path}: {head}");
        assert!(head.to_ascii_lowercase().contains("location:"), "{head}");
    }
    // From an address outside the garden, the normal "online" answers.
    let (status, _) = get_from("127.0.0.62", rc.http, "/generate_204", IPHONE);
    assert_eq!(status, 204);
}
