//! The console's rows (tables `console_*`): operators, their sessions, the audit
//! trail; and the overviews of other parts' tables that only the console reads.

use sqlx::Row;

use super::{Store, StoreError};

/// Someone who may log in to the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub name: String,
    /// An argon2 PHC string.
    pub password_hash: String,
    /// `admin` or `read-only`.
    pub role: String,
    pub created_at_ms: i64,
}

/// A live session: whose, and the token its forms carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub operator: String,
    pub role: String,
    pub csrf: String,
    pub expires_at_ms: i64,
}

/// One thing an operator did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at_ms: i64,
    pub operator: String,
    /// `login`, `login_failed`, `logout`, `disconnect`, `resolve`.
    pub action: String,
    pub target: String,
    pub outcome: String,
}

/// A fault account in a list: who and how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    pub id: i64,
    pub created_at_ms: i64,
    /// `kind=value`, comma-separated.
    pub identities: String,
    pub reports: i64,
    pub queued: i64,
}

/// A release in a list, without its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseSummary {
    pub name: String,
    pub version: String,
    pub models: String,
    pub created_at_ms: i64,
    pub artifacts: i64,
}

fn operator_row(r: &sqlx::any::AnyRow) -> Result<Operator, StoreError> {
    Ok(Operator {
        name: r.try_get(0)?,
        password_hash: r.try_get(1)?,
        role: r.try_get(2)?,
        created_at_ms: r.try_get(3)?,
    })
}

