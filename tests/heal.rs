//! kit-heal end to end: failures produced by real kit-run runs, heartbeats
//! by real kit-tick runs, time injected with KIT_NOW, and a recording
//! notify script that keeps what each delivery received (stdin and env).

mod support;

use std::path::PathBuf;
use std::time::Duration;
use support::{wait_for, Kit};

const T0: &str = "2025-06-02T10:00:00Z";

/// T0 plus `secs` seconds, as RFC 3339.
fn at(secs: i64) -> String {
    let t0 = chrono::DateTime::parse_from_rfc3339(T0).unwrap();
    (t0 + chrono::Duration::seconds(secs))
        .with_timezone(&chrono::Utc)
        .to_rfc3339()
}
fn min(m: i64) -> String {
    at(m * 60)
}

/// Where the recording notifier writes: one `<event id>.<pid>.json` (what it
/// read on stdin) and `.env` (its KIT_* variables) per delivery.
struct Recorder {
    dir: PathBuf,
    script: PathBuf,
    up: PathBuf,
}

impl Recorder {
    fn new(kit: &Kit) -> Recorder {
        let dir = kit.path("deliveries");
        std::fs::create_dir_all(&dir).unwrap();
        let up = kit.path("notifier-up");
        std::fs::write(&up, "").unwrap();
        let script = kit.file(
            "notify.sh",
            "#!/bin/sh\n\
             # fails while the notifier is \"down\" (no up file)\n\
             test -e \"$2\" || { echo 'notifier down' >&2; exit 1; }\n\
             printf 'KIT_EVENT=%s\\nKIT_TASK=%s\\nKIT_SEVERITY=%s\\n' \"$KIT_EVENT\" \"$KIT_TASK\" \"$KIT_SEVERITY\" > \"$1/$KIT_EVENT_ID.$$.env\"\n\
             cat > \"$1/$KIT_EVENT_ID.$$.tmp\" && mv \"$1/$KIT_EVENT_ID.$$.tmp\" \"$1/$KIT_EVENT_ID.$$.json\"\n",
        );
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        Recorder { dir, script, up }
    }
    fn settings(&self) -> String {
        format!(
            "[settings]\nnotify = \"{} {} {}\"\n",
            self.script.display(),
            self.dir.display(),
            self.up.display()
        )
    }
    fn down(&self) {
        let _ = std::fs::remove_file(&self.up);
    }
    fn up(&self) {
        std::fs::write(&self.up, "").unwrap();
    }
    /// Every delivery: (event id, stdin JSON, env text).
    fn all(&self) -> Vec<(i64, serde_json::Value, String)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                let id: i64 = name.split('.').next().unwrap().parse().unwrap();
                let json =
                    serde_json::from_str(std::fs::read_to_string(&p).unwrap().trim()).unwrap();
                let env = std::fs::read_to_string(p.with_extension("env")).unwrap_or_default();
                out.push((id, json, env));
            }
        }
        out.sort_by_key(|d| d.0);
        out
    }
    /// Deliveries of `kind` events about `task`.
    fn of(&self, kind: &str, task: &str) -> Vec<(i64, serde_json::Value, String)> {
        self.all()
            .into_iter()
            .filter(|(_, j, _)| j["kind"] == kind && j["task"].as_str().unwrap_or("") == task)
            .collect()
    }
    fn assert_no_duplicates(&self) {
        let ids: Vec<i64> = self.all().iter().map(|d| d.0).collect();
        let mut dedup = ids.clone();
        dedup.dedup();
        assert_eq!(ids, dedup, "an event was delivered twice");
    }
}

fn events(kit: &Kit, kind: &str, task: &str) -> i64 {
    kit.scalar(&format!(
        "SELECT count(*) FROM supervisor_events WHERE kind = '{kind}' AND coalesce(task, '') = '{task}'"
    ))
}

fn heal(kit: &Kit) -> support::Out {
    kit.heal().arg("--json").ok()
}

