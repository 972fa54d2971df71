//! Opening the shared DB: creating it privately, refusing what is not a kit
//! DB, migrating, and running write transactions that never lose a write to
//! SQLITE_BUSY.

pub mod heap;
mod kept;
mod maint;
pub mod schema;

pub use maint::{BackupReport, CheckReport, PruneReport};

use crate::{paths, Error, Result};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a writer waits for another writer before SQLite gives up. Writes
/// are short (milliseconds), so this only matters under heavy contention or
/// a lock someone holds (an open `sqlite3` shell in a transaction).
/// `KIT_BUSY_TIMEOUT` (a duration such as `5s`) changes it.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// [`BUSY_TIMEOUT`], or `KIT_BUSY_TIMEOUT` when set to a valid duration.
pub fn busy_timeout() -> Duration {
    static T: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *T.get_or_init(|| {
        std::env::var("KIT_BUSY_TIMEOUT")
            .ok()
            .and_then(|v| crate::units::Dur::parse(&v).ok())
            .map_or(BUSY_TIMEOUT, |d| d.0)
    })
}

/// The DB this process opened last, so an error found long after opening
/// (a corrupt page) can still name the file.
static LAST_OPENED: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

pub fn last_opened() -> Option<PathBuf> {
    LAST_OPENED.lock().ok().and_then(|p| p.clone())
}

/// A closing connection checkpoints and truncates the WAL once it is larger
/// than this. Every process that opens the DB while no other connection is
/// open must first read the whole WAL (a 40 MB WAL costs each tick ~50 ms),
/// and the WAL of short-lived processes never restarts by itself: the opener's
/// recovery forgets what was already checkpointed. 1 MiB bounds that read to
/// well under a millisecond while the fsyncs of a checkpoint come only every
/// few dozen runs.
const WAL_TRUNCATE_AT: u64 = 1 << 20;

pub struct Store {
    pub conn: Connection,
    path: PathBuf,
}

impl Drop for Store {
    fn drop(&mut self) {
        self.truncate_big_wal();
    }
}

impl Store {
    /// Opens (creating if needed) the DB at `--db`/`KIT_DB`/`$KIT_HOME/kit.db`.
    pub fn open_default(flag: Option<&Path>) -> Result<Store> {
        Store::open(&paths::db_path(flag))
    }

