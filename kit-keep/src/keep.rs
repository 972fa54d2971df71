//! The supervisor: its state and the event loop.
//!
//! One thread, one poll(2): it sleeps until a signal arrives through the
//! self-pipe (SIGCHLD when a daemon or a health check exits, SIGTERM/SIGINT,
//! SIGHUP), an adopted daemon's exit watch or a health check's output pipe is
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
use kit_db::platform::DbWatch;
use kit_db::Store;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The periodic tick where DB writes are not watched (see
/// `kit_db::platform::db_watch`): the DB
/// is looked at for task changes and requests (one `PRAGMA data_version`;
/// the queries run only when another process wrote).
pub const POLL_TICK: Duration = Duration::from_millis(500);
/// The tick where DB writes wake kit-keep: a safety net, the heartbeat.
pub const WATCHED_TICK: Duration = Duration::from_secs(4);
/// When to look again after a DB write event (see `db_recheck`): soon,
/// then once more in case the writer was descheduled mid-commit.
pub const DB_RECHECK: [Duration; 2] = [Duration::from_millis(10), Duration::from_millis(100)];
/// Log sizes are checked this often while one grows, else every tick.
pub const ROTATE_BUSY: Duration = Duration::from_secs(1);
/// Heartbeat interval (at most 10 s apart; kit-heal calls kit-keep stalled
/// after a minute).
pub const BEAT_EVERY: Duration = Duration::from_secs(8);
/// Polling interval for adopted daemons where no exit watch (pidfd,
/// kqueue) is available, and
/// for a stopping daemon's process group once its leader is gone.
pub const ADOPTED_POLL: Duration = Duration::from_millis(250);
pub const GROUP_POLL: Duration = Duration::from_millis(20);
/// How often kit-keep looks for runs whose kit-run died (see `stop_orphans`).
pub const ORPHAN_CHECK: Duration = Duration::from_secs(3);

pub struct Options {
    pub db_path: PathBuf,
    pub heal_every: Option<Duration>,
    /// Wake on DB writes where the platform allows (else poll).
    pub watch_db: bool,
}

pub struct Keep {
    /// The DB, opened at the absolute path kit-keep locked (`store.path()`).
    pub store: Store,
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
    pub dbwatch: Option<DbWatch>,
    pub tick_every: Duration,
    pub next_tick: Instant,
    /// A second look after a DB write event: the event comes when the WAL
    /// is written, possibly a moment before the commit is visible.
    pub db_recheck: Option<Instant>,
    pub rechecks: usize,
    pub next_rotate: Instant,
    pub next_beat: Instant,
    pub next_heal: Option<Instant>,
    pub next_orphan_check: Instant,
    /// Orphaned runs already handed to kit-heal.
    pub orphans_seen: HashSet<i64>,
    pub heal_every: Option<Duration>,
    /// The signal that started a shutdown.
    pub shutdown: Option<i32>,
    pub read_error_reported: Option<Instant>,
    /// File watches (watch.rs).
    pub watches: crate::watch::Watches,
}

impl Keep {
    pub fn new(store: Store, clock: Clock, log: Log, signals: Signals, opts: Options) -> Keep {
        let now = Instant::now();
        let dbwatch = if opts.watch_db {
            kit_db::platform::db_watch(&opts.db_path)
        } else {
            None
        };
        let tick_every = if dbwatch.is_some() {
            WATCHED_TICK
        } else {
            POLL_TICK
        };
        Keep {
            dbwatch,
            tick_every,
            store,
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
            next_tick: now + tick_every,
            db_recheck: None,
            rechecks: 0,
            next_rotate: now + ROTATE_BUSY,
            next_beat: now + BEAT_EVERY,
            next_heal: opts.heal_every.map(|d| now + d),
            next_orphan_check: now,
            orphans_seen: HashSet::new(),
            heal_every: opts.heal_every,
            shutdown: None,
            read_error_reported: None,
            watches: crate::watch::Watches::new(),
        }
    }

    /// Runs until a SIGTERM/SIGINT shutdown completes; the exit code.
    pub fn run(&mut self) -> anyhow::Result<i32> {
        self.startup()?;
        loop {
            let db_written = self.wait_for_something();
            self.signals.drain();
            if let Some(sig) = self.signals.take_stop() {
                self.begin_shutdown(sig);
            }
            if self.signals.take_chld() {
                self.reap();
            }
            let now = Instant::now();
            self.timers(now);
            if self.shutdown.is_none() {
                self.watch_drain();
                self.watch_fire_due(now);
            }
            let hup = self.shutdown.is_none() && self.signals.take_hup();
            if hup {
                self.log.info("reload", None, "SIGHUP: reloading the tasks");
                self.db_check(true);
            }
            if now >= self.next_tick {
                self.tick(now);
            } else if self.shutdown.is_none() {
                if db_written {
                    self.db_check(false);
                    self.db_recheck = Some(now + DB_RECHECK[0]);
                    self.rechecks = 1;
                } else if self.db_recheck.is_some_and(|t| now >= t) {
                    self.db_recheck = DB_RECHECK.get(self.rechecks).map(|d| now + *d);
                    self.rechecks += 1;
                    self.db_check(false);
                }
            }
            if self.next_heal.is_some_and(|t| now >= t) && self.shutdown.is_none() {
                self.launch_heal();
            }
            if now >= self.next_rotate && self.shutdown.is_none() {
                let busy = self.rotate_logs();
                // Quiet logs are checked on the tick's wake-up, not one of
                // their own.
                self.next_rotate = if busy {
                    now + ROTATE_BUSY
                } else {
                    self.next_tick.max(now + ROTATE_BUSY)
                };
            }
            let wrote = self.rec.pending();
            self.flush(false);
            if wrote {
                self.after_own_write();
            }
            if self.shutdown.is_some() && self.all_down() {
                return Ok(self.finish_shutdown());
            }
        }
    }

    /// Our own writes raised DB events: swallow them now rather than wake
    /// for them, and look once in case another process wrote meanwhile.
    fn after_own_write(&mut self) {
        if self.dbwatch.as_ref().is_some_and(|w| w.drain()) && self.shutdown.is_none() {
            self.db_check(false);
        }
    }

    /// The periodic work: DB check (a safety net where writes are watched), heartbeat.
    fn tick(&mut self, now: Instant) {
        self.next_tick = now + self.tick_every;
        if self.shutdown.is_some() {
            return;
        }
        self.db_check(false);
        if now >= self.next_beat {
            self.next_beat = now + BEAT_EVERY;
            self.beat(false);
        }
        if now >= self.next_orphan_check {
            self.next_orphan_check = now + ORPHAN_CHECK;
            self.stop_orphans();
        }
    }

    /// A kit-run killed with -9 leaves its row `running`; PDEATHSIG (Linux)
    /// takes its command with it, but not the command's own children, and
    /// macOS has no PDEATHSIG at all. Being resident, kit-keep stops what
    /// such a run left in its process group within seconds (no DB write:
    /// a supervisor must not wait for a lock) and starts kit-heal, which
    /// records the run `lost` and notifies.
    fn stop_orphans(&mut self) {
        let Ok(orphans) = kit_db::exec::find_orphans(&self.store.conn, None) else {
            return;
        };
        let mut new = false;
        for o in &orphans {
            if let Some((pid, start)) = o.child {
                if kit_db::process::kill_leftovers(pid, start) {
                    self.log.warn(
                        "orphans",
                        Some(&o.task),
                        &format!(
                            "execution #{}: its kit-run is gone; stopped what it left running (process group {pid})",
                            o.id
                        ),
                    );
                }
            }
            new |= self.orphans_seen.insert(o.id);
        }
        self.orphans_seen
            .retain(|id| orphans.iter().any(|o| o.id == *id));
        if new {
            self.launch_heal();
        }
    }

    /// poll(2) on the self-pipe, the DB watch, adopted daemons' exit watches and
    /// health-check pipes, until the nearest deadline. True if the DB was
    /// written.
    fn wait_for_something(&mut self) -> bool {
        let mut fds = vec![libc::pollfd {
            fd: self.signals.fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let mut owners: Vec<(String, bool)> = Vec::new();
        if let Some(w) = &self.dbwatch {
            fds.push(libc::pollfd {
                fd: w.fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let first = fds.len();
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
        if let Some(fd) = self.watches.fd() {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let now = Instant::now();
        let timeout = self.next_deadline(now).saturating_duration_since(now);
        let ms = timeout.as_nanos().div_ceil(1_000_000).min(60_000) as libc::c_int;
        // SAFETY: fds is a valid array of pollfd of the given length.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if rc <= 0 {
            return false;
        }
        let db_written =
            first == 2 && fds[1].revents != 0 && self.dbwatch.as_ref().is_some_and(|w| w.drain());
        for (pfd, (name, is_watch)) in fds[first..].iter().zip(owners) {
            if pfd.revents == 0 {
                continue;
            }
            if is_watch {
                self.adopted_gone(&name);
            } else if let Some(d) = self.daemons.get_mut(&name) {
                d.health.drain();
            }
        }
        db_written
    }

    /// The nearest moment something is due.
    fn next_deadline(&self, now: Instant) -> Instant {
        let mut next = if self.shutdown.is_none() {
            let mut t = self.next_tick.min(self.next_rotate);
            if let Some(h) = self.next_heal {
                t = t.min(h);
            }
            if let Some(w) = self.watches.deadline() {
                t = t.min(w);
            }
            self.db_recheck.map_or(t, |r| t.min(r))
        } else {
            now + Duration::from_secs(1)
        };
        if let Some(r) = self.rec.retry_at() {
            next = next.min(r);
        }
        for d in self.daemons.values() {
            next = next.min(self.daemon_deadline(d, now));
        }
        next
    }

    /// Whether a daemon has a timer due (or is polled: stopping groups and
    /// adopted processes without an exit watch).
    pub fn daemon_due(&self, d: &Daemon, now: Instant) -> bool {
        match &d.phase {
            Phase::Stopping(_) => true,
            Phase::Running(p) if p.adopted && p.watch.is_none() => true,
            _ => self.daemon_deadline(d, now) <= now,
        }
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

    /// An adopted daemon's exit watch became readable.
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

    /// Rotates the logs past their size; true if any log grew since the
    /// last check.
    fn rotate_logs(&mut self) -> bool {
        let mut busy = false;
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
            busy |= d.log.grew;
        }
        busy
    }

    /// Starts kit-heal detached, so a dead kit-tick is noticed even when
    /// only kit-keep runs (kit-heal is idempotent and safe to run twice).
    fn launch_heal(&mut self) {
        self.next_heal = self.heal_every.map(|d| Instant::now() + d);
        let now = self.clock.injected_now();
        if let Err(e) = kit_db::launch::detached("kit-heal", self.store.path(), &[], now.as_deref())
        {
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
