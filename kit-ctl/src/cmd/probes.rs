//! `probes [NAME]`: conditions and file watches: each condition's last
//! answer, next probe and firings, each watch's paths and last change; with
//! NAME, that task's recent probe results. Also the helpers `list`, `show`,
//! `status`, `why`, `metrics` and the API use to show how a task is
//! triggered (probe results stay out of `history`, which lists runs).

use super::Ctx;
use crate::output::{local_time, table};
use clap::Args;
use kit_db::cli::print_json;
use kit_db::probe::store::{self as probes, ProbeState};
use kit_db::task::Task;
use kit_db::watch::{self, WatchState};
use rusqlite::Connection;
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub struct ProbesArgs {
    /// Show this task's recent probe results
    pub task: Option<String>,
    /// How many results to show with a task name
    #[arg(long, default_value_t = 20)]
    pub limit: i64,
}

/// The condition of a task as declared and as last probed (None without `when`).
pub fn condition(conn: &Connection, task: &Task) -> anyhow::Result<Option<Value>> {
    let Some(w) = &task.when else {
        return Ok(None);
    };
    let state = probes::get(conn, &task.name)?;
    Ok(Some(json!({
        "command": w.command.display(),
        "every": kit_db::units::Dur(w.every()).to_string(),
        "timeout": kit_db::units::Dur(w.timeout()).to_string(),
        "fire": w.fire().as_str(),
        "min_interval": kit_db::units::Dur(w.min_interval()).to_string(),
        "state": state,
    })))
}

/// The watch of a task as declared and as kit-keep last saw it.
pub fn watching(conn: &Connection, task: &Task) -> anyhow::Result<Option<Value>> {
    let Some(w) = &task.watch else {
        return Ok(None);
    };
    let state = watch::get(conn, &task.name)?;
    Ok(Some(json!({
        "paths": w.paths,
        "debounce": kit_db::units::Dur(w.debounce()).to_string(),
        "state": state,
    })))
}

/// A short label of how a task is triggered besides its schedule
/// ("condition", "watch"), for `list`.
pub fn trigger_label(task: &Task) -> String {
    let mut s = String::new();
    if task.when.is_some() {
        s.push_str(" +condition");
    }
    if task.watch.is_some() {
        s.push_str(" +watch");
    }
    s
}

/// One line on the condition, for `show` and `why`.
pub fn condition_line(task: &Task, p: Option<&ProbeState>, zone: chrono_tz::Tz) -> Option<String> {
    let w = task.when.as_ref()?;
    let mut s = format!(
        "runs when `{}` exits 0 ({} firing, probed every {}{})",
        w.command.display(),
        w.fire().as_str(),
        kit_db::units::Dur(w.every()),
        if w.min_interval().is_zero() {
            String::new()
        } else {
            format!(
                ", at most once per {}",
                kit_db::units::Dur(w.min_interval())
            )
        }
    );
    match p.and_then(|p| p.last_at.as_deref().map(|at| (p, at))) {
        Some((p, at)) => {
            s.push_str(&format!(
                "; last probe {}: {}",
                local_time(at, zone),
                p.last_result.as_deref().unwrap_or("?")
            ));
            if let Some(e) = &p.last_error {
                s.push_str(&format!(" ({e})"));
            }
        }
        None => s.push_str("; not probed yet"),
    }
    if let Some(since) = p.and_then(|p| p.failing_since.as_deref()) {
        s.push_str(&format!(
            "; the probe has been failing since {}",
            local_time(since, zone)
        ));
    }
    if let Some(n) = p.and_then(|p| p.next_due.as_deref()) {
        s.push_str(&format!("; next probe at {}", local_time(n, zone)));
    }
    if let Some(p) = p.filter(|p| p.fired > 0) {
        s.push_str(&format!(
            "; fired {} time{}, last at {}{}",
            p.fired,
            if p.fired == 1 { "" } else { "s" },
            p.last_fired_at
                .as_deref()
                .map(|t| local_time(t, zone))
                .unwrap_or_default(),
            p.last_execution_id
                .map(|id| format!(" (execution #{id})"))
                .unwrap_or_default()
        ));
    }
    Some(s)
}

