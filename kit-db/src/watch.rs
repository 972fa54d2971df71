//! `supervisor_watches`: file watches (`watch = { paths, debounce }`), kept
//! in step with the tasks at apply time and written by kit-keep, the
//! resident process that watches (kit-keep/src/watch.rs).
//!
//! Changes made while kit-keep is down: each time kit-keep starts watching
//! it compares a fingerprint of the paths (`scan`: names, sizes and mtimes,
//! walked to a bounded depth) with the one it stored; if they differ the
//! task fires once (`{"while_down": true}`).

use crate::clock::{self, Instant};
use crate::fire;
use crate::task::Task;
use crate::Result;
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub fn sync(conn: &Connection, task: &Task, now: Instant) -> Result<()> {
    let Some(w) = &task.watch else {
        return remove(conn, &task.name);
    };
    let paths =
        serde_json::to_string(&w.paths).map_err(|e| crate::Error::invalid(e.to_string()))?;
    conn.execute(
        "INSERT INTO supervisor_watches (task, paths, debounce_ms, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(task) DO UPDATE SET
           watching_since = CASE WHEN paths = excluded.paths THEN watching_since END,
           scan = CASE WHEN paths = excluded.paths THEN scan END,
           paths = excluded.paths, debounce_ms = excluded.debounce_ms, updated_at = excluded.updated_at
         WHERE paths <> excluded.paths OR debounce_ms <> excluded.debounce_ms",
        params![task.name, paths, w.debounce().as_millis() as i64, clock::fmt(now)],
    )?;
    Ok(())
}

pub fn remove(conn: &Connection, task: &str) -> Result<()> {
    conn.execute("DELETE FROM supervisor_watches WHERE task = ?1", [task])?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct WatchState {
    pub task: String,
    pub paths: Vec<String>,
    pub debounce_ms: i64,
    pub watching_since: Option<String>,
    pub scan: Option<String>,
    pub scanned_at: Option<String>,
    pub last_change_at: Option<String>,
    pub last_paths: Vec<String>,
    pub last_fired_at: Option<String>,
    pub last_execution_id: Option<i64>,
    pub fired: i64,
    pub last_error: Option<String>,
    /// The task is enabled (kit-keep watches only enabled tasks).
    pub enabled: bool,
}

const COLUMNS: &str = "w.task, w.paths, w.debounce_ms, w.watching_since, w.scan, w.scanned_at,
    w.last_change_at, w.last_paths, w.last_fired_at, w.last_execution_id, w.fired, w.last_error,
    COALESCE(t.enabled, 0)";

fn from_row(r: &Row) -> rusqlite::Result<WatchState> {
    let list = |s: Option<String>| -> Vec<String> {
        s.and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default()
    };
    Ok(WatchState {
        task: r.get(0)?,
        paths: list(r.get(1)?),
        debounce_ms: r.get(2)?,
        watching_since: r.get(3)?,
        scan: r.get(4)?,
        scanned_at: r.get(5)?,
        last_change_at: r.get(6)?,
        last_paths: list(r.get(7)?),
        last_fired_at: r.get(8)?,
        last_execution_id: r.get(9)?,
        fired: r.get(10)?,
        last_error: r.get(11)?,
        enabled: r.get::<_, i64>(12)? != 0,
    })
}

pub fn list(conn: &Connection) -> Result<Vec<WatchState>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_watches w LEFT JOIN supervisor_tasks t ON t.name = w.task
         ORDER BY w.task"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn get(conn: &Connection, task: &str) -> Result<Option<WatchState>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_watches w LEFT JOIN supervisor_tasks t ON t.name = w.task
         WHERE w.task = ?1"
    ))?;
    Ok(stmt.query_row([task], from_row).optional()?)
}

/// What tells kit-keep the watches changed: one row per watch of an enabled task.
pub fn fingerprint(conn: &Connection) -> Result<Vec<(String, String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT w.task, w.paths, w.debounce_ms FROM supervisor_watches w
         JOIN supervisor_tasks t ON t.name = w.task WHERE t.enabled = 1 ORDER BY w.task",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// kit-keep began watching (or could not): the scan it took, and the error.
pub fn set_watching(
    conn: &Connection,
    task: &str,
    scan: &str,
    error: Option<&str>,
    now: Instant,
) -> Result<()> {
    let ts = clock::fmt(now);
    conn.execute(
        "UPDATE supervisor_watches SET watching_since = ?2, scan = ?3, scanned_at = ?2,
           last_error = ?4 WHERE task = ?1",
        params![task, ts, scan, error],
    )?;
    Ok(())
}

/// Fires the task for these changed paths (in the caller's transaction) and
/// records the change, the firing and the new scan.
pub fn fire_in(
    tx: &Transaction,
    task: &str,
    changed: &[String],
    while_down: bool,
    scan: &str,
    now: Instant,
) -> Result<fire::Fired> {
    let data = serde_json::json!({ "paths": changed, "while_down": while_down });
    let fired = fire::fire_in(tx, task, fire::Kind::Watch, &data, now)?;
    let ts = clock::fmt(now);
    let paths = serde_json::to_string(changed).unwrap_or_else(|_| "[]".into());
    tx.execute(
        "UPDATE supervisor_watches SET last_change_at = ?2, last_paths = ?3, last_fired_at = ?2,
           last_execution_id = ?4, fired = fired + 1, scan = ?5, scanned_at = ?2 WHERE task = ?1",
        params![task, ts, paths, fired.execution_id, scan],
    )?;
    Ok(fired)
}

/// Entries the scan walks at most per path, and how deep.
const SCAN_MAX_ENTRIES: usize = 10_000;
const SCAN_MAX_DEPTH: usize = 8;

/// A fingerprint of the paths: FNV-1a over (path, size, mtime) of each path
/// and what is under it (bounded). Stable across runs and builds.
pub fn scan(paths: &[PathBuf]) -> String {
    let mut h = Fnv::new();
    let mut seen = 0usize;
    for p in paths {
        walk(p, 0, &mut h, &mut seen);
    }
    format!("{:016x}:{seen}", h.0)
}

fn walk(p: &Path, depth: usize, h: &mut Fnv, seen: &mut usize) {
    if *seen >= SCAN_MAX_ENTRIES {
        return;
    }
    *seen += 1;
    h.write(p.as_os_str().as_encoded_bytes());
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        h.write(b"-");
        return;
    };
    h.write(&meta.len().to_le_bytes());
    if let Ok(m) = meta.modified() {
        if let Ok(d) = m.duration_since(std::time::UNIX_EPOCH) {
            h.write(&d.as_nanos().to_le_bytes());
        }
    }
    if meta.is_dir() && depth < SCAN_MAX_DEPTH {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for e in entries {
            walk(&e, depth + 1, h, seen);
        }
    }
}

struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf29ce484222325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x100000001b3);
        }
    }
}