impl Store {
    /// Adds an operator; `false` when the name is taken (nothing changed).
    pub async fn console_add_operator(&self, o: &Operator) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let taken = sqlx::query("SELECT 1 FROM console_operator WHERE name = $1")
            .bind(&o.name)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if taken {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO console_operator (name, password_hash, role, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&o.name)
        .bind(&o.password_hash)
        .bind(&o.role)
        .bind(o.created_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn console_operators(&self) -> Result<Vec<Operator>, StoreError> {
        sqlx::query(
            "SELECT name, password_hash, role, created_at FROM console_operator ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(operator_row)
        .collect()
    }

    pub async fn console_operator(&self, name: &str) -> Result<Option<Operator>, StoreError> {
        sqlx::query(
            "SELECT name, password_hash, role, created_at FROM console_operator WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(operator_row)
        .transpose()
    }

    /// Removes an operator and ends their sessions; `false` when there was none.
    pub async fn console_remove_operator(&self, name: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("DELETE FROM console_operator WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM console_session WHERE operator = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Opens a session (and forgets the expired ones).
    pub async fn console_session_open(
        &self,
        id_sha256: &str,
        s: &Session,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM console_session WHERE expires_at <= $1")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO console_session (id_sha256, operator, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_sha256)
        .bind(&s.operator)
        .bind(&s.csrf)
        .bind(now_ms)
        .bind(s.expires_at_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live session of that id, with its operator's role now (a removed operator
    /// has none).
    pub async fn console_session(
        &self,
        id_sha256: &str,
        now_ms: i64,
    ) -> Result<Option<Session>, StoreError> {
        sqlx::query(
            "SELECT s.operator, o.role, s.csrf, s.expires_at FROM console_session s \
             JOIN console_operator o ON o.name = s.operator \
             WHERE s.id_sha256 = $1 AND s.expires_at > $2",
        )
        .bind(id_sha256)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| {
            Ok(Session {
                operator: r.try_get(0)?,
                role: r.try_get(1)?,
                csrf: r.try_get(2)?,
                expires_at_ms: r.try_get(3)?,
            })
        })
        .transpose()
    }

    pub async fn console_session_close(&self, id_sha256: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM console_session WHERE id_sha256 = $1")
            .bind(id_sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn console_audit(&self, r: &AuditRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO console_audit (id, at, operator, action, target, outcome) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(crate::ota::new_id())
        .bind(r.at_ms)
        .bind(&r.operator)
        .bind(&r.action)
        .bind(&r.target)
        .bind(&r.outcome)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest `limit` records, newest first.
    pub async fn console_audit_list(&self, limit: i64) -> Result<Vec<AuditRecord>, StoreError> {
        sqlx::query(
            "SELECT at, operator, action, target, outcome FROM console_audit \
             ORDER BY at DESC, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(AuditRecord {
                at_ms: r.try_get(0)?,
                operator: r.try_get(1)?,
                action: r.try_get(2)?,
                target: r.try_get(3)?,
                outcome: r.try_get(4)?,
            })
        })
        .collect()
    }

    /// Every release version, newest first.
    pub async fn console_releases(&self) -> Result<Vec<ReleaseSummary>, StoreError> {
        sqlx::query(
            "SELECT r.name, r.version, r.models, r.created_at, \
             (SELECT COUNT(*) FROM ota_release_artifact a \
              WHERE a.name = r.name AND a.version = r.version) \
             FROM ota_release r ORDER BY r.created_at DESC, r.name, r.version",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(ReleaseSummary {
                name: r.try_get(0)?,
                version: r.try_get(1)?,
                models: r.try_get(2)?,
                created_at_ms: r.try_get(3)?,
                artifacts: r.try_get(4)?,
            })
        })
        .collect()
    }

    /// The newest `limit` fault accounts with their identities and counts.
    pub async fn console_fault_accounts(
        &self,
        limit: i64,
    ) -> Result<Vec<AccountSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.id, a.created_at, \
             (SELECT COUNT(*) FROM fault_report r WHERE r.account = a.id), \
             (SELECT COUNT(*) FROM fault_item i WHERE i.account = a.id AND i.state = 'queued') \
             FROM fault_account a ORDER BY a.created_at DESC, a.id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            let identities: Vec<String> = sqlx::query(
                "SELECT kind, value FROM fault_identity WHERE account = $1 ORDER BY kind, value",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|i| {
                Ok(format!(
                    "{}={}",
                    i.try_get::<String, _>(0)?,
                    i.try_get::<String, _>(1)?
                ))
            })
            .collect::<Result<_, StoreError>>()?;
            out.push(AccountSummary {
                id,
                created_at_ms: r.try_get(1)?,
                identities: identities.join(", "),
                reports: r.try_get(2)?,
                queued: r.try_get(3)?,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str, role: &str) -> Operator {
        Operator {
            name: name.into(),
            password_hash: "$argon2id$x".into(),
            role: role.into(),
            created_at_ms: 1,
        }
    }

    #[tokio::test]
    async fn operators_sessions_and_audit() {
        let s = Store::open("sqlite::memory:").await.unwrap();
        assert!(s.console_add_operator(&op("ann", "admin")).await.unwrap());
        assert!(
            !s.console_add_operator(&op("ann", "read-only"))
                .await
                .unwrap()
        );
        assert_eq!(
            s.console_operator("ann").await.unwrap().unwrap().role,
            "admin"
        );
        let session = Session {
            operator: "ann".into(),
            role: "admin".into(),
            csrf: "tok".into(),
            expires_at_ms: 100,
        };
        s.console_session_open("h", &session, 10).await.unwrap();
        assert_eq!(s.console_session("h", 50).await.unwrap(), Some(session));
        assert_eq!(s.console_session("h", 100).await.unwrap(), None, "expired");
        assert!(s.console_remove_operator("ann").await.unwrap());
        assert_eq!(s.console_session("h", 50).await.unwrap(), None, "removed");
        assert!(!s.console_remove_operator("ann").await.unwrap());
        for (at, action) in [(1, "login"), (2, "resolve")] {
            s.console_audit(&AuditRecord {
                at_ms: at,
                operator: "ann".into(),
                action: action.into(),
                target: "t".into(),
                outcome: "ok".into(),
            })
            .await
            .unwrap();
        }
        let trail = s.console_audit_list(10).await.unwrap();
        assert_eq!(trail.len(), 2);
        assert_eq!(trail[0].action, "resolve");
    }
}
