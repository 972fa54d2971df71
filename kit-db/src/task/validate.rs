//! The one validator every way into kit goes through (TOML file, CLI, API,
//! export round trip). Errors name the field and the value.

use super::model::{Command, Task};
use crate::schedule::Schedule;
use std::fmt;

/// A validation failure: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Task names: `[a-z0-9][a-z0-9._-]*`, at most 100 characters. They become
/// file names (logs, locks) and URL path segments, so nothing else is safe.
pub fn validate_name(name: &str) -> Result<(), FieldError> {
    let ok_first = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok_rest = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if name.is_empty() {
        return Err(err("name", "empty task name"));
    }
    if !ok_first || !ok_rest || name.len() > 100 {
        return Err(err(
            "name",
            format!(
                "invalid task name {name:?}: use lowercase letters, digits, '.', '_' and '-', \
                 starting with a letter or digit, at most 100 characters"
            ),
        ));
    }
    Ok(())
}

pub fn validate_timezone(tz: &str) -> Result<chrono_tz::Tz, String> {
    tz.parse::<chrono_tz::Tz>().map_err(|_| {
        format!("unknown time zone {tz:?} (use an IANA name such as Europe/Warsaw or UTC)")
    })
}

pub fn parse_signal(s: &str) -> Result<nix::sys::signal::Signal, String> {
    let t = s.trim().to_ascii_uppercase();
    if let Ok(n) = t.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).map_err(|_| format!("unknown signal {s:?}"));
    }
    let full = if t.starts_with("SIG") {
        t
    } else {
        format!("SIG{t}")
    };
    full.parse::<nix::sys::signal::Signal>()
        .map_err(|_| format!("unknown signal {s:?} (examples: TERM, INT, HUP, QUIT, KILL)"))
}

pub(crate) fn validate_command(field: &str, c: &Command) -> Result<(), FieldError> {
    match c {
        Command::Shell(s) if s.trim().is_empty() => Err(err(field, "empty command")),
        Command::Argv(v) if v.is_empty() || v[0].is_empty() => Err(err(
            field,
            "empty command: the array needs at least the program",
        )),
        Command::Argv(v) if v.iter().any(|a| a.contains('\0')) => {
            Err(err(field, "an argument contains a NUL byte"))
        }
        // exec takes C strings: a NUL could never be passed, so refuse it now
        // rather than fail at every run.
        Command::Shell(s) if s.contains('\0') => Err(err(field, "the command contains a NUL byte")),
        _ => Ok(()),
    }
}

/// Recovery actions: `restart:DAEMON`, `run:TASK`, `exec:COMMAND`.
pub fn validate_action(a: &str) -> Result<(), String> {
    let (kind, arg) = a.split_once(':').ok_or_else(|| {
        format!("invalid action {a:?}: expected restart:DAEMON, run:TASK or exec:COMMAND")
    })?;
    match kind {
        "restart" | "run" => {
            validate_name(arg).map_err(|e| format!("invalid action {a:?}: {}", e.message))
        }
        "exec" if !arg.trim().is_empty() => Ok(()),
        "exec" => Err(format!("invalid action {a:?}: empty command")),
        _ => Err(format!(
            "invalid action {a:?}: unknown kind {kind:?} (expected restart, run or exec)"
        )),
    }
}

