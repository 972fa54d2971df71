//! A broken condition probe counts toward recovery, not only notification.
//!
//! A probe failure has no execution, so it cannot join the task's streak
//! (`streak.rs` counts executions). Instead, once the probe has failed
//! `failure_threshold` times in a row, kit-heal runs the task's
//! `recovery.actions` (the fixer the task declared: restart a daemon the
//! probe asks, run a repair), one round per `cooldown`, and after
//! `max_attempts` rounds escalates as the task says (notify, or disable the
//! task, whose probe then stops). The episode is the probe's failure
//! episode (`supervisor_probes.failing_since`); its state is a row of
//! `supervisor_state` (`heal.probe.TASK`), gone once the probe answers.

use crate::actions::{self, Planned};
use crate::report::{self, Line};
use kit_db::clock::{self, Instant};
use kit_db::events::{NewEvent, Severity};
use kit_db::recovery::{self, Policy};
use kit_db::settings::Settings;
use kit_db::task::{repo, Escalate, TaskRow};
use kit_db::{state, Result};
use rusqlite::Transaction;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Where this episode's rounds are kept.
fn key(task: &str) -> String {
    format!("heal.probe.{task}")
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Episode {
    /// The probe's `failing_since`: a new episode starts the count again.
    since: String,
    rounds: i64,
    last_round_at: Option<String>,
    escalated: bool,
}

/// Evaluates the failing probes among `tasks` at `now`; returns the actions
/// to start after commit. One read of the failing probes per kit-heal run,
/// not one per task: most tasks have no probe, and most probes answer.
pub fn evaluate_all(
    tx: &Transaction,
    tasks: &[TaskRow],
    settings: &Settings,
    now: Instant,
    lines: &mut Vec<Line>,
) -> Result<Vec<Planned>> {
    let failing = kit_db::probe::store::failing(tx)?;
    // Episodes whose probe answers again (or is gone) are over.
    tx.execute(
        "DELETE FROM supervisor_state WHERE key LIKE 'heal.probe.%'
           AND substr(key, 12) NOT IN (SELECT task FROM supervisor_probes WHERE failing_since IS NOT NULL)",
        [],
    )?;
    let mut planned = Vec::new();
    for probe in &failing {
        if let Some(row) = tasks.iter().find(|r| r.task.name == probe.task) {
            planned.extend(evaluate(tx, row, probe, settings, now, lines)?);
        }
    }
    Ok(planned)
}

/// Evaluates one task whose probe is failing.
fn evaluate(
    tx: &Transaction,
    row: &TaskRow,
    probe: &kit_db::probe::store::ProbeState,
    settings: &Settings,
    now: Instant,
    lines: &mut Vec<Line>,
) -> Result<Vec<Planned>> {
    let name = &row.task.name;
    let Some(since) = probe.failing_since.clone() else {
        return Ok(Vec::new());
    };
    let policy = recovery::policy(&row.task, settings);
    if probe.streak < i64::from(policy.failure_threshold) || !row.task.enabled {
        return Ok(Vec::new());
    }
    let mut ep: Episode = state::get(tx, &key(name))?
        .and_then(|t| serde_json::from_str(&t).ok())
        .filter(|e: &Episode| e.since == since)
        .unwrap_or(Episode {
            since: since.clone(),
            ..Default::default()
        });
    let cooled = ep
        .last_round_at
        .as_deref()
        .and_then(clock::parse_stored)
        .is_none_or(|t| now >= t + chrono::Duration::from_std(policy.cooldown).unwrap_or_default());
    if ep.escalated || !cooled {
        return Ok(Vec::new());
    }
    let planned = if ep.rounds >= i64::from(policy.max_attempts) {
        escalate(tx, row, &policy, &mut ep, probe.streak, now, lines)?;
        Vec::new()
    } else {
        round(tx, row, &policy, &mut ep, probe.streak, now, lines)?
    };
    let text = serde_json::to_string(&ep).map_err(|e| kit_db::Error::invalid(e.to_string()))?;
    state::set(tx, &key(name), &text, now)?;
    Ok(planned)
}

fn round(
    tx: &Transaction,
    row: &TaskRow,
    policy: &Policy,
    ep: &mut Episode,
    streak: i64,
    now: Instant,
    lines: &mut Vec<Line>,
) -> Result<Vec<Planned>> {
    let name = &row.task.name;
    ep.rounds += 1;
    ep.last_round_at = Some(clock::fmt(now));
    let has_actions = !policy.actions.is_empty();
    let message = if has_actions {
        format!(
            "{name}: its condition's probe failed {streak} times in a row: recovery round {} of {}: {}",
            ep.rounds,
            policy.max_attempts,
            policy.actions.join(", ")
        )
    } else {
        format!(
            "{name}: its condition's probe failed {streak} times in a row; no recovery actions declared (round {} of {})",
            ep.rounds, policy.max_attempts
        )
    };
    let ev = NewEvent {
        kind: "recovering",
        severity: Severity::Warning,
        task: Some(name),
        message,
        detail: Some(json!({
            "probe": true, "round": ep.rounds, "max_attempts": policy.max_attempts,
            "probe_streak": streak, "failing_since": ep.since, "actions": policy.actions,
        })),
        dedupe_key: Some(format!(
            "probe-recovering:{name}:{}:{}",
            ep.since, ep.rounds
        )),
        // Without actions nothing changed: the probe_failed event was the
        // notification.
        notify: has_actions,
    };
    report::record(tx, &ev, now, lines)?;
    let key = format!("probe-action:{name}:{}:{}", ep.since, ep.rounds);
    actions::plan_round(tx, row, &policy.actions, ep.rounds, &key, now, lines)
}

fn escalate(
    tx: &Transaction,
    row: &TaskRow,
    policy: &Policy,
    ep: &mut Episode,
    streak: i64,
    now: Instant,
    lines: &mut Vec<Line>,
) -> Result<()> {
    let name = &row.task.name;
    ep.escalated = true;
    let disabled = policy.escalate == Escalate::Disable
        && repo::set_enabled(
            tx,
            name,
            false,
            Some(&format!(
                "escalated: its condition's probe still fails after {} recovery round(s) (since {}); \
                 enable it again once fixed",
                ep.rounds, ep.since
            )),
            now,
        )?;
    let ev = NewEvent {
        kind: "escalated",
        severity: Severity::Critical,
        task: Some(name),
        message: format!(
            "{name}: its condition's probe still fails after {} recovery round(s) ({streak} failures in a row since {}); {}",
            ep.rounds,
            ep.since,
            if disabled { "the task is now disabled" } else { "it stays enabled (escalate = notify)" }
        ),
        detail: Some(json!({ "probe": true, "rounds": ep.rounds, "disabled": disabled,
                             "failing_since": ep.since })),
        dedupe_key: Some(format!("probe-escalated:{name}:{}", ep.since)),
        notify: true,
    };
    report::record(tx, &ev, now, lines)?;
    Ok(())
}
