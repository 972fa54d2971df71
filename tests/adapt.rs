//! Adaptive schedules (issue 18) through the real binaries, with time
//! injected: adaptation on a run's result, overrides, pauses and one-shot
//! runs, rate limits across triggers, and who/why on every change.

mod support;
use support::*;

/// The `scheduled_for` (HH:MM) of a task's rows with `status`, in order.
fn slots(kit: &Kit, task: &str, status: &str) -> Vec<String> {
    let c = kit.conn();
    let mut s = c
        .prepare(
            "SELECT substr(scheduled_for, 12, 5) FROM supervisor_executions
             WHERE task = ?1 AND status = ?2 AND scheduled_for IS NOT NULL ORDER BY scheduled_for",
        )
        .unwrap();
    s.query_map([task, status], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// Ticks at `time` (UTC, seconds 03) and runs what it claimed, at `time` + 2s.
fn tick_and_run(kit: &mut Kit, date: &str, hm: &str) {
    kit.at(&format!("{date}T{hm}:03Z"));
    let claimed = kit.tick().arg("--json").ok();
    kit.at(&format!("{date}T{hm}:05Z"));
    for line in claimed.stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let name = v["name"].as_str().unwrap().to_string();
        let id = v["id"].as_i64().unwrap();
        // kit-run takes the exact claim from the tick's JSON line.
        kit.run()
            .arg("-")
            .stdin(&format!("{{\"name\":\"{name}\",\"id\":{id}}}\n"))
            .run();
    }
}

fn every(step_min: u32, from_h: u32, to_h: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut m = from_h * 60;
    while m <= to_h * 60 {
        out.push(format!("{:02}:{:02}", m / 60, m % 60));
        m += step_min;
    }
    out
}

#[test]
fn the_security_scan_adapts_on_exit_10_extends_on_each_match_and_reverts_after_6h() {
    let mut kit = Kit::new();
    let flag = kit.path("anomaly");
    kit.tasks(&format!(
        r#"
[[task]]
name = "security-scan"
schedule = "0 8,12,16,20 * * *"
command = "if [ -f {flag} ]; then echo 'ANOMALY: port 22'; exit 10; fi; echo clean"
success_exit = [0, 10]
[[task.adapt]]
when = "exit:10"
schedule = "*/15 * * * *"
for = "6h"
"#,
        flag = flag.display()
    ));
    std::fs::write(&flag, "").unwrap();
    let day = "2026-03-02";
    // 08:00 finds an anomaly; so do the adapted runs until 09:00; then clean.
    for hm in every(15, 8, 23) {
        if hm == "09:15" {
            std::fs::remove_file(&flag).unwrap();
        }
        tick_and_run(&mut kit, day, &hm);
    }
    // Adapted from the 08:00 run; the last match (09:00, finished 09:00:05)
    // holds the pace until 15:00:05; the base schedule then runs 16:00, 20:00.
    let mut expected = every(15, 8, 15);
    expected.extend(["16:00".to_string(), "20:00".to_string()]);
    assert_eq!(slots(&kit, "security-scan", "success"), expected);
    // Exit 10 is a success: recorded with its code, not counted by recovery.
    assert_eq!(
        kit.count("task = 'security-scan' AND exit_code = 10 AND status = 'success'"),
        5
    );
    assert_eq!(
        kit.count("task = 'security-scan' AND status <> 'success'"),
        0
    );
    let streak: i64 = kit.scalar(
        "SELECT coalesce((SELECT streak FROM supervisor_recovery WHERE task = 'security-scan'), 0)",
    );
    assert_eq!(streak, 0);
    // One adaptation, extended by each match, ended on its own.
    let (matches, ends): (i64, String) = kit
        .conn()
        .query_row(
            "SELECT matches, ends_at FROM supervisor_overrides WHERE kind = 'adapt'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    // finished_at = start + the run's measured duration (a few ms).
    assert_eq!(matches, 5);
    assert!(ends.starts_with("2026-03-02T15:00:05."), "{ends}");
    // Two switches, each an event naming the rule and the run.
    let c = kit.conn();
    let mut s = c
        .prepare(
            "SELECT message FROM supervisor_events WHERE kind = 'schedule_changed' ORDER BY id",
        )
        .unwrap();
    let msgs: Vec<String> = s
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(
        msgs[0].contains("adapted to \"*/15 * * * *\"") && msgs[0].contains("exit:10"),
        "{}",
        msgs[0]
    );
    assert!(msgs[0].contains("execution #1"), "{}", msgs[0]);
    assert!(msgs[1].contains("back to its base schedule"), "{}", msgs[1]);
    // Not notified unless settings ask.
    assert_eq!(
        kit.scalar::<i64>(
            "SELECT count(*) FROM supervisor_events WHERE kind = 'schedule_changed' AND notify = 1"
        ),
        0
    );
}

#[test]
fn an_output_rule_adapts_and_status_failed_adapts() {
    let mut kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "watch"
schedule = "0 * * * *"
command = "echo 'found 3 anomalies'"
[[task.adapt]]
when = "output:anomal(y|ies)"
schedule = "*/30 * * * *"
for = "1h"

[[task]]
name = "flaky"
schedule = "0 * * * *"
command = "exit 3"
[[task.adapt]]
when = "status:failed"
schedule = "*/20 * * * *"
for = "30m"
"#,
    );
    for hm in every(10, 10, 12) {
        tick_and_run(&mut kit, "2026-03-02", &hm);
    }
    // Each run matches again, so both stay adapted.
    assert_eq!(
        slots(&kit, "watch", "success"),
        ["10:00", "10:30", "11:00", "11:30", "12:00"]
    );
    assert_eq!(
        slots(&kit, "flaky", "failed"),
        ["10:00", "10:20", "10:40", "11:00", "11:20", "11:40", "12:00"]
    );
}

#[test]
fn overrides_pauses_and_one_shot_runs_survive_a_kill_9_of_kit_tick_and_expire_on_time() {
    let mut kit = Kit::new();
    let out = kit.path("poster.out");
    kit.tasks(&format!(
        r#"
[[task]]
name = "poster"
schedule = "0 * * * *"
command = "echo \"$KIT_TRIGGER data=$KIT_EVENT_DATA\" >> {out}"

[[task]]
name = "digest"
schedule = "*/10 * * * *"
command = "true"
"#,
        out = out.display()
    ));
    kit.at("2026-03-02T10:05:00Z");
    kit.ctl()
        .args([
            "override",
            "poster",
            "--schedule",
            "*/20 * * * *",
            "--for",
            "1h",
        ])
        .args(["--reason", "launch day"])
        .ok()
        .stdout_has("override set");
    kit.ctl()
        .args(["pause", "digest", "--for", "30m", "--reason", "maintenance"])
        .ok();
    kit.ctl()
        .args(["at", "10:50", "poster", "--data", "post #7"])
        .ok();
    // A kit-tick killed with SIGKILL mid-way changes nothing: the
    // changes are rows, and the next tick honours them.
    kit.at("2026-03-02T10:05:03Z");
    let mut child = kit.tick().spawn();
    let _ = child.kill();
    let _ = child.wait();
    for hm in every(5, 10, 12).into_iter().skip(1) {
        tick_and_run(&mut kit, "2026-03-02", &hm);
    }
    // The override's pace until 11:05, then the base schedule again.
    assert_eq!(
        slots(&kit, "poster", "success"),
        ["10:20", "10:40", "11:00", "12:00"]
    );
    // The one-shot run ran once, at 10:50, with its data.
    assert_eq!(kit.count("task = 'poster' AND trigger = 'at'"), 1);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("at data=post #7"), "{text}");
    assert_eq!(text.lines().count(), 5, "{text}");
    // The paused slots are skipped with who and why; then it runs again.
    assert_eq!(
        slots(&kit, "digest", "skipped"),
        ["10:10", "10:20", "10:30"]
    );
    let why: String = kit.scalar(
        "SELECT reason FROM supervisor_executions WHERE task = 'digest' AND status = 'skipped' LIMIT 1",
    );
    assert!(
        why.contains("paused by cli") && why.contains("maintenance"),
        "{why}"
    );
    assert_eq!(slots(&kit, "digest", "success")[0], "10:40");
    // Both ended on their own, and said so.
    assert_eq!(
        kit.scalar::<i64>(
            "SELECT count(*) FROM supervisor_events WHERE kind = 'override' AND message LIKE '%ended%'"
        ),
        2
    );
}

