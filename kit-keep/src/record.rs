//! Everything kit-keep writes to the DB goes through this queue, flushed in
//! one transaction per loop turn, *after* the processes are started: a
//! restart never waits for the DB. If the DB cannot be written (locked for
//! long, disk full, read-only) the records wait here and are retried every
//! second, reported on stderr, while the daemons keep running.

use crate::log::Log;
use kit_db::clock::{self, Instant as Wall};
use kit_db::daemon::{self, DaemonState};
use kit_db::events::{self, NewEvent, Severity};
use kit_db::exec::{self, Finish};
use kit_db::process::ProcStart;
use kit_db::Store;
use rusqlite::params;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long one flush may wait for the write lock before giving up until
/// the next retry (on top of the connection's busy timeout).
pub const WRITE_WAIT: Duration = Duration::from_millis(200);
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(100);
const RETRY_EVERY: Duration = Duration::from_secs(1);
const REPORT_EVERY: Duration = Duration::from_secs(60);
/// Records kept while the DB is unwritable; the oldest are dropped past it.
const MAX_QUEUE: usize = 50_000;

#[derive(Debug)]
pub enum Op {
    /// A daemon process started: a `running` execution row.
    Start {
        run: u64,
        task: String,
        pid: i32,
        start: ProcStart,
        at: Wall,
    },
    /// It ended: the row's terminal state.
    Finish {
        run: u64,
        task: String,
        finish: Finish,
        at: Wall,
    },
    /// A start that failed: one `error` row.
    Error {
        task: String,
        finish: Finish,
        at: Wall,
    },
    /// An adopted process's row now names this kit-keep as its recorder.
    Adopt {
        id: i64,
    },
    /// A daemon row nobody will finish (its process ended unseen).
    Lost {
        id: i64,
        reason: String,
        at: Wall,
    },
    Event(OwnedEvent),
    Request {
        id: i64,
        result: String,
        at: Wall,
    },
    RemoveDaemon(String),
    Kv {
        key: String,
        value: Option<String>,
        at: Wall,
    },
    Beat {
        at: Wall,
        info: serde_json::Value,
    },
}

#[derive(Debug)]
pub struct OwnedEvent {
    pub kind: &'static str,
    pub severity: Severity,
    pub task: String,
    pub message: String,
    pub detail: Option<serde_json::Value>,
    pub dedupe_key: String,
    pub notify: bool,
    pub at: Wall,
}

/// Gives the current `supervisor_daemons` row of a task (None: no longer
/// managed), resolving run keys to execution ids with the lookup passed.
pub type Snapshot<'a> = &'a dyn Fn(&str, &dyn Fn(u64) -> Option<i64>) -> Option<DaemonState>;

pub struct Recorder {
    who: exec::Recorder,
    queue: VecDeque<Op>,
    ids: HashMap<u64, i64>,
    next_run: u64,
    dirty: BTreeSet<String>,
    failing_since: Option<Instant>,
    next_try: Option<Instant>,
    last_report: Option<Instant>,
}

