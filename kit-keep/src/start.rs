//! Starting a daemon, and what happens after it fails: restart at once,
//! back off, or quarantine.

use crate::clock::human;
use crate::daemon::{Phase, Proc, Wait};
use crate::keep::Keep;
use crate::policy;
use crate::record::{Op, OwnedEvent};
use kit_db::clock::fmt;
use kit_db::daemon::Action;
use kit_db::events::Severity;
use kit_db::exec::Finish;
use kit_db::process;
use kit_db::runenv::{self, RunInfo, RunVars};
use std::time::{Duration, Instant};

/// What comes after a failure.
pub enum Next {
    Now,
    After(Duration),
    Quarantine(usize),
}

impl Keep {
    /// The zone a daemon runs in (`TZ`).
    pub fn zone_of(&self, task: &kit_db::task::Task) -> String {
        task.timezone.clone().unwrap_or_else(|| self.zone.clone())
    }

    /// Starts daemon `name` now. Spawns first; every record is queued for
    /// the flush at the end of the loop turn.
    pub fn start(&mut self, name: &str) {
        let zone = match self.daemons.get(name) {
            Some(d) => self.zone_of(&d.task),
            None => return,
        };
        let wall = self.clock.now();
        let now = Instant::now();
        let db = self.store.path().to_path_buf();
        let Some(d) = self.daemons.get_mut(name) else {
            return;
        };
        let offset = d.log.note(
            &fmt(wall),
            &format!("starting: {}", d.task.command.display()),
        );
        let env = runenv::environment(
            &d.task,
            &RunInfo {
                run: Some(RunVars {
                    execution_id: None,
                    trigger: "daemon",
                    attempt: None,
                    scheduled_for: None,
                }),
                db: &db,
                zone: &zone,
            },
        );
        let mut spec = runenv::spawn_spec(&d.task, env);
        spec.output = d.log.child_output();
        spec.new_session = true;
        match process::spawn(&spec) {
            Ok(child) => {
                self.children.insert(child.pid, name.to_string());
                let run = self.rec.new_run();
                let d = self.daemons.get_mut(name).expect("daemon");
                if d.starts > 0 {
                    d.restarts += 1;
                }
                d.starts += 1;
                d.until_at = None;
                d.phase = Phase::Running(Proc {
                    pid: child.pid,
                    start: child.start,
                    adopted: false,
                    watch: None,
                    started: now,
                    started_at: fmt(wall),
                    run,
                    log_offset: offset,
                });
                if let Some(old) = d.health.reset(now, d.task.health.as_ref()) {
                    self.checks.remove(&old);
                }
                let waiting = std::mem::take(&mut d.waiting_requests);
                self.rec.push(Op::Start {
                    run,
                    task: name.to_string(),
                    pid: child.pid,
                    start: child.start,
                    at: wall,
                });
                self.log.info(
                    "started",
                    Some(name),
                    &format!("started (pid {})", child.pid),
                );
                for (id, action) in waiting {
                    let verb = match action {
                        Action::Restart => "restarted",
                        Action::Start => "started",
                        Action::Stop => "stopped, then started again by a later request",
                    };
                    self.answer(id, &format!("{verb} (pid {})", child.pid));
                }
            }
            Err(e) => {
                let reason = e.to_string();
                let code = e.exit_code();
                d.last_exit = Some(format!("could not start: {reason}"));
                d.log
                    .note(&fmt(wall), &format!("could not start: {reason}"));
                let waiting = std::mem::take(&mut d.waiting_requests);
                for (id, _) in waiting {
                    self.answer(id, &format!("error: could not start: {reason}"));
                }
                let next = self.count_failure(name, true);
                let text = self.apply_next(name, next, Wait::Error);
                self.log.error(
                    "error",
                    Some(name),
                    &format!("could not start: {reason}; {text}"),
                );
                self.rec.push(Op::Error {
                    task: name.to_string(),
                    finish: Finish {
                        status: "error",
                        exit_code: Some(code),
                        reason: Some(format!("{reason}; {text}")),
                        duration_ms: Some(0),
                        ..Default::default()
                    },
                    at: wall,
                });
            }
        }
        self.rec.touch(name);
    }

    /// Counts an unrequested exit (or failed start) and decides what comes
    /// next. A failed start never retries at once: that could only fail
    /// again the same way.
    pub fn count_failure(&mut self, name: &str, start_failed: bool) -> Next {
        let now = Instant::now();
        let rand = self.jitter.sample();
        let Some(d) = self.daemons.get_mut(name) else {
            return Next::Now;
        };
        let (limit, within) = d.task.crashloop();
        d.fails = d.fails.saturating_add(1);
        let count = d.window.push(now, within);
        if d.trial || count >= limit as usize {
            return Next::Quarantine(count);
        }
        let base = d.task.restart_delay();
        let mut delay = policy::restart_delay(d.fails, base, d.task.restart_max_delay(), rand);
        if start_failed {
            delay = delay.max(base.min(d.task.restart_max_delay()));
        }
        if delay.is_zero() {
            Next::Now
        } else {
            Next::After(delay)
        }
    }

