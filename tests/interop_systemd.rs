//! `kit-ctl import systemd`, end to end on timers and services in the
//! styles of Debian's units and hand-written ones (tests/data/interop/
//! systemd/): OnCalendar's common forms, OnUnitActiveSec, Persistent,
//! ExecStart's quoting and prefixes, services on their own, lossy notes,
//! --strict, and malformed units refused naming the file and line.

mod interop_util;
mod support;

use serde_json::{json, Value};
use support::*;

fn sample(name: &str) -> String {
    interop_util::sample_in("systemd", name)
        .display()
        .to_string()
}

fn import(kit: &Kit, units: &[&str]) -> (Vec<Value>, Vec<String>) {
    let paths: Vec<String> = units.iter().map(|p| sample(p)).collect();
    interop_util::import_json(kit, "systemd", &paths)
}

#[test]
fn a_persistent_calendar_timer_and_its_service_become_one_task() {
    let kit = Kit::new();
    let (tasks, lossy) = import(&kit, &["security-scan.timer"]);
    assert_eq!(
        tasks,
        [json!({
            "name": "security-scan",
            "schedule": "15 4 * * *",
            "command": ["/usr/local/bin/security-scan", "--quick"],
            "description": "Security scan",
            "timeout": "15m",
            "cwd": "/srv/scan",
            "catch_up": "once",
            "env": {"LANG": "C.UTF-8", "SCAN_PROFILE": "nightly"},
        })]
    );
    assert!(lossy.is_empty(), "{lossy:?}");
}

#[test]
fn on_unit_active_sec_becomes_every_and_on_boot_sec_is_named() {
    let kit = Kit::new();
    let (tasks, lossy) = import(&kit, &["device-poll.timer", "device-poll.service"]);
    assert_eq!(
        tasks.len(),
        1,
        "the service given too is the timer's, not a second task"
    );
    assert_eq!(tasks[0]["schedule"], "@every 10m");
    assert!(tasks[0].get("catch_up").is_none());
    assert_eq!(lossy.len(), 1);
    assert!(
        lossy[0].contains("device-poll.timer:5: OnBootSec=1min"),
        "{lossy:?}"
    );
}

#[test]
fn unit_weekdays_zone_jitter_and_several_exec_start_lines() {
    let kit = Kit::new();
    let (tasks, lossy) = import(&kit, &["backup.timer"]);
    let t = &tasks[0];
    assert_eq!(t["name"], "backup");
    assert_eq!(t["schedule"], "30 2 * * 1-5");
    assert_eq!(t["timezone"], "Europe/Warsaw");
    assert_eq!(t["jitter"], "5m");
    assert_eq!(t["catch_up"], "none");
    assert_eq!(t["kill_grace"], "30s");
    assert_eq!(
        t["command"],
        "/usr/local/bin/snapshot '/var/lib/agent state' && \
         { /usr/local/bin/prune-snapshots --keep 14 || :; }"
    );
    let keys: Vec<&str> = lossy
        .iter()
        .map(|l| l.split(": ").nth(1).unwrap().split('=').next().unwrap())
        .collect();
    assert_eq!(keys, ["After", "User"], "{lossy:?}");
}

#[test]
fn a_minus_prefixed_exec_start_fails_no_more_than_under_systemd() {
    let kit = Kit::new();
    let dir = kit.path("units");
    kit.file("units/tidy.timer", "[Timer]\nOnCalendar=hourly\n");
    kit.file(
        "units/tidy.service",
        "[Service]\nType=oneshot\nExecStart=-/bin/sh -c \"echo first; exit 3\"\nExecStart=/bin/echo \"second  one\"\n",
    );
    kit.ctl()
        .args(["import", "systemd", "--apply"])
        .arg(dir.join("tidy.timer"))
        .ok();
    let out = kit.ctl().args(["run", "tidy"]).ok();
    assert_eq!(out.stdout, "first\nsecond  one\n");
}

#[test]
fn debian_logrotate_and_a_restarting_service() {
    let kit = Kit::new();
    let (tasks, lossy) = import(&kit, &["logrotate.timer", "relay.service"]);
    let rotate = &tasks[0];
    assert_eq!(rotate["schedule"], "0 0 * * *");
    assert_eq!(rotate["catch_up"], "once");
    assert_eq!(rotate["nice"], 19);
    let relay = &tasks[1];
    assert_eq!(relay["schedule"], "@daemon");
    assert_eq!(relay["restart_delay"], "5s");
    assert_eq!(relay["stop_signal"], "SIGINT");
    assert_eq!(relay["stop_timeout"], "20s");
    assert_eq!(relay["cwd"], "/srv/relay");
    assert_eq!(relay["env"], json!({"NODE_ENV": "production"}));
    for named in [
        "logrotate.service:4: RequiresMountsFor",
        "logrotate.service:5: ConditionACPower",
        "logrotate.service:13: IOSchedulingClass",
        "logrotate.timer:7: AccuracySec",
        "relay.service:9: RestartSec",
    ] {
        assert!(
            lossy.iter().any(|l| l.contains(named)),
            "{named}: {lossy:?}"
        );
    }
    // Documentation= and [Install] carry nothing kit needs.
    assert!(!lossy
        .iter()
        .any(|l| l.contains("Documentation") || l.contains("WantedBy")));
}

