//! The per-task lock behind `overlap`. An flock is released by the kernel
//! when its holder dies, so a crashed kit-run can never leave it stale.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

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
pub fn lock(
    db: &Path,
    task: &str,
    within: std::time::Duration,
) -> anyhow::Result<Option<TaskLock>> {
    let deadline = std::time::Instant::now() + within;
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        if let Some(l) = try_lock(db, task)? {
            return Ok(Some(l));
        }
        if std::time::Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(50));
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
