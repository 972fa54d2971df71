//! One kit-keep per DB: an exclusive flock on `DB.keep.lock` beside the DB,
//! held for the life of the process. The kernel drops it when the process
//! dies however it dies (kill -9 included), so a restarted kit-keep never
//! waits for a stale lock; the fd is close-on-exec, so daemons never
//! inherit (and keep) it.

use anyhow::{bail, Context};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub struct InstanceLock {
    _file: File,
    pub path: PathBuf,
}

pub fn path_for(db: &Path) -> PathBuf {
    let mut name = db
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "kit.db".into());
    name.push(".keep.lock");
    db.with_file_name(name)
}

/// Takes the lock or explains who holds it.
pub fn acquire(db: &Path) -> anyhow::Result<InstanceLock> {
    let path = path_for(db);
    if let Some(dir) = path.parent() {
        kit_db::paths::ensure_private_dir(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("{}: cannot open the lock file", path.display()))?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let who = match holder.trim().parse::<u32>() {
                Ok(pid) => format!(" (pid {pid})"),
                Err(_) => String::new(),
            };
            bail!(
                "another kit-keep{who} is already running for {} (it holds {}); \
                 stop it first, or point this one at another database with --db",
                db.display(),
                path.display()
            );
        }
        return Err(err).with_context(|| format!("{}: cannot lock", path.display()));
    }
    // Note who holds it, for the message above (informative only).
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = writeln!(file, "{}", std::process::id());
    Ok(InstanceLock { _file: file, path })
}
