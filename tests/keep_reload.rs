//! kit-keep applies task changes live and acts on restart/stop/start
//! requests, without touching the daemons nobody changed.

mod keep_util;
mod support;

use keep_util::*;
use kit_db::daemon::{requests, Action};
use std::time::{Duration, Instant};
use support::{pid_alive, wait_for, Kit};

const RELOAD: Duration = Duration::from_secs(2);

fn daemon(name: &str, cmd: &str, extra: &str) -> String {
    format!("[[task]]\nname = \"{name}\"\nschedule = \"@daemon\"\ncommand = \"{cmd}\"\n{extra}\n")
}

#[test]
fn added_changed_disabled_and_removed_daemons_take_effect_within_two_seconds() {
    let kit = Kit::new();
    let a = daemon("alpha", "exec sleep 1000", "");
    let c = daemon("calm", "exec sleep 1001", "");
    kit.tasks(&format!("{a}{c}"));
    let _keep = start(&kit);
    let alpha0 = wait_running(&kit, "alpha");
    let calm = wait_running(&kit, "calm");

    // Add beta and change alpha's command in one apply.
    let a2 = daemon("alpha", "exec sleep 1002", "");
    let b = daemon("beta", "exec sleep 1003", "");
    kit.tasks(&format!("{a2}{b}{c}"));
    let t = Instant::now();
    wait_for(RELOAD, "beta started and alpha restarted", || {
        running_pid(&kit, "beta").is_some_and(pid_alive)
            && running_pid(&kit, "alpha").is_some_and(|p| p != alpha0 && pid_alive(p))
    });
    eprintln!("add + change took {:?}", t.elapsed());
    assert!(!pid_alive(alpha0));
    let r = rows(&kit, "alpha");
    assert_eq!(r[0].status, "killed");
    assert!(
        r[0].reason
            .as_deref()
            .unwrap()
            .contains("its task changed (command)"),
        "{r:?}"
    );

    // Disable, enable, remove.
    kit.ctl().args(["disable", "beta"]).ok();
    wait_for(RELOAD, "beta stopped", || {
        daemon_state(&kit, "beta") == "stopped"
            && daemon_processes(&kit.db, Some("beta")).is_empty()
    });
    assert!(rows(&kit, "beta")[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("disabled"));
    kit.ctl().args(["enable", "beta"]).ok();
    wait_for(RELOAD, "beta running again", || {
        running_pid(&kit, "beta").is_some_and(pid_alive)
    });
    kit.ctl().args(["rm", "alpha"]).ok();
    wait_for(RELOAD, "alpha gone", || {
        daemon_state(&kit, "alpha") == "none" && daemon_processes(&kit.db, Some("alpha")).is_empty()
    });
    assert!(rows(&kit, "alpha")
        .last()
        .unwrap()
        .reason
        .as_deref()
        .unwrap()
        .contains("removed"));

    // A change that needs no restart (description, backoff) applies live.
    let c2 = daemon(
        "calm",
        "exec sleep 1001",
        "description = \"still calm\"\nrestart_delay = \"1s\"",
    );
    kit.tasks(&format!("{b}{c2}"));
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(running_pid(&kit, "calm"), Some(calm));
    assert_eq!(rows(&kit, "calm").len(), 1, "calm was restarted");
    assert_eq!(daemon_processes(&kit.db, Some("calm")), vec![calm]);
}

#[test]
fn sighup_forces_a_reload_of_changes_made_behind_kits_back() {
    let kit = Kit::new();
    kit.tasks(&daemon("edited", "exec sleep 1000", ""));
    let keep = start(&kit);
    let before = wait_running(&kit, "edited");
    // A hand edit with sqlite3 that bumps neither revision nor updated_at.
    kit.conn()
        .execute(
            "UPDATE supervisor_tasks SET spec = replace(spec, 'sleep 1000', 'sleep 1004') WHERE name = 'edited'",
            [],
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        running_pid(&kit, "edited"),
        Some(before),
        "reloaded without revision change"
    );
    keep.signal(libc::SIGHUP);
    wait_for(RELOAD, "the restart after SIGHUP", || {
        running_pid(&kit, "edited").is_some_and(|p| p != before && pid_alive(p))
    });
    assert!(keep.stderr().contains("SIGHUP"));
}

fn ask(kit: &Kit, task: &str, action: Action) -> requests::Request {
    let conn = kit.conn();
    let now = kit_db::clock::now(None).unwrap();
    let id = requests::request(&conn, task, action, "test", now).unwrap();
    let t = Instant::now();
    let r = requests::wait_done(&conn, id, Duration::from_secs(5))
        .unwrap()
        .unwrap();
    assert!(r.done_at.is_some(), "request {action:?} not done: {r:?}");
    // "Within a second": the loop reads requests every 0.5 s.
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{action:?} took {:?}",
        t.elapsed()
    );
    r
}

