//! `next_after` outside DST: the day rule, stepping, edge instants, robustness, speed.

use super::tests::{cron, firings, utc};
use super::*;

#[test]
fn day_rule_or_when_both_restricted() {
    // Every 13th and every Friday (2025-06-01 is a Sunday).
    assert_eq!(
        firings("0 0 13 * 5", Tz::UTC, "2025-06-01T00:00:00Z", 9),
        [
            "2025-06-06T00:00:00+00:00",
            "2025-06-13T00:00:00+00:00",
            "2025-06-20T00:00:00+00:00",
            "2025-06-27T00:00:00+00:00",
            "2025-07-04T00:00:00+00:00",
            "2025-07-11T00:00:00+00:00",
            "2025-07-13T00:00:00+00:00",
            "2025-07-18T00:00:00+00:00",
            "2025-07-25T00:00:00+00:00",
        ]
    );
    // Every Friday in February, or February 29.
    assert_eq!(
        firings("0 0 29 2 5", Tz::UTC, "2028-02-20T00:00:00Z", 3),
        [
            "2028-02-25T00:00:00+00:00",
            "2028-02-29T00:00:00+00:00",
            "2029-02-02T00:00:00+00:00",
        ]
    );
}

#[test]
fn day_rule_and_when_one_is_starred() {
    // `*/2` counts as starred: Mondays with an odd day of the month.
    assert_eq!(
        firings("0 0 */2 * 1", Tz::UTC, "2025-06-01T00:00:00Z", 4),
        [
            "2025-06-09T00:00:00+00:00",
            "2025-06-23T00:00:00+00:00",
            "2025-07-07T00:00:00+00:00",
            "2025-07-21T00:00:00+00:00",
        ]
    );
    // `*/1` in day-of-week: only the 1st of the month.
    assert_eq!(
        firings("0 0 1 * */1", Tz::UTC, "2025-06-01T00:00:00Z", 2),
        ["2025-07-01T00:00:00+00:00", "2025-08-01T00:00:00+00:00"]
    );
    // February 29 on a Sunday, 40 years apart across 2100.
    assert_eq!(
        firings("0 0 29 2 */7", Tz::UTC, "2025-01-01T00:00:00Z", 4),
        [
            "2032-02-29T00:00:00+00:00",
            "2060-02-29T00:00:00+00:00",
            "2088-02-29T00:00:00+00:00",
            "2128-02-29T00:00:00+00:00",
        ]
    );
}

