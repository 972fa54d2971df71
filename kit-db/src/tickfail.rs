//! A kit-tick that could not write the DB must not vanish: it leaves a line
//! in `kit-tick.failed` beside the DB (the one place it can still write),
//! and the next kit-tick that succeeds folds the lines into the DB: a
//! `stalled` event (notified) per failure and the `tick.failures` state
//! that `why` reads to explain a late slot. Then the file is removed.

use crate::clock::Instant;
use crate::events::{self, NewEvent, Severity};
use crate::{state, Result};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The state key holding the recent failures (newest last).
pub const STATE_KEY: &str = "tick.failures";
/// How many failures the state keeps.
const KEEP: usize = 20;

/// One tick that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickFailure {
    /// When the tick ran (the time it decided by).
    pub at: String,
    /// What went wrong, for people.
    pub error: String,
    /// The processes holding the DB's write lock, where they could be found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lock_holders: Vec<i32>,
}

fn file_of(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".tick-failed");
    db.with_file_name(name)
}

/// Who holds `db`'s write lock: the processes with a write lock on its
/// `-shm` file, where the platform can tell.
pub fn lock_holders(db: &Path) -> Vec<i32> {
    let mut shm = db.as_os_str().to_os_string();
    shm.push("-shm");
    crate::platform::lock_holders(Path::new(&shm))
}

/// "pid 123 (sqlite3 kit.db)", for messages.
pub fn describe_holders(pids: &[i32]) -> String {
    let names: Vec<String> = pids
        .iter()
        .map(|&pid| match crate::platform::process_command(pid) {
            Some(cmd) => format!("pid {pid} ({cmd})"),
            None => format!("pid {pid}"),
        })
        .collect();
    names.join(", ")
}

/// Appends a failure beside `db` (created 0600).
pub fn record(db: &Path, failure: &TickFailure) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file_of(db))?;
    let line = serde_json::to_string(failure).map_err(std::io::Error::other)?;
    writeln!(f, "{line}")
}

/// Takes the failures recorded beside `db`: renamed first, so a kit-tick
/// failing meanwhile starts a new file instead of losing its line.
pub fn take(db: &Path) -> Vec<TickFailure> {
    let file = file_of(db);
    let mut taken = file.clone().into_os_string();
    taken.push(format!(".{}", std::process::id()));
    let taken = PathBuf::from(taken);
    if std::fs::rename(&file, &taken).is_err() {
        return Vec::new();
    }
    let text = std::fs::read_to_string(&taken).unwrap_or_default();
    let _ = std::fs::remove_file(&taken);
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Puts `failures` into the DB (in the caller's transaction): a notified
/// `stalled` event each, and the recent list for `why`.
pub fn fold(tx: &Connection, failures: &[TickFailure], now: Instant) -> Result<()> {
    if failures.is_empty() {
        return Ok(());
    }
    let notify =
        crate::settings::Settings::load(tx)?.at_once(crate::task::model::AtOnce::TickFailed);
    for f in failures {
        let ev = NewEvent {
            kind: "stalled",
            severity: Severity::Warning,
            task: None,
            message: format!(
                "kit-tick failed at {} and claimed nothing: {}; the slots due then ran late or were recorded missed at the next tick",
                f.at, f.error
            ),
            detail: Some(serde_json::json!({
                "tool": "kit-tick",
                "cause": "tick_failed",
                "at": f.at,
                "error": f.error,
                "lock_holders": f.lock_holders,
            })),
            dedupe_key: Some(format!("tick_failed:{}", f.at)),
            notify,
        };
        events::record(tx, &ev, now)?;
    }
    let mut all = recent(tx)?;
    all.extend(failures.iter().cloned());
    let skip = all.len().saturating_sub(KEEP);
    let kept = &all[skip..];
    let text = serde_json::to_string(kept).map_err(|e| crate::Error::invalid(e.to_string()))?;
    state::set(tx, STATE_KEY, &text, now)
}

/// The recent failed ticks, oldest first.
pub fn recent(conn: &Connection) -> Result<Vec<TickFailure>> {
    Ok(state::get(conn, STATE_KEY)?
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default())
}

/// The failed ticks between `from` and `to` (stored instants), for `why`.
pub fn between(conn: &Connection, from: &str, to: &str) -> Result<Vec<TickFailure>> {
    // Stored instants are fixed-width UTC text: text order is time order.
    Ok(recent(conn)?
        .into_iter()
        .filter(|f| f.at.as_str() >= from && f.at.as_str() <= to)
        .collect())
}