#[test]
fn rate_limits_hold_across_scheduled_adapted_overridden_and_one_shot_runs() {
    let mut kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "hot"
schedule = "*/5 * * * *"
command = "exit 7"
rate_limit = "3/30m"
[[task.adapt]]
when = "exit:7"
schedule = "* * * * *"
for = "1h"
"#,
    );
    let day = "2026-03-02";
    // 10:00 (scheduled) fails with 7: adapted to every minute.
    tick_and_run(&mut kit, day, "10:00");
    kit.at("2026-03-02T10:00:30Z");
    kit.ctl().args(["at", "+2m", "hot"]).ok();
    for m in 1..=9 {
        tick_and_run(&mut kit, day, &format!("10:{m:02}"));
    }
    // Three runs in 30 minutes, whatever asked for them.
    assert_eq!(
        kit.count("task = 'hot' AND status NOT IN ('skipped','missed') AND trigger <> 'retry'"),
        3
    );
    assert_eq!(
        kit.count("task = 'hot' AND status = 'skipped' AND trigger = 'at'"),
        1
    );
    let refused = kit
        .count("task = 'hot' AND status = 'skipped' AND reason LIKE 'rate_limit 3/30m reached%'");
    assert_eq!(refused, 10 - 3 + 1, "the at run is one of them");
    // An override cannot get past it either.
    kit.at("2026-03-02T10:09:30Z");
    kit.ctl()
        .args([
            "override",
            "hot",
            "--schedule",
            "*/2 * * * *",
            "--for",
            "1h",
            "--reason",
            "test",
        ])
        .ok();
    tick_and_run(&mut kit, day, "10:10");
    assert_eq!(
        kit.count("task = 'hot' AND scheduled_for LIKE '%T10:10%' AND status = 'skipped'"),
        1
    );
    // Refusals are announced as rate_limited, not flagged as an overlap
    // skip streak.
    let st = kit.ctl().args(["status", "--json"]).run().stdout;
    assert!(!st.contains("were skipped"), "{st}");
    // One rate_limited event per window, not one per refusal.
    assert_eq!(
        kit.scalar::<i64>("SELECT count(*) FROM supervisor_events WHERE kind = 'rate_limited'"),
        1
    );
    // A run asked for by name counts but is not refused.
    kit.at("2026-03-02T10:11:00Z");
    kit.run().arg("hot").run().code(7);
    assert_eq!(
        kit.count("task = 'hot' AND trigger = 'manual' AND status = 'failed'"),
        1
    );
}

