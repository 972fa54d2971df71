//! `kit-ctl status`: the summary, its JSON, and its exit code (0 healthy,
//! 1 needs attention), on DBs prepared by apply, kit-tick and kit-run.

mod support;

use support::*;

const TWO: &str = r#"
[settings]
timezone = "UTC"
[[task]]
name = "ok"
schedule = "*/5 * * * *"
command = "true"
[[task]]
name = "off"
schedule = "@hourly"
command = "true"
enabled = false
"#;

#[test]
fn status_is_healthy_and_exits_0_after_ticks_and_successful_runs() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks(TWO);
    kit.tick().ok();
    kit.run().arg("ok").ok();
    kit.at("2025-06-01T10:00:30Z");
    let s = kit.ctl().args(["status", "--json"]).run().code(0).json();
    assert_eq!(s["healthy"], true);
    assert_eq!(s["tasks"]["total"], 2);
    assert_eq!(s["tasks"]["enabled"], 1);
    assert_eq!(s["running"], 0);
    assert_eq!(s["today"]["total"], 1);
    assert_eq!(s["today"]["by_status"]["success"], 1);
    assert_eq!(s["heartbeats"][0]["tool"], "kit-tick");
    assert_eq!(s["heartbeats"][0]["age_seconds"], 30);
    assert_eq!(s["heartbeats"][0]["stale"], false);
    assert_eq!(s["problems"].as_array().unwrap().len(), 0);
}

#[test]
fn status_human_output_is_aligned_and_has_no_colour_when_piped() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks(TWO);
    kit.tick().ok();
    kit.run().arg("ok").ok();
    // Without NO_COLOR too: stdout is a pipe, so no escape codes.
    let mut c = kit.ctl().arg("status");
    c.inner.env_remove("NO_COLOR");
    let out = c.run().code(0);
    assert!(!out.stdout.contains('\x1b'), "{}", out.stdout);
    let lines = out.lines();
    assert_eq!(lines[0], "Tasks:      2 total, 1 enabled");
    assert_eq!(lines[1], "Running:    0");
    assert_eq!(lines[2], "Today:      1 execution (1 success)");
    out.stdout_has("Heartbeats: kit-tick 0s ago");
}

#[test]
fn status_exits_1_when_a_task_is_failing() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"bad\"\nschedule = \"*/5 * * * *\"\ncommand = \"exit 4\"\n");
    kit.tick().ok();
    kit.run().arg("bad").run().code(4);
    kit.ctl()
        .arg("status")
        .run()
        .code(1)
        .stdout_has("Failing:    bad (failed 4, 1 in a row)")
        .stdout_has("! task bad is failing (1 in a row)");
    let s = kit.ctl().args(["status", "--json"]).run().code(1).json();
    assert_eq!(s["healthy"], false);
    assert_eq!(s["failing"][0]["task"], "bad");
    assert_eq!(s["failing"][0]["last_exit_code"], 4);
    assert_eq!(s["today"]["by_status"]["failed"], 1);
    // A success ends it.
    kit.file(
        "fix.toml",
        "[[task]]\nname = \"bad\"\nschedule = \"*/5 * * * *\"\ncommand = \"true\"\n",
    );
    kit.ctl().arg("apply").arg(kit.path("fix.toml")).ok();
    kit.run().arg("bad").ok();
    kit.ctl().arg("status").run().code(0);
}

#[test]
fn status_flags_a_stale_kit_tick_heartbeat_after_3_minutes() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks(TWO);
    kit.tick().ok();
    kit.run().arg("ok").ok();
    kit.at("2025-06-01T10:02:59Z");
    kit.ctl().arg("status").run().code(0);
    kit.at("2025-06-01T10:03:00Z");
    let s = kit.ctl().args(["status", "--json"]).run().code(1).json();
    assert_eq!(s["heartbeats"][0]["stale"], true);
    let msg = s["problems"][0]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("kit-tick is not running: its last heartbeat is 3m old"),
        "{msg}"
    );
}

