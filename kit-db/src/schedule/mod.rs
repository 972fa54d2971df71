//! Task schedules: five-field cron expressions and macros with exactly cronie's (Vixie cron's)
//! semantics, plus kit's own `@every DURATION`, `@daemon` and `@reboot`.
//!
//! This is hand-written rather than built on the `cron` or `croner` crates because neither gets
//! cronie's rules right:
//! - the day rule: cronie decides "day-of-month/day-of-week is `*`" from the field's FIRST
//!   CHARACTER (so `*/2` counts as starred); when either day field is starred both must match,
//!   otherwise either may match (`0 0 13 * 5` = every 13th and every Friday);
//! - daylight saving time: cronie treats "fixed-time" jobs (neither minute nor hour field starts
//!   with `*`) and "wildcard" jobs differently across clock changes (see `eval.rs`); the crates
//!   simply step through local times.
//!
//! Layout: `field.rs` parses the five fields, `eval.rs` finds the next firing instant (with the
//! DST rules); `tests.rs` (parsing), `tests_next.rs` (evaluation), `tests_dst.rs`,
//! `tests_cronsim.rs` (cases ported from cronsim) and `tests_reference.rs` (brute-force
//! cross-check) hold the tests.

mod eval;
mod field;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cronsim;
#[cfg(test)]
mod tests_dst;
#[cfg(test)]
mod tests_next;
#[cfg(test)]
mod tests_reference;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
pub use chrono_tz::Tz;

/// The macros cronie understands, with their five-field equivalents.
const MACROS: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

const KNOWN_MACROS: &str =
    "@yearly @annually @monthly @weekly @daily @midnight @hourly @every @daemon @reboot @event";

/// When a task runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// A cron expression or cron macro (`@daily`, ...).
    Cron(CronExpr),
    /// `@every DURATION`: a fixed interval (at least one minute, whole seconds).
    Every(Duration),
    /// `@daemon`: keep the task running.
    Daemon,
    /// `@reboot`: run once at boot.
    Reboot,
    /// `@event`: no time slots; runs only when triggered (`kit-ctl trigger`,
    /// the API, a chain, a condition or a watch).
    Event,
}

/// A parse error. `field` names the cron field at fault ("minute", "hour", "day-of-month",
/// "month", "day-of-week") when there is one; `message` is the complete human-readable text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ScheduleError {
    pub field: Option<&'static str>,
    pub message: String,
}

impl ScheduleError {
    fn general(message: impl Into<String>) -> Self {
        ScheduleError {
            field: None,
            message: message.into(),
        }
    }
}

/// A parsed cron expression (five fields or a macro).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronExpr {
    /// Canonical text: the macro name, or the fields as written joined by single spaces.
    text: String,
    /// Bit sets of allowed values (bit `v` set when `v` is allowed).
    minutes: u64,
    hours: u64,
    doms: u64,
    months: u64,
    /// Bits 0-6, Sunday = 0 (a written 7 is folded into 0).
    dows: u64,
    /// cronie's DOM_STAR / DOW_STAR: the field's text begins with `*`.
    dom_star: bool,
    dow_star: bool,
    /// cronie's MIN_STAR | HR_STAR: the minute or the hour field begins with `*`.
    wildcard: bool,
}

impl CronExpr {
    /// Parses five whitespace-separated fields or one of the cron macros (`@daily`, ...).
    pub fn parse(text: &str) -> Result<CronExpr, ScheduleError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ScheduleError::general("empty schedule"));
        }
        if text.starts_with('@') {
            let (name, rest) = split_first_token(text);
            let Some((_, fields)) = MACROS.iter().find(|(m, _)| *m == name) else {
                return Err(unknown_macro(name));
            };
            if !rest.is_empty() {
                return Err(ScheduleError::general(format!(
                    "{name:?} takes no argument, found {rest:?}"
                )));
            }
            let mut expr = CronExpr::parse_fields(fields)?;
            expr.text = name.to_string();
            return Ok(expr);
        }
        CronExpr::parse_fields(text)
    }

    fn parse_fields(text: &str) -> Result<CronExpr, ScheduleError> {
        let tokens: Vec<&str> = tokens(text).collect();
        let [minute, hour, dom, month, dow] = tokens[..] else {
            return Err(ScheduleError::general(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                tokens.len()
            )));
        };
        let mut dows = field::parse_field(&field::DOW, dow)?;
        if dows & (1 << 7) != 0 {
            dows = (dows & !(1 << 7)) | 1;
        }
        let expr = CronExpr {
            text: tokens.join(" "),
            minutes: field::parse_field(&field::MINUTE, minute)?,
            hours: field::parse_field(&field::HOUR, hour)?,
            doms: field::parse_field(&field::DOM, dom)?,
            months: field::parse_field(&field::MONTH, month)?,
            dows,
            dom_star: dom.starts_with('*'),
            dow_star: dow.starts_with('*'),
            wildcard: minute.starts_with('*') || hour.starts_with('*'),
        };
        field::check_can_fire(
            &expr.text,
            expr.doms,
            expr.months,
            expr.dom_star,
            expr.dow_star,
        )?;
        Ok(expr)
    }

    /// The canonical text (what [`fmt::Display`] prints).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for cronie's "fixed-time" jobs: neither the minute nor the hour field begins with
    /// `*`. These run once per matching wall-clock time across DST changes; "wildcard" jobs
    /// follow the wall clock as it passes.
    pub fn is_fixed_time(&self) -> bool {
        !self.wildcard
    }
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for CronExpr {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CronExpr::parse(s)
    }
}