fn recovery(kit: &Kit, task: &str) -> (String, i64, i64) {
    kit.conn()
        .query_row(
            "SELECT state, streak, rounds FROM supervisor_recovery WHERE task = ?1",
            [task],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap_or_else(|e| panic!("no recovery row for {task}: {e}"))
}

/// Runs `task` once at minute `m` (expecting it to fail) and then kit-heal.
fn fail_and_heal(kit: &mut Kit, task: &str, m: i64) -> support::Out {
    kit.at(&min(m));
    let out = kit.run().arg(task).run();
    assert_ne!(out.code, 0, "{task} was expected to fail: {out:?}");
    heal(kit)
}

/// Waits until every detached recovery kit-run has finished.
fn wait_recovery_runs(kit: &Kit, n: i64) {
    wait_for(Duration::from_secs(20), "recovery runs to finish", || {
        kit.count("trigger IN ('recovery','adhoc') AND status NOT IN ('queued','running')") >= n
    });
}

/// Declares the recording notifier and a task "flaky" that always fails
/// (exit 1), with `recovery` as its `[task.recovery]` table.
fn flaky(kit: &mut Kit, rec: &Recorder, recovery: &str) {
    kit.at(T0).tasks(&format!(
        "{}\n[[task]]\nname = \"flaky\"\nschedule = \"@daily\"\ncommand = \"exit 1\"\n\
         [task.recovery]\n{recovery}\n",
        rec.settings()
    ));
}

/// "flaky" (recovery action: append "fixed" to the returned file) fails
/// at minutes 0, 1 and 2; kit-heal has not run yet.
fn failed_three_times_with_a_fix(kit: &mut Kit, rec: &Recorder) -> PathBuf {
    let marker = kit.path("fixed.txt");
    flaky(
        kit,
        rec,
        &format!("actions = [\"exec:echo fixed >> {}\"]", marker.display()),
    );
    for m in 0..3 {
        kit.at(&min(m));
        kit.run().arg("flaky").run();
    }
    marker
}

/// Events to be sent that were not delivered (yet).
fn undelivered(kit: &Kit) -> i64 {
    kit.scalar(
        "SELECT count(*) FROM supervisor_events WHERE notify = 1 AND delivery <> 'delivered'",
    )
}

#[test]
fn three_failures_record_one_failing_event_and_start_the_actions() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    let marker = kit.path("fixed.txt");
    kit.at(T0).tasks(&format!(
        "{}\n[[task]]\nname = \"flaky\"\nschedule = \"@daily\"\ncommand = \"exit 3\"\n\
         [task.recovery]\nactions = [\"run:fixer\", \"exec:echo fixed-$KIT_TASK-$KIT_RECOVERY_ROUND >> {}\"]\n\
         [[task]]\nname = \"fixer\"\nschedule = \"@daily\"\ncommand = \"echo fixing\"\n",
        rec.settings(),
        marker.display()
    ));
    fail_and_heal(&mut kit, "flaky", 0);
    fail_and_heal(&mut kit, "flaky", 1);
    assert_eq!(
        events(&kit, "failing", "flaky"),
        0,
        "two failures are below the threshold"
    );
    assert_eq!(recovery(&kit, "flaky"), ("ok".into(), 2, 0));

    let out = fail_and_heal(&mut kit, "flaky", 2);
    let lines = out.json_lines();
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "event" && l["kind"] == "failing"),
        "{}",
        out.stdout
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["type"] == "action" && l["result"] == "started")
            .count(),
        2,
        "{}",
        out.stdout
    );
    assert_eq!(events(&kit, "failing", "flaky"), 1);
    assert_eq!(events(&kit, "recovering", "flaky"), 1);
    assert_eq!(events(&kit, "action", "flaky"), 2);
    assert_eq!(recovery(&kit, "flaky"), ("recovering".into(), 3, 1));

    // run:fixer ran fixer as a recovery execution; exec: ran the command.
    wait_recovery_runs(&kit, 2);
    assert_eq!(
        kit.count("task = 'fixer' AND trigger = 'recovery' AND status = 'success'"),
        1
    );
    assert_eq!(
        kit.count("task = 'flaky.recovery' AND status = 'success'"),
        1
    );
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().trim(),
        "fixed-flaky-1"
    );
    let started: i64 = kit.scalar(
        "SELECT count(*) FROM supervisor_events WHERE kind = 'action' AND json_extract(detail, '$.state') = 'started'",
    );
    assert_eq!(started, 2);

    // The notifier got the failing and recovering events, with env and JSON.
    let failing = rec.of("failing", "flaky");
    assert_eq!(failing.len(), 1);
    let (_, json, env) = &failing[0];
    assert!(
        env.contains("KIT_EVENT=failing\nKIT_TASK=flaky\nKIT_SEVERITY=warning"),
        "{env}"
    );
    assert_eq!(json["severity"], "warning");
    assert_eq!(json["detail"]["streak"], 3);
    assert_eq!(json["detail"]["last_exit_code"], 3);
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("failed 3 times in a row"),
        "{json}"
    );
    assert_eq!(rec.of("recovering", "flaky").len(), 1);
    assert!(
        rec.of("action", "flaky").is_empty(),
        "action events are not sent"
    );

    // Running kit-heal again without a new failure changes nothing.
    kit.at(&min(3));
    heal(&kit);
    assert_eq!(events(&kit, "recovering", "flaky"), 1);
    assert_eq!(recovery(&kit, "flaky").2, 1);
    rec.assert_no_duplicates();
}

#[test]
fn a_long_streak_sends_a_handful_of_notifications_not_one_per_failure() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    flaky(
        &mut kit,
        &rec,
        "max_attempts = 2\ncooldown = \"10m\"\nactions = [\"exec:true\"]",
    );
    for i in 0..20 {
        fail_and_heal(&mut kit, "flaky", i * 5);
    }
    // failing at the 3rd failure (round 1), round 2 after the cooldown,
    // escalation one cooldown later; then silence however long it fails.
    let kinds: Vec<String> = rec
        .all()
        .iter()
        .map(|(_, j, _)| j["kind"].as_str().unwrap().to_string())
        .collect();
    let flaky: Vec<&String> = kinds.iter().filter(|k| *k != "stalled").collect();
    assert_eq!(
        flaky,
        ["failing", "recovering", "recovering", "escalated"],
        "{kinds:?}"
    );
    assert_eq!(recovery(&kit, "flaky"), ("escalated".into(), 20, 2));
    let escalated = rec.of("escalated", "flaky");
    assert!(
        escalated[0].2.contains("KIT_SEVERITY=critical"),
        "{}",
        escalated[0].2
    );
    let enabled: i64 = kit.scalar("SELECT enabled FROM supervisor_tasks WHERE name = 'flaky'");
    assert_eq!(enabled, 1, "escalate = notify keeps the task enabled");
    wait_recovery_runs(&kit, 2);
    rec.assert_no_duplicates();
}

