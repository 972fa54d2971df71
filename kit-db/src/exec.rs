//! `supervisor_executions`: one row per execution, from claim (or start) to
//! its single terminal state. Every terminal row says why it ended.

use crate::clock::{self, Instant};
use crate::process::{self, ProcStart};
use crate::Result;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

pub const TERMINAL: &[&str] = &[
    "success", "failed", "timeout", "killed", "skipped", "missed", "lost", "error",
];

/// A row of `supervisor_executions`, as the tools and `--json` show it.
#[derive(Debug, Clone, Serialize)]
pub struct Execution {
    pub id: i64,
    pub task: String,
    pub trigger: String,
    pub attempt: i64,
    pub scheduled_for: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub status: String,
    pub exit_code: Option<i64>,
    pub signal: Option<i64>,
    pub duration_ms: Option<i64>,
    pub reason: Option<String>,
    pub pid: Option<i64>,
    pub child_pid: Option<i64>,
    pub output_bytes: Option<i64>,
    pub output_dropped: i64,
    pub retry_of: Option<i64>,
}

pub const COLUMNS: &str = "id, task, trigger, attempt, scheduled_for, created_at, started_at, \
    finished_at, status, exit_code, signal, duration_ms, reason, pid, child_pid, output_bytes, \
    output_dropped, retry_of";

pub fn from_row(r: &Row) -> rusqlite::Result<Execution> {
    Ok(Execution {
        id: r.get(0)?,
        task: r.get(1)?,
        trigger: r.get(2)?,
        attempt: r.get(3)?,
        scheduled_for: r.get(4)?,
        created_at: r.get(5)?,
        started_at: r.get(6)?,
        finished_at: r.get(7)?,
        status: r.get(8)?,
        exit_code: r.get(9)?,
        signal: r.get(10)?,
        duration_ms: r.get(11)?,
        reason: r.get(12)?,
        pid: r.get(13)?,
        child_pid: r.get(14)?,
        output_bytes: r.get(15)?,
        output_dropped: r.get(16)?,
        retry_of: r.get(17)?,
    })
}

pub fn get(conn: &Connection, id: i64) -> Result<Option<Execution>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_executions WHERE id = ?1"
    ))?;
    Ok(stmt.query_row([id], from_row).optional()?)
}

pub fn output(conn: &Connection, id: i64) -> Result<Option<Vec<u8>>> {
    let mut stmt = conn.prepare_cached("SELECT output FROM supervisor_executions WHERE id = ?1")?;
    Ok(stmt
        .query_row([id], |r| r.get::<_, Option<Vec<u8>>>(0))
        .optional()?
        .flatten())
}

/// Claims a slot: inserts a `queued` row unless (task, slot) already has one.
/// Returns the new id, or None if someone else claimed it first.
pub fn claim_slot(
    conn: &Connection,
    task: &str,
    slot: Instant,
    trigger: &str,
    now: Instant,
) -> Result<Option<i64>> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO supervisor_executions(task, trigger, attempt, scheduled_for, created_at, status)
         VALUES (?1, ?2, 1, ?3, ?4, 'queued') ON CONFLICT DO NOTHING",
    )?;
    let n = stmt.execute(params![task, trigger, clock::fmt(slot), clock::fmt(now)])?;
    Ok((n > 0).then(|| conn.last_insert_rowid()))
}

/// Claims `slot` again after the clock went back (cronie runs a job again
/// when the clock passes its time a second time): a new row with the next
/// attempt number, unless the slot already has a row newer than `base_id`
/// (the last execution before the jump), so each pass runs it once.
pub fn claim_slot_again(
    conn: &Connection,
    task: &str,
    slot: Instant,
    trigger: &str,
    now: Instant,
    base_id: i64,
) -> Result<Option<i64>> {
    // An aggregate without GROUP BY yields one row even for no rows, so a
    // slot never claimed gets attempt 1; HAVING drops a slot already run
    // since the jump.
    let mut stmt = conn.prepare_cached(
        "INSERT INTO supervisor_executions(task, trigger, attempt, scheduled_for, created_at, status)
         SELECT ?1, ?2, coalesce(max(attempt), 0) + 1, ?3, ?4, 'queued'
           FROM supervisor_executions WHERE task = ?1 AND scheduled_for = ?3
         HAVING coalesce(max(id), 0) <= ?5
         ON CONFLICT DO NOTHING",
    )?;
    let n = stmt.execute(params![
        task,
        trigger,
        clock::fmt(slot),
        clock::fmt(now),
        base_id
    ])?;
    Ok((n > 0).then(|| conn.last_insert_rowid()))
}

/// Records a slot that will not run, with why. Idempotent per slot.
pub fn record_missed(
    conn: &Connection,
    task: &str,
    slot: Instant,
    reason: &str,
    now: Instant,
) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO supervisor_executions
           (task, trigger, attempt, scheduled_for, created_at, finished_at, status, reason)
         VALUES (?1, 'schedule', 1, ?2, ?3, ?3, 'missed', ?4) ON CONFLICT DO NOTHING",
    )?;
    Ok(stmt.execute(params![task, clock::fmt(slot), clock::fmt(now), reason])? > 0)
}

