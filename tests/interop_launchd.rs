//! `kit-ctl import launchd`, end to end on plists of the kinds Homebrew
//! services and Apple's documentation show (tests/data/interop/launchd/):
//! the seed's "security scan at 4:15" and "every 10 minutes", a KeepAlive
//! service, a calendar array, a binary plist, a WatchPaths-only job, and
//! malformed plists refused naming the file and line.

mod interop_util;
mod support;

use serde_json::{json, Value};
use support::*;

fn sample(name: &str) -> String {
    interop_util::sample_in("launchd", name)
        .display()
        .to_string()
}

fn import(kit: &Kit, plists: &[&str]) -> (Vec<Value>, Vec<String>) {
    let paths: Vec<String> = plists.iter().map(|p| sample(p)).collect();
    interop_util::import_json(kit, "launchd", &paths)
}

#[test]
fn security_scan_at_4_15_becomes_a_cron_task_with_env_and_cwd() {
    let kit = Kit::new();
    let (tasks, lossy) = import(&kit, &["com.example.security-scan.plist"]);
    assert_eq!(
        tasks,
        [json!({
            "name": "security-scan",
            "schedule": "15 4 * * *",
            "command": ["/usr/local/bin/security-scan", "--quick"],
            "description": "launchd job com.example.security-scan",
            "cwd": "/Users/agent/scans",
            "env": {"SCAN_PROFILE": "nightly"},
        })]
    );
    assert_eq!(lossy.len(), 1, "{lossy:?}");
    assert!(
        lossy[0].contains("com.example.security-scan.plist:27: StandardOutPath"),
        "{lossy:?}"
    );
}

#[test]
fn start_interval_600_becomes_every_10m_and_program_the_argv() {
    let kit = Kit::new();
    let (tasks, lossy) = import(&kit, &["com.example.device-poll.plist"]);
    assert_eq!(tasks[0]["schedule"], "@every 10m");
    assert_eq!(tasks[0]["command"], json!(["/usr/local/bin/device-poll"]));
    assert!(lossy.is_empty(), "{lossy:?}");
}

#[test]
fn homebrew_keepalive_service_becomes_a_daemon_and_names_what_is_lost() {
    let kit = Kit::new();
    let (tasks, lossy) = import(&kit, &["homebrew.mxcl.redis.plist"]);
    assert_eq!(tasks[0]["name"], "redis");
    assert_eq!(tasks[0]["schedule"], "@daemon");
    assert_eq!(tasks[0]["cwd"], "/opt/homebrew/var");
    let keys: Vec<&str> = lossy
        .iter()
        .map(|l| l.split(": ").nth(1).unwrap().split(' ').next().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "StandardOutPath",
            "StandardErrorPath",
            "LimitLoadToSessionType"
        ],
        "{lossy:?}"
    );
}

#[test]
fn calendar_arrays_merge_and_binary_plists_read_like_xml() {
    let kit = Kit::new();
    let (tasks, lossy) = import(
        &kit,
        &[
            "com.example.backup.plist",
            "com.example.report.binary.plist",
        ],
    );
    assert_eq!(tasks[0]["schedule"], "0 8,20 * * *");
    assert_eq!(tasks[0]["nice"], 10);
    assert_eq!(tasks[1]["name"], "report");
    assert_eq!(tasks[1]["schedule"], "30 9 * * 1,5");
    assert_eq!(tasks[1]["enabled"], false);
    assert_eq!(tasks[1]["env"], json!({"LANG": "en_US.UTF-8"}));
    assert_eq!(lossy.len(), 1);
    assert!(lossy[0].contains("backup.plist:28: RunAtLoad"), "{lossy:?}");
}

#[test]
fn calendar_sets_that_are_no_cross_product_split_into_named_tasks() {
    let kit = Kit::new();
    let job = |label: &str, cal: &str| {
        format!(
            "<?xml version=\"1.0\"?>\n<plist version=\"1.0\"><dict>\n\
             <key>Label</key><string>{label}</string>\n\
             <key>Program</key><string>/bin/true</string>\n\
             <key>StartCalendarInterval</key>{cal}\n</dict></plist>\n"
        )
    };
    let a = kit.file(
        "a.plist",
        &job(
            "com.example.tidy",
            "<array><dict><key>Hour</key><integer>8</integer><key>Minute</key><integer>0</integer></dict>\
             <dict><key>Hour</key><integer>12</integer><key>Minute</key><integer>30</integer></dict></array>",
        ),
    );
    let b = kit.file(
        "b.plist",
        &job(
            "org.other.tidy",
            "<dict><key>Weekday</key><integer>7</integer></dict>",
        ),
    );
    let out = kit
        .ctl()
        .args(["--json", "import", "launchd"])
        .arg(&a)
        .arg(&b)
        .ok()
        .json();
    let got: Vec<(String, String)> = out["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().into(),
                t["schedule"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("tidy".into(), "0 8 * * *".into()),
            ("tidy-2".into(), "30 12 * * *".into()),
            // launchd: a missing key is a wildcard; Weekday 7 is Sunday.
            ("tidy-3".into(), "* * * * 0".into()),
        ]
    );
    assert!(out["lossy"][0].as_str().unwrap().contains("2 tasks"));
}

