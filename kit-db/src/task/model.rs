//! The task model: one struct for the TOML file, the CLI, the API and
//! `export`. Optional keys stay `Option` so that `export` writes back exactly
//! what was declared; the accessors below supply the documented defaults.

use crate::units::{Dur, Size};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// What to run: a string runs under `/bin/sh -c`; an array is exec'd as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Command {
    Shell(String),
    Argv(Vec<String>),
}

impl Command {
    /// The argv to exec.
    pub fn argv(&self) -> Vec<String> {
        match self {
            Command::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
            Command::Argv(v) => v.clone(),
        }
    }

    /// A one-line rendering for people (`list`, `show`).
    pub fn display(&self) -> String {
        match self {
            Command::Shell(s) => s.clone(),
            Command::Argv(v) => v
                .iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// Quotes an argument for display so it could be pasted into a shell.
pub fn shell_quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CatchUp {
    #[default]
    Once,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    #[default]
    Skip,
    Allow,
    Replace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Escalate {
    Disable,
    #[default]
    Notify,
}

/// What kit finds itself, or what a task cannot fix by running again:
/// notified at its first occurrence, not after `failure_threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AtOnce {
    /// Could not start: status `error` (bad cwd, spawn failure), or a
    /// shell's 126/127 (found but not executable, not found).
    Error,
    /// kit-run died (kill -9, crash) and the run was reconciled `lost`.
    Lost,
    /// Still running past its timeout, grace and a minute's slack.
    Stuck,
    /// Slots kit-tick recorded missed, or claims kit-run never took.
    Missed,
    /// Overlap skips in a row (see `kit_db::overdue::SKIP_STREAK`).
    Skipped,
    /// kit-tick could not write the DB (kit-wide: `[settings.recovery]` only).
    TickFailed,
    /// The wall clock jumped (kit-wide: `[settings.recovery]` only).
    ClockJump,
}

impl AtOnce {
    /// The default: all of them.
    pub const ALL: [AtOnce; 7] = [
        AtOnce::Error,
        AtOnce::Lost,
        AtOnce::Stuck,
        AtOnce::Missed,
        AtOnce::Skipped,
        AtOnce::TickFailed,
        AtOnce::ClockJump,
    ];

    /// Findings about kit itself, not about one task.
    pub fn kit_wide(self) -> bool {
        matches!(self, AtOnce::TickFailed | AtOnce::ClockJump)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nofile: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Dur>,
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub address_space: Option<Size>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fsize: Option<Size>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Recovery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<Dur>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate: Option<Escalate>,
    /// Findings notified at their first occurrence (default: all of
    /// [`AtOnce::ALL`]; `[]` leaves every one to `failure_threshold`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_at_once: Option<Vec<AtOnce>>,
}

/// Which endings of the upstream run start a chained task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum On {
    /// The upstream ended `success`.
    Success,
    /// The upstream ended `failed`, `timeout`, `killed`, `error` or `lost`.
    Failure,
    /// Any ending (success or failure; not skipped or missed, which never ran).
    Finish,
}

impl On {
    /// True when an upstream that ended with `status` starts the chain.
    pub fn matches(self, status: &str) -> bool {
        let failure = matches!(status, "failed" | "timeout" | "killed" | "error" | "lost");
        match self {
            On::Success => status == "success",
            On::Failure => failure,
            On::Finish => status == "success" || failure,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            On::Success => "success",
            On::Failure => "failure",
            On::Finish => "finish",
        }
    }
}

/// `after = [{ task = "storage-defrag", on = "success" }]`: run this task
/// when that one's run ends so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct After {
    pub task: String,
    #[serde(default = "on_success")]
    pub on: On,
}

fn on_success() -> On {
    On::Success
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrashLoop {
    pub failures: u32,
    pub within: Dur,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    pub command: Command,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u32>,
    /// Grace after a start before checks count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Dur>,
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}

/// A declared task. Field order is the order `export` writes them in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub name: String,
    pub schedule: String,
    pub command: Command,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_grace: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nice: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<CatchUp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up_max_age: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<Overlap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Dur>,
    /// Chains: the upstream runs whose end starts this task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<After>,
    /// Triggered runs start only after this long without a new trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debounce: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_delay: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_max_delay: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_cap: Option<Size>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_delay: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_max_delay: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_after: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_max_size: Option<Size>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_files: Option<u32>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crashloop: Option<CrashLoop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
    /// A condition probed on its own cadence (task/when.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<super::when::When>,
    /// Paths whose changes fire the task (task/watch.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<super::watch::Watch>,
    // Adaptive schedules (task/adapt.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_exit: Option<Vec<i32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<super::adapt::RateLimit>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adapt: Vec<super::adapt::AdaptRule>,
}

/// The documented defaults (README "Configuration reference").
pub mod defaults {
    use std::time::Duration;
    pub const KILL_GRACE: Duration = Duration::from_secs(10);
    pub const RETRY_DELAY: Duration = Duration::from_secs(30);
    pub const RETRY_MAX_DELAY: Duration = Duration::from_secs(3600);
    pub const OUTPUT_CAP: u64 = 256 * 1024;
    pub const RESTART_DELAY: Duration = Duration::from_millis(100);
    pub const RESTART_MAX_DELAY: Duration = Duration::from_secs(60);
    pub const STABLE_AFTER: Duration = Duration::from_secs(60);
    pub const QUARANTINE: Duration = Duration::from_secs(15 * 60);
    pub const CRASHLOOP_FAILURES: u32 = 5;
    pub const CRASHLOOP_WITHIN: Duration = Duration::from_secs(120);
    pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
    pub const LOG_MAX_SIZE: u64 = 10 * 1000 * 1000;
    pub const LOG_FILES: u32 = 5;
    pub const HEALTH_EVERY: Duration = Duration::from_secs(30);
    pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
    pub const HEALTH_FAILURES: u32 = 3;
    /// A task with no timeout counts as stuck after this long.
    pub const STUCK_CEILING: Duration = Duration::from_secs(24 * 3600);
}

impl Task {
    /// A minimal task; the CLI and tests fill in the rest.
    pub fn new(name: &str, schedule: &str, command: Command) -> Task {
        Task {
            name: name.into(),
            schedule: schedule.into(),
            command,
            description: None,
            enabled: true,
            timezone: None,
            timeout: None,
            kill_grace: None,
            cwd: None,
            nice: None,
            catch_up: None,
            catch_up_max_age: None,
            overlap: None,
            jitter: None,
            after: Vec::new(),
            debounce: None,
            retries: None,
            retry_delay: None,
            retry_max_delay: None,
            output_cap: None,
            restart_delay: None,
            restart_max_delay: None,
            stable_after: None,
            quarantine: None,
            stop_signal: None,
            stop_timeout: None,
            log_max_size: None,
            log_files: None,
            env: BTreeMap::new(),
            limits: None,
            crashloop: None,
            health: None,
            recovery: None,
            when: None,
            watch: None,
            success_exit: None,
            rate_limit: None,
            adapt: Vec::new(),
        }
    }

    pub fn is_daemon(&self) -> bool {
        self.schedule.trim() == "@daemon"
    }
    /// `@event`: no time slots, runs only when triggered.
    pub fn is_event_only(&self) -> bool {
        self.schedule.trim() == "@event"
    }
    pub fn kill_grace(&self) -> Duration {
        self.kill_grace.map_or(defaults::KILL_GRACE, |d| d.0)
    }
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout.map(|d| d.0).filter(|d| !d.is_zero())
    }
    pub fn overlap(&self) -> Overlap {
        self.overlap.unwrap_or_default()
    }
    pub fn catch_up(&self) -> CatchUp {
        self.catch_up.unwrap_or_default()
    }
    pub fn retries(&self) -> u32 {
        self.retries.unwrap_or(0)
    }
    pub fn retry_delay(&self) -> Duration {
        self.retry_delay.map_or(defaults::RETRY_DELAY, |d| d.0)
    }
    pub fn retry_max_delay(&self) -> Duration {
        self.retry_max_delay
            .map_or(defaults::RETRY_MAX_DELAY, |d| d.0)
    }
    pub fn output_cap(&self) -> u64 {
        self.output_cap.map_or(defaults::OUTPUT_CAP, |s| s.0)
    }
    pub fn restart_delay(&self) -> Duration {
        self.restart_delay.map_or(defaults::RESTART_DELAY, |d| d.0)
    }
    pub fn restart_max_delay(&self) -> Duration {
        self.restart_max_delay
            .map_or(defaults::RESTART_MAX_DELAY, |d| d.0)
    }
    pub fn stable_after(&self) -> Duration {
        self.stable_after.map_or(defaults::STABLE_AFTER, |d| d.0)
    }
    pub fn quarantine(&self) -> Duration {
        self.quarantine.map_or(defaults::QUARANTINE, |d| d.0)
    }
    pub fn crashloop(&self) -> (u32, Duration) {
        self.crashloop.as_ref().map_or(
            (defaults::CRASHLOOP_FAILURES, defaults::CRASHLOOP_WITHIN),
            |c| (c.failures, c.within.0),
        )
    }
    pub fn stop_timeout(&self) -> Duration {
        self.stop_timeout.map_or(defaults::STOP_TIMEOUT, |d| d.0)
    }
    pub fn stop_signal(&self) -> nix::sys::signal::Signal {
        self.stop_signal
            .as_deref()
            .and_then(|s| crate::task::validate::parse_signal(s).ok())
            .unwrap_or(nix::sys::signal::Signal::SIGTERM)
    }
    pub fn log_max_size(&self) -> u64 {
        self.log_max_size.map_or(defaults::LOG_MAX_SIZE, |s| s.0)
    }
    pub fn log_files(&self) -> u32 {
        self.log_files.unwrap_or(defaults::LOG_FILES)
    }
    /// How long a running execution may last before kit-heal calls it stuck.
    pub fn stuck_after(&self) -> Duration {
        match self.timeout() {
            Some(t) => t + self.kill_grace() + Duration::from_secs(60),
            None => defaults::STUCK_CEILING,
        }
    }
}
