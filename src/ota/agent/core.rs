//! The agent's decisions, without IO: what a poll answer asks for, whether an offered
//! deployment may be installed (signature, expiry, rollback, the DDI hashes against
//! the signed ones), the feedback it sends, and how long it sleeps.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::ota::keys;
use crate::ota::release::{Manifest, safe_filename};

/// TR-069 transfer fault codes (TR-069 Amendment 6, table A.1 and A.4), the agent's
/// reasons for a failed update, in the feedback's `status.code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The user declined, or the offer would roll back what is installed.
    RequestDenied = 9001,
    /// Installing the verified files failed on this device.
    Internal = 9002,
    CannotContactServer = 9015,
    CannotCompleteDownload = 9017,
    FileCorrupted = 9018,
    FileAuthentication = 9019,
}

/// Why an update did not happen, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub fault: Fault,
    pub detail: String,
}

impl Failure {
    pub fn new(fault: Fault, detail: impl Into<String>) -> Failure {
        Failure {
            fault,
            detail: detail.into(),
        }
    }
}

/// What a poll answer says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Poll {
    pub sleep: Option<Duration>,
    pub deployment: Option<String>,
    pub config_data: Option<String>,
}

pub fn parse_poll(body: &[u8]) -> Option<Poll> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let href = |k: &str| v["_links"][k]["href"].as_str().map(str::to_string);
    Some(Poll {
        sleep: v["config"]["polling"]["sleep"].as_str().and_then(parse_hms),
        deployment: href("deploymentBase"),
        config_data: href("configData"),
    })
}

/// DDI's `HH:MM:SS`.
pub fn parse_hms(s: &str) -> Option<Duration> {
    let mut parts = s.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, sec) = (parts.next()??, parts.next()??, parts.next()??);
    if parts.next().is_some() || m > 59 || sec > 59 {
        return None;
    }
    Some(Duration::from_secs(h * 3600 + m * 60 + sec))
}

/// `sleep` spread by up to a tenth either way, so that devices rebooted together by a
/// power cut do not poll together forever.
pub fn jittered(sleep: Duration, random: u64) -> Duration {
    let spread = sleep.as_millis() as u64 / 5;
    if spread == 0 {
        return sleep;
    }
    sleep - sleep / 10 + Duration::from_millis(random % (spread + 1))
}

/// DDI's `deployment.update`: install without asking, ask the user first, or not now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Forced,
    Attempt,
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub href: String,
}

/// A deployment the agent may install: signed, current, newer, hashes agreeing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub action: String,
    pub name: String,
    pub version: String,
    pub policy: Policy,
    pub artifacts: Vec<Artifact>,
    /// The version it replaces (an overwrite), or none (a fresh install).
    pub replaces: Option<String>,
}

impl Offer {
    pub fn install_kind(&self) -> &'static str {
        if self.replaces.is_some() {
            "overwrite"
        } else {
            "fresh"
        }
    }

    pub fn total_size(&self) -> u64 {
        self.artifacts.iter().map(|a| a.size).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Install(Offer),
    /// The offered version is the installed one (an install whose report was lost
    /// before it was written): report success again.
    AlreadyInstalled {
        name: String,
        version: String,
    },
}

