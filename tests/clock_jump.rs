//! The wall clock jumping, cronie's way (`cron.c`'s time-jump cases):
//! detected, recorded as a notified `clock_jump` event, flagged by
//! `status`, explained by `why`, and acted on. Time is injected: `--now` /
//! `KIT_NOW` for the wall clock, `KIT_UPTIME` for the boot clock that tells a
//! jump from a gap.

mod support;
use support::*;

const TASKS: &str = r#"
[[task]]
name = "m"
schedule = "* * * * *"
command = "true"
timezone = "UTC"

[[task]]
name = "daily"
schedule = "30 9 * * *"
command = "true"
timezone = "UTC"
"#;

fn tick_at(kit: &Kit, now: &str) -> Vec<String> {
    kit.tick()
        .env("KIT_NOW", now)
        .arg("--json")
        .ok()
        .json_lines()
        .iter()
        .map(|c| {
            format!(
                "{}@{}",
                c["name"].as_str().unwrap(),
                &c["slot"].as_str().unwrap()[11..16]
            )
        })
        .collect()
}

fn jump_events(kit: &Kit) -> Vec<String> {
    let c = kit.conn();
    let mut s = c
        .prepare("SELECT message FROM supervisor_events WHERE kind = 'clock_jump' AND notify = 1 ORDER BY id")
        .unwrap();
    s.query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

#[test]
fn a_clock_going_back_an_hour_runs_wildcard_tasks_at_the_current_time_and_fixed_ones_once() {
    let kit = Kit::new();
    kit.tasks(TASKS);
    for t in ["09:29:05", "09:30:05", "10:00:05", "10:01:05", "10:02:05"] {
        tick_at(&kit, &format!("2025-06-02T{t}Z"));
    }
    // Back to 09:03: the every-minute task runs now (cronie's wildcard
    // rule), at once: not at 10:03.
    assert_eq!(tick_at(&kit, "2025-06-02T09:03:05Z"), vec!["m@09:03"]);
    let ev = jump_events(&kit);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(
        ev[0].contains("The clock went back at least 59m"),
        "{}",
        ev[0]
    );
    assert!(
        ev[0].contains("wait until the clock is past 2025-06-02 10:02 UTC"),
        "{}",
        ev[0]
    );
    // The fixed-time task does not run its 09:30 again; the wildcard one
    // runs each minute, including those it already ran once (a new attempt).
    assert_eq!(tick_at(&kit, "2025-06-02T09:30:05Z"), vec!["m@09:30"]);
    assert_eq!(
        kit.scalar::<i64>("SELECT max(attempt) FROM supervisor_executions WHERE task = 'm' AND scheduled_for = '2025-06-02T09:30:00.000Z'"),
        2
    );
    // A second tick in the same minute claims nothing more.
    assert!(tick_at(&kit, "2025-06-02T09:30:40Z").is_empty());
    assert_eq!(tick_at(&kit, "2025-06-02T10:02:05Z"), vec!["m@10:02"]);
    // Past the minute the clock had reached: normal again, nothing doubled.
    assert_eq!(tick_at(&kit, "2025-06-02T10:03:05Z"), vec!["m@10:03"]);
    assert_eq!(kit.count("task = 'daily'"), 1);
    assert_eq!(kit.count("task = 'm' AND attempt > 2"), 0);
    assert_eq!(jump_events(&kit).len(), 1, "one jump, one event");
}

#[test]
fn while_the_clock_is_repeating_time_status_flags_it_and_why_explains_it() {
    let mut kit = Kit::new();
    kit.tasks(TASKS);
    for t in ["10:00:05", "10:01:05", "10:02:05"] {
        tick_at(&kit, &format!("2025-06-02T{t}Z"));
    }
    tick_at(&kit, "2025-06-02T09:03:05Z");
    kit.at("2025-06-02T09:04:00Z");
    let out = kit.ctl().arg("status").run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("The clock went back"), "{}", out.stdout);
    let j = kit.ctl().args(["status", "--json"]).run().json();
    assert!(j["problems"].to_string().contains("clock"), "{j}");
    // `why` on the fixed-time task: its next slot is tomorrow's 09:30, and
    // it says why today's does not run again; never "(in ...)" for a past slot.
    let out = kit.ctl().args(["why", "daily"]).ok();
    assert!(out.stdout.contains("The clock went back"), "{}", out.stdout);
    assert!(
        out.stdout.contains("fixed-time tasks wait"),
        "{}",
        out.stdout
    );
    let out = kit.ctl().args(["why", "m"]).ok();
    assert!(out.stdout.contains("The clock went back"), "{}", out.stdout);
    // Its last slot is the one run after the jump, though earlier in time,
    // and it runs again at the next minute, not "in 59m".
    let text = one_line(&out.stdout);
    assert!(
        text.contains("Its last slot, 2025-06-02 09:03 UTC"),
        "{text}"
    );
    assert!(
        text.contains(
            "Until the clock is past 2025-06-02 10:02 UTC it runs at each matching minute"
        ),
        "{text}"
    );
    assert!(!out.stdout.contains("(in 5"), "{}", out.stdout);
    // Once the clock is past where it was and the jump is 15 minutes old,
    // status is quiet again.
    for m in 4..=25 {
        tick_at(&kit, &format!("2025-06-02T09:{m:02}:05Z"));
    }
    for t in ["10:02:05", "10:03:05", "10:04:05"] {
        tick_at(&kit, &format!("2025-06-02T{t}Z"));
    }
    kit.at("2025-06-02T10:04:30Z");
    let out = kit.ctl().arg("status").run();
    assert!(!out.stdout.contains("clock went back"), "{}", out.stdout);
}