/// Who is recording an execution: this process, identified so that a later
/// tool can tell whether it is still alive.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub pid: i32,
    pub start: Option<ProcStart>,
    pub boot_id: String,
}

impl Recorder {
    pub fn this_process() -> Recorder {
        let pid = std::process::id() as i32;
        Recorder {
            pid,
            start: process::process_start(pid),
            boot_id: process::boot_id(),
        }
    }
}

/// A row that is `running` from the start (manual, ad hoc, retry, daemon
/// and recovery runs, which no tick claimed).
#[derive(Debug, Clone, Copy)]
pub struct NewRun<'a> {
    pub task: &'a str,
    pub trigger: &'a str,
    pub attempt: i64,
    pub scheduled_for: Option<&'a str>,
    pub retry_of: Option<i64>,
}

impl<'a> NewRun<'a> {
    /// A first attempt that no schedule slot stands behind.
    pub fn first(task: &'a str, trigger: &'a str) -> NewRun<'a> {
        NewRun {
            task,
            trigger,
            attempt: 1,
            scheduled_for: None,
            retry_of: None,
        }
    }
}

/// The child column values: its pid, and its start time when known.
fn child_columns(child: Option<Identified>) -> (Option<i32>, Option<i64>) {
    match child {
        Some((pid, start)) => (Some(pid), start.is_known().then_some(start.0 as i64)),
        None => (None, None),
    }
}

/// Inserts a `running` row recorded by `who`; `child` is the command's
/// process (leader of its group) when it already exists.
pub fn insert_running(
    conn: &Connection,
    run: &NewRun,
    who: &Recorder,
    child: Option<Identified>,
    now: Instant,
) -> Result<i64> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO supervisor_executions
           (task, trigger, attempt, scheduled_for, created_at, started_at, status, pid, pid_start,
            boot_id, retry_of, child_pid, child_start)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, 'running', ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    let (child_pid, child_start) = child_columns(child);
    stmt.execute(params![
        run.task,
        run.trigger,
        run.attempt,
        run.scheduled_for,
        clock::fmt(now),
        who.pid,
        who.start.map(|s| s.0 as i64),
        who.boot_id,
        run.retry_of,
        child_pid,
        child_start
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Moves a queued row to `running`; false if it was no longer queued
/// (another kit-run took it, or kit-heal declared it missed).
pub fn start_queued(
    conn: &Connection,
    id: i64,
    who: &Recorder,
    child: Option<Identified>,
    now: Instant,
) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "UPDATE supervisor_executions SET status = 'running', started_at = ?2, pid = ?3,
           pid_start = ?4, boot_id = ?5, child_pid = ?6, child_start = ?7
         WHERE id = ?1 AND status = 'queued'",
    )?;
    let (child_pid, child_start) = child_columns(child);
    Ok(stmt.execute(params![
        id,
        clock::fmt(now),
        who.pid,
        who.start.map(|s| s.0 as i64),
        who.boot_id,
        child_pid,
        child_start
    ])? > 0)
}

/// The oldest queued row of a task (what `kit-run NAME` picks up). A
/// triggered row is not one: only `kit-run --execution ID` starts it.
pub fn oldest_queued(conn: &Connection, task: &str) -> Result<Option<Execution>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_executions
         WHERE status = 'queued' AND task = ?1 AND trigger NOT IN {} ORDER BY scheduled_for, id LIMIT 1",
        crate::triggers::SOURCES_SQL
    ))?;
    Ok(stmt.query_row([task], from_row).optional()?)
}

/// How an execution ended.
#[derive(Debug, Clone, Default)]
pub struct Finish {
    pub status: &'static str,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    pub output: Option<Vec<u8>>,
    pub output_bytes: Option<u64>,
    pub output_dropped: u64,
    /// Measured with a monotonic clock; when None it is derived from the
    /// timestamps. (With an injected clock the timestamps are synthetic.)
    pub duration_ms: Option<i64>,
}

/// Gives a row its terminal state. Only an open row is changed, so a row
/// that another tool already reconciled keeps its first verdict. A reason
/// already on the row (e.g. "replaced by execution #N") is kept. A `lost`
/// row has no duration: nobody saw it end.
pub fn finish(conn: &Connection, id: i64, f: &Finish, now: Instant) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "UPDATE supervisor_executions SET status = ?2, exit_code = ?3, signal = ?4,
           reason = COALESCE(reason, ?5),
           output = ?6, output_bytes = ?7, output_dropped = ?8, finished_at = ?9,
           duration_ms = CASE WHEN started_at IS NULL OR ?2 = 'lost' THEN NULL
             WHEN ?10 IS NOT NULL THEN ?10
             ELSE CAST(round((julianday(?9) - julianday(started_at)) * 86400000) AS INTEGER) END
         WHERE id = ?1 AND status IN ('queued','running')",
    )?;
    Ok(stmt.execute(params![
        id,
        f.status,
        f.exit_code,
        f.signal,
        f.reason,
        f.output,
        f.output_bytes.map(|b| b as i64),
        f.output_dropped as i64,
        clock::fmt(now),
        f.duration_ms
    ])? > 0)
}

