//! `why`: what happened at one slot, from its execution rows and reasons.

use super::Out;
use crate::output::{duration_ms, local};
use kit_db::clock;
use kit_db::exec::{self, Execution};
use kit_db::gap::Cause;
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

pub(super) fn final_attempt(conn: &Connection, first: &Execution) -> anyhow::Result<Execution> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM supervisor_executions WHERE task = ?1 AND id > ?2 AND retry_of = ?2
         ORDER BY id DESC LIMIT 1",
        exec::COLUMNS
    ))?;
    Ok(stmt
        .query_row(rusqlite::params![first.task, first.id], exec::from_row)
        .optional()?
        .unwrap_or_else(|| first.clone()))
}

pub(super) fn describe_slot(
    o: &mut Out,
    conn: &Connection,
    s: &Execution,
) -> anyhow::Result<String> {
    let slot = o.at(s.scheduled_for.as_deref().unwrap_or(&s.created_at));
    match s.status.as_str() {
        "missed" => {
            let gap = Gap::from_reason(s.reason.as_deref().unwrap_or(""), &s.created_at);
            o.fact("gap", &gap);
            let n = missed_in_tick(conn, &s.task, &s.created_at)?;
            let rest = gap
                .rest
                .clone()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            if gap.from.is_some() {
                o.say(format!(
                    "Its last slot, {slot}, was missed: {}{}{rest}.",
                    gap.words(o),
                    if n > 1 {
                        format!("; {n} slots were missed in that gap")
                    } else {
                        String::new()
                    },
                ));
            } else {
                o.say(format!(
                    "Its last slot, {slot}, was missed: {}.",
                    s.reason.as_deref().unwrap_or("no reason was recorded")
                ));
            }
            Ok("missed".into())
        }
        "skipped" => {
            o.say(format!(
                "Its last slot, {slot}, was skipped: {}.",
                s.reason
                    .as_deref()
                    .unwrap_or("no reason was recorded")
                    .trim_end_matches('.')
            ));
            Ok("skipped".into())
        }
        "queued" => {
            o.say(format!(
                "Its last slot, {slot}, was claimed by kit-tick at {} and is waiting for kit-run to start it \
                 (execution #{}); a slot not started within 2 minutes is recorded missed by kit-heal.",
                o.when(&s.created_at),
                s.id
            ));
            Ok("queued".into())
        }
        _ => {
            late_by_failed_ticks(o, conn, s)?;
            let last = final_attempt(conn, s)?;
            o.fact("last_execution", &last);
            let mut text = if s.trigger == "catch_up" {
                let gap = Gap::from_reason(
                    &missed_reason_in_tick(conn, &s.task, &s.created_at)?,
                    &s.created_at,
                );
                o.fact("gap", &gap);
                format!(
                    "Its last slot, {slot}, was due while {} and was caught up at {} \
                     (catch_up = once runs the latest missed slot): it ",
                    gap.words(o),
                    o.when(s.started_at.as_deref().unwrap_or(&s.created_at))
                )
            } else {
                format!("Its last slot, {slot}, ")
            };
            if last.id != s.id {
                text.push_str(&format!(
                    "ran {} times (retries); the last attempt (execution #{}) {}.",
                    last.attempt,
                    last.id,
                    result_phrase(o, &last)
                ));
            } else {
                text.push_str(&format!(
                    "{} (execution #{}).",
                    result_phrase(o, &last),
                    last.id
                ));
            }
            o.say(text);
            if last.status == "running" {
                stuck_part(o, conn, &last)?;
            }
            Ok(match (s.trigger.as_str(), last.status.as_str()) {
                ("catch_up", _) => "caught_up".into(),
                (_, "running") => "running".into(),
                (_, "success") => "ran".into(),
                _ => "failed".into(),
            })
        }
    }
}

