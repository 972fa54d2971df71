//! File watches (`watch = { paths, debounce }`) through the real kit-keep:
//! a change fires the task once after the debounce, watches follow apply
//! within 2 s, changes made while kit-keep was down fire once at its start,
//! and `status` flags watch tasks nobody watches.

mod keep_util;
mod support;

use keep_util::start;
use std::time::{Duration, Instant};
use support::{wait_for, Kit};

const LONG: Duration = Duration::from_secs(10);

fn watch_task(name: &str, dir: &str, debounce: &str) -> String {
    format!(
        r#"
[[task]]
name = "{name}"
schedule = "0 3 1 1 *"
command = "true"
watch = {{ paths = ["~/{dir}"], debounce = "{debounce}" }}
"#
    )
}

fn watching(kit: &Kit, name: &str) -> bool {
    kit.conn()
        .query_row(
            "SELECT watching_since IS NOT NULL FROM supervisor_watches WHERE task = ?1",
            [name],
            |r| r.get::<_, bool>(0),
        )
        .unwrap_or(false)
}

fn runs(kit: &Kit, name: &str) -> i64 {
    kit.count(&format!("task = '{name}' AND trigger = 'watch'"))
}

#[test]
fn a_burst_of_changes_fires_the_task_once_after_the_debounce_with_the_changed_paths() {
    let kit = Kit::new();
    std::fs::create_dir_all(kit.path("inbox")).unwrap();
    kit.tasks(&watch_task("inbox", "inbox", "400ms").replace(
        "command = \"true\"",
        "command = \"printf '%s' \\\"$KIT_EVENT_DATA\\\" > ~/seen.json\"",
    ));
    let _keep = start(&kit);
    wait_for(LONG, "the watch", || watching(&kit, "inbox"));
    let t0 = Instant::now();
    for f in ["a.md", "b.md", "c.md"] {
        std::fs::write(kit.path(&format!("inbox/{f}")), "x").unwrap();
    }
    wait_for(LONG, "the watch run", || {
        kit.count("task = 'inbox' AND trigger = 'watch' AND status = 'success'") == 1
    });
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "fired before the debounce: {took:?}"
    );
    let paths: String =
        kit.scalar("SELECT last_paths FROM supervisor_watches WHERE task = 'inbox'");
    for f in ["a.md", "b.md", "c.md"] {
        assert!(paths.contains(f), "{paths}");
    }
    // The command saw the changed paths (KIT_EVENT_DATA).
    let seen = std::fs::read_to_string(kit.path("seen.json")).unwrap();
    assert!(seen.contains("a.md") && seen.contains("c.md"), "{seen}");
    // One burst, one run.
    assert_eq!(runs(&kit, "inbox"), 1);
    let fired: i64 = kit.scalar("SELECT fired FROM supervisor_watches WHERE task = 'inbox'");
    assert_eq!(fired, 1);
    kit.ctl()
        .args(["show", "inbox"])
        .ok()
        .stdout_has("watch:      runs when ~/inbox changes")
        .stdout_has("fired 1 time");
    let why = kit.ctl().args(["why", "inbox", "--json"]).ok().json();
    assert_eq!(why["facts"]["keep_running"], true, "{why}");
}

