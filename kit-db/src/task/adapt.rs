//! The task fields of adaptive schedules (issue 18): `success_exit`,
//! `rate_limit` and `[[task.adapt]]` rules. Kept apart from `model.rs` so
//! the main struct only names them; their meaning and checks live here.

use super::validate::FieldError;
use super::Task;
use crate::schedule::Schedule;
use crate::units::Dur;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// The longest an adaptation, an override or a pause may last (one `for`,
/// `--for` or `--until`). Longer is `disable`, which is explicit.
pub const MAX_SPAN: Duration = Duration::from_secs(7 * 86400);

/// `rate_limit = "12/1h"`: at most `count` runs started within any `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub per: Dur,
}

impl RateLimit {
    pub fn parse(text: &str) -> Result<RateLimit, String> {
        let (n, per) = text.split_once('/').ok_or_else(|| {
            format!("invalid rate limit {text:?}: expected COUNT/DURATION, e.g. \"12/1h\"")
        })?;
        let count: u32 = n.trim().parse().map_err(|_| {
            format!("invalid rate limit {text:?}: {n:?} is not a whole number of runs")
        })?;
        if count == 0 {
            return Err(format!(
                "invalid rate limit {text:?}: at least 1 run (to stop a task, disable it)"
            ));
        }
        let per = Dur::parse(per).map_err(|e| format!("invalid rate limit {text:?}: {e}"))?;
        if per.0 < Duration::from_secs(1) {
            return Err(format!(
                "invalid rate limit {text:?}: the window must be at least 1s"
            ));
        }
        Ok(RateLimit { count, per })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.per)
    }
}

impl Serialize for RateLimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RateLimit::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// What makes a finished run match an adaptation rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// `exit:N`: the command exited with status N (success or not).
    Exit(i32),
    /// `status:failed`: the run ended failed, timeout or error.
    Failed,
    /// `output:PATTERN`: the kept output matches (see `adapt::pattern`).
    Output(String),
}

impl When {
    pub fn parse(text: &str) -> Result<When, String> {
        let bad = || {
            format!("invalid condition {text:?}: expected exit:N, status:failed or output:PATTERN")
        };
        let (kind, arg) = text.split_once(':').ok_or_else(bad)?;
        match kind.trim() {
            "exit" => arg
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|n| (0..=255).contains(n))
                .map(When::Exit)
                .ok_or_else(|| format!("invalid condition {text:?}: exit status must be 0..255")),
            "status" if arg.trim() == "failed" => Ok(When::Failed),
            "status" => Err(format!(
                "invalid condition {text:?}: only status:failed is supported"
            )),
            "output" => {
                crate::adapt::pattern::Pattern::parse(arg)
                    .map_err(|e| format!("invalid condition {text:?}: {e}"))?;
                Ok(When::Output(arg.to_string()))
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            When::Exit(n) => write!(f, "exit:{n}"),
            When::Failed => f.write_str("status:failed"),
            When::Output(p) => write!(f, "output:{p}"),
        }
    }
}

impl Serialize for When {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for When {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        When::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One `[[task.adapt]]` rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptRule {
    pub when: When,
    /// The pace while adapted.
    pub schedule: String,
    /// How long after the last match the adapted pace lasts.
    #[serde(rename = "for")]
    pub for_: Dur,
}

/// Whether exit status `code` counts as success (0 always does).
pub fn is_success_exit(task: &Task, code: i32) -> bool {
    code == 0
        || task
            .success_exit
            .as_ref()
            .is_some_and(|v| v.contains(&code))
}

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks this module's fields (called by `validate`).
pub fn validate(t: &Task) -> Result<(), FieldError> {
    if let Some(codes) = &t.success_exit {
        if let Some(c) = codes.iter().find(|c| !(0..=255).contains(*c)) {
            return Err(err(
                "success_exit",
                format!("{c} is not an exit status (0..255)"),
            ));
        }
    }
    let timed = !matches!(t.schedule.trim(), "@daemon" | "@reboot");
    if !t.adapt.is_empty() && !timed {
        return Err(err(
            "adapt",
            format!("{} tasks have no schedule to adapt", t.schedule.trim()),
        ));
    }
    for (i, rule) in t.adapt.iter().enumerate() {
        let field = |f: &str| format!("adapt[{i}].{f}");
        let s =
            Schedule::parse(&rule.schedule).map_err(|e| err(&field("schedule"), e.to_string()))?;
        if matches!(s, Schedule::Daemon | Schedule::Reboot) {
            return Err(err(
                &field("schedule"),
                format!(
                    "{:?} is not a pace: use a cron expression or @every",
                    rule.schedule
                ),
            ));
        }
        if rule.for_.0.is_zero() || rule.for_.0 > MAX_SPAN {
            return Err(err(
                &field("for"),
                format!("{} is out of range: more than 0s, at most 7d", rule.for_),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_parse_and_print_back() {
        let r = RateLimit::parse("12/1h").unwrap();
        assert_eq!((r.count, r.per.0), (12, Duration::from_secs(3600)));
        assert_eq!(r.to_string(), "12/1h");
        for bad in ["12", "0/1h", "x/1h", "3/0s", "3/10"] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn conditions_parse() {
        assert_eq!(When::parse("exit:10").unwrap(), When::Exit(10));
        assert_eq!(When::parse("status:failed").unwrap(), When::Failed);
        assert!(When::parse("output:anomal(y|ies)").is_ok());
        assert!(When::parse("output:anomal(y").is_err());
        assert!(When::parse("output:ANOMALY [0-9]+").is_ok());
        for bad in ["exit:x", "exit:300", "status:ok", "cpu:90", "exit"] {
            assert!(When::parse(bad).is_err(), "{bad}");
        }
    }
}
