//! `why` for daemons: kit-keep's state of it, and kit-keep's own.

use super::slot::result_phrase;
use super::Out;
use crate::cmd::status::KEEP_STALE;
use kit_db::clock::Instant;
use kit_db::daemon::DaemonState;
use kit_db::exec::{self, Execution};
use kit_db::state;
use kit_db::task::TaskRow;
use rusqlite::{Connection, OptionalExtension};
use serde_json::json;

pub(super) fn daemon(
    o: &mut Out,
    conn: &Connection,
    row: &TaskRow,
    now: Instant,
) -> anyhow::Result<String> {
    let name = &row.task.name;
    let d = kit_db::daemon::state::get(conn, name)?;
    o.fact("daemon", &d);
    let keep = state::heartbeat(conn, "kit-keep")?;
    let keep_up = keep
        .as_ref()
        .is_some_and(|h| h.awake_age(now).is_some_and(|a| a < KEEP_STALE) && h.process_alive());
    o.fact(
        "kit_keep",
        json!({ "beat_at": keep.as_ref().map(|h| &h.beat_at), "running": keep_up }),
    );
    let last_exit = |d: &DaemonState| {
        d.last_exit
            .clone()
            .map(|e| format!(" (last exit: {e})"))
            .unwrap_or_default()
    };
    let mut case = match &d {
        None => {
            if row.task.enabled {
                o.say(format!(
                    "{name} is a daemon that kit-keep has not started yet."
                ));
            }
            "daemon_not_started"
        }
        Some(d) => match d.state.as_str() {
            "quarantined" => {
                let (failures, within) = row.task.crashloop();
                let n = d.recent_failures.len();
                o.say(format!(
                    "{name} is a daemon that kit-keep quarantined after a crash loop ({} failures within {}{}){}.",
                    n.max(failures as usize),
                    kit_db::units::Dur(within),
                    if n > 0 { "" } else { " or more" },
                    last_exit(d)
                ));
                match &d.quarantined_until {
                    Some(u) => o.say(format!(
                        "It stays down until {}, then kit-keep tries one trial start; \
                         `kit-ctl start {name}` tries now.",
                        o.at(u)
                    )),
                    None => o.say(format!("`kit-ctl start {name}` tries a start now.")),
                }
                "quarantined"
            }
            "backoff" => {
                o.say(format!(
                    "{name} is a daemon that exited{} and kit-keep restarts it{} after {} restart{} \
                     (the delay doubles after each quick crash).",
                    last_exit(d),
                    d.backoff_until.as_deref().map(|u| format!(" at {}", o.at(u))).unwrap_or_default(),
                    d.restarts,
                    if d.restarts == 1 { "" } else { "s" }
                ));
                "daemon_backoff"
            }
            "running" | "starting" if !d.process_alive() => {
                o.say(format!(
                    "{name} is a daemon that kit-keep recorded as {}{}, but that process is gone{}.",
                    d.state,
                    d.pid.map(|p| format!(" as pid {p}")).unwrap_or_default(),
                    if keep_up {
                        "; kit-keep restarts it as soon as it notices"
                    } else {
                        ""
                    }
                ));
                "daemon_gone"
            }
            "running" | "starting" => {
                o.say(format!(
                    "{name} is a daemon that is {}{}{}, restarted {} time{} so far.",
                    d.state,
                    d.pid.map(|p| format!(" as pid {p}")).unwrap_or_default(),
                    d.started_at
                        .as_deref()
                        .map(|s| format!(" since {}", o.at(s)))
                        .unwrap_or_default(),
                    d.restarts,
                    if d.restarts == 1 { "" } else { "s" }
                ));
                "daemon_running"
            }
            "stopped" if d.wanted == "down" => {
                o.say(format!(
                    "{name} is a daemon stopped on request at {}; `kit-ctl start {name}` starts it again.",
                    o.when(&d.updated_at)
                ));
                "daemon_stopped"
            }
            other => {
                o.say(format!(
                    "{name} is a daemon that is {other}{}.",
                    last_exit(d)
                ));
                if other == "error" {
                    "daemon_error"
                } else {
                    "daemon_stopped"
                }
            }
        },
    };
    if row.task.enabled && !keep_up {
        o.say(match &keep {
            Some(h) => format!(
                "kit-keep is not running (its last heartbeat was at {}), so nothing starts or restarts daemons \
                 until it runs again.",
                o.at(&h.beat_at)
            ),
            None => "kit-keep has never run on this database, so no daemon is started.".to_string(),
        });
        if !matches!(case, "daemon_running" | "quarantined") {
            case = "keep_not_running";
        }
        if row.task.enabled && d.as_ref().is_some_and(|d| d.wanted == "up") {
            o.say("When kit-keep runs again, it starts the daemon (adopting it instead if it still runs).");
        }
    }
    if let Some(e) = last_daemon_run(conn, name)? {
        if e.status != "running" {
            o.say(format!(
                "Its last run (execution #{}) started at {} and {}.",
                e.id,
                o.when(e.started_at.as_deref().unwrap_or(&e.created_at)),
                result_phrase(o, &e)
            ));
        }
        o.fact("last_execution", e);
    }
    Ok(case.into())
}

pub(super) fn last_daemon_run(conn: &Connection, task: &str) -> anyhow::Result<Option<Execution>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM supervisor_executions WHERE task = ?1 ORDER BY id DESC LIMIT 1",
        exec::COLUMNS
    ))?;
    Ok(stmt.query_row([task], exec::from_row).optional()?)
}
