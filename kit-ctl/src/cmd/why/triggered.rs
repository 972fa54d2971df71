//! `why` for triggered runs: how the task is triggered, which triggers its
//! latest triggered run consumed (received when, how much data, which key,
//! which upstream), what is waiting to start and why it waits, and the
//! triggers since that started no run of their own (and why not).

use super::slot::result_phrase;
use super::Out;
use kit_db::exec::{self, Execution};
use kit_db::task::TaskRow;
use kit_db::triggers::{chain, consume, pending, rows, SOURCES_SQL};
use rusqlite::{Connection, OptionalExtension};

/// Says what it knows; returns the case when triggers are the main story
/// (an `@event` task, or a triggered run newer than any slot).
pub(super) fn triggered(
    o: &mut Out,
    conn: &Connection,
    row: &TaskRow,
) -> anyhow::Result<Option<String>> {
    let name = &row.task.name;
    let event_only = row.task.is_event_only();
    let ups = chain::upstreams(conn, name)?;
    o.fact("after", &ups);
    o.fact("debounce", row.task.debounce);
    let mut how: Vec<String> = Vec::new();
    if event_only {
        how.push(format!(
            "{name} has no time slots (schedule @event): it runs only when triggered"
        ));
    }
    if !ups.is_empty() {
        let list: Vec<String> = ups
            .iter()
            .map(|(u, on)| match on.as_str() {
                "success" => format!("{u} succeeds"),
                "failure" => format!("{u} fails"),
                _ => format!("{u} ends"),
            })
            .collect();
        how.push(format!(
            "{} runs after {}",
            if event_only { "it" } else { name.as_str() },
            list.join(" or ")
        ));
    }
    if let Some(d) = row.task.debounce {
        how.push(format!(
            "triggered runs wait for {d} without a new trigger (debounce)"
        ));
    }
    if !how.is_empty() {
        let text = how.join("; ");
        // A sentence may start with the task's name, which stays lowercase.
        let text = if text.starts_with(name.as_str()) {
            text
        } else {
            capitalise(&text)
        };
        o.say(format!("{text}."));
    }

    let latest = latest_triggered(conn, name)?;
    o.fact("latest_triggered_run", &latest);
    let mut case = None;
    match &latest {
        Some(e) => {
            let consumed = rows::consumed_by(conn, e.id)?;
            o.fact("consumed_triggers", &consumed);
            o.say(format!(
                "Its latest triggered run, execution #{} ({}), consumed {}; it {}.",
                e.id,
                e.trigger,
                describe_all(o, &consumed),
                result_phrase(o, e)
            ));
            case = Some(match e.status.as_str() {
                "success" => "ran",
                "running" => "running",
                "skipped" => "skipped",
                "queued" => "queued",
                _ => "failed",
            });
        }
        None if event_only => case = Some("not_triggered"),
        None => {}
    }

    let waiting = pending::waiting(conn, Some(name))?;
    if case == Some("not_triggered") && waiting.is_empty() {
        o.say("It has not been triggered yet.");
    }
    o.fact("pending", &waiting);
    for w in &waiting {
        let why = match &w.due_at {
            Some(d) if kit_db::clock::parse_stored(d).is_some_and(|d| d > o.now) => format!(
                "it waits for quiet until {} (debounce), and starts then unless another trigger comes",
                o.at(d)
            ),
            _ => match exec::running_of(conn, name)?.first() {
                Some((id, _)) => format!("it waits for the run in progress (execution #{id}) to end"),
                None if w.owner.is_some() => "it is starting now".to_string(),
                None => "its kit-run is not running: the next kit-tick starts it".to_string(),
            },
        };
        o.say(format!(
            "Execution #{} is queued with {} trigger{}: {why}.",
            w.id,
            w.triggers,
            if w.triggers == 1 { "" } else { "s" }
        ));
        case = Some("waiting");
    }

    // Triggers that started no run of their own since that run.
    let since = latest.as_ref().map_or(0, |e| e.id);
    let others: Vec<rows::TriggerRow> = rows::recent(conn, Some(name), 50)?
        .into_iter()
        .filter(|t| matches!(t.outcome.as_str(), "duplicate" | "refused" | "rate_limited"))
        .filter(|t| t.execution_id.is_none_or(|x| x >= since))
        .take(3)
        .collect();
    for t in others.iter().rev() {
        o.say(format!(
            "Trigger #{} ({}, received {}) started no run: {}.",
            t.id,
            t.source,
            o.when(&t.received_at),
            t.reason
                .as_deref()
                .unwrap_or(t.outcome.as_str())
                .trim_end_matches('.')
        ));
    }
    o.fact("not_run_triggers", &others);
    Ok(case.map(str::to_string))
}

fn describe_all(o: &Out, ts: &[rows::TriggerRow]) -> String {
    match ts {
        [] => "no triggers".into(),
        [one] => format!("trigger {}", describe(o, one)),
        many => {
            let shown: Vec<String> = many.iter().take(3).map(|t| describe(o, t)).collect();
            let more = many.len().saturating_sub(3);
            format!(
                "{} triggers (a burst that coalesced): {}{}",
                many.len(),
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )
        }
    }
}

/// "#4 (event, received 2026-03-01 10:00 UTC, 22 bytes of data, key k1)"
fn describe(o: &Out, t: &rows::TriggerRow) -> String {
    let mut parts = vec![
        t.source.clone(),
        format!("received {}", o.when(&t.received_at)),
    ];
    if t.data_bytes > 0 {
        parts.push(format!("{} bytes of data", t.data_bytes));
    }
    if let Some(k) = &t.key {
        parts.push(format!("key {k}"));
    }
    if let Some((id, task, status)) = consume::upstream_of(t) {
        parts.push(format!("after {task}'s execution #{id} ended {status}"));
    }
    if let Some(d) = &t.detail {
        if t.source != "chain" && !d.is_null() {
            parts.push(d.to_string());
        }
    }
    format!("#{} ({})", t.id, parts.join(", "))
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The newest execution that triggers stand behind (not queued ones: those
/// are reported as waiting).
fn latest_triggered(conn: &Connection, task: &str) -> anyhow::Result<Option<Execution>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM supervisor_executions
         WHERE task = ?1 AND trigger IN {SOURCES_SQL} AND status <> 'queued'
         ORDER BY id DESC LIMIT 1",
        exec::COLUMNS
    ))?;
    Ok(stmt.query_row([task], exec::from_row).optional()?)
}
