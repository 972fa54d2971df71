//! `why NAME`: one paragraph on why a task did or did not run at its last
//! slot, and what happens next. It reads only what the tools recorded (the
//! execution rows and their reasons, kit-heal's recovery state, kit-keep's
//! daemon state, heartbeats), so the answer is the system's own account.
//!
//! `explain` returns the text, a short machine-readable `case`, and the
//! facts it was built from (the REST API serves the same).

mod daemon;
mod pace;
mod recovery;
mod slot;
mod timed;
mod trigger;
mod triggered;

pub use slot::{gap_words, Gap};

use super::Ctx;
use crate::output::{local, relative};
use kit_db::clock::{self, Instant};
use kit_db::recovery::{Phase, RecoveryState};
use kit_db::settings::Settings;
use kit_db::task::{repo, TaskRow};
use kit_db::Store;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize)]
pub struct Why {
    pub task: String,
    /// The main reason, one of: disabled, escalated, tick_not_running,
    /// asleep (the machine slept since kit-tick's last run), restarted (it
    /// restarted since, minutes ago), not_due, queued, running, ran,
    /// failed, skipped, missed, caught_up, cooldown, daemon_running, daemon_backoff, quarantined, daemon_stopped,
    /// daemon_error, daemon_not_started, keep_not_running; for triggered
    /// runs also not_triggered (an @event task never triggered) and waiting
    /// (a triggered run is queued: debounce, or the run in progress);
    /// probe_failed (a condition's probe is failing).
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
    /// Rows recorded `running` whose kit-run is gone (the same identity
    /// check `status` and reconciliation use): never "still running".
    orphans: std::collections::HashSet<i64>,
    /// A wall-clock jump still worth telling (`clock_jump::Jump::lasts_at`).
    jump: Option<kit_db::clock_jump::Jump>,
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
            // After the clock went back, what was recorded before the jump
            // carries later times than now: it happened, it is not due "in
            // 58m".
            Some(t) if t > self.now && self.recorded_before_jump(t) => format!(
                "{} (recorded before the clock went back)",
                local(t, self.zone)
            ),
            Some(t) => format!("{} ({})", local(t, self.zone), relative(t, self.now)),
            None => stored.to_string(),
        }
    }
    fn recorded_before_jump(&self, t: Instant) -> bool {
        // Only up to where the clock had got: a slot beyond is really ahead.
        self.jump
            .as_ref()
            .filter(|j| j.back())
            .and_then(|j| Some((j.to_instant()?, clock::parse_stored(&j.resume_at)?)))
            .is_some_and(|(seen, reached)| seen <= self.now && t > self.now && t <= reached)
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
        orphans: kit_db::exec::find_orphans(conn, Some(name))?
            .into_iter()
            .map(|o| o.id)
            .collect(),
        jump: kit_db::clock_jump::last(conn)?.filter(|j| j.lasts_at(now)),
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
        daemon::daemon(&mut o, conn, &row, now)?
    } else if row.task.is_event_only() {
        triggered::triggered(&mut o, conn, &row)?.unwrap_or_else(|| "not_triggered".into())
    } else {
        let slot = timed::timed(&mut o, conn, &row, &settings, now)?;
        // A run waiting to start is the news; otherwise the slot is.
        match triggered::triggered(&mut o, conn, &row)? {
            Some(c) if c == "waiting" => c,
            _ => slot,
        }
    };
    case.get_or_insert(main);
    if let Some(c) = trigger::trigger_part(&mut o, conn, &row, now)? {
        // A broken probe or an unwatched path explains more than the last run.
        if row.task.enabled
            && case
                .as_deref()
                .is_some_and(|c| !matches!(c, "running" | "queued"))
        {
            case = Some(c);
        }
    }
    if let Some(c) = recovery::recovery_part(&mut o, conn, &row, &settings, recovery.as_ref(), now)?
    {
        // A cooldown is the answer to "why no recovery yet", and matters
        // more than the last result it follows from.
        if case
            .as_deref()
            .is_some_and(|c| matches!(c, "failed" | "ran" | "skipped" | "missed" | "caught_up"))
        {
            case = Some(c);
        }
    }
    let said_next = pace::pace_part(&mut o, conn, &row, now)?;
    if row.task.enabled && !row.task.is_daemon() && !row.task.is_event_only() && !said_next {
        timed::next_part(&mut o, &row);
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
