//! `why NAME`: one paragraph on why a task did or did not run at its last
//! slot, and what happens next. It reads only what the tools recorded (the
//! execution rows and their reasons, kit-heal's recovery state, kit-keep's
//! daemon state, heartbeats), so the answer is the system's own account.
//!
//! `explain` returns the text, a short machine-readable `case`, and the
//! facts it was built from (the REST API serves the same).

use super::status::{streak, KEEP_STALE, TICK_STALE};
use super::Ctx;
use crate::output::{duration_ms, local, relative};
use kit_db::clock::{self, Instant};
use kit_db::daemon::DaemonState;
use kit_db::exec::{self, Execution};
use kit_db::recovery::{Phase, RecoveryState};
use kit_db::settings::Settings;
use kit_db::state::{self, Heartbeat};
use kit_db::task::{repo, CatchUp, TaskRow};
use kit_db::Store;
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize)]
pub struct Why {
    pub task: String,
    /// The main reason, one of: disabled, escalated, tick_not_running,
    /// not_due, queued, running, ran, failed, skipped, missed, caught_up,
    /// cooldown, daemon_running, daemon_backoff, quarantined, daemon_stopped,
    /// daemon_error, daemon_not_started, keep_not_running.
    pub case: String,
    pub text: String,
    pub facts: Value,
}

/// A slot is normally claimed within a minute of being due (kit-tick runs
/// every minute); later than this, kit-tick is not running.
const CLAIM_GRACE: chrono::Duration = chrono::Duration::seconds(90);

/// Builds the paragraph: sentences in order, the first case set wins
/// unless a later one is marked as more important.
struct Out {
    zone: chrono_tz::Tz,
    now: Instant,
    sentences: Vec<String>,
    /// Said last ("what happens next" of a disabled task).
    closing: Vec<String>,
    facts: serde_json::Map<String, Value>,
}

impl Out {
    fn say(&mut self, s: impl Into<String>) {
        self.sentences.push(s.into());
    }
    fn fact(&mut self, k: &str, v: impl Serialize) {
        self.facts
            .insert(k.into(), serde_json::to_value(v).unwrap_or(Value::Null));
    }
    /// "2025-03-30 03:47 CEST (2h ago)"
    fn at(&self, stored: &str) -> String {
        match clock::parse_stored(stored) {
            Some(t) => format!("{} ({})", local(t, self.zone), relative(t, self.now)),
            None => stored.to_string(),
        }
    }
    fn when(&self, stored: &str) -> String {
        match clock::parse_stored(stored) {
            Some(t) => local(t, self.zone),
            None => stored.to_string(),
        }
    }
}

pub fn explain(store: &Store, name: &str, now: Instant) -> anyhow::Result<Why> {
    let conn = &store.conn;
    let row = repo::require(conn, name)?;
    let settings = Settings::load(conn)?;
    let zone = row
        .task
        .timezone
        .as_deref()
        .and_then(|z| z.parse().ok())
        .unwrap_or_else(|| settings.zone());
    let mut o = Out {
        zone,
        now,
        sentences: vec![],
        closing: vec![],
        facts: serde_json::Map::new(),
    };
    o.fact("schedule", &row.task.schedule);
    o.fact("timezone", zone.name());
    o.fact("enabled", row.task.enabled);
    o.fact("next_due", &row.next_due);
    let recovery = kit_db::recovery::get(conn, name)?;
    o.fact("recovery", &recovery);

    let mut case = if !row.task.enabled {
        disabled(&mut o, &row, recovery.as_ref())
    } else {
        None
    };
    let main = if row.task.is_daemon() {
        daemon(&mut o, conn, &row, now)?
    } else {
        timed(&mut o, conn, &row, &settings, now)?
    };
    case.get_or_insert(main);
    if let Some(c) = recovery_part(&mut o, conn, &row, &settings, recovery.as_ref(), now)? {
        // A cooldown is the answer to "why no recovery yet", and matters
        // more than the last result it follows from.
        if case
            .as_deref()
            .is_some_and(|c| matches!(c, "failed" | "ran" | "skipped" | "missed" | "caught_up"))
        {
            case = Some(c);
        }
    }
    if row.task.enabled && !row.task.is_daemon() {
        next_part(&mut o, &row);
    }
    let closing = std::mem::take(&mut o.closing);
    o.sentences.extend(closing);
    let case = case.unwrap_or_else(|| "not_due".into());
    Ok(Why {
        task: name.to_string(),
        case,
        text: o.sentences.join(" "),
        facts: Value::Object(o.facts),
    })
}

