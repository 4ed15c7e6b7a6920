//! Prefetch on the client proxy (S4's last sentence): while link B is up and no
//! application uses the relay, the client fetches configured paths from the server
//! application (HTTP over the relay itself, through its own A, so the bytes come over
//! link B from C) into a bounded cache; a local HTTP endpoint serves them, most
//! usefully while B is down.
//!
//! [`Cache`] is the pure part (what is kept, within the bound); [`Prefetch::run`] the
//! fetching loop and the endpoint.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hyper::Method;
use tokio::net::{TcpListener, TcpStream};

use crate::io::http_client::{self, Call};
use crate::part::Shutdown;

/// A cached answer.
#[derive(Debug, Clone)]
pub struct Cached {
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub fetched: Instant,
}

/// Whether [`Cache::store`] kept an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Kept,
    /// Over the bound with what is kept already: the earlier paths keep their place.
    NoRoom,
}

/// The cached answers by path, at most `limit` body octets in all.
#[derive(Debug)]
pub struct Cache {
    entries: HashMap<String, Cached>,
    bytes: usize,
    limit: usize,
}

impl Cache {
    pub fn new(limit: usize) -> Cache {
        Cache {
            entries: HashMap::new(),
            bytes: 0,
            limit,
        }
    }

    /// Keeps a fresh answer for `path` in place of the older one, if the bound allows.
    pub fn store(&mut self, path: &str, answer: Cached) -> Stored {
        let old = self.entries.get(path).map_or(0, |c| c.body.len());
        if self.bytes - old + answer.body.len() > self.limit {
            return Stored::NoRoom;
        }
        self.bytes = self.bytes - old + answer.body.len();
        self.entries.insert(path.to_owned(), answer);
        Stored::Kept
    }

    pub fn get(&self, path: &str) -> Option<&Cached> {
        self.entries.get(path)
    }

    /// Body octets held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// What the client proxy prefetches, and where it serves it.
pub struct Prefetch {
    /// Paths (with their query) on the server application, e.g. `/tiles/12/2048/1361`.
    pub paths: Vec<String>,
    /// A path on the server application whose answer lists more paths, one a line:
    /// what the server proposes (fetched first on every round, after `paths` in
    /// priority).
    pub list: Option<String>,
    /// The local HTTP endpoint that serves the cache.
    pub listener: TcpListener,
    pub limit: usize,
    /// How often the paths are fetched again (when the relay is idle).
    pub every: Duration,
}

/// The largest single answer fetched; larger ones could never fit a sensible cache.
const MAX_ANSWER: usize = 64 << 20;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait before trying again while B is down or the relay is busy.
const RETRY: Duration = Duration::from_secs(1);

impl Prefetch {
    /// Fetches through the relay's own A (`a`) whenever `active` (the application
    /// sessions) is zero and the server proxy at `server` answers, and serves the cache.
    pub async fn run(
        self,
        a: SocketAddr,
        server: SocketAddr,
        active: Arc<AtomicUsize>,
        shutdown: Shutdown,
    ) {
        let cache = Arc::new(Mutex::new(Cache::new(self.limit)));
        let app = Router::new().fallback(serve).with_state(cache.clone());
        let stop = shutdown.clone();
        let endpoint = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await });
        let a = if a.ip().is_unspecified() {
            SocketAddr::from((Ipv4Addr::LOCALHOST, a.port()))
        } else {
            a
        };
        let fetching = async {
            loop {
                let wait = if active.load(Ordering::Relaxed) == 0 && link_answers(server).await {
                    let mut paths = self.paths.clone();
                    if let Some(list) = &self.list {
                        paths.extend(proposed(list, a).await);
                    }
                    fetch_all(&paths, a, &cache).await;
                    self.every
                } else {
                    RETRY
                };
                tokio::time::sleep(wait).await;
            }
        };
        tokio::select! {
            r = endpoint => if let Err(e) = r {
                tracing::warn!(error = %e, "relay: prefetch endpoint failed");
            },
            () = fetching => {}
            () = shutdown.cancelled() => {}
        }
    }
}

/// Whether link B can be reached now (a TCP connection to the server proxy opens).
async fn link_answers(server: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(server)).await,
        Ok(Ok(_))
    )
}

/// The most paths a server's list may propose.
const MAX_PROPOSED: usize = 10_000;

