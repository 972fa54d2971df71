//! Triggers: runs started because something happened (an event from
//! outside, another task finishing, a condition, a file change) rather than
//! because a minute came round.
//!
//! Every trigger is a row of `supervisor_triggers`, whatever became of it.
//! A trigger that starts a run writes its queued execution row in the same
//! transaction; one that arrives while such a row is still queued attaches
//! to it (coalescing); one that starts nothing says why (`outcome`,
//! `reason`). A kit-run started for the row runs exactly that execution
//! (`kit-run --execution ID NAME`); if none ever starts (kill -9 between the
//! commit and the spawn), the next kit-tick finds the row and starts one
//! ([`pending::unowned_due`]). So an acknowledged trigger runs exactly once
//! or carries its reason.

pub mod chain;
pub mod consume;
pub mod info;
pub mod pending;
pub mod rows;

use crate::clock::{self, Instant};
use crate::task::{repo, Task};
use crate::{Error, Result, Store};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::Serialize;
use std::time::Duration;

/// The largest payload a trigger may carry (bytes, as given).
pub const DATA_CAP: usize = 1 << 20;
/// `KIT_EVENT_DATA` is set when the newest consumed payload is at most this long.
pub const SMALL_DATA: usize = 4096;
/// An idempotency key seen within this window answers with its first run.
pub const KEY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// The longest key accepted.
pub const KEY_MAX: usize = 200;

/// Where a trigger came from; `as_str` is also the execution's `trigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Event,
    Chain,
    Condition,
    Watch,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Event => "event",
            Source::Chain => "chain",
            Source::Condition => "condition",
            Source::Watch => "watch",
        }
    }
}

impl Source {
    pub const ALL: [Source; 4] = [
        Source::Event,
        Source::Chain,
        Source::Condition,
        Source::Watch,
    ];
}

/// The execution `trigger` values a trigger row can stand behind (SQL list).
pub const SOURCES_SQL: &str = "('event','chain','condition','watch')";

/// True when an execution's `trigger` says triggers stand behind it.
pub fn is_triggered(trigger: &str) -> bool {
    Source::ALL.iter().any(|s| s.as_str() == trigger)
}

/// A trigger to record.
#[derive(Debug, Clone)]
pub struct NewTrigger<'a> {
    pub task: &'a str,
    pub source: Source,
    /// Idempotency key (events); None otherwise.
    pub key: Option<&'a str>,
    /// The payload, JSON text; the command sees it via `KIT_EVENT_FILE` /
    /// `KIT_EVENT_DATA`.
    pub data: Option<&'a [u8]>,
    /// Facts for `why` (e.g. {"upstream":ID,"status":"success"}).
    pub detail: serde_json::Value,
}

/// What became of a trigger (`supervisor_triggers.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It started a run of its own (queued now, started at once).
    Queued,
    /// A run of the task was already queued and not yet started: this
    /// trigger joined it, and that run sees its data.
    Coalesced,
    /// Its key was seen within the key window: nothing new was started;
    /// `execution_id` is the first copy's run.
    Duplicate,
    /// The task is disabled: nothing started, and the row says so.
    Refused,
    /// The task's rate limit refused it (see [`admit`]).
    RateLimited,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Queued => "queued",
            Outcome::Coalesced => "coalesced",
            Outcome::Duplicate => "duplicate",
            Outcome::Refused => "refused",
            Outcome::RateLimited => "rate_limited",
        }
    }
}

/// What happened to a trigger: every accepted trigger leads to exactly one
/// run or a recorded reason.
#[derive(Debug, Clone, Serialize)]
pub struct Fired {
    pub trigger_id: i64,
    pub execution_id: Option<i64>,
    pub outcome: Outcome,
    /// The row's reason when it started no run of its own.
    pub reason: Option<String>,
    /// A kit-run must be started now for `execution_id` (a new run; or a
    /// queued one whose kit-run died: two kit-runs never both start it).
    pub start: bool,
}

/// Records the trigger (and, when a run is due now, its queued execution
/// row) inside the caller's write transaction.
pub fn fire_in(tx: &Transaction, t: &NewTrigger, now: Instant) -> Result<Fired> {
    fire_on(tx, t, now)
}

/// Same, in its own write transaction.
pub fn fire(store: &Store, t: &NewTrigger, now: Instant) -> Result<Fired> {
    store.write(|tx| fire_in(tx, t, now))
}

/// Starts the detached kit-run that takes a fired run (no-op when
/// `!fired.start`). `now` is passed on as `KIT_NOW` (an injected clock).
pub fn start(
    db: &std::path::Path,
    task: &str,
    fired: &Fired,
    now: Option<&str>,
) -> std::io::Result<()> {
    match fired.execution_id {
        Some(id) if fired.start => start_execution(db, task, id, now),
        _ => Ok(()),
    }
}

/// Starts `kit-run --execution ID NAME`, detached.
pub fn start_execution(
    db: &std::path::Path,
    task: &str,
    id: i64,
    now: Option<&str>,
) -> std::io::Result<()> {
    let id = id.to_string();
    crate::launch::detached("kit-run", db, &["--execution", &id, task], now).map(|_| ())
}

/// Checks a payload: at most [`DATA_CAP`] bytes of valid JSON. Returns it
/// compacted (one line, so a JSON-lines file of payloads stays one per line).
pub fn check_data(data: &[u8]) -> Result<Vec<u8>> {
    if data.len() > DATA_CAP {
        return Err(Error::TooLarge(format!(
            "data: {} bytes is over the cap of {} bytes (1 MiB); pass a path or an id instead",
            data.len(),
            DATA_CAP
        )));
    }
    let v: serde_json::Value = serde_json::from_slice(data)
        .map_err(|e| Error::invalid(format!("data: not valid JSON: {e}")))?;
    serde_json::to_vec(&v).map_err(|e| Error::invalid(format!("data: {e}")))
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > KEY_MAX || key.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "key: {key:?} must be 1 to {KEY_MAX} characters without control characters"
        )));
    }
    Ok(())
}