#[test]
fn no_new_round_within_the_cooldown_nor_without_a_new_failure() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    flaky(
        &mut kit,
        &rec,
        "failure_threshold = 2\nactions = [\"exec:true\"]",
    );
    fail_and_heal(&mut kit, "flaky", 0);
    fail_and_heal(&mut kit, "flaky", 1);
    assert_eq!(recovery(&kit, "flaky"), ("recovering".into(), 2, 1));
    // A failure inside the default 15m cooldown starts no round...
    fail_and_heal(&mut kit, "flaky", 5);
    kit.at(&min(15));
    heal(&kit);
    assert_eq!(recovery(&kit, "flaky"), ("recovering".into(), 3, 1));
    // ...but once the cooldown is over, the next run (kit-tick starts one
    // every minute) starts round 2 for it.
    kit.at(&min(16));
    heal(&kit);
    assert_eq!(recovery(&kit, "flaky"), ("recovering".into(), 3, 2));
    // The cooldown is over again, but nothing failed since round 2.
    kit.at(&min(40));
    heal(&kit);
    assert_eq!(recovery(&kit, "flaky").2, 2);
    // A failure after it starts round 3.
    fail_and_heal(&mut kit, "flaky", 41);
    assert_eq!(recovery(&kit, "flaky"), ("recovering".into(), 4, 3));
    let last_round: String =
        kit.scalar("SELECT last_round_at FROM supervisor_recovery WHERE task = 'flaky'");
    assert_eq!(last_round, "2025-06-02T10:41:00.000Z");
    assert_eq!(rec.of("recovering", "flaky").len(), 3);
    wait_recovery_runs(&kit, 3);
}

#[test]
fn escalation_after_max_attempts_disables_the_task_until_a_person_enables_it() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    flaky(
        &mut kit,
        &rec,
        "max_attempts = 1\ncooldown = \"5m\"\nescalate = \"disable\"",
    );
    for m in 0..3 {
        fail_and_heal(&mut kit, "flaky", m);
    }
    assert_eq!(
        recovery(&kit, "flaky"),
        ("failing".into(), 3, 1),
        "no actions: the round is counted only"
    );
    fail_and_heal(&mut kit, "flaky", 8);
    assert_eq!(recovery(&kit, "flaky").0, "escalated");
    let (enabled, reason): (i64, String) = kit
        .conn()
        .query_row(
            "SELECT enabled, disabled_reason FROM supervisor_tasks WHERE name = 'flaky'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(enabled, 0);
    assert!(
        reason.starts_with("escalated: still failing after 1 recovery round"),
        "{reason}"
    );
    let esc = rec.of("escalated", "flaky");
    assert_eq!(esc.len(), 1);
    assert!(esc[0].2.contains("KIT_SEVERITY=critical"));
    assert_eq!(esc[0].1["detail"]["disabled"], true);
    assert!(
        esc[0].1["message"].as_str().unwrap().contains("disabled"),
        "{}",
        esc[0].1
    );

    // More failures (a manual run) while escalated: no more notifications.
    fail_and_heal(&mut kit, "flaky", 20);
    assert_eq!(events(&kit, "escalated", "flaky"), 1);
    // A person enables it again; if it still fails that is a new episode.
    kit.ctl().args(["enable", "flaky"]).ok();
    fail_and_heal(&mut kit, "flaky", 30);
    assert_eq!(events(&kit, "failing", "flaky"), 2);
    assert_eq!(recovery(&kit, "flaky"), ("failing".into(), 6, 1));
    rec.assert_no_duplicates();
}

#[test]
fn the_first_success_after_a_streak_sends_recovered_and_resets_the_counters() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    let flag = kit.path("healthy");
    kit.at(T0).tasks(&format!(
        "{}\n[[task]]\nname = \"flaky\"\nschedule = \"@daily\"\ncommand = \"test -e {}\"\n",
        rec.settings(),
        flag.display()
    ));
    for m in 0..4 {
        fail_and_heal(&mut kit, "flaky", m);
    }
    assert_eq!(recovery(&kit, "flaky").0, "failing");
    std::fs::write(&flag, "").unwrap();
    kit.at(&min(5));
    kit.run().arg("flaky").ok();
    let out = heal(&kit);
    assert!(
        out.stdout.contains("\"kind\":\"recovered\""),
        "{}",
        out.stdout
    );
    assert_eq!(recovery(&kit, "flaky"), ("ok".into(), 0, 0));
    let rec_ev = rec.of("recovered", "flaky");
    assert_eq!(rec_ev.len(), 1);
    assert!(rec_ev[0].2.contains("KIT_SEVERITY=info"));
    assert_eq!(rec_ev[0].1["detail"]["streak"], 4);
    heal(&kit);
    assert_eq!(events(&kit, "recovered", "flaky"), 1, "once per episode");

    // The counters start over: two new failures are below the threshold.
    std::fs::remove_file(&flag).unwrap();
    fail_and_heal(&mut kit, "flaky", 6);
    fail_and_heal(&mut kit, "flaky", 7);
    assert_eq!(events(&kit, "failing", "flaky"), 1);
    assert_eq!(recovery(&kit, "flaky"), ("ok".into(), 2, 0));
}

