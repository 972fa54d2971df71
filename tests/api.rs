//! `kit-ctl serve`: the REST API end to end, over real sockets, against the
//! real binaries. Each test starts its own server on a free loopback port
//! (or a Unix socket) in its own throwaway kit.

mod keep_util;
mod support;

use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;
use support::http::{exchange, parse, request, Target};
use support::{wait_for, Kit};

const NOW: &str = "2025-06-02T10:00:00Z";

fn kit() -> Kit {
    let mut kit = Kit::new();
    kit.at(NOW);
    kit
}

/// Runs one of scripts/*.sh (they install their Python tools into target/).
fn script(name: &str, args: &[&str], env: &[(&str, &str)]) -> support::Out {
    let mut c = std::process::Command::new("sh");
    c.arg(format!("{}/scripts/{name}", env!("CARGO_MANIFEST_DIR")))
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run sh");
    support::Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn task_body(name: &str) -> String {
    json!({ "name": name, "schedule": "*/10 * * * *", "command": ["echo", "hello from", name] })
        .to_string()
}

/// Every route of the API with sample parameters (the OpenAPI test checks
/// the same list against the served document).
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/status"),
    ("GET", "/v1/tasks"),
    ("POST", "/v1/tasks"),
    ("GET", "/v1/tasks/t1"),
    ("PUT", "/v1/tasks/t1"),
    ("PATCH", "/v1/tasks/t1"),
    ("DELETE", "/v1/tasks/t1"),
    ("POST", "/v1/tasks/t1/run"),
    ("POST", "/v1/tasks/t1/trigger"),
    ("POST", "/v1/tasks/t1/enable"),
    ("POST", "/v1/tasks/t1/disable"),
    ("GET", "/v1/tasks/t1/why"),
    ("GET", "/v1/tasks/t1/next"),
    ("POST", "/v1/tasks/t1/override"),
    ("DELETE", "/v1/tasks/t1/override"),
    ("POST", "/v1/tasks/t1/pause"),
    ("DELETE", "/v1/tasks/t1/pause"),
    ("POST", "/v1/tasks/t1/at"),
    ("GET", "/v1/overrides"),
    ("GET", "/v1/daemons"),
    ("POST", "/v1/daemons/d1/restart"),
    ("POST", "/v1/daemons/d1/stop"),
    ("POST", "/v1/daemons/d1/start"),
    ("GET", "/v1/executions"),
    ("GET", "/v1/executions/1"),
    ("GET", "/v1/events"),
    ("GET", "/v1/triggers"),
    ("GET", "/metrics"),
    ("GET", "/v1/openapi.json"),
];

fn seed_daemon_and_task(kit: &Kit) {
    kit.tasks(
        r#"
[[task]]
name = "t1"
schedule = "*/10 * * * *"
command = "echo t1"

[[task]]
name = "d1"
schedule = "@daemon"
command = "sleep 1000"
"#,
    );
}

#[test]
fn every_route_refuses_a_missing_or_wrong_token_and_does_nothing() {
    let kit = kit();
    seed_daemon_and_task(&kit);
    let srv = kit.serve(&[]);
    let before_tasks: i64 = kit.scalar("SELECT count(*) FROM supervisor_tasks");
    let body = task_body("t1");
    for (method, path) in ROUTES {
        let b = matches!(*method, "POST" | "PUT" | "PATCH").then_some(body.as_str());
        let r = srv.anonymous(method, path, b).status(401);
        assert_eq!(r.json()["status"], 401, "{method} {path}");
        assert!(
            r.header("WWW-Authenticate")
                .is_some_and(|h| h.starts_with("Bearer")),
            "{method} {path}"
        );
        for wrong in [
            "Bearer nope",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            &format!("Bearer {}x", srv.token),
            &format!("bearer {}", &srv.token[1..]),
        ] {
            let h = [
                ("Authorization", wrong),
                ("Content-Type", "application/json"),
            ];
            let r = request(&srv.target, method, path, &h, b.map(str::as_bytes));
            assert_eq!(
                r.status,
                401,
                "{method} {path} with {wrong:?}: {}",
                r.text()
            );
        }
    }
    // Unknown routes too: without the token nothing tells which routes exist.
    srv.anonymous("GET", "/v1/nothing-here", None).status(401);
    // Nothing was done.
    assert_eq!(
        kit.scalar::<i64>("SELECT count(*) FROM supervisor_tasks"),
        before_tasks
    );
    assert_eq!(
        kit.scalar::<i64>("SELECT enabled FROM supervisor_tasks WHERE name = 't1'"),
        1
    );
    assert_eq!(kit.count("1"), 0, "no execution was started");
    assert_eq!(
        kit.scalar::<i64>("SELECT count(*) FROM supervisor_requests"),
        0
    );
    // The page itself is public (it holds no data); /metrics is not.
    let page = srv.anonymous("GET", "/", None).status(200);
    assert!(page
        .header("Content-Type")
        .unwrap()
        .starts_with("text/html"));
}

