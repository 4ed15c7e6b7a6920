//! Receive batches checked and answered together. Before the datagrams of one recvmmsg
//! are handled one by one, the MD5 work of their checks (a NAS request's
//! Message-Authenticator; an AAA reply's Response Authenticator and
//! Message-Authenticator) runs for the whole batch at once in the lanes of `wire::md5x`.
//! Each datagram's handling then takes its verdict instead of hashing; anything the
//! pre-pass did not cover (a lone datagram, a code it does not handle, a slot reused in
//! between) is checked the usual way, so the verdicts are the same either way.
//!
//! Likewise the packets the batch makes (upstream Access-Requests, replies to the NAS)
//! are built unsigned, and signed together at the end of the batch: their
//! Message-Authenticators in one pass, then the replies' Response Authenticators, which
//! cover them. A reply is cached for retransmissions (RFC 5080) only once signed.

use std::net::SocketAddr;
use std::time::Instant;

use super::build::Seal;
use super::{Engine, Listener, Party, dedup, most_specific};
use crate::wire::crypto::{self, MaStatus};
use crate::wire::md5x::Lanes;
use crate::wire::{AUTH_LEN, Code, Packet};

/// Below this many datagrams the lanes bring nothing over the scalar checks.
const MIN_BATCH: usize = 2;

/// The verdicts on an AAA reply's authenticators, for the request authenticator they
/// were computed with.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReplyChecks {
    pub up_auth: [u8; AUTH_LEN],
    pub response_ok: bool,
    pub ma: MaStatus,
}

/// A Message-Authenticator being checked or made: which datagram (or packet being
/// signed), its inner-hash job (then its outer one), whose secret keys it, where its
/// value is, and the value it must match (when checking).
#[derive(Debug, Clone, Copy)]
struct MaJob {
    datagram: usize,
    job: usize,
    party: usize,
    at: usize,
    expected: [u8; AUTH_LEN],
}

/// A packet built in a batch, waiting for its signature: the transmit it is, how, and
/// whose secret.
#[derive(Debug, Clone, Copy)]
struct SealJob {
    transmit: usize,
    seal: Seal,
    party: Party,
}

/// A reply to cache once it is signed.
#[derive(Debug, Clone, Copy)]
struct CacheJob {
    now: Instant,
    key: dedup::Key,
    auth: [u8; AUTH_LEN],
    transmit: usize,
}

/// What a batch leaves to `seal_deferred`.
#[derive(Debug, Default)]
pub(super) struct Sealing {
    jobs: Vec<SealJob>,
    caches: Vec<CacheJob>,
}

impl Sealing {
    pub fn sign(&mut self, seal: Seal, party: Party, transmit: usize) {
        self.jobs.push(SealJob {
            transmit,
            seal,
            party,
        });
    }

    pub fn cache(&mut self, now: Instant, key: dedup::Key, auth: [u8; AUTH_LEN], transmit: usize) {
        self.caches.push(CacheJob {
            now,
            key,
            auth,
            transmit,
        });
    }
}

#[derive(Debug, Default)]
pub(super) struct Preverifier {
    lanes: Lanes,
    ma_jobs: Vec<MaJob>,
    /// Per datagram of the batch: (job, expected authenticator) of its Response
    /// Authenticator check.
    ra_jobs: Vec<(usize, usize, [u8; AUTH_LEN])>,
    /// Inner digests between the two passes of the Message-Authenticators.
    inner: Vec<[u8; AUTH_LEN]>,
    pub nas: Vec<Option<MaStatus>>,
    pub replies: Vec<Option<ReplyChecks>>,
}

fn ma_value(packet: &[u8], at: usize) -> [u8; AUTH_LEN] {
    packet[at..at + AUTH_LEN].try_into().expect("16 octets")
}