#[test]
fn a_failing_notifier_is_retried_with_backoff_until_it_succeeds_and_no_event_is_lost() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    flaky(
        &mut kit,
        &rec,
        "failure_threshold = 1\nactions = [\"exec:true\"]",
    );
    rec.down();
    let out = fail_and_heal(&mut kit, "flaky", 0);
    // One failed attempt per run: the dead notifier is not hammered.
    let notes: Vec<serde_json::Value> = out
        .json_lines()
        .into_iter()
        .filter(|l| l["type"] == "notify")
        .collect();
    assert_eq!(notes.len(), 1, "{}", out.stdout);
    assert_eq!(notes[0]["result"], "failed");
    assert_eq!(notes[0]["next_attempt_at"], "2025-06-02T10:00:30.000Z");
    let (attempts, err, next): (i64, String, String) = kit
        .conn()
        .query_row(
            "SELECT attempts, last_error, next_attempt_at FROM supervisor_events WHERE kind = 'failing'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(attempts, 1);
    assert!(err.contains("exited with status 1: notifier down"), "{err}");
    assert_eq!(next, "2025-06-02T10:00:30.000Z");

    // Before the backoff has passed the event is left alone.
    kit.at(&at(10));
    heal(&kit); // tries the recovering event once
    kit.at(&at(20));
    heal(&kit);
    let attempts: i64 = kit.scalar("SELECT attempts FROM supervisor_events WHERE kind = 'failing'");
    assert_eq!(attempts, 1);
    // After it, retried (and failing again: the backoff doubles).
    kit.at(&at(31));
    heal(&kit);
    let (attempts, next): (i64, String) = kit
        .conn()
        .query_row(
            "SELECT attempts, next_attempt_at FROM supervisor_events WHERE kind = 'failing'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((attempts, next.as_str()), (2, "2025-06-02T10:01:31.000Z"));
    let pending: i64 =
        kit.scalar("SELECT count(*) FROM supervisor_events WHERE delivery = 'pending'");
    assert_eq!(pending, 2);
    assert!(rec.all().is_empty());

    // The notifier is back: everything pending is delivered, exactly once.
    rec.up();
    kit.at(&min(10));
    heal(&kit);
    heal(&kit);
    assert_eq!(undelivered(&kit), 0, "no event lost");
    assert_eq!(rec.of("failing", "flaky").len(), 1);
    assert_eq!(rec.of("recovering", "flaky").len(), 1);
    assert_eq!(rec.of("failing", "flaky")[0].1["attempt"], 3);
    rec.assert_no_duplicates();
    wait_recovery_runs(&kit, 1);
}

#[test]
fn a_hanging_notifier_is_killed_with_its_group_at_notify_timeout_and_retried() {
    let mut kit = Kit::new();
    let pidfile = kit.path("sleeper.pid");
    kit.at(T0).tasks(&format!(
        "[settings]\nnotify = \"sleep 60 & echo $! > {}; wait\"\nnotify_timeout = \"1s\"\n\
         [[task]]\nname = \"flaky\"\nschedule = \"@daily\"\ncommand = \"exit 1\"\n\
         [task.recovery]\nfailure_threshold = 1\n",
        pidfile.display()
    ));
    let started = std::time::Instant::now();
    let out = fail_and_heal(&mut kit, "flaky", 0);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "kit-heal took {took:?}");
    assert!(
        out.stdout.contains("\"result\":\"failed\""),
        "{}",
        out.stdout
    );
    let (attempts, err): (i64, String) = kit
        .conn()
        .query_row(
            "SELECT attempts, last_error FROM supervisor_events WHERE kind = 'failing'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(attempts, 1);
    assert!(err.contains("notify_timeout = 1s"), "{err}");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for(
        Duration::from_secs(5),
        "the notifier's background child to be killed",
        || !support::pid_alive(pid),
    );
}

#[test]
fn concurrent_kit_heals_never_duplicate_an_event_an_action_or_a_delivery() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    let marker = failed_three_times_with_a_fix(&mut kit, &rec);
    kit.at(&min(3));
    for round in 0..2 {
        let children: Vec<_> = (0..8).map(|_| kit.heal().arg("--json").spawn()).collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert_eq!(events(&kit, "failing", "flaky"), 1, "round {round}");
        assert_eq!(events(&kit, "recovering", "flaky"), 1);
        assert_eq!(events(&kit, "action", "flaky"), 1);
    }
    wait_recovery_runs(&kit, 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        kit.count("task = 'flaky.recovery'"),
        1,
        "the action started once"
    );
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "fixed\n");
    rec.assert_no_duplicates();
    assert_eq!(undelivered(&kit), 0);
    assert_eq!(rec.of("failing", "flaky").len(), 1);
    assert_eq!(rec.of("recovering", "flaky").len(), 1);
}

