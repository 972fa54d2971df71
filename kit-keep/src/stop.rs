//! Stopping a daemon without blocking the loop: `stop_signal` (then
//! SIGCONT, so a stopped process can act on it) to its whole process group,
//! up to `stop_timeout` for the group to go, then SIGKILL. The loop keeps
//! restarting other daemons meanwhile. Also kit-keep's own shutdown.

use crate::clock::human;
use crate::daemon::{After, Exit, Phase, Stopping};
use crate::exit::describe;
use crate::keep::Keep;
use crate::record::Op;
use crate::start::Next;
use kit_db::clock::fmt;
use kit_db::daemon::Action;
use kit_db::exec::Finish;
use kit_db::process::{self, Signal};
use std::time::{Duration, Instant};

/// How long to wait for a group to vanish after SIGKILL before giving up
/// (a process in uninterruptible sleep can outlive it).
const KILL_WAIT: Duration = Duration::from_secs(5);

impl Keep {
    /// Stops daemon `name`; `status` and `reason` go on its execution row,
    /// `then` says what follows. A daemon that is not running gets `then`
    /// at once.
    pub fn begin_stop(&mut self, name: &str, status: &'static str, reason: String, then: After) {
        let Some(d) = self.daemons.get_mut(name) else {
            return;
        };
        match std::mem::replace(&mut d.phase, Phase::Down) {
            Phase::Running(p) => {
                if let Some(pid) = d.health.kill_check() {
                    self.checks.remove(&pid);
                }
                let sig = d.task.stop_signal();
                let _ = process::signal_group(p.pid, sig);
                if sig != Signal::SIGCONT && sig != Signal::SIGKILL {
                    let _ = process::signal_group(p.pid, Signal::SIGCONT);
                }
                let timeout = d.task.stop_timeout();
                self.log.info(
                    "stopping",
                    Some(name),
                    &format!(
                        "stopping pid {} ({}, SIGKILL after {}): {reason}",
                        p.pid,
                        sig.as_str(),
                        human(timeout)
                    ),
                );
                d.phase = Phase::Stopping(Stopping {
                    proc: p,
                    status,
                    reason,
                    then,
                    deadline: Instant::now() + timeout,
                    killed: sig == Signal::SIGKILL,
                    leader: None,
                });
                self.rec.touch(name);
            }
            Phase::Stopping(mut s) => {
                // A later wish replaces an earlier one, except that a
                // removal or a shutdown is final.
                if s.then != After::Remove && !(self.shutdown.is_some() && then == After::Restart) {
                    s.then = then;
                }
                d.phase = Phase::Stopping(s);
            }
            other => {
                d.phase = other;
                self.after_stop(name, then);
            }
        }
    }

    /// Checks a stopping daemon: is the group gone, is SIGKILL due?
    pub fn poll_stop(&mut self, name: &str, now: Instant) {
        let Some(d) = self.daemons.get_mut(name) else {
            return;
        };
        let Phase::Stopping(s) = &mut d.phase else {
            return;
        };
        let pgid = s.proc.pid;
        if s.leader.is_none() && s.proc.adopted && !process::is_same_process(pgid, s.proc.start) {
            s.leader = Some(Exit::Unknown);
        }
        if s.leader.is_some() {
            let gone =
                !process::group_alive(pgid) || (s.killed && !process::group_has_live_members(pgid));
            if gone {
                self.complete_stop(name, None);
                return;
            }
        }
        if now < s.deadline {
            return;
        }
        if !s.killed {
            s.killed = true;
            s.deadline = now + KILL_WAIT;
            let _ = process::signal_group(pgid, Signal::SIGKILL);
            self.log.warn(
                "stopping",
                Some(name),
                &format!(
                    "pid {pgid} did not stop within {}: SIGKILL",
                    human(d.task.stop_timeout())
                ),
            );
        } else {
            let note = format!(
                "process group {pgid} still had processes {} after SIGKILL",
                human(KILL_WAIT)
            );
            self.log.error("stopping", Some(name), &note);
            self.complete_stop(name, Some(note));
        }
    }

