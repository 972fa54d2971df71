//! The queries behind `status`, each an index lookup or a range over
//! today's rows.

use super::{Beat, DaemonState, Daemons, Failing, Notifications, Today, FAILURES};
use chrono::{Duration, NaiveTime, TimeZone};
use kit_db::clock::{self, Instant};
use kit_db::gap::Slept;
use kit_db::state;
use rusqlite::OptionalExtension;
use std::collections::BTreeMap;

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

pub(super) fn today(
    conn: &rusqlite::Connection,
    now: Instant,
    zone: chrono_tz::Tz,
) -> anyhow::Result<Today> {
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

pub(super) fn daemons(conn: &rusqlite::Connection) -> anyhow::Result<Daemons> {
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
pub(super) fn failing(conn: &rusqlite::Connection) -> anyhow::Result<Vec<Failing>> {
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

pub(super) fn beat(
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
    // Sleep is not a stall: the limit counts only the time the machine was
    // up since the beat (kit_db::gap).
    let slept = match hb.as_ref().map(|h| h.slept_since()) {
        Some(Slept::Known(s)) => Some(s),
        _ => None,
    };
    let awake = hb
        .as_ref()
        .and_then(|h| h.awake_age(now))
        .map(|d| d.max(Duration::zero()));
    let stale = match (stale_after, awake) {
        (Some(limit), Some(a)) => a >= limit || gone,
        (Some(_), None) => true,
        (None, _) => false,
    };
    Ok(Beat {
        tool: tool.to_string(),
        beat_at: hb.map(|h| h.beat_at),
        age_seconds: age.map(|a| a.num_seconds()),
        slept_seconds: slept.map(|s| s.num_seconds()),
        stale_after_seconds: stale_after.map(|d| d.num_seconds()),
        stale,
        needed,
    })
}

/// Task executions running now and slots claimed but not started yet.
/// Daemon runs are not counted: they are shown under Daemons.
pub fn running_and_queued(conn: &rusqlite::Connection) -> anyhow::Result<(i64, i64)> {
    Ok(conn.query_row(
        "SELECT coalesce(sum(status = 'running' AND trigger <> 'daemon'), 0), coalesce(sum(status = 'queued'), 0)
         FROM supervisor_executions WHERE status IN ('queued','running')",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

pub(super) fn notifications(conn: &rusqlite::Connection) -> anyhow::Result<Notifications> {
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

#[cfg(test)]
mod tests {
    use super::day_bounds;
    use kit_db::clock::{fmt, parse_instant};

    fn bounds(now: &str, zone: &str) -> (String, String) {
        let (a, b) = day_bounds(parse_instant(now).unwrap(), zone.parse().unwrap());
        (fmt(a), fmt(b))
    }

    #[test]
    fn the_day_is_the_local_calendar_day() {
        assert_eq!(
            bounds("2025-03-30T12:00:00Z", "Europe/Warsaw"),
            // The spring-forward day is 23 hours long.
            (
                "2025-03-29T23:00:00.000Z".into(),
                "2025-03-30T22:00:00.000Z".into()
            )
        );
        assert_eq!(
            bounds("2025-01-10T10:59:59Z", "Pacific/Auckland"),
            (
                "2025-01-09T11:00:00.000Z".into(),
                "2025-01-10T11:00:00.000Z".into()
            )
        );
    }

    #[test]
    fn a_midnight_skipped_by_dst_starts_the_day_at_the_first_instant_that_exists() {
        // Chile springs forward at 24:00: 2024-09-08 begins at 01:00 -03.
        assert_eq!(
            bounds("2024-09-08T12:00:00Z", "America/Santiago"),
            (
                "2024-09-08T04:00:00.000Z".into(),
                "2024-09-09T03:00:00.000Z".into()
            )
        );
    }
}