#[test]
fn a_stalled_kit_tick_is_reported_once_per_occurrence_and_when_it_comes_back() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    kit.at(T0).tasks(&format!(
        "{}\n[[task]]\nname = \"yearly\"\nschedule = \"0 0 1 1 *\"\ncommand = \"true\"\n",
        rec.settings()
    ));
    kit.tick().ok();
    kit.at(&min(2));
    heal(&kit);
    assert_eq!(events(&kit, "stalled", ""), 0);
    kit.at(&min(4));
    let out = heal(&kit);
    assert!(
        out.stdout.contains("kit-tick has not run for 4m"),
        "{}",
        out.stdout
    );
    kit.at(&min(10));
    heal(&kit);
    assert_eq!(events(&kit, "stalled", ""), 1, "once per occurrence");
    let stalled = rec.of("stalled", "");
    assert_eq!(stalled.len(), 1);
    assert!(
        stalled[0]
            .2
            .contains("KIT_EVENT=stalled\nKIT_TASK=\nKIT_SEVERITY=critical"),
        "{}",
        stalled[0].2
    );
    assert_eq!(stalled[0].1["detail"]["tool"], "kit-tick");

    // kit-tick runs again: the stall is over.
    kit.at(&min(11));
    kit.tick().ok();
    heal(&kit);
    assert_eq!(events(&kit, "recovered", ""), 1);
    heal(&kit);
    assert_eq!(events(&kit, "recovered", ""), 1);
    // ...and stops again: a new occurrence.
    kit.at(&min(15));
    heal(&kit);
    assert_eq!(events(&kit, "stalled", ""), 2);
    rec.assert_no_duplicates();
}

#[test]
fn a_stalled_kit_keep_matters_only_while_daemons_are_declared() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    kit.at(T0).tasks(&format!(
        "{}\n[[task]]\nname = \"yearly\"\nschedule = \"0 0 1 1 *\"\ncommand = \"true\"\n",
        rec.settings()
    ));
    kit.tick().ok();
    // kit-keep beat once, long ago; no daemon is declared: nothing to say.
    kit.conn()
        .execute(
            "INSERT INTO supervisor_heartbeats(tool, pid, started_at, beat_at) VALUES ('kit-keep', 1, ?1, ?1)",
            [T0],
        )
        .unwrap();
    kit.at(&min(2));
    kit.tick().ok();
    heal(&kit);
    assert_eq!(events(&kit, "stalled", ""), 0);
    // A daemon is declared: now the silent kit-keep is reported, once.
    kit.tasks(&format!(
        "{}\n[[task]]\nname = \"yearly\"\nschedule = \"0 0 1 1 *\"\ncommand = \"true\"\n\
         [[task]]\nname = \"relay\"\nschedule = \"@daemon\"\ncommand = \"sleep 1000\"\n",
        rec.settings()
    ));
    heal(&kit);
    heal(&kit);
    assert_eq!(events(&kit, "stalled", ""), 1);
    let tool: String = kit.scalar(
        "SELECT json_extract(detail, '$.tool') FROM supervisor_events WHERE kind = 'stalled'",
    );
    assert_eq!(tool, "kit-keep");
    assert_eq!(rec.of("stalled", "").len(), 1);
}

#[test]
fn kit_keep_that_never_ran_is_reported_once_daemons_wait_for_it() {
    let mut kit = Kit::new();
    kit.at(T0)
        .tasks("[[task]]\nname = \"relay\"\nschedule = \"@daemon\"\ncommand = \"sleep 1000\"\n");
    kit.at(&at(30));
    heal(&kit);
    assert_eq!(
        events(&kit, "stalled", ""),
        0,
        "a fresh daemon gets a minute"
    );
    kit.at(&min(2));
    let out = heal(&kit);
    assert!(
        out.stdout.contains("kit-keep has never run"),
        "{}",
        out.stdout
    );
    kit.at(&min(3));
    heal(&kit);
    assert_eq!(events(&kit, "stalled", ""), 1);
}

#[test]
fn slots_missed_while_kit_tick_was_not_run_give_one_event_per_task_per_gap() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    kit.at(&min(1)).tasks(&format!(
        "{}\n[[task]]\nname = \"every5\"\nschedule = \"*/5 * * * *\"\ncommand = \"true\"\ncatch_up = \"none\"\n",
        rec.settings()
    ));
    kit.tick().ok();
    kit.at(&min(63));
    kit.tick().ok();
    let missed = kit.count("task = 'every5' AND status = 'missed'");
    assert!(missed >= 10, "kit-tick recorded {missed} missed slots");
    heal(&kit);
    heal(&kit);
    assert_eq!(
        events(&kit, "missed", "every5"),
        1,
        "one event for the whole gap"
    );
    let m = rec.of("missed", "every5");
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].1["detail"]["slots"], missed);
    // The message says "missed" once, then the reason.
    let message = m[0].1["message"].as_str().unwrap();
    assert!(
        message.contains("were missed: kit-tick was not started"),
        "{message}"
    );
    assert!(!message.contains("missed: missed"), "{message}");
    assert!(
        m[0].2.contains("KIT_EVENT=missed\nKIT_TASK=every5"),
        "{}",
        m[0].2
    );
    // A second gap is a second occurrence.
    kit.at(&min(125));
    kit.tick().ok();
    heal(&kit);
    assert_eq!(events(&kit, "missed", "every5"), 2);
}