/// The paths the server's list at `list` proposes: lines starting with `/`, others
/// ignored; none if it cannot be fetched.
async fn proposed(list: &str, a: SocketAddr) -> Vec<String> {
    let url = format!("http://{a}{list}");
    let call = Call {
        method: Method::GET,
        url: &url,
        headers: &[],
        body: None,
        timeout: FETCH_TIMEOUT,
    };
    match http_client::call(call, 1 << 20).await {
        Ok((200, body)) => parse_list(&String::from_utf8_lossy(&body)),
        Ok((status, _)) => {
            tracing::debug!(list, status, "relay: no prefetch list");
            Vec::new()
        }
        Err(e) => {
            tracing::debug!(list, error = %e, "relay: prefetch list failed");
            Vec::new()
        }
    }
}

fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with('/') && !l.contains(char::is_whitespace))
        .take(MAX_PROPOSED)
        .map(str::to_owned)
        .collect()
}

async fn fetch_all(paths: &[String], a: SocketAddr, cache: &Mutex<Cache>) {
    for path in paths {
        let url = format!("http://{a}{path}");
        let call = Call {
            method: Method::GET,
            url: &url,
            headers: &[],
            body: None,
            timeout: FETCH_TIMEOUT,
        };
        let answer = match http_client::send(call).await {
            Ok(resp) if resp.status().is_success() => {
                let content_type = resp
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                read_body(resp.into_body())
                    .await
                    .map(|body| (content_type, body))
            }
            Ok(resp) => {
                tracing::debug!(
                    path,
                    status = resp.status().as_u16(),
                    "relay: prefetch not kept"
                );
                continue;
            }
            Err(e) => Err(e),
        };
        match answer {
            Ok((content_type, body)) => {
                let len = body.len();
                let cached = Cached {
                    content_type,
                    body,
                    fetched: Instant::now(),
                };
                let stored = cache.lock().expect("cache lock").store(path, cached);
                match stored {
                    Stored::Kept => tracing::debug!(path, len, "relay: prefetched"),
                    Stored::NoRoom => {
                        tracing::warn!(path, len, "relay: prefetch cache full, not kept")
                    }
                }
            }
            Err(e) => tracing::debug!(path, error = %e, "relay: prefetch failed"),
        }
    }
}

async fn read_body(mut body: hyper::body::Incoming) -> Result<Vec<u8>, http_client::HttpError> {
    let mut out = Vec::new();
    while let Some(frame) = http_client::next_frame(&mut body, FETCH_TIMEOUT).await? {
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > MAX_ANSWER {
                return Err(http_client::HttpError::TooLarge(MAX_ANSWER));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// A cached answer by its path, with its age; 404 for a path not prefetched.
async fn serve(State(cache): State<Arc<Mutex<Cache>>>, method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let cache = cache.lock().expect("cache lock");
    let Some(c) = cache.get(path) else {
        return (StatusCode::NOT_FOUND, "not prefetched\n").into_response();
    };
    let mut resp = c.body.clone().into_response();
    let headers = resp.headers_mut();
    if let Some(ct) = c
        .content_type
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    headers.insert(
        header::AGE,
        HeaderValue::from(c.fetched.elapsed().as_secs()),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(len: usize) -> Cached {
        Cached {
            content_type: None,
            body: vec![7; len],
            fetched: Instant::now(),
        }
    }

    #[test]
    fn a_proposed_list_keeps_paths_only() {
        let list = "/tiles/1.png\n\n# near the user\n  /tiles/2.png  \nhttp://elsewhere/x\n/a b\n";
        assert_eq!(parse_list(list), ["/tiles/1.png", "/tiles/2.png"]);
    }

    #[test]
    fn the_cache_keeps_to_its_bound_first_paths_first() {
        let mut c = Cache::new(100);
        assert_eq!(c.store("/a", answer(60)), Stored::Kept);
        assert_eq!(c.store("/b", answer(50)), Stored::NoRoom);
        assert_eq!(c.store("/c", answer(40)), Stored::Kept);
        assert_eq!(c.bytes(), 100);
        assert!(c.get("/b").is_none());
        // A fresh answer replaces the old one within the bound.
        assert_eq!(c.store("/a", answer(10)), Stored::Kept);
        assert_eq!(c.bytes(), 50);
        assert_eq!(c.get("/a").unwrap().body.len(), 10);
        assert_eq!(c.store("/a", answer(61)), Stored::NoRoom);
        assert_eq!(c.get("/a").unwrap().body.len(), 10);
    }
}
