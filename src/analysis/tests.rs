//! The analyzer over frames built around the captured packets in
//! tests/fixtures/packets (secret `testing123`).

use std::net::Ipv4Addr;
use std::time::Duration;

use super::*;
use crate::wire::ether::{self, ETHERTYPE_IPV4};
use crate::wire::ip;

const SECRET: &[u8] = b"testing123";
const NAS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const AAA: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn packet(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/packets/{name}.hex",
        env!("CARGO_MANIFEST_DIR")
    );
    hex::decode(std::fs::read_to_string(path).unwrap().trim()).unwrap()
}

/// An Ethernet/IPv4/UDP frame.
fn udp_frame(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    ether::emit_header(
        &mut f,
        &[2, 0, 0, 0, 0, 2],
        &[2, 0, 0, 0, 0, 1],
        &[],
        ETHERTYPE_IPV4,
    );
    ip::emit_udp(&mut f, src.into(), dst.into(), payload);
    f
}

struct Feed {
    a: Analyzer,
    t: Duration,
}

impl Feed {
    fn new(secret: Option<&[u8]>) -> Feed {
        let loaded = crate::server::load_file(None).unwrap();
        let settings = Settings {
            secret: secret.map(<[u8]>::to_vec),
            ..Settings::default()
        };
        Feed {
            a: Analyzer::new(settings, loaded.policy, loaded.dict),
            t: Duration::from_secs(1_700_000_000),
        }
    }

    fn frame(&mut self, after_ms: u64, link: LinkType, bytes: &[u8]) {
        self.t += Duration::from_millis(after_ms);
        self.a.observe(self.t, link, bytes);
    }

    /// A request from the NAS's port `port` and its reply, `after_ms` apart.
    fn exchange(&mut self, after_ms: u64, port: u16, request: &str, reply: &str) {
        let req = packet(request);
        self.frame(
            after_ms,
            LinkType::Ethernet,
            &udp_frame((NAS, port), (AAA, 1812), &req),
        );
        let rep = packet(reply);
        self.frame(
            5,
            LinkType::Ethernet,
            &udp_frame((AAA, 1812), (NAS, port), &rep),
        );
    }
}

/// The capture of a small login day: alice in, bob wrong twice, carol in arrears, erin
/// with a bad MS-CHAPv2 response, accounting and a Status-Server.
fn day(secret: Option<&[u8]>) -> Report {
    let mut f = Feed::new(secret);
    f.exchange(0, 40001, "pap-request", "pap-accept");
    f.exchange(100, 40002, "reject-request", "reject");
    f.exchange(2_000, 40003, "reject-request", "reject");
    f.exchange(100, 40004, "arrears-request", "arrears-reject");
    f.exchange(100, 40005, "mschapv2-bad-request", "mschapv2-reject");
    f.exchange(100, 40006, "acct-request", "acct-response");
    f.exchange(100, 40007, "status-request", "status-accept");
    f.a.report()
}

fn cause<'a>(r: &'a Report, id: &str) -> &'a CauseCount {
    r.radius
        .rejects_by_cause
        .iter()
        .find(|c| c.cause == id)
        .unwrap_or_else(|| panic!("no {id} in {:?}", r.radius.rejects_by_cause))
}

