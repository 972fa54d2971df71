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
use rusqlite::types::Value;
use rusqlite::{params, Connection, Row};
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
        // Text that is not JSON (written by hand) is shown as it is.
        detail: r
            .get::<_, Option<String>>(6)?
            .map(|s| serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))),
        dedupe_key: r.get(7)?,
        notify: r.get::<_, i64>(8)? != 0,
        delivery: r.get(9)?,
        attempts: r.get(10)?,
        next_attempt_at: r.get(11)?,
        delivered_at: r.get(12)?,
        last_error: r.get(13)?,
    })
}

/// Which events [`page`] reads: of one task and/or kind, older than an id.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    pub task: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub before_id: Option<i64>,
}

/// Up to `limit` events matching `filter`, newest first. The SQL names only
/// the conditions given, so a task filter reads through the (task, id) index.
pub fn page(conn: &Connection, filter: Filter, limit: i64) -> Result<Vec<Event>> {
    let mut sql = format!("SELECT {COLUMNS} FROM supervisor_events WHERE 1 = 1");
    let mut args: Vec<Value> = Vec::new();
    if let Some(t) = filter.task {
        args.push(Value::Text(t.to_string()));
        sql.push_str(&format!(" AND task = ?{}", args.len()));
    }
    if let Some(k) = filter.kind {
        args.push(Value::Text(k.to_string()));
        sql.push_str(&format!(" AND kind = ?{}", args.len()));
    }
    if let Some(b) = filter.before_id {
        args.push(Value::Integer(b));
        sql.push_str(&format!(" AND id < ?{}", args.len()));
    }
    args.push(Value::Integer(limit));
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", args.len()));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
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
    lease(conn, ev.id, lease_until)?;
    Ok(Some(ev))
}

/// Holds an event until `until`: no other kit-heal takes it before then
/// (delivery, or a planned recovery action). Run it in a write transaction.
pub fn lease(conn: &Connection, id: i64, until: Instant) -> Result<()> {
    conn.execute(
        "UPDATE supervisor_events SET lease_until = ?2 WHERE id = ?1",
        params![id, clock::fmt(until)],
    )?;
    Ok(())
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