#[test]
fn the_token_file_is_created_once_0600_with_256_random_bits() {
    let kit = kit();
    let first = kit.serve(&[]);
    let path = kit.home.join("api-token");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(first.token.len(), 64, "256 bits as hex: {}", first.token);
    assert!(first.token.chars().all(|c| c.is_ascii_hexdigit()));
    // (stderr follows the first stdout line: wait for it.)
    wait_for(Duration::from_secs(10), "the token message", || {
        first.stderr().contains("created the API token")
    });
    first.get("/v1/status").status(200);
    drop(first);
    // A second serve reuses it.
    let second = kit.serve(&[]);
    second.get("/v1/status").status(200);
    wait_for(Duration::from_secs(10), "the token message", || {
        second.stderr().contains("API token in")
    });
    assert!(!second.stderr().contains("created"), "{}", second.stderr());
    drop(second);
    // KIT_API_TOKEN wins over the file.
    let mut srv = kit.serve_with(
        kit.ctl()
            .env("KIT_API_TOKEN", "an-agent-chose-this-token")
            .args(["serve", "--listen", "127.0.0.1:0"]),
    );
    srv.get("/v1/status").status(401);
    srv.token = "an-agent-chose-this-token".into();
    srv.get("/v1/status").status(200);
    drop(srv);
    // A guessable KIT_API_TOKEN or a readable token file is refused.
    kit.ctl()
        .env("KIT_API_TOKEN", "short")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .run()
        .fails()
        .stderr_has("at least 16");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    kit.ctl()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .run()
        .fails()
        .stderr_has("chmod 600");
}

