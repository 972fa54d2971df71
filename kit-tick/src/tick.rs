//! One tick: claim every due slot exactly once, record the missed ones,
//! advance each task's next_due, move the watermark, beat the heart.

use crate::jump;
use crate::plan;
use anyhow::Context;
use chrono::{DateTime, Utc};
use kit_db::gap::{Gap, Slept};
use kit_db::settings::Settings;
use kit_db::task::repo;
use kit_db::{clock, exec, process, state, Store};
use serde::Serialize;

type Instant = DateTime<Utc>;

pub const WATERMARK: &str = "tick.watermark";
const BOOT: &str = "tick.boot_id";
/// The latest gap long enough to miss slots, and what it was (JSON of a
/// `kit_db::gap::Gap`), for `kit-ctl status`.
pub const LAST_GAP: &str = "tick.last_gap";

/// A slot this tick claimed.
#[derive(Debug, Clone, Serialize)]
pub struct Claim {
    pub name: String,
    pub slot: String,
    pub id: i64,
    pub trigger: String,
}

#[derive(Debug, Default, Serialize)]
pub struct TickReport {
    pub now: String,
    pub claimed: Vec<Claim>,
    pub missed: usize,
    pub lost: Vec<i64>,
    /// Conditions whose probe this tick claimed (a detached `kit-run
    /// --probe NAME` runs each).
    pub probes: Vec<String>,
    /// The wall clock jumped since the previous tick.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_jump: Option<kit_db::clock_jump::Jump>,
    /// Queued triggered runs that nobody alive was starting (their kit-run
    /// died, or a debounce ended): (execution id, task). kit-tick starts them.
    pub triggered: Vec<(i64, String)>,
}

/// Runs one tick at `now`. With `dry_run` the transaction is rolled back:
/// the report says what would have happened and nothing changes.
pub fn tick(
    store: &Store,
    now: Instant,
    clocks: &kit_db::clock_jump::Reading,
    dry_run: bool,
    failed: &[kit_db::tickfail::TickFailure],
) -> anyhow::Result<TickReport> {
    let mut report = TickReport {
        now: clock::fmt(now),
        ..Default::default()
    };
    if !dry_run {
        // Runs whose kit-run died are reconciled first, so a slot of theirs
        // never looks "still running" to an overlap check.
        report.lost = exec::reconcile_lost(&store.conn, None, now)?;
    }
    let tx = store
        .begin_write()
        .context("starting the tick transaction")?;
    // Earlier ticks that could not write the DB are recorded now.
    kit_db::tickfail::fold(&tx, failed, now)?;
    let settings = Settings::load(&tx)?;
    let default_zone = settings.zone();
    // A clock that jumped is recorded (and notified) before anything is
    // planned; a big jump back restarts every schedule from now.
    let jumped = kit_db::clock_jump::observe(&tx, clocks, now)?;
    if jumped.as_ref().is_some_and(|j| j.back() && j.big()) {
        jump::restart_from_now(&tx, now)?;
    }
    report.clock_jump = jumped.clone();
    let going_back = kit_db::clock_jump::going_back(&tx, now)?;
    let forward = jumped.filter(|j| !j.back());
    let last_tick = state::get(&tx, WATERMARK)?.and_then(|t| clock::parse_stored(&t));
    // What the time since the previous tick was: the previous beat holds
    // the boot id and the sleep counter, so the sleep since is a subtraction.
    let gap = match last_tick.filter(|t| *t < now) {
        Some(t) => {
            let slept =
                state::heartbeat(&tx, "kit-tick")?.map_or(Slept::Unknown, |h| h.slept_since());
            Some(Gap::classify(t, now, slept))
        }
        None => None,
    };
    // A gap the clock's jump explains is not kit-tick's absence.
    if let Some(g) = gap
        .as_ref()
        .filter(|_| last_tick.is_some_and(|t| now - t >= plan::LATE_AFTER))
        .filter(|_| forward.is_none())
    {
        state::set(&tx, LAST_GAP, &serde_json::to_string(g)?, now)?;
    }

    // @reboot tasks fire at the first tick after the machine boots.
    let boot = process::boot_id();
    // A new DB counts as a boot too: kit has just started on this machine.
    if state::get(&tx, BOOT)?.as_deref() != Some(boot.as_str()) {
        claim_reboot_tasks(&tx, now, &mut report)?;
        state::set(&tx, BOOT, &boot, now)?;
    }

    // Adaptations, overrides and pauses that ended on their own are
    // announced; one-shot `at` runs due are claimed.
    kit_db::adapt::expiry::note_expired(&tx, now)?;
    crate::slots::claim_at_runs(&tx, now, &mut report)?;
    if let Some(j) = going_back.as_ref().filter(|j| !j.big()) {
        jump::claim_wildcards(&tx, j, now, default_zone, &mut report)?;
    }
    let since_last = crate::slots::Since {
        gap: gap.as_ref(),
        forward: forward.as_ref(),
        going_back: going_back.as_ref(),
    };
    let due = due_tasks(&tx, now)?;
    // The windows that can matter to this tick's slots: every due task's
    // next_due is at or after the previous tick (less a minute, when a
    // change reset it). Read per due task through (task, ends_at): most
    // ticks touch a few tasks, whatever the table holds.
    let since = last_tick.unwrap_or(now - plan::MAX_WINDOW).min(now) - chrono::Duration::minutes(2);
    for name in due {
        let Some(row) = repo::get(&tx, &name)? else {
            continue;
        };
        let rows = kit_db::adapt::rows::windows_since(&tx, Some(&name), since)?;
        crate::slots::task_slots(&tx, &row, rows, default_zone, now, &since_last, &mut report)?;
    }

    // Due condition probes, claimed once here; run detached after commit.
    report.probes = kit_db::probe::store::claim_due(&tx, now)?;

    // The watermark never moves backwards: a clock that jumps back does not
    // reopen slots (and next_due already lies beyond them).
    if last_tick.is_none_or(|t| now > t) {
        state::set(&tx, WATERMARK, &clock::fmt(now), now)?;
    }
    state::beat(
        &tx,
        "kit-tick",
        now,
        Some(&serde_json::json!({ "claimed": report.claimed.len(), "missed": report.missed })),
    )?;
    if dry_run {
        tx.rollback()?;
    } else {
        tx.commit().context("committing the tick")?;
        report.triggered = kit_db::triggers::pending::unowned_due(&store.conn, now)?;
    }
    Ok(report)
}

