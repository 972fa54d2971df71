//! The one place conditions and file watches fire a task: a thin adapter
//! over the trigger machinery (`crate::triggers`), so the probe runner and
//! kit-keep's watcher share one way in and record the same facts. The
//! trigger row carries the data the command sees (`KIT_EVENT_FILE` /
//! `KIT_EVENT_DATA`), and a burst that finds a run still queued coalesces
//! into it, as every trigger does.

use crate::clock::Instant;
use crate::triggers::{self, NewTrigger, Source};
use crate::Result;
use rusqlite::Transaction;

/// Which trigger kind fired (the execution's `trigger` value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Condition,
    Watch,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        self.source().as_str()
    }
    fn source(self) -> Source {
        match self {
            Kind::Condition => Source::Condition,
            Kind::Watch => Source::Watch,
        }
    }
}

/// What firing did.
#[derive(Debug, Clone)]
pub struct Fired {
    /// The execution that takes it (its own, or the queued one it joined);
    /// None when it started nothing (see `outcome`).
    pub execution_id: Option<i64>,
    /// `supervisor_triggers.outcome`: queued, coalesced, refused, ...
    pub outcome: String,
    inner: triggers::Fired,
}

/// Records the firing inside the caller's write transaction. `data` is what
/// the command sees; it is also the trigger's detail for `why`.
pub fn fire_in(
    tx: &Transaction,
    task: &str,
    kind: Kind,
    data: &serde_json::Value,
    now: Instant,
) -> Result<Fired> {
    let bytes = serde_json::to_vec(data).map_err(|e| crate::Error::invalid(e.to_string()))?;
    // A probe's output or a long path list must not make the trigger fail.
    let bytes = if bytes.len() > triggers::DATA_CAP {
        serde_json::to_vec(&serde_json::json!({ "truncated": true })).unwrap_or_default()
    } else {
        bytes
    };
    let t = NewTrigger {
        task,
        source: kind.source(),
        key: None,
        data: Some(&bytes),
        detail: data.clone(),
    };
    let inner = triggers::fire_in(tx, &t, now)?;
    Ok(Fired {
        execution_id: inner.execution_id,
        outcome: inner.outcome.as_str().to_string(),
        inner,
    })
}

/// Starts the detached kit-run that takes a fired run (no-op when nothing
/// must start now). A failure to start is not lost: kit-tick starts a
/// queued triggered run that nobody started.
pub fn start(db: &std::path::Path, task: &str, fired: &Fired, now: Option<&str>) {
    if let Err(e) = triggers::start(db, task, &fired.inner, now) {
        eprintln!("cannot start kit-run for {task}: {e} (the next kit-tick starts it)");
    }
}
