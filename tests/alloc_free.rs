//! The proxy path allocates nothing per packet once warm: a counting global allocator
//! watches the engine relay Accepts and pass Rejects through, with every buffer reused.
//! (A rewrite allocates only for the walled-garden event's text fields.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use radcare::config::Config;
use radcare::dict::Dictionary;
use radcare::engine::{Engine, Listener, Via};
use radcare::policy::Policy;
use radcare::wire::attr::types;
use radcare::wire::{Builder, Code, Packet, crypto};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    COUNT.with(Cell::get)
}

const NAS: &[u8] = b"testing123";
const AAA: &[u8] = b"aaa-secret";

struct Rig {
    engine: Engine,
    now: Instant,
    n: u32,
    request: Vec<u8>,
    reply: Vec<u8>,
    nas: SocketAddr,
    aaa: SocketAddr,
    /// Buffers for batches: requests, then the AAA's replies.
    requests: Vec<Vec<u8>>,
    replies: Vec<Vec<u8>>,
}

impl Rig {
    fn new() -> Rig {
        let text = r#"
[radius]
duplicate_lifetime = "100ms"
[[radius.client]]
name = "nas"
address = "127.0.0.0/8"
secret = "testing123"
[[radius.upstream]]
name = "aaa"
auth = "127.0.0.1:11812"
secret = "aaa-secret"
# Short, so that the queues of deadlines reach their steady size during the warm-up.
response_window = "100ms"
"#;
        let cfg = Config::parse("test", text).unwrap();
        let dict = Arc::new(Dictionary::builtin().unwrap());
        let policy = Arc::new(Policy::compile(&cfg, &dict).unwrap());
        Rig {
            engine: Engine::new(&cfg, dict, policy, [3; 32]),
            now: Instant::now(),
            n: 0,
            request: Vec::with_capacity(4096),
            reply: Vec::with_capacity(4096),
            nas: "127.0.0.1:5000".parse().unwrap(),
            aaa: "127.0.0.1:11812".parse().unwrap(),
            requests: (0..BATCH).map(|_| Vec::with_capacity(4096)).collect(),
            replies: (0..BATCH).map(|_| Vec::with_capacity(4096)).collect(),
        }
    }

    /// One NAS request through the engine, the AAA answering `code` with `message`.
    fn exchange(&mut self, code: Code, message: &[u8]) -> u8 {
        self.n = self.n.wrapping_add(1);
        self.now += Duration::from_millis(1);
        access_request(&mut self.request, self.n);

        self.engine.handle_timeout(self.now);
        self.engine
            .handle_nas(self.now, Listener::Auth, self.nas, &self.request);
        let up = self.engine.poll_transmit().expect("forwarded");
        let Via::Upstream(socket) = up.via else {
            panic!("upstream")
        };
        aaa_reply(&mut self.reply, &up.payload, code, message);
        self.engine.recycle(up.payload);
        self.engine
            .handle_upstream(self.now, socket, self.aaa, &self.reply);
        let down = self.engine.poll_transmit().expect("answered");
        let code = down.payload[0];
        self.engine.recycle(down.payload);
        while self.engine.poll_event().is_some() {}
        code
    }
}

impl Rig {
    /// `BATCH` NAS requests in one receive batch, answered in one batch (the packet
    /// thread's way, with MD5 lanes); returns how many Accepts came back.
    fn exchange_batch(&mut self) -> usize {
        self.now += Duration::from_millis(1);
        for r in self.requests.iter_mut() {
            self.n = self.n.wrapping_add(1);
            access_request(r, self.n);
        }
        self.engine.handle_timeout(self.now);
        let nas = self.nas;
        self.engine.handle_nas_batch(
            self.now,
            Listener::Auth,
            self.requests.iter().map(|r| (nas, &r[..])),
        );
        let mut socket = 0;
        for reply in self.replies.iter_mut() {
            let up = self.engine.poll_transmit().expect("forwarded");
            let Via::Upstream(s) = up.via else {
                panic!("upstream")
            };
            socket = s;
            aaa_reply(reply, &up.payload, Code::AccessAccept, b"welcome");
            self.engine.recycle(up.payload);
        }
        let aaa = self.aaa;
        self.engine.handle_upstream_batch(
            self.now,
            socket,
            self.replies.iter().map(|r| (aaa, &r[..])),
        );
        let mut accepts = 0;
        while let Some(down) = self.engine.poll_transmit() {
            let code = Packet::new_unchecked(&down.payload[..]).code();
            accepts += usize::from(code == Code::AccessAccept);
            self.engine.recycle(down.payload);
        }
        while self.engine.poll_event().is_some() {}
        accepts
    }
}

