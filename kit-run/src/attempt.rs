//! One attempt: start the command in its own session, capture its output
//! within the cap, enforce the timeout on the whole process group, and
//! report how it ended. No DB access here.

use kit_db::exec::Finish;
use kit_db::process::{
    self, read_with_deadline, CapBuffer, GateEnv, ReadStatus, Signal, Sink, SpawnSpec, Terminate,
    WaitOutcome,
};
use std::io::Write;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// Set by the SIGTERM/SIGINT handler: the signal kit-run itself received.
pub static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);

/// How often the read loop wakes to check the child and the stop flag when
/// the pipe is quiet. Output and a normal exit wake it at once.
const SLICE: Duration = Duration::from_millis(100);

/// After the command exits, how long its output pipe may stay open (held by
/// background processes it left) before those are stopped.
const DRAIN: Duration = Duration::from_secs(1);

pub struct Limits {
    pub timeout: Option<Duration>,
    pub grace: Duration,
    pub cap: usize,
    pub stream: bool,
    /// Exit statuses besides 0 that count as success (`success_exit`).
    pub success_exit: Vec<i32>,
}

/// The result of one attempt: the row's terminal fields and the exit code
/// kit-run reports (shell convention).
pub struct Ended {
    pub finish: Finish,
    pub code: i32,
}