impl Engine {
    /// Handles the datagrams of one receive batch on a NAS-facing listener: the same as
    /// [`Engine::handle_nas`] on each, in order.
    pub fn handle_nas_batch<'a, I>(&mut self, now: Instant, listener: Listener, datagrams: I)
    where
        I: Iterator<Item = (SocketAddr, &'a [u8])> + Clone,
    {
        self.preverify_nas(datagrams.clone());
        self.deferring = true;
        for (i, (src, data)) in datagrams.enumerate() {
            self.pre_nas_ma = self.pre.nas.get(i).copied().flatten();
            self.handle_nas(now, listener, src, data);
            self.pre_nas_ma = None;
        }
        self.seal_deferred();
    }

    /// Handles the datagrams of one receive batch on upstream socket `socket`: the same
    /// as [`Engine::handle_upstream`] on each, in order.
    pub fn handle_upstream_batch<'a, I>(&mut self, now: Instant, socket: usize, datagrams: I)
    where
        I: Iterator<Item = (SocketAddr, &'a [u8])> + Clone,
    {
        self.preverify_replies(socket, datagrams.clone());
        self.deferring = true;
        for (i, (src, data)) in datagrams.enumerate() {
            self.pre_reply = self.pre.replies.get(i).copied().flatten();
            self.handle_upstream(now, socket, src, data);
            self.pre_reply = None;
        }
        self.seal_deferred();
    }

    /// Signs what the batch built, then caches the signed replies.
    fn seal_deferred(&mut self) {
        self.deferring = false;
        let jobs = std::mem::take(&mut self.sealing.jobs);
        let secret = |party: Party| match party {
            Party::Client(ci) => &self.clients[ci].secret,
            Party::Upstream(ui) => &self.upstreams[ui].secret,
        };
        if jobs.len() < MIN_BATCH {
            for j in &jobs {
                j.seal
                    .apply(&mut self.transmits[j.transmit].payload, secret(j.party));
            }
        } else {
            let pre = &mut self.pre;
            pre.lanes.clear();
            pre.ma_jobs.clear();
            for (k, j) in jobs.iter().enumerate() {
                let packet = &self.transmits[j.transmit].payload;
                if let Some(at) = crypto::find_message_authenticator(packet) {
                    let auth = j.seal.ma_auth(packet);
                    let job = crypto::push_message_authenticator_inner(
                        &mut pre.lanes,
                        packet,
                        &auth,
                        at,
                        secret(j.party),
                    );
                    pre.ma_jobs.push(MaJob {
                        datagram: k,
                        job,
                        party: k,
                        at,
                        expected: [0; AUTH_LEN],
                    });
                }
            }
            if !pre.ma_jobs.is_empty() {
                pre.lanes.run();
                outer_pass(&mut pre.lanes, &mut pre.ma_jobs, &mut pre.inner, |k| {
                    secret(jobs[k].party)
                });
                for m in &pre.ma_jobs {
                    let packet = &mut self.transmits[jobs[m.datagram].transmit].payload;
                    packet[m.at..m.at + AUTH_LEN].copy_from_slice(&pre.lanes.digest(m.job));
                }
            }
            pre.lanes.clear();
            pre.ra_jobs.clear();
            for (k, j) in jobs.iter().enumerate() {
                if let Seal::Response { request_auth } = j.seal {
                    let packet = &self.transmits[j.transmit].payload;
                    let job = crypto::push_authenticator(
                        &mut pre.lanes,
                        packet,
                        &request_auth,
                        secret(j.party),
                    );
                    pre.ra_jobs.push((k, job, [0; AUTH_LEN]));
                }
            }
            if !pre.ra_jobs.is_empty() {
                pre.lanes.run();
                for &(k, job, _) in &pre.ra_jobs {
                    let packet = &mut self.transmits[jobs[k].transmit].payload;
                    Packet::new_unchecked(&mut packet[..])
                        .set_authenticator(&pre.lanes.digest(job));
                }
            }
        }
        self.sealing.jobs = jobs;
        self.sealing.jobs.clear();
        let caches = std::mem::take(&mut self.sealing.caches);
        for c in &caches {
            let mut copy = self.pool.pop().unwrap_or_default();
            copy.clear();
            copy.extend_from_slice(&self.transmits[c.transmit].payload);
            if let Some(old) = self.dedup.answer(c.now, c.key, c.auth, copy) {
                self.recycle(old);
            }
        }
        self.sealing.caches = caches;
        self.sealing.caches.clear();
    }

    /// The Message-Authenticators of the batch's Access-Requests from known clients.
    fn preverify_nas<'a>(&mut self, datagrams: impl Iterator<Item = (SocketAddr, &'a [u8])>) {
        let pre = &mut self.pre;
        pre.nas.clear();
        pre.ma_jobs.clear();
        pre.lanes.clear();
        for (i, (src, data)) in datagrams.enumerate() {
            pre.nas.push(None);
            let Ok(pkt) = Packet::new_checked(data) else {
                continue;
            };
            if pkt.code() != Code::AccessRequest {
                continue;
            }
            let Some(ci) = most_specific(self.clients.iter().map(|c| &c.net), src.ip()) else {
                continue;
            };
            let bytes = pkt.as_bytes();
            let at = match crypto::locate_message_authenticator(bytes) {
                crypto::MaField::At(at) => at,
                crypto::MaField::Absent => {
                    pre.nas[i] = Some(MaStatus::Absent);
                    continue;
                }
                crypto::MaField::Malformed => {
                    pre.nas[i] = Some(MaStatus::Invalid);
                    continue;
                }
            };
            let auth = crypto::ma_auth_for(bytes, None);
            let secret = &self.clients[ci].secret;
            let job =
                crypto::push_message_authenticator_inner(&mut pre.lanes, bytes, &auth, at, secret);
            pre.ma_jobs.push(MaJob {
                datagram: i,
                job,
                party: ci,
                at,
                expected: ma_value(bytes, at),
            });
        }
        // Too few to share lanes: those datagrams keep no verdict and are checked one by
        // one (an absent Message-Authenticator needs no hashing either way).
        if pre.ma_jobs.len() < MIN_BATCH {
            return;
        }
        pre.lanes.run();
        outer_pass(&mut pre.lanes, &mut pre.ma_jobs, &mut pre.inner, |ci| {
            &self.clients[ci].secret
        });
        for m in &pre.ma_jobs {
            pre.nas[m.datagram] = Some(verdict(&pre.lanes, m));
        }
    }

