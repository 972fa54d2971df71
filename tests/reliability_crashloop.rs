//! Crash loop: a daemon that exits the moment it starts, under the real
//! kit-keep for 20 seconds of real time, with kit-heal delivering
//! notifications every second through a recording notify command.
//!
//! The bound: with `crashloop = { failures = F, within = W }` and
//! `quarantine = Q`, the first F starts fill the crash window (all within W:
//! the backoff between them is milliseconds), then each quarantine ends in
//! one trial start that fails at once. So after T seconds the daemon has
//! been started at most F + ⌊T / Q⌋ times. Here F = 4, Q = 3 s, T ≈ 20 s:
//! at most 10 starts (an unsupervised restart loop would make thousands).
//! With the defaults (F = 5, W = 2 min, Q = 15 min), 10 minutes of it make
//! 5 starts.
//!
//! The episode is one `crashloop` event that notifies (each failed trial
//! is recorded, quietly, under the same episode), delivered exactly once;
//! fixing the command with `kit-ctl apply` starts it at once, it stays up,
//! and the episode ends with one `recovered` event, delivered once.
//! tests/keep.rs shows a single quarantine and trial; this runs the loop
//! long enough to see the bound and repeated kit-heal passes.

mod keep_util;
mod reliability_util;
mod support;

use keep_util::*;
use reliability_util::*;
use std::time::{Duration, Instant};
use support::*;

const FAILURES: usize = 4;
const QUARANTINE: Duration = Duration::from_secs(3);
const RUN_FOR: Duration = Duration::from_secs(20);

fn tasks(notify: &str, command: &str) -> String {
    format!(
        r#"
[settings]
notify = "{notify}"

[[task]]
name = "bridge"
schedule = "@daemon"
command = "{command}"
restart_delay = "50ms"
restart_max_delay = "200ms"
crashloop = {{ failures = {FAILURES}, within = "30s" }}
quarantine = "3s"
stable_after = "1s"
"#
    )
}

/// Deliveries the notify command saw, as "kind task" lines.
fn deliveries(log: &std::path::Path, task: &str) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.ends_with(&format!(" {task}")))
        .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest).to_string())
        .collect()
}

fn heal(kit: &Kit) {
    let out = kit.heal().run();
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(out.code, 0, "kit-heal: {}", out.stderr);
}

#[test]
fn a_daemon_exiting_at_once_for_20s_is_started_boundedly_notified_once_and_recovers_when_fixed() {
    let kit = Kit::new();
    let log = kit.path("deliveries.log");
    let script = kit.file(
        "notify.sh",
        "#!/bin/sh\nprintf '%s %s %s\\n' \"$KIT_EVENT_ID\" \"$KIT_EVENT\" \"$KIT_TASK\" >> \"$1\"\n",
    );
    let notify = format!("sh {} {}", script.display(), log.display());
    kit.tasks(&tasks(&notify, "echo no token; exit 3"));

    let started = Instant::now();
    let mut keep = start(&kit);
    while started.elapsed() < RUN_FOR {
        std::thread::sleep(Duration::from_secs(1));
        heal(&kit);
    }
    // Observe in a quiet moment: quarantined, the last trial settled.
    wait_for(LONG, "quarantined", || {
        daemon_state(&kit, "bridge") == "quarantined"
            && rows(&kit, "bridge").iter().all(|r| r.status != "running")
    });
    let elapsed = started.elapsed();
    let r = rows(&kit, "bridge");
    let bound = FAILURES + (elapsed.as_secs_f64() / QUARANTINE.as_secs_f64()).floor() as usize;
    assert!(
        r.len() <= bound,
        "{} starts in {elapsed:?}; the bound F + T/Q is {bound}",
        r.len()
    );
    assert!(
        r.len() > FAILURES,
        "no trial start after the quarantine in {elapsed:?}: {r:?}"
    );
    assert!(
        r.iter()
            .all(|r| r.status == "failed" && r.exit_code == Some(3)),
        "{r:?}"
    );
    eprintln!("{} starts in {elapsed:?} (bound {bound})", r.len());

    // One episode: one notifying event, and one quiet event per failed trial.
    let c = kit.conn();
    let mut s = c
        .prepare(
            "SELECT notify, dedupe_key FROM supervisor_events
             WHERE kind = 'crashloop' AND task = 'bridge' ORDER BY id",
        )
        .unwrap();
    let events: Vec<(i64, String)> = s
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(events[0].0, 1, "{events:?}");
    let episode = events[0].1.clone();
    assert_eq!(events.iter().filter(|e| e.0 == 1).count(), 1, "{events:?}");
    let trials = r.len() - FAILURES;
    assert_eq!(events.len(), 1 + trials, "{events:?}");
    assert!(
        events[1..]
            .iter()
            .all(|e| e.1.starts_with(&format!("{episode}:trial:"))),
        "{events:?}"
    );
    heal(&kit);
    assert_eq!(deliveries(&log, "bridge"), ["crashloop bridge"]);

    // Fixed: started at once, stays up, and the episode ends.
    // A unique argument to find it by: `sleep 1000.<test pid>`.
    let marker = format!("1000.{}", std::process::id());
    kit.tasks(&tasks(&notify, &format!("exec sleep {marker}")));
    let pid = wait_running(&kit, "bridge");
    wait_for(LONG, "the recovered event", || {
        kit.scalar::<i64>(
            "SELECT count(*) FROM supervisor_events WHERE kind = 'recovered' AND task = 'bridge'",
        ) == 1
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(running_pid(&kit, "bridge"), Some(pid));
    assert!(pid_alive(pid));
    assert_eq!(processes_with_arg(&marker), [pid]);
    let open: i64 =
        kit.scalar("SELECT count(*) FROM supervisor_state WHERE key = 'kit-keep.crashloop.bridge'");
    assert_eq!(open, 0, "the episode is still open");
    let recovered_key: String = kit.scalar(
        "SELECT dedupe_key FROM supervisor_events WHERE kind = 'recovered' AND task = 'bridge'",
    );
    assert_eq!(recovered_key, format!("{episode}:recovered"));
    heal(&kit);
    heal(&kit);
    assert_eq!(
        deliveries(&log, "bridge"),
        ["crashloop bridge", "recovered bridge"]
    );

    assert_eq!(keep.term(), 0);
    assert!(processes_with_arg(&marker).is_empty());
    assert_db_valid(&kit, "after the crash loop");
}
