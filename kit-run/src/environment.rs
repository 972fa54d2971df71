//! The environment a task runs in: a clean, documented base (like cron's)
//! plus the task's own `env`, never kit-run's whole inherited environment,
//! so a task behaves the same under launchd, systemd, cron or a shell.

use kit_db::task::Task;
use std::ffi::OsString;

pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/local/sbin:/usr/bin:/bin:/usr/sbin:/sbin";

/// Variables passed through from kit-run's own environment when set.
const PASSED_THROUGH: &[&str] = &["HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "KIT_HOME", "KIT_NOW"];

pub struct RunInfo<'a> {
    pub execution_id: i64,
    pub trigger: &'a str,
    pub attempt: i64,
    pub scheduled_for: Option<&'a str>,
    pub db: &'a std::path::Path,
    pub zone: &'a str,
}

/// The base, then KIT_* variables describing the run, then the task's env
/// (which may override anything, including PATH).
pub fn build(task: &Task, info: &RunInfo) -> Vec<(OsString, OsString)> {
    let mut env: std::collections::BTreeMap<OsString, OsString> = Default::default();
    env.insert("PATH".into(), DEFAULT_PATH.into());
    env.insert("SHELL".into(), "/bin/sh".into());
    for k in PASSED_THROUGH {
        if let Some(v) = std::env::var_os(k) {
            env.insert((*k).into(), v);
        }
    }
    env.insert("TZ".into(), info.zone.into());
    env.insert("KIT_TASK".into(), task.name.clone().into());
    env.insert("KIT_EXECUTION_ID".into(), info.execution_id.to_string().into());
    env.insert("KIT_TRIGGER".into(), info.trigger.into());
    env.insert("KIT_ATTEMPT".into(), info.attempt.to_string().into());
    env.insert("KIT_DB".into(), info.db.as_os_str().to_owned());
    if let Some(s) = info.scheduled_for {
        env.insert("KIT_SCHEDULED_FOR".into(), s.into());
    }
    for (k, v) in &task.env {
        env.insert(k.into(), v.into());
    }
    env.into_iter().collect()
}