    fn complete_stop(&mut self, name: &str, note: Option<String>) {
        let wall = self.clock.now();
        let Some(d) = self.daemons.get_mut(name) else {
            return;
        };
        let Phase::Stopping(s) = std::mem::replace(&mut d.phase, Phase::Down) else {
            return;
        };
        let uptime = Instant::now().saturating_duration_since(s.proc.started);
        let exit = s.leader.unwrap_or(Exit::Unknown);
        let (_, code, signal, how) = describe(exit);
        let mut reason = s.reason.clone();
        if s.killed && d.task.stop_signal() != Signal::SIGKILL {
            reason.push_str(&format!(
                "; it did not stop within {} of {} and was killed (SIGKILL)",
                human(d.task.stop_timeout()),
                d.task.stop_signal().as_str()
            ));
        }
        if let Some(n) = note {
            reason.push_str(&format!("; {n}"));
        }
        reason.push_str(&format!(" ({how} after {})", human(uptime)));
        let output = d.log.tail(s.proc.log_offset);
        d.log.note(&fmt(wall), &format!("stopped: {reason}"));
        d.last_exit = Some(reason.clone());
        self.log.info("stopped", Some(name), &reason);
        self.rec.push(Op::Finish {
            run: s.proc.run,
            task: name.to_string(),
            finish: Finish {
                status: s.status,
                exit_code: code,
                signal,
                reason: Some(reason),
                output_bytes: Some(output.len() as u64),
                output: Some(output),
                duration_ms: Some(uptime.as_millis() as i64),
                ..Default::default()
            },
            at: wall,
        });
        self.rec.touch(name);
        let then = if self.shutdown.is_some() {
            After::Down
        } else {
            s.then
        };
        self.after_stop(name, then);
    }

    /// What follows a stop (or a stop of a daemon that was not running).
    fn after_stop(&mut self, name: &str, then: After) {
        match then {
            After::Restart => {
                if let Some(d) = self.daemons.get_mut(name) {
                    d.fails = 0;
                }
                self.start(name);
            }
            After::Fail => {
                let next = self.count_failure(name, false);
                let now = matches!(next, Next::Now);
                self.apply_next(name, next, crate::daemon::Wait::Backoff);
                if now {
                    self.start(name);
                }
            }
            After::Down => {
                let Some(d) = self.daemons.get_mut(name) else {
                    return;
                };
                d.phase = Phase::Down;
                d.until_at = None;
                let waiting = std::mem::take(&mut d.waiting_requests);
                self.rec.touch(name);
                for (id, action) in waiting {
                    let text = match (action, self.shutdown) {
                        (Action::Stop, _) => "stopped".to_string(),
                        (_, Some(_)) => "error: kit-keep is shutting down".to_string(),
                        _ => "stopped (a later stop request won)".to_string(),
                    };
                    self.answer(id, &text);
                }
            }
            After::Remove => {
                if let Some(d) = self.daemons.remove(name) {
                    for (id, _) in d.waiting_requests {
                        self.answer(id, "stopped: its task was removed");
                    }
                }
                self.rec.push(Op::RemoveDaemon(name.to_string()));
                self.log.info("removed", Some(name), "no longer managed");
            }
        }
    }

    /// SIGTERM/SIGINT: stop every daemon gracefully. A second signal kills
    /// what is left at once.
    pub fn begin_shutdown(&mut self, sig: i32) {
        let signame = Signal::try_from(sig)
            .map(|s| s.as_str())
            .unwrap_or("signal");
        if self.shutdown.is_some() {
            self.log.warn(
                "shutdown",
                None,
                &format!("{signame} again: killing what is left (SIGKILL)"),
            );
            for d in self.daemons.values_mut() {
                if let Phase::Stopping(s) = &mut d.phase {
                    s.killed = true;
                    s.deadline = Instant::now() + KILL_WAIT;
                    let _ = process::signal_group(s.proc.pid, Signal::SIGKILL);
                }
            }
            return;
        }
        self.shutdown = Some(sig);
        self.log.info(
            "shutdown",
            None,
            &format!("{signame}: stopping every daemon"),
        );
        let names: Vec<String> = self.daemons.keys().cloned().collect();
        for name in names {
            let reason =
                format!("stopped by kit-keep: kit-keep received {signame} and is shutting down");
            // A daemon waiting out a backoff or quarantine keeps its wait:
            // the row carries it over to the next kit-keep.
            let running = self.daemons.get(&name).is_some_and(|d| d.proc().is_some());
            if running {
                self.begin_stop(&name, "killed", reason, After::Down);
            }
        }
    }

    /// Every daemon is down: write the last records and exit.
    pub fn finish_shutdown(&mut self) -> i32 {
        for d in self.daemons.values_mut() {
            if let Some(pid) = d.health.kill_check() {
                self.checks.remove(&pid);
            }
            if matches!(d.phase, Phase::Down) {
                d.last_exit
                    .get_or_insert_with(|| "stopped: kit-keep shut down".into());
            }
        }
        let names: Vec<String> = self.daemons.keys().cloned().collect();
        for n in &names {
            self.rec.touch(n);
        }
        self.beat(true);
        for attempt in 0..5 {
            if self.flush(true) {
                self.log.info(
                    "shutdown",
                    None,
                    "every daemon stopped; records written; exiting",
                );
                return 0;
            }
            if attempt < 4 {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        self.log.error(
            "shutdown",
            None,
            "every daemon stopped, but the records could not be written",
        );
        1
    }
}
