//! Helpers shared by the reliability suite (tests/reliability_*.rs): a
//! seeded random source, the DB-wide invariants every scenario ends with,
//! and finding the processes a kit DB's tasks left behind.
#![allow(dead_code)]

use crate::support::{pid_alive, Kit};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use std::collections::BTreeMap;
use std::path::Path;

/// A tiny 64-bit LCG (Knuth's MMIX constants). The suite's "random" moments
/// come from here, so a failure names its seed and can be replayed with
/// `KIT_SEED=<seed>`; the assertions themselves hold for every seed.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The seed for this run: `KIT_SEED` if set, else `default`.
pub fn seed(default: u64) -> u64 {
    std::env::var("KIT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// True when the long soak variants were asked for (`KIT_SOAK=1`).
pub fn soak() -> bool {
    std::env::var("KIT_SOAK").is_ok_and(|v| v == "1")
}

/// The stored instant format (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
pub fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub fn parse(t: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(t)
        .unwrap_or_else(|e| panic!("{t}: {e}"))
        .with_timezone(&Utc)
}

pub fn plus_minutes(t: DateTime<Utc>, m: i64) -> DateTime<Utc> {
    t + ChronoDuration::minutes(m)
}

/// `kit-db check --json` passes and SQLite finds no dangling foreign key.
pub fn assert_db_valid(kit: &Kit, context: &str) {
    let out = kit.kdb().args(["check", "--json"]).run();
    assert_eq!(
        out.code, 0,
        "{context}: kit-db check failed\n{}\n{}",
        out.stdout, out.stderr
    );
    let v = out.json();
    assert_eq!(v["ok"], true, "{context}: {v}");
    let fk: i64 = kit.scalar("SELECT count(*) FROM pragma_foreign_key_check");
    assert_eq!(fk, 0, "{context}: foreign key violations");
}

/// Execution rows by status.
pub fn status_counts(kit: &Kit) -> BTreeMap<String, i64> {
    let c = kit.conn();
    let mut s = c
        .prepare("SELECT status, count(*) FROM supervisor_executions GROUP BY status")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// Open (`queued`/`running`) rows, as `id task status` lines for messages.
pub fn open_rows(kit: &Kit) -> Vec<String> {
    let c = kit.conn();
    let mut s = c
        .prepare(
            "SELECT id, task, status, pid, child_pid FROM supervisor_executions
             WHERE status IN ('queued','running') ORDER BY id",
        )
        .unwrap();
    s.query_map([], |r| {
        Ok(format!(
            "#{} {} {} pid={:?} child={:?}",
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, Option<i64>>(4)?
        ))
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

/// Live processes (zombies excluded) whose environment holds every one of
/// `vars` (`NAME=value`). Task processes inherit `KIT_DB=<the test's DB>`
/// and `KIT_EXECUTION_ID` from kit-run or kit-keep, so this finds a task's
/// leftovers even when nothing recorded their pid.
pub fn processes_with_env(vars: &[String]) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let have: Vec<&[u8]> = env.split(|&b| b == 0).collect();
        if vars.iter().all(|v| have.contains(&v.as_bytes())) && pid_alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// Live processes whose environment has a variable named `name` (any
/// value) and `KIT_DB=<db>`: the commands kit started for this DB.
pub fn task_processes(db: &Path, name: &str) -> Vec<i32> {
    let want_db = format!("KIT_DB={}", db.display());
    let prefix = format!("{name}=");
    let mut out = Vec::new();
    for pid in processes_with_env(std::slice::from_ref(&want_db)) {
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        if env
            .split(|&b| b == 0)
            .any(|v| v.starts_with(prefix.as_bytes()))
        {
            out.push(pid);
        }
    }
    out
}

/// Live processes whose command line contains `marker` as one argument.
pub fn processes_with_arg(marker: &str) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if cmd.split(|&b| b == 0).any(|a| a == marker.as_bytes()) && pid_alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// Field 22 of /proc/PID/stat: the start time kit records as `*_start`.
pub fn start_time(pid: i32) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    // Fields after the command: state is field 3, start time field 22.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The process recorded as (`pid`, `start`) is still alive.
pub fn same_process_alive(pid: i64, start: Option<i64>) -> bool {
    let pid = pid as i32;
    pid_alive(pid) && start.is_none_or(|s| start_time(pid) == Some(s))
}

/// Kills (SIGKILL) every listed process; for cleanup after a failure.
pub fn kill_all(pids: &[i32]) {
    for &p in pids {
        // SAFETY: plain kill of a process this test started (found by its env).
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
}

/// No stderr of any tool mentions SQLite contention.
pub fn assert_no_busy(stderr: &str, who: &str) {
    let l = stderr.to_ascii_lowercase();
    for needle in ["database is locked", "sqlite_busy", "database busy", "busy"] {
        assert!(
            !l.contains(needle),
            "{who}: a busy/locked error surfaced on stderr:\n{stderr}"
        );
    }
}
