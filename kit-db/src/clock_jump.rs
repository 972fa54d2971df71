//! The wall clock set back or forward (an NTP step, a person fixing the
//! time, a bad RTC after a restart), told apart from sleep and from a
//! kit-tick that was not started.
//!
//! Each tick stores its readings: the wall clock, the boot id and the time
//! since boot (`CLOCK_BOOTTIME` / `mach_continuous_time`, which count
//! sleep and never jump). Between two ticks of one boot the boot clock says
//! how much time really passed, so the wall clock's difference from it is
//! the jump. Without a boot-clock reading (another boot, an injected clock
//! without `KIT_UPTIME`) only a clock that went back past the previous tick
//! can be seen, and its size is a lower bound.
//!
//! What kit-tick then does follows cronie's `cron.c` (see kit-tick's
//! `jump.rs`): after a jump back of up to 3 hours, wildcard tasks run at the
//! current time and fixed-time tasks wait until the clock is back where it
//! was; after a bigger jump back everything runs from the new time, so
//! fixed-time tasks run again. A jump forward is a gap: its slots are
//! missed and caught up by the task's `catch_up`, and after a jump of more
//! than 3 hours nothing is caught up (cronie runs only the current minute).

use crate::clock::{self, Instant};
use crate::events::{self, NewEvent, Severity};
use crate::units::Dur;
use crate::{state, Result};
use chrono::Duration;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

/// The previous tick's readings.
const READING: &str = "tick.clock";
/// The jump last detected (JSON of a [`Jump`]).
pub const LAST_JUMP: &str = "tick.clock_jump";
/// A wall clock that differs from the boot clock by less than this has not
/// jumped (reading the two clocks is not simultaneous; NTP slews slowly).
pub const NOISE: Duration = Duration::minutes(1);
/// cronie's limit: a jump of more than 3 hours is "a big one".
pub const BIG: Duration = Duration::hours(3);
/// `status` flags a jump for this long after it was seen (a jump back, also
/// for as long as its episode lasts).
pub const SHOWN_FOR: Duration = crate::overdue::RECENT;

/// One tick's clocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    pub wall: String,
    pub boot: String,
    pub since_boot_ms: Option<i64>,
}

impl Reading {
    /// The clocks now. With an injected wall clock (`--now`, `KIT_NOW`) the
    /// boot clock counts only when injected too (`KIT_UPTIME`): a real one
    /// beside a made-up wall clock would look like a jump at every tick.
    pub fn take(now: Instant, wall_injected: bool) -> Reading {
        let uptime_injected = std::env::var("KIT_UPTIME").is_ok_and(|v| !v.trim().is_empty());
        let since_boot = if wall_injected && !uptime_injected {
            None
        } else {
            crate::sleep_clock::since_boot()
        };
        Reading {
            wall: clock::fmt(now),
            boot: crate::process::boot_id(),
            since_boot_ms: since_boot.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        }
    }

    fn wall(&self) -> Option<Instant> {
        clock::parse_stored(&self.wall)
    }
}

/// A jump of the wall clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jump {
    /// What the clock would have read without the jump (for a jump back
    /// seen without a boot clock: the previous tick's time).
    pub from: String,
    /// What it read at the tick that saw the jump.
    pub to: String,
    /// Seconds, negative for a jump back. Without a boot clock, the
    /// smallest jump that explains the readings.
    pub by_seconds: i64,
    /// True when `by_seconds` is only a lower bound.
    pub at_least: bool,
    /// After a jump back: the latest time the clock had read (cronie's
    /// "virtual time"). Until the clock is past this minute again, fixed-time
    /// tasks wait and wildcard tasks run at the current time.
    pub resume_at: String,
    /// Executions with ids up to this one were recorded before the jump: a
    /// slot they hold may be run again after a jump back (cronie does).
    pub base_id: i64,
}

impl Jump {
    pub fn back(&self) -> bool {
        self.by_seconds < 0
    }
    pub fn by(&self) -> Duration {
        Duration::seconds(self.by_seconds.abs())
    }
    /// More than cronie's 3 hours.
    pub fn big(&self) -> bool {
        self.by() > BIG
    }
    pub fn from_instant(&self) -> Option<Instant> {
        clock::parse_stored(&self.from)
    }
    /// The minute the clock must pass again to end a jump back's episode.
    pub fn resume_minute(&self) -> Option<Instant> {
        clock::parse_stored(&self.resume_at).map(clock::floor_minute)
    }
    /// A jump back whose episode is still going at `now`: the clock has not
    /// yet passed the minute it had reached.
    pub fn going_back_at(&self, now: Instant) -> bool {
        self.back()
            && self
                .resume_minute()
                .is_some_and(|r| clock::floor_minute(now) <= r)
    }
    pub fn to_instant(&self) -> Option<Instant> {
        clock::parse_stored(&self.to)
    }

