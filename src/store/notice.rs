//! Notices of software deployment (table `ota_notice`): which offers are still to be
//! told, what was told over which channel, and the gateway's retries.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};

/// An action offered to its device now and not yet told of in this offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untold {
    pub action: i64,
    pub device: String,
    pub phone: Option<String>,
    /// The device's tags, comma-separated (`notice-sms`, `notice-wap` pick a channel).
    pub tags: String,
    pub release_name: String,
    pub release_version: String,
    /// The deployment's resumes: each resume is a new offer.
    pub offer: i64,
}

/// A notice as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub device: String,
    /// The device's own numbering, from 1 (the IP push channel's cursor).
    pub seq: i64,
    pub action: i64,
    pub offer: i64,
    /// `ip`, `sms` or `wap`.
    pub channel: String,
    pub phone: Option<String>,
    pub release_name: String,
    pub release_version: String,
    pub created_at_ms: i64,
    pub sent_at_ms: Option<i64>,
    pub attempts: i64,
}

macro_rules! notice_columns {
    () => {
        "device, seq, action, offer, channel, phone, release_name, release_version, \
         created_at, sent_at, attempts"
    };
}

fn notice_row(r: &AnyRow) -> Result<Notice, StoreError> {
    Ok(Notice {
        device: r.try_get(0)?,
        seq: r.try_get(1)?,
        action: r.try_get(2)?,
        offer: i64::from(r.try_get::<i32, _>(3)?),
        channel: r.try_get(4)?,
        phone: r.try_get(5)?,
        release_name: r.try_get(6)?,
        release_version: r.try_get(7)?,
        created_at_ms: r.try_get(8)?,
        sent_at_ms: r.try_get(9)?,
        attempts: i64::from(r.try_get::<i32, _>(10)?),
    })
}

