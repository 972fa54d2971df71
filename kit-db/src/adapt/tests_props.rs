//! The switch-boundary property: the slots the timeline enumerates are
//! exactly the minutes at which "the schedule in force at that minute"
//! fires, for random bases, overrides, adaptations and pauses (switches at
//! any second, overlapping, cleared early), across DST in a zone that has it.

use super::rows::Override;
use super::timeline::Timeline;
use crate::clock::{self, Instant};
use crate::schedule::Schedule;
use chrono::Duration;
use proptest::prelude::*;

const PACES: &[&str] = &[
    "0 * * * *",
    "*/15 * * * *",
    "*/7 * * * *",
    "30 1-3 * * *",
    "5,35 * * * *",
    "* 2 * * *",
    "0 */2 * * *",
];

fn t0() -> Instant {
    // Europe/Warsaw springs forward at 2026-03-29 01:00 UTC.
    clock::parse_instant("2026-03-28T22:00:00Z").unwrap()
}

#[derive(Debug, Clone)]
struct W {
    kind: &'static str,
    pace: usize,
    start_s: i64,
    len_s: i64,
    cleared_after_s: Option<i64>,
    rule: usize,
}

fn window() -> impl Strategy<Value = W> {
    (
        prop::sample::select(vec!["schedule", "adapt", "pause"]),
        0..PACES.len(),
        // Switches on whole minutes (where a boundary slot could double or
        // vanish) as often as at odd seconds.
        (0i64..6 * 60, prop_oneof![Just(0i64), 1i64..60]).prop_map(|(m, s)| m * 60 + s),
        (1i64..3 * 60, prop_oneof![Just(0i64), 1i64..60]).prop_map(|(m, s)| m * 60 + s),
        prop::option::weighted(0.2, 0i64..3600),
        0usize..2,
    )
        .prop_map(|(kind, pace, start_s, len_s, cleared_after_s, rule)| W {
            kind,
            pace,
            start_s,
            len_s,
            cleared_after_s,
            rule,
        })
}

fn row(id: i64, w: &W) -> Override {
    let start = t0() + Duration::seconds(w.start_s);
    Override {
        id,
        task: "t".into(),
        kind: w.kind.into(),
        schedule: (w.kind != "pause").then(|| PACES[w.pace].to_string()),
        starts_at: clock::fmt(start),
        ends_at: clock::fmt(start + Duration::seconds(w.len_s)),
        set_by: if w.kind == "adapt" {
            format!("adapt:{}", w.rule)
        } else {
            "cli".into()
        },
        reason: None,
        rule: None,
        matched_execution_id: None,
        matches: 1,
        data: None,
        execution_id: None,
        cleared_at: w
            .cleared_after_s
            .map(|c| clock::fmt(start + Duration::seconds(c))),
        cleared_by: None,
        reverted_at: None,
        created_at: clock::fmt(start),
    }
}

/// The reference: at each minute, which schedule is in force (written out
/// plainly, apart from Timeline::in_force), and does it fire then.
fn reference(base: &str, ws: &[W], tz: chrono_tz::Tz, minutes: i64) -> Vec<Instant> {
    let mut out = Vec::new();
    for m in 0..minutes {
        let t = t0() + Duration::minutes(m);
        let live: Vec<(usize, &W)> = ws
            .iter()
            .enumerate()
            .filter(|(_, w)| {
                let s = t0() + Duration::seconds(w.start_s);
                let mut e = s + Duration::seconds(w.len_s);
                if let Some(c) = w.cleared_after_s {
                    e = e.min(s + Duration::seconds(c));
                }
                s <= t && t < e
            })
            .collect();
        let mut pace = base;
        let mut best_adapt: Option<(usize, usize)> = None;
        for (i, w) in &live {
            if w.kind == "adapt" && best_adapt.is_none_or(|(r, j)| (w.rule, *i) < (r, j)) {
                best_adapt = Some((w.rule, *i));
            }
        }
        if let Some((_, i)) = best_adapt {
            pace = PACES[ws[i].pace];
        }
        if let Some((_, w)) = live.iter().rev().find(|(_, w)| w.kind == "schedule") {
            pace = PACES[w.pace];
        }
        let s = Schedule::parse(pace).unwrap();
        if s.next_after(t - Duration::seconds(1), tz) == Some(t) {
            out.push(t);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn slots_are_those_of_the_schedule_in_force_at_each_minute(
        base in 0..PACES.len(),
        ws in prop::collection::vec(window(), 0..5),
        warsaw in any::<bool>(),
    ) {
        let tz: chrono_tz::Tz = if warsaw { chrono_tz::Europe::Warsaw } else { chrono_tz::UTC };
        let rows: Vec<Override> = ws.iter().enumerate().map(|(i, w)| row(i as i64 + 1, w)).collect();
        let tl = Timeline::new(Schedule::parse(PACES[base]).unwrap(), tz, rows);
        let minutes = 10 * 60;
        let end = t0() + Duration::minutes(minutes);
        let mut got = Vec::new();
        let mut s = tl.first_at_or_after(t0());
        while let Some(x) = s.filter(|x| *x < end) {
            got.push(x);
            s = tl.next_after(x);
        }
        let want = reference(PACES[base], &ws, tz, minutes);
        prop_assert_eq!(got, want);
    }
}
