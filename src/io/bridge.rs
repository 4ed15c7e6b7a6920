//! The bridge driver: two AF_PACKET interfaces (`packet_socket`), one OS thread per
//! direction (blocking receive with a timeout), both feeding the one sans-IO `Bridge`
//! core behind a mutex held for one frame's work.

use std::io;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::packet_socket::PacketSocket;
use crate::bridge::{Bridge, Outcome, Side};
use crate::config::BridgeConfig;
use crate::engine::Event;
use crate::events::EventBus;
use crate::part::Shutdown;

/// Both interfaces, opened (so errors surface before anything runs).
pub struct BridgePorts {
    nas: Arc<PacketSocket>,
    aaa: Arc<PacketSocket>,
}

impl BridgePorts {
    pub fn open(cfg: &BridgeConfig) -> io::Result<BridgePorts> {
        let open = |name: &str| {
            PacketSocket::open(name, Duration::from_millis(200)).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("bridge interface `{name}` (needs CAP_NET_RAW): {e}"),
                )
            })
        };
        let ports = BridgePorts {
            nas: Arc::new(open(&cfg.nas_side)?),
            aaa: Arc::new(open(&cfg.aaa_side)?),
        };
        for port in [&ports.nas, &ports.aaa] {
            refuse_merging_offloads(port)?;
        }
        Ok(ports)
    }
}

/// GRO and LRO hand the bridge frames merged past the wire's size, as received: refused
/// at start with the command that turns them off, rather than relayed wrongly.
fn refuse_merging_offloads(port: &PacketSocket) -> io::Result<()> {
    let name = port.name();
    let on = port.merging_offloads().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("bridge interface `{name}`: offloads: {e}"),
        )
    })?;
    if on.is_empty() {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "bridge interface `{name}` merges received frames ({}): run `ethtool -K {name} gro off lro off` first",
            on.join(", ")
        ),
    ))
}

/// Starts both directions; they stop within a read timeout after `stop` is cancelled.
pub fn spawn(
    ports: BridgePorts,
    core: Arc<Mutex<Bridge>>,
    events: EventBus,
    stop: Shutdown,
) -> io::Result<Vec<JoinHandle<()>>> {
    let BridgePorts { nas, aaa } = ports;
    let mut threads = Vec::new();
    for (rx, tx, side) in [(nas.clone(), aaa.clone(), Side::Nas), (aaa, nas, Side::Aaa)] {
        let (core, events, stop) = (core.clone(), events.clone(), stop.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("bridge-{}", rx.name()))
                .spawn(move || forward(&rx, &tx, side, &core, &events, &stop))?,
        );
    }
    Ok(threads)
}

fn forward(
    rx: &PacketSocket,
    tx: &PacketSocket,
    side: Side,
    core: &Mutex<Bridge>,
    events: &EventBus,
    stop: &Shutdown,
) {
    let (from, to) = (rx.name(), tx.name());
    let frames = metrics::counter!("radcare_bridge_frames_total", "from" => from.to_string());
    let rewritten = metrics::counter!("radcare_bridge_rewrites_total");
    let opaque =
        metrics::counter!("radcare_bridge_opaque_frames_total", "from" => from.to_string());
    let send_errors = metrics::counter!("radcare_bridge_send_errors_total", "to" => to.to_string());
    let pending_shed = metrics::counter!("radcare_bridge_pending_shed_total");
    let mut buf = Vec::with_capacity(65536);
    while !stop.is_cancelled() {
        let got = match rx.recv(&mut buf) {
            Ok(Some(got)) => got,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(interface = from, error = %e, "bridge receive failed");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        frames.increment(1);
        // A super-frame's checksums are the kernel's to fill when it segments it.
        if got.checksum_not_ready && got.gso.is_none() {
            complete_checksum(&mut buf);
        }
        let outcome = {
            // A std mutex: held for one frame's work, never across a blocking call.
            let mut core = core.lock().unwrap_or_else(|p| p.into_inner());
            let outcome = core.handle_frame(Instant::now(), side, &mut buf);
            match outcome {
                Outcome::Rewritten => rewritten.increment(1),
                Outcome::Opaque => opaque.increment(1),
                Outcome::Unchanged | Outcome::RejectPassed => {}
            }
            pending_shed.absolute(core.stats.pending_shed);
            while let Some(ev) = core.poll_event() {
                if matches!(ev, Event::GardenEntered(_) | Event::GardenAccounting(_)) {
                    events.publish(ev);
                }
            }
            outcome
        };
        let sent = match got.gso {
            // A rewritten frame is a new, plain one.
            Some(vnet) if outcome != Outcome::Rewritten => tx.send_gso(&vnet, &buf),
            _ => tx.send(&buf),
        };
        if let Err(e) = sent {
            send_errors.increment(1);
            tracing::debug!(interface = to, error = %e, "bridge send failed");
        }
    }
}

/// Fills in the TCP/UDP checksum the sender left for hardware, tags kept.
fn complete_checksum(frame: &mut [u8]) {
    use crate::wire::ether::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, EtherFrame};
    if let Ok(eth) = EtherFrame::parse(frame)
        && matches!(eth.ethertype, ETHERTYPE_IPV4 | ETHERTYPE_IPV6)
    {
        crate::wire::ip::complete_l4_checksum(&mut frame[eth.payload_offset..]);
    }
}

