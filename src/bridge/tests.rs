//! The bridge core on hand-built frames: IPv4, IPv6, 802.1Q and QinQ.

use super::*;
use crate::config::{ClientConfig, Secret, Tristate, UpstreamConfig};
use crate::wire::attr::types;
use crate::wire::ether::{self, ETHERTYPE_VLAN};
use crate::wire::{Builder, crypto};

const SECRET: &[u8] = b"shared-secret";

fn bridge() -> Bridge {
    let mut cfg = Config::default();
    cfg.radius.clients.push(ClientConfig {
        name: "bras".into(),
        address: "10.0.0.0/24".parse().unwrap(),
        secret: Secret("shared-secret".into()),
        require_message_authenticator: Tristate::Auto,
        limit_proxy_state: Tristate::Auto,
        profile: "filter-id".into(),
        coa_port: 3799,
    });
    cfg.radius.clients.push(ClientConfig {
        name: "bras6".into(),
        address: "fd00::/64".parse().unwrap(),
        secret: Secret("shared-secret".into()),
        require_message_authenticator: Tristate::Auto,
        limit_proxy_state: Tristate::Auto,
        profile: "filter-id".into(),
        coa_port: 3799,
    });
    for (name, auth) in [("aaa", "10.0.1.2:1812"), ("aaa6", "[fd00:1::2]:1812")] {
        cfg.radius.upstreams.push(UpstreamConfig {
            name: name.into(),
            auth: auth.parse().unwrap(),
            acct: None,
            secret: Secret("shared-secret".into()),
            require_message_authenticator: Tristate::Auto,
            response_window: Duration::from_secs(2),
            dead_after: 3,
            probe_interval: Duration::from_secs(5),
        });
    }
    let dict = Arc::new(Dictionary::builtin().unwrap());
    let policy = Arc::new(Policy::compile(&cfg, &dict).unwrap());
    Bridge::new(&cfg, dict, policy, [5; 32])
}

/// Ethernet (+ tags) + IP + UDP around a RADIUS payload, with correct checksums.
fn frame(vlans: &[u16], src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let tags: Vec<_> = vlans.iter().map(|&v| (ETHERTYPE_VLAN, v)).collect();
    let ethertype = if src.is_ipv4() {
        ETHERTYPE_IPV4
    } else {
        ETHERTYPE_IPV6
    };
    let mut f = Vec::new();
    ether::emit_header(
        &mut f,
        &[2, 0, 0, 0, 0, 1],
        &[2, 0, 0, 0, 0, 2],
        &tags,
        ethertype,
    );
    ip::emit_udp(&mut f, src, dst, payload);
    f
}

fn request(id: u8, mschapv2: bool) -> (Vec<u8>, [u8; 16]) {
    let auth = [id; 16];
    let mut buf = Vec::new();
    let mut b = Builder::new(&mut buf, Code::AccessRequest, id, &auth);
    b.message_authenticator().unwrap();
    b.attr(types::USER_NAME, b"bob").unwrap();
    if mschapv2 {
        b.vsa(311, 25, &[0; 50]).unwrap();
    } else {
        let mut h = [0u8; crypto::MAX_PASSWORD_LEN];
        let n = crypto::hide_password(b"wrong", SECRET, &auth, &mut h).unwrap();
        b.attr(types::USER_PASSWORD, &h[..n]).unwrap();
    }
    crypto::sign_access_request(&mut buf, SECRET);
    (buf, auth)
}

fn reply(code: Code, id: u8, auth: &[u8; 16], msg: &str) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = Builder::new(&mut buf, code, id, &[0; 16]);
    b.attr(types::REPLY_MESSAGE, msg.as_bytes()).unwrap();
    crypto::sign_response(&mut buf, auth, SECRET);
    buf
}

/// Checks a frame's checksums and returns its RADIUS payload.
fn radius_of(f: &[u8]) -> Vec<u8> {
    let eth = EtherFrame::parse(f).unwrap();
    let l3 = &f[eth.payload_offset..];
    let at = ip::udp_in_ip(l3).unwrap();
    assert!(ip::udp_checksum_ok(l3, &at), "UDP checksum");
    if let Ok(v4) = ip::Ipv4Packet::new_checked(l3) {
        assert!(v4.verify_checksum(), "IPv4 header checksum");
        assert_eq!(usize::from(v4.total_len()), l3.len());
    }
    l3[at.payload_range()].to_vec()
}

fn exchange(vlans: &[u16], nas: &str, aaa: &str) {
    let mut b = bridge();
    let now = Instant::now();
    let (nas, aaa): (SocketAddr, SocketAddr) = (nas.parse().unwrap(), aaa.parse().unwrap());
    let (req, auth) = request(7, false);
    let mut f = frame(vlans, nas, aaa, &req);
    let original = f.clone();
    assert_eq!(b.handle_frame(now, Side::Nas, &mut f), Outcome::Unchanged);
    assert_eq!(f, original, "requests pass untouched");
    let mut f = frame(
        vlans,
        aaa,
        nas,
        &reply(Code::AccessReject, 7, &auth, "欠费 arrears"),
    );
    assert_eq!(b.handle_frame(now, Side::Aaa, &mut f), Outcome::Rewritten);
    assert_eq!(
        EtherFrame::parse(&f).unwrap().vlans[0],
        vlans.first().copied()
    );
    let r = radius_of(&f);
    let p = Packet::new_checked(&r[..]).unwrap();
    assert_eq!(p.code(), Code::AccessAccept);
    assert!(crypto::verify_response(&r, &auth, SECRET));
    assert_eq!(
        crypto::verify_message_authenticator(&r, Some(&auth), SECRET),
        MaStatus::Valid
    );
    assert_eq!(p.find(types::FILTER_ID).unwrap().value, b"radcare-garden");
    let events: Vec<_> = std::iter::from_fn(|| b.poll_event()).collect();
    assert!(
        events.iter().any(
            |e| matches!(e, Event::GardenEntered(g) if g.user == b"bob" && g.cause == "arrears")
        )
    );
}

