//! Sleep versus a stalled kit-tick, through the real binaries with injected
//! clocks: `KIT_NOW` is the wall clock, `KIT_SLEPT` the boot's sleep counter
//! (seconds slept since boot). A Mac that slept from 01:10 to 07:02 is not a
//! stalled kit-tick; a Mac that was awake all along is. Times are UTC.

mod support;

use support::*;

const TASKS: &str = r#"
[[task]]
name = "poll"
schedule = "15 * * * *"
command = "true"
timezone = "UTC"
catch_up = "once"

[[task]]
name = "digest"
schedule = "45 * * * *"
command = "true"
timezone = "UTC"
catch_up = "none"
"#;

/// 1000 s slept before the night, in seconds as KIT_SLEPT takes them.
const BEFORE: u64 = 1000;

/// Ticks at 01:09 and 01:10 with the counter at BEFORE; the caller then
/// decides how much the machine sleeps before 07:02.
fn evening() -> Kit {
    let mut kit = Kit::new();
    kit.slept(&BEFORE.to_string());
    kit.at("2025-06-01T01:00:00Z").tasks(TASKS);
    kit.at("2025-06-01T01:09:00Z").tick().ok();
    kit.at("2025-06-01T01:10:00Z").tick().ok();
    kit
}

/// The counter `secs` after the evening's reading.
fn after(secs: u64) -> String {
    (BEFORE + secs).to_string()
}

fn events(kit: &Kit, kind: &str) -> i64 {
    kit.scalar(&format!(
        "SELECT count(*) FROM supervisor_events WHERE kind = '{kind}'"
    ))
}

fn why(kit: &Kit, task: &str) -> serde_json::Value {
    kit.ctl().args(["--json", "why", task]).ok().json()
}

fn missed_reason(kit: &Kit, task: &str) -> String {
    kit.scalar(&format!(
        "SELECT reason FROM supervisor_executions WHERE task = '{task}' AND status = 'missed' ORDER BY id LIMIT 1"
    ))
}

const ASLEEP: &str = "the machine was asleep from 2025-06-01 01:10 UTC to 2025-06-01 07:02 UTC";
const NOT_STARTED: &str =
    "kit-tick was not started from 2025-06-01 01:10 UTC to 2025-06-01 07:02 UTC";

