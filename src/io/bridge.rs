//! The bridge driver: two AF_PACKET interfaces (`packet_socket`), one OS thread per
//! direction (blocking receive with a timeout), both feeding the one sans-IO `Bridge`
//! core behind a mutex held for one frame's work.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::packet_socket::PacketSocket;
use crate::bridge::{Bridge, Outcome, Side};
use crate::config::BridgeConfig;
use crate::engine::Event;

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
        Ok(BridgePorts {
            nas: Arc::new(open(&cfg.nas_side)?),
            aaa: Arc::new(open(&cfg.aaa_side)?),
        })
    }
}

/// Starts both directions; they stop within a read timeout after `stop` is set.
pub fn spawn(
    ports: BridgePorts,
    core: Arc<Mutex<Bridge>>,
    events: mpsc::Sender<Event>,
    stop: Arc<AtomicBool>,
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
    events: &mpsc::Sender<Event>,
    stop: &AtomicBool,
) {
    let (from, to) = (rx.name(), tx.name());
    let frames = metrics::counter!("radcare_bridge_frames_total", "from" => from.to_string());
    let rewritten = metrics::counter!("radcare_bridge_rewrites_total");
    let opaque =
        metrics::counter!("radcare_bridge_opaque_frames_total", "from" => from.to_string());
    let send_errors = metrics::counter!("radcare_bridge_send_errors_total", "to" => to.to_string());
    let mut buf = Vec::with_capacity(65536);
    while !stop.load(Ordering::Relaxed) {
        match rx.recv(&mut buf) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(interface = from, error = %e, "bridge receive failed");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        }
        frames.increment(1);
        {
            // A std mutex: held for one frame's work, never across a blocking call.
            let mut core = core.lock().unwrap_or_else(|p| p.into_inner());
            match core.handle_frame(Instant::now(), side, &mut buf) {
                Outcome::Rewritten => rewritten.increment(1),
                Outcome::Opaque => opaque.increment(1),
                Outcome::Unchanged | Outcome::RejectPassed => {}
            }
            while let Some(ev) = core.poll_event() {
                if matches!(ev, Event::GardenEntered(_) | Event::GardenAccounting(_))
                    && events.try_send(ev).is_err()
                {
                    metrics::counter!("radcare_events_lost_total").increment(1);
                }
            }
        }
        if let Err(e) = tx.send(&buf) {
            send_errors.increment(1);
            tracing::debug!(interface = to, error = %e, "bridge send failed");
        }
    }
}
