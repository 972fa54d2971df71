//! A daemon's log file, `$KIT_HOME/logs/NAME.log`.
//!
//! The daemon writes to it *directly*: its stdout and stderr are the file
//! itself, opened O_APPEND, not a pipe through kit-keep. So nothing is lost
//! and nobody blocks when kit-keep is killed and restarted, which a pipe
//! could not survive (the writer would get SIGPIPE, or block once the pipe
//! filled). The price is how rotation works: kit-keep cannot make a running
//! daemon reopen its file, so it rotates by copy-then-truncate (logrotate's
//! `copytruncate`): generations shift (`.1` → `.2` …), the current file is
//! copied to `.1` and truncated to zero, and the daemon's next O_APPEND
//! write lands at the new end. Bytes written between the end of the copy
//! and the truncate (microseconds) are lost; the disk use is bounded by
//! `log_max_size` × `log_files` plus what a daemon writes between two checks
//! (logs are checked every second while one of them grows, every 4 seconds
//! while all are quiet: one fstat per daemon).

use kit_db::daemon::logs::{self, MARKER};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// How much of the log an exit record keeps: the last lines, at most this
/// many bytes and lines.
pub const TAIL_BYTES: u64 = 4096;
pub const TAIL_LINES: usize = 20;

#[derive(Debug)]
pub struct DaemonLog {
    pub task: String,
    pub path: PathBuf,
    /// kit-keep's own handle (O_APPEND): for its marker lines, fstat, and
    /// the truncate of a rotation. None if the file cannot be opened.
    file: Option<File>,
    /// Size at the last check, and whether it grew since the one before.
    last_size: u64,
    pub grew: bool,
}

fn open_append(path: &std::path::Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

impl DaemonLog {
    pub fn open(task: &str) -> (DaemonLog, Option<String>) {
        let path = logs::path(task);
        let opened = kit_db::paths::home_subdir("logs")
            .map_err(|e| e.to_string())
            .and_then(|_| open_append(&path).map_err(|e| format!("{}: {e}", path.display())));
        let (file, err) = match opened {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(e)),
        };
        (
            DaemonLog {
                task: task.to_string(),
                path,
                file,
                last_size: 0,
                grew: false,
            },
            err,
        )
    }

    /// A handle for the child's stdout+stderr (the same open file
    /// description, so it shares O_APPEND); /dev/null if the log is
    /// unavailable.
    pub fn child_output(&mut self) -> kit_db::process::Output {
        self.reopen_if_gone();
        match self.file.as_ref().and_then(|f| f.try_clone().ok()) {
            Some(f) => kit_db::process::Output::File(f),
            None => kit_db::process::Output::Null,
        }
    }

    /// A person deleted or moved the log: start a new one for what comes
    /// next (a running daemon keeps writing where its fd points until it
    /// is restarted).
    fn reopen_if_gone(&mut self) {
        if self.file.is_none() || !self.path.exists() {
            let _ = kit_db::paths::home_subdir("logs");
            self.file = open_append(&self.path).ok();
        }
    }

    pub fn size(&self) -> Option<u64> {
        self.file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.len())
    }

    /// Appends one of kit-keep's own lines; returns the file size after it.
    pub fn note(&mut self, at: &str, text: &str) -> Option<u64> {
        self.reopen_if_gone();
        let f = self.file.as_mut()?;
        let line = format!("{MARKER}{at} {text}\n");
        let _ = f.write_all(line.as_bytes());
        f.metadata().ok().map(|m| m.len())
    }

    /// Rotates when the current file is larger than `max`. Returns true if
    /// it rotated.
    pub fn rotate_if_needed(&mut self, max: u64, files: u32) -> std::io::Result<bool> {
        let size = self.size().unwrap_or(0);
        self.grew = size != self.last_size;
        self.last_size = size;
        if size <= max {
            return Ok(false);
        }
        self.last_size = 0;
        let Some(file) = self.file.as_ref() else {
            return Ok(false);
        };
        let task = self.task.clone();
        // Generations beyond the configured count (e.g. after log_files was
        // lowered) are removed, the oldest kept one is dropped, the others
        // shift up by one.
        for g in files.max(1)..100 {
            let p = logs::rotated(&task, g);
            if !p.exists() {
                break;
            }
            let _ = std::fs::remove_file(p);
        }
        if files > 1 {
            for g in (1..files - 1).rev() {
                let from = logs::rotated(&task, g);
                if from.exists() {
                    std::fs::rename(&from, logs::rotated(&task, g + 1))?;
                }
            }
            let mut src = File::open(&self.path)?;
            let mut dst = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(logs::rotated(&task, 1))?;
            std::io::copy(&mut src, &mut dst)?;
        }
        file.set_len(0)?;
        Ok(true)
    }

    /// The last lines the current process wrote: from `from` (the size right
    /// after its start marker) when known, else after the last start marker
    /// in the tail; at most TAIL_BYTES and TAIL_LINES.
    pub fn tail(&self, from: Option<u64>) -> Vec<u8> {
        let Ok(mut f) = File::open(&self.path) else {
            return Vec::new();
        };
        let size = f.metadata().map_or(0, |m| m.len());
        let floor = size.saturating_sub(TAIL_BYTES);
        // A rotation since the start makes `from` meaningless.
        let start = match from {
            Some(off) if off <= size => off.max(floor),
            _ => floor,
        };
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(start)).is_err()
            || f.take(size - start).read_to_end(&mut buf).is_err()
        {
            return Vec::new();
        }
        let mut text: &[u8] = &buf;
        if start == floor && start > 0 && from.is_none_or(|o| o < floor) {
            // Began mid-line: drop the partial first line.
            if let Some(nl) = text.iter().position(|&b| b == b'\n') {
                text = &text[nl + 1..];
            }
        }
        if from.is_none() {
            text = after_last_start_marker(text);
        }
        last_lines(text, TAIL_LINES).to_vec()
    }
}

/// The text after the last "[kit-keep] … starting" line, or all of it.
fn after_last_start_marker(text: &[u8]) -> &[u8] {
    let mut cut = 0;
    let mut pos = 0;
    for line in text.split_inclusive(|&b| b == b'\n') {
        pos += line.len();
        if line.starts_with(MARKER.as_bytes())
            && String::from_utf8_lossy(line).contains(" starting")
        {
            cut = pos;
        }
    }
    &text[cut..]
}

fn last_lines(text: &[u8], n: usize) -> &[u8] {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut count = 0;
    for (i, &b) in body.iter().enumerate().rev() {
        if b == b'\n' {
            count += 1;
            if count == n {
                return &text[i + 1..];
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(last_lines(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(last_lines(b"a\n", 5), b"a\n");
        assert_eq!(last_lines(b"", 5), b"");
    }

    #[test]
    fn cuts_after_the_last_start_marker() {
        let t = b"old\n[kit-keep] T starting: x\nnew 1\nnew 2\n";
        assert_eq!(after_last_start_marker(t), b"new 1\nnew 2\n");
        assert_eq!(after_last_start_marker(b"plain\n"), b"plain\n");
    }
}
