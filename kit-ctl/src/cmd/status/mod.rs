//! `status`: the one-screen answer to "is kit all right?". `gather` reads
//! everything into a `Status` (the REST API serves the same struct); the
//! exit code is 0 when healthy and 1 when something needs attention, so
//! `kit-ctl status || alert` works in scripts.
//!
//! Every query here is an index lookup or a range over today's rows, so the
//! answer stays fast on a DB holding years of history (scripts/bench-ctl).

mod conditions;
mod parts;
mod print;
pub mod triggers;

pub use parts::{day_bounds, running_and_queued, streak};
pub use print::print;

use super::why::gap_words;
use super::Ctx;
use crate::output::{local_time, thousands};
use chrono::Duration;
use kit_db::clock::{self, Instant};
use kit_db::settings::Settings;
use kit_db::{state, Store};
use parts::{beat, daemons, failing, notifications, today};
use rusqlite::OptionalExtension;
use serde::Serialize;
use std::collections::BTreeMap;

pub use kit_db::overdue::{KEEP_STALE, TICK_STALE};
/// A notification still undelivered this long after it was recorded is a
/// problem (kit-heal delivers within a minute when the notifier works).
pub const NOTIFY_LATE: Duration = Duration::minutes(5);
/// kit-tick starts kit-heal every minute (and kit-keep periodically): a
/// kit-heal silent this long, on a kit in use that long, is not running.
pub const HEAL_STALE: Duration = Duration::minutes(5);

