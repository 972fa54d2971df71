//! `supervisor_overrides`: reading and writing the runtime changes.

use crate::clock::{self, Instant};
use crate::{Error, Result};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

/// A row of `supervisor_overrides`.
#[derive(Debug, Clone, Serialize)]
pub struct Override {
    pub id: i64,
    pub task: String,
    pub kind: String,
    pub schedule: Option<String>,
    pub starts_at: String,
    pub ends_at: String,
    pub set_by: String,
    pub reason: Option<String>,
    pub rule: Option<String>,
    pub matched_execution_id: Option<i64>,
    pub matches: i64,
    pub data: Option<String>,
    pub execution_id: Option<i64>,
    pub cleared_at: Option<String>,
    pub cleared_by: Option<String>,
    pub reverted_at: Option<String>,
    pub created_at: String,
}

pub const COLUMNS: &str = "id, task, kind, schedule, starts_at, ends_at, set_by, reason, rule, \
    matched_execution_id, matches, data, execution_id, cleared_at, cleared_by, reverted_at, created_at";

pub fn from_row(r: &Row) -> rusqlite::Result<Override> {
    Ok(Override {
        id: r.get(0)?,
        task: r.get(1)?,
        kind: r.get(2)?,
        schedule: r.get(3)?,
        starts_at: r.get(4)?,
        ends_at: r.get(5)?,
        set_by: r.get(6)?,
        reason: r.get(7)?,
        rule: r.get(8)?,
        matched_execution_id: r.get(9)?,
        matches: r.get(10)?,
        data: r.get(11)?,
        execution_id: r.get(12)?,
        cleared_at: r.get(13)?,
        cleared_by: r.get(14)?,
        reverted_at: r.get(15)?,
        created_at: r.get(16)?,
    })
}

impl Override {
    pub fn start(&self) -> Instant {
        clock::parse_stored(&self.starts_at).unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
    }
    /// Where it stops being in force: its end, or when it was cleared.
    pub fn end(&self) -> Instant {
        let end =
            clock::parse_stored(&self.ends_at).unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        match self.cleared_at.as_deref().and_then(clock::parse_stored) {
            Some(c) if c < end => c,
            _ => end,
        }
    }
    pub fn in_force_at(&self, t: Instant) -> bool {
        self.start() <= t && t < self.end()
    }
    /// The adapt rule's index, for `set_by = adapt:N`.
    pub fn rule_index(&self) -> Option<usize> {
        self.set_by.strip_prefix("adapt:")?.parse().ok()
    }
    /// "override by cli until 18:00 (reason)" and the like, for people.
    pub fn describe(&self) -> String {
        let until = clock::fmt(self.end());
        let why = self
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        match self.kind.as_str() {
            "adapt" => format!(
                "adapted by rule {} ({}) to {:?} until {until}, matched by execution #{}{}",
                self.rule_index().map_or("?".into(), |i| i.to_string()),
                self.rule.as_deref().unwrap_or("?"),
                self.schedule.as_deref().unwrap_or("?"),
                self.matched_execution_id.unwrap_or(0),
                if self.matches > 1 {
                    format!(" ({} matches)", self.matches)
                } else {
                    String::new()
                }
            ),
            "schedule" => format!(
                "override #{} to {:?} by {} until {until}{why}",
                self.id,
                self.schedule.as_deref().unwrap_or("?"),
                self.set_by
            ),
            "pause" => format!(
                "paused (#{}) by {} until {until}{why}",
                self.id, self.set_by
            ),
            _ => format!(
                "one-shot run #{} at {} by {}{why}",
                self.id, self.starts_at, self.set_by
            ),
        }
    }
}

