//! Waiting for a child with an optional deadline, without busy spinning.
//!
//! A pidfd (Linux 5.3+) or a kqueue `NOTE_EXIT` watch (macOS) becomes
//! readable when the child exits, so the wait is a single `poll`
//! (`crate::platform::exit_watch`). Where neither is available (old kernels,
//! seccomp filters, `KIT_PLATFORM=portable`), `waitpid(WNOHANG)` is polled with
//! an exponential backoff from 50 µs to 10 ms: quick children are seen
//! within microseconds and long ones cost at most 100 wake-ups a second.

use std::time::{Duration, Instant};

use nix::errno::Errno;

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitOutcome {
    /// The child exited with this code.
    Exited(i32),
    /// The child was killed by this signal number; `true` if it dumped core.
    Signaled(i32, bool),
    /// The deadline passed first; the child is still running (and unreaped).
    TimedOut,
}

impl WaitOutcome {
    /// The shell-convention status, `None` for [`WaitOutcome::TimedOut`].
    pub fn code(self) -> Option<i32> {
        match self {
            WaitOutcome::Exited(code) => Some(code),
            WaitOutcome::Signaled(sig, _) => Some(128 + sig),
            WaitOutcome::TimedOut => None,
        }
    }
}

/// The Unix shell convention: the exit code, or 128 + the signal number.
///
/// [`WaitOutcome::TimedOut`] maps to 124, the code `timeout(1)` uses, so a
/// tool can report a time-out with the status users already know.
pub fn exit_status_code(outcome: WaitOutcome) -> i32 {
    outcome.code().unwrap_or(124)
}

/// Decodes a raw `waitpid` status; `None` for stop/continue reports.
pub(crate) fn decode_status(status: libc::c_int) -> Option<WaitOutcome> {
    if libc::WIFEXITED(status) {
        Some(WaitOutcome::Exited(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(WaitOutcome::Signaled(
            libc::WTERMSIG(status),
            libc::WCOREDUMP(status),
        ))
    } else {
        None
    }
}

/// `waitpid(pid, flags)` retried on EINTR: `Ok(None)` when nothing was
/// reaped (WNOHANG), otherwise the pid reaped and its outcome.
pub(crate) fn waitpid_raw(
    pid: i32,
    flags: libc::c_int,
) -> Result<Option<(i32, Option<WaitOutcome>)>, Errno> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: status is a valid out-pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, flags) };
        match rc {
            -1 if Errno::last() == Errno::EINTR => continue,
            -1 => return Err(Errno::last()),
            0 => return Ok(None),
            reaped => return Ok(Some((reaped, decode_status(status)))),
        }
    }
}

/// Reaps `pid` if it has finished; `Ok(None)` while it runs.
/// `Err(ECHILD)` if it is not our child (or was already reaped elsewhere).
pub fn try_wait(pid: i32) -> Result<Option<WaitOutcome>, Errno> {
    if pid <= 0 {
        // waitpid would treat these as "any child" or a process group.
        return Err(Errno::EINVAL);
    }
    Ok(waitpid_raw(pid, libc::WNOHANG)?.and_then(|(_, outcome)| outcome))
}

/// Waits for child `pid` to finish, up to `deadline` (`None`: forever), and
/// reaps it. On [`WaitOutcome::TimedOut`] the child is left running.
pub fn wait_child(pid: i32, deadline: Option<Instant>) -> Result<WaitOutcome, Errno> {
    if let Some(outcome) = try_wait(pid)? {
        return Ok(outcome);
    }
    let Some(deadline) = deadline else {
        return wait_blocking(pid);
    };
    if let Some(outcome) = wait_exit_watch(pid, deadline)? {
        return Ok(outcome);
    }
    wait_polling(pid, deadline)
}

fn wait_blocking(pid: i32) -> Result<WaitOutcome, Errno> {
    loop {
        // Without WUNTRACED only exits are reported, but loop defensively.
        if let Some((_, Some(outcome))) = waitpid_raw(pid, 0)? {
            return Ok(outcome);
        }
    }
}

/// `Ok(None)`: no exit watch here (or it was refused), use the polling
/// fallback.
fn wait_exit_watch(pid: i32, deadline: Instant) -> Result<Option<WaitOutcome>, Errno> {
    use std::os::fd::AsRawFd;

    let Some(watch) = crate::platform::exit_watch(pid) else {
        // Refused, or the pid is gone already: waitpid says what happened.
        return try_wait(pid);
    };
    loop {
        let mut pfd = libc::pollfd {
            fd: watch.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let timeout = poll_timeout_ms(deadline.saturating_duration_since(Instant::now()));
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout) };
        if rc < 0 && Errno::last() != Errno::EINTR {
            return Ok(None);
        }
        if let Some(outcome) = try_wait(pid)? {
            return Ok(Some(outcome));
        }
        if Instant::now() >= deadline {
            return Ok(Some(WaitOutcome::TimedOut));
        }
    }
}

/// The portable fallback: `waitpid(WNOHANG)` with exponential backoff.
pub(crate) fn wait_polling(pid: i32, deadline: Instant) -> Result<WaitOutcome, Errno> {
    let mut backoff = Duration::from_micros(50);
    loop {
        if let Some(outcome) = try_wait(pid)? {
            return Ok(outcome);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(WaitOutcome::TimedOut);
        }
        std::thread::sleep(backoff.min(deadline - now));
        backoff = (backoff * 2).min(Duration::from_millis(10));
    }
}

/// A poll(2) timeout in whole milliseconds, rounded up so that a wait never
/// wakes just before the deadline and spins.
pub(crate) fn poll_timeout_ms(d: Duration) -> libc::c_int {
    let ms = d.as_nanos().div_ceil(1_000_000);
    libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_codes() {
        assert_eq!(exit_status_code(WaitOutcome::Exited(0)), 0);
        assert_eq!(exit_status_code(WaitOutcome::Exited(3)), 3);
        assert_eq!(exit_status_code(WaitOutcome::Signaled(9, false)), 137);
        assert_eq!(exit_status_code(WaitOutcome::Signaled(15, true)), 143);
        assert_eq!(exit_status_code(WaitOutcome::TimedOut), 124);
        assert_eq!(WaitOutcome::TimedOut.code(), None);
    }

    #[test]
    fn timeouts_round_up() {
        assert_eq!(poll_timeout_ms(Duration::ZERO), 0);
        assert_eq!(poll_timeout_ms(Duration::from_micros(1)), 1);
        assert_eq!(poll_timeout_ms(Duration::from_millis(7)), 7);
        assert_eq!(poll_timeout_ms(Duration::from_secs(u64::MAX)), i32::MAX);
    }

    #[test]
    fn rejects_wildcard_pids() {
        assert_eq!(try_wait(0), Err(Errno::EINVAL));
        assert_eq!(try_wait(-1), Err(Errno::EINVAL));
        assert_eq!(wait_child(-5, None), Err(Errno::EINVAL));
    }
}
