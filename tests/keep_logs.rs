//! Daemon logs rotated by size, health checks, and a DB that cannot be
//! written for a while.

mod keep_util;
mod support;

use keep_util::*;
use std::time::Duration;
use support::{pid_alive, wait_for, Kit};

#[test]
fn chatty_daemon_log_is_rotated_by_size_and_bounded() {
    let kit = Kit::new();
    // About 10 KB a second, in 1 KB lines.
    kit.tasks(
        r#"
[[task]]
name = "chatty"
schedule = "@daemon"
command = "while :; do head -c 1000 /dev/zero | tr '\\0' x; echo; sleep 0.1; done"
log_max_size = "4KiB"
log_files = 3
"#,
    );
    let _keep = start(&kit);
    let pid = wait_running(&kit, "chatty");
    let logs = kit.home.join("logs");
    wait_for(Duration::from_secs(15), "two rotations", || {
        logs.join("chatty.log.2").exists()
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !logs.join("chatty.log.3").exists(),
        "more generations than log_files"
    );
    // Bounded: each file at most the limit plus what one second brings.
    for f in ["chatty.log", "chatty.log.1", "chatty.log.2"] {
        let len = std::fs::metadata(logs.join(f)).unwrap().len();
        assert!(len <= 4096 + 16_000, "{f} is {len} bytes");
    }
    // The daemon kept running and writing through the rotations, whole
    // lines land in the current file after the truncation.
    assert_eq!(running_pid(&kit, "chatty"), Some(pid));
    assert!(pid_alive(pid));
    let files = kit_db_files(&kit, "chatty");
    assert_eq!(
        files,
        vec![
            "chatty.log.2".to_string(),
            "chatty.log.1".into(),
            "chatty.log".into()
        ],
        "oldest first"
    );
    let rotated = std::fs::read_to_string(logs.join("chatty.log.1")).unwrap();
    assert!(
        rotated
            .lines()
            .filter(|l| !l.starts_with("[kit-keep]"))
            .all(|l| l.len() == 1000 && l.bytes().all(|b| b == b'x')),
        "torn lines in .1"
    );
    // Private files.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(logs.join("chatty.log.1"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
}

/// `kit_db::daemon::logs::files` (what `kit-ctl logs` reads) in this kit.
fn kit_db_files(kit: &Kit, task: &str) -> Vec<String> {
    kit_db::daemon::logs::files_in(&kit.home.join("logs"), task)
        .into_iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn failing_health_checks_restart_the_daemon_with_the_reason() {
    let kit = Kit::new();
    let flag = kit.file("healthy", "");
    kit.tasks(&format!(
        r#"
[[task]]
name = "web"
schedule = "@daemon"
command = "exec sleep 1000"
health = {{ command = "test -f {f} || {{ echo 'no flag file'; exit 7; }}", every = "150ms", timeout = "2s", failures = 2 }}
"#,
        f = flag.display()
    ));
    let _keep = start(&kit);
    let first = wait_running(&kit, "web");
    // Healthy checks leave it alone.
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(running_pid(&kit, "web"), Some(first));
    assert_eq!(rows(&kit, "web").len(), 1);
    std::fs::remove_file(&flag).unwrap();
    wait_for(LONG, "the health restart", || {
        running_pid(&kit, "web").is_some_and(|p| p != first && pid_alive(p))
    });
    let r = rows(&kit, "web");
    assert_eq!(r[0].status, "failed");
    let reason = r[0].reason.as_deref().unwrap();
    assert!(
        reason.contains("2 consecutive health checks failed")
            && reason.contains("exited with status 7: no flag file"),
        "{reason}"
    );
    assert!(!pid_alive(first));
    std::fs::write(&flag, "").unwrap();
}

#[test]
fn health_check_that_hangs_counts_as_a_failure_after_its_timeout() {
    let kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "hung"
schedule = "@daemon"
command = "exec sleep 1000"
health = { command = "sleep 30", every = "100ms", timeout = "200ms", failures = 1 }
"#,
    );
    let _keep = start(&kit);
    let first = wait_running(&kit, "hung");
    wait_for(LONG, "the health restart", || {
        running_pid(&kit, "hung").is_some_and(|p| p != first)
    });
    let reason = rows(&kit, "hung")[0].reason.clone().unwrap();
    assert!(reason.contains("timed out after 200ms"), "{reason}");
}

#[test]
fn locked_database_delays_the_records_but_never_the_restarts() {
    let kit = Kit::new();
    let starts = kit.path("starts");
    kit.tasks(&format!(
        r#"
[[task]]
name = "crashy"
schedule = "@daemon"
command = "echo $$ >> {s}; sleep 0.2; exit 1"
restart_delay = "50ms"
restart_max_delay = "100ms"
crashloop = {{ failures = 1000, within = "1m" }}
"#,
        s = starts.display()
    ));
    let keep = start(&kit);
    wait_running(&kit, "crashy");
    let lines = || {
        std::fs::read_to_string(&starts)
            .unwrap_or_default()
            .lines()
            .count()
    };
    // Hold the write lock for 2.5 s, as a long `kit-db vacuum` would.
    let conn = kit.conn();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    let before = lines();
    let rows_before = rows(&kit, "crashy").len();
    std::thread::sleep(Duration::from_millis(2500));
    let during = lines() - before;
    assert!(during >= 5, "only {during} starts while the DB was locked");
    assert!(rows(&kit, "crashy").len() <= rows_before + 1);
    conn.execute_batch("COMMIT").unwrap();
    wait_for(LONG, "the report on stderr", || {
        keep.stderr().contains("cannot write to the database")
    });
    // Every start is recorded once the DB is writable again.
    wait_for(LONG, "the records to catch up", || {
        let n = lines();
        let r = rows(&kit, "crashy").len();
        r >= n.saturating_sub(1) && r >= rows_before + during
    });
    wait_for(LONG, "the recovery note", || {
        keep.stderr().contains("writable again")
    });
    assert!(pid_alive(keep.pid()));
}