#[test]
fn a_queued_slot_not_started_within_two_minutes_becomes_missed() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    kit.at(T0).tasks(&format!(
        "{}\n[[task]]\nname = \"hourly\"\nschedule = \"0 * * * *\"\ncommand = \"true\"\n",
        rec.settings()
    ));
    // kit-tick claims the 10:00 slot, but no kit-run ever takes it.
    let out = kit.tick().ok();
    assert!(out.stdout.contains("hourly"), "{}", out.stdout);
    assert_eq!(kit.statuses("hourly"), ["queued"]);
    kit.at(&at(90));
    heal(&kit);
    assert_eq!(kit.statuses("hourly"), ["queued"]);
    kit.at(&at(121));
    heal(&kit);
    assert_eq!(kit.statuses("hourly"), ["missed"]);
    let reason: String =
        kit.scalar("SELECT reason FROM supervisor_executions WHERE task = 'hourly'");
    assert!(reason.contains("not started within 2m"), "{reason}");
    kit.at(&min(5));
    heal(&kit);
    assert_eq!(events(&kit, "missed", "hourly"), 1);
    assert_eq!(rec.of("missed", "hourly").len(), 1);
}

#[test]
fn a_stuck_run_is_reported_once() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    kit.at(T0).tasks(&format!(
        "{}\n[[task]]\nname = \"slow\"\nschedule = \"@daily\"\ncommand = \"sleep 30\"\ntimeout = \"1m\"\n",
        rec.settings()
    ));
    let mut child = kit.run().arg("slow").spawn();
    wait_for(Duration::from_secs(10), "the run to start", || {
        kit.count("task = 'slow' AND status = 'running'") == 1
    });
    // timeout 1m + kill_grace 10s + 1m slack = 2m10s.
    kit.at(&min(2));
    heal(&kit);
    assert_eq!(events(&kit, "stuck", "slow"), 0);
    kit.at(&min(3));
    let out = heal(&kit);
    assert!(
        out.stdout.contains("has been running for 3m"),
        "{}",
        out.stdout
    );
    kit.at(&min(4));
    heal(&kit);
    assert_eq!(events(&kit, "stuck", "slow"), 1);
    assert_eq!(rec.of("stuck", "slow").len(), 1);
    assert_eq!(
        kit.count("task = 'slow' AND status = 'running'"),
        1,
        "kit-heal only reports it"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
}

#[test]
fn lost_runs_count_as_failures_in_the_streak() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    kit.at(T0).tasks(&format!(
        "{}\n[[task]]\nname = \"crashy\"\nschedule = \"@daily\"\ncommand = \"sleep 30\"\n\
         [task.recovery]\nfailure_threshold = 2\n",
        rec.settings()
    ));
    for m in 0..2 {
        kit.at(&min(m));
        let mut child = kit.run().arg("crashy").spawn();
        wait_for(Duration::from_secs(10), "the run to start", || {
            kit.count("task = 'crashy' AND status = 'running' AND child_pid IS NOT NULL") == 1
        });
        child.kill().unwrap(); // SIGKILL: kit-run cannot record anything
        child.wait().unwrap();
        heal(&kit);
    }
    assert_eq!(kit.statuses("crashy"), ["lost", "lost"]);
    assert_eq!(events(&kit, "failing", "crashy"), 1);
    let f = rec.of("failing", "crashy");
    assert_eq!(f[0].1["detail"]["last_status"], "lost");
    let leftovers: i64 =
        kit.scalar("SELECT count(*) FROM supervisor_executions WHERE status = 'running'");
    assert_eq!(leftovers, 0);
}

#[test]
fn retries_of_one_slot_count_once_in_the_streak() {
    let mut kit = Kit::new();
    kit.at(T0).tasks(
        "[[task]]\nname = \"flaky\"\nschedule = \"@daily\"\ncommand = \"exit 1\"\nretries = 2\n",
    );
    kit.run().arg("flaky").run();
    assert_eq!(kit.statuses("flaky"), ["failed", "failed", "failed"]);
    heal(&kit);
    assert_eq!(recovery(&kit, "flaky"), ("ok".into(), 1, 0));
    assert_eq!(events(&kit, "failing", "flaky"), 0);
}

