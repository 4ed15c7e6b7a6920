//! A terminal's check-in against the store: read the plan, the nodes and what is
//! booked, try the core's candidates in order, book the first that still has room.

use super::{Location, Node, candidates};
use crate::store::plan::Booking;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CheckInError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("deployment {0} has no plan")]
    NoPlan(i64),
}

/// What a terminal is told.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckIn {
    /// Download from `node` from `booking.slot_start_ms` on.
    Booked { booking: Booking, node: Node },
    /// No room left in the plan: ask again at this time (Unix ms). Never a silent
    /// drop.
    AskAgainAt(i64),
}

pub async fn check_in(
    store: &Store,
    deployment: i64,
    device: &str,
    at: &Location,
    now_ms: i64,
) -> Result<CheckIn, CheckInError> {
    let plan = store
        .plan_get(deployment)
        .await?
        .ok_or(CheckInError::NoPlan(deployment))?;
    let nodes = store.plan_nodes().await?;
    let node_of = |id: &str| nodes.iter().find(|n| n.id == id).cloned();
    if let Some(b) = store.plan_booking(deployment, device).await?
        && let Some(node) = node_of(&b.node)
    {
        return Ok(CheckIn::Booked { booking: b, node });
    }
    let Some(first) = plan.slots.current(now_ms) else {
        return Ok(CheckIn::AskAgainAt(now_ms + plan.slots.length_ms));
    };
    let running = plan.slots.running(now_ms);
    for _ in 0..ROUNDS {
        let booked = store.plan_booked(&plan.slots).await?;
        let ranked = candidates(
            at,
            &nodes,
            &booked,
            &plan.slots,
            &plan.allowed,
            first,
            running,
            CANDIDATES,
        );
        if ranked.is_empty() {
            return Ok(CheckIn::AskAgainAt(
                plan.slots
                    .starts_at(plan.slots.count)
                    .max(now_ms + plan.slots.length_ms),
            ));
        }
        for (node, slot) in ranked {
            let Some(n) = node_of(&node) else { continue };
            let want = Booking {
                deployment,
                device: device.into(),
                node,
                slot_start_ms: plan.slots.starts_at(slot),
            };
            // Lost to a concurrent booking: the next candidate, never over the cap.
            if let Some(b) = store.plan_book(&want, n.cap_per_slot, now_ms).await? {
                let node = node_of(&b.node).unwrap_or(n);
                return Ok(CheckIn::Booked { booking: b, node });
            }
        }
        // Every candidate taken meanwhile: read what is booked again.
    }
    // Racing that much: try again in a moment rather than spin here.
    Ok(CheckIn::AskAgainAt(now_ms + 1_000))
}

/// Candidates tried per reading of the bookings: the best few; losing them all to
/// concurrent check-ins means reading again, not walking the whole country.
pub const CANDIDATES: usize = 16;
/// Readings per check-in.
const ROUNDS: usize = 8;

/// A node is down: each of its future bookings moves to the next best node with room
/// (or a later slot), as that terminal's check-in would now choose. Returns the moves:
/// (device, old booking, what it got). The terminals learn it on their next poll or
/// check-in, which answers from the store.
pub async fn replan_node(
    store: &Store,
    node: &str,
    now_ms: i64,
) -> Result<Vec<(Booking, CheckIn)>, CheckInError> {
    store.plan_set_up(node, false).await?;
    let mut moves = Vec::new();
    for old in store.plan_bookings_on(node, now_ms).await? {
        if !store.plan_unbook(&old).await? {
            continue;
        }
        let device = store.ota_device(&old.device).await?;
        let at = device
            .and_then(|d| Location::new(d.latitude?, d.longitude?).ok())
            .unwrap_or(Location {
                latitude: 0.0,
                longitude: 0.0,
            });
        let got = check_in(store, old.deployment, &old.device, &at, now_ms).await?;
        moves.push((old, got));
    }
    Ok(moves)
}
