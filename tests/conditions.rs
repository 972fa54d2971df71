//! Conditions (`when = { command, every, timeout, fire, min_interval }`),
//! end to end through kit-tick (which claims due probes) and the detached
//! `kit-run --probe` it starts, with the clock injected.

mod support;

use std::time::Duration;
use support::{wait_for, Kit};

const LONG: Duration = Duration::from_secs(20);

/// A task that appends to `ran` when it runs, with a condition that is
/// true while the file `flag` exists.
fn setup(kit: &mut Kit, extra: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let flag = kit.path("flag");
    let ran = kit.path("ran");
    kit.at("2026-03-02T10:00:00Z");
    kit.tasks(&format!(
        r#"
[[task]]
name = "defrag"
schedule = "@event"
command = "echo run >> {ran}"
when = {{ command = "test -f {flag}", every = "1m"{extra} }}
"#,
        ran = ran.display(),
        flag = flag.display()
    ));
    (flag, ran)
}

/// Ticks at `at` and waits until the probe it started has answered.
fn tick_and_probe(kit: &mut Kit, at: &str, n: i64) {
    kit.at(at);
    kit.tick().ok();
    wait_for(LONG, &format!("probe #{n} at {at}"), || {
        probe_count(kit) >= n
            && kit
                .scalar::<Option<String>>(
                    "SELECT claimed_at FROM supervisor_probes WHERE task = 'defrag'",
                )
                .is_none()
    });
}

fn probe_count(kit: &Kit) -> i64 {
    kit.scalar("SELECT count(*) FROM supervisor_probe_results WHERE task = 'defrag'")
}

fn decisions(kit: &Kit) -> Vec<String> {
    let c = kit.conn();
    let mut s = c
        .prepare("SELECT decision FROM supervisor_probe_results WHERE task = 'defrag' ORDER BY id")
        .unwrap();
    s.query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn wait_runs(kit: &Kit, n: i64) {
    wait_for(LONG, &format!("{n} condition runs finished"), || {
        kit.count("task = 'defrag' AND trigger = 'condition' AND status = 'success'") >= n
    });
}

#[test]
fn edge_condition_fires_once_when_the_probe_turns_true_and_never_while_false() {
    let mut kit = Kit::new();
    let (flag, ran) = setup(&mut kit, "");
    tick_and_probe(&mut kit, "2026-03-02T10:00:30Z", 1);
    assert_eq!(kit.count("task = 'defrag'"), 0, "false: no run");
    std::fs::write(&flag, "").unwrap();
    tick_and_probe(&mut kit, "2026-03-02T10:01:30Z", 2);
    wait_runs(&kit, 1);
    // Still true: an edge condition does not fire again.
    tick_and_probe(&mut kit, "2026-03-02T10:02:30Z", 3);
    assert_eq!(decisions(&kit), ["not_true", "fired", "no_edge"]);
    assert_eq!(kit.count("task = 'defrag'"), 1);
    assert_eq!(std::fs::read_to_string(&ran).unwrap(), "run\n");
    // The run went through the trigger machinery, with the probe's facts.
    let detail: String = kit.scalar(
        "SELECT detail FROM supervisor_triggers WHERE task = 'defrag' AND source = 'condition'",
    );
    assert!(detail.contains("\"probe_exit\":0"), "{detail}");
    // False, then true again: a new edge.
    std::fs::remove_file(&flag).unwrap();
    tick_and_probe(&mut kit, "2026-03-02T10:03:30Z", 4);
    std::fs::write(&flag, "").unwrap();
    tick_and_probe(&mut kit, "2026-03-02T10:04:30Z", 5);
    wait_runs(&kit, 2);
    assert_eq!(
        decisions(&kit),
        ["not_true", "fired", "no_edge", "not_true", "fired"]
    );
    assert_eq!(kit.count("task = 'defrag'"), 2);
}

#[test]
fn probe_results_stay_out_of_history_and_show_in_probes_show_why_next_list_and_metrics() {
    let mut kit = Kit::new();
    let (flag, _) = setup(&mut kit, "");
    tick_and_probe(&mut kit, "2026-03-02T10:00:30Z", 1);
    std::fs::write(&flag, "").unwrap();
    tick_and_probe(&mut kit, "2026-03-02T10:01:30Z", 2);
    wait_runs(&kit, 1);
    kit.at("2026-03-02T10:01:40Z");
    // history lists the one run, not the two probes.
    let h = kit.ctl().args(["history", "defrag", "--json"]).ok().json();
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0]["trigger"], "condition");
    let p = kit.ctl().args(["probes", "defrag", "--json"]).ok().json();
    assert_eq!(p["results"].as_array().unwrap().len(), 2);
    assert_eq!(p["results"][0]["result"], "true");
    assert_eq!(p["results"][0]["decision"], "fired");
    assert_eq!(
        p["condition"]["state"]["next_due"],
        "2026-03-02T10:02:00.000Z"
    );
    kit.ctl()
        .args(["probes"])
        .ok()
        .stdout_has("defrag")
        .stdout_has("2026-03-02 10:02");
    kit.ctl()
        .args(["show", "defrag"])
        .ok()
        .stdout_has("condition:  runs when `test -f")
        .stdout_has("next probe at 2026-03-02 10:02");
    let why = kit.ctl().args(["why", "defrag"]).ok();
    assert!(
        why.stdout.contains("last probe") && why.stdout.contains("true"),
        "{}",
        why.stdout
    );
    kit.ctl()
        .args(["next", "defrag", "--count", "1"])
        .ok()
        .stdout_has("2026-03-02T10:02:00+00:00 (condition probe)");
    kit.ctl().args(["list"]).ok().stdout_has("+condition");
    kit.ctl()
        .args(["metrics"])
        .ok()
        .stdout_has("kit_condition_true{task=\"defrag\"} 1")
        .stdout_has("kit_condition_fired_total{task=\"defrag\"} 1");
}

