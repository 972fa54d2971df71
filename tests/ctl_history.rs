//! `kit-ctl history`, `output ID` and `logs NAME` on DBs and log files
//! written by the real tools (logs: in kit-keep's naming, NAME.log and the
//! rotated NAME.log.1 … newest first).

mod support;

use std::io::{Read, Write};
use std::time::Duration;
use support::*;

const TASKS: &str = r#"
[settings]
timezone = "UTC"
[[task]]
name = "ok"
schedule = "*/5 * * * *"
command = "echo fine"
[[task]]
name = "bad"
schedule = "*/5 * * * *"
command = "echo broken; exit 7"
"#;

/// Three ticks (10:00, 10:05, 10:10), each slot run.
fn prepared() -> Kit {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks(TASKS);
    for m in ["00", "05", "10"] {
        kit.at(&format!("2025-06-01T10:{m}:00Z"));
        kit.tick().ok();
        kit.run().args(["ok", "bad"]).run().code(7);
    }
    kit
}

#[test]
fn history_lists_newest_first_and_filters_by_task_status_and_time() {
    let kit = prepared();
    let all = kit.ctl().args(["history", "--json"]).ok().json();
    let ids: Vec<i64> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![6, 5, 4, 3, 2, 1]);

    let bad = kit.ctl().args(["history", "bad", "--json"]).ok().json();
    assert!(bad
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["task"] == "bad" && e["status"] == "failed"));
    assert_eq!(bad[0]["exit_code"], 7);

    let ok = kit
        .ctl()
        .args(["history", "--status", "success", "--limit", "2", "--json"])
        .ok()
        .json();
    assert_eq!(ok.as_array().unwrap().len(), 2);
    assert!(ok
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["status"] == "success"));

    let window = kit
        .ctl()
        .args([
            "history",
            "--since",
            "2025-06-01T10:05:00Z",
            "--until",
            "2025-06-01 10:10",
            "--json",
        ])
        .ok()
        .json();
    let slots: Vec<&str> = window
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["scheduled_for"].as_str().unwrap())
        .collect();
    assert_eq!(
        slots,
        vec!["2025-06-01T10:05:00.000Z", "2025-06-01T10:05:00.000Z"]
    );
}

#[test]
fn history_human_output_is_an_aligned_table() {
    let kit = prepared();
    let out = kit.ctl().args(["history", "bad", "-n", "1"]).ok();
    let lines = out.lines();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(
        lines[0].starts_with("ID  TASK  TRIGGER   STATUS  AT"),
        "{}",
        out.stdout
    );
    assert!(
        lines[1].starts_with("5   bad   schedule  failed  2025-06-01 10:10 UTC"),
        "{}",
        out.stdout
    );
    assert!(lines[1].contains("  7  "), "{}", out.stdout);
}

#[test]
fn history_keeps_a_removed_tasks_executions() {
    let kit = prepared();
    kit.ctl().args(["rm", "bad"]).ok();
    let rows = kit.ctl().args(["history", "bad", "--json"]).ok().json();
    assert_eq!(rows.as_array().unwrap().len(), 3);
}

#[test]
fn history_of_an_unknown_task_exits_2_with_close_names() {
    let kit = prepared();
    kit.ctl()
        .args(["history", "bda"])
        .run()
        .code(2)
        .fails()
        .stderr_has("no task named \"bda\"")
        .stderr_has("bad");
}

#[test]
fn history_rejects_a_malformed_since_naming_the_accepted_forms() {
    let kit = prepared();
    kit.ctl()
        .args(["history", "--since", "last tuesday"])
        .run()
        .code(2)
        .fails()
        .stderr_has("--since")
        .stderr_has("accepted forms: RFC 3339");
}

#[test]
fn history_rejects_an_unknown_status_listing_the_valid_ones() {
    let kit = prepared();
    kit.ctl()
        .args(["history", "--status", "succeeded"])
        .run()
        .code(2)
        .fails()
        .stderr_has("unknown status \"succeeded\"")
        .stderr_has("success, failed");
}

fn raw_stdout(c: Cmd) -> (i32, Vec<u8>) {
    let mut inner = c.inner;
    let out = inner.stdin(std::process::Stdio::null()).output().unwrap();
    (out.status.code().unwrap_or(-1), out.stdout)
}