    /// Opens the DB at `path`, creating it 0600 (its directory 0700) and
    /// migrating the schema. Never writes to a file that is not a SQLite DB
    /// or that a newer kit wrote.
    pub fn open(path: &Path) -> Result<Store> {
        heap::install();
        if let Ok(mut last) = LAST_OPENED.lock() {
            *last = Some(path.to_path_buf());
        }
        let pre = preflight(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| classify(path, e))?;
        conn.busy_timeout(busy_timeout())?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        let version = store.configure(pre)?;
        store.migrate(version)?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Ends a short-lived tool's use of the DB without SQLite's close. With
    /// NO_CKPT_ON_CLOSE the close writes nothing; it only frees every cache
    /// and statement, wasted work for a process about to exit, whose locks
    /// and files the kernel releases anyway (as when it is killed). A big
    /// WAL is still truncated, as on drop.
    pub fn release(self) {
        self.truncate_big_wal();
        std::mem::forget(self);
    }

    /// A closing connection checkpoints and truncates the WAL once it is
    /// larger than [`WAL_TRUNCATE_AT`].
    fn truncate_big_wal(&self) {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let big = std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_TRUNCATE_AT);
        if big {
            // Never wait for it: if another process is reading or writing,
            // the next tool to close will do it.
            let _ = self.conn.busy_timeout(Duration::ZERO);
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
    }

    /// The first read of a connection: the schema version and, for a DB
    /// without one, its number of tables. In WAL mode a read can meet
    /// SQLITE_BUSY without the busy handler being called (another process is
    /// recovering or truncating the WAL at that instant), so it is retried
    /// for a few seconds like any other busy wait.
    fn first_read(&self) -> Result<(i64, i64)> {
        let version: i64 = self.read_retrying("PRAGMA user_version", |r| r.get(0))?;
        if version != 0 {
            return Ok((version, 0));
        }
        // One statement, so one snapshot: read separately, a tool creating
        // the DB right now could commit its tables (and version) in between,
        // and its brand-new kit DB would look like another program's.
        self.read_retrying(
            "SELECT (SELECT user_version FROM pragma_user_version),
                    (SELECT count(*) FROM sqlite_schema
                      WHERE type = 'table' AND name NOT LIKE 'sqlite_%')",
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    fn read_retrying<T>(
        &self,
        sql: &str,
        f: impl Fn(&rusqlite::Row) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut pause = Duration::from_millis(1);
        loop {
            match self.conn.query_row(sql, [], &f) {
                Err(ref e) if is_busy(e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                other => return other.map_err(|e| classify(&self.path, e)),
            }
        }
    }

    /// Checks the file is a kit DB this kit can use and sets the connection
    /// up; returns the schema version it read.
    fn configure(&self, pre: Preflight) -> Result<i64> {
        // Reading the schema version is the first real read: it is where a
        // corrupt or foreign file shows itself.
        let (version, tables): (i64, i64) = self.first_read()?;
        if version > schema::LATEST {
            return Err(Error::TooNew {
                path: self.path.clone(),
                found: version,
                supported: schema::LATEST,
            });
        }
        if pre.existed && version == 0 && tables > 0 {
            return Err(Error::NotADatabase {
                path: self.path.clone(),
                reason: "it is a SQLite database of some other program (it has tables but no kit schema version)".into(),
            });
        }
        // WAL lets readers (status, the dashboard) run beside writers;
        // synchronous=NORMAL is durable across process crashes in WAL mode,
        // which is the failure we design for (kill -9 at any moment).
        if !pre.wal {
            // Retried like the first read: while another tool creating the
            // DB holds it (switching it to WAL, or migrating it), the switch
            // meets SQLITE_BUSY without the busy handler being called.
            let mode: String = self.read_retrying("PRAGMA journal_mode=WAL", |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(Error::Path {
                    path: self.path.clone(),
                    reason: format!("cannot switch to WAL journal mode (got {mode})"),
                });
            }
        }
        self.conn.execute_batch(
            "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;",
        )?;
        if !crate::platform::STORE_PRAGMAS.is_empty() {
            self.conn.execute_batch(crate::platform::STORE_PRAGMAS)?;
        }
        // Most kit processes live for milliseconds. By default the last
        // connection to close checkpoints the WAL and deletes it, which costs
        // several fsyncs per kit-run. Instead a closing tool truncates the
        // WAL only once it has grown past WAL_TRUNCATE_AT (see Drop below).
        self.conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )?;
        Ok(version)
    }

    /// `current`: the version `configure` read (every open reads it once).
    fn migrate(&self, current: i64) -> Result<()> {
        if current == schema::LATEST {
            return Ok(());
        }
        self.write(|tx| {
            // Re-read inside the write lock: another tool may have migrated
            // between our check and our lock.
            let v: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(v as usize) {
                tx.execute_batch(sql)?;
                tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
            }
            Ok(())
        })
    }

    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction. Taking the write lock up
    /// front is what makes busy_timeout effective in WAL mode (a deferred
    /// transaction that upgrades would fail with SQLITE_BUSY at once); the
    /// loop covers the rare BUSY that still escapes (e.g. a checkpoint).
    pub fn write<T>(&self, f: impl FnMut(&rusqlite::Transaction) -> Result<T>) -> Result<T> {
        self.write_for(busy_timeout() * 2, f)
    }

    /// [`Store::write`], giving up on SQLITE_BUSY after about `limit`
    /// (plus the connection's busy_timeout). For a process that must not
    /// stall (kit-keep keeps its daemons alive first and retries the write
    /// later).
    pub fn write_for<T>(
        &self,
        limit: Duration,
        mut f: impl FnMut(&rusqlite::Transaction) -> Result<T>,
    ) -> Result<T> {
        let mut delay = Duration::from_millis(2);
        let deadline = std::time::Instant::now() + limit;
        loop {
            let attempt = (|| {
                let tx = rusqlite::Transaction::new_unchecked(
                    &self.conn,
                    TransactionBehavior::Immediate,
                )?;
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            })();
            match attempt {
                Err(Error::Sqlite(ref e)) if is_busy(e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }
}

impl Store {
    /// A `BEGIN IMMEDIATE` transaction the caller commits (or drops to roll
    /// back), retried on SQLITE_BUSY with the bounds of [`Store::write`]:
    /// for a caller that decides whether to commit (kit-tick's dry run).
    pub fn begin_write(&self) -> Result<rusqlite::Transaction<'_>> {
        let mut delay = Duration::from_millis(2);
        let deadline = std::time::Instant::now() + busy_timeout() * 2;
        loop {
            match rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate) {
                Err(ref e) if is_busy(e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(100));
                }
                other => return Ok(other?),
            }
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

/// What the file looked like before SQLite opened it.
#[derive(Clone, Copy)]
struct Preflight {
    existed: bool,
    /// Header bytes 18/19 are 2 once a DB is in WAL mode (a persistent
    /// setting), so most opens can skip the journal_mode pragma.
    wal: bool,
}

/// Checks the path before SQLite touches it, and creates a new DB file 0600.
fn preflight(path: &Path) -> Result<Preflight> {
    let bad = |reason: String| Error::Path {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(Error::NotADatabase {
            path: path.to_path_buf(),
            reason: "it is a directory".into(),
        }),
        Ok(meta) if !meta.is_file() => Err(Error::NotADatabase {
            path: path.to_path_buf(),
            reason: "it is not a regular file (a device, FIFO or socket)".into(),
        }),
        Ok(meta) => {
            let rw = || {
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
            };
            let header = match kept::with(path, rw, kept::head::<20>) {
                Ok(h) => h,
                Err(e) => {
                    // Which is it: unreadable, not SQLite, or read-only?
                    // (This descriptor is closed: kit fails to open anyway.)
                    let f = std::fs::File::open(path)
                        .map_err(|e| bad(format!("cannot open database: {e}")))?;
                    let h = kept::head::<20>(&f);
                    if meta.len() > 0 && !is_sqlite(&h) {
                        return Err(not_sqlite(path));
                    }
                    return Err(bad(format!("cannot open database for writing: {e}")));
                }
            };
            if meta.len() > 0 && !is_sqlite(&header) {
                return Err(not_sqlite(path));
            }
            let wal = meta.len() > 0 && header.0[18] == 2 && header.0[19] == 2;
            Ok(Preflight { existed: true, wal })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                paths::ensure_private_dir(dir)?;
            }
            let create = || {
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(0o600)
                    .open(path)
            };
            kept::with(path, create, |_| ())
                .map_err(|e| bad(format!("cannot create database: {e}")))?;
            Ok(Preflight {
                existed: false,
                wal: false,
            })
        }
        Err(e) => Err(bad(format!("cannot access database: {e}"))),
    }
}

fn is_sqlite(head: &([u8; 20], usize)) -> bool {
    head.1 == 20 && &head.0[..16] == b"SQLite format 3\0"
}

fn not_sqlite(path: &Path) -> Error {
    Error::NotADatabase {
        path: path.to_path_buf(),
        reason: "the file is not a SQLite database (bad header)".into(),
    }
}

/// Turns SQLite's "not a database"/"corrupt" codes into a message that
/// names the file.
fn classify(path: &Path, e: rusqlite::Error) -> Error {
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        use rusqlite::ErrorCode::*;
        match f.code {
            NotADatabase => {
                return Error::NotADatabase {
                    path: path.to_path_buf(),
                    reason: "the file is not a SQLite database".into(),
                }
            }
            DatabaseCorrupt => {
                return Error::NotADatabase {
                    path: path.to_path_buf(),
                    reason: format!("the database is corrupt ({e}); restore a backup (kit-db backup) or move it aside"),
                }
            }
            CannotOpen | PermissionDenied | ReadOnly => {
                return Error::Path {
                    path: path.to_path_buf(),
                    reason: format!("cannot open database: {e}"),
                }
            }
            _ => {}
        }
    }
    Error::Sqlite(e)
}