/// Terminal statuses that count as a failure of the task.
pub const FAILURES: &[&str] = &["failed", "timeout", "lost", "error"];

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub now: String,
    pub timezone: String,
    pub healthy: bool,
    pub tasks: TaskCounts,
    /// Task executions running now (daemons are under `daemons`).
    pub running: i64,
    pub queued: i64,
    pub today: Today,
    pub daemons: Daemons,
    pub failing: Vec<Failing>,
    pub heartbeats: Vec<Beat>,
    pub notifications: Notifications,
    /// Triggers today by outcome, and the triggered runs waiting to start.
    pub triggers: triggers::Triggers,
    /// kit-tick's latest gap today (long enough to miss slots) and what it
    /// was: the machine asleep, or kit-tick not started.
    pub tick_gap: Option<kit_db::gap::Gap>,
    /// Conditions and file watches (cmd/status/conditions.rs).
    pub conditions: conditions::Conditions,
    /// Adaptations, overrides and pauses in force, and pending one-shot runs.
    pub schedule_changes: Vec<kit_db::adapt::Override>,
    /// Everything worth a look, most serious first.
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskCounts {
    pub total: i64,
    pub enabled: i64,
    pub daemons: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Today {
    /// The local day of `[settings] timezone`, as UTC bounds [from, until).
    pub from: String,
    pub until: String,
    pub total: i64,
    pub by_status: BTreeMap<String, i64>,
    pub missed: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Daemons {
    pub up: i64,
    pub total: i64,
    pub down: Vec<DaemonState>,
    pub quarantined: Vec<DaemonState>,
    /// Stopped on request (`kit-ctl stop`): down on purpose.
    pub stopped: Vec<DaemonState>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DaemonState {
    pub name: String,
    pub state: String,
    pub until: Option<String>,
    pub last_exit: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failing {
    pub task: String,
    /// kit-heal's view (ok, failing, recovering, escalated), if it has one.
    pub state: Option<String>,
    pub streak: i64,
    pub enabled: bool,
    pub last_status: Option<String>,
    pub last_exit_code: Option<i64>,
    pub last_at: Option<String>,
    pub execution_id: Option<i64>,
    pub escalated_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Beat {
    pub tool: String,
    pub beat_at: Option<String>,
    pub age_seconds: Option<i64>,
    /// How much of that age the machine slept (from the boot's sleep
    /// counter; null when unknown or after a restart).
    pub slept_seconds: Option<i64>,
    pub stale_after_seconds: Option<i64>,
    pub stale: bool,
    /// Whether kit needs this tool now (kit-tick when timed tasks exist,
    /// kit-keep when daemons are declared).
    pub needed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Notifications {
    pub pending: i64,
    pub oldest_pending_at: Option<String>,
    pub max_attempts: i64,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// "attention" (makes status exit 1) or "notice".
    pub severity: &'static str,
    pub message: String,
}

pub fn gather(store: &Store, now: Instant) -> anyhow::Result<Status> {
    let conn = &store.conn;
    let settings = Settings::load(conn)?;
    let zone = settings.zone();
    let mut problems = Vec::new();

    let (total, enabled, daemons_declared, timed_enabled): (i64, i64, i64, i64) = conn.query_row(
        "SELECT count(*), coalesce(sum(enabled), 0),
                coalesce(sum(enabled AND schedule = '@daemon'), 0),
                coalesce(sum(enabled AND schedule <> '@daemon'), 0)
         FROM supervisor_tasks",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let (running, queued) = running_and_queued(conn)?;

    let today = today(conn, now, zone)?;
    if today.missed > 0 {
        problems.push(notice(format!(
            "{} slot{} missed today (see `kit-ctl history --status missed`)",
            thousands(today.missed),
            plural(today.missed)
        )));
    }

    let recent = now - kit_db::overdue::RECENT;
    for (task, n, why) in kit_db::overdue::missed_since(conn, recent)? {
        problems.push(attention(format!(
            "task {task}: {} slot{} missed in the last {}: {}",
            thousands(n),
            plural(n),
            clock::human_age(kit_db::overdue::RECENT),
            crate::output::localize_instants(&why, zone)
        )));
    }
    let failed_ticks = kit_db::tickfail::between(conn, &clock::fmt(recent), &clock::fmt(now))?;
    if let Some(last) = failed_ticks.last() {
        problems.push(attention(format!(
            "kit-tick failed {} time{} in the last {} and claimed nothing then (last at {}: {})",
            failed_ticks.len(),
            plural(failed_ticks.len() as i64),
            clock::human_age(kit_db::overdue::RECENT),
            local_time(&last.at, zone),
            last.error
        )));
    }
    if let Some(j) = kit_db::clock_jump::last(conn)?.filter(|j| j.lasts_at(now)) {
        problems.push(attention(format!(
            "{} (seen {})",
            j.sentence(),
            local_time(&j.to, zone)
        )));
    }

    let daemons = daemons(conn)?;
    for d in &daemons.quarantined {
        problems.push(attention(format!(
            "daemon {} is quarantined after a crash loop{}",
            d.name,
            d.until
                .as_deref()
                .map(|u| format!(" until {}", local_time(u, zone)))
                .unwrap_or_default()
        )));
    }
    for d in &daemons.down {
        problems.push(attention(format!(
            "daemon {} is down ({})",
            d.name, d.state
        )));
    }
    for d in &daemons.stopped {
        problems.push(notice(format!(
            "daemon {} is stopped on request (`kit-ctl start {}`)",
            d.name, d.name
        )));
    }

    for st in kit_db::overdue::stuck(conn, now)? {
        problems.push(attention(format!(
            "task {}: execution #{} has been running for {}, past its timeout (stuck after {})",
            st.task,
            st.id,
            clock::human_age(st.running_for),
            kit_db::units::Dur(st.limit)
        )));
    }
    let late = kit_db::overdue::late_queued(conn, now)?;
    if let Some(first) = late.first() {
        let mut names: Vec<&str> = late.iter().map(|q| q.task.as_str()).collect();
        names.dedup();
        problems.push(attention(format!(
            "{} claimed slot{} not started by kit-run within {} ({}; oldest claimed {})",
            late.len(),
            plural(late.len() as i64),
            clock::human_age(kit_db::overdue::QUEUED_LIMIT),
            names.join(", "),
            local_time(&first.created_at, zone)
        )));
    }
    for s in kit_db::overdue::skip_streaks(conn, kit_db::overdue::SKIP_STREAK)? {
        problems.push(attention(format!(
            "task {}: its last {} slots were skipped{}",
            s.task,
            s.count,
            s.reason.map(|r| format!(" ({r})")).unwrap_or_default()
        )));
    }

    let trig = triggers::gather(conn, &today.from, &today.until, now, &mut problems)?;

    let failing = failing(conn)?;
    for f in &failing {
        let what = match (f.state.as_deref(), f.enabled) {
            (Some("escalated"), false) => "escalated and disabled".to_string(),
            (Some("escalated"), true) => "escalated".to_string(),
            _ => format!("failing ({} in a row)", f.streak),
        };
        problems.push(attention(format!("task {} is {what}", f.task)));
    }

    let watch_tasks = conditions::watch_tasks(conn)?;
    let heartbeats = vec![
        beat(conn, "kit-tick", now, Some(TICK_STALE), timed_enabled > 0)?,
        beat(
            conn,
            "kit-keep",
            now,
            Some(KEEP_STALE),
            daemons_declared > 0 || watch_tasks > 0,
        )?,
        heal_beat(conn, now, timed_enabled + daemons_declared > 0)?,
    ];
    // Only when something looks down is the lock worth a look: then a
    // write lock held by someone is the cause to name, not a dead tool.
    let looks_down = !daemons.down.is_empty() || heartbeats.iter().any(|b| b.needed && b.stale);
    let locked = if looks_down { write_lock(store) } else { None };
    if let Some(holders) = &locked {
        problems.push(attention(format!(
            "the database is locked for writing{}: kit-tick, kit-run and kit-keep cannot record anything until it is released",
            if holders.is_empty() {
                String::new()
            } else {
                format!(" by {}", kit_db::tickfail::describe_holders(holders))
            }
        )));
        for p in problems
            .iter_mut()
            .filter(|p| p.message.starts_with("daemon "))
        {
            p.message.push_str(
                " as last recorded; kit-keep may have restarted it but cannot record that while the database is locked",
            );
        }
    }
    for b in heartbeats.iter().filter(|b| b.needed && b.stale) {
        let why = match (&b.beat_at, b.age_seconds) {
            (Some(at), Some(age)) => format!(
                "its last heartbeat is {} old ({}){}",
                clock::human_age(Duration::seconds(age)),
                local_time(at, zone),
                match b.slept_seconds.filter(|s| *s >= 60) {
                    Some(s) => format!(
                        ", and the machine was asleep for {} of that",
                        clock::human_age(Duration::seconds(s))
                    ),
                    None => String::new(),
                }
            ),
            _ => "it has never run on this database".to_string(),
        };
        if locked.is_some() {
            // A tool that cannot write cannot beat: say the cause, not "down".
            problems.push(attention(format!(
                "{} has not recorded a heartbeat ({why}): the database is locked, so it cannot write",
                b.tool
            )));
        } else {
            problems.push(attention(format!("{} is not running: {why}", b.tool)));
        }
    }
    // Sleep versus a stalled kit-tick: the latest gap today, and a sleep
    // since the last tick that no tick has followed yet.
    let tick_gap = state::get(conn, "tick.last_gap")?
        .and_then(|j| serde_json::from_str::<kit_db::gap::Gap>(&j).ok())
        .filter(|g| g.to >= today.from);
    if let Some(g) = &tick_gap {
        if let (Some(a), Some(b)) = (clock::parse_stored(&g.from), clock::parse_stored(&g.to)) {
            problems.push(notice(format!(
                "{}; slots due then were missed or caught up per catch_up",
                gap_words(Some(g.cause), a, b, g.slept_seconds, zone)
            )));
        }
    }
    if let Some(b) = heartbeats
        .iter()
        .find(|b| b.tool == "kit-tick" && b.needed && !b.stale)
    {
        if let (Some(at), Some(s)) = (&b.beat_at, b.slept_seconds.filter(|s| *s >= 60)) {
            problems.push(notice(format!(
                "the machine was asleep for {} since kit-tick last ran ({}); kit-tick runs again within a minute of the wake",
                clock::human_age(Duration::seconds(s)),
                local_time(at, zone)
            )));
        }
    }
    let keep_stale = heartbeats.iter().any(|b| b.tool == "kit-keep" && b.stale);
    let conditions = conditions::gather(conn, zone, keep_stale, &mut problems)?;
    let heartbeats: Vec<Beat> = heartbeats
        .into_iter()
        .filter(|b| b.needed || b.beat_at.is_some())
        .collect();

    let notifications = notifications(conn)?;
    if let Some(oldest) = notifications
        .oldest_pending_at
        .as_deref()
        .and_then(clock::parse_stored)
    {
        if now - oldest >= NOTIFY_LATE || notifications.max_attempts > 0 {
            problems.push(attention(format!(
                "{} notification{} undelivered since {}{}",
                notifications.pending,
                plural(notifications.pending),
                local_time(&clock::fmt(oldest), zone),
                notifications
                    .last_error
                    .as_deref()
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default()
            )));
        }
    }

    problems.sort_by_key(|p| p.severity != "attention");
    Ok(Status {
        now: clock::fmt(now),
        timezone: zone.name().to_string(),
        healthy: !problems.iter().any(|p| p.severity == "attention"),
        tasks: TaskCounts {
            total,
            enabled,
            daemons: daemons_declared,
        },
        running,
        queued,
        today,
        daemons,
        failing,
        heartbeats,
        notifications,
        triggers: trig,
        tick_gap,
        conditions,
        schedule_changes: {
            let mut v = kit_db::adapt::rows::active(conn, None, now)?;
            v.extend(kit_db::adapt::rows::pending_at(conn, None)?);
            v
        },
        problems,
    })
}

/// kit-heal's beat is needed once kit has been in use for [`HEAL_STALE`]
/// (its first execution is that old): before that, a kit-heal that has not
/// run yet is not late.
fn heal_beat(conn: &rusqlite::Connection, now: Instant, tasks: bool) -> anyhow::Result<Beat> {
    let first: Option<String> = conn
        .query_row(
            "SELECT created_at FROM supervisor_executions ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let in_use = first
        .as_deref()
        .and_then(clock::parse_stored)
        .is_some_and(|t| now - t >= HEAL_STALE);
    beat(conn, "kit-heal", now, Some(HEAL_STALE), tasks && in_use)
}

/// `Some(holders)` when another connection holds the DB's write lock right
/// now (a `BEGIN IMMEDIATE` that cannot start at once), with the holders'
/// pids where the platform can tell.
fn write_lock(store: &Store) -> Option<Vec<i32>> {
    let conn = &store.conn;
    conn.busy_timeout(std::time::Duration::ZERO).ok()?;
    let busy = match conn.execute_batch("BEGIN IMMEDIATE") {
        Ok(()) => {
            let _ = conn.execute_batch("ROLLBACK");
            false
        }
        Err(rusqlite::Error::SqliteFailure(e, _)) => matches!(
            e.code,
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
        ),
        Err(_) => false,
    };
    let _ = conn.busy_timeout(kit_db::store::busy_timeout());
    busy.then(|| kit_db::tickfail::lock_holders(store.path()))
}

fn attention(message: String) -> Problem {
    Problem {
        severity: "attention",
        message,
    }
}
fn notice(message: String) -> Problem {
    Problem {
        severity: "notice",
        message,
    }
}
fn plural(n: i64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

pub fn status(ctx: &Ctx) -> anyhow::Result<i32> {
    let now = ctx.now()?;
    let store = ctx.open_existing()?;
    let s = gather(&store, now)?;
    if ctx.json {
        kit_db::cli::print_json(&s);
    } else {
        print!("{}", print(&s));
    }
    Ok(if s.healthy { 0 } else { 1 })
}
