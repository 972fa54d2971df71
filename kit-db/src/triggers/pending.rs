//! Triggered runs that are queued, and who is responsible for starting them.
//!
//! A queued triggered row is owned by the kit-run that will start it: that
//! kit-run writes its pid on the row while it waits (for a debounce's quiet
//! period, or for the run in progress to end). A row with no live owner is
//! started by the next kit-tick ([`unowned_due`]), so a kit-run killed
//! before it started its row loses nothing; ownership makes sure two
//! kit-runs never both start it.

use super::SOURCES_SQL;
use crate::clock::{self, Instant};
use crate::exec::{self, Execution, Recorder};
use crate::process;
use crate::task::repo;
use crate::Result;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// The task's queued triggered run that has not started yet, if any (what a
/// new trigger coalesces into).
pub fn queued_run(conn: &Connection, task: &str) -> Result<Option<i64>> {
    // `status IN (...)` lets SQLite use the partial index on open rows.
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id FROM supervisor_executions
         WHERE status IN ('queued','running') AND status = 'queued' AND task = ?1
           AND trigger IN {SOURCES_SQL}
         ORDER BY id LIMIT 1"
    ))?;
    Ok(stmt.query_row([task], |r| r.get(0)).optional()?)
}

/// How long a queued triggered row may wait for its kit-run to take it
/// before a new trigger starts another (normally it takes milliseconds).
pub const TAKE_GRACE: chrono::Duration = chrono::Duration::seconds(2);

/// True when queued row `id` has no live owner: its kit-run died, or none
/// took it within [`TAKE_GRACE`] (or it stepped back, on an injected clock).
pub fn orphaned(conn: &Connection, id: i64, now: Instant) -> Result<bool> {
    type Owner = (Option<i64>, Option<i64>, Option<String>, String);
    let row: Option<Owner> = conn
        .prepare_cached(
            "SELECT pid, pid_start, boot_id, created_at FROM supervisor_executions
             WHERE id = ?1 AND status = 'queued'",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    Ok(match row {
        None => false,
        Some((Some(pid), start, boot, _)) => {
            !process::recorded_alive(Some(pid), start, boot.as_deref())
        }
        Some((None, _, _, created)) => {
            clock::parse_stored(&created).is_some_and(|c| now - c >= TAKE_GRACE)
        }
    })
}

/// Whether this kit-run may start the row.
#[derive(Debug)]
pub enum Take {
    /// It is ours now.
    Taken(Box<Execution>),
    /// It is no longer queued (started or settled by someone else).
    Gone,
    /// Another live kit-run owns it.
    Owned(i64),
}

/// Makes `who` the owner of queued row `id`, unless a live kit-run already
/// is. Run inside a write transaction.
pub fn take(conn: &Connection, id: i64, who: &Recorder) -> Result<Take> {
    type Owner = (String, Option<i64>, Option<i64>, Option<String>);
    let row: Option<Owner> = conn
        .prepare_cached(
            "SELECT status, pid, pid_start, boot_id FROM supervisor_executions WHERE id = ?1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let Some((status, pid, pid_start, boot)) = row else {
        return Ok(Take::Gone);
    };
    if status != "queued" {
        return Ok(Take::Gone);
    }
    if let Some(p) = pid {
        if p != who.pid as i64 && process::recorded_alive(pid, pid_start, boot.as_deref()) {
            return Ok(Take::Owned(p));
        }
    }
    conn.prepare_cached(
        "UPDATE supervisor_executions SET pid = ?2, pid_start = ?3, boot_id = ?4
         WHERE id = ?1 AND status = 'queued'",
    )?
    .execute(params![
        id,
        who.pid,
        who.start.map(|s| s.0 as i64),
        who.boot_id
    ])?;
    Ok(match exec::get(conn, id)? {
        Some(e) => Take::Taken(Box::new(e)),
        None => Take::Gone,
    })
}

