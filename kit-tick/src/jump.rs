//! What a tick does when the wall clock jumped (`kit_db::clock_jump` sees
//! it), following cronie's `cron.c`:
//!
//! - back by up to 3 hours: cronie's "virtual time" stays where it was, and
//!   each minute it runs only wildcard jobs (minute or hour field beginning
//!   with `*`) matching the current time. kit keeps each task's `next_due`
//!   (so fixed-time tasks wait until the clock is back where it was, and do
//!   not run twice) and claims matching wildcard and `@every` tasks at the
//!   current minute;
//! - back by more than 3 hours: cronie resets its virtual time and runs
//!   everything from the new time. kit recomputes every task's `next_due`
//!   from now, so fixed-time tasks run again at their times;
//! - forward: a gap (`plan` records the skipped slots missed, explained by
//!   the jump; after more than 3 hours none is caught up).
//!
//! A slot the clock passes a second time is claimed again as the next
//! attempt (`exec::claim_slot_again`), once per pass.

use crate::tick::{Claim, TickReport, WATERMARK};
use chrono::Duration;
use kit_db::clock::{self, Instant};
use kit_db::clock_jump::Jump;
use kit_db::schedule::{Schedule, Tz};
use kit_db::{exec, state};
use rusqlite::Connection;

/// Right after a big jump back: every timed task starts again from now.
pub fn restart_from_now(tx: &Connection, now: Instant) -> anyhow::Result<()> {
    tx.execute(
        "UPDATE supervisor_tasks SET next_due = NULL
          WHERE enabled = 1 AND schedule NOT IN ('@daemon', '@reboot')",
        [],
    )?;
    state::set(tx, WATERMARK, &clock::fmt(now), now)?;
    Ok(())
}

/// Claims a slot, or claims it again when the clock is passing it a second
/// time (`going_back`: the jump back still in progress).
pub fn claim(
    tx: &Connection,
    name: &str,
    slot: Instant,
    trigger: &str,
    now: Instant,
    going_back: Option<&Jump>,
) -> anyhow::Result<Option<i64>> {
    Ok(
        match going_back.filter(|j| j.resume_minute().is_some_and(|r| slot <= r)) {
            Some(j) => exec::claim_slot_again(tx, name, slot, trigger, now, j.base_id)?,
            None => exec::claim_slot(tx, name, slot, trigger, now)?,
        },
    )
}

/// During a jump back of up to 3 hours: claims the wildcard and `@every`
/// tasks whose schedule matches the current minute.
pub fn claim_wildcards(
    tx: &Connection,
    jump: &Jump,
    now: Instant,
    default_zone: Tz,
    report: &mut TickReport,
) -> anyhow::Result<()> {
    let minute = clock::floor_minute(now);
    let mut stmt = tx.prepare_cached(
        "SELECT name, schedule, timezone, next_due FROM supervisor_tasks
          WHERE enabled = 1 AND schedule NOT IN ('@daemon', '@reboot') ORDER BY name",
    )?;
    let tasks: Vec<(String, String, Option<String>, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, schedule, zone, next_due) in tasks {
        let Ok(schedule) = Schedule::parse(&schedule) else {
            continue;
        };
        let tz = zone.and_then(|z| z.parse().ok()).unwrap_or(default_zone);
        let next_due = next_due.as_deref().and_then(clock::parse_stored);
        if !matches_wildcard(&schedule, tz, next_due, minute) {
            continue;
        }
        // A pause or the rate limit holds here too (recorded skipped).
        let Some(row) = kit_db::task::repo::get(tx, &name)? else {
            continue;
        };
        if let kit_db::adapt::Gate::Skipped { .. } =
            kit_db::adapt::gate(tx, &row.task, "schedule", now)?
        {
            continue;
        }
        if let Some(id) = claim(tx, &name, minute, "schedule", now, Some(jump))? {
            report.claimed.push(Claim {
                name,
                slot: clock::fmt(minute),
                id,
                trigger: "schedule".into(),
            });
        }
    }
    Ok(())
}

/// A wildcard cron task matching `minute`, or an `@every` task whose grid
/// (counted from its next slot) falls on it.
fn matches_wildcard(
    schedule: &Schedule,
    tz: Tz,
    next_due: Option<Instant>,
    minute: Instant,
) -> bool {
    match schedule {
        Schedule::Every(d) => {
            let (Some(due), Ok(step)) = (next_due, Duration::from_std(*d)) else {
                return false;
            };
            let step = step.num_seconds().max(60);
            (due - minute).num_seconds().rem_euclid(step) == 0
        }
        Schedule::Cron(expr) if !expr.is_fixed_time() => {
            schedule.next_after(minute - Duration::seconds(1), tz) == Some(minute)
        }
        _ => false,
    }
}
