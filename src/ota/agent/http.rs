//! A small HTTP/1.1 client: one connection per request over a tokio TcpStream, the
//! device token on every request. Plain http (a TLS stack is not in a CPE's budget
//! yet; the manifest signature is what makes the software trustworthy).

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderName, USER_AGENT};
use hyper::{Method, Request, Response, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Longest wait for a connection, an answer's head, or the next piece of a body.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// Largest JSON answer read (poll, deploymentBase, check).
const MAX_JSON: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("`{0}` is not an http:// URL")]
    BadUrl(String),
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("no answer from {0} within {TIMEOUT:?}")]
    Timeout(String),
    #[error("{0}")]
    Protocol(#[from] hyper::Error),
    #[error("an answer of more than {MAX_JSON} octets")]
    TooLarge,
}

impl HttpError {
    /// The server could not be reached at all (TR-069 9015), rather than failing mid-way.
    pub fn is_connect(&self) -> bool {
        matches!(self, HttpError::Connect(..) | HttpError::BadUrl(_))
    }
}

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

    /// Sends a request; the answer's body is left to read.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(HeaderName, String)],
        json: Option<&serde_json::Value>,
    ) -> Result<Response<Incoming>, HttpError> {
        let uri: Uri = url.parse().map_err(|_| HttpError::BadUrl(url.into()))?;
        if uri.scheme_str() != Some("http") {
            return Err(HttpError::BadUrl(url.into()));
        }
        let host = uri.host().ok_or_else(|| HttpError::BadUrl(url.into()))?;
        let port = uri.port_u16().unwrap_or(80);
        let authority = format!("{host}:{port}");
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect((host, port)))
            .await
            .map_err(|_| HttpError::Timeout(authority.clone()))?
            .map_err(|e| HttpError::Connect(authority.clone(), e))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // The connection is driven beside the request and ends with it.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &authority)
            .header(AUTHORIZATION, &self.authorization)
            .header(
                USER_AGENT,
                concat!("radcare-agent/", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let body = match json {
            Some(v) => {
                req = req.header(CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(v.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let req = req.body(body).map_err(|_| HttpError::BadUrl(url.into()))?;
        tokio::time::timeout(TIMEOUT, sender.send_request(req))
            .await
            .map_err(|_| HttpError::Timeout(authority))?
            .map_err(HttpError::from)
    }

    /// Sends a request and reads its whole (small) answer: status and body.
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<(u16, Vec<u8>), HttpError> {
        let resp = self.send(method, url, &[], json).await?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut out = Vec::new();
        while let Some(frame) = next_frame(&mut body, url).await? {
            if let Ok(data) = frame.into_data() {
                if out.len() + data.len() > MAX_JSON {
                    return Err(HttpError::TooLarge);
                }
                out.extend_from_slice(&data);
            }
        }
        Ok((status, out))
    }
}

/// The next piece of a body, within [`TIMEOUT`].
pub async fn next_frame(
    body: &mut Incoming,
    url: &str,
) -> Result<Option<hyper::body::Frame<Bytes>>, HttpError> {
    match tokio::time::timeout(TIMEOUT, body.frame()).await {
        Err(_) => Err(HttpError::Timeout(url.into())),
        Ok(None) => Ok(None),
        Ok(Some(f)) => Ok(Some(f?)),
    }
}
