//! kit-run: every exit path with its status and exit code, output capture
//! and its cap, process-group control, overlap, retries, reconciliation.

mod support;
use std::time::{Duration, Instant};
use support::*;

fn one(kit: &Kit, body: &str) {
    kit.tasks(&format!(
        "[[task]]\nname = \"t\"\nschedule = \"@daily\"\n{body}\n"
    ));
}

fn row(kit: &Kit, id_sql: &str) -> (String, Option<i64>, Option<String>) {
    kit.conn()
        .query_row(
            &format!(
                "SELECT status, exit_code, reason FROM supervisor_executions WHERE id = ({id_sql})"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

const LAST: &str = "SELECT max(id) FROM supervisor_executions";

#[test]
fn exit_codes_follow_shell_conventions_and_each_status_is_recorded() {
    let kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "ok"
schedule = "@daily"
command = "exit 0"
[[task]]
name = "fails"
schedule = "@daily"
command = "exit 3"
[[task]]
name = "signalled"
schedule = "@daily"
command = "kill -USR1 $$"
[[task]]
name = "missing"
schedule = "@daily"
command = ["no-such-command-kit-test"]
[[task]]
name = "not-exec"
schedule = "@daily"
command = ["/etc/hostname"]
[[task]]
name = "bad-cwd"
schedule = "@daily"
command = ["true"]
cwd = "/nonexistent/dir"
"#,
    );
    let cases = [
        ("ok", 0, "success"),
        ("fails", 3, "failed"),
        ("signalled", 128 + 10, "killed"),
        ("missing", 127, "error"),
        ("not-exec", 126, "error"),
        ("bad-cwd", 125, "error"),
    ];
    for (name, code, status) in cases {
        let out = kit.run().arg(name).run();
        assert_eq!(out.code, code, "{name}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"));
        let (s, exit, reason) = row(&kit, LAST);
        assert_eq!(s, status, "{name}");
        assert_eq!(exit, Some(code as i64), "{name}");
        if status != "success" {
            assert!(reason.is_some(), "{name} records why");
        }
    }
    let (_, _, why) = row(
        &kit,
        "SELECT id FROM supervisor_executions WHERE task = 'missing'",
    );
    assert!(why.unwrap().contains("no-such-command-kit-test"));
    let (_, _, why) = row(
        &kit,
        "SELECT id FROM supervisor_executions WHERE task = 'bad-cwd'",
    );
    assert!(why.unwrap().contains("/nonexistent/dir"));
}

#[test]
fn several_names_run_in_order_and_report_the_first_failure() {
    let kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "a"
schedule = "@daily"
command = "true"
[[task]]
name = "b"
schedule = "@daily"
command = "exit 4"
[[task]]
name = "c"
schedule = "@daily"
command = "exit 5"
"#,
    );
    kit.run().args(["a", "b", "c"]).run().code(4);
    assert_eq!(
        kit.scalar::<String>("SELECT group_concat(task, '') FROM supervisor_executions"),
        "abc"
    );
    // Shell chaining behaves: the second command does not run after a failure.
    let script = format!("{0} b && {0} a", bin("kit-run").display());
    let before = kit.count("1");
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .env("KIT_DB", &kit.db)
        .env("KIT_HOME", &kit.home)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(kit.count("1"), before + 1);
}

#[test]
fn a_timeout_stops_the_whole_group_including_a_term_ignoring_grandchild() {
    let kit = Kit::new();
    let pidfile = kit.path("grandchild.pid");
    one(&kit, &format!(
        "command = \"sh -c 'trap \\\"\\\" TERM; echo $$ > {}; sleep 1000' & wait\"\ntimeout = \"300ms\"\nkill_grace = \"300ms\"",
        pidfile.display()
    ));
    let started = Instant::now();
    kit.run().arg("t").run().code(124);
    assert!(started.elapsed() < Duration::from_secs(10));
    let (status, code, reason) = row(&kit, LAST);
    assert_eq!((status.as_str(), code), ("timeout", Some(124)));
    assert!(
        reason.unwrap().contains("SIGKILL"),
        "the grace ran out, so SIGKILL was needed"
    );
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for(Duration::from_secs(5), "the grandchild to be gone", || {
        !pid_alive(pid)
    });
}

