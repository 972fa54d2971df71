//! Plain POSIX, for any Unix: what macOS shares with every other system,
//! and what `KIT_PLATFORM=portable` makes the Linux build use so that these
//! paths run in Linux CI too.
// Each OS uses a different subset of these (Linux: the forced fallbacks;
// macOS: fork, the fd loop, the pipe), so unused items are expected.
#![allow(dead_code)]

use super::ProcInfo;
use nix::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::raw::{c_int, c_void};
use std::path::Path;

pub const NAME: &str = "portable";

/// Where a task's PATH is unset: the system directories and the usual
/// local prefix.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/local/sbin:/usr/bin:/bin:/usr/sbin:/sbin";

/// Assume the Linux behaviour: EPERM means another user's member.
pub const KILLPG_EPERM_FOR_ZOMBIES: bool = false;

/// Extra pragmas for every connection (none needed by default).
pub const STORE_PRAGMAS: &str = "";

pub type LimitResource = c_int;

pub const RLIMIT_AS_ENFORCED: bool = true;

/// One past the highest classic signal number.
pub const SIGNAL_END: c_int = 32;

pub fn reserved_by_libc(_sig: c_int) -> bool {
    false
}

/// Nothing to release: fork gives the child its own copy of our stack.
pub struct ChildStack;

impl ChildStack {
    pub fn none() -> ChildStack {
        ChildStack
    }
}

/// Whether a pid exists at all, according to `kill(pid, 0)`. EPERM means it
/// exists but belongs to someone else.
pub fn pid_exists(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission checks.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || Errno::last() == Errno::EPERM
}

/// No start time, only existence.
pub fn proc_info(pid: i32) -> Option<ProcInfo> {
    pid_exists(pid).then_some(ProcInfo {
        start: 0,
        zombie: false,
    })
}

pub fn boot_id() -> Option<String> {
    None
}

pub fn group_has_live_member(_pgid: i32) -> Option<bool> {
    None
}

pub fn exit_watch(_pid: i32) -> Option<OwnedFd> {
    None
}

pub fn set_child_subreaper() -> Result<bool, Errno> {
    Ok(false)
}

pub fn process_environments() -> Vec<(i32, Vec<u8>)> {
    Vec::new()
}

pub fn process_command(_pid: i32) -> Option<String> {
    None
}

/// No portable clock that counts sleep apart from one that does not.
pub fn slept_since_boot() -> Option<std::time::Duration> {
    None
}

pub fn since_boot() -> Option<std::time::Duration> {
    None
}

/// No portable way to list who holds a lock.
pub fn lock_holders(_path: &Path) -> Vec<i32> {
    Vec::new()
}

/// No DB watch: kit-keep polls `PRAGMA data_version`.
pub struct DbWatch(OwnedFd);

impl DbWatch {
    pub fn new(_db: &Path) -> Option<DbWatch> {
        None
    }
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
    pub fn drain(&self) -> bool {
        false
    }
}

/// `pipe` then `FD_CLOEXEC` on each end: not atomic, so a concurrent fork in
/// another thread could briefly inherit the ends (kit forks from one thread).
pub fn pipe_cloexec() -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: fds has room for two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } < 0 {
        return Err(Errno::last());
    }
    // SAFETY: both fds are new and owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    for fd in [&r, &w] {
        // SAFETY: fd is valid.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
            return Err(Errno::last());
        }
    }
    Ok((r, w))
}

/// fork: the child works on its own copy of everything.
///
/// # Safety
/// As `platform::start_child`.
pub unsafe fn start_child(
    entry: extern "C" fn(*mut c_void) -> c_int,
    arg: *mut c_void,
) -> Result<(libc::pid_t, ChildStack), Errno> {
    let pid = libc::fork();
    if pid == 0 {
        entry(arg);
        libc::_exit(127);
    }
    if pid < 0 {
        return Err(Errno::last());
    }
    Ok((pid, ChildStack))
}

/// No parent-death signal here.
pub unsafe fn child_die_with_parent(_parent: libc::pid_t) -> bool {
    true
}

/// Highest fd the loop visits: a soft limit of a million (some containers)
/// would cost a million fcntl calls at every start, and fds that high are
/// not something kit or its libraries open.
const CLOEXEC_SCAN_MAX: c_int = 65_536;

/// `fcntl(FD_CLOEXEC)` on every possible fd from 3 up: async-signal-safe,
/// unlike reading a directory of open fds.
pub unsafe fn child_cloexec_from_3() {
    let max = libc::sysconf(libc::_SC_OPEN_MAX);
    let max = if max <= 0 {
        1024
    } else {
        (max as c_int).min(CLOEXEC_SCAN_MAX)
    };
    for fd in 3..max {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
            libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
        }
    }
}
