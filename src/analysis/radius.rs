//! RADIUS outcomes seen on the wire: requests and their replies paired by (client,
//! server, identifier) and the request authenticator, Rejects classified by the cause
//! table, and what radcare would have rewritten had it been inline.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Action;
use crate::dict::Dictionary;
use crate::engine::AuthMethod;
use crate::policy::{self, Policy, Rewrite};
use crate::wire::attr::types;
use crate::wire::crypto::{self, MaStatus};
use crate::wire::{AUTH_LEN, Code, Error, Packet};

/// Counts of RADIUS packets by what they are and what became of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RadiusCounts {
    /// Well-formed RADIUS packets, retransmissions included.
    pub packets: u64,
    /// Access-Requests, each counted once (retransmissions apart).
    pub access_requests: u64,
    /// Requests seen again with the same client, server, identifier and authenticator.
    pub retransmissions: u64,
    pub accepts: u64,
    pub rejects: u64,
    pub challenges: u64,
    pub accounting_requests: u64,
    pub accounting_responses: u64,
    /// Status-Server, CoA, Disconnect, their answers, unknown codes.
    pub other: u64,
    /// Access- and Accounting-Requests no reply was seen for.
    pub unanswered: u64,
    /// Replies whose request is not in the capture.
    pub unmatched_replies: u64,
    /// Second and later replies to the same request.
    pub duplicate_replies: u64,
    /// Datagrams on a RADIUS port that are not RADIUS packets.
    pub malformed: u64,
    /// With a secret: packets whose authenticator or Message-Authenticator is wrong.
    pub invalid: u64,
    /// Rejects radcare would turn into a walled-garden Accept: the cause's action is
    /// rewrite, the request's authentication method allows it, and (with a secret)
    /// the Reject is authentic.
    pub would_be_rewrites: u64,
    /// Rejects whose cause says rewrite but whose request used MS-CHAPv2 or EAP (or no
    /// credentials), which a bare Accept cannot complete.
    pub blocked_by_auth_method: u64,
}

/// Rejects of one cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CauseCount {
    pub cause: String,
    /// The cause's action in the table used: "rewrite" or "pass".
    pub action: &'static str,
    pub rejects: u64,
    pub would_be_rewrites: u64,
}

/// A user with Rejects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedUser {
    pub user: String,
    pub rejects: u64,
    pub last_cause: String,
    /// The AAA's own words in the last Reject.
    pub last_reason: String,
}

/// How fast a user dialled again after being refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Redials {
    pub user: String,
    /// Access-Requests that followed a Reject.
    pub redials: usize,
    pub min_seconds: f64,
    pub median_seconds: f64,
}

/// The RADIUS half of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RadiusReport {
    /// Whether authenticators were checked (a secret was given).
    pub verified: bool,
    pub counts: RadiusCounts,
    /// Rejects per cause, most frequent first.
    pub rejects_by_cause: Vec<CauseCount>,
    /// Users by Rejects, most first (the top N).
    pub top_rejected_users: Vec<RejectedUser>,
    /// How many users were rejected at all.
    pub rejected_users: usize,
    /// Users who dialled again after a Reject, most redials first (the top N).
    pub redials: Vec<Redials>,
    /// How many users dialled again after a Reject at all.
    pub redialling_users: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    client: SocketAddr,
    server: SocketAddr,
    id: u8,
}

#[derive(Debug, Clone)]
struct Pending {
    authenticator: [u8; AUTH_LEN],
    code: Code,
    user: Option<String>,
    /// Hash of User-Name, Calling-Station-Id and NAS: who redials.
    subscriber: u64,
    method: AuthMethod,
    answered: bool,
}

#[derive(Debug, Clone, Copy)]
struct LastRequest {
    at: Duration,
    authenticator: [u8; AUTH_LEN],
    rejected: bool,
}

#[derive(Debug, Clone, Default)]
struct UserTally {
    rejects: u64,
    last_cause: String,
    last_reason: String,
    last_request: Option<LastRequest>,
    intervals: Vec<Duration>,
}

#[derive(Debug, Clone, Copy, Default)]
struct CauseTally {
    rejects: u64,
    would_be_rewrites: u64,
}

/// Tallies RADIUS traffic fed to it one datagram at a time. Sans-IO: the caller gives
/// the time and addresses.
pub struct RadiusTally {
    policy: Arc<Policy>,
    dict: Arc<Dictionary>,
    secret: Option<Vec<u8>>,
    counts: RadiusCounts,
    pending: HashMap<Key, Pending>,
    /// By index into the policy's cause table.
    causes: HashMap<usize, CauseTally>,
    users: HashMap<String, UserTally>,
    /// Ambiguous Rejects are would-be rewrites only for redialling subscribers, as in
    /// the proxy; capture time is laid on a clock starting at `epoch`.
    redials: policy::Redials,
    epoch: Instant,
}

