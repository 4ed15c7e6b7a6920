//! The only code that touches sockets and clocks. `udp` drives the sans-IO engine with
//! tokio UDP sockets; events leave it over a bounded channel so that the packet path
//! never waits for a database.

pub mod batch;
pub mod bridge;
pub mod packet_socket;
pub mod udp;

pub use udp::{ProxyDriver, ProxySockets, Reload};
