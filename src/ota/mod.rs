//! Terminal software deployment (S3): devices, signed releases, deployments in rollout
//! groups, and the device API on the terminal listener, compatible with the hawkBit
//! Direct Device Integration API that existing agents speak (`ddi`).
//!
//! Devices are told of their offers by IP push, SMS or WAP Push (`notice`).
//!
//! Every write is committed in the store before the API answers 2xx. Devices
//! authenticate on every request (a per-device token, or the enrolment key as a
//! gateway token); no token, no data.

pub mod agent;
pub mod ddi;
pub mod download;
pub mod gateway;
pub mod keys;
pub mod notice;
pub mod release;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use sha2::Digest as _;

use crate::config::TerminalConfig;
use crate::store::ota::{Action, Deployment, Device};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum OtaError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: not a release signing key (64 hex digits)")]
    BadKey(PathBuf),
    #[error("version `{0}` is not semver: {1}")]
    BadVersion(String, String),
    #[error("release name `{0}`: printable characters, no `/`")]
    BadName(String),
    #[error("artifact file name `{0}` cannot be used")]
    BadFilename(String),
    #[error("a release needs at least one model and one file")]
    Incomplete,
    #[error("{name} {newest} is published; {version} is not newer (--force to publish it)")]
    Downgrade {
        name: String,
        newest: String,
        version: String,
    },
    #[error("{0} {1} is published already")]
    Exists(String, String),
    #[error("no release {0} {1}")]
    NoRelease(String, String),
    #[error("no device matches the target")]
    NoDevices,
    #[error("no action ids left below 2^31 (hawkBit clients keep them in a C int)")]
    ActionIdsExhausted,
    #[error("device `{0}` exists already")]
    DeviceExists(String),
    #[error("device id `{0}`: 1 to 64 letters, digits, `-`, `_`, `.` or `:`")]
    BadDeviceId(String),
}

impl OtaError {
    fn io(path: &Path, source: std::io::Error) -> OtaError {
        OtaError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub fn now_ms() -> i64 {
    crate::garden::now_ms()
}

/// A fresh device token (shown once, kept only hashed).
pub fn new_token() -> String {
    let mut b = [0u8; 24];
    crate::wire::crypto::os_random(&mut b);
    hex::encode(b)
}

pub fn token_hash(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// A random id below 2^53 (exact in JSON numbers).
pub(crate) fn new_id() -> i64 {
    let mut b = [0u8; 8];
    crate::wire::crypto::os_random(&mut b);
    (u64::from_le_bytes(b) >> 11).max(1) as i64
}

pub fn valid_device_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// What the terminal services share: the store, the config, the signing key, and the
/// devices holding IP push requests on this node.
#[derive(Clone)]
pub struct Ota {
    pub store: Store,
    pub config: Arc<TerminalConfig>,
    pub key: Arc<SigningKey>,
    pub push: notice::PushHub,
}

impl Ota {
    /// Opens the state directory (making the signing key on first use).
    pub fn open(store: Store, config: TerminalConfig) -> Result<Ota, OtaError> {
        let key = keys::load_or_create(&config.state_dir)?;
        Ok(Ota {
            store,
            config: Arc::new(config),
            key: Arc::new(key),
            push: notice::PushHub::default(),
        })
    }

    /// Registers a device; returns its token, to be given to the device once.
    pub async fn add_device(&self, mut d: Device) -> Result<String, OtaError> {
        if !valid_device_id(&d.id) {
            return Err(OtaError::BadDeviceId(d.id));
        }
        let token = new_token();
        d.token_sha256 = token_hash(&token);
        if !self.store.ota_add_device(&d).await? {
            return Err(OtaError::DeviceExists(d.id));
        }
        Ok(token)
    }

    /// Deploys a release to the devices `target` picks, in `groups` rollout groups of
    /// about equal size (in device id order); the rollout pauses itself once
    /// `error_threshold` devices failed (0: never).
    pub async fn deploy(
        &self,
        name: &str,
        version: &str,
        target: &Target,
        groups: usize,
        error_threshold: u32,
        forced: bool,
    ) -> Result<(Deployment, Vec<Action>), OtaError> {
        let release = self
            .store
            .ota_release(name, version)
            .await?
            .ok_or_else(|| OtaError::NoRelease(name.into(), version.into()))?;
        let models: Vec<&str> = release.models.split(',').collect();
        let devices: Vec<Device> = self
            .store
            .ota_devices()
            .await?
            .into_iter()
            .filter(|d| models.contains(&d.model.as_str()) && target.matches(d))
            .collect();
        if devices.is_empty() {
            return Err(OtaError::NoDevices);
        }
        let now = now_ms();
        let deployment = Deployment {
            id: new_id(),
            release_name: release.name,
            release_version: release.version,
            policy: if forced { "forced" } else { "attempt" }.into(),
            error_threshold: i64::from(error_threshold),
            state: "running".into(),
            created_at_ms: now,
        };
        let groups = groups.clamp(1, devices.len());
        let per_group = devices.len().div_ceil(groups);
        // hawkBit clients take action ids as C `int`s (SWUpdate's suricatta does), so
        // they are numbered, not random: a deploy on another radcare node sharing the
        // store may take the same numbers first; then number again.
        let mut tries = 0;
        loop {
            let first = self.store.ota_next_action_id().await?;
            if first + devices.len() as i64 > i64::from(i32::MAX) {
                return Err(OtaError::ActionIdsExhausted);
            }
            let actions: Vec<Action> = devices
                .iter()
                .enumerate()
                .map(|(i, d)| Action {
                    id: first + i as i64,
                    deployment: deployment.id,
                    device: d.id.clone(),
                    rollout_group: (i / per_group) as i64 + 1,
                    state: "scheduled".into(),
                    result_code: None,
                    result_detail: None,
                    install_kind: None,
                    updated_at_ms: now,
                })
                .collect();
            match self.store.ota_add_deployment(&deployment, &actions).await {
                Ok(()) => return Ok((deployment, actions)),
                Err(e) if e.is_unique_violation() && tries < 8 => tries += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Which devices a deployment targets (besides the release's models).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Devices(Vec<String>),
    Model(String),
    Tag(String),
}

impl Target {
    fn matches(&self, d: &Device) -> bool {
        match self {
            Target::Devices(ids) => ids.contains(&d.id),
            Target::Model(m) => &d.model == m,
            Target::Tag(t) => d.has_tag(t),
        }
    }
}
