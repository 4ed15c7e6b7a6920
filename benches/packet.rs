//! Per-packet costs of the proxy path, in ns/packet: parse, verify, classify,
//! rewrite+sign, and one whole engine round trip (NAS request -> upstream copy -> AAA
//! reply -> NAS reply), and the bridge's in-place rewrite per frame pair. Inputs are the
//! captured fixtures in tests/fixtures/packets.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use radcare::config::Config;
use radcare::dict::Dictionary;
use radcare::engine::{Engine, Listener, Via};
use radcare::policy::Policy;
use radcare::wire::crypto::{self, MaStatus};
use radcare::wire::{Builder, Code, Packet};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/packets/{name}.hex",
        env!("CARGO_MANIFEST_DIR")
    );
    hex::decode(std::fs::read_to_string(path).unwrap().trim()).unwrap()
}

const SECRET: &[u8] = b"testing123";

fn parse_and_verify(c: &mut Criterion) {
    let req = fixture("pap-request");
    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse", |b| {
        b.iter(|| {
            let p = Packet::new_checked(black_box(&req[..])).unwrap();
            black_box(p.attrs().count())
        })
    });
    g.bench_function("parse+verify_message_authenticator", |b| {
        b.iter(|| {
            let p = Packet::new_checked(black_box(&req[..])).unwrap();
            assert_eq!(
                crypto::verify_message_authenticator(p.as_bytes(), None, SECRET),
                MaStatus::Valid
            );
        })
    });
    let q = fixture("reject-request");
    let r = fixture("reject");
    let ra = *Packet::new_unchecked(&q[..]).authenticator();
    g.bench_function("parse+verify_response", |b| {
        b.iter(|| {
            let p = Packet::new_checked(black_box(&r[..])).unwrap();
            assert!(crypto::verify_response(p.as_bytes(), &ra, SECRET));
        })
    });
    g.finish();
}

fn classify_and_rewrite(c: &mut Criterion) {
    let cfg = Config::embedded();
    let dict = Dictionary::builtin().unwrap();
    let policy = Policy::compile(&cfg, &dict).unwrap();
    let reject = fixture("arrears-reject");
    let mut g = c.benchmark_group("policy");
    g.throughput(Throughput::Elements(1));
    g.bench_function("classify_arrears", |b| {
        b.iter(|| black_box(policy.classify(black_box(&reject), b"carol", &dict)))
    });
    let mut out = Vec::with_capacity(4096);
    let profile = policy.profiles[0].encoded.clone();
    g.bench_function("build_and_sign_garden_accept", |b| {
        b.iter(|| {
            let mut bl = Builder::new(&mut out, Code::AccessAccept, 7, &[0; 16]);
            bl.message_authenticator().unwrap();
            bl.raw(&profile).unwrap();
            bl.attr_u32(27, 300).unwrap();
            bl.attr(25, b"radcare;cause=arrears;g=0123456789abcdef")
                .unwrap();
            crypto::sign_response(&mut out, &[9; 16], SECRET);
            black_box(out.len())
        })
    });
    g.finish();
}

/// A whole proxied exchange through the sans-IO engine, AAA reply pre-built per id.
fn engine_round_trip(c: &mut Criterion) {
    let text = format!(
        "{}\n",
        r#"
[[radius.client]]
name = "nas"
address = "127.0.0.0/8"
secret = "testing123"
[[radius.upstream]]
name = "aaa"
auth = "127.0.0.1:11812"
secret = "aaa-secret"
"#
    );
    let cfg = Config::parse("bench", &text).unwrap();
    let dict = Arc::new(Dictionary::builtin().unwrap());
    let policy = Arc::new(Policy::compile(&cfg, &dict).unwrap());
    let mut engine = Engine::new(&cfg, dict, policy, [1; 32]);
    let req = fixture("arrears-request");
    let nas = "127.0.0.1:5000".parse().unwrap();
    let aaa = "127.0.0.1:11812".parse().unwrap();
    let mut reply = Vec::with_capacity(4096);
    let mut n = 0u32;
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(1));
    g.bench_function("reject_rewritten_round_trip", |b| {
        b.iter(|| {
            // A fresh authenticator each time, so the duplicate cache does not answer.
            let mut q = Packet::new_unchecked(req.clone());
            n = n.wrapping_add(1);
            let mut auth = *q.authenticator();
            auth[..4].copy_from_slice(&n.to_be_bytes());
            q.set_authenticator(&auth);
            let mut q = q.into_inner();
            let now = Instant::now();
            // Re-sign the request: its Message-Authenticator covers the authenticator.
            crypto::sign_access_request(&mut q, SECRET);
            engine.handle_nas(now, Listener::Auth, nas, &q);
            let up = engine.poll_transmit().unwrap();
            let socket = match up.via {
                Via::Upstream(s) => s,
                _ => unreachable!(),
            };
            let up_view = Packet::new_unchecked(&up.payload[..]);
            let mut bl = Builder::new(
                &mut reply,
                Code::AccessReject,
                up_view.identifier(),
                &[0; 16],
            );
            bl.message_authenticator().unwrap();
            bl.attr(18, "欠费停机: account in arrears".as_bytes())
                .unwrap();
            crypto::sign_response(&mut reply, up_view.authenticator(), b"aaa-secret");
            engine.handle_upstream(now, socket, aaa, &reply);
            let down = engine.poll_transmit().unwrap();
            while engine.poll_event().is_some() {}
            black_box(down.payload.len())
        })
    });
    g.finish();
}

