//! Software deployment's rows (tables `ota_*`) and their queries. Every write is one
//! transaction that has committed when the call returns, so an API that answers after
//! it answers for something durable.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};

/// A registered device. Its token is kept only as a SHA-256.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub id: String,
    pub token_sha256: String,
    pub model: String,
    /// Comma-separated.
    pub tags: String,
    /// MSISDN for SMS and WAP Push notices.
    pub phone: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// The device's own attributes (DDI configData), as a JSON object.
    pub attributes: String,
    pub created_at_ms: i64,
    pub last_seen_ms: Option<i64>,
}

impl Device {
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.split(',').any(|t| t == tag)
    }
}

/// A published release: its signed manifest and the artifacts it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub name: String,
    pub version: String,
    /// Comma-separated hardware models.
    pub models: String,
    pub manifest: String,
    /// Hex ed25519 signature over `manifest`.
    pub signature: String,
    pub created_at_ms: i64,
    pub artifacts: Vec<ReleaseArtifact>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseArtifact {
    pub filename: String,
    pub sha256: String,
    pub size: i64,
    pub sha1: String,
    pub md5: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub id: i64,
    pub release_name: String,
    pub release_version: String,
    /// `forced` or `attempt` (ask the user), as in DDI's `deployment.update`.
    pub policy: String,
    /// Failures after which the rollout pauses itself.
    pub error_threshold: i64,
    /// `running`, `paused`.
    pub state: String,
    pub created_at_ms: i64,
}

/// One device's part in a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub id: i64,
    pub deployment: i64,
    pub device: String,
    pub rollout_group: i64,
    /// `scheduled` (not offered yet), `proceeding`, `downloaded`, `success`, `failure`,
    /// `canceled`.
    pub state: String,
    pub result_code: Option<i64>,
    pub result_detail: Option<String>,
    /// `overwrite` or `fresh`, once installed.
    pub install_kind: Option<String>,
    pub updated_at_ms: i64,
}

impl Action {
    pub fn is_finished(&self) -> bool {
        matches!(self.state.as_str(), "success" | "failure" | "canceled")
    }
}

/// How a device's feedback changes its action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    pub state: String,
    pub result_code: Option<i64>,
    pub result_detail: Option<String>,
    pub install_kind: Option<String>,
}

macro_rules! release_columns {
    () => {
        "name, version, models, manifest, signature, created_at"
    };
}

macro_rules! device_columns {
    () => {
        "id, token_sha256, model, tags, phone, latitude, longitude, \
    attributes, created_at, last_seen"
    };
}

fn device_row(r: &AnyRow) -> Result<Device, StoreError> {
    Ok(Device {
        id: r.try_get(0)?,
        token_sha256: r.try_get(1)?,
        model: r.try_get(2)?,
        tags: r.try_get(3)?,
        phone: r.try_get(4)?,
        latitude: r.try_get(5)?,
        longitude: r.try_get(6)?,
        attributes: r.try_get(7)?,
        created_at_ms: r.try_get(8)?,
        last_seen_ms: r.try_get(9)?,
    })
}

macro_rules! action_columns {
    () => {
        "id, deployment, device, rollout_group, state, result_code, \
    result_detail, install_kind, updated_at"
    };
}

fn action_row(r: &AnyRow) -> Result<Action, StoreError> {
    Ok(Action {
        id: r.try_get(0)?,
        deployment: r.try_get(1)?,
        device: r.try_get(2)?,
        rollout_group: i64::from(r.try_get::<i32, _>(3)?),
        state: r.try_get(4)?,
        result_code: r.try_get::<Option<i32>, _>(5)?.map(i64::from),
        result_detail: r.try_get(6)?,
        install_kind: r.try_get(7)?,
        updated_at_ms: r.try_get(8)?,
    })
}

macro_rules! deployment_columns {
    () => {
        "id, release_name, release_version, policy, error_threshold, state, created_at"
    };
}

