//! kit-tick: exactly-once claims, catch-up after a gap, the clock moving
//! backwards, overlap, and the pipe into kit-run. Time is injected with
//! --now / KIT_NOW; nothing here depends on the wall clock.

mod support;
use std::time::Duration;
use support::*;

const EVERY_MINUTE: &str = r#"
[[task]]
name = "m"
schedule = "* * * * *"
command = "true"
"#;

fn slots(kit: &Kit, task: &str, status: &str) -> Vec<String> {
    let c = kit.conn();
    let mut s = c
        .prepare(
            "SELECT scheduled_for FROM supervisor_executions
             WHERE task = ?1 AND status = ?2 ORDER BY scheduled_for",
        )
        .unwrap();
    s.query_map([task, status], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

#[test]
fn eight_concurrent_ticks_claim_each_slot_once() {
    let kit = Kit::new();
    kit.tasks(EVERY_MINUTE);
    kit.tick().arg("--now").arg("2025-06-02T10:00:05Z").ok();
    for minute in 1..=5 {
        let now = format!("2025-06-02T10:{minute:02}:03Z");
        let children: Vec<_> = (0..8)
            .map(|_| kit.tick().arg("--now").arg(&now).spawn())
            .collect();
        let mut printed = 0;
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            printed += String::from_utf8_lossy(&out.stdout).lines().count();
        }
        assert_eq!(
            printed, 1,
            "the slot of minute {minute} was printed once in all"
        );
    }
    assert_eq!(kit.count("task = 'm'"), 6);
    assert_eq!(
        kit.scalar::<i64>("SELECT count(DISTINCT scheduled_for) FROM supervisor_executions"),
        6
    );
}

#[test]
fn first_tick_considers_only_the_current_minute() {
    let kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "five"
schedule = "*/5 * * * *"
command = "true"
"#,
    );
    let out = kit.tick().args(["--now", "2025-06-02T10:07:00Z"]).ok();
    assert!(
        out.stdout.is_empty(),
        "10:05 was before kit-tick ever ran: {}",
        out.stdout
    );
    assert_eq!(
        kit.count("1"),
        0,
        "no missed rows for slots before the first tick"
    );
    let out = kit.tick().args(["--now", "2025-06-02T10:10:01Z"]).ok();
    assert_eq!(out.lines(), vec!["five"]);
}

/// Declares "poll" (every 10 minutes), ticks at 10:00:02 and next at
/// `until` (after a gap); the second tick's output.
fn poll_after_a_gap(kit: &Kit, until: &str) -> Out {
    kit.tasks(
        r#"
[[task]]
name = "poll"
schedule = "*/10 * * * *"
command = "true"
"#,
    );
    // Awake throughout: the sleep counter stays put, so the gap is a stall.
    kit.tick()
        .env("KIT_SLEPT", "0")
        .args(["--now", "2025-06-02T10:00:02Z"])
        .ok();
    kit.tick()
        .env("KIT_SLEPT", "0")
        .args(["--now", until, "--json"])
        .ok()
}

#[test]
fn a_three_hour_gap_runs_once_and_records_the_missed_slots() {
    let kit = Kit::new();
    let out = poll_after_a_gap(&kit, "2025-06-02T13:05:00Z");
    let claims = out.json_lines();
    assert_eq!(claims.len(), 1, "{}", out.stdout);
    assert_eq!(claims[0]["trigger"], "catch_up");
    assert_eq!(claims[0]["slot"], "2025-06-02T13:00:00.000Z");
    let missed = slots(&kit, "poll", "missed");
    assert_eq!(missed.len(), 17, "10:10 .. 12:50 are missed: {missed:?}");
    assert_eq!(missed[0], "2025-06-02T10:10:00.000Z");
    assert_eq!(missed[16], "2025-06-02T12:50:00.000Z");
    let reason: String = kit.scalar(
        "SELECT reason FROM supervisor_executions WHERE status = 'missed' ORDER BY id LIMIT 1",
    );
    assert!(
        reason.contains("kit-tick was not started from 2025-06-02T10:00:02"),
        "{reason}"
    );
}

#[test]
fn an_on_time_slot_after_a_gap_makes_catch_up_unnecessary() {
    let kit = Kit::new();
    let out = poll_after_a_gap(&kit, "2025-06-02T13:00:04Z");
    let claims = out.json_lines();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0]["trigger"], "schedule");
    assert_eq!(slots(&kit, "poll", "missed").len(), 17);
}

