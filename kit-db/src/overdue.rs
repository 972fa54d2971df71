//! Runs that are overdue, by the rules kit-heal acts on and `kit-ctl status`
//! flags, in one place so the two can never disagree: a run still `running`
//! past its task's `stuck_after`, and a claimed slot still `queued` past
//! [`QUEUED_LIMIT`] (plus the task's jitter). A queued *triggered* run is
//! never late here: it may wait for a debounce or for the run in progress,
//! and kit-tick starts it whenever nobody alive owns it
//! (`triggers::pending::unowned_due`).

use crate::task::model::defaults::STUCK_CEILING;
use crate::task::repo;
use crate::{clock, Result};
use clock::Instant;
use rusqlite::Connection;
use std::time::Duration;

/// How long a claimed slot may wait for its kit-run (plus the task's
/// jitter) before kit-heal records it missed.
pub const QUEUED_LIMIT: chrono::Duration = chrono::Duration::minutes(2);

/// kit-tick is run every minute: a heartbeat older than this means the
/// timer (launchd, systemd, cron) is not running it. kit-heal calls it
/// stalled and `status` says it is not running at the same age.
pub const TICK_STALE: chrono::Duration = chrono::Duration::minutes(3);
/// kit-keep beats at least every 10 s while it runs.
pub const KEEP_STALE: chrono::Duration = chrono::Duration::minutes(1);

/// What happened and is over (slots missed, a failed tick, a clock jump)
/// stays a problem in `status` (exit 1) for this long, so an agent polling
/// status every few minutes sees it even after the notification.
pub const RECENT: chrono::Duration = chrono::Duration::minutes(15);

/// Slots recorded missed since `since`, per task: (task, count, the first
/// reason's leading clause).
pub fn missed_since(conn: &Connection, since: Instant) -> Result<Vec<(String, i64, String)>> {
    // created_at is indexed; the missed rows of a gap share one created_at.
    let mut stmt = conn.prepare_cached(
        "SELECT task, count(*), min(reason) FROM supervisor_executions
         WHERE created_at >= ?1 AND status = 'missed' GROUP BY task ORDER BY task",
    )?;
    let rows = stmt.query_map([clock::fmt(since)], |r| {
        let reason: Option<String> = r.get(2)?;
        let first = reason
            .unwrap_or_default()
            .trim_start_matches("missed: ")
            .split(';')
            .next()
            .unwrap_or_default()
            .to_string();
        Ok((r.get(0)?, r.get(1)?, first))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A run still `running` past its task's `stuck_after`.
#[derive(Debug, Clone)]
pub struct Stuck {
    pub id: i64,
    pub task: String,
    pub started_at: String,
    pub running_for: chrono::Duration,
    pub limit: Duration,
}

pub fn stuck(conn: &Connection, now: Instant) -> Result<Vec<Stuck>> {
    // The IN term lets SQLite use the partial index of open rows.
    let mut stmt = conn.prepare_cached(
        "SELECT id, task, started_at FROM supervisor_executions
         WHERE status IN ('queued','running') AND status = 'running' AND trigger <> 'daemon'
           AND started_at IS NOT NULL ORDER BY id",
    )?;
    let rows: Vec<(i64, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for (id, task, started_at) in rows {
        let Some(start) = clock::parse_stored(&started_at) else {
            continue;
        };
        let limit = repo::get(conn, &task)?.map_or(STUCK_CEILING, |t| t.task.stuck_after());
        let limit_c = chrono::Duration::from_std(limit).unwrap_or(chrono::Duration::MAX);
        if now - start >= limit_c {
            out.push(Stuck {
                id,
                task,
                started_at,
                running_for: now - start,
                limit,
            });
        }
    }
    Ok(out)
}

/// A claimed slot that kit-run has not taken within the limit.
#[derive(Debug, Clone)]
pub struct LateQueued {
    pub id: i64,
    pub task: String,
    pub created_at: String,
    pub scheduled_for: Option<String>,
    /// [`QUEUED_LIMIT`] plus the task's jitter.
    pub limit: chrono::Duration,
}

pub fn late_queued(conn: &Connection, now: Instant) -> Result<Vec<LateQueued>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, task, created_at, scheduled_for FROM supervisor_executions
         WHERE status IN ('queued','running') AND status = 'queued' AND created_at <= ?1
           AND trigger NOT IN {} ORDER BY id",
        crate::triggers::SOURCES_SQL
    ))?;
    let rows: Vec<(i64, String, String, Option<String>)> = stmt
        .query_map([clock::fmt(now - QUEUED_LIMIT)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for (id, task, created_at, scheduled_for) in rows {
        let jitter = repo::get(conn, &task)?
            .and_then(|t| t.task.jitter)
            .map_or(chrono::Duration::zero(), |j| j.chrono());
        let Some(claimed) = clock::parse_stored(&created_at) else {
            continue;
        };
        if now < claimed + QUEUED_LIMIT + jitter {
            continue;
        }
        out.push(LateQueued {
            id,
            task,
            created_at,
            scheduled_for,
            limit: QUEUED_LIMIT + jitter,
        });
    }
    Ok(out)
}

/// Slots skipped in a row (`overlap = skip`) before status flags the task
/// and kit-heal notifies: one skip is what the setting is for, a second in
/// a row means runs are taking longer than the schedule allows.
pub const SKIP_STREAK: usize = 2;

/// A task whose latest slots were all skipped.
#[derive(Debug, Clone)]
pub struct SkipStreak {
    pub task: String,
    /// How many of its latest rows were skipped in a row.
    pub count: usize,
    /// The first row of the streak (the episode's key).
    pub first_id: i64,
    pub reason: Option<String>,
}

/// Each enabled timed task's current streak of skipped slots, if it is at
/// least `min` long. One indexed look at each task's newest rows.
pub fn skip_streaks(conn: &Connection, min: usize) -> Result<Vec<SkipStreak>> {
    let tasks: Vec<String> = conn
        .prepare_cached(
            "SELECT name FROM supervisor_tasks WHERE enabled = 1 AND schedule <> '@daemon' ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, status, reason FROM supervisor_executions
         WHERE task = ?1 AND trigger <> 'daemon' ORDER BY id DESC LIMIT 50",
    )?;
    let mut out = Vec::new();
    for task in tasks {
        let rows: Vec<(i64, String, Option<String>)> = stmt
            .query_map([&task], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        // Skips a pause or a rate limit decided are not overlap trouble
        // (they are announced their own way): they neither count nor break.
        let streak: Vec<&(i64, String, Option<String>)> = rows
            .iter()
            .filter(|(_, _, r)| !crate::adapt::is_deliberate_skip(r.as_deref()))
            .take_while(|(_, s, _)| s == "skipped")
            .collect();
        if streak.len() >= min.max(1) {
            let first = streak[streak.len() - 1];
            out.push(SkipStreak {
                task,
                count: streak.len(),
                first_id: first.0,
                reason: streak[0].2.clone(),
            });
        }
    }
    Ok(out)
}
