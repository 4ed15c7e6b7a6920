//! `radcare udp-forward`: the trivial UDP forward, the yardstick for the proxy
//! benchmarks. It reads nothing of a datagram but its second octet (the RADIUS
//! identifier) and changes nothing, so it costs what moving two datagrams per request
//! through the kernel costs: the physical limit of any proxy on the same machine.
//!
//! Requests from clients go out on one of several upstream sockets connected to the
//! server. Since the identifier is not rewritten (the authenticators cover it), two
//! clients' requests with the same identifier go out on different upstream sockets;
//! the table of (upstream socket, identifier) -> client address maps each reply back.
//! An entry older than the lifetime is free again, so lost replies need no timer.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::io::batch::{self, Batch, MAX_DATAGRAM, Poller, RawAddr};
use crate::wire::Packet;

#[derive(Debug, Clone)]
pub struct ForwardOptions {
    pub listen: SocketAddr,
    pub to: SocketAddr,
    /// Requests with the same identifier in flight at once, at most (one per socket).
    pub upstream_sockets: usize,
    /// How long an unanswered request holds its (socket, identifier).
    pub lifetime: Duration,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForwardStats {
    pub requests: u64,
    pub replies: u64,
    /// Requests dropped because every upstream socket had their identifier in flight.
    pub busy: u64,
    /// Replies for no request in flight.
    pub unmatched: u64,
    /// Datagrams shorter than two octets.
    pub runts: u64,
    pub send_drops: u64,
}

impl ForwardStats {
    pub fn key_values(&self) -> String {
        format!(
            "requests={} replies={} busy={} unmatched={} runts={} send_drops={}",
            self.requests, self.replies, self.busy, self.unmatched, self.runts, self.send_drops
        )
    }
}

#[derive(Clone, Copy)]
struct Entry {
    client: RawAddr,
    /// When the request went out, in ns since start; `None` when free.
    since: Option<u64>,
}

/// The (upstream socket, identifier) table, without sockets.
struct Table {
    entries: Vec<Entry>,
    sockets: usize,
    lifetime_ns: u64,
}

impl Table {
    fn new(sockets: usize, lifetime: Duration) -> Table {
        let free = Entry {
            client: RawAddr::from_socket_addr(SocketAddr::from(([0, 0, 0, 0], 0))),
            since: None,
        };
        Table {
            entries: vec![free; sockets * 256],
            sockets,
            lifetime_ns: lifetime.as_nanos() as u64,
        }
    }

    /// The upstream socket for a request with `id` from `client`, if one is free.
    fn insert(&mut self, id: u8, client: &RawAddr, now: u64) -> Option<usize> {
        for s in 0..self.sockets {
            let e = &mut self.entries[s * 256 + id as usize];
            let free = e
                .since
                .is_none_or(|t| now.saturating_sub(t) > self.lifetime_ns);
            if free {
                *e = Entry {
                    client: *client,
                    since: Some(now),
                };
                return Some(s);
            }
        }
        None
    }

