//! Chains (`after = [{ task, on }]`) end to end: the follow-up starts at
//! once when the upstream ends as `on` says, sees the upstream, fires once
//! per upstream execution (retries included), and cycles or bad upstreams
//! are refused at apply.

mod support;

use std::time::Duration;
use support::*;

const LONG: Duration = Duration::from_secs(30);

fn chain_file(upstream_cmd: &str, extra: &str) -> String {
    format!(
        r#"
[[task]]
name = "defrag"
schedule = "@event"
command = '{upstream_cmd}'
{extra}

[[task]]
name = "fts-rebuild"
schedule = "@event"
command = 'echo "after $KIT_UPSTREAM_TASK #$KIT_UPSTREAM_ID $KIT_UPSTREAM_STATUS via $KIT_TRIGGER"'
after = [{{ task = "defrag", on = "success" }}]

[[task]]
name = "alert"
schedule = "@event"
command = 'echo "alert $KIT_UPSTREAM_STATUS"'
after = [{{ task = "defrag", on = "failure" }}]

[[task]]
name = "audit"
schedule = "@event"
command = "true"
after = [{{ task = "defrag", on = "finish" }}]
"#
    )
}

#[test]
fn a_successful_upstream_starts_its_success_and_finish_followers_at_once() {
    let kit = Kit::new();
    kit.tasks(&chain_file("true", ""));
    let up = kit
        .ctl()
        .args(["--json", "trigger", "defrag", "--wait"])
        .ok()
        .json();
    let up_id = up["execution_id"].as_i64().unwrap();
    wait_for(LONG, "the followers", || {
        kit.statuses("fts-rebuild") == ["success"] && kit.statuses("audit") == ["success"]
    });
    assert!(
        kit.statuses("alert").is_empty(),
        "on = failure does not fire on success"
    );
    let id: i64 = kit.scalar("SELECT id FROM supervisor_executions WHERE task = 'fts-rebuild'");
    let out = kit.ctl().args(["output", &id.to_string()]).ok().stdout;
    assert_eq!(out, format!("after defrag #{up_id} success via chain\n"));
    // The chain trigger names its upstream.
    let detail: String = kit.scalar(
        "SELECT detail FROM supervisor_triggers WHERE task = 'fts-rebuild' AND source = 'chain'",
    );
    let d: serde_json::Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(d["upstream"], up_id);
    assert_eq!(d["status"], "success");
}

#[test]
fn a_failed_upstream_fires_once_after_its_last_retry_not_per_attempt() {
    let kit = Kit::new();
    kit.tasks(&chain_file("exit 3", "retries = 2\nretry_delay = \"10ms\""));
    kit.ctl()
        .args(["trigger", "defrag", "--wait"])
        .run()
        .code(3);
    wait_for(LONG, "the failure followers", || {
        kit.statuses("alert") == ["success"] && kit.statuses("audit") == ["success"]
    });
    assert_eq!(kit.statuses("defrag"), ["failed", "failed", "failed"]);
    assert!(kit.statuses("fts-rebuild").is_empty());
    let chained: i64 =
        kit.scalar("SELECT count(*) FROM supervisor_triggers WHERE source = 'chain'");
    assert_eq!(
        chained, 2,
        "one per follower, for the run's last attempt only"
    );
}

#[test]
fn an_upstream_killed_hard_is_found_lost_and_fires_its_failure_chains_once() {
    let mut kit = Kit::new();
    let gate = kit.path("started");
    kit.tasks(&chain_file(
        &format!("touch {}; sleep 60", gate.display()),
        "",
    ));
    let mut run = kit.run().arg("defrag").spawn();
    wait_for(LONG, "defrag to run", || gate.exists());
    // kill -9 kit-run: nobody records the end, until the next tick finds it
    // lost, and in the same transaction fires the failure chains.
    run.kill().unwrap();
    run.wait().unwrap();
    kit.at("2099-01-01T00:00:30Z");
    kit.tick().ok();
    assert_eq!(kit.statuses("defrag"), ["lost"]);
    wait_for(LONG, "the chains of a lost run", || {
        kit.statuses("alert") == ["success"] && kit.statuses("audit") == ["success"]
    });
    let id: i64 = kit.scalar("SELECT id FROM supervisor_executions WHERE task = 'alert'");
    assert_eq!(
        kit.ctl().args(["output", &id.to_string()]).ok().stdout,
        "alert lost\n"
    );
    kit.tick().ok();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(kit.count("task = 'alert'"), 1, "fired once");
}

