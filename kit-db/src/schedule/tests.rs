//! Parsing, error and display tests, and helpers shared by the other test files.

use super::*;

pub(super) fn cron(text: &str) -> CronExpr {
    match CronExpr::parse(text) {
        Ok(expr) => expr,
        Err(e) => panic!("{text:?} should parse: {e}"),
    }
}

fn err(text: &str) -> ScheduleError {
    match Schedule::parse(text) {
        Ok(s) => panic!("{text:?} should not parse, got {s:?}"),
        Err(e) => e,
    }
}

pub(super) fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

/// The next `n` firings after `start`, as RFC 3339 strings in `tz`.
pub(super) fn firings(expr: &str, tz: Tz, start: &str, n: usize) -> Vec<String> {
    let expr = cron(expr);
    let mut at = utc(start);
    let mut out = Vec::new();
    for _ in 0..n {
        at = expr
            .next_after(at, tz)
            .unwrap_or_else(|| panic!("{expr} after {at}"));
        out.push(at.with_timezone(&tz).to_rfc3339());
    }
    out
}

fn bits(values: &[u32]) -> u64 {
    values.iter().fold(0, |acc, v| acc | 1 << v)
}

fn range(low: u32, high: u32) -> u64 {
    (low..=high).fold(0, |acc, v| acc | 1 << v)
}

#[test]
fn parses_stars_numbers_lists_ranges_steps() {
    let e = cron("* * * * *");
    assert_eq!(e.minutes, range(0, 59));
    assert_eq!(e.hours, range(0, 23));
    assert_eq!(e.doms, range(1, 31));
    assert_eq!(e.months, range(1, 12));
    assert_eq!(e.dows, range(0, 6));
    assert!(e.dom_star && e.dow_star && e.wildcard);

    assert_eq!(cron("1 * * * *").minutes, bits(&[1]));
    assert_eq!(
        cron("1,2,5-9 * * * *").minutes,
        bits(&[1, 2, 5, 6, 7, 8, 9])
    );
    assert_eq!(cron("*/15 * * * *").minutes, bits(&[0, 15, 30, 45]));
    assert_eq!(cron("10-40/15 * * * *").minutes, bits(&[10, 25, 40]));
    assert_eq!(cron("0-10/2 * * * *").minutes, bits(&[0, 2, 4, 6, 8, 10]));
    assert_eq!(cron("05 007 * * *").minutes, bits(&[5]));
    assert_eq!(cron("05 007 * * *").hours, bits(&[7]));
    assert_eq!(cron("* */6 * * *").hours, bits(&[0, 6, 12, 18]));
    assert_eq!(cron("* * */10 * *").doms, bits(&[1, 11, 21, 31]));
    assert_eq!(cron("* * * */5 *").months, bits(&[1, 6, 11]));
    assert_eq!(cron("* * * * */2").dows, bits(&[0, 2, 4, 6]));
    // A step larger than the range is accepted (cronie only warns).
    assert_eq!(cron("* * */100 * *").doms, bits(&[1]));
    assert_eq!(cron("*/4000000000 * * * *").minutes, bits(&[0]));
    assert_eq!(
        cron("1-3,2-4,*/30 * * * *").minutes,
        bits(&[0, 1, 2, 3, 4, 30])
    );
}

#[test]
fn parses_names_in_any_case_and_sunday_as_0_or_7() {
    for text in [
        "* * * * mon",
        "* * * * MON",
        "* * * * Mon",
        "* * * * mOn",
        "* * * * 1",
    ] {
        assert_eq!(cron(text).dows, bits(&[1]), "{text}");
    }
    for text in ["* * * jan *", "* * * JAN *", "* * * Jan *", "* * * 1 *"] {
        assert_eq!(cron(text).months, bits(&[1]), "{text}");
    }
    assert_eq!(cron("* * * * 0").dows, bits(&[0]));
    assert_eq!(cron("* * * * 7").dows, bits(&[0]));
    assert_eq!(cron("* * * * sun").dows, bits(&[0]));
    assert_eq!(cron("* * * * 0,7").dows, bits(&[0]));
    assert_eq!(cron("* * * * 5-7").dows, bits(&[5, 6, 0]));
    assert_eq!(cron("* * * * fri-sun").dows, bits(&[5, 6, 0]));
    assert_eq!(cron("* * * * 5-0").dows, bits(&[5, 6, 0]));
    assert_eq!(cron("* * * * mon-fri").dows, range(1, 5));
    assert_eq!(cron("* * * * sun-tue").dows, bits(&[0, 1, 2]));
    assert_eq!(cron("* * * * 0-7").dows, range(0, 6));
    assert_eq!(cron("* * * * mon-fri/2").dows, bits(&[1, 3, 5]));
    assert_eq!(cron("* * * jan-mar *").months, range(1, 3));
    assert_eq!(cron("* * * JAN-Mar,dec *").months, bits(&[1, 2, 3, 12]));
    assert_eq!(cron("* * * jun-12 *").months, range(6, 12));
}

