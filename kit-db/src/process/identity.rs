//! Process identity: telling whether a pid still names the process we started.
//!
//! Pids are recycled, so a pid stored in the database (kit-keep's daemons,
//! kit-run's running tasks) is only trusted together with the process start
//! time read when the process was spawned. Both kernels expose a start time
//! that never changes for the life of a process and differs for any later
//! process that gets the same pid.

/// An opaque process start time, comparable only with values read on the
/// same boot (see [`boot_id`]).
///
/// Linux: field 22 of `/proc/PID/stat` (clock ticks since boot).
/// macOS: `proc_bsdinfo` start time in microseconds since the epoch.
/// `ProcStart(0)` means "unknown": identity checks then degrade to "alive".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcStart(pub u64);

impl ProcStart {
    /// The value meaning "start time could not be read on this platform".
    pub const UNKNOWN: ProcStart = ProcStart(0);

    pub fn is_known(self) -> bool {
        self.0 != 0
    }

    /// True only when both start times are known and differ: proof that a
    /// pid now names another process.
    pub fn differs_from(self, other: ProcStart) -> bool {
        self.is_known() && other.is_known() && self != other
    }
}

/// What is known about a pid right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcInfo {
    pub start: ProcStart,
    /// Exited but not yet reaped by its parent.
    pub zombie: bool,
}

/// True when some process in group `pgid` is alive; members that have
/// exited but are not reaped yet (zombies) do not count. `killpg(pgid, 0)`
/// counts them, and a zombie whose parent never reaps it (a container
/// whose init does not reap, a parent that ignores its children) would
/// otherwise look like a running group forever.
///
/// Linux scans /proc (a few milliseconds on a busy machine, so callers
/// poll it sparingly); elsewhere this is `killpg(pgid, 0)`.
#[cfg(target_os = "linux")]
pub(crate) fn group_has_live_members(pgid: i32) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return true; // cannot tell: assume alive
    };
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
            return true;
        }
    }
    false
}

#[cfg(target_os = "linux")]
fn task_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

/// The start time of `pid`, or `None` if no such process exists.
///
/// A zombie still has its start time, so this also answers for an exited,
/// unreaped child.
pub fn process_start(pid: i32) -> Option<ProcStart> {
    proc_info(pid).map(|info| info.start)
}

/// True when `pid` is alive (not a zombie, where that can be seen) and is the
/// same process that had start time `start`. When either start time is
/// unknown this degrades to "alive".
pub fn is_same_process(pid: i32, start: ProcStart) -> bool {
    match proc_info(pid) {
        Some(info) => !info.zombie && !info.start.differs_from(start),
        None => false,
    }
}

/// Whether the process a row recorded (pid, start time and boot id, as the
/// DB stores them) is still running. Pids and start times recorded in an
/// earlier boot mean nothing now: such a process is gone.
pub fn recorded_alive(pid: Option<i64>, start: Option<i64>, boot: Option<&str>) -> bool {
    boot == Some(boot_id().as_str())
        && match (pid, start) {
            (Some(p), Some(s)) => is_same_process(p as i32, ProcStart(s as u64)),
            _ => false,
        }
}

/// An identifier of the current boot, to tell whether stored start times
/// (and pids) can still be compared: after a reboot they cannot.
///
/// Linux: `/proc/sys/kernel/random/boot_id`. macOS: `kern.boottime` as
/// `SECONDS.MICROS`. Elsewhere, or on failure: `"unknown"`.
///
/// Read once per process: it cannot change while the process lives, and
/// every kit-run and kit-tick asks for it several times (claim, heartbeat,
/// reconciling lost runs).
pub fn boot_id() -> String {
    static BOOT_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BOOT_ID
        .get_or_init(|| platform_boot_id().unwrap_or_else(|| "unknown".to_string()))
        .clone()
}

/// Whether a pid exists at all, according to `kill(pid, 0)`. EPERM means it
/// exists but belongs to someone else. The fallback where no process table
/// can be read.
#[cfg(not(target_os = "linux"))]
fn pid_exists(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission checks.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || nix::errno::Errno::last() == nix::errno::Errno::EPERM
}

