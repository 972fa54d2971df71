//! `kit-ctl why NAME`: one test per case the paragraph explains, each on a
//! DB prepared by the real tools (apply, kit-tick --now, kit-run, kit-heal).
//! Daemon cases write kit-keep's row through kit-keep's own library call.

mod support;

use serde_json::Value;
use support::*;

fn why(kit: &Kit, name: &str) -> Value {
    let out = kit.ctl().args(["why", name, "--json"]).ok();
    let v = out.json();
    assert_eq!(v["task"], name);
    v
}

fn text(v: &Value) -> String {
    v["text"].as_str().unwrap().to_string()
}

#[test]
fn why_disabled_task_says_who_disabled_it_and_how_to_enable() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"backup\"\nschedule = \"@hourly\"\ncommand = \"true\"\n");
    kit.ctl().args(["disable", "backup"]).ok();
    let v = why(&kit, "backup");
    assert_eq!(v["case"], "disabled");
    let t = text(&v);
    assert!(t.contains("backup is disabled (disabled by kit-ctl"), "{t}");
    assert!(t.contains("`kit-ctl enable backup`"), "{t}");
    assert_eq!(v["facts"]["disabled_reason"], "disabled by kit-ctl");
}

#[test]
fn why_new_task_is_not_due_until_its_first_slot() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[settings]\ntimezone = \"Europe/Warsaw\"\n[[task]]\nname = \"scan\"\nschedule = \"47 3 * * *\"\ncommand = \"true\"\n");
    kit.tick().ok();
    let v = why(&kit, "scan");
    assert_eq!(v["case"], "not_due");
    let t = text(&v);
    assert!(t.contains("has not been due since it was declared"), "{t}");
    // 03:47 in Warsaw (CEST) is 01:47 UTC; shown in the task's zone.
    assert!(t.contains("Next slot: 2025-06-02 03:47 CEST"), "{t}");
    assert_eq!(v["facts"]["next_due"], "2025-06-02T01:47:00.000Z");
}

#[test]
fn why_last_slot_succeeded_names_execution_and_duration() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"ok\"\nschedule = \"*/5 * * * *\"\ncommand = \"true\"\n");
    kit.tick().ok();
    kit.run().arg("ok").ok();
    kit.at("2025-06-01T10:01:00Z");
    let v = why(&kit, "ok");
    assert_eq!(v["case"], "ran");
    let t = text(&v);
    assert!(
        t.contains("Its last slot, 2025-06-01 10:00 UTC (1m ago), succeeded in"),
        "{t}"
    );
    assert!(t.contains("(execution #1)"), "{t}");
    assert!(t.contains("Next slot: 2025-06-01 10:05 UTC (in 4m)"), "{t}");
}

#[test]
fn why_failing_task_gives_exit_code_and_streak() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"flaky\"\nschedule = \"*/5 * * * *\"\ncommand = \"exit 3\"\n");
    for m in ["00", "05", "10"] {
        kit.at(&format!("2025-06-01T10:{m}:00Z"));
        kit.tick().ok();
        kit.run().arg("flaky").run().code(3);
    }
    kit.at("2025-06-01T10:11:00Z");
    let v = why(&kit, "flaky");
    assert_eq!(v["case"], "failed");
    let t = text(&v);
    assert!(t.contains("failed with exit code 3"), "{t}");
    assert!(t.contains("It has failed 3 times in a row"), "{t}");
    assert_eq!(v["facts"]["streak"], 3);
    assert_eq!(v["facts"]["last_execution"]["exit_code"], 3);
}

#[test]
fn why_skipped_because_the_previous_run_was_still_running() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"slow\"\nschedule = \"*/5 * * * *\"\ncommand = \"sleep 30\"\n");
    kit.tick().ok();
    let first = kit.run().arg("slow").spawn();
    wait_for(
        std::time::Duration::from_secs(10),
        "the first run to start",
        || kit.count("task = 'slow' AND status = 'running' AND child_pid IS NOT NULL") == 1,
    );
    kit.at("2025-06-01T10:05:00Z");
    kit.tick().ok();
    kit.run().arg("slow").ok();
    kit.at("2025-06-01T10:06:00Z");
    let v = why(&kit, "slow");
    // Stop the first run the way a person would (kit-run forwards TERM to its group).
    unsafe { libc::kill(first.id() as i32, libc::SIGTERM) };
    let _ = first.wait_with_output();
    assert_eq!(v["case"], "skipped");
    let t = text(&v);
    assert!(
        t.contains("Its last slot, 2025-06-01 10:05 UTC (1m ago), was skipped"),
        "{t}"
    );
    assert!(
        t.contains("overlap = skip and the previous run (execution #1"),
        "{t}"
    );
    assert!(t.contains("is still running"), "{t}");
}