#[test]
fn catch_up_none_and_max_age_only_record_missed_slots() {
    let kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "never"
schedule = "0 * * * *"
command = "true"
catch_up = "none"

[[task]]
name = "young"
schedule = "0 * * * *"
command = "true"
catch_up_max_age = "30m"

[[task]]
name = "old-enough"
schedule = "0 * * * *"
command = "true"
catch_up_max_age = "2h"
"#,
    );
    kit.tick().args(["--now", "2025-06-02T10:00:02Z"]).ok();
    let out = kit.tick().args(["--now", "2025-06-02T13:45:00Z"]).ok();
    assert_eq!(
        out.lines(),
        vec!["old-enough"],
        "13:00 is 45 min old: only the 2h bound allows it"
    );
    assert_eq!(slots(&kit, "never", "missed").len(), 3);
    assert_eq!(slots(&kit, "young", "missed").len(), 3);
    assert_eq!(slots(&kit, "old-enough", "missed").len(), 2);
    let why: String = kit.scalar(
        "SELECT reason FROM supervisor_executions WHERE task = 'never' AND status = 'missed' LIMIT 1",
    );
    assert!(why.contains("catch_up = none"), "{why}");
}

#[test]
fn disabled_tasks_and_daemons_claim_nothing() {
    let kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "off"
schedule = "* * * * *"
command = "true"
enabled = false

[[task]]
name = "svc"
schedule = "@daemon"
command = ["sleep", "1000"]
"#,
    );
    for m in 0..3 {
        let out = kit
            .tick()
            .arg("--now")
            .arg(format!("2025-06-02T10:0{m}:01Z"))
            .ok();
        assert!(out.stdout.is_empty());
    }
    assert_eq!(kit.count("1"), 0);
    // Enabling starts from the next tick: no backlog for the disabled period.
    kit.ctl().args(["enable", "off"]).ok();
    let out = kit.tick().args(["--now", "2025-06-02T10:05:01Z"]).ok();
    assert_eq!(out.lines(), vec!["off"]);
    assert_eq!(kit.count("status = 'missed'"), 0);
}

#[test]
fn every_is_anchored_on_the_first_tick_and_then_on_each_slot() {
    let kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "e"
schedule = "@every 7m"
command = "true"
"#,
    );
    let out = kit
        .tick()
        .args(["--now", "2025-06-02T10:00:30Z", "--json"])
        .ok();
    assert_eq!(out.json_lines()[0]["slot"], "2025-06-02T10:00:00.000Z");
    for m in 1..=14 {
        kit.tick()
            .arg("--now")
            .arg(format!("2025-06-02T10:{m:02}:02Z"))
            .ok();
    }
    assert_eq!(
        slots(&kit, "e", "queued"),
        vec![
            "2025-06-02T10:00:00.000Z",
            "2025-06-02T10:07:00.000Z",
            "2025-06-02T10:14:00.000Z"
        ]
    );
}

/// The "task slot" lines of `claimed` that are `task`'s.
fn slots_of(claimed: &[String], task: &str) -> Vec<String> {
    claimed
        .iter()
        .filter(|c| c.starts_with(&format!("{task} ")))
        .cloned()
        .collect()
}

/// Ticks every minute over [from, to) (UTC, "HH:MM" on `day`) and returns the claimed slots.
fn tick_minutes(kit: &Kit, day: &str, from: (u32, u32), to: (u32, u32)) -> Vec<String> {
    let mut claimed = Vec::new();
    let (mut h, mut m) = from;
    while (h, m) < to {
        let now = format!("{day}T{h:02}:{m:02}:01Z");
        let out = kit.tick().args(["--json", "--now", &now]).ok();
        for c in out.json_lines() {
            claimed.push(format!(
                "{} {}",
                c["name"].as_str().unwrap(),
                c["slot"].as_str().unwrap()
            ));
        }
        m += 1;
        if m == 60 {
            m = 0;
            h += 1;
        }
    }
    claimed
}

#[test]
fn dst_spring_forward_in_warsaw_runs_fixed_jobs_once_after_the_jump() {
    let kit = Kit::new();
    kit.tasks(
        r#"
[settings]
timezone = "Europe/Warsaw"

[[task]]
name = "fixed"
schedule = "30 2 * * *"
command = "true"

[[task]]
name = "quarter"
schedule = "*/15 * * * *"
command = "true"

[[task]]
name = "wild-hour"
schedule = "30 * * * *"
command = "true"
"#,
    );
    // 2025-03-30: 02:00 CET (01:00Z) jumps to 03:00 CEST.
    let claimed = tick_minutes(&kit, "2025-03-30", (0, 20), (1, 50));
    let of = |task: &str| slots_of(&claimed, task);
    assert_eq!(
        of("fixed"),
        vec!["fixed 2025-03-30T01:00:00.000Z"],
        "02:30 does not exist: runs at 03:00 CEST"
    );
    assert_eq!(
        of("wild-hour"),
        vec![
            "wild-hour 2025-03-30T00:30:00.000Z",
            "wild-hour 2025-03-30T01:30:00.000Z"
        ],
        "a wildcard-hour job follows the wall clock: 01:30 CET, then 03:30 CEST"
    );
    // */15 keeps its rhythm: 00:30Z, 00:45Z, 01:00Z, 01:15Z, 01:30Z, 01:45Z.
    assert_eq!(of("quarter").len(), 6, "{claimed:?}");
}

