//! The schedule in force at each instant: the base schedule, replaced while
//! an adaptation is in force, replaced by an override, and paused by a
//! pause (whose slots still exist, to be recorded `skipped`). Precedence:
//! pause > override > adaptation > base; among overrides the newest wins,
//! among adaptations the first declared rule.
//!
//! Slots are the minutes at which the schedule in force fires. At a switch
//! (a window starting or ending at instant `s`), slots before `s` come from
//! the old schedule and slots at or after `s` from the new one, so the
//! boundary slot is counted once, by whichever schedule is in force at it.
//! An `@every` pace restarts its count at the switch (its first slot is
//! the first whole minute at or after it).

use super::rows::Override;
use crate::clock::{self, Instant};
use crate::schedule::{Schedule, Tz};
use chrono::Duration;

/// One window of the timeline, parsed.
#[derive(Debug, Clone)]
pub struct Window {
    pub row: Override,
    pub schedule: Option<Schedule>,
    pub start: Instant,
    pub end: Instant,
}

#[derive(Debug, Clone)]
pub struct Timeline {
    pub base: Schedule,
    pub tz: Tz,
    pub windows: Vec<Window>,
}

/// What is in force at an instant.
#[derive(Debug, Clone, Copy)]
pub struct InForce<'a> {
    pub schedule: &'a Schedule,
    /// The override or adaptation that set the schedule (None: the base).
    pub source: Option<&'a Override>,
    /// The pause in force, if any.
    pub paused: Option<&'a Override>,
}

impl Timeline {
    /// A timeline from the task's base schedule and its rows (any order;
    /// rows whose schedule no longer parses are ignored).
    pub fn new(base: Schedule, tz: Tz, rows: Vec<Override>) -> Timeline {
        let windows = rows
            .into_iter()
            .filter(|r| r.kind != "at")
            .filter_map(|row| {
                let schedule = match row.kind.as_str() {
                    "pause" => None,
                    _ => Some(Schedule::parse(row.schedule.as_deref()?).ok()?),
                };
                Some(Window {
                    start: row.start(),
                    end: row.end(),
                    schedule,
                    row,
                })
            })
            .filter(|w| w.start < w.end)
            .collect();
        Timeline { base, tz, windows }
    }

    pub fn in_force(&self, t: Instant) -> InForce<'_> {
        let live = || {
            self.windows
                .iter()
                .filter(move |w| w.start <= t && t < w.end)
        };
        let paused = live()
            .filter(|w| w.row.kind == "pause")
            .max_by_key(|w| w.row.id)
            .map(|w| &w.row);
        let chosen = live()
            .filter(|w| w.row.kind == "schedule")
            .max_by_key(|w| w.row.id)
            .or_else(|| {
                live()
                    .filter(|w| w.row.kind == "adapt")
                    .min_by_key(|w| (w.row.rule_index().unwrap_or(usize::MAX), w.row.id))
            });
        match chosen.and_then(|w| w.schedule.as_ref().map(|s| (s, &w.row))) {
            Some((s, row)) => InForce {
                schedule: s,
                source: Some(row),
                paused,
            },
            None => InForce {
                schedule: &self.base,
                source: None,
                paused,
            },
        }
    }

    /// The first window boundary strictly after `t`.
    fn next_change_after(&self, t: Instant) -> Option<Instant> {
        self.windows
            .iter()
            .flat_map(|w| [w.start, w.end])
            .filter(|b| *b > t)
            .min()
    }

    /// The first slot at or after `t`.
    pub fn first_at_or_after(&self, t: Instant) -> Option<Instant> {
        self.walk(t, true)
    }

    /// The slot after slot `slot`.
    pub fn next_after(&self, slot: Instant) -> Option<Instant> {
        self.walk(slot, false)
    }

    fn walk(&self, from: Instant, inclusive: bool) -> Option<Instant> {
        let mut t = from;
        let mut inclusive = inclusive;
        // Each turn either returns or moves to the next boundary; a
        // timeline has a few windows, so this ends quickly.
        loop {
            let schedule = self.in_force(t).schedule;
            let candidate = if inclusive {
                first_at_or_after(schedule, self.tz, t)
            } else {
                after_slot(schedule, self.tz, t)
            };
            match (candidate, self.next_change_after(t)) {
                (Some(c), Some(change)) if c >= change => {
                    t = change;
                    inclusive = true;
                }
                (None, Some(change)) => {
                    t = change;
                    inclusive = true;
                }
                (c, _) => return c,
            }
        }
    }
}