    /// One line for people: "the clock went back 1h (from 10:02 to 09:03 UTC)".
    pub fn phrase(&self) -> String {
        let by = Dur(self.by().to_std().unwrap_or_default()).to_string();
        format!(
            "the clock {} {}{by} (from {} to {})",
            if self.back() {
                "went back"
            } else {
                "jumped forward"
            },
            if self.at_least { "at least " } else { "" },
            short(&self.from),
            short(&self.to),
        )
    }

    /// What kit does about it, cronie's way.
    pub fn consequence(&self) -> String {
        match (self.back(), self.big()) {
            (true, false) => format!(
                "as cronie does, tasks whose minute or hour field is a wildcard (and @every tasks) run at the current time, and fixed-time tasks wait until the clock is past {}, so they do not run twice",
                short(&self.resume_at)
            ),
            (true, true) => "as cronie does after a jump of more than 3 hours, every task runs from the new time, so fixed-time tasks run again at their times".to_string(),
            (false, false) => "the slots it skipped were recorded missed and caught up as each task's catch_up says".to_string(),
            (false, true) => "as cronie does after a jump of more than 3 hours, the slots it skipped were recorded missed and not caught up".to_string(),
        }
    }

    /// The phrase and the consequence, as one sentence (no final stop).
    pub fn sentence(&self) -> String {
        format!("{}; {}", capitalised(&self.phrase()), self.consequence())
    }

    /// While it lasts: a jump back until the clock is back where it was,
    /// and any jump for [`SHOWN_FOR`] after it was seen.
    pub fn lasts_at(&self, now: Instant) -> bool {
        let episode = self.going_back_at(now);
        let recent = self
            .to_instant()
            .is_some_and(|seen| now >= seen && now - seen < SHOWN_FOR);
        episode || recent
    }
}

/// "2025-06-01 10:02 UTC" from a stored instant.
fn short(stored: &str) -> String {
    clock::parse_stored(stored)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| stored.to_string())
}

/// Compares this tick's clocks with the previous tick's: the jump, if the
/// wall clock moved by more than [`NOISE`] against the boot clock.
pub fn detect(
    prev: &Reading,
    now: &Reading,
    base_id: i64,
    resume_at: Option<&str>,
) -> Option<Jump> {
    let (then, wall_now) = (prev.wall()?, now.wall()?);
    let same_boot = prev.boot == now.boot;
    let (expected, at_least) = match (prev.since_boot_ms, now.since_boot_ms) {
        (Some(a), Some(b)) if same_boot && b >= a => (then + Duration::milliseconds(b - a), false),
        // No boot clock: only a wall clock behind the previous tick shows.
        _ => (then, true),
    };
    let drift = wall_now - expected;
    let jumped = if at_least {
        clock::floor_minute(wall_now) < clock::floor_minute(then)
    } else {
        drift.abs() >= NOISE
    };
    jumped.then(|| Jump {
        from: clock::fmt(expected),
        to: now.wall.clone(),
        by_seconds: drift.num_seconds(),
        at_least,
        // A second jump back before the first one's episode ended keeps
        // the furthest point the clock had reached.
        resume_at: resume_at
            .filter(|r| **r > *prev.wall)
            .unwrap_or(&prev.wall)
            .to_string(),
        base_id,
    })
}

