//! What people and agents are shown: the schedule in force now and where
//! it comes from, and the next runs under it (pauses and one-shot runs
//! included). Shared by list/show/status/next/why, the API and the page.

use super::rows::{self, Override};
use super::timeline::Timeline;
use crate::clock::{self, Instant};
use crate::schedule::{Schedule, Tz};
use crate::task::Task;
use crate::Result;
use rusqlite::Connection;
use serde::Serialize;

/// The schedule in force and its source.
#[derive(Debug, Clone, Serialize)]
pub struct InForceView {
    /// The schedule expression in force (the base while paused).
    pub schedule: String,
    /// `base`, `adapt`, `override`; `paused` is said apart.
    pub source: &'static str,
    /// The row behind it (adapt or override).
    pub change: Option<Override>,
    /// The pause in force, if any.
    pub paused: Option<Override>,
    /// When the base schedule returns (the end of what is in force).
    pub reverts_at: Option<String>,
    /// One line for people: "base", "adapted by rule 0 (exit:10) ... until ...".
    pub summary: String,
}

/// What is in force for `task` at `now`.
pub fn in_force(conn: &Connection, task: &Task, now: Instant) -> Result<InForceView> {
    let rows = rows::active(conn, Some(&task.name), now)?;
    Ok(in_force_of(task, rows, now))
}

/// [`in_force`] from rows already read.
pub fn in_force_of(task: &Task, rows: Vec<Override>, now: Instant) -> InForceView {
    let base = Schedule::parse(&task.schedule).unwrap_or(Schedule::Reboot);
    let tl = Timeline::new(base, chrono_tz::UTC, rows);
    let f = tl.in_force(now);
    let change = f.source.cloned();
    let paused = f.paused.cloned();
    let source = match change.as_ref().map(|c| c.kind.as_str()) {
        Some("adapt") => "adapt",
        Some(_) => "override",
        None => "base",
    };
    let schedule = change
        .as_ref()
        .and_then(|c| c.schedule.clone())
        .unwrap_or_else(|| task.schedule.clone());
    // The base returns when the last window in force now ends (a later
    // one could start before, but none is scheduled ahead today).
    let reverts_at = tl
        .windows
        .iter()
        .filter(|w| w.start <= now && now < w.end)
        .map(|w| w.end)
        .max()
        .map(clock::fmt);
    let mut parts = Vec::new();
    if let Some(p) = &paused {
        parts.push(p.describe());
    }
    parts.push(match &change {
        Some(c) => c.describe(),
        None => "base schedule".into(),
    });
    InForceView {
        schedule,
        source,
        change,
        paused,
        reverts_at,
        summary: parts.join("; "),
    }
}

/// One upcoming run.
#[derive(Debug, Clone, Serialize)]
pub struct NextRun {
    pub at: String,
    /// `base`, `adapt`, `override` or `at` (a one-shot run).
    pub source: &'static str,
    /// For a paused slot: it will be recorded skipped, not run.
    pub paused: bool,
    pub note: Option<String>,
    #[serde(skip)]
    pub instant: Instant,
}

/// The next `count` slots after `from` under the schedule in force at
/// each (paused ones flagged), merged with pending one-shot runs.
pub fn next_runs(
    conn: &Connection,
    task: &Task,
    tz: Tz,
    from: Instant,
    count: usize,
) -> Result<Vec<NextRun>> {
    let base = Schedule::parse(&task.schedule).map_err(|e| crate::Error::invalid(e.to_string()))?;
    let tl = Timeline::new(base, tz, rows::windows_since(conn, Some(&task.name), from)?);
    let mut out = Vec::new();
    let mut s = tl.first_at_or_after(from + chrono::Duration::milliseconds(1));
    while let Some(slot) = s {
        if out.len() >= count {
            break;
        }
        let f = tl.in_force(slot);
        out.push(NextRun {
            at: clock::fmt(slot),
            source: match f.source.map(|c| c.kind.as_str()) {
                Some("adapt") => "adapt",
                Some(_) => "override",
                None => "base",
            },
            paused: f.paused.is_some(),
            note: f.paused.or(f.source).map(|o| o.describe()),
            instant: slot,
        });
        s = tl.next_after(slot);
    }
    for a in rows::pending_at(conn, Some(&task.name))? {
        out.push(NextRun {
            at: a.starts_at.clone(),
            source: "at",
            paused: false,
            note: Some(a.describe()),
            instant: a.start(),
        });
    }
    out.sort_by_key(|r| r.instant);
    out.truncate(count);
    Ok(out)
}

/// The next run that will actually happen (not paused), for "Next" columns.
pub fn next_run(conn: &Connection, task: &Task, tz: Tz, from: Instant) -> Result<Option<NextRun>> {
    Ok(next_runs(conn, task, tz, from, 50)?
        .into_iter()
        .find(|r| !r.paused))
}