/// The places a trigger may be refused before it queues a run (issue 18's
/// guard rails): a pause refuses it (outcome `refused`, the pause named),
/// the task's `rate_limit` too (outcome `rate_limited`, the limit named).
/// A trigger that joins a run already queued is not limited: it starts
/// nothing new.
fn paused(conn: &Connection, task: &Task, now: Instant) -> Result<Option<String>> {
    Ok(crate::adapt::rows::active(conn, Some(&task.name), now)?
        .into_iter()
        .filter(|o| o.kind == "pause")
        .max_by_key(|o| o.id)
        .map(|p| crate::adapt::gate::paused_reason(&p)))
}

pub fn admit(conn: &Connection, task: &Task, now: Instant) -> Result<Option<String>> {
    Ok(match crate::adapt::admit(conn, task, now)? {
        crate::adapt::Admission::Admit => None,
        crate::adapt::Admission::Refuse(why) => Some(why),
    })
}

/// The body of [`fire_in`], on a connection already inside a write
/// transaction (so `exec::reconcile_lost` can fire chains atomically too).
pub(crate) fn fire_on(conn: &Connection, t: &NewTrigger, now: Instant) -> Result<Fired> {
    let row = repo::require(conn, t.task)?;
    let task = &row.task;
    if task.is_daemon() {
        return Err(Error::invalid(format!(
            "task {:?} is an @daemon: kit-keep keeps it running, it cannot be triggered \
             (kit-ctl restart {} restarts it)",
            t.task, t.task
        )));
    }
    let data = t.data.map(check_data).transpose()?;
    if let Some(key) = t.key {
        check_key(key)?;
        if let Some((first, exec, received)) = seen_key(conn, t.task, key, now)? {
            let reason = format!(
                "duplicate key {key:?}: trigger #{first} (received {received}) already has {}",
                exec.map_or("its answer".into(), |e| format!("execution #{e}"))
            );
            return record(conn, t, &data, now, exec, Outcome::Duplicate, Some(reason));
        }
    }
    if !task.enabled {
        let reason = match &row.disabled_reason {
            Some(r) => format!("the task is disabled ({r})"),
            None => "the task is disabled".to_string(),
        };
        return record(conn, t, &data, now, None, Outcome::Refused, Some(reason));
    }
    if let Some(reason) = paused(conn, task, now)? {
        return record(conn, t, &data, now, None, Outcome::Refused, Some(reason));
    }
    if let Some(q) = pending::queued_run(conn, t.task)? {
        let reason = format!("coalesced into execution #{q}, which had not started yet");
        let mut fired = record(
            conn,
            t,
            &data,
            now,
            Some(q),
            Outcome::Coalesced,
            Some(reason),
        )?;
        // Its kit-run died (or never came): this trigger's caller starts
        // one, rather than leave the burst to the next kit-tick.
        fired.start = pending::orphaned(conn, q, now)?;
        return Ok(fired);
    }
    if let Some(reason) = admit(conn, task, now)? {
        // As for a slot over the limit: a skipped row naming the limit, and
        // a rate_limited event (once per window).
        let skipped =
            crate::adapt::rate_limit::refuse(conn, task, t.source.as_str(), None, &reason, now)?;
        return record(
            conn,
            t,
            &data,
            now,
            skipped,
            Outcome::RateLimited,
            Some(reason),
        );
    }
    conn.prepare_cached(
        "INSERT INTO supervisor_executions(task, trigger, attempt, created_at, status)
         VALUES (?1, ?2, 1, ?3, 'queued')",
    )?
    .execute(params![t.task, t.source.as_str(), clock::fmt(now)])?;
    let id = conn.last_insert_rowid();
    record(conn, t, &data, now, Some(id), Outcome::Queued, None)
}

/// The newest accepted trigger of `task` with `key` within the key window:
/// (its id, its execution, when it was received).
fn seen_key(
    conn: &Connection,
    task: &str,
    key: &str,
    now: Instant,
) -> Result<Option<(i64, Option<i64>, String)>> {
    let since = now - chrono::Duration::from_std(KEY_WINDOW).unwrap_or_default();
    let mut stmt = conn.prepare_cached(
        "SELECT id, execution_id, received_at FROM supervisor_triggers
         WHERE task = ?1 AND key = ?2 AND key IS NOT NULL AND outcome IN ('queued','coalesced')
           AND received_at >= ?3
         ORDER BY id DESC LIMIT 1",
    )?;
    Ok(stmt
        .query_row(params![task, key, clock::fmt(since)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?)
}

fn record(
    conn: &Connection,
    t: &NewTrigger,
    data: &Option<Vec<u8>>,
    now: Instant,
    execution_id: Option<i64>,
    outcome: Outcome,
    reason: Option<String>,
) -> Result<Fired> {
    let detail = (!t.detail.is_null()).then(|| t.detail.to_string());
    conn.prepare_cached(
        "INSERT INTO supervisor_triggers
           (task, source, key, data, data_bytes, received_at, execution_id, outcome, reason, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        t.task,
        t.source.as_str(),
        t.key,
        data,
        data.as_ref().map_or(0, |d| d.len() as i64),
        clock::fmt(now),
        execution_id,
        outcome.as_str(),
        reason,
        detail
    ])?;
    Ok(Fired {
        trigger_id: conn.last_insert_rowid(),
        execution_id,
        outcome,
        reason,
        start: outcome == Outcome::Queued,
    })
}

#[cfg(test)]
mod tests;