#[test]
fn tasks_are_created_read_replaced_patched_and_deleted() {
    let kit = kit();
    let srv = kit.serve(&[]);
    let r = srv.post("/v1/tasks", &task_body("telemetry")).status(201);
    assert_eq!(r.header("Location"), Some("/v1/tasks/telemetry"));
    let v = r.json();
    assert_eq!(v["change"], "created");
    assert_eq!(v["task"]["name"], "telemetry");
    assert_eq!(v["task"]["enabled"], true);
    assert_eq!(v["task"]["last_run"], Value::Null);
    // The same definition kit-ctl export shows.
    let export = kit.ctl().arg("export").ok().stdout;
    assert!(
        export.contains("name = \"telemetry\"") && export.contains("*/10 * * * *"),
        "{export}"
    );

    srv.post("/v1/tasks", &task_body("telemetry")).status(409);
    let list = srv.get("/v1/tasks").status(200).json();
    assert_eq!(list["tasks"].as_array().unwrap().len(), 1);
    let one = srv.get("/v1/tasks/telemetry").status(200).json();
    assert_eq!(one["command"], json!(["echo", "hello from", "telemetry"]));
    assert_eq!(one["revision"], 1);

    // PUT replaces (the name may be omitted: the URL names the task).
    let put =
        json!({ "schedule": "@hourly", "command": "echo replaced", "timeout": "5m" }).to_string();
    let v = srv
        .call("PUT", "/v1/tasks/telemetry", Some(&put))
        .status(200)
        .json();
    assert_eq!(v["change"], "updated");
    assert_eq!(v["task"]["schedule"], "@hourly");
    assert_eq!(v["task"]["timeout"], "5m");
    assert_eq!(v["task"]["revision"], 2);
    let v = srv
        .call("PUT", "/v1/tasks/telemetry", Some(&put))
        .status(200)
        .json();
    assert_eq!(v["change"], "unchanged");
    // PUT of a new name creates.
    srv.call("PUT", "/v1/tasks/other", Some(&put)).status(201);

    // PATCH changes only what it names; null resets a field to its default.
    let v = srv
        .call(
            "PATCH",
            "/v1/tasks/telemetry",
            Some(r#"{"description": "car data", "timeout": null}"#),
        )
        .status(200)
        .json();
    assert_eq!(v["task"]["description"], "car data");
    assert_eq!(v["task"]["schedule"], "@hourly");
    assert!(v["task"].get("timeout").is_none(), "{v}");
    let v = srv
        .call(
            "PATCH",
            "/v1/tasks/telemetry",
            Some(r#"{"enabled": false}"#),
        )
        .status(200)
        .json();
    assert_eq!(v["task"]["enabled"], false);
    srv.call("PATCH", "/v1/tasks/nope", Some("{}")).status(404);

    let v = srv
        .call("DELETE", "/v1/tasks/telemetry", None)
        .status(200)
        .json();
    assert_eq!(v, json!({ "name": "telemetry", "change": "removed" }));
    srv.get("/v1/tasks/telemetry").status(404);
    srv.call("DELETE", "/v1/tasks/telemetry", None).status(404);
    // A 404 suggests close names.
    let e = srv.get("/v1/tasks/othr").status(404).json();
    assert!(e["error"].as_str().unwrap().contains("other"), "{e}");
}

#[test]
fn bad_bodies_get_400_or_422_naming_the_field_and_never_a_500() {
    let kit = kit();
    let srv = kit.serve(&[]);
    // (body, status, field)
    let cases: &[(&str, u16, Option<&str>)] = &[
        ("", 400, None),
        ("{", 400, None),
        ("not json", 400, None),
        ("[1, 2]", 422, None),
        ("\"a string\"", 422, None),
        (
            r#"{"schedule": "@hourly", "command": "x"}"#,
            422,
            Some("name"),
        ),
        (r#"{"name": "a", "command": "x"}"#, 422, Some("schedule")),
        (
            r#"{"name": "a", "schedule": "@hourly"}"#,
            422,
            Some("command"),
        ),
        (
            r#"{"name": "a", "schedule": "@hourly", "command": "x", "colour": "red"}"#,
            422,
            Some("colour"),
        ),
        (
            r#"{"name": "a", "schedule": "@hourly", "command": 42}"#,
            422,
            Some("command"),
        ),
        (
            r#"{"name": "a", "schedule": "@hourly", "command": []}"#,
            422,
            Some("command"),
        ),
        (
            r#"{"name": "a", "schedule": "@hourly", "command": ""}"#,
            422,
            Some("command"),
        ),
        (
            r#"{"name": "a", "schedule": "61 * * * *", "command": "x"}"#,
            422,
            Some("schedule"),
        ),
        (
            r#"{"name": "a", "schedule": "@hourly", "command": "x", "timezone": "Mars/Base"}"#,
            422,
            Some("timezone"),
        ),
        (
            r#"{"name": "a", "schedule": "@hourly", "command": "x", "timeout": "soon"}"#,
            422,
            Some("timeout"),
        ),
        (
            r#"{"name": "a", "schedule": "@hourly", "command": "x", "retries": -1}"#,
            422,
            Some("retries"),
        ),
        (
            r#"{"name": "a", "schedule": "@hourly", "command": "x", "nice": 40}"#,
            422,
            Some("nice"),
        ),
        (
            r#"{"name": "a", "schedule": "@hourly", "command": "x", "cwd": "relative/dir"}"#,
            422,
            Some("cwd"),
        ),
        (
            r#"{"name": "a", "schedule": "@hourly", "command": "x", "limits": {"nofile": "many"}}"#,
            422,
            Some("limits.nofile"),
        ),
        (
            r#"{"name": "a", "schedule": "@hourly", "command": "x", "recovery": {"actions": ["reboot:now"]}}"#,
            422,
            Some("recovery.actions"),
        ),
        (
            r#"{"name": "Bad Name", "schedule": "@hourly", "command": "x"}"#,
            422,
            Some("name"),
        ),
        (
            r#"{"name": "a", "schedule": "@hourly", "command": "x", "enabled": "yes"}"#,
            422,
            Some("enabled"),
        ),
        (
            r#"{"name": "a", "schedule": "@hourly", "command": "x", "env": {"A=B": "c"}}"#,
            422,
            Some("env"),
        ),
    ];
    for (body, status, field) in cases {
        let r = srv.post("/v1/tasks", body);
        assert_eq!(r.status, *status, "body {body:?}: {}", r.text());
        let e = r.json();
        assert_eq!(e["status"], *status);
        assert!(!e["error"].as_str().unwrap().is_empty());
        if let Some(f) = field {
            assert_eq!(e["field"], *f, "body {body:?}: {e}");
        }
    }
    // PUT: the body may not rename the task.
    let e = srv
        .call("PUT", "/v1/tasks/b", Some(&task_body("a")))
        .status(422)
        .json();
    assert_eq!(e["field"], "name");
    // A body that is not JSON by its own account.
    let h = [
        ("Authorization", format!("Bearer {}", srv.token)),
        ("Content-Type", "application/x-www-form-urlencoded".into()),
    ];
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = request(
        &srv.target,
        "POST",
        "/v1/tasks",
        &h,
        Some(task_body("a").as_bytes()),
    );
    assert_eq!(r.status, 415, "{}", r.text());
    // Nothing was created by any of them.
    assert_eq!(
        kit.scalar::<i64>("SELECT count(*) FROM supervisor_tasks"),
        0
    );
    // Bad query parameters name themselves too.
    for (path, field) in [
        ("/v1/executions?limit=0", "limit"),
        ("/v1/executions?limit=abc", "limit"),
        ("/v1/executions?since=yesterday-ish", "since"),
        ("/v1/executions?status=great", "status"),
        ("/v1/executions?staus=failed", "staus"),
        ("/v1/executions?before_id=-3", "before_id"),
        ("/v1/events?limit=100000", "limit"),
        ("/v1/executions/abc", "id"),
    ] {
        let e = srv.get(path).status(400).json();
        assert_eq!(e["field"], field, "{path}: {e}");
    }
}

#[test]
fn unknown_routes_are_404_and_wrong_methods_405_with_allow() {
    let kit = kit();
    let srv = kit.serve(&[]);
    for path in [
        "/v1",
        "/v1/",
        "/v1/tasks/",
        "/v2/tasks",
        "/v1/tasks/a/b/c",
        "/index.html",
        "/v1/executions/1/output",
    ] {
        let e = srv.get(path).status(404).json();
        assert_eq!(e["status"], 404, "{path}");
    }
    for (method, path, allow) in [
        ("DELETE", "/v1/tasks", "GET, POST"),
        ("POST", "/v1/status", "GET"),
        ("GET", "/v1/tasks/a/run", "POST"),
        ("PUT", "/v1/executions/1", "GET"),
        ("POST", "/", "GET"),
        ("GET", "/v1/daemons/a/restart", "POST"),
    ] {
        let r = srv.call(method, path, None).status(405);
        assert_eq!(r.header("Allow"), Some(allow), "{method} {path}");
        assert_eq!(r.json()["status"], 405);
    }
}

#[test]
fn a_body_over_one_mebibyte_is_refused_with_413() {
    let kit = kit();
    let srv = kit.serve(&[]);
    let big = format!(
        "{{\"name\": \"a\", \"schedule\": \"@hourly\", \"command\": \"{}\"}}",
        "x".repeat(1 << 20)
    );
    let r = srv.post("/v1/tasks", &big);
    assert_eq!(r.status, 413, "{}", r.text());
    // Just under the limit is fine (and then judged on its content).
    let env: serde_json::Map<String, Value> = (0..2000)
        .map(|i| (format!("K{i}"), Value::String("v".repeat(400))))
        .collect();
    let ok = json!({ "name": "big-env", "schedule": "@hourly", "command": "env", "env": env })
        .to_string();
    assert!(ok.len() < 1 << 20 && ok.len() > 800_000);
    srv.post("/v1/tasks", &ok).status(201);
    srv.get("/v1/status").status(200);
}

#[test]
fn a_huge_declared_body_is_refused_without_harm() {
    // tiny_http 0.12 allocated the declared size on drop, aborting the
    // server (vendor/tiny_http/KIT-PATCHES.md); with and without the token.
    let kit = kit();
    let mut srv = kit.serve(&[]);
    let auth = format!("Authorization: Bearer {}\r\n", srv.token);
    for extra in ["", auth.as_str()] {
        let head = format!(
            "POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}Content-Length: 999999999999999999\r\n\r\n{{}}"
        );
        let raw = exchange(&srv.target, head.as_bytes());
        let r = parse(&raw);
        assert!(r.status == 401 || r.status == 413, "{}", r.text());
    }
    assert!(srv.alive(), "server died:\n{}", srv.stderr());
    srv.get("/v1/status").status(200);
}

#[test]
fn oversized_header_lines_close_the_connection_and_the_server_goes_on() {
    let kit = kit();
    let mut srv = kit.serve(&[]);
    let mut req = b"GET /v1/status HTTP/1.1\r\nX-Big: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 200_000));
    req.extend_from_slice(b"\r\n\r\n");
    let _ = exchange(&srv.target, &req);
    let many: String = (0..500).map(|i| format!("X-{i}: y\r\n")).collect();
    let raw = exchange(
        &srv.target,
        format!("GET /v1/status HTTP/1.1\r\n{many}\r\n").as_bytes(),
    );
    assert!(raw.is_empty() || String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 400"));
    assert!(srv.alive(), "server died:\n{}", srv.stderr());
    srv.get("/v1/status").status(200);
}

#[test]
fn a_task_created_over_http_is_claimed_by_the_next_tick_and_run() {
    let mut kit = kit();
    kit.tick().ok(); // kit-tick has been running all along.
    let srv = kit.serve(&[]);
    srv.post("/v1/tasks", &task_body("telemetry")).status(201);
    // No restart of anything: the next tick reads it from the DB.
    kit.at("2025-06-02T10:01:00Z");
    assert!(
        kit.tick().ok().stdout.trim().is_empty(),
        "not due before 10:10"
    );
    kit.at("2025-06-02T10:10:01Z");
    assert_eq!(kit.tick().ok().lines(), vec!["telemetry"]);
    kit.run().arg("telemetry").ok();
    let page = srv.get("/v1/executions?task=telemetry").status(200).json();
    let rows = page["executions"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{page}");
    assert_eq!(rows[0]["status"], "success");
    assert_eq!(rows[0]["trigger"], "schedule");
    assert_eq!(rows[0]["scheduled_for"], "2025-06-02T10:10:00.000Z");
    let id = rows[0]["id"].as_i64().unwrap();
    let one = srv.get(&format!("/v1/executions/{id}")).status(200).json();
    assert_eq!(one["output"], "hello from telemetry\n");
    let task = srv.get("/v1/tasks/telemetry").status(200).json();
    assert_eq!(task["last_run"]["id"], id);
}

#[test]
fn run_starts_kit_run_with_the_api_trigger_and_answers_202() {
    let kit = kit();
    seed_daemon_and_task(&kit);
    let srv = kit.serve(&[]);
    let v = srv.post("/v1/tasks/t1/run", "").status(202).json();
    assert_eq!(v["task"], "t1");
    assert_eq!(v["trigger"], "api");
    assert!(v["pid"].as_i64().unwrap() > 0);
    wait_for(Duration::from_secs(20), "the api run to finish", || {
        kit.count("task = 't1' AND status = 'success'") == 1
    });
    assert_eq!(
        kit.scalar::<String>("SELECT trigger FROM supervisor_executions WHERE task = 't1'"),
        "api"
    );
    srv.post("/v1/tasks/nope/run", "").status(404);
    // A daemon is kit-keep's to run.
    srv.post("/v1/tasks/d1/run", "").status(409);
}

#[test]
fn enable_and_disable_switch_the_task_and_say_whether_it_changed() {
    let kit = kit();
    seed_daemon_and_task(&kit);
    let srv = kit.serve(&[]);
    let v = srv.post("/v1/tasks/t1/disable", "").status(200).json();
    assert_eq!(
        v,
        json!({ "name": "t1", "enabled": false, "changed": true })
    );
    assert_eq!(
        srv.post("/v1/tasks/t1/disable", "").status(200).json()["changed"],
        false
    );
    let t = srv.get("/v1/tasks/t1").json();
    assert_eq!(t["enabled"], false);
    assert_eq!(t["disabled_reason"], "disabled over the API");
    assert_eq!(t["next"], "disabled");
    let v = srv.post("/v1/tasks/t1/enable", "").status(200).json();
    assert_eq!(v["changed"], true);
    assert_eq!(
        kit.scalar::<i64>("SELECT enabled FROM supervisor_tasks WHERE name = 't1'"),
        1
    );
    srv.post("/v1/tasks/nope/enable", "").status(404);
}

#[test]
fn daemon_actions_queue_requests_for_kit_keep() {
    let kit = kit();
    seed_daemon_and_task(&kit);
    let srv = kit.serve(&[]);
    for action in ["restart", "stop", "start"] {
        let v = srv
            .post(&format!("/v1/daemons/d1/{action}"), "")
            .status(202)
            .json();
        assert_eq!(v["action"], action);
        assert_eq!(v["request"]["requested_by"], "api");
        assert_eq!(v["request"]["done_at"], Value::Null);
    }
    let actions: Vec<String> = {
        let c = kit.conn();
        let mut s = c
            .prepare("SELECT action FROM supervisor_requests ORDER BY id")
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(actions, vec!["restart", "stop", "start"]);
    srv.post("/v1/daemons/t1/restart", "").status(409);
    srv.post("/v1/daemons/nope/restart", "").status(404);
    let e = srv
        .post("/v1/daemons/d1/restart?wait=99", "")
        .status(400)
        .json();
    assert_eq!(e["field"], "wait");
    // Nobody acts on it here (no kit-keep): a short wait answers 202.
    srv.post("/v1/daemons/d1/restart?wait=1", "").status(202);
    let list = srv.get("/v1/daemons").status(200).json();
    assert!(list["daemons"].is_array());
}

#[test]
fn a_daemon_created_over_http_is_started_by_kit_keep_within_two_seconds() {
    let kit = Kit::new(); // kit-keep runs on the real clock.
    let mut keep = keep_util::start(&kit);
    let srv = kit.serve(&[]);
    let body =
        json!({ "name": "relay", "schedule": "@daemon", "command": "exec sleep 1000" }).to_string();
    let created = std::time::Instant::now();
    srv.post("/v1/tasks", &body).status(201);
    wait_for(
        Duration::from_secs(2),
        "kit-keep to start the new daemon",
        || kit.count("task = 'relay' AND trigger = 'daemon' AND status = 'running'") == 1,
    );
    let took = created.elapsed();
    let d = srv.get("/v1/daemons").status(200).json();
    wait_for(Duration::from_secs(5), "the daemon to show as up", || {
        srv.get("/v1/daemons").json()["daemons"][0]["up"] == true
    });
    assert_eq!(d["daemons"][0]["task"], "relay");
    // Stop over the API, waiting for kit-keep's answer.
    let v = srv
        .post("/v1/daemons/relay/stop?wait=10", "")
        .status(200)
        .json();
    assert!(v["request"]["done_at"].is_string(), "{v}");
    assert!(took < Duration::from_secs(2));
    keep.term();
}

#[test]
fn executions_are_filtered_and_paged_with_the_before_id_cursor() {
    let kit = kit();
    let srv = kit.serve(&[]); // creates the DB
    {
        let c = kit.conn();
        for i in 0..25 {
            let (task, status) = if i % 5 == 0 {
                ("b", "failed")
            } else {
                ("a", "success")
            };
            c.execute(
                "INSERT INTO supervisor_executions(task, trigger, created_at, started_at, finished_at, status, output)
                 VALUES (?1, 'manual', ?2, ?2, ?2, ?3, CAST(?4 AS BLOB))",
                rusqlite::params![task, format!("2025-06-01T10:{i:02}:00.000Z"), status, format!("out {i}\n")],
            )
            .unwrap();
        }
    }
    let mut ids = Vec::new();
    let mut cursor: Option<i64> = None;
    loop {
        let q = match cursor {
            Some(c) => format!("/v1/executions?limit=10&before_id={c}"),
            None => "/v1/executions?limit=10".to_string(),
        };
        let page = srv.get(&q).status(200).json();
        ids.extend(
            page["executions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        match page["next_before_id"].as_i64() {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        ids,
        (1..=25).rev().collect::<Vec<i64>>(),
        "newest first, each once"
    );
    let failed = srv.get("/v1/executions?status=failed").json();
    assert_eq!(failed["executions"].as_array().unwrap().len(), 5);
    let both = srv
        .get("/v1/executions?status=failed,success&task=a")
        .json();
    assert_eq!(both["executions"].as_array().unwrap().len(), 20);
    let since = srv.get("/v1/executions?since=2025-06-01T10:20:00Z").json();
    assert_eq!(since["executions"].as_array().unwrap().len(), 5);
    let since = srv
        .get("/v1/executions?since=2025-06-01T12:20:00%2B02:00&until=2025-06-01T10:22:00Z")
        .json();
    assert_eq!(since["executions"].as_array().unwrap().len(), 2);
    let one = srv.get("/v1/executions/3").status(200).json();
    assert_eq!(one["output"], "out 2\n");
    assert_eq!(one["status"], "success");
    srv.get("/v1/executions/999").status(404);
    srv.get("/v1/executions?task=nope").status(404);
}

#[test]
fn events_are_listed_newest_first_and_paged() {
    let kit = kit();
    let srv = kit.serve(&[]); // creates the DB
    {
        let c = kit.conn();
        for i in 0..7 {
            c.execute(
                "INSERT INTO supervisor_events(created_at, kind, severity, task, message, detail)
                 VALUES (?1, ?2, 'warning', 't', ?3, '{\"streak\": 3}')",
                rusqlite::params![
                    format!("2025-06-01T10:0{i}:00.000Z"),
                    if i % 2 == 0 { "failing" } else { "recovered" },
                    format!("event {i}")
                ],
            )
            .unwrap();
        }
    }
    let page = srv.get("/v1/events?limit=5").status(200).json();
    let ev = page["events"].as_array().unwrap();
    assert_eq!(ev.len(), 5);
    assert_eq!(ev[0]["message"], "event 6");
    assert_eq!(ev[0]["detail"]["streak"], 3);
    let next = page["next_before_id"].as_i64().unwrap();
    let rest = srv
        .get(&format!("/v1/events?limit=5&before_id={next}"))
        .json();
    assert_eq!(rest["events"].as_array().unwrap().len(), 2);
    assert_eq!(rest["next_before_id"], Value::Null);
    let failing = srv.get("/v1/events?kind=failing&task=t").json();
    assert_eq!(failing["events"].as_array().unwrap().len(), 4);
}

#[test]
fn status_why_and_metrics_serve_what_the_cli_prints() {
    let kit = kit();
    seed_daemon_and_task(&kit);
    let srv = kit.serve(&[]);
    let s = srv.get("/v1/status").status(200).json();
    assert_eq!(s["now"], "2025-06-02T10:00:00.000Z");
    assert_eq!(s["tasks"]["total"], 2);
    let cli = kit.ctl().args(["status", "--json"]).run();
    let cli: Value = serde_json::from_str(&cli.stdout).unwrap();
    assert_eq!(s["tasks"], cli["tasks"]);
    let w = srv.get("/v1/tasks/t1/why").status(200).json();
    assert_eq!(w["task"], "t1");
    assert!(!w["text"].as_str().unwrap().is_empty());
    srv.get("/v1/tasks/nope/why").status(404);
    let m = srv.get("/metrics").status(200);
    assert!(m.header("Content-Type").unwrap().starts_with("text/plain"));
    assert!(m.text().contains("# TYPE"), "{}", m.text());
    srv.anonymous("GET", "/metrics", None).status(401);
    drop(srv);
    let public = kit.serve(&["--metrics-public"]);
    public.anonymous("GET", "/metrics", None).status(200);
    public.anonymous("GET", "/v1/status", None).status(401);
}

#[test]
fn the_openapi_document_lists_exactly_the_routes_that_answer() {
    let kit = kit();
    seed_daemon_and_task(&kit);
    let srv = kit.serve(&[]);
    let doc = srv.get("/v1/openapi.json").status(200).json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in ["get", "post", "put", "patch", "delete"] {
            if item.get(m).is_some() {
                documented.push((
                    m.to_uppercase(),
                    path.replace("{name}", "t1").replace("{id}", "1"),
                ));
            }
        }
    }
    let mut ours: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.replace("d1", "t1")))
        .collect();
    ours.push(("GET".into(), "/".into()));
    ours.sort();
    documented.sort();
    assert_eq!(documented, ours, "the document and the route list differ");
    // Each documented route answers as a route (not 404 "no such route", not 405).
    for (m, p) in &documented {
        let body = matches!(m.as_str(), "POST" | "PUT" | "PATCH").then_some("{}");
        let r = srv.call(m, p, body);
        assert!(
            r.status != 405 && r.status < 500,
            "{m} {p}: {} {}",
            r.status,
            r.text()
        );
        if r.status == 404 {
            assert!(
                !r.text().contains("no such route"),
                "{m} {p} is documented but not routed"
            );
        }
    }
    // And it is a valid OpenAPI document (when the validator can be installed).
    let file = kit.file("openapi.json", &doc.to_string());
    let out = script("check-openapi.sh", &[file.to_str().unwrap()], &[]);
    match out.code {
        0 => assert!(out.stdout.contains("valid"), "{}", out.stdout),
        77 => eprintln!("SKIPPED openapi-spec-validator: {}", out.stderr.trim()),
        _ => panic!(
            "the OpenAPI document is invalid:\n{}\n{}",
            out.stdout, out.stderr
        ),
    }
}

#[test]
fn listening_beyond_loopback_needs_allow_remote() {
    let kit = kit();
    let out = kit
        .ctl()
        .args(["serve", "--listen", "0.0.0.0:0"])
        .run()
        .fails()
        .code(2);
    assert!(out.stderr.contains("--allow-remote"), "{}", out.stderr);
    kit.ctl()
        .args(["serve", "--listen", "not an address"])
        .run()
        .code(2)
        .stderr_has("--listen");
    // Loopback in any spelling is fine.
    let srv = kit.serve_with(kit.ctl().args(["serve", "--listen", "localhost:0"]));
    srv.get("/v1/status").status(200);
}

#[test]
fn a_unix_socket_is_created_0600_and_replaces_a_stale_one() {
    let kit = kit();
    let sock = kit.path("run/api.sock");
    let srv = kit.serve_with(kit.ctl().args(["serve", "--socket"]).arg(&sock));
    assert!(matches!(srv.target, Target::Unix(_)));
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    srv.get("/v1/status").status(200);
    srv.anonymous("GET", "/v1/status", None).status(401);
    // A second server on a live socket is refused.
    kit.ctl()
        .args(["serve", "--socket"])
        .arg(&sock)
        .run()
        .fails()
        .stderr_has("already listening");
    drop(srv);
    assert!(!sock.exists(), "the socket is removed on exit");
    // A stale socket (its server killed) is replaced.
    let _stale = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    drop(_stale);
    let srv = kit.serve_with(kit.ctl().args(["serve", "--socket"]).arg(&sock));
    srv.get("/v1/status").status(200);
    drop(srv);
    // Anything else at the path is left alone.
    std::fs::write(&sock, "precious").unwrap();
    kit.ctl()
        .args(["serve", "--socket"])
        .arg(&sock)
        .run()
        .fails()
        .stderr_has("not a socket");
    assert_eq!(std::fs::read_to_string(&sock).unwrap(), "precious");
}

#[test]
fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    if std::env::var_os("KIT_SKIP_SCHEMATHESIS").is_some() {
        eprintln!("SKIPPED schemathesis: KIT_SKIP_SCHEMATHESIS is set");
        return;
    }
    let kit = kit();
    // The names the document's examples use, so that those requests succeed.
    kit.tasks(
        r#"
[[task]]
name = "vehicle-telemetry"
schedule = "*/10 * * * *"
command = "echo telemetry"

[[task]]
name = "chrome-relay"
schedule = "@daemon"
command = "sleep 1000"
"#,
    );
    let srv = kit.serve(&[]);
    let out = script(
        "schemathesis.sh",
        &[&srv.url],
        &[
            ("KIT_API_TOKEN", &srv.token),
            ("SCHEMATHESIS_MAX_EXAMPLES", "25"),
        ],
    );
    match out.code {
        0 => {}
        77 => eprintln!("SKIPPED schemathesis: {}", out.stderr.trim()),
        _ => panic!(
            "schemathesis found problems:\n{}\n{}",
            out.stdout, out.stderr
        ),
    }
}

#[test]
fn keep_alive_requests_are_not_held_back_by_nagle() {
    // Before TCP_NODELAY (vendor/tiny_http/KIT-PATCHES.md) each request on
    // a kept-alive connection waited ~40 ms for a delayed ACK.
    use std::io::{BufRead, BufReader, Read, Write};
    let kit = kit();
    seed_daemon_and_task(&kit);
    let srv = kit.serve(&[]);
    let Target::Tcp(addr) = &srv.target else {
        unreachable!()
    };
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let req = format!(
        "GET /v1/openapi.json HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        srv.token
    );
    let started = std::time::Instant::now();
    for _ in 0..20 {
        writer.write_all(req.as_bytes()).unwrap();
        let mut len = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        assert!(body.starts_with(b"{"));
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(600),
        "20 keep-alive requests took {took:?}"
    );
}

#[test]
fn an_outside_sqlite_connection_closing_does_not_break_the_servers_connections() {
    // serve holds several connections (workers open lazily, the heartbeat
    // has its own). Each Store::open once closed a descriptor of the DB
    // file, which drops every POSIX lock the process holds on it: the next
    // outside connection to close (sqlite3, a script) took the file as
    // unused and deleted the WAL under serve, whose writes then failed
    // with "disk I/O error".
    let kit = kit();
    seed_daemon_and_task(&kit);
    let srv = kit.serve(&[]);
    for _ in 0..6 {
        srv.get("/v1/tasks").status(200);
    }
    for round in 0..4 {
        {
            let c = kit.conn();
            let n: i64 = c
                .query_row("SELECT count(*) FROM supervisor_tasks", [], |r| r.get(0))
                .unwrap();
            assert!(n > 0);
        } // closed here, as `sqlite3 kit.db '...'` closes
        let action = if round % 2 == 0 { "disable" } else { "enable" };
        let r = srv.post(&format!("/v1/tasks/t1/{action}"), "");
        assert_eq!(r.status, 200, "round {round}: {}", r.text());
        assert!(
            kit.db.with_extension("db-wal").exists(),
            "round {round}: the WAL was deleted under the server"
        );
    }
}
