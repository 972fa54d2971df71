//! What a gap between two ticks was: the machine asleep, the machine
//! restarted, or kit-tick not started while the machine was up.
//!
//! Each heartbeat records the boot id and the time slept since boot
//! (`sleep_clock`). Between two readings of one boot, the change is how much
//! of the time between them the machine slept, so any tool can tell sleep
//! from a stall afterwards, with no process left running to watch.
//!
//! The rule, for a gap of G between two ticks of which S was slept:
//! - S under a minute: kit-tick was not started (the machine was awake);
//! - G − S (the awake part) under [`AWAKE_SLACK`]: the machine was asleep;
//!   a tick a minute before the sleep and one just after the wake leave up
//!   to about two awake minutes;
//! - otherwise partly asleep: the awake remainder is a stall of kit-tick;
//! - another boot id: the machine restarted (the sleep counter starts again
//!   at each boot, so downtime and sleep before the restart are not told
//!   apart); a stall is then measured from the boot, in the time this boot
//!   has been awake (time since boot minus time slept since boot);
//! - no reading (an older DB, or an OS that does not say): unknown.
//!
//! The explanation is stored as text in the `reason` of the missed rows
//! (`phrase`) and read back by `kit-ctl why` (`parse`).

use crate::clock::{self, Instant};
use crate::units::Dur;
use chrono::Duration;
use serde::{Deserialize, Serialize};

/// A gap whose awake part is shorter than this was sleep: kit-heal's stall
/// limit for kit-tick, so "asleep" and "not stalled" agree.
pub const AWAKE_SLACK: Duration = Duration::minutes(3);
/// Less sleep than this in a gap does not count.
pub const SLEEP_NOISE: Duration = Duration::minutes(1);

/// How much the machine slept since a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slept {
    Known(Duration),
    /// The beat was written in another boot; the time the machine has been
    /// up (awake) since this boot began, when known.
    Restarted(Option<Duration>),
    /// No reading then or now.
    Unknown,
}

impl Slept {
    /// From a beat's (boot id, slept ms) and the current (boot id, sleep
    /// reading, time since boot).
    pub fn between(
        boot_then: Option<&str>,
        slept_then_ms: Option<i64>,
        boot_now: &str,
        slept_now: Option<std::time::Duration>,
        since_boot: Option<std::time::Duration>,
    ) -> Slept {
        if boot_then.is_some_and(|b| b != boot_now) {
            let up = since_boot.map(|b| b.saturating_sub(slept_now.unwrap_or_default()));
            return Slept::Restarted(up.and_then(|u| Duration::from_std(u).ok()));
        }
        match (slept_then_ms, slept_now) {
            (Some(then), Some(now)) => {
                let now = i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
                if now >= then {
                    Slept::Known(Duration::milliseconds(now - then))
                } else {
                    // The counter went back without a new boot id.
                    Slept::Unknown
                }
            }
            _ => Slept::Unknown,
        }
    }

    /// `age` without the sleep (the time the machine was up), never below 0.
    /// After a restart, at most the time this boot has been up: the machine
    /// was down, or asleep before the restart, for the rest.
    pub fn awake_part(self, age: Duration) -> Duration {
        match self {
            Slept::Known(s) => (age - s).max(Duration::zero()),
            Slept::Restarted(Some(up)) => age.min(up).max(Duration::zero()),
            _ => age,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Asleep,
    NotStarted,
    PartlyAsleep,
    Restarted,
    Unknown,
}

/// One gap between ticks and what it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// The tick before the gap and the one after it (stored form).
    pub from: String,
    pub to: String,
    pub cause: Cause,
    /// Time asleep within the gap, when known.
    pub slept_seconds: Option<i64>,
}

const ASLEEP: &str = "the machine was asleep from ";
const NOT_STARTED: &str = "kit-tick was not started from ";
const PARTLY: &str = "kit-tick was not started for ";
const PARTLY_MID: &str = " of the time from ";
const PARTLY_END: &str = " (the machine was asleep for the rest, ";
const RESTARTED: &str = "the machine restarted between ";
const UNKNOWN: &str = "kit-tick did not run from ";

impl Gap {
    pub fn classify(from: Instant, to: Instant, slept: Slept) -> Gap {
        let span = to - from;
        let (cause, slept_seconds) = match slept {
            Slept::Restarted(_) => (Cause::Restarted, None),
            Slept::Unknown => (Cause::Unknown, None),
            Slept::Known(s) => {
                let s = s.min(span).max(Duration::zero());
                let cause = if s < SLEEP_NOISE {
                    Cause::NotStarted
                } else if span - s < AWAKE_SLACK {
                    Cause::Asleep
                } else {
                    Cause::PartlyAsleep
                };
                (cause, Some(s.num_seconds()))
            }
        };
        Gap {
            from: clock::fmt(from),
            to: clock::fmt(to),
            cause,
            slept_seconds,
        }
    }

    /// The time the machine was up during the gap (all of it when unknown).
    pub fn awake(&self) -> Duration {
        let span = match (
            clock::parse_stored(&self.from),
            clock::parse_stored(&self.to),
        ) {
            (Some(a), Some(b)) => b - a,
            _ => Duration::zero(),
        };
        (span - Duration::seconds(self.slept_seconds.unwrap_or(0))).max(Duration::zero())
    }

