//! Schedule semantics through the real `kit-ctl next` and `kit-ctl add`:
//! cronie's day-field rule, names, 0/7 Sunday, macros, DST, and a clear
//! error for every bad expression.

mod support;
use chrono::{Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use support::*;

fn next(kit: &Kit, expr: &str, tz: &str, from: &str, count: usize) -> Vec<String> {
    kit.ctl()
        .args([
            "next",
            "--schedule",
            expr,
            "--tz",
            tz,
            "--from",
            from,
            "--count",
        ])
        .arg(count.to_string())
        .ok()
        .lines()
}

/// A deliberately naive reference for UTC: test every minute against the
/// cronie rules as the man page states them.
fn reference(
    dom_set: &[u32],
    dow_set: &[u32],
    dom_star: bool,
    dow_star: bool,
    from: NaiveDate,
    n: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut t = Utc.from_utc_datetime(&from.and_hms_opt(0, 0, 0).unwrap()) + Duration::minutes(1);
    while out.len() < n {
        if t.hour() == 0 && t.minute() == 0 {
            let dom = dom_set.contains(&t.day());
            let dow = dow_set.contains(&t.weekday().num_days_from_sunday());
            let hit = if dom_star || dow_star {
                dom && dow
            } else {
                dom || dow
            };
            if hit {
                out.push(t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string());
            }
        }
        t += Duration::minutes(1);
    }
    out
}

#[test]
fn day_of_month_or_day_of_week_when_both_are_restricted() {
    let kit = Kit::new();
    let got = next(&kit, "0 0 13 * 5", "UTC", "2025-01-01T00:00:00Z", 20);
    let want = reference(
        &[13],
        &[5],
        false,
        false,
        NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        20,
    );
    assert_eq!(got, want);
    assert!(
        got.contains(&"2025-01-03T00:00:00+00:00".to_string()),
        "a Friday"
    );
    assert!(
        got.contains(&"2025-01-13T00:00:00+00:00".to_string()),
        "the 13th, a Monday"
    );
}

#[test]
fn a_starred_day_field_with_a_step_still_means_and() {
    let kit = Kit::new();
    let odd: Vec<u32> = (1..=31).step_by(2).collect();
    let got = next(&kit, "0 0 */2 * 1", "UTC", "2025-01-01T00:00:00Z", 12);
    let want = reference(
        &odd,
        &[1],
        true,
        false,
        NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        12,
    );
    assert_eq!(got, want, "Mondays with an odd date");
}

#[test]
fn names_any_case_and_both_sundays() {
    let kit = Kit::new();
    let from = "2025-06-01T12:00:00Z";
    let a = next(&kit, "0 9 * jun-AUG Sun", "UTC", from, 6);
    assert_eq!(a, next(&kit, "0 9 * 6-8 0", "UTC", from, 6));
    assert_eq!(a, next(&kit, "0 9 * 6-8 7", "UTC", from, 6));
    assert_eq!(a[0], "2025-06-08T09:00:00+00:00");
    assert_eq!(
        next(&kit, "10-40/15 8 * * *", "UTC", from, 3),
        vec![
            "2025-06-02T08:10:00+00:00",
            "2025-06-02T08:25:00+00:00",
            "2025-06-02T08:40:00+00:00"
        ]
    );
}

#[test]
fn macros_mean_their_cron_expressions() {
    let kit = Kit::new();
    let from = "2025-06-01T12:34:00Z";
    for (m, e) in [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ] {
        assert_eq!(
            next(&kit, m, "Europe/Warsaw", from, 3),
            next(&kit, e, "Europe/Warsaw", from, 3),
            "{m}"
        );
    }
}

#[test]
fn next_prints_instants_with_the_zone_offset_across_dst() {
    let kit = Kit::new();
    assert_eq!(
        next(
            &kit,
            "30 2 * * *",
            "Europe/Warsaw",
            "2025-03-29T00:00:00Z",
            3
        ),
        vec![
            "2025-03-29T02:30:00+01:00",
            "2025-03-30T03:00:00+02:00",
            "2025-03-31T02:30:00+02:00"
        ]
    );
    assert_eq!(
        next(
            &kit,
            "30 1 * * *",
            "America/New_York",
            "2025-11-01T12:00:00Z",
            3
        ),
        vec![
            "2025-11-02T01:30:00-04:00",
            "2025-11-03T01:30:00-05:00",
            "2025-11-04T01:30:00-05:00"
        ]
    );
    assert_eq!(
        next(
            &kit,
            "*/30 1 * * *",
            "America/New_York",
            "2025-11-02T04:00:00Z",
            4
        ),
        vec![
            "2025-11-02T01:00:00-04:00",
            "2025-11-02T01:30:00-04:00",
            "2025-11-02T01:00:00-05:00",
            "2025-11-02T01:30:00-05:00"
        ],
        "a wildcard-minute job runs in both passes of the repeated hour"
    );
}

#[test]
fn every_bad_schedule_is_refused_with_the_field_named() {
    let kit = Kit::new();
    let cases = [
        ("61 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("*/0 * * * *", "step"),
        ("5-1 * * * *", "5-1"),
        ("* * * *", "5 fields"),
        ("* * * * * *", "5 fields"),
        ("@fortnightly", "unknown macro"),
        ("", "empty"),
        ("0 0 30 2 *", "never"),
        ("0 0 * 13 *", "month"),
        ("0 0 * * 8", "day-of-week"),
        ("0 0 0 * *", "day-of-month"),
        ("@every 10s", "1 minute"),
        ("@every soon", "every"),
    ];
    for (expr, needle) in cases {
        let out = kit.ctl().args(["next", "--schedule", expr]).run().fails();
        assert!(out.stderr.contains(needle), "{expr:?}: {}", out.stderr);
        let out = kit
            .ctl()
            .args(["add", "x", "--schedule", expr, "--", "true"])
            .run()
            .fails();
        assert!(
            out.stderr.contains("schedule"),
            "{expr:?} via add: {}",
            out.stderr
        );
    }
    assert_eq!(kit.count("1"), 0);
    let tasks: i64 = kit.scalar("SELECT count(*) FROM supervisor_tasks");
    assert_eq!(tasks, 0, "nothing was added");
}

#[test]
fn every_and_task_next_use_the_task_zone() {
    let kit = Kit::new();
    kit.tasks(
        r#"
[settings]
timezone = "Europe/Warsaw"

[[task]]
name = "scan"
schedule = "15 4 * * *"
command = "true"
"#,
    );
    let out = kit
        .ctl()
        .args([
            "next",
            "scan",
            "--from",
            "2025-06-01T00:00:00Z",
            "--count",
            "1",
        ])
        .ok();
    assert_eq!(out.lines(), vec!["2025-06-01T04:15:00+02:00"]);
    let out = kit
        .ctl()
        .args([
            "next",
            "--schedule",
            "@every 90m",
            "--tz",
            "UTC",
            "--from",
            "2025-06-01T00:00:30Z",
            "--count",
            "2",
        ])
        .ok();
    assert_eq!(
        out.lines(),
        vec!["2025-06-01T00:01:00+00:00", "2025-06-01T01:31:00+00:00"]
    );
}