/// Ethernet (VLAN 100) + IPv4 + UDP around a payload, checksums filled as a NIC delivers.
fn eth_frame(src: ([u8; 4], u16), dst: ([u8; 4], u16), payload: &[u8]) -> Vec<u8> {
    use radcare::wire::ether::{self, ETHERTYPE_IPV4, ETHERTYPE_VLAN};
    let mut f = Vec::new();
    let tags = [(ETHERTYPE_VLAN, 100)];
    ether::emit_header(
        &mut f,
        &[2, 0, 0, 0, 0, 1],
        &[2, 0, 0, 0, 0, 2],
        &tags,
        ETHERTYPE_IPV4,
    );
    radcare::wire::ip::emit_udp(&mut f, src.into(), dst.into(), payload);
    f
}

/// The bridge's in-place path, per frame: a tagged Access-Request frame seen from the
/// NAS side, then the AAA's Reject frame rewritten into a garden Accept (2 frames).
fn bridge_in_place(c: &mut Criterion) {
    use radcare::bridge::{Bridge, Outcome, Side};
    let text = r#"
[[radius.client]]
name = "nas"
address = "10.0.0.0/24"
secret = "testing123"
[[radius.upstream]]
name = "aaa"
auth = "10.0.1.2:1812"
secret = "testing123"
"#;
    let cfg = Config::parse("bench", text).unwrap();
    let dict = Arc::new(Dictionary::builtin().unwrap());
    let policy = Arc::new(Policy::compile(&cfg, &dict).unwrap());
    let mut bridge = Bridge::new(&cfg, dict, policy, [2; 32]);
    let (nas, aaa) = (([10, 0, 0, 5], 40000), ([10, 0, 1, 2], 1812));
    // One request/Reject pair per RADIUS id, built once.
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..=255u8)
        .map(|id| {
            let auth = [id; 16];
            let mut req = Vec::new();
            let mut b = Builder::new(&mut req, Code::AccessRequest, id, &auth);
            b.message_authenticator().unwrap();
            b.attr(1, b"subscriber").unwrap();
            b.attr(2, &[0x55; 16]).unwrap();
            crypto::sign_access_request(&mut req, SECRET);
            let mut rej = Vec::new();
            let mut b = Builder::new(&mut rej, Code::AccessReject, id, &[0; 16]);
            b.message_authenticator().unwrap();
            b.attr(18, "欠费停机: account in arrears".as_bytes())
                .unwrap();
            crypto::sign_response(&mut rej, &auth, SECRET);
            (eth_frame(nas, aaa, &req), eth_frame(aaa, nas, &rej))
        })
        .collect();
    let mut frame = Vec::with_capacity(2048);
    let mut i = 0usize;
    let mut g = c.benchmark_group("bridge");
    g.throughput(Throughput::Elements(2));
    g.bench_function("request_then_reject_rewritten_in_place", |b| {
        b.iter(|| {
            let (req, rej) = &pairs[i % pairs.len()];
            i += 1;
            let now = Instant::now();
            frame.clear();
            frame.extend_from_slice(req);
            bridge.handle_frame(now, Side::Nas, &mut frame);
            frame.clear();
            frame.extend_from_slice(rej);
            assert_eq!(
                bridge.handle_frame(now, Side::Aaa, &mut frame),
                Outcome::Rewritten
            );
            while bridge.poll_event().is_some() {}
            black_box(frame.len())
        })
    });
    g.finish();
}

/// Sixteen 150-octet messages (the size of a PAP Access-Request), hashed one by one
/// with the md-5 crate, and together in the lanes of `wire::md5x`.
fn md5_lanes(c: &mut Criterion) {
    use md5::{Digest, Md5};
    let msgs: Vec<Vec<u8>> = (0..16u8).map(|i| vec![i; 150]).collect();
    let mut g = c.benchmark_group("md5");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.bench_function("16x150_one_by_one", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(Md5::digest(black_box(m)));
            }
        })
    });
    let mut lanes = radcare::wire::md5x::Lanes::new();
    g.bench_function("16x150_in_lanes", |b| {
        b.iter(|| {
            lanes.clear();
            for m in &msgs {
                lanes
                    .push(radcare::wire::md5x::INIT, 0)
                    .1
                    .extend_from_slice(black_box(m));
            }
            lanes.run();
            black_box(lanes.digest(15));
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    md5_lanes,
    parse_and_verify,
    classify_and_rewrite,
    engine_round_trip,
    bridge_in_place
);
criterion_main!(benches);
