//! The engine against a simulated NAS and AAA, with simulated time.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::*;
use crate::config::{ClientConfig, Secret, UpstreamConfig};
use crate::wire::crypto::{MAX_PASSWORD_LEN, hide_password, unhide_password};
use crate::wire::{Builder, crypto};

const NAS_SECRET: &[u8] = b"nas-secret";
const AAA_SECRET: &[u8] = b"aaa-secret";

fn nas() -> SocketAddr {
    "127.0.0.9:40000".parse().unwrap()
}

fn config(upstreams: usize) -> Config {
    let mut cfg = Config::default();
    cfg.radius.clients.push(ClientConfig {
        name: "bras".into(),
        address: "127.0.0.0/8".parse().unwrap(),
        secret: Secret("nas-secret".into()),
        require_message_authenticator: Tristate::Auto,
        limit_proxy_state: Tristate::Auto,
        profile: "filter-id".into(),
        coa_port: 3799,
    });
    for i in 0..upstreams {
        cfg.radius.upstreams.push(UpstreamConfig {
            name: format!("aaa-{}", i + 1),
            auth: format!("127.0.1.{}:1812", i + 1).parse().unwrap(),
            acct: Some(format!("127.0.1.{}:1813", i + 1).parse().unwrap()),
            secret: Secret("aaa-secret".into()),
            require_message_authenticator: Tristate::Auto,
            response_window: Duration::from_secs(2),
            dead_after: 1,
            probe_interval: Duration::from_secs(5),
        });
    }
    cfg
}

fn engine(upstreams: usize) -> Engine {
    let cfg = config(upstreams);
    let dict = Arc::new(Dictionary::builtin().unwrap());
    let policy = Arc::new(Policy::compile(&cfg, &dict).unwrap());
    Engine::new(&cfg, dict, policy, [7; 32])
}

struct Req {
    id: u8,
    auth: [u8; 16],
    bytes: Vec<u8>,
}

fn pap(id: u8, user: &str, password: &str, extra: impl FnOnce(&mut Builder)) -> Req {
    let auth = [id.wrapping_add(1); 16];
    let mut buf = Vec::new();
    let mut b = Builder::new(&mut buf, Code::AccessRequest, id, &auth);
    b.message_authenticator().unwrap();
    b.attr(types::USER_NAME, user.as_bytes()).unwrap();
    let mut hidden = [0u8; MAX_PASSWORD_LEN];
    let n = hide_password(password.as_bytes(), NAS_SECRET, &auth, &mut hidden).unwrap();
    b.attr(types::USER_PASSWORD, &hidden[..n]).unwrap();
    b.attr(types::NAS_IP_ADDRESS, &[10, 0, 0, 1]).unwrap();
    b.attr(types::CALLING_STATION_ID, b"aa-bb-cc-dd-ee-ff")
        .unwrap();
    extra(&mut b);
    crypto::sign_access_request(&mut buf, NAS_SECRET);
    Req {
        id,
        auth,
        bytes: buf,
    }
}

/// A simulated AAA: checks what the proxy sent and answers like a billing system.
fn aaa_answer(request: &[u8], with_ma: bool) -> Vec<u8> {
    let p = Packet::new_checked(request).unwrap();
    assert_eq!(p.code(), Code::AccessRequest);
    assert_eq!(
        crypto::verify_message_authenticator(request, None, AAA_SECRET),
        MaStatus::Valid,
        "proxy signs upstream requests with the upstream secret"
    );
    assert_eq!(
        p.attrs().next().unwrap().typ,
        types::MESSAGE_AUTHENTICATOR,
        "MA first"
    );
    let user = String::from_utf8_lossy(p.find(types::USER_NAME).unwrap().value).into_owned();
    let password = p.find(types::USER_PASSWORD).map(|a| {
        let mut out = [0u8; MAX_PASSWORD_LEN];
        let n = unhide_password(a.value, AAA_SECRET, p.authenticator(), &mut out).unwrap();
        String::from_utf8_lossy(&out[..n]).into_owned()
    });
    let (code, msg): (Code, Option<&str>) = match (user.as_str(), password.as_deref()) {
        ("alice", Some("alice-pass")) => (Code::AccessAccept, Some("welcome")),
        ("carol", _) => (Code::AccessReject, Some("欠费停机 arrears")),
        ("nobody", _) => (Code::AccessReject, Some("user not found")),
        // Stock FreeRADIUS: a bare Reject, for an unknown user and a wrong password alike.
        (u, _) if u.starts_with("bare") => (Code::AccessReject, None),
        _ => (Code::AccessReject, Some("wrong password")),
    };
    let mut buf = Vec::new();
    let mut b = Builder::new(&mut buf, code, p.identifier(), &[0; 16]);
    if with_ma {
        b.message_authenticator().unwrap();
    }
    if let Some(m) = msg {
        b.attr(types::REPLY_MESSAGE, m.as_bytes()).unwrap();
    }
    if code == Code::AccessAccept {
        b.attr_u32(types::SESSION_TIMEOUT, 3600).unwrap();
    }
    for a in p.attrs().filter(|a| a.typ == types::PROXY_STATE) {
        b.attr(types::PROXY_STATE, a.value).unwrap();
    }
    crypto::sign_response(&mut buf, p.authenticator(), AAA_SECRET);
    buf
}

