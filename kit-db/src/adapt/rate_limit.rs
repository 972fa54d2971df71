//! `rate_limit = "N/DURATION"`: the one admission check every trigger goes
//! through before it creates a run (kit-tick's scheduled, adapted and
//! overridden slots, one-shot `at` runs, issue 17's events). A refused run
//! is recorded `skipped` with the limit named, and a `rate_limited` event
//! says so once per window.
//!
//! What counts: the task's executions created within the window that were
//! admitted (any status but `skipped` and `missed`), except retries (part
//! of the run they retry) and daemon rows. Runs asked for by name (`kit-ctl
//! run`, the API's run, kit-heal's `run:` action) count but are never
//! refused: someone explicitly asked and sees the answer at once
//! (docs/decisions.md).

use crate::clock::{self, Instant};
use crate::events::{self, NewEvent, Severity};
use crate::task::Task;
use crate::Result;
use rusqlite::{params, Connection};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Admit,
    /// Over the limit: the reason to record, naming the limit.
    Refuse(String),
}

/// Whether `task` may start another run at `now`. Counts through the
/// index `supervisor_executions_task_created`.
pub fn admit(conn: &Connection, task: &Task, now: Instant) -> Result<Admission> {
    let Some(limit) = task.rate_limit else {
        return Ok(Admission::Admit);
    };
    let since = now - limit.per.chrono();
    let mut stmt = conn.prepare_cached(
        "SELECT count(*), min(created_at) FROM supervisor_executions
         WHERE task = ?1 AND created_at > ?2
           AND status NOT IN ('skipped','missed') AND trigger NOT IN ('retry','daemon')",
    )?;
    let (n, oldest): (i64, Option<String>) = stmt
        .query_row(params![task.name, clock::fmt(since)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    if n < limit.count as i64 {
        return Ok(Admission::Admit);
    }
    let free_at = oldest
        .as_deref()
        .and_then(clock::parse_stored)
        .map(|o| clock::fmt(o + limit.per.chrono()))
        .unwrap_or_default();
    Ok(Admission::Refuse(format!(
        "rate_limit {limit} reached: {n} runs in the last {}; the next run is admitted from {free_at}",
        limit.per
    )))
}

/// Records a refused run as `skipped` (with `slot` for a scheduled slot)
/// and the `rate_limited` event, once per task per window. Returns the
/// row's id, or None if that slot already had a row.
pub fn refuse(
    conn: &Connection,
    task: &Task,
    trigger: &str,
    slot: Option<Instant>,
    reason: &str,
    now: Instant,
) -> Result<Option<i64>> {
    let Some(id) = super::record_skipped(conn, &task.name, trigger, slot, reason, now)? else {
        return Ok(None);
    };
    let window = task
        .rate_limit
        .map_or(3600, |l| l.per.0.as_secs().max(1) as i64);
    let bucket = now.timestamp().div_euclid(window);
    events::record(
        conn,
        &NewEvent {
            kind: "rate_limited",
            severity: Severity::Warning,
            task: Some(&task.name),
            message: format!("{}: a {trigger} run was not started: {reason}", task.name),
            detail: Some(serde_json::json!({ "execution_id": id, "trigger": trigger })),
            dedupe_key: Some(format!("rate_limited:{}:{bucket}", task.name)),
            notify: true,
        },
        now,
    )?;
    Ok(Some(id))
}
