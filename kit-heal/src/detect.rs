//! Noticing what did *not* happen: a scheduler or supervisor that stopped
//! running (`stalled`), slots that never ran (`missed`), runs that never end
//! (`stuck`). Each check records an event once per occurrence (dedupe keys
//! name the occurrence), inside the decision transaction.

use crate::report::{self, Line};
use kit_db::clock::{self, Instant};
use kit_db::events::{NewEvent, Severity};
use kit_db::exec::{self, Finish};
use kit_db::gap::{Slept, SLEEP_NOISE};
use kit_db::settings::Settings;
use kit_db::task::model::AtOnce;
use kit_db::task::repo;
use kit_db::units::Dur;
use kit_db::{overdue, state, Result};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::json;
use std::collections::BTreeMap;

/// A claimed slot not started this long after the claim (plus the task's
/// jitter, which kit-run waits out first) will not be started.
pub use kit_db::overdue::QUEUED_LIMIT;
pub use kit_db::overdue::{KEEP_STALE, TICK_STALE};
/// Where kit-heal remembers how far it has reported kit-tick's missed rows.
const MISSED_CURSOR: &str = "heal.missed_cursor";

// The open-rows queries repeat `status IN ('queued','running')`: that exact
// term is what lets SQLite use the partial index supervisor_executions_open
// instead of scanning the whole history.

pub fn run(tx: &Connection, now: Instant, lines: &mut Vec<Line>) -> Result<()> {
    heartbeat(
        tx,
        "kit-tick",
        TICK_STALE,
        "schedule NOT IN ('@daemon')",
        now,
        lines,
    )?;
    heartbeat(
        tx,
        "kit-keep",
        KEEP_STALE,
        "schedule = '@daemon'",
        now,
        lines,
    )?;
    // kit-tick's missed rows first, with a cursor at the newest row: the
    // queued rows turned `missed` below are older, so never reported twice.
    tick_missed(tx, now, lines)?;
    queued_missed(tx, now, lines)?;
    stuck(tx, now, lines)?;
    skipped(tx, now, lines)?;
    Ok(())
}

