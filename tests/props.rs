//! Property tests of the two parsers users feed by hand: schedules and task
//! files. Arbitrary input never panics; whatever is accepted survives the
//! round trips kit relies on (Display/parse in the library, and
//! add/export/apply through the real binaries for a bounded number of cases).

mod support;

use kit::kit_db::schedule::Schedule;
use kit::kit_db::task::{file, validate, Command, Task};
use kit::kit_db::units::{Dur, Size};
use proptest::prelude::*;
use std::path::Path;
use support::*;

/// One cron field element: `*`, `*/S`, `N`, `A-B`, `A-B/S`, with numbers
/// that are sometimes out of range and names where the field takes them.
fn element(min: u32, max: u32, names: &'static [&'static str]) -> BoxedStrategy<String> {
    let num = prop_oneof![
        4 => (min..=max).prop_map(|n| n.to_string()),
        1 => (0u32..100).prop_map(|n| n.to_string()),
    ];
    let value: BoxedStrategy<String> = if names.is_empty() {
        num.boxed()
    } else {
        prop_oneof![
            3 => num,
            1 => proptest::sample::select(names).prop_map(|n| n.to_string()),
            1 => proptest::sample::select(names).prop_map(|n| n.to_uppercase()),
        ]
        .boxed()
    };
    prop_oneof![
        2 => Just("*".to_string()),
        1 => (1u32..70).prop_map(|s| format!("*/{s}")),
        4 => value.clone(),
        2 => (value.clone(), value.clone()).prop_map(|(a, b)| format!("{a}-{b}")),
        1 => (value.clone(), value, 1u32..30).prop_map(|(a, b, s)| format!("{a}-{b}/{s}")),
    ]
    .boxed()
}

