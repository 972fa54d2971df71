//! Delivering the outbox to `[settings] notify`.
//!
//! Each due event is claimed with a lease (so concurrent kit-heals never
//! send the same event), given to the command as JSON on stdin with
//! KIT_EVENT, KIT_TASK, KIT_SEVERITY (and KIT_EVENT_ID, KIT_MESSAGE) in the
//! environment, and marked delivered when the command exits 0. A command
//! that fails or outlives `notify_timeout` (its whole process group is then
//! killed) leaves the event pending with an exponential backoff; the run
//! stops at the first failure, so a dead notifier costs at most one attempt
//! (one timeout) per kit-heal run, and nothing is lost.

use crate::report::{Line, Printer};
use kit_db::clock::{self, Instant};
use kit_db::outbox::{self, Event};
use kit_db::process::{self, CapBuffer, ReadStatus, Terminate, WaitOutcome};
use kit_db::settings::Settings;
use kit_db::units::Dur;
use kit_db::Store;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// At most this many deliveries per run, so a huge backlog never keeps one
/// kit-heal busy for long; the next run goes on.
const MAX_PER_RUN: usize = 200;
/// First retry after a failed attempt; doubles per attempt up to MAX_BACKOFF.
const FIRST_BACKOFF: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
pub const NO_NOTIFY: &str = "not sent: no notify command is configured ([settings] notify)";

/// The delay before the next attempt of an event that failed `attempts` times.
pub fn backoff(attempts: i64) -> Duration {
    let factor = 2u32.saturating_pow(attempts.clamp(1, 30) as u32 - 1);
    FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

/// Delivers what is due at `now`, printing a line per attempt.
pub fn deliver(
    store: &Store,
    settings: &Settings,
    now: Instant,
    printer: &Printer,
) -> anyhow::Result<()> {
    let Some(cmd) = settings.notify.clone() else {
        let unsent = store.write(|tx| outbox::mark_unsent(tx, now, NO_NOTIFY))?;
        for ev in unsent {
            printer.print(&line(&ev, "unsent", None, None))?;
        }
        return Ok(());
    };
    let timeout = settings.notify_timeout();
    let lease_until =
        now + chrono::Duration::from_std(timeout + Duration::from_secs(60)).unwrap_or_default();
    for _ in 0..MAX_PER_RUN {
        let Some(ev) = store.write(|tx| outbox::claim_next(tx, now, lease_until))? else {
            break;
        };
        match run_command(&cmd, &ev, timeout) {
            Ok(()) => {
                store.write(|tx| outbox::mark_delivered(tx, ev.id, now))?;
                printer.print(&line(&ev, "delivered", None, None))?;
            }
            Err(e) => {
                let attempts = ev.attempts + 1;
                let next = now + chrono::Duration::from_std(backoff(attempts)).unwrap_or_default();
                store.write(|tx| outbox::mark_retry(tx, ev.id, &e, next))?;
                printer.print(&line(&ev, "failed", Some(e), Some(clock::fmt(next))))?;
                break;
            }
        }
    }
    Ok(())
}

pub fn line(ev: &Event, result: &str, error: Option<String>, next: Option<String>) -> Line {
    Line::Notify {
        event: ev.id,
        kind: ev.kind.clone(),
        task: ev.task.clone(),
        result: result.to_string(),
        attempt: ev.attempts + 1,
        error,
        next_attempt_at: next,
    }
}

/// The JSON the notify command reads on stdin.
pub fn payload(ev: &Event) -> serde_json::Value {
    let host = nix::unistd::gethostname()
        .ok()
        .map(|h| h.to_string_lossy().into_owned());
    serde_json::json!({
        "id": ev.id,
        "kind": ev.kind,
        "severity": ev.severity,
        "task": ev.task,
        "message": ev.message,
        "detail": ev.detail,
        "created_at": ev.created_at,
        "attempt": ev.attempts + 1,
        "host": host,
    })
}

/// Runs the notify command for one event: Ok when it exits 0.
pub fn run_command(cmd: &str, ev: &Event, timeout: Duration) -> Result<(), String> {
    let body = format!("{}\n", payload(ev));
    let (rd, wr) = cloexec_pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
    let wr2 = wr
        .try_clone()
        .map_err(|e| format!("cannot create a pipe: {e}"))?;
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(cmd)
        .env("KIT_EVENT", &ev.kind)
        .env("KIT_TASK", ev.task.as_deref().unwrap_or(""))
        .env("KIT_SEVERITY", &ev.severity)
        .env("KIT_EVENT_ID", ev.id.to_string())
        .env("KIT_MESSAGE", &ev.message)
        .stdin(Stdio::piped())
        .stdout(Stdio::from(wr))
        .stderr(Stdio::from(wr2))
        // Its own process group, so a time-out kills everything it started.
        .process_group(0);
    let home = kit_db::paths::kit_home();
    if home.is_dir() {
        command.current_dir(home);
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run the notify command: {e}"))?;
    // The Command holds our copies of the pipe's write end: drop them, or
    // the read below never sees end-of-file.
    drop(command);
    let pid = child.id() as i32;
    let start = process::process_start(pid).unwrap_or(process::ProcStart::UNKNOWN);
    if let Some(mut stdin) = child.stdin.take() {
        // A thread, so a command that never reads stdin cannot block us; it
        // ends when the command exits (EPIPE) or is killed.
        std::thread::spawn(move || {
            let _ = stdin.write_all(body.as_bytes());
        });
    }
    let out = File::from(rd);
    let mut buf = CapBuffer::new(2048);
    let deadline = std::time::Instant::now() + timeout;
    let mut eof = false;
    let outcome = loop {
        if eof {
            // Everything that could write has closed the pipe: just wait.
            break process::wait_child(pid, Some(deadline)).unwrap_or(WaitOutcome::TimedOut);
        }
        let slice = (std::time::Instant::now() + Duration::from_millis(50)).min(deadline);
        match process::read_with_deadline(&out, &mut buf, Some(slice)) {
            Ok(ReadStatus::Eof) | Err(_) => eof = true,
            Ok(ReadStatus::TimedOut) => {}
        }
        if let Ok(Some(o)) = process::try_wait(pid) {
            // Exited; a background child may keep the pipe open, so only
            // take what is already there.
            let _ = process::read_with_deadline(
                &out,
                &mut buf,
                Some(std::time::Instant::now() + Duration::from_millis(20)),
            );
            break o;
        }
        if std::time::Instant::now() >= deadline {
            break WaitOutcome::TimedOut;
        }
    };
    let output = String::from_utf8_lossy(&buf.finish().bytes).into_owned();
    let said = output
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", l.trim().chars().take(200).collect::<String>()))
        .unwrap_or_default();
    match outcome {
        WaitOutcome::Exited(0) => Ok(()),
        WaitOutcome::Exited(code) => Err(format!(
            "the notify command exited with status {code}{said}"
        )),
        WaitOutcome::Signaled(sig, _) => Err(format!(
            "the notify command was killed by signal {sig}{said}"
        )),
        WaitOutcome::TimedOut => {
            let _ = process::terminate_group(
                pid,
                Some((pid, start)),
                &Terminate {
                    grace: Duration::from_secs(1),
                    kill_wait: Duration::from_secs(2),
                    ..Terminate::default()
                },
            );
            Err(format!(
                "the notify command did not finish within notify_timeout = {} (its process group was killed){said}",
                Dur(timeout)
            ))
        }
    }
}

fn cloexec_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    kit_db::platform::pipe_cloexec().map_err(std::io::Error::from)
}
