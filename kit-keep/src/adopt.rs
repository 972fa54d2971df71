//! Startup: restore each daemon's history from `supervisor_daemons`, adopt
//! the daemon processes an earlier kit-keep left running (it was killed
//! with -9, or crashed), settle the rows of those that ended meanwhile, and
//! start the rest.
//!
//! A process is adopted only if its execution row is from this boot and
//! its pid still names the same process (pid + start time), so a reused pid
//! is never mistaken for a daemon. Adopted processes are not our children:
//! their end is seen through a pidfd (Linux) or kqueue (macOS), by polling
//! where neither is available, and their exit
//! status is unknown.

use crate::daemon::{After, Phase, Proc, Wait};
use crate::keep::Keep;
use crate::record::Op;
use kit_db::clock::{fmt, parse_stored};
use kit_db::daemon::state;
use kit_db::exec::Finish;
use kit_db::process::{self, ProcStart, Signal, Terminate};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

struct OpenRow {
    id: i64,
    task: String,
    pid: Option<i32>,
    start: Option<u64>,
    boot: Option<String>,
    started_at: Option<String>,
}

/// A descriptor that becomes readable when adopted process `pid` exits (a
/// pidfd on Linux, a kqueue `NOTE_EXIT` on macOS), or None: then it is
/// polled. Identity is checked again *after* the watch exists, so a pid
/// that died and was reused in between is never watched in its place.
pub fn exit_watch(pid: i32, start: ProcStart) -> Option<OwnedFd> {
    let watch = kit_db::platform::exit_watch(pid)?;
    process::is_same_process(pid, start).then_some(watch)
}

