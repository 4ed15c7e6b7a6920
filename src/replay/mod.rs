//! The benchmark kit: `radcare replay` (a load generator an operator can use instead of
//! radclient), `radcare aaa-sim` (a fast AAA responder), `radcare udp-forward` (the
//! trivial forward every proxy is measured against) and `radcare storm` (routers that
//! redial after a failure).
//!
//! None of this is on the proxy's path. These tools have their own sockets because they
//! must not be the bottleneck of what they measure: one thread each, non-blocking
//! sockets, `recvmmsg` / `sendmmsg` in batches, buffers allocated once.
//!
//! - `input`: radclient's input format -> requests.
//! - `template`: requests pre-encoded once; per packet only the id, authenticator and
//!   crypto; reply verification.
//! - `generator`: the closed / open loop, matching replies by (socket, id).
//! - `histogram`, `report`: latency percentiles, the table and the `key=value` line.
//! - `sim`, `forward`, `storm`: the other tools.
//! - `batch`: the batched socket calls, epoll and the stop signal (all the unsafe code).

pub mod forward;
pub mod generator;
pub mod histogram;
pub mod input;
pub mod report;
pub mod sim;
pub mod storm;
pub mod template;

pub use generator::{Mode, Options, Progress, Stats};
pub use template::{Keys, MaPolicy, Template};

use crate::dict::Dictionary;
use crate::wire::Code;

/// Why an input cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Input(#[from] input::InputError),
    #[error(transparent)]
    Template(#[from] template::TemplateError),
}

/// Reads a radclient-format input into templates ready to send.
pub fn load_templates(
    text: &str,
    dict: &Dictionary,
    default_code: Code,
    ma: MaPolicy,
) -> Result<Vec<Template>, LoadError> {
    let requests = input::parse(text, dict)?;
    let mut out = Vec::with_capacity(requests.len());
    for r in &requests {
        out.push(Template::encode(r, default_code, ma)?);
    }
    Ok(out)
}
