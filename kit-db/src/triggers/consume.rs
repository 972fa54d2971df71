//! What a triggered run is told about the triggers it consumed.
//!
//! - `KIT_EVENT_FILE`: a JSON-lines file, one line per consumed trigger,
//!   oldest first: that trigger's data (compact JSON), or `null` without data.
//! - `KIT_EVENT_COUNT`: how many triggers the run consumed (more than one
//!   when a burst coalesced).
//! - `KIT_EVENT_DATA`: the newest trigger's data, when it has some of at
//!   most [`super::SMALL_DATA`] bytes.
//! - `KIT_EVENT_KEY`: the newest trigger's key, when it has one.
//! - `KIT_UPSTREAM_ID`, `KIT_UPSTREAM_TASK`, `KIT_UPSTREAM_STATUS`: for a
//!   chained run, the upstream execution that started it (the newest, if
//!   several coalesced).
//!
//! The file lives in `$KIT_HOME/events/EXECUTION_ID.jsonl` and is removed
//! when the run (with its retries) ends.

use super::rows::{self, TriggerRow};
use super::SMALL_DATA;
use crate::Result;
use rusqlite::Connection;
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

/// The environment of a triggered run, and the file to remove afterwards.
#[derive(Debug, Clone, Default)]
pub struct EventEnv {
    pub vars: Vec<(OsString, OsString)>,
    pub file: Option<PathBuf>,
}

impl EventEnv {
    /// Removes the event file (the run is over).
    pub fn cleanup(&self) {
        if let Some(f) = &self.file {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// The names [`env`] may set (documented in README "Event-driven tasks").
pub const NAMES: [&str; 7] = [
    "KIT_EVENT_FILE",
    "KIT_EVENT_COUNT",
    "KIT_EVENT_DATA",
    "KIT_EVENT_KEY",
    "KIT_UPSTREAM_ID",
    "KIT_UPSTREAM_TASK",
    "KIT_UPSTREAM_STATUS",
];

/// Writes the event file of execution `id` and returns the variables. Call
/// once the row is `running`: from then on no trigger can join it.
pub fn env(conn: &Connection, id: i64) -> Result<EventEnv> {
    let consumed = rows::consumed_by(conn, id)?;
    let data = rows::data_of(conn, id)?;
    let mut vars: Vec<(OsString, OsString)> = Vec::new();
    let dir = crate::paths::home_subdir("events")?;
    let path = dir.join(format!("{id}.jsonl"));
    let mut text = Vec::new();
    for t in &consumed {
        match data.get(&t.id) {
            Some(d) => text.extend_from_slice(d),
            None => text.extend_from_slice(b"null"),
        }
        text.push(b'\n');
    }
    write_private(&path, &text).map_err(|e| crate::Error::Path {
        path: path.clone(),
        reason: format!("cannot write the event file: {e}"),
    })?;
    vars.push(("KIT_EVENT_FILE".into(), path.clone().into_os_string()));
    vars.push(("KIT_EVENT_COUNT".into(), consumed.len().to_string().into()));
    if let Some(newest) = consumed.last() {
        if let Some(d) = data.get(&newest.id).filter(|d| d.len() <= SMALL_DATA) {
            vars.push((
                "KIT_EVENT_DATA".into(),
                String::from_utf8_lossy(d).into_owned().into(),
            ));
        }
        if let Some(k) = &newest.key {
            vars.push(("KIT_EVENT_KEY".into(), k.into()));
        }
    }
    if let Some(up) = consumed.iter().rev().find_map(upstream_of) {
        vars.push(("KIT_UPSTREAM_ID".into(), up.0.to_string().into()));
        vars.push(("KIT_UPSTREAM_TASK".into(), up.1.into()));
        vars.push(("KIT_UPSTREAM_STATUS".into(), up.2.into()));
    }
    Ok(EventEnv {
        vars,
        file: Some(path),
    })
}

/// A chain trigger's upstream: (execution id, task, status).
pub fn upstream_of(t: &TriggerRow) -> Option<(i64, String, String)> {
    let d = t.detail.as_ref()?;
    Some((
        d.get("upstream")?.as_i64()?,
        d.get("upstream_task")?.as_str()?.to_string(),
        d.get("status")?.as_str()?.to_string(),
    ))
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}
