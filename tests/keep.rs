//! kit-keep end to end: the real kit-keep supervising real processes.
//! Delays are configured small (tens of milliseconds) so each behaviour
//! shows in a second or two; waits are conditions with deadlines.

mod keep_util;
mod support;

use keep_util::*;
use std::time::{Duration, Instant};
use support::{pid_alive, wait_for, Kit};

#[test]
fn crashed_daemon_is_restarted_at_once_and_both_runs_are_recorded() {
    let kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "phone"
schedule = "@daemon"
command = "echo phone line up; exec sleep 1000"
"#,
    );
    let keep = start(&kit);
    let first = wait_running(&kit, "phone");
    assert_eq!(instances(&kit, "phone"), 1);
    // The heartbeat names this kit-keep.
    let beat: i64 = kit.scalar("SELECT pid FROM supervisor_heartbeats WHERE tool = 'kit-keep'");
    assert_eq!(beat, i64::from(keep.pid()));

    let killed_at = Instant::now();
    // SAFETY: plain kill of the daemon.
    unsafe { libc::kill(first, libc::SIGKILL) };
    let mut second = 0;
    wait_for(LONG, "a new phone process", || {
        daemon_processes(&kit.db, Some("phone")).iter().any(|&p| {
            second = p;
            p != first
        })
    });
    let took = killed_at.elapsed();
    assert_eq!(wait_running(&kit, "phone"), second);
    assert_eq!(instances(&kit, "phone"), 1);
    wait_for(LONG, "the exit recorded", || {
        rows(&kit, "phone").len() == 2 && rows(&kit, "phone")[0].status != "running"
    });
    let r = rows(&kit, "phone");
    assert!(r.iter().all(|r| r.trigger == "daemon"));
    assert_eq!(r[0].status, "killed");
    assert_eq!(r[0].signal, Some(9));
    assert_eq!(r[0].exit_code, Some(137));
    assert_eq!(r[0].child_pid, Some(i64::from(first)));
    let reason = r[0].reason.clone().unwrap();
    assert!(
        reason.contains("killed by signal 9 (SIGKILL)") && reason.contains("restarting at once"),
        "{reason}"
    );
    // The last lines of output come from the log.
    assert_eq!(r[0].output.as_deref(), Some(&b"phone line up\n"[..]));
    assert_eq!(r[1].status, "running");
    assert_eq!(r[1].child_pid, Some(i64::from(second)));
    assert_eq!(r[1].pid, Some(i64::from(keep.pid())));
    // Not a timed benchmark (scripts/bench-keep is), just far from a poll.
    assert!(took < Duration::from_secs(2), "restart took {took:?}");
    let restarts: i64 = kit.scalar("SELECT restarts FROM supervisor_daemons WHERE task = 'phone'");
    assert_eq!(restarts, 1);
}

fn instances(kit: &Kit, task: &str) -> usize {
    daemon_processes(&kit.db, Some(task)).len()
}