    /// The client a reply on socket `s` with `id` goes back to; frees the entry.
    fn take(&mut self, s: usize, id: u8) -> Option<RawAddr> {
        let e = &mut self.entries[s * 256 + id as usize];
        e.since.take().map(|_| e.client)
    }
}

pub struct Forward {
    listen: std::net::UdpSocket,
    upstream: Vec<std::net::UdpSocket>,
    table: Table,
    stats: ForwardStats,
}

impl Forward {
    pub fn bind(opts: &ForwardOptions) -> io::Result<Forward> {
        let listen = batch::udp_socket(opts.listen, None)?;
        let any = match opts.to {
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let n = opts.upstream_sockets.clamp(1, 64);
        let upstream = (0..n)
            .map(|_| batch::udp_socket(SocketAddr::new(any, 0), Some(opts.to)))
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Forward {
            listen,
            upstream,
            table: Table::new(n, opts.lifetime),
            stats: ForwardStats::default(),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listen.local_addr()
    }

    /// Forwards until `stop` is set.
    pub fn run(mut self, stop: &AtomicBool) -> io::Result<ForwardStats> {
        const LISTEN: u64 = u64::MAX;
        let mut poller = Poller::new()?;
        poller.add(&self.listen, LISTEN)?;
        for (i, s) in self.upstream.iter().enumerate() {
            poller.add(s, i as u64)?;
        }
        let clock = Instant::now();
        let mut inb = Batch::new(64);
        // One outgoing batch per upstream socket, and one back to the clients.
        let mut up_out: Vec<Batch> = (0..self.upstream.len()).map(|_| Batch::new(64)).collect();
        let mut down_out = Batch::new(64);
        while !stop.load(Ordering::Relaxed) {
            let ready = poller.wait(Some(Duration::from_millis(200)))?;
            for i in 0..ready {
                let token = poller.token(i);
                if token == LISTEN {
                    self.forward_requests(&mut inb, &mut up_out, &clock)?;
                } else {
                    self.return_replies(token as usize, &mut inb, &mut down_out)?;
                }
            }
        }
        Ok(self.stats)
    }

    fn forward_requests(
        &mut self,
        inb: &mut Batch,
        up_out: &mut [Batch],
        clock: &Instant,
    ) -> io::Result<()> {
        loop {
            let n = inb.recv(self.listen.as_raw_fd())?;
            let now = clock.elapsed().as_nanos() as u64;
            for j in 0..n {
                let (data, from) = inb.get(j);
                if data.len() < 2 {
                    self.stats.runts += 1;
                    continue;
                }
                let Some(s) =
                    self.table
                        .insert(Packet::new_unchecked(data).identifier(), from, now)
                else {
                    self.stats.busy += 1;
                    continue;
                };
                self.stats.requests += 1;
                up_out[s].push(data, None);
            }
            for (s, out) in up_out.iter_mut().enumerate() {
                let queued = out.len();
                if queued > 0 {
                    let sent = out.send(self.upstream[s].as_raw_fd());
                    self.stats.send_drops += (queued - sent) as u64;
                }
            }
            if n < inb.capacity() {
                return Ok(());
            }
        }
    }

    fn return_replies(&mut self, s: usize, inb: &mut Batch, out: &mut Batch) -> io::Result<()> {
        loop {
            let n = inb.recv(self.upstream[s].as_raw_fd())?;
            for j in 0..n {
                let (data, _) = inb.get(j);
                if data.len() < 2 || data.len() > MAX_DATAGRAM {
                    self.stats.runts += 1;
                    continue;
                }
                let Some(client) = self.table.take(s, Packet::new_unchecked(data).identifier())
                else {
                    self.stats.unmatched += 1;
                    continue;
                };
                self.stats.replies += 1;
                out.push(data, Some(&client));
            }
            let queued = out.len();
            let sent = out.send(self.listen.as_raw_fd());
            self.stats.send_drops += (queued - sent) as u64;
            if n < inb.capacity() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_identifier_from_two_clients_takes_two_sockets() {
        let mut t = Table::new(2, Duration::from_secs(5));
        let a = RawAddr::from_socket_addr("127.0.0.1:1000".parse().unwrap());
        let b = RawAddr::from_socket_addr("127.0.0.1:2000".parse().unwrap());
        assert_eq!(t.insert(7, &a, 0), Some(0));
        assert_eq!(t.insert(7, &b, 0), Some(1));
        assert_eq!(t.insert(7, &b, 0), None, "both sockets busy for id 7");
        assert_eq!(t.insert(8, &b, 0), Some(0));
        assert_eq!(
            t.take(1, 7).and_then(|c| c.to_socket_addr()),
            Some("127.0.0.1:2000".parse().unwrap())
        );
        assert!(t.take(1, 7).is_none(), "a second reply finds nothing");
        // An unanswered entry is free again after its lifetime.
        assert_eq!(t.insert(7, &b, 6_000_000_000), Some(0));
    }
}