#[test]
fn star_flags_come_from_the_first_character() {
    let e = cron("0 0 */2 * 1");
    assert!(e.dom_star && !e.dow_star);
    let e = cron("0 0 *,5 * 1");
    assert!(e.dom_star);
    let e = cron("0 0 1-31 * 0-7");
    assert!(!e.dom_star && !e.dow_star);
    assert!(cron("*/5 3 * * *").wildcard);
    assert!(cron("0 */1 * * *").wildcard);
    assert!(cron("0 * * * *").wildcard);
    assert!(!cron("0-59 0-23 * * *").wildcard);
    assert!(!cron("30 2 * * *").wildcard);
    assert!(cron("@hourly").wildcard);
    assert!(!cron("@daily").wildcard);
    assert!(cron("30 2 * * *").is_fixed_time());
}

#[test]
fn error_messages() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("", None, "empty schedule"),
        (" \t ", None, "empty schedule"),
        (
            "61 * * * *",
            Some("minute"),
            r#"minute field "61": 61 is out of range 0-59"#,
        ),
        (
            "* * * * * *",
            None,
            "expected 5 fields (minute hour day-of-month month day-of-week), found 6",
        ),
        (
            "* * * *",
            None,
            "expected 5 fields (minute hour day-of-month month day-of-week), found 4",
        ),
        (
            "@fortnightly",
            None,
            "unknown macro \"@fortnightly\" (known: @yearly @annually @monthly @weekly @daily \
             @midnight @hourly @every @daemon @reboot @event)",
        ),
        (
            "* * 5-1 * *",
            Some("day-of-month"),
            r#"day-of-month field "5-1": range start 5 is greater than end 1"#,
        ),
        (
            "*/0 * * * *",
            Some("minute"),
            r#"minute field "*/0": step 0 in "*/0": step must be at least 1"#,
        ),
        (
            "0 0 30 2 *",
            Some("day-of-month"),
            r#""0 0 30 2 *" can never fire: February has no day 30"#,
        ),
        (
            "0 0 31 4,6 *",
            Some("day-of-month"),
            r#""0 0 31 4,6 *" can never fire: April and June have no day 31"#,
        ),
        (
            "0 0 30,31 feb */1",
            Some("day-of-month"),
            r#""0 0 30,31 feb */1" can never fire: February has no day 30 or 31"#,
        ),
        (
            "* 24 * * *",
            Some("hour"),
            r#"hour field "24": 24 is out of range 0-23"#,
        ),
        ("* * 0 * *", Some("day-of-month"), "0 is out of range 1-31"),
        (
            "* * 32 * *",
            Some("day-of-month"),
            "32 is out of range 1-31",
        ),
        (
            "* * * 13 *",
            Some("month"),
            r#"month field "13": 13 is out of range 1-12"#,
        ),
        ("* * * 0 *", Some("month"), "0 is out of range 1-12"),
        (
            "* * * * 8",
            Some("day-of-week"),
            r#"day-of-week field "8": 8 is out of range 0-7"#,
        ),
        ("1,,2 * * * *", Some("minute"), "empty list element"),
        ("1, * * * *", Some("minute"), "empty list element"),
        (",1 * * * *", Some("minute"), "empty list element"),
        ("5/15 * * * *", Some("minute"), r#"write "5-59/15""#),
        ("* 1/2 * * *", Some("hour"), r#"write "1-23/2""#),
        (
            "abc * * * *",
            Some("minute"),
            r#""abc" is not a valid minute (expected a number 0-59)"#,
        ),
        ("mon * * * *", Some("minute"), "is not a valid minute"),
        (
            "* * * * monday",
            Some("day-of-week"),
            "expected a number 0-7 or a name sun-sat",
        ),
        (
            "* * * foo *",
            Some("month"),
            "expected a number 1-12 or a name jan-dec",
        ),
        ("* * * * 1-", Some("day-of-week"), "missing value"),
        ("-1 * * * *", Some("minute"), "missing value"),
        ("*/ * * * *", Some("minute"), "missing step"),
        (
            "*/x * * * *",
            Some("minute"),
            r#"step "x" in "*/x" is not a number"#,
        ),
        ("1//2 * * * *", Some("minute"), "is not a number"),
        (
            "99999999999999999999 * * * *",
            Some("minute"),
            "is out of range 0-59",
        ),
        (
            "*/99999999999999999999 * * * *",
            Some("minute"),
            "is too large",
        ),
        ("1-2-3 * * * *", Some("minute"), "is not a valid minute"),
        ("*5 * * * *", Some("minute"), "is not a valid minute"),
        ("1~5 * * * *", Some("minute"), "is not a valid minute"),
        (
            "* * * * 5L",
            Some("day-of-week"),
            "is not a valid day-of-week",
        ),
        (
            "* * * * 1#2",
            Some("day-of-week"),
            "is not a valid day-of-week",
        ),
        (
            "* * L * *",
            Some("day-of-month"),
            "is not a valid day-of-month",
        ),
        (
            "@daily now",
            None,
            r#""@daily" takes no argument, found "now""#,
        ),
        (
            "@daemon x",
            None,
            r#""@daemon" takes no argument, found "x""#,
        ),
        (
            "@reboot x",
            None,
            r#""@reboot" takes no argument, found "x""#,
        ),
        ("@every", None, "\"@every\" needs a duration"),
        (
            "@every 30s",
            None,
            "@every 30s is too short: the minimum interval is 1 minute",
        ),
        ("@every 59s", None, "too short"),
        ("@every 1m 500ms", None, "whole number of seconds"),
        ("@every 10x", None, "invalid duration \"10x\" after @every"),
        ("@every 99999999999999999999y", None, "invalid duration"),
        ("@", None, "unknown macro \"@\""),
        ("@DAILY", None, "unknown macro \"@DAILY\""),
    ];
    for (text, field, message) in cases {
        let e = err(text);
        assert_eq!(e.field, *field, "{text:?}: {e}");
        assert!(e.to_string().contains(message), "{text:?}: got {e}");
        assert_eq!(e.to_string(), e.message);
    }
}