#[test]
fn counts_causes_rewrites_and_redials() {
    let r = day(Some(SECRET));
    let c = r.radius.counts;
    assert_eq!(r.frames.frames, 14);
    assert_eq!(r.frames.radius, 14);
    assert_eq!(c.access_requests, 5);
    assert_eq!((c.accepts, c.rejects, c.challenges), (1, 4, 0));
    assert_eq!((c.accounting_requests, c.accounting_responses), (1, 1));
    assert_eq!(c.other, 2, "Status-Server and its Access-Accept");
    assert_eq!((c.unanswered, c.unmatched_replies, c.invalid), (0, 0, 0));
    assert!(r.radius.verified);

    assert_eq!(cause(&r, "wrong-password").rejects, 3);
    assert_eq!(cause(&r, "wrong-password").would_be_rewrites, 2);
    assert_eq!(cause(&r, "arrears").rejects, 1);
    assert_eq!(cause(&r, "arrears").action, "rewrite");
    // bob twice (PAP) and carol (PAP); erin's MS-CHAPv2 cannot be completed by us.
    assert_eq!(c.would_be_rewrites, 3);
    assert_eq!(c.blocked_by_auth_method, 1);

    let top = &r.radius.top_rejected_users;
    assert_eq!(top[0].user, "bob");
    assert_eq!(
        (top[0].rejects, top[0].last_cause.as_str()),
        (2, "wrong-password")
    );
    assert_eq!(top[0].last_reason, "wrong password");
    assert_eq!(r.radius.rejected_users, 3);

    assert_eq!(r.radius.redials.len(), 1);
    let bob = &r.radius.redials[0];
    assert_eq!((bob.user.as_str(), bob.redials), ("bob", 1));
    // The second request came 2.005 s after the first (2 s after its Reject).
    assert!((bob.min_seconds - 2.005).abs() < 1e-6, "{bob:?}");
    assert_eq!(bob.median_seconds, bob.min_seconds);
}

#[test]
fn without_a_secret_nothing_is_verified_and_the_same_is_counted() {
    let r = day(None);
    assert!(!r.radius.verified);
    assert_eq!(r.radius.counts.would_be_rewrites, 3);
    assert_eq!(r.radius.counts.invalid, 0);
}

#[test]
fn a_wrong_secret_makes_replies_invalid_and_rewrites_none() {
    let r = day(Some(b"not-the-secret"));
    // Every reply fails its Response Authenticator; requests with a
    // Message-Authenticator and the Accounting-Request fail too.
    assert!(r.radius.counts.invalid >= 7, "{:?}", r.radius.counts);
    assert_eq!(r.radius.counts.would_be_rewrites, 0);
    assert_eq!(cause(&r, "wrong-password").rejects, 3);
}

#[test]
fn tampered_reply_is_invalid() {
    let mut f = Feed::new(Some(SECRET));
    let req = packet("reject-request");
    let mut rej = packet("reject");
    *rej.last_mut().unwrap() ^= 1;
    f.frame(
        0,
        LinkType::Ethernet,
        &udp_frame((NAS, 5000), (AAA, 1812), &req),
    );
    f.frame(
        1,
        LinkType::Ethernet,
        &udp_frame((AAA, 1812), (NAS, 5000), &rej),
    );
    let r = f.a.report();
    assert_eq!(r.radius.counts.invalid, 1);
    assert_eq!(r.radius.counts.would_be_rewrites, 0);
}

#[test]
fn retransmissions_duplicates_unmatched_and_unanswered() {
    let mut f = Feed::new(Some(SECRET));
    let req = packet("reject-request");
    let rej = packet("reject");
    let to_aaa = udp_frame((NAS, 5000), (AAA, 1812), &req);
    let to_nas = udp_frame((AAA, 1812), (NAS, 5000), &rej);
    f.frame(0, LinkType::Ethernet, &to_aaa);
    f.frame(1000, LinkType::Ethernet, &to_aaa);
    f.frame(1, LinkType::Ethernet, &to_nas);
    f.frame(1, LinkType::Ethernet, &to_nas);
    // A reply to nobody, and a request nobody answers.
    f.frame(
        1,
        LinkType::Ethernet,
        &udp_frame((AAA, 1812), (NAS, 5001), &packet("pap-accept")),
    );
    f.frame(
        1,
        LinkType::Ethernet,
        &udp_frame((NAS, 5002), (AAA, 1812), &packet("pap-request")),
    );
    // The NAS reuses the unanswered request's identifier for a new request.
    let mut reused = packet("pap-request");
    reused[4] ^= 1;
    f.frame(
        1,
        LinkType::Ethernet,
        &udp_frame((NAS, 5002), (AAA, 1812), &reused),
    );
    let c = f.a.report().radius.counts;
    assert_eq!((c.access_requests, c.retransmissions), (3, 1));
    assert_eq!((c.rejects, c.duplicate_replies), (1, 1));
    assert_eq!((c.accepts, c.unmatched_replies, c.unanswered), (1, 1, 2));
    // A retransmission is not a redial.
    assert!(f.a.report().radius.redials.is_empty());
}

