//! examples/prometheus/kit-rules.yml: `promtool check rules` accepts it,
//! `promtool test rules` passes its unit tests (kit-rules.test.yml), and
//! every kit metric the rules use is one `kit-ctl metrics` writes.
//! promtool comes from Debian's prometheus package
//! (scripts/install-test-deps.sh). Without it the test says SKIPPED, except
//! in CI (CI=true), where a missing promtool fails it.

mod support;

use std::path::PathBuf;
use std::process::Command;
use support::*;

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// promtool's path, or None (after saying so) when it is not installed
/// and this is not CI.
fn promtool() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            !in_ci(),
            "promtool is not installed, and CI must check the alert rules: \
             run scripts/install-test-deps.sh (Debian package prometheus)"
        );
        eprintln!(
            "SKIPPED: promtool is not installed (scripts/install-test-deps.sh installs \
             Debian's prometheus package); the alert rules were not checked"
        );
    }
    found
}

fn promtool_run(args: &[&str]) -> (bool, String) {
    let tool = promtool().unwrap();
    let out = Command::new(tool)
        .args(args)
        .current_dir(repo_file("examples/prometheus"))
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn promtool_accepts_the_rules() {
    if promtool().is_none() {
        return;
    }
    let (ok, text) = promtool_run(&["check", "rules", "kit-rules.yml"]);
    assert!(ok, "{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn promtool_unit_tests_of_the_rules_pass() {
    if promtool().is_none() {
        return;
    }
    let (ok, text) = promtool_run(&["test", "rules", "kit-rules.test.yml"]);
    assert!(ok, "{text}");
}

#[test]
fn every_kit_metric_the_rules_use_is_written_by_kit_ctl_metrics() {
    let rules = std::fs::read_to_string(repo_file("examples/prometheus/kit-rules.yml")).unwrap();
    let mut used: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("kit_"))
        .collect();
    used.sort();
    used.dedup();
    assert!(used.len() >= 10, "{used:?}");
    let kit = Kit::new();
    kit.tasks("[[task]]\nname = \"a\"\nschedule = \"@daily\"\ncommand = \"true\"\n");
    let text = kit.ctl().arg("metrics").ok().stdout;
    for m in used {
        assert!(
            text.contains(&format!("# TYPE {m} ")),
            "the rules use {m}, which kit-ctl metrics does not write"
        );
    }
}

/// The value of the unlabelled or singly-labelled sample `name{label}`.
fn value(text: &str, sample: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[test]
fn the_timestamps_the_rules_need_are_absolute_times() {
    let mut kit = Kit::new();
    kit.tasks("[[task]]\nname = \"poll\"\nschedule = \"*/10 * * * *\"\ncommand = \"true\"\n");
    kit.tick().args(["--now", "2025-06-02T10:00:05Z"]).ok();
    // Nothing ticked for an hour: 10:10 .. 10:50 were missed.
    kit.tick().args(["--now", "2025-06-02T11:00:05Z"]).ok();
    kit.at("2025-06-02T11:30:00Z");
    let text = kit.ctl().arg("metrics").ok().stdout;
    let t = |rfc: &str| {
        chrono::DateTime::parse_from_rfc3339(rfc)
            .unwrap()
            .timestamp() as f64
    };
    assert_eq!(
        value(&text, "kit_metrics_generated_timestamp_seconds"),
        Some(t("2025-06-02T11:30:00Z"))
    );
    assert_eq!(
        value(&text, "kit_heartbeat_timestamp_seconds{tool=\"kit-tick\"}"),
        Some(t("2025-06-02T11:00:05Z"))
    );
    assert_eq!(
        value(
            &text,
            "kit_task_last_missed_timestamp_seconds{task=\"poll\"}"
        ),
        Some(t("2025-06-02T10:50:00Z"))
    );
    assert_eq!(
        value(&text, "kit_task_failure_threshold{task=\"poll\"}"),
        Some(3.0)
    );
    assert!(value(&text, "kit_db_size_bytes").unwrap() > 0.0);
    assert!(value(&text, "kit_db_wal_size_bytes").is_some());
}
