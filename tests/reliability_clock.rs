//! Clock jumps, through KIT_NOW: kit-tick runs minute by minute, then the
//! clock goes back an hour, forward a day, back an hour again, with seven
//! tasks covering every catch-up policy. In each repeated hour the wildcard
//! tasks (and `@every`) run again at their times and fixed-time tasks do
//! not (cronie's `cron.c`), the day-long gap is caught up exactly as each
//! task's policy says, and every slot of every schedule is accounted for by
//! exactly one row per pass (a claim or a `missed` row with its reason).
//!
//! tests/tick.rs pins the single rules (one backward jump, one gap per
//! policy); this is the whole sequence, checking every row.

mod reliability_util;
mod support;

use chrono::{DateTime, Duration, Timelike, Utc};
use reliability_util::*;
use std::collections::{BTreeMap, BTreeSet};
use support::*;

const TASKS: &str = r#"
[[task]]
name = "minutely"
schedule = "* * * * *"
command = "true"
timezone = "UTC"

[[task]]
name = "quarter-none"
schedule = "*/15 * * * *"
command = "true"
timezone = "UTC"
catch_up = "none"

[[task]]
name = "hourly"
schedule = "0 * * * *"
command = "true"
timezone = "UTC"

[[task]]
name = "hourly-none"
schedule = "0 * * * *"
command = "true"
timezone = "UTC"
catch_up = "none"

[[task]]
name = "daily"
schedule = "0 9 * * *"
command = "true"
timezone = "UTC"

[[task]]
name = "daily-1h"
schedule = "0 9 * * *"
command = "true"
timezone = "UTC"
catch_up_max_age = "1h"

[[task]]
name = "seven"
schedule = "@every 7m"
command = "true"
timezone = "UTC"
"#;

/// Day 1, 10:00 UTC: the first tick; `seven` is anchored here.
fn t0() -> DateTime<Utc> {
    parse("2025-06-02T10:00:00Z")
}

/// An independent statement of each schedule: does minute `t` match?
fn matches(task: &str, t: DateTime<Utc>) -> bool {
    let (h, m) = (t.hour(), t.minute());
    match task {
        "minutely" => true,
        "quarter-none" => m % 15 == 0,
        "hourly" | "hourly-none" => m == 0,
        "daily" | "daily-1h" => h == 9 && m == 0,
        "seven" => t >= t0() && (t - t0()).num_minutes() % 7 == 0,
        _ => unreachable!(),
    }
}

const NAMES: [&str; 7] = [
    "minutely",
    "quarter-none",
    "hourly",
    "hourly-none",
    "daily",
    "daily-1h",
    "seven",
];

/// Every schedule slot in the minutes (after, upto].
fn slots_in(after: DateTime<Utc>, upto: DateTime<Utc>) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut t = after + Duration::minutes(1);
    while t <= upto {
        for n in NAMES {
            if matches(n, t) {
                out.insert((n.to_string(), stamp(t)));
            }
        }
        t += Duration::minutes(1);
    }
    out
}

fn watermark(kit: &Kit) -> String {
    kit.scalar("SELECT value FROM supervisor_state WHERE key = 'tick.watermark'")
}

type Claims = BTreeSet<(String, String, String)>;

