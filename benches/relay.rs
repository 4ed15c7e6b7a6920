//! The relay session's cost per byte: a client and a server session in memory, bytes
//! pushed, framed, parsed, delivered and acked, with no sockets (throughput in bytes).

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use radcare::relay::proto::{Frame, Repr, next_frame};
use radcare::relay::session::{Key, Limits, Session};

const KEY: &[u8] = b"benchmark relay key";

fn feed(to: &mut Session, now: Instant, mut bytes: &[u8]) {
    while let Some(len) = next_frame(bytes).unwrap() {
        let repr = Repr::parse(&Frame::new_checked(&bytes[..len]).unwrap()).unwrap();
        to.handle_frame(now, &repr);
        bytes = &bytes[len..];
    }
}

/// A client and a server session past their handshake.
fn pair(now: Instant) -> (Session, Session) {
    let key = Key::new(KEY);
    let mut client = Session::client(key.clone(), Limits::default(), now);
    client.link_up(now);
    let mut out = Vec::new();
    Repr::Challenge { nonce: [0; 16] }.emit(&mut out);
    feed(&mut client, now, &out);
    let mut server = Session::server([7; 16], Limits::default(), now);
    out.clear();
    server.poll_transmit(now, &mut out, 1 << 20);
    feed(&mut client, now, &out);
    (client, server)
}

fn session_throughput(c: &mut Criterion) {
    const CHUNK: usize = 1 << 20;
    let data = vec![0x5a; CHUNK];
    let mut g = c.benchmark_group("relay");
    g.throughput(Throughput::Bytes(CHUNK as u64));
    g.bench_function("client_to_server_1MiB", |b| {
        let now = Instant::now();
        let (mut client, mut server) = pair(now);
        let mut wire = Vec::with_capacity(2 * CHUNK);
        b.iter(|| {
            client.push(now, black_box(&data));
            wire.clear();
            client.poll_transmit(now, &mut wire, 2 * CHUNK);
            feed(&mut server, now, &wire);
            let mut got = 0;
            loop {
                let n = server.deliverable().len();
                if n == 0 {
                    break;
                }
                got += n;
                server.consume(n);
            }
            wire.clear();
            server.poll_transmit(now, &mut wire, 1 << 16);
            feed(&mut client, now, &wire);
            assert_eq!(got, CHUNK);
            assert_eq!(client.held(), 0, "acked");
        })
    });
    g.finish();
}

criterion_group!(benches, session_throughput);
criterion_main!(benches);
