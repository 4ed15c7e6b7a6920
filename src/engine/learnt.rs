//! What `auto` Message-Authenticator checking learnt, shared by the engines of one
//! process: with several packet threads a NAS's next request may land on another
//! thread (its source port decides), which must require the Message-Authenticator too.
//!
//! Learning is rare (once per NAS address and per upstream) and checking is on every
//! packet, so checking reads a version number and the engine's own copy; only a version
//! that moved takes the lock, to copy what was learnt since.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ipnet::IpNet;

use crate::config::Config;

#[derive(Debug)]
pub struct Learnt {
    /// NAS addresses that sent a Message-Authenticator, with the address range of their
    /// client then (a client whose range changes on reload starts over).
    nas: Mutex<HashSet<(IpNet, IpAddr)>>,
    /// Bumped after each addition to `nas`.
    version: AtomicU64,
    /// Per upstream, in config order: has sent a reply with a Message-Authenticator.
    upstreams: Box<[AtomicBool]>,
}

impl Learnt {
    pub fn new(cfg: &Config) -> Learnt {
        Learnt {
            nas: Mutex::new(HashSet::new()),
            version: AtomicU64::new(0),
            upstreams: cfg
                .radius
                .upstreams
                .iter()
                .map(|_| AtomicBool::new(false))
                .collect(),
        }
    }

    pub(super) fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub(super) fn learn_nas(&self, net: IpNet, ip: IpAddr) {
        let mut nas = self.nas.lock().unwrap_or_else(|p| p.into_inner());
        if nas.insert((net, ip)) {
            self.version.fetch_add(1, Ordering::Release);
        }
    }

    /// Calls `f` with every NAS learnt; returns the version that covers them.
    pub(super) fn each_nas(&self, mut f: impl FnMut(IpNet, IpAddr)) -> u64 {
        let nas = self.nas.lock().unwrap_or_else(|p| p.into_inner());
        // Read under the lock: every addition counted in it is in the set.
        let version = self.version.load(Ordering::Acquire);
        for &(net, ip) in nas.iter() {
            f(net, ip);
        }
        version
    }

    pub(super) fn upstream_sends_ma(&self, ui: usize) -> bool {
        self.upstreams[ui].load(Ordering::Relaxed)
    }

    /// For the console: the NAS addresses seen sending a Message-Authenticator.
    pub fn nas_sending_ma(&self) -> Vec<IpAddr> {
        let mut out = Vec::new();
        self.each_nas(|_, ip| out.push(ip));
        out
    }

    /// For the console: whether upstream `ui` (config order) has sent one.
    pub fn upstream_sent_ma(&self, ui: usize) -> bool {
        self.upstreams
            .get(ui)
            .is_some_and(|u| u.load(Ordering::Relaxed))
    }

    pub(super) fn learn_upstream(&self, ui: usize) {
        if !self.upstream_sends_ma(ui) {
            self.upstreams[ui].store(true, Ordering::Relaxed);
        }
    }
}
