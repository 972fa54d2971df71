//! `supervisor_requests`: asking kit-keep to restart, stop or start a daemon.
//!
//! A request is a row; kit-keep notices new rows within a second (it checks
//! `PRAGMA data_version`, then this table's open-rows index), acts, and sets
//! `done_at` and `result`. Rows persist, so a request made while kit-keep is
//! down is acted on when it starts (`stop` keeps a daemon down across
//! kit-keep restarts until `start`).

use crate::clock::{self, Instant};
use crate::task::repo;
use crate::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use std::time::Duration;

/// What can be asked of kit-keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Stop the daemon (stop_signal, stop_timeout, SIGKILL) and start it
    /// again at once; clears backoff and quarantine. Starts a stopped one.
    Restart,
    /// Stop it and keep it down (`wanted = down`) until `start`.
    Stop,
    /// Want it up again: start it now if it is not running, ending any
    /// backoff wait or quarantine.
    Start,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Restart => "restart",
            Action::Stop => "stop",
            Action::Start => "start",
        }
    }
    pub fn parse(s: &str) -> Result<Action> {
        match s {
            "restart" => Ok(Action::Restart),
            "stop" => Ok(Action::Stop),
            "start" => Ok(Action::Start),
            _ => Err(Error::invalid(format!(
                "unknown daemon action {s:?} (expected restart, stop or start)"
            ))),
        }
    }
}

/// A row of `supervisor_requests`.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub id: i64,
    pub created_at: String,
    pub task: String,
    pub action: String,
    pub requested_by: Option<String>,
    pub done_at: Option<String>,
    /// What kit-keep did, e.g. "restarted (pid 123)", "stopped",
    /// "already running (pid 123)", or "error: …".
    pub result: Option<String>,
}

impl Request {
    /// True when kit-keep reported a failure (result starts with "error").
    pub fn failed(&self) -> bool {
        self.result
            .as_deref()
            .is_some_and(|r| r.starts_with("error"))
    }
}

const COLUMNS: &str = "id, created_at, task, action, requested_by, done_at, result";

fn from_row(r: &Row) -> rusqlite::Result<Request> {
    Ok(Request {
        id: r.get(0)?,
        created_at: r.get(1)?,
        task: r.get(2)?,
        action: r.get(3)?,
        requested_by: r.get(4)?,
        done_at: r.get(5)?,
        result: r.get(6)?,
    })
}

/// Queues `action` for daemon `task`, asked by `by` (e.g. "kit-ctl",
/// "api", "kit-heal"). Refuses (exit code 2) a task that does not exist
/// (suggesting close names) or is not a `@daemon`. Returns the request id;
/// follow it with [`wait_done`] (or [`get`]) for kit-keep's answer.
pub fn request(
    conn: &Connection,
    task: &str,
    action: Action,
    by: &str,
    now: Instant,
) -> Result<i64> {
    let row = repo::require(conn, task)?;
    if !row.task.is_daemon() {
        return Err(Error::invalid(format!(
            "cannot {} task {task:?}: it is not a daemon (schedule {:?}); \
             only @daemon tasks are kept running by kit-keep",
            action.as_str(),
            row.task.schedule
        )));
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO supervisor_requests(created_at, task, action, requested_by) VALUES (?1, ?2, ?3, ?4)",
    )?;
    stmt.execute(params![clock::fmt(now), task, action.as_str(), by])?;
    Ok(conn.last_insert_rowid())
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Request>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_requests WHERE id = ?1"
    ))?;
    Ok(stmt.query_row([id], from_row).optional()?)
}

/// Requests not acted on yet, oldest first (served by the partial index
/// `supervisor_requests_open`, so this stays cheap however long the table).
pub fn open(conn: &Connection) -> Result<Vec<Request>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_requests WHERE done_at IS NULL ORDER BY id"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Marks a request done with what happened (kit-keep).
pub fn complete(conn: &Connection, id: i64, result: &str, now: Instant) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "UPDATE supervisor_requests SET done_at = ?2, result = ?3 WHERE id = ?1 AND done_at IS NULL",
    )?;
    Ok(stmt.execute(params![id, clock::fmt(now), result])? > 0)
}

/// Waits up to `limit` for kit-keep to act on request `id`; returns the
/// request as it stands then (check `done_at`). A restart or stop is done
/// once the old process is gone, so allow for the task's stop_timeout.
pub fn wait_done(conn: &Connection, id: i64, limit: Duration) -> Result<Option<Request>> {
    let deadline = std::time::Instant::now() + limit;
    let mut pause = Duration::from_millis(10);
    loop {
        let req = get(conn, id)?;
        let done = req.as_ref().is_none_or(|r| r.done_at.is_some());
        if done || std::time::Instant::now() >= deadline {
            return Ok(req);
        }
        std::thread::sleep(
            pause.min(deadline.saturating_duration_since(std::time::Instant::now())),
        );
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
