//! `list` and `show`: tasks with their last and next run.

use super::Ctx;
use crate::output::{status, table};
use kit_db::adapt::view::{self, InForceView};
use kit_db::cli::print_json;
use kit_db::clock;
use kit_db::exec::{self, Execution};
use kit_db::task::{repo, TaskRow};
use rusqlite::{Connection, OptionalExtension};

/// The latest execution of a task that actually started (not queued,
/// missed or skipped), for "last run".
pub fn last_run(conn: &Connection, task: &str) -> anyhow::Result<Option<Execution>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM supervisor_executions
         WHERE task = ?1 AND status NOT IN ('queued','missed','skipped')
         ORDER BY id DESC LIMIT 1",
        exec::COLUMNS
    ))?;
    Ok(stmt.query_row([task], exec::from_row).optional()?)
}

/// What to show as "next": the stored next slot, a daemon marker, or "-".
pub fn next_label(row: &TaskRow) -> String {
    if !row.task.enabled {
        return "disabled".into();
    }
    match row.task.schedule.trim() {
        "@daemon" => "daemon".into(),
        "@reboot" => "at boot".into(),
        "@event" => "when triggered".into(),
        _ => row
            .next_due
            .clone()
            .filter(|d| !d.starts_with("+262143") && !d.starts_with("262143"))
            .unwrap_or_else(|| "next tick".into()),
    }
}

/// The next run under the schedule in force (pauses and one-shot runs
/// included) and what is in force, for timed, enabled tasks; else
/// [`next_label`] and None.
pub fn next_in_force(
    conn: &Connection,
    row: &TaskRow,
    zone: kit_db::schedule::Tz,
    now: clock::Instant,
) -> anyhow::Result<(String, Option<InForceView>)> {
    let timed = !matches!(row.task.schedule.trim(), "@daemon" | "@reboot");
    if !timed {
        return Ok((next_label(row), None));
    }
    let in_force = view::in_force(conn, &row.task, now)?;
    let plain = in_force.source == "base"
        && in_force.paused.is_none()
        && kit_db::adapt::rows::pending_at(conn, Some(&row.task.name))?.is_empty();
    // Nothing changes the pace: kit-tick's stored next slot is the answer
    // (computed here only before kit-tick has computed it).
    if !row.task.enabled || (plain && row.next_due.is_some()) {
        return Ok((next_label(row), Some(in_force)));
    }
    let next = view::next_run(conn, &row.task, zone, now)?
        .map(|n| n.at)
        .unwrap_or_else(|| next_label(row));
    Ok((next, Some(in_force)))
}

/// The SCHEDULE cell: the base, or what is in force and until when.
pub fn schedule_label(base: &str, f: Option<&InForceView>, zone: kit_db::schedule::Tz) -> String {
    let Some(f) = f else {
        return base.to_string();
    };
    let until = f
        .reverts_at
        .as_deref()
        .map(|t| crate::output::local_time(t, zone))
        .unwrap_or_default();
    match (f.paused.is_some(), f.source) {
        (true, _) => format!("paused until {until} ({base})"),
        (false, "base") => base.to_string(),
        (false, "adapt") => format!("{} adapted until {until}", f.schedule),
        (false, _) => format!("{} override until {until}", f.schedule),
    }
}

pub fn list(ctx: &Ctx) -> anyhow::Result<i32> {
    let store = ctx.open()?;
    let rows = repo::list(&store.conn)?;
    // People read times in the task's zone, as history and why show them;
    // --json keeps the stored UTC instants.
    let default_zone = kit_db::settings::Settings::load(&store.conn)?.zone();
    let mut items = Vec::new();
    let mut table_rows = Vec::new();
    let now = ctx.now()?;
    for r in &rows {
        let last = last_run(&store.conn, &r.task.name)?;
        let task_zone = r
            .task
            .timezone
            .as_deref()
            .and_then(|z| z.parse().ok())
            .unwrap_or(default_zone);
        let (next, in_force) = next_in_force(&store.conn, r, task_zone, now)?;
        let trig = kit_db::triggers::info::of(&store.conn, &r.task)?;
        // A triggered run waiting to start is what comes next.
        let next = trig.pending_summary().unwrap_or(next);
        if ctx.json {
            items.push(serde_json::json!({
                "name": r.task.name, "schedule": r.task.schedule, "enabled": r.task.enabled,
                "command": r.task.command, "next": next, "next_due": r.next_due,
                "last_run": last, "in_force": in_force, "triggers": trig,
                "condition": super::probes::condition(&store.conn, &r.task)?,
                "watch": super::probes::watching(&store.conn, &r.task)?,
            }));
        } else {
            let zone = r
                .task
                .timezone
                .as_deref()
                .and_then(|z| z.parse().ok())
                .unwrap_or(default_zone);
            let (ls, lw, ld) = match &last {
                Some(e) => (
                    status(&e.status),
                    e.started_at
                        .as_deref()
                        .map(|t| crate::output::local_time(t, zone))
                        .unwrap_or_default(),
                    e.duration_ms
                        .map(|d| format!("{:.1}s", d as f64 / 1000.0))
                        .unwrap_or_default(),
                ),
                None => ("-".into(), "".into(), "".into()),
            };
            table_rows.push(vec![
                r.task.name.clone(),
                format!(
                    "{}{}",
                    schedule_label(&r.task.schedule, in_force.as_ref(), zone),
                    super::probes::trigger_label(&r.task)
                ),
                if r.task.enabled {
                    "yes".into()
                } else {
                    status("disabled")
                },
                ls,
                lw,
                ld,
                crate::output::local_time(&next, zone),
            ]);
        }
    }
    if ctx.json {
        print_json(&items);
    } else {
        print!(
            "{}",
            table(
                &["NAME", "SCHEDULE", "ENABLED", "LAST", "LAST RUN", "TOOK", "NEXT"],
                &table_rows
            )
        );
    }
    Ok(0)
}

