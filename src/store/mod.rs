//! Durable state in SQL: SQLite for one node (the embedded default), PostgreSQL when
//! several nodes share state (any node's portal finds any node's garden entries).
//! Queries are plain SQL that both accept, run through sqlx's `Any` driver; the schema
//! is applied at start by [`Store::migrate`], one numbered step at a time.

use std::net::{IpAddr, Ipv4Addr};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("unsupported store url `{0}` (use sqlite://FILE or postgres://...)")]
    BadUrl(String),
}

/// Schema steps, applied in order once each. Types are the common subset of SQLite and
/// PostgreSQL; times are Unix milliseconds.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE garden_entry (
        id TEXT PRIMARY KEY,
        user_name TEXT NOT NULL,
        calling_station_id TEXT,
        client TEXT NOT NULL,
        nas_addr TEXT NOT NULL,
        nas_identifier TEXT,
        nas_port_id TEXT,
        cause TEXT NOT NULL,
        reason TEXT NOT NULL,
        method TEXT NOT NULL,
        entered_at BIGINT NOT NULL,
        framed_ip TEXT,
        acct_session_id TEXT,
        acct_status INTEGER,
        updated_at BIGINT NOT NULL
    )",
    "CREATE INDEX garden_entry_framed_ip ON garden_entry (framed_ip, updated_at)",
];

/// A subscriber in the walled garden: who, why, from which NAS, at which address.
/// The garden keeps these in memory; the store keeps them durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GardenEntry {
    pub id: u64,
    pub user: String,
    pub calling_station_id: Option<String>,
    pub client: String,
    pub nas_addr: String,
    pub nas_identifier: Option<String>,
    pub nas_port_id: Option<String>,
    pub cause: String,
    pub reason: String,
    pub method: String,
    pub entered_at_ms: i64,
    pub framed_ip: Option<Ipv4Addr>,
    pub acct_session_id: Option<String>,
    pub acct_status: Option<u32>,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    sqlite: bool,
}

impl Store {
    /// Connects (creating a SQLite file if needed) and applies the schema.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let url = if let Some(rest) = url.strip_prefix("sqlite:") {
            let mut u = format!("sqlite:{rest}");
            if !rest.contains("mode=") && !rest.contains(":memory:") {
                u.push_str(if rest.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
            u
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            url.to_string()
        } else {
            return Err(StoreError::BadUrl(url.into()));
        };
        // SQLite allows one writer; one connection avoids "database is locked" under load.
        let max = if url.starts_with("sqlite:") { 1 } else { 8 };
        let sqlite = url.starts_with("sqlite:");
        let pool = AnyPoolOptions::new()
            .max_connections(max)
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
                        sqlx::query("PRAGMA busy_timeout=5000")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let store = Store { pool, sqlite };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS radcare_schema (step INTEGER PRIMARY KEY)")
            .execute(&self.pool)
            .await?;
        let done: i64 = sqlx::query("SELECT COUNT(*) FROM radcare_schema")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        for (i, step) in MIGRATIONS.iter().enumerate().skip(done as usize) {
            let mut tx = self.pool.begin().await?;
            sqlx::query(step).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO radcare_schema (step) VALUES ($1)")
                .bind(i as i32)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Inserts or replaces a garden entry; returns once committed.
    pub async fn upsert_garden(&self, r: &GardenEntry) -> Result<(), StoreError> {
        self.upsert_gardens(std::slice::from_ref(r)).await
    }

    /// Inserts or replaces garden entries in one transaction; returns once committed.
    /// One commit for a burst is what keeps the write-behind cheap when a BRAS reboot
    /// sends thousands of rejected subscribers at once.
    pub async fn upsert_gardens(&self, rows: &[GardenEntry]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // One statement cannot update a row twice (PostgreSQL refuses it): a repeated
        // id starts a new statement, and the later row wins, as it would row by row.
        let mut start = 0;
        while start < rows.len() {
            let mut end = start + 1;
            while end < rows.len()
                && end - start < UPSERT_CHUNK
                && !rows[start..end].iter().any(|r| r.id == rows[end].id)
            {
                end += 1;
            }
            upsert_chunk(&mut tx, &rows[start..end], self.sqlite).await?;
            start = end;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The most recently updated garden entry holding an address.
    pub async fn garden_by_ip(&self, ip: IpAddr) -> Result<Option<GardenEntry>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM garden_entry WHERE framed_ip = $1 ORDER BY updated_at DESC LIMIT 1"
        ))
        .bind(ip.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| garden_row(&r)).transpose()
    }

    pub async fn garden_by_id(&self, id: u64) -> Result<Option<GardenEntry>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM garden_entry WHERE id = $1"))
            .bind(format!("{id:016x}"))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| garden_row(&r)).transpose()
    }

    /// Entries updated since `since_ms`, newest last, to warm the in-memory garden.
    pub async fn garden_since(&self, since_ms: i64) -> Result<Vec<GardenEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM garden_entry WHERE updated_at >= $1 ORDER BY updated_at"
        ))
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(garden_row).collect()
    }
}