/// `skipped`: a task's latest slots were skipped in a row (overlap = skip,
/// its runs take longer than its schedule allows), the same streak status
/// flags. Once per streak (keyed by its first row).
fn skipped(tx: &Connection, now: Instant, lines: &mut Vec<Line>) -> Result<()> {
    for s in overdue::skip_streaks(tx, overdue::SKIP_STREAK)? {
        let ev = NewEvent {
            kind: "skipped",
            severity: Severity::Warning,
            task: Some(&s.task),
            message: format!(
                "{}: its last {} slots were skipped{}",
                s.task,
                s.count,
                s.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
            detail: Some(json!({ "skipped": s.count, "first_execution_id": s.first_id })),
            dedupe_key: Some(format!("skipped:{}:{}", s.task, s.first_id)),
            notify: at_once(tx, &s.task, AtOnce::Skipped)?,
        };
        report::record(tx, &ev, now, lines)?;
    }
    Ok(())
}

/// `stalled`: `tool`'s heartbeat is older than `limit` (or it never beat)
/// while enabled tasks matching `needs` (declared longer ago than `limit`)
/// depend on it. When it beats again, a `recovered` event closes the stall.
fn heartbeat(
    tx: &Connection,
    tool: &str,
    limit: chrono::Duration,
    needs: &str,
    now: Instant,
    lines: &mut Vec<Line>,
) -> Result<()> {
    let key = format!("heal.stalled.{tool}");
    let open = state::get(tx, &key)?;
    let (dependents, oldest): (i64, Option<String>) = tx
        .prepare_cached(&format!(
            "SELECT count(*), min(created_at) FROM supervisor_tasks WHERE enabled = 1 AND {needs}"
        ))?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let hb = state::heartbeat(tx, tool)?;
    let declared_long_ago = oldest
        .as_deref()
        .and_then(clock::parse_stored)
        .is_some_and(|t| now - t >= limit);
    // The occurrence: which last beat went stale ("never" if none). The age
    // counts only the time the machine was up: a Mac that slept through
    // the night has not stalled its tools (the sleep since the beat is read
    // from the boot's sleep counter, see kit_db::gap).
    let slept = hb.as_ref().map(|h| h.slept_since());
    let stale: Option<String> = match &hb {
        Some(h) if h.awake_age(now).is_some_and(|a| a >= limit) => Some(h.beat_at.clone()),
        Some(_) => None,
        None if declared_long_ago => Some("never".into()),
        None => None,
    };
    let what = if tool == "kit-tick" {
        "scheduled task"
    } else {
        "daemon"
    };
    match stale {
        Some(occurrence) if dependents > 0 && open.as_deref() != Some(occurrence.as_str()) => {
            let message = match &hb {
                Some(h) => format!(
                    "{tool} has not run for {}{} (last beat {}, pid {}): {dependents} {what}(s) depend on it; \
                     check its launchd/systemd/cron job",
                    clock::human_age(h.awake_age(now).unwrap_or_default()),
                    match slept {
                        Some(Slept::Known(s)) if s >= SLEEP_NOISE => format!(
                            " while the machine was up, and it slept {} besides",
                            clock::human_age(s)
                        ),
                        Some(Slept::Restarted(Some(_))) => " since the machine restarted".into(),
                        _ => String::new(),
                    },
                    h.beat_at,
                    h.pid
                ),
                None => format!(
                    "{tool} has never run, but {dependents} {what}(s) are declared; \
                     install its launchd/systemd/cron job"
                ),
            };
            let ev = NewEvent {
                kind: "stalled",
                severity: Severity::Critical,
                task: None,
                message,
                detail: Some(json!({
                    "tool": tool,
                    "last_beat": hb.as_ref().map(|h| h.beat_at.clone()),
                    "pid": hb.as_ref().map(|h| h.pid),
                    "process_alive": hb.as_ref().map(|h| h.process_alive()),
                    "slept_seconds": match slept {
                        Some(Slept::Known(s)) => Some(s.num_seconds()),
                        _ => None,
                    },
                    "limit": Dur(limit.to_std().unwrap_or_default()).to_string(),
                    "dependents": dependents,
                })),
                dedupe_key: Some(format!("stalled:{tool}:{occurrence}")),
                notify: true,
            };
            report::record(tx, &ev, now, lines)?;
            state::set(tx, &key, &occurrence, now)?;
        }
        None if open.is_some() => {
            let occurrence = open.unwrap_or_default();
            if let Some(h) = hb.as_ref().filter(|_| dependents > 0) {
                let ev = NewEvent {
                    kind: "recovered",
                    severity: Severity::Info,
                    task: None,
                    message: format!("{tool} is running again (beat at {})", h.beat_at),
                    detail: Some(
                        json!({ "tool": tool, "stalled_since": occurrence, "beat_at": h.beat_at }),
                    ),
                    dedupe_key: Some(format!("unstalled:{tool}:{occurrence}")),
                    notify: true,
                };
                report::record(tx, &ev, now, lines)?;
            }
            state::remove(tx, &key)?;
        }
        _ => {}
    }
    Ok(())
}

/// `missed` for the slots kit-tick recorded as missed: one event per task
/// per gap (kit-tick records a gap's slots in one tick, so they share
/// `created_at`), not one per slot.
fn tick_missed(tx: &Connection, now: Instant, lines: &mut Vec<Line>) -> Result<()> {
    let cursor: i64 = state::get(tx, MISSED_CURSOR)?
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let newest: i64 = tx.query_row(
        "SELECT coalesce(max(id), 0) FROM supervisor_executions",
        [],
        |r| r.get(0),
    )?;
    if newest <= cursor {
        return Ok(());
    }
    let mut stmt = tx.prepare_cached(
        "SELECT id, task, created_at, scheduled_for, reason FROM supervisor_executions
         WHERE id > ?1 AND id <= ?2 AND status = 'missed' ORDER BY id",
    )?;
    type Row = (i64, String, String, Option<String>, Option<String>);
    let rows: Vec<Row> = stmt
        .query_map(params![cursor, newest], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut gaps: BTreeMap<(String, String), Vec<Row>> = BTreeMap::new();
    for row in rows {
        gaps.entry((row.1.clone(), row.2.clone()))
            .or_default()
            .push(row);
    }
    for ((task, _), slots) in gaps {
        let first = &slots[0];
        let last = &slots[slots.len() - 1];
        let from = first.3.clone().unwrap_or_default();
        let until = last.3.clone().unwrap_or_default();
        // kit-tick's reason starts "missed: …", which the message says already.
        let reason = first
            .4
            .clone()
            .unwrap_or_else(|| "no reason recorded".into());
        let reason = reason
            .strip_prefix("missed: ")
            .unwrap_or(&reason)
            .to_string();
        let message = if slots.len() == 1 {
            format!("{task}: the slot at {from} was missed: {reason}")
        } else {
            format!(
                "{task}: {} slots from {from} to {until} were missed: {reason}",
                slots.len()
            )
        };
        let ev = NewEvent {
            kind: "missed",
            severity: Severity::Warning,
            task: Some(&task),
            message,
            detail: Some(json!({
                "slots": slots.len(),
                "first_slot": from,
                "last_slot": until,
                "reason": reason,
                "execution_ids": slots.iter().map(|s| s.0).collect::<Vec<_>>(),
            })),
            dedupe_key: Some(format!("missed:{task}:{}", first.0)),
            notify: at_once(tx, &task, AtOnce::Missed)?,
        };
        report::record(tx, &ev, now, lines)?;
    }
    state::set(tx, MISSED_CURSOR, &newest.to_string(), now)?;
    Ok(())
}

/// A `queued` row kit-run did not take within QUEUED_LIMIT (+ jitter)
/// becomes `missed` (it would otherwise run hours late, or never), with a
/// `missed` event per task.
fn queued_missed(tx: &Connection, now: Instant, lines: &mut Vec<Line>) -> Result<()> {
    let mut by_task: BTreeMap<String, Vec<(i64, Option<String>)>> = BTreeMap::new();
    for q in overdue::late_queued(tx, now)? {
        let (id, task, created, slot) = (q.id, q.task, q.created_at, q.scheduled_for);
        let reason = format!(
            "claimed at {created} but not started within {} (kit-run was not started, or died before starting); \
             marked missed by kit-heal",
            clock::human_age(q.limit)
        );
        let f = Finish {
            status: "missed",
            reason: Some(reason),
            ..Default::default()
        };
        if exec::finish(tx, id, &f, now)? {
            by_task.entry(task).or_default().push((id, slot));
        }
    }
    for (task, ids) in by_task {
        let slots: Vec<String> = ids.iter().filter_map(|(_, s)| s.clone()).collect();
        let message = format!(
            "{task}: {} claimed slot(s) ({}) were never started by kit-run; marked missed",
            ids.len(),
            slots.join(", ")
        );
        let ev = NewEvent {
            kind: "missed",
            severity: Severity::Warning,
            task: Some(&task),
            message,
            detail: Some(json!({
                "slots": ids.len(),
                "scheduled_for": slots,
                "execution_ids": ids.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
                "reason": "not started within the limit after the claim",
            })),
            dedupe_key: Some(format!("missed:{task}:queued:{}", ids[0].0)),
            notify: at_once(tx, &task, AtOnce::Missed)?,
        };
        report::record(tx, &ev, now, lines)?;
    }
    Ok(())
}

/// `stuck`: a run still `running` longer than its timeout plus grace (and
/// a minute's slack), or longer than the ceiling without a timeout. Once
/// per execution.
fn stuck(tx: &Connection, now: Instant, lines: &mut Vec<Line>) -> Result<()> {
    for st in overdue::stuck(tx, now)? {
        let (id, task, started, limit) = (st.id, st.task, st.started_at, st.limit);
        let key = format!("stuck:{id}");
        let known: Option<i64> = tx
            .query_row(
                "SELECT id FROM supervisor_events WHERE dedupe_key = ?1",
                [&key],
                |r| r.get(0),
            )
            .optional()?;
        if known.is_some() {
            continue;
        }
        let ev = NewEvent {
            kind: "stuck",
            severity: Severity::Warning,
            task: Some(&task),
            message: format!(
                "{task}: execution #{id} has been running for {} (started {started}; stuck after {})",
                clock::human_age(st.running_for),
                Dur(limit)
            ),
            detail: Some(json!({ "execution_id": id, "started_at": started, "stuck_after": Dur(limit).to_string() })),
            dedupe_key: Some(key),
            notify: at_once(tx, &task, AtOnce::Stuck)?,
        };
        report::record(tx, &ev, now, lines)?;
    }
    Ok(())
}

/// Whether `task`'s policy notifies `what` at once (recorded either way: an
/// event that is not notified is still shown by status and why).
fn at_once(tx: &Connection, task: &str, what: AtOnce) -> Result<bool> {
    let settings = Settings::load(tx)?;
    Ok(match repo::get(tx, task)? {
        Some(row) => kit_db::recovery::policy(&row.task, &settings).at_once(what),
        None => true,
    })
}