#[test]
fn why_missed_while_kit_tick_was_not_running_gives_the_gap() {
    let mut kit = Kit::new();
    // The machine is awake throughout: its sleep counter does not move.
    kit.slept("0").at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"hourly\"\nschedule = \"@hourly\"\ncommand = \"true\"\ncatch_up = \"none\"\n");
    kit.tick().ok();
    kit.run().arg("hourly").ok();
    // kit-tick is not run again until 13:30: 11:00, 12:00 and 13:00 are missed.
    kit.at("2025-06-01T13:30:00Z");
    kit.tick().ok();
    kit.at("2025-06-01T13:31:00Z");
    let v = why(&kit, "hourly");
    assert_eq!(v["case"], "missed");
    let t = text(&v);
    assert!(
        t.contains(
            "Its last slot, 2025-06-01 13:00 UTC (31m ago), was missed: kit-tick was not started"
        ),
        "{t}"
    );
    assert!(
        t.contains(
            "from 2025-06-01 10:00 UTC to 2025-06-01 13:30 UTC (3h30m) while the machine was awake"
        ),
        "{t}"
    );
    assert!(t.contains("3 slots were missed in that gap"), "{t}");
    assert!(t.contains("catch_up = none"), "{t}");
    assert_eq!(v["facts"]["gap"]["from"], "2025-06-01T10:00:00.000Z");
    assert_eq!(v["facts"]["gap"]["to"], "2025-06-01T13:30:00.000Z");
}

#[test]
fn why_caught_up_after_a_gap_says_when() {
    let mut kit = Kit::new();
    kit.slept("0").at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"hourly\"\nschedule = \"@hourly\"\ncommand = \"true\"\n");
    kit.tick().ok();
    kit.run().arg("hourly").ok();
    kit.at("2025-06-01T13:30:00Z");
    kit.tick().ok();
    kit.at("2025-06-01T13:30:05Z");
    kit.run().arg("hourly").ok();
    kit.at("2025-06-01T13:31:00Z");
    let v = why(&kit, "hourly");
    assert_eq!(v["case"], "caught_up");
    let t = text(&v);
    assert!(t.contains("was due while kit-tick was not started from 2025-06-01 10:00 UTC to 2025-06-01 13:30 UTC"), "{t}");
    assert!(t.contains("caught up at 2025-06-01 13:30:05 UTC"), "{t}");
    assert!(t.contains("succeeded in"), "{t}");
}

#[test]
fn why_due_slot_unclaimed_means_kit_tick_is_not_running() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"hourly\"\nschedule = \"@hourly\"\ncommand = \"true\"\n");
    kit.tick().ok();
    kit.run().arg("hourly").ok();
    kit.at("2025-06-01T11:20:00Z");
    let v = why(&kit, "hourly");
    assert_eq!(v["case"], "tick_not_running");
    let t = text(&v);
    assert!(
        t.contains("Its slot at 2025-06-01 11:00 UTC (20m ago) has not run"),
        "{t}"
    );
    assert!(
        t.contains("kit-tick has not run since 2025-06-01 10:00 UTC (1h20m ago)"),
        "{t}"
    );
    assert!(t.contains("runs the latest missed slot once"), "{t}");
}

const RECOVERING: &str = r#"
[[task]]
name = "flaky"
schedule = "*/5 * * * *"
command = "exit 2"
[task.recovery]
failure_threshold = 2
max_attempts = 2
cooldown = "10m"
escalate = "disable"
"#;

