//! Everything kit asks of the operating system that differs between Linux
//! and macOS, behind one small interface, one file per OS (the way std's
//! `sys/` does it): `linux.rs`, `macos.rs`, and `portable.rs`, plain POSIX
//! that compiles and runs anywhere. The rest of kit calls only what this
//! module exports and holds no `cfg(target_os)` of its own.
//!
//! | mechanism | Linux | macOS | portable |
//! |---|---|---|---|
//! | process identity (pid + start) | `/proc/PID/stat` field 22 | `proc_pidinfo(PROC_PIDTBSDINFO)`, `sysctl KERN_PROC_PID` when refused | `kill(pid, 0)`, start unknown |
//! | boot identity | `/proc/sys/kernel/random/boot_id` | `kern.bootsessionuuid` | none |
//! | exit of a process that is not our child | pidfd | kqueue `EVFILT_PROC` `NOTE_EXIT` | polling |
//! | DB change wake-ups | inotify | kqueue `EVFILT_VNODE` | polling `data_version` |
//! | creating a child | `clone(CLONE_VM)` | fork | fork |
//! | command dies with kit-run | `PR_SET_PDEATHSIG` | none: reconciled by the next tool | none |
//! | orphaned grandchildren | child subreaper | re-parented to launchd; killed by group | same |
//! | inherited fds closed at exec | `close_range` | `fcntl` loop | `fcntl` loop |
//! | live members of a group | `/proc` scan | `proc_listpgrppids` | `killpg(pgid, 0)` |
//! | unrecorded daemons (kit-keep sweep) | `/proc/PID/environ` | `KERN_PROCARGS2` | none |
//! | size of a malloc block | `malloc_usable_size` | `malloc_size` | — |
//! | time slept since boot | `CLOCK_BOOTTIME − CLOCK_MONOTONIC` | `mach_continuous_time − mach_absolute_time` | unknown |
//! | who holds the DB's write lock | `/proc/locks` | not found (said so) | not found |
//!
//! `KIT_PLATFORM=portable` (read once per process) makes the Linux build
//! use the portable mechanism wherever one exists: fork instead of clone,
//! no parent-death signal, no subreaper, no `close_range`, polling for exits
//! and DB writes, and `killpg` alone for a group's liveness. The test suite
//! runs kit-run's and kit-keep's reliability tests that way too, so the
//! logic macOS relies on (no PDEATHSIG, no subreaper, fork) is exercised on
//! every change even without a Mac. Process identity, the boot id and the
//! sweep's process listing stay native: the portable identity knows no
//! start time and the portable sweep finds nothing, and macOS has both.

mod portable;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as native;

#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
use macos as native;

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
use portable as native;

use std::os::fd::OwnedFd;
use std::path::Path;

pub(crate) use native::{malloc_block_size, ChildStack};
pub use native::{
    reserved_by_libc, DbWatch, LimitResource, DEFAULT_PATH, KILLPG_EPERM_FOR_ZOMBIES,
    RLIMIT_AS_ENFORCED, SIGNAL_END, STORE_PRAGMAS,
};

/// What is known about a pid right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcInfo {
    /// Opaque start time, 0 when it cannot be read.
    pub start: u64,
    /// Exited but not yet reaped by its parent.
    pub zombie: bool,
}

/// True when `KIT_PLATFORM=portable` asks for the portable mechanisms.
pub fn portable_forced() -> bool {
    static FORCED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FORCED.get_or_init(|| std::env::var_os("KIT_PLATFORM").is_some_and(|v| v == "portable"))
}

/// The name of the mechanisms in use, for `--version`-style diagnostics
/// and the docs: "linux", "macos", or "portable".
pub fn name() -> &'static str {
    if portable_forced() {
        "portable"
    } else {
        native::NAME
    }
}

/// Start time and zombie state of `pid`; `None` if no such process.
pub(crate) fn proc_info(pid: i32) -> Option<ProcInfo> {
    if pid <= 0 {
        return None;
    }
    native::proc_info(pid)
}

/// The current boot's identifier, if the system has one.
pub(crate) fn boot_id() -> Option<String> {
    native::boot_id()
}

/// Whether group `pgid` has a member that is not a zombie: `Some` where
/// the members can be listed, `None` where only `killpg(pgid, 0)` can tell.
pub(crate) fn group_has_live_member(pgid: i32) -> Option<bool> {
    if portable_forced() {
        return None;
    }
    native::group_has_live_member(pgid)
}

