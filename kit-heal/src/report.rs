//! What kit-heal prints: one line per event recorded, action taken or
//! notification attempted; a JSON object per line with `--json`.

use serde::Serialize;
use std::io::Write;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    /// An event written to the outbox (failing, recovering, missed, ...).
    Event {
        id: Option<i64>,
        kind: String,
        severity: String,
        task: Option<String>,
        message: String,
    },
    /// A recovery action started (or that could not be).
    Action {
        event: i64,
        task: String,
        action: String,
        /// started, requested, failed; "pending" in a dry run
        result: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A delivery attempt of an event to the notify command.
    Notify {
        event: i64,
        kind: String,
        task: Option<String>,
        /// delivered, failed (retried later), unsent (no notify command),
        /// due (dry run)
        result: String,
        attempt: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        next_attempt_at: Option<String>,
    },
}

impl Line {
    /// The event the line is about (for ordering).
    pub fn event_id(&self) -> i64 {
        match self {
            Line::Event { id, .. } => id.unwrap_or(0),
            Line::Action { event, .. } | Line::Notify { event, .. } => *event,
        }
    }

    fn text(&self) -> String {
        match self {
            // Messages name the task themselves (they are what people get).
            Line::Event {
                id, kind, message, ..
            } => format!(
                "{}{kind}: {message}",
                id.map(|i| format!("#{i} ")).unwrap_or_default(),
            ),
            Line::Action {
                event,
                task,
                action,
                result,
                pid,
                error,
            } => {
                let mut s = format!("#{event} action {task}: {action}: {result}");
                if let Some(p) = pid {
                    s.push_str(&format!(" (pid {p})"));
                }
                if let Some(e) = error {
                    s.push_str(&format!(": {e}"));
                }
                s
            }
            Line::Notify {
                event,
                kind,
                task,
                result,
                attempt,
                error,
                next_attempt_at,
            } => {
                let mut s = format!(
                    "#{event} notify {kind} {}: {result}",
                    task.as_deref().unwrap_or("-")
                );
                if *attempt > 1 {
                    s.push_str(&format!(" (attempt {attempt})"));
                }
                if let Some(e) = error {
                    s.push_str(&format!(": {e}"));
                }
                if let Some(n) = next_attempt_at {
                    s.push_str(&format!("; next attempt at {n}"));
                }
                s
            }
        }
    }
}

/// Prints lines as they are produced.
pub struct Printer {
    pub json: bool,
    pub dry_run: bool,
}

impl Printer {
    pub fn print(&self, line: &Line) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        if self.json {
            let mut v = serde_json::to_value(line).unwrap_or_default();
            if self.dry_run {
                v["dry_run"] = serde_json::Value::Bool(true);
            }
            serde_json::to_writer(&mut out, &v)?;
            out.write_all(b"\n")
        } else if self.dry_run {
            writeln!(out, "(dry run) {}", line.text())
        } else {
            writeln!(out, "{}", line.text())
        }
    }

    pub fn print_all(&self, lines: &[Line]) -> std::io::Result<()> {
        lines.iter().try_for_each(|l| self.print(l))
    }
}

/// Records an event and, if it is new, notes a line for it.
pub fn record(
    conn: &rusqlite::Connection,
    ev: &kit_db::events::NewEvent,
    now: kit_db::clock::Instant,
    lines: &mut Vec<Line>,
) -> kit_db::Result<Option<i64>> {
    let id = kit_db::events::record(conn, ev, now)?;
    if id.is_some() {
        lines.push(Line::Event {
            id,
            kind: ev.kind.to_string(),
            severity: ev.severity.as_str().to_string(),
            task: ev.task.map(str::to_string),
            message: ev.message.clone(),
        });
    }
    Ok(id)
}
