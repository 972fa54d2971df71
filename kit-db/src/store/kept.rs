//! The DB file's descriptors that kit opens itself (to check the header, to
//! create the file) are never closed.
//!
//! POSIX record locks belong to a process and a file, not to a descriptor:
//! closing *any* descriptor of the DB file drops every lock the process
//! holds on it, including the SHARED lock each SQLite connection keeps on
//! the file in WAL mode. A process with several connections (kit-ctl
//! serve's workers, each opening the DB lazily) lost them whenever one more
//! was opened; another program's last connection closing (`sqlite3 kit.db
//! ...`) then deleted the WAL under it, and serve's writes failed with
//! "disk I/O error" while its reads went stale. One descriptor per path,
//! kept for the life of the process, costs one file descriptor.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

static KEPT: Mutex<Vec<(PathBuf, File)>> = Mutex::new(Vec::new());

/// This process's read-write descriptor of `path`, opened (with `open`) the
/// first time and never closed; `f` runs on it.
pub fn with<T>(
    path: &Path,
    open: impl FnOnce() -> io::Result<File>,
    f: impl FnOnce(&File) -> T,
) -> io::Result<T> {
    let mut kept = KEPT.lock().unwrap_or_else(|p| p.into_inner());
    // The same file still: a DB removed and made again is another inode
    // (the old descriptor stays open, for the connections still on it).
    let now = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    let same = |file: &File| file.metadata().ok().map(|m| (m.dev(), m.ino())) == now;
    if let Some((_, file)) = kept.iter().find(|(p, file)| p == path && same(file)) {
        return Ok(f(file));
    }
    let file = open()?;
    let out = f(&file);
    kept.push((path.to_path_buf(), file));
    Ok(out)
}

/// The first `N` bytes of the file (fewer when it is shorter), read without
/// moving or closing anything.
pub fn head<const N: usize>(file: &File) -> ([u8; N], usize) {
    let mut buf = [0u8; N];
    let mut n = 0;
    while n < N {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    (buf, n)
}
