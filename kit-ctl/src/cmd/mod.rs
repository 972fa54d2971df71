//! kit-ctl's subcommands, one concept per module. Modules that other front
//! ends (the REST API) reuse split gathering data (`gather`, `query`,
//! `explain`, `render`) from printing it.

pub mod adapt;
pub mod captured;
pub mod control;
pub mod export;
pub mod generate;
pub mod history;
pub mod import;
pub mod list;
pub mod logs;
pub mod metrics;
pub mod next;
pub mod probes;
pub mod status;
pub mod tasks;
pub mod trigger;
pub mod why;

use anyhow::Context;
use kit_db::cli::DbArg;
use kit_db::{clock, paths, Store};
use std::time::Duration;

/// What every subcommand gets: where the DB is, the output mode, the clock.
pub struct Ctx {
    pub db: DbArg,
    pub json: bool,
    pub now: Option<String>,
}

/// How long a reading command waits for a lock before saying so. In WAL
/// mode readers never wait for writers, so a lock that lasts this long is
/// another program holding the whole file (sqlite3 in exclusive locking
/// mode, a stuck migration), not ordinary traffic.
const READ_LOCK_WAIT: Duration = Duration::from_secs(3);

impl Ctx {
    /// Opens the DB, creating it if missing (commands that declare things).
    pub fn open(&self) -> anyhow::Result<Store> {
        Ok(self.db.open()?)
    }

    /// Opens an existing DB for commands that only look: a missing file is
    /// an error (not a new empty DB that would report "all is well"), and a
    /// locked file is named as such instead of hanging for half a minute.
    pub fn open_existing(&self) -> anyhow::Result<Store> {
        let path = paths::db_path(self.db.db.as_deref());
        if !path.exists() {
            anyhow::bail!(
                "{}: no kit database here (create it with `kit-db init` or `kit-ctl apply FILE`, \
                 or point --db / KIT_DB / KIT_HOME at the right one)",
                path.display()
            );
        }
        probe_lock(&path)?;
        let store = Store::open(&path)?;
        store.conn.busy_timeout(READ_LOCK_WAIT)?;
        Ok(store)
    }

    pub fn now(&self) -> anyhow::Result<clock::Instant> {
        Ok(clock::now(self.now.as_deref())?)
    }
}

/// Reads the schema with a short busy timeout, so a file locked by another
/// program is reported in seconds with what to do about it.
fn probe_lock(path: &std::path::Path) -> anyhow::Result<()> {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let Ok(conn) = rusqlite::Connection::open_with_flags(path, flags) else {
        // Store::open gives the precise message for files it cannot open.
        return Ok(());
    };
    conn.busy_timeout(READ_LOCK_WAIT)?;
    match conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Err(rusqlite::Error::SqliteFailure(f, _))
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            Err(anyhow::anyhow!(
                "{}: the database is locked by another program (waited {}s); \
                 find it with `fuser {}` and try again",
                path.display(),
                READ_LOCK_WAIT.as_secs(),
                path.display()
            ))
        }
        _ => Ok(()),
    }
    .context("opening the database")
}
