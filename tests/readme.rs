//! The README's examples are run, so they never rot: every command of the
//! blocks marked "run by tests/readme.rs" (in a throwaway KIT_HOME, with the
//! built tools first on PATH), and the task file of "Declaring tasks".

mod support;
use support::*;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The ```sh blocks that follow a "tests/readme.rs" marker, as command lines.
fn marked_commands(text: &str) -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(l) = lines.next() {
        if !l.contains("tests/readme.rs") {
            continue;
        }
        let mut block = Vec::new();
        for l in lines.by_ref() {
            if l.starts_with("```sh") {
                continue;
            }
            if l.starts_with("```") {
                break;
            }
            if !l.trim().is_empty() && !l.trim_start().starts_with('#') {
                block.push(l.to_string());
            }
        }
        blocks.push(block);
    }
    blocks
}

fn sh(kit: &Kit, line: &str, now: Option<&str>) -> Out {
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = std::process::Command::new("sh");
    c.arg("-c")
        .arg(line)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("KIT_NOW")
        .env("PATH", path)
        .env("KIT_HOME", &kit.home)
        .env("KIT_DB", &kit.db)
        .env("TZ", "UTC")
        .env("NO_COLOR", "1");
    if let Some(n) = now {
        c.env("KIT_NOW", n);
    }
    let out = c.output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn the_tour_and_the_pipelines_run_as_written() {
    let blocks = marked_commands(&readme());
    assert_eq!(
        blocks.len(),
        3,
        "the tour, the adaptive tour and the pipelines are marked"
    );
    // The tour gives its own times; the pipelines run at a fixed instant,
    // each block in a fresh kit of its own.
    let tour = Kit::new();
    let pipes = Kit::new();
    let adaptive = Kit::new();
    pipes.tasks(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tour.toml"))
            .unwrap(),
    );
    for (kit, block, now) in [
        (&tour, &blocks[0], None),
        (&adaptive, &blocks[1], None),
        (&pipes, &blocks[2], Some("2025-06-02T10:00:30Z")),
    ] {
        for line in block {
            let out = sh(kit, line, now);
            let allowed: &[i32] = if line.starts_with("kit-ctl status") {
                &[0, 1]
            } else {
                &[0]
            };
            assert!(
                allowed.contains(&out.code),
                "README line failed ({}): {line}\nstdout:\n{}\nstderr:\n{}",
                out.code,
                out.stdout,
                out.stderr
            );
            assert!(!out.stderr.contains("panicked"), "{line}: {}", out.stderr);
        }
    }
    // The adaptive tour: the scan adapted at 08:00 and came back at 14:00:10;
    // the post was overridden, paused, and given a one-shot run.
    assert_eq!(
        adaptive.scalar::<i64>(
            "SELECT count(*) FROM supervisor_events WHERE kind = 'schedule_changed'"
        ),
        2
    );
    assert_eq!(
        adaptive.count("task = 'security-scan' AND exit_code = 10 AND status = 'success'"),
        1
    );
    let kinds: String = adaptive.scalar(
        "SELECT group_concat(k, ' ') FROM (SELECT kind || ':' || set_by AS k FROM supervisor_overrides
         WHERE task = 'social-post' ORDER BY id)",
    );
    assert_eq!(kinds, "schedule:cli pause:cli at:cli");
    // The slots between the tour's two ticks were the adapted pace's,
    // recorded missed (nothing ticked), then caught up once.
    assert!(
        adaptive.count("task = 'security-scan' AND scheduled_for = '2025-06-02T14:00:00.000Z'")
            == 1
    );
    let kit = tour;
    // The tour tells a story; check that it happened as told.
    let scan = kit.statuses("security-scan");
    assert_eq!(
        scan,
        vec!["success", "success"],
        "the 3:47 scan and the manual run"
    );
    let missed = kit.count("task = 'device-poll' AND status = 'missed'");
    assert_eq!(
        missed, 19,
        "03:50 .. 06:50 (19 slots) were missed while nothing ticked; 07:00 was caught up"
    );
    let caught: String = kit.scalar(
        "SELECT trigger FROM supervisor_executions WHERE task = 'device-poll' AND status = 'success' ORDER BY id LIMIT 1",
    );
    assert_eq!(caught, "catch_up");
    assert_eq!(kit.count("task = 'adhoc-backup' AND status = 'success'"), 1);
    // The event ran once (the repeated key started nothing), and its chain followed.
    assert_eq!(kit.statuses("memory-ingest"), vec!["success"]);
    wait_for(
        std::time::Duration::from_secs(30),
        "the chained rebuild",
        || kit.statuses("fts-rebuild") == vec!["success"],
    );
    let dups: i64 =
        kit.scalar("SELECT count(*) FROM supervisor_triggers WHERE outcome = 'duplicate'");
    assert_eq!(dups, 1);
    // The pipelines ran the 10:00 poll once (the first pipe claimed it) and the ad-hoc backup.
    assert_eq!(pipes.statuses("device-poll"), vec!["success"]);
    assert_eq!(pipes.statuses("backup"), vec!["success"]);
}

#[test]
fn the_declared_tasks_example_applies() {
    let text = readme();
    let start = text.find("```toml\n[settings]").expect("the TOML example");
    let body = &text[start + 8..];
    let toml = &body[..body.find("```").unwrap()];
    let kit = Kit::new();
    kit.tasks(toml);
    let out = kit.ctl().args(["list", "--json"]).ok();
    let names: Vec<String> = out
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["security-scan", "telegram-bridge"]);
}