#[test]
fn status_with_timed_tasks_and_no_tick_ever_needs_attention() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks(TWO);
    kit.ctl()
        .arg("status")
        .run()
        .code(1)
        .stdout_has("kit-tick is not running: it has never run on this database")
        .stdout_has("Heartbeats: kit-tick never");
}

#[test]
fn status_today_is_the_local_day_of_settings_timezone() {
    let mut kit = Kit::new();
    kit.at("2025-01-10T10:00:00Z");
    // Auckland is UTC+13 in January: 10:30Z is 23:30 on the 10th there,
    // 11:30Z is 00:30 on the 11th.
    kit.tasks("[settings]\ntimezone = \"Pacific/Auckland\"\n[[task]]\nname = \"m\"\nschedule = \"@daily\"\ncommand = \"true\"\n");
    kit.at("2025-01-10T10:30:00Z");
    kit.run().arg("m").ok();
    kit.at("2025-01-10T11:30:00Z");
    kit.run().arg("m").ok();
    kit.run().arg("m").ok();
    kit.at("2025-01-10T12:00:00Z");
    kit.tick().ok();
    kit.tool("kit-heal").ok();
    let s = kit.ctl().args(["status", "--json"]).ok().json();
    assert_eq!(s["timezone"], "Pacific/Auckland");
    assert_eq!(s["today"]["from"], "2025-01-10T11:00:00.000Z");
    assert_eq!(s["today"]["until"], "2025-01-11T11:00:00.000Z");
    assert_eq!(s["today"]["by_status"]["success"], 2);
}

#[test]
fn status_flags_missed_slots_for_15_minutes_then_counts_them_as_a_notice() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks(
        "[[task]]\nname = \"h\"\nschedule = \"@hourly\"\ncommand = \"true\"\ncatch_up = \"none\"\n",
    );
    kit.tick().ok();
    kit.run().arg("h").ok();
    kit.at("2025-06-01T13:30:00Z");
    kit.tick().ok();
    // As kit-tick would have started it (kit.tick() leaves it out).
    kit.tool("kit-heal").ok();
    let s = kit.ctl().args(["status", "--json"]).run().code(1).json();
    assert_eq!(s["today"]["missed"], 3);
    let flagged = s["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["message"]
                .as_str()
                .unwrap()
                .starts_with("task h: 3 slots missed in the last 15m")
        })
        .unwrap_or_else(|| panic!("{s}"));
    assert_eq!(flagged["severity"], "attention");
    // A quarter of an hour later (kit-tick and kit-heal still running):
    // still counted, no longer a problem.
    kit.at("2025-06-01T13:46:00Z");
    kit.tick().ok();
    kit.tool("kit-heal").ok();
    let s = kit.ctl().args(["status", "--json"]).run().code(0).json();
    assert_eq!(s["problems"][0]["severity"], "notice", "{s}");
    kit.ctl()
        .arg("status")
        .run()
        .code(0)
        .stdout_has("Missed:     3 slots today");
}

#[test]
fn status_counts_running_executions() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"slow\"\nschedule = \"@hourly\"\ncommand = \"sleep 30\"\n");
    kit.tick().ok();
    let child = kit.run().arg("slow").spawn();
    wait_for(
        std::time::Duration::from_secs(10),
        "the run to start",
        || kit.count("status = 'running' AND child_pid IS NOT NULL") == 1,
    );
    let s = kit.ctl().args(["status", "--json"]).ok().json();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait_with_output();
    assert_eq!(s["running"], 1);
    assert_eq!(s["today"]["by_status"]["running"], 1);
}

#[test]
fn status_shows_undelivered_notifications_and_exits_1() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks(
        "[settings]\nnotify = \"exit 1\"\n[[task]]\nname = \"bad\"\nschedule = \"*/5 * * * *\"\ncommand = \"false\"\n\
         [task.recovery]\nfailure_threshold = 1\n",
    );
    kit.tick().ok();
    kit.run().arg("bad").run().code(1);
    kit.heal().ok();
    let s = kit.ctl().args(["status", "--json"]).run().code(1).json();
    assert!(s["notifications"]["pending"].as_i64().unwrap() >= 1, "{s}");
    assert!(
        s["notifications"]["last_error"]
            .as_str()
            .unwrap()
            .contains("status 1"),
        "{s}"
    );
    kit.ctl()
        .arg("status")
        .run()
        .code(1)
        .stdout_has("undelivered");
}

