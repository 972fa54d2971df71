//! File watches (`watch = { paths, debounce }`): kit-keep, the resident
//! process, watches the paths of every enabled watch task with the `notify`
//! crate (inotify on Linux, kqueue on macOS: see docs/decisions.md) and
//! fires the task (trigger `watch`) once the paths have been quiet for the
//! debounce, with the changed paths as its data.
//!
//! notify reports from its own thread: each report goes down a channel and
//! a byte down a pipe whose read end is in kit-keep's poll(2), so a change
//! wakes the loop without any polling. The set of watches follows the DB
//! (`kit_db::watch::fingerprint`, read in `db_check`), so one added or
//! removed by apply takes effect within a DB check (well under 2 s).
//!
//! Changes made while kit-keep was down: at start (and when a watch is
//! loaded) the paths' fingerprint is compared with the stored one; a
//! difference fires the task once, with `"while_down": true`.

use crate::keep::Keep;
use notify::{RecursiveMode, Watcher};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// How long a failed firing (a busy DB) waits before it is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// At most this many changed paths are listed in a firing's data.
const MAX_LISTED: usize = 100;

struct Watched {
    roots: Vec<PathBuf>,
    debounce: Duration,
    pending: BTreeSet<String>,
    due: Option<Instant>,
    while_down: bool,
}

pub struct Watches {
    watcher: Option<notify::RecommendedWatcher>,
    rx: Receiver<notify::Result<notify::Event>>,
    wake: Option<File>,
    tasks: BTreeMap<String, Watched>,
    /// Roots being watched, with how many tasks want each.
    roots: BTreeMap<PathBuf, usize>,
    fingerprint: Option<Vec<(String, String, i64)>>,
    /// The watcher could not be created: reported once.
    error: Option<String>,
}

impl Watches {
    /// No watcher (thread, inotify/kqueue descriptor, pipe) until the first
    /// watch needs one: a kit-keep with only daemons pays nothing.
    pub fn new() -> Watches {
        let (_, rx) = channel();
        Watches {
            watcher: None,
            rx,
            wake: None,
            tasks: BTreeMap::new(),
            roots: BTreeMap::new(),
            fingerprint: None,
            error: None,
        }
    }

    /// Starts the watcher and its wake-up pipe if not running yet.
    fn ensure(&mut self) -> Result<(), String> {
        if self.watcher.is_some() {
            return Ok(());
        }
        let (r, w) =
            nix::unistd::pipe().map_err(|e| format!("cannot make the file watcher's pipe: {e}"))?;
        let (r, w) = (File::from(r), File::from(w));
        let _ = kit_db::process::set_nonblocking(&r);
        let _ = kit_db::process::set_nonblocking(&w);
        let (tx, rx) = channel();
        let handler = move |ev: notify::Result<notify::Event>| {
            if tx.send(ev).is_ok() {
                // A full pipe is already readable: nothing lost.
                let _ = (&w).write(&[1]);
            }
        };
        let watcher = notify::recommended_watcher(handler)
            .map_err(|e| format!("cannot start the file watcher: {e}"))?;
        self.watcher = Some(watcher);
        self.wake = Some(r);
        self.rx = rx;
        Ok(())
    }

    pub fn fd(&self) -> Option<RawFd> {
        self.wake.as_ref().map(|f| f.as_raw_fd())
    }

    /// The nearest debounce (or retry) deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.tasks.values().filter_map(|w| w.due).min()
    }

    pub fn count(&self) -> usize {
        self.tasks.len()
    }
}

impl Default for Watches {
    fn default() -> Self {
        Watches::new()
    }
}

impl Keep {
    /// Brings the watches in line with the DB (cheap when nothing changed).
    pub fn watch_check(&mut self) {
        let fp = match kit_db::watch::fingerprint(&self.store.conn) {
            Ok(fp) => fp,
            Err(e) => return self.read_failed("the file watches", &e),
        };
        if self.watches.fingerprint.as_ref() == Some(&fp) {
            return;
        }
        if !fp.is_empty() {
            if let Err(e) = self.watches.ensure() {
                if self.watches.error.as_deref() != Some(e.as_str()) {
                    self.log.error("watch", None, &e);
                    self.watches.error = Some(e);
                }
            }
        }
        let states: BTreeMap<String, kit_db::watch::WatchState> =
            kit_db::watch::list(&self.store.conn)
                .unwrap_or_default()
                .into_iter()
                .map(|s| (s.task.clone(), s))
                .collect();
        let wanted: BTreeMap<&str, &kit_db::watch::WatchState> = fp
            .iter()
            .filter_map(|(t, ..)| states.get(t).map(|s| (t.as_str(), s)))
            .collect();
        let gone: Vec<String> = self
            .watches
            .tasks
            .keys()
            .filter(|t| !wanted.contains_key(t.as_str()))
            .cloned()
            .collect();
        for t in gone {
            self.unwatch(&t);
            self.log
                .info("watch", Some(&t), "no longer watching its paths");
        }
        for (task, st) in wanted {
            let roots: Vec<PathBuf> = st
                .paths
                .iter()
                .map(|p| kit_db::task::watch::expand(p))
                .collect();
            let debounce = Duration::from_millis(st.debounce_ms.max(0) as u64);
            if let Some(w) = self.watches.tasks.get_mut(task) {
                if w.roots == roots {
                    w.debounce = debounce;
                    continue;
                }
                self.unwatch(task);
            }
            self.watch_task(task, roots, debounce, st.scan.as_deref());
        }
        self.watches.fingerprint = Some(fp);
    }

