//! Artifact downloads with one byte range (resume) and an ETag (the SHA-256), as a
//! plain static server (nginx) would answer, so devices can resume from any of them.

use std::io::SeekFrom;
use std::path::Path;

use axum::body::Body;
use axum::http::header::{
    ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_NONE_MATCH, IF_RANGE,
    RANGE,
};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// A Range header that cannot be satisfied (or read): answered with 416.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

/// The byte range a request asks for, inclusive, within a file of `size` octets:
/// `None` for the whole file.
pub fn requested_range(
    headers: &HeaderMap,
    size: u64,
    etag: &str,
) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(range) = headers.get(RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    // If-Range with another validator: the file changed, send it whole.
    if let Some(v) = headers.get(IF_RANGE).and_then(|v| v.to_str().ok())
        && v != etag
    {
        return Ok(None);
    }
    let spec = range.strip_prefix("bytes=").ok_or(Unsatisfiable)?.trim();
    if spec.contains(',') {
        // Several ranges are legal but no device asks for them: send it whole.
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(Unsatisfiable)?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| Unsatisfiable)?;
            if n == 0 {
                return Err(Unsatisfiable);
            }
            (
                size.saturating_sub(n),
                size.checked_sub(1).ok_or(Unsatisfiable)?,
            )
        }
        (a, "") => (
            a.parse().map_err(|_| Unsatisfiable)?,
            size.checked_sub(1).ok_or(Unsatisfiable)?,
        ),
        (a, b) => {
            let (a, b): (u64, u64) = (
                a.parse().map_err(|_| Unsatisfiable)?,
                b.parse().map_err(|_| Unsatisfiable)?,
            );
            (a, b.min(size.saturating_sub(1)))
        }
    };
    if start >= size || start > end {
        return Err(Unsatisfiable);
    }
    Ok(Some((start, end)))
}

/// Octets read from the file per body chunk.
const DOWNLOAD_CHUNK: usize = 64 * 1024;

/// Serves `path` (of `size` octets, content-addressed by `sha256`).
pub async fn serve(path: &Path, size: u64, sha256: &str, headers: &HeaderMap) -> Response {
    let etag = format!("\"{sha256}\"");
    if headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return (StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response();
    }
    let range = match requested_range(headers, size, &etag) {
        Ok(r) => r,
        Err(Unsatisfiable) => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(CONTENT_RANGE, format!("bytes */{size}"))],
            )
                .into_response();
        }
    };
    let mut file = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "artifact missing from the state directory");
            return StatusCode::NOT_FOUND.into_response();
        }
    };
    let (status, start, len) = match range {
        Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        None => (StatusCode::OK, 0, size),
    };
    if start > 0 && file.seek(SeekFrom::Start(start)).await.is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    // Each read is a trip to tokio's blocking pool: the stream's default 4 KiB makes a
    // 64 MiB download 16,384 of them. 64 KiB is 1,024 trips, with memory per download
    // still small.
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        file.take(len),
        DOWNLOAD_CHUNK,
    ));
    let mut resp = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/octet-stream")
        .header(CONTENT_LENGTH, len)
        .header(ACCEPT_RANGES, "bytes")
        .header(ETAG, etag);
    if let Some((a, b)) = range {
        resp = resp.header(CONTENT_RANGE, format!("bytes {a}-{b}/{size}"));
    }
    resp.body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(v: &str, size: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
        let mut h = HeaderMap::new();
        h.insert(RANGE, v.parse().unwrap());
        requested_range(&h, size, "\"e\"")
    }

    #[test]
    fn ranges_as_rfc_9110_reads_them() {
        assert_eq!(range("bytes=0-99", 1000), Ok(Some((0, 99))));
        assert_eq!(range("bytes=500-", 1000), Ok(Some((500, 999))));
        assert_eq!(range("bytes=-100", 1000), Ok(Some((900, 999))));
        assert_eq!(range("bytes=900-5000", 1000), Ok(Some((900, 999))));
        assert_eq!(range("bytes=1000-", 1000), Err(Unsatisfiable));
        assert_eq!(range("bytes=5-2", 1000), Err(Unsatisfiable));
        assert_eq!(range("bytes=-0", 1000), Err(Unsatisfiable));
        assert_eq!(range("items=0-1", 1000), Err(Unsatisfiable));
        assert_eq!(range("bytes=0-1,5-6", 1000), Ok(None));
        let mut h = HeaderMap::new();
        h.insert(RANGE, "bytes=10-".parse().unwrap());
        h.insert(IF_RANGE, "\"other\"".parse().unwrap());
        assert_eq!(
            requested_range(&h, 1000, "\"e\""),
            Ok(None),
            "changed: whole"
        );
    }
}