#[test]
fn output_is_captured_interleaved_and_capped_keeping_head_and_tail() {
    let kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "mix"
schedule = "@daily"
command = "echo out1; echo err1 >&2; echo out2"

[[task]]
name = "big"
schedule = "@daily"
command = "echo HEAD; head -c 50000000 /dev/zero | tr '\\0' x; echo; echo TAIL"
output_cap = "64KiB"
"#,
    );
    kit.run().arg("mix").ok();
    let out = kit.ctl().args(["output", "1"]).run();
    // kit-ctl output may not exist yet in this build; read the row directly too.
    let bytes: Vec<u8> = kit.scalar("SELECT output FROM supervisor_executions WHERE task = 'mix'");
    assert_eq!(bytes, b"out1\nerr1\nout2\n");
    if out.code == 0 {
        assert_eq!(out.stdout, "out1\nerr1\nout2\n");
    }
    kit.run().arg("big").ok();
    let (bytes, total, dropped): (Vec<u8>, i64, i64) = kit
        .conn()
        .query_row(
            "SELECT output, output_bytes, output_dropped FROM supervisor_executions WHERE task = 'big'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(total, 5 + 50_000_000 + 1 + 5);
    assert_eq!(dropped, total - 65536);
    assert!(bytes.starts_with(b"HEAD\nxxx"));
    assert!(bytes.ends_with(b"xxx\nTAIL\n"));
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains(&format!("[kit: {dropped} bytes dropped]")));
    assert!(bytes.len() < 65536 + 100);
}

#[test]
fn sigterm_to_kit_run_is_forwarded_and_recorded_as_killed() {
    let kit = Kit::new();
    one(
        &kit,
        "command = \"echo started; sleep 1000\"\nkill_grace = \"2s\"",
    );
    let child = kit.run().arg("t").spawn();
    wait_for(Duration::from_secs(10), "the run to start", || {
        kit.count("status = 'running' AND child_pid IS NOT NULL") == 1
    });
    let task_pid: i32 = kit.scalar("SELECT child_pid FROM supervisor_executions");
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(128 + 15));
    let (status, _, reason) = row(&kit, LAST);
    assert_eq!(status, "killed");
    assert!(reason.unwrap().contains("SIGTERM"));
    assert!(!pid_alive(task_pid));
}

#[test]
fn a_killed_kit_run_is_reconciled_to_lost_by_the_next_tool() {
    let kit = Kit::new();
    one(&kit, "command = \"sleep 1000\"\noverlap = \"allow\"");
    let mut child = kit.run().arg("t").spawn();
    wait_for(Duration::from_secs(10), "the run to start", || {
        kit.count("status = 'running' AND child_pid IS NOT NULL") == 1
    });
    let task_pid: i32 = kit.scalar("SELECT child_pid FROM supervisor_executions");
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    // The next kit-tick notices the dead recorder.
    kit.tick().args(["--now", "2025-06-02T10:00:00Z"]).ok();
    let (status, _, reason) = row(&kit, "SELECT min(id) FROM supervisor_executions");
    assert_eq!(status, "lost");
    assert!(reason.unwrap().contains("died"));
    wait_for(
        Duration::from_secs(5),
        "the orphaned command to be stopped",
        || !pid_alive(task_pid),
    );
    assert_eq!(kit.count("status = 'running'"), 0);
}

