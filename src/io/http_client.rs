//! The one small HTTP/1.1 client radcare uses as a client (the upgrade agent towards
//! the device API, the notices towards the SMS/WAP gateway): one connection per
//! request over a tokio TcpStream, plain http, a deadline on every step. Errors name
//! the host and port only, never the path: a gateway's path carries its password.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HOST, HeaderName};
use hyper::{Method, Request, Response, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("not an http://host[:port]/path URL")]
    BadUrl,
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("no answer from {0} in time")]
    Timeout(String),
    #[error("{0}")]
    Protocol(#[from] hyper::Error),
    #[error("an answer larger than {0} octets")]
    TooLarge(usize),
}

impl HttpError {
    /// The server could not be reached at all, rather than failing mid-way.
    pub fn is_connect(&self) -> bool {
        matches!(self, HttpError::Connect(..) | HttpError::BadUrl)
    }
}

/// A request: its method, URL, extra headers and body (content type and octets).
pub struct Call<'a> {
    pub method: Method,
    pub url: &'a str,
    pub headers: &'a [(HeaderName, String)],
    pub body: Option<(&'a str, Vec<u8>)>,
    /// For the connection, the answer's head, and each piece of its body.
    pub timeout: Duration,
}

/// Sends a request; the answer's body is left to read (see [`next_frame`]).
pub async fn send(c: Call<'_>) -> Result<Response<Incoming>, HttpError> {
    let uri: Uri = c.url.parse().map_err(|_| HttpError::BadUrl)?;
    if uri.scheme_str() != Some("http") {
        return Err(HttpError::BadUrl);
    }
    let host = uri.host().ok_or(HttpError::BadUrl)?;
    let port = uri.port_u16().unwrap_or(80);
    let authority = format!("{host}:{port}");
    let stream = tokio::time::timeout(c.timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| HttpError::Timeout(authority.clone()))?
        .map_err(|e| HttpError::Connect(authority.clone(), e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection is driven beside the request and ends with it.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut req = Request::builder()
        .method(c.method)
        .uri(path)
        .header(HOST, &authority);
    for (k, v) in c.headers {
        req = req.header(k, v);
    }
    let body = match c.body {
        Some((content_type, octets)) => {
            req = req.header(CONTENT_TYPE, content_type);
            Full::new(Bytes::from(octets))
        }
        None => Full::new(Bytes::new()),
    };
    let req = req.body(body).map_err(|_| HttpError::BadUrl)?;
    tokio::time::timeout(c.timeout, sender.send_request(req))
        .await
        .map_err(|_| HttpError::Timeout(authority))?
        .map_err(HttpError::from)
}

/// Sends a request and reads its whole answer, at most `max` octets: status and body.
pub async fn call(c: Call<'_>, max: usize) -> Result<(u16, Vec<u8>), HttpError> {
    let timeout = c.timeout;
    let resp = send(c).await?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(frame) = next_frame(&mut body, timeout).await? {
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > max {
                return Err(HttpError::TooLarge(max));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok((status, out))
}

/// The next piece of a body, within `timeout`.
pub async fn next_frame(
    body: &mut Incoming,
    timeout: Duration,
) -> Result<Option<hyper::body::Frame<Bytes>>, HttpError> {
    match tokio::time::timeout(timeout, body.frame()).await {
        Err(_) => Err(HttpError::Timeout("the server".into())),
        Ok(None) => Ok(None),
        Ok(Some(f)) => Ok(Some(f?)),
    }
}
