//! Recovery actions: `restart:DAEMON`, `run:TASK`, `exec:COMMAND`.
//!
//! Each action of a round is an `action` event (not sent to the notify
//! command). A restart is only a `supervisor_requests` row, so it is queued
//! inside the decision transaction itself. Actions that start a process are
//! planned there with a lease and started after the commit, then the event
//! is updated with the outcome. If kit-heal dies in between, the lease
//! expires and a later kit-heal starts them; while the lease holds, no other
//! kit-heal does: an action is never started twice.
//!
//! Processes are started detached (no tool waits on another's long work):
//! the actions of a round are started in order but run side by side.

use crate::report::Line;
use kit_db::clock::{self, Instant};
use kit_db::daemon::{self, Action};
use kit_db::events::{self, NewEvent, Severity};
use kit_db::task::model::shell_quote;
use kit_db::task::{repo, TaskRow};
use kit_db::{outbox, Error, Result};
use rusqlite::{params, Connection};
use serde_json::json;
use std::path::Path;

/// How long a planned action is reserved for the kit-heal that planned it.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);

/// An action to start after the decision is committed.
#[derive(Debug, Clone)]
pub struct Planned {
    pub event_id: i64,
    pub task: String,
    pub action: String,
    pub round: i64,
    /// Where `exec:` commands run: the task's cwd, else $KIT_HOME.
    pub cwd: Option<String>,
}

/// Plans every action of a recovery round, in order; each is keyed
/// `{key}:{index}` so a round's actions are recorded once.
pub fn plan_round(
    tx: &Connection,
    row: &TaskRow,
    actions: &[String],
    round: i64,
    key: &str,
    now: Instant,
    lines: &mut Vec<Line>,
) -> Result<Vec<Planned>> {
    let mut planned = Vec::new();
    for (i, action) in actions.iter().enumerate() {
        if let Some(p) = plan(tx, row, action, round, &format!("{key}:{i}"), now, lines)? {
            planned.push(p);
        }
    }
    Ok(planned)
}

/// Records action `action` of round `round`: queues a restart at once,
/// plans `run:`/`exec:`. Returns what to start after the commit.
pub fn plan(
    tx: &Connection,
    row: &TaskRow,
    action: &str,
    round: i64,
    key: &str,
    now: Instant,
    lines: &mut Vec<Line>,
) -> Result<Option<Planned>> {
    let name = &row.task.name;
    let (kind, arg) = action.split_once(':').unwrap_or((action, ""));
    // What happened, or why it cannot happen.
    let outcome: std::result::Result<Option<i64>, String> = match kind {
        "restart" => match daemon::request(tx, arg, Action::Restart, "kit-heal", now) {
            Ok(id) => Ok(Some(id)),
            Err(Error::Sqlite(e)) => return Err(Error::Sqlite(e)),
            Err(e) => Err(e.to_string()),
        },
        "run" => match repo::get(tx, arg)? {
            None => Err(format!("no task named {arg:?}")),
            Some(t) if t.task.is_daemon() => Err(format!(
                "{arg:?} is a daemon: use restart:{arg} to restart it"
            )),
            Some(_) => Ok(None),
        },
        "exec" if !arg.trim().is_empty() => Ok(None),
        _ => Err(format!(
            "invalid action {action:?}: expected restart:DAEMON, run:TASK or exec:COMMAND"
        )),
    };
    let (state, message, detail) = match &outcome {
        Ok(Some(req)) => (
            "requested",
            format!("{name}: recovery round {round}: {action}: restart requested from kit-keep (request #{req})"),
            json!({ "action": action, "round": round, "state": "requested", "request_id": req }),
        ),
        Ok(None) => (
            "pending",
            format!("{name}: recovery round {round}: {action}: starting"),
            json!({ "action": action, "round": round, "state": "pending" }),
        ),
        Err(e) => (
            "failed",
            format!("{name}: recovery round {round}: {action}: not done: {e}"),
            json!({ "action": action, "round": round, "state": "failed", "error": e }),
        ),
    };
    let ev = NewEvent {
        kind: "action",
        severity: if state == "failed" {
            Severity::Warning
        } else {
            Severity::Info
        },
        task: Some(name),
        message,
        detail: Some(detail),
        dedupe_key: Some(key.to_string()),
        notify: false,
    };
    let Some(id) = events::record(tx, &ev, now)? else {
        return Ok(None);
    };
    if state != "pending" {
        lines.push(Line::Action {
            event: id,
            task: name.clone(),
            action: action.to_string(),
            result: state.to_string(),
            pid: None,
            error: outcome.err(),
        });
        return Ok(None);
    }
    outbox::lease(tx, id, now + LEASE)?;
    Ok(Some(Planned {
        event_id: id,
        task: name.clone(),
        action: action.to_string(),
        round,
        cwd: row.task.cwd.clone(),
    }))
}