#[test]
fn a_clock_going_back_more_than_three_hours_reruns_fixed_time_tasks() {
    let kit = Kit::new();
    kit.tasks(TASKS);
    assert_eq!(
        tick_at(&kit, "2025-06-02T09:30:05Z"),
        vec!["daily@09:30", "m@09:30"]
    );
    tick_at(&kit, "2025-06-02T13:30:05Z");
    // Back 4 hours to 09:29: cronie starts again from the new time, so the
    // fixed-time task runs again at 09:30.
    assert_eq!(tick_at(&kit, "2025-06-02T09:29:05Z"), vec!["m@09:29"]);
    assert_eq!(
        tick_at(&kit, "2025-06-02T09:30:05Z"),
        vec!["daily@09:30", "m@09:30"]
    );
    assert_eq!(
        kit.scalar::<i64>("SELECT attempt FROM supervisor_executions WHERE task = 'daily' ORDER BY id DESC LIMIT 1"),
        2
    );
    let ev = jump_events(&kit);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(ev[0].contains("more than 3 hours"), "{}", ev[0]);
    assert_eq!(tick_at(&kit, "2025-06-02T09:31:05Z"), vec!["m@09:31"]);
}

#[test]
fn a_jump_forward_is_told_from_a_stall_by_the_boot_clock_and_explains_the_missed_slots() {
    let kit = Kit::new();
    kit.tasks(TASKS);
    let tick = |now: &str, up: &str| {
        kit.tick()
            .env("KIT_NOW", now)
            .env("KIT_UPTIME", up)
            .arg("--json")
            .ok()
    };
    tick("2025-06-02T09:00:05Z", "1000");
    // One minute passes on the boot clock, two hours on the wall clock.
    tick("2025-06-02T11:01:05Z", "1060");
    let ev = jump_events(&kit);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(ev[0].contains("The clock jumped forward 2h"), "{}", ev[0]);
    let reason: String = kit.scalar(
        "SELECT reason FROM supervisor_executions WHERE task = 'm' AND status = 'missed' LIMIT 1",
    );
    assert!(reason.contains("jumped forward 2h"), "{reason}");
    // Caught up as catch_up says (once): the skipped 09:30 runs.
    assert_eq!(kit.count("task = 'daily' AND trigger = 'catch_up'"), 1);
    // No gap is blamed on kit-tick.
    let out = kit
        .ctl()
        .env("KIT_NOW", "2025-06-02T11:01:30Z")
        .arg("status")
        .run();
    assert!(
        !out.stdout.contains("kit-tick was not started"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("jumped forward"), "{}", out.stdout);

    // More than 3 hours forward: nothing caught up (cronie).
    tick("2025-06-03T16:00:05Z", "1120");
    let reason: String = kit.scalar(
        "SELECT reason FROM supervisor_executions WHERE task = 'daily' AND status = 'missed' ORDER BY id DESC LIMIT 1",
    );
    assert!(reason.contains("more than 3 hours"), "{reason}");
    assert_eq!(kit.count("task = 'daily' AND trigger = 'catch_up'"), 1);

    // The same two-hour gap with the boot clock agreeing is a stall, not a jump.
    tick("2025-06-03T18:00:05Z", "8320");
    assert_eq!(jump_events(&kit).len(), 2);
}

#[test]
fn settings_can_leave_clock_jumps_unnotified_and_a_task_cannot_list_them() {
    let kit = Kit::new();
    kit.tasks(&format!(
        "[settings]\n[settings.recovery]\nnotify_at_once = [\"lost\"]\n{TASKS}"
    ));
    tick_at(&kit, "2025-06-02T10:02:05Z");
    tick_at(&kit, "2025-06-02T09:03:05Z");
    // Recorded and shown, not sent.
    assert_eq!(
        kit.scalar::<i64>("SELECT count(*) FROM supervisor_events WHERE kind = 'clock_jump' AND notify = 0 AND delivery = 'none'"),
        1
    );
    let f = kit.file(
        "bad.toml",
        "[[task]]\nname = \"x\"\nschedule = \"@daily\"\ncommand = \"true\"\n\
         [task.recovery]\nnotify_at_once = [\"clock_jump\"]\n",
    );
    let out = kit.ctl().arg("apply").arg(&f).run();
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("recovery.notify_at_once")
            && out.stderr.contains("[settings.recovery]"),
        "{}",
        out.stderr
    );
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