#[cfg(target_os = "linux")]
pub(crate) fn proc_info(pid: i32) -> Option<ProcInfo> {
    if pid <= 0 {
        return None;
    }
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// Parses `/proc/PID/stat`. The command name (field 2) is in parentheses and
/// may itself contain spaces and parentheses, so fields are counted from the
/// last `)`.
#[cfg(target_os = "linux")]
fn parse_stat(stat: &[u8]) -> Option<ProcInfo> {
    parse_stat_pgrp(stat).map(|(info, _)| info)
}

/// [`parse_stat`] plus the process group (field 5).
#[cfg(target_os = "linux")]
fn parse_stat_pgrp(stat: &[u8]) -> Option<(ProcInfo, i32)> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    // Field 3 is the state, 4 ppid, 5 pgrp; starttime is field 22.
    let state = fields.next()?;
    let pgrp: i32 = fields.nth(1)?.parse().ok()?;
    let start: u64 = fields.nth(16)?.parse().ok()?;
    let info = ProcInfo {
        start: ProcStart(start),
        // 'X' (dead) is only ever seen transiently, but it is not alive either.
        zombie: matches!(state, "Z" | "X" | "x"),
    };
    Some((info, pgrp))
}

#[cfg(target_os = "macos")]
pub(crate) fn proc_info(pid: i32) -> Option<ProcInfo> {
    if pid <= 0 {
        return None;
    }
    // SAFETY: proc_bsdinfo is plain old data, so all-zero is a valid value.
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_bsdinfo>() as libc::c_int;
    // SAFETY: the buffer is a proc_bsdinfo of the size passed.
    let n = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTBSDINFO,
            0,
            (&mut info as *mut libc::proc_bsdinfo).cast(),
            size,
        )
    };
    if n == size {
        let micros = info
            .pbi_start_tvsec
            .saturating_mul(1_000_000)
            .saturating_add(info.pbi_start_tvusec);
        return Some(ProcInfo {
            start: ProcStart(micros),
            zombie: info.pbi_status == libc::SZOMB,
        });
    }
    // Sandboxed callers may be refused the info; fall back to existence.
    pid_exists(pid).then_some(ProcInfo {
        start: ProcStart::UNKNOWN,
        zombie: false,
    })
}

/// Other Unix systems: no start time, only existence.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub(crate) fn proc_info(pid: i32) -> Option<ProcInfo> {
    pid_exists(pid).then_some(ProcInfo {
        start: ProcStart::UNKNOWN,
        zombie: false,
    })
}

#[cfg(target_os = "linux")]
fn platform_boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_string())
}

#[cfg(target_os = "macos")]
fn platform_boot_id() -> Option<String> {
    let mut mib = [libc::CTL_KERN, libc::KERN_BOOTTIME];
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = std::mem::size_of::<libc::timeval>();
    // SAFETY: mib has 2 entries, the output buffer is a timeval of size len.
    let rc = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            2,
            (&mut tv as *mut libc::timeval).cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    (rc == 0 && tv.tv_sec > 0).then(|| format!("{}.{:06}", tv.tv_sec, tv.tv_usec))
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn platform_boot_id() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn parses_stat_with_awkward_command_names() {
        let line =
            b"4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10";
        let info = parse_stat(line).unwrap();
        assert_eq!(info.start, ProcStart(987654));
        assert_eq!(parse_stat_pgrp(line).unwrap().1, 4242);
        assert!(!info.zombie);
        let zombie = b"7 (x) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0";
        assert!(parse_stat(zombie).unwrap().zombie);
        assert_eq!(parse_stat(b"7 (x) S 1"), None);
        assert_eq!(parse_stat(b"garbage"), None);
    }

    #[test]
    fn own_process_is_itself() {
        let me = std::process::id() as i32;
        let start = process_start(me).expect("own start time");
        assert!(is_same_process(me, start));
        assert!(!is_same_process(me, ProcStart(start.0.wrapping_add(12345))));
        assert_eq!(process_start(-1), None);
        assert_eq!(process_start(0), None);
    }

    #[test]
    fn boot_id_is_stable() {
        let a = boot_id();
        assert!(!a.is_empty());
        assert_eq!(a, boot_id());
        #[cfg(target_os = "linux")]
        assert_ne!(a, "unknown");
    }
}