impl Store {
    /// Actions offered now (as `ota_open_action` offers them: running deployment,
    /// lowest unfinished rollout group, not finished) that have no notice for the
    /// deployment's current offer; at most `limit`.
    pub async fn ota_untold(&self, limit: i64) -> Result<Vec<Untold>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id, a.device, v.phone, v.tags, d.release_name, d.release_version, d.resumes \
             FROM ota_action a \
             JOIN ota_deployment d ON d.id = a.deployment \
             JOIN ota_device v ON v.id = a.device \
             WHERE d.state = 'running' \
             AND a.state NOT IN ('success', 'failure', 'canceled') \
             AND a.rollout_group <= (SELECT MIN(b.rollout_group) FROM ota_action b \
                 WHERE b.deployment = a.deployment \
                 AND b.state NOT IN ('success', 'failure', 'canceled')) \
             AND NOT EXISTS (SELECT 1 FROM ota_notice n \
                 WHERE n.action = a.id AND n.offer = d.resumes) \
             ORDER BY a.updated_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Untold {
                    action: r.try_get(0)?,
                    device: r.try_get(1)?,
                    phone: r.try_get(2)?,
                    tags: r.try_get(3)?,
                    release_name: r.try_get(4)?,
                    release_version: r.try_get(5)?,
                    offer: i64::from(r.try_get::<i32, _>(6)?),
                })
            })
            .collect()
    }

    /// Records the notice of an offer over `channel`, numbered next for its device.
    /// `None` if this offer has a notice already (another node told it first).
    pub async fn ota_add_notice(
        &self,
        u: &Untold,
        channel: &str,
        at_ms: i64,
    ) -> Result<Option<Notice>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let seq: i64 =
            sqlx::query("SELECT COALESCE(MAX(seq), 0) + 1 FROM ota_notice WHERE device = $1")
                .bind(&u.device)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
        let done = sqlx::query(
            "INSERT INTO ota_notice (device, seq, action, offer, channel, phone, release_name, \
             release_version, created_at, sent_at, attempts, next_try, last_error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, 0, $9, NULL) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&u.device)
        .bind(seq)
        .bind(u.action)
        .bind(u.offer as i32)
        .bind(channel)
        .bind(&u.phone)
        .bind(&u.release_name)
        .bind(&u.release_version)
        .bind(at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((done.rows_affected() == 1).then(|| Notice {
            device: u.device.clone(),
            seq,
            action: u.action,
            offer: u.offer,
            channel: channel.into(),
            phone: u.phone.clone(),
            release_name: u.release_name.clone(),
            release_version: u.release_version.clone(),
            created_at_ms: at_ms,
            sent_at_ms: None,
            attempts: 0,
        }))
    }

    /// Gateway notices (`sms`, `wap`) not sent yet, due by `now_ms`, with fewer than
    /// `max_attempts` tries; at most `limit`.
    pub async fn ota_gateway_due(
        &self,
        now_ms: i64,
        max_attempts: u32,
        limit: i64,
    ) -> Result<Vec<Notice>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            notice_columns!(),
            " FROM ota_notice WHERE channel IN ('sms', 'wap') AND sent_at IS NULL \
             AND next_try <= $1 AND attempts < $2 ORDER BY next_try LIMIT $3"
        ))
        .bind(now_ms)
        .bind(max_attempts as i32)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(notice_row).collect()
    }

    /// A gateway took the notice.
    pub async fn ota_notice_sent(&self, n: &Notice, at_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE ota_notice SET sent_at = $1, attempts = attempts + 1, last_error = NULL \
             WHERE device = $2 AND seq = $3",
        )
        .bind(at_ms)
        .bind(&n.device)
        .bind(n.seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A gateway refused the notice or could not be reached: try again at `next_try_ms`.
    pub async fn ota_notice_failed(
        &self,
        n: &Notice,
        next_try_ms: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE ota_notice SET attempts = attempts + 1, next_try = $1, last_error = $2 \
             WHERE device = $3 AND seq = $4",
        )
        .bind(next_try_ms)
        .bind(error)
        .bind(&n.device)
        .bind(n.seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A device's IP push notices: numbered after `after`, or, without a cursor, those
    /// it has not been given yet.
    pub async fn ota_push_notices(
        &self,
        device: &str,
        after: Option<i64>,
    ) -> Result<Vec<Notice>, StoreError> {
        let q = match after {
            Some(after) => sqlx::query(concat!(
                "SELECT ",
                notice_columns!(),
                " FROM ota_notice WHERE device = $1 AND channel = 'ip' AND seq > $2 \
                 ORDER BY seq LIMIT 100"
            ))
            .bind(device)
            .bind(after),
            None => sqlx::query(concat!(
                "SELECT ",
                notice_columns!(),
                " FROM ota_notice WHERE device = $1 AND channel = 'ip' AND sent_at IS NULL \
                 ORDER BY seq LIMIT 100"
            ))
            .bind(device),
        };
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(notice_row)
            .collect()
    }

    /// The device was given its IP push notices up to `seq`.
    pub async fn ota_push_delivered(
        &self,
        device: &str,
        seq: i64,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE ota_notice SET sent_at = $1, attempts = attempts + 1 \
             WHERE device = $2 AND channel = 'ip' AND seq <= $3 AND sent_at IS NULL",
        )
        .bind(at_ms)
        .bind(device)
        .bind(seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ota::{Action, Deployment, Device};

    impl Store {
        /// Every notice of a device, in order.
        pub async fn ota_notices(&self, device: &str) -> Result<Vec<Notice>, StoreError> {
            let rows = sqlx::query(concat!(
                "SELECT ",
                notice_columns!(),
                " FROM ota_notice WHERE device = $1 ORDER BY seq"
            ))
            .bind(device)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(notice_row).collect()
        }
    }

    fn device(id: &str, phone: Option<&str>) -> Device {
        Device {
            id: id.into(),
            token_sha256: String::new(),
            model: "m".into(),
            tags: String::new(),
            phone: phone.map(Into::into),
            latitude: None,
            longitude: None,
            attributes: "{}".into(),
            created_at_ms: 0,
            last_seen_ms: None,
        }
    }

    fn action(id: i64, device: &str, group: i64) -> Action {
        Action {
            id,
            deployment: 1,
            device: device.into(),
            rollout_group: group,
            state: "scheduled".into(),
            result_code: None,
            result_detail: None,
            install_kind: None,
            updated_at_ms: id,
        }
    }

    #[tokio::test]
    async fn each_offer_is_told_once_group_by_group_and_again_on_resume() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let s = Store::open(&url).await.unwrap();
        s.ota_add_device(&device("a", Some("+491"))).await.unwrap();
        s.ota_add_device(&device("b", None)).await.unwrap();
        let d = Deployment {
            id: 1,
            release_name: "fw".into(),
            release_version: "2.1.0".into(),
            policy: "forced".into(),
            error_threshold: 1,
            state: "running".into(),
            created_at_ms: 0,
        };
        s.ota_add_deployment(&d, &[action(10, "a", 1), action(20, "b", 2)])
            .await
            .unwrap();

        // Group 1 only, with the device's phone.
        let untold = s.ota_untold(10).await.unwrap();
        assert_eq!(untold.len(), 1);
        assert_eq!(
            (untold[0].action, untold[0].phone.as_deref()),
            (10, Some("+491"))
        );
        let n = s
            .ota_add_notice(&untold[0], "sms", 5)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((n.seq, n.offer), (1, 0));
        assert!(
            s.ota_add_notice(&untold[0], "sms", 6)
                .await
                .unwrap()
                .is_none(),
            "once"
        );
        assert!(s.ota_untold(10).await.unwrap().is_empty());

        // A gateway failure waits for its backoff; success is recorded.
        assert_eq!(s.ota_gateway_due(5, 3, 10).await.unwrap().len(), 1);
        s.ota_notice_failed(&n, 100, "refused").await.unwrap();
        assert!(s.ota_gateway_due(99, 3, 10).await.unwrap().is_empty());
        assert_eq!(s.ota_gateway_due(100, 3, 10).await.unwrap()[0].attempts, 1);
        assert!(
            s.ota_gateway_due(100, 1, 10).await.unwrap().is_empty(),
            "given up"
        );
        s.ota_notice_sent(&n, 101).await.unwrap();
        assert!(s.ota_gateway_due(1000, 3, 10).await.unwrap().is_empty());

        // A failure pauses the deployment (threshold 1): nothing is offered; the
        // resume offers the open actions again, now group 2 as group 1 is done.
        let f = crate::store::ota::Feedback {
            state: "failure".into(),
            result_code: None,
            result_detail: None,
            install_kind: None,
        };
        assert!(s.ota_feedback(&action(10, "a", 1), &f, 7).await.unwrap());
        assert!(s.ota_untold(10).await.unwrap().is_empty(), "paused");
        assert!(s.ota_set_deployment_state(1, "running").await.unwrap());
        let untold = s.ota_untold(10).await.unwrap();
        assert_eq!((untold[0].action, untold[0].offer), (20, 1));

        // IP push: by cursor, or what was not given yet.
        let n = s
            .ota_add_notice(&untold[0], "ip", 8)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            s.ota_push_notices("b", None).await.unwrap(),
            std::slice::from_ref(&n)
        );
        assert_eq!(s.ota_push_notices("b", Some(0)).await.unwrap().len(), 1);
        s.ota_push_delivered("b", n.seq, 9).await.unwrap();
        assert!(s.ota_push_notices("b", None).await.unwrap().is_empty());
        assert!(
            s.ota_push_notices("b", Some(n.seq))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(s.ota_notices("b").await.unwrap()[0].sent_at_ms, Some(9));
    }
}