#[test]
fn level_condition_fires_while_true_but_not_within_min_interval() {
    let mut kit = Kit::new();
    let (flag, _) = setup(&mut kit, ", fire = \"level\", min_interval = \"3m\"");
    std::fs::write(&flag, "").unwrap();
    for (i, at) in ["10:00:30", "10:01:30", "10:02:30", "10:03:30"]
        .iter()
        .enumerate()
    {
        tick_and_probe(&mut kit, &format!("2026-03-02T{at}Z"), i as i64 + 1);
    }
    wait_runs(&kit, 2);
    assert_eq!(
        decisions(&kit),
        ["fired", "min_interval", "min_interval", "fired"]
    );
    assert_eq!(kit.count("task = 'defrag'"), 2);
}

#[test]
fn a_failing_probe_is_notified_at_once_flagged_by_status_and_why_and_recovers() {
    let mut kit = Kit::new();
    let script = kit.file("probe.sh", "echo disk gone >&2; exit 3\n");
    kit.at("2026-03-02T10:00:00Z");
    kit.tasks(&format!(
        r#"
[[task]]
name = "defrag"
schedule = "0 3 1 1 *"
command = "true"
when = {{ command = "sh {}", every = "1m" }}
"#,
        script.display()
    ));
    tick_and_probe(&mut kit, "2026-03-02T10:00:30Z", 1);
    tick_and_probe(&mut kit, "2026-03-02T10:01:30Z", 2);
    // One event for the episode, however many probes fail.
    let ev: i64 = kit.scalar(
        "SELECT count(*) FROM supervisor_events WHERE kind = 'probe_failed' AND task = 'defrag'",
    );
    assert_eq!(ev, 1);
    let msg: String =
        kit.scalar("SELECT message FROM supervisor_events WHERE kind = 'probe_failed'");
    assert!(msg.contains("exited 3"), "{msg}");
    assert_eq!(
        kit.count("task = 'defrag'"),
        0,
        "a failure never fires the task"
    );
    assert_eq!(decisions(&kit), ["failed", "failed"]);
    let st = kit.ctl().arg("status").run().code(1);
    assert!(
        st.stdout.contains("its condition probe is failing since"),
        "{}",
        st.stdout
    );
    let why = kit.ctl().args(["why", "defrag", "--json"]).ok().json();
    assert_eq!(why["case"], "probe_failed", "{why}");
    kit.ctl()
        .args(["metrics"])
        .ok()
        .stdout_has("kit_condition_probe_failing{task=\"defrag\"} 1");
    // The probe answers again (false): the episode ends, with an event.
    std::fs::write(&script, "exit 1\n").unwrap();
    tick_and_probe(&mut kit, "2026-03-02T10:02:30Z", 3);
    let failing: Option<String> =
        kit.scalar("SELECT failing_since FROM supervisor_probes WHERE task = 'defrag'");
    assert_eq!(failing, None);
    let back: i64 = kit.scalar(
        "SELECT count(*) FROM supervisor_events WHERE kind = 'info' AND message LIKE '%answers again%'",
    );
    assert_eq!(back, 1);
    kit.ctl().arg("status").ok();
}

