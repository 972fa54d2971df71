//! The recovery engine: turns a task's streak into an episode (failing →
//! rounds of recovery actions, spaced by the cooldown → escalation) and
//! closes it at the first success. Runs inside kit-heal's decision
//! transaction; actions that start processes are only *planned* here (as
//! `action` events with a lease) and started after the commit.

use crate::actions::{self, Planned};
use crate::report::{self, Line};
use crate::streak::{self, Streak};
use kit_db::clock::{self, Instant};
use kit_db::events::{NewEvent, Severity};
use kit_db::recovery::{self, Phase, Policy, RecoveryState};
use kit_db::settings::Settings;
use kit_db::task::model::AtOnce;
use kit_db::task::{repo, Escalate, TaskRow};
use kit_db::units::Dur;
use kit_db::Result;
use rusqlite::Transaction;
use serde_json::json;

/// Evaluates one task at `now`; returns the actions to start after commit.
pub fn evaluate(
    tx: &Transaction,
    row: &TaskRow,
    settings: &Settings,
    now: Instant,
    lines: &mut Vec<Line>,
) -> Result<Vec<Planned>> {
    let task = &row.task;
    if task.is_daemon() {
        return Ok(Vec::new());
    }
    let policy = recovery::policy(task, settings);
    let k = streak::compute(tx, task)?;
    let old = recovery::get(tx, &task.name)?;
    let mut st = old
        .clone()
        .unwrap_or_else(|| RecoveryState::fresh(&task.name, now));
    let acted = st.last_execution_id.unwrap_or(0);
    let mut planned = Vec::new();

    if st.in_episode() {
        if let Some(success) = k.newest_success.filter(|&s| s > acted) {
            recovered(tx, row, &st, success, now, lines)?;
            st = RecoveryState {
                last_execution_id: Some(success),
                ..RecoveryState::fresh(&task.name, now)
            };
        } else if st.state == Phase::Escalated
            && policy.escalate == Escalate::Disable
            && task.enabled
            && k.newest_failure.is_some_and(|f| f > acted)
        {
            // Escalation disabled it, a person enabled it again, and it
            // failed again: that is a new episode, announced as such.
            st.state = Phase::Ok;
        }
    }
    st.streak = k.count;
    // What the task cannot fix by running again (it could not start, or
    // its kit-run died) is notified at its first occurrence.
    let at_once = match k.newest_failure.filter(|&f| f > acted) {
        Some(id) => streak::last(tx, id)?.is_some_and(|l| {
            (l.could_not_start() && policy.at_once(AtOnce::Error))
                || (l.status == "lost" && policy.at_once(AtOnce::Lost))
        }),
        None => false,
    };
    let round_due = match st.state {
        Phase::Ok if k.count >= policy.failure_threshold as i64 || (k.count > 0 && at_once) => {
            failing(tx, row, &policy, &k, now, lines)?;
            st.state = Phase::Failing;
            st.episode_started_at = Some(clock::fmt(now));
            st.rounds = 0;
            st.last_round_at = None;
            st.escalated_at = None;
            true
        }
        Phase::Failing | Phase::Recovering => {
            let new_failure = k.newest_failure.is_some_and(|f| f > acted);
            let cooled = st
                .last_round_at
                .as_deref()
                .and_then(clock::parse_stored)
                .is_none_or(|t| {
                    now >= t + chrono::Duration::from_std(policy.cooldown).unwrap_or_default()
                });
            new_failure && cooled
        }
        _ => false,
    };
    if round_due {
        st.last_execution_id = k.newest();
        if st.rounds >= policy.max_attempts as i64 {
            escalate(tx, row, &policy, &mut st, now, lines)?;
        } else {
            planned = round(tx, row, &policy, &mut st, now, lines)?;
        }
    }
    let changed = match &old {
        Some(o) => {
            RecoveryState {
                updated_at: String::new(),
                ..o.clone()
            } != RecoveryState {
                updated_at: String::new(),
                ..st.clone()
            }
        }
        None => st.streak > 0 || st.in_episode(),
    };
    if changed {
        st.updated_at = clock::fmt(now);
        recovery::save(tx, &st)?;
    }
    Ok(planned)
}

fn failing(
    tx: &Transaction,
    row: &TaskRow,
    policy: &Policy,
    k: &Streak,
    now: Instant,
    lines: &mut Vec<Line>,
) -> Result<()> {
    let name = &row.task.name;
    let last = match k.newest_failure {
        Some(id) => streak::last(tx, id)?,
        None => None,
    };
    let message = format!(
        "{name} failed {} in a row (last: {})",
        if k.count == 1 {
            "once".to_string()
        } else {
            format!("{} times", k.count)
        },
        last.as_ref().map_or("unknown".into(), |l| l.describe())
    );
    let ev = NewEvent {
        kind: "failing",
        severity: Severity::Warning,
        task: Some(name),
        message,
        detail: Some(json!({
            "streak": k.count,
            "failure_threshold": policy.failure_threshold,
            "first_execution_id": k.first_failure,
            "last_execution_id": k.newest_failure,
            "last_status": last.as_ref().map(|l| l.status.clone()),
            "last_exit_code": last.as_ref().and_then(|l| l.exit_code),
            "last_reason": last.as_ref().and_then(|l| l.reason.clone()),
            "policy": policy,
        })),
        dedupe_key: Some(format!("failing:{name}:{}", k.newest_failure.unwrap_or(0))),
        notify: true,
    };
    report::record(tx, &ev, now, lines)?;
    Ok(())
}

