//! Process helpers shared by kit-run (one-shot tasks) and kit-keep (daemon
//! supervisor): spawning with synchronous exec errors, process identity
//! across pid reuse, waiting with deadlines, stopping process groups, and
//! capped output capture.
//!
//! Portable to Linux and macOS; Linux-only facilities (pidfd, close_range,
//! PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER, /proc) have fallbacks or are
//! documented no-ops elsewhere. Nothing here panics or installs signal
//! handlers: SIGCHLD handling stays the caller's business.
//!
//! A typical one-shot run:
//!
//! ```no_run
//! # use kit_db::process::*;
//! # use std::time::{Duration, Instant};
//! let mut spec = SpawnSpec::new(["sh", "-c", "echo hi"]);
//! spec.env = std::env::vars_os().collect();
//! spec.output = Output::Pipe;
//! spec.new_session = true;
//! let child = spawn(&spec)?;
//! let deadline = Instant::now() + Duration::from_secs(60);
//! let mut out = CapBuffer::new(1 << 20);
//! let pipe = child.output.as_ref().expect("Output::Pipe gives a pipe");
//! if read_with_deadline(pipe, &mut out, Some(deadline))? == ReadStatus::TimedOut {
//!     terminate_group(child.pid, Some((child.pid, child.start)), &Terminate::default())?;
//! }
//! let outcome = wait_child(child.pid, Some(deadline))?;
//! let code = exit_status_code(outcome);
//! # let _ = (code, out.finish());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod capture;
mod clone;
mod group;
mod identity;
mod spawn;
mod wait;

#[cfg(test)]
mod tests;

pub use capture::{
    read_capped, read_with_deadline, set_nonblocking, CapBuffer, Captured, ReadStatus, Sink,
};
pub use group::{
    group_alive, group_has_live_members, kill_leftovers, signal_group, terminate_group, Terminate,
    Termination,
};
pub use identity::{boot_id, is_same_process, process_start, recorded_alive, ProcStart};
pub use nix::errno::Errno;
pub use nix::sys::signal::Signal;
pub use spawn::{spawn, spawn_recorded, Child, GateEnv, Limits, Output, SpawnError, SpawnSpec};
pub use wait::{exit_status_code, try_wait, wait_child, WaitOutcome};

/// Makes this process a child subreaper (Linux): orphaned descendants are
/// re-parented to us instead of init, so a supervisor can see, reap and
/// stop daemons that double-fork. Returns `Ok(false)` where unsupported
/// (macOS and other systems), where orphans go to launchd/init as usual.
pub fn set_child_subreaper() -> Result<bool, Errno> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain prctl with integer arguments.
        let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
        if rc < 0 {
            return Err(Errno::last());
        }
        Ok(true)
    }
    #[cfg(not(target_os = "linux"))]
    Ok(false)
}
