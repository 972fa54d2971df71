//! Reading `supervisor_triggers` (for `why`, `show`, the API and the run's
//! environment).

use crate::Result;
use rusqlite::{Connection, Row};
use serde::Serialize;
use std::collections::HashMap;

/// A trigger as the tools and `--json` show it (without its data).
#[derive(Debug, Clone, Serialize)]
pub struct TriggerRow {
    pub id: i64,
    pub task: String,
    pub source: String,
    pub key: Option<String>,
    pub data_bytes: i64,
    pub received_at: String,
    pub execution_id: Option<i64>,
    pub outcome: String,
    pub reason: Option<String>,
    pub detail: Option<serde_json::Value>,
}

const COLUMNS: &str =
    "id, task, source, key, data_bytes, received_at, execution_id, outcome, reason, detail";

fn from_row(r: &Row) -> rusqlite::Result<TriggerRow> {
    let detail: Option<String> = r.get(9)?;
    Ok(TriggerRow {
        id: r.get(0)?,
        task: r.get(1)?,
        source: r.get(2)?,
        key: r.get(3)?,
        data_bytes: r.get(4)?,
        received_at: r.get(5)?,
        execution_id: r.get(6)?,
        outcome: r.get(7)?,
        reason: r.get(8)?,
        detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
    })
}

/// The triggers execution `id` consumed, oldest first.
pub fn consumed_by(conn: &Connection, id: i64) -> Result<Vec<TriggerRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_triggers
         WHERE execution_id = ?1 AND outcome IN ('queued','coalesced') ORDER BY id"
    ))?;
    let rows = stmt.query_map([id], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Every trigger that names execution `id` (consumed ones and duplicates).
pub fn naming(conn: &Connection, id: i64) -> Result<Vec<TriggerRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_triggers WHERE execution_id = ?1 ORDER BY id"
    ))?;
    let rows = stmt.query_map([id], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The data of the triggers execution `id` consumed, by trigger id.
pub fn data_of(conn: &Connection, id: i64) -> Result<HashMap<i64, Vec<u8>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, data FROM supervisor_triggers
         WHERE execution_id = ?1 AND outcome IN ('queued','coalesced') AND data IS NOT NULL",
    )?;
    let rows = stmt.query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<TriggerRow>> {
    use rusqlite::OptionalExtension;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_triggers WHERE id = ?1"
    ))?;
    Ok(stmt.query_row([id], from_row).optional()?)
}

/// The newest `limit` triggers of a task (or of all tasks), newest first.
pub fn recent(conn: &Connection, task: Option<&str>, limit: i64) -> Result<Vec<TriggerRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_triggers WHERE (?1 IS NULL OR task = ?1)
         ORDER BY id DESC LIMIT ?2"
    ))?;
    let rows = stmt.query_map(rusqlite::params![task, limit], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
