//! The bridge driver: two AF_PACKET interfaces through pnet's datalink channels, one OS
//! thread per direction (blocking receive), both feeding the one sans-IO `Bridge` core.
//! The socket is opened here with PACKET_IGNORE_OUTGOING before pnet takes it over: on
//! Linux an AF_PACKET socket also sees the frames it sends, which a bridge would
//! otherwise send straight back.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pnet_datalink::{Channel, DataLinkReceiver, DataLinkSender, NetworkInterface};
use tokio::sync::mpsc;

use crate::bridge::{Bridge, Outcome, Side};
use crate::config::BridgeConfig;
use crate::engine::Event;

/// One interface's channel halves.
pub struct Port {
    name: String,
    tx: Box<dyn DataLinkSender>,
    rx: Box<dyn DataLinkReceiver>,
}

/// Both interfaces, opened (so errors surface before anything runs).
pub struct BridgePorts {
    nas: Port,
    aaa: Port,
}

fn packet_socket() -> io::Result<i32> {
    // SAFETY: plain socket(2)/setsockopt(2) calls with valid arguments; the fd is
    // handed to pnet, which owns and closes it.
    unsafe {
        let fd = libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            i32::from((libc::ETH_P_ALL as u16).to_be()),
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let one: libc::c_int = 1;
        let r = libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        if r < 0 {
            let e = io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        Ok(fd)
    }
}

fn open_port(name: &str) -> io::Result<Port> {
    let iface: NetworkInterface = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no interface `{name}`")))?;
    let config = pnet_datalink::Config {
        read_timeout: Some(Duration::from_millis(200)),
        promiscuous: true,
        socket_fd: Some(packet_socket().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open a packet socket for `{name}` (needs CAP_NET_RAW): {e}"),
            )
        })?),
        ..Default::default()
    };
    match pnet_datalink::channel(&iface, config) {
        Ok(Channel::Ethernet(tx, rx)) => Ok(Port {
            name: name.to_string(),
            tx,
            rx,
        }),
        Ok(_) => Err(io::Error::other(format!(
            "`{name}` is not an Ethernet interface"
        ))),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot open `{name}`: {e}"),
        )),
    }
}

impl BridgePorts {
    pub fn open(cfg: &BridgeConfig) -> io::Result<BridgePorts> {
        Ok(BridgePorts {
            nas: open_port(&cfg.nas_side)?,
            aaa: open_port(&cfg.aaa_side)?,
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
    let to_aaa = (
        nas.rx,
        aaa.tx,
        Side::Nas,
        nas.name.clone(),
        aaa.name.clone(),
    );
    let to_nas = (aaa.rx, nas.tx, Side::Aaa, aaa.name, nas.name);
    let mut threads = Vec::new();
    for (rx, tx, side, from, to) in [to_aaa, to_nas] {
        let (core, events, stop) = (core.clone(), events.clone(), stop.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("bridge-{from}"))
                .spawn(move || forward(rx, tx, side, &from, &to, &core, &events, &stop))?,
        );
    }
    Ok(threads)
}

#[allow(clippy::too_many_arguments)]
fn forward(
    mut rx: Box<dyn DataLinkReceiver>,
    mut tx: Box<dyn DataLinkSender>,
    side: Side,
    from: &str,
    to: &str,
    core: &Mutex<Bridge>,
    events: &mpsc::Sender<Event>,
    stop: &AtomicBool,
) {
    let frames = metrics::counter!("radcare_bridge_frames_total", "from" => from.to_string());
    let rewritten = metrics::counter!("radcare_bridge_rewrites_total");
    let opaque =
        metrics::counter!("radcare_bridge_opaque_frames_total", "from" => from.to_string());
    let send_errors = metrics::counter!("radcare_bridge_send_errors_total", "to" => to.to_string());
    let mut buf = Vec::with_capacity(65536);
    while !stop.load(Ordering::Relaxed) {
        let frame = match rx.next() {
            Ok(f) => f,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                continue;
            }
            Err(e) => {
                tracing::warn!(interface = from, error = %e, "bridge receive failed");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        buf.clear();
        buf.extend_from_slice(frame);
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
        match tx.send_to(&buf, None) {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                send_errors.increment(1);
                tracing::debug!(interface = to, error = %e, "bridge send failed");
            }
            None => send_errors.increment(1),
        }
    }
}