/// An open row whose recording process is gone.
#[derive(Debug, Clone)]
pub struct Orphan {
    pub id: i64,
    pub task: String,
    pub child: Option<(i32, ProcStart)>,
}

/// Finds `running` rows whose recording kit-run is no longer alive (a
/// different boot counts as gone). `task` limits the search. Daemon rows are
/// kit-keep's: a restarted kit-keep adopts them, so they are not orphans here.
pub fn find_orphans(conn: &Connection, task: Option<&str>) -> Result<Vec<Orphan>> {
    // The IN term (implied by the equality) is what lets SQLite use the
    // partial index supervisor_executions_open instead of scanning history.
    let mut stmt = conn.prepare_cached(
        "SELECT id, task, pid, pid_start, boot_id, child_pid, child_start FROM supervisor_executions
         WHERE status IN ('queued','running') AND status = 'running' AND trigger <> 'daemon'
           AND (?1 IS NULL OR task = ?1)",
    )?;
    let boot = process::boot_id();
    let rows = stmt.query_map([task], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<i64>>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<i64>>(5)?,
            r.get::<_, Option<i64>>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, task, pid, pid_start, boot_id, child_pid, child_start) = row?;
        if !process::recorded_alive(pid, pid_start, boot_id.as_deref()) {
            // A child recorded in another boot is long gone (and its pid
            // may be someone else's now).
            let same_boot = boot_id.as_deref() == Some(boot.as_str());
            let child = match (child_pid, child_start, same_boot) {
                (Some(p), Some(s), true) => Some((p as i32, ProcStart(s as u64))),
                _ => None,
            };
            out.push(Orphan { id, task, child });
        }
    }
    Ok(out)
}

/// Reconciles orphaned `running` rows to `lost`, stopping any process group
/// the dead recorder left behind (it would otherwise run unsupervised and
/// unrecorded). Returns the ids it reconciled.
pub fn reconcile_lost(conn: &Connection, task: Option<&str>, now: Instant) -> Result<Vec<i64>> {
    let mut done = Vec::new();
    for o in find_orphans(conn, task)? {
        let mut reason = String::from(
            "the process recording this execution died (killed, crashed or the machine restarted) \
             before it finished",
        );
        if let Some((pid, start)) = o.child {
            // The command led its own group (pgid = its pid). With the
            // recorder gone the leader is usually gone too (PDEATHSIG), but
            // what it started in the background lives on in the group.
            if process::kill_leftovers(pid, start) {
                reason.push_str(&format!("; its leftover process group {pid} was killed"));
            }
        }
        let f = Finish {
            status: "lost",
            reason: Some(reason),
            ..Default::default()
        };
        // The verdict and the chains it starts are one transaction (chains
        // from a lost run are started by kit-tick, which finds them queued).
        let finished = atomically(conn, || {
            let changed = finish(conn, o.id, &f, now)?;
            if changed {
                crate::triggers::chain::after_finish(conn, &o.task, o.id, "lost", now)?;
            }
            Ok(changed)
        })?;
        if finished {
            done.push(o.id);
        }
    }
    Ok(done)
}

/// Runs `f` in a write transaction of its own, unless `conn` is already in
/// one (then it is part of the caller's).
fn atomically<T>(conn: &Connection, f: impl FnOnce() -> Result<T>) -> Result<T> {
    if !conn.is_autocommit() {
        return f();
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match f() {
        Ok(v) => {
            conn.execute_batch("COMMIT")?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Notes why a running execution is about to end (before another tool
/// stops it), so its recorder's verdict carries the explanation.
pub fn set_reason(conn: &Connection, id: i64, reason: &str) -> Result<()> {
    conn.execute(
        "UPDATE supervisor_executions SET reason = ?2 WHERE id = ?1 AND status IN ('queued','running')",
        params![id, reason],
    )?;
    Ok(())
}

/// A process and its start time (to tell it from a later one with the same pid).
pub type Identified = (i32, ProcStart);

/// Running executions of a task, with their process groups.
pub fn running_of(conn: &Connection, task: &str) -> Result<Vec<(i64, Option<Identified>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, child_pid, child_start FROM supervisor_executions
         WHERE status = 'running' AND task = ?1 AND trigger <> 'daemon'",
    )?;
    let rows = stmt.query_map([task], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Option<i64>>(1)?,
            r.get::<_, Option<i64>>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, p, s) = row?;
        out.push((id, p.zip(s).map(|(p, s)| (p as i32, ProcStart(s as u64)))));
    }
    Ok(out)
}
