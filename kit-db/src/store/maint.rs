//! Maintenance: integrity check, WAL checkpoint, history retention, vacuum
//! and online backup. These back the `kit-db` binary.

use super::{schema, Store};
use crate::{clock, Error, Result};
use serde::Serialize;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub path: String,
    pub ok: bool,
    pub integrity: Vec<String>,
    pub schema_version: i64,
    pub supported_version: i64,
    pub tasks: i64,
    pub executions: i64,
    pub open_executions: i64,
}

#[derive(Debug, Serialize)]
pub struct PruneReport {
    pub cutoff: String,
    pub executions_deleted: usize,
    pub events_deleted: usize,
    pub requests_deleted: usize,
    /// Triggers older than the cutoff whose run is over (or that started none).
    pub triggers_deleted: usize,
}

#[derive(Debug, Serialize)]
pub struct BackupReport {
    pub source: String,
    pub destination: String,
    pub bytes: u64,
}

impl Store {
    /// Never fails on a damaged DB: a corrupt page is what `check` exists to
    /// report, so SQLite's errors become lines of `integrity` and `ok` false.
    pub fn check(&self) -> Result<CheckReport> {
        let mut integrity: Vec<String> = match self.integrity_check() {
            Ok(lines) => lines,
            Err(e) => vec![format!("integrity_check failed: {e}")],
        };
        let mut count = |sql: &str| -> i64 {
            self.conn
                .query_row(sql, [], |r| r.get(0))
                .unwrap_or_else(|e| {
                    integrity.push(format!("{sql}: {e}"));
                    -1
                })
        };
        let tasks = count("SELECT count(*) FROM supervisor_tasks");
        let executions = count("SELECT count(*) FROM supervisor_executions");
        let open_executions = count(
            "SELECT count(*) FROM supervisor_executions WHERE status IN ('queued','running')",
        );
        let schema_version = self.schema_version()?;
        Ok(CheckReport {
            path: self.path().display().to_string(),
            ok: integrity == ["ok"] && schema_version == schema::LATEST,
            integrity,
            schema_version,
            supported_version: schema::LATEST,
            tasks,
            executions,
            open_executions,
        })
    }

    fn integrity_check(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let lines = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<std::result::Result<_, _>>()?;
        Ok(lines)
    }

    /// Checkpoints the WAL into the main file and truncates it.
    /// Returns (busy, frames in the WAL, frames checkpointed). A successful
    /// TRUNCATE reports 0 and 0 (the WAL is empty afterwards), so the counts
    /// come from a PASSIVE pass first and TRUNCATE only says whether it was
    /// blocked by a reader or writer.
    pub fn checkpoint(&self) -> Result<(i64, i64, i64)> {
        let pass = |mode: &str| -> Result<(i64, i64, i64)> {
            Ok(self
                .conn
                .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?)
        };
        let (_, log, done) = pass("PASSIVE")?;
        let (busy, _, _) = pass("TRUNCATE")?;
        Ok((busy, log, done))
    }

    /// Deletes finished history older than `cutoff`. Open rows (`queued`,
    /// `running`) are never removed: they are work in progress, not history.
    /// Deletes in batches so writers are never blocked for long.
    pub fn prune(&self, cutoff: clock::Instant) -> Result<PruneReport> {
        let cut = clock::fmt(cutoff);
        let mut executions_deleted = 0;
        loop {
            let n = self.write(|tx| {
                Ok(tx.execute(
                    "DELETE FROM supervisor_executions WHERE id IN (
                       SELECT id FROM supervisor_executions
                       WHERE created_at < ?1 AND status NOT IN ('queued','running')
                       LIMIT 5000)",
                    [&cut],
                )?)
            })?;
            executions_deleted += n;
            if n == 0 {
                break;
            }
        }
        let (events_deleted, requests_deleted) = self.write(|tx| {
            let ev = tx.execute(
                "DELETE FROM supervisor_events WHERE created_at < ?1 AND delivery <> 'pending'",
                [&cut],
            )?;
            let rq = tx.execute(
                "DELETE FROM supervisor_requests WHERE created_at < ?1 AND done_at IS NOT NULL",
                [&cut],
            )?;
            // Schedule changes that ended before the cutoff (one-shot runs
            // once claimed or cancelled): history like the rest.
            tx.execute(
                "DELETE FROM supervisor_overrides WHERE ends_at < ?1
                   AND (kind <> 'at' OR execution_id IS NOT NULL OR cleared_at IS NOT NULL)",
                [&cut],
            )?;
            Ok((ev, rq))
        })?;
        // A trigger of a run still open stays: that run reads its data.
        let triggers_deleted = self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM supervisor_triggers WHERE received_at < ?1 AND (execution_id IS NULL
                   OR execution_id NOT IN (SELECT id FROM supervisor_executions
                                           WHERE status IN ('queued','running')))",
                [&cut],
            )?)
        })?;
        Ok(PruneReport {
            cutoff: cut,
            executions_deleted,
            events_deleted,
            requests_deleted,
            triggers_deleted,
        })
    }

    pub fn vacuum(&self) -> Result<()> {
        self.conn.execute_batch("VACUUM")?;
        Ok(())
    }

    /// Copies the live DB to `dest` with SQLite's online backup API, which is
    /// consistent while other tools keep writing.
    pub fn backup(&self, dest: &Path) -> Result<BackupReport> {
        if dest.exists() {
            return Err(Error::Path {
                path: dest.to_path_buf(),
                reason: "already exists; refusing to overwrite a backup".into(),
            });
        }
        if let Some(dir) = dest.parent() {
            crate::paths::ensure_private_dir(dir)?;
        }
        let tmp = dest.with_extension("partial");
        let _ = std::fs::remove_file(&tmp);
        // Created 0600 before a byte is copied: a backup is as private as the DB.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| Error::Path {
                path: tmp.clone(),
                reason: format!("cannot create backup: {e}"),
            })?;
        {
            let mut out = rusqlite::Connection::open(&tmp)?;
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut out)?;
            backup.run_to_completion(1000, std::time::Duration::from_millis(5), None)?;
        }
        crate::paths::make_private(&tmp)?;
        std::fs::rename(&tmp, dest).map_err(|e| Error::Path {
            path: dest.to_path_buf(),
            reason: format!("cannot move backup into place: {e}"),
        })?;
        let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
        Ok(BackupReport {
            source: self.path().display().to_string(),
            destination: dest.display().to_string(),
            bytes,
        })
    }
}