#[test]
fn overlap_skip_records_a_skipped_row_and_exits_zero() {
    let kit = Kit::new();
    let flag = kit.path("go");
    one(
        &kit,
        &format!(
            "command = \"while [ ! -e '{}' ]; do sleep 0.05; done\"",
            flag.display()
        ),
    );
    let first = kit.run().arg("t").spawn();
    wait_for(Duration::from_secs(10), "the first run", || {
        kit.count("status = 'running'") == 1
    });
    let out = kit.run().arg("t").run().code(0);
    assert!(out.stderr.contains("skipped"), "{}", out.stderr);
    let (status, _, reason) = row(&kit, LAST);
    assert_eq!(status, "skipped");
    assert!(reason.unwrap().contains("still running"));
    std::fs::write(&flag, "").unwrap();
    assert!(first.wait_with_output().unwrap().status.success());
    assert_eq!(kit.statuses("t"), vec!["success", "skipped"]);
}

#[test]
fn overlap_replace_stops_the_running_one_first() {
    let kit = Kit::new();
    one(
        &kit,
        "command = \"sleep 1000\"\noverlap = \"replace\"\nkill_grace = \"1s\"",
    );
    let first = kit.run().arg("t").spawn();
    wait_for(Duration::from_secs(10), "the first run", || {
        kit.count("status = 'running' AND child_pid IS NOT NULL") == 1
    });
    let second = kit.run().arg("t").spawn();
    let out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(128 + 15));
    wait_for(Duration::from_secs(10), "the second run", || {
        kit.count("status = 'running' AND child_pid IS NOT NULL") == 1
    });
    let (status, _, reason) = row(&kit, "SELECT min(id) FROM supervisor_executions");
    assert_eq!(status, "killed");
    assert!(reason.unwrap().contains("replaced"));
    let pid: i32 =
        kit.scalar("SELECT child_pid FROM supervisor_executions WHERE status = 'running'");
    unsafe { libc::kill(pid, libc::SIGKILL) };
    second.wait_with_output().unwrap();
}

#[test]
fn retries_are_rows_of_their_own_until_an_attempt_succeeds() {
    let kit = Kit::new();
    let counter = kit.path("count");
    one(&kit, &format!(
        "command = \"n=$(cat '{0}' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{0}'; [ $n -ge 3 ]\"\nretries = 5\nretry_delay = \"10ms\"",
        counter.display()
    ));
    kit.run().arg("t").ok();
    let rows: Vec<(String, String, i64, Option<i64>)> = {
        let c = kit.conn();
        let mut s = c
            .prepare(
                "SELECT trigger, status, attempt, retry_of FROM supervisor_executions ORDER BY id",
            )
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    assert_eq!(
        rows,
        vec![
            ("manual".into(), "failed".into(), 1, None),
            ("retry".into(), "failed".into(), 2, Some(1)),
            ("retry".into(), "success".into(), 3, Some(1)),
        ]
    );
}

#[test]
fn retries_stop_at_the_limit_and_the_last_attempt_decides() {
    let kit = Kit::new();
    one(
        &kit,
        "command = \"exit 7\"\nretries = 2\nretry_delay = \"1ms\"",
    );
    kit.run().arg("t").run().code(7);
    assert_eq!(kit.statuses("t"), vec!["failed", "failed", "failed"]);
}

#[test]
fn the_task_environment_is_the_documented_base_plus_its_env() {
    let kit = Kit::new();
    one(
        &kit,
        "command = \"env | sort\"\ntimezone = \"Asia/Tokyo\"\nenv = { GREETING = \"hi there\" }",
    );
    kit.run().arg("t").env("SECRET_FROM_CALLER", "leak").ok();
    let out: Vec<u8> = kit.scalar("SELECT output FROM supervisor_executions");
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("GREETING=hi there"));
    assert!(out.contains("KIT_TASK=t\n"));
    assert!(out.contains("KIT_TRIGGER=manual\n"));
    assert!(out.contains("TZ=Asia/Tokyo\n"));
    assert!(out.contains("KIT_EXECUTION_ID=1\n"));
    assert!(!out.contains("SECRET_FROM_CALLER"), "{out}");
}

