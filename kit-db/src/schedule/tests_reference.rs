//! Brute-force cross-check of `next_after` against a literal, minute-by-minute simulation of
//! cronie's main loop (`cron.c`: virtual time, the four kinds of clock jump, `find_jobs` with
//! doWild/doNonWild), for pseudo-random expressions and instants over two years in several zones.

use chrono::{Datelike, NaiveDate, Offset, TimeZone};

use super::tests::cron;
use super::*;

/// The UTC offset (in minutes) of every UTC minute of a two-year range, plus a warm-up day.
struct Table {
    tz: Tz,
    /// UTC minute of `offsets[0]`.
    start: i64,
    offsets: Vec<i16>,
    /// Every local date the range touches, in order.
    days: Vec<NaiveDate>,
}

const WARM_UP: usize = 24 * 60;

impl Table {
    fn new(tz: Tz, from: &str, to: &str) -> Table {
        let start = tests::utc(from).timestamp() / 60 - WARM_UP as i64;
        let end = tests::utc(to).timestamp() / 60;
        let offsets = (start..end)
            .map(|u| {
                let utc = DateTime::from_timestamp(u * 60, 0).unwrap_or_default();
                let offset = tz.offset_from_utc_datetime(&utc.naive_utc()).fix();
                i64::from(offset.local_minus_utc()).div_euclid(60) as i16
            })
            .collect();
        let first = tests::utc(from).date_naive() - chrono::Days::new(3);
        let days = first
            .iter_days()
            .take_while(|d| *d <= tests::utc(to).date_naive() + chrono::Days::new(3))
            .collect();
        Table {
            tz,
            start,
            offsets,
            days,
        }
    }

    fn end(&self) -> i64 {
        self.start + self.offsets.len() as i64
    }
}

fn bit(bits: u64, v: u32) -> bool {
    bits & (1 << v) != 0
}

/// cronie's `find_jobs` test for the date part, with its day-of-month/day-of-week rule.
fn day_due(e: &CronExpr, date: NaiveDate) -> bool {
    let dom = bit(e.doms, date.day());
    let dow = bit(e.dows, date.weekday().num_days_from_sunday());
    bit(e.months, date.month())
        && if e.dom_star || e.dow_star {
            dom && dow
        } else {
            dom || dow
        }
}

fn time_due(e: &CronExpr, time: u32) -> bool {
    bit(e.hours, time / 60) && bit(e.minutes, time % 60)
}

/// Every UTC minute (after the warm-up) at which cronie would start the job.
fn simulate(e: &CronExpr, table: &Table) -> Vec<i64> {
    // "Is the job due at this local minute?" for every local minute of the table's range.
    let times: Vec<bool> = (0..24 * 60).map(|t| time_due(e, t)).collect();
    let mut due = vec![false; table.days.len() * 24 * 60];
    for (d, &date) in table.days.iter().enumerate() {
        if day_due(e, date) {
            due[d * 24 * 60..(d + 1) * 24 * 60].copy_from_slice(&times);
        }
    }
    let base = local_minute_of(table.days[0]);
    let due_at = |local: i64| due[(local - base) as usize];

    let mut out = Vec::new();
    let mut virtual_time = table.start + i64::from(table.offsets[0]) - 1;
    for (i, &offset) in table.offsets.iter().enumerate() {
        let utc = table.start + i as i64;
        let local = utc + i64::from(offset);
        let diff = local - virtual_time;
        let run = if diff == 1 || !(-180..=180).contains(&diff) {
            // Normal minute, or a huge jump: run everything due now.
            virtual_time = local;
            due_at(local)
        } else if diff > 5 {
            // Forward jump: wildcard jobs for now, fixed-time ones for every minute missed.
            let run = if e.wildcard {
                due_at(local)
            } else {
                (virtual_time + 1..=local).any(due_at)
            };
            virtual_time = local;
            run
        } else if diff > 0 {
            // Woke up a little late: everything for every minute missed.
            let run = (virtual_time + 1..=local).any(due_at);
            virtual_time = local;
            run
        } else {
            // Clock went back: wildcard jobs only, virtual time waits.
            e.wildcard && due_at(local)
        };
        if run && i >= WARM_UP {
            out.push(utc);
        }
    }
    out
}

fn local_minute_of(date: NaiveDate) -> i64 {
    date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp() / 60
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn below(&mut self, n: u32) -> u32 {
        self.next() % n.max(1)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u32) as usize]
    }
}

/// A random value for a field, biased towards interesting ones.
fn value(rng: &mut Lcg, min: u32, max: u32, favourites: &[u32]) -> u32 {
    if !favourites.is_empty() && rng.below(2) == 0 {
        favourites[rng.below(favourites.len() as u32) as usize]
    } else {
        min + rng.below(max - min + 1)
    }
}

fn element(rng: &mut Lcg, min: u32, max: u32, fav: &[u32], names: &[&str]) -> String {
    let a = value(rng, min, max, fav);
    let b = value(rng, min, max, fav);
    let (lo, hi) = (a.min(b), a.max(b));
    match rng.below(6) {
        0 => format!("*/{}", 1 + rng.below(max / 2 + 1)),
        1 => format!("{lo}-{hi}"),
        2 => format!("{lo}-{hi}/{}", 1 + rng.below(4)),
        3 if !names.is_empty() => rng.pick(names).to_string(),
        _ => a.to_string(),
    }
}

fn field(rng: &mut Lcg, min: u32, max: u32, fav: &[u32], names: &[&str]) -> String {
    match rng.below(8) {
        0 | 1 => "*".to_string(),
        2 => {
            let items: Vec<String> = (0..2 + rng.below(2))
                .map(|_| element(rng, min, max, fav, names))
                .collect();
            items.join(",")
        }
        _ => element(rng, min, max, fav, names),
    }
}