#[test]
fn restart_stop_and_start_requests_are_acted_on_and_answered() {
    requests_are_acted_on(&[]);
}

/// The same where DB writes cannot be watched (macOS, no inotify): the DB
/// is polled every half second.
#[test]
fn requests_are_acted_on_within_a_second_when_the_db_is_polled() {
    requests_are_acted_on(&["--poll-db"]);
}

fn requests_are_acted_on(args: &[&str]) {
    let kit = Kit::new();
    kit.tasks(&format!(
        "{}{}",
        daemon("relay", "exec sleep 1000", ""),
        "[[task]]\nname = \"nightly\"\nschedule = \"@daily\"\ncommand = \"true\"\n"
    ));
    let mut keep = start_with(&kit, args);
    let p0 = wait_running(&kit, "relay");

    let r = ask(&kit, "relay", Action::Restart);
    let p1 = wait_running(&kit, "relay");
    assert_ne!(p1, p0);
    assert_eq!(
        r.result.as_deref(),
        Some(format!("restarted (pid {p1})").as_str())
    );
    assert!(!pid_alive(p0));
    let rows0 = rows(&kit, "relay");
    assert_eq!(rows0[0].status, "killed");
    assert!(
        rows0[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("restart requested by test"),
        "{rows0:?}"
    );

    let r = ask(&kit, "relay", Action::Stop);
    assert_eq!(r.result.as_deref(), Some("stopped"));
    assert!(daemon_processes(&kit.db, Some("relay")).is_empty());
    assert_eq!(daemon_state(&kit, "relay"), "stopped");
    let wanted: String = kit.scalar("SELECT wanted FROM supervisor_daemons WHERE task = 'relay'");
    assert_eq!(wanted, "down");
    assert_eq!(
        ask(&kit, "relay", Action::Stop).result.as_deref(),
        Some("already stopped")
    );

    // A stopped daemon stays down across a restart of kit-keep.
    assert_eq!(keep.term(), 0);
    let _keep2 = start_with(&kit, args);
    std::thread::sleep(Duration::from_millis(600));
    assert!(daemon_processes(&kit.db, Some("relay")).is_empty());

    let r = ask(&kit, "relay", Action::Start);
    let p2 = wait_running(&kit, "relay");
    assert_eq!(
        r.result.as_deref(),
        Some(format!("started (pid {p2})").as_str())
    );
    let r = ask(&kit, "relay", Action::Start);
    assert_eq!(
        r.result.as_deref(),
        Some(format!("already running (pid {p2})").as_str())
    );
    assert_eq!(daemon_processes(&kit.db, Some("relay")), vec![p2]);

    // Bad requests are refused before they are queued.
    let conn = kit.conn();
    let now = kit_db::clock::now(None).unwrap();
    let e = requests::request(&conn, "nightly", Action::Restart, "test", now).unwrap_err();
    assert!(e.to_string().contains("not a daemon"), "{e}");
    let e = requests::request(&conn, "relai", Action::Restart, "test", now).unwrap_err();
    assert!(e.to_string().contains("did you mean: relay"), "{e}");
}