#[test]
fn dst_fall_back_in_new_york_runs_fixed_jobs_once_and_wildcards_twice() {
    let kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "fixed"
schedule = "30 1 * * *"
command = "true"
timezone = "America/New_York"

[[task]]
name = "quarter"
schedule = "*/15 * * * *"
command = "true"
timezone = "America/New_York"
"#,
    );
    // 2025-11-02: 01:00-01:59 EDT (05:00Z-05:59Z) repeats as EST (06:00Z-06:59Z).
    let claimed = tick_minutes(&kit, "2025-11-02", (4, 50), (7, 5));
    let of = |task: &str| slots_of(&claimed, task);
    assert_eq!(
        of("fixed"),
        vec!["fixed 2025-11-02T05:30:00.000Z"],
        "01:30 runs once, in its first pass"
    );
    assert_eq!(
        of("quarter").len(),
        9,
        "05:00Z..07:00Z every 15 min through both passes: {claimed:?}"
    );
}

#[test]
fn dry_run_reports_and_changes_nothing() {
    let kit = Kit::new();
    kit.tasks(EVERY_MINUTE);
    kit.tick().args(["--now", "2025-06-02T10:00:01Z"]).ok();
    let out = kit
        .tick()
        .args(["--dry-run", "--now", "2025-06-02T10:01:01Z"])
        .ok();
    assert_eq!(out.lines(), vec!["m"]);
    assert_eq!(kit.count("1"), 1, "the dry run claimed nothing");
    let out = kit.tick().args(["--now", "2025-06-02T10:01:01Z"]).ok();
    assert_eq!(out.lines(), vec!["m"]);
}

#[test]
fn each_tick_records_its_heartbeat() {
    let kit = Kit::new();
    kit.tasks(EVERY_MINUTE);
    kit.tick().args(["--now", "2025-06-02T10:00:01Z"]).ok();
    let beat: String =
        kit.scalar("SELECT beat_at FROM supervisor_heartbeats WHERE tool = 'kit-tick'");
    assert_eq!(beat, "2025-06-02T10:00:01.000Z");
}

#[test]
fn the_tick_output_pipes_into_kit_run() {
    let mut kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "a"
schedule = "* * * * *"
command = "echo a-ran"

[[task]]
name = "b"
schedule = "*/2 * * * *"
command = ["sh", "-c", "echo b-ran"]
"#,
    );
    kit.at("2025-06-02T10:00:01Z");
    let claimed = kit.tick().ok();
    assert_eq!(claimed.lines(), vec!["a", "b"]);
    kit.run().arg("-").stdin(&claimed.stdout).ok();
    // JSON lines work too, and run exactly the claimed execution.
    kit.at("2025-06-02T10:01:01Z");
    let claimed = kit.tick().arg("--json").ok();
    kit.run().arg("-").stdin(&claimed.stdout).ok();
    assert_eq!(kit.statuses("a"), vec!["success", "success"]);
    assert_eq!(kit.statuses("b"), vec!["success"]);
    let out: Vec<u8> = kit.scalar("SELECT output FROM supervisor_executions WHERE task = 'b'");
    assert_eq!(out, b"b-ran\n");
    assert_eq!(kit.count("status IN ('queued','running')"), 0);
}

#[test]
fn exec_mode_returns_at_once_and_the_detached_run_finishes() {
    let kit = Kit::new();
    let flag = kit.path("released");
    kit.tasks(&format!(
        r#"
[[task]]
name = "slow"
schedule = "* * * * *"
command = "while [ ! -e '{}' ]; do sleep 0.05; done; echo done"
"#,
        flag.display()
    ));
    kit.tick()
        .args(["--exec", "--now", "2025-06-02T10:00:01Z"])
        .ok();
    // kit-tick has returned while the task is still waiting for the flag.
    wait_for(
        Duration::from_secs(20),
        "the detached kit-run to start",
        || kit.statuses("slow") == vec!["running"],
    );
    std::fs::write(&flag, "").unwrap();
    wait_for(
        Duration::from_secs(20),
        "the detached run to finish",
        || kit.statuses("slow") == vec!["success"],
    );
}