#[test]
fn status_on_a_missing_db_says_so_and_creates_nothing() {
    let kit = Kit::new();
    kit.ctl()
        .arg("status")
        .run()
        .code(1)
        .fails()
        .stderr_has("no kit database here")
        .stderr_has("kit-db init");
    assert!(!kit.db.exists());
}

#[test]
fn status_on_a_locked_db_names_the_lock_instead_of_hanging() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks(TWO);
    let c = kit.conn();
    c.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; UPDATE supervisor_tasks SET revision = revision;")
        .unwrap();
    let started = std::time::Instant::now();
    kit.ctl()
        .arg("status")
        .run()
        .code(1)
        .fails()
        .stderr_has("locked by another program");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    c.execute_batch("COMMIT").unwrap();
}

#[test]
fn status_rejects_a_malformed_now_naming_accepted_forms() {
    let kit = Kit::new();
    kit.ctl()
        .args(["status", "--now", "yesterday"])
        .run()
        .code(2)
        .fails()
        .stderr_has("--now")
        .stderr_has("accepted forms");
}

/// Runs `kit-ctl ARGS` on a pseudo-terminal (util-linux `script`), with this
/// kit's environment plus `extra`; None when `script` is not installed.
fn on_terminal(kit: &Kit, args: &str, extra: &[(&str, &str)]) -> Option<String> {
    let script = ["/usr/bin/script", "/bin/script"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let mut c = std::process::Command::new(script);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KIT_HOME", &kit.home)
        .env("KIT_DB", &kit.db)
        .env("KIT_NOW", "2025-06-01T10:00:30Z")
        .env("TZ", "UTC")
        .env("TERM", "xterm");
    for (k, v) in extra {
        c.env(k, v);
    }
    let cmd = format!("{} {args}", bin("kit-ctl").display());
    let out = c.args(["-qec", &cmd, "/dev/null"]).output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn status_is_coloured_on_a_terminal_unless_no_color_is_set() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"bad\"\nschedule = \"*/5 * * * *\"\ncommand = \"exit 4\"\n");
    kit.tick().ok();
    kit.run().arg("bad").run().code(4);
    let Some(coloured) = on_terminal(&kit, "status", &[]) else {
        eprintln!(
            "SKIPPED: util-linux `script` is not installed; colour on a terminal not checked"
        );
        return;
    };
    assert!(coloured.contains("\x1b[31mfailed\x1b[0m"), "{coloured:?}");
    let plain = on_terminal(&kit, "status", &[("NO_COLOR", "1")]).unwrap();
    assert!(plain.contains("Failing:    bad (failed 4"), "{plain:?}");
    assert!(!plain.contains('\x1b'), "{plain:?}");
}

#[test]
fn status_flags_a_kit_heal_that_has_not_run_on_a_kit_in_use() {
    // kit-tick starts kit-heal after every tick, piped or --exec; a kit-heal
    // silent for five minutes on a kit in use for as long is not running.
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"h\"\nschedule = \"@hourly\"\ncommand = \"true\"\n");
    kit.tick().ok();
    kit.run().arg("h").ok();
    kit.tool("kit-heal").ok();
    kit.at("2025-06-01T10:04:00Z");
    kit.tick().ok();
    kit.ctl().arg("status").run().code(0);
    kit.at("2025-06-01T10:06:00Z");
    kit.tick().ok();
    kit.ctl()
        .arg("status")
        .run()
        .code(1)
        .stdout_has("kit-heal is not running: its last heartbeat is 6m old");
    kit.tool("kit-heal").ok();
    kit.ctl().arg("status").run().code(0);
}

