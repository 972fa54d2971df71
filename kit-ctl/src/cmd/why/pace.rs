//! The adaptive-schedule part of `why`: what changes the task's pace now
//! (adaptation, override, pause) and until when, which change the last slot
//! came from, and the next run under the schedule in force. Skips by a
//! pause or a rate limit already carry their reason on the row.

use super::Out;
use kit_db::adapt::{rows, view};
use kit_db::clock::{self, Instant};
use kit_db::task::TaskRow;
use rusqlite::Connection;

/// Says what is in force; returns whether the next run was said here
/// (then the plain `next_part` is not needed).
pub(super) fn pace_part(
    o: &mut Out,
    conn: &Connection,
    row: &TaskRow,
    now: Instant,
) -> anyhow::Result<bool> {
    let task = &row.task;
    if matches!(task.schedule.trim(), "@daemon" | "@reboot") {
        return Ok(false);
    }
    // The last slot, and the change in force at its time, if any.
    let last: Option<(String, String)> = conn
        .query_row(
            "SELECT scheduled_for, status FROM supervisor_executions
             WHERE task = ?1 AND scheduled_for IS NOT NULL ORDER BY scheduled_for DESC, id DESC LIMIT 1",
            [&task.name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok();
    if let Some((slot, status)) = &last {
        if let Some(t) = clock::parse_stored(slot) {
            let then = view::in_force_of(
                task,
                rows::windows_since(conn, Some(&task.name), t)?
                    .into_iter()
                    .filter(|w| w.in_force_at(t))
                    .collect(),
                t,
            );
            if then.source != "base" && then.paused.is_none() && status != "skipped" {
                o.say(format!(
                    "That slot ({}) came from a changed pace: {}.",
                    o.when(slot),
                    then.summary
                ));
                o.fact("last_slot_in_force", &then);
            }
        }
    }
    let f = view::in_force(conn, task, now)?;
    let pending = rows::pending_at(conn, Some(&task.name))?;
    o.fact("in_force", &f);
    o.fact("one_shot_runs", &pending);
    if let Some(l) = task.rate_limit {
        o.fact("rate_limit", l.to_string());
    }
    if f.source == "base" && f.paused.is_none() && pending.is_empty() {
        return Ok(false);
    }
    if f.source != "base" || f.paused.is_some() {
        o.say(format!(
            "Now: {}; the base schedule ({}) returns at {}.",
            f.summary,
            task.schedule,
            f.reverts_at.as_deref().map(|t| o.at(t)).unwrap_or_default()
        ));
    }
    if !task.enabled {
        return Ok(true);
    }
    let zone = o.zone;
    match view::next_run(conn, task, zone, now)? {
        Some(n) => o.say(format!(
            "Next run: {}{}.",
            o.at(&n.at),
            match n.source {
                "at" => " (a one-shot run)".to_string(),
                "base" => String::new(),
                s => format!(" ({s})"),
            }
        )),
        None => o.say("No run is due under the schedule in force."),
    }
    Ok(true)
}