    /// The explanation kit-tick stores in a missed row's reason (UTC
    /// instants, no "; ", which separates the reason's parts).
    pub fn phrase(&self) -> String {
        let (a, b) = (&self.from, &self.to);
        match self.cause {
            Cause::Asleep => format!("{ASLEEP}{a} to {b}"),
            Cause::NotStarted => format!("{NOT_STARTED}{a} to {b}"),
            Cause::PartlyAsleep => format!(
                "{PARTLY}{}{PARTLY_MID}{a} to {b}{PARTLY_END}{})",
                words(self.awake()),
                words(Duration::seconds(self.slept_seconds.unwrap_or(0)))
            ),
            Cause::Restarted => format!("{RESTARTED}{a} and {b}"),
            Cause::Unknown => format!("{UNKNOWN}{a} to {b}"),
        }
    }

    /// Reads back what `phrase` wrote (the start of a reason).
    pub fn parse(text: &str) -> Option<Gap> {
        let forms = [
            (Cause::Asleep, ASLEEP, " to "),
            (Cause::NotStarted, NOT_STARTED, " to "),
            (Cause::Restarted, RESTARTED, " and "),
            (Cause::Unknown, UNKNOWN, " to "),
        ];
        let (cause, rest, sep, mut slept) = if let Some(r) = text.strip_prefix(PARTLY) {
            let (_awake, r) = r.split_once(PARTLY_MID)?;
            let slept = r
                .split_once(PARTLY_END)
                .and_then(|(_, s)| Dur::parse(s.split(')').next().unwrap_or(s)).ok())
                .map(|d| d.0.as_secs() as i64);
            (Cause::PartlyAsleep, r, " to ", slept)
        } else {
            let (cause, prefix, sep) = forms.iter().find(|f| text.starts_with(f.1))?;
            (*cause, &text[prefix.len()..], *sep, None)
        };
        let (a, r) = rest.split_once(sep)?;
        let b = r.split([' ', ',', ')', ';']).next().unwrap_or(r);
        let (from, to) = (clock::parse_stored(a)?, clock::parse_stored(b)?);
        if cause == Cause::Asleep {
            // Told as the whole gap; the awake minutes at its edges are noise.
            slept = Some((to - from).num_seconds());
        }
        Some(Gap {
            from: clock::fmt(from),
            to: clock::fmt(to),
            cause,
            slept_seconds: slept,
        })
    }
}

/// "42m", "5h10m", "2days3h": whole minutes, readable back by `Dur::parse`.
pub fn words(d: Duration) -> String {
    let secs = d.num_seconds().max(0) as u64;
    let secs = if secs >= 60 { secs / 60 * 60 } else { secs };
    Dur(std::time::Duration::from_secs(secs)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> Instant {
        clock::parse_instant(t).unwrap()
    }

    fn gap(slept_min: Option<i64>) -> Gap {
        let slept = slept_min.map_or(Slept::Unknown, |m| Slept::Known(Duration::minutes(m)));
        Gap::classify(
            at("2025-06-01T01:10:00Z"),
            at("2025-06-01T07:02:00Z"),
            slept,
        )
    }

    #[test]
    fn the_cause_follows_the_awake_part() {
        assert_eq!(gap(Some(352)).cause, Cause::Asleep);
        assert_eq!(gap(Some(350)).cause, Cause::Asleep);
        assert_eq!(gap(Some(349)).cause, Cause::PartlyAsleep);
        assert_eq!(gap(Some(1)).cause, Cause::PartlyAsleep);
        assert_eq!(gap(Some(0)).cause, Cause::NotStarted);
        assert_eq!(gap(None).cause, Cause::Unknown);
        let r = Gap::classify(
            at("2025-06-01T01:10:00Z"),
            at("2025-06-01T07:02:00Z"),
            Slept::Restarted(None),
        );
        assert_eq!(r.cause, Cause::Restarted);
    }

    #[test]
    fn each_phrase_reads_back() {
        for g in [gap(Some(352)), gap(Some(310)), gap(Some(0)), gap(None)] {
            let text = format!("{}; catch_up = none", g.phrase());
            let back = Gap::parse(&text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(
                (back.cause, &back.from, &back.to),
                (g.cause, &g.from, &g.to)
            );
        }
        let p = gap(Some(310));
        assert_eq!(
            p.phrase(),
            "kit-tick was not started for 42m of the time from 2025-06-01T01:10:00.000Z to \
             2025-06-01T07:02:00.000Z (the machine was asleep for the rest, 5h10m)"
        );
        assert_eq!(
            Gap::parse(&p.phrase()).unwrap().slept_seconds,
            Some(310 * 60)
        );
        assert_eq!(
            gap(Some(352)).phrase(),
            "the machine was asleep from 2025-06-01T01:10:00.000Z to 2025-06-01T07:02:00.000Z"
        );
    }

    #[test]
    fn a_new_boot_or_a_missing_reading_is_not_sleep() {
        let s = |b: &str, then: Option<i64>, now: Option<u64>| {
            Slept::between(
                Some("boot-a"),
                then,
                b,
                now.map(std::time::Duration::from_secs),
                Some(std::time::Duration::from_secs(100)),
            )
        };
        assert_eq!(
            s("boot-a", Some(1000), Some(61)),
            Slept::Known(Duration::seconds(60))
        );
        let restarted = s("boot-b", Some(1000), Some(61));
        assert_eq!(restarted, Slept::Restarted(Some(Duration::seconds(39))));
        assert_eq!(
            restarted.awake_part(Duration::hours(6)),
            Duration::seconds(39),
            "only this boot's awake time counts"
        );
        assert_eq!(s("boot-a", None, Some(61)), Slept::Unknown);
        assert_eq!(s("boot-a", Some(1000), None), Slept::Unknown);
        assert_eq!(s("boot-a", Some(99_000), Some(61)), Slept::Unknown);
    }
}
