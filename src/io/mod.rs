//! The only code that touches sockets and clocks. `udp` drives the sans-IO engine on
//! packet threads; events leave it on the event bus, so that the packet path never
//! waits for a database. `http` serves a router on a listener.

pub mod batch;
pub mod bridge;
pub mod http;
pub mod http_client;
pub mod packet_socket;
pub mod udp;

pub use udp::{ProxyDriver, ProxySockets, Reload};