fn deployment_row(r: &AnyRow) -> Result<Deployment, StoreError> {
    Ok(Deployment {
        id: r.try_get(0)?,
        release_name: r.try_get(1)?,
        release_version: r.try_get(2)?,
        policy: r.try_get(3)?,
        error_threshold: i64::from(r.try_get::<i32, _>(4)?),
        state: r.try_get(5)?,
        created_at_ms: r.try_get(6)?,
    })
}

impl Store {
    /// Registers a device; `Ok(false)` if one with that id exists (nothing written).
    pub async fn ota_add_device(&self, d: &Device) -> Result<bool, StoreError> {
        let done = sqlx::query(concat!(
            "INSERT INTO ota_device (",
            device_columns!(),
            ") VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING"
        ))
        .bind(&d.id)
        .bind(&d.token_sha256)
        .bind(&d.model)
        .bind(&d.tags)
        .bind(&d.phone)
        .bind(d.latitude)
        .bind(d.longitude)
        .bind(&d.attributes)
        .bind(d.created_at_ms)
        .bind(d.last_seen_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn ota_device(&self, id: &str) -> Result<Option<Device>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            device_columns!(),
            " FROM ota_device WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(device_row).transpose()
    }

    pub async fn ota_devices(&self) -> Result<Vec<Device>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            device_columns!(),
            " FROM ota_device ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(device_row).collect()
    }

