//! Chaos on kit-run: real `kit-tick --now` claims slots minute by minute,
//! one kit-run per claim is started and SIGKILLed after a random delay
//! (before it opens the DB, before its command starts, while the command
//! runs, while it records the result). Afterwards, once the reconciling
//! tools ran, nothing is lost: every claimed slot has exactly one terminal
//! row, no `running` row outlives its recorder, no command process is left
//! behind, and the DB passes `kit-db check`.
//!
//! The delays come from a seeded LCG (the seed is printed and named in every
//! failure; replay with `KIT_SEED=N`). The assertions hold for every seed:
//! they are invariants, not counts of lucky outcomes. `KIT_SOAK=1` runs
//! 2,000 executions instead of 200.

mod reliability_util;
mod support;

use reliability_util::*;
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// Each command leaves a background `sleep 600` in its process group while
/// it runs and stops it itself when it ends normally: a kit-run killed
/// mid-run leaves exactly the kind of leftover that must not survive.
fn tasks() -> String {
    let mut t = String::new();
    for (name, secs) in [
        ("a", "0.002"),
        ("b", "0.008"),
        ("c", "0.015"),
        ("d", "0.025"),
    ] {
        t.push_str(&format!(
            "[[task]]\nname = \"{name}\"\nschedule = \"* * * * *\"\n\
             command = \"sleep 600 & sleep {secs}; kill $!\"\n\n"
        ));
    }
    t
}

const TASKS_PER_MINUTE: usize = 4;
/// Kill delays are drawn from 0..=MAX_DELAY_MS.
const MAX_DELAY_MS: u64 = 30;

struct Launched {
    child: Child,
    /// kit-run's stderr, kept so a failure says what kit-run said.
    stderr: std::path::PathBuf,
    kill_at: Instant,
    killed: bool,
    code: Option<i32>,
}

