//! The schema, as numbered SQL files in `migrations/`, applied in order once each.
//!
//! `NNNN_name.sql` is step NNNN, recorded in `radcare_schema` when applied, and is
//! written in SQL both databases accept. Where they must differ, PostgreSQL runs
//! `NNNN_name.postgres.sql` beside it instead. A released step is never edited: a
//! change to the schema is a new step.

use sqlx::{AssertSqlSafe, Executor, Row};

use super::{Dialect, StoreError};

#[derive(Clone, Copy)]
pub(super) struct Migration {
    pub name: &'static str,
    sql: &'static str,
    postgres: Option<&'static str>,
}

impl Migration {
    fn sql(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Postgres => self.postgres.unwrap_or(self.sql),
            Dialect::Sqlite => self.sql,
        }
    }
}

macro_rules! migration {
    ($name:literal) => {
        Migration {
            name: $name,
            sql: include_str!(concat!("migrations/", $name, ".sql")),
            postgres: None,
        }
    };
    ($name:literal, postgres) => {
        Migration {
            name: $name,
            sql: include_str!(concat!("migrations/", $name, ".sql")),
            postgres: Some(include_str!(concat!("migrations/", $name, ".postgres.sql"))),
        }
    };
}

/// Every step, in order: a step's number is its index here (a unit test checks the file
/// names agree, and that every file in `migrations/` is listed). Add `migration!("NNNN_name", postgres)` for
/// a step with a PostgreSQL variant.
pub(super) const MIGRATIONS: &[Migration] = &[
    migration!("0000_garden_entry"),
    migration!("0001_garden_entry_framed_ip"),
    migration!("0002_garden_entry_framed_ip_partial"),
    migration!("0003_ota"),
    migration!("0004_garden_entry_user_octets"),
    migration!("0005_ota_notice"),
    migration!("0006_plan"),
    migration!("0007_faults"),
    migration!("0008_console"),
    migration!("0009_plan_node_probe"),
];

/// Brings the schema up to date. Safe to run from several processes at once: each step
/// is checked and applied under the dialect's migration lock, in its own transaction.
pub(super) async fn migrate(pool: &sqlx::AnyPool, dialect: Dialect) -> Result<(), StoreError> {
    migrate_to(pool, dialect, MIGRATIONS).await
}

