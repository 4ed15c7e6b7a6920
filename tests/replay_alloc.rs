//! The per-request work of `radcare replay` and `radcare aaa-sim` allocates nothing:
//! encode and sign a request from its template, answer it, verify the answer, record
//! the latency. Counted with a global allocator (this test binary only).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use radcare::dict::Dictionary;
use radcare::replay::histogram::Histogram;
use radcare::replay::sim::Responder;
use radcare::replay::template::{Outcome, verify_reply};
use radcare::replay::{Keys, MaPolicy, load_templates};
use radcare::wire::Code;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn request_reply_round_trip_does_not_allocate() {
    let input = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/requests.txt"))
        .unwrap();
    let dict = Dictionary::builtin().unwrap();
    let templates = load_templates(&input, &dict, Code::AccessRequest, MaPolicy::Add).unwrap();
    let keys = Keys::new(b"aaa-secret");
    let mut sim = Responder::new(b"aaa-secret", 10);
    let mut hist = Histogram::new();
    let mut request = [0u8; 4096];
    let mut reply = [0u8; 4096];
    let (mut accepts, mut rejects) = (0, 0);

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for i in 0..2000u32 {
        let t = &templates[i as usize % templates.len()];
        let nonce = [(i % 251) as u8; 16];
        let (len, auth) = t.write(&mut request, i as u8, &nonce, &keys);
        let n = sim.answer(&request[..len], &mut reply).expect("answered");
        match verify_reply(&reply[..n], t.code(), &auth, &keys) {
            Ok(Outcome::Accept) => accepts += 1,
            Ok(Outcome::Reject) => rejects += 1,
            other => panic!("unexpected {other:?}"),
        }
        hist.record(u64::from(i) * 1000);
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;

    assert_eq!((accepts, rejects), (1800, 200));
    assert_eq!(allocations, 0, "allocations on the per-request path");
}
