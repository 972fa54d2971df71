//! One supervised daemon: its definition, what phase it is in, and the
//! history the restart policy needs. Transitions live in the event-loop
//! modules (start, exit, stop, health); this file holds the data and how it
//! is shown in `supervisor_daemons`.

use crate::clock::Clock;
use crate::health::Health;
use crate::logfile::DaemonLog;
use crate::policy::CrashWindow;
use kit_db::daemon::{Action, DaemonState};
use kit_db::process::ProcStart;
use kit_db::task::Task;
use std::os::fd::OwnedFd;
use std::time::Instant;

/// A process kit-keep runs or adopted.
#[derive(Debug)]
pub struct Proc {
    pub pid: i32,
    pub start: ProcStart,
    /// Started by an earlier kit-keep: not our child, so its exit status
    /// cannot be collected and its end is seen through `watch`.
    pub adopted: bool,
    /// A pidfd (Linux) or kqueue (macOS) that becomes readable when an
    /// adopted process exits.
    pub watch: Option<OwnedFd>,
    pub started: Instant,
    pub started_at: String,
    /// Key of its execution row in the recorder (the row id is assigned
    /// when the DB write lands).
    pub run: u64,
    /// Log size right after its start marker (None when adopted).
    pub log_offset: Option<u64>,
}

/// What to do once a stop completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Start again at once (restart request, changed task).
    Restart,
    /// Count it as a failure and restart under the policy (health checks).
    Fail,
    /// Stay down (stop request, disabled task, shutdown).
    Down,
    /// Forget the daemon (task removed or no longer @daemon).
    Remove,
}

#[derive(Debug)]
pub struct Stopping {
    pub proc: Proc,
    /// Recorded on the execution row: "killed", or "failed" for health.
    pub status: &'static str,
    pub reason: String,
    pub then: After,
    /// When SIGKILL is due; after it, when to give up waiting.
    pub deadline: Instant,
    pub killed: bool,
    /// The leader's exit, once seen (the group may outlive it briefly).
    pub leader: Option<Exit>,
}

/// How a process ended, as far as kit-keep could see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32, bool),
    /// An adopted process: not our child, no status.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Restart under backoff after an exit.
    Backoff,
    /// Retry after a failed start.
    Error,
    /// Crash loop: trial start when the quarantine ends.
    Quarantine,
}

#[derive(Debug)]
pub enum Phase {
    Running(Proc),
    Stopping(Stopping),
    Waiting {
        until: Instant,
        why: Wait,
    },
    /// Not wanted, disabled, or kit-keep is shutting down.
    Down,
}

#[derive(Debug)]
pub struct Daemon {
    pub task: Task,
    /// The task row's updated_at (to tell a changed task on adoption).
    pub task_updated_at: String,
    pub wanted_up: bool,
    pub phase: Phase,
    /// Consecutive unrequested exits since it was last stable.
    pub fails: u32,
    pub window: CrashWindow,
    pub restarts: i64,
    pub starts: i64,
    pub last_exit: Option<String>,
    /// The dedupe key of the current crash-loop episode.
    pub episode: Option<String>,
    /// The current run is a trial after a quarantine.
    pub trial: bool,
    pub health: Health,
    /// Requests to answer when the current transition completes.
    pub waiting_requests: Vec<(i64, Action)>,
    pub log: DaemonLog,
    /// The wall instant a pending wait ends, for the row.
    pub until_at: Option<String>,
}

impl Daemon {
    pub fn new(task: Task, updated_at: String, log: DaemonLog) -> Daemon {
        Daemon {
            health: Health::new(),
            task,
            task_updated_at: updated_at,
            wanted_up: true,
            phase: Phase::Down,
            fails: 0,
            window: CrashWindow::default(),
            restarts: 0,
            starts: 0,
            last_exit: None,
            episode: None,
            trial: false,
            waiting_requests: Vec::new(),
            log,
            until_at: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.task.name
    }

    pub fn proc(&self) -> Option<&Proc> {
        match &self.phase {
            Phase::Running(p) => Some(p),
            Phase::Stopping(s) => Some(&s.proc),
            _ => None,
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self.phase, Phase::Running(_))
    }

    /// The row for `supervisor_daemons`. `exec_id` resolves a run key to
    /// its execution row id.
    pub fn snapshot(&self, clock: &Clock, exec_id: impl Fn(u64) -> Option<i64>) -> DaemonState {
        let mut s = DaemonState::new(self.name(), clock.now());
        s.wanted = if self.wanted_up { "up" } else { "down" }.into();
        s.restarts = self.restarts;
        s.last_exit = self.last_exit.clone();
        s.recent_failures = self
            .window
            .at
            .iter()
            .map(|t| kit_db::clock::fmt(clock.wall_of(*t)))
            .collect();
        if let Some(p) = self.proc() {
            s.pid = Some(i64::from(p.pid));
            s.pid_start = p.start.is_known().then_some(p.start.0 as i64);
            s.execution_id = exec_id(p.run);
            s.started_at = Some(p.started_at.clone());
        }
        s.state = match &self.phase {
            Phase::Running(_) | Phase::Stopping(_) => "running",
            Phase::Waiting {
                why: Wait::Backoff, ..
            } => "backoff",
            Phase::Waiting {
                why: Wait::Error, ..
            } => "error",
            Phase::Waiting {
                why: Wait::Quarantine,
                ..
            } => "quarantined",
            Phase::Down => "stopped",
        }
        .into();
        match &self.phase {
            Phase::Waiting {
                why: Wait::Quarantine,
                ..
            } => s.quarantined_until = self.until_at.clone(),
            Phase::Waiting { .. } => s.backoff_until = self.until_at.clone(),
            _ => {}
        }
        s
    }
}

/// The fields whose change needs a restart to take effect; others (backoff,
/// crash loop, health, logs, stop settings, description) apply live.
pub fn launch_changed(old: &Task, new: &Task) -> Option<&'static str> {
    if old.command != new.command {
        Some("command")
    } else if old.env != new.env {
        Some("env")
    } else if old.cwd != new.cwd {
        Some("cwd")
    } else if old.nice != new.nice {
        Some("nice")
    } else if old.limits != new.limits {
        Some("limits")
    } else if old.timezone != new.timezone {
        Some("timezone")
    } else {
        None
    }
}
