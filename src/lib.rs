//! radcare: an inline RADIUS middlebox that turns a silent dial failure into an
//! explained, fixable one.
//!
//! Module map (imports only point down):
//! - `config`: the typed configuration tree, validated before any socket is bound.
//! - `bridge`: the layer-2 bump-in-the-wire mode (sans-IO; `io::bridge` drives it).
//! - `server`: loads and checks everything, binds every socket, runs and stops the parts.
//! - `io`: the only code touching sockets and clocks: the UDP driver around `engine`.
//! - `demo`: a small built-in AAA server with sample subscribers (`serve --demo`).
//! - `portal`: the captive portal (axum + askama): the page that explains a refused
//!   dial-up login, OS probe answers, RFC 8908 API, and the RFC 5176 reconnect.
//! - `console`: the operators' console on the admin listener (login, sessions, CSRF,
//!   server-rendered pages with SVG charts, the audit trail).
//! - `relay`: the resumable relay (S4): frames, the sans-IO session that survives link
//!   drops, and its tokio driver (`radcare relay client|server`).
//! - `replay`: the benchmark kit (load generator, AAA simulator, trivial UDP forward,
//!   redial storm), with its own batched sockets; not on the proxy's path.
//! - `garden`: walled-garden subscriber state, in memory and written behind to `store`.
//! - `store`: SQLite / PostgreSQL persistence.
//! - `telemetry`: the Prometheus recorder, every metric's HELP text, build and process
//!   metrics.
//! - `engine`: the sans-IO proxy core (verify, de-duplicate, forward, classify, rewrite).
//! - `policy`: the cause table and walled-garden profiles.
//! - `dict`: the FreeRADIUS-format dictionary loader.
//! - `analysis`: sans-IO traffic analysis: RADIUS outcomes, causes and would-be
//!   rewrites, redials, and PPPoE dial attempts per subscriber (`radcare pcap`, the
//!   shadow mode; the bridge reuses the PPPoE counting).
//! - `capture`: pcap and pcapng readers (and a pcap writer), link-layer decoding.
//! - `wire`: zero-copy RADIUS packet views, builder and crypto.

pub mod admin;
pub mod analysis;
pub mod bridge;
pub mod capture;
pub mod config;
pub mod console;
pub mod demo;
pub mod dict;
pub mod engine;
pub mod events;
pub mod faults;
pub mod garden;
pub mod io;
pub mod ota;
pub mod part;
pub mod planner;
pub mod policy;
pub mod portal;
pub mod relay;
pub mod replay;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod wire;