#[test]
fn backoff_doubles_after_repeated_crashes_and_resets_after_a_stable_run() {
    let kit = Kit::new();
    let count = kit.path("count");
    // Starts 1-4 and 6-7 fail at once; start 5 stays up past stable_after.
    kit.tasks(&format!(
        r#"
[[task]]
name = "flaky"
schedule = "@daemon"
command = """
n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}
echo run $n
if [ $n -eq 5 ]; then sleep 1.3; fi
if [ $n -ge 8 ]; then exec sleep 1000; fi
exit 1
"""
restart_delay = "50ms"
restart_max_delay = "150ms"
stable_after = "1s"
crashloop = {{ failures = 50, within = "1m" }}
"#,
        c = count.display()
    ));
    let _keep = start(&kit);
    wait_for(Duration::from_secs(20), "eight starts", || {
        rows(&kit, "flaky").len() >= 8
    });
    let r = rows(&kit, "flaky");
    let delays: Vec<f64> = r[..7]
        .iter()
        .map(|r| {
            announced_delay_ms(r.reason.as_deref().unwrap()).unwrap_or_else(|| panic!("{r:?}"))
        })
        .collect();
    // at once, then 50 -> 100 -> 150 (capped), each ±10% jitter.
    assert_eq!(delays[0], 0.0, "{delays:?}");
    assert!((44.0..=56.0).contains(&delays[1]), "{delays:?}");
    assert!((89.0..=111.0).contains(&delays[2]), "{delays:?}");
    assert!((134.0..=150.0).contains(&delays[3]), "{delays:?}");
    // Run 5 lasted longer than stable_after: the backoff starts over.
    assert_eq!(delays[4], 0.0, "{delays:?}");
    assert!((44.0..=56.0).contains(&delays[5]), "{delays:?}");
    assert!((89.0..=111.0).contains(&delays[6]), "{delays:?}");
    // And the waits really happened: each start follows the previous exit
    // by at least the announced delay.
    for i in 1..7 {
        let exit = parse_ts(r[i].finished_at.as_deref().unwrap());
        let next = parse_ts(r[i + 1].started_at.as_deref().unwrap());
        let gap = (next - exit).num_milliseconds() as f64;
        assert!(
            gap + 2.0 >= delays[i],
            "start {} came {gap}ms after the exit, announced {}",
            i + 2,
            delays[i]
        );
    }
}

#[test]
fn crash_loop_is_quarantined_with_one_event_then_a_trial_and_recovers_when_fixed() {
    let kit = Kit::new();
    let daemon = |cmd: &str| {
        format!(
            r#"
[[task]]
name = "bridge"
schedule = "@daemon"
command = "{cmd}"
restart_delay = "20ms"
crashloop = {{ failures = 3, within = "1m" }}
quarantine = "1500ms"
stable_after = "500ms"
"#
        )
    };
    kit.tasks(&daemon("echo no token; exit 2"));
    let keep = start(&kit);
    wait_for(LONG, "quarantine", || {
        daemon_state(&kit, "bridge") == "quarantined"
    });
    let quarantined_at = Instant::now();
    let r = rows(&kit, "bridge");
    assert_eq!(r.len(), 3);
    assert!(
        r[2].reason
            .as_deref()
            .unwrap()
            .contains("crash loop: 3 failures within 1m"),
        "{r:?}"
    );
    let until: Option<String> =
        kit.scalar("SELECT quarantined_until FROM supervisor_daemons WHERE task = 'bridge'");
    assert!(until.is_some());
    let ev = |notify: i64| -> i64 {
        kit.scalar(&format!(
            "SELECT count(*) FROM supervisor_events WHERE kind = 'crashloop' AND task = 'bridge' AND notify = {notify}"
        ))
    };
    assert_eq!(ev(1), 1);
    // Nothing runs during the quarantine...
    std::thread::sleep(Duration::from_millis(700));
    if quarantined_at.elapsed() < Duration::from_millis(1400) {
        assert_eq!(
            rows(&kit, "bridge").len(),
            3,
            "started during the quarantine"
        );
    }
    // ...then one trial start, which fails and goes straight back.
    wait_for(LONG, "the trial", || rows(&kit, "bridge").len() == 4);
    wait_for(LONG, "quarantined again", || {
        daemon_state(&kit, "bridge") == "quarantined" && rows(&kit, "bridge")[3].status != "running"
    });
    assert!(quarantined_at.elapsed() >= Duration::from_millis(1400));
    let r = rows(&kit, "bridge");
    assert!(
        r[3].reason
            .as_deref()
            .unwrap()
            .contains("trial start after a quarantine failed"),
        "{r:?}"
    );
    // Still one notification for the episode; the failed trial is on record.
    assert_eq!(ev(1), 1);
    assert_eq!(ev(0), 1);
    // Fixing the command starts it at once; a stable run ends the episode.
    kit.tasks(&daemon("exec sleep 1000"));
    let pid = wait_running(&kit, "bridge");
    assert!(pid_alive(pid));
    wait_for(LONG, "the recovered event", || {
        kit.scalar::<i64>(
            "SELECT count(*) FROM supervisor_events WHERE kind = 'recovered' AND task = 'bridge'",
        ) == 1
    });
    assert!(keep.stderr().contains("quarantined"));
}

