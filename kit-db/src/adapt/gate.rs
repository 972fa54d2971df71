//! The one gate a run that no schedule slot stands behind passes before it
//! is queued: one-shot `at` runs here, and issue 17's events and chains
//! (its `kit_db::triggers::fire_in` calls this). A disabled or paused task,
//! or one over its rate limit, gets a `skipped` row saying why instead.

use super::rate_limit;
use super::rows;
use crate::clock::{self, Instant};
use crate::task::Task;
use crate::Result;
use rusqlite::Connection;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Queue the run.
    Run,
    /// Not run: the `skipped` row recorded (None if none could be) and why.
    Skipped {
        execution_id: Option<i64>,
        reason: String,
    },
}

/// "paused by cli until 2026-03-02T13:00:00.000Z: mail server down"
pub fn paused_reason(p: &rows::Override) -> String {
    format!(
        "paused by {} until {}{}",
        p.set_by,
        clock::fmt(p.end()),
        p.reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    )
}

/// Decides, and records the skip when the answer is no. `trigger` is the
/// execution's trigger (`at`, `event`, `chain`, ...).
pub fn gate(conn: &Connection, task: &Task, trigger: &str, now: Instant) -> Result<Gate> {
    let skip = |reason: String| -> Result<Gate> {
        let id = super::record_skipped(conn, &task.name, trigger, None, &reason, now)?;
        Ok(Gate::Skipped {
            execution_id: id,
            reason,
        })
    };
    if !task.enabled {
        return skip("the task is disabled".into());
    }
    let pause = rows::active(conn, Some(&task.name), now)?
        .into_iter()
        .filter(|o| o.kind == "pause")
        .max_by_key(|o| o.id);
    if let Some(p) = pause {
        return skip(paused_reason(&p));
    }
    match super::admit(conn, task, now)? {
        super::Admission::Admit => Ok(Gate::Run),
        super::Admission::Refuse(why) => Ok(Gate::Skipped {
            execution_id: rate_limit::refuse(conn, task, trigger, None, &why, now)?,
            reason: why,
        }),
    }
}
