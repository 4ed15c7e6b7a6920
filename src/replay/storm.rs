//! `radcare storm`: the redial storm. N subscribers' routers dial (one Access-Request
//! each), and behave as PPPoE routers do after the answer:
//!
//! - Reject, Challenge or no answer: redial after a few seconds (with jitter), forever;
//! - Accept: the session is up until its Session-Timeout, then the router dials again.
//!
//! Run against an AAA that rejects them, the routers hammer it; run with radcare in
//! front, a rejected subscriber gets a walled-garden Accept and stays quiet for the
//! garden's Session-Timeout. The report gives the AAA requests per failing subscriber,
//! measured over the run and extrapolated to an hour two ways: linearly from the run,
//! and from the routers' own schedule (the mean time between one dial and the next the
//! answer scheduled), which is the steady state when the run is shorter than a session.
//!
//! Each subscriber has its own (socket, identifier), since it has at most one request
//! in flight; the load is low (N / redial interval per second), so the loop is simple.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, RngExt};

use super::template::{Keys, Outcome, Template, verify_reply};
use crate::io::batch::{self, Batch, Poller};
use crate::wire::Packet;
use crate::wire::attr::types;

#[derive(Clone)]
pub struct StormOptions {
    pub server: SocketAddr,
    pub keys: Keys,
    /// Subscriber i sends template i % len.
    pub templates: Vec<Template>,
    pub subscribers: usize,
    /// Redial interval after a failure, and its jitter (uniform, +/-).
    pub redial: Duration,
    pub jitter: Duration,
    /// How long an unanswered request is waited for.
    pub timeout: Duration,
    /// Session length for an Accept without a Session-Timeout.
    pub default_session: Duration,
    pub duration: Duration,
}

/// Counts over the whole run.
#[derive(Debug, Clone, Default)]
pub struct StormReport {
    pub subscribers: usize,
    /// Subscribers the AAA rejected at least once (directly, or rewritten by radcare).
    pub failing: usize,
    pub duration: Duration,
    pub requests: u64,
    pub accepts: u64,
    /// Accepts carrying radcare's walled-garden Class.
    pub garden: u64,
    pub rejects: u64,
    pub challenges: u64,
    pub timeouts: u64,
    pub invalid: u64,
    /// Requests sent by the failing subscribers.
    pub failing_requests: u64,
    /// Sum over the failing subscribers' dials of the time until the dial after it
    /// (as scheduled), in seconds.
    pub failing_cycle_s: f64,
    /// Longest Session-Timeout seen in an Accept.
    pub max_session_timeout_s: u32,
}

impl StormReport {
    /// Requests per failing subscriber during the run.
    pub fn per_failing(&self) -> f64 {
        if self.failing == 0 {
            return 0.0;
        }
        self.failing_requests as f64 / self.failing as f64
    }

    /// Linear extrapolation of the run to an hour.
    pub fn per_hour_measured(&self) -> f64 {
        let s = self.duration.as_secs_f64();
        if s == 0.0 {
            return 0.0;
        }
        self.per_failing() * 3600.0 / s
    }

    /// An hour of the routers' schedule: 3600 s over the mean dial-to-dial time.
    pub fn per_hour_schedule(&self) -> f64 {
        if self.failing_requests == 0 || self.failing_cycle_s == 0.0 {
            return 0.0;
        }
        3600.0 / (self.failing_cycle_s / self.failing_requests as f64)
    }

    pub fn key_values(&self) -> String {
        format!(
            "subscribers={} failing={} duration_s={:.1} requests={} accepts={} garden={} \
             rejects={} challenges={} timeouts={} invalid={} failing_requests={} \
             per_failing_sub={:.2} per_hour_measured={:.0} per_hour_schedule={:.0} \
             max_session_timeout_s={}",
            self.subscribers,
            self.failing,
            self.duration.as_secs_f64(),
            self.requests,
            self.accepts,
            self.garden,
            self.rejects,
            self.challenges,
            self.timeouts,
            self.invalid,
            self.failing_requests,
            self.per_failing(),
            self.per_hour_measured(),
            self.per_hour_schedule(),
            self.max_session_timeout_s
        )
    }
}