/// Fails `flaky` at each of the given minutes past 10:00, with kit-heal after each.
fn fail_at(kit: &mut Kit, minutes: &[&str]) {
    for m in minutes {
        kit.at(&format!("2025-06-01T10:{m}:00Z"));
        kit.tick().ok();
        kit.run().arg("flaky").run().code(2);
        kit.heal().ok();
    }
}

#[test]
fn why_in_recovery_cooldown_says_until_when() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks(RECOVERING);
    fail_at(&mut kit, &["00", "05", "10"]);
    kit.at("2025-06-01T10:11:00Z");
    let v = why(&kit, "flaky");
    assert_eq!(v["case"], "cooldown");
    let t = text(&v);
    assert!(
        t.contains("round 1 of 2 ran at 2025-06-01 10:05 UTC"),
        "{t}"
    );
    assert!(
        t.contains("in recovery cooldown until 2025-06-01 10:15 UTC (in 4m)"),
        "{t}"
    );
    assert_eq!(v["facts"]["cooldown_until"], "2025-06-01T10:15:00.000Z");
}

#[test]
fn why_escalated_and_disabled_says_when() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks(RECOVERING);
    fail_at(&mut kit, &["00", "05", "10", "15", "20", "25"]);
    kit.at("2025-06-01T10:26:00Z");
    let v = why(&kit, "flaky");
    assert_eq!(v["case"], "escalated");
    let t = text(&v);
    assert!(
        t.contains(
            "kit-heal escalated and disabled it at 2025-06-01 10:25 UTC after 2 recovery rounds"
        ),
        "{t}"
    );
    assert!(
        t.ends_with("It will not run until it is enabled again (`kit-ctl enable flaky`)."),
        "{t}"
    );
    // status agrees, and exits 1.
    let s = kit.ctl().args(["status", "--json"]).run().code(1).json();
    assert_eq!(s["failing"][0]["state"], "escalated");
}

fn daemon_row(kit: &Kit, name: &str, f: impl FnOnce(&mut kit_db::daemon::DaemonState)) {
    let now = kit_db::clock::parse_instant("2025-06-01T10:00:00Z").unwrap();
    let mut d = kit_db::daemon::DaemonState::new(name, now);
    f(&mut d);
    kit_db::daemon::state::save(&kit.conn(), &d).unwrap();
}

#[test]
fn why_quarantined_daemon_names_the_crash_loop_and_the_trial() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"relay\"\nschedule = \"@daemon\"\ncommand = \"false\"\n");
    daemon_row(&kit, "relay", |d| {
        d.state = "quarantined".into();
        d.restarts = 5;
        d.recent_failures = (0..5)
            .map(|i| format!("2025-06-01T09:59:{:02}.000Z", i * 10))
            .collect();
        d.quarantined_until = Some("2025-06-01T10:15:00.000Z".into());
        d.last_exit = Some("exited with status 1".into());
    });
    kit.at("2025-06-01T10:01:00Z");
    let v = why(&kit, "relay");
    assert_eq!(v["case"], "quarantined");
    let t = text(&v);
    assert!(
        t.contains("quarantined after a crash loop (5 failures within 2m)"),
        "{t}"
    );
    assert!(t.contains("(last exit: exited with status 1)"), "{t}");
    assert!(
        t.contains("until 2025-06-01 10:15 UTC (in 14m), then kit-keep tries one trial start"),
        "{t}"
    );
    // status: quarantined daemon -> attention.
    let s = kit.ctl().args(["status", "--json"]).run().code(1).json();
    assert_eq!(s["daemons"]["quarantined"][0]["name"], "relay");
}

#[test]
fn why_daemon_without_kit_keep_says_kit_keep_is_not_running() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"relay\"\nschedule = \"@daemon\"\ncommand = \"sleep 100\"\n");
    let v = why(&kit, "relay");
    assert_eq!(v["case"], "keep_not_running");
    assert!(
        text(&v).contains("kit-keep has never run on this database"),
        "{}",
        text(&v)
    );
}

#[test]
fn why_unknown_task_exits_2_with_close_names() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"backup\"\nschedule = \"@hourly\"\ncommand = \"true\"\n");
    kit.ctl()
        .args(["why", "backpu"])
        .run()
        .code(2)
        .fails()
        .stderr_has("no task named \"backpu\"")
        .stderr_has("backup");
}
