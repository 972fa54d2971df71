//! No silent failure, measured: the 12 failure scenarios of the README's
//! "What kit does when something goes wrong", each run against both ways
//! launchd, systemd or cron start kit (`kit-tick --exec` and
//! `kit-tick | kit-run -`), each asserting four things:
//!
//! - detected: `kit-ctl status` exits 1 and names it;
//! - explained: `kit-ctl why` says what happened, in words;
//! - notified: the `notify` command received the event, once;
//! - latency: it was delivered by a kit-heal whose clock was at most 2
//!   simulated minutes past the moment the failure became one (`at`).
//!
//! Time is injected (`KIT_NOW`, `KIT_SLEPT`, `KIT_UPTIME`); kit-heal is the
//! one each tick starts (both forms start it), or the one kit-keep starts.

mod keep_util;
mod support;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration as Real;
use support::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Form {
    Exec,
    Pipe,
}

struct Scene {
    kit: Kit,
    form: Form,
    /// Pipelines still running (a hung task keeps `kit-run -` busy).
    pipes: Vec<std::process::Child>,
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Scene {
    fn new(form: Form, tasks: &str) -> Scene {
        Scene::with_notify(form, tasks, None)
    }

    /// `notify`: the notify command; by default it appends each event to
    /// `notified` in the test's directory.
    fn with_notify(form: Form, tasks: &str, notify: Option<&str>) -> Scene {
        let mut kit = Kit::new();
        kit.at("2025-06-02T09:59:00Z");
        let log = kit.path("notified");
        let notify = notify
            .map(str::to_string)
            .unwrap_or_else(|| format!("cat >> '{}'", log.display()));
        kit.tasks(&format!(
            "[settings]\ntimezone = \"UTC\"\nnotify = \"{}\"\n{tasks}",
            notify.replace('\\', "\\\\").replace('"', "\\\"")
        ));
        Scene {
            kit,
            form,
            pipes: Vec::new(),
        }
    }

    /// One tick at `now`, in this scene's form; waits for what it started
    /// (kit-run, kit-heal) unless a run hangs.
    fn tick(&mut self, now: &str) {
        self.tick_env(now, &[]);
    }

    fn tick_env(&mut self, now: &str, env: &[(&str, &str)]) {
        let line = match self.form {
            Form::Exec => "kit-tick --exec".to_string(),
            Form::Pipe => "kit-tick | kit-run -".to_string(),
        };
        let dir = bin_dir();
        let mut cmd = self
            .kit
            .tool("kit-tick")
            .env("KIT_NOW", now)
            .env(
                "PATH",
                format!("{}:{}", dir.display(), std::env::var("PATH").unwrap()),
            )
            .inner;
        for (k, v) in env {
            cmd.env(k, v);
        }
        // The same command line a crontab or a service unit holds.
        let mut sh = std::process::Command::new("/bin/sh");
        sh.arg("-c").arg(&line);
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        sh.current_dir(self.kit.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = sh.spawn().unwrap();
        // A pipeline whose kit-run waits on a hung task is left running.
        let deadline = std::time::Instant::now() + Real::from_secs(5);
        while std::time::Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Real::from_millis(20));
        }
        self.pipes.push(child);
    }

    /// Waits until no run is queued or running, except `but`.
    fn settle(&self, but: &str) {
        wait_for(Real::from_secs(20), "runs to finish", || {
            self.kit.count(&format!(
                "status IN ('queued','running') AND task NOT IN ({but})"
            )) == 0
        });
    }

    /// kit-heal as kit-keep (or a tick) starts it, at `now`.
    fn heal(&self, now: &str) {
        self.kit.heal().env("KIT_NOW", now).ok();
    }

