//! Declaring tasks through kit-ctl, end to end: apply (with --prune and
//! --dry-run), export round trips, add/rm/enable/disable/list/show, and
//! every kind of bad input refused whole, naming the file, line and field.

mod support;

use serde_json::{json, Value};
use std::time::Duration;
use support::*;

const TWO: &str = r#"
[[task]]
name = "alpha"
schedule = "*/5 * * * *"
command = "echo alpha"

[[task]]
name = "beta"
schedule = "@hourly"
command = ["echo", "beta"]
"#;

fn export(kit: &Kit) -> String {
    kit.ctl().arg("export").ok().stdout
}

fn list_json(kit: &Kit) -> Value {
    kit.ctl().args(["list", "--json"]).ok().json()
}

fn names(kit: &Kit) -> Vec<String> {
    list_json(kit)
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// Everything a user can see of the declared tasks: the exported file, its
/// JSON form and the listing.
fn state(kit: &Kit) -> (String, Value, Value) {
    (
        export(kit),
        kit.ctl().args(["export", "--json"]).ok().json(),
        list_json(kit),
    )
}

#[test]
fn apply_creates_updates_and_prints_what_changed() {
    let kit = Kit::new();
    let f = kit.file("tasks.toml", TWO);
    let out = kit.ctl().arg("apply").arg(&f).ok();
    assert_eq!(
        out.lines(),
        vec![
            "created   alpha".to_string(),
            "created   beta".to_string(),
            format!("applied {}: 2 tasks, 2 changed, 0 unchanged", f.display()),
        ]
    );
    let j = kit.ctl().arg("apply").arg(&f).arg("--json").ok().json();
    assert_eq!(j["dry_run"], false);
    assert_eq!(
        j["changes"],
        json!([{"name": "alpha", "change": "unchanged"}, {"name": "beta", "change": "unchanged"}])
    );
    kit.file(
        "tasks.toml",
        &format!(
            "{}\n[[task]]\nname = \"gamma\"\nschedule = \"@daily\"\ncommand = \"true\"\n",
            TWO.replace("echo alpha", "echo ALPHA")
        ),
    );
    let out = kit.ctl().arg("apply").arg(&f).ok();
    assert_eq!(
        out.lines()[..2],
        ["updated   alpha".to_string(), "created   gamma".to_string()]
    );
    out.stdout_has("3 tasks, 2 changed, 1 unchanged");
    let alpha = kit.ctl().args(["show", "alpha", "--json"]).ok().json();
    assert_eq!(alpha["task"]["command"], "echo ALPHA");
    assert_eq!(alpha["task"]["revision"], 2);
}

#[test]
fn apply_prune_removes_undeclared_tasks_but_keeps_their_history() {
    let kit = Kit::new();
    kit.tasks(&format!(
        "{TWO}\n[[task]]\nname = \"old\"\nschedule = \"@daily\"\ncommand = \"true\"\n"
    ));
    kit.run().arg("old").ok();
    assert_eq!(kit.statuses("old"), ["success"]);
    let f = kit.file("two.toml", TWO);
    // Without --prune, undeclared tasks stay.
    kit.ctl().arg("apply").arg(&f).ok();
    assert_eq!(names(&kit), ["alpha", "beta", "old"]);
    let j = kit
        .ctl()
        .args(["apply", "--prune", "--json"])
        .arg(&f)
        .ok()
        .json();
    assert_eq!(j["changes"][2], json!({"name": "old", "change": "removed"}));
    assert_eq!(names(&kit), ["alpha", "beta"]);
    assert_eq!(
        kit.statuses("old"),
        ["success"],
        "history outlives the task"
    );
    kit.ctl()
        .args(["apply", "--prune"])
        .arg(&f)
        .ok()
        .stdout_has("0 changed, 2 unchanged");
}

#[test]
fn apply_dry_run_shows_the_changes_and_makes_none() {
    let kit = Kit::new();
    kit.tasks(&format!(
        "{TWO}\n[[task]]\nname = \"old\"\nschedule = \"@daily\"\ncommand = \"true\"\n"
    ));
    let before = state(&kit);
    let f = kit.file(
        "next.toml",
        &format!(
            "{}\n[[task]]\nname = \"new\"\nschedule = \"@daily\"\ncommand = \"true\"\n",
            TWO.replace("@hourly", "@daily")
        ),
    );
    let out = kit
        .ctl()
        .args(["apply", "--dry-run", "--prune"])
        .arg(&f)
        .ok();
    assert_eq!(
        out.lines(),
        vec![
            "updated   beta".to_string(),
            "created   new".to_string(),
            "removed   old".to_string(),
            format!(
                "would apply {}: 3 tasks, 3 changed, 1 unchanged",
                f.display()
            ),
        ]
    );
    let j = kit
        .ctl()
        .args(["apply", "--dry-run", "--prune", "--json"])
        .arg(&f)
        .ok()
        .json();
    assert_eq!(j["dry_run"], true);
    assert_eq!(j["changes"].as_array().unwrap().len(), 4);
    assert_eq!(state(&kit), before);
}

#[test]
fn apply_is_one_transaction_readers_never_see_half_a_file() {
    let kit = Kit::new();
    kit.kdb().arg("init").ok();
    let mut text = String::new();
    for i in 0..300 {
        text.push_str(&format!(
            "[[task]]\nname = \"t{i:03}\"\nschedule = \"@daily\"\ncommand = \"true\"\n\n"
        ));
    }
    let f = kit.file("many.toml", &text);
    let mut child = kit.ctl().arg("apply").arg(&f).spawn();
    let c = kit.conn();
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let done = child.try_wait().unwrap().is_some();
        let n: i64 = c
            .query_row("SELECT count(*) FROM supervisor_tasks", [], |r| r.get(0))
            .unwrap();
        seen.insert(n);
        if done {
            break;
        }
    }
    assert!(child.wait().unwrap().success());
    assert!(
        seen.iter().all(|n| *n == 0 || *n == 300),
        "a reader saw a partial apply: {seen:?}"
    );
    assert!(seen.contains(&300));
}