/// Reads the previous tick's clocks and stores this tick's; returns the
/// jump between them, recorded (state and a notified `clock_jump` event).
pub fn observe(tx: &Connection, now: &Reading, at: Instant) -> Result<Option<Jump>> {
    let prev: Option<Reading> =
        state::get(tx, READING)?.and_then(|t| serde_json::from_str(&t).ok());
    let text = serde_json::to_string(now).map_err(|e| crate::Error::invalid(e.to_string()))?;
    state::set(tx, READING, &text, at)?;
    let base_id: i64 = tx.query_row(
        "SELECT coalesce(max(id), 0) FROM supervisor_executions",
        [],
        |r| r.get(0),
    )?;
    let active = going_back(tx, at)?;
    let resume = active.as_ref().map(|j| j.resume_at.as_str());
    let Some(jump) = prev.and_then(|p| detect(&p, now, base_id, resume)) else {
        return Ok(None);
    };
    let text = serde_json::to_string(&jump).map_err(|e| crate::Error::invalid(e.to_string()))?;
    state::set(tx, LAST_JUMP, &text, at)?;
    let ev = NewEvent {
        kind: "clock_jump",
        severity: Severity::Warning,
        task: None,
        message: jump.sentence(),
        detail: serde_json::to_value(&jump).ok(),
        dedupe_key: Some(format!("clock_jump:{}", jump.to)),
        notify: crate::settings::Settings::load(tx)?.at_once(crate::task::model::AtOnce::ClockJump),
    };
    events::record(tx, &ev, at)?;
    Ok(Some(jump))
}

/// The last jump seen, if any.
pub fn last(conn: &Connection) -> Result<Option<Jump>> {
    Ok(state::get(conn, LAST_JUMP)?.and_then(|t| serde_json::from_str(&t).ok()))
}

/// A jump back whose episode is still going at `now` (the clock has not yet
/// caught up with where it was).
pub fn going_back(conn: &Connection, now: Instant) -> Result<Option<Jump>> {
    Ok(last(conn)?.filter(|j| j.going_back_at(now)))
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(wall: &str, boot: &str, up: Option<i64>) -> Reading {
        Reading {
            wall: wall.into(),
            boot: boot.into(),
            since_boot_ms: up,
        }
    }

    #[test]
    fn the_boot_clock_measures_a_jump_either_way() {
        let a = reading("2025-06-01T10:00:00.000Z", "b", Some(1_000_000));
        let back = reading("2025-06-01T09:01:00.000Z", "b", Some(1_060_000));
        let j = detect(&a, &back, 7, None).unwrap();
        assert_eq!(j.by_seconds, -3600);
        assert!(j.back() && !j.big() && !j.at_least);
        assert_eq!(j.from, "2025-06-01T10:01:00.000Z");
        assert_eq!(j.resume_at, "2025-06-01T10:00:00.000Z");
        assert!(j.going_back_at(clock::parse_stored("2025-06-01T10:00:59.000Z").unwrap()));
        assert!(!j.going_back_at(clock::parse_stored("2025-06-01T10:01:00.000Z").unwrap()));
        let fwd = reading("2025-06-01T14:01:00.000Z", "b", Some(1_060_000));
        let j = detect(&a, &fwd, 7, None).unwrap();
        assert_eq!(j.by_seconds, 4 * 3600);
        assert!(!j.back() && j.big());
    }

    #[test]
    fn a_late_tick_or_sleep_is_not_a_jump() {
        let a = reading("2025-06-01T10:00:00.000Z", "b", Some(1_000_000));
        // Two hours passed on both clocks (asleep, or kit-tick not started).
        let b = reading("2025-06-01T12:00:20.000Z", "b", Some(1_000_000 + 7_200_000));
        assert_eq!(detect(&a, &b, 0, None), None);
    }

    #[test]
    fn without_a_boot_clock_only_a_clock_behind_the_last_tick_shows() {
        let a = reading("2025-06-01T10:02:00.000Z", "b", None);
        assert_eq!(
            detect(&a, &reading("2025-06-01T14:00:00.000Z", "b", None), 0, None),
            None
        );
        // The same minute twice is two ticks, not a jump.
        assert_eq!(
            detect(&a, &reading("2025-06-01T10:02:40.000Z", "b", None), 0, None),
            None
        );
        let j = detect(&a, &reading("2025-06-01T09:03:00.000Z", "b", None), 0, None).unwrap();
        assert!(j.back() && j.at_least);
        assert_eq!(j.by_seconds, -59 * 60);
        assert!(
            j.phrase().contains("went back at least 59m"),
            "{}",
            j.phrase()
        );
    }

    #[test]
    fn another_boot_falls_back_to_the_wall_clock_alone() {
        let a = reading("2025-06-01T10:00:00.000Z", "b1", Some(9_000_000));
        let b = reading("2025-06-01T10:30:00.000Z", "b2", Some(60_000));
        assert_eq!(detect(&a, &b, 0, None), None);
    }
}
