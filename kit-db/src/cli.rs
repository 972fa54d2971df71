//! Pieces every tool's command line shares: the `--db` flag, `--json`
//! output, the injectable clock, and generating man pages and completions
//! from the one clap definition.

use clap::{Args, CommandFactory, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

/// `--db` (also `KIT_DB`); every tool takes it.
#[derive(Debug, Clone, Args)]
pub struct DbArg {
    /// The kit database [default: $KIT_HOME/kit.db, KIT_HOME defaults to ~/.kit]
    #[arg(long, global = true, value_name = "PATH", env = "KIT_DB")]
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
                e.chain()
                    .find_map(|c| c.downcast_ref::<crate::Error>())
                    .map_or(1, |k| k.exit_code())
            }
        }
    };
    std::process::exit(code)
}

/// An error and its causes on one line. Library errors already include
/// their source's text, so a cause the previous message ends with is skipped.
pub fn describe(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in e.chain() {
        let s = c.to_string();
        if !parts.last().is_some_and(|p| p.ends_with(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}
