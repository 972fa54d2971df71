//! The `supervisor_tasks` table: typed reads and writes of tasks.

use super::model::Task;
use super::validate::validate;
use crate::clock::{self, Instant};
use crate::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use serde::Serialize;

/// A task as stored, with the bookkeeping kit keeps beside it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRow {
    #[serde(flatten)]
    pub task: Task,
    pub next_due: Option<String>,
    pub disabled_reason: Option<String>,
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Created,
    Updated,
    Unchanged,
    Removed,
}

const COLUMNS: &str = "spec, next_due, disabled_reason, revision, created_at, updated_at, enabled";

fn from_row(r: &Row) -> rusqlite::Result<TaskRow> {
    let spec: String = r.get(0)?;
    let mut task: Task = serde_json::from_str(&spec).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })?;
    // `enabled` is a column of its own so that sqlite3 users (and kit-heal's
    // escalation) can flip it; the column wins over the spec copy.
    task.enabled = r.get::<_, i64>(6)? != 0;
    Ok(TaskRow {
        task,
        next_due: r.get(1)?,
        disabled_reason: r.get(2)?,
        revision: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

pub fn get(conn: &Connection, name: &str) -> Result<Option<TaskRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_tasks WHERE name = ?1"
    ))?;
    Ok(stmt.query_row([name], from_row).optional()?)
}

/// Like `get`, but a missing task is an error that suggests close names.
pub fn require(conn: &Connection, name: &str) -> Result<TaskRow> {
    match get(conn, name)? {
        Some(t) => Ok(t),
        None => Err(Error::NoSuchTask {
            name: name.to_string(),
            similar: similar_names(conn, name)?,
        }),
    }
}

pub fn list(conn: &Connection) -> Result<Vec<TaskRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_tasks ORDER BY name"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn names(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT name FROM supervisor_tasks ORDER BY name")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Up to three task names within a small edit distance of `name`.
pub fn similar_names(conn: &Connection, name: &str) -> Result<Vec<String>> {
    let mut scored: Vec<(usize, String)> = names(conn)?
        .into_iter()
        .map(|n| (edit_distance(&n, name), n))
        .filter(|(d, n)| {
            *d <= 3.max(name.len() / 3) || n.contains(name) || name.contains(n.as_str())
        })
        .collect();
    scored.sort();
    Ok(scored.into_iter().take(3).map(|(_, n)| n).collect())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Creates or updates a task (validated here, whoever calls). A change to
/// when it fires (schedule, zone, enabled) clears `next_due`, so kit-tick
/// recomputes it from its next tick and never fires a backlog for it.
pub fn upsert(tx: &Transaction, task: &Task, now: Instant) -> Result<Change> {
    validate(task).map_err(|e| Error::invalid(format!("task {:?}: {e}", task.name)))?;
    let spec = serde_json::to_string(task).map_err(|e| Error::invalid(e.to_string()))?;
    let command =
        serde_json::to_string(&task.command).map_err(|e| Error::invalid(e.to_string()))?;
    let ts = clock::fmt(now);
    let existing = get(tx, &task.name)?;
    match existing {
        None => {
            tx.execute(
                "INSERT INTO supervisor_tasks
                   (name, schedule, command, enabled, timezone, spec, next_due, revision, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, 1, ?7, ?7)",
                params![task.name, task.schedule, command, task.enabled, task.timezone, spec, ts],
            )?;
            crate::triggers::chain::sync(tx, task)?;
            Ok(Change::Created)
        }
        Some(old) if old.task == *task => Ok(Change::Unchanged),
        Some(old) => {
            let timing_changed = old.task.schedule != task.schedule
                || old.task.timezone != task.timezone
                || old.task.enabled != task.enabled;
            tx.execute(
                "UPDATE supervisor_tasks SET schedule = ?2, command = ?3, enabled = ?4, timezone = ?5,
                   spec = ?6, revision = revision + 1, updated_at = ?7,
                   next_due = CASE WHEN ?8 THEN NULL ELSE next_due END,
                   disabled_reason = CASE WHEN ?4 THEN NULL ELSE disabled_reason END
                 WHERE name = ?1",
                params![task.name, task.schedule, command, task.enabled, task.timezone, spec, ts, timing_changed],
            )?;
            crate::triggers::chain::sync(tx, task)?;
            Ok(Change::Updated)
        }
    }
}

pub fn remove(tx: &Transaction, name: &str) -> Result<bool> {
    let n = tx.execute("DELETE FROM supervisor_tasks WHERE name = ?1", [name])?;
    tx.execute("DELETE FROM supervisor_recovery WHERE task = ?1", [name])?;
    crate::triggers::chain::remove(tx, name)?;
    Ok(n > 0)
}

/// Enables or disables a task, recording why when kit (not a person) did it.
pub fn set_enabled(
    tx: &Transaction,
    name: &str,
    enabled: bool,
    reason: Option<&str>,
    now: Instant,
) -> Result<bool> {
    let row = require(tx, name)?;
    if row.task.enabled == enabled {
        return Ok(false);
    }
    let mut task = row.task;
    task.enabled = enabled;
    let spec = serde_json::to_string(&task).map_err(|e| Error::invalid(e.to_string()))?;
    tx.execute(
        "UPDATE supervisor_tasks SET enabled = ?2, spec = ?3, disabled_reason = ?4,
           next_due = NULL, revision = revision + 1, updated_at = ?5 WHERE name = ?1",
        params![
            name,
            enabled,
            spec,
            if enabled { None } else { reason },
            clock::fmt(now)
        ],
    )?;
    Ok(true)
}

pub fn set_next_due(tx: &Transaction, name: &str, next: Option<Instant>) -> Result<()> {
    tx.execute(
        "UPDATE supervisor_tasks SET next_due = ?2 WHERE name = ?1",
        params![name, clock::fmt_opt(next)],
    )?;
    Ok(())
}
