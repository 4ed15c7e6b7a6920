//! The agent's requests to the device API: the shared HTTP client
//! (`io::http_client`) with the device token and the agent's name on every request.
//! Plain http (a TLS stack is not in a CPE's budget yet; the manifest signature is
//! what makes the software trustworthy).

use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, HeaderName, USER_AGENT};
use hyper::{Method, Response};

pub use crate::io::http_client::HttpError;
use crate::io::http_client::{self, Call};

/// Longest wait for a connection, an answer's head, or the next piece of a body.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// Largest JSON answer read (poll, deploymentBase, check).
const MAX_JSON: usize = 1 << 20;

#[derive(Debug, Clone)]
pub struct Client {
    authorization: String,
}

impl Client {
    pub fn new(token: &str) -> Client {
        Client {
            authorization: format!("TargetToken {token}"),
        }
    }

    fn headers(&self, extra: &[(HeaderName, String)]) -> Vec<(HeaderName, String)> {
        let mut h = vec![
            (AUTHORIZATION, self.authorization.clone()),
            (
                USER_AGENT,
                concat!("radcare-agent/", env!("CARGO_PKG_VERSION")).to_string(),
            ),
        ];
        h.extend_from_slice(extra);
        h
    }

    /// Sends a request; the answer's body is left to read.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(HeaderName, String)],
        json: Option<&serde_json::Value>,
    ) -> Result<Response<Incoming>, HttpError> {
        http_client::send(Call {
            method,
            url,
            headers: &self.headers(headers),
            body: json.map(|v| ("application/json", v.to_string().into_bytes())),
            timeout: TIMEOUT,
        })
        .await
    }

    /// A GET the server may hold up to `hold` before answering (the IP push channel).
    pub async fn call_held(&self, url: &str, hold: Duration) -> Result<(u16, Vec<u8>), HttpError> {
        let call = Call {
            method: Method::GET,
            url,
            headers: &self.headers(&[]),
            body: None,
            timeout: hold + TIMEOUT,
        };
        http_client::call(call, MAX_JSON).await
    }

    /// Sends a request and reads its whole (small) answer: status and body.
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<(u16, Vec<u8>), HttpError> {
        let call = Call {
            method,
            url,
            headers: &self.headers(&[]),
            body: json.map(|v| ("application/json", v.to_string().into_bytes())),
            timeout: TIMEOUT,
        };
        http_client::call(call, MAX_JSON).await
    }
}

/// The next piece of a body, within [`TIMEOUT`].
pub async fn next_frame(
    body: &mut Incoming,
) -> Result<Option<hyper::body::Frame<hyper::body::Bytes>>, HttpError> {
    http_client::next_frame(body, TIMEOUT).await
}
