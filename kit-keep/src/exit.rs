//! A daemon's process ended: on its own (a crash, an exit), or because
//! kit-keep stopped it. Also the per-daemon timers.

use crate::clock::human;
use crate::daemon::{After, Exit, Phase, Proc, Wait};
use crate::health::Verdict;
use crate::keep::Keep;
use crate::record::Op;
use crate::start::Next;
use kit_db::clock::fmt;
use kit_db::exec::Finish;
use kit_db::process::{self, Signal};
use std::time::Instant;

/// The row's status, code, signal and the words for how it ended.
pub fn describe(exit: Exit) -> (&'static str, Option<i32>, Option<i32>, String) {
    match exit {
        Exit::Code(0) => ("success", Some(0), None, "exited with status 0".into()),
        Exit::Code(c) => ("failed", Some(c), None, format!("exited with status {c}")),
        Exit::Signal(s, core) => {
            let name = Signal::try_from(s)
                .map(|s| s.as_str())
                .unwrap_or("unknown signal");
            let core = if core { ", core dumped" } else { "" };
            (
                "killed",
                Some(128 + s),
                Some(s),
                format!("killed by signal {s} ({name}){core}"),
            )
        }
        Exit::Unknown => (
            "failed",
            None,
            None,
            "exited (adopted after a kit-keep restart, so its exit status is unknown)".into(),
        ),
    }
}

impl Keep {
    pub fn on_exit(&mut self, name: &str, exit: Exit) {
        let Some(d) = self.daemons.get_mut(name) else {
            return;
        };
        match std::mem::replace(&mut d.phase, Phase::Down) {
            Phase::Running(p) => self.unrequested_exit(name, p, exit),
            Phase::Stopping(mut s) => {
                s.leader = Some(exit);
                d.phase = Phase::Stopping(s);
                self.poll_stop(name, Instant::now());
            }
            other => d.phase = other,
        }
    }

    /// It died on its own. Whatever it left in its process group is killed
    /// at once (an instance must never run twice), it is restarted, and
    /// only then is the exit recorded.
    fn unrequested_exit(&mut self, name: &str, p: Proc, exit: Exit) {
        let now = Instant::now();
        let wall = self.clock.now();
        let _ = process::signal_group(p.pid, Signal::SIGKILL);
        let Some(d) = self.daemons.get_mut(name) else {
            return;
        };
        if let Some(pid) = d.health.kill_check() {
            self.checks.remove(&pid);
        }
        let uptime = now.saturating_duration_since(p.started);
        if uptime >= d.task.stable_after() {
            self.mark_stable(name);
        }
        let (status, code, signal, how) = describe(exit);
        let how = format!("{how} after {}", human(uptime));
        let d = self.daemons.get_mut(name).expect("daemon");
        d.last_exit = Some(how.clone());
        let output = d.log.tail(p.log_offset);
        let next = self.count_failure(name, false);
        let start_now = matches!(next, Next::Now) && self.shutdown.is_none();
        let text = self.apply_next(name, next, Wait::Backoff);
        let d = self.daemons.get_mut(name).expect("daemon");
        d.log.note(&fmt(wall), &format!("exited: {how}; {text}"));
        if start_now {
            self.start(name);
        }
        self.rec.push(Op::Finish {
            run: p.run,
            task: name.to_string(),
            finish: Finish {
                status,
                exit_code: code,
                signal,
                reason: Some(format!("{how}; {text}")),
                output_bytes: Some(output.len() as u64),
                output: Some(output),
                duration_ms: Some(uptime.as_millis() as i64),
                ..Default::default()
            },
            at: wall,
        });
        self.log.warn(
            "exited",
            Some(name),
            &format!("pid {} {how}; {text}", p.pid),
        );
        self.rec.touch(name);
    }

    /// A health check ended.
    pub fn on_check_done(&mut self, name: &str, exit: Exit) {
        let now = Instant::now();
        let Some(d) = self.daemons.get_mut(name) else {
            return;
        };
        let Some(h) = d.task.health.clone() else {
            return;
        };
        let verdict = d.health.finished(exit, &h, now);
        self.health_verdict(name, verdict);
    }

    fn health_verdict(&mut self, name: &str, verdict: Verdict) {
        match verdict {
            Verdict::Healthy => {}
            Verdict::Failing(n, msg) => {
                self.log
                    .warn("health", Some(name), &format!("{msg} ({n} in a row)"));
            }
            Verdict::Restart(reason) => {
                self.log.warn("health", Some(name), &reason);
                self.begin_stop(name, "failed", reason, After::Fail);
            }
        }
    }

    /// Due timers of every daemon: waits that end, stable runs, adopted
    /// daemons without an exit watch, health checks, stop deadlines.
    pub fn timers(&mut self, now: Instant) {
        let names: Vec<String> = self
            .daemons
            .iter()
            .filter(|(_, d)| self.daemon_due(d, now))
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            let Some(d) = self.daemons.get_mut(&name) else {
                continue;
            };
            match &d.phase {
                Phase::Waiting { until, why } if *until <= now && self.shutdown.is_none() => {
                    if *why == Wait::Quarantine {
                        d.trial = true;
                        self.log
                            .info("trial", Some(&name), "quarantine over: trial start");
                    }
                    self.start(&name);
                }
                Phase::Stopping(_) => self.poll_stop(&name, now),
                Phase::Running(p) => {
                    let stable_due = (d.fails > 0 || d.trial || d.episode.is_some())
                        && now >= p.started + d.task.stable_after();
                    let lost =
                        p.adopted && p.watch.is_none() && !process::is_same_process(p.pid, p.start);
                    if lost {
                        self.on_exit(&name, Exit::Unknown);
                        continue;
                    }
                    if stable_due {
                        self.mark_stable(&name);
                    }
                    self.health_timer(&name, now);
                }
                _ => {}
            }
        }
    }

    fn health_timer(&mut self, name: &str, now: Instant) {
        let zone = match self.daemons.get(name) {
            Some(d) if d.task.health.is_some() => self.zone_of(&d.task),
            _ => return,
        };
        let db = self.store.path().to_path_buf();
        let Some(d) = self.daemons.get_mut(name) else {
            return;
        };
        let Some(h) = d.task.health.clone() else {
            return;
        };
        if d.health.check.is_some() {
            d.health.enforce_timeout(now);
            return;
        }
        if d.health.next_due.is_none_or(|t| now < t) {
            return;
        }
        let env = kit_db::runenv::environment(
            &d.task,
            &kit_db::runenv::RunInfo {
                run: Some(kit_db::runenv::RunVars {
                    execution_id: None,
                    trigger: "health",
                    attempt: None,
                    scheduled_for: None,
                }),
                db: &db,
                zone: &zone,
            },
        );
        let mut spec = kit_db::process::SpawnSpec::new(h.command.argv());
        spec.env = env;
        spec.cwd = d.task.cwd.as_ref().map(std::path::PathBuf::from);
        let timeout = crate::health::cfg(&h).timeout;
        match d.health.start(spec, timeout) {
            Ok(pid) => {
                self.checks.insert(pid, name.to_string());
            }
            Err(e) => {
                let verdict = d.health.failed_to_start(&e, &h, now);
                self.health_verdict(name, verdict);
            }
        }
    }
}
