//! Upgrade planning's rows (tables `plan_*`): nodes, plans, and bookings under a
//! per-node-per-slot cap that holds across radcare nodes sharing the database.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};
use crate::planner::{Booked, Node, Slots};

/// A deployment's plan: its slot grid and the slots the operator allowed (empty: as
/// soon as possible, any slot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub deployment: i64,
    pub slots: Slots,
    pub allowed: Vec<u32>,
}

/// One terminal's booking: where and when it downloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub deployment: i64,
    pub device: String,
    pub node: String,
    pub slot_start_ms: i64,
}

fn node_row(r: &AnyRow) -> Result<Node, StoreError> {
    Ok(Node {
        id: r.try_get(0)?,
        url: r.try_get(1)?,
        cluster: r.try_get(2)?,
        latitude: r.try_get(3)?,
        longitude: r.try_get(4)?,
        cap_per_slot: r.try_get::<i32, _>(5)?.max(0) as u32,
        up: r.try_get::<i32, _>(6)? != 0,
        status_url: r.try_get(7)?,
        measured: r.try_get::<i32, _>(8)?.max(0) as u32,
    })
}

impl Store {
    /// Adds a node, or replaces the one with that id.
    pub async fn plan_put_node(&self, n: &Node) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO plan_node (id, url, cluster, latitude, longitude, cap_per_slot, up, \
             status_url, measured) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0) \
             ON CONFLICT (id) DO UPDATE SET \
             url = excluded.url, cluster = excluded.cluster, latitude = excluded.latitude, \
             longitude = excluded.longitude, cap_per_slot = excluded.cap_per_slot, \
             up = excluded.up, status_url = excluded.status_url, measured = 0",
        )
        .bind(&n.id)
        .bind(&n.url)
        .bind(&n.cluster)
        .bind(n.latitude)
        .bind(n.longitude)
        .bind(n.cap_per_slot as i32)
        .bind(i32::from(n.up))
        .bind(n.status_url.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn plan_nodes(&self) -> Result<Vec<Node>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, url, cluster, latitude, longitude, cap_per_slot, up, status_url, \
             measured FROM plan_node ORDER BY cluster, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(node_row).collect()
    }

    pub async fn plan_set_up(&self, node: &str, up: bool) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE plan_node SET up = $1 WHERE id = $2")
            .bind(i32::from(up))
            .bind(node)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the downloads a node's probe saw running.
    pub async fn plan_set_measured(&self, node: &str, downloads: u32) -> Result<(), StoreError> {
        sqlx::query("UPDATE plan_node SET measured = $1 WHERE id = $2")
            .bind(downloads.min(i32::MAX as u32) as i32)
            .bind(node)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn plan_put(&self, p: &Plan) -> Result<(), StoreError> {
        let allowed: Vec<String> = p.allowed.iter().map(u32::to_string).collect();
        sqlx::query(
            "INSERT INTO plan (deployment, start_ms, slot_ms, slots, allowed) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (deployment) DO UPDATE SET \
             start_ms = excluded.start_ms, slot_ms = excluded.slot_ms, \
             slots = excluded.slots, allowed = excluded.allowed",
        )
        .bind(p.deployment)
        .bind(p.slots.start_ms)
        .bind(p.slots.length_ms)
        .bind(p.slots.count as i32)
        .bind(allowed.join(","))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn plan_get(&self, deployment: i64) -> Result<Option<Plan>, StoreError> {
        let row =
            sqlx::query("SELECT start_ms, slot_ms, slots, allowed FROM plan WHERE deployment = $1")
                .bind(deployment)
                .fetch_optional(&self.pool)
                .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        let allowed: String = r.try_get(3)?;
        Ok(Some(Plan {
            deployment,
            slots: Slots {
                start_ms: r.try_get(0)?,
                length_ms: r.try_get(1)?,
                count: r.try_get::<i32, _>(2)?.max(0) as u32,
            },
            allowed: allowed.split(',').filter_map(|s| s.parse().ok()).collect(),
        }))
    }

    /// Downloads booked per node in the slots of `slots` (all deployments: a node's
    /// capacity is physical).
    pub async fn plan_booked(&self, slots: &Slots) -> Result<Booked, StoreError> {
        let end = slots.starts_at(slots.count);
        let rows = sqlx::query(
            "SELECT node, slot_start, booked FROM plan_slot \
             WHERE slot_start >= $1 AND slot_start < $2",
        )
        .bind(slots.start_ms)
        .bind(end)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Booked::new();
        for r in &rows {
            let start: i64 = r.try_get(1)?;
            let slot = ((start - slots.start_ms) / slots.length_ms) as u32;
            out.insert((r.try_get(0)?, slot), r.try_get::<i32, _>(2)?.max(0) as u32);
        }
        Ok(out)
    }

    pub async fn plan_booking(
        &self,
        deployment: i64,
        device: &str,
    ) -> Result<Option<Booking>, StoreError> {
        let row = sqlx::query(
            "SELECT node, slot_start FROM plan_booking WHERE deployment = $1 AND device = $2",
        )
        .bind(deployment)
        .bind(device)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Booking {
                deployment,
                device: device.into(),
                node: r.try_get(0)?,
                slot_start_ms: r.try_get(1)?,
            })
        })
        .transpose()
    }

    pub async fn plan_bookings(&self, deployment: i64) -> Result<Vec<Booking>, StoreError> {
        let rows = sqlx::query(
            "SELECT device, node, slot_start FROM plan_booking WHERE deployment = $1 \
             ORDER BY slot_start, node, device",
        )
        .bind(deployment)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Booking {
                    deployment,
                    device: r.try_get(0)?,
                    node: r.try_get(1)?,
                    slot_start_ms: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Books `device` on `node` in the slot starting at `slot_start_ms`, if the node
    /// has room there (`cap`), in one transaction: the slot's counter is raised only
    /// below the cap (a conditional UPDATE, atomic per row in both databases), and a
    /// device booked already keeps its booking. Returns the device's booking, or
    /// `None` when the slot was full.
    pub async fn plan_book(
        &self,
        b: &Booking,
        cap: u32,
        at_ms: i64,
    ) -> Result<Option<Booking>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let existing = sqlx::query(
            "SELECT node, slot_start FROM plan_booking WHERE deployment = $1 AND device = $2",
        )
        .bind(b.deployment)
        .bind(&b.device)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(r) = existing {
            return Ok(Some(Booking {
                deployment: b.deployment,
                device: b.device.clone(),
                node: r.try_get(0)?,
                slot_start_ms: r.try_get(1)?,
            }));
        }
        if !take_place(&mut tx, b, cap).await? {
            return Ok(None);
        }
        if !insert_booking(&mut tx, b, at_ms).await? {
            // Booked meanwhile by another node: give the raised place back (rollback)
            // and report what was booked.
            drop(tx);
            return self.plan_booking(b.deployment, &b.device).await;
        }
        tx.commit().await?;
        Ok(Some(b.clone()))
    }

    /// Books many at once, each as [`Store::plan_book`] does (the slot's counter
    /// raised only below its cap) but all in one transaction: the batching a planner
    /// that decided in memory uses to get the most out of the database. Per booking,
    /// whether it was made (false: its slot was full, or the device booked already).
    pub async fn plan_book_many(
        &self,
        bookings: &[(Booking, u32)],
        at_ms: i64,
    ) -> Result<Vec<bool>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut made = Vec::with_capacity(bookings.len());
        for (b, cap) in bookings {
            if !take_place(&mut tx, b, *cap).await? {
                made.push(false);
                continue;
            }
            if !insert_booking(&mut tx, b, at_ms).await? {
                // Booked already: the place raised for it is given back.
                sqlx::query(
                    "UPDATE plan_slot SET booked = booked - 1 WHERE node = $1 AND slot_start = $2",
                )
                .bind(&b.node)
                .bind(b.slot_start_ms)
                .execute(&mut *tx)
                .await?;
                made.push(false);
                continue;
            }
            made.push(true);
        }
        tx.commit().await?;
        Ok(made)
    }

    /// Future bookings on `node` (slots starting at or after `from_ms`), every
    /// deployment's.
    pub async fn plan_bookings_on(
        &self,
        node: &str,
        from_ms: i64,
    ) -> Result<Vec<Booking>, StoreError> {
        let rows = sqlx::query(
            "SELECT deployment, device, slot_start FROM plan_booking \
             WHERE node = $1 AND slot_start >= $2 ORDER BY slot_start, device",
        )
        .bind(node)
        .bind(from_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Booking {
                    deployment: r.try_get(0)?,
                    device: r.try_get(1)?,
                    node: node.into(),
                    slot_start_ms: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Takes a booking back (its place in the slot freed), in one transaction;
    /// whether it was there.
    pub async fn plan_unbook(&self, b: &Booking) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let gone = sqlx::query(
            "DELETE FROM plan_booking WHERE deployment = $1 AND device = $2 AND node = $3 \
             AND slot_start = $4",
        )
        .bind(b.deployment)
        .bind(&b.device)
        .bind(&b.node)
        .bind(b.slot_start_ms)
        .execute(&mut *tx)
        .await?;
        if gone.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE plan_slot SET booked = booked - 1 \
             WHERE node = $1 AND slot_start = $2 AND booked > 0",
        )
        .bind(&b.node)
        .bind(b.slot_start_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Takes one place in `b`'s node and slot if it has fewer than `cap` booked: the
/// conditional UPDATE every booking goes through (atomic per row in both databases,
/// so the database is the arbiter between radcare nodes). False: the slot is full.
async fn take_place(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    b: &Booking,
    cap: u32,
) -> Result<bool, StoreError> {
    sqlx::query(
        "INSERT INTO plan_slot (node, slot_start, booked) VALUES ($1, $2, 0) \
         ON CONFLICT (node, slot_start) DO NOTHING",
    )
    .bind(&b.node)
    .bind(b.slot_start_ms)
    .execute(&mut **tx)
    .await?;
    let raised = sqlx::query(
        "UPDATE plan_slot SET booked = booked + 1 \
         WHERE node = $1 AND slot_start = $2 AND booked < $3",
    )
    .bind(&b.node)
    .bind(b.slot_start_ms)
    .bind(cap as i32)
    .execute(&mut **tx)
    .await?;
    Ok(raised.rows_affected() == 1)
}

/// Records `b`; false when the device holds a booking for the deployment already.
async fn insert_booking(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    b: &Booking,
    at_ms: i64,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO plan_booking (deployment, device, node, slot_start, booked_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (deployment, device) DO NOTHING",
    )
    .bind(b.deployment)
    .bind(&b.device)
    .bind(&b.node)
    .bind(b.slot_start_ms)
    .bind(at_ms)
    .execute(&mut **tx)
    .await?;
    Ok(inserted.rows_affected() == 1)
}