fn disabled(o: &mut Out, row: &TaskRow, rec: Option<&RecoveryState>) -> Option<String> {
    let name = &row.task.name;
    let reason = row.disabled_reason.clone();
    o.fact("disabled_reason", &reason);
    if let Some(r) = rec.filter(|r| r.state == Phase::Escalated && r.escalated_at.is_some()) {
        let at = r.escalated_at.as_deref().unwrap_or_default();
        o.say(format!(
            "{name} is disabled: kit-heal escalated and disabled it at {} after {} recovery round{} \
             without a success (escalate = \"disable\"){}.",
            o.when(at),
            r.rounds,
            if r.rounds == 1 { "" } else { "s" },
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        ));
        o.closing.push(format!(
            "It will not run until it is enabled again (`kit-ctl enable {name}`)."
        ));
        return Some("escalated".into());
    }
    o.say(format!(
        "{name} is disabled ({}, since {}).",
        reason.unwrap_or_else(|| "declared with enabled = false".into()),
        o.when(&row.updated_at)
    ));
    o.closing.push(format!(
        "It will not run until it is enabled again (`kit-ctl enable {name}`)."
    ));
    Some("disabled".into())
}

// ---- timed tasks -------------------------------------------------------

fn timed(
    o: &mut Out,
    conn: &Connection,
    row: &TaskRow,
    settings: &Settings,
    now: Instant,
) -> anyhow::Result<String> {
    let name = &row.task.name;
    let tick = state::heartbeat(conn, "kit-tick")?;
    o.fact("kit_tick", tick_fact(tick.as_ref(), now));
    let slot = last_slot(conn, name)?;
    o.fact("last_slot", &slot);
    let mut case: Option<String> = None;

    // A due slot nobody claimed: kit-tick itself is not being run.
    if row.task.enabled {
        let due = row.next_due.as_deref().and_then(clock::parse_stored);
        let unclaimed = match due {
            Some(d) => now - d > CLAIM_GRACE,
            // Never evaluated: only a problem if kit-tick is not ticking.
            None => tick_stale(tick.as_ref(), now),
        };
        if unclaimed && row.task.schedule.trim() != "@reboot" {
            let since = match &tick {
                Some(h) => format!("kit-tick has not run since {}", o.at(&h.beat_at)),
                None => "kit-tick has never run on this database".to_string(),
            };
            match due {
                Some(d) => o.say(format!(
                    "Its slot at {} has not run and was not even claimed: {since}, so nothing is scheduling tasks \
                     (check the launchd/systemd timer or crontab that runs `kit-tick --exec` every minute).",
                    o.at(&clock::fmt(d))
                )),
                None => o.say(format!(
                    "{name} has not been scheduled yet: {since} (check the timer or crontab that runs \
                     `kit-tick --exec` every minute)."
                )),
            }
            o.say(match row.task.catch_up() {
                CatchUp::Once => "When kit-tick runs again, it runs the latest missed slot once (catch_up = once) \
                                  and records the others as missed."
                    .to_string(),
                CatchUp::None => "When kit-tick runs again, it records the missed slots as missed and does not \
                                  run them (catch_up = none)."
                    .to_string(),
            });
            case = Some("tick_not_running".into());
        }
    }

    match &slot {
        None => {
            if case.is_none() {
                o.say(format!(
                    "{name} has not been due since it was declared ({}).",
                    o.when(&row.created_at)
                ));
            }
        }
        Some(s) => {
            let c = describe_slot(o, conn, s)?;
            case.get_or_insert(c);
        }
    }
    // A run by hand (or by recovery, or the API) after the last slot.
    let later = latest_other(conn, name, slot.as_ref().map(|s| s.id))?;
    if let Some(e) = &later {
        o.fact("latest_other_run", e);
        o.say(format!(
            "It was also run {} ({}) at {}: {} (execution #{}).",
            trigger_words(&e.trigger),
            e.trigger,
            o.when(e.started_at.as_deref().unwrap_or(&e.created_at)),
            result_phrase(o, e),
            e.id
        ));
    }
    let _ = settings;
    Ok(case.unwrap_or_else(|| "not_due".into()))
}

