//! `radcare aaa-sim`: a fast AAA responder for benchmarks, not an AAA to deploy. It
//! checks what a real AAA checks before answering (the Message-Authenticator of a
//! request that has one, the hashed authenticator of an Accounting-Request) but knows
//! no users: it answers Access-Requests with an Access-Accept, or, for a fixed share,
//! with an Access-Reject whose Reply-Message says the account is in arrears, which
//! radcare's cause table rewrites. The share is deterministic (every n-th request, spread
//! evenly), so a test knows exactly how many Rejects to expect.
//!
//! One thread, the auth socket and the accounting socket (port + 1) in one epoll set,
//! requests read and replies sent in batches; each reply is written straight into the
//! send batch, so nothing is allocated per request.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::template::Keys;
use crate::io::batch::{self, Batch, Poller};
use crate::wire::attr::types;
use crate::wire::crypto;
use crate::wire::{AUTH_LEN, Builder, Code, MAX_PACKET_LEN, Packet};

/// The Reply-Message of the simulator's Rejects: radcare classifies it as `arrears`.
pub const ARREARS_MESSAGE: &str = "欠费停机: account in arrears";

#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The auth address; accounting listens on the next port (both 0: any free ports).
    pub listen: SocketAddr,
    pub secret: Vec<u8>,
    /// Share of Access-Requests answered with a Reject, 0..=100.
    pub reject_percent: u8,
}

/// What the simulator did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    pub access_requests: u64,
    pub accepts: u64,
    pub rejects: u64,
    pub accounting: u64,
    pub status: u64,
    /// Requests dropped because their Message-Authenticator or accounting
    /// authenticator did not verify.
    pub bad_auth: u64,
    /// Datagrams that are not RADIUS requests.
    pub malformed: u64,
    /// Replies the kernel did not take.
    pub send_drops: u64,
}

impl SimStats {
    pub fn key_values(&self) -> String {
        format!(
            "access_requests={} accepts={} rejects={} accounting={} status={} bad_auth={} \
             malformed={} send_drops={}",
            self.access_requests,
            self.accepts,
            self.rejects,
            self.accounting,
            self.status,
            self.bad_auth,
            self.malformed,
            self.send_drops
        )
    }
}

/// The per-request logic, without sockets.
pub struct Responder {
    keys: Keys,
    /// Where replies are built; its capacity is the largest packet, so building one
    /// never allocates.
    reply: Vec<u8>,
    reject_percent: u64,
    stats: SimStats,
}

impl Responder {
    pub fn new(secret: &[u8], reject_percent: u8) -> Responder {
        Responder {
            keys: Keys::new(secret),
            reply: Vec::with_capacity(MAX_PACKET_LEN),
            reject_percent: u64::from(reject_percent.min(100)),
            stats: SimStats::default(),
        }
    }

    pub fn stats(&self) -> SimStats {
        self.stats
    }

    /// Whether the n-th (0-based) Access-Request is rejected: exactly `percent` of every
    /// 100, evenly spaced (the 10th, 20th, ... for 10 %).
    fn rejects(&self, n: u64) -> bool {
        (n + 1) * self.reject_percent / 100 > n * self.reject_percent / 100
    }

