//! `supervisor_daemons`: the state of each daemon, written by kit-keep on
//! every transition and read by everyone else.
//!
//! The row is kit-keep's memory across its own restarts: `pid` +
//! `pid_start` (checked against the execution row's boot id) let a new
//! kit-keep adopt a daemon that is still running instead of starting a
//! second one, and `wanted`, `recent_failures` and `quarantined_until`
//! carry a `stop` request, a crash-loop window and a quarantine over.

use crate::clock::{self, Instant};
use crate::process::{self, ProcStart};
use crate::Result;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

/// A row of `supervisor_daemons`.
///
/// `state` is one of:
/// - `running`: the process `pid` is up;
/// - `backoff`: it exited and restarts at `backoff_until`;
/// - `error`: it could not be started (e.g. command not found, see
///   `last_exit`); retried at `backoff_until`;
/// - `quarantined`: it crash-looped; a trial start happens at
///   `quarantined_until`;
/// - `stopped`: not wanted (`wanted = down` after `stop`), its task is
///   disabled, or kit-keep shut down;
/// - `starting`: reserved (not written by this kit-keep).
///
/// The row says what kit-keep last recorded: if kit-keep itself is not
/// running (see its heartbeat) it may be stale; [`DaemonState::process_alive`]
/// checks the process itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonState {
    pub task: String,
    /// `up` or `down`.
    pub wanted: String,
    pub state: String,
    pub pid: Option<i64>,
    pub pid_start: Option<i64>,
    /// The open `supervisor_executions` row of the running process.
    pub execution_id: Option<i64>,
    /// When the current (or last) process started.
    pub started_at: Option<String>,
    /// Starts after the first, since kit-keep first saw this daemon.
    pub restarts: i64,
    /// Instants of the unrequested exits inside the crash-loop window.
    pub recent_failures: Vec<String>,
    pub backoff_until: Option<String>,
    pub quarantined_until: Option<String>,
    /// How the last process ended (or why it could not start), one line.
    pub last_exit: Option<String>,
    pub updated_at: String,
}

impl DaemonState {
    /// A fresh row: wanted up, stopped, never started.
    pub fn new(task: &str, now: Instant) -> DaemonState {
        DaemonState {
            task: task.to_string(),
            wanted: "up".into(),
            state: "stopped".into(),
            pid: None,
            pid_start: None,
            execution_id: None,
            started_at: None,
            restarts: 0,
            recent_failures: Vec::new(),
            backoff_until: None,
            quarantined_until: None,
            last_exit: None,
            updated_at: clock::fmt(now),
        }
    }

    /// True when the recorded process is still running and is the same
    /// process (not a reuse of its pid).
    pub fn process_alive(&self) -> bool {
        match (self.pid, self.pid_start) {
            (Some(pid), Some(start)) => {
                process::is_same_process(pid as i32, ProcStart(start as u64))
            }
            _ => false,
        }
    }

    /// Recorded as running and actually alive.
    pub fn is_up(&self) -> bool {
        self.state == "running" && self.process_alive()
    }
}

const COLUMNS: &str = "task, wanted, state, pid, pid_start, execution_id, started_at, restarts, \
    recent_failures, backoff_until, quarantined_until, last_exit, updated_at";

fn from_row(r: &Row) -> rusqlite::Result<DaemonState> {
    let failures: String = r.get(8)?;
    Ok(DaemonState {
        task: r.get(0)?,
        wanted: r.get(1)?,
        state: r.get(2)?,
        pid: r.get(3)?,
        pid_start: r.get(4)?,
        execution_id: r.get(5)?,
        started_at: r.get(6)?,
        restarts: r.get(7)?,
        recent_failures: serde_json::from_str(&failures).unwrap_or_default(),
        backoff_until: r.get(9)?,
        quarantined_until: r.get(10)?,
        last_exit: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

/// Every daemon row, by task name.
pub fn list(conn: &Connection) -> Result<Vec<DaemonState>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_daemons ORDER BY task"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn get(conn: &Connection, task: &str) -> Result<Option<DaemonState>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_daemons WHERE task = ?1"
    ))?;
    Ok(stmt.query_row([task], from_row).optional()?)
}

/// Writes the whole row (kit-keep).
pub fn save(conn: &Connection, d: &DaemonState) -> Result<()> {
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO supervisor_daemons({COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
    ))?;
    stmt.execute(params![
        d.task,
        d.wanted,
        d.state,
        d.pid,
        d.pid_start,
        d.execution_id,
        d.started_at,
        d.restarts,
        serde_json::to_string(&d.recent_failures).unwrap_or_else(|_| "[]".into()),
        d.backoff_until,
        d.quarantined_until,
        d.last_exit,
        d.updated_at,
    ])?;
    Ok(())
}

/// Forgets a daemon whose task was removed or is no longer `@daemon`.
pub fn remove(conn: &Connection, task: &str) -> Result<bool> {
    Ok(conn.execute("DELETE FROM supervisor_daemons WHERE task = ?1", [task])? > 0)
}

/// Daemons up (recorded running and alive) and in all.
pub fn counts(conn: &Connection) -> Result<(usize, usize)> {
    let all = list(conn)?;
    Ok((all.iter().filter(|d| d.is_up()).count(), all.len()))
}