/// One tick at `now`; its claims as (task, slot, trigger).
fn tick(kit: &mut Kit, now: DateTime<Utc>) -> Claims {
    kit.at(&stamp(now));
    let out = kit.tick().arg("--json").run();
    assert_eq!(out.code, 0, "tick at {}: {}", stamp(now), out.stderr);
    assert!(
        out.stderr.is_empty(),
        "tick at {}: {}",
        stamp(now),
        out.stderr
    );
    out.json_lines()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["slot"].as_str().unwrap().to_string(),
                c["trigger"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Ticks at `from`, `from`+1m, ... up to `to` (35 s into each minute).
fn tick_minutes(kit: &mut Kit, from: DateTime<Utc>, to: DateTime<Utc>) -> Claims {
    let mut all = Claims::new();
    let mut t = from;
    while t <= to {
        for c in tick(kit, t + Duration::seconds(35)) {
            assert!(all.insert(c.clone()), "{c:?} claimed twice");
        }
        t += Duration::minutes(1);
    }
    all
}

fn as_schedule(slots: BTreeSet<(String, String)>) -> Claims {
    slots
        .into_iter()
        .map(|(n, s)| (n, s, "schedule".to_string()))
        .collect()
}

/// cronie's wildcard jobs (minute or hour field beginning with `*`), and
/// kit's `@every`: what runs again while the clock repeats time.
fn wildcard(claims: Claims) -> Claims {
    claims
        .into_iter()
        .filter(|c| !c.0.starts_with("daily"))
        .collect()
}

fn claim(task: &str, slot: &str, trigger: &str) -> (String, String, String) {
    (task.into(), slot.into(), trigger.into())
}

#[test]
fn clock_jumps_back_an_hour_and_forward_a_day_refire_nothing_and_catch_up_per_policy() {
    let mut kit = Kit::new();
    kit.at(&stamp(t0()));
    kit.tasks(TASKS);
    let h = |hh: i64| Duration::hours(hh);
    let mut claimed = Claims::new();
    let mut again = Claims::new();
    // `pass` 1: the first time the clock passes a slot; 2: a repeated hour.
    let mut take = |phase: &str, pass: u8, got: Claims, want: Claims| {
        assert_eq!(got, want, "{phase}: claims");
        for c in got {
            let set = if pass == 1 { &mut claimed } else { &mut again };
            assert!(set.insert(c.clone()), "{phase}: {c:?} fired again");
        }
    };

    // A. Normal: every minute from 10:00 to 11:00.
    let a_end = t0() + h(1);
    let got = tick_minutes(&mut kit, t0(), a_end);
    take(
        "A (10:00-11:00)",
        1,
        got,
        as_schedule(slots_in(t0() - Duration::minutes(1), a_end)),
    );

    // B. The clock goes back an hour (11:00 -> 10:00) and runs on to 11:30:
    // in the repeated hour, up to the minute the clock had reached (11:00),
    // the wildcard tasks run again and the fixed-time ones wait; from 11:01
    // on, slots fire normally.
    let got = tick_minutes(&mut kit, t0(), a_end);
    let repeated = wildcard(as_schedule(slots_in(t0() - Duration::minutes(1), a_end)));
    take("B, the repeated hour", 2, got, repeated);
    let b_end = a_end + Duration::minutes(30);
    let got = tick_minutes(&mut kit, a_end + Duration::minutes(1), b_end);
    take(
        "B (11:01-11:30)",
        1,
        got,
        as_schedule(slots_in(a_end, b_end)),
    );

    // C. Forward a day: one tick at day 2, 11:30:35.
    let c_now = b_end + h(24) + Duration::seconds(35);
    let got = tick(&mut kit, c_now);
    let want: Claims = [
        // On time (under 3 minutes old): they run; nothing to catch up.
        claim("minutely", "2025-06-03T11:28:00.000Z", "schedule"),
        claim("minutely", "2025-06-03T11:29:00.000Z", "schedule"),
        claim("minutely", "2025-06-03T11:30:00.000Z", "schedule"),
        claim("quarter-none", "2025-06-03T11:30:00.000Z", "schedule"),
        // catch_up = once: the latest missed slot, once.
        claim("hourly", "2025-06-03T11:00:00.000Z", "catch_up"),
        claim("daily", "2025-06-03T09:00:00.000Z", "catch_up"),
        claim("seven", "2025-06-03T11:26:00.000Z", "catch_up"),
        // hourly-none (catch_up = none) and daily-1h (09:00 is 2.5 h old,
        // past catch_up_max_age = 1h) run nothing.
    ]
    .into_iter()
    .collect();
    take("C (forward a day)", 1, got, want);

    // D. Normal again, 11:31 to 11:40 on day 2.
    let d_start = b_end + h(24) + Duration::minutes(1);
    let d_end = b_end + h(24) + Duration::minutes(10);
    let got = tick_minutes(&mut kit, d_start, d_end);
    take(
        "D (day 2 11:31-11:40)",
        1,
        got,
        as_schedule(slots_in(d_start - Duration::minutes(1), d_end)),
    );

    // E. Back an hour once more, then on to 11:45. The repeated hour's
    // wildcard slots run again, including those the gap had left missed.
    let got = tick_minutes(&mut kit, d_end - h(1), d_end);
    let repeated = wildcard(as_schedule(slots_in(
        d_end - h(1) - Duration::minutes(1),
        d_end,
    )));
    take("E, the repeated hour", 2, got, repeated);
    // The watermark stayed at the latest instant seen, not the last tick.
    assert_eq!(watermark(&kit), stamp(d_end + Duration::seconds(35)));
    let e_end = d_end + Duration::minutes(5);
    let got = tick_minutes(&mut kit, d_end + Duration::minutes(1), e_end);
    take(
        "E (11:41-11:45)",
        1,
        got,
        as_schedule(slots_in(d_end, e_end)),
    );

    // Every row: the claims printed above are exactly the DB's queued rows;
    // the rest are `missed` rows, one per slot the day-long gap skipped.
    let c = kit.conn();
    let mut s = c
        .prepare(
            "SELECT task, scheduled_for, trigger, status, reason, created_at
             FROM supervisor_executions WHERE attempt = 1 ORDER BY task, scheduled_for",
        )
        .unwrap();
    type RowT = (String, String, String, String, Option<String>, String);
    let rows: Vec<RowT> = s
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let mut by_slot: BTreeMap<(String, String), &RowT> = BTreeMap::new();
    let mut queued = Claims::new();
    for r in &rows {
        assert!(
            by_slot.insert((r.0.clone(), r.1.clone()), r).is_none(),
            "two rows for {r:?}"
        );
        assert!(r.1 <= r.5, "slot claimed before its time: {r:?}");
        match r.3.as_str() {
            "queued" => {
                queued.insert((r.0.clone(), r.1.clone(), r.2.clone()));
            }
            "missed" => {
                let why = r.4.as_deref().unwrap_or("");
                assert!(
                    why.contains("from 2025-06-02T11:30:35.000Z to 2025-06-03T11:30:35.000Z"),
                    "{r:?}"
                );
                // A missed slot lies in the gap, never in the repeated hours.
                assert!(
                    r.1.as_str() > "2025-06-02T11:30" && r.1.as_str() < "2025-06-03T11:31",
                    "{r:?}"
                );
            }
            other => panic!("unexpected status {other}: {r:?}"),
        }
    }
    assert_eq!(queued, claimed, "the DB's claims are the printed ones");
    // The second passes: one queued attempt 2 per printed claim, no more.
    let mut s = c
        .prepare(
            "SELECT task, scheduled_for, trigger FROM supervisor_executions
             WHERE attempt > 1 AND status = 'queued'",
        )
        .unwrap();
    let second: Claims = s
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(second, again, "the repeated hours' claims");
    assert_eq!(
        kit.count("attempt > 2 OR (attempt = 2 AND status <> 'queued')"),
        0
    );
    // Each repeat was seen, recorded and notified once.
    assert_eq!(
        kit.scalar::<i64>(
            "SELECT count(*) FROM supervisor_events WHERE kind = 'clock_jump' AND notify = 1"
        ),
        2
    );

    // Each slot of each schedule from day 1 10:00 to day 2 11:45 has its
    // row, except that a gap of over 1,000 slots keeps the newest 1,000
    // for `minutely` and says so in the oldest one's reason.
    let all = slots_in(t0() - Duration::minutes(1), e_end);
    let recorded: BTreeSet<(String, String)> = by_slot.keys().cloned().collect();
    let extra: Vec<_> = recorded.difference(&all).collect();
    assert!(
        extra.is_empty(),
        "rows for slots no schedule has: {extra:?}"
    );
    let absent: Vec<&(String, String)> = all.difference(&recorded).collect();
    let gap_start = b_end + Duration::minutes(1);
    let dropped: Vec<(String, String)> = (0..440)
        .map(|m| {
            (
                "minutely".to_string(),
                stamp(gap_start + Duration::minutes(m)),
            )
        })
        .collect();
    assert_eq!(
        absent,
        dropped.iter().collect::<Vec<_>>(),
        "slots with no row"
    );
    let oldest = by_slot[&(
        "minutely".to_string(),
        stamp(gap_start + Duration::minutes(440)),
    )];
    assert!(
        oldest.4.as_deref().unwrap_or("").contains(&format!(
            "earlier slots from {} were also missed",
            stamp(gap_start)
        )),
        "{oldest:?}"
    );
    // Per policy, what the gap left as missed.
    let missed = |task: &str| -> usize {
        rows.iter()
            .filter(|r| r.0 == task && r.3 == "missed")
            .count()
    };
    let reason_of = |task: &str| -> String {
        rows.iter()
            .find(|r| r.0 == task && r.3 == "missed")
            .and_then(|r| r.4.clone())
            .unwrap_or_default()
    };
    assert_eq!(missed("minutely"), 997);
    assert!(reason_of("minutely").contains("a later slot ran on time instead"));
    assert_eq!(missed("quarter-none"), 95);
    assert_eq!(missed("hourly"), 23);
    assert!(reason_of("hourly")
        .contains("catch_up = once ran only the latest missed slot (2025-06-03T11:00:00.000Z)"));
    assert_eq!(missed("hourly-none"), 24);
    assert!(reason_of("hourly-none").contains("catch_up = none"));
    assert_eq!(missed("daily"), 0);
    assert_eq!(missed("daily-1h"), 1);
    assert!(
        reason_of("daily-1h").contains("older than catch_up_max_age (1h)"),
        "{}",
        reason_of("daily-1h")
    );
    assert_eq!(missed("seven"), 205);
    assert_eq!(watermark(&kit), stamp(e_end + Duration::seconds(35)));
    assert_db_valid(&kit, "after the clock jumps");
}
