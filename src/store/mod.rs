//! Durable state in SQL: SQLite for one node (the embedded default), PostgreSQL when
//! several nodes share state (any node's portal finds any node's garden entries).
//!
//! Queries are plain SQL run through sqlx's `Any` driver; [`Dialect`] writes what
//! differs between the two databases. Here: opening and the shared bulk upsert.
//! `migrate`: the schema, numbered SQL files applied at open. One module per domain
//! (`garden`, `ota`, `notice`, `faults`) holds its row types and queries as `Store` methods.

pub mod console;
mod dialect;
pub mod faults;
mod garden;
mod migrate;
pub mod notice;
pub mod ota;
pub mod plan;

pub(crate) use dialect::Dialect;
pub use garden::GardenEntry;

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use sqlx::any::{AnyArguments, AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, AssertSqlSafe};

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

impl StoreError {
    /// A row's key was taken by a concurrent writer (the caller may choose again).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Sql(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

/// A query being built on the `Any` driver, as domain modules bind rows into it.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, AnyArguments>;

/// Rows per bulk upsert statement, largest first: one statement per chunk rather than
/// per row keeps a burst cheap (each statement is a round trip to SQLite's thread),
/// and a few fixed sizes keep the SQL texts few, so each is prepared once per
/// connection (sqlx caches statements by text) rather than parsed again for every
/// batch length. 64 rows stay below SQLite's 32766 parameters for tables of up to 511
/// columns.
const UPSERT_CHUNKS: [usize; 4] = [64, 16, 4, 1];

/// How `n` rows are cut into statements: as many of each fixed size as fit, largest
/// first.
fn upsert_chunks(mut n: usize) -> impl Iterator<Item = usize> {
    UPSERT_CHUNKS.into_iter().flat_map(move |size| {
        let times = n / size;
        n %= size;
        std::iter::repeat_n(size, times)
    })
}

#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) dialect: Dialect,
    /// Upsert statements by table and rows, written once.
    upserts: Arc<Mutex<UpsertSql>>,
}

/// Upsert SQL by table, the columns an update replaces (a table may have several
/// upserts: the garden's whole row, and accounting's own columns), and rows per
/// statement.
type UpsertSql = HashMap<(&'static str, Option<&'static [&'static str]>, usize), Arc<str>>;

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
        Ok(Store {
            pool,
            dialect,
            upserts: Arc::default(),
        })
    }

    /// Inserts or replaces `rows` of table `u` in one transaction, committed on return;
    /// `key` gives a row's conflict key and `bind` binds a row's values in `u.columns`
    /// order. Of rows with the same key the last wins, as it would row by row (and
    /// PostgreSQL refuses to update one row twice in a statement).
    pub(crate) async fn upsert_rows<T, K: Hash + Eq>(
        &self,
        u: &Upsert,
        rows: &[T],
        key: impl Fn(&T) -> K,
        bind: impl for<'q> Fn(AnyQuery<'q>, &'q T) -> AnyQuery<'q>,
    ) -> Result<(), StoreError> {
        let mut last = HashMap::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            last.insert(key(r), i);
        }
        let mut keep: Vec<&T> = Vec::with_capacity(last.len());
        keep.extend(
            rows.iter()
                .enumerate()
                .filter(|(i, r)| last.get(&key(r)) == Some(i))
                .map(|(_, r)| r),
        );
        let mut tx = self.pool.begin().await?;
        let mut start = 0;
        for n in upsert_chunks(keep.len()) {
            let sql = self.upsert_sql(u, n);
            let q = keep[start..start + n]
                .iter()
                .fold(sqlx::query(AssertSqlSafe(sql)), |q, r| bind(q, r));
            q.execute(&mut *tx).await?;
            start += n;
        }
        tx.commit().await?;
        Ok(())
    }

    fn upsert_sql(&self, u: &Upsert, rows: usize) -> Arc<str> {
        let mut cache = self.upserts.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry((u.table, u.update, rows))
            .or_insert_with(|| self.dialect.upsert_sql(u, rows).into())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_into_a_few_fixed_statement_sizes() {
        for n in 0..300 {
            let sizes: Vec<usize> = upsert_chunks(n).collect();
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(
                sizes.iter().all(|s| UPSERT_CHUNKS.contains(s)),
                "{n}: {sizes:?}"
            );
            assert!(sizes.is_sorted_by(|a, b| a >= b));
        }
        assert_eq!(upsert_chunks(86).collect::<Vec<_>>(), [64, 16, 4, 1, 1]);
    }

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