fn trigger_words(t: &str) -> &'static str {
    match t {
        "manual" => "by hand",
        "api" => "through the API",
        "recovery" => "by kit-heal's recovery",
        "adhoc" => "ad hoc",
        _ => "outside its schedule",
    }
}

/// The latest row for a scheduled slot (claimed, caught up, missed or
/// skipped); retries of it are found from it.
fn last_slot(conn: &Connection, task: &str) -> anyhow::Result<Option<Execution>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM supervisor_executions
         WHERE task = ?1 AND scheduled_for IS NOT NULL AND attempt = 1
         ORDER BY scheduled_for DESC, id DESC LIMIT 1",
        exec::COLUMNS
    ))?;
    Ok(stmt.query_row([task], exec::from_row).optional()?)
}

/// The latest execution that is not for a slot and is newer than it.
fn latest_other(
    conn: &Connection,
    task: &str,
    after: Option<i64>,
) -> anyhow::Result<Option<Execution>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM supervisor_executions
         WHERE task = ?1 AND id > ?2 AND scheduled_for IS NULL AND trigger IN ('manual','api','recovery','adhoc')
         ORDER BY id DESC LIMIT 1",
        exec::COLUMNS
    ))?;
    Ok(stmt
        .query_row(rusqlite::params![task, after.unwrap_or(0)], exec::from_row)
        .optional()?)
}