    fn watch_task(
        &mut self,
        task: &str,
        roots: Vec<PathBuf>,
        debounce: Duration,
        stored: Option<&str>,
    ) {
        let mut errors = Vec::new();
        for r in &roots {
            let n = self.watches.roots.entry(r.clone()).or_insert(0);
            if *n == 0 {
                let res = match self.watches.watcher.as_mut() {
                    Some(w) => w
                        .watch(r, RecursiveMode::Recursive)
                        .map_err(|e| e.to_string()),
                    None => Err("no file watcher".to_string()),
                };
                if let Err(e) = res {
                    errors.push(format!("{}: {e}", r.display()));
                    continue;
                }
            }
            *n += 1;
        }
        let scan = kit_db::watch::scan(&roots);
        let error = (!errors.is_empty()).then(|| errors.join("; "));
        if let Some(e) = &error {
            self.log
                .warn("watch", Some(task), &format!("cannot watch: {e}"));
        } else {
            self.log.info(
                "watch",
                Some(task),
                &format!(
                    "watching {} path(s), debounce {}",
                    roots.len(),
                    crate::clock::human(debounce)
                ),
            );
        }
        // Changed since the scan stored when it was last watched: kit-keep
        // was down (or the watch disabled) while it changed. Fire once.
        let moved = stored.is_some_and(|s| s != scan);
        let _ = kit_db::watch::set_watching(
            &self.store.conn,
            task,
            if moved {
                stored.unwrap_or_default()
            } else {
                &scan
            },
            error.as_deref(),
            self.clock.now(),
        );
        let mut w = Watched {
            roots,
            debounce,
            pending: BTreeSet::new(),
            due: None,
            while_down: false,
        };
        if moved {
            w.while_down = true;
            w.pending
                .extend(w.roots.iter().map(|r| r.display().to_string()));
            w.due = Some(Instant::now());
        }
        self.watches.tasks.insert(task.to_string(), w);
    }

    fn unwatch(&mut self, task: &str) {
        let Some(w) = self.watches.tasks.remove(task) else {
            return;
        };
        for r in w.roots {
            if let Some(n) = self.watches.roots.get_mut(&r) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.watches.roots.remove(&r);
                    if let Some(wt) = self.watches.watcher.as_mut() {
                        let _ = wt.unwatch(&r);
                    }
                }
            }
        }
    }

    /// Takes what notify reported: each changed path starts (or extends)
    /// the debounce of the tasks watching it.
    pub fn watch_drain(&mut self) {
        if let Some(f) = &self.watches.wake {
            let mut buf = [0u8; 256];
            while matches!((&*f).read(&mut buf), Ok(n) if n > 0) {}
        }
        let now = Instant::now();
        while let Ok(ev) = self.watches.rx.try_recv() {
            let Ok(ev) = ev else { continue };
            if matches!(ev.kind, notify::EventKind::Access(_)) {
                continue;
            }
            for p in &ev.paths {
                for w in self.watches.tasks.values_mut() {
                    if w.roots.iter().any(|r| p.starts_with(r)) {
                        if w.pending.len() < MAX_LISTED {
                            w.pending.insert(p.display().to_string());
                        }
                        w.due = Some(now + w.debounce);
                    }
                }
            }
        }
    }

    /// Fires the tasks whose paths have been quiet for their debounce.
    pub fn watch_fire_due(&mut self, now: Instant) {
        let due: Vec<String> = self
            .watches
            .tasks
            .iter()
            .filter(|(_, w)| w.due.is_some_and(|d| d <= now))
            .map(|(t, _)| t.clone())
            .collect();
        for task in due {
            let w = self.watches.tasks.get_mut(&task).expect("due task");
            let changed: Vec<String> = w.pending.iter().cloned().collect();
            let while_down = w.while_down;
            let scan = kit_db::watch::scan(&w.roots);
            let at = self.clock.now();
            let res = self.store.write_for(Duration::from_millis(200), |tx| {
                kit_db::watch::fire_in(tx, &task, &changed, while_down, &scan, at)
            });
            let w = self.watches.tasks.get_mut(&task).expect("due task");
            match res {
                Ok(fired) => {
                    w.pending.clear();
                    w.due = None;
                    w.while_down = false;
                    self.log.info(
                        "watch",
                        Some(&task),
                        &format!(
                            "{} changed{}: fired ({})",
                            changed.join(", "),
                            if while_down {
                                " while kit-keep was down"
                            } else {
                                ""
                            },
                            fired.outcome
                        ),
                    );
                    let injected = self.clock.injected_now();
                    kit_db::fire::start(self.store.path(), &task, &fired, injected.as_deref());
                }
                Err(e) => {
                    w.due = Some(now + RETRY);
                    self.log.warn(
                        "watch",
                        Some(&task),
                        &format!("cannot record the firing ({e}); retrying"),
                    );
                }
            }
        }
    }
}