const BATCH: usize = 8;

fn access_request(out: &mut Vec<u8>, n: u32) {
    let mut auth = [0u8; 16];
    auth[..4].copy_from_slice(&n.to_be_bytes());
    let mut b = Builder::new(out, Code::AccessRequest, n as u8, &auth);
    b.message_authenticator().unwrap();
    b.attr(types::USER_NAME, b"subscriber").unwrap();
    let mut hidden = [0u8; crypto::MAX_PASSWORD_LEN];
    let len = crypto::hide_password(b"password", NAS, &auth, &mut hidden).unwrap();
    b.attr(types::USER_PASSWORD, &hidden[..len]).unwrap();
    b.attr(types::PROXY_STATE, b"state").unwrap();
    crypto::sign_access_request(out, NAS);
}

fn aaa_reply(out: &mut Vec<u8>, request: &[u8], code: Code, message: &[u8]) {
    let request = Packet::new_unchecked(request);
    let up_auth = *request.authenticator();
    let mut b = Builder::new(out, code, request.identifier(), &[0; 16]);
    b.message_authenticator().unwrap();
    b.attr(types::REPLY_MESSAGE, message).unwrap();
    b.attr(types::PROXY_STATE, b"state").unwrap();
    crypto::sign_response(out, &up_auth, AAA);
}

#[test]
fn batches_checked_and_signed_in_lanes_do_not_allocate() {
    let mut rig = Rig::new();
    for _ in 0..500 {
        assert_eq!(rig.exchange_batch(), BATCH);
    }
    let mut accepts = 0;
    let n = allocations_during(|| {
        for _ in 0..500 {
            accepts += rig.exchange_batch();
        }
    });
    assert_eq!(accepts, 500 * BATCH, "every Accept relayed and verified");
    assert_eq!(n, 0, "allocations for 500 batches of {BATCH}");
}

#[test]
fn relaying_accepts_and_passing_rejects_does_not_allocate() {
    let mut rig = Rig::new();
    for _ in 0..2500 {
        rig.exchange(Code::AccessAccept, b"welcome");
        rig.exchange(Code::AccessReject, b"user not found");
    }
    let mut codes = [0u32; 4];
    let n = allocations_during(|| {
        for _ in 0..2000 {
            codes[rig.exchange(Code::AccessAccept, b"welcome") as usize] += 1;
            codes[rig.exchange(Code::AccessReject, b"user not found") as usize] += 1;
        }
    });
    assert_eq!(codes[2], 2000, "accepts relayed");
    assert_eq!(codes[3], 2000, "user-unknown rejects passed");
    assert_eq!(n, 0, "allocations on the proxy path for 4000 exchanges");
}

#[test]
fn a_rewrite_allocates_only_for_the_garden_event() {
    let mut rig = Rig::new();
    for _ in 0..2500 {
        rig.exchange(Code::AccessReject, "欠费 arrears".as_bytes());
    }
    let n = allocations_during(|| {
        for _ in 0..1000 {
            assert_eq!(
                rig.exchange(Code::AccessReject, "欠费 arrears".as_bytes()),
                2
            );
        }
    });
    // user, client, cause and reason strings of Event::GardenEntered.
    assert!(n <= 4 * 1000, "{n} allocations for 1000 rewrites");
}