/// A file using every kind of key, settings included.
const RICH: &str = r#"
[settings]
timezone = "Europe/Warsaw"
notify = "scripts/notify.sh --flag 'x y'"
notify_timeout = "45s"
retention = "60d"

[settings.recovery]
failure_threshold = 2
cooldown = "10m"
escalate = "disable"

[[task]]
name = "security-scan"
schedule = "0 8,12,16,20 * * 1-5"
command = "scan --quick && echo \"done\" # comment'"
description = "Scans. With \"quotes\" and unicode: zażółć"
timeout = "15m"
kill_grace = "5s"
timezone = "America/New_York"
catch_up = "none"
catch_up_max_age = "2h"
overlap = "replace"
jitter = "30s"
retries = 3
retry_delay = "1m"
retry_max_delay = "1h30m"
output_cap = "512KiB"
nice = 10
env = { LOG = "info", "WITH SPACE" = "a=b", EMPTY = "" }

[task.limits]
nofile = 1024
cpu = "1m"
as = "2GiB"
fsize = "10MB"

[task.recovery]
failure_threshold = 1
max_attempts = 4
cooldown = "5m"
actions = ["restart:bridge", "run:cleanup", "exec:scripts/fix.sh --now"]
escalate = "notify"

[[task]]
name = "bridge"
schedule = "@daemon"
command = ["node", "bridge.js", "--name=it's \"q\"", "$(not run)", "", "line\nbreak", "tab\there"]
cwd = "rel/dir"
enabled = false
restart_delay = "200ms"
restart_max_delay = "30s"
stable_after = "2m"
quarantine = "20m"
stop_signal = "INT"
stop_timeout = "3s"
log_max_size = "1MiB"
log_files = 3
crashloop = { failures = 4, within = "90s" }

[task.health]
command = ["curl", "-fsS", "http://127.0.0.1:8080/health"]
every = "15s"
timeout = "2s"
failures = 2
start_period = "10s"

