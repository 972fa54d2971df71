//! The fluent test helper: each test builds a throwaway kit (its own
//! KIT_HOME and DB in a temp dir), drives the real binaries, and reads the
//! DB with plain SQL, the way a user with sqlite3 would.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The directory holding the built tools (target/debug or target/release):
/// the test executable lives in its `deps/` subdirectory.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let dir = dir.to_path_buf();
    assert!(
        dir.join("kit-run").exists(),
        "the kit binaries are not built in {}: run `cargo test --workspace` (or `cargo build --workspace`)",
        dir.display()
    );
    dir
}

pub fn bin(tool: &str) -> PathBuf {
    bin_dir().join(tool)
}

pub struct Kit {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub db: PathBuf,
    now: Option<String>,
    slept: Option<String>,
}

/// What a finished command gave back.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(self) -> Out {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn code(self, code: i32) -> Out {
        assert_eq!(
            self.code, code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn fails(self) -> Out {
        assert_ne!(
            self.code, 0,
            "expected failure\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "panic: {}", self.stderr);
        assert!(
            !self.stderr.contains("RUST_BACKTRACE"),
            "backtrace hint: {}",
            self.stderr
        );
        self
    }
    pub fn stderr_has(self, needle: &str) -> Out {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }
    pub fn stdout_has(self, needle: &str) -> Out {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{}",
            self.stdout
        );
        self
    }
    pub fn lines(&self) -> Vec<String> {
        self.stdout.lines().map(str::to_string).collect()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

/// A command being built: `kit.ctl().args([...]).run()`.
pub struct Cmd {
    pub inner: Command,
    stdin: Option<String>,
}

impl Cmd {
    pub fn from_command(inner: Command) -> Cmd {
        Cmd { inner, stdin: None }
    }
    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Cmd {
        self.inner.arg(a);
        self
    }
    pub fn args<I, S>(mut self, a: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.inner.args(a);
        self
    }
    pub fn env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Cmd {
        self.inner.env(k, v);
        self
    }
    pub fn stdin(mut self, s: &str) -> Cmd {
        self.stdin = Some(s.to_string());
        self
    }
    pub fn run(mut self) -> Out {
        use std::io::Write;
        self.inner
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.inner.spawn().expect("spawn tool");
        if let Some(s) = self.stdin.take() {
            let mut i = child.stdin.take().expect("stdin");
            i.write_all(s.as_bytes()).expect("write stdin");
        }
        let out = child.wait_with_output().expect("wait tool");
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
    pub fn ok(self) -> Out {
        self.run().ok()
    }
    pub fn spawn(mut self) -> std::process::Child {
        self.inner
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        self.inner.spawn().expect("spawn tool")
    }
}

impl Kit {
    pub fn new() -> Kit {
        let dir = tempfile::Builder::new()
            .prefix("kit-test")
            .tempdir()
            .expect("tempdir");
        let home = dir.path().join("home");
        let db = home.join("kit.db");
        Kit {
            dir,
            home,
            db,
            now: None,
            slept: None,
        }
    }

    /// Sets the injected clock for every later command.
    pub fn at(&mut self, now: &str) -> &mut Kit {
        self.now = Some(now.to_string());
        self
    }

    /// Sets the injected sleep counter (`KIT_SLEPT`, seconds the machine has
    /// slept since boot) for every later command.
    pub fn slept(&mut self, seconds: &str) -> &mut Kit {
        self.slept = Some(seconds.to_string());
        self
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file in the test's temp dir and returns its path.
    pub fn file(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Any kit tool, with this kit's environment (and clock, if set).
    pub fn tool(&self, name: &str) -> Cmd {
        let mut c = Command::new(bin(name));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("KIT_HOME", &self.home)
            .env("KIT_DB", &self.db)
            .env("TZ", "UTC")
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path());
        if let Some(n) = &self.now {
            c.env("KIT_NOW", n);
        }
        // scripts/test runs the reliability tests again with the portable
        // mechanisms macOS relies on (kit_db::platform).
        if let Some(p) = std::env::var_os("KIT_PLATFORM") {
            c.env("KIT_PLATFORM", p);
        }
        if let Some(s) = &self.slept {
            c.env("KIT_SLEPT", s);
        }
        Cmd {
            inner: c,
            stdin: None,
        }
    }
    pub fn ctl(&self) -> Cmd {
        self.tool("kit-ctl")
    }
    /// kit-tick without the kit-heal it starts after each tick: a detached
    /// kit-heal would race the test's own assertions. Tests of that
    /// hand-off use `tool("kit-tick")` (tests/silent.rs).
    pub fn tick(&self) -> Cmd {
        self.tool("kit-tick").arg("--no-heal")
    }
    pub fn run(&self) -> Cmd {
        self.tool("kit-run").arg("--no-heal")
    }
    pub fn kdb(&self) -> Cmd {
        self.tool("kit-db")
    }
    pub fn heal(&self) -> Cmd {
        self.tool("kit-heal")
    }

    /// Declares tasks from TOML text (applies it, asserting success).
    pub fn tasks(&self, toml: &str) -> &Kit {
        let f = self.file("tasks.toml", toml);
        self.ctl().arg("apply").arg(&f).ok();
        self
    }

    /// Opens the DB read-write the way a sqlite3 user would.
    pub fn conn(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open(&self.db).expect("open db");
        c.busy_timeout(Duration::from_secs(30)).unwrap();
        c
    }

    pub fn count(&self, sql_where: &str) -> i64 {
        self.conn()
            .query_row(
                &format!("SELECT count(*) FROM supervisor_executions WHERE {sql_where}"),
                [],
                |r| r.get(0),
            )
            .unwrap()
    }

    pub fn scalar<T: rusqlite::types::FromSql>(&self, sql: &str) -> T {
        self.conn()
            .query_row(sql, [], |r| r.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Status column of every execution of `task`, oldest first.
    pub fn statuses(&self, task: &str) -> Vec<String> {
        let c = self.conn();
        let mut s = c
            .prepare("SELECT status FROM supervisor_executions WHERE task = ?1 ORDER BY id")
            .unwrap();
        s.query_map([task], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }
}

/// Waits until `cond` holds, failing the test after `limit`.
pub fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

pub fn pid_alive(pid: i32) -> bool {
    // kill(pid, 0) and not a zombie.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    if !alive {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// `kit-ctl serve` and a plain HTTP client for the API tests.
pub mod http;