#[test]
fn graceful_stop_signals_each_group_then_kills_a_term_ignoring_daemon() {
    let kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "stubborn"
schedule = "@daemon"
command = "trap '' TERM; echo ignoring TERM; while :; do sleep 0.05; done"
stop_timeout = "700ms"

[[task]]
name = "polite"
schedule = "@daemon"
command = ["sleep", "1000"]
"#,
    );
    let mut keep = start(&kit);
    wait_running(&kit, "stubborn");
    wait_running(&kit, "polite");
    let t0 = Instant::now();
    assert_eq!(keep.term(), 0, "{}", keep.stderr());
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(650),
        "SIGKILL came early: {took:?}"
    );
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert!(
        daemon_processes(&kit.db, None).is_empty(),
        "daemons survived the stop"
    );
    let s = rows(&kit, "stubborn");
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].status, "killed");
    assert_eq!(s[0].signal, Some(9));
    let reason = s[0].reason.as_deref().unwrap();
    assert!(
        reason.contains("shutting down") && reason.contains("was killed (SIGKILL)"),
        "{reason}"
    );
    let p = rows(&kit, "polite");
    assert_eq!((p[0].status.as_str(), p[0].signal), ("killed", Some(15)));
    assert_eq!(daemon_state(&kit, "stubborn"), "stopped");
    assert_eq!(daemon_state(&kit, "polite"), "stopped");
    assert!(keep.stderr().contains("every daemon stopped"));
}

#[test]
fn second_kit_keep_on_the_same_db_is_refused() {
    let kit = Kit::new();
    kit.tasks("[[task]]\nname = \"a\"\nschedule = \"@daemon\"\ncommand = \"exec sleep 1000\"\n");
    let _keep = start_with(&kit, &["--json-log"]);
    let pid = wait_running(&kit, "a");
    kit.tool("kit-keep")
        .run()
        .fails()
        .stderr_has("another kit-keep")
        .stderr_has("is already running for");
    // The first one and its daemon are untouched.
    assert_eq!(wait_running(&kit, "a"), pid);
    assert_eq!(daemon_processes(&kit.db, Some("a")).len(), 1);
    // --json-log: every stderr line is a JSON object with an event.
    let err = _keep.stderr();
    for line in err.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["event"].is_string() && v["time"].is_string(), "{line}");
    }
    assert!(err.contains("\"event\":\"started\""), "{err}");
}

#[test]
fn missing_command_is_recorded_as_error_and_retried_under_backoff() {
    let kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "ghost"
schedule = "@daemon"
command = ["/nonexistent/kit-test-prog", "--serve"]
restart_delay = "100ms"
crashloop = { failures = 50, within = "1m" }
"#,
    );
    let keep = start(&kit);
    wait_for(LONG, "three attempts", || rows(&kit, "ghost").len() >= 3);
    let r = rows(&kit, "ghost");
    for row in &r[..3] {
        assert_eq!(row.status, "error");
        assert_eq!(row.exit_code, Some(127));
        assert!(
            row.reason.as_deref().unwrap().contains("command not found"),
            "{row:?}"
        );
    }
    // Never at once: each retry waits at least restart_delay (jittered).
    let d: Vec<f64> = r[..3]
        .iter()
        .map(|r| announced_delay_ms(r.reason.as_deref().unwrap()).unwrap())
        .collect();
    assert!(d.iter().all(|&x| x >= 89.0), "{d:?}");
    assert!(d[2] > d[1], "{d:?}");
    assert!(matches!(
        daemon_state(&kit, "ghost").as_str(),
        "error" | "running"
    ));
    assert!(pid_alive(keep.pid()), "kit-keep died");
}