#[test]
fn kit_heal_is_started_after_a_piped_tick_as_after_an_exec_tick() {
    // Detection must not depend on how launchd, systemd or cron run
    // kit-tick: `kit-tick | kit-run -` starts kit-heal too.
    for exec in [false, true] {
        let kit = Kit::new();
        kit.tasks("[[task]]\nname = \"h\"\nschedule = \"@hourly\"\ncommand = \"true\"\n");
        let mut tick = kit.tool("kit-tick").args(["--now", "2025-06-02T10:00:00Z"]);
        if exec {
            tick = tick.arg("--exec");
        }
        tick.ok();
        wait_for(Duration::from_secs(20), "kit-heal's heartbeat", || {
            kit.scalar::<i64>("SELECT count(*) FROM supervisor_heartbeats WHERE tool = 'kit-heal'")
                == 1
        });
    }
}

#[test]
fn a_tick_that_cannot_write_the_locked_db_is_recorded_named_and_explained() {
    // Another process holds the DB's write lock: kit-tick gives up (after
    // KIT_BUSY_TIMEOUT, twice), names the holder, leaves a line beside the
    // DB, and the next good tick records it as a notified event that `why`
    // uses to explain the late slot.
    let kit = Kit::new();
    kit.tasks("[[task]]\nname = \"h\"\nschedule = \"@hourly\"\ncommand = \"true\"\n");
    kit.tick().args(["--now", "2025-06-02T09:30:00Z"]).ok();
    let holder = kit.conn();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let out = kit
        .tick()
        .args(["--now", "2025-06-02T10:00:00Z"])
        .env("KIT_BUSY_TIMEOUT", "100ms")
        .run()
        .code(1);
    assert!(
        out.stderr.contains("the database is locked"),
        "{}",
        out.stderr
    );
    if cfg!(target_os = "linux") {
        let me = format!("by pid {}", std::process::id());
        assert!(out.stderr.contains(&me), "{}", out.stderr);
    }
    holder.execute_batch("ROLLBACK").unwrap();
    kit.tick().args(["--now", "2025-06-02T10:01:00Z"]).ok();
    let (kind, detail): (String, String) = kit
        .conn()
        .query_row(
            "SELECT kind, detail FROM supervisor_events WHERE dedupe_key LIKE 'tick_failed:%'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(kind, "stalled");
    assert!(detail.contains("\"cause\":\"tick_failed\""), "{detail}");
    assert!(detail.contains("2025-06-02T10:00:00.000Z"), "{detail}");
    // Folded once: the file beside the DB is gone.
    let leftovers: Vec<_> = std::fs::read_dir(kit.db.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("tick-failed"))
        .collect();
    assert!(leftovers.is_empty());
    kit.run().args(["h", "--now", "2025-06-02T10:01:00Z"]).ok();
    let why = kit
        .ctl()
        .args(["why", "h", "--now", "2025-06-02T10:02:00Z"])
        .ok()
        .stdout
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        why.contains("ran late: kit-tick claimed it only at 2025-06-02 10:01 UTC")
            && why.contains("because 1 tick failed before that")
            && why.contains("the database is locked"),
        "{why}"
    );
}

#[test]
fn exec_runs_several_claims_of_one_task_in_turn_and_leaves_none_queued() {
    // Three on-time slots of one task in one tick (kit-tick ran late):
    // one kit-run takes them in turn. Three kit-runs at once raced for the
    // oldest slot, and the loser's overlap skip left a claim queued.
    let kit = Kit::new();
    kit.tasks(EVERY_MINUTE);
    kit.tick().args(["--now", "2025-06-02T09:57:05Z"]).ok();
    kit.run().args(["m", "--now", "2025-06-02T09:57:06Z"]).ok();
    for _ in 0..5 {
        let out = kit
            .tool("kit-tick")
            .args(["--exec", "--no-heal", "--now", "2025-06-02T10:00:05Z"])
            .ok();
        assert!(out.stderr.is_empty(), "{}", out.stderr);
    }
    wait_for(std::time::Duration::from_secs(20), "the three runs", || {
        kit.count("task = 'm' AND status = 'success'") == 4
    });
    assert_eq!(kit.count("task = 'm' AND status = 'queued'"), 0);
    assert_eq!(kit.count("task = 'm' AND status = 'skipped'"), 0);
}
