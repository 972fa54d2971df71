//! Linux: /proc, pidfd, inotify, clone(CLONE_VM), prctl, close_range.

use super::ProcInfo;
use nix::errno::Errno;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::raw::{c_int, c_void};

mod clone;
mod dbwatch;
mod sleep;

pub use clone::{start_child, ChildStack};
pub use dbwatch::DbWatch;
pub use sleep::{since_boot, slept_since_boot};

pub const NAME: &str = "linux";

pub const DEFAULT_PATH: &str = super::portable::DEFAULT_PATH;

/// killpg answers ESRCH, not EPERM, for a group with only zombies (which
/// it still counts as members).
pub const KILLPG_EPERM_FOR_ZOMBIES: bool = false;

pub const STORE_PRAGMAS: &str = "";

pub const RLIMIT_AS_ENFORCED: bool = true;

/// One past the highest signal number (real-time signals included).
pub const SIGNAL_END: c_int = 65;

/// Signal numbers the C library keeps for itself: its signal() refuses them
/// with EINVAL, which would set the errno the child shares with the parent.
pub fn reserved_by_libc(sig: c_int) -> bool {
    if cfg!(target_env = "musl") {
        (32..=34).contains(&sig)
    } else {
        (32..=33).contains(&sig)
    }
}

#[cfg(target_env = "gnu")]
pub type LimitResource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
pub type LimitResource = c_int;

pub fn proc_info(pid: i32) -> Option<ProcInfo> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// Parses `/proc/PID/stat`. The command name (field 2) is in parentheses and
/// may itself contain spaces and parentheses, so fields are counted from the
/// last `)`.
fn parse_stat(stat: &[u8]) -> Option<ProcInfo> {
    parse_stat_pgrp(stat).map(|(info, _)| info)
}

/// [`parse_stat`] plus the process group (field 5).
fn parse_stat_pgrp(stat: &[u8]) -> Option<(ProcInfo, i32)> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    // Field 3 is the state, 4 ppid, 5 pgrp; starttime is field 22.
    let state = fields.next()?;
    let pgrp: i32 = fields.nth(1)?.parse().ok()?;
    let start: u64 = fields.nth(16)?.parse().ok()?;
    let info = ProcInfo {
        start,
        // 'X' (dead) is only ever seen transiently, but it is not alive either.
        zombie: matches!(state, "Z" | "X" | "x"),
    };
    Some((info, pgrp))
}

pub fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// Scans /proc (a few milliseconds on a busy machine, so callers poll it
/// sparingly). `None` if /proc cannot be read.
pub fn group_has_live_member(pgid: i32) -> Option<bool> {
    let dir = std::fs::read_dir("/proc").ok()?;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read(format!("/proc/{pid}/stat")) else {
            continue; // exited while we looked
        };
        let Some((info, pgrp)) = parse_stat_pgrp(&stat) else {
            continue;
        };
        if pgrp != pgid {
            continue;
        }
        // A "zombie" main thread with other threads still running is a live
        // process (its leader called pthread_exit): it has more tasks.
        if !info.zombie || task_count(pid) > 1 {
            return Some(true);
        }
    }
    Some(false)
}

fn task_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

/// A pidfd (Linux 5.3+): readable once the process has exited.
pub fn exit_watch(pid: i32) -> Option<OwnedFd> {
    // SAFETY: plain syscall; pidfds are always created close-on-exec.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a new fd owned by nobody else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as c_int) })
}

pub fn set_child_subreaper() -> Result<bool, Errno> {
    // SAFETY: plain prctl with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
    if rc < 0 {
        return Err(Errno::last());
    }
    Ok(true)
}

/// Every readable /proc/PID/environ.
pub fn process_environments() -> Vec<(i32, Vec<u8>)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, std::fs::read(format!("/proc/{pid}/environ")).ok()?)))
        .collect()
}

/// /proc/locks lines: `1: POSIX  ADVISORY  WRITE 1234 08:01:5678 120 120`
/// (id, class, mode, type, pid, major:minor:inode, start, end).
pub fn lock_holders(path: &std::path::Path) -> Vec<i32> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Vec::new();
    };
    let Ok(locks) = std::fs::read_to_string("/proc/locks") else {
        return Vec::new();
    };
    let ino = meta.ino().to_string();
    let mut pids: Vec<i32> = locks
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // A blocked waiter's line starts with "->": not a holder.
            if f.len() < 6 || f[1].starts_with("->") || f[3] != "WRITE" {
                return None;
            }
            let same_file = f[5].rsplit(':').next() == Some(ino.as_str());
            same_file.then(|| f[4].parse().ok()).flatten()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

pub fn process_command(pid: i32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let words: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    Some(words.join(" "))
}

/// pipe2 sets CLOEXEC atomically.
pub fn pipe_cloexec() -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: fds has room for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(Errno::last());
    }
    // SAFETY: both fds are new and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// PR_SET_PDEATHSIG: the command is SIGKILLed when kit-run dies.
pub unsafe fn child_die_with_parent(parent: libc::pid_t) -> bool {
    let sig = libc::SIGKILL as libc::c_ulong;
    if libc::prctl(libc::PR_SET_PDEATHSIG, sig, 0, 0, 0) < 0 {
        return false;
    }
    // The parent may have died before prctl: then nobody would ever
    // deliver the signal, so act as if it had been delivered.
    if libc::getppid() != parent {
        libc::_exit(127);
    }
    true
}

/// close_range needs Linux 5.11; the library's own fds are CLOEXEC anyway.
pub unsafe fn child_cloexec_from_3() {
    libc::syscall(
        libc::SYS_close_range,
        3 as libc::c_uint,
        libc::c_uint::MAX,
        libc::CLOSE_RANGE_CLOEXEC,
    );
}

/// # Safety
/// `p` is a live block from this process's malloc.
pub unsafe fn malloc_block_size(p: *mut c_void) -> usize {
    libc::malloc_usable_size(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_command_names() {
        let line =
            b"4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10";
        let info = parse_stat(line).unwrap();
        assert_eq!(info.start, 987654);
        assert_eq!(parse_stat_pgrp(line).unwrap().1, 4242);
        assert!(!info.zombie);
        let zombie = b"7 (x) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0";
        assert!(parse_stat(zombie).unwrap().zombie);
        assert_eq!(parse_stat(b"7 (x) S 1"), None);
        assert_eq!(parse_stat(b"garbage"), None);
    }
}