/// Takes over planned actions whose planner died before starting them.
/// Only tasks still in an episode are looked at (through the events' task
/// index): once a task has recovered, its leftover actions have no purpose.
pub fn claim_orphans(tx: &Connection, now: Instant) -> Result<Vec<Planned>> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, task, json_extract(detail, '$.action'), json_extract(detail, '$.round')
         FROM supervisor_events
         WHERE task IN (SELECT task FROM supervisor_recovery WHERE state <> 'ok')
           AND kind = 'action' AND delivery = 'none' AND lease_until IS NOT NULL AND lease_until <= ?1
           AND json_extract(detail, '$.state') = 'pending'
         ORDER BY id",
    )?;
    type Row = (i64, Option<String>, Option<String>, Option<i64>);
    let rows: Vec<Row> = stmt
        .query_map([clock::fmt(now)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for (id, task, action, round) in rows {
        let (Some(task), Some(action)) = (task, action) else {
            continue;
        };
        outbox::lease(tx, id, now + LEASE)?;
        let cwd = repo::get(tx, &task)?.and_then(|t| t.task.cwd);
        out.push(Planned {
            event_id: id,
            task,
            action,
            round: round.unwrap_or(0),
            cwd,
        });
    }
    Ok(out)
}

/// Starts a planned action; returns the pid or why it could not start.
pub fn start(p: &Planned, db: &Path, now: Option<&str>) -> std::result::Result<u32, String> {
    let (kind, arg) = p.action.split_once(':').unwrap_or((p.action.as_str(), ""));
    let started = match kind {
        "run" => kit_db::launch::detached("kit-run", db, &["--trigger", "recovery", arg], now),
        "exec" => {
            let dir = p
                .cwd
                .clone()
                .unwrap_or_else(|| kit_db::paths::kit_home().display().to_string());
            let script = format!(
                "cd {} || exit 125\nexport KIT_TASK={} KIT_RECOVERY_ROUND={}\n{arg}",
                shell_quote(&dir),
                shell_quote(&p.task),
                p.round
            );
            let label = recovery_label(&p.task);
            kit_db::launch::detached(
                "kit-run",
                db,
                &[
                    "--no-heal",
                    "--trigger",
                    "recovery",
                    "--name",
                    &label,
                    "--",
                    "/bin/sh",
                    "-c",
                    &script,
                ],
                now,
            )
        }
        _ => return Err(format!("cannot start action {:?}", p.action)),
    };
    started.map_err(|e| format!("cannot start kit-run: {e}"))
}

/// The name an `exec:` action's execution is recorded under: not the task's
/// own name, so its result never counts in the task's streak.
pub fn recovery_label(task: &str) -> String {
    let base: String = task.chars().take(100 - ".recovery".len()).collect();
    format!("{base}.recovery")
}

/// Records how starting a planned action went and releases its lease.
pub fn settle(
    conn: &Connection,
    p: &Planned,
    result: &std::result::Result<u32, String>,
) -> Result<()> {
    let (state, pid, error, message) = match result {
        Ok(pid) => (
            "started",
            Some(*pid),
            None,
            format!(
                "{}: recovery round {}: {}: started (pid {pid})",
                p.task, p.round, p.action
            ),
        ),
        Err(e) => (
            "failed",
            None,
            Some(e.clone()),
            format!(
                "{}: recovery round {}: {}: not started: {e}",
                p.task, p.round, p.action
            ),
        ),
    };
    conn.execute(
        "UPDATE supervisor_events SET lease_until = NULL, message = ?2,
           detail = json_set(coalesce(detail, '{}'), '$.state', ?3, '$.pid', ?4, '$.error', ?5)
         WHERE id = ?1",
        params![p.event_id, message, state, pid, error],
    )?;
    Ok(())
}
