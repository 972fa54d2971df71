//! Pieces every tool's command line shares: the `--db` flag, `--json`
//! output, the injectable clock, and generating man pages and completions
//! from the one clap definition.

use clap::{Args, CommandFactory, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

/// `--db` (also `KIT_DB`); every tool takes it.
#[derive(Debug, Clone, Args)]
pub struct DbArg {
    /// The kit database [env: KIT_DB; default: $KIT_HOME/kit.db, KIT_HOME defaults to ~/.kit]
    // KIT_DB is read by paths::db_path, not by clap: clap rejects an empty
    // variable ("a value is required"), where an empty KIT_DB means unset.
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

impl DbArg {
    pub fn open(&self) -> crate::Result<crate::Store> {
        crate::Store::open_default(self.db.as_deref())
    }
}

/// What `--generate` can produce.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Generate {
    Man,
    CompleteBash,
    CompleteZsh,
    CompleteFish,
}

/// Writes a man page or a completion script for the tool `C` to stdout.
pub fn generate<C: CommandFactory>(what: Generate) -> std::io::Result<()> {
    let mut cmd = C::command();
    let name = cmd.get_name().to_string();
    let mut out = std::io::stdout().lock();
    match what {
        Generate::Man => clap_mangen::Man::new(cmd).render(&mut out)?,
        Generate::CompleteBash => {
            clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, name, &mut out)
        }
        Generate::CompleteZsh => {
            clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, name, &mut out)
        }
        Generate::CompleteFish => {
            clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, name, &mut out)
        }
    }
    out.flush()
}

/// Prints one JSON value on its own line.
pub fn print_json<T: serde::Serialize>(v: &T) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, v);
    let _ = out.write_all(b"\n");
}

/// Maps a tool's result to its exit code, printing the error the way Unix
/// tools do: `tool: message: cause`. Never a backtrace.
pub fn exit_with(tool: &str, result: anyhow::Result<i32>) -> ! {
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            // A closed stdout (`kit-ctl history | head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                0
            } else {
                let msg = describe(&e);
                let _ = writeln!(std::io::stderr(), "{tool}: {msg}");
                exit_code(&e)
            }
        }
    };
    std::process::exit(code)
}

/// 2 for malformed input (a bad task file, flag or name), else the library
/// error's own code, else 1.
fn exit_code(e: &anyhow::Error) -> i32 {
    if e.chain().any(|c| c.is::<crate::task::file::FileError>()) {
        return 2;
    }
    e.chain()
        .find_map(|c| c.downcast_ref::<crate::Error>())
        .map_or(1, |k| k.exit_code())
}

/// An error and its causes on one line. Library errors already include
/// their source's text, so a cause the previous message ends with is skipped,
/// and so is SQLite's numeric restatement of a message ("Error code 11: ...").
/// A corrupt DB found after opening, a full disk and an I/O error get a
/// hint, because SQLite's words do not say which file or what to do.
pub fn describe(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in e.chain() {
        if c.is::<rusqlite::ffi::Error>() && !parts.is_empty() {
            continue;
        }
        let s = c.to_string();
        if !parts.last().is_some_and(|p| p.ends_with(&s)) {
            parts.push(s);
        }
    }
    let code = sqlite_code(e);
    let file = || {
        crate::store::last_opened()
            .map(|p| format!(" {}", p.display()))
            .unwrap_or_default()
    };
    match code {
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => parts
            .push(format!(
                "the database file{} is damaged; kit leaves it untouched: check it with \
                 `kit-db check`, then restore a backup or move it aside",
                file()
            )),
        Some(rusqlite::ErrorCode::DiskFull) => parts.push(format!(
            "no space left for the database{} (the disk is full or a file-size limit was \
             reached); the failed write was rolled back and the database is intact: free \
             some space and run again",
            file()
        )),
        Some(rusqlite::ErrorCode::SystemIoFailure) => parts.push(format!(
            "the database{} could not be read or written (a full disk, a file-size limit or a \
             failing disk); a failed write is rolled back: `kit-db check` verifies the database",
            file()
        )),
        _ => {}
    }
    parts.join(": ")
}

/// The SQLite error code anywhere in the chain, if any.
fn sqlite_code(e: &anyhow::Error) -> Option<rusqlite::ErrorCode> {
    e.chain().find_map(|c| {
        c.downcast_ref::<rusqlite::Error>()
            .and_then(rusqlite::Error::sqlite_error_code)
            .or_else(|| c.downcast_ref::<rusqlite::ffi::Error>().map(|f| f.code))
    })
}

/// A write past RLIMIT_FSIZE kills the process with SIGXFSZ by default:
/// silently, halfway through a transaction. Ignored, the write fails with
/// EFBIG and the tool reports it like a full disk. Commands kit starts are
/// unaffected (spawn and launch reset the disposition).
pub fn report_file_size_limit_as_error() {
    // SAFETY: setting a signal to SIG_IGN has no preconditions.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
}