#[test]
fn watches_added_and_removed_by_apply_take_effect_within_two_seconds() {
    let kit = Kit::new();
    for d in ["a", "b"] {
        std::fs::create_dir_all(kit.path(d)).unwrap();
    }
    kit.tasks("[[task]]\nname = \"other\"\nschedule = \"@daily\"\ncommand = \"true\"\n");
    let keep = start(&kit);
    kit.tasks(&watch_task("wa", "a", "100ms"));
    let t0 = Instant::now();
    wait_for(Duration::from_secs(2), "the added watch", || {
        watching(&kit, "wa")
    });
    assert!(t0.elapsed() < Duration::from_secs(2));
    std::fs::write(kit.path("a/1"), "x").unwrap();
    wait_for(LONG, "a run of wa", || runs(&kit, "wa") == 1);
    // wa's watch removed, wb's added, by one apply.
    kit.tasks(&format!(
        "[[task]]\nname = \"wa\"\nschedule = \"0 3 1 1 *\"\ncommand = \"true\"\n{}",
        watch_task("wb", "b", "100ms")
    ));
    let t0 = Instant::now();
    wait_for(Duration::from_secs(2), "wa unwatched", || {
        keep.stderr().contains("wa: no longer watching")
    });
    assert!(t0.elapsed() < Duration::from_secs(2));
    wait_for(Duration::from_secs(2), "the watch of wb", || {
        watching(&kit, "wb")
    });
    std::fs::write(kit.path("a/2"), "x").unwrap();
    std::fs::write(kit.path("b/1"), "x").unwrap();
    wait_for(LONG, "a run of wb", || runs(&kit, "wb") == 1);
    assert_eq!(runs(&kit, "wa"), 1, "a removed watch does not fire");
}

#[test]
fn changes_made_while_kit_keep_was_down_fire_once_when_it_starts() {
    let kit = Kit::new();
    std::fs::create_dir_all(kit.path("inbox")).unwrap();
    kit.tasks(&watch_task("inbox", "inbox", "100ms"));
    let mut keep = start(&kit);
    wait_for(LONG, "the watch", || watching(&kit, "inbox"));
    keep.signal(libc::SIGTERM);
    keep.wait_exit(LONG);
    // Unchanged while down: a restart fires nothing.
    let keep2 = start(&kit);
    wait_for(LONG, "the watch again", || {
        keep2.stderr().contains("watching 1 path")
    });
    drop(keep2);
    wait_for(LONG, "kit-keep gone", || {
        kit.ctl()
            .arg("status")
            .run()
            .stdout
            .contains("kit-keep is not running")
    });
    assert_eq!(runs(&kit, "inbox"), 0);
    std::fs::write(kit.path("inbox/while-down.md"), "x").unwrap();
    let _keep3 = start(&kit);
    wait_for(LONG, "the catch-up run", || runs(&kit, "inbox") == 1);
    let fired: i64 = kit.scalar("SELECT fired FROM supervisor_watches WHERE task = 'inbox'");
    assert_eq!(fired, 1);
}

#[test]
fn status_flags_watch_tasks_while_kit_keep_is_not_running() {
    let kit = Kit::new();
    std::fs::create_dir_all(kit.path("inbox")).unwrap();
    kit.tasks(&watch_task("inbox", "inbox", "1s"));
    let st = kit.ctl().arg("status").run().code(1);
    assert!(
        st.stdout
            .contains("1 watch task cannot fire while kit-keep is not running (inbox)"),
        "{}",
        st.stdout
    );
    let s = kit.ctl().args(["status", "--json"]).run().code(1).json();
    assert_eq!(s["conditions"]["watches_unwatched"], true);
    let why = kit.ctl().args(["why", "inbox", "--json"]).ok().json();
    assert_eq!(why["case"], "keep_not_running", "{why}");
}

#[test]
fn apply_rejects_watch_paths_that_do_not_exist_or_are_relative() {
    let kit = Kit::new();
    let bad = |watch: &str, needle: &str| {
        let f = kit.file(
            "bad.toml",
            &format!("[[task]]\nname = \"x\"\nschedule = \"@daily\"\ncommand = \"true\"\nwatch = {watch}\n"),
        );
        kit.ctl()
            .arg("apply")
            .arg(&f)
            .run()
            .fails()
            .stderr_has(needle);
    };
    bad(
        "{ paths = [\"~/nope\"] }",
        "watch.paths: \"~/nope\" does not exist",
    );
    bad(
        "{ paths = [\"inbox\"] }",
        "watch.paths: \"inbox\" is not an absolute path",
    );
    bad("{ paths = [] }", "watch.paths: empty");
    bad("{ paths = [\"/\"], debounce = \"soon\" }", "debounce");
}
