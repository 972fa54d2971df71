//! How a task is triggered and what is pending, in one shape for `list`,
//! `show`, `next`, `status`, the API and the page, so they cannot disagree.

use super::{chain, pending};
use crate::task::Task;
use crate::Result;
use rusqlite::Connection;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Upstream {
    pub task: String,
    pub on: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TriggerInfo {
    /// `schedule = "@event"`: no time slots, only triggers.
    pub event_only: bool,
    /// Chains this task follows.
    pub after: Vec<Upstream>,
    /// Tasks that follow this one.
    pub followers: Vec<Upstream>,
    /// The debounce, as declared ("30s").
    pub debounce: Option<String>,
    /// Queued triggered runs waiting to start.
    pub pending: Vec<pending::Waiting>,
}

impl TriggerInfo {
    /// One line for people: "@event; after defrag (success); debounce 30s".
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self.event_only {
            parts.push("when triggered".into());
        }
        for u in &self.after {
            parts.push(format!("after {} ({})", u.task, u.on));
        }
        if let Some(d) = &self.debounce {
            parts.push(format!("debounce {d}"));
        }
        parts.join("; ")
    }

    /// "queued #12 (3 triggers, due 10:00:50)" per pending run.
    pub fn pending_summary(&self) -> Option<String> {
        let p: Vec<String> = self
            .pending
            .iter()
            .map(|w| format!("queued {}", w.describe()))
            .collect();
        (!p.is_empty()).then(|| p.join(", "))
    }
}

fn ups(v: Vec<(String, String)>) -> Vec<Upstream> {
    v.into_iter()
        .map(|(task, on)| Upstream { task, on })
        .collect()
}

/// The trigger facts of one task.
pub fn of(conn: &Connection, task: &Task) -> Result<TriggerInfo> {
    Ok(TriggerInfo {
        event_only: task.is_event_only(),
        after: ups(chain::upstreams(conn, &task.name)?),
        followers: ups(chain::followers(conn, &task.name)?),
        debounce: task.debounce.map(|d| d.to_string()),
        pending: pending::waiting(conn, Some(&task.name))?,
    })
}