fn round(
    tx: &Transaction,
    row: &TaskRow,
    policy: &Policy,
    st: &mut RecoveryState,
    now: Instant,
    lines: &mut Vec<Line>,
) -> Result<Vec<Planned>> {
    let name = &row.task.name;
    st.rounds += 1;
    st.last_round_at = Some(clock::fmt(now));
    let marker = st.last_execution_id.unwrap_or(0);
    let has_actions = !policy.actions.is_empty();
    if has_actions {
        st.state = Phase::Recovering;
    }
    let message = if has_actions {
        format!(
            "{name}: recovery round {} of {}: {}",
            st.rounds,
            policy.max_attempts,
            policy.actions.join(", ")
        )
    } else {
        format!(
            "{name}: still failing ({} in a row); no recovery actions declared (round {} of {})",
            st.streak, st.rounds, policy.max_attempts
        )
    };
    let ev = NewEvent {
        kind: "recovering",
        severity: Severity::Warning,
        task: Some(name),
        message,
        detail: Some(json!({
            "round": st.rounds,
            "max_attempts": policy.max_attempts,
            "streak": st.streak,
            "actions": policy.actions,
            "next_round_after": clock::fmt(now + chrono::Duration::from_std(policy.cooldown).unwrap_or_default()),
        })),
        dedupe_key: Some(format!("recovering:{name}:{marker}")),
        // Without actions nothing changed: recorded for `why`, not sent.
        notify: has_actions,
    };
    report::record(tx, &ev, now, lines)?;
    let key = format!("action:{name}:{marker}");
    actions::plan_round(tx, row, &policy.actions, st.rounds, &key, now, lines)
}

fn escalate(
    tx: &Transaction,
    row: &TaskRow,
    policy: &Policy,
    st: &mut RecoveryState,
    now: Instant,
    lines: &mut Vec<Line>,
) -> Result<()> {
    let name = &row.task.name;
    st.state = Phase::Escalated;
    st.escalated_at = Some(clock::fmt(now));
    let since = st
        .episode_started_at
        .clone()
        .unwrap_or_else(|| clock::fmt(now));
    let disabled = policy.escalate == Escalate::Disable
        && repo::set_enabled(
            tx,
            name,
            false,
            Some(&format!(
                "escalated: still failing after {} recovery round(s) ({} failures in a row since {since}); \
                 enable it again once fixed",
                st.rounds, st.streak
            )),
            now,
        )?;
    let outcome = match policy.escalate {
        Escalate::Disable if disabled => "the task is now disabled".to_string(),
        Escalate::Disable => "the task was already disabled".to_string(),
        Escalate::Notify => "it stays enabled (escalate = notify)".to_string(),
    };
    let message = format!(
        "{name} is still failing after {} recovery round(s) ({} failures in a row since {since}); {outcome}",
        st.rounds, st.streak
    );
    let ev = NewEvent {
        kind: "escalated",
        severity: Severity::Critical,
        task: Some(name),
        message,
        detail: Some(json!({
            "rounds": st.rounds,
            "streak": st.streak,
            "episode_started_at": since,
            "escalate": policy.escalate,
            "disabled": disabled,
            "cooldown": Dur(policy.cooldown).to_string(),
        })),
        dedupe_key: Some(format!(
            "escalated:{name}:{}",
            st.last_execution_id.unwrap_or(0)
        )),
        notify: true,
    };
    report::record(tx, &ev, now, lines)?;
    Ok(())
}

fn recovered(
    tx: &Transaction,
    row: &TaskRow,
    st: &RecoveryState,
    success: i64,
    now: Instant,
    lines: &mut Vec<Line>,
) -> Result<()> {
    let name = &row.task.name;
    let mut message = format!(
        "{name} recovered: execution #{success} succeeded after {} failure(s) in a row and {} recovery round(s)",
        st.streak, st.rounds
    );
    if !row.task.enabled && row.disabled_reason.is_some() {
        message.push_str(&format!(
            "; it is still disabled since the escalation (kit-ctl enable {name})"
        ));
    }
    let ev = NewEvent {
        kind: "recovered",
        severity: Severity::Info,
        task: Some(name),
        message,
        detail: Some(json!({
            "execution_id": success,
            "streak": st.streak,
            "rounds": st.rounds,
            "previous_state": st.state,
            "episode_started_at": st.episode_started_at,
            "escalated_at": st.escalated_at,
        })),
        dedupe_key: Some(format!("recovered:{name}:{success}")),
        notify: true,
    };
    report::record(tx, &ev, now, lines)?;
    Ok(())
}
