//! `status`: the one-screen answer to "is kit all right?". `gather` reads
//! everything into a `Status` (the REST API serves the same struct); the
//! exit code is 0 when healthy and 1 when something needs attention, so
//! `kit-ctl status || alert` works in scripts.
//!
//! Every query here is an index lookup or a range over today's rows, so the
//! answer stays fast on a DB holding years of history (scripts/bench-ctl).

use super::Ctx;
use crate::output::{color, local_time, status as paint, thousands};
use chrono::{Duration, NaiveTime, TimeZone};
use kit_db::clock::{self, Instant};
use kit_db::settings::Settings;
use kit_db::{state, Store};
use rusqlite::OptionalExtension;
use serde::Serialize;
use std::collections::BTreeMap;

/// kit-tick is run every minute; a heartbeat older than this means the
/// timer (launchd, systemd, cron) is not running it. Same threshold as
/// kit-heal's `stalled` check.
pub const TICK_STALE: Duration = Duration::minutes(3);
/// kit-keep beats at least every 10 s.
pub const KEEP_STALE: Duration = Duration::minutes(1);
/// A notification still undelivered this long after it was recorded is a
/// problem (kit-heal delivers within a minute when the notifier works).
pub const NOTIFY_LATE: Duration = Duration::minutes(5);

