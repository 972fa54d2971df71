//! Deciding what to do with one task's due slots: the pure part of a tick,
//! kept apart from the DB so its rules are easy to read and test.

use chrono::{DateTime, Duration, Utc};
use kit_db::gap::Gap;
use kit_db::task::CatchUp;

type Instant = DateTime<Utc>;

/// A slot is on time when it is claimed less than this after it was due;
/// older slots were missed (kit-tick was not run at their time). Matches the
/// 3 minutes after which kit-heal calls the scheduler stalled.
pub const LATE_AFTER: Duration = Duration::minutes(3);

/// At most this many slots are enumerated (and recorded `missed`) per task per
/// tick; a longer gap is summarised in the last missed row's reason.
pub const MAX_SLOTS: usize = 1000;

/// Slots older than this before `now` are not enumerated at all.
pub const MAX_WINDOW: Duration = Duration::days(31);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Claim it: a `queued` row with this trigger.
    Claim(&'static str),
    /// Record it `missed` with this reason.
    Missed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub slots: Vec<(Instant, Verdict)>,
    /// The task's next due slot after this tick.
    pub next_due: Option<Instant>,
}

pub struct Policy<'a> {
    pub catch_up: CatchUp,
    pub max_age: Option<Duration>,
    /// The wall clock jumped forward since the previous tick: it, not
    /// kit-tick, skipped the slots; after a big jump none is caught up.
    pub jump: Option<&'a kit_db::clock_jump::Jump>,
}

/// Plans one task's slots from `due` (its first slot not yet recorded) up
/// to `now`; `next` gives the slot after a slot (the schedule in force,
/// `kit_db::adapt::Timeline`).
/// `gap` is the time since kit-tick's previous run and what it was (sleep
/// or kit-tick not started), for explaining missed slots.
pub fn plan(
    next: &dyn Fn(Instant) -> Option<Instant>,
    due: Instant,
    now: Instant,
    policy: &Policy,
    gap: Option<&Gap>,
) -> Plan {
    let mut due_slots = std::collections::VecDeque::new();
    let mut first_beyond: Option<Instant> = None;
    // After a very long gap (a machine off for months) only the last
    // MAX_WINDOW is enumerated; the rest is summarised.
    let mut cursor = Some(due);
    if now - due > MAX_WINDOW {
        first_beyond = Some(due);
        cursor = next(now - MAX_WINDOW);
    }
    while let Some(slot) = cursor {
        if slot > now {
            break;
        }
        due_slots.push_back(slot);
        if due_slots.len() > MAX_SLOTS {
            // Keep the newest MAX_SLOTS: the latest slots are the ones that
            // matter for catch-up; count the rest.
            if let Some(old) = due_slots.pop_front() {
                first_beyond.get_or_insert(old);
            }
        }
        cursor = next(slot);
    }
    let next_due = cursor;
    let (late, on_time): (Vec<Instant>, Vec<Instant>) =
        due_slots.iter().partition(|s| now - **s >= LATE_AFTER);

    let gap = match (policy.jump, gap) {
        (Some(j), _) => j.phrase(),
        (None, Some(g)) => g.phrase(),
        (None, None) => format!(
            "kit-tick did not run at the slot's time (next tick: {})",
            kit_db::clock::fmt(now)
        ),
    };
    let big_jump = policy.jump.is_some_and(|j| j.big());
    let mut slots: Vec<(Instant, Verdict)> = Vec::new();
    let catch_up_slot = if on_time.is_empty() && policy.catch_up == CatchUp::Once && !big_jump {
        late.last()
            .copied()
            .filter(|s| policy.max_age.is_none_or(|age| now - *s <= age))
    } else {
        None
    };
    for (i, s) in late.iter().enumerate() {
        if Some(*s) == catch_up_slot {
            slots.push((*s, Verdict::Claim("catch_up")));
            continue;
        }
        let mut why = format!("missed: {gap}; ");
        why.push_str(&if !on_time.is_empty() {
            "a later slot ran on time instead".to_string()
        } else if catch_up_slot.is_some() {
            format!(
                "catch_up = once ran only the latest missed slot ({})",
                kit_db::clock::fmt(catch_up_slot.unwrap_or(*s))
            )
        } else if big_jump {
            "as cronie does after a clock jump of more than 3 hours, skipped slots are not run"
                .to_string()
        } else if policy.catch_up == CatchUp::None {
            "catch_up = none, so missed slots are not run".to_string()
        } else {
            format!(
                "older than catch_up_max_age ({}), so not run",
                policy
                    .max_age
                    .and_then(|a| a.to_std().ok())
                    .map(|a| kit_db::units::Dur(a).to_string())
                    .unwrap_or_default()
            )
        });
        if i == 0 && first_beyond.is_some() {
            why.push_str(&format!(
                "; earlier slots from {} were also missed and not recorded one by one",
                first_beyond.map(kit_db::clock::fmt).unwrap_or_default()
            ));
        }
        slots.push((*s, Verdict::Missed(why)));
    }
    for s in on_time {
        slots.push((s, Verdict::Claim("schedule")));
    }
    Plan { slots, next_due }
}