impl Schedule {
    /// Parses "m h dom mon dow", the macros @yearly @annually @monthly @weekly @daily
    /// @midnight @hourly, "@every DURATION" (humantime syntax, at least one minute, whole
    /// seconds), "@daemon", "@reboot" and "@event". Surrounding whitespace is ignored; fields are
    /// separated by any run of spaces and tabs.
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ScheduleError::general("empty schedule"));
        }
        let (first, rest) = split_first_token(text);
        let no_argument = |schedule: Schedule| {
            if rest.is_empty() {
                Ok(schedule)
            } else {
                Err(ScheduleError::general(format!(
                    "{first:?} takes no argument, found {rest:?}"
                )))
            }
        };
        match first {
            "@every" => parse_every(rest).map(Schedule::Every),
            "@daemon" => no_argument(Schedule::Daemon),
            "@reboot" => no_argument(Schedule::Reboot),
            "@event" => no_argument(Schedule::Event),
            _ => CronExpr::parse(text).map(Schedule::Cron),
        }
    }

    /// For [`Schedule::Cron`]: the first firing instant strictly after `after` (always on a
    /// whole minute), evaluated in `tz` with cronie's DST rules. `None` for the other variants,
    /// and when nothing fires within the search horizon (50 years).
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Cron(expr) => expr.next_after(after, tz),
            Schedule::Every(_) | Schedule::Daemon | Schedule::Reboot | Schedule::Event => None,
        }
    }

    /// True for [`Schedule::Cron`] (expressions and macros).
    pub fn is_cron(&self) -> bool {
        matches!(self, Schedule::Cron(_))
    }

    /// The interval of an [`Schedule::Every`].
    pub fn every(&self) -> Option<Duration> {
        match self {
            Schedule::Every(interval) => Some(*interval),
            _ => None,
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Cron(expr) => expr.fmt(f),
            Schedule::Every(interval) => {
                write!(f, "@every {}", humantime::format_duration(*interval))
            }
            Schedule::Daemon => f.write_str("@daemon"),
            Schedule::Reboot => f.write_str("@reboot"),
            Schedule::Event => f.write_str("@event"),
        }
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Schedule::parse(s)
    }
}

/// Tokens separated by runs of spaces and tabs.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split([' ', '\t']).filter(|t| !t.is_empty())
}

/// Splits off the first token; the rest comes back trimmed of spaces and tabs.
fn split_first_token(text: &str) -> (&str, &str) {
    match text.split_once([' ', '\t']) {
        Some((first, rest)) => (first, rest.trim_matches([' ', '\t'])),
        None => (text, ""),
    }
}

fn unknown_macro(name: &str) -> ScheduleError {
    ScheduleError::general(format!("unknown macro {name:?} (known: {KNOWN_MACROS})"))
}

fn parse_every(text: &str) -> Result<Duration, ScheduleError> {
    if text.is_empty() {
        return Err(ScheduleError::general(
            "\"@every\" needs a duration, e.g. \"@every 10m\" or \"@every 1h30m\"",
        ));
    }
    let interval = humantime::parse_duration(text).map_err(|e| {
        ScheduleError::general(format!("invalid duration {text:?} after @every: {e}"))
    })?;
    if interval.subsec_nanos() != 0 {
        return Err(ScheduleError::general(format!(
            "@every {text}: the interval must be a whole number of seconds"
        )));
    }
    if interval < Duration::from_secs(60) {
        return Err(ScheduleError::general(format!(
            "@every {text} is too short: the minimum interval is 1 minute"
        )));
    }
    Ok(interval)
}