fn random_expr(rng: &mut Lcg) -> CronExpr {
    let months = ["jan", "FEB", "Mar", "oct", "nov", "dec"];
    let days = ["sun", "MON", "Fri", "sat", "7"];
    loop {
        let text = format!(
            "{} {} {} {} {}",
            field(rng, 0, 59, &[0, 15, 30, 45, 59], &[]),
            field(rng, 0, 23, &[0, 1, 2, 3, 4], &[]),
            if rng.below(3) == 0 {
                field(rng, 1, 31, &[1, 13, 29, 30, 31], &[])
            } else {
                "*".into()
            },
            if rng.below(3) == 0 {
                field(rng, 1, 12, &[2, 3, 10, 11], &months)
            } else {
                "*".into()
            },
            if rng.below(3) == 0 {
                field(rng, 0, 7, &[0, 5, 7], &days)
            } else {
                "*".into()
            },
        );
        if let Ok(expr) = CronExpr::parse(&text) {
            return expr;
        }
    }
}

/// UTC minutes at which the table's offset changes.
fn transitions(table: &Table) -> Vec<i64> {
    let m = &table.offsets;
    (1..m.len())
        .filter(|&i| m[i] != m[i - 1])
        .map(|i| table.start + i as i64)
        .collect()
}

fn cross_check(table: &Table, exprs: usize, queries: usize, seed: u64) -> usize {
    let mut rng = Lcg(seed);
    let changes = transitions(table);
    let (lo, hi) = (table.start + WARM_UP as i64, table.end());
    let mut checked = 0;
    for _ in 0..exprs {
        let expr = random_expr(&mut rng);
        let expected = simulate(&expr, table);
        for q in 0..queries {
            // Half uniform, half within three hours of a clock change; random seconds.
            let minute = if q % 2 == 0 || changes.is_empty() {
                lo + i64::from(rng.below((hi - lo) as u32))
            } else {
                let at = changes[rng.below(changes.len() as u32) as usize];
                (at - 180 + i64::from(rng.below(360))).clamp(lo, hi - 1)
            };
            let after_secs = minute * 60 + i64::from(rng.below(60));
            let after = DateTime::from_timestamp(after_secs, 0).unwrap_or_default();
            let got = expr.next_after(after, table.tz).map(|t| t.timestamp() / 60);
            let index = expected.partition_point(|&u| u * 60 <= after_secs);
            let want = expected.get(index).copied();
            match want {
                Some(want) => assert_eq!(
                    got,
                    Some(want),
                    "{expr} in {} after {after}: got {:?}, want {}",
                    table.tz,
                    got.and_then(|u| DateTime::from_timestamp(u * 60, 0)),
                    DateTime::from_timestamp(want * 60, 0).unwrap_or_default()
                ),
                None => assert!(got.is_none_or(|u| u >= hi), "{expr} after {after}: {got:?}"),
            }
            checked += 1;
        }
    }
    checked
}

const QUERIES: usize = 40;

/// Cross-checks `exprs` random expressions in `tz` over two years (2024-09 to 2026-09, four
/// clock changes in each DST zone).
fn check_zone(tz: Tz, changes: usize, exprs: usize, seed: u64) {
    check_range(
        tz,
        "2024-09-01T00:00:00Z",
        "2026-09-01T00:00:00Z",
        changes,
        exprs,
        seed,
    );
}

fn check_range(tz: Tz, from: &str, to: &str, changes: usize, exprs: usize, seed: u64) {
    let table = Table::new(tz, from, to);
    assert_eq!(transitions(&table).len(), changes, "{tz}");
    assert_eq!(cross_check(&table, exprs, QUERIES, seed), exprs * QUERIES);
}

#[test]
fn brute_force_warsaw() {
    check_zone(Tz::Europe__Warsaw, 4, 120, 0xC0FFEE);
}

#[test]
fn brute_force_new_york() {
    check_zone(Tz::America__New_York, 4, 120, 0xBEEF);
}

#[test]
fn brute_force_utc() {
    check_zone(Tz::UTC, 0, 40, 0xF00D);
}

/// Lord Howe Island moves its clocks by 30 minutes.
#[test]
fn brute_force_lord_howe() {
    check_zone(Tz::Australia__Lord_Howe, 4, 40, 0xD00D);
}

/// Samoa: DST start (2011-09-24), the skipped 2011-12-30 (a 24-hour jump, "large" for cronie)
/// and DST end (2012-04-01).
#[test]
fn brute_force_apia_2011() {
    check_range(
        Tz::Pacific__Apia,
        "2011-09-01T00:00:00Z",
        "2012-05-01T00:00:00Z",
        3,
        60,
        0xA91A,
    );
}

/// The reference itself, on a hand-checked case (Warsaw, `30 2 * * *`, spring 2025).
#[test]
fn reference_sanity() {
    let table = Table::new(
        Tz::Europe__Warsaw,
        "2025-03-29T00:00:00Z",
        "2025-04-01T00:00:00Z",
    );
    let got: Vec<String> = simulate(&cron("30 2 * * *"), &table)
        .into_iter()
        .map(|u| {
            DateTime::from_timestamp(u * 60, 0)
                .unwrap_or_default()
                .to_rfc3339()
        })
        .collect();
    assert_eq!(
        got,
        [
            "2025-03-29T01:30:00+00:00",
            "2025-03-30T01:00:00+00:00",
            "2025-03-31T00:30:00+00:00"
        ]
    );
}
