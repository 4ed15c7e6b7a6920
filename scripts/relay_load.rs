//! The load of scripts/bench-relay.sh: standard library only, built with `rustc -O`.
//!
//!   relay_load serve C                      the server application: sink or echo
//!   relay_load throughput ADDR CONNS MB     CONNS connections, MB each, to a sink
//!   relay_load rtt ADDR CONNS COUNT SIZE    CONNS connections, COUNT echoes of SIZE each
//!   relay_load restore A F B C TRIALS DOWN_MS
//!       a forwarder F -> B (link B of a relay client whose --server is F) and an echo
//!       server on C (the relay server's --target); per trial a new connection to A
//!       exchanges a message, link B is cut and refused for DOWN_MS, a message is
//!       written, the link is restored: the time from the restore to the message's
//!       first byte at C.
//!
//! Each connection first sends its mode: `S` (then per transfer an 8-octet length and
//! the bytes, answered `K`) or `E` (everything echoed).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> &str { args.get(i).map(String::as_str).expect("arguments: see the file's head") };
    let num = |i: usize| -> u64 { arg(i).parse().expect("a number") };
    let addr = |i: usize| -> SocketAddr { arg(i).parse().expect("an IP:port") };
    match arg(0) {
        "serve" => serve(TcpListener::bind(addr(1)).unwrap(), None),
        "throughput" => throughput(addr(1), num(2) as usize, num(3) as usize),
        "rtt" => rtt(addr(1), num(2) as usize, num(3) as usize, num(4) as usize),
        "restore" => restore(addr(1), addr(2), addr(3), addr(4), num(5) as usize, num(6)),
        other => panic!("unknown command {other}"),
    }
}

/// Serves connections forever; `seen`, when given, gets the time of every read.
fn serve(listener: TcpListener, seen: Option<Arc<Mutex<Option<Instant>>>>) {
    for s in listener.incoming() {
        let Ok(mut s) = s else { continue };
        let seen = seen.clone();
        thread::spawn(move || {
            let _ = s.set_nodelay(true);
            let mut mode = [0u8];
            if s.read_exact(&mut mode).is_err() {
                return;
            }
            let mut buf = vec![0u8; 256 * 1024];
            match mode[0] {
                b'S' => loop {
                    let mut len = [0u8; 8];
                    if s.read_exact(&mut len).is_err() {
                        return;
                    }
                    let mut left = u64::from_be_bytes(len) as usize;
                    while left > 0 {
                        let want = left.min(buf.len());
                        match s.read(&mut buf[..want]) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => left -= n,
                        }
                    }
                    if s.write_all(b"K").is_err() {
                        return;
                    }
                },
                _ => loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if let Some(seen) = &seen {
                                *seen.lock().unwrap() = Some(Instant::now());
                            }
                            if s.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                },
            }
        });
    }
}

fn connect(to: SocketAddr, mode: u8) -> TcpStream {
    let mut s = TcpStream::connect(to).expect("connect");
    s.set_nodelay(true).unwrap();
    s.write_all(&[mode]).unwrap();
    s
}

