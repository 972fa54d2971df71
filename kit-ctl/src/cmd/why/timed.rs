//! `why` for timed tasks: the last slot, a slot nobody claimed, the next one.

use super::slot::{describe_slot, result_phrase};
use super::Out;
use crate::cmd::status::TICK_STALE;
use kit_db::clock::{self, Instant};
use kit_db::exec::{self, Execution};
use kit_db::gap::{Slept, SLEEP_NOISE};
use kit_db::settings::Settings;
use kit_db::state::{self, Heartbeat};
use kit_db::task::{CatchUp, TaskRow};
use rusqlite::{Connection, OptionalExtension};
use serde_json::{json, Value};

use super::CLAIM_GRACE;

pub(super) fn timed(
    o: &mut Out,
    conn: &Connection,
    row: &TaskRow,
    settings: &Settings,
    now: Instant,
) -> anyhow::Result<String> {
    let name = &row.task.name;
    let tick = state::heartbeat(conn, "kit-tick")?;
    o.fact("kit_tick", tick_fact(tick.as_ref(), now));
    let slot = last_slot(conn, name)?;
    o.fact("last_slot", &slot);
    let mut case: Option<String> = None;
    if let Some(j) = o.jump.clone() {
        o.fact("clock_jump", &j);
        o.say(format!("{} (seen {}).", j.sentence(), o.when(&j.to)));
    }

    // A due slot nobody claimed: kit-tick itself is not being run.
    if row.task.enabled {
        let due = row.next_due.as_deref().and_then(clock::parse_stored);
        let unclaimed = match due {
            // While the clock is behind where it was, a slot past it is
            // not late: it waits for the clock (cronie's virtual time).
            Some(_) if o.jump.as_ref().is_some_and(|j| j.going_back_at(now)) => false,
            Some(d) => now - d > CLAIM_GRACE,
            // Never evaluated: only a problem if kit-tick is not ticking.
            None => tick_stale(tick.as_ref(), now),
        };
        // Asleep (or restarted) since kit-tick's last beat, read now from
        // the sleep counter: nothing is wrong, the first tick after the wake
        // (or the boot) claims it.
        let pause = tick
            .as_ref()
            .filter(|h| !tick_stale(Some(h), now))
            .and_then(|h| match h.slept_since() {
                Slept::Known(s) if s >= SLEEP_NOISE => Some((
                    format!(
                        "the machine was asleep for {} since kit-tick last ran",
                        clock::human_age(s)
                    ),
                    "wake",
                    "asleep",
                )),
                Slept::Restarted(Some(up)) => Some((
                    format!(
                        "the machine restarted {} ago, after kit-tick last ran",
                        clock::human_age(up)
                    ),
                    "boot",
                    "restarted",
                )),
                _ => None,
            });
        if let (true, Some((what, event, c)), Some(h)) = (unclaimed, pause, tick.as_ref()) {
            o.say(format!(
                "Its slot at {} has not been claimed yet: {what} ({}), \
                 and kit-tick runs again within a minute of the {event}.",
                o.at(&clock::fmt(due.unwrap_or(now))),
                o.when(&h.beat_at)
            ));
            case = Some(c.into());
        } else if unclaimed && row.task.schedule.trim() != "@reboot" {
            let since = match &tick {
                Some(h) => format!("kit-tick has not run since {}", o.at(&h.beat_at)),
                None => "kit-tick has never run on this database".to_string(),
            };
            match due {
                Some(d) => o.say(format!(
                    "Its slot at {} has not run and was not even claimed: {since}, so nothing is scheduling tasks \
                     (check the launchd/systemd timer or crontab that runs `kit-tick --exec` every minute).",
                    o.at(&clock::fmt(d))
                )),
                None => o.say(format!(
                    "{name} has not been scheduled yet: {since} (check the timer or crontab that runs \
                     `kit-tick --exec` every minute)."
                )),
            }
            // Only a slot that has passed can be caught up.
            if due.is_some() {
                o.say(match row.task.catch_up() {
                    CatchUp::Once => "When kit-tick runs again, it runs the latest missed slot once (catch_up = once) \
                                      and records the others as missed."
                        .to_string(),
                    CatchUp::None => "When kit-tick runs again, it records the missed slots as missed and does not \
                                      run them (catch_up = none)."
                        .to_string(),
                });
            }
            case = Some("tick_not_running".into());
        }
    }

    match &slot {
        None => {
            if case.is_none() {
                o.say(format!(
                    "{name} has not been due since it was declared ({}).",
                    o.when(&row.created_at)
                ));
            }
        }
        Some(s) => {
            let c = describe_slot(o, conn, s)?;
            case.get_or_insert(c);
        }
    }
    // Slots missed lately, even when a later one ran (status flags them
    // for as long).
    if let Some((_, n, reason)) =
        kit_db::overdue::missed_since(conn, now - kit_db::overdue::RECENT)?
            .into_iter()
            .find(|(t, _, _)| t == name)
    {
        if case.as_deref() != Some("missed") {
            o.say(format!(
                "{n} of its slots {} missed in the last {}: {}.",
                if n == 1 { "was" } else { "were" },
                clock::human_age(kit_db::overdue::RECENT),
                crate::output::localize_instants(&reason, o.zone)
            ));
        }
    }
    // A run by hand (or by recovery, or the API) after the last slot.
    let later = latest_other(conn, name, slot.as_ref().map(|s| s.id))?;
    if let Some(e) = &later {
        o.fact("latest_other_run", e);
        o.say(format!(
            "It was also run {} ({}) at {}: {} (execution #{}).",
            trigger_words(&e.trigger),
            e.trigger,
            o.when(e.started_at.as_deref().unwrap_or(&e.created_at)),
            result_phrase(o, e),
            e.id
        ));
    }
    let _ = settings;
    Ok(case.unwrap_or_else(|| "not_due".into()))
}

