//! kill -9 over triggers and chains: 8 clients send keyed triggers (each
//! key twice, and a client killed mid-trigger retries with the same key, as
//! an agent retrying a webhook would), while kit-runs are killed -9 at
//! random: waiting for their turn, starting, running. Then kit-tick runs
//! until nothing is open. Nothing acknowledged is lost, nothing is doubled:
//! - every key has exactly one accepted trigger, and every answer for a key
//!   names the same execution;
//! - every execution of the task consumed at least one trigger, reached a
//!   terminal state, and ran its command at most once;
//! - every upstream execution that ended fired its chain exactly once.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

const KEYS: usize = 160;
const CLIENTS: usize = 8;

/// Pids of this kit's kit-run processes (their command line names our DB).
fn kit_runs(db: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd);
        let mut args = cmd.split('\0');
        if args.next().is_some_and(|a| a.ends_with("/kit-run")) && cmd.contains(db) {
            out.push(pid);
        }
    }
    out
}

/// A small deterministic generator (no dependency, reproducible runs).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn kill_9_over_triggers_and_chains_loses_nothing_and_doubles_nothing() {
    if !cfg!(target_os = "linux") {
        return; // finds kit-runs through /proc
    }
    let kit = Kit::new();
    let log = kit.path("ran.log");
    kit.tasks(&format!(
        r#"
[[task]]
name = "up"
schedule = "@event"
command = 'echo "$KIT_EXECUTION_ID" >> {log}; sleep 0.$((KIT_EXECUTION_ID % 3))5'

[[task]]
name = "down"
schedule = "@event"
command = 'echo "down $KIT_UPSTREAM_ID" >> {log}'
after = [{{ task = "up", on = "finish" }}]
overlap = "allow"
"#,
        log = log.display()
    ));
    let db = kit.db.display().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(Mutex::new((0usize, 0usize))); // (kit-run, kit-ctl)

    // The killer: a kit-run at random every 30-180 ms.
    let killer = {
        let (stop, kills, db) = (stop.clone(), kills.clone(), db.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(0x9E3779B97F4A7C15);
            while !stop.load(Ordering::SeqCst) {
                let runs = kit_runs(&db);
                if !runs.is_empty() {
                    let pid = runs[rng.below(runs.len() as u64) as usize];
                    if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                        kills.lock().unwrap().0 += 1;
                    }
                }
                std::thread::sleep(Duration::from_millis(30 + rng.below(150)));
            }
        })
    };

    // The clients: each key twice; a client killed mid-trigger retries it.
    let answers: Arc<Mutex<HashMap<String, Vec<i64>>>> = Default::default();
    let kit = Arc::new(kit);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (kit, answers, kills) = (kit.clone(), answers.clone(), kills.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x1234_5678 + c as u64 * 7919);
                for i in (c..KEYS).step_by(CLIENTS) {
                    let key = format!("k{i}");
                    for _ in 0..2 {
                        // Paced, so the storm spans many runs, not one burst.
                        std::thread::sleep(Duration::from_millis(rng.below(40)));
                        loop {
                            let mut child = kit
                                .ctl()
                                .args(["--json", "trigger", "up", "--key", &key, "--data"])
                                .arg(format!("{{\"i\":{i}}}"))
                                .spawn();
                            if rng.below(6) == 0 {
                                std::thread::sleep(Duration::from_micros(rng.below(4000)));
                                if child.kill().is_ok() {
                                    kills.lock().unwrap().1 += 1;
                                }
                            }
                            let out = child.wait_with_output().unwrap();
                            if !out.status.success() {
                                continue; // killed before its answer: retry the same key
                            }
                            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                            let id = v["execution_id"].as_i64().expect("an execution");
                            answers
                                .lock()
                                .unwrap()
                                .entry(key.clone())
                                .or_default()
                                .push(id);
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    killer.join().unwrap();

    // kit-tick until nothing is open: it reconciles the lost runs (firing
    // their chains) and starts the triggered runs nobody is starting.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        kit.tick().ok();
        std::thread::sleep(Duration::from_millis(300));
        let open = kit.count("status IN ('queued','running')");
        if open == 0 && kit_runs(&db).is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{open} rows still open");
    }

    let c = kit.conn();
    let answers = answers.lock().unwrap();
    assert_eq!(answers.len(), KEYS, "every key was acknowledged");
    // Every key: one accepted trigger, and every answer names its execution.
    let mut accepted: HashMap<String, Vec<i64>> = HashMap::new();
    let mut stmt = c
        .prepare("SELECT key, execution_id FROM supervisor_triggers WHERE task = 'up' AND outcome IN ('queued','coalesced')")
        .unwrap();
    for row in stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .unwrap()
    {
        let (k, id) = row.unwrap();
        accepted.entry(k).or_default().push(id);
    }
    for (key, ids) in answers.iter() {
        let acc = accepted
            .get(key)
            .unwrap_or_else(|| panic!("{key}: acknowledged, then lost"));
        assert_eq!(acc.len(), 1, "{key}: accepted {} times", acc.len());
        assert!(
            ids.iter().all(|i| *i == acc[0]),
            "{key}: answers {ids:?} vs {acc:?}"
        );
    }
    // Every execution of `up` consumed a trigger and ended.
    let phantom: i64 = c
        .query_row(
            "SELECT count(*) FROM supervisor_executions e WHERE task = 'up' AND NOT EXISTS
               (SELECT 1 FROM supervisor_triggers t WHERE t.execution_id = e.id AND t.outcome IN ('queued','coalesced'))",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(phantom, 0, "runs no trigger stands behind");
    // Each command ran at most once; each success ran exactly once.
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let mut seen: HashSet<String> = HashSet::new();
    for line in text.lines() {
        assert!(seen.insert(line.to_string()), "ran twice: {line}");
    }
    let mut stmt = c
        .prepare("SELECT id, status FROM supervisor_executions WHERE task = 'up'")
        .unwrap();
    let ups: Vec<(i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let mut by_status: HashMap<String, usize> = HashMap::new();
    for (id, status) in &ups {
        *by_status.entry(status.clone()).or_default() += 1;
        if status == "success" {
            assert!(
                seen.contains(&id.to_string()),
                "#{id} succeeded but its command never ran"
            );
        }
        // The chain: one trigger per ended upstream (finish = success or failure).
        let chained: i64 = c
            .query_row(
                "SELECT count(*) FROM supervisor_triggers WHERE task = 'down' AND source = 'chain'
                   AND json_extract(detail, '$.upstream') = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        let ends = matches!(
            status.as_str(),
            "success" | "failed" | "timeout" | "killed" | "error" | "lost"
        );
        assert_eq!(
            chained, ends as i64,
            "#{id} ({status}): {chained} chain triggers"
        );
    }
    // Every chain trigger was consumed by a run that ended (or coalesced into one).
    let open_chain: i64 = c
        .query_row(
            "SELECT count(*) FROM supervisor_triggers t LEFT JOIN supervisor_executions e ON e.id = t.execution_id
             WHERE t.task = 'down' AND (e.id IS NULL OR e.status IN ('queued','running'))",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(open_chain, 0);
    let k = kills.lock().unwrap();
    eprintln!(
        "chaos: {} keys x2 from {CLIENTS} clients; {} kit-runs and {} kit-ctls killed -9; \
         up executions by status: {by_status:?}",
        KEYS, k.0, k.1
    );
    assert!(k.0 > 0 && k.1 > 0, "the chaos must have killed something");
}