/// status and kit-heal read "overdue" by the same rules (kit_db::overdue):
/// a run past its timeout, a claimed slot kit-run never took, and a streak
/// of overlap skips each make status exit 1, and the next good run clears it.
#[test]
fn status_flags_a_run_stuck_past_its_timeout() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"slow\"\nschedule = \"@hourly\"\ncommand = \"sleep 1000\"\ntimeout = \"1m\"\nkill_grace = \"5s\"\n");
    kit.tick().ok();
    // kit-run's own timeout is real time, so it cannot fire in this test's
    // simulated minutes: the run stays `running`, as a hung kit-run would.
    let mut child = kit.run().arg("slow").spawn();
    wait_for(
        std::time::Duration::from_secs(10),
        "the run to start",
        || kit.count("status = 'running' AND child_pid IS NOT NULL") == 1,
    );
    kit.tool("kit-heal").ok();
    // 1m timeout + 5s grace + 1m slack: stuck from 10:02:05 on.
    kit.at("2025-06-01T10:02:00Z");
    kit.tick().ok();
    kit.ctl().arg("status").run().code(0);
    kit.at("2025-06-01T10:02:10Z");
    kit.ctl()
        .arg("status")
        .run()
        .code(1)
        .stdout_has("task slow: execution #1 has been running for 2m, past its timeout");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn status_flags_claimed_slots_that_kit_run_never_took() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"h\"\nschedule = \"@hourly\"\ncommand = \"true\"\n");
    kit.tick().args(["--now", "2025-06-01T11:00:00Z"]).ok();
    kit.tool("kit-heal")
        .args(["--now", "2025-06-01T11:00:00Z"])
        .ok();
    kit.at("2025-06-01T11:01:00Z");
    kit.ctl().arg("status").run().code(0);
    kit.at("2025-06-01T11:02:30Z");
    kit.ctl()
        .arg("status")
        .run()
        .code(1)
        .stdout_has("1 claimed slot not started by kit-run within 2m (h;");
}

#[test]
fn status_flags_a_streak_of_overlap_skips_until_a_run_goes_through() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    let flag = kit.path("release");
    kit.tasks(&format!(
        "[[task]]\nname = \"o\"\nschedule = \"* * * * *\"\noverlap = \"skip\"\ncommand = \"while [ ! -e '{}' ]; do sleep 0.05; done\"\n",
        flag.display()
    ));
    kit.tick().ok();
    let first = kit.run().arg("o").spawn();
    wait_for(
        std::time::Duration::from_secs(10),
        "the run to start",
        || kit.count("status = 'running' AND child_pid IS NOT NULL") == 1,
    );
    kit.tool("kit-heal").ok();
    kit.run().arg("o").ok();
    kit.ctl().arg("status").run().code(0);
    kit.run().arg("o").ok();
    kit.ctl()
        .arg("status")
        .run()
        .code(1)
        .stdout_has("task o: its last 2 slots were skipped");
    std::fs::write(&flag, "").unwrap();
    let _ = first.wait_with_output();
    kit.run().arg("o").ok();
    kit.ctl().arg("status").run().code(0);
}

#[test]
fn status_names_a_held_write_lock_instead_of_calling_kit_tick_dead() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks(TWO);
    kit.tick().ok();
    kit.run().arg("ok").ok();
    let holder = kit.conn();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    kit.at("2025-06-01T10:05:00Z");
    let out = kit.ctl().arg("status").run().code(1);
    let text = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.contains("the database is locked for writing"),
        "{text}"
    );
    if cfg!(target_os = "linux") {
        assert!(
            text.contains(&format!("by pid {}", std::process::id())),
            "{text}"
        );
    }
    assert!(
        text.contains("kit-tick has not recorded a heartbeat")
            && !text.contains("kit-tick is not running"),
        "{text}"
    );
    holder.execute_batch("ROLLBACK").unwrap();
    // Without the lock, the stale beat is a dead kit-tick again.
    kit.ctl()
        .arg("status")
        .run()
        .code(1)
        .stdout_has("kit-tick is not running");
}