#[test]
fn a_probe_past_its_timeout_is_a_failure() {
    let mut kit = Kit::new();
    kit.at("2026-03-02T10:00:00Z");
    kit.tasks(
        r#"
[[task]]
name = "defrag"
schedule = "0 3 1 1 *"
command = "true"
when = { command = "sleep 30", every = "1m", timeout = "500ms" }
"#,
    );
    tick_and_probe(&mut kit, "2026-03-02T10:00:30Z", 1);
    let err: String = kit.scalar("SELECT last_error FROM supervisor_probes WHERE task = 'defrag'");
    assert!(err.contains("timed out after 500ms"), "{err}");
    assert_eq!(decisions(&kit), ["failed"]);
}

#[test]
fn a_disabled_task_is_not_probed_and_a_probe_is_claimed_once_per_due_time() {
    let mut kit = Kit::new();
    let (_flag, _) = setup(&mut kit, "");
    kit.ctl().args(["disable", "defrag"]).ok();
    kit.at("2026-03-02T10:00:30Z");
    kit.tick().ok();
    let due: String = kit.scalar("SELECT next_due FROM supervisor_probes WHERE task = 'defrag'");
    assert_eq!(
        due, "2026-03-02T10:00:00.000Z",
        "not claimed while disabled"
    );
    kit.ctl().args(["enable", "defrag"]).ok();
    tick_and_probe(&mut kit, "2026-03-02T10:00:40Z", 1);
    // The same minute again: nothing is due, nothing is claimed.
    kit.tick().ok();
    let due: String = kit.scalar("SELECT next_due FROM supervisor_probes WHERE task = 'defrag'");
    assert_eq!(due, "2026-03-02T10:01:00.000Z");
    let claimed: Option<String> =
        kit.scalar("SELECT claimed_at FROM supervisor_probes WHERE task = 'defrag'");
    assert_eq!(claimed, None, "the second tick claimed nothing");
}

#[test]
fn apply_rejects_bad_conditions_naming_the_field() {
    let kit = Kit::new();
    let bad = |when: &str, needle: &str| {
        let f = kit.file(
            "bad.toml",
            &format!("[[task]]\nname = \"x\"\nschedule = \"@daily\"\ncommand = \"true\"\nwhen = {when}\n"),
        );
        kit.ctl()
            .arg("apply")
            .arg(&f)
            .run()
            .fails()
            .stderr_has(needle);
    };
    bad("{ command = \"true\", every = \"10s\" }", "when.every");
    bad("{ command = \"true\", every = \"soon\" }", "every");
    bad("{ command = \"\" }", "when.command");
    bad(
        "{ command = \"true\", every = \"1m\", timeout = \"5m\" }",
        "when.timeout",
    );
    bad("{ command = \"true\", fire = \"sometimes\" }", "fire");
    assert!(!kit.db.exists() || kit.scalar::<i64>("SELECT count(*) FROM supervisor_tasks") == 0);
}

#[test]
fn one_tick_probes_every_due_condition_side_by_side_and_records_each() {
    let mut kit = Kit::new();
    kit.at("2026-03-02T10:00:00Z");
    let mut toml = String::new();
    for i in 0..12 {
        // Half true, half false; one slow probe does not hold the others up.
        let probe = if i == 0 {
            "sleep 1; exit 1"
        } else if i % 2 == 0 {
            "exit 0"
        } else {
            "exit 1"
        };
        toml.push_str(&format!(
            "[[task]]\nname = \"c{i:02}\"\nschedule = \"0 3 1 1 *\"\ncommand = \"true\"\n\
             when = {{ command = \"{probe}\", every = \"1m\" }}\n\n"
        ));
    }
    kit.tasks(&toml);
    kit.at("2026-03-02T10:00:30Z");
    kit.tick().ok();
    wait_for(LONG, "12 probe results", || {
        kit.scalar::<i64>("SELECT count(*) FROM supervisor_probe_results") == 12
    });
    wait_for(LONG, "5 condition runs", || {
        kit.count("trigger = 'condition' AND status = 'success'") == 5
    });
    let fired: i64 =
        kit.scalar("SELECT count(*) FROM supervisor_probe_results WHERE decision = 'fired'");
    assert_eq!(fired, 5);
}

