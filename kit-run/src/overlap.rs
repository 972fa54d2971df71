//! The per-task lock behind `overlap`. An flock is released by the kernel
//! when its holder dies, so a crashed kit-run can never leave it stale.

use anyhow::Context;
use kit_db::exec::{self, Finish, NewRun, Recorder};
use kit_db::process::{self, Terminate};
use kit_db::task::Task;
use kit_db::{clock, Store};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Lock files live beside the DB they belong to (`<db dir>/locks/NAME.lock`),
/// so two kit installations on one machine never block each other.
pub fn lock_path(db: &Path, task: &str) -> PathBuf {
    let dir = db.parent().unwrap_or(Path::new(".")).join("locks");
    dir.join(format!("{task}.lock"))
}

pub struct TaskLock {
    _file: File,
}

/// Tries to take the task's lock without waiting; Ok(None) if it is held.
pub fn try_lock(db: &Path, task: &str) -> anyhow::Result<Option<TaskLock>> {
    let file = open(db, task)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(TaskLock { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(anyhow::anyhow!("locking task {task:?}: {e}")),
    }
}

/// Waits for the lock (after `replace` stopped the previous run).
pub fn lock(db: &Path, task: &str, within: Duration) -> anyhow::Result<Option<TaskLock>> {
    let deadline = std::time::Instant::now() + within;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(l) = try_lock(db, task)? {
            return Ok(Some(l));
        }
        if std::time::Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

fn open(db: &Path, task: &str) -> anyhow::Result<File> {
    let path = lock_path(db, task);
    if let Some(dir) = path.parent() {
        kit_db::paths::ensure_private_dir(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("opening lock file {}: {e}", path.display()))
}

/// Explains which run holds the task.
pub fn still_running(conn: &rusqlite::Connection, name: &str) -> anyhow::Result<String> {
    let running = exec::running_of(conn, name)?;
    Ok(match running.first() {
        Some((id, Some((pid, _)))) => format!(
            "overlap = skip and the previous run (execution #{id}, pid {pid}) is still running"
        ),
        Some((id, None)) => {
            format!("overlap = skip and the previous run (execution #{id}) is still running")
        }
        None => {
            "overlap = skip and a previous run of this task (retrying or starting) holds its lock"
                .into()
        }
    })
}

/// Records a run that did not start (on the claimed row, else a new one).
pub fn record_skip(
    store: &Store,
    name: &str,
    queued: Option<i64>,
    trigger: &str,
    why: &str,
    now: clock::Instant,
) -> anyhow::Result<()> {
    let who = Recorder::this_process();
    store.write(|tx| {
        let id = match queued {
            Some(id) => id,
            None => exec::insert_running(tx, &NewRun::first(name, trigger), &who, None, now)?,
        };
        exec::finish(tx, id, &skipped(why), now)?;
        Ok(())
    })?;
    Ok(())
}

pub fn skipped(reason: &str) -> Finish {
    Finish {
        status: "skipped",
        reason: Some(reason.to_string()),
        exit_code: None,
        ..Default::default()
    }
}

/// overlap = replace: stop the running execution's process group (its
/// kit-run records it `killed`, with the reason set here), then take the lock.
pub fn replace_running(store: &Store, task: &Task) -> anyhow::Result<TaskLock> {
    if let Some(l) = try_lock(store.path(), &task.name)? {
        return Ok(l);
    }
    for (id, child) in exec::running_of(&store.conn, &task.name)? {
        exec::set_reason(
            &store.conn,
            id,
            "replaced by a newer run (overlap = replace)",
        )?;
        if let Some((pid, start)) = child {
            let _ = process::terminate_group(
                pid,
                Some((pid, start)),
                &Terminate {
                    grace: task.kill_grace(),
                    reap: false,
                    ..Terminate::default()
                },
            );
        }
    }
    lock(
        store.path(),
        &task.name,
        task.kill_grace() + Duration::from_secs(10),
    )?
    .with_context(|| {
        format!(
            "the previous run of {:?} did not stop; not starting a second one",
            task.name
        )
    })
}