impl Keep {
    /// Fails (and kit-keep exits, to be restarted by its own supervisor)
    /// only if the DB cannot even be read: starting daemons without knowing
    /// which are already running could start one twice.
    pub fn startup(&mut self) -> anyhow::Result<()> {
        let Some((desired, _)) = self.load_tasks() else {
            anyhow::bail!("cannot read the tasks from the database at startup");
        };
        if let Ok(v) = self
            .store
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
        {
            self.data_version = Some(v);
        }
        let rows: HashMap<String, state::DaemonState> = state::list(&self.store.conn)
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.task.clone(), r))
            .collect();
        for row in desired.values() {
            self.add_daemon(row);
            if let Some(saved) = rows.get(&row.task.name) {
                self.restore(saved);
            }
        }
        // Rows of daemons no longer declared.
        for name in rows.keys().filter(|n| !desired.contains_key(*n)) {
            self.rec.push(Op::RemoveDaemon(name.clone()));
        }
        self.adopt_open_rows()?;
        self.sweep();
        self.beat(false);
        self.handle_requests();
        let names: Vec<String> = self.daemons.keys().cloned().collect();
        for name in names {
            let d = &self.daemons[&name];
            if matches!(d.phase, Phase::Down) && d.task.enabled && d.wanted_up {
                self.start(&name);
            }
        }
        if let Ok(fp) = self.daemon_fingerprint() {
            self.fingerprint = fp;
        }
        self.watch_check();
        let running = self.daemons.values().filter(|d| d.is_running()).count();
        self.log.info(
            "ready",
            None,
            &format!(
                "managing {} daemons ({running} running; platform mechanisms: {}, {})",
                self.daemons.len(),
                kit_db::platform::name(),
                if self.dbwatch.is_some() {
                    "DB writes watched"
                } else {
                    "DB polled"
                }
            ),
        );
        self.flush(true);
        Ok(())
    }

    /// Carries the saved history over: wanted, restarts, the crash-loop
    /// window, a quarantine or backoff still running, the open episode.
    fn restore(&mut self, saved: &state::DaemonState) {
        let clock = self.clock.clone();
        let episode = kit_db::state::get(
            &self.store.conn,
            &format!("kit-keep.crashloop.{}", saved.task),
        )
        .ok()
        .flatten();
        let Some(d) = self.daemons.get_mut(&saved.task) else {
            return;
        };
        d.wanted_up = saved.wanted == "up";
        d.restarts = saved.restarts;
        d.starts = i64::from(saved.started_at.is_some());
        d.last_exit = saved.last_exit.clone();
        d.episode = episode;
        let (_, within) = d.task.crashloop();
        let now_wall = clock.now();
        let horizon = now_wall - crate::clock::chrono_dur(within);
        // Only failures still inside the window (by the stored instants: a
        // failure from before a reboot has no monotonic instant).
        for t in saved.recent_failures.iter().filter_map(|t| parse_stored(t)) {
            if t >= horizon && t <= now_wall {
                d.window.push(clock.mono_of(t), within);
            }
        }
        let future = |s: &Option<String>| {
            s.as_deref()
                .and_then(parse_stored)
                .filter(|t| *t > now_wall)
        };
        match saved.state.as_str() {
            "quarantined" => {
                d.trial = true;
                if let Some(t) = future(&saved.quarantined_until) {
                    d.phase = Phase::Waiting {
                        until: clock.mono_of(t),
                        why: Wait::Quarantine,
                    };
                    d.until_at = Some(fmt(t));
                }
            }
            "backoff" | "error" => {
                d.fails = d.window.at.len() as u32;
                if let Some(t) = future(&saved.backoff_until) {
                    let why = if saved.state == "error" {
                        Wait::Error
                    } else {
                        Wait::Backoff
                    };
                    d.phase = Phase::Waiting {
                        until: clock.mono_of(t),
                        why,
                    };
                    d.until_at = Some(fmt(t));
                }
            }
            _ => {}
        }
    }

    fn open_rows(&self) -> rusqlite::Result<Vec<OpenRow>> {
        let mut stmt = self.store.conn.prepare(
            "SELECT id, task, child_pid, child_start, boot_id, started_at FROM supervisor_executions
             WHERE status = 'running' AND trigger = 'daemon' ORDER BY id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(OpenRow {
                id: r.get(0)?,
                task: r.get(1)?,
                pid: r.get(2)?,
                start: r.get::<_, Option<i64>>(3)?.map(|s| s as u64),
                boot: r.get(4)?,
                started_at: r.get(5)?,
            })
        })?;
        rows.collect()
    }

    fn adopt_open_rows(&mut self) -> anyhow::Result<()> {
        let rows = self.open_rows().map_err(|e| {
            anyhow::anyhow!("cannot read the running daemons from the database: {e}")
        })?;
        let boot = process::boot_id();
        for row in rows {
            let wall = self.clock.now();
            // Pids and start times from another boot mean nothing now.
            let same_boot = row.boot.as_deref() == Some(boot.as_str());
            let alive = match (row.pid, row.start) {
                (Some(pid), Some(start)) if same_boot => {
                    process::is_same_process(pid, ProcStart(start))
                }
                _ => false,
            };
            if !alive {
                let mut reason = String::from(
                    "the daemon ended while kit-keep was not running (or the machine restarted); \
                     its exit status is unknown",
                );
                // What the dead leader started (a shell wrapper's server)
                // still runs in its group: it would run beside the new
                // instance, unsupervised.
                if let (Some(pid), Some(start), true) = (row.pid, row.start, same_boot) {
                    if process::kill_leftovers(pid, ProcStart(start)) {
                        reason.push_str(&format!(
                            "; what it left running in its process group {pid} was killed"
                        ));
                    }
                }
                self.rec.push(Op::Lost {
                    id: row.id,
                    reason,
                    at: wall,
                });
                continue;
            }
            let pid = row.pid.unwrap_or_default();
            let start = ProcStart(row.start.unwrap_or_default());
            let free = self
                .daemons
                .get(&row.task)
                .is_some_and(|d| matches!(d.phase, Phase::Down | Phase::Waiting { .. }));
            if free {
                self.adopt(&row.task, pid, start, row.id, row.started_at.clone());
            } else {
                let why = if self.daemons.contains_key(&row.task) {
                    "a second instance of the daemon (only one may run)"
                } else {
                    "its task was removed while kit-keep was not running"
                };
                self.stop_stray(&row.task, pid, start, Some(row.id), why);
            }
        }
        Ok(())
    }

    fn adopt(
        &mut self,
        name: &str,
        pid: i32,
        start: ProcStart,
        id: i64,
        started_at: Option<String>,
    ) {
        let wall = self.clock.now();
        let started_at = started_at.unwrap_or_else(|| fmt(wall));
        let started = parse_stored(&started_at).map_or(Instant::now(), |t| self.clock.mono_of(t));
        let run = self.rec.new_run();
        self.rec.known_run(run, id);
        self.rec.push(Op::Adopt { id });
        let Some(d) = self.daemons.get_mut(name) else {
            return;
        };
        d.phase = Phase::Running(Proc {
            pid,
            start,
            adopted: true,
            watch: exit_watch(pid, start),
            started,
            started_at: started_at.clone(),
            run,
            log_offset: None,
        });
        d.until_at = None;
        d.starts = d.starts.max(1);
        let _ = d.health.reset(Instant::now(), d.task.health.as_ref());
        let changed = d.task_updated_at > started_at;
        let (enabled, wanted) = (d.task.enabled, d.wanted_up);
        self.rec.touch(name);
        self.log.info(
            "adopted",
            Some(name),
            &format!("adopted pid {pid} (running since {started_at}, left by an earlier kit-keep)"),
        );
        if !enabled || !wanted {
            let why = if enabled {
                "a stop was requested"
            } else {
                "its task was disabled"
            };
            let reason = format!("stopped by kit-keep: {why} while kit-keep was not running");
            self.begin_stop(name, "killed", reason, After::Down);
        } else if changed {
            let reason = "restarted by kit-keep: its task changed while kit-keep was not running"
                .to_string();
            self.begin_stop(name, "killed", reason, After::Restart);
        }
    }

    /// A daemon process that must not run (its task is gone, or it would be
    /// a second instance): stopped here, briefly blocking startup.
    fn stop_stray(&mut self, task: &str, pid: i32, start: ProcStart, id: Option<i64>, why: &str) {
        let wall = self.clock.now();
        self.log
            .warn("stray", Some(task), &format!("stopping pid {pid}: {why}"));
        let opts = Terminate {
            first: Signal::SIGTERM,
            grace: Duration::from_secs(5),
            kill_wait: Duration::from_secs(5),
            reap: true,
        };
        let t = process::terminate_group(pid, Some((pid, start)), &opts).unwrap_or_default();
        if let Some(id) = id {
            let run = self.rec.new_run();
            self.rec.known_run(run, id);
            let killed = if t.killed { " (SIGKILL after 5s)" } else { "" };
            self.rec.push(Op::Finish {
                run,
                task: task.to_string(),
                finish: Finish {
                    status: "killed",
                    reason: Some(format!("stopped by kit-keep{killed}: {why}")),
                    ..Default::default()
                },
                at: wall,
            });
        }
    }

    /// Finds daemon processes of this DB that no row records (kit-keep was
    /// killed between starting one and recording it) by their environment
    /// (KIT_TRIGGER=daemon, KIT_DB, KIT_TASK) among session leaders, and
    /// adopts or stops them, so none runs twice. The environments come from
    /// /proc on Linux and KERN_PROCARGS2 on macOS (`kit_db::platform`).
    fn sweep(&mut self) {
        use std::os::unix::ffi::OsStrExt;
        let db = self.store.path().as_os_str().as_bytes().to_vec();
        let known: std::collections::HashSet<i32> = self
            .daemons
            .values()
            .filter_map(|d| d.proc().map(|p| p.pid))
            .collect();
        let me = std::process::id() as i32;
        for (pid, environ) in kit_db::platform::process_environments() {
            if pid == me || known.contains(&pid) || !is_session_leader(pid) {
                continue;
            }
            let mut task = None;
            let (mut ours, mut daemon) = (false, false);
            for var in environ.split(|&b| b == 0) {
                if let Some(v) = var.strip_prefix(b"KIT_DB=") {
                    ours = v == db.as_slice();
                } else if var == b"KIT_TRIGGER=daemon" {
                    daemon = true;
                } else if let Some(v) = var.strip_prefix(b"KIT_TASK=") {
                    task = Some(String::from_utf8_lossy(v).into_owned());
                }
            }
            let (true, true, Some(task)) = (ours, daemon, task) else {
                continue;
            };
            let Some(start) = process::process_start(pid) else {
                continue;
            };
            let free = self.daemons.get(&task).is_some_and(|d| {
                matches!(d.phase, Phase::Down | Phase::Waiting { .. })
                    && d.task.enabled
                    && d.wanted_up
            });
            if free {
                let wall = self.clock.now();
                let run = self.rec.new_run();
                self.rec.push(Op::Start {
                    run,
                    task: task.clone(),
                    pid,
                    start,
                    at: wall,
                });
                let Some(d) = self.daemons.get_mut(&task) else {
                    continue;
                };
                d.phase = Phase::Running(Proc {
                    pid,
                    start,
                    adopted: true,
                    watch: exit_watch(pid, start),
                    started: Instant::now(),
                    started_at: fmt(wall),
                    run,
                    log_offset: None,
                });
                d.starts = d.starts.max(1);
                let _ = d.health.reset(Instant::now(), d.task.health.as_ref());
                self.rec.touch(&task);
                self.log.warn(
                    "adopted",
                    Some(&task),
                    &format!("adopted pid {pid}, a daemon process no row recorded (kit-keep died as it started it)"),
                );
            } else {
                self.stop_stray(
                    &task,
                    pid,
                    start,
                    None,
                    "an unrecorded daemon process that must not run",
                );
            }
        }
    }
}

/// A live process that leads its own session, as every daemon kit-keep
/// starts does (`getsid` is POSIX).
fn is_session_leader(pid: i32) -> bool {
    // SAFETY: plain syscall.
    let sid = unsafe { libc::getsid(pid) };
    // Alive and not a zombie: an unknown start matches any process.
    sid == pid && process::is_same_process(pid, ProcStart::UNKNOWN)
}
