//! `when = { command, every, timeout, fire, min_interval }`: a condition
//! (threshold) probed on its own cadence. Exit 0 = true (the task may run),
//! exit 1 = false, anything else (another code, a signal, a timeout, a
//! command that cannot start) is a probe failure. See `crate::probe`.

use super::model::Command;
use super::validate::FieldError;
use crate::units::Dur;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a condition that is true fires the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Fire {
    /// Only when the probe turns true (false/failed/unknown → true).
    #[default]
    Edge,
    /// At every probe that finds it true (never more often than `min_interval`).
    Level,
}

impl Fire {
    pub fn as_str(self) -> &'static str {
        match self {
            Fire::Edge => "edge",
            Fire::Level => "level",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct When {
    pub command: Command,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fire: Option<Fire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_interval: Option<Dur>,
}

pub const DEFAULT_EVERY: Duration = Duration::from_secs(5 * 60);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// kit-tick runs once a minute: a shorter cadence could not be kept.
pub const MIN_EVERY: Duration = Duration::from_secs(60);

impl When {
    pub fn every(&self) -> Duration {
        self.every.map_or(DEFAULT_EVERY, |d| d.0)
    }
    pub fn timeout(&self) -> Duration {
        self.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0)
    }
    pub fn fire(&self) -> Fire {
        self.fire.unwrap_or_default()
    }
    pub fn min_interval(&self) -> Duration {
        self.min_interval.map_or(Duration::ZERO, |d| d.0)
    }
}

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

pub fn validate(w: &When) -> Result<(), FieldError> {
    super::validate::validate_command("when.command", &w.command)?;
    if w.every.is_some_and(|d| d.0 < MIN_EVERY) {
        return Err(err(
            "when.every",
            format!(
                "{} is shorter than a minute (kit-tick probes at most once a minute)",
                Dur(w.every())
            ),
        ));
    }
    if w.timeout.is_some_and(|d| d.0.as_millis() < 1) {
        return Err(err("when.timeout", "must be positive"));
    }
    if w.timeout() > w.every() {
        return Err(err(
            "when.timeout",
            format!(
                "{} is longer than when.every ({}): probes would pile up",
                Dur(w.timeout()),
                Dur(w.every())
            ),
        ));
    }
    Ok(())
}
