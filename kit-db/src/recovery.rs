//! `supervisor_recovery`: one row per task that kit-heal is tracking (a
//! failure streak, a recovery episode). kit-heal writes it inside its
//! decision transaction; `kit-ctl status`, `show`, `why` and the API read it
//! with [`get`] and [`list_active`], and the effective policy with [`policy`].
//!
//! Because the whole episode (streak, rounds, last round, escalation) is in
//! this row, a reboot in the middle of an episode simply continues it.

use crate::clock::{self, Instant};
use crate::settings::{self, Settings};
use crate::task::{Escalate, Task};
use crate::Result;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;
use std::time::Duration;

/// Where a task's episode stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No episode: the streak (if any) is below the threshold.
    Ok,
    /// The threshold was reached; no recovery action has run (none are
    /// declared, or max_attempts = 0).
    Failing,
    /// At least one recovery round has run.
    Recovering,
    /// max_attempts rounds did not help: notified as critical (and the task
    /// disabled with `escalate = "disable"`). Ends with the next success.
    Escalated,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Ok => "ok",
            Phase::Failing => "failing",
            Phase::Recovering => "recovering",
            Phase::Escalated => "escalated",
        }
    }
    pub fn parse(s: &str) -> Phase {
        match s {
            "failing" => Phase::Failing,
            "recovering" => Phase::Recovering,
            "escalated" => Phase::Escalated,
            _ => Phase::Ok,
        }
    }
}

/// A row of `supervisor_recovery`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoveryState {
    pub task: String,
    pub state: Phase,
    /// Consecutive failing slots (failed/timeout/lost/error; retries of one
    /// slot count once) since the task's last success.
    pub streak: i64,
    /// The newest finished execution kit-heal acted on (the failing
    /// transition, a round, an escalation, a recovery). A round needs a
    /// failure newer than this; an episode ends with a success newer than it.
    pub last_execution_id: Option<i64>,
    pub episode_started_at: Option<String>,
    /// Recovery rounds run in this episode.
    pub rounds: i64,
    pub last_round_at: Option<String>,
    pub escalated_at: Option<String>,
    pub updated_at: String,
}

impl RecoveryState {
    /// The state of a task kit-heal has not seen yet.
    pub fn fresh(task: &str, now: Instant) -> RecoveryState {
        RecoveryState {
            task: task.to_string(),
            state: Phase::Ok,
            streak: 0,
            last_execution_id: None,
            episode_started_at: None,
            rounds: 0,
            last_round_at: None,
            escalated_at: None,
            updated_at: clock::fmt(now),
        }
    }

    pub fn in_episode(&self) -> bool {
        self.state != Phase::Ok
    }
}

const COLUMNS: &str = "task, state, streak, last_execution_id, episode_started_at, rounds, \
    last_round_at, escalated_at, updated_at";

fn from_row(r: &Row) -> rusqlite::Result<RecoveryState> {
    Ok(RecoveryState {
        task: r.get(0)?,
        state: Phase::parse(&r.get::<_, String>(1)?),
        streak: r.get(2)?,
        last_execution_id: r.get(3)?,
        episode_started_at: r.get(4)?,
        rounds: r.get(5)?,
        last_round_at: r.get(6)?,
        escalated_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

pub fn get(conn: &Connection, task: &str) -> Result<Option<RecoveryState>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_recovery WHERE task = ?1"
    ))?;
    Ok(stmt.query_row([task], from_row).optional()?)
}

/// Tasks in an episode or with a streak, by name.
pub fn list_active(conn: &Connection) -> Result<Vec<RecoveryState>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM supervisor_recovery WHERE state <> 'ok' OR streak > 0 ORDER BY task"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Writes the row (kit-heal, inside its decision transaction).
pub fn save(conn: &Connection, s: &RecoveryState) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO supervisor_recovery
           (task, state, streak, last_execution_id, episode_started_at, rounds, last_round_at, escalated_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(task) DO UPDATE SET state = excluded.state, streak = excluded.streak,
           last_execution_id = excluded.last_execution_id, episode_started_at = excluded.episode_started_at,
           rounds = excluded.rounds, last_round_at = excluded.last_round_at,
           escalated_at = excluded.escalated_at, updated_at = excluded.updated_at",
    )?;
    stmt.execute(params![
        s.task,
        s.state.as_str(),
        s.streak,
        s.last_execution_id,
        s.episode_started_at,
        s.rounds,
        s.last_round_at,
        s.escalated_at,
        s.updated_at
    ])?;
    Ok(())
}

/// A task's recovery settings with `[settings] recovery` and the built-in
/// defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub failure_threshold: u32,
    pub max_attempts: u32,
    #[serde(serialize_with = "ser_dur")]
    pub cooldown: Duration,
    pub actions: Vec<String>,
    pub escalate: Escalate,
    /// Findings notified at their first occurrence.
    pub notify_at_once: Vec<crate::task::model::AtOnce>,
}

impl Policy {
    pub fn at_once(&self, what: crate::task::model::AtOnce) -> bool {
        self.notify_at_once.contains(&what)
    }
}

fn ser_dur<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&crate::units::Dur(*d).to_string())
}

/// The effective policy: the task's `recovery` table, else `[settings]
/// recovery`, else the defaults (3 failures, 3 rounds, 15m, notify).
pub fn policy(task: &Task, settings: &Settings) -> Policy {
    let t = task.recovery.clone().unwrap_or_default();
    let d = settings.recovery.clone().unwrap_or_default();
    Policy {
        failure_threshold: t
            .failure_threshold
            .or(d.failure_threshold)
            .unwrap_or(settings::DEFAULT_FAILURE_THRESHOLD)
            .max(1),
        max_attempts: t
            .max_attempts
            .or(d.max_attempts)
            .unwrap_or(settings::DEFAULT_MAX_ATTEMPTS),
        cooldown: t
            .cooldown
            .or(d.cooldown)
            .map_or(settings::DEFAULT_COOLDOWN, |c| c.0),
        actions: t.actions,
        escalate: t.escalate.or(d.escalate).unwrap_or_default(),
        notify_at_once: t
            .notify_at_once
            .or(d.notify_at_once)
            .unwrap_or_else(|| crate::task::model::AtOnce::ALL.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::RecoveryDefaults;
    use crate::task::{Command, Recovery};
    use crate::units::Dur;

    #[test]
    fn policy_merges_task_over_settings_over_defaults() {
        let mut t = Task::new("a", "@daily", Command::Shell("true".into()));
        let mut s = Settings::default();
        let p = policy(&t, &s);
        assert_eq!((p.failure_threshold, p.max_attempts), (3, 3));
        assert_eq!(p.cooldown, Duration::from_secs(900));
        assert_eq!(p.escalate, Escalate::Notify);
        s.recovery = Some(RecoveryDefaults {
            failure_threshold: Some(5),
            cooldown: Some(Dur(Duration::from_secs(60))),
            escalate: Some(Escalate::Disable),
            ..Default::default()
        });
        t.recovery = Some(Recovery {
            failure_threshold: Some(2),
            actions: vec!["run:b".into()],
            ..Default::default()
        });
        let p = policy(&t, &s);
        assert_eq!((p.failure_threshold, p.max_attempts), (2, 3));
        assert_eq!(p.cooldown, Duration::from_secs(60));
        assert_eq!(p.escalate, Escalate::Disable);
        assert_eq!(p.actions, vec!["run:b".to_string()]);
    }
}