    /// The events the notify command received.
    fn notified(&self) -> Vec<Value> {
        std::fs::read_to_string(self.kit.path("notified"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits for the notify command to receive an event of `kind` (for
    /// `task`), then checks it was received once and delivered by `by`.
    fn notified_of(&self, kind: &str, task: Option<&str>, by: DateTime<Utc>) -> Value {
        let matches =
            |e: &Value| e["kind"] == kind && task.is_none_or(|t| e["task"].as_str() == Some(t));
        wait_for(
            Real::from_secs(20),
            &format!("a {kind} notification"),
            || self.notified().iter().any(matches),
        );
        let got: Vec<Value> = self.notified().into_iter().filter(matches).collect();
        assert_eq!(got.len(), 1, "{kind} notified once: {got:?}");
        let id = got[0]["id"].as_i64().unwrap();
        // kit-heal records the delivery just after the command exits.
        let sql = format!("SELECT delivered_at FROM supervisor_events WHERE id = {id}");
        wait_for(Real::from_secs(20), "the delivery to be recorded", || {
            self.kit.scalar::<Option<String>>(&sql).is_some()
        });
        let delivered: String = self.kit.scalar(&sql);
        assert!(
            delivered.as_str() <= stamp(by).replace('Z', ".000Z").as_str(),
            "{kind} delivered at {delivered}, later than {}",
            stamp(by)
        );
        got[0].clone()
    }

    /// `status` at `now`: exits 1, and its text (one line) contains each of `says`.
    fn flags(&self, now: &str, says: &[&str]) {
        let out = self.kit.ctl().env("KIT_NOW", now).arg("status").run();
        let text = one_line(&out.stdout);
        if std::env::var_os("SHOW_WHY").is_some() {
            eprintln!("STATUS: {text}");
        }
        assert_eq!(out.code, 1, "status should exit 1: {text}");
        for s in says {
            assert!(text.contains(s), "status should say {s:?}: {text}");
        }
    }

    /// `why TASK` at `now` contains each of `says`.
    fn explains(&self, task: &str, now: &str, says: &[&str]) {
        let out = self.kit.ctl().env("KIT_NOW", now).args(["why", task]).ok();
        let text = one_line(&out.stdout);
        if std::env::var_os("SHOW_WHY").is_some() {
            eprintln!("WHY {task}: {text}");
        }
        for s in says {
            assert!(text.contains(s), "why {task} should say {s:?}: {text}");
        }
    }

    /// Stops every task process the scene left (hung commands).
    fn stop_all(&mut self) {
        let c = self.kit.conn();
        let mut s = c
            .prepare("SELECT child_pid FROM supervisor_executions WHERE child_pid IS NOT NULL")
            .unwrap();
        let pids: Vec<i32> = s
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        for p in pids {
            unsafe {
                libc::kill(-p, libc::SIGKILL);
            }
        }
        for mut p in self.pipes.drain(..) {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        self.stop_all();
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Each scenario runs once per form.
macro_rules! both_forms {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn with_kit_tick_exec() {
                super::$name(super::Form::Exec);
            }
            #[test]
            fn with_the_pipe_into_kit_run() {
                super::$name(super::Form::Pipe);
            }
        }
    )*};
}

both_forms!(
    s01_kit_tick_not_invoked,
    s02_kit_keep_dead,
    s03_a_task_hung_past_its_timeout,
    s04_runs_skipped_by_overlap,
    s05_slots_missed_while_the_machine_slept,
    s06_a_daemon_in_a_crash_loop,
    s07_the_notifier_failing,
    s08_the_db_locked,
    s09_kit_run_killed_mid_run,
    s10_a_command_not_found_or_a_bad_cwd,
    s11_a_claimed_slot_never_started,
    s12_the_clock_jumping_either_way,
);

const MINUTELY: &str = r#"
[[task]]
name = "m"
schedule = "* * * * *"
command = "true"
"#;

fn s01_kit_tick_not_invoked(form: Form) {
    let mut s = Scene::new(form, MINUTELY);
    s.tick("2025-06-02T10:00:05Z");
    s.settle("''");
    // No tick after 10:00:05: it is a failure once its heartbeat is 3
    // minutes old (the stall limit), at 10:03:05. kit-keep's kit-heal
    // (every minute) sees it.
    let at = t("2025-06-02T10:03:05Z");
    s.heal("2025-06-02T10:03:30Z");
    let ev = s.notified_of("stalled", None, at + Duration::minutes(2));
    assert!(ev["message"].as_str().unwrap().contains("kit-tick"), "{ev}");
    s.flags("2025-06-02T10:03:30Z", &["kit-tick is not running"]);
    s.explains(
        "m",
        "2025-06-02T10:03:30Z",
        &[
            "has not run and was not even claimed",
            "kit-tick has not run since",
        ],
    );
}

fn s02_kit_keep_dead(form: Form) {
    let mut s = Scene::new(
        form,
        "[[task]]\nname = \"svc\"\nschedule = \"@daemon\"\ncommand = [\"sleep\", \"1000\"]\n",
    );
    let mut keep = keep_util::start(&s.kit);
    keep_util::wait_running(&s.kit, "svc");
    keep.kill9();
    // kit-keep beats at least every 10 s; a beat a minute old is a dead
    // kit-keep (its limit), here at 10:00:00 + 1 minute.
    let at = t("2025-06-02T10:00:00Z");
    s.tick("2025-06-02T10:01:05Z");
    let ev = s.notified_of("stalled", None, at + Duration::minutes(2));
    assert!(ev["message"].as_str().unwrap().contains("kit-keep"), "{ev}");
    s.flags("2025-06-02T10:01:10Z", &["kit-keep is not running"]);
    s.explains("svc", "2025-06-02T10:01:10Z", &["kit-keep"]);
    keep_util::kill_daemons(&s.kit.db);
}

fn s03_a_task_hung_past_its_timeout(form: Form) {
    let mut s = Scene::new(
        form,
        "[[task]]\nname = \"hang\"\nschedule = \"0 10 * * *\"\ncommand = [\"sleep\", \"1000\"]\ntimeout = \"5m\"\n",
    );
    s.tick("2025-06-02T10:00:05Z");
    wait_for(Real::from_secs(20), "the run to start", || {
        s.kit.count("task = 'hang' AND status = 'running'") == 1
    });
    // The clock is injected, kit-run's timer is not: to kit, the run is
    // past its timeout (10:05:05) and stuck a minute and the grace after.
    let at = t("2025-06-02T10:06:15Z");
    for now in ["2025-06-02T10:06:05Z", "2025-06-02T10:07:05Z"] {
        s.tick(now);
    }
    s.notified_of("stuck", Some("hang"), at + Duration::minutes(2));
    s.flags(
        "2025-06-02T10:07:10Z",
        &["task hang: execution #", "past its timeout"],
    );
    s.explains("hang", "2025-06-02T10:07:10Z", &["past its timeout"]);
}

fn s04_runs_skipped_by_overlap(form: Form) {
    let mut s = Scene::new(
        form,
        "[[task]]\nname = \"slow\"\nschedule = \"* * * * *\"\ncommand = [\"sleep\", \"1000\"]\n",
    );
    s.tick("2025-06-02T10:00:05Z");
    wait_for(Real::from_secs(20), "the run to start", || {
        s.kit.count("task = 'slow' AND status = 'running'") == 1
    });
    // The first skip (10:01) is not yet a streak; the second is (10:02).
    let at = t("2025-06-02T10:02:05Z");
    s.tick("2025-06-02T10:01:05Z");
    s.tick("2025-06-02T10:02:05Z");
    s.notified_of("skipped", Some("slow"), at + Duration::minutes(2));
    s.flags(
        "2025-06-02T10:02:10Z",
        &["task slow: its last 2 slots were skipped"],
    );
    s.explains("slow", "2025-06-02T10:02:10Z", &["skipped"]);
}

fn s05_slots_missed_while_the_machine_slept(form: Form) {
    let mut s = Scene::new(form, MINUTELY);
    s.tick_env("2025-06-02T10:00:05Z", &[("KIT_SLEPT", "0")]);
    s.settle("''");
    // Asleep from 10:00 to 11:00: the first tick after the wake records the
    // slots missed, says why, and the missed event goes out at once.
    let at = t("2025-06-02T11:00:05Z");
    s.tick_env("2025-06-02T11:00:05Z", &[("KIT_SLEPT", "3600")]);
    s.settle("''");
    let ev = s.notified_of("missed", Some("m"), at + Duration::minutes(2));
    assert!(ev["message"].as_str().unwrap().contains("asleep"), "{ev}");
    s.flags("2025-06-02T11:00:30Z", &["missed", "asleep"]);
    s.explains("m", "2025-06-02T11:00:30Z", &["asleep"]);
}

fn s06_a_daemon_in_a_crash_loop(form: Form) {
    let mut s = Scene::new(
        form,
        "[[task]]\nname = \"crashy\"\nschedule = \"@daemon\"\ncommand = \"exit 3\"\n",
    );
    let _keep = keep_util::start(&s.kit);
    wait_for(Real::from_secs(30), "the crash loop", || {
        keep_util::daemon_state(&s.kit, "crashy") == "quarantined"
    });
    let at: String = s.kit.scalar(
        "SELECT created_at FROM supervisor_events WHERE kind = 'crashloop' AND task = 'crashy'",
    );
    let at = t(&at);
    s.tick(&stamp(at + Duration::seconds(30)));
    s.notified_of("crashloop", Some("crashy"), at + Duration::minutes(2));
    let now = stamp(at + Duration::seconds(40));
    s.flags(&now, &["daemon crashy is quarantined after a crash loop"]);
    s.explains("crashy", &now, &["crash loop"]);
}

fn s07_the_notifier_failing(form: Form) {
    let mut s = Scene::with_notify(
        form,
        "[[task]]\nname = \"bad\"\nschedule = \"0 10 * * *\"\ncommand = \"exit 3\"\n[task.recovery]\nfailure_threshold = 1\n",
        Some("echo the webhook answered 503 >&2; exit 1"),
    );
    s.tick("2025-06-02T10:00:05Z");
    s.settle("''");
    // The notifier itself cannot be the channel: status flags it with its
    // last error, from the first failed delivery.
    wait_for(Real::from_secs(20), "a failed delivery", || {
        s.kit
            .count_events("attempts > 0 AND last_error IS NOT NULL")
            > 0
    });
    s.tick("2025-06-02T10:01:05Z");
    s.flags("2025-06-02T10:01:10Z", &["the webhook answered 503"]);
    s.explains("bad", "2025-06-02T10:01:10Z", &["failed with exit code 3"]);
}

fn s08_the_db_locked(form: Form) {
    let mut s = Scene::new(
        form,
        "[[task]]\nname = \"h\"\nschedule = \"0 * * * *\"\ncommand = \"true\"\n",
    );
    s.tick("2025-06-02T09:59:05Z");
    s.settle("''");
    let holder = s.kit.conn();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    // The 10:00 tick cannot write: it retries, gives up, and leaves a line
    // beside the DB. status names the lock meanwhile.
    s.tick_env("2025-06-02T10:00:05Z", &[("KIT_BUSY_TIMEOUT", "100ms")]);
    let at = t("2025-06-02T10:00:05Z");
    let out = s
        .kit
        .ctl()
        .env("KIT_NOW", "2025-06-02T10:03:30Z")
        .arg("status")
        .run();
    assert_eq!(out.code, 1);
    assert!(
        one_line(&out.stdout).contains("the database is locked for writing"),
        "{}",
        out.stdout
    );
    holder.execute_batch("ROLLBACK").unwrap();
    // The next tick folds it into a notified event; the slot runs late.
    s.tick("2025-06-02T10:01:05Z");
    s.settle("''");
    let ev = s.notified_of("stalled", None, at + Duration::minutes(2));
    assert_eq!(ev["detail"]["cause"], "tick_failed", "{ev}");
    s.flags("2025-06-02T10:01:30Z", &["kit-tick failed"]);
    s.explains(
        "h",
        "2025-06-02T10:01:30Z",
        &["ran late", "the database is locked"],
    );
}

fn s09_kit_run_killed_mid_run(form: Form) {
    let mut s = Scene::new(
        form,
        "[[task]]\nname = \"long\"\nschedule = \"0 10 * * *\"\ncommand = [\"sleep\", \"1000\"]\n",
    );
    s.tick("2025-06-02T10:00:05Z");
    wait_for(Real::from_secs(20), "the run to start", || {
        s.kit.count("task = 'long' AND status = 'running'") == 1
    });
    let pid: i32 = s
        .kit
        .scalar("SELECT pid FROM supervisor_executions WHERE task = 'long'");
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let at = t("2025-06-02T10:00:30Z");
    s.tick("2025-06-02T10:01:05Z");
    s.notified_of("failing", Some("long"), at + Duration::minutes(2));
    s.flags("2025-06-02T10:01:10Z", &["task long"]);
    s.explains("long", "2025-06-02T10:01:10Z", &["lost"]);
}

fn s10_a_command_not_found_or_a_bad_cwd(form: Form) {
    let mut s = Scene::new(
        form,
        "[[task]]\nname = \"typo\"\nschedule = \"0 10 * * *\"\ncommand = \"no-such-command --now\"\n\
         [[task]]\nname = \"nodir\"\nschedule = \"0 10 * * *\"\ncommand = \"true\"\ncwd = \"/no/such/dir\"\n",
    );
    let at = t("2025-06-02T10:00:05Z");
    s.tick("2025-06-02T10:00:05Z");
    s.settle("''");
    s.notified_of("failing", Some("typo"), at + Duration::minutes(2));
    s.notified_of("failing", Some("nodir"), at + Duration::minutes(2));
    s.flags("2025-06-02T10:00:30Z", &["task typo", "task nodir"]);
    s.explains("typo", "2025-06-02T10:00:30Z", &["not found"]);
    s.explains("nodir", "2025-06-02T10:00:30Z", &["/no/such/dir"]);
}

fn s11_a_claimed_slot_never_started(form: Form) {
    let mut s = Scene::new(
        form,
        "[[task]]\nname = \"d\"\nschedule = \"0 10 * * *\"\ncommand = \"true\"\n",
    );
    // The hand-off breaks: the slot is claimed and no kit-run takes it
    // (what a pipe into a kit-run that cannot start looks like).
    s.kit.tick().env("KIT_NOW", "2025-06-02T10:00:05Z").ok();
    // Not taken 2 minutes after the claim is a failure: 10:02:05.
    let at = t("2025-06-02T10:02:05Z");
    s.tick("2025-06-02T10:01:05Z");
    s.tick("2025-06-02T10:02:05Z");
    s.notified_of("missed", Some("d"), at + Duration::minutes(2));
    s.flags(
        "2025-06-02T10:02:10Z",
        &["task d: 1 slot missed", "not started"],
    );
    s.explains("d", "2025-06-02T10:02:10Z", &["claimed"]);
}

fn s12_the_clock_jumping_either_way(form: Form) {
    let mut s = Scene::new(form, MINUTELY);
    let up = |secs: i64| secs.to_string();
    s.tick_env("2025-06-02T10:00:05Z", &[("KIT_UPTIME", &up(1000))]);
    s.tick_env("2025-06-02T10:01:05Z", &[("KIT_UPTIME", &up(1060))]);
    s.settle("''");
    // Back an hour: notified at the tick that sees it, and m runs now.
    let at = t("2025-06-02T09:02:05Z");
    s.tick_env("2025-06-02T09:02:05Z", &[("KIT_UPTIME", &up(1120))]);
    s.settle("''");
    let ev = s.notified_of("clock_jump", None, at + Duration::minutes(2));
    assert!(
        ev["message"].as_str().unwrap().contains("went back 1h"),
        "{ev}"
    );
    assert_eq!(
        s.kit
            .count("task = 'm' AND scheduled_for = '2025-06-02T09:02:00.000Z'"),
        1
    );
    s.flags("2025-06-02T09:02:30Z", &["The clock went back 1h"]);
    s.explains("m", "2025-06-02T09:02:30Z", &["The clock went back 1h"]);
    // Forward two hours (one minute on the boot clock).
    let at = t("2025-06-02T11:03:05Z");
    s.tick_env("2025-06-02T11:03:05Z", &[("KIT_UPTIME", &up(1180))]);
    s.settle("''");
    let got: Vec<Value> = s
        .notified()
        .into_iter()
        .filter(|e| e["kind"] == "clock_jump")
        .collect();
    wait_for(Real::from_secs(20), "the second clock_jump", || {
        s.notified()
            .iter()
            .filter(|e| e["kind"] == "clock_jump")
            .count()
            == 2
    });
    let _ = got;
    let delivered: String = s
        .kit
        .scalar("SELECT max(delivered_at) FROM supervisor_events WHERE kind = 'clock_jump'");
    assert!(delivered <= stamp(at + Duration::minutes(2)).replace('Z', ".000Z"));
    s.flags("2025-06-02T11:03:30Z", &["The clock jumped forward 2h"]);
    s.explains("m", "2025-06-02T11:03:30Z", &["jumped forward 2h"]);
}

trait CountEvents {
    fn count_events(&self, sql_where: &str) -> i64;
}

impl CountEvents for Kit {
    fn count_events(&self, sql_where: &str) -> i64 {
        self.scalar(&format!(
            "SELECT count(*) FROM supervisor_events WHERE {sql_where}"
        ))
    }
}