/// Gives up ownership (a kit-run on an injected clock cannot wait for a
/// debounce: the kit-tick at the deadline starts the row instead).
pub fn release(conn: &Connection, id: i64, who: &Recorder) -> Result<()> {
    conn.prepare_cached(
        "UPDATE supervisor_executions SET pid = NULL, pid_start = NULL, boot_id = NULL
         WHERE id = ?1 AND status = 'queued' AND pid = ?2",
    )?
    .execute(params![id, who.pid])?;
    Ok(())
}

/// When the run may start: the newest trigger it consumes plus the task's
/// debounce (None without a debounce: at once).
pub fn deadline(
    conn: &Connection,
    id: i64,
    debounce: Option<std::time::Duration>,
) -> Result<Option<Instant>> {
    let Some(d) = debounce else {
        return Ok(None);
    };
    let newest: Option<String> = conn
        .prepare_cached(
            "SELECT max(received_at) FROM supervisor_triggers
             WHERE execution_id = ?1 AND outcome IN ('queued','coalesced')",
        )?
        .query_row([id], |r| r.get(0))?;
    Ok(newest
        .as_deref()
        .and_then(clock::parse_stored)
        .map(|t| t + chrono::Duration::from_std(d).unwrap_or_default()))
}

/// A queued triggered run waiting for its start.
#[derive(Debug, Clone, Serialize)]
pub struct Waiting {
    pub id: i64,
    pub task: String,
    pub created_at: String,
    /// The debounce deadline (None: due at once).
    pub due_at: Option<String>,
    /// The live kit-run that owns it, if any.
    pub owner: Option<i64>,
    /// Triggers it will consume so far.
    pub triggers: i64,
}

impl Waiting {
    /// "#12 (2 triggers, due …)", for the views.
    pub fn describe(&self) -> String {
        format!(
            "#{} ({} trigger{}{})",
            self.id,
            self.triggers,
            if self.triggers == 1 { "" } else { "s" },
            self.due_at
                .as_deref()
                .map(|d| format!(", due {d}"))
                .unwrap_or_default()
        )
    }
}

/// Every queued triggered run (for `status`, `next`, the API and the tick).
pub fn waiting(conn: &Connection, task: Option<&str>) -> Result<Vec<Waiting>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT e.id, e.task, e.created_at, e.pid, e.pid_start, e.boot_id,
                (SELECT count(*) FROM supervisor_triggers t
                  WHERE t.execution_id = e.id AND t.outcome IN ('queued','coalesced'))
         FROM supervisor_executions e
         WHERE e.status IN ('queued','running') AND e.status = 'queued'
           AND e.trigger IN {SOURCES_SQL} AND (?1 IS NULL OR e.task = ?1)
         ORDER BY e.id"
    ))?;
    type Raw = (
        i64,
        String,
        String,
        Option<i64>,
        Option<i64>,
        Option<String>,
        i64,
    );
    let rows: Vec<Raw> = stmt
        .query_map([task], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for (id, task, created_at, pid, pid_start, boot, triggers) in rows {
        let debounce = repo::get(conn, &task)?.and_then(|r| r.task.debounce.map(|d| d.0));
        let due_at = deadline(conn, id, debounce)?;
        let owner = pid.filter(|_| process::recorded_alive(pid, pid_start, boot.as_deref()));
        out.push(Waiting {
            id,
            task,
            created_at,
            due_at: clock::fmt_opt(due_at),
            owner,
            triggers,
        });
    }
    Ok(out)
}

/// Queued triggered runs that nobody alive will start and whose debounce
/// (if any) has passed at `now`: kit-tick starts a kit-run for each.
pub fn unowned_due(conn: &Connection, now: Instant) -> Result<Vec<(i64, String)>> {
    Ok(waiting(conn, None)?
        .into_iter()
        .filter(|w| w.owner.is_none())
        .filter(|w| {
            w.due_at
                .as_deref()
                .and_then(clock::parse_stored)
                .is_none_or(|d| d <= now)
        })
        .map(|w| (w.id, w.task))
        .collect())
}