/// Names of enabled timed tasks whose next slot is due (or not yet computed).
fn due_tasks(conn: &rusqlite::Connection, now: Instant) -> anyhow::Result<Vec<String>> {
    // Two index searches rather than one OR: with `next_due IS NULL OR
    // next_due <= ?` SQLite scans the whole table (100,000 tasks: ~50 ms).
    let mut stmt = conn.prepare_cached(
        "SELECT name FROM (
           SELECT name, schedule FROM supervisor_tasks WHERE enabled = 1 AND next_due <= ?1
           UNION ALL
           SELECT name, schedule FROM supervisor_tasks WHERE enabled = 1 AND next_due IS NULL)
         WHERE schedule NOT IN ('@daemon', '@reboot', '@event')",
    )?;
    let rows = stmt.query_map([clock::fmt(now)], |r| r.get(0))?;
    // Sorted here, not in SQL: an ORDER BY makes SQLite scan the table in
    // key order instead of searching the index.
    let mut names: Vec<String> = rows.collect::<rusqlite::Result<_>>()?;
    names.sort();
    Ok(names)
}

fn claim_reboot_tasks(
    tx: &rusqlite::Transaction,
    now: Instant,
    report: &mut TickReport,
) -> anyhow::Result<()> {
    let mut stmt = tx.prepare_cached(
        "SELECT name FROM supervisor_tasks WHERE enabled = 1 AND schedule = '@reboot' ORDER BY name",
    )?;
    let names: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let slot = clock::floor_minute(now);
    for name in names {
        if let Some(id) = exec::claim_slot(tx, &name, slot, "reboot", now)? {
            report.claimed.push(Claim {
                name,
                slot: clock::fmt(slot),
                id,
                trigger: "reboot".into(),
            });
        }
    }
    Ok(())
}
