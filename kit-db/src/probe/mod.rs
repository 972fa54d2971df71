//! Conditions (`when = { command, every, timeout, fire, min_interval }`).
//!
//! kit-tick claims each due probe exactly once (`store::claim_due`, an
//! indexed search inside its write transaction) and starts a detached
//! `kit-run --probe NAME`, so a tick returns at once however long probes
//! take. The runner (`run_claimed`) runs the probe (`run::probe`), then in
//! one write transaction records the answer, applies the firing rule
//! (`rule::decide`) and, when it fires, records the run through
//! `crate::fire` (trigger `condition`). A probe failure (exit not 0/1,
//! timeout, cannot start) starts a failure episode: a `probe_failed` event
//! at the first failure (notified at once), `status` flags it while it
//! lasts, and an `info` event closes it when the probe answers again.

pub mod rule;
pub mod run;
pub mod store;

use crate::clock::{self, Instant};
use crate::events::{self, NewEvent, Severity};
use crate::fire;
use crate::task::repo;
use crate::{Result, Store};
use rule::{Answer, Decision};
use rusqlite::params;
use serde::Serialize;

/// What one probe found and did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub task: String,
    pub result: &'static str,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub decision: &'static str,
    pub execution_id: Option<i64>,
    pub duration_ms: i64,
}

/// A task loaded for probing: its definition and the zone it runs in.
pub struct Loaded {
    pub task: crate::task::Task,
    pub zone: String,
}

/// Reads what a probe needs (a short read; no lock is held afterwards).
pub fn load(store: &Store, name: &str) -> Result<Loaded> {
    let task = repo::require(&store.conn, name)?.task;
    let zone = task.timezone.clone().unwrap_or_else(|| {
        crate::settings::Settings::load(&store.conn)
            .map(|s| s.zone().name().to_string())
            .unwrap_or_else(|_| "UTC".into())
    });
    Ok(Loaded { task, zone })
}

/// Runs the probe of `name` now and records it; fires the task when the
/// rule says so. `now_of` is the clock (injected in tests); `injected` is
/// passed on to the kit-run it starts.
pub fn run_claimed(
    store: &Store,
    name: &str,
    now_of: impl Fn() -> Instant,
    injected: Option<&str>,
) -> Result<Report> {
    let loaded = load(store, name)?;
    let probed = run::probe(&loaded.task, store.path(), &loaded.zone);
    settle(store, &loaded.task, &probed, now_of(), injected)
}

/// Records a probe's answer in one write transaction (the rule applied, the
/// run fired), then starts the fired run. Separate from running the probe
/// so that a process running many probes side by side can share one
/// connection: a second connection to the DB in the same process would
/// break SQLite's POSIX locks (closing any descriptor of the file drops
/// every lock the process holds on it).
pub fn settle(
    store: &Store,
    task: &crate::task::Task,
    probed: &run::Probed,
    now: Instant,
    injected: Option<&str>,
) -> Result<Report> {
    let name = task.name.as_str();
    let (report, fired) = store.write(|tx| {
        let state = store::get(tx, name)?;
        let previous_answer = state
            .as_ref()
            .and_then(|s| s.last_answer.as_deref())
            .map(|a| a == "true");
        let last_fired = state
            .as_ref()
            .and_then(|s| s.last_fired_at.as_deref())
            .and_then(clock::parse_stored);
        // The task as it is now: disabled or changed while the probe ran.
        let current = repo::get(tx, name)?.map(|r| r.task);
        let when = current.as_ref().and_then(|t| t.when.clone());
        let enabled = current.as_ref().is_some_and(|t| t.enabled);
        let decision = match &when {
            Some(w) if enabled => rule::decide(
                w.fire(),
                previous_answer,
                probed.answer,
                last_fired,
                w.min_interval(),
                now,
            ),
            _ if probed.answer == Answer::Failed => Decision::Failed,
            _ => Decision::NotTrue,
        };
        let fired = if decision == Decision::Fire {
            let data = serde_json::json!({
                "condition": when.as_ref().map(|w| w.command.display()),
                "probe_exit": probed.exit,
                "output": probed.output,
            });
            Some(fire::fire_in(tx, name, fire::Kind::Condition, &data, now)?)
        } else {
            None
        };
        let execution_id = fired.as_ref().and_then(|f| f.execution_id);
        record(
            tx,
            name,
            probed,
            decision,
            execution_id,
            state.as_ref(),
            now,
        )?;
        let report = Report {
            task: name.to_string(),
            result: probed.answer.as_str(),
            exit_code: probed.exit,
            error: probed.error.clone(),
            decision: decision.as_str(),
            execution_id,
            duration_ms: probed.duration.as_millis() as i64,
        };
        Ok((report, fired))
    })?;
    if let Some(f) = &fired {
        fire::start(store.path(), name, f, injected);
    }
    Ok(report)
}