/// Terminal statuses that count as a failure of the task.
pub const FAILURES: &[&str] = &["failed", "timeout", "lost", "error"];

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub now: String,
    pub timezone: String,
    pub healthy: bool,
    pub tasks: TaskCounts,
    pub running: i64,
    pub queued: i64,
    pub today: Today,
    pub daemons: Daemons,
    pub failing: Vec<Failing>,
    pub heartbeats: Vec<Beat>,
    pub notifications: Notifications,
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
    let (running, queued): (i64, i64) = conn.query_row(
        "SELECT coalesce(sum(status = 'running'), 0), coalesce(sum(status = 'queued'), 0)
         FROM supervisor_executions WHERE status IN ('queued','running')",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;

    let today = today(conn, now, zone)?;
    if today.missed > 0 {
        problems.push(notice(format!(
            "{} slot{} missed today (see `kit-ctl history --status missed`)",
            thousands(today.missed),
            plural(today.missed)
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

    let failing = failing(conn)?;
    for f in &failing {
        let what = match (f.state.as_deref(), f.enabled) {
            (Some("escalated"), false) => "escalated and disabled".to_string(),
            (Some("escalated"), true) => "escalated".to_string(),
            _ => format!("failing ({} in a row)", f.streak),
        };
        problems.push(attention(format!("task {} is {what}", f.task)));
    }

    let heartbeats = vec![
        beat(conn, "kit-tick", now, Some(TICK_STALE), timed_enabled > 0)?,
        beat(
            conn,
            "kit-keep",
            now,
            Some(KEEP_STALE),
            daemons_declared > 0,
        )?,
        beat(conn, "kit-heal", now, None, false)?,
    ];
    for b in heartbeats.iter().filter(|b| b.needed && b.stale) {
        let why = match (&b.beat_at, b.age_seconds) {
            (Some(at), Some(age)) => format!(
                "its last heartbeat is {} old ({})",
                clock::human_age(Duration::seconds(age)),
                local_time(at, zone)
            ),
            _ => "it has never run on this database".to_string(),
        };
        problems.push(attention(format!("{} is not running: {why}", b.tool)));
    }
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
        problems,
    })
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

/// The local calendar day containing `now`, as UTC bounds. A midnight that
/// a DST change skips starts the day at the first instant that exists.
pub fn day_bounds(now: Instant, zone: chrono_tz::Tz) -> (Instant, Instant) {
    let date = now.with_timezone(&zone).date_naive();
    let start_of = |d: chrono::NaiveDate| -> Instant {
        let midnight = d.and_time(NaiveTime::MIN);
        (0..=4)
            .find_map(|h| {
                zone.from_local_datetime(&(midnight + Duration::hours(h)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(|| midnight.and_utc())
    };
    let next = date.succ_opt().unwrap_or(date);
    (start_of(date), start_of(next))
}

fn today(conn: &rusqlite::Connection, now: Instant, zone: chrono_tz::Tz) -> anyhow::Result<Today> {
    let (from, until) = day_bounds(now, zone);
    let (from, until) = (clock::fmt(from), clock::fmt(until));
    let mut stmt = conn.prepare_cached(
        "SELECT status, count(*) FROM supervisor_executions
         WHERE created_at >= ?1 AND created_at < ?2 GROUP BY status",
    )?;
    let by_status: BTreeMap<String, i64> = stmt
        .query_map([&from, &until], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Today {
        total: by_status.values().sum(),
        missed: by_status.get("missed").copied().unwrap_or(0),
        from,
        until,
        by_status,
    })
}

fn daemons(conn: &rusqlite::Connection) -> anyhow::Result<Daemons> {
    let mut stmt = conn.prepare_cached(
        "SELECT name FROM supervisor_tasks WHERE schedule = '@daemon' AND enabled = 1 ORDER BY name",
    )?;
    let names: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let rows: BTreeMap<String, kit_db::daemon::DaemonState> = kit_db::daemon::state::list(conn)?
        .into_iter()
        .map(|d| (d.task.clone(), d))
        .collect();
    let mut out = Daemons {
        up: 0,
        total: 0,
        down: vec![],
        quarantined: vec![],
        stopped: vec![],
    };
    for name in names {
        out.total += 1;
        let Some(d) = rows.get(&name) else {
            out.down.push(DaemonState {
                name,
                state: "not started".into(),
                until: None,
                last_exit: None,
            });
            continue;
        };
        let mut s = DaemonState {
            name,
            state: d.state.clone(),
            until: None,
            last_exit: d.last_exit.clone(),
        };
        match d.state.as_str() {
            // The row says running: believe it only if the process is.
            "running" if d.process_alive() => out.up += 1,
            "running" => {
                s.state = "gone (its process ended while kit-keep was not watching)".into();
                out.down.push(s);
            }
            "quarantined" => {
                s.until = d.quarantined_until.clone();
                out.quarantined.push(s);
            }
            _ if d.wanted == "down" => out.stopped.push(s),
            _ => {
                s.until = d.backoff_until.clone();
                out.down.push(s);
            }
        }
    }
    Ok(out)
}

/// Tasks whose latest finished run failed, plus any that kit-heal holds in
/// a failing, recovering or escalated episode.
fn failing(conn: &rusqlite::Connection) -> anyhow::Result<Vec<Failing>> {
    // One index probe per task (supervisor_executions_task, newest first).
    let mut stmt = conn.prepare_cached(
        "SELECT t.name, t.enabled, e.id, e.status, e.exit_code, coalesce(e.finished_at, e.created_at),
                r.state, r.streak, r.escalated_at
         FROM supervisor_tasks t
         LEFT JOIN supervisor_executions e ON e.id = (
             SELECT id FROM supervisor_executions x
             WHERE x.task = t.name AND x.status NOT IN ('queued','running','skipped','missed')
             ORDER BY x.id DESC LIMIT 1)
         LEFT JOIN supervisor_recovery r ON r.task = t.name
         WHERE t.schedule <> '@daemon'
           AND (e.status IN ('failed','timeout','lost','error') OR r.state IN ('failing','recovering','escalated'))
         ORDER BY t.name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Failing {
            task: r.get(0)?,
            enabled: r.get::<_, i64>(1)? != 0,
            execution_id: r.get(2)?,
            last_status: r.get(3)?,
            last_exit_code: r.get(4)?,
            last_at: r.get(5)?,
            state: r.get(6)?,
            streak: r.get::<_, Option<i64>>(7)?.unwrap_or(0),
            escalated_at: r.get(8)?,
        })
    })?;
    let mut out: Vec<Failing> = rows.collect::<rusqlite::Result<_>>()?;
    for f in &mut out {
        // kit-heal may not have counted the latest runs yet: the streak
        // shown is what the executions say.
        f.streak = f.streak.max(streak(conn, &f.task)?);
    }
    Ok(out)
}

/// Consecutive failed/timeout/lost/error runs, newest first (skipped and
/// missed slots neither break nor extend a streak). Counts up to 1000.
pub fn streak(conn: &rusqlite::Connection, task: &str) -> anyhow::Result<i64> {
    let mut stmt = conn.prepare_cached(
        "SELECT status FROM supervisor_executions
         WHERE task = ?1 AND status NOT IN ('queued','running','skipped','missed')
         ORDER BY id DESC LIMIT 1000",
    )?;
    let mut rows = stmt.query([task])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let s: String = r.get(0)?;
        if !FAILURES.contains(&s.as_str()) {
            break;
        }
        n += 1;
    }
    Ok(n)
}

fn beat(
    conn: &rusqlite::Connection,
    tool: &str,
    now: Instant,
    stale_after: Option<Duration>,
    needed: bool,
) -> anyhow::Result<Beat> {
    let hb = state::heartbeat(conn, tool)?;
    let age = hb
        .as_ref()
        .and_then(|h| h.age(now))
        .map(|d| d.max(Duration::zero()));
    // kit-keep is long-lived: a fresh beat from a process that is gone
    // (kill -9 a second ago) is already a stale one.
    let gone = tool == "kit-keep" && hb.as_ref().is_some_and(|h| !h.process_alive());
    let stale = match (stale_after, age) {
        (Some(limit), Some(a)) => a >= limit || gone,
        (Some(_), None) => true,
        (None, _) => false,
    };
    Ok(Beat {
        tool: tool.to_string(),
        beat_at: hb.map(|h| h.beat_at),
        age_seconds: age.map(|a| a.num_seconds()),
        stale_after_seconds: stale_after.map(|d| d.num_seconds()),
        stale,
        needed,
    })
}

fn notifications(conn: &rusqlite::Connection) -> anyhow::Result<Notifications> {
    let (pending, oldest, max_attempts): (i64, Option<String>, Option<i64>) = conn.query_row(
        "SELECT count(*), min(created_at), max(attempts) FROM supervisor_events WHERE delivery = 'pending'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let last_error: Option<String> = conn
        .query_row(
            "SELECT last_error FROM supervisor_events
             WHERE delivery = 'pending' AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(Notifications {
        pending,
        oldest_pending_at: oldest,
        max_attempts: max_attempts.unwrap_or(0),
        last_error,
    })
}

/// The order people read statuses in.
const ORDER: &[&str] = &[
    "success", "failed", "timeout", "killed", "lost", "error", "skipped", "missed", "running",
    "queued",
];

pub fn print(s: &Status) -> String {
    let mut out = String::new();
    let mut line =
        |label: &str, text: String| out.push_str(&format!("{:<12}{text}\n", format!("{label}:")));
    line(
        "Tasks",
        format!(
            "{} total, {} enabled",
            thousands(s.tasks.total),
            thousands(s.tasks.enabled)
        ),
    );
    line(
        "Running",
        format!(
            "{}{}",
            s.running,
            if s.queued > 0 {
                format!(" ({} queued)", s.queued)
            } else {
                String::new()
            }
        ),
    );
    let parts: Vec<String> = ORDER
        .iter()
        .filter_map(|st| {
            s.today
                .by_status
                .get(*st)
                .map(|n| format!("{} {}", thousands(*n), paint(st)))
        })
        .collect();
    line(
        "Today",
        format!(
            "{} execution{}{}",
            thousands(s.today.total),
            plural(s.today.total),
            if parts.is_empty() {
                String::new()
            } else {
                format!(" ({})", parts.join(", "))
            }
        ),
    );
    line(
        "Missed",
        format!(
            "{} slot{} today",
            thousands(s.today.missed),
            plural(s.today.missed)
        ),
    );
    let mut d = format!("{}/{} up", s.daemons.up, s.daemons.total);
    let names = |v: &[DaemonState]| {
        v.iter()
            .map(|d| d.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !s.daemons.down.is_empty() {
        d.push_str(&format!(", {}: {}", paint("down"), names(&s.daemons.down)));
    }
    if !s.daemons.quarantined.is_empty() {
        d.push_str(&format!(
            ", {}: {}",
            paint("quarantined"),
            names(&s.daemons.quarantined)
        ));
    }
    if !s.daemons.stopped.is_empty() {
        d.push_str(&format!(", stopped: {}", names(&s.daemons.stopped)));
    }
    line("Daemons", d);
    let failing = if s.failing.is_empty() {
        "none".to_string()
    } else {
        s.failing
            .iter()
            .map(|f| {
                let last = match (f.last_status.as_deref(), f.last_exit_code) {
                    (Some(st), Some(c)) => format!("{} {c}", paint(st)),
                    (Some(st), None) => paint(st),
                    _ => String::new(),
                };
                let state = f.state.as_deref().filter(|s| *s != "ok" && *s != "failing");
                format!(
                    "{} ({last}, {} in a row{})",
                    f.task,
                    f.streak,
                    state.map(|s| format!(", {s}")).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    line("Failing", failing);
    let beats: Vec<String> = s
        .heartbeats
        .iter()
        .map(|b| {
            let age = match b.age_seconds {
                Some(a) => format!("{} ago", clock::human_age(Duration::seconds(a))),
                None => "never".to_string(),
            };
            if b.stale && b.needed {
                format!("{} {age} ({})", b.tool, paint("stale"))
            } else {
                format!("{} {age}", b.tool)
            }
        })
        .collect();
    line("Heartbeats", beats.join(", "));
    line(
        "Notify",
        if s.notifications.pending == 0 {
            "all delivered".to_string()
        } else {
            format!("{} undelivered", s.notifications.pending)
        },
    );
    if !s.problems.is_empty() {
        out.push('\n');
        for p in &s.problems {
            let mark = if p.severity == "attention" {
                color("31", "!")
            } else {
                "-".into()
            };
            out.push_str(&format!("{mark} {}\n", p.message));
        }
    }
    out
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
