//! Wake on DB writes instead of polling for them. An inotify watch on
//! the DB's directory reports writes to the DB and its WAL, so a request or
//! a task change made by another tool is seen within milliseconds and an
//! idle kit-keep need not look at the DB twice a second. The event only
//! says "look": `PRAGMA data_version` then tells whether another process
//! committed (our own writes do not change it). When inotify is unavailable,
//! kit-keep polls `data_version` every half second.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

pub struct DbWatch {
    fd: OwnedFd,
    /// The DB file and its WAL, by name within the watched directory.
    names: [OsString; 2],
}

impl DbWatch {
    pub fn new(db: &Path) -> Option<DbWatch> {
        use std::ffi::CString;
        use std::os::fd::FromRawFd;
        use std::os::unix::ffi::OsStrExt;
        let dir = db.parent().filter(|d| !d.as_os_str().is_empty())?;
        let file = db.file_name()?.to_os_string();
        let mut wal = file.clone();
        wal.push("-wal");
        // SAFETY: plain syscall; the fd is ours.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return None;
        }
        // SAFETY: raw is a new fd owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let c = CString::new(dir.as_os_str().as_bytes()).ok()?;
        let mask = libc::IN_MODIFY | libc::IN_CLOSE_WRITE | libc::IN_CREATE | libc::IN_MOVED_TO;
        // SAFETY: valid fd and C string.
        if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), mask) } < 0 {
            return None;
        }
        Some(DbWatch {
            fd,
            names: [file, wal],
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads every pending event; true if one concerned the DB.
    pub fn drain(&self) -> bool {
        let mut hit = false;
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: buf is a valid buffer of its length.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return hit;
            }
            hit |= self.parse(&buf[..n as usize]);
        }
    }

    /// Walks `struct inotify_event` records: wd, mask, cookie, len (4 bytes
    /// each), then `len` bytes of NUL-padded name.
    fn parse(&self, mut b: &[u8]) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let mut hit = false;
        while b.len() >= 16 {
            let len = u32::from_ne_bytes([b[12], b[13], b[14], b[15]]) as usize;
            let Some(raw) = b.get(16..16 + len) else {
                break;
            };
            let name = raw.split(|&c| c == 0).next().unwrap_or_default();
            let name = std::ffi::OsStr::from_bytes(name);
            // Queue overflow (no name) also means "look".
            hit |= name.is_empty() || self.names.iter().any(|n| n == name);
            b = &b[16 + len..];
        }
        hit
    }
}
