//! Starting an attempt. The command is forked first and held at the gate
//! of `spawn_recorded`; one transaction then writes its row, with the
//! child's pid already on it; the row's id reaches the child's environment
//! through the gate, and only then does the command run. So a run costs two
//! short write transactions (this one and its verdict), and a kit-run killed
//! at any moment leaves either no command running or a row naming it.

use crate::attempt::{self, Ended};
use kit_db::exec::{self, Execution, NewRun, Recorder};
use kit_db::process::{GateEnv, ProcStart, SpawnSpec};
use kit_db::runenv::RunVars;
use kit_db::triggers::consume::{self, EventEnv};
use kit_db::{clock, Store};

/// The row an attempt recorded into.
pub struct Slot {
    pub id: i64,
    pub trigger: String,
    pub attempt: i64,
    pub scheduled_for: Option<String>,
    /// The recorded start: when the row was written, just before the gate
    /// let the command run (a wait for the DB's write lock comes before it).
    pub started_at: clock::Instant,
}

/// Which row an attempt starts: a slot kit-tick claimed, or a new one.
pub enum Plan {
    Queued {
        id: i64,
        trigger: String,
        scheduled_for: Option<String>,
        /// Exactly this row or nothing (a triggered run): never a new row.
        exact: bool,
    },
    New {
        trigger: String,
        attempt: i64,
        scheduled_for: Option<String>,
        retry_of: Option<i64>,
    },
}

impl Plan {
    pub fn queued(q: Execution, exact: bool) -> Plan {
        Plan::Queued {
            id: q.id,
            trigger: q.trigger,
            scheduled_for: q.scheduled_for,
            exact,
        }
    }

    pub fn first(trigger: &str) -> Plan {
        Plan::New {
            trigger: trigger.to_string(),
            attempt: 1,
            scheduled_for: None,
            retry_of: None,
        }
    }
}

/// Starts the attempts of one task (or ad-hoc label).
pub struct Starter<'a> {
    pub store: &'a Store,
    pub task: &'a str,
    /// The trigger of a run that no claimed slot stands behind (a queued
    /// slot can be taken by another kit-run between reading and starting it).
    pub trigger: &'a str,
    pub who: Recorder,
    /// The clock is real (not `--now`/`KIT_NOW`): the start is read once
    /// the write lock is held, so a wait for a busy DB is not counted as
    /// the command's run time.
    pub live_clock: bool,
    /// A triggered run's event variables (and file), made once its row is
    /// running and handed to every attempt, retries included.
    pub events: std::cell::RefCell<Option<EventEnv>>,
}

impl Starter<'_> {
    /// Runs one attempt of `spec` as `plan`: the row it recorded into and
    /// how it ended. Err only when not even the row could be written.
    pub fn run(
        &self,
        plan: &Plan,
        spec: SpawnSpec,
        limits: &attempt::Limits,
        now: clock::Instant,
    ) -> anyhow::Result<(Slot, Ended)> {
        let mut slot = None;
        let mut on_fork = |pid: i32, start: ProcStart| -> Result<GateEnv, String> {
            let s = self
                .begin(plan, Some((pid, start)), now)
                .map_err(|e| format!("the execution could not be recorded: {e}"))?;
            let mut vars = RunVars {
                execution_id: Some(s.id),
                trigger: &s.trigger,
                attempt: Some(s.attempt),
                scheduled_for: s.scheduled_for.as_deref(),
            }
            .to_env();
            if s.trigger == "at" {
                // A one-shot run's --data (kit-ctl at ... --data).
                vars.extend(
                    kit_db::adapt::at::data_env(&self.store.conn, s.id)
                        .map_err(|e| format!("reading the run's data: {e}"))?,
                );
            }
            let (id, trigger) = (s.id, s.trigger.clone());
            slot = Some(s);
            let mut events = self.events.borrow_mut();
            if events.is_none() && kit_db::triggers::is_triggered(&trigger) {
                // The row is running now: no trigger can join it any more.
                let ev = consume::env(&self.store.conn, id)
                    .map_err(|e| format!("the run's events could not be handed over: {e}"))?;
                *events = Some(ev);
            }
            if let Some(ev) = events.as_ref() {
                vars.extend(ev.vars.iter().cloned());
            }
            Ok(vars)
        };
        let ended = attempt::run(spec, limits, &mut on_fork);
        let slot = match slot {
            Some(s) => s,
            // Never forked (a bad spec, a failed fork) or not recorded: the
            // error gets a row of its own, or kit-run fails (exit 125).
            None => self.begin(plan, None, now)?,
        };
        Ok((slot, ended))
    }

    /// The start transaction: the row goes `running` with its recorder and,
    /// once forked, the command's process.
    fn begin(
        &self,
        plan: &Plan,
        child: Option<(i32, ProcStart)>,
        now: clock::Instant,
    ) -> kit_db::Result<Slot> {
        self.store.write(|tx| {
            let now = if self.live_clock {
                chrono::Utc::now()
            } else {
                now
            };
            if let Plan::Queued {
                id,
                trigger,
                scheduled_for,
                exact,
            } = plan
            {
                if exec::start_queued(tx, *id, &self.who, child, now)? {
                    return Ok(Slot {
                        id: *id,
                        trigger: trigger.clone(),
                        attempt: 1,
                        scheduled_for: scheduled_for.clone(),
                        started_at: now,
                    });
                }
                if *exact {
                    return Err(kit_db::Error::Conflict(format!(
                        "execution #{id} is no longer queued (another kit-run started it)"
                    )));
                }
            }
            let run = match plan {
                Plan::New {
                    trigger,
                    attempt,
                    scheduled_for,
                    retry_of,
                } => NewRun {
                    task: self.task,
                    trigger,
                    attempt: *attempt,
                    scheduled_for: scheduled_for.as_deref(),
                    retry_of: *retry_of,
                },
                Plan::Queued { .. } => NewRun::first(self.task, self.trigger),
            };
            let id = exec::insert_running(tx, &run, &self.who, child, now)?;
            Ok(Slot {
                id,
                trigger: run.trigger.to_string(),
                attempt: run.attempt,
                scheduled_for: run.scheduled_for.map(str::to_string),
                started_at: now,
            })
        })
    }
}