fn field(min: u32, max: u32, names: &'static [&'static str]) -> BoxedStrategy<String> {
    proptest::collection::vec(element(min, max, names), 1..4)
        .prop_map(|v| v.join(","))
        .boxed()
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// Schedules the way people write them: mostly plausible, sometimes wrong.
fn schedule_text() -> impl Strategy<Value = String> {
    let cron = (
        field(0, 59, &[]),
        field(0, 23, &[]),
        field(1, 31, &[]),
        field(1, 12, MONTHS),
        field(0, 7, DAYS),
        prop_oneof![Just(" "), Just("  "), Just("\t")],
    )
        .prop_map(|(m, h, dom, mon, dow, sep)| [m, h, dom, mon, dow].join(sep));
    let every = (
        1u64..100_000,
        proptest::sample::select(&["s", "m", "h", "d", "min", "ms", "y", ""][..]),
    )
        .prop_map(|(n, u)| format!("@every {n}{u}"));
    let every2 = (0u64..48, 0u64..60).prop_map(|(h, m)| format!("@every {h}h{m}m"));
    let word = proptest::sample::select(
        &[
            "@yearly",
            "@annually",
            "@monthly",
            "@weekly",
            "@daily",
            "@midnight",
            "@hourly",
            "@daemon",
            "@reboot",
            "@every",
            "@sometimes",
            "@DAILY",
            "@daily now",
        ][..],
    )
    .prop_map(str::to_string);
    prop_oneof![6 => cron, 2 => every, 1 => every2, 2 => word]
}

/// Text that is TOML-shaped enough to reach deep into the loader: known and
/// unknown keys, the right and wrong value types, tables in any order.
fn task_file_text() -> impl Strategy<Value = String> {
    let key = proptest::sample::select(
        &[
            "name",
            "schedule",
            "command",
            "timeout",
            "enabled",
            "timezone",
            "cwd",
            "env",
            "retries",
            "retry_delay",
            "overlap",
            "catch_up",
            "nice",
            "output_cap",
            "limits",
            "crashloop",
            "health",
            "recovery",
            "description",
            "bogus",
            "notify",
            "retention",
            "actions",
            "failures",
            "within",
            "every",
            "escalate",
            "as",
            "nofile",
        ][..],
    );
    let value = prop_oneof![
        "[a-z0-9 */@,.-]{0,16}".prop_map(|s| format!("{s:?}")),
        schedule_text().prop_map(|s| format!("{s:?}")),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("true".to_string()),
        Just("[]".to_string()),
        Just("[\"a\", \"b c\"]".to_string()),
        Just("{ failures = 1, within = \"1m\" }".to_string()),
        Just("{ A = \"1\" }".to_string()),
        Just("\"10 parsecs\"".to_string()),
        Just("\"Europe/Warsaw\"".to_string()),
        "[^\n]{0,12}",
    ];
    let line = prop_oneof![
        6 => (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => Just("[[task]]".to_string()),
        1 => Just("[settings]".to_string()),
        1 => proptest::sample::select(&["[task.recovery]", "[task.limits]", "[task.health]", "[settings.recovery]", "[[task.env]]", "[task]", "["][..]).prop_map(str::to_string),
        1 => Just(String::new()),
        1 => "[^\n]{0,20}",
    ];
    proptest::collection::vec(line, 0..24).prop_map(|ls| ls.join("\n"))
}

/// Tasks built in Rust with arbitrary text wherever the model takes text
/// (commands, descriptions, env values, cwd): export must escape all of it.
fn arbitrary_task_file() -> impl Strategy<Value = file::TaskFile> {
    let command = prop_oneof![
        any::<String>().prop_map(Command::Shell),
        (
            any::<String>(),
            proptest::collection::vec(any::<String>(), 0..4)
        )
            .prop_map(|(p, mut rest)| {
                rest.insert(0, format!("p{p}"));
                Command::Argv(rest)
            }),
    ];
    let task = (
        "[a-z0-9][a-z0-9._-]{0,12}",
        prop_oneof![
            schedule_text(),
            Just("@daily".to_string()),
            Just("*/5 * * * *".to_string())
        ],
        command,
        proptest::option::of(any::<String>()),
        proptest::collection::btree_map("[A-Za-z_][A-Za-z0-9_ ]{0,8}", any::<String>(), 0..3),
        proptest::option::of(any::<String>().prop_map(|c| format!("/{c}"))),
        any::<bool>(),
        proptest::option::of(proptest::sample::select(
            &["UTC", "Europe/Warsaw", "Asia/Kolkata"][..],
        )),
        proptest::option::of((1u64..100_000).prop_map(|s| Dur(std::time::Duration::from_secs(s)))),
    )
        .prop_map(
            |(name, schedule, command, description, env, cwd, enabled, tz, timeout)| {
                let mut t = Task::new(&name, &schedule, command);
                t.description = description;
                t.env = env;
                t.cwd = cwd;
                t.enabled = enabled;
                t.timezone = tz.map(str::to_string);
                t.timeout = timeout;
                t
            },
        );
    proptest::collection::vec(task, 0..4).prop_map(|tasks| {
        let mut seen = std::collections::HashSet::new();
        let tasks = tasks
            .into_iter()
            .filter(|t| validate(t).is_ok() && seen.insert(t.name.clone()))
            .collect();
        file::TaskFile {
            settings: None,
            tasks,
        }
    })
}

fn parse_file(text: &str) -> Result<file::TaskFile, file::FileError> {
    file::parse(text, Path::new("p.toml"), Path::new("/base"))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_schedule_parser_never_panics_on_any_string(s in any::<String>()) {
        let _ = Schedule::parse(&s);
    }

    #[test]
    fn every_accepted_schedule_round_trips_through_display(s in schedule_text()) {
        if let Ok(parsed) = Schedule::parse(&s) {
            let shown = parsed.to_string();
            let again = Schedule::parse(&shown);
            prop_assert_eq!(again.as_ref(), Ok(&parsed), "{:?} -> {:?}", s, shown);
            prop_assert_eq!(again.unwrap().to_string(), shown);
        }
    }

    #[test]
    fn the_task_file_loader_never_panics_on_any_string(s in any::<String>()) {
        let _ = parse_file(&s);
    }

    #[test]
    fn the_task_file_loader_never_panics_on_toml_ish_text(s in task_file_text()) {
        match parse_file(&s) {
            // Whatever loads, exports to a file that loads back the same.
            Ok(f) => {
                let again = parse_file(&file::export(&f));
                prop_assert_eq!(again.as_ref().ok(), Some(&f), "export of {:?}", s);
            }
            Err(e) => {
                // Every error points into the file.
                let lines = s.lines().count().max(1);
                prop_assert!(e.line.is_none_or(|l| l >= 1 && l <= lines + 1), "{} for {:?}", e, s);
            }
        }
    }

    #[test]
    fn export_of_any_valid_tasks_loads_back_identical(f in arbitrary_task_file()) {
        let text = file::export(&f);
        let again = parse_file(&text);
        prop_assert_eq!(again.as_ref().ok(), Some(&f), "{}", text);
    }

    #[test]
    fn durations_and_sizes_round_trip_or_are_refused(s in "[0-9]{1,12}(ns|ms|s|m|h|d|w|y|min|sec|KiB|MB|G|)") {
        if let Ok(d) = Dur::parse(&s) {
            prop_assert_eq!(Dur::parse(&d.to_string()), Ok(d));
            prop_assert!(d <= Dur::MAX);
        }
        if let Ok(n) = Size::parse(&s) {
            prop_assert_eq!(Size::parse(&n.to_string()), Ok(n));
        }
    }
}

/// Up to 8 distinct schedules the task validator accepts, per case (a bounded number of cases,
/// because each runs the real tools several times).
fn accepted_schedules() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(schedule_text(), 1..12).prop_map(|v| {
        let mut out: Vec<String> = Vec::new();
        for s in v {
            let task = Task::new("t", &s, Command::Shell("true".into()));
            if validate(&task).is_ok() && !out.contains(&s) {
                out.push(s);
            }
        }
        out.truncate(8);
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn accepted_schedules_round_trip_through_add_export_and_apply(schedules in accepted_schedules()) {
        let a = Kit::new();
        for (i, s) in schedules.iter().enumerate() {
            a.ctl().args(["add", &format!("t{i}"), "--schedule", s, "--", "true"]).ok();
        }
        let exported = a.ctl().arg("export").ok().stdout;
        let listed = a.ctl().args(["list", "--json"]).ok().json();
        for (i, s) in schedules.iter().enumerate() {
            // Stored and shown exactly as written.
            prop_assert_eq!(&listed[i]["schedule"], s);
        }
        let b = Kit::new();
        let f = b.file("exported.toml", &exported);
        b.ctl().arg("apply").arg(&f).ok();
        prop_assert_eq!(b.ctl().arg("export").ok().stdout, exported);
        prop_assert_eq!(b.ctl().args(["list", "--json"]).ok().json(), listed);
        // And kit-tick can plan every one of them without failing.
        b.tick().args(["--now", "2030-01-01T00:00:00Z"]).ok();
        b.tick().args(["--now", "2030-01-01T00:01:00Z"]).ok();
    }
}