/// Checks every field of a task. The first problem found is returned.
pub fn validate(t: &Task) -> Result<Schedule, FieldError> {
    validate_name(&t.name)?;
    let schedule = Schedule::parse(&t.schedule).map_err(|e| err("schedule", e.to_string()))?;
    // Instants past year 9999 would overflow the fixed-width stored time
    // format (and its text order), so intervals share the duration cap.
    if schedule
        .every()
        .is_some_and(|d| d > crate::units::Dur::MAX.0)
    {
        return Err(err(
            "schedule",
            "@every: the interval is too long (at most 100 years)",
        ));
    }
    validate_command("command", &t.command)?;
    if let Some(tz) = &t.timezone {
        validate_timezone(tz).map_err(|m| err("timezone", m))?;
    }
    if let Some(cwd) = &t.cwd {
        if cwd.contains('\0') {
            return Err(err("cwd", "contains a NUL byte"));
        }
        if !cwd.starts_with('/') {
            return Err(err("cwd", format!("{cwd:?} is not an absolute path")));
        }
    }
    if let Some(n) = t.nice {
        if !(-20..=19).contains(&n) {
            return Err(err("nice", format!("{n} is out of range -20..19")));
        }
    }
    if t.timeout.is_some_and(|d| d.0.as_millis() < 1) {
        return Err(err("timeout", "must be positive (omit it for no timeout)"));
    }
    if t.retries.is_some_and(|r| r > 100) {
        return Err(err("retries", "at most 100"));
    }
    if t.output_cap.is_some_and(|s| s.0 < 1024 || s.0 > 64 << 20) {
        return Err(err("output_cap", "must be between 1KiB and 64MiB"));
    }
    for (key, value) in &t.env {
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Err(err("env", format!("invalid variable name {key:?}")));
        }
        if value.contains('\0') {
            return Err(err(
                "env",
                format!("the value of {key} contains a NUL byte"),
            ));
        }
    }
    if let Some(s) = &t.stop_signal {
        parse_signal(s).map_err(|m| err("stop_signal", m))?;
    }
    if t.log_files.is_some_and(|n| n == 0 || n > 100) {
        return Err(err("log_files", "must be between 1 and 100"));
    }
    if t.log_max_size.is_some_and(|s| s.0 < 4096) {
        return Err(err("log_max_size", "must be at least 4KiB"));
    }
    if let Some(c) = &t.crashloop {
        if c.failures == 0 {
            return Err(err("crashloop.failures", "must be at least 1"));
        }
        if c.within.0.is_zero() {
            return Err(err("crashloop.within", "must be positive"));
        }
    }
    if let Some(h) = &t.health {
        validate_command("health.command", &h.command)?;
        if h.every.is_some_and(|d| d.0.as_millis() < 100) {
            return Err(err("health.every", "must be at least 100ms"));
        }
        if h.failures == Some(0) {
            return Err(err("health.failures", "must be at least 1"));
        }
    }
    if let Some(w) = t
        .recovery
        .as_ref()
        .and_then(|r| r.notify_at_once.as_ref())
        .and_then(|l| l.iter().find(|w| w.kit_wide()))
    {
        let name = serde_json::to_value(w).unwrap_or_default();
        return Err(err(
            "recovery.notify_at_once",
            format!("{name} is about kit itself, not one task: list it in [settings.recovery] notify_at_once"),
        ));
    }
    if let Some(r) = &t.recovery {
        if r.failure_threshold == Some(0) {
            return Err(err("recovery.failure_threshold", "must be at least 1"));
        }
        for a in &r.actions {
            validate_action(a).map_err(|m| err("recovery.actions", m))?;
        }
    }
    for (i, a) in t.after.iter().enumerate() {
        let field = format!("after[{i}].task");
        validate_name(&a.task).map_err(|e| err(&field, e.message))?;
        if a.task == t.name {
            return Err(err(
                &field,
                format!("a task cannot follow itself (cycle: {0} -> {0})", t.name),
            ));
        }
    }
    if !t.after.is_empty() && t.is_daemon() {
        return Err(err(
            "after",
            "an @daemon task cannot be chained (kit-keep keeps it running; it has no runs to start)",
        ));
    }
    if let Some(d) = t.debounce {
        if d.0.is_zero() || d.0 > crate::units::Dur::MAX.0 {
            return Err(err(
                "debounce",
                "must be positive (omit it to start at once)",
            ));
        }
        if t.is_daemon() {
            return Err(err("debounce", "an @daemon task is not triggered"));
        }
    }
    if let Some(l) = &t.limits {
        if l.nofile == Some(0) {
            return Err(err("limits.nofile", "must be at least 1"));
        }
        // Refused rather than ignored: a cap the kernel does not enforce
        // would be a silent promise (macOS treats RLIMIT_AS as RLIMIT_RSS
        // and enforces neither).
        if l.address_space.is_some() && !crate::platform::RLIMIT_AS_ENFORCED {
            return Err(err(
                "limits.as",
                "is not enforced on this system (macOS does not enforce RLIMIT_AS); remove it",
            ));
        }
    }
    if let Some(w) = &t.when {
        super::when::validate(w)?;
    }
    if let Some(w) = &t.watch {
        super::watch::validate(w)?;
    }
    super::adapt::validate(t)?;
    Ok(schedule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "security-scan", "x.y_z-1", "0day"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "-x", ".x", "a b", "a/b", "ä", "x;rm"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn actions() {
        assert!(validate_action("restart:chrome-relay").is_ok());
        assert!(validate_action("exec:scripts/fix-vpn.sh").is_ok());
        assert!(validate_action("reboot:now").is_err());
        assert!(validate_action("run:").is_err());
    }

    #[test]
    fn signals() {
        assert_eq!(
            parse_signal("term").unwrap(),
            nix::sys::signal::Signal::SIGTERM
        );
        assert_eq!(
            parse_signal("SIGHUP").unwrap(),
            nix::sys::signal::Signal::SIGHUP
        );
        assert!(parse_signal("SIGNOPE").is_err());
    }
}
