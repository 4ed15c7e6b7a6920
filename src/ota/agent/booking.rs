//! The terminal's side of upgrade planning (S5): it checks in with its location, keeps
//! the node and time it was given in its state directory (`booking.json`, so a
//! restarted agent keeps its timer), waits for that time, and then checks in again
//! (a re-planned booking is learnt here), gets the version confirmed and downloads
//! from its node.
//!
//! [`next`] decides without IO what the agent does at a given time.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::state::write_atomic;

/// Where and when this terminal downloads, as radcare answered its check-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    pub deployment: i64,
    pub node: String,
    /// The node's base URL: artifacts are `<url>/<sha256>`.
    pub url: String,
    /// Unix ms: not before.
    pub at_ms: i64,
}

/// radcare's answer to a check-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Booked(Booking),
    /// No room left in the plan: check in again then.
    AskAgainAt(i64),
    /// The deployment is not planned: take it when the poll offers it.
    Unplanned,
}

pub fn parse_answer(body: &[u8]) -> Option<Answer> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if let Some(t) = v["ask_again_at_ms"].as_i64() {
        return Some(Answer::AskAgainAt(t));
    }
    let deployment = v["deployment"].as_i64()?;
    match (v["node"].as_str(), v["url"].as_str(), v["at_ms"].as_i64()) {
        (Some(node), Some(url), Some(at_ms)) => Some(Answer::Booked(Booking {
            deployment,
            node: node.into(),
            url: url.trim_end_matches('/').into(),
            at_ms,
        })),
        _ => Some(Answer::Unplanned),
    }
}

/// What the agent does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Check in (nothing booked, or the booked time has come: confirm it).
    CheckIn,
    /// Wait until this time (Unix ms); no need to ask anything before.
    WaitUntil(i64),
}

/// From the booking held (if any) and a time radcare said to ask again (if any).
pub fn next(booking: Option<&Booking>, ask_again_ms: Option<i64>, now_ms: i64) -> Next {
    let until = booking.map(|b| b.at_ms).or(ask_again_ms);
    match until {
        Some(t) if t > now_ms => Next::WaitUntil(t),
        _ => Next::CheckIn,
    }
}

fn path(dir: &Path) -> PathBuf {
    dir.join("booking.json")
}

/// The booking kept on disk, if any (an unreadable one is as none: check in again).
pub fn load(dir: &Path) -> Option<Booking> {
    let bytes = std::fs::read(path(dir)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub fn save(dir: &Path, b: &Booking) -> std::io::Result<()> {
    let text = serde_json::to_vec(b).map_err(std::io::Error::other)?;
    write_atomic(&path(dir), &text)
}

pub fn clear(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path(dir)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn booking(at_ms: i64) -> Booking {
        Booking {
            deployment: 7,
            node: "bj-1".into(),
            url: "http://10.0.0.1:8080/a".into(),
            at_ms,
        }
    }

    #[test]
    fn answers_parse() {
        let b = br#"{"deployment":7,"node":"bj-1","url":"http://10.0.0.1:8080/a/","at_ms":5000}"#;
        assert_eq!(parse_answer(b), Some(Answer::Booked(booking(5000))));
        assert_eq!(
            parse_answer(br#"{"ask_again_at_ms": 9000}"#),
            Some(Answer::AskAgainAt(9000))
        );
        assert_eq!(
            parse_answer(br#"{"deployment":7,"at_ms":1}"#),
            Some(Answer::Unplanned)
        );
        assert_eq!(parse_answer(b"{}"), None);
        assert_eq!(parse_answer(b"not json"), None);
    }

    #[test]
    fn the_timer_waits_for_the_booked_time_then_checks_in() {
        let b = booking(10_000);
        assert_eq!(next(Some(&b), None, 4_000), Next::WaitUntil(10_000));
        assert_eq!(next(Some(&b), None, 10_000), Next::CheckIn);
        assert_eq!(next(None, Some(6_000), 4_000), Next::WaitUntil(6_000));
        assert_eq!(next(None, Some(6_000), 7_000), Next::CheckIn);
        assert_eq!(next(None, None, 0), Next::CheckIn);
    }

    #[test]
    fn the_booking_survives_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()), None);
        save(dir.path(), &booking(10_000)).unwrap();
        assert_eq!(load(dir.path()), Some(booking(10_000)));
        clear(dir.path()).unwrap();
        clear(dir.path()).unwrap();
        assert_eq!(load(dir.path()), None);
    }
}
