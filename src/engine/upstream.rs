//! Upstream AAA servers: their health (alive, counting timeouts, dead and probed with
//! Status-Server per RFC 5997) and the request-ID space. IDs are spread over several
//! sockets, 256 per socket, so in-flight requests are not capped at 256 (the exhaustion
//! seen in FreeRADIUS #5754 and radsecproxy #113).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::config::{Tristate, UpstreamConfig};
use crate::wire::crypto::SharedSecret;

#[derive(Debug)]
pub struct Upstream {
    pub name: String,
    pub auth: SocketAddr,
    pub acct: Option<SocketAddr>,
    pub secret: SharedSecret,
    pub require_ma: Tristate,
    pub response_window: Duration,
    pub dead_after: u32,
    pub probe_interval: Duration,
    pub timeouts_in_a_row: u32,
    pub alive: bool,
    pub next_probe: Option<Instant>,
}

impl Upstream {
    pub fn from_config(c: &UpstreamConfig) -> Self {
        Upstream {
            name: c.name.clone(),
            auth: c.auth,
            acct: c.acct,
            secret: SharedSecret::new(c.secret.as_bytes()),
            require_ma: c.require_message_authenticator,
            response_window: c.response_window,
            dead_after: c.dead_after.max(1),
            probe_interval: c.probe_interval,
            timeouts_in_a_row: 0,
            alive: true,
            next_probe: None,
        }
    }

    /// Whether a reply without Message-Authenticator must be dropped; `sends_ma`: the
    /// server has sent one before (what `auto` learnt).
    pub fn requires_ma(&self, sends_ma: bool) -> bool {
        match self.require_ma {
            Tristate::Yes => true,
            Tristate::No => false,
            Tristate::Auto => sends_ma,
        }
    }
}

/// Free request IDs per upstream socket. A slot is `socket * 256 + id`.
#[derive(Debug)]
pub struct IdSpace {
    free: Vec<VecDeque<u8>>,
}

impl IdSpace {
    pub fn new(sockets: usize) -> Self {
        IdSpace {
            free: (0..sockets.max(1)).map(|_| (0..=255u8).collect()).collect(),
        }
    }

    pub fn sockets(&self) -> usize {
        self.free.len()
    }

    pub fn slots(&self) -> usize {
        self.free.len() * 256
    }

    /// Takes a free slot from the first socket that has one; `None` when all are in
    /// use. Filling one socket before the next keeps a burst on few sockets, so it goes
    /// out in one sendmmsg and its replies come back in one recvmmsg. An identifier
    /// comes back into use only after the socket's other 255 (a FIFO), and a late reply
    /// to its previous use fails the Response Authenticator check anyway.
    pub fn allocate(&mut self) -> Option<usize> {
        self.free
            .iter_mut()
            .enumerate()
            .find_map(|(s, q)| q.pop_front().map(|id| s * 256 + id as usize))
    }

    pub fn release(&mut self, slot: usize) {
        if let Some(q) = self.free.get_mut(slot / 256) {
            q.push_back((slot % 256) as u8);
        }
    }
}

pub fn slot_socket(slot: usize) -> usize {
    slot / 256
}

pub fn slot_id(slot: usize) -> u8 {
    (slot % 256) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_256_in_flight_over_several_sockets() {
        let mut ids = IdSpace::new(4);
        let slots: Vec<_> = (0..1024).map(|_| ids.allocate().unwrap()).collect();
        assert!(ids.allocate().is_none());
        let mut sorted = slots.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 1024);
        assert_eq!(slot_socket(slots[255]), 0, "fills the first socket first");
        assert_eq!(slot_socket(slots[256]), 1, "then the next");
        ids.release(slots[300]);
        assert_eq!(ids.allocate(), Some(slots[300]));
        // A freed identifier waits behind the socket's others before it is used again.
        let mut ids = IdSpace::new(1);
        let first = ids.allocate().unwrap();
        ids.release(first);
        assert_ne!(ids.allocate(), Some(first));
    }
}