/// Rows per INSERT statement: 15 parameters each stays far below SQLite's and
/// PostgreSQL's parameter limits, and one statement per chunk rather than per row is
/// what keeps a burst cheap (each statement is a round trip to SQLite's thread).
const UPSERT_CHUNK: usize = 64;

/// The multi-row upsert for `n` rows. PostgreSQL wants numbered placeholders; SQLite
/// gets anonymous ones, since binding numbered ones looks each name up in a list, which
/// is quadratic in the parameters of a statement this size.
fn upsert_sql(n: usize, sqlite: bool) -> String {
    let mut sql = String::from(
        "INSERT INTO garden_entry (id, user_name, calling_station_id, client, nas_addr, \
         nas_identifier, nas_port_id, cause, reason, method, entered_at, framed_ip, \
         acct_session_id, acct_status, updated_at) VALUES ",
    );
    for row in 0..n {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..15 {
            if col > 0 {
                sql.push_str(", ");
            }
            if sqlite {
                sql.push('?');
            } else {
                sql.push_str(&format!("${}", row * 15 + col + 1));
            }
        }
        sql.push(')');
    }
    sql.push_str(
        " ON CONFLICT (id) DO UPDATE SET user_name = excluded.user_name, \
         calling_station_id = excluded.calling_station_id, client = excluded.client, \
         nas_addr = excluded.nas_addr, nas_identifier = excluded.nas_identifier, \
         nas_port_id = excluded.nas_port_id, cause = excluded.cause, \
         reason = excluded.reason, method = excluded.method, entered_at = excluded.entered_at, \
         framed_ip = excluded.framed_ip, acct_session_id = excluded.acct_session_id, \
         acct_status = excluded.acct_status, updated_at = excluded.updated_at",
    );
    sql
}

