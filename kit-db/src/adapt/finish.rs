//! When kit-run finishes a run: the `[[task.adapt]]` rules it matches start
//! or extend an adaptation, in the same transaction that finishes the row.

use super::pattern::Pattern;
use super::rows::{self, NewOverride};
use crate::clock::{self, Instant};
use crate::exec::Finish;
use crate::task::adapt::When;
use crate::task::Task;
use crate::Result;
use rusqlite::{params, Connection};

/// Whether a finished run matches a rule's condition.
pub fn matches(when: &When, f: &Finish) -> bool {
    match when {
        When::Exit(n) => {
            matches!(f.status, "success" | "failed")
                && f.exit_code == Some(*n)
                && f.signal.is_none()
        }
        When::Failed => matches!(f.status, "failed" | "timeout" | "error"),
        When::Output(p) => {
            let out = f.output.as_deref().unwrap_or_default();
            Pattern::parse(p).is_ok_and(|p| p.is_match(&String::from_utf8_lossy(out)))
        }
    }
}

/// Starts or extends the adaptation of each rule `f` matches (ends_at =
/// finish + for; an extension never shortens). Returns the rows touched.
pub fn on_finish(
    conn: &Connection,
    task: &Task,
    execution_id: i64,
    f: &Finish,
    at: Instant,
) -> Result<Vec<i64>> {
    let mut touched = Vec::new();
    for (i, rule) in task.adapt.iter().enumerate() {
        if !matches(&rule.when, f) {
            continue;
        }
        let set_by = format!("adapt:{i}");
        let until = at + rule.for_.chrono();
        let current = rows::active(conn, Some(&task.name), at)?
            .into_iter()
            .find(|o| o.kind == "adapt" && o.set_by == set_by);
        let id = match current {
            Some(o) => {
                conn.execute(
                    "UPDATE supervisor_overrides SET ends_at = max(ends_at, ?2), schedule = ?3,
                       matches = matches + 1, matched_execution_id = ?4, updated_at = ?5
                     WHERE id = ?1",
                    params![
                        o.id,
                        clock::fmt(until),
                        rule.schedule,
                        execution_id,
                        clock::fmt(at)
                    ],
                )?;
                o.id
            }
            None => {
                let id = rows::insert(
                    conn,
                    &NewOverride {
                        task: &task.name,
                        kind: "adapt",
                        schedule: Some(&rule.schedule),
                        starts_at: at,
                        ends_at: until,
                        set_by: &set_by,
                        reason: None,
                        data: None,
                    },
                    at,
                )?;
                conn.execute(
                    "UPDATE supervisor_overrides SET rule = ?2, matched_execution_id = ?3, matches = 1
                     WHERE id = ?1",
                    params![id, rule.when.to_string(), execution_id],
                )?;
                super::announce(
                    conn,
                    "schedule_changed",
                    &task.name,
                    format!(
                        "{}: adapted to {:?} until {} (rule {i}: {}, matched by execution #{execution_id})",
                        task.name,
                        rule.schedule,
                        clock::fmt(until),
                        rule.when
                    ),
                    serde_json::json!({
                        "override_id": id, "rule": i, "when": rule.when.to_string(),
                        "schedule": rule.schedule, "base": task.schedule,
                        "execution_id": execution_id, "until": clock::fmt(until),
                    }),
                    format!("adapt:{id}:start"),
                    at,
                )?;
                id
            }
        };
        rows::reset_next_due(conn, &task.name, at)?;
        touched.push(id);
    }
    Ok(touched)
}