pub fn show(ctx: &Ctx, name: &str) -> anyhow::Result<i32> {
    let store = ctx.open()?;
    let row = repo::require(&store.conn, name)?;
    let now = ctx.now()?;
    let zone = row
        .task
        .timezone
        .as_deref()
        .and_then(|z| z.parse().ok())
        .unwrap_or(kit_db::settings::Settings::load(&store.conn)?.zone());
    let (next, in_force) = next_in_force(&store.conn, &row, zone, now)?;
    let mut stmt = store.conn.prepare_cached(&format!(
        "SELECT {} FROM supervisor_executions WHERE task = ?1 ORDER BY id DESC LIMIT 10",
        exec::COLUMNS
    ))?;
    let recent: Vec<Execution> = stmt
        .query_map([name], exec::from_row)?
        .collect::<rusqlite::Result<_>>()?;
    let recovery = kit_db::recovery::get(&store.conn, name)?.map(|r| {
        serde_json::json!({
            "state": r.state.as_str(), "streak": r.streak, "rounds": r.rounds,
            "episode_started_at": r.episode_started_at, "last_round_at": r.last_round_at,
            "escalated_at": r.escalated_at,
        })
    });
    let trig = kit_db::triggers::info::of(&store.conn, &row.task)?;
    let recent_triggers = kit_db::triggers::rows::recent(&store.conn, Some(name), 10)?;
    if ctx.json {
        print_json(&serde_json::json!({
            "task": row, "enabled": row.task.enabled, "next": next,
            "recent": recent, "recovery": recovery, "in_force": in_force,
            "triggers": trig, "recent_triggers": recent_triggers,
            "condition": super::probes::condition(&store.conn, &row.task)?,
            "watch": super::probes::watching(&store.conn, &row.task)?,
        }));
        return Ok(0);
    }
    let t = &row.task;
    println!("name:       {}", t.name);
    if let Some(d) = &t.description {
        println!("about:      {d}");
    }
    println!(
        "schedule:   {}{}",
        t.schedule,
        t.timezone
            .as_ref()
            .map(|z| format!(" ({z})"))
            .unwrap_or_default()
    );
    println!("command:    {}", t.command.display());
    println!(
        "enabled:    {}{}",
        t.enabled,
        row.disabled_reason
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    if let Some(f) = in_force
        .as_ref()
        .filter(|f| f.source != "base" || f.paused.is_some())
    {
        println!("in force:   {}", f.summary);
    }
    println!("next:       {}", crate::output::local_time(&next, zone));
    let how = trig.summary();
    if !how.is_empty() {
        println!("triggered:  {how}");
    }
    let zone = kit_db::settings::Settings::load(&store.conn)?.zone();
    let probe = kit_db::probe::store::get(&store.conn, name)?;
    if let Some(l) = super::probes::condition_line(t, probe.as_ref(), zone) {
        println!("condition:  {l}");
    }
    let watch = kit_db::watch::get(&store.conn, name)?;
    if let Some(l) = super::probes::watch_line(t, watch.as_ref(), zone) {
        println!("watch:      {l}");
    }
    if !trig.followers.is_empty() {
        let f: Vec<String> = trig
            .followers
            .iter()
            .map(|u| format!("{} (on {})", u.task, u.on))
            .collect();
        println!("followers:  {}", f.join(", "));
    }
    if let Some(p) = trig.pending_summary() {
        println!("pending:    {p}");
    }
    if let Some(r) = &recovery {
        println!(
            "recovery:   {} (streak {}, rounds {})",
            r["state"].as_str().unwrap_or(""),
            r["streak"],
            r["rounds"]
        );
    }
    println!("revision:   {} (updated {})", row.revision, row.updated_at);
    println!();
    let rows: Vec<Vec<String>> = recent
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                e.trigger.clone(),
                status(&e.status),
                e.started_at
                    .clone()
                    .or(e.scheduled_for.clone())
                    .unwrap_or_default(),
                e.exit_code.map(|c| c.to_string()).unwrap_or_default(),
                e.duration_ms
                    .map(|d| format!("{}ms", d))
                    .unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["ID", "TRIGGER", "STATUS", "AT", "EXIT", "TOOK", "REASON"],
            &rows
        )
    );
    if !recent_triggers.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = recent_triggers
            .iter()
            .map(|t| {
                vec![
                    t.id.to_string(),
                    t.source.clone(),
                    t.received_at.clone(),
                    t.outcome.clone(),
                    t.execution_id.map(|e| format!("#{e}")).unwrap_or_default(),
                    t.key.clone().unwrap_or_default(),
                    t.data_bytes.to_string(),
                ]
            })
            .collect();
        print!(
            "{}",
            table(
                &["TRIGGER", "SOURCE", "RECEIVED", "OUTCOME", "RUN", "KEY", "BYTES"],
                &rows
            )
        );
    }
    let _ = clock::fmt;
    Ok(0)
}