pub fn run(
    mut spec: SpawnSpec,
    lim: &Limits,
    on_fork: &mut dyn FnMut(i32, process::ProcStart) -> Result<GateEnv, String>,
) -> Ended {
    spec.output = process::Output::Pipe;
    spec.new_session = true;
    spec.die_with_parent = true;
    let mut started = Instant::now();
    // The child waits before exec until `on_fork` has recorded it: a
    // kit-run killed at any moment leaves either nothing running or a
    // recorded process group that the tool reconciling the row stops.
    // The command's time (duration, timeout) starts when the gate opens,
    // after the record: a wait for a busy DB is not the command's.
    let mut recorded = |pid: i32, start: process::ProcStart| {
        let env = on_fork(pid, start);
        started = Instant::now();
        env
    };
    let child = match process::spawn_recorded(&spec, &mut recorded) {
        Ok(c) => c,
        Err(e) => {
            return Ended {
                code: e.exit_code(),
                finish: Finish {
                    status: "error",
                    exit_code: Some(e.exit_code()),
                    reason: Some(e.to_string()),
                    duration_ms: Some(started.elapsed().as_millis() as i64),
                    ..Default::default()
                },
            }
        }
    };
    let pid = child.pid;
    let deadline = lim.timeout.map(|t| started + t);
    let mut buf = Tee {
        buf: CapBuffer::new(lim.cap),
        out: lim.stream.then(std::io::stdout),
    };
    let mut outcome: Option<WaitOutcome> = None;
    let mut why_stopped: Option<(&'static str, String)> = None;
    let mut exited_at: Option<Instant> = None;
    let pipe = child.output;

    loop {
        let now = Instant::now();
        let mut until = now + SLICE;
        if let Some(d) = deadline {
            until = until.min(d);
        }
        let status = match &pipe {
            Some(p) => read_with_deadline(p, &mut buf, Some(until)).unwrap_or(ReadStatus::Eof),
            None => ReadStatus::Eof,
        };
        if outcome.is_none() {
            outcome = process::try_wait(pid).ok().flatten();
            if outcome.is_some() {
                exited_at = Some(Instant::now());
            }
        }
        if status == ReadStatus::Eof {
            break;
        }
        let sig = STOP_SIGNAL.load(Ordering::SeqCst);
        if sig != 0 {
            let name = Signal::try_from(sig)
                .map(|s| s.as_str())
                .unwrap_or("signal");
            why_stopped = Some((
                "killed",
                format!("kit-run received {name} and stopped the command"),
            ));
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) && outcome.is_none() {
            why_stopped = Some(("timeout", String::new()));
            break;
        }
        if exited_at.is_some_and(|t| t.elapsed() >= DRAIN) {
            break; // leftovers hold the pipe; stopped below
        }
    }

    let mut notes: Vec<String> = Vec::new();
    let mut killed_hard = false;
    if why_stopped.is_none() && outcome.is_none() {
        // The pipe closed; the command is exiting. Reap it before looking
        // for leftovers, or its own zombie would count as one.
        outcome = process::wait_child(pid, Some(Instant::now() + DRAIN))
            .ok()
            .filter(|o| *o != WaitOutcome::TimedOut);
    }
    if why_stopped.is_some() || process::group_has_live_members(pid) {
        // Stop the whole group: the command's leftovers would otherwise run
        // on unsupervised and unrecorded.
        let t = process::terminate_group(
            pid,
            Some((pid, child.start)),
            &Terminate {
                grace: lim.grace,
                ..Terminate::default()
            },
        );
        if let Ok(t) = t {
            killed_hard = t.killed;
            if outcome.is_none() {
                outcome = t.leader_status;
            }
        }
        if why_stopped.is_none() {
            notes.push("processes it left running in its process group were stopped".into());
        }
    }
    if let Some(p) = &pipe {
        // Whatever the group wrote before it died.
        let _ = read_with_deadline(
            p,
            &mut buf,
            Some(Instant::now() + Duration::from_millis(50)),
        );
    }
    let outcome = match outcome {
        Some(o) => o,
        None => process::wait_child(pid, Some(Instant::now() + Duration::from_secs(5)))
            .unwrap_or(WaitOutcome::TimedOut),
    };
    let duration_ms = Some(started.elapsed().as_millis() as i64);
    let captured = buf.buf.finish();
    let mut finish = Finish {
        output: Some(captured.bytes.clone()),
        output_bytes: Some(captured.total),
        output_dropped: captured.dropped,
        duration_ms,
        ..Default::default()
    };
    let grace_note = |hard: bool| {
        if hard {
            format!(
                "SIGTERM, then SIGKILL after the {} grace",
                kit_db::units::Dur(lim.grace)
            )
        } else {
            "SIGTERM".to_string()
        }
    };
    let code = match why_stopped {
        Some(("timeout", _)) => {
            finish.status = "timeout";
            finish.reason = Some(format!(
                "timed out after {} and was stopped ({})",
                kit_db::units::Dur(lim.timeout.unwrap_or_default()),
                grace_note(killed_hard)
            ));
            124
        }
        Some((_, why)) => {
            finish.status = "killed";
            finish.reason = Some(format!("{why} ({})", grace_note(killed_hard)));
            finish.signal = match outcome {
                WaitOutcome::Signaled(s, _) => Some(s),
                _ => None,
            };
            128 + STOP_SIGNAL.load(Ordering::SeqCst)
        }
        None => match outcome {
            WaitOutcome::Exited(0) => {
                finish.status = "success";
                0
            }
            WaitOutcome::Exited(c) if lim.success_exit.contains(&c) => {
                // systemd's SuccessExitStatus=: recorded with its status,
                // reported as success (kit-run exits 0, so `&&` goes on).
                finish.status = "success";
                finish.exit_code = Some(c);
                finish.reason = Some(format!("exited with status {c}, a success by success_exit"));
                0
            }
            WaitOutcome::Exited(c) => {
                finish.status = "failed";
                finish.reason = Some(format!(
                    "exited with status {c}{}",
                    shell_said(c, &captured.bytes)
                ));
                c
            }
            WaitOutcome::Signaled(s, core) => {
                finish.status = "killed";
                finish.signal = Some(s);
                let name = Signal::try_from(s)
                    .map(|s| s.as_str())
                    .unwrap_or("unknown signal");
                finish.reason = Some(format!(
                    "killed by signal {s} ({name}){}",
                    if core { ", core dumped" } else { "" }
                ));
                128 + s
            }
            WaitOutcome::TimedOut => {
                finish.status = "lost";
                finish.reason = Some("the command's exit status could not be collected".into());
                125
            }
        },
    };
    finish.exit_code = finish.exit_code.or(Some(code));
    if !notes.is_empty() {
        let r = finish
            .reason
            .take()
            .map(|r| format!("{r}; "))
            .unwrap_or_default();
        finish.reason = Some(format!("{r}{}", notes.join("; ")));
    }
    Ended { finish, code }
}

/// For 126 and 127, the shell's conventions for "cannot execute" and "not
/// found", the last line the command printed, which is where a shell says
/// what it could not find ("sh: 1: x: not found"); the argv form gets the
/// same from kit's own spawn error.
fn shell_said(code: i32, output: &[u8]) -> String {
    if !matches!(code, 126 | 127) {
        return String::new();
    }
    let text = String::from_utf8_lossy(output);
    match text.lines().rev().map(str::trim).find(|l| !l.is_empty()) {
        Some(line) => {
            let line: String = line.chars().take(200).collect();
            format!(
                " ({}: {line})",
                if code == 127 {
                    "not found"
                } else {
                    "cannot execute"
                }
            )
        }
        None => String::new(),
    }
}

/// Records output within the cap and, with `--stream`, copies every byte
/// to kit-run's stdout as it arrives.
struct Tee {
    buf: CapBuffer,
    out: Option<std::io::Stdout>,
}

impl Sink for Tee {
    fn push(&mut self, data: &[u8]) {
        self.buf.push(data);
        if let Some(out) = &mut self.out {
            // A closed stdout must not stop the recording.
            let _ = out.write_all(data).and_then(|_| out.flush());
        }
    }
}