#[test]
fn a_broken_probe_runs_the_tasks_recovery_actions_then_escalates() {
    // A probe failure has no execution, but it counts toward recovery:
    // after failure_threshold failed probes, the task's actions run (one
    // round per cooldown) and, rounds spent, the episode escalates.
    let mut kit = Kit::new();
    let script = kit.file("probe.sh", "exit 3\n");
    let fixed = kit.path("fixed");
    kit.at("2026-03-02T10:00:00Z");
    kit.tasks(&format!(
        r#"
[[task]]
name = "defrag"
schedule = "0 3 1 1 *"
command = "true"
when = {{ command = "sh {}", every = "1m" }}
[task.recovery]
failure_threshold = 2
max_attempts = 1
cooldown = "1m"
actions = ["exec:touch {}"]
escalate = "disable"
"#,
        script.display(),
        fixed.display()
    ));
    let heal = |kit: &Kit, at: &str| kit.heal().env("KIT_NOW", at).ok();
    tick_and_probe(&mut kit, "2026-03-02T10:00:30Z", 1);
    heal(&kit, "2026-03-02T10:00:40Z");
    assert!(!fixed.exists(), "one failure is under the threshold");
    tick_and_probe(&mut kit, "2026-03-02T10:01:30Z", 2);
    heal(&kit, "2026-03-02T10:01:40Z");
    wait_for(LONG, "the recovery action", || fixed.exists());
    let msg: String = kit.scalar(
        "SELECT message FROM supervisor_events WHERE kind = 'recovering' AND task = 'defrag'",
    );
    assert!(
        msg.contains("probe failed 2 times in a row: recovery round 1 of 1"),
        "{msg}"
    );
    // Within the cooldown: nothing more.
    heal(&kit, "2026-03-02T10:02:00Z");
    assert_eq!(
        kit.scalar::<i64>("SELECT count(*) FROM supervisor_events WHERE kind = 'escalated'"),
        0
    );
    // The probe still fails after the one round: escalated, task disabled.
    tick_and_probe(&mut kit, "2026-03-02T10:02:30Z", 3);
    heal(&kit, "2026-03-02T10:02:50Z");
    let (sev, msg): (String, String) = kit
        .conn()
        .query_row(
            "SELECT severity, message FROM supervisor_events WHERE kind = 'escalated'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(sev, "critical");
    assert!(msg.contains("the task is now disabled"), "{msg}");
    assert_eq!(
        kit.scalar::<i64>("SELECT enabled FROM supervisor_tasks WHERE name = 'defrag'"),
        0
    );
}

#[test]
fn a_probe_whose_runner_died_is_recorded_failed_at_the_next_claim() {
    // What a kill -9 of `kit-run --probe` leaves: a claim that never
    // answers. While it could still be running (its timeout and a minute)
    // the next due time passes over it; after that it is a probe failure,
    // notified like any other, and a new probe is claimed.
    let mut kit = Kit::new();
    kit.at("2026-03-02T10:00:00Z");
    kit.tasks(
        r#"
[[task]]
name = "defrag"
schedule = "0 3 1 1 *"
command = "true"
when = { command = "exit 1", every = "1m", timeout = "30s" }
"#,
    );
    tick_and_probe(&mut kit, "2026-03-02T10:00:30Z", 1);
    kit.conn()
        .execute_batch(
            "UPDATE supervisor_probes SET claimed_at = '2026-03-02T10:01:30.000Z',
                    next_due = '2026-03-02T10:02:30.000Z' WHERE task = 'defrag'",
        )
        .unwrap();
    // 10:02:30: an open claim a minute old may still answer: passed over.
    kit.at("2026-03-02T10:02:30Z");
    kit.tick().ok();
    assert_eq!(probe_count(&kit), 1);
    // 10:03:30: two minutes open, past its 30 s timeout and the minute.
    tick_and_probe(&mut kit, "2026-03-02T10:03:30Z", 3);
    let (result, error): (String, String) = kit
        .conn()
        .query_row(
            "SELECT result, error FROM supervisor_probe_results WHERE task = 'defrag' ORDER BY id LIMIT 1 OFFSET 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(result, "failed");
    assert!(
        error.contains("claimed at 2026-03-02T10:01:30.000Z never answered"),
        "{error}"
    );
    assert_eq!(
        kit.scalar::<i64>("SELECT count(*) FROM supervisor_events WHERE kind = 'probe_failed'"),
        1
    );
    // The new probe answered (false): the episode is over.
    assert_eq!(decisions(&kit).last().map(String::as_str), Some("not_true"));
}