fn upstream_socket(t: &Transmit) -> usize {
    match t.via {
        Via::Upstream(s) => s,
        other => panic!("expected an upstream transmit, got {other:?}"),
    }
}

/// Sends a request through the engine and the simulated AAA; returns the NAS reply.
/// Sends a request through the engine and the simulated AAA (answering with or without
/// a Message-Authenticator); returns what the engine then sends, if anything.
fn exchange(e: &mut Engine, now: Instant, req: &Req, aaa_ma: bool) -> Option<Transmit> {
    e.handle_nas(now, Listener::Auth, nas(), &req.bytes);
    let up = e.poll_transmit().expect("forwarded upstream");
    let answer = aaa_answer(&up.payload, aaa_ma);
    e.handle_upstream(now, upstream_socket(&up), up.dest, &answer);
    e.poll_transmit()
}

fn round_trip(e: &mut Engine, now: Instant, req: &Req) -> Vec<u8> {
    let down = exchange(e, now, req, false).expect("answered to the NAS");
    assert_eq!((down.via, down.dest), (Via::Nas(Listener::Auth), nas()));
    down.payload
}

fn verify_for_nas(reply: &[u8], req: &Req) {
    let p = Packet::new_checked(reply).unwrap();
    assert_eq!(p.identifier(), req.id);
    assert!(
        crypto::verify_response(reply, &req.auth, NAS_SECRET),
        "response authenticator"
    );
    assert_eq!(
        crypto::verify_message_authenticator(reply, Some(&req.auth), NAS_SECRET),
        MaStatus::Valid
    );
    assert_eq!(
        p.attrs().next().unwrap().typ,
        types::MESSAGE_AUTHENTICATOR,
        "MA first"
    );
}

/// Header fields through the wire view, as the engine reads them.
fn code_of(p: &[u8]) -> Code {
    Packet::new_unchecked(p).code()
}

fn id_of(p: &[u8]) -> u8 {
    Packet::new_unchecked(p).identifier()
}

fn auth_of(p: &[u8]) -> [u8; 16] {
    *Packet::new_unchecked(p).authenticator()
}

fn events(e: &mut Engine) -> Vec<Event> {
    std::iter::from_fn(|| e.poll_event())
        .filter(|ev| !matches!(ev, Event::UpstreamLatency { .. }))
        .collect()
}

#[test]
fn good_user_gets_the_aaa_accept_resigned() {
    let mut e = engine(1);
    let req = pap(1, "alice", "alice-pass", |_| {});
    let reply = round_trip(&mut e, Instant::now(), &req);
    verify_for_nas(&reply, &req);
    let p = Packet::new_checked(&reply[..]).unwrap();
    assert_eq!(p.code(), Code::AccessAccept);
    assert_eq!(p.find(types::REPLY_MESSAGE).unwrap().value, b"welcome");
    assert_eq!(p.find(types::SESSION_TIMEOUT).unwrap().as_u32(), Some(3600));
    assert!(p.find(types::FILTER_ID).is_none());
}

#[test]
fn wrong_password_becomes_garden_accept() {
    let mut e = engine(1);
    let req = pap(2, "bob", "nope", |b| {
        b.attr(types::PROXY_STATE, b"ps-1").unwrap();
        b.attr(types::PROXY_STATE, b"ps-2").unwrap();
    });
    let reply = round_trip(&mut e, Instant::now(), &req);
    verify_for_nas(&reply, &req);
    let p = Packet::new_checked(&reply[..]).unwrap();
    assert_eq!(p.code(), Code::AccessAccept);
    assert_eq!(p.find(types::FILTER_ID).unwrap().value, b"radcare-garden");
    assert_eq!(p.find(types::SESSION_TIMEOUT).unwrap().as_u32(), Some(300));
    let class = String::from_utf8(p.find(types::CLASS).unwrap().value.to_vec()).unwrap();
    assert!(
        class.starts_with("radcare;cause=wrong-password;g="),
        "{class}"
    );
    assert!(p.find(types::REPLY_MESSAGE).is_none());
    let ps: Vec<_> = p
        .attrs()
        .filter(|a| a.typ == types::PROXY_STATE)
        .map(|a| a.value)
        .collect();
    assert_eq!(
        ps,
        vec![&b"ps-1"[..], b"ps-2"],
        "Proxy-State copied back in order"
    );
    let evs = events(&mut e);
    assert!(evs.iter().any(|ev| matches!(ev, Event::Rejected { cause, outcome: RejectOutcome::Rewritten, .. } if e.cause_id(*cause) == "wrong-password")));
    let entered = evs.iter().find_map(|ev| match ev {
        Event::GardenEntered(g) => Some(g.clone()),
        _ => None,
    });
    let g = entered.expect("garden event");
    assert_eq!(g.user, b"bob");
    assert_eq!(g.calling_station_id.as_deref(), Some("aa-bb-cc-dd-ee-ff"));
    assert_eq!(g.nas_addr, "10.0.0.1".parse::<IpAddr>().unwrap());
    assert!(class.ends_with(&format!("{:016x}", g.garden_id)));
}

