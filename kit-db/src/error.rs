//! The library's error type. Binaries add context with `anyhow`; every
//! variant's message names the file, field or value at fault, because the
//! person reading it has nothing else to go on.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: not a kit database: {reason} (the file was left untouched)")]
    NotADatabase { path: PathBuf, reason: String },

    #[error(
        "{path}: written by a newer kit (schema version {found}, this kit knows up to {supported}); \
         upgrade kit to use it (the file was left untouched)"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error("{path}: {reason}")]
    Path { path: PathBuf, reason: String },

    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error("{0}")]
    Invalid(String),

    #[error("no task named {name:?}{}", suggestion(.similar))]
    NoSuchTask { name: String, similar: Vec<String> },

    #[error("{0}")]
    Conflict(String),

    /// A payload over its cap (a trigger's data): exit 2, HTTP 413.
    #[error("{0}")]
    TooLarge(String),
}

fn suggestion(similar: &[String]) -> String {
    if similar.is_empty() {
        String::new()
    } else {
        format!(" (did you mean: {}?)", similar.join(", "))
    }
}

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }

    /// Exit code convention shared by every tool: 2 for "you asked for
    /// something that does not exist or is malformed", 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::NoSuchTask { .. } | Error::Invalid(_) | Error::TooLarge(_) => 2,
            _ => 1,
        }
    }

    /// True when another connection holds the lock SQLite needed.
    pub fn is_busy(&self) -> bool {
        matches!(self, Error::Sqlite(rusqlite::Error::SqliteFailure(e, _))
            if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
    }

    /// True when SQLite said the disk (or the file-size limit) is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Error::Sqlite(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::DiskFull)
    }
}
