//! `why` never contradicts `status`: a process that a row records as
//! running is checked with the same identity test (pid, start time, boot)
//! before `why` calls it running, and `why` says what happens next.

mod keep_util;
mod support;

use keep_util::*;
use std::time::Duration;
use support::{pid_alive, wait_for, Kit};

#[test]
fn why_does_not_call_a_daemon_running_when_its_process_is_gone() {
    let kit = Kit::new();
    kit.tasks(
        "[[task]]\nname = \"phone\"\nschedule = \"@daemon\"\ncommand = \"exec sleep 1000\"\n",
    );
    let mut keep = start(&kit);
    let pid = wait_running(&kit, "phone");
    keep.kill9();
    // SAFETY: plain kill of the daemon, with nobody left to restart it.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_for(LONG, "the daemon to die", || !pid_alive(pid));
    let why = words(&kit.ctl().args(["why", "phone"]).ok().stdout);
    assert!(
        why.contains(&format!(
            "recorded as running as pid {pid}, but that process is gone"
        )),
        "{why}"
    );
    assert!(!why.contains("is a daemon that is running"), "{why}");
    assert!(
        why.contains("When kit-keep runs again, it starts the daemon"),
        "{why}"
    );
    let status = kit.ctl().arg("status").run().code(1).stdout;
    assert!(status.contains("daemon phone is down"), "{status}");
}

#[test]
fn why_does_not_call_a_run_running_when_its_kit_run_was_killed() {
    let kit = Kit::new();
    kit.tasks("[[task]]\nname = \"t\"\nschedule = \"@daily\"\ncommand = \"sleep 1000\"\n");
    let mut run = kit.run().arg("t").spawn();
    wait_for(Duration::from_secs(20), "the run to start", || {
        kit.statuses("t") == vec!["running"]
    });
    run.kill().unwrap();
    run.wait().unwrap();
    let why = words(&kit.ctl().args(["why", "t"]).ok().stdout);
    assert!(
        why.contains("but the kit-run recording it is gone"),
        "{why}"
    );
    assert!(!why.contains("is still running"), "{why}");
    // why only reads; the next tool reconciles, and then says lost.
    kit.tick().ok();
    assert_eq!(kit.statuses("t"), vec!["lost"]);
}

/// `why` wraps its text for the terminal; compare it word by word.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
