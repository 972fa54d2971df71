//! One-shot runs (`kit-ctl at TIME NAME`): kit-tick claims each once when
//! its time comes, as an execution with trigger `at` (no scheduled slot:
//! the row's `execution_id` is what makes it once). Its `--data` reaches
//! the command the way issue 17's events hand theirs over.

use super::rows::{self, Override};
use crate::clock::{self, Instant};
use crate::Result;
use rusqlite::{params, Connection};
use std::ffi::OsString;

/// The one-shot runs due at `now`, oldest first.
pub fn due(conn: &Connection, now: Instant) -> Result<Vec<Override>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM supervisor_overrides
         WHERE kind = 'at' AND execution_id IS NULL AND cleared_at IS NULL AND starts_at <= ?1
         ORDER BY starts_at, id",
        rows::COLUMNS
    ))?;
    let rows = stmt.query_map([clock::fmt(now)], rows::from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Links the one-shot row to the execution that carries it out (queued,
/// or skipped with why).
pub fn link(conn: &Connection, at_id: i64, execution_id: i64, now: Instant) -> Result<()> {
    conn.execute(
        "UPDATE supervisor_overrides SET execution_id = ?2, reverted_at = ?3, updated_at = ?3
         WHERE id = ?1",
        params![at_id, execution_id, clock::fmt(now)],
    )?;
    Ok(())
}

/// Inserts the queued execution of a one-shot run.
pub fn queue(conn: &Connection, task: &str, now: Instant) -> Result<i64> {
    conn.execute(
        "INSERT INTO supervisor_executions(task, trigger, attempt, created_at, status)
         VALUES (?1, 'at', 1, ?2, 'queued')",
        params![task, clock::fmt(now)],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The variables a one-shot run's command gets for its `--data`:
/// `KIT_EVENT_DATA` (the text) and `KIT_EVENT_FILE` is left to issue 17's
/// plumbing. Empty for any other execution. (The lead merges this with the
/// events branch's equivalent: keep one.)
pub fn data_env(conn: &Connection, execution_id: i64) -> Result<Vec<(OsString, OsString)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT data FROM supervisor_overrides WHERE kind = 'at' AND execution_id = ?1 AND data IS NOT NULL",
    )?;
    let data: Option<String> =
        rusqlite::OptionalExtension::optional(stmt.query_row([execution_id], |r| r.get(0)))?;
    Ok(data
        .map(|d| vec![("KIT_EVENT_DATA".into(), d.into())])
        .unwrap_or_default())
}
