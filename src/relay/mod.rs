//! The resumable relay (S4): a client proxy and a server proxy keep an application's
//! TCP connection (A on the client side, C on the server side) open while the link
//! between them (B) drops and comes back. `proto` is the frames, `session` the sans-IO
//! state machine; `tcp` drives sessions over tokio sockets; `prefetch` fills and serves
//! the client's cache while the link is idle. See docs/relay.md.

pub mod prefetch;
pub mod proto;
pub mod session;
pub mod tcp;
pub mod tls;

#[cfg(test)]
mod tests;