    /// Records a poll (and the attributes a device reported, if any).
    pub async fn ota_device_seen(
        &self,
        id: &str,
        at_ms: i64,
        attributes: Option<&str>,
    ) -> Result<(), StoreError> {
        match attributes {
            Some(a) => {
                sqlx::query("UPDATE ota_device SET last_seen = $1, attributes = $2 WHERE id = $3")
                    .bind(at_ms)
                    .bind(a)
                    .bind(id)
                    .execute(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("UPDATE ota_device SET last_seen = $1 WHERE id = $2")
                    .bind(at_ms)
                    .bind(id)
                    .execute(&self.pool)
                    .await?
            }
        };
        Ok(())
    }

    /// Records where a device is (its check-in's location).
    pub async fn ota_device_locate(
        &self,
        id: &str,
        latitude: f64,
        longitude: f64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE ota_device SET latitude = $1, longitude = $2 WHERE id = $3")
            .bind(latitude)
            .bind(longitude)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a release and its artifacts' hashes in one transaction; `Ok(false)` if
    /// that name and version exist already (nothing written).
    pub async fn ota_add_release(&self, r: &Release) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "INSERT INTO ota_release (name, version, models, manifest, signature, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name, version) DO NOTHING",
        )
        .bind(&r.name)
        .bind(&r.version)
        .bind(&r.models)
        .bind(&r.manifest)
        .bind(&r.signature)
        .bind(r.created_at_ms)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        for a in &r.artifacts {
            sqlx::query(
                "INSERT INTO ota_artifact (sha256, size, sha1, md5) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (sha256) DO NOTHING",
            )
            .bind(&a.sha256)
            .bind(a.size)
            .bind(&a.sha1)
            .bind(&a.md5)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO ota_release_artifact (name, version, filename, sha256) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(&r.name)
            .bind(&r.version)
            .bind(&a.filename)
            .bind(&a.sha256)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Every version of a release name.
    pub async fn ota_releases(&self, name: &str) -> Result<Vec<Release>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            release_columns!(),
            " FROM ota_release WHERE name = $1"
        ))
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.release_with_artifacts(r).await?);
        }
        Ok(out)
    }

    /// One version of a release, without reading the others.
    pub async fn ota_release(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Option<Release>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            release_columns!(),
            " FROM ota_release WHERE name = $1 AND version = $2"
        ))
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok(Some(self.release_with_artifacts(&r).await?)),
            None => Ok(None),
        }
    }

    async fn release_with_artifacts(&self, r: &AnyRow) -> Result<Release, StoreError> {
        let name: String = r.try_get(0)?;
        let version: String = r.try_get(1)?;
        let artifacts = self.ota_release_artifacts(&name, &version).await?;
        Ok(Release {
            name,
            version,
            models: r.try_get(2)?,
            manifest: r.try_get(3)?,
            signature: r.try_get(4)?,
            created_at_ms: r.try_get(5)?,
            artifacts,
        })
    }

    async fn ota_release_artifacts(
        &self,
        name: &str,
        version: &str,
    ) -> Result<Vec<ReleaseArtifact>, StoreError> {
        let rows = sqlx::query(
            "SELECT ra.filename, a.sha256, a.size, a.sha1, a.md5 FROM ota_release_artifact ra \
             JOIN ota_artifact a ON a.sha256 = ra.sha256 \
             WHERE ra.name = $1 AND ra.version = $2 ORDER BY ra.filename",
        )
        .bind(name)
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReleaseArtifact {
                    filename: r.try_get(0)?,
                    sha256: r.try_get(1)?,
                    size: r.try_get(2)?,
                    sha1: r.try_get(3)?,
                    md5: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Whether any release holds the artifact with this SHA-256.
    pub async fn ota_artifact(&self, sha256: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT size FROM ota_artifact WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get(0).map_err(StoreError::from))
            .transpose()
    }

    /// Creates a deployment with one action per device, all in one transaction.
    pub async fn ota_add_deployment(
        &self,
        d: &Deployment,
        actions: &[Action],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(concat!(
            "INSERT INTO ota_deployment (",
            deployment_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(d.id)
        .bind(&d.release_name)
        .bind(&d.release_version)
        .bind(&d.policy)
        .bind(d.error_threshold as i32)
        .bind(&d.state)
        .bind(d.created_at_ms)
        .execute(&mut *tx)
        .await?;
        for a in actions {
            sqlx::query(concat!(
                "INSERT INTO ota_action (",
                action_columns!(),
                ") VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
            .bind(a.id)
            .bind(a.deployment)
            .bind(&a.device)
            .bind(a.rollout_group as i32)
            .bind(&a.state)
            .bind(a.result_code.map(|c| c as i32))
            .bind(&a.result_detail)
            .bind(&a.install_kind)
            .bind(a.updated_at_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn ota_deployment(&self, id: i64) -> Result<Option<Deployment>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            deployment_columns!(),
            " FROM ota_deployment WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(deployment_row).transpose()
    }

    pub async fn ota_deployments(&self) -> Result<Vec<Deployment>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            deployment_columns!(),
            " FROM ota_deployment ORDER BY created_at"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(deployment_row).collect()
    }

    pub async fn ota_actions(&self, deployment: i64) -> Result<Vec<Action>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            action_columns!(),
            " FROM ota_action WHERE deployment = $1 \
             ORDER BY rollout_group, device"
        ))
        .bind(deployment)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(action_row).collect()
    }

    /// The action a device should work on now: of a running deployment, in the lowest
    /// rollout group that still has unfinished actions, and not finished itself.
    pub async fn ota_open_action(&self, device: &str) -> Result<Option<Action>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            action_columns!(),
            " FROM ota_action a WHERE a.device = $1 \
             AND a.state NOT IN ('success', 'failure', 'canceled') \
             AND EXISTS (SELECT 1 FROM ota_deployment d WHERE d.id = a.deployment \
                         AND d.state = 'running') \
             AND a.rollout_group <= (SELECT MIN(b.rollout_group) FROM ota_action b \
                 WHERE b.deployment = a.deployment \
                 AND b.state NOT IN ('success', 'failure', 'canceled')) \
             ORDER BY a.updated_at"
        ))
        .bind(device)
        .fetch_all(&self.pool)
        .await?;
        rows.first().map(action_row).transpose()
    }

    /// The first of the next action ids: after the highest one that fits a C `int`,
    /// since SWUpdate's suricatta keeps hawkBit action ids in one (larger ids from
    /// before this rule are skipped). Two deploys at once may both get it; the
    /// second insert then fails on the primary key, writes nothing, and
    /// `Ota::deploy` numbers again.
    pub async fn ota_next_action_id(&self) -> Result<i64, StoreError> {
        let next: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(id), 0) + 1 FROM ota_action WHERE id <= 2147483647",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(next)
    }

    pub async fn ota_action(&self, id: i64, device: &str) -> Result<Option<Action>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            action_columns!(),
            " FROM ota_action WHERE id = $1 AND device = $2"
        ))
        .bind(id)
        .bind(device)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(action_row).transpose()
    }

    /// Applies a device's feedback to its action; a failure that reaches the
    /// deployment's error threshold pauses the deployment, in the same transaction.
    /// Returns whether the deployment was paused by it.
    pub async fn ota_feedback(
        &self,
        action: &Action,
        f: &Feedback,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE ota_action SET state = $1, result_code = $2, result_detail = $3, \
             install_kind = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(&f.state)
        .bind(f.result_code.map(|c| c as i32))
        .bind(&f.result_detail)
        .bind(&f.install_kind)
        .bind(at_ms)
        .bind(action.id)
        .execute(&mut *tx)
        .await?;
        let mut paused = false;
        if f.state == "failure" {
            let failures: i64 = sqlx::query(
                "SELECT COUNT(*) FROM ota_action WHERE deployment = $1 AND state = 'failure'",
            )
            .bind(action.deployment)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            let done = sqlx::query(
                "UPDATE ota_deployment SET state = 'paused' \
                 WHERE id = $1 AND state = 'running' AND error_threshold > 0 \
                 AND error_threshold <= $2",
            )
            .bind(action.deployment)
            .bind(failures)
            .execute(&mut *tx)
            .await?;
            paused = done.rows_affected() == 1;
        }
        tx.commit().await?;
        Ok(paused)
    }

    /// Sets a deployment's state (`running` to resume a paused one). A resume is
    /// counted: its open actions are offered, and so notified, again.
    pub async fn ota_set_deployment_state(&self, id: i64, state: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE ota_deployment SET state = $1, resumes = resumes + \
             CASE WHEN state = 'paused' AND $1 = 'running' THEN 1 ELSE 0 END WHERE id = $2",
        )
        .bind(state)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn action_ids_continue_below_2_pow_31_past_larger_ones() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let s = Store::open(&url).await.unwrap();
        assert_eq!(s.ota_next_action_id().await.unwrap(), 1);
        let d = Deployment {
            id: 1,
            release_name: "fw".into(),
            release_version: "1.0.0".into(),
            policy: "forced".into(),
            error_threshold: 1,
            state: "running".into(),
            created_at_ms: 0,
        };
        // A random id from before the rule, above what a C int holds, and a small one.
        let actions: Vec<Action> = [(3_000_000_000, "a"), (41, "b")]
            .into_iter()
            .map(|(id, device)| Action {
                id,
                deployment: 1,
                device: device.into(),
                rollout_group: 1,
                state: "scheduled".into(),
                result_code: None,
                result_detail: None,
                install_kind: None,
                updated_at_ms: 0,
            })
            .collect();
        s.ota_add_deployment(&d, &actions).await.unwrap();
        assert_eq!(s.ota_next_action_id().await.unwrap(), 42);

        // A second deployment numbered from a stale read (another node took 41 first)
        // is refused as a key clash, the caller's cue to number again, and writes
        // nothing: not even its deployment row.
        let d2 = Deployment { id: 2, ..d };
        let clash = Action {
            deployment: 2,
            device: "c".into(),
            ..actions[1].clone()
        };
        let e = s.ota_add_deployment(&d2, &[clash]).await.unwrap_err();
        assert!(e.is_unique_violation(), "{e}");
        assert!(s.ota_deployment(2).await.unwrap().is_none());
    }
}
