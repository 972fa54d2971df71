//! Wake on DB writes with kqueue `EVFILT_VNODE`, macOS's inotify: one
//! kqueue watching the DB file, its WAL, and the directory (SQLite deletes
//! the WAL when the last connection closes and creates it anew, which only
//! the directory sees; the WAL is then watched again). The event only says
//! "look": `PRAGMA data_version` tells whether another process committed.
//! kit-keep's periodic tick stays as the safety net.

use std::cell::RefCell;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub struct DbWatch {
    kq: OwnedFd,
    wal: PathBuf,
    /// The watched files; closing one removes its registration.
    files: RefCell<Vec<OwnedFd>>,
}

const FILE_EVENTS: u32 = libc::NOTE_WRITE
    | libc::NOTE_EXTEND
    | libc::NOTE_ATTRIB
    | libc::NOTE_DELETE
    | libc::NOTE_RENAME;

impl DbWatch {
    pub fn new(db: &Path) -> Option<DbWatch> {
        let dir = db.parent().filter(|d| !d.as_os_str().is_empty())?;
        let mut wal = db.as_os_str().to_os_string();
        wal.push("-wal");
        // SAFETY: plain syscall.
        let kq = unsafe { libc::kqueue() };
        if kq < 0 {
            return None;
        }
        // SAFETY: a new fd owned by nobody else.
        let kq = unsafe { OwnedFd::from_raw_fd(kq) };
        // SAFETY: valid fd.
        unsafe { libc::fcntl(kq.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
        let w = DbWatch {
            kq,
            wal: PathBuf::from(wal),
            files: RefCell::new(Vec::new()),
        };
        // The directory must be watched, or a recreated WAL goes unseen.
        let d = w.watch(dir, libc::NOTE_WRITE)?;
        w.files.borrow_mut().push(d);
        if let Some(f) = w.watch(db, FILE_EVENTS) {
            w.files.borrow_mut().push(f);
        }
        w.rewatch_wal();
        Some(w)
    }

    pub fn fd(&self) -> RawFd {
        self.kq.as_raw_fd()
    }

    /// Reads every pending event; true if there was one. Any event on the
    /// directory may mean a new WAL, so the WAL is watched again.
    pub fn drain(&self) -> bool {
        let mut hit = false;
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        loop {
            // SAFETY: kevent is plain old data.
            let mut events: [libc::kevent; 16] = unsafe { std::mem::zeroed() };
            // SAFETY: no changes, an event buffer of 16, zero timeout.
            let n = unsafe {
                libc::kevent(
                    self.kq.as_raw_fd(),
                    std::ptr::null(),
                    0,
                    events.as_mut_ptr(),
                    events.len() as libc::c_int,
                    &zero,
                )
            };
            if n <= 0 {
                break;
            }
            hit = true;
        }
        if hit {
            self.rewatch_wal();
        }
        hit
    }

    /// Watches the current WAL file (dropping the watch of an old one).
    fn rewatch_wal(&self) {
        let mut files = self.files.borrow_mut();
        files.truncate(2);
        if let Some(f) = self.watch(&self.wal, FILE_EVENTS) {
            files.push(f);
        }
    }

    fn watch(&self, path: &Path, fflags: u32) -> Option<OwnedFd> {
        let c = CString::new(path.as_os_str().as_bytes()).ok()?;
        // O_EVTONLY: watch without keeping the volume busy.
        // SAFETY: valid C string.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_EVTONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: a new fd owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let change = libc::kevent {
            ident: fd.as_raw_fd() as libc::uintptr_t,
            filter: libc::EVFILT_VNODE,
            flags: libc::EV_ADD | libc::EV_CLEAR,
            fflags,
            data: 0,
            udata: std::ptr::null_mut(),
        };
        // SAFETY: one change, no event buffer.
        let rc = unsafe {
            libc::kevent(
                self.kq.as_raw_fd(),
                &change,
                1,
                std::ptr::null_mut(),
                0,
                std::ptr::null(),
            )
        };
        (rc == 0).then_some(fd)
    }
}
