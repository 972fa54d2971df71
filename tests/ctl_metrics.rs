//! `kit-ctl metrics`: the Prometheus text exposition, checked with the
//! reference parser (Python's prometheus_client, via scripts/prom-parse.py;
//! scripts/install-prometheus-client.sh installs it when missing).

mod support;

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use support::*;

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Parses exposition text with prometheus_client; None (and a message) when
/// it cannot be installed here.
fn parse(text: &str) -> Option<Value> {
    let run = || {
        use std::io::Write;
        let mut child = Command::new("python3")
            .arg(repo_file("scripts/prom-parse.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        child.wait_with_output().ok()
    };
    let mut out = run()?;
    if out.status.code() == Some(3) {
        let installed = Command::new("sh")
            .arg(repo_file("scripts/install-prometheus-client.sh"))
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            eprintln!(
                "SKIPPED: prometheus_client (PyPI) is not installed and scripts/install-prometheus-client.sh \
                 could not install it; the exposition format was not checked"
            );
            return None;
        }
        out = run()?;
    }
    assert!(
        out.status.success(),
        "the reference parser rejected the metrics:\n{}\n---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn family<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["families"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no family {name} in {v}"))
}

fn sample(v: &Value, family_name: &str, sample_name: &str, labels: &[(&str, &str)]) -> f64 {
    let f = family(v, family_name);
    f["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == sample_name && labels.iter().all(|(k, val)| s["labels"][*k] == *val))
        .unwrap_or_else(|| panic!("no sample {sample_name}{labels:?} in {f}"))["value"]
        .as_f64()
        .unwrap()
}

#[test]
fn metrics_parse_with_the_reference_parser_and_carry_the_numbers() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks(
        r#"
[[task]]
name = "ok"
schedule = "*/5 * * * *"
command = "true"
[[task]]
name = "bad"
schedule = "*/5 * * * *"
command = "exit 5"
[[task]]
name = "relay"
schedule = "@daemon"
command = "sleep 100"
[[task]]
name = "bridge"
schedule = "@daemon"
command = "false"
"#,
    );
    for m in ["00", "05"] {
        kit.at(&format!("2025-06-01T10:{m}:00Z"));
        kit.tick().ok();
        kit.run().args(["ok", "bad"]).run().code(5);
    }
    kit.at("2025-06-01T10:10:00Z");
    kit.tick().ok(); // two slots queued, not run
                     // kit-keep's rows, through its own library: relay is up (this test
                     // process stands in for it), bridge quarantined after 4 restarts.
    let now = kit_db::clock::parse_instant("2025-06-01T10:00:00Z").unwrap();
    let me = std::process::id() as i32;
    let mut relay = kit_db::daemon::DaemonState::new("relay", now);
    relay.state = "running".into();
    relay.pid = Some(me as i64);
    relay.pid_start = kit_db::process::process_start(me).map(|s| s.0 as i64);
    relay.restarts = 2;
    let mut bridge = kit_db::daemon::DaemonState::new("bridge", now);
    bridge.state = "quarantined".into();
    bridge.restarts = 4;
    kit_db::daemon::state::save(&kit.conn(), &relay).unwrap();
    kit_db::daemon::state::save(&kit.conn(), &bridge).unwrap();

    kit.at("2025-06-01T10:10:30Z");
    let text = kit.ctl().arg("metrics").ok().stdout;
    assert!(text.ends_with('\n'));
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "no HELP for {name}"
        );
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "no TYPE for {name}"
        );
    }
    let Some(v) = parse(&text) else { return };
    assert_eq!(v["ends_with_newline"], true);
    assert!(v["families"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| !f["help"].as_str().unwrap().is_empty()));

    assert_eq!(family(&v, "kit_executions")["type"], "counter");
    let ex = |task, status| {
        sample(
            &v,
            "kit_executions",
            "kit_executions_total",
            &[("task", task), ("status", status)],
        )
    };
    assert_eq!(ex("ok", "success"), 2.0);
    assert_eq!(ex("bad", "failed"), 2.0);
    // The success at 10:05 finished a few ms after 10:05:00 UTC.
    let last_ok = sample(
        &v,
        "kit_task_last_success_timestamp_seconds",
        "kit_task_last_success_timestamp_seconds",
        &[("task", "ok")],
    );
    let at = 1748772300.0; // 2025-06-01T10:05:00Z
    assert!((at..at + 5.0).contains(&last_ok), "{last_ok}");
    assert!(
        sample(
            &v,
            "kit_task_last_duration_seconds",
            "kit_task_last_duration_seconds",
            &[("task", "bad")]
        ) >= 0.0
    );
    assert_eq!(
        sample(
            &v,
            "kit_task_failure_streak",
            "kit_task_failure_streak",
            &[("task", "bad")]
        ),
        2.0
    );
    assert_eq!(
        sample(
            &v,
            "kit_task_failure_streak",
            "kit_task_failure_streak",
            &[("task", "ok")]
        ),
        0.0
    );
    assert_eq!(
        sample(&v, "kit_daemon_up", "kit_daemon_up", &[("task", "relay")]),
        1.0
    );
    assert_eq!(
        sample(&v, "kit_daemon_up", "kit_daemon_up", &[("task", "bridge")]),
        0.0
    );
    assert_eq!(sample(&v, "kit_daemons_up", "kit_daemons_up", &[]), 1.0);
    assert_eq!(
        sample(&v, "kit_daemons_total", "kit_daemons_total", &[]),
        2.0
    );
    assert_eq!(family(&v, "kit_daemon_restarts")["type"], "counter");
    assert_eq!(
        sample(
            &v,
            "kit_daemon_restarts",
            "kit_daemon_restarts_total",
            &[("task", "bridge")]
        ),
        4.0
    );
    assert_eq!(
        sample(
            &v,
            "kit_daemon_quarantined",
            "kit_daemon_quarantined",
            &[("task", "bridge")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &v,
            "kit_heartbeat_age_seconds",
            "kit_heartbeat_age_seconds",
            &[("tool", "kit-tick")]
        ),
        30.0
    );
    assert_eq!(sample(&v, "kit_queue_depth", "kit_queue_depth", &[]), 2.0);
}

#[test]
fn metrics_of_an_empty_db_are_valid_too() {
    let kit = Kit::new();
    kit.kdb().arg("init").ok();
    let text = kit.ctl().arg("metrics").ok().stdout;
    let Some(v) = parse(&text) else { return };
    assert_eq!(sample(&v, "kit_queue_depth", "kit_queue_depth", &[]), 0.0);
}