#[test]
fn a_queued_slot_is_taken_before_a_manual_run() {
    let mut kit = Kit::new();
    kit.tasks("[[task]]\nname = \"q\"\nschedule = \"* * * * *\"\ncommand = \"true\"\n");
    kit.at("2025-06-02T10:00:01Z");
    kit.tick().ok();
    kit.run().arg("q").ok();
    kit.run().arg("q").ok();
    let triggers: String =
        kit.scalar("SELECT group_concat(trigger, ',') FROM supervisor_executions");
    assert_eq!(triggers, "schedule,manual");
}

#[test]
fn json_prints_the_finished_record_and_adhoc_wraps_any_command() {
    let kit = Kit::new();
    let out = kit
        .run()
        .args([
            "--json",
            "--name",
            "wrapped",
            "--",
            "sh",
            "-c",
            "echo hi; exit 2",
        ])
        .run()
        .code(2);
    let rec = out.json_lines().pop().unwrap();
    assert_eq!(rec["task"], "wrapped");
    assert_eq!(rec["trigger"], "adhoc");
    assert_eq!(rec["status"], "failed");
    assert_eq!(rec["exit_code"], 2);
    assert_eq!(rec["output"], "hi\n");
    assert!(rec["duration_ms"].as_i64().unwrap() >= 0);
    // The ad-hoc argv is exec'd as is: no shell sees `$(...)`.
    let marker = kit.path("pwned");
    kit.run()
        .args(["--name", "literal", "--", "echo"])
        .arg(format!("$(touch {})", marker.display()))
        .ok();
    assert!(!marker.exists());
}

#[test]
fn an_adhoc_command_keeps_the_callers_environment_but_is_told_its_own_run() {
    let kit = Kit::new();
    // As when a task wraps a step of its own in `kit-run --name`: the
    // caller's KIT_* run variables describe the caller's run, not this one.
    kit.run()
        .args(["--name", "step", "--", "sh", "-c", "env | sort"])
        .env("FROM_CALLER", "kept")
        .env("KIT_EXECUTION_ID", "999")
        .env("KIT_TRIGGER", "schedule")
        .env("KIT_ATTEMPT", "3")
        .ok();
    let out: Vec<u8> = kit.scalar("SELECT output FROM supervisor_executions WHERE id = 1");
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("FROM_CALLER=kept\n"), "{out}");
    assert!(out.contains("KIT_EXECUTION_ID=1\n"), "{out}");
    assert!(out.contains("KIT_TRIGGER=adhoc\n"), "{out}");
    assert!(out.contains("KIT_ATTEMPT=1\n"), "{out}");
    assert!(!out.contains("999"), "{out}");
}

#[test]
fn a_task_env_may_set_the_run_variables_itself() {
    let kit = Kit::new();
    one(
        &kit,
        "command = \"env | sort\"\nenv = { KIT_TRIGGER = \"mine\" }",
    );
    kit.run().arg("t").ok();
    let out: Vec<u8> = kit.scalar("SELECT output FROM supervisor_executions");
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("KIT_TRIGGER=mine\n"), "{out}");
    assert_eq!(out.matches("KIT_TRIGGER=").count(), 1, "{out}");
    assert!(out.contains("KIT_EXECUTION_ID=1\n"), "{out}");
}

#[test]
fn unknown_task_is_a_clear_error() {
    let kit = Kit::new();
    kit.tasks("[[task]]\nname = \"backup\"\nschedule = \"@daily\"\ncommand = \"true\"\n");
    kit.run()
        .arg("backpu")
        .run()
        .fails()
        .stderr_has("no task named \"backpu\"")
        .stderr_has("backup");
}

#[test]
fn nice_and_rlimits_apply_to_the_command() {
    let kit = Kit::new();
    one(&kit, "command = \"nice; ulimit -n; ulimit -t\"\nnice = 7\nlimits = { nofile = 64, cpu = \"2m\" }");
    kit.run().arg("t").ok();
    let out: Vec<u8> = kit.scalar("SELECT output FROM supervisor_executions");
    assert_eq!(String::from_utf8(out).unwrap(), "7\n64\n120\n");
}