[[task]]
name = "cleanup"
schedule = "@every 1h30m"
command = "true"

[[task]]
name = "at-boot"
schedule = "@reboot"
command = ["/bin/true"]

[[task]]
name = "weekly"
schedule = "@weekly"
command = "true"
"#;

#[test]
fn export_then_apply_reproduces_the_tasks_exactly() {
    let a = Kit::new();
    let f = a.file("conf/tasks.toml", RICH);
    a.ctl().arg("apply").arg(&f).ok();
    let (text, json_a, list_a) = state(&a);
    // The relative cwd was resolved against the file's directory.
    let cwd = json_a["task"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "bridge")
        .unwrap()["cwd"]
        .clone();
    let conf = std::fs::canonicalize(a.path("conf")).unwrap();
    assert_eq!(cwd, conf.join("rel/dir").display().to_string());

    // Applying the export to a fresh kit gives the same tasks and settings.
    let b = Kit::new();
    let exported = b.file("exported.toml", &text);
    let out = b.ctl().arg("apply").arg(&exported).ok();
    out.stdout_has("5 tasks, 5 changed");
    assert_eq!(state(&b), (text.clone(), json_a.clone(), list_a.clone()));
    // And applying it back onto the original changes nothing.
    a.ctl()
        .arg("apply")
        .arg(&exported)
        .ok()
        .stdout_has("0 changed, 5 unchanged");
    assert_eq!(state(&a), (text, json_a, list_a));
}

#[test]
fn add_keeps_the_argv_exactly_and_never_joins_it() {
    let kit = Kit::new();
    let argv = [
        "printf",
        "[%s]\\n",
        "it's \"quoted\"",
        "$(touch pwned)",
        "a;b|c&&d > e",
        "",
        "  spaced  ",
        "new\nline",
        "--looks-like-a-flag",
        "zażółć 🦀",
    ];
    kit.ctl()
        .args(["add", "args", "--schedule", "@daily", "--"])
        .args(argv)
        .ok()
        .stdout_has("created args");
    let j = kit.ctl().args(["show", "args", "--json"]).ok().json();
    assert_eq!(j["task"]["command"], json!(argv));
    let e = kit.ctl().args(["export", "--json"]).ok().json();
    assert_eq!(e["task"][0]["command"], json!(argv));
    // Running it proves the program got each argument as one argv entry.
    kit.run().arg("args").ok();
    let out: Vec<u8> = kit.scalar("SELECT output FROM supervisor_executions WHERE task = 'args'");
    let want: String = argv[2..].iter().map(|a| format!("[{a}]\n")).collect();
    assert_eq!(String::from_utf8(out).unwrap(), want);
    assert!(!kit.path("pwned").exists());
}

#[test]
fn add_shell_stores_one_string_for_sh() {
    let kit = Kit::new();
    kit.ctl()
        .args([
            "add",
            "sh1",
            "-s",
            "@daily",
            "--shell",
            "--",
            "echo \"$0\" && echo two | tr a-z A-Z",
        ])
        .ok();
    kit.ctl()
        .args([
            "add", "sh2", "-s", "@daily", "--shell", "--", "echo", "a", "b",
        ])
        .ok();
    let e = kit.ctl().args(["export", "--json"]).ok().json();
    assert_eq!(
        e["task"][0]["command"],
        "echo \"$0\" && echo two | tr a-z A-Z"
    );
    assert_eq!(
        e["task"][1]["command"], "echo a b",
        "several words are joined by single spaces"
    );
    kit.run().arg("sh1").ok();
    let out: Vec<u8> = kit.scalar("SELECT output FROM supervisor_executions WHERE task = 'sh1'");
    assert_eq!(String::from_utf8(out).unwrap(), "/bin/sh\nTWO\n");
}

