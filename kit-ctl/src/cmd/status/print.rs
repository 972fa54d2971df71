//! `status` for people: aligned label lines, then the problems.

use super::{plural, DaemonState, Status};
use crate::output::{color, status as paint, thousands};
use chrono::Duration;
use kit_db::clock;

/// The order people read statuses in.
const ORDER: &[&str] = &[
    "success", "failed", "timeout", "killed", "lost", "error", "skipped", "missed", "running",
    "queued",
];

pub fn print(s: &Status) -> String {
    let mut out = String::new();
    let mut line =
        |label: &str, text: String| out.push_str(&format!("{:<12}{text}\n", format!("{label}:")));
    line(
        "Tasks",
        format!(
            "{} total, {} enabled",
            thousands(s.tasks.total),
            thousands(s.tasks.enabled)
        ),
    );
    line(
        "Running",
        format!(
            "{}{}",
            s.running,
            if s.queued > 0 {
                format!(" ({} queued)", s.queued)
            } else {
                String::new()
            }
        ),
    );
    if s.conditions.conditions + s.conditions.watches > 0 {
        line(
            "Conditions",
            format!(
                "{} condition{} ({} failing), {} file watch{}{}",
                s.conditions.conditions,
                plural(s.conditions.conditions),
                s.conditions.probes_failing.len(),
                s.conditions.watches,
                if s.conditions.watches == 1 { "" } else { "es" },
                if s.conditions.watches_unwatched {
                    " (not watched: kit-keep is not running)"
                } else {
                    ""
                }
            ),
        );
    }
    let parts: Vec<String> = ORDER
        .iter()
        .filter_map(|st| {
            s.today
                .by_status
                .get(*st)
                .map(|n| format!("{} {}", thousands(*n), paint(st)))
        })
        .collect();
    line(
        "Today",
        format!(
            "{} execution{}{}",
            thousands(s.today.total),
            plural(s.today.total),
            if parts.is_empty() {
                String::new()
            } else {
                format!(" ({})", parts.join(", "))
            }
        ),
    );
    line(
        "Missed",
        format!(
            "{} slot{} today",
            thousands(s.today.missed),
            plural(s.today.missed)
        ),
    );
    let mut d = format!("{}/{} up", s.daemons.up, s.daemons.total);
    let names = |v: &[DaemonState]| {
        v.iter()
            .map(|d| d.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !s.daemons.down.is_empty() {
        d.push_str(&format!(", {}: {}", paint("down"), names(&s.daemons.down)));
    }
    if !s.daemons.quarantined.is_empty() {
        d.push_str(&format!(
            ", {}: {}",
            paint("quarantined"),
            names(&s.daemons.quarantined)
        ));
    }
    if !s.daemons.stopped.is_empty() {
        d.push_str(&format!(", stopped: {}", names(&s.daemons.stopped)));
    }
    line("Daemons", d);
    // Every change of pace in force, with who set it and until when.
    for o in &s.schedule_changes {
        line("Pace", format!("{}: {}", o.task, o.describe()));
    }
    let failing = if s.failing.is_empty() {
        "none".to_string()
    } else {
        s.failing
            .iter()
            .map(|f| {
                let last = match (f.last_status.as_deref(), f.last_exit_code) {
                    (Some(st), Some(c)) => format!("{} {c}", paint(st)),
                    (Some(st), None) => paint(st),
                    _ => String::new(),
                };
                let state = f.state.as_deref().filter(|s| *s != "ok" && *s != "failing");
                format!(
                    "{} ({last}, {} in a row{})",
                    f.task,
                    f.streak,
                    state.map(|s| format!(", {s}")).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    line("Failing", failing);
    if s.triggers.today > 0 || !s.triggers.pending.is_empty() {
        line("Triggers", super::triggers::line(&s.triggers));
    }
    let beats: Vec<String> = s
        .heartbeats
        .iter()
        .map(|b| {
            let age = match b.age_seconds {
                Some(a) => format!("{} ago", clock::human_age(Duration::seconds(a))),
                None => "never".to_string(),
            };
            let age = match b.slept_seconds.filter(|s| *s >= 60) {
                Some(s) => format!("{age} (asleep {})", clock::human_age(Duration::seconds(s))),
                None => age,
            };
            if b.stale && b.needed {
                format!("{} {age} ({})", b.tool, paint("stale"))
            } else {
                format!("{} {age}", b.tool)
            }
        })
        .collect();
    line("Heartbeats", beats.join(", "));
    line(
        "Notify",
        if s.notifications.pending == 0 {
            "all delivered".to_string()
        } else {
            format!("{} undelivered", s.notifications.pending)
        },
    );
    if !s.problems.is_empty() {
        out.push('\n');
        for p in &s.problems {
            let mark = if p.severity == "attention" {
                color("31", "!")
            } else {
                "-".into()
            };
            out.push_str(&format!("{mark} {}\n", p.message));
        }
    }
    out
}