#[test]
fn a_failure_starts_kit_heal_for_the_task_unless_told_not_to() {
    let kit = Kit::new();
    one(&kit, "command = \"exit 1\"");
    // The real kit-run (without the helper's --no-heal) starts kit-heal detached.
    kit.tool("kit-run")
        .args(["--now", "2025-06-02T10:00:00Z", "t"])
        .run()
        .code(1);
    wait_for(
        Duration::from_secs(20),
        "kit-heal to record its heartbeat",
        || {
            kit.scalar::<i64>("SELECT count(*) FROM supervisor_heartbeats WHERE tool = 'kit-heal'")
                == 1
        },
    );
}

#[test]
fn jitter_delays_a_scheduled_start_by_a_stable_offset_within_the_bound() {
    // With an injected clock the offset advances the recorded start instead
    // of sleeping; the same task and slot always get the same offset.
    let started = |kit: &mut Kit| -> String {
        kit.tasks("[[task]]\nname = \"j\"\nschedule = \"* * * * *\"\ncommand = \"true\"\njitter = \"50s\"\n");
        kit.at("2025-06-02T10:00:00Z");
        kit.tick().ok();
        kit.run().arg("j").ok();
        kit.scalar("SELECT started_at FROM supervisor_executions WHERE task = 'j'")
    };
    let first = started(&mut Kit::new());
    let again = started(&mut Kit::new());
    assert_eq!(first, again, "stable across runs");
    assert!(
        first.as_str() > "2025-06-02T10:00:00.000Z" && first.as_str() < "2025-06-02T10:00:50.000Z",
        "{first}"
    );
    // A manual run is not delayed.
    let mut kit = Kit::new();
    kit.tasks(
        "[[task]]\nname = \"j\"\nschedule = \"@daily\"\ncommand = \"true\"\njitter = \"50s\"\n",
    );
    kit.at("2025-06-02T10:00:00Z");
    kit.run().arg("j").ok();
    let manual: String = kit.scalar("SELECT started_at FROM supervisor_executions");
    assert_eq!(manual, "2025-06-02T10:00:00.000Z");
}

#[test]
fn a_wait_for_the_db_write_lock_is_not_counted_as_the_commands_run_time() {
    // Another process holds the write lock for a while: kit-run waits for
    // it before the command may start (the row comes first), and that wait
    // must not show as the command's duration nor move its start earlier.
    let kit = Kit::new();
    one(&kit, "command = \"echo quick\"");
    let holder = kit.conn();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let run = kit.run().arg("t").spawn();
    let hold = Duration::from_millis(1500);
    let held_from = Instant::now();
    std::thread::sleep(hold);
    let released = chrono::Utc::now();
    holder.execute_batch("COMMIT").unwrap();
    let out = run.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(held_from.elapsed() >= hold);
    let (duration, started): (i64, String) = kit
        .conn()
        .query_row(
            "SELECT duration_ms, started_at FROM supervisor_executions WHERE task = 't'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(duration < 1000, "the lock wait was counted: {duration} ms");
    let started = chrono::DateTime::parse_from_rfc3339(&started).unwrap();
    let early = released.signed_duration_since(started).num_milliseconds();
    assert!(
        early < 300,
        "started_at is {early} ms before the lock was released"
    );
}

#[test]
fn a_shell_command_that_is_not_found_says_what_the_shell_could_not_find() {
    let kit = Kit::new();
    one(&kit, "command = \"no-such-program-kit-test --flag\"");
    kit.run().arg("t").run().code(127);
    let (status, code, reason) = row(&kit, LAST);
    assert_eq!((status.as_str(), code), ("failed", Some(127)));
    let reason = reason.unwrap();
    assert!(
        reason.starts_with("exited with status 127 (not found: ")
            && reason.contains("no-such-program-kit-test"),
        "{reason}"
    );
}
