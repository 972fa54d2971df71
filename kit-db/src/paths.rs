//! Where kit keeps its files: `$KIT_HOME` (default `~/.kit`) holds the DB,
//! daemon logs, lock files and the API token.

use crate::{Error, Result};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// `$KIT_HOME`, else `~/.kit`.
pub fn kit_home() -> PathBuf {
    if let Some(h) = std::env::var_os("KIT_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    home.join(".kit")
}

/// The DB path: the `--db` flag, else `$KIT_DB`, else `$KIT_HOME/kit.db`.
pub fn db_path(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("KIT_DB").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    kit_home().join("kit.db")
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if dir.exists() {
        return Err(Error::Path {
            path: dir.to_path_buf(),
            reason: "cannot create directory: a file that is not a directory is in the way".into(),
        });
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::Path {
            path: dir.to_path_buf(),
            reason: format!("cannot create directory: {e}"),
        })
}

/// A subdirectory of `$KIT_HOME` (logs, locks), created 0700 on demand.
pub fn home_subdir(name: &str) -> Result<PathBuf> {
    let dir = kit_home().join(name);
    ensure_private_dir(&dir)?;
    Ok(dir)
}

/// Sets a file's mode to 0600 (DB, token).
pub fn make_private(path: &Path) -> Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
        Error::Path {
            path: path.to_path_buf(),
            reason: format!("cannot set mode 0600: {e}"),
        }
    })
}

/// Finds a sibling tool: beside the current executable first (so an
/// installed or freshly built set of tools calls its own siblings), then PATH.
pub fn sibling_tool(name: &str) -> PathBuf {
    if let Ok(me) = std::env::current_exe() {
        if let Some(dir) = me.parent() {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from(name)
}
