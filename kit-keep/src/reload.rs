//! Live reload: tasks added, removed, enabled, disabled or changed in the DB
//! take effect without restarting kit-keep or the untouched daemons.
//!
//! Every half second kit-keep reads `PRAGMA data_version` (no table access;
//! it changes only when another connection committed). When it changed,
//! one query over the daemon tasks' (name, revision, updated_at, enabled)
//! tells whether any daemon task changed; only then are the tasks loaded.
//! Open requests are read at the same moment. SIGHUP forces a full reload.

use crate::daemon::{launch_changed, After, Daemon, Phase};
use crate::keep::Keep;
use crate::logfile::DaemonLog;
use kit_db::settings::Settings;
use kit_db::task::{repo, TaskRow};
use std::collections::BTreeMap;

impl Keep {
    pub fn db_check(&mut self, force: bool) {
        let version: rusqlite::Result<i64> = self
            .store
            .conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get(0)));
        let version = match version {
            Ok(v) => v,
            Err(e) => return self.read_failed("the data version", &e),
        };
        if !force && self.data_version == Some(version) {
            return;
        }
        self.data_version = Some(version);
        match self.daemon_fingerprint() {
            Ok(fp) => {
                if force || fp != self.fingerprint {
                    self.fingerprint = fp;
                    self.reload();
                }
            }
            Err(e) => return self.read_failed("the tasks", &e),
        }
        self.watch_check();
        self.handle_requests();
    }

    /// What tells whether any daemon task changed: one row per daemon task.
    pub(crate) fn daemon_fingerprint(&self) -> rusqlite::Result<Vec<(String, i64, String, bool)>> {
        let mut stmt = self.store.conn.prepare_cached(
            "SELECT name, revision, updated_at, enabled FROM supervisor_tasks
             WHERE trim(schedule) = '@daemon' ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)? != 0))
        })?;
        rows.collect()
    }

    /// The daemon tasks as stored, by name (and every task name, to tell a
    /// removed task from one that is no longer a daemon).
    pub fn load_tasks(&mut self) -> Option<(BTreeMap<String, TaskRow>, Vec<String>)> {
        let rows = match repo::list(&self.store.conn) {
            Ok(r) => r,
            Err(e) => {
                self.read_failed("the tasks", &e);
                return None;
            }
        };
        if let Ok(s) = Settings::load(&self.store.conn) {
            self.zone = s.zone().name().to_string();
        }
        let all = rows.iter().map(|r| r.task.name.clone()).collect();
        let daemons = rows
            .into_iter()
            .filter(|r| r.task.is_daemon())
            .map(|r| (r.task.name.clone(), r))
            .collect();
        Some((daemons, all))
    }

    /// A daemon kit-keep did not manage yet.
    pub fn add_daemon(&mut self, row: &TaskRow) -> &mut Daemon {
        let name = row.task.name.clone();
        let (log, err) = DaemonLog::open(&name);
        if let Some(e) = err {
            self.log.warn(
                "log",
                Some(&name),
                &format!("cannot open the log ({e}); output goes to /dev/null"),
            );
        }
        let d = Daemon::new(row.task.clone(), row.updated_at.clone(), log);
        self.rec.touch(&name);
        self.daemons.entry(name).or_insert(d)
    }

    pub fn reload(&mut self) {
        let Some((desired, all)) = self.load_tasks() else {
            return;
        };
        let (mut added, mut removed, mut changed) = (0, 0, 0);
        let known: Vec<String> = self.daemons.keys().cloned().collect();
        for name in known.iter().filter(|n| !desired.contains_key(*n)) {
            let why = if all.contains(name) {
                "its task is no longer a @daemon"
            } else {
                "its task was removed"
            };
            removed += 1;
            self.begin_stop(
                name,
                "killed",
                format!("stopped by kit-keep: {why}"),
                After::Remove,
            );
        }
        for (name, row) in &desired {
            if !self.daemons.contains_key(name) {
                added += 1;
                let wanted = kit_db::daemon::state::get(&self.store.conn, name)
                    .ok()
                    .flatten()
                    .is_none_or(|s| s.wanted == "up");
                let d = self.add_daemon(row);
                d.wanted_up = wanted;
                if row.task.enabled && wanted {
                    self.start(name);
                }
                continue;
            }
            let d = self.daemons.get_mut(name).expect("known");
            if let Phase::Stopping(s) = &mut d.phase {
                // Removed and added back before its stop completed.
                if s.then == After::Remove {
                    s.then = if row.task.enabled && d.wanted_up {
                        After::Restart
                    } else {
                        After::Down
                    };
                }
            }
            if d.task == row.task {
                d.task_updated_at = row.updated_at.clone();
                continue;
            }
            changed += 1;
            let old = std::mem::replace(&mut d.task, row.task.clone());
            d.task_updated_at = row.updated_at.clone();
            self.rec.touch(name);
            let active = !matches!(d.phase, Phase::Down);
            if !row.task.enabled {
                if active {
                    let reason = "stopped by kit-keep: its task was disabled".to_string();
                    self.begin_stop(name, "killed", reason, After::Down);
                }
            } else if !old.enabled {
                if d.wanted_up {
                    if let Phase::Stopping(s) = &mut d.phase {
                        // Disabled and enabled again before its stop completed.
                        s.then = After::Restart;
                    } else if !active {
                        self.start(name);
                    }
                }
            } else if let Some(field) = launch_changed(&old, &row.task) {
                if d.is_running() {
                    let reason = format!(
                        "restarted by kit-keep: its task changed ({field}), so it runs the new definition"
                    );
                    self.begin_stop(name, "killed", reason, After::Restart);
                } else if matches!(d.phase, Phase::Waiting { .. }) && d.wanted_up {
                    // Someone fixed it: no point waiting out a backoff or a
                    // quarantine meant for the old definition.
                    d.fails = 0;
                    d.trial = false;
                    d.window.clear();
                    self.log.info(
                        "reload",
                        Some(name),
                        &format!("its task changed ({field}): starting it now"),
                    );
                    self.start(name);
                }
            } else if old.health != row.task.health {
                if let Phase::Running(p) = &d.phase {
                    let started = p.started;
                    if let Some(pid) = d.health.reset(
                        started.max(std::time::Instant::now()),
                        row.task.health.as_ref(),
                    ) {
                        self.checks.remove(&pid);
                    }
                }
            }
        }
        if added + removed + changed > 0 {
            self.log.info(
                "reload",
                None,
                &format!(
                    "tasks reloaded: {added} daemons added, {removed} removed, {changed} changed"
                ),
            );
        }
    }
}