fn transient(e: &kit_db::Error) -> bool {
    use rusqlite::ErrorCode::*;
    match e {
        kit_db::Error::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => matches!(
            f.code,
            DatabaseBusy
                | DatabaseLocked
                | DiskFull
                | ReadOnly
                | SystemIoFailure
                | CannotOpen
                | PermissionDenied
                | OutOfMemory
                | FileLockingProtocolFailed
        ),
        kit_db::Error::Sqlite(_) => false,
        kit_db::Error::Path { .. } => true,
        _ => false,
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            who: exec::Recorder::this_process(),
            queue: VecDeque::new(),
            ids: HashMap::new(),
            next_run: 1,
            dirty: BTreeSet::new(),
            failing_since: None,
            next_try: None,
            last_report: None,
        }
    }

    /// A key for a new run's execution row.
    pub fn new_run(&mut self) -> u64 {
        self.next_run += 1;
        self.next_run
    }

    /// Ties a run key to an existing row (adoption).
    pub fn known_run(&mut self, run: u64, id: i64) {
        self.ids.insert(run, id);
    }

    pub fn exec_id(&self, run: u64) -> Option<i64> {
        self.ids.get(&run).copied()
    }

    pub fn push(&mut self, op: Op) {
        if self.queue.len() >= MAX_QUEUE {
            self.queue.pop_front();
        }
        self.queue.push_back(op);
    }

    /// The daemon's row must be rewritten at the next flush.
    pub fn touch(&mut self, task: &str) {
        self.dirty.insert(task.to_string());
    }

    pub fn pending(&self) -> bool {
        !self.queue.is_empty() || !self.dirty.is_empty()
    }

    pub fn failing(&self) -> bool {
        self.failing_since.is_some()
    }

    /// When the next retry after a failed flush is due.
    pub fn retry_at(&self) -> Option<Instant> {
        if self.pending() {
            self.next_try
        } else {
            None
        }
    }

    /// Writes everything queued in one transaction. `snapshot` gives the
    /// current row of a dirty daemon (None: no longer managed), resolving
    /// run keys with the id lookup it is handed. Returns false if the DB
    /// could not be written (all is kept for the next try).
    pub fn flush(&mut self, store: &Store, log: &Log, force: bool, snapshot: Snapshot) -> bool {
        if !self.pending() {
            return true;
        }
        if !force && self.next_try.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        let ops: Vec<&Op> = self.queue.iter().collect();
        let dirty: Vec<String> = self.dirty.iter().cloned().collect();
        let committed = &self.ids;
        let who = &self.who;
        let result = store.write_for(WRITE_WAIT, |tx| {
            let mut new_ids: HashMap<u64, i64> = HashMap::new();
            let mut dropped: Vec<String> = Vec::new();
            for op in &ops {
                let lookup = |run: &u64| committed.get(run).or_else(|| new_ids.get(run)).copied();
                match apply(tx, op, who, &lookup) {
                    Ok(Some((run, id))) => {
                        new_ids.insert(run, id);
                    }
                    Ok(None) => {}
                    Err(e) if transient(&e) => return Err(e),
                    Err(e) => dropped.push(format!("{op:?}: {e}")),
                }
            }
            for task in &dirty {
                let lookup = |run: u64| committed.get(&run).or_else(|| new_ids.get(&run)).copied();
                if let Some(row) = snapshot(task, &lookup) {
                    if let Err(e) = daemon::state::save(tx, &row) {
                        if transient(&e) {
                            return Err(e);
                        }
                        dropped.push(format!("daemon row {task}: {e}"));
                    }
                }
            }
            Ok((new_ids, dropped))
        });
        match result {
            Ok((new_ids, dropped)) => {
                for d in dropped {
                    log.error(
                        "db",
                        None,
                        &format!("a record could not be written and was dropped: {d}"),
                    );
                }
                for (run, id) in new_ids {
                    self.ids.insert(run, id);
                }
                // Finished runs need no id any more.
                for op in &self.queue {
                    if let Op::Finish { run, .. } = op {
                        self.ids.remove(run);
                    }
                }
                let n = self.queue.len();
                self.queue.clear();
                self.dirty.clear();
                if let Some(since) = self.failing_since.take() {
                    log.info(
                        "db",
                        None,
                        &format!(
                            "the database is writable again after {}; {n} waiting records written",
                            crate::clock::human(since.elapsed())
                        ),
                    );
                }
                self.next_try = None;
                true
            }
            Err(e) => {
                let now = Instant::now();
                if self.failing_since.is_none() {
                    self.failing_since = Some(now);
                }
                if self
                    .last_report
                    .is_none_or(|t| now.duration_since(t) >= REPORT_EVERY)
                {
                    self.last_report = Some(now);
                    log.error(
                        "db",
                        None,
                        &format!(
                            "cannot write to the database ({e}); {} records wait, retrying every second; \
                             the daemons keep running",
                            self.queue.len() + self.dirty.len()
                        ),
                    );
                }
                self.next_try = Some(now + RETRY_EVERY);
                false
            }
        }
    }
}

/// Applies one op; returns a (run, id) pair for a new execution row.
fn apply(
    tx: &rusqlite::Transaction,
    op: &Op,
    who: &exec::Recorder,
    lookup: &dyn Fn(&u64) -> Option<i64>,
) -> kit_db::Result<Option<(u64, i64)>> {
    match op {
        Op::Start {
            run,
            task,
            pid,
            start,
            at,
        } => {
            let daemon = exec::NewRun::first(task, "daemon");
            let id = exec::insert_running(tx, &daemon, who, Some((*pid, *start)), *at)?;
            Ok(Some((*run, id)))
        }
        Op::Finish {
            run,
            task,
            finish,
            at,
        } => match lookup(run) {
            Some(id) => {
                exec::finish(tx, id, finish, *at)?;
                Ok(None)
            }
            None => Err(kit_db::Error::invalid(format!(
                "no execution row for a run of {task} (its start was not recorded)"
            ))),
        },
        Op::Error { task, finish, at } => {
            let daemon = exec::NewRun::first(task, "daemon");
            let id = exec::insert_running(tx, &daemon, who, None, *at)?;
            exec::finish(tx, id, finish, *at)?;
            Ok(None)
        }
        Op::Adopt { id } => {
            tx.execute(
                "UPDATE supervisor_executions SET pid = ?2, pid_start = ?3 WHERE id = ?1",
                params![id, who.pid, who.start.map(|s| s.0 as i64)],
            )?;
            Ok(None)
        }
        Op::Lost { id, reason, at } => {
            let f = Finish {
                status: "lost",
                reason: Some(reason.clone()),
                ..Default::default()
            };
            exec::finish(tx, *id, &f, *at)?;
            Ok(None)
        }
        Op::Event(ev) => {
            let new = NewEvent {
                kind: ev.kind,
                severity: ev.severity,
                task: Some(&ev.task),
                message: ev.message.clone(),
                detail: ev.detail.clone(),
                dedupe_key: Some(ev.dedupe_key.clone()),
                notify: ev.notify,
            };
            events::record(tx, &new, ev.at)?;
            Ok(None)
        }
        Op::Request { id, result, at } => {
            daemon::requests::complete(tx, *id, result, *at)?;
            Ok(None)
        }
        Op::RemoveDaemon(task) => {
            daemon::state::remove(tx, task)?;
            Ok(None)
        }
        Op::Kv { key, value, at } => {
            match value {
                Some(v) => kit_db::state::set(tx, key, v, *at)?,
                None => kit_db::state::remove(tx, key)?,
            }
            Ok(None)
        }
        Op::Beat { at, info } => {
            kit_db::state::beat(tx, "kit-keep", *at, Some(info))?;
            Ok(None)
        }
    }
}

pub fn fmt(t: Wall) -> String {
    clock::fmt(t)
}
