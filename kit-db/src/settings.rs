//! `[settings]`: defaults that apply to every task, plus kit-wide knobs.
//! Stored one row per key in `supervisor_settings` (value as JSON).

use crate::task::model::Escalate;
use crate::units::Dur;
use crate::Result;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RecoveryDefaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate: Option<Escalate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_at_once: Option<Vec<crate::task::model::AtOnce>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Default time zone for schedules and for "today"; the system zone if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Command kit-heal runs for each event (a string runs under /bin/sh -c).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_timeout: Option<Dur>,
    /// History older than this is removed by `kit-db prune` without --older-than.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryDefaults>,
    /// Notify `schedule_changed` and `override` events (adaptive schedules;
    /// default false: they are recorded either way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_schedule_changes: Option<bool>,
}

pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 86400);

impl Settings {
    /// Whether a kit-wide finding (a failed tick, a clock jump) is notified
    /// at once: `[settings.recovery] notify_at_once`, all by default.
    pub fn at_once(&self, what: crate::task::model::AtOnce) -> bool {
        self.recovery
            .as_ref()
            .and_then(|r| r.notify_at_once.as_ref())
            .is_none_or(|l| l.contains(&what))
    }

    pub fn load(conn: &Connection) -> Result<Settings> {
        let mut stmt = conn.prepare_cached("SELECT key, value FROM supervisor_settings")?;
        let mut obj = serde_json::Map::new();
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (k, v) = row?;
            if let Ok(v) = serde_json::from_str(&v) {
                obj.insert(k, v);
            }
        }
        // Only validated settings are ever stored, so this parse fails only
        // for a DB edited by hand; fall back to defaults rather than making
        // every tool fail.
        Ok(serde_json::from_value(serde_json::Value::Object(obj)).unwrap_or_default())
    }

    /// Replaces all settings.
    pub fn store(&self, tx: &rusqlite::Transaction) -> Result<()> {
        tx.execute("DELETE FROM supervisor_settings", [])?;
        if let serde_json::Value::Object(map) = serde_json::to_value(self).unwrap_or_default() {
            for (k, v) in map {
                tx.execute(
                    "INSERT INTO supervisor_settings(key, value) VALUES (?1, ?2)",
                    (k, v.to_string()),
                )?;
            }
        }
        Ok(())
    }

    /// The zone "today" and task schedules default to.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.timezone
            .as_deref()
            .and_then(|z| z.parse().ok())
            .unwrap_or_else(system_zone)
    }

    pub fn notify_timeout(&self) -> Duration {
        self.notify_timeout.map_or(DEFAULT_NOTIFY_TIMEOUT, |d| d.0)
    }

    pub fn retention(&self) -> Duration {
        self.retention.map_or(DEFAULT_RETENTION, |d| d.0)
    }
}

/// The machine's zone: `$TZ` if it names an IANA zone, else the target of
/// /etc/localtime, else UTC.
pub fn system_zone() -> chrono_tz::Tz {
    if let Ok(tz) = std::env::var("TZ") {
        if let Ok(z) = tz.trim_start_matches(':').parse() {
            return z;
        }
    }
    if let Ok(target) = std::fs::read_link("/etc/localtime") {
        let s = target.to_string_lossy();
        if let Some(idx) = s.find("zoneinfo/") {
            if let Ok(z) = s[idx + "zoneinfo/".len()..].parse() {
                return z;
            }
        }
    }
    if let Ok(name) = std::fs::read_to_string("/etc/timezone") {
        if let Ok(z) = name.trim().parse() {
            return z;
        }
    }
    chrono_tz::UTC
}
