//! The triggers part of `status`: how many came in today and what became
//! of them, the triggered runs waiting to start, and any that nothing alive
//! will start (kit-tick is the safety net; if it is not running, say so).

use super::{attention, Problem};
use chrono::Duration;
use kit_db::clock::{self, Instant};
use kit_db::triggers::pending::{self, Waiting};
use rusqlite::Connection;
use serde::Serialize;
use std::collections::BTreeMap;

/// A queued triggered run nobody alive has started this long after it was
/// due needs a look (kit-tick starts such a run within a minute).
pub const UNSTARTED_LATE: Duration = Duration::minutes(3);

#[derive(Debug, Clone, Serialize)]
pub struct Triggers {
    /// Triggers received today (the status day), by outcome.
    pub today: i64,
    pub by_outcome: BTreeMap<String, i64>,
    /// Triggered runs queued, waiting to start.
    pub pending: Vec<Waiting>,
}

pub fn gather(
    conn: &Connection,
    from: &str,
    until: &str,
    now: Instant,
    problems: &mut Vec<Problem>,
) -> anyhow::Result<Triggers> {
    let mut stmt = conn.prepare_cached(
        "SELECT outcome, count(*) FROM supervisor_triggers
         WHERE received_at >= ?1 AND received_at < ?2 GROUP BY outcome",
    )?;
    let by_outcome: BTreeMap<String, i64> = stmt
        .query_map([from, until], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let pending = pending::waiting(conn, None)?;
    for w in pending.iter().filter(|w| w.owner.is_none()) {
        let due = w
            .due_at
            .as_deref()
            .or(Some(w.created_at.as_str()))
            .and_then(clock::parse_stored);
        if due.is_some_and(|d| now - d >= UNSTARTED_LATE) {
            problems.push(attention(format!(
                "task {}: triggered run #{} ({} trigger{}) has waited since {} with no kit-run to \
                 start it; kit-tick starts it (is kit-tick running?)",
                w.task,
                w.id,
                w.triggers,
                if w.triggers == 1 { "" } else { "s" },
                w.due_at.as_deref().unwrap_or(&w.created_at)
            )));
        }
    }
    Ok(Triggers {
        today: by_outcome.values().sum(),
        by_outcome,
        pending,
    })
}

/// "4 today (2 queued, 2 coalesced); pending: ingest #12 (2 triggers, due …)"
pub fn line(t: &Triggers) -> String {
    let mut s = format!("{} today", t.today);
    if !t.by_outcome.is_empty() {
        let parts: Vec<String> = t
            .by_outcome
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        s.push_str(&format!(" ({})", parts.join(", ")));
    }
    if !t.pending.is_empty() {
        let p: Vec<String> = t
            .pending
            .iter()
            .map(|w| format!("{} {}", w.task, w.describe()))
            .collect();
        s.push_str(&format!("; pending: {}", p.join(", ")));
    }
    s
}