#[test]
fn reject_rewritten_in_place_ipv4() {
    exchange(&[], "10.0.0.5:40000", "10.0.1.2:1812");
}

#[test]
fn reject_rewritten_in_place_vlan_and_qinq() {
    exchange(&[100], "10.0.0.5:40000", "10.0.1.2:1812");
    exchange(&[10, 20], "10.0.0.5:40000", "10.0.1.2:1812");
}

#[test]
fn reject_rewritten_in_place_ipv6() {
    exchange(&[], "[fd00::5]:40000", "[fd00:1::2]:1812");
}

#[test]
fn accepts_forged_replies_and_mschapv2_pass_unchanged() {
    let mut b = bridge();
    let now = Instant::now();
    let (nas, aaa): (SocketAddr, SocketAddr) = (
        "10.0.0.5:40000".parse().unwrap(),
        "10.0.1.2:1812".parse().unwrap(),
    );
    for (id, code, mschap, forged, want) in [
        (1, Code::AccessAccept, false, false, Outcome::Unchanged),
        (2, Code::AccessReject, true, false, Outcome::RejectPassed),
        (3, Code::AccessReject, false, true, Outcome::Unchanged),
    ] {
        let (req, auth) = request(id, mschap);
        b.handle_frame(now, Side::Nas, &mut frame(&[], nas, aaa, &req));
        let sign_with = if forged { [0xee; 16] } else { auth };
        let mut f = frame(
            &[],
            aaa,
            nas,
            &reply(code, id, &sign_with, "wrong password"),
        );
        let before = f.clone();
        assert_eq!(b.handle_frame(now, Side::Aaa, &mut f), want, "id {id}");
        assert_eq!(f, before, "id {id} untouched");
    }
    assert_eq!(b.stats.bad_authenticator, 1);
    // A reply nobody asked for is not touched either.
    let mut f = frame(&[], aaa, nas, &reply(Code::AccessReject, 99, &[0; 16], "x"));
    assert_eq!(b.handle_frame(now, Side::Aaa, &mut f), Outcome::Unchanged);
}

#[test]
fn non_radius_and_fragments_pass() {
    let mut b = bridge();
    let now = Instant::now();
    let mut arp = vec![0xffu8; 12];
    arp.extend_from_slice(&[0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    assert_eq!(b.handle_frame(now, Side::Nas, &mut arp), Outcome::Unchanged);
    let mut f = frame(
        &[],
        "10.0.1.2:1812".parse().unwrap(),
        "10.0.0.5:1".parse().unwrap(),
        b"xx",
    );
    f[14 + 6] = 0x20; // more fragments
    assert_eq!(b.handle_frame(now, Side::Aaa, &mut f), Outcome::Opaque);
    assert_eq!(b.stats.fragments, 1);
    let mut short = vec![0u8; 10];
    assert_eq!(b.handle_frame(now, Side::Nas, &mut short), Outcome::Opaque);
}

#[test]
fn a_flood_of_requests_from_a_client_network_is_shed_at_the_cap() {
    let mut b = bridge();
    let now = Instant::now();
    let aaa: SocketAddr = "10.0.1.2:1812".parse().unwrap();
    let (req, _) = request(0, false);
    let mut f = frame(&[], "10.0.0.1:1".parse().unwrap(), aaa, &req);
    // Source address, source port and RADIUS identifier patched in place: the bridge
    // checks neither checksum on a request.
    let (src_ip, src_port, id) = (14 + 12, 14 + 20, 14 + 28 + 1);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut at_cap = None;
    for _ in 0..1_000_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let r = x.to_be_bytes();
        f[src_ip + 3] = r[0];
        f[src_port..src_port + 2].copy_from_slice(&r[1..3]);
        f[id] = r[3];
        assert_eq!(b.handle_frame(now, Side::Nas, &mut f), Outcome::Unchanged);
        let (len, capacity) = b.pending_len();
        assert!(len <= MAX_PENDING);
        if len == MAX_PENDING {
            assert_eq!(*at_cap.get_or_insert(capacity), capacity);
        }
    }
    assert!(at_cap.is_some());
    assert_eq!(b.stats.requests_seen, 1_000_000);
    // Nearly all are distinct (ip, port, id): the rest of them were shed.
    assert!(b.stats.pending_shed > 1_000_000 - MAX_PENDING as u64 - 1_000);

    // Once they expire the BRAS's own requests are remembered and rewritten again.
    let later = now + PENDING_LIFETIME + Duration::from_secs(1);
    let nas: SocketAddr = "10.0.0.5:40000".parse().unwrap();
    let (req, auth) = request(7, false);
    b.handle_frame(later, Side::Nas, &mut frame(&[], nas, aaa, &req));
    assert_eq!(b.pending_len().0, 1);
    let reject = reply(Code::AccessReject, 7, &auth, "欠费 arrears");
    let mut f = frame(&[], aaa, nas, &reject);
    assert_eq!(b.handle_frame(later, Side::Aaa, &mut f), Outcome::Rewritten);
}