#[test]
fn add_stores_every_option_it_takes() {
    let kit = Kit::new();
    let cwd = kit.path("work");
    std::fs::create_dir_all(&cwd).unwrap();
    let j = kit
        .ctl()
        .args([
            "add",
            "opts",
            "--schedule",
            "30 2 * * 1",
            "--tz",
            "Europe/Warsaw",
            "--timeout",
            "10m",
        ])
        .args([
            "--env",
            "A=1",
            "--env",
            "B=x=y",
            "--env",
            "EMPTY=",
            "--overlap",
            "allow",
            "--retries",
            "2",
        ])
        .args([
            "--retry-delay",
            "1m",
            "--catch-up",
            "none",
            "--description",
            "two words",
            "--disabled",
        ])
        .arg("--cwd")
        .arg(&cwd)
        .args(["--json", "--", "/bin/true"])
        .ok()
        .json();
    assert_eq!(j, json!({"name": "opts", "change": "created"}));
    let e = kit.ctl().args(["export", "--json"]).ok().json();
    assert_eq!(
        e["task"][0],
        json!({
            "name": "opts", "schedule": "30 2 * * 1", "command": ["/bin/true"],
            "description": "two words", "enabled": false, "timezone": "Europe/Warsaw",
            "timeout": "10m", "cwd": cwd.display().to_string(), "catch_up": "none",
            "overlap": "allow", "retries": 2, "retry_delay": "1m",
            "env": {"A": "1", "B": "x=y", "EMPTY": ""},
        })
    );
    let show = kit.ctl().args(["show", "opts", "--json"]).ok().json();
    assert_eq!(show["enabled"], false);
    assert_eq!(
        show["task"]["disabled_reason"],
        Value::Null,
        "disabled by its declaration, not by kit"
    );
}

#[test]
fn add_refuses_an_existing_name_unless_asked_to_update() {
    let kit = Kit::new();
    kit.ctl()
        .args(["add", "x", "-s", "@daily", "--", "one"])
        .ok();
    let before = state(&kit);
    kit.ctl()
        .args(["add", "x", "-s", "@hourly", "--", "two"])
        .run()
        .fails()
        .stderr_has("already exists");
    assert_eq!(state(&kit), before);
    kit.ctl()
        .args(["add", "x", "-s", "@hourly", "--update", "--", "two"])
        .ok()
        .stdout_has("updated x");
    kit.ctl()
        .args(["add", "x", "-s", "@hourly", "--update", "--", "two"])
        .ok()
        .stdout_has("unchanged x");
    let e = kit.ctl().args(["export", "--json"]).ok().json();
    assert_eq!(e["task"][0]["command"], json!(["two"]));
}