/// One line on the watch, for `show` and `why`.
pub fn watch_line(task: &Task, w: Option<&WatchState>, zone: chrono_tz::Tz) -> Option<String> {
    let decl = task.watch.as_ref()?;
    let mut s = format!(
        "runs when {} change{} (debounce {})",
        decl.paths.join(", "),
        if decl.paths.len() == 1 { "s" } else { "" },
        kit_db::units::Dur(decl.debounce())
    );
    match w.and_then(|w| w.watching_since.as_deref()) {
        Some(since) => s.push_str(&format!(
            "; kit-keep watching since {}",
            local_time(since, zone)
        )),
        None => s.push_str("; not watched yet (kit-keep picks it up within seconds when running)"),
    }
    if let Some(e) = w.and_then(|w| w.last_error.as_deref()) {
        s.push_str(&format!("; cannot watch: {e}"));
    }
    if let Some(w) = w.filter(|w| w.fired > 0) {
        s.push_str(&format!(
            "; last change {} ({}), fired {} time{}{}",
            w.last_change_at
                .as_deref()
                .map(|t| local_time(t, zone))
                .unwrap_or_default(),
            w.last_paths.join(", "),
            w.fired,
            if w.fired == 1 { "" } else { "s" },
            w.last_execution_id
                .map(|id| format!(", last execution #{id}"))
                .unwrap_or_default()
        ));
    }
    Some(s)
}

pub fn probes(ctx: &Ctx, a: ProbesArgs) -> anyhow::Result<i32> {
    let store = ctx.open_existing()?;
    let conn = &store.conn;
    let zone = kit_db::settings::Settings::load(conn)?.zone();
    if let Some(name) = &a.task {
        let row = kit_db::task::repo::require(conn, name)?;
        let results = probes::results(conn, Some(name), a.limit.max(1))?;
        if ctx.json {
            print_json(&json!({
                "task": name,
                "condition": condition(conn, &row.task)?,
                "watch": watching(conn, &row.task)?,
                "results": results,
            }));
            return Ok(0);
        }
        for line in [
            condition_line(&row.task, probes::get(conn, name)?.as_ref(), zone),
            watch_line(&row.task, watch::get(conn, name)?.as_ref(), zone),
        ]
        .into_iter()
        .flatten()
        {
            println!("{name} {line}.");
        }
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|r| {
                vec![
                    local_time(&r.at, zone),
                    r.result.clone(),
                    r.exit_code.map(|c| c.to_string()).unwrap_or_default(),
                    r.duration_ms.map(|d| format!("{d}ms")).unwrap_or_default(),
                    r.decision.clone(),
                    r.execution_id
                        .map(|id| format!("#{id}"))
                        .unwrap_or_default(),
                    r.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        println!();
        print!(
            "{}",
            table(
                &["AT", "RESULT", "EXIT", "TOOK", "DECISION", "RUN", "ERROR"],
                &rows
            )
        );
        return Ok(0);
    }
    let conds = probes::list(conn)?;
    let watches = watch::list(conn)?;
    if ctx.json {
        print_json(&json!({ "conditions": conds, "watches": watches }));
        return Ok(0);
    }
    let opt = |s: &Option<String>| {
        s.as_deref()
            .map(|t| local_time(t, zone))
            .unwrap_or_else(|| "-".into())
    };
    let rows: Vec<Vec<String>> = conds
        .iter()
        .map(|p| {
            vec![
                p.task.clone(),
                p.last_result.clone().unwrap_or_else(|| "-".into()),
                opt(&p.last_at),
                opt(&p.next_due),
                p.fired.to_string(),
                opt(&p.last_fired_at),
                p.failing_since
                    .as_ref()
                    .map(|s| format!("failing since {}", local_time(s, zone)))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    println!("conditions:");
    print!(
        "{}",
        table(
            &[
                "TASK",
                "LAST",
                "PROBED",
                "NEXT PROBE",
                "FIRED",
                "LAST FIRED",
                "PROBLEM"
            ],
            &rows
        )
    );
    let rows: Vec<Vec<String>> = watches
        .iter()
        .map(|w| {
            vec![
                w.task.clone(),
                w.paths.join(" "),
                if w.watching_since.is_some() {
                    "yes".into()
                } else {
                    "no".into()
                },
                opt(&w.last_change_at),
                w.fired.to_string(),
                w.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    println!("\nwatches:");
    print!(
        "{}",
        table(
            &[
                "TASK",
                "PATHS",
                "WATCHED",
                "LAST CHANGE",
                "FIRED",
                "PROBLEM"
            ],
            &rows
        )
    );
    Ok(0)
}