#[test]
fn a_night_asleep_is_no_stall_and_why_says_the_machine_slept() {
    let mut kit = evening();

    // 07:01:30, just after the wake, before the first tick: the beat is
    // 5h51m old, but 5h50m of it was sleep.
    kit.at("2025-06-01T07:01:30Z")
        .slept(&after(5 * 3600 + 50 * 60));
    kit.heal().ok();
    assert_eq!(events(&kit, "stalled"), 0, "sleep is not a stall");
    let w = why(&kit, "poll");
    assert_eq!(w["case"], "asleep", "{w}");
    let t = w["text"].as_str().unwrap();
    assert!(
        t.contains(
            "has not been claimed yet: the machine was asleep for 5h50m since kit-tick last ran"
        ),
        "{t}"
    );
    let st = kit.ctl().arg("status").ok();
    assert!(
        st.stdout
            .contains("the machine was asleep for 5h50m since kit-tick last ran"),
        "{}",
        st.stdout
    );
    assert!(
        !st.stdout.contains("kit-tick is not running"),
        "{}",
        st.stdout
    );

    // 07:02: the first tick after the wake.
    kit.at("2025-06-01T07:02:00Z")
        .slept(&after(5 * 3600 + 52 * 60));
    kit.tick().ok();
    // Missed slots are recorded and caught up per catch_up: poll (once)
    // runs 06:15 and misses 01:15..05:15; digest (none) misses all six.
    assert_eq!(
        kit.count("task = 'poll' AND status = 'missed'"),
        5,
        "01:15 .. 05:15"
    );
    assert_eq!(
        kit.count("task = 'poll' AND status = 'queued' AND trigger = 'catch_up'"),
        1
    );
    assert_eq!(kit.count("task = 'digest' AND status = 'missed'"), 6);
    let reason = missed_reason(&kit, "digest");
    assert!(
        reason.starts_with(
            "missed: the machine was asleep from 2025-06-01T01:10:00.000Z to 2025-06-01T07:02:00.000Z; "
        ),
        "{reason}"
    );

    kit.at("2025-06-01T07:02:03Z").run().arg("poll").ok();
    kit.at("2025-06-01T07:02:05Z");
    let out = kit.heal().arg("--json").ok();
    assert_eq!(events(&kit, "stalled"), 0, "{}", out.stdout);
    assert_eq!(
        events(&kit, "missed"),
        2,
        "missed slots are still reported, one event per task"
    );

    let w = why(&kit, "digest");
    assert_eq!(w["case"], "missed");
    let t = w["text"].as_str().unwrap();
    assert!(t.contains(&format!("was missed: {ASLEEP} (5h52m)")), "{t}");
    assert_eq!(w["facts"]["gap"]["cause"], "asleep");
    let w = why(&kit, "poll");
    let t = w["text"].as_str().unwrap();
    assert!(
        t.contains(&format!(
            "was due while {ASLEEP} (5h52m) and was caught up at"
        )),
        "{t}"
    );

    // The missed slots are flagged for a quarter of an hour (the sleep
    // explains them; nothing is stalled).
    let st = kit.ctl().arg("status").run().code(1);
    assert!(st.stdout.contains(ASLEEP), "{}", st.stdout);
    assert!(
        st.stdout.contains("task digest: 6 slots missed in the last 15m: the machine was asleep from 2025-06-01 01:10 UTC to 2025-06-01 07:02 UTC"),
        "{}",
        st.stdout
    );
    assert!(!st.stdout.contains("not running"), "{}", st.stdout);
    let j = kit.ctl().args(["--json", "status"]).run().json();
    assert_eq!(j["tick_gap"]["cause"], "asleep");
    assert_eq!(j["tick_gap"]["from"], "2025-06-01T01:10:00.000Z");
    assert_eq!(j["tick_gap"]["to"], "2025-06-01T07:02:00.000Z");
}

#[test]
fn the_same_gap_awake_is_a_stall_and_why_says_kit_tick_was_not_started() {
    let mut kit = evening();

    // The counter does not move: the machine was up all night.
    kit.at("2025-06-01T07:01:30Z");
    let out = kit.heal().arg("--json").ok();
    assert_eq!(events(&kit, "stalled"), 1, "{}", out.stdout);
    assert!(out
        .stdout
        .contains("kit-tick has not run for 5h51m (last beat"));
    let w = why(&kit, "poll");
    assert_eq!(w["case"], "tick_not_running");
    kit.ctl()
        .arg("status")
        .run()
        .code(1)
        .stdout_has("kit-tick is not running");

    kit.at("2025-06-01T07:02:00Z").tick().ok();
    assert_eq!(kit.count("task = 'digest' AND status = 'missed'"), 6);
    let reason = missed_reason(&kit, "digest");
    assert!(
        reason.starts_with(
            "missed: kit-tick was not started from 2025-06-01T01:10:00.000Z to 2025-06-01T07:02:00.000Z; "
        ),
        "{reason}"
    );
    kit.at("2025-06-01T07:02:05Z");
    kit.heal().ok();
    assert_eq!(events(&kit, "recovered"), 1);

    let w = why(&kit, "digest");
    let t = w["text"].as_str().unwrap();
    assert!(
        t.contains(&format!(
            "was missed: {NOT_STARTED} (5h52m) while the machine was awake"
        )),
        "{t}"
    );
    assert_eq!(w["facts"]["gap"]["cause"], "not_started");
    let st = kit.ctl().arg("status").run().code(1);
    assert!(st.stdout.contains(NOT_STARTED), "{}", st.stdout);
}