#[test]
fn rm_enable_disable_list_and_show_work_and_speak_json() {
    let kit = Kit::new();
    kit.tasks(TWO);
    let l = list_json(&kit);
    assert_eq!(l[0]["name"], "alpha");
    assert_eq!(l[0]["enabled"], true);
    assert_eq!(l[0]["schedule"], "*/5 * * * *");
    assert_eq!(l[1]["command"], json!(["echo", "beta"]));
    assert_eq!(l[1]["last_run"], Value::Null);
    let table = kit.ctl().arg("list").ok();
    assert_eq!(
        table.lines().len(),
        3,
        "a header and one line per task:\n{}",
        table.stdout
    );
    table.stdout_has("alpha").stdout_has("*/5 * * * *");

    let j = kit.ctl().args(["disable", "alpha", "--json"]).ok().json();
    assert_eq!(
        j,
        json!({"name": "alpha", "enabled": false, "changed": true})
    );
    kit.ctl()
        .args(["disable", "alpha"])
        .ok()
        .stdout_has("alpha was already disabled");
    assert_eq!(list_json(&kit)[0]["enabled"], false);
    assert_eq!(list_json(&kit)[0]["next"], "disabled");
    let s = kit.ctl().args(["show", "alpha", "--json"]).ok().json();
    assert_eq!(s["enabled"], false);
    assert_eq!(s["task"]["disabled_reason"], "disabled by kit-ctl");
    kit.ctl()
        .args(["show", "alpha"])
        .ok()
        .stdout_has("enabled:    false");
    // The export says disabled too, so apply of it keeps it so.
    assert!(export(&kit).contains("enabled = false"));
    kit.ctl()
        .args(["enable", "alpha", "beta"])
        .ok()
        .stdout_has("enabled alpha")
        .stdout_has("beta was already enabled");
    let s = kit.ctl().args(["show", "alpha", "--json"]).ok().json();
    assert_eq!(s["enabled"], true);
    assert_eq!(s["task"]["disabled_reason"], Value::Null);

    kit.run().arg("beta").ok();
    let s = kit.ctl().args(["show", "beta", "--json"]).ok().json();
    assert_eq!(s["recent"][0]["status"], "success");
    assert_eq!(list_json(&kit)[1]["last_run"]["status"], "success");

    // rm of several names is all or nothing.
    let before = state(&kit);
    kit.ctl()
        .args(["rm", "alpha", "nope"])
        .run()
        .code(2)
        .stderr_has("no task named \"nope\"");
    assert_eq!(state(&kit), before);
    let j = kit.ctl().args(["rm", "alpha", "--json"]).ok().json();
    assert_eq!(j, json!({"name": "alpha", "change": "removed"}));
    assert_eq!(names(&kit), ["beta"]);
    for cmd in ["show", "enable", "disable", "rm"] {
        kit.ctl()
            .args([cmd, "alpah"])
            .run()
            .code(2)
            .stderr_has("no task named \"alpah\"");
    }
    kit.ctl()
        .args(["show", "bta"])
        .run()
        .code(2)
        .stderr_has("did you mean: beta");
}

/// A bad file: the text, the line the error must name, and words it must say.
struct Bad {
    what: &'static str,
    text: String,
    line: usize,
    says: &'static [&'static str],
}

/// Two good tasks (one new, one changing an existing task) come first, so
/// "nothing applied" is tested against a file that is mostly fine.
fn good_prefix() -> String {
    "[[task]]\nname = \"alpha\"\nschedule = \"@daily\"\ncommand = \"changed\"\n\n\
     [[task]]\nname = \"fresh\"\nschedule = \"@daily\"\ncommand = \"true\"\n\n"
        .to_string()
}
const PREFIX_LINES: usize = 10;