impl RadiusTally {
    /// `secret`: the shared secret to verify authenticators with, if known.
    pub fn new(policy: Arc<Policy>, dict: Arc<Dictionary>, secret: Option<Vec<u8>>) -> Self {
        let policy_redial = policy.redial.clone();
        RadiusTally {
            policy,
            dict,
            secret,
            counts: RadiusCounts::default(),
            pending: HashMap::new(),
            causes: HashMap::new(),
            users: HashMap::new(),
            redials: policy::Redials::new(&policy_redial),
            epoch: Instant::now(),
        }
    }

    /// Takes one UDP payload sent from `src` to `dst` at `at`.
    pub fn observe(
        &mut self,
        at: Duration,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
    ) -> Result<(), Error> {
        let pkt = match Packet::new_checked(payload) {
            Ok(p) => p,
            Err(e) => {
                self.counts.malformed += 1;
                return Err(e);
            }
        };
        self.counts.packets += 1;
        if pkt.code().is_response() {
            self.reply(at, dst, src, &pkt);
        } else {
            self.request(at, src, dst, &pkt);
        }
        Ok(())
    }

    fn request(
        &mut self,
        at: Duration,
        client: SocketAddr,
        server: SocketAddr,
        pkt: &Packet<&[u8]>,
    ) {
        let key = Key {
            client,
            server,
            id: pkt.identifier(),
        };
        let code = pkt.code();
        if self
            .pending
            .get(&key)
            .is_some_and(|p| p.code == code && p.authenticator == *pkt.authenticator())
        {
            self.counts.retransmissions += 1;
            return;
        }
        match code {
            Code::AccessRequest => self.counts.access_requests += 1,
            Code::AccountingRequest => self.counts.accounting_requests += 1,
            _ => self.counts.other += 1,
        }
        if let Some(secret) = &self.secret {
            let bytes = pkt.as_bytes();
            let authentic = if code.has_hashed_request_authenticator() {
                crypto::verify_hashed_request(bytes, secret)
            } else {
                crypto::verify_message_authenticator(bytes, None, secret) != MaStatus::Invalid
            };
            if !authentic {
                self.counts.invalid += 1;
            }
        }
        let user = pkt
            .find(types::USER_NAME)
            .map(|a| String::from_utf8_lossy(a.value).into_owned());
        if code == Code::AccessRequest
            && let Some(name) = &user
        {
            let u = self.users.entry(name.clone()).or_default();
            if let Some(prev) = u.last_request.filter(|p| p.rejected) {
                u.intervals.push(at.saturating_sub(prev.at));
            }
            u.last_request = Some(LastRequest {
                at,
                authenticator: *pkt.authenticator(),
                rejected: false,
            });
        }
        let subscriber = {
            let mut h = foldhash::fast::FixedState::with_seed(0).build_hasher();
            let value = |typ| pkt.find(typ).map_or(&[][..], |a| a.value);
            value(types::USER_NAME).hash(&mut h);
            value(types::CALLING_STATION_ID).hash(&mut h);
            client.ip().hash(&mut h);
            h.finish()
        };
        let replaced = self.pending.insert(
            key,
            Pending {
                authenticator: *pkt.authenticator(),
                code,
                user,
                subscriber,
                method: AuthMethod::of(pkt),
                answered: false,
            },
        );
        // The NAS reused the identifier: the request it replaced stays unanswered.
        if replaced.is_some_and(|p| !p.answered && counts_as_unanswered(p.code)) {
            self.counts.unanswered += 1;
        }
    }

    fn reply(&mut self, at: Duration, client: SocketAddr, server: SocketAddr, pkt: &Packet<&[u8]>) {
        let key = Key {
            client,
            server,
            id: pkt.identifier(),
        };
        let request = match self.pending.get_mut(&key) {
            Some(p) if p.answered => {
                self.counts.duplicate_replies += 1;
                return;
            }
            Some(p) => {
                p.answered = true;
                Some(p.clone())
            }
            None => {
                self.counts.unmatched_replies += 1;
                None
            }
        };
        let authentic = match (&self.secret, &request) {
            (Some(secret), Some(req)) => {
                let bytes = pkt.as_bytes();
                let ok = crypto::verify_response(bytes, &req.authenticator, secret)
                    && crypto::verify_message_authenticator(
                        bytes,
                        Some(&req.authenticator),
                        secret,
                    ) != MaStatus::Invalid;
                if !ok {
                    self.counts.invalid += 1;
                }
                ok
            }
            // Without the request (or a secret) there is nothing to check against.
            _ => true,
        };
        if request
            .as_ref()
            .is_some_and(|r| r.code == Code::StatusServer)
        {
            // A Status-Server is answered with an Access-Accept: not a login.
            self.counts.other += 1;
            return;
        }
        match pkt.code() {
            Code::AccessAccept => self.counts.accepts += 1,
            Code::AccessChallenge => self.counts.challenges += 1,
            Code::AccountingResponse => self.counts.accounting_responses += 1,
            Code::AccessReject => {
                self.counts.rejects += 1;
                self.reject(at, pkt, request.as_ref(), authentic);
            }
            _ => self.counts.other += 1,
        }
    }

