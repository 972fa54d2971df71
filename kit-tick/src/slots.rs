//! One task's due slots under the schedule in force at each slot's time
//! (base, adapted, overridden; paused slots recorded `skipped`), each
//! claim going through the task's rate limit; and one-shot `at` runs.

use crate::plan::{self, Policy, Verdict};
use crate::tick::{Claim, TickReport};
use chrono::{DateTime, Utc};
use kit_db::adapt::{self, rate_limit, Admission, Gate, Override, Timeline};
use kit_db::gap::Gap;
use kit_db::schedule::{Schedule, Tz};
use kit_db::task::{repo, TaskRow};
use kit_db::{clock, exec};
use rusqlite::Transaction;

type Instant = DateTime<Utc>;

/// Why a paused slot is skipped: the pause, who set it, until when, why.
pub use kit_db::adapt::gate::paused_reason;

/// What happened since the previous tick that changes how slots are
/// planned and claimed: the gap, and the wall clock's jumps (`crate::jump`).
pub struct Since<'a> {
    /// The time since kit-tick's previous run and what it was.
    pub gap: Option<&'a Gap>,
    /// Forward since the previous tick: it explains the missed slots.
    pub forward: Option<&'a kit_db::clock_jump::Jump>,
    /// Back, and the clock has not yet passed where it was: a slot it
    /// passes again is claimed again.
    pub going_back: Option<&'a kit_db::clock_jump::Jump>,
}

/// Plans and records one due task's slots up to `now`, and its next_due.
pub fn task_slots(
    tx: &Transaction,
    row: &TaskRow,
    windows: Vec<Override>,
    default_zone: Tz,
    now: Instant,
    since: &Since,
    report: &mut TickReport,
) -> anyhow::Result<()> {
    let task = &row.task;
    let name = &task.name;
    let Ok(schedule) = Schedule::parse(&task.schedule) else {
        return Ok(()); // validated on the way in; a hand-edited row is skipped, not fatal
    };
    let tz = task
        .timezone
        .as_deref()
        .and_then(|z| z.parse().ok())
        .unwrap_or(default_zone);
    let due = row.next_due.as_deref().and_then(clock::parse_stored);
    let timeline = Timeline::new(schedule, tz, windows);
    // A stored next_due was a slot when it was computed; a change since
    // (an override, an adaptation) may have moved it, so the first slot is
    // looked up again. No next_due yet: the current minute counts.
    let first = timeline.first_at_or_after(due.unwrap_or_else(|| clock::floor_minute(now)));
    let Some(first) = first else {
        repo::set_next_due(tx, name, None)?;
        return Ok(());
    };
    let policy = Policy {
        catch_up: task.catch_up(),
        max_age: task.catch_up_max_age.map(|d| d.chrono()),
        jump: since.forward,
    };
    let next = |slot: Instant| timeline.next_after(slot);
    let p = plan::plan(&next, first, now, &policy, since.gap);
    for (slot, verdict) in p.slots {
        let in_force = timeline.in_force(slot);
        match (verdict, in_force.paused) {
            (_, Some(pause)) => {
                adapt::record_skipped(
                    tx,
                    name,
                    "schedule",
                    Some(slot),
                    &paused_reason(pause),
                    now,
                )?;
            }
            (Verdict::Claim(trigger), None) => match adapt::admit(tx, task, now)? {
                Admission::Admit => {
                    if let Some(id) =
                        crate::jump::claim(tx, name, slot, trigger, now, since.going_back)?
                    {
                        report.claimed.push(Claim {
                            name: name.clone(),
                            slot: clock::fmt(slot),
                            id,
                            trigger: trigger.to_string(),
                        });
                    }
                }
                Admission::Refuse(why) => {
                    rate_limit::refuse(tx, task, trigger, Some(slot), &why, now)?;
                }
            },
            (Verdict::Missed(reason), None) => {
                if exec::record_missed(tx, name, slot, &reason, now)? {
                    report.missed += 1;
                }
            }
        }
    }
    // A schedule that can never fire again keeps a far-future marker so
    // it does not come back every tick.
    let next = p.next_due.unwrap_or(DateTime::<Utc>::MAX_UTC);
    repo::set_next_due(tx, name, Some(next))?;
    Ok(())
}

/// Claims the one-shot runs due at `now`: queued (trigger `at`), or
/// skipped with why by [`kit_db::adapt::gate`] (disabled, paused, over its
/// rate limit).
pub fn claim_at_runs(
    tx: &Transaction,
    now: Instant,
    report: &mut TickReport,
) -> anyhow::Result<()> {
    for at in adapt::at::due(tx, now)? {
        let Some(row) = repo::get(tx, &at.task)? else {
            // The task was removed: the request is cleared, not run.
            tx.execute(
                "UPDATE supervisor_overrides SET cleared_at = ?2, cleared_by = 'kit-tick: task removed'
                 WHERE id = ?1",
                rusqlite::params![at.id, clock::fmt(now)],
            )?;
            continue;
        };
        let task = &row.task;
        let id = match adapt::gate(tx, task, "at", now)? {
            Gate::Skipped { execution_id, .. } => execution_id.unwrap_or_default(),
            Gate::Run => {
                let id = adapt::at::queue(tx, &task.name, now)?;
                report.claimed.push(Claim {
                    name: task.name.clone(),
                    slot: clock::fmt(at.start()),
                    id,
                    trigger: "at".into(),
                });
                id
            }
        };
        adapt::at::link(tx, at.id, id, now)?;
    }
    Ok(())
}