#[derive(Clone, Copy)]
enum State {
    /// Waiting to dial at this time (ns since start).
    Idle { dial_at: u64 },
    /// A request is out.
    Waiting { auth: [u8; 16], deadline: u64 },
}

#[derive(Clone, Copy)]
struct Subscriber {
    state: State,
    requests: u64,
    failed: bool,
    /// Time of the last dial, to measure the cycle it starts.
    last_dial: u64,
    cycle_ns: u64,
}

/// What a router does after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Redial after the failure interval.
    Redial,
    /// Session up for this long, then dial again.
    SessionFor(Duration),
}

/// The router's reaction to a verified reply (`None`: no answer in time).
pub fn react(reply: Option<(&[u8], Outcome)>, default_session: Duration) -> Next {
    match reply {
        Some((bytes, Outcome::Accept | Outcome::Rewrite)) => {
            let st = Packet::new_checked(bytes)
                .ok()
                .and_then(|p| p.find(types::SESSION_TIMEOUT).and_then(|a| a.as_u32()));
            Next::SessionFor(st.map_or(default_session, |s| Duration::from_secs(s.into())))
        }
        _ => Next::Redial,
    }
}

pub fn run(opts: &StormOptions, stop: &AtomicBool) -> io::Result<StormReport> {
    assert!(!opts.templates.is_empty() && opts.subscribers > 0);
    let n = opts.subscribers;
    let any = match opts.server {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let mut poller = Poller::new()?;
    let mut sockets = Vec::new();
    for i in 0..n.div_ceil(256) {
        let s = batch::udp_socket(SocketAddr::new(any, 0), Some(opts.server))?;
        poller.add(&s, i as u64)?;
        sockets.push(s);
    }
    batch::tighten_timer_slack();
    let redial_ns = opts.redial.as_nanos() as u64;
    let jitter_ns = opts.jitter.as_nanos() as u64;
    let timeout_ns = opts.timeout.as_nanos() as u64;
    let end_ns = opts.duration.as_nanos() as u64;
    let mut rng: StdRng = rand::make_rng();
    // The routers' first dials are spread over one redial interval: a steady state.
    let mut subs: Vec<Subscriber> = (0..n)
        .map(|i| Subscriber {
            state: State::Idle {
                dial_at: redial_ns * i as u64 / n as u64,
            },
            requests: 0,
            failed: false,
            last_dial: 0,
            cycle_ns: 0,
        })
        .collect();
    let mut report = StormReport {
        subscribers: n,
        ..StormReport::default()
    };
    let mut out = Batch::new(1);
    let mut inb = Batch::new(64);
    let clock = Instant::now();
    let now_ns = || clock.elapsed().as_nanos() as u64;
    let redial_at = |now: u64, rng: &mut StdRng| {
        let j = if jitter_ns == 0 {
            0
        } else {
            rng.random_range(0..=2 * jitter_ns)
        };
        (now + redial_ns + j).saturating_sub(jitter_ns)
    };
    while !stop.load(Ordering::Relaxed) {
        let now = now_ns();
        if now >= end_ns {
            break;
        }
        let mut wake = end_ns;
        for (i, sub) in subs.iter_mut().enumerate() {
            match sub.state {
                State::Idle { dial_at } if dial_at <= now => {
                    let t = &opts.templates[i % opts.templates.len()];
                    let mut nonce = [0u8; 16];
                    rng.fill_bytes(&mut nonce);
                    let (len, auth) = t.write(out.spare(), (i % 256) as u8, &nonce, &opts.keys);
                    out.commit(len, None);
                    if out.send(sockets[i / 256].as_raw_fd()) == 1 {
                        sub.state = State::Waiting {
                            auth,
                            deadline: now + timeout_ns,
                        };
                        sub.requests += 1;
                        sub.last_dial = now;
                        report.requests += 1;
                    }
                }
                State::Waiting { deadline, .. } if deadline <= now => {
                    report.timeouts += 1;
                    let at = redial_at(now, &mut rng);
                    sub.cycle_ns += at.saturating_sub(sub.last_dial);
                    sub.state = State::Idle { dial_at: at };
                }
                _ => {}
            }
            wake = wake.min(match sub.state {
                State::Idle { dial_at } => dial_at,
                State::Waiting { deadline, .. } => deadline,
            });
        }
        let ready = poller.wait(Some(Duration::from_nanos(wake.saturating_sub(now))))?;
        for r in 0..ready {
            let s = poller.token(r) as usize;
            loop {
                let got = inb.recv(sockets[s].as_raw_fd())?;
                let now = now_ns();
                for j in 0..got {
                    let (data, _) = inb.get(j);
                    let Some(&id) = data.get(1) else {
                        report.invalid += 1;
                        continue;
                    };
                    let i = s * 256 + id as usize;
                    let Some(sub) = subs.get_mut(i) else {
                        report.invalid += 1;
                        continue;
                    };
                    let State::Waiting { auth, .. } = sub.state else {
                        report.invalid += 1;
                        continue;
                    };
                    let code = opts.templates[i % opts.templates.len()].code();
                    let outcome = match verify_reply(data, code, &auth, &opts.keys) {
                        Ok(o) => o,
                        Err(_) => {
                            report.invalid += 1;
                            continue;
                        }
                    };
                    match outcome {
                        Outcome::Accept => report.accepts += 1,
                        Outcome::Rewrite => {
                            report.accepts += 1;
                            report.garden += 1;
                            sub.failed = true;
                        }
                        Outcome::Reject => {
                            report.rejects += 1;
                            sub.failed = true;
                        }
                        Outcome::Challenge => report.challenges += 1,
                        Outcome::AccountingResponse => {}
                    }
                    let at = match react(Some((data, outcome)), opts.default_session) {
                        Next::Redial => redial_at(now, &mut rng),
                        Next::SessionFor(d) => {
                            let secs = u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
                            report.max_session_timeout_s = report.max_session_timeout_s.max(secs);
                            now + d.as_nanos() as u64
                        }
                    };
                    sub.cycle_ns += at.saturating_sub(sub.last_dial);
                    sub.state = State::Idle { dial_at: at };
                }
                if got < inb.capacity() {
                    break;
                }
            }
        }
    }
    report.duration = Duration::from_nanos(now_ns().min(end_ns.max(1)));
    for sub in &subs {
        if !sub.failed {
            continue;
        }
        report.failing += 1;
        report.failing_requests += sub.requests;
        // A request still out at the end: count its cycle up to the end of the run.
        let pending = match sub.state {
            State::Waiting { .. } => end_ns.saturating_sub(sub.last_dial),
            State::Idle { .. } => 0,
        };
        report.failing_cycle_s += (sub.cycle_ns + pending) as f64 / 1e9;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::crypto;
    use crate::wire::{Builder, Code};

    #[test]
    fn routers_react_to_answers() {
        let session = Duration::from_secs(3600);
        assert_eq!(react(None, session), Next::Redial);
        let mut buf = Vec::new();
        let mut b = Builder::new(&mut buf, Code::AccessAccept, 1, &[0; 16]);
        b.attr_u32(types::SESSION_TIMEOUT, 300).unwrap();
        crypto::sign_response(&mut buf, &[0; 16], b"s");
        assert_eq!(
            react(Some((&buf, Outcome::Rewrite)), session),
            Next::SessionFor(Duration::from_secs(300))
        );
        let mut plain = Vec::new();
        Builder::new(&mut plain, Code::AccessAccept, 1, &[0; 16]);
        assert_eq!(
            react(Some((&plain, Outcome::Accept)), session),
            Next::SessionFor(session)
        );
        assert_eq!(
            react(Some((&plain, Outcome::Reject)), session),
            Next::Redial
        );
    }

    #[test]
    fn extrapolations() {
        let r = StormReport {
            failing: 2,
            duration: Duration::from_secs(60),
            failing_requests: 24,
            // Every dial scheduled the next one 5 s later.
            failing_cycle_s: 24.0 * 5.0,
            ..StormReport::default()
        };
        assert_eq!(r.per_failing(), 12.0);
        assert_eq!(r.per_hour_measured(), 720.0);
        assert_eq!(r.per_hour_schedule(), 720.0);
        // One dial each, then a 300 s garden session.
        let g = StormReport {
            failing: 2,
            duration: Duration::from_secs(60),
            failing_requests: 2,
            failing_cycle_s: 600.0,
            ..StormReport::default()
        };
        assert_eq!(g.per_hour_measured(), 60.0);
        assert_eq!(g.per_hour_schedule(), 12.0);
    }
}
