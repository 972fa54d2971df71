//! Events from outside, end to end through the real binaries: `kit-ctl
//! trigger` (data, keys, --wait, errors), `POST /v1/tasks/{name}/trigger`,
//! `@event` tasks, bursts that coalesce, debounce on an injected clock, and
//! the kit-tick that starts a triggered run nobody started.

mod support;

use std::time::Duration;
use support::*;

const LONG: Duration = Duration::from_secs(30);

fn ingest(kit: &Kit, extra: &str) {
    kit.tasks(&format!(
        r#"
[[task]]
name = "ingest"
schedule = "@event"
command = 'echo "count=$KIT_EVENT_COUNT trigger=$KIT_TRIGGER data=$KIT_EVENT_DATA key=$KIT_EVENT_KEY"; cat "$KIT_EVENT_FILE"'
{extra}
"#
    ));
}

fn output(kit: &Kit, id: i64) -> String {
    kit.ctl().args(["output", &id.to_string()]).ok().stdout
}

#[test]
fn a_trigger_with_data_runs_at_once_and_the_command_reads_the_data() {
    let kit = Kit::new();
    ingest(&kit, "");
    let out = kit
        .ctl()
        .args([
            "--json",
            "trigger",
            "ingest",
            "--data",
            r#"{"path": "/inbox/a.md"}"#,
            "--key",
            "k1",
            "--wait",
        ])
        .ok()
        .json();
    assert_eq!(out["outcome"], "queued");
    assert_eq!(out["execution"]["status"], "success");
    assert_eq!(out["execution"]["trigger"], "event");
    let id = out["execution_id"].as_i64().unwrap();
    let text = output(&kit, id);
    assert!(
        text.contains(r#"count=1 trigger=event data={"path":"/inbox/a.md"} key=k1"#),
        "{text}"
    );
    assert!(
        text.contains("{\"path\":\"/inbox/a.md\"}\n"),
        "the event file holds the data: {text}"
    );
    // The file is gone once the run is over.
    assert_eq!(
        std::fs::read_dir(kit.home.join("events")).unwrap().count(),
        0
    );
    // The trigger row names its run, its key and its size.
    let (exec, bytes, key): (i64, i64, String) = kit
        .conn()
        .query_row(
            "SELECT execution_id, data_bytes, key FROM supervisor_triggers WHERE task = 'ingest'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((exec, bytes, key.as_str()), (id, 22, "k1"));
}

#[test]
fn data_from_a_file_and_from_stdin_reach_the_command() {
    let kit = Kit::new();
    ingest(&kit, "");
    let f = kit.file("event.json", "{\n  \"from\": \"file\"\n}\n");
    let a = kit
        .ctl()
        .args(["--json", "trigger", "ingest", "--wait", "--data"])
        .arg(format!("@{}", f.display()))
        .ok()
        .json();
    assert!(output(&kit, a["execution_id"].as_i64().unwrap()).contains(r#"data={"from":"file"}"#));
    let b = kit
        .ctl()
        .args(["--json", "trigger", "ingest", "--wait", "--data", "-"])
        .stdin("[1, 2, 3]")
        .ok()
        .json();
    assert!(output(&kit, b["execution_id"].as_i64().unwrap()).contains("data=[1,2,3]"));
}

#[test]
fn a_repeated_key_starts_nothing_new_and_answers_with_the_first_execution() {
    let kit = Kit::new();
    ingest(&kit, "");
    let first = kit
        .ctl()
        .args([
            "--json",
            "trigger",
            "ingest",
            "--key",
            "webhook-7",
            "--wait",
        ])
        .ok()
        .json();
    for _ in 0..3 {
        let again = kit
            .ctl()
            .args(["--json", "trigger", "ingest", "--key", "webhook-7"])
            .ok()
            .json();
        assert_eq!(again["duplicate"], true);
        assert_eq!(again["outcome"], "duplicate");
        assert_eq!(again["execution_id"], first["execution_id"]);
    }
    kit.ctl()
        .args(["trigger", "ingest", "--key", "webhook-7"])
        .ok()
        .stdout_has("duplicate key \"webhook-7\"");
    assert_eq!(kit.count("task = 'ingest'"), 1);
    let dups: i64 =
        kit.scalar("SELECT count(*) FROM supervisor_triggers WHERE outcome = 'duplicate'");
    assert_eq!(dups, 4, "each duplicate is recorded, not dropped");
}

#[test]
fn wait_exits_with_the_runs_exit_code() {
    let kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "fails"
schedule = "@event"
command = "exit 7"
"#,
    );
    kit.ctl().args(["trigger", "fails", "--wait"]).run().code(7);
    // Without --wait the trigger itself succeeded.
    kit.ctl().args(["trigger", "fails"]).ok();
}

#[test]
fn bad_triggers_are_clear_errors_naming_the_problem() {
    let mut kit = Kit::new();
    ingest(&kit, "");
    kit.ctl()
        .args(["trigger", "ingset"])
        .run()
        .code(2)
        .stderr_has("no task named \"ingset\" (did you mean: ingest?)");
    kit.ctl()
        .args(["trigger", "ingest", "--data", "{not json"])
        .run()
        .code(2)
        .stderr_has("data: not valid JSON");
    let big = kit.file("big.json", &format!("\"{}\"", "x".repeat(1 << 20)));
    kit.ctl()
        .args(["trigger", "ingest", "--data"])
        .arg(format!("@{}", big.display()))
        .run()
        .code(2)
        .stderr_has("over the cap of 1048576 bytes");
    assert_eq!(
        kit.scalar::<i64>("SELECT count(*) FROM supervisor_triggers"),
        0
    );
    // A disabled task refuses the trigger, and the refusal is recorded.
    kit.at("2026-03-01T10:00:00Z");
    kit.ctl().args(["disable", "ingest"]).ok();
    kit.ctl()
        .args(["trigger", "ingest", "--data", "{}"])
        .run()
        .code(1)
        .stderr_has("trigger of ingest not run: the task is disabled");
    let (outcome, reason): (String, String) = kit
        .conn()
        .query_row("SELECT outcome, reason FROM supervisor_triggers", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(outcome, "refused");
    assert!(reason.contains("disabled"), "{reason}");
    assert_eq!(kit.count("task = 'ingest'"), 0);
    // A daemon cannot be triggered.
    kit.tasks(
        r#"
[[task]]
name = "relay"
schedule = "@daemon"
command = ["sleep", "100"]
"#,
    );
    kit.ctl()
        .args(["trigger", "relay"])
        .run()
        .code(2)
        .stderr_has("is an @daemon");
}

#[test]
fn an_event_task_has_no_slots_and_next_says_it_runs_when_triggered() {
    let mut kit = Kit::new();
    ingest(&kit, "");
    kit.at("2026-03-01T10:00:30Z");
    kit.tick().ok();
    kit.at("2026-03-01T13:00:30Z");
    kit.tick().ok();
    assert_eq!(kit.count("1"), 0, "kit-tick never claims an @event task");
    kit.ctl()
        .args(["next", "ingest"])
        .ok()
        .stdout_has("ingest runs when triggered (schedule @event)");
    kit.ctl().args(["list"]).ok().stdout_has("when triggered");
}

#[test]
fn a_burst_during_a_run_coalesces_into_one_follow_up_that_sees_every_event() {
    let kit = Kit::new();
    let gate = kit.path("gate");
    kit.tasks(&format!(
        r#"
[[task]]
name = "slow"
schedule = "@event"
command = 'while [ ! -e {gate} ]; do sleep 0.02; done; echo "count=$KIT_EVENT_COUNT"; cat "$KIT_EVENT_FILE"'
"#,
        gate = gate.display()
    ));
    let first = kit
        .ctl()
        .args(["--json", "trigger", "slow", "--data", "0"])
        .ok()
        .json();
    wait_for(LONG, "the first run to start", || {
        kit.count("task = 'slow' AND status = 'running'") == 1
    });
    let mut follow = Vec::new();
    for i in 1..=5 {
        let f = kit
            .ctl()
            .args(["--json", "trigger", "slow", "--data", &i.to_string()])
            .ok()
            .json();
        follow.push(f);
    }
    // The first of the burst queued a follow-up; the rest joined it.
    assert_eq!(follow[0]["outcome"], "queued");
    let next = follow[0]["execution_id"].clone();
    for f in &follow[1..] {
        assert_eq!(f["outcome"], "coalesced");
        assert_eq!(f["execution_id"], next);
    }
    assert_ne!(next, first["execution_id"]);
    std::fs::write(&gate, "").unwrap();
    wait_for(LONG, "both runs to finish", || {
        kit.count("task = 'slow' AND status = 'success'") == 2
    });
    assert_eq!(kit.count("task = 'slow'"), 2, "one run, then one follow-up");
    let text = output(&kit, next.as_i64().unwrap());
    assert_eq!(text, "count=5\n1\n2\n3\n4\n5\n");
}

#[test]
fn debounce_waits_for_quiet_then_runs_once_with_every_event() {
    let mut kit = Kit::new();
    ingest(&kit, r#"debounce = "30s""#);
    kit.at("2026-03-01T10:00:00Z");
    let a = kit
        .ctl()
        .args(["--json", "trigger", "ingest", "--data", r#""a""#])
        .ok()
        .json();
    kit.at("2026-03-01T10:00:20Z");
    let b = kit
        .ctl()
        .args(["--json", "trigger", "ingest", "--data", r#""b""#])
        .ok()
        .json();
    assert_eq!(b["outcome"], "coalesced");
    assert_eq!(b["execution_id"], a["execution_id"]);
    // On an injected clock the kit-runs cannot sleep to the deadline: they
    // leave the row to the kit-tick at (or after) it.
    let id = a["execution_id"].as_i64().unwrap();
    wait_for(LONG, "the waiters to step back", || {
        kit.scalar::<Option<i64>>(&format!(
            "SELECT pid FROM supervisor_executions WHERE id = {id}"
        ))
        .is_none()
    });
    kit.at("2026-03-01T10:00:49Z");
    kit.tick().ok();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        kit.statuses("ingest"),
        ["queued"],
        "still quiet for less than 30 s"
    );
    let why = kit.ctl().args(["--json", "why", "ingest"]).ok().json();
    assert_eq!(why["case"], "waiting");
    let text = why["text"].as_str().unwrap();
    assert!(
        text.contains("Execution #1 is queued with 2 triggers: it waits for quiet until 2026-03-01 10:00:50 UTC"),
        "{text}"
    );
    kit.at("2026-03-01T10:00:50Z");
    // A kit-run that stepped back a moment ago may still hold the row for
    // an instant: ticking again at the same time is harmless.
    wait_for(LONG, "the debounced run", || {
        kit.tick().ok();
        kit.statuses("ingest") == ["success"]
    });
    let text = output(&kit, id);
    assert!(
        text.starts_with("count=2 trigger=event data=\"b\""),
        "{text}"
    );
    assert!(text.ends_with("\"a\"\n\"b\"\n"), "{text}");
}

#[test]
fn debounce_on_the_real_clock_is_waited_out_by_the_kit_run_itself() {
    let kit = Kit::new();
    ingest(&kit, r#"debounce = "1s""#);
    let t0 = std::time::Instant::now();
    let a = kit
        .ctl()
        .args(["--json", "trigger", "ingest", "--data", "1"])
        .ok()
        .json();
    std::thread::sleep(Duration::from_millis(400));
    kit.ctl().args(["trigger", "ingest", "--data", "2"]).ok();
    let id = a["execution_id"].as_i64().unwrap();
    wait_for(LONG, "the debounced run", || {
        kit.statuses("ingest") == ["success"]
    });
    assert!(
        t0.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        t0.elapsed()
    );
    assert!(output(&kit, id).starts_with("count=2 "));
}

#[test]
fn a_queued_trigger_whose_kit_run_never_started_is_started_by_the_next_tick() {
    let mut kit = Kit::new();
    ingest(&kit, "");
    kit.at("2026-03-01T10:00:00Z");
    // Recorded and committed, then "killed" before the spawn: nobody owns it.
    let store = kit_db::Store::open(&kit.db).unwrap();
    let t = kit_db::triggers::NewTrigger {
        task: "ingest",
        source: kit_db::triggers::Source::Event,
        key: Some("crash-1"),
        data: Some(br#"{"n":1}"#),
        detail: serde_json::Value::Null,
    };
    let now = kit_db::clock::parse_instant("2026-03-01T10:00:00Z").unwrap();
    let fired = kit_db::triggers::fire(&store, &t, now).unwrap();
    assert!(fired.start);
    drop(store);
    // kit-heal does not call it missed: it is not a claimed slot.
    kit.at("2026-03-01T10:05:00Z");
    kit.heal().ok();
    assert_eq!(kit.statuses("ingest"), ["queued"]);
    kit.tick().ok();
    wait_for(LONG, "the tick to start it", || {
        kit.statuses("ingest") == ["success"]
    });
    // Exactly once: more ticks start nothing.
    kit.tick().ok();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(kit.count("task = 'ingest'"), 1);
    assert!(output(&kit, fired.execution_id.unwrap()).contains("key=crash-1"));
}

#[test]
fn the_api_triggers_with_the_body_as_data_and_answers_duplicates_and_oversize() {
    let kit = Kit::new();
    ingest(&kit, "");
    let srv = kit.serve(&[]);
    let r = srv
        .post(
            "/v1/tasks/ingest/trigger?key=hook-1",
            r#"{"event": "push"}"#,
        )
        .status(202)
        .json();
    assert_eq!(r["outcome"], "queued");
    let id = r["execution_id"].as_i64().unwrap();
    wait_for(LONG, "the run", || kit.statuses("ingest") == ["success"]);
    assert!(output(&kit, id).contains(r#"data={"event":"push"} key=hook-1"#));
    // The same key in the header, as webhooks send it.
    let auth = format!("Bearer {}", srv.token);
    let dup = http::request(
        &srv.target,
        "POST",
        "/v1/tasks/ingest/trigger",
        &[
            ("Authorization", auth.as_str()),
            ("Idempotency-Key", "hook-1"),
        ],
        Some(b"{}"),
    )
    .status(200)
    .json();
    assert_eq!(dup["duplicate"], true);
    assert_eq!(dup["execution_id"], id);
    let big = format!("\"{}\"", "x".repeat(1 << 20));
    srv.post("/v1/tasks/ingest/trigger", &big).status(413);
    let bad = srv
        .post("/v1/tasks/ingest/trigger", "{nope")
        .status(422)
        .json();
    assert_eq!(bad["field"], "data");
    srv.post("/v1/tasks/nosuch/trigger", "").status(404);
    let list = srv.get("/v1/triggers?task=ingest").status(200).json();
    assert_eq!(list["triggers"].as_array().unwrap().len(), 2);
}

#[test]
fn status_list_show_metrics_and_why_show_triggers_and_what_is_pending() {
    let mut kit = Kit::new();
    ingest(&kit, r#"debounce = "1m""#);
    kit.at("2026-03-01T10:00:00Z");
    kit.ctl()
        .args(["trigger", "ingest", "--key", "a", "--data", "[1]"])
        .ok();
    kit.ctl().args(["trigger", "ingest", "--key", "a"]).ok();
    kit.ctl().args(["trigger", "ingest", "--data", "[2]"]).ok();
    let st = kit.ctl().args(["--json", "status"]).run().json();
    assert_eq!(st["triggers"]["today"], 3);
    assert_eq!(st["triggers"]["by_outcome"]["queued"], 1);
    assert_eq!(st["triggers"]["by_outcome"]["coalesced"], 1);
    assert_eq!(st["triggers"]["by_outcome"]["duplicate"], 1);
    assert_eq!(
        st["triggers"]["pending"][0]["due_at"],
        "2026-03-01T10:01:00.000Z"
    );
    assert_eq!(st["triggers"]["pending"][0]["triggers"], 2);
    kit.ctl()
        .arg("status")
        .run()
        .stdout_has("Triggers:   3 today (1 coalesced, 1 duplicate, 1 queued); pending: ingest #1 (2 triggers, due 2026-03-01T10:01:00.000Z)");
    kit.ctl()
        .arg("list")
        .ok()
        .stdout_has("queued #1 (2 triggers, due 2026-03-01T10:01:00.000Z)");
    let show = kit.ctl().args(["show", "ingest"]).ok();
    assert!(
        show.stdout
            .contains("triggered:  when triggered; debounce 1m"),
        "{}",
        show.stdout
    );
    assert!(show.stdout.contains("duplicate"), "{}", show.stdout);
    let m = kit.ctl().arg("metrics").ok().stdout;
    assert!(
        m.contains(r#"kit_triggers_total{task="ingest",source="event",outcome="coalesced"} 1"#),
        "{m}"
    );
    assert!(
        m.contains(r#"kit_triggered_pending{task="ingest"} 1"#),
        "{m}"
    );
    // Nobody starts it for 3 minutes past its deadline: status says so.
    kit.at("2026-03-01T10:04:30Z");
    let st = kit.ctl().args(["--json", "status"]).run().code(1).json();
    let problems = st["problems"].to_string();
    assert!(
        problems.contains("triggered run #1 (2 triggers) has waited"),
        "{problems}"
    );
    // The run, once started, is explained with what it consumed.
    kit.tick().ok();
    wait_for(LONG, "the run", || kit.statuses("ingest") == ["success"]);
    let why = kit.ctl().args(["--json", "why", "ingest"]).ok().json();
    let text = why["text"].as_str().unwrap();
    assert!(
        text.contains("Its latest triggered run, execution #1 (event), consumed 2 triggers (a burst that coalesced): #1 (event, received 2026-03-01 10:00 UTC, 3 bytes of data, key a), #3 (event, received 2026-03-01 10:00 UTC, 3 bytes of data); it succeeded"),
        "{text}"
    );
    assert!(
        text.contains(
            "Trigger #2 (event, received 2026-03-01 10:00 UTC) started no run: duplicate key \"a\""
        ),
        "{text}"
    );
}

#[test]
fn a_triggered_run_whose_task_is_disabled_before_it_starts_is_settled_with_why() {
    let mut kit = Kit::new();
    ingest(&kit, r#"debounce = "30s""#);
    kit.at("2026-03-01T10:00:00Z");
    let a = kit.ctl().args(["--json", "trigger", "ingest"]).ok().json();
    let id = a["execution_id"].as_i64().unwrap();
    kit.ctl().args(["disable", "ingest"]).ok();
    kit.at("2026-03-01T10:01:00Z");
    wait_for(LONG, "the row to be settled", || {
        kit.tick().ok();
        kit.statuses("ingest") == ["skipped"]
    });
    let reason: String = kit.scalar(&format!(
        "SELECT reason FROM supervisor_executions WHERE id = {id}"
    ));
    assert_eq!(reason, "the task was disabled after it was triggered");
}

#[test]
fn a_rate_limit_and_a_pause_hold_for_triggers_too() {
    let mut kit = Kit::new();
    kit.at("2025-06-02T10:00:00Z");
    ingest(&kit, "rate_limit = \"2/1h\"");
    for k in ["a", "b"] {
        kit.ctl()
            .args(["--json", "trigger", "ingest", "--key", k, "--wait"])
            .ok();
    }
    // The third within the hour starts nothing: recorded, named, notified.
    let out = kit
        .ctl()
        .args(["--json", "trigger", "ingest", "--key", "c"])
        .run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let j = out.json();
    assert_eq!(j["outcome"], "rate_limited", "{j}");
    assert!(j["reason"].as_str().unwrap().contains("2/1h"), "{j}");
    let skipped = j["execution_id"].as_i64().unwrap();
    assert_eq!(
        kit.scalar::<String>(&format!(
            "SELECT status || ' ' || trigger FROM supervisor_executions WHERE id = {skipped}"
        )),
        "skipped event"
    );
    assert_eq!(
        kit.scalar::<i64>("SELECT count(*) FROM supervisor_events WHERE kind = 'rate_limited'"),
        1
    );
    // An hour later the limit admits again, but a pause refuses, naming it.
    kit.at("2025-06-02T11:01:00Z");
    kit.ctl()
        .args(["pause", "ingest", "--for", "1h", "--reason", "maintenance"])
        .ok();
    let out = kit.ctl().args(["--json", "trigger", "ingest"]).run();
    assert_eq!(out.code, 1, "{}", out.stdout);
    let j = out.json();
    assert_eq!(j["outcome"], "refused", "{j}");
    assert!(j["reason"].as_str().unwrap().contains("maintenance"), "{j}");
    assert_eq!(kit.count("task = 'ingest' AND status = 'success'"), 2);
}
