//! What the agent keeps in its state directory, so that a restart loses nothing:
//! the installed versions (`installed.json`), the result reports not yet delivered
//! (`reports/<action>.json`), and partial downloads with their ETag
//! (`partial/<sha256>`, `partial/<sha256>.etag`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone)]
pub struct State {
    dir: PathBuf,
}

/// A result report waiting for a 2xx: where it goes and what it says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub url: String,
    pub body: serde_json::Value,
}

impl State {
    pub fn open(dir: &Path) -> std::io::Result<State> {
        for sub in ["reports", "partial"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        Ok(State {
            dir: dir.to_path_buf(),
        })
    }

    pub fn installed(&self) -> std::io::Result<BTreeMap<String, String>> {
        match std::fs::read(self.dir.join("installed.json")) {
            Ok(b) => serde_json::from_slice(&b).map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(e),
        }
    }

    pub fn set_installed(&self, name: &str, version: &str) -> std::io::Result<()> {
        let mut all = self.installed()?;
        all.insert(name.into(), version.into());
        let text = serde_json::to_vec_pretty(&all).map_err(std::io::Error::other)?;
        write_atomic(&self.dir.join("installed.json"), &text)
    }

    fn report_path(&self, action: &str) -> PathBuf {
        // Action ids are the server's numbers; anything else is kept to a safe name.
        let safe: String = action
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(40)
            .collect();
        self.dir.join("reports").join(format!("{safe}.json"))
    }

    pub fn save_report(&self, action: &str, report: &Report) -> std::io::Result<()> {
        let text = serde_json::to_vec(report).map_err(std::io::Error::other)?;
        write_atomic(&self.report_path(action), &text)
    }

    pub fn has_report(&self, action: &str) -> bool {
        self.report_path(action).exists()
    }

    /// The reports not yet delivered, with the file each is in.
    pub fn reports(&self) -> std::io::Result<Vec<(PathBuf, Report)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.dir.join("reports"))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                match std::fs::read(&path)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                {
                    Some(r) => out.push((path, r)),
                    None => tracing::warn!(path = %path.display(), "unreadable report, skipped"),
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    pub fn partial(&self, sha256: &str) -> PathBuf {
        self.dir.join("partial").join(sha256)
    }

    pub fn etag(&self, sha256: &str) -> Option<String> {
        std::fs::read_to_string(self.partial(sha256).with_extension("etag")).ok()
    }

    pub fn set_etag(&self, sha256: &str, etag: &str) -> std::io::Result<()> {
        std::fs::write(self.partial(sha256).with_extension("etag"), etag)
    }

    /// Forgets a download (done, or corrupt: the next one starts from zero).
    pub fn drop_partial(&self, sha256: &str) {
        let p = self.partial(sha256);
        let _ = std::fs::remove_file(p.with_extension("etag"));
        let _ = std::fs::remove_file(p);
    }
}

/// Writes a file so that a crash leaves the old one or the new one, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_versions_and_reports_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let s = State::open(dir.path()).unwrap();
        assert!(s.installed().unwrap().is_empty());
        s.set_installed("fw", "1.0.0").unwrap();
        s.set_installed("fw", "2.0.0").unwrap();
        let r = Report {
            url: "http://s/f".into(),
            body: serde_json::json!({"id": "7"}),
        };
        s.save_report("7", &r).unwrap();
        let s = State::open(dir.path()).unwrap();
        assert_eq!(s.installed().unwrap()["fw"], "2.0.0");
        assert!(s.has_report("7") && !s.has_report("8"));
        assert_eq!(s.reports().unwrap()[0].1, r);
        assert!(
            s.report_path("../x")
                .starts_with(dir.path().join("reports"))
        );
    }
}