#[test]
fn user_unknown_passes_as_reject() {
    let mut e = engine(1);
    let req = pap(3, "nobody", "x", |_| {});
    let reply = round_trip(&mut e, Instant::now(), &req);
    verify_for_nas(&reply, &req);
    let p = Packet::new_checked(&reply[..]).unwrap();
    assert_eq!(p.code(), Code::AccessReject);
    assert_eq!(
        p.find(types::REPLY_MESSAGE).unwrap().value,
        b"user not found"
    );
}

#[test]
fn mschapv2_reject_is_never_rewritten() {
    let mut e = engine(1);
    let req = pap(4, "carol", "x", |b| {
        b.vsa(311, 11, &[0; 16]).unwrap();
        b.vsa(311, 25, &[0; 50]).unwrap();
    });
    let reply = round_trip(&mut e, Instant::now(), &req);
    let p = Packet::new_checked(&reply[..]).unwrap();
    assert_eq!(p.code(), Code::AccessReject);
    assert!(events(&mut e).iter().any(|ev| matches!(
        ev,
        Event::Rejected {
            outcome: RejectOutcome::Passed,
            method: AuthMethod::MsChapV2,
            ..
        }
    )));
}

#[test]
fn retransmission_gets_identical_reply_and_reaches_aaa_once() {
    let mut e = engine(1);
    let now = Instant::now();
    let req = pap(5, "carol", "x", |_| {});
    e.handle_nas(now, Listener::Auth, nas(), &req.bytes);
    let up = e.poll_transmit().unwrap();
    // Retransmitted while in flight: dropped, not forwarded again.
    e.handle_nas(now, Listener::Auth, nas(), &req.bytes);
    assert!(e.poll_transmit().is_none());
    e.handle_upstream(
        now,
        upstream_socket(&up),
        up.dest,
        &aaa_answer(&up.payload, false),
    );
    let first = e.poll_transmit().unwrap().payload;
    e.handle_nas(
        now + Duration::from_secs(1),
        Listener::Auth,
        nas(),
        &req.bytes,
    );
    let again = e.poll_transmit().expect("cached reply");
    assert_eq!(again.payload, first, "byte-identical");
    assert_eq!(again.via, Via::Nas(Listener::Auth));
    assert!(e.poll_transmit().is_none(), "not forwarded again");
    // After the lifetime the entry is gone and the request is new again.
    e.handle_timeout(now + Duration::from_secs(11));
    e.handle_nas(
        now + Duration::from_secs(11),
        Listener::Auth,
        nas(),
        &req.bytes,
    );
    assert!(matches!(e.poll_transmit().unwrap().via, Via::Upstream(_)));
}

#[test]
fn no_answer_means_no_reply_then_failover_to_second_upstream() {
    let mut e = engine(2);
    let t0 = Instant::now();
    let req = pap(6, "alice", "alice-pass", |_| {});
    e.handle_nas(t0, Listener::Auth, nas(), &req.bytes);
    let first = e.poll_transmit().unwrap();
    assert_eq!(first.dest, "127.0.1.1:1812".parse().unwrap());
    assert_eq!(e.poll_timeout(), Some(t0 + Duration::from_secs(2)));
    e.handle_timeout(t0 + Duration::from_secs(2));
    let second = e.poll_transmit().expect("failover");
    assert_eq!(second.dest, "127.0.1.2:1812".parse().unwrap());
    assert!(events(&mut e).contains(&Event::UpstreamDown {
        upstream: "aaa-1".into()
    }));
    // A late answer from the first upstream is no longer accepted.
    e.handle_upstream(
        t0,
        upstream_socket(&first),
        first.dest,
        &aaa_answer(&first.payload, false),
    );
    assert!(e.poll_transmit().is_none());
    e.handle_upstream(
        t0,
        upstream_socket(&second),
        second.dest,
        &aaa_answer(&second.payload, false),
    );
    let reply = e.poll_transmit().unwrap().payload;
    verify_for_nas(&reply, &req);
    assert_eq!(code_of(&reply), Code::AccessAccept);
}

#[test]
fn all_upstreams_silent_gives_nothing() {
    let mut e = engine(1);
    let t0 = Instant::now();
    let req = pap(7, "bob", "x", |_| {});
    e.handle_nas(t0, Listener::Auth, nas(), &req.bytes);
    let _ = e.poll_transmit().unwrap();
    e.handle_timeout(t0 + Duration::from_secs(3));
    assert!(e.poll_transmit().is_none(), "never an invented reply");
    assert!(events(&mut e).contains(&Event::Dropped(DropReason::NoAnswer)));
    // The dead upstream is probed with Status-Server and comes back when it answers.
    let t1 = t0 + Duration::from_secs(8);
    e.handle_timeout(t1);
    let probe = e.poll_transmit().expect("status-server probe");
    assert_eq!(code_of(&probe.payload), Code::StatusServer);
    assert_eq!(
        crypto::verify_message_authenticator(&probe.payload, None, AAA_SECRET),
        MaStatus::Valid
    );
    let mut ans = Vec::new();
    let mut b = Builder::new(
        &mut ans,
        Code::AccessAccept,
        id_of(&probe.payload),
        &[0; 16],
    );
    b.message_authenticator().unwrap();
    let auth = auth_of(&probe.payload);
    crypto::sign_response(&mut ans, &auth, AAA_SECRET);
    e.handle_upstream(t1, upstream_socket(&probe), probe.dest, &ans);
    assert!(events(&mut e).contains(&Event::UpstreamUp {
        upstream: "aaa-1".into()
    }));
}