#[test]
fn restart_actions_queue_a_kit_keep_request_and_impossible_actions_are_recorded() {
    let mut kit = Kit::new();
    kit.at(T0).tasks(
        "[[task]]\nname = \"flaky\"\nschedule = \"@daily\"\ncommand = \"exit 1\"\n\
         [task.recovery]\nfailure_threshold = 1\nactions = [\"restart:relay\", \"run:nosuch\", \"run:relay\"]\n\
         [[task]]\nname = \"relay\"\nschedule = \"@daemon\"\ncommand = \"sleep 1000\"\n",
    );
    let out = fail_and_heal(&mut kit, "flaky", 0);
    let (task, action, by): (String, String, String) = kit
        .conn()
        .query_row(
            "SELECT task, action, requested_by FROM supervisor_requests",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (task.as_str(), action.as_str(), by.as_str()),
        ("relay", "restart", "kit-heal")
    );
    let lines = out.json_lines();
    let results: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l["type"] == "action")
        .map(|l| {
            (
                l["action"].as_str().unwrap().to_string(),
                l["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            ("restart:relay".to_string(), "requested".to_string()),
            ("run:nosuch".to_string(), "failed".to_string()),
            ("run:relay".to_string(), "failed".to_string()),
        ],
        "{}",
        out.stdout
    );
    let msg: String = kit
        .scalar("SELECT message FROM supervisor_events WHERE dedupe_key LIKE 'action:flaky:%:1'");
    assert!(msg.contains("no task named \"nosuch\""), "{msg}");
}

#[test]
fn dry_run_shows_what_would_happen_and_changes_nothing() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    let marker = failed_three_times_with_a_fix(&mut kit, &rec);
    let snapshot = |kit: &Kit| -> String {
        kit.scalar(
            "SELECT (SELECT count(*) FROM supervisor_events) || '/' || (SELECT count(*) FROM supervisor_recovery)
              || '/' || (SELECT count(*) FROM supervisor_heartbeats) || '/' || (SELECT count(*) FROM supervisor_state)
              || '/' || (SELECT group_concat(status) FROM supervisor_executions)",
        )
    };
    let before = snapshot(&kit);
    let out = kit.heal().args(["--dry-run", "--json"]).ok();
    let lines = out.json_lines();
    assert!(lines.iter().all(|l| l["dry_run"] == true), "{}", out.stdout);
    assert!(
        lines.iter().any(|l| l["kind"] == "failing"),
        "{}",
        out.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "action" && l["result"] == "would start"),
        "{}",
        out.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "notify" && l["result"] == "would deliver"),
        "{}",
        out.stdout
    );
    let text = kit.heal().arg("--dry-run").ok();
    assert!(
        text.stdout.lines().all(|l| l.starts_with("(dry run) ")),
        "{}",
        text.stdout
    );
    assert_eq!(snapshot(&kit), before);
    std::thread::sleep(Duration::from_millis(200));
    assert!(!marker.exists());
    assert!(rec.all().is_empty());
    // The real run then does it.
    heal(&kit);
    assert_eq!(events(&kit, "failing", "flaky"), 1);
    wait_recovery_runs(&kit, 1);
}

#[test]
fn without_a_notify_command_events_are_recorded_but_marked_unsent() {
    let mut kit = Kit::new();
    kit.at(T0).tasks(
        "[[task]]\nname = \"flaky\"\nschedule = \"@daily\"\ncommand = \"exit 1\"\n\
         [task.recovery]\nfailure_threshold = 1\n",
    );
    let out = fail_and_heal(&mut kit, "flaky", 0);
    assert!(
        out.stdout.contains("\"result\":\"unsent\""),
        "{}",
        out.stdout
    );
    let (delivery, err): (String, String) = kit
        .conn()
        .query_row(
            "SELECT delivery, last_error FROM supervisor_events WHERE kind = 'failing'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(delivery, "none");
    assert!(err.contains("no notify command"), "{err}");
}

#[test]
fn events_recorded_by_other_tools_are_delivered() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    kit.at(T0).tasks(&format!(
        "{}\n[[task]]\nname = \"relay\"\nschedule = \"@daemon\"\ncommand = \"sleep 1000\"\n",
        rec.settings()
    ));
    kit.conn()
        .execute(
            "INSERT INTO supervisor_events(created_at, kind, severity, task, message, dedupe_key, next_attempt_at)
             VALUES (?1, 'crashloop', 'critical', 'relay', 'relay crashed 5 times in 2m', 'crashloop:relay:1', ?1)",
            ["2025-06-02T10:00:00.000Z"],
        )
        .unwrap();
    heal(&kit);
    let c = rec.of("crashloop", "relay");
    assert_eq!(c.len(), 1);
    assert!(
        c[0].2
            .contains("KIT_EVENT=crashloop\nKIT_TASK=relay\nKIT_SEVERITY=critical"),
        "{}",
        c[0].2
    );
    assert_eq!(c[0].1["message"], "relay crashed 5 times in 2m");
}

#[test]
fn an_unknown_task_is_a_clear_error() {
    let kit = Kit::new();
    kit.heal()
        .args(["--task", "nope"])
        .run()
        .code(2)
        .fails()
        .stderr_has("no task named \"nope\"");
}