fn bad_cases() -> Vec<Bad> {
    let g = good_prefix();
    let p = PREFIX_LINES;
    let task = |body: &str| format!("{g}[[task]]\nname = \"last\"\n{body}");
    let sched = "schedule = \"@daily\"\n";
    let cmd = "command = \"true\"\n";
    vec![
        Bad {
            what: "TOML syntax",
            text: task(&format!("{sched}command = \"true\n")),
            line: p + 4,
            says: &["command"],
        },
        Bad {
            what: "TOML syntax: bare word",
            text: task(&format!("{sched}command = true false\n")),
            line: p + 4,
            says: &[],
        },
        Bad {
            what: "unknown top-level key",
            text: format!("colour = \"blue\"\n{g}"),
            line: 1,
            says: &["unknown field `colour`", "expected `settings` or `task`"],
        },
        Bad {
            what: "unknown top-level table",
            text: format!("{g}[tasks]\nname = \"x\"\n"),
            line: p + 1,
            says: &["unknown field `tasks`"],
        },
        Bad {
            what: "a key after a task belongs to it",
            text: format!("{g}colour = \"blue\"\n"),
            line: p + 1,
            says: &["unknown field `colour`"],
        },
        Bad {
            what: "unknown task key",
            text: task(&format!("{sched}{cmd}timout = \"5m\"\n")),
            line: p + 5,
            says: &["unknown field `timout`"],
        },
        Bad {
            what: "unknown settings key",
            text: format!("{g}[settings]\ntimezone = \"UTC\"\nnotfy = \"x\"\n"),
            line: p + 3,
            says: &["unknown field `notfy`"],
        },
        Bad {
            what: "unknown settings.recovery key",
            text: format!("{g}[settings.recovery]\ncooldown = \"1m\"\nretries = 2\n"),
            line: p + 3,
            says: &["unknown field `retries`"],
        },
        Bad {
            what: "unknown task.recovery key",
            text: task(&format!(
                "{sched}{cmd}[task.recovery]\nactions = []\nescalation = \"disable\"\n"
            )),
            line: p + 7,
            says: &["unknown field `escalation`"],
        },
        Bad {
            what: "unknown task.limits key",
            text: task(&format!("{sched}{cmd}[task.limits]\nmemory = \"1G\"\n")),
            line: p + 6,
            says: &["unknown field `memory`"],
        },
        Bad {
            what: "unknown inline-table key",
            text: task(&format!(
                "{sched}{cmd}crashloop = {{ failures = 2, within = \"1m\", over = 3 }}\n"
            )),
            line: p + 5,
            says: &["unknown field `over`"],
        },
        Bad {
            what: "bad name",
            text: format!("{g}[[task]]\nname = \"Bad Name\"\n{sched}{cmd}"),
            line: p + 2,
            says: &["name", "Bad Name"],
        },
        Bad {
            what: "bad name: slash",
            text: format!("{g}[[task]]\nname = \"a/b\"\n{sched}{cmd}"),
            line: p + 2,
            says: &["name", "a/b"],
        },
        Bad {
            what: "bad schedule",
            text: task(&format!("{cmd}schedule = \"61 * * * *\"\n")),
            line: p + 4,
            says: &["schedule", "61"],
        },
        Bad {
            what: "bad schedule macro",
            text: task(&format!("{cmd}schedule = \"@fortnightly\"\n")),
            line: p + 4,
            says: &["schedule", "@fortnightly"],
        },
        Bad {
            what: "bad @every",
            text: task(&format!("{cmd}schedule = \"@every 10\"\n")),
            line: p + 4,
            says: &["schedule", "@every"],
        },
        Bad {
            what: "bad duration",
            text: task(&format!("{sched}{cmd}timeout = \"10 parsecs\"\n")),
            line: p + 5,
            says: &["timeout", "10 parsecs"],
        },
        Bad {
            what: "duration without a unit",
            text: task(&format!("{sched}{cmd}retry_delay = \"30\"\n")),
            line: p + 5,
            says: &["retry_delay", "no unit"],
        },
        Bad {
            what: "bad nested duration",
            text: task(&format!(
                "{sched}{cmd}[task.recovery]\ncooldown = \"soon\"\n"
            )),
            line: p + 6,
            says: &["cooldown", "soon"],
        },
        Bad {
            what: "bad settings duration",
            text: format!("[settings]\nretention = \"forever\"\n\n{g}"),
            line: 2,
            says: &["retention", "forever"],
        },
        Bad {
            what: "duplicate name",
            text: format!("{g}[[task]]\nname = \"fresh\"\n{sched}{cmd}"),
            line: p + 2,
            says: &["duplicate", "fresh", "line 7"],
        },
        Bad {
            what: "bad task timezone",
            text: task(&format!("{sched}{cmd}timezone = \"Mars/Olympus\"\n")),
            line: p + 5,
            says: &["timezone", "Mars/Olympus"],
        },
        Bad {
            what: "bad settings timezone",
            text: format!("{g}[settings]\nnotify = \"n\"\ntimezone = \"Europe/Atlantis\"\n"),
            line: p + 3,
            says: &["timezone", "Europe/Atlantis"],
        },
        Bad {
            what: "empty command string",
            text: task(&format!("{sched}command = \"  \"\n")),
            line: p + 4,
            says: &["command", "empty"],
        },
        Bad {
            what: "empty command array",
            text: task(&format!("{sched}command = []\n")),
            line: p + 4,
            says: &["command", "empty"],
        },
        Bad {
            what: "empty program in array",
            text: task(&format!("{sched}command = [\"\", \"x\"]\n")),
            line: p + 4,
            says: &["command", "empty"],
        },
        Bad {
            what: "missing command",
            text: task(sched),
            line: p + 1,
            says: &["missing field `command`"],
        },
        Bad {
            what: "command of the wrong type",
            text: task(&format!("{sched}command = 5\n")),
            line: p + 4,
            says: &["command", "string"],
        },
        Bad {
            what: "bad enum",
            text: task(&format!("{sched}{cmd}overlap = \"sometimes\"\n")),
            line: p + 5,
            says: &["overlap", "sometimes"],
        },
        Bad {
            what: "bad recovery action",
            text: task(&format!(
                "{sched}{cmd}[task.recovery]\nactions = [\"reboot:now\"]\n"
            )),
            line: p + 6,
            says: &["recovery.actions", "reboot:now"],
        },
        Bad {
            what: "negative number",
            text: task(&format!("{sched}{cmd}retries = -1\n")),
            line: p + 5,
            says: &["retries", "-1"],
        },
        Bad {
            what: "relative-looking but bad cwd type",
            text: task(&format!("{sched}{cmd}cwd = 7\n")),
            line: p + 5,
            says: &["cwd"],
        },
    ]
}

