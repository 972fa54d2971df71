//! Adaptive schedules at run time (issue 18): what changes when a task runs
//! (adaptations, overrides, pauses, one-shot `at` runs), the schedule in
//! force at each instant, and the rate limit every trigger goes through.
//! Each change is a row of `supervisor_overrides`: it survives restarts,
//! names who set it and why, and ends on its own.

pub mod at;
pub mod control;
pub mod expiry;
pub mod finish;
pub mod gate;
pub mod pattern;
pub mod rate_limit;
pub mod rows;
pub mod timeline;
pub mod view;

pub use crate::task::adapt::MAX_SPAN;
pub use gate::{gate, Gate};
pub use rate_limit::{admit, Admission};
pub use rows::Override;
pub use timeline::{InForce, Timeline};

use crate::clock::Instant;
use crate::events::{self, NewEvent, Severity};
use crate::settings::Settings;
use crate::Result;
use rusqlite::Connection;

/// Records a `schedule_changed` or `override` event; notified only when
/// `settings.notify_schedule_changes` is true (they are routine for an
/// agent that paces its own work, and every one is in the events table).
pub(crate) fn announce(
    conn: &Connection,
    kind: &str,
    task: &str,
    message: String,
    detail: serde_json::Value,
    dedupe_key: String,
    now: Instant,
) -> Result<Option<i64>> {
    let notify = Settings::load(conn)?
        .notify_schedule_changes
        .unwrap_or(false);
    events::record(
        conn,
        &NewEvent {
            kind,
            severity: Severity::Info,
            task: Some(task),
            message,
            detail: Some(detail),
            dedupe_key: Some(dedupe_key),
            notify,
        },
        now,
    )
}

/// Who is asking, for `set_by`: the task itself when run by kit-run
/// (`KIT_EXECUTION_ID` in the environment), else the front end.
pub fn who(front: &str) -> String {
    match std::env::var("KIT_EXECUTION_ID")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
    {
        Some(id) => format!("task:{id}"),
        None => front.to_string(),
    }
}

/// Whether a skipped row's reason is a pause's or a rate limit's (the
/// prefixes kit-tick writes), not an overlap skip.
pub fn is_deliberate_skip(reason: Option<&str>) -> bool {
    reason.is_some_and(|r| r.starts_with("paused by ") || r.starts_with("rate_limit "))
}

/// Records a run that will not happen as `skipped`, with why (a paused
/// slot, a rate limit). Idempotent per scheduled slot.
pub fn record_skipped(
    conn: &Connection,
    task: &str,
    trigger: &str,
    slot: Option<Instant>,
    reason: &str,
    now: Instant,
) -> Result<Option<i64>> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO supervisor_executions
           (task, trigger, attempt, scheduled_for, created_at, finished_at, status, reason)
         VALUES (?1, ?2, 1, ?3, ?4, ?4, 'skipped', ?5) ON CONFLICT DO NOTHING",
    )?;
    let n = stmt.execute(rusqlite::params![
        task,
        trigger,
        crate::clock::fmt_opt(slot),
        crate::clock::fmt(now),
        reason
    ])?;
    Ok((n > 0).then(|| conn.last_insert_rowid()))
}

#[cfg(test)]
mod tests_props;
