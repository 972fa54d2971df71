//! Signalling and stopping a whole process group.
//!
//! Children spawned with `new_session` lead their own process group, so the
//! task and everything it started (pipelines, `cmd &` grandchildren) can be
//! stopped together, even processes that ignore SIGTERM.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::Signal;

use super::identity::{proc_info, ProcStart};
use super::wait::{waitpid_raw, WaitOutcome};

/// Refuses process group ids that would hit something other than one
/// group: `killpg(0)` is our own group and `killpg(1)` is `kill(-1)`, every
/// process we may signal; our own group would signal ourselves.
fn check_pgid(pgid: i32) -> Result<(), Errno> {
    // SAFETY: getpgrp has no preconditions.
    if pgid <= 1 || pgid == unsafe { libc::getpgrp() } {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Sends `sig` to every process in group `pgid`. `Ok(false)` if the group
/// no longer exists. `Err(EINVAL)` for pgid <= 1 or the caller's own group.
pub fn signal_group(pgid: i32, sig: Signal) -> Result<bool, Errno> {
    check_pgid(pgid)?;
    send(pgid, sig as libc::c_int)
}

fn send(pgid: i32, sig: libc::c_int) -> Result<bool, Errno> {
    // SAFETY: plain syscall on a checked pgid.
    if unsafe { libc::killpg(pgid, sig) } == 0 {
        return Ok(true);
    }
    match Errno::last() {
        Errno::ESRCH => Ok(false),
        // XNU's killpg skips zombies and answers EPERM when only zombies
        // are left: nothing there can be signalled, so the group is gone.
        Errno::EPERM
            if crate::platform::KILLPG_EPERM_FOR_ZOMBIES
                && crate::platform::group_has_live_member(pgid) == Some(false) =>
        {
            Ok(false)
        }
        e => Err(e),
    }
}

/// Whether any process (on Linux zombies included: the kernel counts them
/// until they are reaped; XNU's killpg skips them) is still in group `pgid`.
pub fn group_alive(pgid: i32) -> bool {
    if check_pgid(pgid).is_err() {
        return false;
    }
    // EPERM: members exist but belong to another user.
    !matches!(send(pgid, 0), Ok(false))
}

/// Like [`group_alive`], but members that have exited and wait to be
/// reaped (zombies) do not count: true only while some member can still
/// run. Linux scans /proc for this (milliseconds, so poll it sparingly),
/// macOS lists the group (`crate::platform`); elsewhere it is [`group_alive`].
pub fn group_has_live_members(pgid: i32) -> bool {
    if check_pgid(pgid).is_err() {
        return false;
    }
    match send(pgid, 0) {
        Ok(false) => false,
        // EPERM: a member of another user's, which /proc may hide from us.
        Err(_) => true,
        Ok(true) => crate::platform::group_has_live_member(pgid).unwrap_or(true),
    }
}

/// SIGKILLs what is left of the process group a recorded leader led
/// (`pgid` = the leader's pid, `start` its start time) once the leader is
/// gone: a killed shell wrapper leaves its children running in the group.
/// The kernel hands out no pid still in use as a group id, so a group that
/// still has members is that leader's; only a pid now naming another
/// process means it is not (then nothing is signalled). True if live
/// members were killed.
pub fn kill_leftovers(pgid: i32, start: ProcStart) -> bool {
    let ours = super::identity::process_start(pgid).is_none_or(|s| !s.differs_from(start));
    ours && group_has_live_members(pgid) && signal_group(pgid, Signal::SIGKILL).unwrap_or(false)
}

/// How [`terminate_group`] goes about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terminate {
    /// Sent to the whole group first (SIGTERM unless configured).
    pub first: Signal,
    /// How long the group has to exit after `first` before SIGKILL.
    pub grace: Duration,
    /// How long to wait for the group to vanish after SIGKILL. Bounded
    /// because processes in uninterruptible sleep, or zombies whose parent
    /// never reaps them, can outlive SIGKILL indefinitely.
    pub kill_wait: Duration,
    /// Reap members of the group that are our children (the leader, and
    /// orphaned grandchildren when we are a child subreaper) with
    /// `waitpid(-pgid, WNOHANG)`: unreaped zombies keep a group "alive".
    /// Turn off if another thread owns reaping.
    pub reap: bool,
}

impl Default for Terminate {
    fn default() -> Self {
        Terminate {
            first: Signal::SIGTERM,
            grace: Duration::from_secs(10),
            kill_wait: Duration::from_secs(5),
            reap: true,
        }
    }
}

/// What [`terminate_group`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Termination {
    /// SIGKILL was needed (or was `first`).
    pub killed: bool,
    /// No member of the group can run any more (zombies that another
    /// parent has yet to reap may remain). False only if the group
    /// outlived `kill_wait`.
    pub gone: bool,
    /// The leader's pid now belongs to a different process (pid reuse):
    /// the group is not ours and nothing was signalled.
    pub stale: bool,
    /// The leader's exit status, if we reaped it.
    pub leader_status: Option<WaitOutcome>,
}