#[test]
fn kit_run_starts_kit_heal_after_a_failure_with_the_runs_clock() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    flaky(&mut kit, &rec, "failure_threshold = 2");
    for m in 0..2 {
        kit.at(&min(m));
        // Without --no-heal: kit-run starts `kit-heal --task flaky` itself.
        kit.tool("kit-run").arg("flaky").run().code(1);
        let beat = format!("{}.", &min(m)[..19]);
        wait_for(Duration::from_secs(20), "kit-heal to have run", || {
            kit.scalar::<i64>(&format!(
                "SELECT count(*) FROM supervisor_heartbeats WHERE tool = 'kit-heal' AND beat_at >= '{beat}'"
            )) == 1
        });
    }
    wait_for(Duration::from_secs(20), "the failing notification", || {
        rec.of("failing", "flaky").len() == 1
    });
    let created: String =
        kit.scalar("SELECT created_at FROM supervisor_events WHERE kind = 'failing'");
    assert!(created.starts_with("2025-06-02T10:01:00"), "{created}");
    wait_for(Duration::from_secs(20), "kit-heal to finish", || {
        kit.scalar::<i64>(
            "SELECT count(*) FROM supervisor_events WHERE notify = 1 AND delivery = 'pending'",
        ) == 0
    });
}

#[test]
fn what_a_task_cannot_fix_by_running_again_is_notified_at_its_first_occurrence() {
    // failure_threshold (3) is for a task's own non-zero exits; a command
    // that could not start (bad cwd, a shell's 127) or a lost run is
    // notified at once, so a daily task does not stay silent for two days.
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    kit.at(T0).tasks(&format!(
        "{}\n\
         [[task]]\nname = \"nocwd\"\nschedule = \"@daily\"\ncommand = \"true\"\ncwd = \"/no/such/dir\"\n\
         [[task]]\nname = \"typo\"\nschedule = \"@daily\"\ncommand = \"no-such-program-kit-test\"\n\
         [[task]]\nname = \"plain\"\nschedule = \"@daily\"\ncommand = \"exit 1\"\n\
         [[task]]\nname = \"quiet\"\nschedule = \"@daily\"\ncommand = \"true\"\ncwd = \"/no/such/dir\"\n\
         [task.recovery]\nnotify_at_once = []\n",
        rec.settings()
    ));
    for t in ["nocwd", "typo", "plain", "quiet"] {
        fail_and_heal(&mut kit, t, 1);
    }
    for t in ["nocwd", "typo"] {
        assert_eq!(events(&kit, "failing", t), 1, "{t}");
        let d = rec.of("failing", t);
        assert_eq!(d.len(), 1, "{t} was not notified");
        assert!(d[0].1["message"]
            .as_str()
            .unwrap()
            .contains("failed once in a row"));
    }
    // An ordinary failure waits for the threshold, and so does a task
    // that opted out.
    assert_eq!(events(&kit, "failing", "plain"), 0);
    assert_eq!(events(&kit, "failing", "quiet"), 0);
}

#[test]
fn notify_at_once_names_the_bad_value() {
    let kit = Kit::new();
    let f = kit.file(
        "bad.toml",
        "[[task]]\nname = \"t\"\nschedule = \"@daily\"\ncommand = \"true\"\n[task.recovery]\nnotify_at_once = [\"lost\", \"sometimes\"]\n",
    );
    kit.ctl()
        .arg("apply")
        .arg(&f)
        .run()
        .code(2)
        .stderr_has("bad.toml")
        .stderr_has("sometimes");
}

#[test]
fn a_single_lost_run_is_notified_at_once() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    kit.at(T0).tasks(&format!(
        "{}\n[[task]]\nname = \"scan\"\nschedule = \"@daily\"\ncommand = \"sleep 1000\"\n",
        rec.settings()
    ));
    let mut run = kit.run().arg("scan").spawn();
    wait_for(Duration::from_secs(20), "the run to start", || {
        kit.statuses("scan") == vec!["running"]
    });
    run.kill().unwrap();
    run.wait().unwrap();
    kit.at(&min(1));
    heal(&kit);
    assert_eq!(kit.statuses("scan"), vec!["lost"]);
    let d = rec.of("failing", "scan");
    assert_eq!(d.len(), 1, "a lost run was not notified");
    assert!(
        d[0].1["message"].as_str().unwrap().contains("lost"),
        "{}",
        d[0].1
    );
}

#[test]
fn a_streak_of_overlap_skips_is_notified_once() {
    let mut kit = Kit::new();
    let rec = Recorder::new(&kit);
    let flag = kit.path("release");
    kit.at(T0).tasks(&format!(
        "{}\n[[task]]\nname = \"o\"\nschedule = \"* * * * *\"\noverlap = \"skip\"\n\
         command = \"while [ ! -e '{}' ]; do sleep 0.05; done\"\n",
        rec.settings(),
        flag.display()
    ));
    let first = kit.run().arg("o").spawn();
    wait_for(Duration::from_secs(20), "the run to start", || {
        kit.count("status = 'running' AND child_pid IS NOT NULL") == 1
    });
    kit.run().arg("o").ok();
    heal(&kit);
    assert_eq!(
        events(&kit, "skipped", "o"),
        0,
        "one skip is what overlap = skip is for"
    );
    kit.run().arg("o").ok();
    heal(&kit);
    kit.run().arg("o").ok();
    heal(&kit);
    assert_eq!(events(&kit, "skipped", "o"), 1, "one event per streak");
    let d = rec.of("skipped", "o");
    assert_eq!(d.len(), 1);
    assert!(d[0].1["message"]
        .as_str()
        .unwrap()
        .contains("its last 2 slots were skipped"));
    std::fs::write(&flag, "").unwrap();
    let _ = first.wait_with_output();
}