#[test]
fn calendars_cron_cannot_say_are_lossy_and_strict_exits_1() {
    let kit = Kit::new();
    kit.file(
        "u/monthly.timer",
        "[Timer]\nOnCalendar=Mon *-*-1..7 03:00\nOnCalendar=*-*-01 03:00\n",
    );
    kit.file("u/monthly.service", "[Service]\nExecStart=/bin/true\n");
    let out = kit
        .ctl()
        .args(["--json", "import", "systemd"])
        .arg(kit.path("u/monthly.timer"))
        .ok()
        .json();
    assert_eq!(out["tasks"][0]["schedule"], "0 3 1 * *");
    assert!(out["lossy"][0]
        .as_str()
        .unwrap()
        .contains("monthly.timer:2: OnCalendar=Mon *-*-1..7"));
    kit.ctl()
        .args(["import", "systemd", "--strict"])
        .arg(kit.path("u/monthly.timer"))
        .run()
        .code(1);
    kit.file("u/never.timer", "[Timer]\nOnCalendar=2030-01-01 00:00\n");
    kit.file("u/never.service", "[Service]\nExecStart=/bin/true\n");
    let out = kit
        .ctl()
        .args(["import", "systemd"])
        .arg(kit.path("u/never.timer"))
        .ok();
    assert!(
        out.stderr
            .contains("never.timer:2: OnCalendar=2030-01-01 00:00: year"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("not imported"), "{}", out.stderr);
}

#[test]
fn malformed_units_name_the_file_and_line_and_apply_nothing() {
    let kit = Kit::new();
    let good = sample("security-scan.timer");
    for (timer, service, at, says) in [
        (
            "[Timer]\nOnCalendar=daily\nbogus line\n",
            "[Service]\nExecStart=/bin/true\n",
            "x.timer:3:",
            "expected KEY=VALUE",
        ),
        (
            "OnCalendar=daily\n",
            "[Service]\nExecStart=/bin/true\n",
            "x.timer:1:",
            "before any [Section]",
        ),
        (
            "[Timer]\nOnCalendar=daily\n",
            "[Service]\nExecStart=/bin/echo \"open\n",
            "x.service:2:",
            "unterminated quote",
        ),
        (
            "[Timer]\nOnCalendar=daily\n",
            "[Service]\nType=oneshot\n",
            "x.service:",
            "no ExecStart",
        ),
        (
            "[Timer]\nOnUnitActiveSec=soon\n",
            "[Service]\nExecStart=/bin/true\n",
            "x.timer:2:",
            "not a time span",
        ),
        (
            "[Timer]\nOnCalendar=daily\nUnit=gone.service\n",
            "",
            "x.timer:3:",
            "gone.service",
        ),
    ] {
        let t = kit.file("bad/x.timer", timer);
        let s = kit.path("bad/x.service");
        if service.is_empty() {
            let _ = std::fs::remove_file(&s);
        } else {
            kit.file("bad/x.service", service);
        }
        let out = kit
            .ctl()
            .args(["import", "systemd", "--apply", &good])
            .arg(&t)
            .run()
            .fails()
            .code(2);
        assert!(out.stderr.contains(at), "{timer:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{timer:?}: {}", out.stderr);
    }
    assert!(!kit.db.exists(), "nothing was applied");
    let other = kit.file("bad/x.socket", "[Socket]\nListenStream=80\n");
    kit.ctl()
        .args(["import", "systemd"])
        .arg(&other)
        .run()
        .code(2)
        .stderr_has("not a .timer or .service unit");
}

#[test]
fn user_unit_specifiers_expand_for_the_importing_user() {
    let kit = Kit::new();
    kit.file("u/notes.timer", "[Timer]\nOnCalendar=*:0/30\n");
    kit.file(
        "u/notes.service",
        "[Service]\nWorkingDirectory=%h/agent\nEnvironment=NOTES=%h/notes\n\
         ExecStart=%h/bin/sync-notes --tag 100%% --unit %n\n",
    );
    let out = kit
        .ctl()
        .env("USER", "agent")
        .args(["--json", "import", "systemd"])
        .arg(kit.path("u/notes.timer"))
        .ok()
        .json();
    let home = kit.dir.path().display().to_string();
    let t = &out["tasks"][0];
    assert_eq!(t["schedule"], "0-59/30 * * * *");
    assert_eq!(t["cwd"], format!("{home}/agent"));
    assert_eq!(t["env"]["NOTES"], format!("{home}/notes"));
    assert_eq!(
        t["command"],
        json!([
            format!("{home}/bin/sync-notes"),
            "--tag",
            "100%",
            "--unit",
            "%n"
        ])
    );
    assert_eq!(
        out["lossy"].as_array().unwrap().len(),
        1,
        "{}",
        out["lossy"]
    );
    assert!(out["lossy"][0]
        .as_str()
        .unwrap()
        .contains("notes.service:4: ExecStart specifier %n"));
}