    /// Puts the decision into effect (except `Now`, which the caller
    /// starts); returns the words for the records.
    pub fn apply_next(&mut self, name: &str, next: Next, wait: Wait) -> String {
        if self.shutdown.is_some() {
            if let Some(d) = self.daemons.get_mut(name) {
                d.phase = Phase::Down;
            }
            return "not restarted: kit-keep is shutting down".into();
        }
        match next {
            Next::Now => "restarting at once".into(),
            Next::After(delay) => {
                let until = Instant::now() + delay;
                let at = fmt(self.clock.wall_of(Instant::now()) + crate::clock::chrono_dur(delay));
                if let Some(d) = self.daemons.get_mut(name) {
                    d.phase = Phase::Waiting { until, why: wait };
                    d.until_at = Some(at);
                }
                format!("restarting in {}", human(delay))
            }
            Next::Quarantine(count) => self.quarantine(name, count),
        }
    }

    fn quarantine(&mut self, name: &str, count: usize) -> String {
        let wall = self.clock.now();
        let Some(d) = self.daemons.get_mut(name) else {
            return String::new();
        };
        let q = d.task.quarantine();
        let (limit, within) = d.task.crashloop();
        let until_wall = wall + crate::clock::chrono_dur(q);
        d.phase = Phase::Waiting {
            until: Instant::now() + q,
            why: Wait::Quarantine,
        };
        d.until_at = Some(fmt(until_wall));
        let was_trial = d.trial;
        d.trial = false;
        d.fails = 0;
        d.window.clear();
        let text = if was_trial {
            format!(
                "the trial start after a quarantine failed too; quarantined again until {} (then another trial)",
                fmt(until_wall)
            )
        } else {
            format!(
                "crash loop: {count} failures within {} (limit {limit}); quarantined for {} until {}, then one trial start",
                kit_db::units::Dur(within),
                kit_db::units::Dur(q),
                fmt(until_wall)
            )
        };
        let last = d.last_exit.clone().unwrap_or_default();
        let new_episode = d.episode.is_none();
        let key = d
            .episode
            .get_or_insert_with(|| format!("crashloop:{name}:{}", fmt(wall)))
            .clone();
        let detail = serde_json::json!({
            "failures": count, "limit": limit, "within": kit_db::units::Dur(within).to_string(),
            "quarantined_until": fmt(until_wall), "last_exit": last, "trial_failed": was_trial,
        });
        if new_episode {
            self.rec.push(Op::Kv {
                key: format!("kit-keep.crashloop.{name}"),
                value: Some(key.clone()),
                at: wall,
            });
        }
        // One notification per episode; a failed trial is recorded quietly.
        self.rec.push(Op::Event(OwnedEvent {
            kind: "crashloop",
            severity: if new_episode {
                Severity::Critical
            } else {
                Severity::Warning
            },
            task: name.to_string(),
            message: format!("daemon {name} is crash-looping ({last}): {text}"),
            detail: Some(detail),
            dedupe_key: if new_episode {
                key.clone()
            } else {
                format!("{key}:trial:{}", fmt(wall))
            },
            notify: new_episode,
            at: wall,
        }));
        self.log.warn("quarantined", Some(name), &text);
        text
    }

    /// A run that stayed up `stable_after`: the backoff starts over, and a
    /// crash-loop episode ends.
    pub fn mark_stable(&mut self, name: &str) {
        let wall = self.clock.now();
        let Some(d) = self.daemons.get_mut(name) else {
            return;
        };
        d.fails = 0;
        d.trial = false;
        if let Some(key) = d.episode.take() {
            let up = kit_db::units::Dur(d.task.stable_after());
            self.rec.push(Op::Kv {
                key: format!("kit-keep.crashloop.{name}"),
                value: None,
                at: wall,
            });
            self.rec.push(Op::Event(OwnedEvent {
                kind: "recovered",
                severity: Severity::Info,
                task: name.to_string(),
                message: format!("daemon {name} has been running for {up} after its crash loop"),
                detail: None,
                dedupe_key: format!("{key}:recovered"),
                notify: true,
                at: wall,
            }));
            self.log.info(
                "recovered",
                Some(name),
                &format!("running for {up}: crash loop over"),
            );
        }
    }

    /// Answers a request (queued for the flush).
    pub fn answer(&mut self, id: i64, result: &str) {
        self.in_progress.remove(&id);
        self.answered.insert(id);
        self.rec.push(Op::Request {
            id,
            result: result.to_string(),
            at: self.clock.now(),
        });
        self.log
            .info("request", None, &format!("request #{id}: {result}"));
    }
}