#[test]
fn frames_that_are_not_radius() {
    let mut f = Feed::new(None);
    let req = packet("pap-request");
    // Another UDP port.
    f.frame(
        0,
        LinkType::Ethernet,
        &udp_frame((NAS, 5000), (AAA, 53), &req),
    );
    // A fragment.
    let mut frag = udp_frame((NAS, 5000), (AAA, 1812), &req);
    frag[14 + 6] = 0x20;
    f.frame(0, LinkType::Ethernet, &frag);
    // Not RADIUS on a RADIUS port.
    f.frame(
        0,
        LinkType::Ethernet,
        &udp_frame((NAS, 5000), (AAA, 1812), b"hello"),
    );
    // A runt, a frame cut by the snap length, and an unknown link type.
    f.frame(0, LinkType::Ethernet, &[0; 5]);
    let cut = udp_frame((NAS, 5000), (AAA, 1812), &req);
    f.frame(0, LinkType::Ethernet, &cut[..60]);
    f.frame(0, LinkType::Unknown(147), &cut);
    // ARP.
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1]);
    f.frame(0, LinkType::Ethernet, &arp);
    let r = f.a.report();
    assert_eq!(
        r.frames,
        FrameCounts {
            frames: 7,
            radius: 0,
            pppoe: 0,
            ip_fragments: 1,
            unparseable: 3,
            unsupported_link: 1,
            other: 2,
        }
    );
    assert_eq!(r.radius.counts.malformed, 1);
}

#[test]
fn other_link_types_carry_radius_too() {
    let mut f = Feed::new(None);
    let eth = udp_frame((NAS, 5000), (AAA, 1812), &packet("pap-request"));
    let ip = &eth[ether::HEADER_LEN..];
    let mut null = 2u32.to_le_bytes().to_vec();
    null.extend_from_slice(ip);
    let mut sll = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(ip);
    let mut sll2 = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    sll2.extend_from_slice(ip);
    f.frame(0, LinkType::Raw, ip);
    f.frame(0, LinkType::Null, &null);
    f.frame(0, LinkType::LinuxSll, &sll);
    f.frame(0, LinkType::LinuxSll2, &sll2);
    let r = f.a.report();
    assert_eq!(r.frames.radius, 4);
    // The same request four times over: once new, then retransmissions.
    assert_eq!(r.radius.counts.access_requests, 1);
    assert_eq!(r.radius.counts.retransmissions, 3);
    assert_eq!(r.span.link_types.len(), 4);
}

#[test]
fn extra_ports() {
    let loaded = crate::server::load_file(None).unwrap();
    let settings = Settings {
        ports: vec![18120],
        ..Settings::default()
    };
    let mut a = Analyzer::new(settings, loaded.policy, loaded.dict);
    let req = packet("pap-request");
    a.observe(
        Duration::ZERO,
        LinkType::Ethernet,
        &udp_frame((NAS, 5000), (AAA, 18120), &req),
    );
    a.observe(
        Duration::ZERO,
        LinkType::Ethernet,
        &udp_frame((NAS, 5000), (AAA, 1812), &req),
    );
    assert_eq!((a.report().frames.radius, a.report().frames.other), (1, 1));
}

#[test]
fn text_and_json() {
    let r = day(Some(SECRET));
    let text = r.to_text();
    let row = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("wrong-password"))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        ["wrong-password", "rewrite", "3", "2"]
    );
    assert!(text.contains("would-be rewrites"), "{text}");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["radius"]["counts"]["would_be_rewrites"], 3);
    assert_eq!(json["radius"]["redials"][0]["user"], "bob");
    assert_eq!(json["frames"]["radius"], 14);
}
