//! The API token. The API can create tasks that run commands, so it is
//! remote code execution by design: every request (but the dashboard page
//! itself, which holds no data, and `/metrics` with `--metrics-public`) must
//! carry `Authorization: Bearer TOKEN`.
//!
//! The token is `KIT_API_TOKEN` when set, else the contents of
//! `$KIT_HOME/api-token`, which the first `serve` creates 0600 with 256
//! random bits from the OS.

use anyhow::{bail, Context};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// A shorter `KIT_API_TOKEN` is refused: it could be guessed.
pub const MIN_LEN: usize = 16;

/// Where the token came from, for the startup message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Env,
    File { path: PathBuf, created: bool },
}

pub struct Token {
    secret: Vec<u8>,
    pub source: Source,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret, not even in a debug dump.
        f.debug_struct("Token")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Token {
    /// `KIT_API_TOKEN`, else `home/api-token` (created if missing).
    pub fn load_or_create(home: &Path) -> anyhow::Result<Token> {
        if let Ok(v) = std::env::var("KIT_API_TOKEN") {
            let v = v.trim();
            if !v.is_empty() {
                if v.len() < MIN_LEN {
                    bail!(
                        "KIT_API_TOKEN is {} characters long; use at least {MIN_LEN} \
                         (or unset it to use the generated $KIT_HOME/api-token)",
                        v.len()
                    );
                }
                return Ok(Token {
                    secret: v.as_bytes().to_vec(),
                    source: Source::Env,
                });
            }
        }
        let path = home.join("api-token");
        let created = create_if_missing(home, &path)?;
        let secret = read_private(&path)?;
        Ok(Token {
            secret,
            source: Source::File { path, created },
        })
    }

    #[cfg(test)]
    pub fn fixed(s: &str) -> Token {
        Token {
            secret: s.as_bytes().to_vec(),
            source: Source::Env,
        }
    }

    /// True when the `Authorization` header carries this token.
    /// A token that accepts nothing: `kit-ctl mcp` over stdio has no
    /// HTTP and so no token, but shares the API's handlers.
    pub fn disabled() -> Token {
        Token {
            secret: Vec::new(),
            source: Source::Env,
        }
    }

    pub fn accepts(&self, authorization: Option<&str>) -> bool {
        if self.secret.is_empty() {
            return false;
        }
        let Some(h) = authorization else {
            return false;
        };
        let h = h.trim();
        let Some((scheme, given)) = h.split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer")
            && constant_time_eq(given.trim().as_bytes(), &self.secret)
    }
}

/// Compares without an early exit, so the time taken does not reveal how
/// many leading bytes of a guess were right. (The length is not secret.)
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Creates the token file with 256 random bits (hex), mode 0600, unless it
/// exists. `create_new` makes two first `serve`s racing agree on one token.
fn create_if_missing(home: &Path, path: &Path) -> anyhow::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    kit_db::paths::ensure_private_dir(home)?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("cannot get random bytes from the OS: {e}"))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    let mut file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("{}: cannot create the API token", path.display()))
        }
    };
    file.write_all(format!("{hex}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("{}: cannot write the API token", path.display()))?;
    Ok(true)
}

/// Reads the token file, refusing one that other users can read: a token
/// anyone on the machine can see protects nothing.
fn read_private(path: &Path) -> anyhow::Result<Vec<u8>> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("{}: cannot read the API token", path.display()))?;
    if !meta.is_file() {
        bail!(
            "{}: the API token path is not a regular file",
            path.display()
        );
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{}: the API token file has mode {mode:04o}, so other users can read it; \
             run `chmod 600 {}` (or delete it to get a new token)",
            path.display(),
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the API token", path.display()))?;
    let t = text.trim();
    if t.len() < MIN_LEN {
        bail!(
            "{}: the API token is {} characters long; use at least {MIN_LEN} (or delete the file to get a new one)",
            path.display(),
            t.len()
        );
    }
    Ok(t.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_is_checked_exactly() {
        let t = Token::fixed("0123456789abcdef0123");
        assert!(t.accepts(Some("Bearer 0123456789abcdef0123")));
        assert!(t.accepts(Some("bearer  0123456789abcdef0123 ")));
        assert!(!t.accepts(None));
        assert!(!t.accepts(Some("Bearer")));
        assert!(!t.accepts(Some("Basic 0123456789abcdef0123")));
        assert!(!t.accepts(Some("Bearer 0123456789abcdef012")));
        assert!(!t.accepts(Some("Bearer 0123456789abcdef01234")));
        assert!(!t.accepts(Some("Bearer 1123456789abcdef0123")));
    }

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }
}
