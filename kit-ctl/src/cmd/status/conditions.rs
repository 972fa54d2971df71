//! The conditions and file watches part of `status`: a failing probe, a
//! watch that cannot be watched, and watch tasks while kit-keep (the only
//! process that watches) is not running all need attention.

use super::{attention, Problem};
use crate::output::local_time;
use kit_db::{probe, watch};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Conditions {
    /// Enabled tasks with a `when` condition.
    pub conditions: i64,
    /// Enabled tasks with a `watch`.
    pub watches: i64,
    /// Tasks whose condition probe is failing now.
    pub probes_failing: Vec<String>,
    /// Watch tasks exist and kit-keep is not running: they cannot fire.
    pub watches_unwatched: bool,
}

/// Enabled watch tasks (kit-keep is needed for them).
pub fn watch_tasks(conn: &rusqlite::Connection) -> anyhow::Result<i64> {
    Ok(watch::fingerprint(conn)?.len() as i64)
}

pub fn gather(
    conn: &rusqlite::Connection,
    zone: chrono_tz::Tz,
    keep_stale: bool,
    problems: &mut Vec<Problem>,
) -> anyhow::Result<Conditions> {
    let conds: Vec<_> = probe::store::list(conn)?;
    let enabled: std::collections::HashSet<String> = kit_db::task::repo::list(conn)?
        .into_iter()
        .filter(|r| r.task.enabled)
        .map(|r| r.task.name)
        .collect();
    let conds: Vec<_> = conds
        .into_iter()
        .filter(|p| enabled.contains(&p.task))
        .collect();
    let mut failing = Vec::new();
    for p in conds.iter().filter(|p| p.failing_since.is_some()) {
        failing.push(p.task.clone());
        problems.push(attention(format!(
            "task {}: its condition probe is failing since {}{} (see `kit-ctl probes {}`)",
            p.task,
            local_time(p.failing_since.as_deref().unwrap_or_default(), zone),
            p.last_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default(),
            p.task
        )));
    }
    let watches: Vec<_> = watch::list(conn)?
        .into_iter()
        .filter(|w| w.enabled)
        .collect();
    for w in watches.iter().filter(|w| w.last_error.is_some()) {
        problems.push(attention(format!(
            "task {}: cannot watch its paths: {}",
            w.task,
            w.last_error.as_deref().unwrap_or_default()
        )));
    }
    let unwatched = keep_stale && !watches.is_empty();
    if unwatched {
        let names: Vec<&str> = watches.iter().map(|w| w.task.as_str()).collect();
        problems.push(attention(format!(
            "{} watch task{} cannot fire while kit-keep is not running ({})",
            watches.len(),
            if watches.len() == 1 { "" } else { "s" },
            names.join(", ")
        )));
    }
    Ok(Conditions {
        conditions: conds.len() as i64,
        watches: watches.len() as i64,
        probes_failing: failing,
        watches_unwatched: unwatched,
    })
}
