//! A task's failure streak, computed from its executions each time (no
//! counter to drift out of step with the history it summarises).
//!
//! What counts: finished executions of the task itself, in id (creation)
//! order. `success` ends a streak; `failed`, `timeout`, `lost` and `error`
//! extend it; `skipped`, `missed` and `killed` (a person or overlap =
//! replace stopped it) are neither. Retries of one slot count once: the
//! streak counts slots, not attempts. Ad hoc rows (`kit-run --name`) are not
//! the task's command, and daemon rows are kit-keep's business (its
//! `crashloop` events are the daemon's episodes), so neither counts.

use kit_db::process;
use kit_db::task::Task;
use kit_db::Result;
use rusqlite::{params, Connection, OptionalExtension};

/// The statuses that extend a streak.
pub const FAILURES: &str = "('failed','timeout','lost','error')";
/// Rows that are not the task's own runs.
const NOT_COUNTED_TRIGGERS: &str = "('adhoc','daemon')";

#[derive(Debug, Clone, Default)]
pub struct Streak {
    /// Failing slots since the newest success.
    pub count: i64,
    pub newest_success: Option<i64>,
    /// The oldest and newest failure of the streak.
    pub first_failure: Option<i64>,
    pub newest_failure: Option<i64>,
}

impl Streak {
    /// The newest finished execution that counts (success or failure).
    pub fn newest(&self) -> Option<i64> {
        self.newest_success.max(self.newest_failure)
    }
}

/// Details of one execution for messages.
#[derive(Debug, Clone)]
pub struct Last {
    pub id: i64,
    pub status: String,
    pub exit_code: Option<i64>,
    pub reason: Option<String>,
}

impl Last {
    /// The command never ran: kit could not start it (`error`: a bad cwd,
    /// a spawn failure), or a shell said so (126 cannot execute, 127 not
    /// found).
    pub fn could_not_start(&self) -> bool {
        self.status == "error"
            || (self.status == "failed" && matches!(self.exit_code, Some(126 | 127)))
    }

    pub fn describe(&self) -> String {
        let mut s = format!("execution #{} {}", self.id, self.status);
        if let Some(c) = self.exit_code {
            s.push_str(&format!(", exit {c}"));
        }
        if let Some(r) = &self.reason {
            s.push_str(&format!(": {r}"));
        }
        s
    }
}

pub fn compute(conn: &Connection, task: &Task) -> Result<Streak> {
    let newest_success: Option<i64> = conn
        .prepare_cached(&format!(
            "SELECT max(id) FROM supervisor_executions
             WHERE task = ?1 AND status = 'success' AND trigger NOT IN {NOT_COUNTED_TRIGGERS}"
        ))?
        .query_row([&task.name], |r| r.get(0))?;
    let floor = newest_success.unwrap_or(0);
    let skip_chain = retry_pending(conn, task, floor)?.unwrap_or(-1);
    let (count, first, newest): (i64, Option<i64>, Option<i64>) = conn
        .prepare_cached(&format!(
            "SELECT count(DISTINCT coalesce(retry_of, id)), min(id), max(id) FROM supervisor_executions
             WHERE task = ?1 AND status IN {FAILURES} AND trigger NOT IN {NOT_COUNTED_TRIGGERS}
               AND id > ?2 AND coalesce(retry_of, id) <> ?3"
        ))?
        .query_row(params![task.name, floor, skip_chain], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok(Streak {
        count,
        newest_success,
        first_failure: first,
        newest_failure: newest,
    })
}

/// The retry chain (its first execution's id) whose newest attempt failed
/// while its kit-run is still alive and has retries left: it is waiting out
/// retry_delay, so the slot has not failed yet.
fn retry_pending(conn: &Connection, task: &Task, floor: i64) -> Result<Option<i64>> {
    if task.retries() == 0 {
        return Ok(None);
    }
    // (status, attempt, chain, alive): the newest failure of the streak.
    let row = conn
        .prepare_cached(&format!(
            "SELECT status, attempt, coalesce(retry_of, id), pid, pid_start, boot_id
             FROM supervisor_executions
             WHERE task = ?1 AND status IN {FAILURES} AND trigger NOT IN {NOT_COUNTED_TRIGGERS} AND id > ?2
             ORDER BY id DESC LIMIT 1"
        ))?
        .query_row(params![task.name, floor], |r| {
            let (pid, start, boot): (Option<i64>, Option<i64>, Option<String>) =
                (r.get(3)?, r.get(4)?, r.get(5)?);
            let alive = process::recorded_alive(pid, start, boot.as_deref());
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, alive))
        })
        .optional()?;
    let Some((status, attempt, chain, alive)) = row else {
        return Ok(None);
    };
    let retryable = matches!(status.as_str(), "failed" | "timeout");
    Ok((retryable && attempt <= task.retries() as i64 && alive).then_some(chain))
}

pub fn last(conn: &Connection, id: i64) -> Result<Option<Last>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, status, exit_code, reason FROM supervisor_executions WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(Last {
                id: r.get(0)?,
                status: r.get(1)?,
                exit_code: r.get(2)?,
                reason: r.get(3)?,
            })
        })
        .optional()?)
}