#[test]
fn odd_inputs_are_errors_not_panics() {
    for text in [
        "¹ * * * *",
        "* * * * é",
        "é",
        "* * * * * é",
        "\u{0} * * * *",
        "* * * *\n*",
        "-",
        "/",
        ",",
        "*/-1 * * * *",
        "1-*/2 * * * *",
        "*-5 * * * *",
        "** * * * *",
        "*/1/2 * * * *",
        "+1 * * * *",
        " 1 2 3 4 5 6 7 8 9 ",
    ] {
        assert!(Schedule::parse(text).is_err(), "{text:?}");
    }
}

#[test]
fn never_firing_rules() {
    // With the OR rule (both day fields restricted) it can always fire.
    assert!(Schedule::parse("0 0 30 2 1").is_ok());
    assert!(Schedule::parse("0 0 31 4,6 mon").is_ok());
    // February 29 is possible.
    assert!(Schedule::parse("0 0 29 2 *").is_ok());
    assert!(Schedule::parse("0 0 29-31 2,4 *").is_ok());
    // A starred day-of-month always contains the 1st.
    assert!(Schedule::parse("0 0 */31 2 *").is_ok());
    assert!(Schedule::parse("0 0 30 1-2 *").is_ok());
}

#[test]
fn display_round_trips() {
    let cases = [
        ("0 0 * * *", "0 0 * * *"),
        ("  0\t0   *  *\t\tmon-fri  ", "0 0 * * mon-fri"),
        ("*/15 9-17 * JAN-Mar 1,3,5", "*/15 9-17 * JAN-Mar 1,3,5"),
        ("@daily", "@daily"),
        ("@midnight", "@midnight"),
        ("@yearly", "@yearly"),
        ("@annually", "@annually"),
        ("@monthly", "@monthly"),
        ("@weekly", "@weekly"),
        ("@hourly", "@hourly"),
        (" @hourly ", "@hourly"),
        ("@every 10m", "@every 10m"),
        ("@every   1h30m", "@every 1h 30m"),
        ("@every 90s", "@every 1m 30s"),
        ("@every 1h 30m", "@every 1h 30m"),
        ("@every 2days", "@every 2days"),
        ("@every 60s", "@every 1m"),
        ("@daemon", "@daemon"),
        ("@reboot", "@reboot"),
    ];
    for (text, shown) in cases {
        let s = Schedule::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(s.to_string(), shown, "{text:?}");
        assert_eq!(Schedule::parse(&s.to_string()), Ok(s.clone()), "{text:?}");
        assert_eq!(shown.parse::<Schedule>(), Ok(s));
    }
}

#[test]
fn accessors() {
    let s = Schedule::parse("@every 1h30m").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.every(), Some(Duration::from_secs(5400)));
    assert!(!s.is_cron());
    let s = Schedule::parse("@weekly").unwrap_or_else(|e| panic!("{e}"));
    assert!(s.is_cron());
    assert_eq!(s.every(), None);
    let after = utc("2025-01-01T00:00:00Z");
    for text in ["@every 10m", "@daemon", "@reboot"] {
        let s = Schedule::parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.next_after(after, Tz::UTC), None, "{text}");
        assert!(!s.is_cron());
    }
    assert_eq!(cron("1 2 3 4 5").as_str(), "1 2 3 4 5");
    assert_eq!("@daily".parse::<CronExpr>(), Ok(cron("@daily")));
}
