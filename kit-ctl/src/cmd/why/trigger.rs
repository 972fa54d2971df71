//! The conditions and file watches part of `why`: what the condition last
//! answered and when it is probed next, or what the watch last saw, and
//! whether that can happen at all (a failing probe; kit-keep not running).

use super::Out;
use crate::cmd::probes::{condition_line, watch_line};
use kit_db::clock::Instant;
use kit_db::task::TaskRow;
use kit_db::{probe, state, watch};
use rusqlite::Connection;

pub(super) fn trigger_part(
    o: &mut Out,
    conn: &Connection,
    row: &TaskRow,
    now: Instant,
) -> anyhow::Result<Option<String>> {
    let t = &row.task;
    let name = &t.name;
    let mut case = None;
    if t.when.is_some() {
        let p = probe::store::get(conn, name)?;
        o.fact("condition", &p);
        if let Some(line) = condition_line(t, p.as_ref(), o.zone) {
            o.say(format!("{name} {line}."));
        }
        if p.as_ref().is_some_and(|p| p.failing_since.is_some()) {
            o.say(format!(
                "While the probe fails the condition cannot fire: fix the probe command (exit 0 = true, 1 = false; see `kit-ctl probes {name}`)."
            ));
            case = Some("probe_failed".to_string());
        }
    }
    if t.watch.is_some() {
        let w = watch::get(conn, name)?;
        o.fact("watch", &w);
        if let Some(line) = watch_line(t, w.as_ref(), o.zone) {
            o.say(format!("{name} {line}."));
        }
        let keep_up = state::heartbeat(conn, "kit-keep")?.is_some_and(|h| {
            h.process_alive() && h.age(now).is_some_and(|a| a < chrono::Duration::minutes(1))
        });
        o.fact("keep_running", keep_up);
        if !keep_up && t.enabled {
            o.say(format!(
                "kit-keep is not running, so nothing watches these paths and {name} cannot fire on a change (start kit-keep; changes made meanwhile fire it once when it starts)."
            ));
            case.get_or_insert_with(|| "keep_not_running".to_string());
        }
    }
    Ok(case)
}