/// The schedule-changing rows (schedule, pause, adapt) of `task` (or of all
/// tasks) still in force at or after `since`, oldest first.
pub fn windows_since(
    conn: &Connection,
    task: Option<&str>,
    since: Instant,
) -> Result<Vec<Override>> {
    // Two statements, so each is a range search of an index (task, ends_at)
    // or (ends_at) whatever the table's history holds.
    let sql = match task {
        Some(_) => format!(
            "SELECT {COLUMNS} FROM supervisor_overrides
             WHERE task = ?1 AND ends_at > ?2 AND kind <> 'at'
               AND (cleared_at IS NULL OR cleared_at > ?2) ORDER BY id"
        ),
        None => format!(
            "SELECT {COLUMNS} FROM supervisor_overrides
             WHERE ends_at > ?2 AND ?1 IS NULL AND kind <> 'at'
               AND (cleared_at IS NULL OR cleared_at > ?2) ORDER BY id"
        ),
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![task, clock::fmt(since)], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Rows in force at `now` (any kind but `at`), oldest first.
pub fn active(conn: &Connection, task: Option<&str>, now: Instant) -> Result<Vec<Override>> {
    Ok(windows_since(conn, task, now)?
        .into_iter()
        .filter(|o| o.in_force_at(now))
        .collect())
}

/// One-shot runs of `task` (or all) not yet claimed or cleared.
pub fn pending_at(conn: &Connection, task: Option<&str>) -> Result<Vec<Override>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_overrides
         WHERE kind = 'at' AND execution_id IS NULL AND cleared_at IS NULL AND (?1 IS NULL OR task = ?1)
         ORDER BY starts_at, id"
    ))?;
    let rows = stmt.query_map([task], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Override>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_overrides WHERE id = ?1"
    ))?;
    Ok(stmt.query_row([id], from_row).optional()?)
}

/// Makes kit-tick recompute the task's next slot from the earlier of its
/// stored one and this minute: the slots before `now` were planned under
/// an unchanged timeline, those after may have changed. (The unique slot
/// index keeps an already claimed minute from being claimed again.)
pub fn reset_next_due(conn: &Connection, task: &str, now: Instant) -> Result<()> {
    conn.execute(
        "UPDATE supervisor_tasks SET next_due = ?2 WHERE name = ?1 AND next_due > ?2",
        params![task, clock::fmt(clock::floor_minute(now))],
    )?;
    Ok(())
}

/// What a new override, pause or one-shot run is.
#[derive(Debug, Clone)]
pub struct NewOverride<'a> {
    pub task: &'a str,
    pub kind: &'a str,
    pub schedule: Option<&'a str>,
    pub starts_at: Instant,
    pub ends_at: Instant,
    pub set_by: &'a str,
    pub reason: Option<&'a str>,
    pub data: Option<&'a str>,
}

/// Checks an end against now and the maximum span.
pub fn check_span(field: &str, start: Instant, end: Instant) -> Result<()> {
    let max = chrono::Duration::from_std(super::MAX_SPAN).unwrap_or_default();
    if end <= start {
        return Err(Error::invalid(format!(
            "{field}: the end ({}) must be after the start ({})",
            clock::fmt(end),
            clock::fmt(start)
        )));
    }
    if end - start > max {
        return Err(Error::invalid(format!(
            "{field}: at most {} ahead (for longer, `kit-ctl disable` the task: that is explicit)",
            crate::units::Dur(super::MAX_SPAN)
        )));
    }
    Ok(())
}

pub fn insert(conn: &Connection, o: &NewOverride, now: Instant) -> Result<i64> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO supervisor_overrides
           (task, kind, schedule, starts_at, ends_at, set_by, reason, data, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
    )?;
    stmt.execute(params![
        o.task,
        o.kind,
        o.schedule,
        clock::fmt(o.starts_at),
        clock::fmt(o.ends_at),
        o.set_by,
        o.reason,
        o.data,
        clock::fmt(now)
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Ends early the rows of `task` of these kinds in force (or pending, for
/// `at`) at `now`; returns them as they were.
pub fn clear(
    conn: &Connection,
    task: &str,
    kinds: &[&str],
    by: &str,
    now: Instant,
) -> Result<Vec<Override>> {
    let mut cleared = Vec::new();
    let mut candidates = active(conn, Some(task), now)?;
    candidates.extend(pending_at(conn, Some(task))?);
    for o in candidates
        .into_iter()
        .filter(|o| kinds.contains(&o.kind.as_str()))
    {
        conn.execute(
            "UPDATE supervisor_overrides SET cleared_at = ?2, cleared_by = ?3, reverted_at = ?2,
               updated_at = ?2 WHERE id = ?1 AND cleared_at IS NULL",
            params![o.id, clock::fmt(now), by],
        )?;
        cleared.push(o);
    }
    Ok(cleared)
}