/// Upserts up to [`UPSERT_CHUNK`] rows with distinct ids in one statement.
async fn upsert_chunk(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    rows: &[GardenEntry],
    sqlite: bool,
) -> Result<(), StoreError> {
    let sql = upsert_sql(rows.len(), sqlite);
    let mut q = sqlx::query(&sql);
    for r in rows {
        q = q
            .bind(format!("{:016x}", r.id))
            .bind(&r.user)
            .bind(&r.calling_station_id)
            .bind(&r.client)
            .bind(&r.nas_addr)
            .bind(&r.nas_identifier)
            .bind(&r.nas_port_id)
            .bind(&r.cause)
            .bind(&r.reason)
            .bind(&r.method)
            .bind(r.entered_at_ms)
            .bind(r.framed_ip.map(|i| i.to_string()))
            .bind(&r.acct_session_id)
            .bind(r.acct_status.map(|s| s as i32))
            .bind(r.updated_at_ms);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

const COLUMNS: &str = "id, user_name, calling_station_id, client, nas_addr, nas_identifier, \
    nas_port_id, cause, reason, method, entered_at, framed_ip, acct_session_id, acct_status, \
    updated_at";

fn garden_row(r: &sqlx::any::AnyRow) -> Result<GardenEntry, StoreError> {
    let id: String = r.try_get(0)?;
    let framed_ip: Option<String> = r.try_get(11)?;
    let acct_status: Option<i32> = r.try_get(13)?;
    Ok(GardenEntry {
        id: u64::from_str_radix(&id, 16).unwrap_or(0),
        user: r.try_get(1)?,
        calling_station_id: r.try_get(2)?,
        client: r.try_get(3)?,
        nas_addr: r.try_get(4)?,
        nas_identifier: r.try_get(5)?,
        nas_port_id: r.try_get(6)?,
        cause: r.try_get(7)?,
        reason: r.try_get(8)?,
        method: r.try_get(9)?,
        entered_at_ms: r.try_get(10)?,
        framed_ip: framed_ip.and_then(|s| s.parse().ok()),
        acct_session_id: r.try_get(12)?,
        acct_status: acct_status.map(|s| s as u32),
        updated_at_ms: r.try_get(14)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u64) -> GardenEntry {
        GardenEntry {
            id,
            user: "bob".into(),
            calling_station_id: Some("aa-bb".into()),
            client: "bras-1".into(),
            nas_addr: "10.0.0.1".into(),
            nas_identifier: None,
            nas_port_id: Some("eth0/1".into()),
            cause: "arrears".into(),
            reason: "欠费".into(),
            method: "pap".into(),
            entered_at_ms: 1000,
            framed_ip: None,
            acct_session_id: None,
            acct_status: None,
            updated_at_ms: 1000,
        }
    }

    #[tokio::test]
    async fn sqlite_round_trip_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let s = Store::open(&url).await.unwrap();
        let mut r = row(0xfeed_beef_0000_0001);
        s.upsert_garden(&r).await.unwrap();
        r.framed_ip = Some("127.0.0.42".parse().unwrap());
        r.acct_status = Some(1);
        r.updated_at_ms = 2000;
        s.upsert_garden(&r).await.unwrap();
        drop(s);
        let s = Store::open(&url).await.unwrap();
        let got = s
            .garden_by_ip("127.0.0.42".parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, r);
        assert_eq!(s.garden_by_id(r.id).await.unwrap().unwrap().reason, "欠费");
        assert_eq!(s.garden_since(1500).await.unwrap().len(), 1);
        assert!(
            s.garden_by_ip("127.0.0.43".parse().unwrap())
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_burst_is_written_in_chunks_and_a_repeated_id_keeps_the_later_row() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let s = Store::open(&url).await.unwrap();
        // More rows than one statement takes, with id 7 twice: the second time online.
        let mut rows: Vec<GardenEntry> = (0..150).map(row).collect();
        let mut again = row(7);
        again.framed_ip = Some("127.0.0.7".parse().unwrap());
        again.acct_status = Some(1);
        again.updated_at_ms = 3000;
        rows.insert(100, again.clone());
        s.upsert_gardens(&rows).await.unwrap();
        assert_eq!(s.garden_since(0).await.unwrap().len(), 150);
        assert_eq!(s.garden_by_id(7).await.unwrap().unwrap(), again);
        assert_eq!(s.garden_by_id(149).await.unwrap().unwrap(), row(149));
        let by_ip = s.garden_by_ip("127.0.0.7".parse().unwrap()).await.unwrap();
        assert_eq!(by_ip.map(|r| r.id), Some(7));
    }

    #[test]
    fn bad_url_is_refused() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let e = rt.block_on(Store::open("mysql://x")).unwrap_err();
        assert!(matches!(e, StoreError::BadUrl(_)));
    }
}