#[test]
fn changes_record_who_set_them_and_must_end() {
    let mut kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "self-pacer"
schedule = "0 * * * *"
command = "kit-ctl pause self-pacer --for 2h --reason 'nothing to do today'"
"#,
    );
    kit.at("2026-03-02T10:00:00Z");
    kit.ctl()
        .args(["pause", "self-pacer", "--for", "8d", "--reason", "x"])
        .run()
        .fails()
        .stderr_has("at most 7d");
    kit.ctl()
        .args(["override", "self-pacer", "--schedule", "* * * * *"])
        .run()
        .fails()
        .stderr_has("--for");
    kit.ctl()
        .args([
            "override",
            "self-pacer",
            "--schedule",
            "* * * * *",
            "--for",
            "1h",
        ])
        .run()
        .fails()
        .stderr_has("--reason");
    kit.ctl()
        .args([
            "pause",
            "self-pacer",
            "--until",
            "2026-03-20T00:00:00Z",
            "--reason",
            "x",
        ])
        .run()
        .fails()
        .stderr_has("at most 7d");
    // The task pauses itself: recorded as task:<its execution id>.
    let bin = bin_dir();
    kit.run()
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .arg("self-pacer")
        .run()
        .ok();
    let by: String = kit.scalar("SELECT set_by FROM supervisor_overrides WHERE kind = 'pause'");
    assert_eq!(by, "task:1");
    kit.ctl()
        .args(["resume", "self-pacer"])
        .ok()
        .stdout_has("cleared");
    let cleared: String =
        kit.scalar("SELECT cleared_by FROM supervisor_overrides WHERE kind = 'pause'");
    assert_eq!(cleared, "cli");
}