    /// Writes the reply to `request` into `out` and returns its length, or `None` to
    /// stay silent.
    pub fn answer(&mut self, request: &[u8], out: &mut [u8]) -> Option<usize> {
        let Ok(req) = Packet::new_checked(request) else {
            self.stats.malformed += 1;
            return None;
        };
        let bytes = req.as_bytes();
        let auth = *req.authenticator();
        let reply_code = match req.code() {
            Code::AccessRequest | Code::StatusServer => {
                let ma = crypto::find_message_authenticator(bytes);
                let ok = match ma {
                    Some(at) => crypto::ct_eq(
                        &self
                            .keys
                            .hmac(&[&bytes[..at], &[0; AUTH_LEN], &bytes[at + AUTH_LEN..]]),
                        &bytes[at..at + AUTH_LEN],
                    ),
                    // RFC 5997: a Status-Server without one is silently discarded.
                    None => req.code() == Code::AccessRequest,
                };
                if !ok {
                    self.stats.bad_auth += 1;
                    return None;
                }
                if req.code() == Code::StatusServer {
                    self.stats.status += 1;
                    Code::AccessAccept
                } else {
                    let n = self.stats.access_requests;
                    self.stats.access_requests += 1;
                    if self.rejects(n) {
                        self.stats.rejects += 1;
                        Code::AccessReject
                    } else {
                        self.stats.accepts += 1;
                        Code::AccessAccept
                    }
                }
            }
            Code::AccountingRequest => {
                let expect = self.keys.md5_then_secret(&[
                    req.code_id_length(),
                    &[0; AUTH_LEN],
                    req.attributes(),
                ]);
                if !crypto::ct_eq(&expect, &auth) {
                    self.stats.bad_auth += 1;
                    return None;
                }
                self.stats.accounting += 1;
                Code::AccountingResponse
            }
            _ => {
                self.stats.malformed += 1;
                return None;
            }
        };
        // Header with the request's authenticator in place: it is what both the
        // Message-Authenticator and the Response Authenticator are computed over.
        let mut b = Builder::new(&mut self.reply, reply_code, req.identifier(), &auth);
        let with_ma = reply_code != Code::AccountingResponse;
        if with_ma {
            b.message_authenticator().ok()?;
        }
        if reply_code == Code::AccessReject {
            b.attr(types::REPLY_MESSAGE, ARREARS_MESSAGE.as_bytes())
                .ok()?;
        }
        // Proxies match replies by the Proxy-State they added: echo them in order.
        for a in req.attrs().filter(|a| a.typ == types::PROXY_STATE) {
            b.attr(types::PROXY_STATE, a.value).ok()?;
        }
        let reply = b.as_bytes_mut();
        if let Some(at) = with_ma
            .then(|| crypto::find_message_authenticator(reply))
            .flatten()
        {
            let ma = self.keys.hmac(&[reply]);
            reply[at..at + AUTH_LEN].copy_from_slice(&ma);
        }
        let ra = self.keys.md5_then_secret(&[reply]);
        Packet::new_unchecked(&mut *reply).set_authenticator(&ra);
        let len = reply.len();
        out.get_mut(..len)?.copy_from_slice(reply);
        Some(len)
    }
}

/// The simulator's sockets, bound before it runs so that callers learn the ports.
pub struct Sim {
    auth: std::net::UdpSocket,
    acct: std::net::UdpSocket,
    responder: Responder,
}

