//! The dashboard in a real headless Chromium (Debian's `chromium`, installed
//! by scripts/install-test-deps.sh when missing): it loads with the token
//! from the URL fragment, draws the seeded executions on the 24-hour
//! timeline, and a screenshot is left in target/ for people to look at.
//! Where Chromium cannot be installed the tests say so and skip.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::Kit;

const NOW: &str = "2025-03-30T12:00:00Z";

fn chromium() -> Option<PathBuf> {
    let find = || {
        ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .find_map(|b| {
                std::env::var_os("PATH")?
                    .to_str()?
                    .split(':')
                    .map(|d| Path::new(d).join(b))
                    .find(|p| p.is_file())
            })
    };
    if let Some(p) = find() {
        return Some(p);
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install-test-deps.sh");
    let out = Command::new("sh").arg(script).output().ok()?;
    match find() {
        Some(p) => Some(p),
        None => {
            eprintln!(
                "SKIPPED: headless Chromium is not installed and {script} could not install it:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            None
        }
    }
}

/// Runs headless Chromium on `url` with a fresh profile; returns stdout.
fn browse(kit: &Kit, chrome: &Path, url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            // Wait for the page's fetches and rendering before dumping.
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .env("TZ", "UTC")
        .env("HOME", kit.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// (task, when, status, reason, output) of a seeded execution.
type Row = (
    String,
    chrono::DateTime<chrono::Utc>,
    &'static str,
    Option<&'static str>,
    &'static [u8],
);

fn exit_code(status: &str) -> Option<i64> {
    match status {
        "success" => Some(0),
        "failed" => Some(1),
        "timeout" => Some(124),
        _ => None,
    }
}

/// A kit with tasks and a day of history ending at NOW, oldest first.
/// Returns the ids that fall in the last 24 hours, with their status.
fn seeded() -> (Kit, Vec<(i64, String)>) {
    let mut kit = Kit::new();
    kit.at(NOW);
    kit.tasks(
        r#"
[[task]]
name = "vehicle-telemetry"
schedule = "*/30 * * * *"
command = ["telemetry", "--push"]
description = "Pull vehicle telemetry and push it to the store"

[[task]]
name = "backup"
schedule = "@hourly"
command = "restic backup ~/data"
timeout = "15m"

[[task]]
name = "weekly-report"
schedule = "0 9 * * 1"
command = "report --weekly"
enabled = false
"#,
    );
    let c = kit.conn();
    let now = chrono::DateTime::parse_from_rfc3339(NOW)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let mut rows: Vec<Row> = Vec::new();
    // Two days back, so that the window really cuts at 24 hours.
    for half_hours in (0..96).rev() {
        let t = now - chrono::Duration::minutes(30 * half_hours + 1);
        let status = match half_hours {
            7 | 8 => "failed",
            20 => "missed",
            _ => "success",
        };
        let reason = match status {
            "failed" => Some("exit status 1"),
            "missed" => Some("no tick ran at the slot"),
            _ => None,
        };
        let out: &[u8] = if status == "failed" {
            b"error: connection refused (telemetry.example:443)\n"
        } else {
            b"ok\n"
        };
        rows.push(("vehicle-telemetry".into(), t, status, reason, out));
        if half_hours % 2 == 0 {
            let status = if half_hours == 10 {
                "timeout"
            } else {
                "success"
            };
            rows.push((
                "backup".into(),
                t - chrono::Duration::minutes(10),
                status,
                None,
                b"",
            ));
        }
    }
    rows.sort_by_key(|r| r.1);
    let mut in_window = Vec::new();
    for (task, t, status, reason, out) in rows {
        let started = (status != "missed").then(|| fmt(t));
        c.execute(
            "INSERT INTO supervisor_executions(task, trigger, scheduled_for, created_at, started_at, finished_at,
                                               status, exit_code, duration_ms, reason, output)
             VALUES (?1, 'schedule', ?2, ?2, ?3, ?2, ?4, ?5, 1200, ?6, ?7)",
            rusqlite::params![task, fmt(t), started, status, exit_code(status), reason, out],
        )
        .unwrap();
        if now - t <= chrono::Duration::hours(24) {
            in_window.push((c.last_insert_rowid(), status.to_string()));
        }
    }
    drop(c);
    (kit, in_window)
}

#[test]
fn the_dashboard_shows_the_seeded_executions_on_the_timeline() {
    let Some(chrome) = chromium() else { return };
    let (kit, in_window) = seeded();
    let srv = kit.serve(&[]);
    let url = format!("{}/#token={}", srv.url, srv.token);
    let dom = browse(&kit, &chrome, &url, &["--dump-dom"]);
    assert!(dom.contains("id=\"timeline\""), "no page:\n{dom}");
    // Every execution of the last 24 hours is a mark with its status; the
    // older ones are not.
    for (id, status) in &in_window {
        let mark = format!("class=\"mark s-{status}\" data-id=\"{id}\"");
        assert!(
            dom.contains(&mark),
            "execution {id} ({status}) is not on the timeline"
        );
    }
    let marks = dom.matches("class=\"mark ").count();
    assert_eq!(marks, in_window.len(), "marks on the timeline");
    assert!(
        in_window.iter().any(|(_, s)| s == "failed")
            && in_window.iter().any(|(_, s)| s == "missed")
    );
    // One row per task, the disabled one included.
    for task in ["vehicle-telemetry", "backup", "weekly-report"] {
        assert!(
            dom.contains(&format!("class=\"tl-row\" data-task=\"{task}\"")),
            "no timeline row for {task}"
        );
        assert!(
            dom.contains(&format!("<tr class=\"\" data-task=\"{task}\""))
                || dom.contains(&format!("<tr class=\"disabled\" data-task=\"{task}\"")),
            "no table row for {task}"
        );
    }
    // Recent failures come with their output; the tiles count today's runs.
    assert!(
        dom.contains("error: connection refused (telemetry.example:443)"),
        "no failure output"
    );
    assert!(dom.contains("Failed today"));
    assert!(!dom.contains("id=\"app\" hidden"), "the app stayed hidden");
    // The token left the address bar for localStorage.
    assert!(!dom.contains(&srv.token), "the token is in the page");
}

#[test]
fn the_timeline_marks_triggered_runs_and_the_table_shows_chains() {
    let Some(chrome) = chromium() else { return };
    let (kit, _) = seeded();
    kit.tasks(
        r#"
[[task]]
name = "fts-rebuild"
schedule = "@event"
command = "true"
after = [{ task = "backup", on = "success" }]
"#,
    );
    let c = kit.conn();
    c.execute(
        "INSERT INTO supervisor_executions(task, trigger, created_at, started_at, finished_at, status,
                                           exit_code, duration_ms)
         VALUES ('fts-rebuild', 'chain', ?1, ?1, ?1, 'success', 0, 5)",
        [NOW],
    )
    .unwrap();
    let id = c.last_insert_rowid();
    drop(c);
    let srv = kit.serve(&[]);
    let url = format!("{}/#token={}", srv.url, srv.token);
    let dom = browse(&kit, &chrome, &url, &["--dump-dom"]);
    assert!(
        dom.contains(&format!(
            "class=\"mark s-success trig\" data-id=\"{id}\" data-task=\"fts-rebuild\" data-status=\"success\" data-trigger=\"chain\""
        )),
        "no triggered mark for #{id}"
    );
    // Scheduled runs carry no notch.
    assert!(!dom.contains("data-trigger=\"schedule\" class"), "{dom}");
    assert!(
        dom.contains("after backup (success)"),
        "the chain is not shown"
    );
}

#[test]
fn the_task_table_shows_conditions_and_watches() {
    let Some(chrome) = chromium() else { return };
    let (kit, _) = seeded();
    std::fs::create_dir_all(kit.path("inbox")).unwrap();
    kit.tasks(
        r#"
[[task]]
name = "kg-maintenance"
schedule = "@event"
command = "true"
when = { command = "exit 1", every = "10m" }

[[task]]
name = "inbox"
schedule = "@event"
command = "true"
watch = { paths = ["~/inbox"] }
"#,
    );
    kit.run().args(["--probe", "kg-maintenance"]).ok();
    let srv = kit.serve(&[]);
    let url = format!("{}/#token={}", srv.url, srv.token);
    let dom = browse(&kit, &chrome, &url, &["--dump-dom"]);
    assert!(
        dom.contains("data-condition=\"kg-maintenance\">when exit 1: false"),
        "the condition is not shown"
    );
    assert!(
        dom.contains("data-watch=\"inbox\">watch ~/inbox (not watched)"),
        "the watch is not shown"
    );
}

#[test]
fn the_why_explanation_opens_for_a_task() {
    let Some(chrome) = chromium() else { return };
    let (kit, _) = seeded();
    let srv = kit.serve(&[]);
    // What a click on a task does, asked for by the fragment.
    let url = format!("{}/#token={}&why=weekly-report", srv.url, srv.token);
    let dom = browse(&kit, &chrome, &url, &["--dump-dom"]);
    let why = kit.ctl().args(["why", "weekly-report", "--json"]).run();
    let text = serde_json::from_str::<serde_json::Value>(&why.stdout).unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(dom.contains("Why: weekly-report"), "no why panel:\n{dom}");
    let shown = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(
        dom.contains(&shown),
        "the panel does not show `kit-ctl why`'s text: {text}"
    );
}

#[test]
fn the_dashboard_asks_for_the_token_when_it_has_none_or_a_wrong_one() {
    let Some(chrome) = chromium() else { return };
    let (kit, _) = seeded();
    let srv = kit.serve(&[]);
    for url in [
        format!("{}/", srv.url),
        format!("{}/#token=not-the-token-at-all", srv.url),
    ] {
        let dom = browse(&kit, &chrome, &url, &["--dump-dom"]);
        assert!(
            dom.contains("id=\"login\" class=\"card\">")
                && !dom.contains("id=\"login\" class=\"card\" hidden"),
            "no login form for {url}:\n{dom}"
        );
        assert!(
            dom.contains("id=\"app\" hidden"),
            "data shown without a token"
        );
        assert!(
            !dom.contains("class=\"mark "),
            "marks drawn without a token"
        );
    }
}

#[test]
fn screenshots_of_the_dashboard_are_written_under_target() {
    let Some(chrome) = chromium() else { return };
    let (kit, _) = seeded();
    let srv = kit.serve(&[]);
    let target = support::bin_dir().parent().unwrap().to_path_buf();
    let url = format!("{}/#token={}", srv.url, srv.token);
    for (file, size) in [
        ("dashboard.png", "1280,1000"),
        ("dashboard-phone.png", "390,1400"),
    ] {
        let path = target.join(file);
        let _ = std::fs::remove_file(&path);
        browse(
            &kit,
            &chrome,
            &url,
            &[
                &format!("--screenshot={}", path.display()),
                &format!("--window-size={size}"),
            ],
        );
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(
            len > 20_000,
            "{} is missing or blank ({len} bytes)",
            path.display()
        );
        eprintln!("screenshot: {}", path.display());
    }
}

/// The security-scan example adapted since 08:00 (exit 10) and a paused
/// task, at 12:00: the page shades both periods on the timeline, says what
/// is in force in the task table, and gives the next run's time.
fn adapted() -> Kit {
    let mut kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "security-scan"
schedule = "0 8,12,16,20 * * *"
command = "echo 'ANOMALY: port 22 open'; exit 10"
success_exit = [0, 10]
[[task.adapt]]
when = "exit:10"
schedule = "*/15 * * * *"
for = "6h"

[[task]]
name = "digest"
schedule = "0 * * * *"
command = "true"
"#,
    );
    for h in 8..12 {
        for m in [0, 15, 30, 45] {
            if h == 10 && m == 0 {
                kit.at("2026-03-02T10:00:00Z");
                kit.ctl()
                    .args([
                        "pause",
                        "digest",
                        "--until",
                        "13:00",
                        "--reason",
                        "mail server down",
                    ])
                    .ok();
            }
            kit.at(&format!("2026-03-02T{h:02}:{m:02}:03Z"));
            kit.tick().ok();
            kit.at(&format!("2026-03-02T{h:02}:{m:02}:05Z"));
            for task in ["security-scan", "digest"] {
                if kit.count(&format!("task = '{task}' AND status = 'queued'")) > 0 {
                    kit.run().arg(task).run();
                }
            }
        }
    }
    kit.at("2026-03-02T12:00:00Z");
    kit
}

#[test]
fn the_page_shows_an_adapted_task_shades_its_period_and_gives_the_next_run_time() {
    let Some(chrome) = chromium() else { return };
    let kit = adapted();
    let srv = kit.serve(&[]);
    let url = format!("{}/#token={}", srv.url, srv.token);
    let dom = browse(&kit, &chrome, &url, &["--dump-dom"]);
    assert!(dom.contains("id=\"timeline\""), "no page:\n{dom}");
    // The adapted and paused periods are shaded on their tasks' rows.
    let row = |task: &str| {
        let start = dom
            .find(&format!("class=\"tl-row\" data-task=\"{task}\""))
            .unwrap_or_else(|| panic!("no timeline row for {task}"));
        let rest = &dom[start + 1..];
        let end = rest.find("class=\"tl-row\"").unwrap_or(rest.len());
        rest[..end].to_string()
    };
    assert!(
        row("security-scan").contains("class=\"band b-adapt\""),
        "{}",
        row("security-scan")
    );
    assert!(
        row("digest").contains("class=\"band b-pause\""),
        "{}",
        row("digest")
    );
    assert!(!row("digest").contains("b-adapt"));
    // The table says what is in force and until when, and when it runs next.
    // Every run matched again, so the last (11:45) holds it until 17:45.
    assert!(
        dom.contains("adapted: */15 * * * * until 17:45"),
        "no pace note"
    );
    assert!(dom.contains("paused until 13:00"), "no pause note");
    assert!(dom.contains("12:15, in 15 min"), "no next run time");
    assert!(!dom.contains(">next tick<"), "a Next cell says 'next tick'");
    // And a screenshot for people to look at.
    let path = support::bin_dir()
        .parent()
        .unwrap()
        .join("dashboard-adapted.png");
    let _ = std::fs::remove_file(&path);
    browse(
        &kit,
        &chrome,
        &url,
        &[
            &format!("--screenshot={}", path.display()),
            "--window-size=1280,1000",
        ],
    );
    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    assert!(
        len > 20_000,
        "{} is missing or blank ({len} bytes)",
        path.display()
    );
    eprintln!("screenshot: {}", path.display());
}
