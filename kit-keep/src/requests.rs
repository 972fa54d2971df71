//! Acting on `supervisor_requests` (kit-ctl restart|stop|start, the API,
//! kit-heal's `restart:` recovery action). Each request is answered with
//! `done_at` and `result` once its effect is complete: a restart when the
//! new process runs, a stop when the old one is gone.

use crate::daemon::{After, Phase};
use crate::keep::Keep;
use kit_db::daemon::{requests, Action};

impl Keep {
    pub fn handle_requests(&mut self) {
        let open = match requests::open(&self.store.conn) {
            Ok(o) => o,
            Err(e) => return self.read_failed("the requests", &e),
        };
        for r in open {
            if self.in_progress.contains(&r.id) || self.answered.contains(&r.id) {
                continue;
            }
            let by = r.requested_by.clone().unwrap_or_else(|| "someone".into());
            let action = match Action::parse(&r.action) {
                Ok(a) => a,
                Err(e) => {
                    self.answer(r.id, &format!("error: {e}"));
                    continue;
                }
            };
            self.log.info(
                "request",
                Some(&r.task),
                &format!("request #{}: {} (by {by})", r.id, action.as_str()),
            );
            let Some(d) = self.daemons.get_mut(&r.task) else {
                let msg = match kit_db::task::repo::get(&self.store.conn, &r.task) {
                    Ok(Some(t)) if !t.task.is_daemon() => {
                        format!("error: task {:?} is not a @daemon", r.task)
                    }
                    _ => format!("error: no daemon task named {:?}", r.task),
                };
                self.answer(r.id, &msg);
                continue;
            };
            if !d.task.enabled {
                let msg = format!(
                    "error: task {:?} is disabled; enable it first (kit-ctl enable {})",
                    r.task, r.task
                );
                self.answer(r.id, &msg);
                continue;
            }
            let name = r.task.clone();
            let why = format!("{} requested by {by} (request #{})", action.as_str(), r.id);
            match action {
                Action::Stop => {
                    d.wanted_up = false;
                    self.rec.touch(&name);
                    match &d.phase {
                        Phase::Down => self.answer(r.id, "already stopped"),
                        Phase::Waiting { .. } => {
                            d.phase = Phase::Down;
                            d.until_at = None;
                            self.answer(r.id, "stopped (it was waiting to be restarted)");
                        }
                        _ => {
                            d.waiting_requests.push((r.id, action));
                            self.in_progress.insert(r.id);
                            self.begin_stop(
                                &name,
                                "killed",
                                format!("stopped by kit-keep: {why}"),
                                After::Down,
                            );
                        }
                    }
                }
                Action::Start | Action::Restart => {
                    d.wanted_up = true;
                    // A person asked: the backoff and any quarantine end (a
                    // crash-loop episode stays open until a stable run).
                    d.fails = 0;
                    d.trial = false;
                    d.window.clear();
                    self.rec.touch(&name);
                    match (&d.phase, action) {
                        (Phase::Running(p), Action::Start) => {
                            let pid = p.pid;
                            self.answer(r.id, &format!("already running (pid {pid})"));
                        }
                        (Phase::Running(_), _) => {
                            d.waiting_requests.push((r.id, action));
                            self.in_progress.insert(r.id);
                            self.begin_stop(
                                &name,
                                "killed",
                                format!("restarted by kit-keep: {why}"),
                                After::Restart,
                            );
                        }
                        (Phase::Stopping(_), _) => {
                            d.waiting_requests.push((r.id, action));
                            self.in_progress.insert(r.id);
                            self.begin_stop(&name, "killed", why, After::Restart);
                        }
                        _ => {
                            d.waiting_requests.push((r.id, action));
                            self.in_progress.insert(r.id);
                            self.start(&name);
                        }
                    }
                }
            }
        }
    }
}