#[test]
fn sunday_as_0_and_7_and_macros_agree() {
    let start = utc("2025-01-01T00:00:00Z");
    let pairs = [
        ("0 0 * * 0", "0 0 * * 7"),
        ("0 0 * * sun", "0 0 * * 7"),
        ("@weekly", "0 0 * * 0"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ];
    for (a, b) in pairs {
        let (a, b) = (cron(a), cron(b));
        assert_eq!(a.is_fixed_time(), b.is_fixed_time(), "{a} {b}");
        let (mut x, mut y) = (start, start);
        for _ in 0..30 {
            x = a
                .next_after(x, Tz::Europe__Warsaw)
                .unwrap_or_else(|| panic!("{a}"));
            y = b
                .next_after(y, Tz::Europe__Warsaw)
                .unwrap_or_else(|| panic!("{b}"));
            assert_eq!(x, y, "{a} vs {b}");
        }
    }
}

#[test]
fn next_after_is_strictly_after_and_on_whole_minutes() {
    let every = cron("* * * * *");
    let at = utc("2025-05-05T10:00:00Z");
    assert_eq!(
        every.next_after(at, Tz::UTC),
        Some(utc("2025-05-05T10:01:00Z"))
    );
    let at = utc("2025-05-05T10:00:30.5Z");
    assert_eq!(
        every.next_after(at, Tz::UTC),
        Some(utc("2025-05-05T10:01:00Z"))
    );
    let at = utc("2025-05-05T10:00:59.999Z");
    assert_eq!(
        every.next_after(at, Tz::UTC),
        Some(utc("2025-05-05T10:01:00Z"))
    );
    let hourly = cron("0 * * * *");
    let at = utc("2025-05-05T10:00:00Z");
    assert_eq!(
        hourly.next_after(at, Tz::UTC),
        Some(utc("2025-05-05T11:00:00Z"))
    );
    let at = utc("2025-05-05T09:59:59Z");
    assert_eq!(
        hourly.next_after(at, Tz::UTC),
        Some(utc("2025-05-05T10:00:00Z"))
    );
    // Year wrap, leap day, last minute of the year.
    assert_eq!(
        firings("59 23 31 12 *", Tz::UTC, "2025-12-31T23:59:00Z", 1),
        ["2026-12-31T23:59:00+00:00"]
    );
    assert_eq!(
        firings("0 12 29 2 *", Tz::UTC, "2025-03-01T00:00:00Z", 2),
        ["2028-02-29T12:00:00+00:00", "2032-02-29T12:00:00+00:00"]
    );
    // Before the epoch.
    assert_eq!(
        firings("30 6 * * *", Tz::UTC, "1960-02-28T07:00:00Z", 2),
        ["1960-02-29T06:30:00+00:00", "1960-03-01T06:30:00+00:00"]
    );
    // Far future: chrono's limits must not panic.
    let far = DateTime::<Utc>::MAX_UTC;
    assert_eq!(every.next_after(far, Tz::UTC), None);
    let _ = cron("0 0 29 2 */7").next_after(far - chrono::Duration::days(3000), Tz::UTC);
    let _ = every.next_after(DateTime::<Utc>::MIN_UTC, Tz::America__New_York);
}

#[test]
fn minute_hour_and_month_stepping() {
    assert_eq!(
        firings("10-40/15 */8 * * *", Tz::UTC, "2025-01-01T07:50:00Z", 5),
        [
            "2025-01-01T08:10:00+00:00",
            "2025-01-01T08:25:00+00:00",
            "2025-01-01T08:40:00+00:00",
            "2025-01-01T16:10:00+00:00",
            "2025-01-01T16:25:00+00:00",
        ]
    );
    assert_eq!(
        firings("0 9 1 jan,jul *", Tz::UTC, "2025-01-01T09:00:00Z", 3),
        [
            "2025-07-01T09:00:00+00:00",
            "2026-01-01T09:00:00+00:00",
            "2026-07-01T09:00:00+00:00",
        ]
    );
    assert_eq!(
        firings("0 9 * * mon-fri", Tz::UTC, "2025-06-06T10:00:00Z", 2),
        ["2025-06-09T09:00:00+00:00", "2025-06-10T09:00:00+00:00"]
    );
}

/// Deterministic "fuzzing": arbitrary strings never panic, and whatever parses round-trips.
#[test]
fn random_strings_never_panic() {
    let alphabet: Vec<char> =
        "0123456789*/-,@ \tmonjanfriSUNxyLW#~é¹\u{0}abcdefghijklmnopqrstuvwxyz"
            .chars()
            .collect();
    let mut seed: u64 = 0x5EED;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let pieces = [
        "*", "*/", "1", "5", "-", ",", " ", "mon", "jan", "@every ", "1m", "@daily",
    ];
    let mut parsed = 0;
    for _ in 0..20_000 {
        let mut text = String::new();
        for _ in 0..(next() % 24) {
            if next() % 3 == 0 {
                text.push_str(pieces[next() % pieces.len()]);
            } else {
                text.push(alphabet[next() % alphabet.len()]);
            }
        }
        if let Ok(s) = Schedule::parse(&text) {
            parsed += 1;
            assert_eq!(Schedule::parse(&s.to_string()), Ok(s.clone()), "{text:?}");
            let _ = s.next_after(utc("2025-03-30T00:00:00Z"), Tz::Europe__Warsaw);
        }
    }
    assert!(parsed > 0);
}

/// Rough speed check (the real target, a few microseconds, holds in release builds).
#[test]
fn next_after_is_fast() {
    let cases = [
        "0 0 29 2 1",
        "0 0 29 2 */7",
        "* * * * *",
        "30 2 * * *",
        "0 0 31 * fri",
    ];
    let start = utc("2025-01-01T00:00:00Z");
    for text in cases {
        let expr = cron(text);
        let begin = std::time::Instant::now();
        let mut at = start;
        for _ in 0..200 {
            at = expr.next_after(at, Tz::Europe__Warsaw).unwrap_or(start);
        }
        let per_call = begin.elapsed() / 200;
        assert!(
            per_call < std::time::Duration::from_millis(5),
            "{text}: {per_call:?} per call"
        );
    }
}