/// A probe claimed earlier that never answered (its `kit-run --probe` was
/// killed, or could not start): recorded as a failed probe when the next one
/// is claimed, so a lost probe is a failure like any other, never silence.
/// A probe's timeout is at most its `every`, so a claim still open at the
/// next due time is lost.
pub fn record_lost(
    conn: &rusqlite::Connection,
    name: &str,
    claimed_at: &str,
    now: Instant,
) -> Result<()> {
    let state = store::get(conn, name)?;
    let lost = run::Probed {
        answer: Answer::Failed,
        exit: None,
        error: Some(format!(
            "the probe claimed at {claimed_at} never answered: its kit-run --probe died \
             (kill -9, a crash) or could not start (see $KIT_HOME/logs/kit-run.log)"
        )),
        output: String::new(),
        duration: std::time::Duration::ZERO,
    };
    record(
        conn,
        name,
        &lost,
        Decision::Failed,
        None,
        state.as_ref(),
        now,
    )
}

fn record(
    tx: &rusqlite::Connection,
    name: &str,
    p: &run::Probed,
    decision: Decision,
    execution_id: Option<i64>,
    state: Option<&store::ProbeState>,
    now: Instant,
) -> Result<()> {
    let ts = clock::fmt(now);
    let result = p.answer.as_str();
    let duration_ms = p.duration.as_millis() as i64;
    let output = tail(&p.output);
    tx.execute(
        "INSERT INTO supervisor_probe_results
           (task, at, result, exit_code, duration_ms, error, output, decision, execution_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            name,
            ts,
            result,
            p.exit,
            duration_ms,
            p.error,
            output,
            decision.as_str(),
            execution_id
        ],
    )?;
    tx.execute(
        "DELETE FROM supervisor_probe_results WHERE task = ?1 AND id <=
           (SELECT id FROM supervisor_probe_results WHERE task = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        params![name, store::RESULTS_KEPT],
    )?;
    let was_failing = state.and_then(|s| s.failing_since.clone());
    let failing_since = match (p.answer, &was_failing) {
        (Answer::Failed, Some(since)) => Some(since.clone()),
        (Answer::Failed, None) => Some(ts.clone()),
        _ => None,
    };
    let answer = match p.answer {
        Answer::True => Some("true"),
        Answer::False => Some("false"),
        Answer::Failed => None,
    };
    tx.execute(
        "UPDATE supervisor_probes SET claimed_at = NULL, last_at = ?2, last_result = ?3,
           last_answer = COALESCE(?4, last_answer), last_exit = ?5, last_error = ?6, last_output = ?7,
           streak = CASE WHEN last_result = ?3 THEN streak + 1 ELSE 1 END,
           failing_since = ?8,
           last_fired_at = CASE WHEN ?9 THEN ?2 ELSE last_fired_at END,
           last_execution_id = CASE WHEN ?9 THEN ?10 ELSE last_execution_id END,
           fired = fired + ?9, updated_at = ?2
         WHERE task = ?1",
        params![
            name,
            ts,
            result,
            answer,
            p.exit,
            p.error,
            output,
            failing_since,
            decision == Decision::Fire,
            execution_id
        ],
    )?;
    match (&failing_since, &was_failing) {
        (Some(since), None) => {
            let message = format!(
                "the condition probe of {name} failed: {}",
                p.error.as_deref().unwrap_or("unknown error")
            );
            events::record(
                tx,
                &NewEvent {
                    kind: "probe_failed",
                    severity: Severity::Warning,
                    task: Some(name),
                    message,
                    detail: Some(serde_json::json!({
                        "exit_code": p.exit, "error": p.error, "output": output,
                    })),
                    dedupe_key: Some(format!("probe_failed:{name}:{since}")),
                    notify: true,
                },
                now,
            )?;
        }
        (None, Some(since)) => {
            events::record(
                tx,
                &NewEvent {
                    kind: "info",
                    severity: Severity::Info,
                    task: Some(name),
                    message: format!(
                        "the condition probe of {name} answers again ({result}); it had failed since {since}"
                    ),
                    detail: Some(serde_json::json!({ "probe_recovered": true, "failing_since": since })),
                    dedupe_key: Some(format!("probe_recovered:{name}:{since}")),
                    notify: true,
                },
                now,
            )?;
        }
        _ => {}
    }
    Ok(())
}

/// The last kilobyte of the output, on a character boundary.
fn tail(s: &str) -> Option<String> {
    let s = s.trim_end();
    if s.is_empty() {
        return None;
    }
    let mut start = s.len().saturating_sub(1024);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    Some(s[start..].to_string())
}
