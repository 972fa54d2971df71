//! kit-keep killed with -9 and started again: the daemons still running are
//! adopted, never started a second time; the rest is settled.

mod keep_util;
mod support;

use keep_util::*;
use std::os::unix::process::CommandExt;
use std::time::Duration;
use support::{pid_alive, wait_for, Kit};

fn daemon(name: &str, cmd: &str) -> String {
    format!("[[task]]\nname = \"{name}\"\nschedule = \"@daemon\"\ncommand = \"{cmd}\"\n")
}

#[test]
fn kill_9_of_kit_keep_then_restart_adopts_running_daemons_without_duplicates() {
    let kit = Kit::new();
    let tasks = [
        daemon("steady", "exec sleep 1000"),
        daemon("changed", "exec sleep 1001"),
        daemon("dies", "exec sleep 1002"),
        daemon("dropped", "exec sleep 1003"),
    ];
    kit.tasks(&tasks.concat());
    let mut keep = start(&kit);
    let steady = wait_running(&kit, "steady");
    let changed = wait_running(&kit, "changed");
    let dies = wait_running(&kit, "dies");
    let dropped = wait_running(&kit, "dropped");
    let steady_row = rows(&kit, "steady")[0].id;

    keep.kill9();
    // The daemons outlive it (own sessions); meanwhile one dies, one task
    // changes and one is removed.
    assert!(pid_alive(steady) && pid_alive(dies));
    // SAFETY: plain kill.
    unsafe { libc::kill(dies, libc::SIGKILL) };
    wait_for(LONG, "dies gone", || !pid_alive(dies));
    kit.tasks(
        &[
            daemon("steady", "exec sleep 1000"),
            daemon("changed", "exec sleep 1005"),
            daemon("dies", "exec sleep 1002"),
        ]
        .concat(),
    );
    kit.ctl().args(["rm", "dropped"]).ok();

    let mut keep2 = start(&kit);
    // Adopted: same process, same open row, now recorded by the new kit-keep.
    assert_eq!(wait_running(&kit, "steady"), steady);
    let r = rows(&kit, "steady");
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].id, r[0].status.as_str()), (steady_row, "running"));
    assert_eq!(r[0].pid, Some(i64::from(keep2.pid())));
    // Changed while kit-keep was away: restarted with the new definition.
    wait_for(LONG, "changed restarted", || {
        running_pid(&kit, "changed").is_some_and(|p| p != changed && pid_alive(p))
    });
    assert!(rows(&kit, "changed")[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("changed while kit-keep was not running"));
    // Died unseen: its row is lost, and it runs again.
    let r = rows(&kit, "dies");
    assert_eq!(r[0].status, "lost");
    assert!(r[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("while kit-keep was not running"));
    assert!(wait_running(&kit, "dies") != dies);
    // Removed while away: stopped, its row closed.
    wait_for(LONG, "dropped stopped", || !pid_alive(dropped));
    assert_eq!(rows(&kit, "dropped")[0].status, "killed");
    // Never two of anything.
    for t in ["steady", "changed", "dies"] {
        assert_eq!(daemon_processes(&kit.db, Some(t)).len(), 1, "{t}");
    }
    assert!(daemon_processes(&kit.db, Some("dropped")).is_empty());
    assert!(keep2.stderr().contains("adopted pid"));

    // An adopted daemon that dies is noticed (pidfd) and restarted.
    // SAFETY: plain kill.
    unsafe { libc::kill(steady, libc::SIGKILL) };
    wait_for(LONG, "steady restarted", || {
        running_pid(&kit, "steady").is_some_and(|p| p != steady && pid_alive(p))
    });
    let r = rows(&kit, "steady");
    wait_for(LONG, "the exit recorded", || {
        rows(&kit, "steady")[0].status != "running"
    });
    let first = &rows(&kit, "steady")[0];
    assert_eq!(first.status, "failed");
    assert!(
        first
            .reason
            .as_deref()
            .unwrap()
            .contains("exit status is unknown"),
        "{r:?}"
    );

    // A graceful stop then leaves nothing behind, adopted or not.
    assert_eq!(keep2.term(), 0, "{}", keep2.stderr());
    assert!(daemon_processes(&kit.db, None).is_empty());
    assert_eq!(kit.count("trigger = 'daemon' AND status = 'running'"), 0);
}

#[test]
fn unrecorded_daemon_process_is_adopted_not_started_twice() {
    // kit-keep killed between starting a daemon and recording it leaves a
    // process no row knows; the next kit-keep finds it by its environment.
    let kit = Kit::new();
    kit.tasks(&daemon("orphan", "exec sleep 1000"));
    std::fs::create_dir_all(&kit.home).unwrap();
    let mut cmd = std::process::Command::new("sleep");
    cmd.arg("1000")
        .env("KIT_DB", &kit.db)
        .env("KIT_TASK", "orphan")
        .env("KIT_TRIGGER", "daemon");
    // SAFETY: setsid in the child before exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut stray = cmd.spawn().unwrap();
    let pid = stray.id() as i32;
    let keep = start(&kit);
    assert_eq!(wait_running(&kit, "orphan"), pid, "{}", keep.stderr());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(daemon_processes(&kit.db, Some("orphan")), vec![pid]);
    assert!(keep.stderr().contains("no row recorded"));
    drop(keep);
    let _ = stray.kill();
    let _ = stray.wait();
}
