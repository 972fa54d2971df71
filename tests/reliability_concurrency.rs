//! Concurrency: 8 kit-tick processes race for every minute of a simulated
//! stretch of time, kit-runs consume the claims as they come (`kit-tick
//! --json | kit-run -`, in the background, overlapping one another), and a
//! `kit-ctl apply --prune` loop keeps adding, removing, disabling and
//! rescheduling tasks meanwhile. Each slot is claimed exactly once, no
//! SQLITE_BUSY or "database is locked" reaches any tool's stderr, and no
//! claimed row is lost: each ends in a terminal state.
//!
//! CI runs 6 simulated hours (360 minutes, 2,880 tick processes); KIT_SOAK=1
//! runs the whole day (1,440 minutes, 11,520 tick processes).

mod reliability_util;
mod support;

use reliability_util::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use support::*;

const TICKS_PER_MINUTE: usize = 8;

/// Tasks present in every variant: `every` is never changed, so it must
/// have exactly one claim per simulated minute whatever else happens.
const BASE: &str = r#"
[[task]]
name = "every"
schedule = "* * * * *"
command = "true"

[[task]]
name = "every3"
schedule = "@every 3m"
command = "true"
"#;

/// What the apply loop cycles through: a task added and removed (`extra`),
/// one rescheduled (`five`), one disabled and enabled again (`hourly`).
fn variant(i: usize) -> String {
    let v = match i % 3 {
        0 => {
            r#"
[[task]]
name = "five"
schedule = "*/5 * * * *"
command = "true"

[[task]]
name = "hourly"
schedule = "0 * * * *"
command = "true"

[[task]]
name = "extra"
schedule = "*/2 * * * *"
command = "true"
"#
        }
        1 => {
            r#"
[[task]]
name = "five"
schedule = "*/10 * * * *"
command = "true"

[[task]]
name = "hourly"
schedule = "0 * * * *"
command = "true"
enabled = false
"#
        }
        _ => {
            r#"
[[task]]
name = "five"
schedule = "1-59/5 * * * *"
command = "true"

[[task]]
name = "hourly"
schedule = "0 * * * *"
command = "true"

[[task]]
name = "extra"
schedule = "*/3 * * * *"
command = "true"
"#
        }
    };
    format!("{BASE}{v}")
}

struct Claim {
    id: i64,
    name: String,
    slot: String,
}