#[test]
fn bad_input_is_counted_and_dropped() {
    let mut e = engine(1);
    let now = Instant::now();
    let good = pap(8, "alice", "alice-pass", |_| {});
    // Truncated.
    e.handle_nas(now, Listener::Auth, nas(), &good.bytes[..30]);
    // Wrong secret: Message-Authenticator fails.
    let mut bad = good.bytes.clone();
    bad[25] ^= 0xff;
    e.handle_nas(now, Listener::Auth, nas(), &bad);
    // Unknown client.
    e.handle_nas(
        now,
        Listener::Auth,
        "192.0.2.1:1".parse().unwrap(),
        &good.bytes,
    );
    // Accounting code on the auth port.
    let mut acct = good.bytes.clone();
    Packet::new_unchecked(&mut acct[..]).set_code(Code::AccountingRequest);
    e.handle_nas(now, Listener::Auth, nas(), &acct);
    // Garbage reply on an upstream socket.
    e.handle_upstream(now, 0, "127.0.1.1:1812".parse().unwrap(), &[2, 0, 0]);
    assert!(e.poll_transmit().is_none());
    let drops: Vec<_> = events(&mut e)
        .into_iter()
        .filter_map(|ev| match ev {
            Event::Dropped(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(
        drops,
        vec![
            DropReason::Malformed,
            DropReason::BadMessageAuthenticator,
            DropReason::UnknownClient,
            DropReason::UnexpectedCode,
            DropReason::Malformed
        ]
    );
    // Still serving.
    let reply = round_trip(&mut e, now, &good);
    verify_for_nas(&reply, &good);
}

#[test]
fn message_authenticator_learnt_then_required() {
    let mut e = engine(1);
    let now = Instant::now();
    let _ = round_trip(&mut e, now, &pap(9, "alice", "alice-pass", |_| {}));
    // Same NAS now sends a request without Message-Authenticator: refused (auto).
    let mut buf = Vec::new();
    let mut b = Builder::new(&mut buf, Code::AccessRequest, 10, &[3; 16]);
    b.attr(types::USER_NAME, b"alice").unwrap();
    e.handle_nas(now, Listener::Auth, nas(), &buf);
    assert!(e.poll_transmit().is_none());
    assert!(events(&mut e).contains(&Event::Dropped(DropReason::MissingMessageAuthenticator)));
}

#[test]
fn proxy_state_without_message_authenticator_is_refused() {
    let mut e = engine(1);
    let mut buf = Vec::new();
    let mut b = Builder::new(&mut buf, Code::AccessRequest, 11, &[3; 16]);
    b.attr(types::USER_NAME, b"alice").unwrap();
    b.attr(types::PROXY_STATE, b"x").unwrap();
    e.handle_nas(Instant::now(), Listener::Auth, nas(), &buf);
    assert!(e.poll_transmit().is_none());
    assert!(events(&mut e).contains(&Event::Dropped(
        DropReason::ProxyStateWithoutMessageAuthenticator
    )));
}

#[test]
fn upstream_message_authenticator_auto_learnt() {
    let mut e = engine(1);
    let now = Instant::now();
    let req = pap(12, "alice", "alice-pass", |_| {});
    assert!(exchange(&mut e, now, &req, true).is_some());
    // Now a reply without MA from that upstream is refused.
    let req = pap(13, "alice", "alice-pass", |_| {});
    assert!(exchange(&mut e, now, &req, false).is_none());
    assert!(events(&mut e).contains(&Event::Dropped(
        DropReason::UpstreamMissingMessageAuthenticator
    )));
}

#[test]
fn chap_challenge_is_preserved_upstream() {
    let mut e = engine(1);
    let auth = [0x42; 16];
    let mut buf = Vec::new();
    let mut b = Builder::new(&mut buf, Code::AccessRequest, 14, &auth);
    b.message_authenticator().unwrap();
    b.attr(types::USER_NAME, b"alice").unwrap();
    b.attr(types::CHAP_PASSWORD, &[1; 17]).unwrap();
    crypto::sign_access_request(&mut buf, NAS_SECRET);
    e.handle_nas(Instant::now(), Listener::Auth, nas(), &buf);
    let up = e.poll_transmit().unwrap();
    let p = Packet::new_checked(&up.payload[..]).unwrap();
    assert_eq!(p.find(types::CHAP_CHALLENGE).unwrap().value, &auth);
    assert_eq!(p.find(types::CHAP_PASSWORD).unwrap().value, &[1; 17]);
    assert_ne!(p.authenticator(), &auth, "fresh upstream authenticator");
}

fn accounting(id: u8, class: Option<&[u8]>, status: u32) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut b = Builder::new(&mut buf, Code::AccountingRequest, id, &[0; 16]);
    b.attr(types::USER_NAME, b"bob").unwrap();
    b.attr_u32(types::ACCT_STATUS_TYPE, status).unwrap();
    b.attr(types::ACCT_SESSION_ID, b"sess-1").unwrap();
    b.attr(types::FRAMED_IP_ADDRESS, &[127, 0, 0, 42]).unwrap();
    if let Some(c) = class {
        b.attr(types::CLASS, c).unwrap();
    }
    crypto::sign_hashed_request(&mut buf, NAS_SECRET);
    buf
}

#[test]
fn garden_accounting_is_answered_and_learnt() {
    let mut e = engine(1);
    let now = Instant::now();
    let req = accounting(20, Some(b"radcare;cause=arrears;g=00000000000000ab"), 1);
    e.handle_nas(now, Listener::Acct, nas(), &req);
    let t = e.poll_transmit().expect("answered here");
    assert_eq!(t.via, Via::Nas(Listener::Acct));
    let auth = auth_of(&req);
    assert_eq!(code_of(&t.payload), Code::AccountingResponse);
    assert!(crypto::verify_response(&t.payload, &auth, NAS_SECRET));
    let ev = events(&mut e);
    assert!(ev.contains(&Event::GardenAccounting(GardenAccountingEvent {
        garden_id: 0xab,
        status: Some(1),
        user: "bob".into(),
        framed_ip: Some(Ipv4Addr::new(127, 0, 0, 42)),
        acct_session_id: Some("sess-1".into()),
        nas_addr: nas().ip(),
    })));
}

#[test]
fn other_accounting_is_acknowledged_only_after_the_aaa() {
    let mut e = engine(1);
    let now = Instant::now();
    let req = accounting(21, None, 1);
    e.handle_nas(now, Listener::Acct, nas(), &req);
    let up = e.poll_transmit().unwrap();
    assert_eq!(up.dest, "127.0.1.1:1813".parse().unwrap());
    assert!(crypto::verify_hashed_request(&up.payload, AAA_SECRET));
    assert!(e.poll_transmit().is_none(), "no ack before the AAA's");
    let mut ans = Vec::new();
    Builder::new(
        &mut ans,
        Code::AccountingResponse,
        id_of(&up.payload),
        &[0; 16],
    );
    let up_auth = auth_of(&up.payload);
    crypto::sign_response(&mut ans, &up_auth, AAA_SECRET);
    e.handle_upstream(now, upstream_socket(&up), up.dest, &ans);
    let down = e.poll_transmit().unwrap();
    let auth = auth_of(&req);
    assert!(crypto::verify_response(&down.payload, &auth, NAS_SECRET));
    // Wrong secret on accounting: dropped.
    let mut bad = accounting(22, None, 1);
    bad[30] ^= 1;
    e.handle_nas(now, Listener::Acct, nas(), &bad);
    assert!(e.poll_transmit().is_none());
}

/// A BRAS that strips the Class tag: its accounting still names the subscriber that
/// was let in, and is forwarded to the AAA as before.
#[test]
fn accounting_without_the_class_names_the_subscriber_and_is_forwarded() {
    let mut e = engine(1);
    let now = Instant::now();
    let _ = round_trip(&mut e, now, &pap(30, "bob", "nope", |_| {}));
    let entered = events(&mut e)
        .into_iter()
        .find_map(|ev| match ev {
            Event::GardenEntered(g) => Some(g),
            _ => None,
        })
        .expect("let in");
    let mut req = Vec::new();
    let mut b = Builder::new(&mut req, Code::AccountingRequest, 31, &[0; 16]);
    b.attr(types::USER_NAME, b"bob").unwrap();
    b.attr_u32(types::ACCT_STATUS_TYPE, 1).unwrap();
    b.attr(types::ACCT_SESSION_ID, b"sess-2").unwrap();
    b.attr(types::FRAMED_IP_ADDRESS, &[127, 0, 0, 43]).unwrap();
    b.attr(types::NAS_IP_ADDRESS, &[10, 0, 0, 1]).unwrap();
    b.attr(types::CALLING_STATION_ID, b"aa-bb-cc-dd-ee-ff")
        .unwrap();
    crypto::sign_hashed_request(&mut req, NAS_SECRET);
    e.handle_nas(now, Listener::Acct, nas(), &req);
    let up = e.poll_transmit().expect("forwarded");
    assert_eq!(up.dest, "127.0.1.1:1813".parse().unwrap());
    let ev = events(&mut e);
    assert!(
        ev.iter()
            .any(|ev| matches!(ev, Event::SubscriberAccounting(s)
            if s.subscriber == entered.subscriber
                && s.framed_ip == Some(Ipv4Addr::new(127, 0, 0, 43))
                && s.acct_session_id.map(|v| v.as_bytes() == b"sess-2") == Some(true))),
        "{ev:?}"
    );
}

#[test]
fn more_than_256_requests_in_flight() {
    let mut e = engine(1);
    let now = Instant::now();
    let mut sent = 0;
    for i in 0..600u32 {
        let src: SocketAddr = format!("127.0.0.{}:{}", 10 + i / 256, 1000 + i)
            .parse()
            .unwrap();
        let r = pap((i % 256) as u8, "alice", "alice-pass", |_| {});
        e.handle_nas(now, Listener::Auth, src, &r.bytes);
        while e.poll_transmit().is_some() {
            sent += 1;
        }
    }
    assert_eq!(sent, 600);
}

#[test]
fn shadow_mode_relays_the_reject_and_counts_it() {
    let mut e = engine(1);
    e.set_shadow(true);
    let req = pap(30, "carol", "x", |_| {});
    let reply = round_trip(&mut e, Instant::now(), &req);
    verify_for_nas(&reply, &req);
    assert_eq!(code_of(&reply), Code::AccessReject, "still a Reject");
    let evs = events(&mut e);
    assert!(evs.iter().any(|ev| matches!(
        ev,
        Event::Rejected {
            outcome: RejectOutcome::WouldRewrite,
            ..
        }
    )));
    assert!(!evs.iter().any(|ev| matches!(ev, Event::GardenEntered(_))));
}

/// A receive batch checked in MD5 lanes gives each datagram the verdict it gets alone:
/// among good requests, one with a forged Message-Authenticator is dropped; among good
/// replies, one with a bad Response Authenticator and one with a bad
/// Message-Authenticator are dropped; the rest are answered and verify at the NAS.
#[test]
fn a_batch_checked_in_lanes_gets_the_same_verdicts() {
    let mut e = engine(1);
    let now = Instant::now();
    let reqs: Vec<Req> = (0..10)
        .map(|i| {
            let user = if i % 3 == 0 { "carol" } else { "alice" };
            pap(i, user, "alice-pass", |_| {})
        })
        .collect();
    let mut forged = pap(10, "alice", "alice-pass", |_| {});
    let at = crypto::find_message_authenticator(&forged.bytes).unwrap();
    forged.bytes[at] ^= 1;
    let mut batch: Vec<&[u8]> = reqs.iter().map(|r| &r.bytes[..]).collect();
    batch.insert(4, &forged.bytes);
    e.handle_nas_batch(now, Listener::Auth, batch.iter().map(|d| (nas(), *d)));
    let ups: Vec<Transmit> = std::iter::from_fn(|| e.poll_transmit()).collect();
    assert_eq!(ups.len(), 10, "the forged request is not forwarded");
    assert!(events(&mut e).contains(&Event::Dropped(DropReason::BadMessageAuthenticator)));

    let mut answers: Vec<Vec<u8>> = ups.iter().map(|u| aaa_answer(&u.payload, true)).collect();
    let mut damaged = Packet::new_unchecked(&mut answers[2][..]);
    let mut ra = *damaged.authenticator();
    ra[0] ^= 1;
    damaged.set_authenticator(&ra);
    let ma = crypto::find_message_authenticator(&answers[5]).unwrap();
    answers[5][ma + 3] ^= 1;
    // ... under a Response Authenticator that is right for the damaged packet.
    let up_auth = auth_of(&ups[5].payload);
    let ra = crypto::response_authenticator(&answers[5], &up_auth, AAA_SECRET);
    Packet::new_unchecked(&mut answers[5][..]).set_authenticator(&ra);
    let socket = upstream_socket(&ups[0]);
    assert!(ups.iter().all(|u| upstream_socket(u) == socket));
    e.handle_upstream_batch(now, socket, answers.iter().map(|a| (ups[0].dest, &a[..])));
    let downs: Vec<Transmit> = std::iter::from_fn(|| e.poll_transmit()).collect();
    assert_eq!(downs.len(), 8);
    let evs = events(&mut e);
    assert!(evs.contains(&Event::Dropped(DropReason::UpstreamBadAuthenticator)));
    assert!(evs.contains(&Event::Dropped(DropReason::UpstreamBadMessageAuthenticator)));
    for d in &downs {
        let id = id_of(&d.payload);
        let req = reqs.iter().find(|r| r.id == id).unwrap();
        assert_ne!(id, id_of(&ups[2].payload));
        assert_ne!(id, id_of(&ups[5].payload));
        verify_for_nas(&d.payload, req);
    }
    // A reply signed at the end of the batch is what the cache gives a retransmission.
    e.handle_nas_batch(
        now,
        Listener::Auth,
        [(nas(), &reqs[1].bytes[..])].into_iter(),
    );
    let again = e.poll_transmit().expect("answered from the cache");
    let first = downs
        .iter()
        .find(|d| id_of(&d.payload) == reqs[1].id)
        .unwrap();
    assert_eq!(again.payload, first.payload);
    assert!(e.poll_transmit().is_none(), "not sent upstream again");
}

/// A subscriber rejected again for the same cause gets the same garden id (one entry,
/// updated); another subscriber gets another.
#[test]
fn garden_ids_are_per_subscriber_and_cause() {
    let mut e = engine(1);
    let now = Instant::now();
    let mut ids = Vec::new();
    for (i, user) in ["carol", "carol", "dave"].into_iter().enumerate() {
        let reply = round_trip(&mut e, now, &pap(i as u8, user, "x", |_| {}));
        let p = Packet::new_checked(&reply[..]).unwrap();
        let class = String::from_utf8(p.find(types::CLASS).unwrap().value.to_vec()).unwrap();
        ids.push(class.rsplit("g=").next().unwrap().to_string());
    }
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[0], ids[2]);
}

/// A reload's clients and policy take effect at once; requests in flight finish for a
/// client that stays and are dropped for one that is gone.
#[test]
fn reconfigure_swaps_clients_and_keeps_or_drops_what_is_in_flight() {
    let cfg = config(1);
    let dict = Arc::new(Dictionary::builtin().unwrap());
    let policy = Arc::new(Policy::compile(&cfg, &dict).unwrap());
    let mut e = engine(1);
    let now = Instant::now();
    let far: SocketAddr = "10.9.9.9:4000".parse().unwrap();
    let req = pap(1, "alice", "alice-pass", |_| {});
    e.handle_nas(now, Listener::Auth, far, &req.bytes);
    assert!(e.poll_transmit().is_none(), "10.9.9.9 is no client yet");

    // In flight from the NAS when the reload comes; the client keeps its name.
    e.handle_nas(now, Listener::Auth, nas(), &req.bytes);
    let up = e.poll_transmit().unwrap();
    let mut more = cfg.clone();
    more.radius.clients.insert(
        0,
        ClientConfig {
            name: "far".into(),
            address: "10.0.0.0/8".parse().unwrap(),
            ..cfg.radius.clients[0].clone()
        },
    );
    e.reconfigure(&more, policy.clone());
    let answer = aaa_answer(&up.payload, true);
    e.handle_upstream(now, upstream_socket(&up), up.dest, &answer);
    let down = e.poll_transmit().expect("answered after the reload");
    verify_for_nas(&down.payload, &req);
    e.handle_nas(
        now,
        Listener::Auth,
        far,
        &pap(2, "alice", "alice-pass", |_| {}).bytes,
    );
    assert!(e.poll_transmit().is_some(), "the new client is served");

    // In flight when its client is removed: no reply.
    let req3 = pap(3, "alice", "alice-pass", |_| {});
    e.handle_nas(now, Listener::Auth, nas(), &req3.bytes);
    let up = e.poll_transmit().unwrap();
    let mut fewer = more.clone();
    fewer.radius.clients.retain(|c| c.name == "far");
    e.reconfigure(&fewer, policy);
    let answer = aaa_answer(&up.payload, true);
    e.handle_upstream(now, upstream_socket(&up), up.dest, &answer);
    assert!(e.poll_transmit().is_none(), "its client is gone");
    e.handle_nas(now, Listener::Auth, nas(), &req3.bytes);
    assert!(
        e.poll_transmit().is_none(),
        "127.0.0.9 is no client any more"
    );
}

#[test]
fn an_ambiguous_reject_is_rewritten_only_for_a_redialling_subscriber() {
    let mut e = engine(1);
    let now = Instant::now();
    let code = |reply: Vec<u8>| Packet::new_checked(&reply[..]).unwrap().code();
    // A scan of names, each tried once: nobody gets a walled-garden Accept.
    for i in 0..50u8 {
        let user = format!("bare-scan-{i}");
        let reply = round_trip(&mut e, now, &pap(i, &user, "guess", |_| {}));
        assert_eq!(code(reply), Code::AccessReject, "{user}");
    }
    assert_eq!(e.redial_memory(), (50, 0));
    // A router redialling with a stale password: the third Reject within the window
    // ([policy.redial] rejects = 3) becomes the garden Accept.
    let dials: Vec<Code> = (0..3u8)
        .map(|i| {
            let at = now + Duration::from_secs(20 * u64::from(i));
            code(round_trip(
                &mut e,
                at,
                &pap(100 + i, "bare-router", "old", |_| {}),
            ))
        })
        .collect();
    assert_eq!(
        dials,
        [Code::AccessReject, Code::AccessReject, Code::AccessAccept]
    );
    // Long after the window, the count starts again.
    let late = now + Duration::from_secs(3600);
    let reply = round_trip(&mut e, late, &pap(110, "bare-router", "old", |_| {}));
    assert_eq!(code(reply), Code::AccessReject);
    let outcomes: Vec<RejectOutcome> = std::iter::from_fn(|| e.poll_event())
        .filter_map(|ev| match ev {
            Event::Rejected { outcome, .. } => Some(outcome),
            _ => None,
        })
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == RejectOutcome::AwaitingRedial)
            .count(),
        53
    );
}