impl Sim {
    pub fn bind(opts: &SimOptions) -> io::Result<Sim> {
        let auth = batch::udp_socket(opts.listen, None)?;
        let acct_port = if opts.listen.port() == 0 {
            0
        } else {
            opts.listen.port().checked_add(1).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "no port after 65535 for accounting",
                )
            })?
        };
        let acct = batch::udp_socket(SocketAddr::new(opts.listen.ip(), acct_port), None)?;
        Ok(Sim {
            auth,
            acct,
            responder: Responder::new(&opts.secret, opts.reject_percent),
        })
    }

    pub fn auth_addr(&self) -> io::Result<SocketAddr> {
        self.auth.local_addr()
    }

    pub fn acct_addr(&self) -> io::Result<SocketAddr> {
        self.acct.local_addr()
    }

    /// Answers until `stop` is set; returns what it did.
    pub fn run(mut self, stop: &AtomicBool) -> io::Result<SimStats> {
        let mut poller = Poller::new()?;
        poller.add(&self.auth, 0)?;
        poller.add(&self.acct, 1)?;
        let mut inb = Batch::new(64);
        let mut out = Batch::new(64);
        while !stop.load(Ordering::Relaxed) {
            let ready = poller.wait(Some(Duration::from_millis(200)))?;
            for i in 0..ready {
                let sock = if poller.token(i) == 0 {
                    &self.auth
                } else {
                    &self.acct
                };
                let fd = sock.as_raw_fd();
                loop {
                    let n = inb.recv(fd)?;
                    for j in 0..n {
                        let (data, from) = inb.get(j);
                        if let Some(len) = self.responder.answer(data, out.spare()) {
                            out.commit(len, Some(from));
                        }
                    }
                    let queued = out.len();
                    let sent = out.send(fd);
                    self.responder.stats.send_drops += (queued - sent) as u64;
                    if n < inb.capacity() {
                        break;
                    }
                }
            }
        }
        Ok(self.responder.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict::Dictionary;
    use crate::replay::input;
    use crate::replay::template::{MaPolicy, Outcome, Template, verify_reply};

    const SECRET: &[u8] = b"sim-secret";

    fn request(text: &str, code: Code, id: u8, nonce: [u8; 16]) -> (Vec<u8>, [u8; 16]) {
        let dict = Dictionary::builtin().unwrap();
        let req = &input::parse(text, &dict).unwrap()[0];
        let t = Template::encode(req, code, MaPolicy::Add).unwrap();
        let mut out = [0u8; 4096];
        let (n, auth) = t.write(&mut out, id, &nonce, &Keys::new(SECRET));
        (out[..n].to_vec(), auth)
    }

    #[test]
    fn ten_percent_rejects_evenly_spaced() {
        let mut r = Responder::new(SECRET, 10);
        let keys = Keys::new(SECRET);
        let mut out = [0u8; 4096];
        let mut outcomes = Vec::new();
        for i in 0..200u32 {
            let nonce = [(i % 251) as u8; 16];
            let (req, auth) = request(
                "User-Name = x\nUser-Password = y\nProxy-State = 0x01\nProxy-State = 0x0203",
                Code::AccessRequest,
                i as u8,
                nonce,
            );
            let n = r.answer(&req, &mut out).expect("an answer");
            let reply = &out[..n];
            let o = verify_reply(reply, Code::AccessRequest, &auth, &keys).unwrap();
            let p = Packet::new_checked(reply).unwrap();
            assert_eq!(p.identifier(), i as u8);
            assert_eq!(p.attrs().next().unwrap().typ, types::MESSAGE_AUTHENTICATOR);
            let states: Vec<&[u8]> = p
                .attrs()
                .filter(|a| a.typ == types::PROXY_STATE)
                .map(|a| a.value)
                .collect();
            assert_eq!(states, [&[1u8][..], &[2, 3]]);
            if o == Outcome::Reject {
                assert_eq!(
                    p.find(types::REPLY_MESSAGE).unwrap().value,
                    ARREARS_MESSAGE.as_bytes()
                );
            }
            outcomes.push(o);
        }
        let rejects: Vec<usize> = outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| **o == Outcome::Reject)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(rejects.len(), 20);
        assert_eq!(rejects[..3], [9, 19, 29]);
        assert_eq!(r.stats().accepts, 180);
    }

    #[test]
    fn shares_at_the_edges() {
        for (pct, want) in [(0u8, 0usize), (1, 1), (33, 33), (100, 100)] {
            let r = Responder::new(SECRET, pct);
            assert_eq!((0..100).filter(|&n| r.rejects(n)).count(), want, "{pct}");
        }
    }

    #[test]
    fn bad_message_authenticator_is_dropped() {
        let mut r = Responder::new(SECRET, 0);
        let (mut req, _) = request("User-Name = x", Code::AccessRequest, 1, [1; 16]);
        req[25] ^= 0xff;
        let mut out = [0u8; 4096];
        assert_eq!(r.answer(&req, &mut out), None);
        assert_eq!(r.stats().bad_auth, 1);
        assert_eq!(r.answer(&[1, 2, 3], &mut out), None);
        assert_eq!(r.stats().malformed, 1);
    }

    #[test]
    fn accounting_and_status() {
        let keys = Keys::new(SECRET);
        let mut r = Responder::new(SECRET, 10);
        let mut out = [0u8; 4096];
        let (req, auth) = request(
            "Acct-Status-Type = Start\nAcct-Session-Id = a",
            Code::AccountingRequest,
            4,
            [0; 16],
        );
        let n = r.answer(&req, &mut out).unwrap();
        assert_eq!(
            verify_reply(&out[..n], Code::AccountingRequest, &auth, &keys),
            Ok(Outcome::AccountingResponse)
        );
        let mut forged = req.clone();
        forged[22] ^= 1;
        assert_eq!(r.answer(&forged, &mut out), None);
        let (req, auth) = request(
            "Packet-Type = Status-Server",
            Code::AccessRequest,
            5,
            [9; 16],
        );
        let n = r.answer(&req, &mut out).unwrap();
        assert_eq!(
            verify_reply(&out[..n], Code::StatusServer, &auth, &keys),
            Ok(Outcome::Accept)
        );
        assert_eq!(
            r.stats().access_requests,
            0,
            "not counted as Access-Requests"
        );
        assert_eq!(r.stats().status, 1);
        assert_eq!(r.stats().accounting, 1);
    }
}