fn throughput(to: SocketAddr, conns: usize, mb: usize) {
    let bytes = mb << 20;
    let start = Instant::now();
    let workers: Vec<_> = (0..conns)
        .map(|i| {
            thread::spawn(move || {
                let mut s = connect(to, b'S');
                let chunk: Vec<u8> = (0..64 * 1024).map(|j| (j * 31 + i) as u8).collect();
                s.write_all(&(bytes as u64).to_be_bytes()).unwrap();
                let mut sent = 0;
                while sent < bytes {
                    let n = chunk.len().min(bytes - sent);
                    s.write_all(&chunk[..n]).unwrap();
                    sent += n;
                }
                let mut k = [0u8];
                s.read_exact(&mut k).unwrap();
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let total = (conns * bytes) as f64;
    println!("throughput conns={conns} bytes={total} secs={secs:.3} mib_per_s={:.1}", total / secs / (1 << 20) as f64);
}

fn rtt(to: SocketAddr, conns: usize, count: usize, size: usize) {
    let start = Instant::now();
    let workers: Vec<_> = (0..conns)
        .map(|_| {
            thread::spawn(move || {
                let mut s = connect(to, b'E');
                let msg = vec![0x42u8; size];
                let mut back = vec![0u8; size];
                let mut times = Vec::with_capacity(count);
                for _ in 0..count {
                    let t = Instant::now();
                    s.write_all(&msg).unwrap();
                    s.read_exact(&mut back).unwrap();
                    times.push(t.elapsed());
                }
                times
            })
        })
        .collect();
    let mut all: Vec<Duration> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    let q = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1e6;
    println!(
        "rtt conns={conns} count={count} size={size} p50_us={:.0} p99_us={:.0} req_per_s={:.0}",
        q(0.5),
        q(0.99),
        all.len() as f64 / secs
    );
}

/// Link B through this process: accepts on `at` while up, forwards to `to`.
struct Link {
    at: SocketAddr,
    to: SocketAddr,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Link {
    fn start(at: SocketAddr, to: SocketAddr) -> Link {
        let link = Link {
            at,
            to,
            up: Arc::new(AtomicBool::new(true)),
            conns: Arc::default(),
        };
        link.listen();
        link
    }

    /// Accepts while up; the listener is closed when down (connections are refused).
    fn listen(&self) {
        let listener = TcpListener::bind(self.at).expect("the forwarder's port");
        listener.set_nonblocking(true).unwrap();
        let (up, conns, to) = (self.up.clone(), self.conns.clone(), self.to);
        thread::spawn(move || {
            while up.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((a, _)) => {
                        a.set_nonblocking(false).unwrap();
                        let Ok(b) = TcpStream::connect(to) else { continue };
                        for (mut from, mut into) in [
                            (a.try_clone().unwrap(), b.try_clone().unwrap()),
                            (b.try_clone().unwrap(), a.try_clone().unwrap()),
                        ] {
                            thread::spawn(move || {
                                let _ = std::io::copy(&mut from, &mut into);
                                let _ = into.shutdown(Shutdown::Both);
                            });
                        }
                        conns.lock().unwrap().extend([a, b]);
                    }
                    Err(_) => thread::sleep(Duration::from_micros(200)),
                }
            }
        });
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        // The accept loop notices within its poll and drops the listener.
        thread::sleep(Duration::from_millis(5));
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
        self.listen();
    }
}

fn restore(a: SocketAddr, f: SocketAddr, b: SocketAddr, c: SocketAddr, trials: usize, down_ms: u64) {
    let seen = Arc::new(Mutex::new(None));
    let listener = TcpListener::bind(c).unwrap();
    let s = seen.clone();
    thread::spawn(move || serve(listener, Some(s)));
    let link = Link::start(f, b);
    let mut firsts = Vec::new();
    for _ in 0..trials {
        let mut app = connect(a, b'E');
        let mut back = [0u8; 64];
        app.write_all(&[1; 64]).unwrap();
        app.read_exact(&mut back).unwrap();
        link.down();
        thread::sleep(Duration::from_millis(down_ms));
        *seen.lock().unwrap() = None;
        app.write_all(&[2; 64]).unwrap();
        thread::sleep(Duration::from_millis(50));
        assert!(seen.lock().unwrap().is_none(), "nothing crosses a down link");
        link.restore();
        let restored = Instant::now();
        app.read_exact(&mut back).unwrap();
        let at_c = seen.lock().unwrap().expect("C saw the message");
        let first = at_c.saturating_duration_since(restored);
        firsts.push(first);
        drop(app);
        thread::sleep(Duration::from_millis(200));
    }
    firsts.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "restore trials={trials} down_ms={down_ms} min_ms={:.1} median_ms={:.1} max_ms={:.1}",
        ms(firsts[0]),
        ms(firsts[firsts.len() / 2]),
        ms(firsts[firsts.len() - 1])
    );
}
