//! Where daemon output lives: `$KIT_HOME/logs/NAME.log`, written directly
//! by the daemon (O_APPEND), and up to `log_files - 1` older generations
//! `NAME.log.1` (newest) … `NAME.log.N` (oldest), rotated by kit-keep when
//! the current file passes `log_max_size`. `kit-ctl logs` reads them in
//! [`files`] order. Lines starting with [`MARKER`] are kit-keep's own notes
//! (a daemon started or exited).

use crate::paths;
use std::path::{Path, PathBuf};

/// Prefix of the lines kit-keep writes into a daemon's log.
pub const MARKER: &str = "[kit-keep] ";

/// `$KIT_HOME/logs`.
pub fn dir() -> PathBuf {
    paths::kit_home().join("logs")
}

/// The current log of daemon `task`.
pub fn path(task: &str) -> PathBuf {
    dir().join(format!("{task}.log"))
}

/// Generation `n` (1 = the most recent rotated file).
pub fn rotated(task: &str, n: u32) -> PathBuf {
    dir().join(format!("{task}.log.{n}"))
}

/// The existing log files of `task`, oldest first, ending with the current
/// one: concatenated they are the daemon's output in order.
pub fn files(task: &str) -> Vec<PathBuf> {
    files_in(&dir(), task)
}

/// [`files`] in the logs directory `dir`.
pub fn files_in(dir: &Path, task: &str) -> Vec<PathBuf> {
    let gen = |n: u32| dir.join(format!("{task}.log.{n}"));
    let mut out = Vec::new();
    // Generations are contiguous from 1; 100 is the most `log_files` allows.
    let mut n = 1;
    while n < 100 && gen(n).is_file() {
        n += 1;
    }
    for g in (1..n).rev() {
        out.push(gen(g));
    }
    let cur = dir.join(format!("{task}.log"));
    if cur.is_file() {
        out.push(cur);
    }
    out
}