/// The last attempt of a slot's run (itself when it was not retried).
/// Retries are recorded after the first attempt, so the search is a range
/// of the (task, id) index, not a scan for `retry_of`.
fn final_attempt(conn: &Connection, first: &Execution) -> anyhow::Result<Execution> {
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

fn describe_slot(o: &mut Out, conn: &Connection, s: &Execution) -> anyhow::Result<String> {
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
                    "Its last slot, {slot}, was missed while kit-tick was not running ({}){}{rest}.",
                    gap.words(o),
                    if n > 1 { format!("; {n} slots were missed in that gap") } else { String::new() },
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
            let last = final_attempt(conn, s)?;
            o.fact("last_execution", &last);
            let mut text = if s.trigger == "catch_up" {
                let gap = Gap::from_reason(
                    &missed_reason_in_tick(conn, &s.task, &s.created_at)?,
                    &s.created_at,
                );
                o.fact("gap", &gap);
                format!(
                    "Its last slot, {slot}, was due while kit-tick was not running ({}) and was caught up at {} \
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
fn result_phrase(o: &Out, e: &Execution) -> String {
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
        "failed" => format!("failed with exit code {}{took}", e.exit_code.unwrap_or(1)),
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

/// kit-tick's explanation of a gap: "kit-tick did not run from A to B; ...".
#[derive(Debug, Clone, Serialize)]
pub struct Gap {
    pub from: Option<String>,
    pub to: String,
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
        if let Some(span) = head.strip_prefix("kit-tick did not run from ") {
            if let Some((a, b)) = span.split_once(" to ") {
                return Gap {
                    from: Some(a.trim().to_string()),
                    to: b.trim().to_string(),
                    rest,
                };
            }
        }
        Gap {
            from: None,
            to: recorded_at.to_string(),
            rest,
        }
    }

    fn words(&self, o: &Out) -> String {
        let to = clock::parse_stored(&self.to);
        match (self.from.as_deref().and_then(clock::parse_stored), to) {
            (Some(a), Some(b)) => format!(
                "from {} to {}, {}",
                local(a, o.zone),
                local(b, o.zone),
                clock::human_age(b - a)
            ),
            _ => format!("until {}", o.when(&self.to)),
        }
    }
}

fn missed_in_tick(conn: &Connection, task: &str, tick_at: &str) -> anyhow::Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM supervisor_executions WHERE task = ?1 AND status = 'missed' AND created_at = ?2",
        [task, tick_at],
        |r| r.get(0),
    )?)
}

fn missed_reason_in_tick(conn: &Connection, task: &str, tick_at: &str) -> anyhow::Result<String> {
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

fn tick_stale(h: Option<&Heartbeat>, now: Instant) -> bool {
    h.and_then(|h| h.age(now)).is_none_or(|a| a >= TICK_STALE)
}

fn tick_fact(h: Option<&Heartbeat>, now: Instant) -> Value {
    match h {
        Some(h) => {
            json!({ "beat_at": h.beat_at, "age_seconds": h.age(now).map(|a| a.num_seconds()),
                           "stale": tick_stale(Some(h), now) })
        }
        None => Value::Null,
    }
}

fn next_part(o: &mut Out, row: &TaskRow) {
    let sched = row.task.schedule.trim();
    if sched == "@reboot" {
        o.say("It runs at the first tick after each boot.");
        return;
    }
    match row.next_due.as_deref().and_then(clock::parse_stored) {
        Some(d) if d.timestamp() > 253_402_300_799 - 86_400 * 366 => {
            o.say("Its schedule has no future instant, so it will not run again.")
        }
        Some(d) if d > o.now => o.say(format!("Next slot: {}.", o.at(&clock::fmt(d)))),
        Some(_) => {}
        None => {
            if let Ok(s) = kit_db::schedule::Schedule::parse(sched) {
                if let Some(n) = s.next_after(o.now, o.zone) {
                    o.say(format!(
                        "By its schedule the next slot is {}.",
                        o.at(&clock::fmt(n))
                    ));
                }
            }
        }
    }
}

// ---- recovery (kit-heal) -----------------------------------------------

/// The failure streak and kit-heal's episode. Returns "cooldown" while a
/// recovery round has run and the next may not start yet.
fn recovery_part(
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
                    " (no recovery actions are declared, so a round only notifies)".to_string()
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

// ---- daemons (kit-keep) ------------------------------------------------

fn daemon(o: &mut Out, conn: &Connection, row: &TaskRow, now: Instant) -> anyhow::Result<String> {
    let name = &row.task.name;
    let d = kit_db::daemon::state::get(conn, name)?;
    o.fact("daemon", &d);
    let keep = state::heartbeat(conn, "kit-keep")?;
    let keep_up = keep
        .as_ref()
        .is_some_and(|h| h.age(now).is_some_and(|a| a < KEEP_STALE) && h.process_alive());
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

fn last_daemon_run(conn: &Connection, task: &str) -> anyhow::Result<Option<Execution>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM supervisor_executions WHERE task = ?1 ORDER BY id DESC LIMIT 1",
        exec::COLUMNS
    ))?;
    Ok(stmt.query_row([task], exec::from_row).optional()?)
}

pub fn why(ctx: &Ctx, name: &str) -> anyhow::Result<i32> {
    let now = ctx.now()?;
    let store = ctx.open_existing()?;
    let w = explain(&store, name, now)?;
    if ctx.json {
        kit_db::cli::print_json(&w);
    } else {
        println!("{}", wrap(&w.text, 78));
    }
    Ok(0)
}

/// Wraps a paragraph at word boundaries for a terminal.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut col = 0;
    for word in text.split(' ') {
        let w = word.chars().count();
        if col > 0 && col + 1 + w > width {
            out.push('\n');
            col = 0;
        } else if col > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += w;
    }
    out
}
