//! kit-keep's own log on stderr: one line per event, as text for people or
//! JSON lines (`--json-log`) for log collectors. Writing never fails the
//! supervisor: a closed stderr just loses the line.

use std::io::Write;

#[derive(Debug, Clone, Copy)]
pub struct Log {
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

impl Log {
    /// `event` is a stable keyword (started, exited, restarting, quarantined,
    /// adopted, stopping, stopped, reload, request, health, db, rotate, …).
    pub fn emit(&self, level: Level, event: &str, task: Option<&str>, msg: &str) {
        let ts = kit_db::clock::fmt(chrono::Utc::now());
        let line = if self.json {
            let mut obj = serde_json::json!({
                "time": ts, "level": level.as_str(), "event": event, "message": msg,
            });
            if let Some(t) = task {
                obj["task"] = t.into();
            }
            format!("{obj}\n")
        } else {
            let lvl = match level {
                Level::Info => "",
                Level::Warn => "warning: ",
                Level::Error => "error: ",
            };
            match task {
                Some(t) => format!("{ts} kit-keep: {lvl}{t}: {msg}\n"),
                None => format!("{ts} kit-keep: {lvl}{msg}\n"),
            }
        };
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    pub fn info(&self, event: &str, task: Option<&str>, msg: &str) {
        self.emit(Level::Info, event, task, msg);
    }
    pub fn warn(&self, event: &str, task: Option<&str>, msg: &str) {
        self.emit(Level::Warn, event, task, msg);
    }
    pub fn error(&self, event: &str, task: Option<&str>, msg: &str) {
        self.emit(Level::Error, event, task, msg);
    }
}