#[test]
fn bad_adaptive_fields_are_refused_naming_the_field() {
    let kit = Kit::new();
    kit.kdb().arg("init").ok();
    for (body, field) in [
        ("rate_limit = \"0/1h\"", "rate_limit"),
        ("success_exit = [0, 300]", "success_exit"),
        (
            "[[task.adapt]]\nwhen = \"exit:10\"\nschedule = \"*/15 * * * *\"\nfor = \"30d\"",
            "adapt[0].for",
        ),
        (
            "[[task.adapt]]\nwhen = \"cpu:90\"\nschedule = \"*/15 * * * *\"\nfor = \"1h\"",
            "when",
        ),
        (
            "[[task.adapt]]\nwhen = \"exit:1\"\nschedule = \"@daemon\"\nfor = \"1h\"",
            "adapt[0].schedule",
        ),
    ] {
        let f = kit.file(
            "bad.toml",
            &format!(
                "[[task]]\nname = \"t\"\nschedule = \"@hourly\"\ncommand = \"true\"\n{body}\n"
            ),
        );
        kit.ctl()
            .arg("apply")
            .arg(&f)
            .run()
            .fails()
            .stderr_has(field);
    }
    assert_eq!(
        kit.scalar::<i64>("SELECT count(*) FROM supervisor_tasks"),
        0
    );
}

const SCAN: &str = r#"
[[task]]
name = "security-scan"
schedule = "0 8,12,16,20 * * *"
command = "echo ANOMALY; exit 10"
success_exit = [0, 10]
rate_limit = "12/1h"
[[task.adapt]]
when = "exit:10"
schedule = "*/15 * * * *"
for = "6h"
"#;