#[test]
fn a_night_partly_asleep_counts_only_the_awake_part() {
    let mut kit = evening();

    // Asleep for 5h of the 5h52m: kit-tick missed 51m30s of awake time.
    kit.at("2025-06-01T07:01:30Z").slept(&after(5 * 3600));
    let out = kit.heal().arg("--json").ok();
    assert_eq!(events(&kit, "stalled"), 1, "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "kit-tick has not run for 51m while the machine was up, and it slept 5h besides"
        ),
        "{}",
        out.stdout
    );

    let st = kit.ctl().arg("status").run().code(1);
    assert!(
        st.stdout.contains(
            "kit-tick is not running: its last heartbeat is 5h51m old (2025-06-01 01:10 UTC), \
             and the machine was asleep for 5h of that"
        ),
        "{}",
        st.stdout
    );

    kit.at("2025-06-01T07:02:00Z").tick().ok();
    let reason = missed_reason(&kit, "digest");
    assert!(
        reason.starts_with(
            "missed: kit-tick was not started for 52m of the time from 2025-06-01T01:10:00.000Z to \
             2025-06-01T07:02:00.000Z (the machine was asleep for the rest, 5h); "
        ),
        "{reason}"
    );
    kit.at("2025-06-01T07:03:00Z");
    let w = why(&kit, "digest");
    let t = w["text"].as_str().unwrap();
    assert!(
        t.contains(
            "kit-tick was not started for 52m of the time from 2025-06-01 01:10 UTC to 2025-06-01 07:02 UTC \
             (5h52m); the machine was asleep for the rest, 5h"
        ),
        "{t}"
    );
    assert_eq!(w["facts"]["gap"]["cause"], "partly_asleep");
    assert_eq!(w["facts"]["gap"]["slept_seconds"], 5 * 3600);
}

#[test]
fn a_restart_is_told_apart_and_a_missing_counter_is_not_guessed() {
    // The beat was written in another boot: the counter restarted. The
    // machine booted 90 s ago (5 s of it asleep): kit-tick has had 85 s of
    // awake time to run, not 5h51m, so that is no stall yet.
    let mut kit = evening();
    kit.conn()
        .execute_batch("UPDATE supervisor_heartbeats SET boot_id = 'an-earlier-boot'")
        .unwrap();
    kit.at("2025-06-01T07:01:30Z").slept("5");
    let out = kit.heal().env("KIT_UPTIME", "90").arg("--json").ok();
    assert_eq!(events(&kit, "stalled"), 0, "{}", out.stdout);
    let w = kit
        .ctl()
        .env("KIT_UPTIME", "90")
        .args(["--json", "why", "poll"])
        .ok()
        .json();
    assert_eq!(w["case"], "restarted", "{w}");
    assert!(
        w["text"].as_str().unwrap().contains(
            "has not been claimed yet: the machine restarted 1m ago, after kit-tick last ran"
        ),
        "{w}"
    );
    // Up for an hour without a tick: a stall, counted from the boot.
    let out = kit.heal().env("KIT_UPTIME", "3600").arg("--json").ok();
    assert_eq!(events(&kit, "stalled"), 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("kit-tick has not run for 59m since the machine restarted"),
        "{}",
        out.stdout
    );
    kit.at("2025-06-01T07:02:00Z").tick().ok();
    let reason = missed_reason(&kit, "digest");
    assert!(
        reason.starts_with(
            "missed: the machine restarted between 2025-06-01T01:10:00.000Z and 2025-06-01T07:02:00.000Z; "
        ),
        "{reason}"
    );
    let t = why(&kit, "digest")["text"].as_str().unwrap().to_string();
    assert!(t.contains("and the machine restarted in between"), "{t}");

    // No sleep counter on this OS: the gap is told without a cause.
    let mut kit = evening();
    kit.at("2025-06-01T07:02:00Z").slept("unknown").tick().ok();
    let reason = missed_reason(&kit, "digest");
    assert!(
        reason.starts_with("missed: kit-tick did not run from 2025-06-01T01:10:00.000Z to "),
        "{reason}"
    );
}
