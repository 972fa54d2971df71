//! Chains: `after = [{ task = "storage-defrag", on = "success" }]`.
//!
//! The edges live in `supervisor_chains`, derived from each task's `after`
//! whenever the task is written, so the finish of every run looks its
//! followers up by index instead of reading every task. A chained run is
//! fired in the transaction that finishes the upstream row, so a kill -9
//! right after can neither lose it nor double it.

use super::{Fired, NewTrigger, Source};
use crate::clock::Instant;
use crate::task::Task;
use crate::{Error, Result};
use rusqlite::{params, Connection};
use std::collections::{HashMap, HashSet};

/// Rewrites `task`'s edges and refuses a cycle, naming it (`a -> b -> a`).
/// Run inside the transaction that writes the task.
pub fn sync(conn: &Connection, task: &Task) -> Result<()> {
    remove(conn, &task.name)?;
    if task.after.is_empty() {
        return Ok(());
    }
    let mut ins = conn.prepare_cached(
        "INSERT OR IGNORE INTO supervisor_chains(upstream, task, on_status) VALUES (?1, ?2, ?3)",
    )?;
    for a in &task.after {
        ins.execute(params![a.task, task.name, a.on.as_str()])?;
    }
    if let Some(cycle) = find_cycle(conn, &task.name)? {
        return Err(Error::invalid(format!(
            "task {:?}: after: chains must not form a cycle: {}",
            task.name,
            cycle.join(" -> ")
        )));
    }
    Ok(())
}

/// Drops `task`'s edges (it was removed, or its `after` rewritten).
pub fn remove(conn: &Connection, task: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM supervisor_chains WHERE task = ?1")?
        .execute([task])?;
    Ok(())
}

/// A cycle through `start`, in the order runs would follow each other
/// (`start -> ... -> start`), if there is one.
fn find_cycle(conn: &Connection, start: &str) -> Result<Option<Vec<String>>> {
    // Walk downstream from `start`: who runs after whom.
    let mut stmt =
        conn.prepare_cached("SELECT DISTINCT task FROM supervisor_chains WHERE upstream = ?1")?;
    let mut parent: HashMap<String, String> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue = std::collections::VecDeque::from([start.to_string()]);
    while let Some(node) = queue.pop_front() {
        let next: Vec<String> = stmt
            .query_map([&node], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for n in next {
            if n == start {
                // Back from `node` to `start` along the parents, then turn round.
                let mut back = vec![node.clone()];
                let mut cur = node.clone();
                while cur != start {
                    cur = parent[&cur].clone();
                    back.push(cur.clone());
                }
                back.reverse();
                back.push(start.to_string());
                return Ok(Some(back));
            }
            if seen.insert(n.clone()) {
                parent.insert(n.clone(), node.clone());
                queue.push_back(n);
            }
        }
    }
    Ok(None)
}

/// Checks the upstreams of `tasks`: each must exist and must not be an
/// `@daemon` (a daemon's runs are restarts, not ends: chains from daemons
/// are not supported). `apply` runs this once all its tasks are written, so
/// a file may name a task defined further down.
pub fn check_upstreams(conn: &Connection, tasks: &[&str]) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.task, c.upstream, t.schedule FROM supervisor_chains c
         LEFT JOIN supervisor_tasks t ON t.name = c.upstream WHERE c.task = ?1 ORDER BY c.upstream",
    )?;
    let mut rows: Vec<(String, String, Option<String>)> = Vec::new();
    for task in tasks {
        rows.extend(
            stmt.query_map([task], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?,
        );
    }
    for (task, upstream, schedule) in rows {
        match schedule.as_deref().map(str::trim) {
            None => {
                return Err(Error::invalid(format!(
                    "task {task:?}: after: no task named {upstream:?}"
                )))
            }
            Some("@daemon") => {
                return Err(Error::invalid(format!(
                    "task {task:?}: after: {upstream:?} is an @daemon; chains start from runs \
                     that end, and a daemon's runs are restarts"
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The tasks that follow `upstream` (with the `on` of each edge).
pub fn followers(conn: &Connection, upstream: &str) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT task, on_status FROM supervisor_chains WHERE upstream = ?1 ORDER BY task, on_status",
    )?;
    let rows = stmt.query_map([upstream], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The tasks `task` follows (with the `on` of each edge).
pub fn upstreams(conn: &Connection, task: &str) -> Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT upstream, on_status FROM supervisor_chains WHERE task = ?1 ORDER BY upstream",
    )?;
    let rows = stmt.query_map([task], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Fires the chains of upstream execution `id` of `upstream`, which just
/// ended as `status`. Call in the transaction that finishes the row, and
/// only when that finish changed it (so once per execution). Returns each
/// follower's name with what became of its trigger; a follower that cannot
/// be triggered (removed since, now an @daemon) is skipped.
pub fn after_finish(
    conn: &Connection,
    upstream: &str,
    id: i64,
    status: &str,
    now: Instant,
) -> Result<Vec<(String, Fired)>> {
    let mut out = Vec::new();
    let mut done: HashSet<String> = HashSet::new();
    for (task, on) in followers(conn, upstream)? {
        let matches = match on.as_str() {
            "success" => crate::task::On::Success,
            "failure" => crate::task::On::Failure,
            _ => crate::task::On::Finish,
        }
        .matches(status);
        if !matches || !done.insert(task.clone()) {
            continue;
        }
        let t = NewTrigger {
            task: &task,
            source: Source::Chain,
            key: None,
            data: None,
            detail: serde_json::json!({
                "upstream": id, "upstream_task": upstream, "status": status, "on": on
            }),
        };
        match super::fire_on(conn, &t, now) {
            Ok(f) => out.push((task, f)),
            Err(Error::NoSuchTask { .. }) | Err(Error::Invalid(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