#[test]
fn output_prints_the_captured_bytes_exactly_even_invalid_utf8() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"bin\"\nschedule = \"@hourly\"\ncommand = \"printf 'a\\\\377b\\\\000c\\\\n'\"\n");
    kit.run().arg("bin").ok();
    let (code, bytes) = raw_stdout(kit.ctl().args(["output", "1"]));
    assert_eq!(code, 0);
    assert_eq!(bytes, b"a\xffb\x00c\n");
    // JSON: text (lossy) plus the exact bytes in base64.
    let v = kit.ctl().args(["output", "1", "--json"]).ok().json();
    assert_eq!(v["utf8"], false);
    assert_eq!(v["output_base64"], "Yf9iAGMK");
}

#[test]
fn output_of_an_unknown_execution_exits_2() {
    let kit = prepared();
    kit.ctl()
        .args(["output", "99"])
        .run()
        .code(2)
        .fails()
        .stderr_has("no execution #99")
        .stderr_has("up to 6");
}

fn daemon_kit() -> Kit {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"relay\"\nschedule = \"@daemon\"\ncommand = \"sleep 100\"\n");
    std::fs::create_dir_all(kit.home.join("logs")).unwrap();
    kit
}

fn lines(from: usize, to: usize) -> String {
    (from..=to).map(|i| format!("line {i}\n")).collect()
}

#[test]
fn logs_prints_the_last_lines_reading_back_across_rotated_files() {
    let kit = daemon_kit();
    let logs = kit.home.join("logs");
    std::fs::write(logs.join("relay.log.2"), lines(1, 10)).unwrap();
    std::fs::write(logs.join("relay.log.1"), lines(11, 20)).unwrap();
    std::fs::write(logs.join("relay.log"), lines(21, 25)).unwrap();
    let out = kit.ctl().args(["logs", "relay", "-n", "12"]).ok();
    assert_eq!(out.stdout, lines(14, 25));
    let all = kit.ctl().args(["logs", "relay", "-n", "1000"]).ok();
    assert_eq!(all.stdout, lines(1, 25));
    let json = kit
        .ctl()
        .args(["logs", "relay", "-n", "2", "--json"])
        .ok()
        .json_lines();
    assert_eq!(json[1]["line"], "line 25");
}

#[test]
fn logs_follow_continues_across_a_rotation() {
    let kit = daemon_kit();
    let live = kit.home.join("logs").join("relay.log");
    std::fs::write(&live, lines(1, 3)).unwrap();
    let mut child = kit.ctl().args(["logs", "relay", "-f", "-n", "1"]).spawn();
    let mut stdout = child.stdout.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let has = |s: &str| seen.lock().unwrap().contains(s);
    wait_for(Duration::from_secs(10), "the last line", || has("line 3\n"));
    std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap()
        .write_all(b"line 4\n")
        .unwrap();
    wait_for(Duration::from_secs(10), "an appended line", || {
        has("line 4\n")
    });
    // Rotate the way kit-keep does: rename, then a new live file.
    let mut old = std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap();
    std::fs::rename(&live, live.with_extension("log.1")).unwrap();
    old.write_all(b"line 5\n").unwrap();
    std::fs::write(&live, "line 6\n").unwrap();
    wait_for(Duration::from_secs(10), "lines after the rotation", || {
        has("line 6\n")
    });
    child.kill().unwrap();
    let _ = child.wait();
    reader.join().unwrap();
    assert_eq!(*seen.lock().unwrap(), "line 3\nline 4\nline 5\nline 6\n");
}

#[test]
fn logs_of_a_timed_task_points_to_its_stored_output() {
    let kit = prepared();
    kit.ctl()
        .args(["logs", "ok"])
        .run()
        .code(1)
        .fails()
        .stderr_has("is not a daemon")
        .stderr_has("kit-ctl output");
}

#[test]
fn logs_of_an_unknown_name_exits_2() {
    let kit = daemon_kit();
    kit.ctl()
        .args(["logs", "rely"])
        .run()
        .code(2)
        .fails()
        .stderr_has("no task named \"rely\"")
        .stderr_has("relay");
}