async fn migrate_to(
    pool: &sqlx::AnyPool,
    dialect: Dialect,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    // Under the lock too: concurrent CREATE TABLE IF NOT EXISTS can fail on PostgreSQL.
    let mut tx = dialect.begin_exclusive(pool).await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS radcare_schema (step INTEGER PRIMARY KEY)")
        .execute(&mut *tx)
        .await?;
    let applied: Vec<i64> = sqlx::query("SELECT step FROM radcare_schema")
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    tx.commit().await?;
    let known = migrations.len() as i64;
    if let Some(&newest) = applied.iter().filter(|&&s| s >= known).max() {
        return Err(StoreError::NewerSchema {
            newest,
            known: known - 1,
        });
    }
    for (step, m) in migrations.iter().enumerate() {
        let step = step as i64;
        if applied.contains(&step) {
            continue;
        }
        let mut tx = dialect.begin_exclusive(pool).await?;
        // Another process may have applied it while this one waited for the lock.
        let p = dialect.placeholder(1);
        let done = sqlx::query(AssertSqlSafe(format!(
            "SELECT step FROM radcare_schema WHERE step = {p}"
        )))
        .bind(step)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if done {
            continue;
        }
        let failed = |source| StoreError::Migration {
            name: m.name,
            source,
        };
        // Through the executor rather than `RawSql::execute`, whose future is not
        // `Send` for every lifetime, which spawning `Store::open` needs.
        (&mut *tx)
            .execute(sqlx::raw_sql(m.sql(dialect)))
            .await
            .map_err(failed)?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO radcare_schema (step) VALUES ({p})"
        )))
        .bind(step)
        .execute(&mut *tx)
        .await?;
        tx.commit().await.map_err(failed)?;
        tracing::info!(step = m.name, "store schema step applied");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn every_file_is_a_listed_step_numbered_by_its_place() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.name[..4], format!("{i:04}"), "{} is step {i}", m.name);
            assert_eq!(&m.name[4..5], "_", "{}", m.name);
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations");
        for f in std::fs::read_dir(dir).unwrap() {
            let f = f.unwrap().file_name().into_string().unwrap();
            let (stem, postgres) = match f.strip_suffix(".postgres.sql") {
                Some(stem) => (stem, true),
                None => (f.strip_suffix(".sql").expect("only .sql files"), false),
            };
            let m = MIGRATIONS.iter().find(|m| m.name == stem);
            let m = m.unwrap_or_else(|| panic!("{f} is not in MIGRATIONS"));
            assert!(!postgres || m.postgres.is_some(), "{f} is not used");
        }
    }

    fn sqlite_url(dir: &tempfile::TempDir) -> String {
        format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display())
    }

    /// What the code before numbered files created: the same tables, steps 0 and 1.
    #[tokio::test]
    async fn a_store_made_by_the_old_code_opens_and_migrates() {
        let dir = tempfile::tempdir().unwrap();
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&sqlite_url(&dir)).await.unwrap();
        for sql in [
            "CREATE TABLE radcare_schema (step INTEGER PRIMARY KEY)",
            MIGRATIONS[0].sql,
            MIGRATIONS[1].sql,
            "INSERT INTO radcare_schema (step) VALUES (0), (1)",
            "INSERT INTO garden_entry VALUES ('0000000000000007', 'bob', NULL, 'bras', \
             '10.0.0.1', NULL, NULL, 'arrears', 'r', 'pap', 1, '10.1.1.1', NULL, 1, 2)",
        ] {
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
        let s = Store::open(&sqlite_url(&dir))
            .await
            .expect("old store opens");
        // A row from before user_octets: the name read from its text.
        assert_eq!(s.garden_by_id(7).await.unwrap().unwrap().user, b"bob");
        let steps: Vec<i64> = sqlx::query_scalar("SELECT step FROM radcare_schema ORDER BY step")
            .fetch_all(&s.pool)
            .await
            .unwrap();
        let all: Vec<i64> = (0..MIGRATIONS.len() as i64).collect();
        assert_eq!(steps, all);
    }

    #[tokio::test]
    async fn a_new_step_is_applied_once_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&sqlite_url(&dir)).await.unwrap();
        // The steps this binary knows, and one more.
        let mut later = MIGRATIONS.to_vec();
        later.push(Migration {
            name: "NNNN_note",
            sql: "CREATE TABLE note (id INTEGER PRIMARY KEY);\n\
                  INSERT INTO note (id) VALUES (1);",
            postgres: None,
        });
        migrate_to(&s.pool, s.dialect, &later).await.unwrap();
        migrate_to(&s.pool, s.dialect, &later).await.unwrap();
        let notes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM note")
            .fetch_one(&s.pool)
            .await
            .unwrap();
        assert_eq!(notes, 1, "the step's statements ran once");
        let e = migrate(&s.pool, s.dialect).await.unwrap_err();
        assert!(
            matches!(
                e,
                StoreError::NewerSchema { newest, known }
                    if newest == MIGRATIONS.len() as i64 && known == newest - 1
            ),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_failed_step_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&sqlite_url(&dir)).await.unwrap();
        let mut broken = MIGRATIONS.to_vec();
        broken.push(Migration {
            name: "NNNN_broken",
            sql: "CREATE TABLE half (id INTEGER); SELECT * FROM nowhere;",
            postgres: None,
        });
        let e = migrate_to(&s.pool, s.dialect, &broken).await.unwrap_err();
        assert!(e.to_string().contains("NNNN_broken"), "{e}");
        let half: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'")
                .fetch_one(&s.pool)
                .await
                .unwrap();
        assert_eq!(half, 0);
        migrate(&s.pool, s.dialect)
            .await
            .expect("still at the last known step");
    }
}