pub(super) fn trigger_words(t: &str) -> &'static str {
    match t {
        "manual" => "by hand",
        "api" => "through the API",
        "recovery" => "by kit-heal's recovery",
        "adhoc" => "ad hoc",
        _ => "outside its schedule",
    }
}

/// The latest row for a scheduled slot (claimed, caught up, missed or
/// skipped); retries of it are found from it.
/// The slot most recently recorded (by id: after the clock went back, a
/// slot the clock passed again is the latest though its time is earlier);
/// a retry is shown through its first attempt, a rerun is its own.
pub(super) fn last_slot(conn: &Connection, task: &str) -> anyhow::Result<Option<Execution>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM supervisor_executions
         WHERE task = ?1 AND scheduled_for IS NOT NULL AND (attempt = 1 OR retry_of IS NULL)
         ORDER BY id DESC LIMIT 1",
        exec::COLUMNS
    ))?;
    Ok(stmt.query_row([task], exec::from_row).optional()?)
}

/// The latest execution that is not for a slot and is newer than it.
pub(super) fn latest_other(
    conn: &Connection,
    task: &str,
    after: Option<i64>,
) -> anyhow::Result<Option<Execution>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM supervisor_executions
         WHERE task = ?1 AND id > ?2 AND scheduled_for IS NULL AND trigger IN ('manual','api','recovery','adhoc')
         ORDER BY id DESC LIMIT 1",
        exec::COLUMNS
    ))?;
    Ok(stmt
        .query_row(rusqlite::params![task, after.unwrap_or(0)], exec::from_row)
        .optional()?)
}

/// Whether kit-tick's heartbeat is older than TICK_STALE, counting only the
/// time the machine was up: sleep is not a stall.
pub(super) fn tick_stale(h: Option<&Heartbeat>, now: Instant) -> bool {
    h.and_then(|h| h.awake_age(now))
        .is_none_or(|a| a >= TICK_STALE)
}

pub(super) fn tick_fact(h: Option<&Heartbeat>, now: Instant) -> Value {
    match h {
        Some(h) => {
            let slept = match h.slept_since() {
                Slept::Known(s) => Some(s.num_seconds()),
                _ => None,
            };
            json!({ "beat_at": h.beat_at, "age_seconds": h.age(now).map(|a| a.num_seconds()),
                    "slept_seconds": slept, "stale": tick_stale(Some(h), now) })
        }
        None => Value::Null,
    }
}

pub(super) fn next_part(o: &mut Out, row: &TaskRow) {
    let sched = row.task.schedule.trim();
    if sched == "@reboot" {
        o.say("It runs at the first tick after each boot.");
        return;
    }
    match row.next_due.as_deref().and_then(clock::parse_stored) {
        Some(d) if d.timestamp() > 253_402_300_799 - 86_400 * 366 => {
            o.say("Its schedule has no future instant, so it will not run again.")
        }
        Some(d) if d > o.now => {
            // While the clock repeats time, a wildcard task runs each
            // matching minute before reaching its next slot in sequence.
            let repeating = o
                .jump
                .as_ref()
                .filter(|j| j.going_back_at(o.now) && !j.big());
            let wildcard = kit_db::schedule::Schedule::parse(sched).is_ok_and(|s| match &s {
                kit_db::schedule::Schedule::Cron(c) => !c.is_fixed_time(),
                kit_db::schedule::Schedule::Every(_) => true,
                _ => false,
            });
            if let (Some(j), true) = (repeating, wildcard) {
                o.say(format!(
                    "Until the clock is past {} it runs at each matching minute; then its next slot is {}.",
                    o.when(&clock::fmt(j.resume_minute().unwrap_or(d))),
                    o.when(&clock::fmt(d))
                ));
            } else {
                o.say(format!("Next slot: {}.", o.at(&clock::fmt(d))));
            }
        }
        Some(_) => {}
        None => {
            if let Ok(s) = kit_db::schedule::Schedule::parse(sched) {
                if let Some(n) = s.next_after(o.now, o.zone) {
                    o.say(format!(
                        "By its schedule the next slot is {}.",
                        o.at(&clock::fmt(n))
                    ));
                }
            }
        }
    }
}
