//! kit-ctl acting on things: `run NAME` through kit-run, `restart|stop|start`
//! through a real kit-keep, and `completions` / `man` for every tool.

mod support;

use std::time::Duration;
use support::*;

#[test]
fn run_streams_the_output_and_passes_the_exit_code_through() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks(
        "[[task]]\nname = \"job\"\nschedule = \"@daily\"\ncommand = \"echo working; exit 7\"\n",
    );
    kit.ctl()
        .args(["run", "job"])
        .run()
        .code(7)
        .stdout_has("working");
    let rows = kit.ctl().args(["history", "job", "--json"]).ok().json();
    assert_eq!(rows[0]["trigger"], "manual");
    assert_eq!(rows[0]["exit_code"], 7);
    assert_eq!(rows[0]["created_at"], "2025-06-01T10:00:00.000Z");
}

#[test]
fn run_of_an_unknown_task_exits_2_with_close_names() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"job\"\nschedule = \"@daily\"\ncommand = \"true\"\n");
    kit.ctl()
        .args(["run", "jbo"])
        .run()
        .code(2)
        .fails()
        .stderr_has("no task named \"jbo\"")
        .stderr_has("job");
}

#[test]
fn restart_of_a_timed_task_is_refused_with_exit_2() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"job\"\nschedule = \"@daily\"\ncommand = \"true\"\n");
    kit.ctl()
        .args(["restart", "job"])
        .run()
        .code(2)
        .fails()
        .stderr_has("not a daemon");
}

#[test]
fn restart_wait_without_kit_keep_says_so_at_once() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"relay\"\nschedule = \"@daemon\"\ncommand = \"sleep 100\"\n");
    let started = std::time::Instant::now();
    kit.ctl()
        .args(["restart", "relay", "--wait"])
        .run()
        .code(1)
        .fails()
        .stderr_has("kit-keep is not running")
        .stderr_has("stays queued");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Without --wait the request is queued, with a warning.
    kit.ctl()
        .args(["restart", "relay"])
        .ok()
        .stdout_has("requested restart of relay (request #2)")
        .stderr_has("warning: kit-keep is not running");
}

#[test]
fn stop_start_and_restart_act_through_kit_keep_and_show_in_status_why_and_logs() {
    let kit = Kit::new();
    kit.tasks("[[task]]\nname = \"relay\"\nschedule = \"@daemon\"\ncommand = \"echo relay up; exec sleep 100\"\n");
    let mut keep = kit.tool("kit-keep").spawn();
    wait_for(Duration::from_secs(10), "kit-keep to start relay", || {
        kit.ctl().args(["status", "--json"]).run().json()["daemons"]["up"] == 1
    });
    let s = kit.ctl().args(["status", "--json"]).run().code(0).json();
    assert_eq!(s["daemons"]["total"], 1);

    let out = kit.ctl().args(["stop", "relay", "--wait"]).ok();
    assert!(out.stdout.starts_with("relay: "), "{}", out.stdout);
    let s = kit.ctl().args(["status", "--json"]).run().code(0).json();
    assert_eq!(s["daemons"]["stopped"][0]["name"], "relay");
    let w = kit.ctl().args(["why", "relay", "--json"]).ok().json();
    assert_eq!(w["case"], "daemon_stopped");

    kit.ctl().args(["start", "relay", "--wait"]).ok();
    kit.ctl()
        .args(["restart", "relay", "--wait", "--json"])
        .ok();
    let w = kit.ctl().args(["why", "relay", "--json"]).ok().json();
    assert_eq!(w["case"], "daemon_running", "{w}");
    assert!(w["text"].as_str().unwrap().contains("restarted"), "{w}");

    // kit-keep wrote the daemon's output where `logs` reads it.
    wait_for(Duration::from_secs(10), "the log lines", || {
        kit.ctl()
            .args(["logs", "relay"])
            .run()
            .stdout
            .matches("relay up")
            .count()
            >= 3
    });

    unsafe { libc::kill(keep.id() as i32, libc::SIGTERM) };
    let _ = keep.wait();
}

const TOOLS: &[&str] = &[
    "kit-tick", "kit-run", "kit-keep", "kit-heal", "kit-ctl", "kit-db",
];

#[test]
fn completions_cover_every_tool_for_each_shell() {
    let kit = Kit::new();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef"),
        ("fish", "complete -c"),
    ] {
        let out = kit.ctl().args(["completions", shell]).ok();
        for tool in TOOLS {
            assert!(out.stdout.contains(tool), "{shell}: no {tool}");
        }
        assert!(
            out.stdout.matches(marker).count() >= TOOLS.len(),
            "{shell}:\n{}",
            out.stdout
        );
    }
    let one = kit.ctl().args(["completions", "bash", "kit-tick"]).ok();
    assert!(one.stdout.contains("kit-tick") && !one.stdout.contains("kit-heal"));
    let dir = kit.path("zsh");
    kit.ctl()
        .args(["completions", "zsh", "--dir"])
        .arg(&dir)
        .ok();
    for tool in TOOLS {
        let f = std::fs::read_to_string(dir.join(format!("_{tool}"))).unwrap();
        assert!(f.starts_with(&format!("#compdef {tool}")), "{f}");
    }
    kit.ctl()
        .args(["completions", "bash", "kit-nope"])
        .run()
        .code(2)
        .fails()
        .stderr_has("unknown tool");
}

#[test]
fn man_pages_for_every_tool() {
    let kit = Kit::new();
    let page = kit.ctl().args(["man", "kit-tick"]).ok();
    assert!(page.stdout.contains(".TH kit-tick"), "{}", page.stdout);
    let own = kit.ctl().arg("man").ok();
    assert!(own.stdout.contains(".TH kit-ctl"), "{}", own.stdout);
    let dir = kit.path("man1");
    let out = kit
        .ctl()
        .args(["man", "--json", "--dir"])
        .arg(&dir)
        .ok()
        .json();
    assert_eq!(out["written"].as_array().unwrap().len(), TOOLS.len());
    for tool in TOOLS {
        let f = std::fs::read_to_string(dir.join(format!("{tool}.1"))).unwrap();
        assert!(f.contains(&format!(".TH {tool}")), "{tool}");
    }
}