#[test]
fn every_bad_file_is_refused_naming_file_line_and_field_and_applies_nothing() {
    let kit = Kit::new();
    kit.tasks(&format!("[settings]\ntimezone = \"UTC\"\n\n{TWO}"));
    let before = state(&kit);
    for bad in bad_cases() {
        let f = kit.file("bad.toml", &bad.text);
        for dry in [false, true] {
            let mut cmd = kit.ctl().arg("apply").arg(&f);
            if dry {
                cmd = cmd.arg("--dry-run");
            }
            let out = cmd.arg("--prune").run().code(2);
            let at = format!("{}:{}: ", f.display(), bad.line);
            assert!(
                out.stderr.contains(&at),
                "{}: expected {at:?} in:\n{}",
                bad.what,
                out.stderr
            );
            for word in bad.says {
                assert!(
                    out.stderr.contains(word),
                    "{}: expected {word:?} in:\n{}",
                    bad.what,
                    out.stderr
                );
            }
            assert_eq!(
                out.stderr.lines().count(),
                1,
                "{}: one line:\n{}",
                bad.what,
                out.stderr
            );
            assert!(
                out.stdout.is_empty(),
                "{}: printed changes:\n{}",
                bad.what,
                out.stdout
            );
        }
        assert_eq!(state(&kit), before, "{}: something was applied", bad.what);
    }
}

#[test]
fn a_missing_or_unreadable_task_file_is_a_clear_error() {
    let kit = Kit::new();
    kit.tasks(TWO);
    let before = state(&kit);
    let missing = kit.path("nope.toml");
    kit.ctl()
        .arg("apply")
        .arg(&missing)
        .run()
        .code(2)
        .stderr_has(&missing.display().to_string());
    let dir = kit.path("adir");
    std::fs::create_dir_all(&dir).unwrap();
    kit.ctl()
        .arg("apply")
        .arg(&dir)
        .run()
        .code(2)
        .stderr_has("adir");
    let binary = kit.path("bin.toml");
    std::fs::write(&binary, b"\xff\xfe[[task]]\n").unwrap();
    kit.ctl()
        .arg("apply")
        .arg(&binary)
        .run()
        .code(2)
        .stderr_has("bin.toml");
    assert_eq!(state(&kit), before);
}