/// The first slot of `schedule` at or after `t` (which need not be a whole minute).
pub fn first_at_or_after(schedule: &Schedule, tz: Tz, t: Instant) -> Option<Instant> {
    match schedule {
        Schedule::Every(_) => {
            let floor = clock::floor_minute(t);
            Some(if floor == t {
                t
            } else {
                floor + Duration::minutes(1)
            })
        }
        _ => schedule.next_after(t - Duration::seconds(1), tz).map(|n| {
            // next_after works in whole minutes: one that falls within the
            // second before `t` is not at or after it.
            if n < t {
                schedule.next_after(n, tz).unwrap_or(n)
            } else {
                n
            }
        }),
    }
}

/// The slot after `slot`: `@every` counts from the previous slot, cron
/// expressions from their own rules.
pub fn after_slot(schedule: &Schedule, tz: Tz, slot: Instant) -> Option<Instant> {
    match schedule {
        Schedule::Every(d) => Duration::from_std(*d)
            .ok()
            .and_then(|d| slot.checked_add_signed(d)),
        _ => schedule.next_after(slot, tz),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Instant {
        clock::parse_instant(s).unwrap()
    }

    fn row(id: i64, kind: &str, schedule: Option<&str>, start: &str, end: &str) -> Override {
        Override {
            id,
            task: "t".into(),
            kind: kind.into(),
            schedule: schedule.map(Into::into),
            starts_at: start.into(),
            ends_at: end.into(),
            set_by: if kind == "adapt" {
                "adapt:0".into()
            } else {
                "cli".into()
            },
            reason: None,
            rule: None,
            matched_execution_id: None,
            matches: 1,
            data: None,
            execution_id: None,
            cleared_at: None,
            cleared_by: None,
            reverted_at: None,
            created_at: start.into(),
        }
    }

    fn slots(tl: &Timeline, from: &str, to: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut s = tl.first_at_or_after(at(from));
        while let Some(x) = s.filter(|x| *x <= at(to)) {
            out.push(clock::fmt(x)[11..16].to_string());
            s = tl.next_after(x);
        }
        out
    }

    #[test]
    fn a_mid_hour_switch_neither_doubles_nor_loses_the_boundary_slot() {
        let base = Schedule::parse("0,30 * * * *").unwrap();
        let tl = Timeline::new(
            base,
            chrono_tz::UTC,
            vec![row(
                1,
                "adapt",
                Some("*/15 * * * *"),
                "2026-03-02T10:30:00.000Z",
                "2026-03-02T11:15:20.000Z",
            )],
        );
        assert_eq!(
            slots(&tl, "2026-03-02T10:00:00Z", "2026-03-02T12:00:00Z"),
            ["10:00", "10:30", "10:45", "11:00", "11:15", "11:30", "12:00"]
        );
    }

    #[test]
    fn a_pause_keeps_the_slots_and_says_so() {
        let base = Schedule::parse("*/20 * * * *").unwrap();
        let tl = Timeline::new(
            base,
            chrono_tz::UTC,
            vec![row(
                1,
                "pause",
                None,
                "2026-03-02T10:10:00.000Z",
                "2026-03-02T10:45:00.000Z",
            )],
        );
        assert!(tl.in_force(at("2026-03-02T10:20:00Z")).paused.is_some());
        assert!(tl.in_force(at("2026-03-02T10:45:00Z")).paused.is_none());
        assert_eq!(
            slots(&tl, "2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z"),
            ["10:00", "10:20", "10:40", "11:00"]
        );
    }

    #[test]
    fn an_override_beats_an_adaptation_and_every_restarts_at_the_switch() {
        let base = Schedule::parse("0 * * * *").unwrap();
        let tl = Timeline::new(
            base,
            chrono_tz::UTC,
            vec![
                row(
                    1,
                    "adapt",
                    Some("*/15 * * * *"),
                    "2026-03-02T10:00:00.000Z",
                    "2026-03-02T12:00:00.000Z",
                ),
                row(
                    2,
                    "schedule",
                    Some("@every 25m"),
                    "2026-03-02T10:20:30.000Z",
                    "2026-03-02T11:30:00.000Z",
                ),
            ],
        );
        assert_eq!(
            slots(&tl, "2026-03-02T10:00:00Z", "2026-03-02T12:00:00Z"),
            ["10:00", "10:15", "10:21", "10:46", "11:11", "11:30", "11:45", "12:00"]
        );
    }
}