    /// The Response Authenticators and Message-Authenticators of the batch's replies to
    /// requests in flight.
    fn preverify_replies<'a>(
        &mut self,
        socket: usize,
        datagrams: impl Iterator<Item = (SocketAddr, &'a [u8])>,
    ) {
        let pre = &mut self.pre;
        pre.replies.clear();
        pre.ma_jobs.clear();
        pre.ra_jobs.clear();
        pre.lanes.clear();
        for (i, (_, data)) in datagrams.enumerate() {
            pre.replies.push(None);
            let Ok(pkt) = Packet::new_checked(data) else {
                continue;
            };
            let slot = socket * 256 + pkt.identifier() as usize;
            let Some(p) = self.pending.get(slot).and_then(Option::as_ref) else {
                continue;
            };
            let u = &self.upstreams[p.upstream];
            let bytes = pkt.as_bytes();
            let expected: [u8; AUTH_LEN] = *pkt.authenticator();
            let job = crypto::push_authenticator(&mut pre.lanes, bytes, &p.up_auth, &u.secret);
            pre.ra_jobs.push((i, job, expected));
            let field = crypto::locate_message_authenticator(bytes);
            pre.replies[i] = Some(ReplyChecks {
                up_auth: p.up_auth,
                response_ok: false,
                ma: if field == crypto::MaField::Malformed {
                    MaStatus::Invalid
                } else {
                    MaStatus::Absent
                },
            });
            if let crypto::MaField::At(at) = field {
                let auth = crypto::ma_auth_for(bytes, Some(&p.up_auth));
                let job = crypto::push_message_authenticator_inner(
                    &mut pre.lanes,
                    bytes,
                    &auth,
                    at,
                    &u.secret,
                );
                pre.ma_jobs.push(MaJob {
                    datagram: i,
                    job,
                    party: p.upstream,
                    at,
                    expected: ma_value(bytes, at),
                });
            }
        }
        if pre.ra_jobs.len() < MIN_BATCH {
            pre.replies.iter_mut().for_each(|v| *v = None);
            return;
        }
        pre.lanes.run();
        for &(i, job, expected) in &pre.ra_jobs {
            if let Some(r) = &mut pre.replies[i] {
                r.response_ok = crypto::ct_eq(&pre.lanes.digest(job), &expected);
            }
        }
        if pre.ma_jobs.is_empty() {
            return;
        }
        outer_pass(&mut pre.lanes, &mut pre.ma_jobs, &mut pre.inner, |ui| {
            &self.upstreams[ui].secret
        });
        for m in &pre.ma_jobs {
            if let Some(r) = &mut pre.replies[m.datagram] {
                r.ma = verdict(&pre.lanes, m);
            }
        }
    }
}

/// Turns the inner digests of `jobs` (computed in `lanes`) into outer-hash jobs and
/// runs them; each job's `job` then names its outer hash.
fn outer_pass<'s>(
    lanes: &mut Lanes,
    jobs: &mut [MaJob],
    inner: &mut Vec<[u8; AUTH_LEN]>,
    secret: impl Fn(usize) -> &'s crypto::SharedSecret,
) {
    // The inner digests are read out before the lanes are reused for the outer hashes.
    inner.clear();
    inner.extend(jobs.iter().map(|m| lanes.digest(m.job)));
    lanes.clear();
    for (m, d) in jobs.iter_mut().zip(inner.iter()) {
        m.job = crypto::push_message_authenticator_outer(lanes, d, secret(m.party));
    }
    lanes.run();
}

fn verdict(lanes: &Lanes, m: &MaJob) -> MaStatus {
    if crypto::ct_eq(&lanes.digest(m.job), &m.expected) {
        MaStatus::Valid
    } else {
        MaStatus::Invalid
    }
}