#[test]
fn kit_run_sigkilled_at_random_moments_loses_no_slot_and_leaves_no_process() {
    let executions = if soak() { 2000 } else { 200 };
    let seed = seed(0x5EED_0001);
    let ctx = format!("seed {seed} (replay: KIT_SEED={seed} cargo test --test reliability_run)");
    eprintln!("{ctx}");
    let mut rng = Lcg::new(seed);
    let mut kit = Kit::new();
    kit.tasks(&tasks());
    let start = parse("2025-06-02T10:00:01Z");
    let minutes = executions / TASKS_PER_MINUTE;

    let mut claims: BTreeMap<i64, (String, String)> = BTreeMap::new();
    let mut normal_exits = 0;
    let mut killed = 0;
    for m in 0..minutes as i64 {
        let now = stamp(plus_minutes(start, m));
        kit.at(&now);
        let out = kit.tick().arg("--json").run();
        assert_eq!(out.code, 0, "{ctx}: kit-tick at {now}: {}", out.stderr);
        assert!(
            out.stderr.is_empty(),
            "{ctx}: kit-tick at {now}: {}",
            out.stderr
        );
        let lines = out.json_lines();
        assert_eq!(
            lines.len(),
            TASKS_PER_MINUTE,
            "{ctx}: claims at {now}: {}",
            out.stdout
        );
        // The tick reconciled every run killed in the previous minute: no
        // `running` row is left pointing at a dead kit-run.
        let running = kit.count("status = 'running'");
        assert_eq!(
            running,
            0,
            "{ctx}: after the tick at {now}: {:?}",
            open_rows(&kit)
        );
        let t0 = Instant::now();
        let mut runs: Vec<Launched> = Vec::new();
        for c in &lines {
            let id = c["id"].as_i64().unwrap();
            let name = c["name"].as_str().unwrap().to_string();
            let slot = c["slot"].as_str().unwrap().to_string();
            assert!(
                claims.insert(id, (name.clone(), slot)).is_none(),
                "{ctx}: id {id} claimed twice"
            );
            let mut cmd = kit.run().arg(&name);
            let stderr = kit.path(&format!("kit-run-{id}.stderr"));
            cmd.inner
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&stderr).unwrap())
                .stdin(Stdio::null());
            let child = cmd.inner.spawn().expect("spawn kit-run");
            let delay = Duration::from_millis(rng.below(MAX_DELAY_MS + 1));
            runs.push(Launched {
                child,
                stderr,
                kill_at: t0 + delay,
                killed: false,
                code: None,
            });
        }
        runs.sort_by_key(|r| r.kill_at);
        for r in &mut runs {
            let left = r.kill_at.saturating_duration_since(Instant::now());
            std::thread::sleep(left);
            // An exited but unwaited child is a zombie: its pid is not reused,
            // so a late kill is harmless.
            if r.child.try_wait().unwrap().is_none() {
                r.child.kill().unwrap();
                r.killed = true;
            }
        }
        for r in &mut runs {
            let st = r.child.wait().unwrap();
            if r.killed && st.code().is_none() {
                killed += 1;
            } else {
                r.code = st.code();
                assert_eq!(
                    r.code,
                    Some(0),
                    "{ctx}: a kit-run that finished at {now} failed: {}",
                    std::fs::read_to_string(&r.stderr).unwrap_or_default()
                );
                normal_exits += 1;
            }
        }
    }

    // The reconciling tools: a tick (same minute, so it claims nothing new)
    // settles runs whose kit-run died; kit-heal, three minutes on, marks the
    // claims no kit-run ever started as missed.
    let last = plus_minutes(start, minutes as i64 - 1);
    kit.at(&stamp(last));
    let out = kit.tick().arg("--json").ok();
    assert!(
        out.stdout.is_empty(),
        "{ctx}: the same minute again claimed: {}",
        out.stdout
    );
    kit.at(&stamp(plus_minutes(last, 3)));
    kit.heal().ok();

    // Exactly the claimed rows exist, one per slot, each terminal.
    let c = kit.conn();
    let mut s = c
        .prepare(
            "SELECT id, task, scheduled_for, status, started_at, reason, exit_code, child_pid, child_start
             FROM supervisor_executions ORDER BY id",
        )
        .unwrap();
    type RowT = (
        i64,
        String,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<RowT> = s
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(claims.len(), executions, "{ctx}");
    let ids: BTreeSet<i64> = rows.iter().map(|r| r.0).collect();
    let claimed: BTreeSet<i64> = claims.keys().copied().collect();
    assert_eq!(
        ids, claimed,
        "{ctx}: rows are exactly the claims (none lost, none extra)"
    );
    let slots: BTreeSet<(String, Option<String>)> =
        rows.iter().map(|r| (r.1.clone(), r.2.clone())).collect();
    assert_eq!(slots.len(), rows.len(), "{ctx}: a slot has two rows");
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for (id, task, slot, status, started, reason, exit, child, child_start) in &rows {
        let (ctask, cslot) = &claims[id];
        assert_eq!(
            (ctask, Some(cslot)),
            (task, slot.as_ref()),
            "{ctx}: row #{id}"
        );
        let reason = reason.clone().unwrap_or_default();
        let kind = match status.as_str() {
            "success" => {
                assert_eq!(*exit, Some(0), "{ctx}: #{id}");
                "finished (the kill came after the result was recorded)"
            }
            "lost" => {
                assert!(started.is_some(), "{ctx}: #{id} lost but never started");
                assert!(reason.contains("died"), "{ctx}: #{id}: {reason}");
                if child.is_some() {
                    "lost while the command ran or was being recorded"
                } else {
                    "lost before the command started"
                }
            }
            "missed" => {
                assert!(started.is_none(), "{ctx}: #{id} missed but started");
                assert!(
                    reason.contains("not started within"),
                    "{ctx}: #{id}: {reason}"
                );
                "killed before taking its slot (missed)"
            }
            other => panic!("{ctx}: row #{id} ({task} {slot:?}) ended {other:?}: {reason}"),
        };
        *by_kind.entry(kind).or_default() += 1;
        // Whatever the row's command was, it is not running any more.
        if let Some(p) = child {
            assert!(
                !same_process_alive(*p, *child_start),
                "{ctx}: #{id} ({status}): its command {p} still runs"
            );
        }
    }
    let success = by_kind
        .get("finished (the kill came after the result was recorded)")
        .copied()
        .unwrap_or(0);
    assert!(
        success >= normal_exits,
        "{ctx}: {normal_exits} kit-runs exited 0 but only {success} rows say success"
    );
    eprintln!("{ctx}: {executions} executions, {killed} kit-runs SIGKILLed, {normal_exits} finished first");
    for (k, n) in &by_kind {
        eprintln!("  {n:4}  {k}");
    }

    // No command process is left: none recorded, and none found by the
    // environment every task process inherits (KIT_DB + KIT_EXECUTION_ID),
    // which also covers grandchildren no row names. SIGKILL is delivered at
    // once; the wait is far shorter than the leftovers' own `sleep 600`.
    let mut left;
    let settled = {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            left = task_processes(&kit.db, "KIT_EXECUTION_ID");
            if left.is_empty() || Instant::now() > deadline {
                break left.is_empty();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    if !settled {
        let desc: Vec<String> = left
            .iter()
            .map(|p| {
                let env = std::fs::read(format!("/proc/{p}/environ")).unwrap_or_default();
                let id = env
                    .split(|&b| b == 0)
                    .find(|v| v.starts_with(b"KIT_EXECUTION_ID="))
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default();
                let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                let row: String = id
                    .strip_prefix("KIT_EXECUTION_ID=")
                    .and_then(|n| n.parse::<i64>().ok())
                    .map(|n| {
                        kit.scalar(&format!(
                            "SELECT status || ' child_pid=' || ifnull(child_pid, '-') || ' pgid ' || '{}' \
                             FROM supervisor_executions WHERE id = {n}",
                            pgid(*p)
                        ))
                    })
                    .unwrap_or_default();
                format!("{p} {id} {} (row: {row})", String::from_utf8_lossy(&cmd).replace('\0', " "))
            })
            .collect();
        kill_all(&left);
        panic!(
            "{ctx}: command processes outlived their killed kit-run:\n{}",
            desc.join("\n")
        );
    }
    assert_db_valid(&kit, &ctx);
}

/// Field 5 of /proc/PID/stat: the process group.
fn pgid(pid: i32) -> i64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(2)?.parse().ok())
        })
        .unwrap_or(-1)
}
