//! Receive batches checked together. Before the datagrams of one recvmmsg are handled
//! one by one, the MD5 work of their checks (a NAS request's Message-Authenticator; an
//! AAA reply's Response Authenticator and Message-Authenticator) runs for the whole
//! batch at once in the lanes of `wire::md5x`. Each datagram's handling then takes its
//! verdict instead of hashing; anything the pre-pass did not cover (a lone datagram, a
//! code it does not handle, a slot reused in between) is checked the usual way, so the
//! verdicts are the same either way.

use std::net::SocketAddr;
use std::time::Instant;

use super::{Engine, Listener, most_specific};
use crate::wire::crypto::{self, MaStatus};
use crate::wire::md5x::Lanes;
use crate::wire::{AUTH_LEN, Code, HEADER_LEN, Packet};

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

/// A Message-Authenticator being checked: which datagram, its inner-hash job (then its
/// outer one), the client or upstream whose secret keys it, and the value it must match.
#[derive(Debug, Clone, Copy)]
struct MaJob {
    datagram: usize,
    job: usize,
    party: usize,
    expected: [u8; AUTH_LEN],
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
        for (i, (src, data)) in datagrams.enumerate() {
            self.pre_nas_ma = self.pre.nas.get(i).copied().flatten();
            self.handle_nas(now, listener, src, data);
            self.pre_nas_ma = None;
        }
    }

    /// Handles the datagrams of one receive batch on upstream socket `socket`: the same
    /// as [`Engine::handle_upstream`] on each, in order.
    pub fn handle_upstream_batch<'a, I>(&mut self, now: Instant, socket: usize, datagrams: I)
    where
        I: Iterator<Item = (SocketAddr, &'a [u8])> + Clone,
    {
        self.preverify_replies(socket, datagrams.clone());
        for (i, (src, data)) in datagrams.enumerate() {
            self.pre_reply = self.pre.replies.get(i).copied().flatten();
            self.handle_upstream(now, socket, src, data);
            self.pre_reply = None;
        }
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
            let Some(at) = crypto::find_message_authenticator(bytes) else {
                pre.nas[i] = Some(MaStatus::Absent);
                continue;
            };
            let auth = crypto::ma_auth_for(bytes, None);
            let secret = &self.clients[ci].secret;
            let job =
                crypto::push_message_authenticator_inner(&mut pre.lanes, bytes, &auth, at, secret);
            pre.ma_jobs.push(MaJob {
                datagram: i,
                job,
                party: ci,
                expected: ma_value(bytes, at),
            });
        }
        if pre.ma_jobs.len() < MIN_BATCH {
            pre.nas.iter_mut().for_each(|v| *v = None);
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
            let expected: [u8; AUTH_LEN] = bytes[4..HEADER_LEN].try_into().expect("16 octets");
            let job = crypto::push_authenticator(&mut pre.lanes, bytes, &p.up_auth, &u.secret);
            pre.ra_jobs.push((i, job, expected));
            pre.replies[i] = Some(ReplyChecks {
                up_auth: p.up_auth,
                response_ok: false,
                ma: MaStatus::Absent,
            });
            if let Some(at) = crypto::find_message_authenticator(bytes) {
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
