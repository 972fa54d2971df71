//! `supervisor_events`: the durable outbox of episode transitions. An event
//! is written first (deduplicated by key, so two tools noticing the same
//! thing record it once); delivery by kit-heal comes after, with retries.

use crate::clock::{self, Instant};
use crate::Result;
use rusqlite::{params, Connection};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// A new event. `kind` is one of the schema's kinds (failing, recovering,
/// recovered, escalated, crashloop, missed, stalled, stuck, action, info).
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub kind: &'a str,
    pub severity: Severity,
    pub task: Option<&'a str>,
    pub message: String,
    pub detail: Option<serde_json::Value>,
    /// Identifies the occurrence: an event with a key already recorded is dropped.
    pub dedupe_key: Option<String>,
    /// False for bookkeeping events (e.g. one per recovery action) that are
    /// recorded but not sent to the notify command.
    pub notify: bool,
}

/// Records an event; returns its id, or None if this occurrence was already recorded.
pub fn record(conn: &Connection, ev: &NewEvent, now: Instant) -> Result<Option<i64>> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO supervisor_events
           (created_at, kind, severity, task, message, detail, dedupe_key, notify, delivery, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, CASE WHEN ?8 THEN 'pending' ELSE 'none' END, ?1)
         ON CONFLICT(dedupe_key) DO NOTHING",
    )?;
    let n = stmt.execute(params![
        clock::fmt(now),
        ev.kind,
        ev.severity.as_str(),
        ev.task,
        ev.message,
        ev.detail.as_ref().map(|d| d.to_string()),
        ev.dedupe_key,
        ev.notify,
    ])?;
    Ok((n > 0).then(|| conn.last_insert_rowid()))
}