#[test]
fn kit_heal_is_started_periodically_with_the_injected_clock() {
    let kit = Kit::new();
    kit.tasks("[[task]]\nname = \"a\"\nschedule = \"@daemon\"\ncommand = \"exec sleep 1000\"\n");
    let _keep = start_with(
        &kit,
        &["--heal-every", "500ms", "--now", "2030-01-02T03:04:05Z"],
    );
    wait_running(&kit, "a");
    // kit-heal leaves its own heartbeat, at the time kit-keep passed on.
    wait_for(LONG, "kit-heal's heartbeat", || {
        kit.conn()
            .query_row(
                "SELECT beat_at FROM supervisor_heartbeats WHERE tool = 'kit-heal'",
                [],
                |r| r.get::<_, String>(0),
            )
            .is_ok_and(|t| t.starts_with("2030-01-02T03:04"))
    });
    // kit-keep's own records follow the injected clock too.
    let started: String =
        kit.scalar("SELECT started_at FROM supervisor_executions WHERE task = 'a'");
    assert!(started.starts_with("2030-01-02T03:04"), "{started}");
}

#[test]
fn quarantine_survives_a_restart_of_kit_keep() {
    let kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "loop"
schedule = "@daemon"
command = "exit 1"
restart_delay = "20ms"
crashloop = { failures = 2, within = "1m" }
quarantine = "2500ms"
"#,
    );
    let mut keep = start(&kit);
    wait_for(LONG, "quarantine", || {
        daemon_state(&kit, "loop") == "quarantined"
    });
    let quarantined_at = Instant::now();
    assert_eq!(keep.term(), 0);
    assert_eq!(daemon_state(&kit, "loop"), "quarantined");
    let n = rows(&kit, "loop").len();
    let _keep2 = start(&kit);
    std::thread::sleep(Duration::from_millis(500));
    if quarantined_at.elapsed() < Duration::from_millis(2400) {
        assert_eq!(rows(&kit, "loop").len(), n, "started during the quarantine");
        assert_eq!(daemon_state(&kit, "loop"), "quarantined");
    }
    // The trial comes when the quarantine recorded by the first kit-keep ends.
    wait_for(LONG, "the trial", || rows(&kit, "loop").len() > n);
    assert!(quarantined_at.elapsed() >= Duration::from_millis(2300));
}

#[test]
fn a_killed_kit_runs_grandchild_is_stopped_by_kit_keep_within_seconds() {
    // PDEATHSIG takes kit-run's direct child with it, not the child's own
    // children (and macOS has no PDEATHSIG): resident kit-keep stops what
    // the dead run left in its process group, and kit-heal records it lost.
    let kit = Kit::new();
    let marker = format!("kit-orphan-{}", std::process::id());
    kit.tasks(&format!(
        "[[task]]\nname = \"t\"\nschedule = \"@daily\"\ncommand = \"sh -c 'sleep 1000; : {marker}' & wait\"\n"
    ));
    let keep = start(&kit);
    let mut run = kit.run().arg("t").spawn();
    let grandchild = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                // The inner shell: "sh -c 'sleep 1000; : MARKER'".
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    c.starts_with(b"sh\0-c\0sleep")
                        && c.windows(marker.len()).any(|w| w == marker.as_bytes())
                })
            })
            .collect::<Vec<i32>>()
    };
    wait_for(LONG, "the grandchild to start", || grandchild().len() == 1);
    run.kill().unwrap();
    run.wait().unwrap();
    let killed_at = Instant::now();
    wait_for(
        Duration::from_secs(20),
        "kit-keep to stop the grandchild",
        || grandchild().is_empty(),
    );
    assert!(
        killed_at.elapsed() < Duration::from_secs(10),
        "took {:?}",
        killed_at.elapsed()
    );
    wait_for(Duration::from_secs(20), "the run recorded lost", || {
        kit.statuses("t") == vec!["lost"]
    });
    assert!(keep
        .stderr()
        .contains("its kit-run is gone; stopped what it left running"));
}