/// How an execution ended, as a phrase: "failed with exit code 3 after 0.4s".
pub(super) fn result_phrase(o: &Out, e: &Execution) -> String {
    let took = e
        .duration_ms
        .map(|d| format!(" after {}", duration_ms(d)))
        .unwrap_or_default();
    let reason = e
        .reason
        .as_deref()
        .map(|r| format!(": {}", r.trim_end_matches('.')))
        .unwrap_or_default();
    match e.status.as_str() {
        "success" => format!(
            "succeeded in {}",
            e.duration_ms.map(duration_ms).unwrap_or_else(|| "?".into())
        ),
        // The reason adds only what the code does not say: the shell's own
        // line for 126/127 ("sh: 1: x: not found"), notes on limits.
        "failed" => format!(
            "failed with exit code {}{took}{}",
            e.exit_code.unwrap_or(1),
            e.reason
                .as_deref()
                .and_then(|r| r.strip_prefix(&format!("exited with status {} (", e.exit_code.unwrap_or(1))))
                .and_then(|rest| rest.split_once(')'))
                .map(|(said, _)| format!(" ({said})"))
                .unwrap_or_default()
        ),
        "timeout" => format!(
            "timed out{took} and was stopped (exit code {})",
            e.exit_code.unwrap_or(124)
        ),
        "killed" => format!(
            "was killed by signal {}{took}{reason}",
            e.signal
                .map(|s| s.to_string())
                .unwrap_or_else(|| "?".into())
        ),
        "error" => format!("could not start{reason}"),
        "lost" => format!("was lost{reason}"),
        "running" if o.orphans.contains(&e.id) => format!(
            "was running (since {}{}), but the kit-run recording it is gone (killed or crashed): \
             the next kit-tick, kit-run of this task or kit-heal records it lost and stops what it left running",
            o.at(e.started_at.as_deref().unwrap_or(&e.created_at)),
            e.child_pid
                .map(|p| format!(", pid {p}"))
                .unwrap_or_default()
        ),
        "running" => format!(
            "is still running (since {}{})",
            o.at(e.started_at.as_deref().unwrap_or(&e.created_at)),
            e.child_pid
                .map(|p| format!(", pid {p}"))
                .unwrap_or_default()
        ),
        "queued" => "is queued".into(),
        other => format!("ended {other}{reason}"),
    }
}

/// A slot claimed well after its time because ticks failed in between (the
/// DB was locked): the failures kit-tick recorded say why it ran late.
fn late_by_failed_ticks(o: &mut Out, conn: &Connection, s: &Execution) -> anyhow::Result<()> {
    let Some(slot) = s.scheduled_for.as_deref() else {
        return Ok(());
    };
    let failed = kit_db::tickfail::between(conn, slot, &s.created_at)?;
    let Some(first) = failed.first() else {
        return Ok(());
    };
    o.fact("failed_ticks", &failed);
    o.say(format!(
        "Its slot at {} ran late: kit-tick claimed it only at {}, because {} tick{} failed before that \
         (first at {}: {}).",
        o.at(slot),
        o.at(&s.created_at),
        failed.len(),
        if failed.len() == 1 { "" } else { "s" },
        o.at(&first.at),
        first.error
    ));
    Ok(())
}

/// kit-tick's explanation of a gap, read from a missed row's reason:
/// "the machine was asleep from A to B; …", "kit-tick was not started from
/// A to B; …" (see kit_db::gap).
#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub from: Option<String>,
    pub to: String,
    /// asleep, not_started, partly_asleep, restarted, unknown (none when
    /// the reason names no gap).
    pub cause: Option<Cause>,
    pub slept_seconds: Option<i64>,
    /// What the reason says beyond the gap (the catch-up policy).
    pub rest: Option<String>,
}

impl Gap {
    pub fn from_reason(reason: &str, recorded_at: &str) -> Gap {
        let body = reason.strip_prefix("missed: ").unwrap_or(reason);
        let (head, rest) = match body.split_once("; ") {
            Some((h, r)) => (h, Some(r.to_string())),
            None => (body, None),
        };
        match kit_db::gap::Gap::parse(head) {
            Some(g) => Gap {
                from: Some(g.from),
                to: g.to,
                cause: Some(g.cause),
                slept_seconds: g.slept_seconds,
                rest,
            },
            None => Gap {
                from: None,
                to: recorded_at.to_string(),
                cause: None,
                slept_seconds: None,
                rest,
            },
        }
    }

    /// What happened in the gap, in the task's zone: "the machine was
    /// asleep from 2025-06-01 01:10 CEST to 2025-06-01 07:02 CEST (5h52m)".
    pub(super) fn words(&self, o: &Out) -> String {
        match (
            self.from.as_deref().and_then(clock::parse_stored),
            clock::parse_stored(&self.to),
        ) {
            (Some(a), Some(b)) => gap_words(self.cause, a, b, self.slept_seconds, o.zone),
            _ => format!("kit-tick was not running until {}", o.when(&self.to)),
        }
    }
}

