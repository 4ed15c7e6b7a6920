//! The walled garden's rows (table `garden_entry`) and their queries.

use std::net::{IpAddr, Ipv4Addr};

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::dialect::Upsert;
use super::{AnyQuery, Store, StoreError};

/// A subscriber in the walled garden: who, why, from which NAS, at which address.
/// The garden keeps these in memory; the store keeps them durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GardenEntry {
    pub id: u64,
    /// User-Name's octets as the NAS sent them.
    pub user: Vec<u8>,
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

/// The columns in the order [`bind`] binds them and [`from_row`] reads them.
const GARDEN: Upsert = Upsert {
    table: "garden_entry",
    columns: &[
        "id",
        "user_name",
        "calling_station_id",
        "client",
        "nas_addr",
        "nas_identifier",
        "nas_port_id",
        "cause",
        "reason",
        "method",
        "entered_at",
        "framed_ip",
        "acct_session_id",
        "acct_status",
        "updated_at",
        "user_octets",
    ],
    key: &["id"],
    update: None,
};

/// Accounting's write: the whole row when there is none yet, else only what accounting
/// knows, so that a node that did not see the Reject keeps the cause, reason and client
/// another node wrote.
const GARDEN_ACCOUNTING: Upsert = Upsert {
    update: Some(&["framed_ip", "acct_session_id", "acct_status", "updated_at"]),
    ..GARDEN
};

/// The id as stored: 16 hex digits, since PostgreSQL has no unsigned 64-bit integer.
fn id_text(id: u64) -> String {
    format!("{id:016x}")
}

fn bind<'q>(q: AnyQuery<'q>, r: &'q GardenEntry) -> AnyQuery<'q> {
    q.bind(id_text(r.id))
        .bind(String::from_utf8_lossy(&r.user).into_owned())
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
        .bind(r.updated_at_ms)
        .bind(hex::encode(&r.user))
}

fn from_row(r: &AnyRow) -> Result<GardenEntry, StoreError> {
    let id: String = r.try_get(0)?;
    let framed_ip: Option<String> = r.try_get(11)?;
    let acct_status: Option<i32> = r.try_get(13)?;
    // Rows from before `user_octets` have the name as text only.
    let user_octets: Option<String> = r.try_get(15)?;
    let user_name: String = r.try_get(1)?;
    let user = user_octets
        .and_then(|h| hex::decode(h).ok())
        .unwrap_or_else(|| user_name.into_bytes());
    Ok(GardenEntry {
        id: u64::from_str_radix(&id, 16).unwrap_or(0),
        user,
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

impl Store {
    /// Inserts or replaces a garden entry; returns once committed.
    pub async fn upsert_garden(&self, r: &GardenEntry) -> Result<(), StoreError> {
        self.upsert_gardens(std::slice::from_ref(r)).await
    }

    /// Inserts or replaces garden entries in one transaction; returns once committed.
    /// One commit for a burst is what keeps the write-behind cheap when a BRAS reboot
    /// sends thousands of rejected subscribers at once.
    pub async fn upsert_gardens(&self, rows: &[GardenEntry]) -> Result<(), StoreError> {
        self.upsert_rows(&GARDEN, rows, |r| r.id, bind).await
    }

    /// Inserts garden entries, or updates only their accounting columns where a row
    /// exists; in one transaction.
    pub async fn upsert_garden_accounting(&self, rows: &[GardenEntry]) -> Result<(), StoreError> {
        self.upsert_rows(&GARDEN_ACCOUNTING, rows, |r| r.id, bind)
            .await
    }

    /// The most recently updated garden entry holding an address.
    pub async fn garden_by_ip(&self, ip: IpAddr) -> Result<Option<GardenEntry>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM garden_entry WHERE framed_ip = {} \
             ORDER BY updated_at DESC LIMIT 1",
            GARDEN.columns.join(", "),
            self.dialect.placeholder(1)
        )))
        .bind(ip.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn garden_by_id(&self, id: u64) -> Result<Option<GardenEntry>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM garden_entry WHERE id = {}",
            GARDEN.columns.join(", "),
            self.dialect.placeholder(1)
        )))
        .bind(id_text(id))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Entries updated since `since_ms`, newest last, to warm the in-memory garden.
    pub async fn garden_since(&self, since_ms: i64) -> Result<Vec<GardenEntry>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM garden_entry WHERE updated_at >= {} ORDER BY updated_at",
            GARDEN.columns.join(", "),
            self.dialect.placeholder(1)
        )))
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }
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
        // A GBK name ("张三") comes back octet for octet.
        r.user = vec![0xd5, 0xc5, 0xc8, 0xfd];
        s.upsert_garden(&r).await.unwrap();
        assert_eq!(s.garden_by_id(r.id).await.unwrap().unwrap().user, r.user);
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

    #[tokio::test]
    async fn accounting_updates_only_its_own_columns() {
        let s = Store::open("sqlite::memory:").await.unwrap();
        s.upsert_garden(&row(1)).await.unwrap();
        let mut stub = row(1);
        (stub.cause, stub.reason, stub.client) = ("unknown".into(), String::new(), String::new());
        stub.framed_ip = Some("127.0.0.1".parse().unwrap());
        stub.acct_status = Some(1);
        stub.updated_at_ms = 2000;
        s.upsert_garden_accounting(&[stub.clone(), row(2)])
            .await
            .unwrap();
        let got = s.garden_by_id(1).await.unwrap().unwrap();
        assert_eq!(
            (got.cause.as_str(), got.client.as_str()),
            ("arrears", "bras-1")
        );
        assert_eq!((got.framed_ip, got.updated_at_ms), (stub.framed_ip, 2000));
        assert_eq!(
            s.garden_by_id(2).await.unwrap(),
            Some(row(2)),
            "inserted whole"
        );
    }
}
