//! Noticing that an adaptation, override or pause has ended on its own, and
//! saying so once (`schedule_changed` for adaptations, `override` for the
//! rest). kit-tick does it each tick; the dedupe key makes it once whoever
//! notices. The slots need nothing: the timeline already ended the window.

use super::rows::{self, Override};
use crate::clock::{self, Instant};
use crate::Result;
use rusqlite::{params, Connection};

pub fn note_expired(conn: &Connection, now: Instant) -> Result<Vec<Override>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM supervisor_overrides
         WHERE cleared_at IS NULL AND reverted_at IS NULL AND ends_at <= ?1 AND kind <> 'at'",
        rows::COLUMNS
    ))?;
    let ended: Vec<Override> = stmt
        .query_map([clock::fmt(now)], rows::from_row)?
        .collect::<rusqlite::Result<_>>()?;
    for o in &ended {
        let (kind, message) = match o.kind.as_str() {
            "adapt" => (
                "schedule_changed",
                format!(
                    "{}: back to its base schedule ({} ended at {})",
                    o.task,
                    o.describe(),
                    o.ends_at
                ),
            ),
            _ => ("override", format!("{}: ended: {}", o.task, o.describe())),
        };
        super::announce(
            conn,
            kind,
            &o.task,
            message,
            serde_json::json!({ "override_id": o.id, "kind": o.kind, "ended_at": o.ends_at }),
            format!("{}:{}:end", o.kind, o.id),
            now,
        )?;
        conn.execute(
            "UPDATE supervisor_overrides SET reverted_at = ?2 WHERE id = ?1",
            params![o.id, clock::fmt(now)],
        )?;
    }
    Ok(ended)
}
