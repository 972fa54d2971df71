//! The firing rule of a condition, as a pure function (unit-tested here).
//!
//! - `edge` (default): fire when the probe answers true and the previous
//!   answer was not true (false, or none yet). Failures are not answers:
//!   true → failed → true is not an edge, so a flaky probe cannot re-fire.
//! - `level`: fire at every probe that answers true.
//! - Either way, never again within `min_interval` of the last firing; a
//!   suppressed firing is recorded (`min_interval`), not dropped silently.

use crate::task::when::Fire;
use chrono::{DateTime, Utc};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    True,
    False,
    Failed,
}

impl Answer {
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::True => "true",
            Answer::False => "false",
            Answer::Failed => "failed",
        }
    }
}

/// What the rule decided for one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Fire,
    NotTrue,
    Failed,
    /// Edge firing, and the condition was already true.
    NoEdge,
    /// True, but the last firing was less than `min_interval` ago.
    MinInterval,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Fire => "fired",
            Decision::NotTrue => "not_true",
            Decision::Failed => "failed",
            Decision::NoEdge => "no_edge",
            Decision::MinInterval => "min_interval",
        }
    }
}

pub fn decide(
    fire: Fire,
    previous_answer: Option<bool>,
    answer: Answer,
    last_fired: Option<DateTime<Utc>>,
    min_interval: Duration,
    now: DateTime<Utc>,
) -> Decision {
    match answer {
        Answer::Failed => return Decision::Failed,
        Answer::False => return Decision::NotTrue,
        Answer::True => {}
    }
    if fire == Fire::Edge && previous_answer == Some(true) {
        return Decision::NoEdge;
    }
    let min = chrono::Duration::from_std(min_interval).unwrap_or(chrono::Duration::MAX);
    if last_fired.is_some_and(|t| now < t + min) {
        return Decision::MinInterval;
    }
    Decision::Fire
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(m: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::minutes(m)
    }

    #[test]
    fn edge_fires_only_on_the_rise() {
        let d = |prev, a| decide(Fire::Edge, prev, a, None, Duration::ZERO, at(0));
        assert_eq!(d(None, Answer::True), Decision::Fire);
        assert_eq!(d(Some(false), Answer::True), Decision::Fire);
        assert_eq!(d(Some(true), Answer::True), Decision::NoEdge);
        assert_eq!(d(Some(true), Answer::False), Decision::NotTrue);
        assert_eq!(d(Some(false), Answer::Failed), Decision::Failed);
    }

    #[test]
    fn level_fires_while_true_but_not_within_min_interval() {
        let ten = Duration::from_secs(600);
        let d = |fired, now| decide(Fire::Level, Some(true), Answer::True, fired, ten, now);
        assert_eq!(d(None, at(0)), Decision::Fire);
        assert_eq!(d(Some(at(0)), at(5)), Decision::MinInterval);
        assert_eq!(d(Some(at(0)), at(10)), Decision::Fire);
    }

    #[test]
    fn a_rising_edge_within_min_interval_is_suppressed() {
        let ten = Duration::from_secs(600);
        let got = decide(
            Fire::Edge,
            Some(false),
            Answer::True,
            Some(at(0)),
            ten,
            at(3),
        );
        assert_eq!(got, Decision::MinInterval);
    }
}
