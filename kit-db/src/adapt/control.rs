//! Overrides, pauses and one-shot runs as the CLI, the API and MCP ask for
//! them: validated, bounded, announced, and kit-tick told to recompute.

use super::rows::{self, NewOverride, Override};
use crate::clock::{self, Instant};
use crate::schedule::Schedule;
use crate::task::{repo, Task};
use crate::units::Dur;
use crate::{Error, Result};
use chrono::{NaiveTime, TimeZone};
use rusqlite::Connection;

/// A timed task that a schedule change can apply to.
fn timed_task(conn: &Connection, name: &str) -> Result<Task> {
    let task = repo::require(conn, name)?.task;
    if task.is_daemon() || task.schedule.trim() == "@reboot" {
        return Err(Error::invalid(format!(
            "{name} is {}: it has no schedule to override or pause",
            task.schedule.trim()
        )));
    }
    Ok(task)
}

fn need_reason(reason: Option<&str>) -> Result<&str> {
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => Ok(r),
        None => Err(Error::invalid(
            "--reason: say why (it is recorded and shown with the change)",
        )),
    }
}

/// When a change ends: `--for DURATION` or `--until TIME`, exactly one,
/// at most MAX_SPAN ahead.
pub fn end_of(
    now: Instant,
    for_: Option<&str>,
    until: Option<&str>,
    zone: chrono_tz::Tz,
) -> Result<Instant> {
    let end = match (for_, until) {
        (Some(d), None) => {
            let d = Dur::parse(d).map_err(|e| Error::invalid(format!("--for: {e}")))?;
            now + d.chrono()
        }
        (None, Some(t)) => {
            parse_time(t, now, zone).map_err(|e| Error::invalid(format!("--until: {e}")))?
        }
        _ => {
            return Err(Error::invalid(
                "give --for DURATION or --until TIME (an override or pause always ends; \
                 for good, disable the task)",
            ))
        }
    };
    rows::check_span(if for_.is_some() { "--for" } else { "--until" }, now, end)?;
    Ok(end)
}

/// A time as people write it: RFC 3339, `YYYY-MM-DD HH:MM` or `HH:MM`
/// (the next such minute) in `zone`, or `+DURATION` from now.
pub fn parse_time(
    text: &str,
    now: Instant,
    zone: chrono_tz::Tz,
) -> std::result::Result<Instant, String> {
    let t = text.trim();
    if let Some(d) = t.strip_prefix('+') {
        return Ok(now + Dur::parse(d)?.chrono());
    }
    if let Ok(i) = clock::parse_instant(t) {
        return Ok(i);
    }
    let local = |naive: chrono::NaiveDateTime| {
        zone.from_local_datetime(&naive)
            .earliest()
            .map(|l| l.with_timezone(&chrono::Utc))
            .ok_or_else(|| format!("{t:?} does not exist in {zone} (a DST gap)"))
    };
    if let Ok(n) = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M") {
        return local(n);
    }
    if let Ok(hm) = NaiveTime::parse_from_str(t, "%H:%M") {
        let today = now.with_timezone(&zone).date_naive();
        let cand = local(today.and_time(hm))?;
        return if cand > now {
            Ok(cand)
        } else {
            local((today + chrono::Duration::days(1)).and_time(hm))
        };
    }
    Err(format!(
        "invalid time {t:?} (examples: 18:40, \"2026-03-02 18:40\", 2026-03-02T18:40:00Z, +2h)"
    ))
}

fn announce_change(conn: &Connection, o: &Override, verb: &str, now: Instant) -> Result<()> {
    super::announce(
        conn,
        "override",
        &o.task,
        format!("{}: {verb}: {}", o.task, o.describe()),
        serde_json::json!({ "override_id": o.id, "kind": o.kind, "set_by": o.set_by,
                             "schedule": o.schedule, "until": o.ends_at, "reason": o.reason }),
        format!("{}:{}:{verb}", o.kind, o.id),
        now,
    )?;
    Ok(())
}