#[test]
fn bad_add_flags_are_refused_and_store_nothing() {
    let kit = Kit::new();
    kit.tasks(TWO);
    let before = state(&kit);
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["add", "Bad", "-s", "@daily", "--", "true"],
            &["name", "Bad"],
        ),
        (
            &["add", "b", "-s", "* * *", "--", "true"],
            &["schedule", "5 fields"],
        ),
        (
            &["add", "b", "-s", "@daily", "--timeout", "5", "--", "true"],
            &["--timeout", "no unit"],
        ),
        (
            &[
                "add",
                "b",
                "-s",
                "@daily",
                "--retry-delay",
                "soon",
                "--",
                "true",
            ],
            &["--retry-delay", "soon"],
        ),
        (
            &["add", "b", "-s", "@daily", "--tz", "Mars/X", "--", "true"],
            &["timezone", "Mars/X"],
        ),
        (
            &["add", "b", "-s", "@daily", "--", ""],
            &["command", "empty"],
        ),
        (
            &["add", "b", "-s", "@daily", "--shell", "--", " "],
            &["command", "empty"],
        ),
        (
            &[
                "add",
                "b",
                "-s",
                "@daily",
                "--overlap",
                "often",
                "--",
                "true",
            ],
            &["--overlap", "often"],
        ),
        (
            &[
                "add",
                "b",
                "-s",
                "@daily",
                "--catch-up",
                "all",
                "--",
                "true",
            ],
            &["--catch-up", "all"],
        ),
        (
            &[
                "add", "b", "-s", "@daily", "--env", "NOEQUALS", "--", "true",
            ],
            &["--env", "NOEQUALS"],
        ),
        (
            &["add", "b", "-s", "@daily", "--env", "=v", "--", "true"],
            &["env"],
        ),
    ];
    for (args, says) in cases {
        let out = kit.ctl().args(*args).run().code(2);
        for w in *says {
            assert!(
                out.stderr.contains(w),
                "{args:?}: expected {w:?} in {}",
                out.stderr
            );
        }
    }
    // clap's own usage errors (no command, no schedule) exit 2 as well.
    kit.ctl().args(["add", "b", "-s", "@daily"]).run().code(2);
    kit.ctl().args(["add", "b", "--", "true"]).run().code(2);
    assert_eq!(state(&kit), before);
}

#[test]
fn apply_waits_for_a_busy_db_instead_of_failing() {
    // A writer holding the lock for a moment must delay apply, not fail it.
    let kit = Kit::new();
    kit.kdb().arg("init").ok();
    let c = kit.conn();
    c.execute_batch("BEGIN IMMEDIATE").unwrap();
    let f = kit.file("t.toml", TWO);
    let child = kit.ctl().arg("apply").arg(&f).spawn();
    std::thread::sleep(Duration::from_millis(300));
    c.execute_batch("COMMIT").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(names(&kit), ["alpha", "beta"]);
}

#[test]
fn apply_says_when_only_the_settings_changed() {
    let kit = Kit::new();
    let task = "[[task]]\nname = \"a\"\nschedule = \"@daily\"\ncommand = \"true\"\n";
    let f = kit.file("t.toml", &format!("[settings]\ntimezone = \"UTC\"\n{task}"));
    kit.ctl().arg("apply").arg(&f).ok();
    kit.file(
        "t.toml",
        &format!("[settings]\ntimezone = \"Europe/Warsaw\"\n{task}"),
    );
    let out = kit.ctl().arg("apply").arg(&f).ok();
    assert_eq!(
        out.lines(),
        vec![
            "updated   [settings]".to_string(),
            format!(
                "applied {}: 1 tasks, 0 changed, 1 unchanged; [settings] changed",
                f.display()
            ),
        ]
    );
    let j = kit.ctl().arg("apply").arg(&f).arg("--json").ok().json();
    assert_eq!(j["settings_changed"], false);
}

#[test]
fn list_shows_times_in_the_tasks_zone_as_history_and_why_do() {
    let mut kit = Kit::new();
    kit.at("2025-06-01T10:00:00Z");
    kit.tasks("[[task]]\nname = \"scan\"\nschedule = \"15 4 * * *\"\ntimezone = \"Europe/Warsaw\"\ncommand = \"true\"\n");
    kit.tick().ok();
    kit.run().arg("scan").ok();
    kit.ctl()
        .arg("list")
        .ok()
        .stdout_has("2025-06-01 12:00 CEST")
        .stdout_has("2025-06-02 04:15 CEST");
    // --json keeps the stored UTC instants.
    let j = kit.ctl().args(["list", "--json"]).ok().json();
    assert_eq!(j[0]["next_due"], "2025-06-02T02:15:00.000Z");
}
