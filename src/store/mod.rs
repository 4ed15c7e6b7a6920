//! Durable state in SQL: SQLite for one node (the embedded default), PostgreSQL when
//! several nodes share state (any node's portal finds any node's garden entries).
//!
//! Queries are plain SQL run through sqlx's `Any` driver; [`Dialect`] writes what
//! differs between the two databases. Here: opening and the shared bulk upsert.
//! `migrate`: the schema, numbered SQL files applied at open. One module per domain
//! (`garden`) holds its row types and queries as `Store` methods.

mod dialect;
mod garden;
mod migrate;

pub(crate) use dialect::Dialect;
pub use garden::GardenEntry;

use sqlx::AnyPool;
use sqlx::any::{AnyArguments, AnyPoolOptions, install_default_drivers};

use dialect::Upsert;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("unsupported store url `{0}` (use sqlite://FILE or postgres://...)")]
    BadUrl(String),
    #[error("schema step {name} failed: {source}")]
    Migration {
        name: &'static str,
        source: sqlx::Error,
    },
    #[error(
        "the database's schema is at step {newest}, newer than this radcare knows \
         (up to step {known}): run the radcare that migrated it, or a newer one"
    )]
    NewerSchema { newest: i64, known: i64 },
}

/// A query being built on the `Any` driver, as domain modules bind rows into it.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, AnyArguments<'q>>;

/// Rows per bulk upsert statement: one statement per chunk rather than per row is what
/// keeps a burst cheap (each statement is a round trip to SQLite's thread), and 64
/// rows stay below SQLite's 32766 parameters for tables of up to 511 columns.
const UPSERT_CHUNK: usize = 64;

#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) dialect: Dialect,
}

impl Store {
    /// Connects (creating a SQLite file if needed) and applies the schema. A PostgreSQL
    /// URL's `sslmode` and `sslrootcert` choose TLS and the CA it is checked against.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let (url, dialect) = if let Some(rest) = url.strip_prefix("sqlite:") {
            let mut u = format!("sqlite:{rest}");
            if !rest.contains("mode=") && !rest.contains(":memory:") {
                u.push_str(if rest.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
            (u, Dialect::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (url.to_string(), Dialect::Postgres)
        } else {
            return Err(StoreError::BadUrl(url.into()));
        };
        let sqlite = dialect == Dialect::Sqlite;
        let pool = AnyPoolOptions::new()
            // SQLite allows one writer; one connection avoids "database is locked".
            .max_connections(if sqlite { 1 } else { 8 })
            // Callers bound their own waits (the portal's lookups, the garden's
            // retried writes); a pool that waits 30 s for a connection outlasts both.
            .acquire_timeout(std::time::Duration::from_secs(1))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // WAL: readers (the portal) never wait for the writer, and a
                        // commit is one append; NORMAL still survives a process crash.
                        sqlx::query("PRAGMA journal_mode=WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous=NORMAL")
                            .execute(&mut *conn)
                            .await?;
                        // Short: a write that finds another process holding the
                        // lock is retried by the garden, holding the one connection
                        // the portal's lookups also need.
                        sqlx::query("PRAGMA busy_timeout=1000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        migrate::migrate(&pool, dialect).await?;
        Ok(Store { pool, dialect })
    }

    /// Inserts or replaces `rows` in one transaction; returns once committed. `key`
    /// gives a row's conflict key and `bind` binds a row's values in `u.columns` order.
    /// A key repeated in `rows` starts a new statement (PostgreSQL refuses to update
    /// one row twice in a statement), so the later row wins, as it would row by row.
    pub(crate) async fn upsert_rows<T, K: PartialEq>(
        &self,
        u: &Upsert,
        rows: &[T],
        key: impl Fn(&T) -> K,
        bind: impl for<'q> Fn(AnyQuery<'q>, &'q T) -> AnyQuery<'q>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut start = 0;
        while start < rows.len() {
            let mut end = start + 1;
            while end < rows.len()
                && end - start < UPSERT_CHUNK
                && !rows[start..end].iter().any(|r| key(r) == key(&rows[end]))
            {
                end += 1;
            }
            let sql = self.dialect.upsert_sql(u, end - start);
            let q = rows[start..end].iter().fold(sqlx::query(&sql), &bind);
            q.execute(&mut *tx).await?;
            start = end;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_url_is_refused() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let e = rt.block_on(Store::open("mysql://x")).unwrap_err();
        assert!(matches!(e, StoreError::BadUrl(_)));
    }

    /// A node may open its store on a spawned task; this fails to compile otherwise.
    #[test]
    fn opening_can_be_spawned() {
        fn spawnable<F: Future + Send + 'static>(_: F) {}
        spawnable(Store::open("sqlite::memory:"));
    }
}
