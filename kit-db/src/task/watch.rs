//! `watch = { paths, debounce }`: run the task when a watched path changes.
//! kit-keep (the resident process) watches; see `crate::watch` and
//! kit-keep/src/watch.rs.

use super::validate::FieldError;
use crate::units::Dur;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watch {
    /// Files or directories (directories are watched recursively); `~/`
    /// means the home directory of the user kit runs as.
    pub paths: Vec<String>,
    /// Quiet time after the last change before the task fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debounce: Option<Dur>,
}

pub const DEFAULT_DEBOUNCE: Duration = Duration::from_secs(1);
pub const MAX_PATHS: usize = 64;

impl Watch {
    pub fn debounce(&self) -> Duration {
        self.debounce.map_or(DEFAULT_DEBOUNCE, |d| d.0)
    }
    /// The paths with `~/` expanded.
    pub fn resolved(&self) -> Vec<PathBuf> {
        self.paths.iter().map(|p| expand(p)).collect()
    }
}

/// Expands a leading `~/` (or a lone `~`) to `$HOME`.
pub fn expand(p: &str) -> PathBuf {
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    if p == "~" {
        return home().unwrap_or_else(|| PathBuf::from(p));
    }
    match (p.strip_prefix("~/"), home()) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => PathBuf::from(p),
    }
}

fn err(message: impl Into<String>) -> FieldError {
    FieldError {
        field: "watch.paths".into(),
        message: message.into(),
    }
}

pub fn validate(w: &Watch) -> Result<(), FieldError> {
    if w.paths.is_empty() {
        return Err(err("empty: give at least one file or directory"));
    }
    if w.paths.len() > MAX_PATHS {
        return Err(err(format!("{} paths: at most {MAX_PATHS}", w.paths.len())));
    }
    for p in &w.paths {
        if p.contains('\0') {
            return Err(err(format!("{p:?} contains a NUL byte")));
        }
        if !(p.starts_with('/') || p == "~" || p.starts_with("~/")) {
            return Err(err(format!(
                "{p:?} is not an absolute path (start it with / or ~/)"
            )));
        }
        let full = expand(p);
        if let Err(e) = std::fs::metadata(&full) {
            return Err(err(format!(
                "{p:?} does not exist or cannot be read ({}): create it first",
                std::io::Error::from(e.kind())
            )));
        }
    }
    if w.debounce
        .is_some_and(|d| d.0 > Duration::from_secs(24 * 3600))
    {
        return Err(FieldError {
            field: "watch.debounce".into(),
            message: "at most 24h".into(),
        });
    }
    Ok(())
}
