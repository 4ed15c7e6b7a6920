//! The sans-IO proxy engine on untrusted datagrams.
//!
//! 1. Raw: the input as a NAS datagram on the auth and the accounting listener, and as an
//!    upstream reply. Without the secrets the fuzzer rarely gets past verification, so:
//! 2. Signed: the input is `request || reply`, split at the request's Length field. The
//!    harness signs the request with the NAS secret, feeds it in, and answers every
//!    upstream copy with `reply`, re-identified and signed with the AAA secret. That
//!    drives relaying, Reject classification, walled-garden rewriting and the duplicate
//!    cache with fuzzer-chosen attributes. Every packet the engine emits is checked:
//!    well formed, and correctly signed for whoever it goes to.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use radcare::config::{ClientConfig, Config, Secret, Tristate, UpstreamConfig};
use radcare::dict::Dictionary;
use radcare::engine::{Engine, Listener, Transmit, Via};
use radcare::policy::Policy;
use radcare::wire::crypto::{self, MaStatus};
use radcare::wire::{Code, Packet};

const NAS_SECRET: &[u8] = b"nas-secret";
const AAA_SECRET: &[u8] = b"aaa-secret";

struct Setup {
    cfg: Config,
    dict: Arc<Dictionary>,
    policy: Arc<Policy>,
    base: Instant,
}

fn nas() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 9], 40000))
}

fn upstream_auth() -> SocketAddr {
    SocketAddr::from(([127, 0, 1, 1], 1812))
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
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
        cfg.radius.upstreams.push(UpstreamConfig {
            name: "aaa-1".into(),
            auth: upstream_auth(),
            acct: Some(SocketAddr::from(([127, 0, 1, 1], 1813))),
            secret: Secret("aaa-secret".into()),
            require_message_authenticator: Tristate::Auto,
            response_window: Duration::from_secs(2),
            dead_after: 1,
            probe_interval: Duration::from_secs(5),
        });
        // Compiling the policy (regexes) is the slow part: once per process.
        let dict = Arc::new(Dictionary::builtin().expect("builtin dictionary loads"));
        let policy = Arc::new(Policy::compile(&cfg, &dict).expect("policy compiles"));
        Setup {
            cfg,
            dict,
            policy,
            base: Instant::now(),
        }
    })
}

fn engine(s: &Setup) -> Engine {
    Engine::new(&s.cfg, s.dict.clone(), s.policy.clone(), [7; 32])
}

fn drain(e: &mut Engine) -> Vec<Transmit> {
    while e.poll_event().is_some() {}
    std::iter::from_fn(|| e.poll_transmit()).collect()
}

/// What the engine sends upstream must be well formed and signed with the AAA secret.
fn check_upstream(t: &Transmit) {
    let p = Packet::new_checked(&t.payload[..]).expect("engine sends well-formed packets");
    assert_eq!(p.as_bytes().len(), t.payload.len(), "no trailing bytes");
    if p.code().has_hashed_request_authenticator() {
        assert!(crypto::verify_hashed_request(&t.payload, AAA_SECRET));
    }
    assert_ne!(
        crypto::verify_message_authenticator(&t.payload, None, AAA_SECRET),
        MaStatus::Invalid
    );
}

/// What the engine sends to the NAS must answer `request` and be signed with its secret.
fn check_nas_reply(t: &Transmit, request: &[u8]) {
    let req = Packet::new_unchecked(request);
    let p = Packet::new_checked(&t.payload[..]).expect("engine sends well-formed packets");
    assert_eq!(p.as_bytes().len(), t.payload.len(), "no trailing bytes");
    assert_eq!(t.dest, nas());
    assert_eq!(p.identifier(), req.identifier());
    assert!(p.code().is_response(), "{:?}", p.code());
    assert!(
        crypto::verify_response(&t.payload, req.authenticator(), NAS_SECRET),
        "reply to the NAS has a bad Response Authenticator"
    );
    assert_ne!(
        crypto::verify_message_authenticator(&t.payload, Some(req.authenticator()), NAS_SECRET),
        MaStatus::Invalid,
        "reply to the NAS has a bad Message-Authenticator"
    );
}

fn raw(s: &Setup, data: &[u8]) {
    let now = s.base;
    let mut e = engine(s);
    e.handle_nas(now, Listener::Auth, nas(), data);
    drain(&mut e);
    e.handle_nas(now, Listener::Acct, nas(), data);
    drain(&mut e);
    e.handle_upstream(now, 0, upstream_auth(), data);
    drain(&mut e);
}