#[test]
fn eight_ticks_per_minute_with_runs_and_applies_claim_each_slot_once_and_lose_nothing() {
    let minutes: i64 = if soak() { 1440 } else { 360 };
    let started = std::time::Instant::now();
    let mut kit = Kit::new();
    let start = parse("2025-06-02T00:00:00Z");
    kit.at(&stamp(start));
    kit.tasks(&variant(0));

    // The apply loop, concurrent with everything else.
    let sim_minute = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let apply_errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let applies = Arc::new(AtomicUsize::new(0));
    let applier = {
        let (sim_minute, done, errs, applies) = (
            sim_minute.clone(),
            done.clone(),
            apply_errors.clone(),
            applies.clone(),
        );
        let files: Vec<_> = (0..3)
            .map(|i| kit.file(&format!("variant{i}.toml"), &variant(i)))
            .collect();
        let home = kit.home.clone();
        let db = kit.db.clone();
        let dir = kit.dir.path().to_path_buf();
        std::thread::spawn(move || {
            let mut i = 1;
            while !done.load(Ordering::SeqCst) {
                let m = sim_minute.load(Ordering::SeqCst) as i64;
                let now = stamp(plus_minutes(start, m));
                let out = std::process::Command::new(bin("kit-ctl"))
                    .env_clear()
                    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                    .env("HOME", &dir)
                    .env("KIT_HOME", &home)
                    .env("KIT_DB", &db)
                    .env("TZ", "UTC")
                    .env("KIT_NOW", &now)
                    .args(["apply", "--prune"])
                    .arg(&files[i % 3])
                    .output()
                    .expect("kit-ctl apply");
                let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
                if !out.status.success()
                    || stderr.to_lowercase().contains("busy")
                    || stderr.contains("locked")
                {
                    errs.lock()
                        .unwrap()
                        .push(format!("apply #{i} at {now}: {:?}: {stderr}", out.status));
                }
                applies.fetch_add(1, Ordering::SeqCst);
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(15));
            }
        })
    };

    let mut claims: Vec<Claim> = Vec::new();
    let mut runs: Vec<(String, Child)> = Vec::new();
    let mut run_outputs: Vec<(String, std::process::Output)> = Vec::new();
    for m in 0..minutes {
        sim_minute.store(m as usize, Ordering::SeqCst);
        let minute = plus_minutes(start, m);
        // Eight ticks for the minute, each a few seconds into it, racing.
        let ticks: Vec<(String, Child)> = (0..TICKS_PER_MINUTE as i64)
            .map(|k| {
                let now = stamp(minute + chrono::Duration::seconds(k * 3 + 1));
                let child = kit.tick().args(["--json", "--now", &now]).spawn();
                (now, child)
            })
            .collect();
        let mut lines = String::new();
        for (now, t) in ticks {
            let out = t.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "kit-tick --now {now}: {:?}: {stderr}",
                out.status
            );
            assert!(
                stderr.is_empty(),
                "kit-tick --now {now} wrote to stderr: {stderr}"
            );
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            for l in stdout.lines() {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                claims.push(Claim {
                    id: v["id"].as_i64().unwrap(),
                    name: v["name"].as_str().unwrap().to_string(),
                    slot: v["slot"].as_str().unwrap().to_string(),
                });
            }
            lines.push_str(&stdout);
        }
        // The minute's claims go to one background kit-run, which runs
        // exactly the claimed executions; it may overlap the next minutes'.
        if !lines.is_empty() {
            let now = stamp(minute + chrono::Duration::seconds(30));
            let mut cmd = kit.run().args(["-"]).env("KIT_NOW", &now);
            cmd.inner
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let mut child = cmd.inner.spawn().unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(lines.as_bytes())
                .unwrap();
            runs.push((now, child));
        }
        // Collect finished kit-runs so they do not pile up.
        let mut still = Vec::new();
        for (now, mut c) in runs.drain(..) {
            if c.try_wait().unwrap().is_some() {
                run_outputs.push((now, c.wait_with_output().unwrap()));
            } else {
                still.push((now, c));
            }
        }
        runs = still;
    }
    done.store(true, Ordering::SeqCst);
    applier.join().unwrap();
    for (now, c) in runs {
        run_outputs.push((now, c.wait_with_output().unwrap()));
    }
    let loop_time = started.elapsed();

    let errs = apply_errors.lock().unwrap();
    assert!(
        errs.is_empty(),
        "kit-ctl apply failed:\n{}",
        errs.join("\n")
    );
    assert!(
        applies.load(Ordering::SeqCst) > 10,
        "the apply loop hardly ran"
    );
    for (now, out) in &run_outputs {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_no_busy(&stderr, &format!("kit-run at {now}"));
        assert!(!stderr.contains("panicked"), "kit-run at {now}: {stderr}");
        // Also when an apply removed or disabled a task of the batch after
        // its claim: that slot is recorded skipped, with the reason.
        assert_eq!(out.status.code(), Some(0), "kit-run at {now}: {stderr}");
    }

    // Each claim was printed by exactly one tick, and is exactly one row.
    let ids: BTreeSet<i64> = claims.iter().map(|c| c.id).collect();
    assert_eq!(
        ids.len(),
        claims.len(),
        "an execution id was printed by two ticks"
    );
    let slots: BTreeSet<(&str, &str)> = claims
        .iter()
        .map(|c| (c.name.as_str(), c.slot.as_str()))
        .collect();
    assert_eq!(slots.len(), claims.len(), "a slot was claimed twice");
    // The DB's claim rows are exactly the printed claims (nothing claimed
    // silently, nothing lost), each terminal now.
    let c = kit.conn();
    let mut s = c
        .prepare(
            "SELECT id, task, scheduled_for, status FROM supervisor_executions
             WHERE trigger IN ('schedule','catch_up','reboot')",
        )
        .unwrap();
    let rows: BTreeMap<i64, (String, String, String)> = s
        .query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let row_ids: BTreeSet<i64> = rows.keys().copied().collect();
    assert_eq!(
        row_ids, ids,
        "claim rows in the DB vs claims printed by the ticks"
    );
    // Every claim went to a kit-run, which ran it or said why not.
    for claim in &claims {
        let (task, slot, status) = &rows[&claim.id];
        assert_eq!(
            (task, slot),
            (&claim.name, &claim.slot),
            "claim #{}",
            claim.id
        );
        assert!(
            ["success", "skipped"].contains(&status.as_str()),
            "claim #{} ({} {}) ended {status:?}",
            claim.id,
            claim.name,
            claim.slot
        );
    }
    let unexplained: i64 = kit.scalar(
        "SELECT count(*) FROM supervisor_executions WHERE status = 'skipped' AND NOT
           (reason LIKE 'overlap = skip%' OR reason LIKE '%disabled after this slot%'
            OR reason LIKE '%removed after this slot%')",
    );
    assert_eq!(unexplained, 0, "skipped rows without a known reason");
    let dup: i64 = kit.scalar(
        "SELECT count(*) FROM (SELECT task, scheduled_for FROM supervisor_executions
           WHERE scheduled_for IS NOT NULL AND attempt = 1 GROUP BY 1, 2 HAVING count(*) > 1)",
    );
    assert_eq!(dup, 0, "a (task, slot) has two rows");
    // The task no apply touches ran every minute, once.
    let every: Vec<String> = claims
        .iter()
        .filter(|c| c.name == "every")
        .map(|c| c.slot.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let want: Vec<String> = (0..minutes)
        .map(|m| stamp(plus_minutes(start, m)))
        .collect();
    assert_eq!(every, want, "`every` was claimed once per minute");
    assert!(
        open_rows(&kit).is_empty(),
        "open rows left: {:?}",
        open_rows(&kit)
    );
    assert_db_valid(&kit, "after the concurrency run");
    eprintln!(
        "{minutes} simulated minutes, {} tick processes, {} claims, {} kit-run batches, {} applies, \
         statuses {:?}: {loop_time:?}",
        minutes as usize * TICKS_PER_MINUTE,
        claims.len(),
        run_outputs.len(),
        applies.load(Ordering::SeqCst),
        status_counts(&kit)
    );
}

#[test]
fn a_slot_claimed_just_before_its_task_was_removed_is_recorded_skipped_with_the_reason() {
    let mut kit = Kit::new();
    kit.at("2025-06-02T10:00:05Z");
    kit.tasks(&variant(0));
    let out = kit.tick().arg("--json").ok();
    let extra: Vec<_> = out
        .json_lines()
        .into_iter()
        .filter(|c| c["name"] == "extra")
        .collect();
    assert_eq!(extra.len(), 1, "{}", out.stdout);
    kit.ctl().args(["rm", "extra"]).ok();
    // As kit-tick --exec starts it, by name (the test above covers the
    // exact claim of `kit-tick --json | kit-run -`): settled, exit 0.
    kit.run().arg("extra").ok();
    let status: String = kit.scalar(&format!(
        "SELECT status || ': ' || reason FROM supervisor_executions WHERE id = {}",
        extra[0]["id"]
    ));
    assert_eq!(
        status,
        "skipped: the task was removed after this slot was claimed"
    );
    // With nothing claimed, an unknown name is still an error.
    kit.run()
        .arg("extra")
        .run()
        .fails()
        .stderr_has("no task named \"extra\"");
}