/// The action id of a deploymentBase answer, to report against even when the rest of
/// it is refused.
pub fn action_id(body: &Value) -> Option<String> {
    match &body["id"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Checks a deploymentBase answer against the pinned key, the clock (`now_s`, Unix
/// seconds) and what is installed.
pub fn check_offer(
    body: &Value,
    public_key: &str,
    installed: &BTreeMap<String, String>,
    now_s: i64,
) -> Result<Verdict, Failure> {
    let auth = |d: String| Failure::new(Fault::FileAuthentication, d);
    let action = action_id(body).ok_or_else(|| auth("deploymentBase without an id".into()))?;
    let deployment = &body["deployment"];
    let policy = match deployment["update"].as_str() {
        Some("forced") => Policy::Forced,
        Some("attempt") => Policy::Attempt,
        _ => Policy::Skip,
    };
    let chunks = deployment["chunks"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let [chunk] = chunks else {
        return Err(auth(format!(
            "{} chunks: a radcare release is one",
            chunks.len()
        )));
    };
    let (Some(text), Some(signature)) = (
        body["radcare"]["manifest"].as_str(),
        body["radcare"]["signature"].as_str(),
    ) else {
        return Err(auth("no signed manifest (radcare.manifest)".into()));
    };
    if !keys::verify(public_key, text.as_bytes(), signature) {
        return Err(auth(
            "the manifest's signature does not verify with the pinned key".into(),
        ));
    }
    let manifest: Manifest =
        serde_json::from_str(text).map_err(|e| auth(format!("signed manifest unreadable: {e}")))?;
    if manifest.expires < now_s {
        return Err(auth(format!(
            "the manifest of {} {} expired (at {} Unix time)",
            manifest.name, manifest.version, manifest.expires
        )));
    }
    if chunk["name"].as_str() != Some(&manifest.name)
        || chunk["version"].as_str() != Some(&manifest.version)
    {
        return Err(auth(format!(
            "the deployment offers {} {}, the signed manifest is for {} {}",
            chunk["name"], chunk["version"], manifest.name, manifest.version
        )));
    }
    if !safe_filename(&manifest.name) {
        return Err(auth(format!(
            "release name `{}` cannot be a directory",
            manifest.name
        )));
    }
    let offered = semver::Version::parse(&manifest.version)
        .map_err(|e| auth(format!("version {}: {e}", manifest.version)))?;
    let replaces = installed.get(&manifest.name).cloned();
    if let Some(have) = &replaces {
        match semver::Version::parse(have) {
            Ok(have) if have == offered => {
                return Ok(Verdict::AlreadyInstalled {
                    name: manifest.name,
                    version: manifest.version,
                });
            }
            Ok(have) if have > offered => {
                return Err(Failure::new(
                    Fault::RequestDenied,
                    format!(
                        "rollback refused: {} {offered} is older than the installed {have}",
                        manifest.name
                    ),
                ));
            }
            // An unreadable installed version is replaced, as a newer one would be.
            _ => {}
        }
    }
    let ddi = chunk["artifacts"].as_array().map_or(&[][..], Vec::as_slice);
    if ddi.len() != manifest.artifacts.len() {
        return Err(auth(format!(
            "{} files offered, {} signed",
            ddi.len(),
            manifest.artifacts.len()
        )));
    }
    let mut artifacts = Vec::with_capacity(ddi.len());
    for a in ddi {
        let filename = a["filename"].as_str().unwrap_or_default();
        let signed = manifest
            .artifacts
            .iter()
            .find(|m| m.filename == filename)
            .ok_or_else(|| auth(format!("`{filename}` is not in the signed manifest")))?;
        let sha256 = a["hashes"]["sha256"].as_str().unwrap_or_default();
        if !sha256.eq_ignore_ascii_case(&signed.sha256)
            || a["size"].as_i64() != Some(signed.size)
            || signed.size < 0
        {
            return Err(auth(format!(
                "{filename}: the offered size or sha256 is not the signed one"
            )));
        }
        if !safe_filename(filename) {
            return Err(auth(format!("file name `{filename}` cannot be written")));
        }
        let href = a["_links"]["download-http"]["href"]
            .as_str()
            .or_else(|| a["_links"]["download"]["href"].as_str())
            .ok_or_else(|| auth(format!("{filename}: no download link")))?;
        artifacts.push(Artifact {
            filename: filename.into(),
            size: signed.size as u64,
            sha256: signed.sha256.to_ascii_lowercase(),
            href: href.into(),
        });
    }
    Ok(Verdict::Install(Offer {
        action,
        name: manifest.name,
        version: manifest.version,
        policy,
        artifacts,
        replaces,
    }))
}

/// A newer release the active check answered with, once its signature verified.
pub fn check_answer(body: &Value, public_key: &str, now_s: i64) -> Vec<Manifest> {
    let newer = body["newer"].as_array().map_or(&[][..], Vec::as_slice);
    newer
        .iter()
        .filter_map(|n| {
            let text = n["manifest"].as_str()?;
            let sig = n["signature"].as_str()?;
            if !keys::verify(public_key, text.as_bytes(), sig) {
                tracing::warn!(release = %n["name"], "active check: a release with a bad signature, ignored");
                return None;
            }
            let m: Manifest = serde_json::from_str(text).ok()?;
            (m.expires >= now_s).then_some(m)
        })
        .collect()
}

pub fn success(action: &str, kind: Option<&str>, detail: String) -> Value {
    let mut v = json!({
        "id": action,
        "status": {
            "execution": "closed",
            "result": { "finished": "success" },
            "details": [detail],
        },
    });
    if let Some(kind) = kind {
        v["radcare"] = json!({ "install": kind });
    }
    v
}

pub fn failure(action: &str, f: &Failure) -> Value {
    // hawkBit reads a declined attempt as `rejected`; anything else failed.
    let execution = if f.fault == Fault::RequestDenied {
        "rejected"
    } else {
        "closed"
    };
    json!({
        "id": action,
        "status": {
            "execution": execution,
            "result": { "finished": "failure" },
            "code": f.fault as i64,
            "details": [f.detail],
        },
    })
}

pub fn proceeding(action: &str, detail: String) -> Value {
    json!({
        "id": action,
        "status": {
            "execution": "proceeding",
            "result": { "finished": "none" },
            "details": [detail],
        },
    })
}

/// configData: who the device is and what it runs (`sw.<name>` = version).
pub fn identity(device: &str, installed: &BTreeMap<String, String>) -> Value {
    let mut data = serde_json::Map::new();
    data.insert("controllerId".into(), device.into());
    data.insert(
        "agent".into(),
        format!("radcare-agent {}", env!("CARGO_PKG_VERSION")).into(),
    );
    data.insert("os".into(), std::env::consts::OS.into());
    data.insert("arch".into(), std::env::consts::ARCH.into());
    for (name, version) in installed {
        data.insert(format!("sw.{name}"), version.clone().into());
    }
    json!({ "mode": "merge", "data": data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ota::release::ManifestArtifact;
    use ed25519_dalek::SigningKey;

    const NOW: i64 = 1_700_000_000;

    fn signed(version: &str, expires: i64, sha: &str) -> (Value, String) {
        let key = SigningKey::from_bytes(&[7; 32]);
        let m = Manifest {
            name: "fw".into(),
            version: version.into(),
            models: vec!["hg8245".into()],
            artifacts: vec![ManifestArtifact {
                filename: "fw.bin".into(),
                size: 10,
                sha256: "ab".repeat(32),
            }],
            expires,
        };
        let text = serde_json::to_string(&m).unwrap();
        let body = json!({
            "id": "42",
            "deployment": { "update": "attempt", "chunks": [{
                "name": "fw", "version": version,
                "artifacts": [{ "filename": "fw.bin", "size": 10,
                    "hashes": { "sha256": sha },
                    "_links": { "download-http": { "href": "http://s/a" } } }],
            }]},
            "radcare": { "manifest": text, "signature": keys::sign(&key, text.as_bytes()) },
        });
        (body, keys::public_hex(&key))
    }

    fn installed(v: &str) -> BTreeMap<String, String> {
        [("fw".to_string(), v.to_string())].into()
    }

    #[test]
    fn a_signed_current_newer_offer_is_installed_over_or_fresh() {
        let (body, key) = signed("2.1.0", NOW + 10, &"ab".repeat(32));
        let Ok(Verdict::Install(o)) = check_offer(&body, &key, &installed("2.0.0"), NOW) else {
            panic!()
        };
        assert_eq!((o.action.as_str(), o.policy), ("42", Policy::Attempt));
        assert_eq!(o.install_kind(), "overwrite");
        assert_eq!(o.artifacts[0].size, 10);
        let Ok(Verdict::Install(o)) = check_offer(&body, &key, &BTreeMap::new(), NOW) else {
            panic!()
        };
        assert_eq!(o.install_kind(), "fresh");
        assert!(matches!(
            check_offer(&body, &key, &installed("2.1.0"), NOW),
            Ok(Verdict::AlreadyInstalled { .. })
        ));
    }

    #[test]
    fn refusals_carry_their_tr069_code() {
        let (body, key) = signed("2.1.0", NOW + 10, &"ab".repeat(32));
        let code = |r: Result<Verdict, Failure>| r.unwrap_err().fault;
        assert_eq!(
            code(check_offer(&body, &key, &installed("3.0.0"), NOW)),
            Fault::RequestDenied
        );
        assert_eq!(
            code(check_offer(&body, &key, &BTreeMap::new(), NOW + 11)),
            Fault::FileAuthentication,
            "expired"
        );
        let other = keys::public_hex(&SigningKey::from_bytes(&[8; 32]));
        assert_eq!(
            code(check_offer(&body, &other, &BTreeMap::new(), NOW)),
            Fault::FileAuthentication
        );
        let mut tampered = body.clone();
        tampered["radcare"]["manifest"] = tampered["radcare"]["manifest"]
            .as_str()
            .unwrap()
            .replace("2.1.0", "2.1.1")
            .into();
        assert_eq!(
            code(check_offer(&tampered, &key, &BTreeMap::new(), NOW)),
            Fault::FileAuthentication
        );
        let (body, key) = signed("2.1.0", NOW + 10, &"cd".repeat(32));
        assert_eq!(
            code(check_offer(&body, &key, &BTreeMap::new(), NOW)),
            Fault::FileAuthentication,
            "DDI hash not the signed one"
        );
    }

    #[test]
    fn polls_and_sleeps() {
        let p = parse_poll(
            br#"{"config":{"polling":{"sleep":"00:05:00"}},"_links":{"deploymentBase":{"href":"x"}}}"#,
        )
        .unwrap();
        assert_eq!(p.sleep, Some(Duration::from_secs(300)));
        assert_eq!(p.deployment.as_deref(), Some("x"));
        assert_eq!(p.config_data, None);
        assert_eq!(parse_hms("01:00:01"), Some(Duration::from_secs(3601)));
        assert_eq!(parse_hms("00:60:00"), None);
        let s = Duration::from_secs(100);
        for r in [0, 7, 20_000, u64::MAX] {
            let j = jittered(s, r);
            assert!(j >= Duration::from_secs(90) && j <= Duration::from_secs(110));
        }
        let f = failure("1", &Failure::new(Fault::FileCorrupted, "x"));
        assert_eq!(f["status"]["code"], 9018);
        assert_eq!(f["status"]["execution"], "closed");
    }
}
