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
/// macOS: `p_start` in microseconds since the epoch (`crate::platform`).
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

pub(crate) fn proc_info(pid: i32) -> Option<ProcInfo> {
    crate::platform::proc_info(pid).map(|i| ProcInfo {
        start: ProcStart(i.start),
        zombie: i.zombie,
    })
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
/// Linux: `/proc/sys/kernel/random/boot_id`. macOS: `kern.bootsessionuuid`.
/// Elsewhere, or on failure: `"unknown"` (see `crate::platform`).
///
/// Read once per process: it cannot change while the process lives, and
/// every kit-run and kit-tick asks for it several times (claim, heartbeat,
/// reconciling lost runs).
pub fn boot_id() -> String {
    static BOOT_ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BOOT_ID
        .get_or_init(|| crate::platform::boot_id().unwrap_or_else(|| "unknown".to_string()))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // Linux and macOS both have a real one.
        assert_ne!(a, "unknown");
    }
}
