//! Small shared state: key/value marks (kit-tick's watermark, the boot id
//! seen last) and heartbeats of the long-lived and periodic tools.

use crate::clock::{self, Instant};
use crate::gap::Slept;
use crate::Result;
use crate::{process, sleep_clock};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

pub fn get(conn: &Connection, key: &str) -> Result<Option<String>> {
    let mut stmt = conn.prepare_cached("SELECT value FROM supervisor_state WHERE key = ?1")?;
    Ok(stmt.query_row([key], |r| r.get(0)).optional()?)
}

pub fn set(conn: &Connection, key: &str, value: &str, now: Instant) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO supervisor_state(key, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )?;
    stmt.execute(params![key, value, clock::fmt(now)])?;
    Ok(())
}

/// Forgets `key` (no error if it was not set).
pub fn remove(conn: &Connection, key: &str) -> Result<()> {
    let mut stmt = conn.prepare_cached("DELETE FROM supervisor_state WHERE key = ?1")?;
    stmt.execute([key])?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct Heartbeat {
    pub tool: String,
    pub pid: i64,
    pub pid_start: Option<i64>,
    pub boot_id: Option<String>,
    pub started_at: String,
    pub beat_at: String,
    pub info: Option<serde_json::Value>,
    /// The time the machine had slept since boot at `beat_at`, in ms.
    pub slept_ms: Option<i64>,
}

impl Heartbeat {
    /// Seconds since the last beat, as seen at `now`.
    pub fn age(&self, now: Instant) -> Option<chrono::Duration> {
        clock::parse_stored(&self.beat_at).map(|t| now - t)
    }
    /// How much the machine has slept since this beat, read now.
    pub fn slept_since(&self) -> Slept {
        Slept::between(
            self.boot_id.as_deref(),
            self.slept_ms,
            &process::boot_id(),
            sleep_clock::slept_since_boot(),
            sleep_clock::since_boot(),
        )
    }
    /// The age without the time the machine slept: what a stall is measured
    /// in (the whole age when the sleep is not known).
    pub fn awake_age(&self, now: Instant) -> Option<chrono::Duration> {
        self.age(now).map(|a| self.slept_since().awake_part(a))
    }
    /// True if the process that wrote this beat is still running.
    pub fn process_alive(&self) -> bool {
        process::recorded_alive(Some(self.pid), self.pid_start, self.boot_id.as_deref())
    }
}

/// Records that `tool` (this process) is alive at `now`, with the boot id
/// and the time slept since boot (so a later reader can subtract sleep).
pub fn beat(
    conn: &Connection,
    tool: &str,
    now: Instant,
    info: Option<&serde_json::Value>,
) -> Result<()> {
    let pid = std::process::id() as i32;
    let start = process::process_start(pid).map(|s| s.0 as i64);
    let mut stmt = conn.prepare_cached(
        "INSERT INTO supervisor_heartbeats(tool, pid, pid_start, boot_id, started_at, beat_at, info, slept_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7)
         ON CONFLICT(tool) DO UPDATE SET
           started_at = CASE WHEN pid = excluded.pid AND pid_start IS excluded.pid_start
                             THEN started_at ELSE excluded.started_at END,
           pid = excluded.pid, pid_start = excluded.pid_start, boot_id = excluded.boot_id,
           beat_at = excluded.beat_at, info = excluded.info, slept_ms = excluded.slept_ms",
    )?;
    stmt.execute(params![
        tool,
        pid,
        start,
        process::boot_id(),
        clock::fmt(now),
        info.map(|v| v.to_string()),
        sleep_clock::slept_since_boot().map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    ])?;
    Ok(())
}

pub fn heartbeat(conn: &Connection, tool: &str) -> Result<Option<Heartbeat>> {
    let mut stmt = conn.prepare_cached(
        "SELECT tool, pid, pid_start, boot_id, started_at, beat_at, info, slept_ms
         FROM supervisor_heartbeats WHERE tool = ?1",
    )?;
    Ok(stmt
        .query_row([tool], |r| {
            Ok(Heartbeat {
                tool: r.get(0)?,
                pid: r.get(1)?,
                pid_start: r.get(2)?,
                boot_id: r.get(3)?,
                started_at: r.get(4)?,
                beat_at: r.get(5)?,
                info: r
                    .get::<_, Option<String>>(6)?
                    .and_then(|s| serde_json::from_str(&s).ok()),
                slept_ms: r.get(7)?,
            })
        })
        .optional()?)
}