/// `override NAME --schedule EXPR`: replaces any override in force.
pub fn set_override(
    conn: &Connection,
    name: &str,
    schedule: &str,
    ends_at: Instant,
    set_by: &str,
    reason: Option<&str>,
    now: Instant,
) -> Result<Override> {
    timed_task(conn, name)?;
    let reason = need_reason(reason)?;
    let s = Schedule::parse(schedule).map_err(|e| Error::invalid(format!("--schedule: {e}")))?;
    if matches!(s, Schedule::Daemon | Schedule::Reboot) {
        return Err(Error::invalid(format!(
            "--schedule: {schedule:?} is not a pace (use a cron expression or @every)"
        )));
    }
    rows::check_span("--for", now, ends_at)?;
    replace_in_force(
        conn,
        &NewOverride {
            task: name,
            kind: "schedule",
            schedule: Some(schedule),
            starts_at: now,
            ends_at,
            set_by,
            reason: Some(reason),
            data: None,
        },
        ("override", "override set"),
        now,
    )
}

/// Puts `new` in force in place of any of its kind (an override replaces
/// the override, a pause the pause), announces it, and has kit-tick
/// recompute the task's next slot. `words`: (what it is, what to announce).
fn replace_in_force(
    conn: &Connection,
    new: &NewOverride,
    words: (&str, &str),
    now: Instant,
) -> Result<Override> {
    let (what, verb) = words;
    let id = rows::insert(conn, new, now)?;
    clear(
        conn,
        new.task,
        &[new.kind],
        &format!("replaced by {what} #{id}"),
        now,
        Some(id),
    )?;
    let o =
        rows::get(conn, id)?.ok_or_else(|| Error::invalid(format!("the {what} disappeared")))?;
    announce_change(conn, &o, verb, now)?;
    rows::reset_next_due(conn, new.task, now)?;
    Ok(o)
}

/// `pause NAME`: slots until the end are recorded skipped.
pub fn set_pause(
    conn: &Connection,
    name: &str,
    ends_at: Instant,
    set_by: &str,
    reason: Option<&str>,
    now: Instant,
) -> Result<Override> {
    timed_task(conn, name)?;
    let reason = need_reason(reason)?;
    rows::check_span("--for", now, ends_at)?;
    replace_in_force(
        conn,
        &NewOverride {
            task: name,
            kind: "pause",
            schedule: None,
            starts_at: now,
            ends_at,
            set_by,
            reason: Some(reason),
            data: None,
        },
        ("pause", "paused"),
        now,
    )
}

/// Ends early what is in force (`--clear`, `resume`); `keep` is spared.
pub fn clear(
    conn: &Connection,
    name: &str,
    kinds: &[&str],
    by: &str,
    now: Instant,
    keep: Option<i64>,
) -> Result<Vec<Override>> {
    repo::require(conn, name)?;
    let mut done = Vec::new();
    for o in rows::clear(conn, name, kinds, by, now)? {
        if Some(o.id) == keep {
            // Undo: the new row itself is not cleared.
            conn.execute(
                "UPDATE supervisor_overrides SET cleared_at = NULL, cleared_by = NULL, reverted_at = NULL
                 WHERE id = ?1",
                [o.id],
            )?;
            continue;
        }
        announce_change(conn, &o, &format!("cleared by {by}"), now)?;
        done.push(o);
    }
    if !done.is_empty() {
        rows::reset_next_due(conn, name, now)?;
    }
    Ok(done)
}

/// `at TIME NAME`: one run at `when` (within MAX_SPAN from now).
pub fn add_at(
    conn: &Connection,
    name: &str,
    when: Instant,
    data: Option<&str>,
    set_by: &str,
    reason: Option<&str>,
    now: Instant,
) -> Result<Override> {
    let task = repo::require(conn, name)?.task;
    if task.is_daemon() {
        return Err(Error::invalid(format!(
            "{name} is a daemon: kit-keep runs it (use kit-ctl restart {name})"
        )));
    }
    if when < now - chrono::Duration::minutes(1) {
        return Err(Error::invalid(format!(
            "TIME: {} is in the past (now is {})",
            clock::fmt(when),
            clock::fmt(now)
        )));
    }
    rows::check_span("TIME", now, when.max(now + chrono::Duration::seconds(1)))?;
    let id = rows::insert(
        conn,
        &NewOverride {
            task: name,
            kind: "at",
            schedule: None,
            starts_at: when,
            ends_at: when,
            set_by,
            reason,
            data,
        },
        now,
    )?;
    let o = rows::get(conn, id)?.ok_or_else(|| Error::invalid("the run disappeared"))?;
    announce_change(conn, &o, "one-shot run set", now)?;
    Ok(o)
}
