//! `why`: the failure streak and kit-heal's recovery episode.

use super::Out;
use crate::cmd::status::streak;
use crate::output::{local, relative};
use kit_db::clock::{self, Instant};
use kit_db::recovery::{Phase, RecoveryState};
use kit_db::settings::Settings;
use kit_db::task::TaskRow;
use rusqlite::Connection;

/// The failure streak and kit-heal's episode. Returns "cooldown" while a
/// recovery round has run and the next may not start yet.
pub(super) fn recovery_part(
    o: &mut Out,
    conn: &Connection,
    row: &TaskRow,
    settings: &Settings,
    rec: Option<&RecoveryState>,
    now: Instant,
) -> anyhow::Result<Option<String>> {
    if row.task.is_daemon() {
        return Ok(None);
    }
    let policy = kit_db::recovery::policy(&row.task, settings);
    o.fact("recovery_policy", &policy);
    let counted = streak(conn, &row.task.name)?;
    let streak = counted.max(rec.map_or(0, |r| r.streak));
    o.fact("streak", streak);
    if streak > 0 {
        o.say(format!(
            "It has failed {streak} time{} in a row (kit-heal starts recovery at {}).",
            if streak == 1 { "" } else { "s" },
            policy.failure_threshold
        ));
    }
    let Some(r) = rec else { return Ok(None) };
    match r.state {
        Phase::Failing | Phase::Recovering => {
            let since = r.episode_started_at.as_deref().map(|t| o.when(t)).unwrap_or_else(|| "recently".into());
            let last = r.last_round_at.as_deref().and_then(clock::parse_stored);
            let until = last.map(|l| l + chrono::Duration::from_std(policy.cooldown).unwrap_or_default());
            o.fact("cooldown_until", until.map(clock::fmt));
            let Some(l) = last else {
                o.say(format!("kit-heal counts it as failing since {since}."));
                return Ok(None);
            };
            let mut s = format!(
                "kit-heal has been recovering it since {since}: round {} of {} ran at {}{}",
                r.rounds,
                policy.max_attempts,
                local(l, o.zone),
                if policy.actions.is_empty() {
                    " (no recovery actions are declared, so a round only records that it is still failing; \
                     the failing event was the notification)"
                        .to_string()
                } else {
                    format!(" ({})", policy.actions.join(", "))
                }
            );
            let next = if r.rounds >= policy.max_attempts as i64 {
                format!(
                    "the next failure after that escalates it (escalate = \"{}\")",
                    serde_json::to_value(policy.escalate).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
                )
            } else {
                "the next failure after that starts another round".to_string()
            };
            match until {
                Some(u) if u > now => {
                    s.push_str(&format!(
                        "; it is in recovery cooldown until {} ({}), so no new round starts before then; {next}.",
                        local(u, o.zone),
                        relative(u, now)
                    ));
                    o.say(s);
                    return Ok(Some("cooldown".into()));
                }
                _ => s.push_str(&format!("; the cooldown has passed: {next}.")),
            }
            o.say(s);
        }
        Phase::Escalated if row.task.enabled => o.say(format!(
            "kit-heal escalated it at {} (escalate = \"notify\": it keeps running and a success closes the episode).",
            r.escalated_at.as_deref().map(|t| o.when(t)).unwrap_or_default()
        )),
        _ => {}
    }
    Ok(None)
}