/// A gap between ticks for people, in `zone` (`why` and `status`).
pub fn gap_words(
    cause: Option<Cause>,
    a: clock::Instant,
    b: clock::Instant,
    slept_seconds: Option<i64>,
    zone: chrono_tz::Tz,
) -> String {
    let span = format!(
        "from {} to {} ({})",
        local(a, zone),
        local(b, zone),
        clock::human_age(b - a)
    );
    let slept = chrono::Duration::seconds(slept_seconds.unwrap_or(0));
    match cause {
        Some(Cause::Asleep) => format!("the machine was asleep {span}"),
        Some(Cause::NotStarted) => {
            format!("kit-tick was not started {span} while the machine was awake")
        }
        Some(Cause::PartlyAsleep) => format!(
            "kit-tick was not started for {} of the time {span}; the machine was asleep for the rest, {}",
            kit_db::gap::words((b - a - slept).max(chrono::Duration::zero())),
            kit_db::gap::words(slept)
        ),
        Some(Cause::Restarted) => {
            format!("kit-tick did not run {span}, and the machine restarted in between")
        }
        _ => format!("kit-tick was not running {span}"),
    }
}

pub(super) fn missed_in_tick(conn: &Connection, task: &str, tick_at: &str) -> anyhow::Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM supervisor_executions WHERE task = ?1 AND status = 'missed' AND created_at = ?2",
        [task, tick_at],
        |r| r.get(0),
    )?)
}

pub(super) fn missed_reason_in_tick(
    conn: &Connection,
    task: &str,
    tick_at: &str,
) -> anyhow::Result<String> {
    Ok(conn
        .query_row(
            "SELECT reason FROM supervisor_executions
             WHERE task = ?1 AND status = 'missed' AND created_at = ?2 ORDER BY id LIMIT 1",
            [task, tick_at],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()?
        .flatten()
        .unwrap_or_default())
}

/// A run still recorded running past its timeout (the same rule as
/// `status` and kit-heal: `kit_db::overdue::stuck`).
fn stuck_part(o: &mut Out, conn: &Connection, e: &Execution) -> anyhow::Result<()> {
    if let Some(st) = kit_db::overdue::stuck(conn, o.now)?
        .into_iter()
        .find(|st| st.id == e.id)
    {
        o.fact("stuck", json_stuck(&st));
        o.say(format!(
            "It is stuck: running for {}, past its timeout (stuck after {}). kit-run stops a run at its timeout, \
             so its kit-run is not doing so; kit-heal has notified it. Stop it with `kill -TERM -{}` \
             (its process group); kit records the end.",
            clock::human_age(st.running_for),
            kit_db::units::Dur(st.limit),
            e.child_pid.map(|p| p.to_string()).unwrap_or_else(|| "PID".into())
        ));
    }
    Ok(())
}

fn json_stuck(st: &kit_db::overdue::Stuck) -> serde_json::Value {
    serde_json::json!({
        "id": st.id,
        "running_for_seconds": st.running_for.num_seconds(),
        "limit_seconds": st.limit.as_secs(),
    })
}

#[cfg(test)]
mod tests {
    use super::Gap;

    #[test]
    fn the_gap_is_read_from_kit_ticks_reason() {
        let g = Gap::from_reason(
            "missed: kit-tick did not run from 2025-06-01T10:00:00.000Z to 2025-06-01T13:30:00.000Z; \
             catch_up = none, so missed slots are not run",
            "2025-06-01T13:30:00.000Z",
        );
        assert_eq!(g.from.as_deref(), Some("2025-06-01T10:00:00.000Z"));
        assert_eq!(g.to, "2025-06-01T13:30:00.000Z");
        assert_eq!(
            g.rest.as_deref(),
            Some("catch_up = none, so missed slots are not run")
        );
        assert_eq!(g.cause, Some(kit_db::gap::Cause::Unknown));
    }

    #[test]
    fn a_sleep_is_read_from_the_reason() {
        let g = Gap::from_reason(
            "missed: the machine was asleep from 2025-06-01T01:10:00.000Z to 2025-06-01T07:02:00.000Z; \
             catch_up = once ran only the latest missed slot (2025-06-01T07:00:00.000Z)",
            "2025-06-01T07:02:00.000Z",
        );
        assert_eq!(g.cause, Some(kit_db::gap::Cause::Asleep));
        assert_eq!(g.from.as_deref(), Some("2025-06-01T01:10:00.000Z"));
        assert_eq!(g.to, "2025-06-01T07:02:00.000Z");
    }

    #[test]
    fn another_reason_keeps_only_when_it_was_recorded() {
        let g = Gap::from_reason("not started within 2 minutes", "2025-06-01T10:03:00.000Z");
        assert_eq!(g.from, None);
        assert_eq!(g.to, "2025-06-01T10:03:00.000Z");
    }
}
