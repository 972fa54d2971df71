//! `supervisor_probes` and `supervisor_probe_results`: a condition's state
//! (kept in step with the task at apply time), kit-tick's claim, and the
//! recorded answers.

use crate::clock::{self, Instant};
use crate::task::Task;
use crate::Result;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

/// How many results are kept per task.
pub const RESULTS_KEPT: i64 = 50;

/// Keeps the task's probe row in step with its `when` (called by
/// `task::repo::upsert`). A new or changed probe is due at once (the next
/// tick probes it); its earlier answers are kept, so changing a probe does
/// not by itself make an edge.
pub fn sync(conn: &Connection, task: &Task, now: Instant) -> Result<()> {
    let Some(w) = &task.when else {
        conn.execute(
            "DELETE FROM supervisor_probes WHERE task = ?1",
            [&task.name],
        )?;
        return Ok(());
    };
    let spec = serde_json::to_string(w).map_err(|e| crate::Error::invalid(e.to_string()))?;
    let ts = clock::fmt(now);
    conn.execute(
        "INSERT INTO supervisor_probes (task, spec, every_ms, next_due, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT(task) DO UPDATE SET spec = excluded.spec, every_ms = excluded.every_ms,
           next_due = excluded.next_due, updated_at = excluded.updated_at
         WHERE spec <> excluded.spec",
        params![task.name, spec, w.every().as_millis() as i64, ts],
    )?;
    Ok(())
}

pub fn remove(conn: &Connection, task: &str) -> Result<()> {
    conn.execute("DELETE FROM supervisor_probes WHERE task = ?1", [task])?;
    Ok(())
}

/// Claims every due probe of an enabled task exactly once (inside
/// kit-tick's write transaction): its next_due moves one `every` on (from
/// the due time, so the cadence does not drift; from now after a gap).
/// Found through the `supervisor_probes_due` index.
pub fn claim_due(conn: &Connection, now: Instant) -> Result<Vec<String>> {
    let ts = clock::fmt(now);
    let mut stmt = conn.prepare_cached(
        "SELECT p.task, p.next_due, p.every_ms, p.claimed_at, p.spec FROM supervisor_probes p
         JOIN supervisor_tasks t ON t.name = p.task
         WHERE p.next_due <= ?1 AND t.enabled = 1",
    )?;
    type Due = (String, String, i64, Option<String>, String);
    let due: Vec<Due> = stmt
        .query_map([&ts], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut update = conn.prepare_cached(
        "UPDATE supervisor_probes SET next_due = ?2, claimed_at = ?3 WHERE task = ?1 AND next_due = ?4",
    )?;
    let mut claimed = Vec::with_capacity(due.len());
    for (task, due_at, every_ms, open_claim, spec) in due {
        // The previous probe has not answered. Past its timeout (and a
        // minute for the runner to start and record) it is lost, and
        // recorded as a failure; before that it is still running, and this
        // due time is passed over rather than probed twice at once.
        if let Some(claimed_at) = open_claim {
            let timeout = serde_json::from_str::<crate::task::when::When>(&spec)
                .map(|w| w.timeout())
                .unwrap_or(crate::task::when::DEFAULT_TIMEOUT);
            let limit = chrono::Duration::from_std(timeout).unwrap_or_default()
                + chrono::Duration::minutes(1);
            let open_for = clock::parse_stored(&claimed_at).map(|c| now - c);
            if open_for.is_some_and(|d| d < limit) {
                continue;
            }
            super::record_lost(conn, &task, &claimed_at, now)?;
        }
        let every = chrono::Duration::milliseconds(every_ms.max(1));
        let base = clock::parse_stored(&due_at).unwrap_or(now);
        let mut next = base + every;
        if next <= now {
            next = now + every;
        }
        if update.execute(params![task, clock::fmt(next), ts, due_at])? > 0 {
            claimed.push(task);
        }
    }
    claimed.sort();
    Ok(claimed)
}

/// A probe row, for the runner and for people.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeState {
    pub task: String,
    pub every_ms: i64,
    pub next_due: Option<String>,
    pub claimed_at: Option<String>,
    pub last_at: Option<String>,
    pub last_result: Option<String>,
    pub last_answer: Option<String>,
    pub last_exit: Option<i64>,
    pub last_error: Option<String>,
    pub last_output: Option<String>,
    pub streak: i64,
    pub failing_since: Option<String>,
    pub last_fired_at: Option<String>,
    pub last_execution_id: Option<i64>,
    pub fired: i64,
}

const COLUMNS: &str = "task, every_ms, next_due, claimed_at, last_at, last_result, last_answer,
    last_exit, last_error, last_output, streak, failing_since, last_fired_at, last_execution_id, fired";

fn from_row(r: &Row) -> rusqlite::Result<ProbeState> {
    Ok(ProbeState {
        task: r.get(0)?,
        every_ms: r.get(1)?,
        next_due: r.get(2)?,
        claimed_at: r.get(3)?,
        last_at: r.get(4)?,
        last_result: r.get(5)?,
        last_answer: r.get(6)?,
        last_exit: r.get(7)?,
        last_error: r.get(8)?,
        last_output: r.get(9)?,
        streak: r.get(10)?,
        failing_since: r.get(11)?,
        last_fired_at: r.get(12)?,
        last_execution_id: r.get(13)?,
        fired: r.get(14)?,
    })
}

pub fn get(conn: &Connection, task: &str) -> Result<Option<ProbeState>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_probes WHERE task = ?1"
    ))?;
    Ok(stmt.query_row([task], from_row).optional()?)
}

pub fn list(conn: &Connection) -> Result<Vec<ProbeState>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_probes ORDER BY task"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Probes failing now (of enabled tasks): what `status` flags.
pub fn failing(conn: &Connection) -> Result<Vec<ProbeState>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_probes WHERE failing_since IS NOT NULL ORDER BY task"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One recorded probe.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    pub id: i64,
    pub task: String,
    pub at: String,
    pub result: String,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    pub output: Option<String>,
    pub decision: String,
    pub execution_id: Option<i64>,
}

/// The newest results, newest first (all tasks when `task` is None).
pub fn results(conn: &Connection, task: Option<&str>, limit: i64) -> Result<Vec<ProbeResult>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, task, at, result, exit_code, duration_ms, error, output, decision, execution_id
         FROM supervisor_probe_results WHERE ?1 IS NULL OR task = ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![task, limit], |r| {
        Ok(ProbeResult {
            id: r.get(0)?,
            task: r.get(1)?,
            at: r.get(2)?,
            result: r.get(3)?,
            exit_code: r.get(4)?,
            duration_ms: r.get(5)?,
            error: r.get(6)?,
            output: r.get(7)?,
            decision: r.get(8)?,
            execution_id: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}