#[test]
fn a_watchpaths_only_job_is_not_imported_and_strict_exits_1() {
    let kit = Kit::new();
    let out = kit
        .ctl()
        .args(["import", "launchd", "--strict"])
        .arg(sample("com.example.watcher.plist"))
        .arg(sample("com.example.device-poll.plist"))
        .run()
        .code(1);
    assert!(
        out.stderr.contains("com.example.watcher: not imported"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("# LOSSY "), "{}", out.stdout);
    assert!(!out.stdout.contains("sync-inbox"));
}

#[test]
fn apply_imports_every_plist_in_one_transaction() {
    let kit = Kit::new();
    let plists = [
        "com.example.security-scan.plist",
        "com.example.device-poll.plist",
        "homebrew.mxcl.redis.plist",
    ];
    let out = kit
        .ctl()
        .args(["import", "launchd", "--apply"])
        .args(plists.map(sample))
        .ok();
    assert!(
        out.stdout
            .contains("applied import launchd: 3 tasks, 3 changed"),
        "{}",
        out.stdout
    );
    let next = kit
        .ctl()
        .args(["--json", "next", "security-scan", "--tz", "UTC"])
        .run();
    assert_eq!(next.code, 0, "{}", next.stderr);
    // A malformed plist among good ones applies nothing.
    let bad = kit.file("bad.plist", "<?xml version=\"1.0\"?>\n<plist>\n<dict>\n<key>Label</key>\n<integer>1</intger>\n</dict>\n</plist>\n");
    let other = Kit::new();
    other
        .ctl()
        .args(["import", "launchd", "--apply"])
        .arg(sample("com.example.device-poll.plist"))
        .arg(&bad)
        .run()
        .code(2)
        .stderr_has(&format!(
            "{}:5: not a valid XML property list",
            bad.display()
        ));
    assert!(!other.db.exists());
}

#[test]
fn malformed_jobs_name_the_file_and_the_key_line() {
    let kit = Kit::new();
    let head = "<?xml version=\"1.0\"?>\n<plist version=\"1.0\">\n<dict>\n";
    for (body, line, says) in [
        (
            "<key>Program</key><string>/bin/true</string>\n",
            None,
            "no Label",
        ),
        (
            "<key>Label</key><string>x</string>\n",
            None,
            "neither Program nor ProgramArguments",
        ),
        (
            "<key>Label</key><string>x</string>\n<key>Program</key><string>/bin/true</string>\n\
             <key>StartInterval</key><string>600</string>\n",
            Some(6),
            "StartInterval: expected an integer",
        ),
        (
            "<key>Label</key><string>x</string>\n<key>Program</key><string>/bin/true</string>\n\
             <key>StartCalendarInterval</key><dict><key>Hour</key><integer>24</integer></dict>\n",
            Some(6),
            "Hour 24 is out of range 0-23",
        ),
        (
            "<key>Label</key><string>x</string>\n<key>Program</key><string>/bin/true</string>\n\
             <key>RunAtLoad</key><true/>\n<key>WorkingDirectory</key><string>rel</string>\n",
            Some(7),
            "not an absolute path",
        ),
    ] {
        let f = kit.file("job.plist", &format!("{head}{body}</dict>\n</plist>\n"));
        let out = kit
            .ctl()
            .args(["import", "launchd"])
            .arg(&f)
            .run()
            .fails()
            .code(2);
        let at = match line {
            Some(l) => format!("{}:{l}: ", f.display()),
            None => format!("{}: ", f.display()),
        };
        assert!(out.stderr.contains(&at), "{body}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{body}: {}", out.stderr);
    }
    let f = kit.file(
        "array.plist",
        "<?xml version=\"1.0\"?>\n<plist><array/></plist>\n",
    );
    kit.ctl()
        .args(["import", "launchd"])
        .arg(&f)
        .run()
        .code(2)
        .stderr_has("top level is not a dictionary");
}

#[test]
fn the_imported_jobs_fire_when_launchd_would_have_started_them() {
    let kit = Kit::new();
    kit.ctl()
        .args(["import", "launchd", "--apply"])
        .arg(sample("com.example.security-scan.plist"))
        .arg(sample("com.example.device-poll.plist"))
        .ok();
    let claimed = |now: &str| {
        let mut names: Vec<String> = kit.tick().args(["--now", now]).ok().lines();
        names.sort();
        names
    };
    // The first tick starts the 10-minute rhythm; 4:15 is the scan's slot.
    assert_eq!(claimed("2025-06-02T04:05:00Z"), ["device-poll"]);
    assert_eq!(claimed("2025-06-02T04:14:00Z"), Vec::<String>::new());
    assert_eq!(
        claimed("2025-06-02T04:15:00Z"),
        ["device-poll", "security-scan"]
    );
}