#[test]
fn a_cycle_is_refused_at_apply_naming_it_and_nothing_is_applied() {
    let kit = Kit::new();
    let f = kit.file(
        "cycle.toml",
        r#"
[[task]]
name = "a"
schedule = "@hourly"
command = "true"
after = [{ task = "c" }]

[[task]]
name = "b"
schedule = "@event"
command = "true"
after = [{ task = "a", on = "finish" }]

[[task]]
name = "c"
schedule = "@event"
command = "true"
after = [{ task = "b" }]
"#,
    );
    kit.ctl()
        .arg("apply")
        .arg(&f)
        .run()
        .code(2)
        .stderr_has("chains must not form a cycle: c -> a -> b -> c");
    assert_eq!(
        kit.scalar::<i64>("SELECT count(*) FROM supervisor_tasks"),
        0
    );
}

#[test]
fn an_unknown_or_daemon_upstream_is_refused_at_apply() {
    let kit = Kit::new();
    let f = kit.file(
        "t.toml",
        r#"
[[task]]
name = "b"
schedule = "@event"
command = "true"
after = [{ task = "nosuch" }]
"#,
    );
    kit.ctl()
        .arg("apply")
        .arg(&f)
        .run()
        .code(2)
        .stderr_has("task \"b\": after: no task named \"nosuch\"");
    let f = kit.file(
        "t.toml",
        r#"
[[task]]
name = "relay"
schedule = "@daemon"
command = ["sleep", "100"]

[[task]]
name = "b"
schedule = "@event"
command = "true"
after = [{ task = "relay" }]
"#,
    );
    kit.ctl()
        .arg("apply")
        .arg(&f)
        .run()
        .code(2)
        .stderr_has("\"relay\" is an @daemon");
    let f = kit.file(
        "t.toml",
        r#"
[[task]]
name = "b"
schedule = "@event"
command = "true"
after = [{ task = "x", on = "sometimes" }]
"#,
    );
    kit.ctl()
        .arg("apply")
        .arg(&f)
        .run()
        .code(2)
        .stderr_has("sometimes");
}

#[test]
fn a_chain_to_a_disabled_task_is_recorded_as_refused() {
    let kit = Kit::new();
    kit.tasks(&chain_file("true", ""));
    kit.ctl().args(["disable", "fts-rebuild"]).ok();
    kit.ctl().args(["trigger", "defrag", "--wait"]).ok();
    wait_for(LONG, "audit", || kit.statuses("audit") == ["success"]);
    let (outcome, reason): (String, String) = kit
        .conn()
        .query_row(
            "SELECT outcome, reason FROM supervisor_triggers WHERE task = 'fts-rebuild'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(outcome, "refused");
    assert!(reason.contains("disabled"), "{reason}");
}

#[test]
fn add_declares_a_chain_and_a_debounce_from_the_command_line() {
    let kit = Kit::new();
    kit.ctl()
        .args(["add", "up", "--schedule", "@event", "--", "true"])
        .ok();
    kit.ctl()
        .args([
            "add",
            "down",
            "--schedule",
            "@event",
            "--after",
            "up:finish",
            "--debounce",
            "2s",
            "--",
            "true",
        ])
        .ok();
    let spec: String = kit.scalar("SELECT spec FROM supervisor_tasks WHERE name = 'down'");
    let v: serde_json::Value = serde_json::from_str(&spec).unwrap();
    assert_eq!(
        v["after"],
        serde_json::json!([{ "task": "up", "on": "finish" }])
    );
    assert_eq!(v["debounce"], "2s");
    kit.ctl()
        .args([
            "add",
            "x",
            "--schedule",
            "@event",
            "--after",
            "up:sometimes",
            "--",
            "true",
        ])
        .run()
        .code(2)
        .stderr_has("--after: invalid value \"sometimes\"");
    kit.ctl()
        .args([
            "add",
            "up",
            "--update",
            "--schedule",
            "@event",
            "--after",
            "down",
            "--",
            "true",
        ])
        .run()
        .code(2)
        .stderr_has("up -> down -> up");
}
