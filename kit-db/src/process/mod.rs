//! Process helpers shared by kit-run (one-shot tasks) and kit-keep (daemon
//! supervisor): spawning with synchronous exec errors, process identity
//! across pid reuse, waiting with deadlines, stopping process groups, and
//! capped output capture.
//!
//! What differs between Linux and macOS (pidfd or kqueue, clone or fork,
//! PR_SET_PDEATHSIG, the subreaper, /proc or libproc) is in
//! `crate::platform`; this module holds none of it. Nothing here panics or installs signal
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

pub use crate::platform::set_child_subreaper;
