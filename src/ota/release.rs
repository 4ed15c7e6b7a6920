//! Publishing a release: each file stored content-addressed (by SHA-256) in the state
//! directory with its length, SHA-256, SHA-1 and MD5; a manifest (name, version,
//! models, artifacts, expiry) signed with the release key; versions ordered as semver,
//! a downgrade refused unless forced.

use std::io::Read;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::{OtaError, keys};
use crate::store::Store;
use crate::store::ota::{Release, ReleaseArtifact};

/// What devices verify against the pinned key before installing anything. Its JSON
/// text, exactly as signed, travels with the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub models: Vec<String>,
    pub artifacts: Vec<ManifestArtifact>,
    /// Unix seconds after which devices refuse it.
    pub expires: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestArtifact {
    pub filename: String,
    pub size: i64,
    pub sha256: String,
}

/// An operator's `radcare release publish`.
#[derive(Debug, Clone)]
pub struct Publish {
    pub name: String,
    pub version: String,
    pub models: Vec<String>,
    pub files: Vec<PathBuf>,
    /// How long the signed manifest stays valid.
    pub valid_for: std::time::Duration,
    /// Publish even if a newer version of the name exists.
    pub force: bool,
}

/// Where an artifact's bytes are: `state_dir/artifacts/<sha256>`.
pub fn artifact_path(state_dir: &Path, sha256: &str) -> PathBuf {
    state_dir.join("artifacts").join(sha256)
}

/// Hashes and stores the files, signs the manifest, and records the release; the
/// release is in the store (committed) when this returns.
pub async fn publish(
    store: &Store,
    state_dir: &Path,
    key: &SigningKey,
    p: &Publish,
) -> Result<Release, OtaError> {
    let version = semver::Version::parse(&p.version)
        .map_err(|e| OtaError::BadVersion(p.version.clone(), e.to_string()))?;
    if p.name.is_empty() || !p.name.chars().all(|c| c.is_ascii_graphic() && c != '/') {
        return Err(OtaError::BadName(p.name.clone()));
    }
    if p.models.is_empty() || p.files.is_empty() {
        return Err(OtaError::Incomplete);
    }
    let existing = store.ota_releases(&p.name).await?;
    if let Some(newest) = existing
        .iter()
        .filter_map(|r| semver::Version::parse(&r.version).ok())
        .max()
        && newest >= version
        && !p.force
    {
        return Err(OtaError::Downgrade {
            name: p.name.clone(),
            newest: newest.to_string(),
            version: version.to_string(),
        });
    }
    let mut artifacts = Vec::with_capacity(p.files.len());
    for f in &p.files {
        let filename = f
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| safe_filename(n))
            .ok_or_else(|| OtaError::BadFilename(f.display().to_string()))?
            .to_string();
        if artifacts
            .iter()
            .any(|a: &ReleaseArtifact| a.filename == filename)
        {
            return Err(OtaError::BadFilename(format!("{filename} (given twice)")));
        }
        artifacts.push(store_artifact(state_dir, f, filename)?);
    }
    let manifest = Manifest {
        name: p.name.clone(),
        version: version.to_string(),
        models: p.models.clone(),
        artifacts: artifacts
            .iter()
            .map(|a| ManifestArtifact {
                filename: a.filename.clone(),
                size: a.size,
                sha256: a.sha256.clone(),
            })
            .collect(),
        expires: super::now_ms() / 1000 + p.valid_for.as_secs() as i64,
    };
    let text = serde_json::to_string(&manifest).expect("a manifest serializes");
    let release = Release {
        name: manifest.name,
        version: manifest.version,
        models: p.models.join(","),
        signature: keys::sign(key, text.as_bytes()),
        manifest: text,
        created_at_ms: super::now_ms(),
        artifacts,
    };
    if !store.ota_add_release(&release).await? {
        return Err(OtaError::Exists(release.name, release.version));
    }
    Ok(release)
}

/// A file name a device may write: no path, nothing hidden, no control characters.
pub fn safe_filename(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
}

/// Copies `src` into the content-addressed store (atomically: a reader never sees a
/// half-written artifact) and returns its hashes.
fn store_artifact(
    state_dir: &Path,
    src: &Path,
    filename: String,
) -> Result<ReleaseArtifact, OtaError> {
    let dir = state_dir.join("artifacts");
    std::fs::create_dir_all(&dir).map_err(|e| OtaError::io(&dir, e))?;
    let mut input = std::fs::File::open(src).map_err(|e| OtaError::io(src, e))?;
    let tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| OtaError::io(&dir, e))?;
    let mut out = tmp.as_file();
    let (mut sha256, mut sha1, mut md5) = (sha2::Sha256::new(), sha1::Sha1::new(), {
        use md5::Digest;
        md5::Md5::new()
    });
    let mut size = 0i64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input.read(&mut buf).map_err(|e| OtaError::io(src, e))?;
        if n == 0 {
            break;
        }
        sha256.update(&buf[..n]);
        sha1::Digest::update(&mut sha1, &buf[..n]);
        md5::Digest::update(&mut md5, &buf[..n]);
        std::io::Write::write_all(&mut out, &buf[..n]).map_err(|e| OtaError::io(&dir, e))?;
        size += n as i64;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| OtaError::io(&dir, e))?;
    let sha256 = hex::encode(sha256.finalize());
    let dest = artifact_path(state_dir, &sha256);
    tmp.persist(&dest)
        .map_err(|e| OtaError::io(&dest, e.error))?;
    Ok(ReleaseArtifact {
        filename,
        sha256,
        size,
        sha1: hex::encode(sha1::Digest::finalize(sha1)),
        md5: hex::encode(md5::Digest::finalize(md5)),
    })
}
