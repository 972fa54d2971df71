//! Running one probe: the `when.command` in its own process group, with the
//! task's environment and working directory, stopped at `when.timeout`.
//! Exit 0 = true, exit 1 = false, anything else = a probe failure.

use super::rule::Answer;
use crate::process::{self, CapBuffer, ReadStatus, Terminate, WaitOutcome};
use crate::runenv::{self, RunInfo};
use crate::task::Task;
use std::path::Path;
use std::time::{Duration, Instant};

/// What is kept of a probe's output (its tail, for `why`).
pub const OUTPUT_CAP: usize = 2048;

#[derive(Debug, Clone)]
pub struct Probed {
    pub answer: Answer,
    /// Shell-convention code; None when it could not start or timed out.
    pub exit: Option<i32>,
    pub error: Option<String>,
    pub output: String,
    pub duration: Duration,
}

/// Runs the probe of `task` (which must have a `when`) and waits for it.
pub fn probe(task: &Task, db: &Path, zone: &str) -> Probed {
    let started = Instant::now();
    let Some(w) = &task.when else {
        return failed(started, None, "the task has no `when` condition".into(), "");
    };
    let env = runenv::environment(
        task,
        &RunInfo {
            run: None,
            db,
            zone,
        },
    );
    let mut spec = runenv::spawn_spec(task, env);
    spec.argv = w.command.argv().into_iter().map(Into::into).collect();
    spec.output = process::Output::Pipe;
    spec.new_session = true;
    spec.die_with_parent = true;
    let child = match process::spawn(&spec) {
        Ok(c) => c,
        Err(e) => {
            let code = e.exit_code();
            return failed(started, Some(code), format!("cannot start: {e}"), "");
        }
    };
    let deadline = started + w.timeout();
    let mut buf = CapBuffer::new(OUTPUT_CAP);
    let mut timed_out = false;
    if let Some(pipe) = &child.output {
        timed_out = matches!(
            process::read_with_deadline(pipe, &mut buf, Some(deadline)),
            Ok(ReadStatus::TimedOut)
        );
    }
    let outcome = if timed_out {
        WaitOutcome::TimedOut
    } else {
        process::wait_child(child.pid, Some(deadline)).unwrap_or(WaitOutcome::TimedOut)
    };
    if outcome == WaitOutcome::TimedOut {
        let stop = Terminate {
            grace: Duration::from_secs(2),
            ..Terminate::default()
        };
        let _ = process::terminate_group(child.pid, Some((child.pid, child.start)), &stop);
    } else {
        // The leader is gone; a background grandchild must not outlive it.
        let _ = process::signal_group(child.pid, process::Signal::SIGKILL);
    }
    let output = String::from_utf8_lossy(&buf.finish().bytes).into_owned();
    match outcome {
        WaitOutcome::Exited(0) => answered(started, Answer::True, 0, output),
        WaitOutcome::Exited(1) => answered(started, Answer::False, 1, output),
        WaitOutcome::TimedOut => failed(
            started,
            None,
            format!("timed out after {}", crate::units::Dur(w.timeout())),
            &output,
        ),
        other => {
            let code = other.code().unwrap_or(124);
            let why = match other {
                WaitOutcome::Signaled(sig, _) => format!("killed by signal {sig}"),
                _ => format!("exited {code} (a probe answers 0 = true or 1 = false)"),
            };
            failed(started, Some(code), why, &output)
        }
    }
}

fn answered(started: Instant, answer: Answer, code: i32, output: String) -> Probed {
    Probed {
        answer,
        exit: Some(code),
        error: None,
        output,
        duration: started.elapsed(),
    }
}

fn failed(started: Instant, exit: Option<i32>, error: String, output: &str) -> Probed {
    Probed {
        answer: Answer::Failed,
        exit,
        error: Some(error),
        output: output.to_string(),
        duration: started.elapsed(),
    }
}