#[test]
fn an_adapted_task_is_visible_in_list_show_next_why_status_and_metrics() {
    let mut kit = Kit::new();
    kit.tasks(SCAN);
    tick_and_run(&mut kit, "2026-03-02", "08:00");
    kit.at("2026-03-02T08:07:00Z");
    let list = kit.ctl().arg("list").ok().stdout;
    assert!(
        list.contains("*/15 * * * * adapted until 2026-03-02 14:00:05 UTC"),
        "{list}"
    );
    assert!(list.contains("2026-03-02 08:15 UTC"), "{list}");
    let j = kit.ctl().args(["list", "--json"]).ok().json();
    assert_eq!(j[0]["in_force"]["source"], "adapt");
    assert_eq!(j[0]["next"], "2026-03-02T08:15:00.000Z");
    kit.ctl()
        .args(["show", "security-scan"])
        .ok()
        .stdout_has("in force:   adapted by rule 0 (exit:10) to \"*/15 * * * *\" until 2026-03-02T14:00:05.")
        .stdout_has("matched by execution #1");
    let next = kit
        .ctl()
        .args(["next", "security-scan", "--count", "2"])
        .ok();
    assert_eq!(next.lines().len(), 2);
    assert!(
        next.lines()[0].starts_with("2026-03-02T08:15:00+00:00  adapted by rule 0"),
        "{}",
        next.stdout
    );
    let why = kit.ctl().args(["why", "security-scan"]).ok();
    let text = why.stdout.replace('\n', " ");
    // The 08:00 slot was the base schedule's, not the adaptation's.
    assert!(!text.contains("changed pace"), "{text}");
    assert!(text.contains("Now: adapted by rule 0"), "{text}");
    assert!(
        text.contains("returns at 2026-03-02 14:00:05 UTC"),
        "{text}"
    );
    assert!(text.contains("Next run: 2026-03-02 08:15 UTC"), "{text}");
    kit.ctl()
        .arg("status")
        .run()
        .stdout_has("Pace:       security-scan: adapted by rule 0");
    kit.ctl().arg("metrics").ok().stdout_has(
        "kit_schedule_change_active{task=\"security-scan\",kind=\"adapt\",set_by=\"adapt:0\"} 1",
    );
    // A pause and a one-shot run show in next, with who and why.
    kit.ctl()
        .args([
            "pause",
            "security-scan",
            "--for",
            "20m",
            "--reason",
            "vpn down",
        ])
        .ok();
    kit.ctl().args(["at", "09:05", "security-scan"]).ok();
    let next = kit
        .ctl()
        .args(["next", "security-scan", "--count", "5"])
        .ok();
    let lines = next.lines();
    assert!(
        lines[0].starts_with("2026-03-02T08:15:00+00:00  skipped: paused"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("2026-03-02T08:30:00+00:00  adapted"),
        "{lines:?}"
    );
    assert!(
        lines[4].starts_with("2026-03-02T09:05:00+00:00  one-shot run"),
        "{lines:?}"
    );
    let why = kit
        .ctl()
        .args(["why", "security-scan"])
        .ok()
        .stdout
        .replace('\n', " ");
    assert!(
        why.contains("paused (#2) by cli until") && why.contains("vpn down"),
        "{why}"
    );
    assert!(
        why.contains("Next run: 2026-03-02 08:30 UTC (in 23m) (adapt)"),
        "{why}"
    );
}

#[test]
fn export_leaves_runtime_state_out_and_apply_leaves_it_alone_unless_asked() {
    let mut kit = Kit::new();
    kit.tasks(SCAN);
    kit.at("2026-03-02T08:00:00Z");
    kit.ctl()
        .args([
            "override",
            "security-scan",
            "--schedule",
            "*/5 * * * *",
            "--for",
            "1h",
            "--reason",
            "x",
        ])
        .ok();
    kit.ctl().args(["at", "09:00", "security-scan"]).ok();
    let exported = kit.ctl().arg("export").ok().stdout;
    assert!(!exported.contains("*/5"), "{exported}");
    assert!(
        exported.contains("[[task.adapt]]") && exported.contains("rate_limit = \"12/1h\""),
        "{exported}"
    );
    // The export applies back to the same tasks, unchanged.
    let f = kit.file("exported.toml", &exported);
    kit.ctl().arg("apply").arg(&f).ok().stdout_has("0 changed");
    let live = "SELECT count(*) FROM supervisor_overrides WHERE cleared_at IS NULL";
    assert_eq!(kit.scalar::<i64>(live), 2);
    kit.ctl()
        .arg("apply")
        .arg(&f)
        .arg("--clear-overrides")
        .ok()
        .stdout_has("cleared 2");
    assert_eq!(kit.scalar::<i64>(live), 0);
    let by: String = kit.scalar("SELECT DISTINCT cleared_by FROM supervisor_overrides");
    assert_eq!(by, "apply --clear-overrides");
}

#[test]
fn why_explains_a_run_by_its_adaptation_and_a_skip_by_its_pause_or_rate_limit() {
    let mut kit = Kit::new();
    kit.tasks(SCAN);
    tick_and_run(&mut kit, "2026-03-02", "08:00");
    tick_and_run(&mut kit, "2026-03-02", "08:15");
    kit.at("2026-03-02T08:16:00Z");
    let why = kit
        .ctl()
        .args(["why", "security-scan"])
        .ok()
        .stdout
        .replace('\n', " ");
    assert!(
        why.contains("That slot (2026-03-02 08:15 UTC) came from a changed pace: adapted by rule 0 (exit:10)"),
        "{why}"
    );
    let j = kit
        .ctl()
        .args(["why", "security-scan", "--json"])
        .ok()
        .json();
    assert_eq!(j["facts"]["last_slot_in_force"]["source"], "adapt");
    assert_eq!(j["facts"]["rate_limit"], "12/1h");
    // A paused slot: why says who paused it and why.
    kit.ctl()
        .args([
            "pause",
            "security-scan",
            "--for",
            "1h",
            "--reason",
            "scanner upgrade",
        ])
        .ok();
    tick_and_run(&mut kit, "2026-03-02", "08:30");
    kit.at("2026-03-02T08:31:00Z");
    let why = kit
        .ctl()
        .args(["why", "security-scan"])
        .ok()
        .stdout
        .replace('\n', " ");
    assert!(why.contains("was skipped: paused by cli until"), "{why}");
    assert!(why.contains("scanner upgrade"), "{why}");
}