    fn reject(
        &mut self,
        at: Duration,
        pkt: &Packet<&[u8]>,
        request: Option<&Pending>,
        authentic: bool,
    ) {
        let user = request.and_then(|r| r.user.as_deref()).unwrap_or("");
        let c = self
            .policy
            .classify(pkt.as_bytes(), user.as_bytes(), &self.dict);
        let tally = self.causes.entry(c.index).or_default();
        tally.rejects += 1;
        let Some(req) = request else {
            return;
        };
        if c.action != Action::Pass && authentic {
            if req.method.allows_rewrite() {
                let verdict = self
                    .policy
                    .verdict(pkt.as_bytes(), user.as_bytes(), &self.dict);
                let now = self.epoch + at;
                if verdict.rewrite(true, &mut self.redials, now, req.subscriber) == Rewrite::Yes {
                    tally.would_be_rewrites += 1;
                    self.counts.would_be_rewrites += 1;
                }
            } else {
                self.counts.blocked_by_auth_method += 1;
            }
        }
        let Some(user) = &req.user else {
            return;
        };
        let u = self.users.entry(user.clone()).or_default();
        u.rejects += 1;
        u.last_cause.clone_from(&c.id);
        u.last_reason = c.reason;
        if let Some(last) = u
            .last_request
            .as_mut()
            .filter(|l| l.authenticator == req.authenticator)
        {
            last.rejected = true;
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> RadiusCounts {
        let mut c = self.counts;
        c.unanswered += self
            .pending
            .values()
            .filter(|p| !p.answered && counts_as_unanswered(p.code))
            .count() as u64;
        c
    }

    /// Everything so far, lists cut to the `top` largest entries.
    pub fn report(&self, top: usize) -> RadiusReport {
        // A cause may have several rules (wrong-password: by text, and by E=691 alone):
        // one row per cause, its action that of its first rule.
        let mut rejects_by_cause: Vec<CauseCount> = Vec::new();
        for (&i, t) in &self.causes {
            let cause = self.policy.cause_id(i);
            match rejects_by_cause.iter_mut().find(|c| c.cause == cause) {
                Some(c) => {
                    c.rejects += t.rejects;
                    c.would_be_rewrites += t.would_be_rewrites;
                }
                None => rejects_by_cause.push(CauseCount {
                    cause: cause.to_owned(),
                    action: match self.policy.causes.iter().find(|c| c.id == cause) {
                        Some(c) if c.action == Action::Rewrite => "rewrite",
                        Some(c) if c.action == Action::Redial => "redial",
                        _ => "pass",
                    },
                    rejects: t.rejects,
                    would_be_rewrites: t.would_be_rewrites,
                }),
            }
        }
        rejects_by_cause.sort_by(|a, b| b.rejects.cmp(&a.rejects).then(a.cause.cmp(&b.cause)));

        let mut rejected: Vec<RejectedUser> = self
            .users
            .iter()
            .filter(|(_, u)| u.rejects > 0)
            .map(|(name, u)| RejectedUser {
                user: name.clone(),
                rejects: u.rejects,
                last_cause: u.last_cause.clone(),
                last_reason: u.last_reason.clone(),
            })
            .collect();
        let rejected_users = rejected.len();
        rejected.sort_by(|a, b| b.rejects.cmp(&a.rejects).then(a.user.cmp(&b.user)));
        rejected.truncate(top);

        let mut redials: Vec<Redials> = self
            .users
            .iter()
            .filter(|(_, u)| !u.intervals.is_empty())
            .map(|(name, u)| {
                let mut iv = u.intervals.clone();
                iv.sort();
                Redials {
                    user: name.clone(),
                    redials: iv.len(),
                    min_seconds: iv[0].as_secs_f64(),
                    median_seconds: median(&iv).as_secs_f64(),
                }
            })
            .collect();
        let redialling_users = redials.len();
        redials.sort_by(|a, b| {
            b.redials
                .cmp(&a.redials)
                .then(a.median_seconds.total_cmp(&b.median_seconds))
                .then(a.user.cmp(&b.user))
        });
        redials.truncate(top);

        RadiusReport {
            verified: self.secret.is_some(),
            counts: self.counts(),
            rejects_by_cause,
            top_rejected_users: rejected,
            rejected_users,
            redials,
            redialling_users,
        }
    }
}

fn counts_as_unanswered(code: Code) -> bool {
    matches!(code, Code::AccessRequest | Code::AccountingRequest)
}

/// The median of a sorted, non-empty list (the mean of the middle two when even).
fn median(sorted: &[Duration]) -> Duration {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}