fn signed(s: &Setup, data: &[u8]) {
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    let len = p.as_bytes().len();
    let mut request = data[..len].to_vec();
    let reply_template = &data[len..];
    let listener = match p.code() {
        Code::AccessRequest | Code::StatusServer => {
            crypto::sign_access_request(&mut request, NAS_SECRET);
            Listener::Auth
        }
        Code::AccountingRequest => {
            crypto::sign_hashed_request(&mut request, NAS_SECRET);
            Listener::Acct
        }
        _ => return,
    };

    let mut now = s.base;
    let mut e = engine(s);
    // Twice: the second is a retransmission, answered from the duplicate cache once
    // the first has been answered.
    for _ in 0..2 {
        e.handle_nas(now, listener, nas(), &request);
        let mut queue = drain(&mut e);
        while let Some(t) = queue.pop() {
            match t.via {
                Via::Nas(l) => {
                    assert_eq!(l, listener);
                    check_nas_reply(&t, &request);
                }
                Via::Upstream(socket) => {
                    check_upstream(&t);
                    let Ok(r) = Packet::new_checked(reply_template) else {
                        continue;
                    };
                    let mut reply = r.as_bytes().to_vec();
                    reply[1] = t.payload[1];
                    let up_auth: [u8; 16] = t.payload[4..20].try_into().unwrap();
                    crypto::sign_response(&mut reply, &up_auth, AAA_SECRET);
                    e.handle_upstream(now, socket, t.dest, &reply);
                    queue.extend(drain(&mut e));
                }
            }
        }
        now += Duration::from_millis(100);
    }
    // Time out whatever is still pending (failover, dead upstream, probes), expire the cache.
    now += Duration::from_secs(30);
    e.handle_timeout(now);
    for t in drain(&mut e) {
        match t.via {
            Via::Upstream(_) => check_upstream(&t),
            // No answer from upstream is no answer to the NAS: never an invented one.
            Via::Nas(_) => panic!("timeout produced a reply to the NAS: {t:?}"),
        }
    }
}

/// 3. Batched, the packet thread's way: three signed copies of the request (distinct
///    identifiers and authenticators) and the raw input in one receive batch, checked in
///    MD5 lanes; every upstream copy answered in one batch, the replies signed together.
///    The same checks on everything emitted.
fn batched(s: &Setup, data: &[u8]) {
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    if p.code() != Code::AccessRequest {
        return;
    }
    let len = p.as_bytes().len();
    let reply_template = &data[len..];
    let requests: Vec<Vec<u8>> = (0..3u8)
        .map(|i| {
            let mut r = data[..len].to_vec();
            r[1] = r[1].wrapping_add(i);
            r[4] ^= i;
            crypto::sign_access_request(&mut r, NAS_SECRET);
            r
        })
        .collect();
    let now = s.base;
    let mut e = engine(s);
    let mut batch: Vec<&[u8]> = requests.iter().map(|r| &r[..]).collect();
    batch.push(data);
    e.handle_nas_batch(now, Listener::Auth, batch.iter().map(|d| (nas(), *d)));
    let out = drain(&mut e);
    let mut replies = Vec::new();
    let mut socket = 0;
    for t in &out {
        match t.via {
            Via::Upstream(sock) => {
                check_upstream(t);
                socket = sock;
                let Ok(r) = Packet::new_checked(reply_template) else {
                    continue;
                };
                let mut reply = r.as_bytes().to_vec();
                reply[1] = t.payload[1];
                let up_auth: [u8; 16] = t.payload[4..20].try_into().unwrap();
                crypto::sign_response(&mut reply, &up_auth, AAA_SECRET);
                replies.push(reply);
            }
            Via::Nas(_) => panic!("a reply to the NAS before the AAA answered: {t:?}"),
        }
    }
    e.handle_upstream_batch(now, socket, replies.iter().map(|r| (upstream_auth(), &r[..])));
    for t in drain(&mut e) {
        let Via::Nas(_) = t.via else {
            panic!("only replies to the NAS here: {t:?}");
        };
        let request = requests
            .iter()
            .find(|r| r[1] == t.payload[1])
            .expect("a reply answers one of the requests");
        check_nas_reply(&t, request);
    }
}

fuzz_target!(|data: &[u8]| {
    let s = setup();
    raw(s, data);
    signed(s, data);
    batched(s, data);
});
