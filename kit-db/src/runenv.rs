//! How a task's process is set up, shared by kit-run (one-shot runs) and
//! kit-keep (daemons): a clean, documented environment (like cron's) plus
//! the task's own `env`, never the launching tool's whole environment, so a
//! task behaves the same under launchd, systemd, cron or a shell; and the
//! spawn spec (argv, cwd, nice, rlimits) from the task's fields.

use crate::process::{self, SpawnSpec};
use crate::task::Task;
use std::collections::BTreeMap;
use std::ffi::OsString;

pub use crate::platform::DEFAULT_PATH;

/// Variables passed through from the launching tool's environment when set.
pub const PASSED_THROUGH: &[&str] = &[
    "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "KIT_HOME", "KIT_NOW",
];

/// What the process is told about its execution: the `KIT_*` variables
/// that differ from one run of the task to the next.
#[derive(Debug, Clone, Copy)]
pub struct RunVars<'a> {
    /// `KIT_EXECUTION_ID`; None for daemons, which are recorded after they
    /// are started (so a restart is never delayed by the DB).
    pub execution_id: Option<i64>,
    pub trigger: &'a str,
    pub attempt: Option<i64>,
    pub scheduled_for: Option<&'a str>,
}

impl RunVars<'_> {
    /// The names [`RunVars::to_env`] sets.
    pub const NAMES: [&'static str; 4] = [
        "KIT_TRIGGER",
        "KIT_EXECUTION_ID",
        "KIT_ATTEMPT",
        "KIT_SCHEDULED_FOR",
    ];

    pub fn to_env(&self) -> Vec<(OsString, OsString)> {
        let mut env = vec![("KIT_TRIGGER".into(), self.trigger.into())];
        if let Some(id) = self.execution_id {
            env.push(("KIT_EXECUTION_ID".into(), id.to_string().into()));
        }
        if let Some(a) = self.attempt {
            env.push(("KIT_ATTEMPT".into(), a.to_string().into()));
        }
        if let Some(s) = self.scheduled_for {
            env.push(("KIT_SCHEDULED_FOR".into(), s.into()));
        }
        env
    }
}

/// Where a task's process runs and what it is told.
pub struct RunInfo<'a> {
    /// None when the variables are handed over later, through the gate of
    /// [`process::spawn_recorded`] (kit-run: the row, and so its id, is
    /// written only once the pid is known).
    pub run: Option<RunVars<'a>>,
    pub db: &'a std::path::Path,
    /// The task's zone name (`TZ`).
    pub zone: &'a str,
}

/// The base PATH, with the directory of the kit tools in front so a task
/// can call kit-db or kit-ctl wherever kit is installed (~/.local/bin, say).
fn default_path() -> OsString {
    let mut path = OsString::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.to_path_buf()))
    {
        path.push(dir.as_os_str());
        path.push(":");
    }
    path.push(DEFAULT_PATH);
    path
}

/// The base (PATH, SHELL, passed-through variables), then TZ and the KIT_*
/// variables describing the run, then the task's env (which may override
/// anything, including PATH).
pub fn environment(task: &Task, info: &RunInfo) -> Vec<(OsString, OsString)> {
    let mut env: BTreeMap<OsString, OsString> = BTreeMap::new();
    env.insert("PATH".into(), default_path());
    env.insert("SHELL".into(), "/bin/sh".into());
    for k in PASSED_THROUGH {
        if let Some(v) = std::env::var_os(k) {
            env.insert((*k).into(), v);
        }
    }
    env.insert("TZ".into(), info.zone.into());
    env.insert("KIT_TASK".into(), task.name.clone().into());
    env.insert("KIT_DB".into(), info.db.as_os_str().to_owned());
    env.extend(info.run.iter().flat_map(RunVars::to_env));
    for (k, v) in &task.env {
        env.insert(k.into(), v.into());
    }
    env.into_iter().collect()
}

/// The spawn spec for the task's command: argv, environment, cwd, nice and
/// rlimits. The caller sets output, session and parent-death handling.
pub fn spawn_spec(task: &Task, env: Vec<(OsString, OsString)>) -> SpawnSpec {
    let mut spec = SpawnSpec::new(task.command.argv());
    spec.env = env;
    spec.cwd = task.cwd.as_ref().map(std::path::PathBuf::from);
    spec.nice = task.nice;
    if let Some(l) = &task.limits {
        spec.limits = process::Limits {
            nofile: l.nofile,
            cpu_secs: l.cpu.map(|d| d.0.as_secs().max(1)),
            as_bytes: l.address_space.map(|s| s.0),
            fsize_bytes: l.fsize.map(|s| s.0),
        };
    }
    spec
}
