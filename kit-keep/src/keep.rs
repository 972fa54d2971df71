//! The supervisor: its state and the event loop.
//!
//! One thread, one poll(2): it sleeps until a signal arrives through the
//! self-pipe (SIGCHLD when a daemon or a health check exits, SIGTERM/SIGINT,
//! SIGHUP), an adopted daemon's pidfd or a health check's output pipe is
//! readable, or the nearest timer is due (a backoff or quarantine ending, a
//! stop deadline, a health check, the half-second look at the DB for task
//! changes and requests, the heartbeat). Each turn handles what happened,
//! starts what must start, and only then writes the records.

use crate::clock::Clock;
use crate::daemon::{Daemon, Exit, Phase};
use crate::log::Log;
use crate::policy::Jitter;
use crate::record::{Op, Recorder};
use crate::signals::Signals;
use kit_db::Store;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How often the DB is looked at for task changes and requests (one
/// `PRAGMA data_version`; the queries run only when another process wrote).
pub const DB_CHECK_EVERY: Duration = Duration::from_millis(500);
/// How often log sizes are checked for rotation (an fstat per daemon).
pub const ROTATE_EVERY: Duration = Duration::from_secs(1);
/// Heartbeat interval (kit-heal calls kit-keep stalled after a minute).
pub const BEAT_EVERY: Duration = Duration::from_secs(5);
/// Polling interval for adopted daemons where pidfds are unavailable, and
/// for a stopping daemon's process group once its leader is gone.
pub const ADOPTED_POLL: Duration = Duration::from_millis(250);
pub const GROUP_POLL: Duration = Duration::from_millis(20);

pub struct Options {
    pub db_path: PathBuf,
    pub heal_every: Option<Duration>,
}

pub struct Keep {
    pub store: Store,
    pub db_path: PathBuf,
    pub clock: Clock,
    pub log: Log,
    pub rec: Recorder,
    pub daemons: BTreeMap<String, Daemon>,
    /// Daemon processes that are our children, by pid.
    pub children: HashMap<i32, String>,
    /// Running health checks, by pid.
    pub checks: HashMap<i32, String>,
    pub signals: Signals,
    pub jitter: Jitter,
    /// The settings' zone name, for daemons that declare none.
    pub zone: String,
    pub fingerprint: Vec<(String, i64, String, bool)>,
    pub data_version: Option<i64>,
    /// Requests being acted on, and answered ones not yet flushed.
    pub in_progress: HashSet<i64>,
    pub answered: HashSet<i64>,
    pub next_db_check: Instant,
    pub next_rotate: Instant,
    pub next_beat: Instant,
    pub next_heal: Option<Instant>,
    pub heal_every: Option<Duration>,
    /// The signal that started a shutdown.
    pub shutdown: Option<i32>,
    pub read_error_reported: Option<Instant>,
}

impl Keep {
    pub fn new(store: Store, clock: Clock, log: Log, signals: Signals, opts: Options) -> Keep {
        let now = Instant::now();
        Keep {
            store,
            db_path: opts.db_path,
            clock,
            log,
            rec: Recorder::new(),
            daemons: BTreeMap::new(),
            children: HashMap::new(),
            checks: HashMap::new(),
            signals,
            jitter: Jitter::seeded(),
            zone: "UTC".into(),
            fingerprint: Vec::new(),
            data_version: None,
            in_progress: HashSet::new(),
            answered: HashSet::new(),
            next_db_check: now + DB_CHECK_EVERY,
            next_rotate: now + ROTATE_EVERY,
            next_beat: now,
            next_heal: opts.heal_every.map(|d| now + d),
            heal_every: opts.heal_every,
            shutdown: None,
            read_error_reported: None,
        }
    }

    /// Runs until a SIGTERM/SIGINT shutdown completes; the exit code.
    pub fn run(&mut self) -> i32 {
        self.startup();
        loop {
            self.wait_for_something();
            self.signals.drain();
            if let Some(sig) = self.signals.take_stop() {
                self.begin_shutdown(sig);
            }
            self.reap();
            let now = Instant::now();
            self.timers(now);
            if self.shutdown.is_none() {
                let hup = self.signals.take_hup();
                if hup {
                    self.log.info("reload", None, "SIGHUP: reloading the tasks");
                }
                if hup || now >= self.next_db_check {
                    self.next_db_check = now + DB_CHECK_EVERY;
                    self.db_check(hup);
                }
                if now >= self.next_rotate {
                    self.next_rotate = now + ROTATE_EVERY;
                    self.rotate_logs();
                }
                if self.next_heal.is_some_and(|t| now >= t) {
                    self.launch_heal();
                }
            }
            if now >= self.next_beat {
                self.next_beat = now + BEAT_EVERY;
                self.beat(false);
            }
            self.flush(false);
            if self.shutdown.is_some() && self.all_down() {
                return self.finish_shutdown();
            }
        }
    }

    /// poll(2) on the self-pipe, adopted daemons' pidfds and health-check
    /// pipes, until the nearest deadline.
    fn wait_for_something(&mut self) {
        let mut fds = vec![libc::pollfd {
            fd: self.signals.fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let mut owners: Vec<(String, bool)> = Vec::new();
        for (name, d) in &self.daemons {
            if let Some(w) = d.proc().and_then(|p| p.watch.as_ref()) {
                use std::os::fd::AsRawFd;
                fds.push(libc::pollfd {
                    fd: w.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
                owners.push((name.clone(), true));
            }
            if let Some(fd) = d.health.pipe_fd() {
                fds.push(libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
                owners.push((name.clone(), false));
            }
        }
        let now = Instant::now();
        let timeout = self.next_deadline(now).saturating_duration_since(now);
        let ms = timeout.as_nanos().div_ceil(1_000_000).min(60_000) as libc::c_int;
        // SAFETY: fds is a valid array of pollfd of the given length.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if rc <= 0 {
            return;
        }
        for (pfd, (name, is_watch)) in fds[1..].iter().zip(owners) {
            if pfd.revents == 0 {
                continue;
            }
            if is_watch {
                self.adopted_gone(&name);
            } else if let Some(d) = self.daemons.get_mut(&name) {
                d.health.drain();
            }
        }
    }

    /// The nearest moment something is due.
    fn next_deadline(&self, now: Instant) -> Instant {
        let mut next = self.next_beat;
        if self.shutdown.is_none() {
            next = next.min(self.next_db_check).min(self.next_rotate);
            if let Some(h) = self.next_heal {
                next = next.min(h);
            }
        }
        if let Some(r) = self.rec.retry_at() {
            next = next.min(r);
        }
        for d in self.daemons.values() {
            next = next.min(self.daemon_deadline(d, now));
        }
        next
    }

    fn daemon_deadline(&self, d: &Daemon, now: Instant) -> Instant {
        let far = now + Duration::from_secs(3600);
        match &d.phase {
            Phase::Waiting { .. } if self.shutdown.is_some() => far,
            Phase::Waiting { until, .. } => *until,
            Phase::Down => far,
            Phase::Stopping(s) => {
                let polling = s.leader.is_some() || (s.proc.adopted && s.proc.watch.is_none());
                if polling {
                    s.deadline.min(now + GROUP_POLL)
                } else {
                    s.deadline
                }
            }
            Phase::Running(p) => {
                let mut t = far;
                if p.adopted && p.watch.is_none() {
                    t = t.min(now + ADOPTED_POLL);
                }
                if d.fails > 0 || d.trial || d.episode.is_some() {
                    t = t.min(p.started + d.task.stable_after());
                }
                if let Some(c) = &d.health.check {
                    t = t.min(c.deadline);
                } else if let Some(due) = d.health.next_due {
                    t = t.min(due);
                }
                t
            }
        }
    }

    /// Collects every exited child: daemons, health checks, and anything
    /// else (orphans re-parented to us as subreaper, kit-heal).
    fn reap(&mut self) {
        loop {
            let mut status: libc::c_int = 0;
            // SAFETY: status is a valid out-pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                if pid < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return;
            }
            let exit = if libc::WIFEXITED(status) {
                Exit::Code(libc::WEXITSTATUS(status))
            } else if libc::WIFSIGNALED(status) {
                Exit::Signal(libc::WTERMSIG(status), libc::WCOREDUMP(status))
            } else {
                continue;
            };
            if let Some(name) = self.children.remove(&pid) {
                self.on_exit(&name, exit);
            } else if let Some(name) = self.checks.remove(&pid) {
                self.on_check_done(&name, exit);
            }
        }
    }

    /// An adopted daemon's pidfd became readable.
    fn adopted_gone(&mut self, name: &str) {
        let gone = self
            .daemons
            .get(name)
            .and_then(|d| d.proc())
            .is_some_and(|p| !kit_db::process::is_same_process(p.pid, p.start));
        if gone {
            self.on_exit(name, Exit::Unknown);
        }
    }

    /// Writes what is queued (see [`Recorder::flush`]).
    pub fn flush(&mut self, force: bool) -> bool {
        let daemons = &self.daemons;
        let clock = &self.clock;
        let snap = |task: &str, ids: &dyn Fn(u64) -> Option<i64>| {
            daemons.get(task).map(|d| d.snapshot(clock, ids))
        };
        let ok = self.rec.flush(&self.store, &self.log, force, &snap);
        if ok {
            self.answered.clear();
        }
        ok
    }

    pub fn beat(&mut self, stopped: bool) {
        let running = self.daemons.values().filter(|d| d.is_running()).count();
        let quarantined = self
            .daemons
            .values()
            .filter(|d| {
                matches!(
                    d.phase,
                    Phase::Waiting {
                        why: crate::daemon::Wait::Quarantine,
                        ..
                    }
                )
            })
            .count();
        let info = serde_json::json!({
            "daemons": self.daemons.len(),
            "running": running,
            "quarantined": quarantined,
            "stopped": stopped,
            "version": env!("CARGO_PKG_VERSION"),
        });
        self.rec.push(Op::Beat {
            at: self.clock.now(),
            info,
        });
    }

    fn rotate_logs(&mut self) {
        for d in self.daemons.values_mut() {
            let (max, files) = (d.task.log_max_size(), d.task.log_files());
            match d.log.rotate_if_needed(max, files) {
                Ok(true) => self.log.info(
                    "rotate",
                    Some(&d.task.name),
                    &format!("log passed {max} bytes: rotated ({files} files kept)"),
                ),
                Ok(false) => {}
                Err(e) => self.log.warn(
                    "rotate",
                    Some(&d.task.name),
                    &format!("cannot rotate {}: {e}", d.log.path.display()),
                ),
            }
        }
    }

    /// Starts kit-heal detached, so a dead kit-tick is noticed even when
    /// only kit-keep runs (kit-heal is idempotent and safe to run twice).
    fn launch_heal(&mut self) {
        self.next_heal = self.heal_every.map(|d| Instant::now() + d);
        let now = self.clock.injected_now();
        if let Err(e) = kit_db::launch::detached("kit-heal", &self.db_path, &[], now.as_deref()) {
            self.log
                .warn("heal", None, &format!("cannot start kit-heal: {e}"));
        }
    }

    /// Reports a failed DB read at most once a minute.
    pub fn read_failed(&mut self, what: &str, e: &dyn std::fmt::Display) {
        let now = Instant::now();
        if self
            .read_error_reported
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60))
        {
            self.read_error_reported = Some(now);
            self.log.error(
                "db",
                None,
                &format!("cannot read {what} from the database: {e}; will retry"),
            );
        }
    }

    fn all_down(&self) -> bool {
        self.daemons
            .values()
            .all(|d| matches!(d.phase, Phase::Down | Phase::Waiting { .. }))
    }
}
