//! Helpers for the kit-keep tests: run the real kit-keep in the test's kit,
//! find its daemons by their recorded pid and by their environment, and
//! never leave a process behind.
#![allow(dead_code)]

use crate::support::{wait_for, Kit};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

pub const LONG: Duration = Duration::from_secs(10);

pub struct Keeper {
    pub child: Option<Child>,
    pub err: PathBuf,
    db: PathBuf,
}

/// Starts kit-keep (kit-heal launching off) with its stderr in a file.
pub fn start(kit: &Kit) -> Keeper {
    start_with(kit, &[])
}

pub fn start_with(kit: &Kit, args: &[&str]) -> Keeper {
    let n = std::fs::read_dir(kit.dir.path()).map_or(0, |d| d.count());
    let err = kit.path(&format!("keep-{n}.err"));
    let mut cmd = kit.tool("kit-keep").args(args);
    if !args.contains(&"--heal-every") {
        cmd = cmd.arg("--heal-every").arg("0");
    }
    cmd.inner
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap());
    let child = cmd.inner.spawn().expect("spawn kit-keep");
    let k = Keeper {
        child: Some(child),
        err,
        db: kit.db.clone(),
    };
    let pid = k.pid();
    wait_for(LONG, "kit-keep's heartbeat", || {
        kit.db.exists()
            && kit
                .conn()
                .query_row(
                    "SELECT pid FROM supervisor_heartbeats WHERE tool = 'kit-keep'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .is_ok_and(|p| p == i64::from(pid))
            && k.stderr().contains("managing")
    });
    k
}

impl Keeper {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("running").id() as i32
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill on our own child.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Waits for it to exit; its exit code (-1 if killed by a signal).
    pub fn wait_exit(&mut self, limit: Duration) -> i32 {
        let mut child = self.child.take().expect("running");
        let end = Instant::now() + limit;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                panic!("kit-keep did not exit within {limit:?}\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM: a graceful stop; returns the exit code.
    pub fn term(&mut self) -> i32 {
        self.signal(libc::SIGTERM);
        self.wait_exit(Duration::from_secs(30))
    }

    /// kill -9 of kit-keep alone (its daemons live on).
    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        self.wait_exit(LONG);
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        kill_daemons(&self.db);
    }
}

/// Pids of live processes started for this DB's daemon `task` (or any
/// daemon with `task` None), found by the environment kit-keep gives them.
pub fn daemon_processes(db: &std::path::Path, task: Option<&str>) -> Vec<i32> {
    let want_db = format!("KIT_DB={}", db.display());
    let want_task = task.map(|t| format!("KIT_TASK={t}"));
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            continue;
        };
        let vars: Vec<&[u8]> = env.split(|&b| b == 0).collect();
        let has = |s: &str| vars.contains(&s.as_bytes());
        if has(&want_db)
            && has("KIT_TRIGGER=daemon")
            && want_task.as_deref().is_none_or(has)
            && crate::support::pid_alive(pid)
        {
            out.push(pid);
        }
    }
    out
}

pub fn kill_daemons(db: &std::path::Path) {
    for pid in daemon_processes(db, None) {
        // SAFETY: plain kill.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// The pid kit-keep records for a running daemon.
pub fn running_pid(kit: &Kit, task: &str) -> Option<i32> {
    kit.conn()
        .query_row(
            "SELECT pid FROM supervisor_daemons WHERE task = ?1 AND state = 'running'",
            [task],
            |r| r.get::<_, Option<i32>>(0),
        )
        .ok()
        .flatten()
}

pub fn wait_running(kit: &Kit, task: &str) -> i32 {
    let mut pid = 0;
    wait_for(LONG, &format!("{task} running"), || {
        running_pid(kit, task).is_some_and(|p| {
            pid = p;
            crate::support::pid_alive(p)
        })
    });
    pid
}

pub fn daemon_state(kit: &Kit, task: &str) -> String {
    kit.conn()
        .query_row(
            "SELECT state FROM supervisor_daemons WHERE task = ?1",
            [task],
            |r| r.get(0),
        )
        .unwrap_or_else(|_| "none".into())
}

#[derive(Debug, Clone)]
pub struct Row {
    pub id: i64,
    pub status: String,
    pub exit_code: Option<i64>,
    pub signal: Option<i64>,
    pub reason: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub child_pid: Option<i64>,
    pub pid: Option<i64>,
    pub output: Option<Vec<u8>>,
    pub trigger: String,
}

/// The daemon's execution rows, oldest first.
pub fn rows(kit: &Kit, task: &str) -> Vec<Row> {
    let c = kit.conn();
    let mut s = c
        .prepare(
            "SELECT id, status, exit_code, signal, reason, started_at, finished_at, child_pid, pid, output, trigger
             FROM supervisor_executions WHERE task = ?1 ORDER BY id",
        )
        .unwrap();
    s.query_map([task], |r| {
        Ok(Row {
            id: r.get(0)?,
            status: r.get(1)?,
            exit_code: r.get(2)?,
            signal: r.get(3)?,
            reason: r.get(4)?,
            started_at: r.get(5)?,
            finished_at: r.get(6)?,
            child_pid: r.get(7)?,
            pid: r.get(8)?,
            output: r.get(9)?,
            trigger: r.get(10)?,
        })
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

pub fn parse_ts(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// The delay kit-keep announced in a row's reason ("restarting in 103ms").
pub fn announced_delay_ms(reason: &str) -> Option<f64> {
    if reason.contains("restarting at once") {
        return Some(0.0);
    }
    let rest = reason.split("restarting in ").nth(1)?;
    let num: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let v: f64 = num.parse().ok()?;
    let unit = &rest[num.len()..];
    Some(if unit.starts_with("ms") {
        v
    } else {
        v * 1000.0
    })
}