/// Stops process group `pgid`: `opts.first` to the group (followed by
/// SIGCONT so stopped members can act on it), up to `opts.grace` for it to
/// vanish, then SIGKILL and up to `opts.kill_wait` more.
///
/// `leader` is the group leader's pid and start time (pid == pgid for a
/// child spawned with `new_session`): if that pid is now another process,
/// the group id was recycled and nothing is signalled.
///
/// Blocks the calling thread; the group is polled with `killpg(pgid, 0)`
/// with a backoff from 0.5 ms to 16 ms. Once the backoff is at its cap the
/// zombie-aware [`group_has_live_members`] is consulted too, so members
/// that exited but that nobody reaps do not hold the caller for the whole
/// grace period.
pub fn terminate_group(
    pgid: i32,
    leader: Option<(i32, ProcStart)>,
    opts: &Terminate,
) -> Result<Termination, Errno> {
    check_pgid(pgid)?;
    let mut state = Termination::default();
    if let Some((pid, start)) = leader {
        if pid == pgid {
            if let Some(info) = proc_info(pid) {
                if info.start.differs_from(start) {
                    state.stale = true;
                    state.gone = true;
                    return Ok(state);
                }
            }
        }
    }
    let leader_pid = leader.map(|(pid, _)| pid);

    reap(pgid, leader_pid, opts, &mut state);
    if !group_alive(pgid) {
        state.gone = true;
        return Ok(state);
    }

    let first = opts.first as libc::c_int;
    if !send(pgid, first)? {
        state.gone = true;
        return Ok(state);
    }
    if first == libc::SIGKILL {
        state.killed = true;
    } else {
        if first != libc::SIGCONT {
            // Ignore failure: the group may have exited in between.
            let _ = send(pgid, libc::SIGCONT);
        }
        if wait_gone(pgid, leader_pid, opts, opts.grace, &mut state) {
            state.gone = true;
            return Ok(state);
        }
        state.killed = send(pgid, libc::SIGKILL)?;
        if !state.killed {
            state.gone = true;
            return Ok(state);
        }
    }
    state.gone = wait_gone(pgid, leader_pid, opts, opts.kill_wait, &mut state);
    Ok(state)
}

const MAX_BACKOFF: Duration = Duration::from_millis(16);

/// Polls until the group is gone (true) or `limit` has passed (false).
fn wait_gone(
    pgid: i32,
    leader: Option<i32>,
    opts: &Terminate,
    limit: Duration,
    state: &mut Termination,
) -> bool {
    let deadline = Instant::now() + limit;
    let mut backoff = Duration::from_micros(500);
    loop {
        reap(pgid, leader, opts, state);
        if !group_alive(pgid) {
            return true;
        }
        let slow_poll = backoff >= MAX_BACKOFF;
        if slow_poll && !group_has_live_members(pgid) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(backoff.min(deadline - now));
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Reaps whatever of the group has exited and is our child, remembering
/// the leader's status. Statuses of other members are of no use to anyone
/// (their parent is gone) and are discarded.
fn reap(pgid: i32, leader: Option<i32>, opts: &Terminate, state: &mut Termination) {
    if !opts.reap {
        return;
    }
    // Bounded: a group cannot have more zombies than this in practice, and
    // the loop must not spin if waitpid misbehaves.
    for _ in 0..10_000 {
        match waitpid_raw(-pgid, libc::WNOHANG) {
            Ok(Some((pid, outcome))) => {
                if Some(pid) == leader {
                    state.leader_status = outcome;
                }
            }
            _ => break,
        }
    }
    // The leader may have left the group (setpgid) yet still be our child.
    if let (Some(pid), None) = (leader, state.leader_status) {
        if let Ok(Some((_, outcome))) = waitpid_raw(pid, libc::WNOHANG) {
            state.leader_status = outcome;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_dangerous_group_ids() {
        // SAFETY: getpgrp has no preconditions.
        let own = unsafe { libc::getpgrp() };
        for pgid in [-5, 0, 1, own] {
            assert_eq!(signal_group(pgid, Signal::SIGTERM), Err(Errno::EINVAL));
            assert!(!group_alive(pgid));
            assert_eq!(
                terminate_group(pgid, None, &Terminate::default()),
                Err(Errno::EINVAL)
            );
        }
    }

    #[test]
    fn missing_group() {
        // Pids above pid_max (4194304 at most on Linux, 99999 on macOS)
        // are never allocated.
        let pgid = 0x7fff_fff0;
        assert!(!group_alive(pgid));
        assert_eq!(signal_group(pgid, Signal::SIGTERM), Ok(false));
        let t = terminate_group(pgid, None, &Terminate::default()).unwrap();
        assert!(t.gone && !t.killed && !t.stale);
    }
}
