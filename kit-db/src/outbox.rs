//! Reading and delivering `supervisor_events` (the outbox that
//! [`crate::events::record`] writes to).
//!
//! Delivery is claimed with a lease: kit-heal sets `lease_until` in a write
//! transaction before it runs the notify command, so a second kit-heal
//! never picks the same event while the first is delivering it. A lease
//! only expires if its holder died mid-delivery; the event is then retried
//! (at-least-once, never silently dropped).

use crate::clock::{self, Instant};
use crate::Result;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

/// A row of `supervisor_events`; also the JSON a notify command receives.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: i64,
    pub created_at: String,
    pub kind: String,
    pub severity: String,
    pub task: Option<String>,
    pub message: String,
    pub detail: Option<serde_json::Value>,
    pub dedupe_key: Option<String>,
    pub notify: bool,
    /// pending, delivered, failed (given up) or none (not to be sent)
    pub delivery: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub last_error: Option<String>,
}

const COLUMNS: &str = "id, created_at, kind, severity, task, message, detail, dedupe_key, notify, \
    delivery, attempts, next_attempt_at, delivered_at, last_error";

fn from_row(r: &Row) -> rusqlite::Result<Event> {
    Ok(Event {
        id: r.get(0)?,
        created_at: r.get(1)?,
        kind: r.get(2)?,
        severity: r.get(3)?,
        task: r.get(4)?,
        message: r.get(5)?,
        detail: r
            .get::<_, Option<String>>(6)?
            .and_then(|s| serde_json::from_str(&s).ok()),
        dedupe_key: r.get(7)?,
        notify: r.get::<_, i64>(8)? != 0,
        delivery: r.get(9)?,
        attempts: r.get(10)?,
        next_attempt_at: r.get(11)?,
        delivered_at: r.get(12)?,
        last_error: r.get(13)?,
    })
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Event>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_events WHERE id = ?1"
    ))?;
    Ok(stmt.query_row([id], from_row).optional()?)
}

/// The newest events (optionally of one task), newest first.
pub fn recent(conn: &Connection, task: Option<&str>, limit: i64) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_events WHERE (?1 IS NULL OR task = ?1)
         ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![task, limit], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Events still to be delivered (`pending`) or given up on (`failed`), oldest first.
pub fn undelivered(conn: &Connection, limit: i64) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_events WHERE delivery IN ('pending','failed')
         ORDER BY id LIMIT ?1"
    ))?;
    let rows = stmt.query_map([limit], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The outbox at a glance (what `kit-ctl status` shows).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub pending: i64,
    pub failed: i64,
    pub oldest_pending_at: Option<String>,
    pub max_attempts: i64,
    pub last_error: Option<String>,
}

pub fn counts(conn: &Connection) -> Result<Counts> {
    let (pending, oldest, max_attempts): (i64, Option<String>, Option<i64>) = conn.query_row(
        "SELECT count(*), min(created_at), max(attempts) FROM supervisor_events WHERE delivery = 'pending'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let failed: i64 = conn.query_row(
        "SELECT count(*) FROM supervisor_events WHERE delivery = 'failed'",
        [],
        |r| r.get(0),
    )?;
    let last_error: Option<String> = conn
        .query_row(
            "SELECT last_error FROM supervisor_events
             WHERE delivery IN ('pending','failed') AND last_error IS NOT NULL
             ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(Counts {
        pending,
        failed,
        oldest_pending_at: oldest,
        max_attempts: max_attempts.unwrap_or(0),
        last_error,
    })
}

/// Pending events due for a delivery attempt at `now` and not leased, oldest
/// first. Read through the partial index of pending events, so the cost does
/// not grow with the delivered history.
pub fn due(conn: &Connection, now: Instant, limit: i64) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_events INDEXED BY supervisor_events_pending
         WHERE delivery = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?1)
           AND (lease_until IS NULL OR lease_until <= ?1)
         ORDER BY id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![clock::fmt(now), limit], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Takes the oldest due event for delivery until `lease_until`. Run it in a
/// write transaction (`Store::write`): that is what makes the claim exclusive.
pub fn claim_next(conn: &Connection, now: Instant, lease_until: Instant) -> Result<Option<Event>> {
    let Some(ev) = due(conn, now, 1)?.into_iter().next() else {
        return Ok(None);
    };
    conn.execute(
        "UPDATE supervisor_events SET lease_until = ?2 WHERE id = ?1",
        params![ev.id, clock::fmt(lease_until)],
    )?;
    Ok(Some(ev))
}

/// Records a successful delivery.
pub fn mark_delivered(conn: &Connection, id: i64, now: Instant) -> Result<bool> {
    let n = conn.execute(
        "UPDATE supervisor_events SET delivery = 'delivered', delivered_at = ?2,
           attempts = attempts + 1, lease_until = NULL, last_error = NULL, next_attempt_at = NULL
         WHERE id = ?1 AND delivery = 'pending'",
        params![id, clock::fmt(now)],
    )?;
    Ok(n > 0)
}

/// Records a failed attempt; the event stays pending until `next_attempt_at`.
pub fn mark_retry(
    conn: &Connection,
    id: i64,
    error: &str,
    next_attempt_at: Instant,
) -> Result<bool> {
    let n = conn.execute(
        "UPDATE supervisor_events SET attempts = attempts + 1, last_error = ?2,
           next_attempt_at = ?3, lease_until = NULL
         WHERE id = ?1 AND delivery = 'pending'",
        params![id, error, clock::fmt(next_attempt_at)],
    )?;
    Ok(n > 0)
}

/// Settles pending events that will not be sent (no notify command is
/// configured), saying why. Returns them as they were.
pub fn mark_unsent(conn: &Connection, now: Instant, why: &str) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_events INDEXED BY supervisor_events_pending
         WHERE delivery = 'pending' AND (lease_until IS NULL OR lease_until <= ?1) ORDER BY id"
    ))?;
    let events: Vec<Event> = stmt
        .query_map([clock::fmt(now)], from_row)?
        .collect::<rusqlite::Result<_>>()?;
    let mut upd = conn.prepare_cached(
        "UPDATE supervisor_events SET delivery = 'none', last_error = ?2, lease_until = NULL
         WHERE id = ?1 AND delivery = 'pending'",
    )?;
    for ev in &events {
        upd.execute(params![ev.id, why])?;
    }
    Ok(events)
}