#[test]
fn a_named_cause_is_rewritten_at_once_and_user_unknown_never() {
    let mut e = engine(1);
    let now = Instant::now();
    let code = |reply: Vec<u8>| Packet::new_checked(&reply[..]).unwrap().code();
    assert_eq!(
        code(round_trip(&mut e, now, &pap(1, "carol", "x", |_| {}))),
        Code::AccessAccept
    );
    for i in 2..6 {
        assert_eq!(
            code(round_trip(&mut e, now, &pap(i, "nobody", "x", |_| {}))),
            Code::AccessReject
        );
    }
}

#[test]
fn a_reply_that_cannot_be_built_leaves_no_request_in_flight() {
    // A cause id too long for the Class tag (config refuses one; the engine must not
    // rely on it): the garden Accept cannot be built, the request is dropped.
    let mut cfg = config(1);
    cfg.policy.causes.push(crate::config::CauseConfig {
        id: "x".repeat(240),
        action: Some(crate::config::Action::Rewrite),
        ms_chap_error: vec![],
        reply_message: Some("arrears".into()),
        attribute: vec![],
    });
    let dict = Arc::new(Dictionary::builtin().unwrap());
    let policy = Arc::new(Policy::compile(&cfg, &dict).unwrap());
    let mut e = Engine::new(&cfg, dict, policy, [7; 32]);
    let now = Instant::now();
    let req = pap(9, "carol", "x", |_| {});
    assert!(exchange(&mut e, now, &req, false).is_none(), "dropped");
    let dropped: Vec<DropReason> = std::iter::from_fn(|| e.poll_event())
        .filter_map(|ev| match ev {
            Event::Dropped(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(dropped, [DropReason::TooBig]);
    // The NAS retransmits: tried again upstream, not dropped as "in flight" for ever.
    e.handle_nas(now, Listener::Auth, nas(), &req.bytes);
    assert!(
        e.poll_transmit()
            .is_some_and(|t| matches!(t.via, Via::Upstream(_))),
        "the retransmission is forwarded"
    );
    assert_eq!(e.duplicate_cache_len(), 1);
}

#[test]
fn a_message_authenticator_of_the_wrong_length_is_dropped_not_absent() {
    // The client's `auto` would accept a request without one; a short one is not
    // "without one", it is malformed (FreeRADIUS drops it too).
    let mut e = engine(1);
    let now = Instant::now();
    let auth = [3u8; 16];
    let mut buf = Vec::new();
    let mut b = Builder::new(&mut buf, Code::AccessRequest, 3, &auth);
    b.attr(types::USER_NAME, b"carol").unwrap();
    let mut hidden = [0u8; MAX_PASSWORD_LEN];
    let n = hide_password(b"x", NAS_SECRET, &auth, &mut hidden).unwrap();
    b.attr(types::USER_PASSWORD, &hidden[..n]).unwrap();
    b.attr(types::MESSAGE_AUTHENTICATOR, &[0u8; 10]).unwrap();
    e.handle_nas(now, Listener::Auth, nas(), &buf);
    assert!(e.poll_transmit().is_none(), "not forwarded");
    let dropped: Vec<DropReason> = std::iter::from_fn(|| e.poll_event())
        .filter_map(|ev| match ev {
            Event::Dropped(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(dropped, [DropReason::BadMessageAuthenticator]);
}

/// Two workers of one process: what one learns of Message-Authenticators, from a NAS
/// and from an upstream, the other requires too.
#[test]
fn message_authenticators_learnt_by_one_worker_are_required_by_all() {
    let cfg = config(1);
    let dict = Arc::new(Dictionary::builtin().unwrap());
    let policy = Arc::new(Policy::compile(&cfg, &dict).unwrap());
    let learnt = Arc::new(Learnt::new(&cfg));
    let worker =
        |seed| Engine::new(&cfg, dict.clone(), policy.clone(), [seed; 32]).sharing(learnt.clone());
    let (mut a, mut b) = (worker(1), worker(2));
    let now = Instant::now();
    // Worker a: the NAS sends a Message-Authenticator, and so does the AAA.
    assert!(exchange(&mut a, now, &pap(1, "alice", "alice-pass", |_| {}), true).is_some());

    // Worker b: the same NAS without one is refused.
    let mut buf = Vec::new();
    let mut bld = Builder::new(&mut buf, Code::AccessRequest, 2, &[3; 16]);
    bld.attr(types::USER_NAME, b"alice").unwrap();
    b.handle_nas(now, Listener::Auth, nas(), &buf);
    assert!(b.poll_transmit().is_none());
    assert!(events(&mut b).contains(&Event::Dropped(DropReason::MissingMessageAuthenticator)));
    // And the AAA's reply without one too.
    assert!(exchange(&mut b, now, &pap(3, "alice", "alice-pass", |_| {}), false).is_none());
    assert!(events(&mut b).contains(&Event::Dropped(
        DropReason::UpstreamMissingMessageAuthenticator
    )));

    // A reload keeps what was learnt for a client whose range is unchanged.
    b.reconfigure(&cfg, policy.clone());
    b.handle_nas(now, Listener::Auth, nas(), &buf);
    assert!(events(&mut b).contains(&Event::Dropped(DropReason::MissingMessageAuthenticator)));
}