/// A descriptor that becomes readable when `pid` exits, for any process we
/// may signal, child or not. `None` where the platform has none (then
/// callers poll). The caller must check the process's identity *after*
/// this returns, so that a pid reused in between is not watched by mistake.
pub fn exit_watch(pid: i32) -> Option<OwnedFd> {
    if portable_forced() || pid <= 0 {
        return None;
    }
    native::exit_watch(pid)
}

/// Watches the DB at `db` (and its WAL) for writes by other processes.
/// `None` where the platform cannot, or when forced portable: callers then
/// poll `PRAGMA data_version`.
pub fn db_watch(db: &Path) -> Option<DbWatch> {
    if portable_forced() {
        return None;
    }
    DbWatch::new(db)
}

/// Makes this process a child subreaper, so orphaned descendants are
/// re-parented to it. `Ok(false)` where unsupported (macOS: orphans go to
/// launchd, and kit stops them by process group instead).
pub fn set_child_subreaper() -> Result<bool, nix::errno::Errno> {
    if portable_forced() {
        return Ok(false);
    }
    native::set_child_subreaper()
}

/// Every pid on the system whose environment can be read, with that
/// environment (NUL-separated `NAME=value`), for kit-keep's sweep of
/// daemons an earlier kit-keep started but never recorded. Empty where the
/// platform cannot list processes.
/// Stays native when forced portable: macOS has its own (KERN_PROCARGS2).
pub fn process_environments() -> Vec<(i32, Vec<u8>)> {
    native::process_environments()
}

/// Processes holding a write (exclusive) POSIX lock on `path`, where the
/// system can tell (Linux: /proc/locks). SQLite's WAL write lock is such a
/// lock on the `-shm` file, so this names who keeps the DB locked.
pub fn lock_holders(path: &Path) -> Vec<i32> {
    native::lock_holders(path)
}

/// A process's command line (arguments joined by spaces), for messages.
pub fn process_command(pid: i32) -> Option<String> {
    native::process_command(pid).filter(|c| !c.is_empty())
}

/// Time the machine slept since boot (`crate::sleep_clock` wraps it with
/// the `KIT_SLEPT` injection). Native even when forced portable: it is a
/// reading, not a mechanism.
pub(crate) fn slept_since_boot() -> Option<std::time::Duration> {
    native::slept_since_boot()
}

/// Time since boot, sleep included.
pub(crate) fn since_boot() -> Option<std::time::Duration> {
    native::since_boot()
}

/// A pipe with both ends close-on-exec (atomically where the OS can).
pub fn pipe_cloexec() -> Result<(OwnedFd, OwnedFd), nix::errno::Errno> {
    native::pipe_cloexec()
}

/// Starts `entry(arg)` as a child process (SIGCHLD on exit, like fork).
///
/// # Safety
/// See `process::spawn`: `entry` makes only async-signal-safe calls, never
/// returns into the caller's frames, and (with CLONE_VM on Linux) writes
/// only what was set aside for it; the caller blocks signals around this
/// and keeps `arg` alive until the child has exec'd or exited.
pub(crate) unsafe fn start_child(
    entry: extern "C" fn(*mut std::os::raw::c_void) -> std::os::raw::c_int,
    arg: *mut std::os::raw::c_void,
) -> Result<(libc::pid_t, ChildStack), nix::errno::Errno> {
    if portable_forced() {
        return portable::start_child(entry, arg).map(|(pid, _)| (pid, ChildStack::none()));
    }
    native::start_child(entry, arg)
}

/// In the child, before exec: arrange to be killed when the parent dies.
/// Returns false if that failed. Async-signal-safe. `parent` is the pid the
/// child expects as its parent, to close the race with a parent that died
/// first. A no-op where the platform has no such thing.
///
/// # Safety
/// Call only in a freshly created child, before exec.
pub(crate) unsafe fn child_die_with_parent(parent: libc::pid_t, forced: bool) -> bool {
    if forced {
        return true;
    }
    native::child_die_with_parent(parent)
}

/// In the child, before exec: mark every fd from 3 up close-on-exec.
/// Async-signal-safe, best effort.
///
/// # Safety
/// Call only in a freshly created child, before exec.
pub(crate) unsafe fn child_cloexec_from_3(forced: bool) {
    if forced {
        portable::child_cloexec_from_3();
    } else {
        native::child_cloexec_from_3();
    }
}
