//! The one place conditions and file watches fire a task: an adapter over
//! the trigger machinery (`crate::triggers`, the `events` branch), so the
//! probe runner and kit-keep's watcher never depend on its details.
//!
//! Until `crate::triggers` exists this records the run itself: a `queued`
//! execution row with the given trigger, taken by the `kit-run NAME` that
//! `start` launches (a row whose kit-run never started is taken by the
//! next `kit-run NAME`).

use crate::clock::{self, Instant};
use crate::Result;
use rusqlite::{params, Transaction};

/// Which trigger kind fired (the execution's `trigger` value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Condition,
    Watch,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Condition => "condition",
            Kind::Watch => "watch",
        }
    }
}

/// What firing did.
#[derive(Debug, Clone)]
pub struct Fired {
    /// The execution row recorded for it (None: not run, see `outcome`).
    pub execution_id: Option<i64>,
    /// What happened, in a word, for the probe/watch record.
    pub outcome: String,
    /// A kit-run must be started for it now.
    pub start: bool,
}

/// Records the firing inside the caller's write transaction.
pub fn fire_in(
    tx: &Transaction,
    task: &str,
    kind: Kind,
    data: &serde_json::Value,
    now: Instant,
) -> Result<Fired> {
    let _ = data;
    tx.execute(
        "INSERT INTO supervisor_executions(task, trigger, attempt, created_at, status)
         VALUES (?1, ?2, 1, ?3, 'queued')",
        params![task, kind.as_str(), clock::fmt(now)],
    )?;
    Ok(Fired {
        execution_id: Some(tx.last_insert_rowid()),
        outcome: "queued".into(),
        start: true,
    })
}

/// Starts the detached kit-run that takes a fired run (no-op when
/// `!fired.start`).
pub fn start(db: &std::path::Path, task: &str, fired: &Fired, now: Option<&str>) {
    if !fired.start {
        return;
    }
    if let Err(e) = crate::launch::detached("kit-run", db, &[task], now) {
        eprintln!("cannot start kit-run for {task}: {e}");
    }
}