/// The PPPoE redial view, shared by the observer thread and the HTTP surface.
pub type DialView = Arc<Mutex<crate::analysis::dial::DialAttempts>>;

/// How long a subscriber that stopped dialling stays in the view (at most
/// `dial::MAX_SUBSCRIBERS` of them: beyond, new MACs are shed and counted).
const DIAL_MEMORY: Duration = Duration::from_secs(3600);
/// Dial attempts per minute from which a subscriber counts as redialling.
const REDIAL_PER_MINUTE: f64 = 3.0;

/// Watches a subscriber-side interface or mirror port for PPPoE discovery and
/// authentication frames, counting dial attempts per subscriber MAC. Only counts are
/// exported as metrics (labels never carry addresses); the per-MAC top list is served
/// at `/api/dial-attempts` on the admin listener. This opens its socket (so errors
/// come before anything runs); [`spawn_observer`] starts it.
pub fn open_observer(interface: &str) -> io::Result<PacketSocket> {
    PacketSocket::open(interface, Duration::from_millis(200)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("PPPoE interface `{interface}` (needs CAP_NET_RAW): {e}"),
        )
    })
}

/// Starts the observer on a socket from [`open_observer`], until `stop` is cancelled.
pub fn spawn_observer(
    sock: PacketSocket,
    dial: DialView,
    stop: Shutdown,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("pppoe-{}", sock.name()))
        .spawn(move || observe(&sock, &dial, &stop))
}

fn observe(
    sock: &PacketSocket,
    dial: &Mutex<crate::analysis::dial::DialAttempts>,
    stop: &Shutdown,
) {
    use crate::wire::ether::EtherFrame;
    let padi = metrics::counter!("radcare_pppoe_padi_total");
    let auth = metrics::counter!("radcare_pppoe_auth_requests_total");
    let failures = metrics::counter!("radcare_pppoe_auth_failures_total");
    let redialing = metrics::gauge!("radcare_pppoe_redialing_subscribers");
    let subscribers = metrics::gauge!("radcare_pppoe_subscribers");
    let shed = metrics::counter!("radcare_pppoe_subscribers_shed_total");
    let mut buf = Vec::with_capacity(65536);
    let mut last_export = Instant::now();
    while !stop.is_cancelled() {
        let got = match sock.recv(&mut buf) {
            Ok(got) => got.is_some(),
            Err(e) => {
                tracing::warn!(interface = sock.name(), error = %e, "pppoe receive failed");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let now = crate::garden::now_ms();
        let at = Duration::from_millis(u64::try_from(now).unwrap_or(0));
        let mut d = dial.lock().unwrap_or_else(|p| p.into_inner());
        if got && let Ok(eth) = EtherFrame::parse(&buf) {
            let _ = d.observe(at, &eth, &buf[eth.payload_offset..]);
        }
        if last_export.elapsed() >= Duration::from_secs(1) {
            last_export = Instant::now();
            d.forget_before(at.saturating_sub(DIAL_MEMORY));
            d.make_room(at);
            let t = d.totals();
            shed.absolute(t.subscribers_shed);
            padi.absolute(t.padi);
            auth.absolute(t.auth_requests);
            failures.absolute(t.failures);
            subscribers.set(d.subscriber_count() as f64);
            redialing.set(d.redialing(REDIAL_PER_MINUTE) as f64);
        }
    }
}
