//! `import`: print a task file made from a crontab, launchd plists or
//! systemd timers (the importers are in `crate::interop`); with `--apply`,
//! apply it through the same path as `kit-ctl apply`.
//!
//! Exit codes: 0 imported; 1 with `--strict` when anything was lossy (and
//! then nothing is applied); 2 for input that cannot be read or parsed.

use super::Ctx;
use crate::interop::{self, crontab, launchd, systemd, Imported};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub source: Source,
    /// Apply the imported tasks (as `kit-ctl apply` would) instead of printing them
    #[arg(long, global = true)]
    pub apply: bool,
    /// Exit 1 (and apply nothing) when anything could not be carried over exactly
    #[arg(long, global = true)]
    pub strict: bool,
}

#[derive(Debug, Subcommand)]
pub enum Source {
    /// A crontab (the user's, from `crontab -l`, by default)
    Crontab {
        /// The crontab; `-` reads stdin [default: `crontab -l`]
        file: Option<PathBuf>,
        /// A system crontab (/etc/crontab, /etc/cron.d/*): a user field follows the schedule
        #[arg(long)]
        system: bool,
        /// Use kit's catch_up and overlap defaults, not cron's (no catch-up, overlapping runs)
        #[arg(long)]
        kit_defaults: bool,
    },
    /// launchd property lists (XML or binary), e.g. ~/Library/LaunchAgents/*.plist
    Launchd {
        #[arg(required = true)]
        plists: Vec<PathBuf>,
    },
    /// systemd .timer units (each with its .service) and .service units
    Systemd {
        #[arg(required = true)]
        units: Vec<PathBuf>,
    },
}

fn read_crontab(file: Option<&Path>) -> anyhow::Result<(String, PathBuf)> {
    match file {
        Some(p) if p == Path::new("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the crontab from stdin")?;
            Ok((s, PathBuf::from("(stdin)")))
        }
        Some(p) => Ok((read(p)?, p.to_path_buf())),
        None => {
            let out = std::process::Command::new("crontab")
                .arg("-l")
                .output()
                .context("running `crontab -l` (give a FILE, or - for stdin)")?;
            if !out.status.success() {
                anyhow::bail!(
                    "`crontab -l` failed: {} (give a FILE, or - for stdin)",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            Ok((
                String::from_utf8_lossy(&out.stdout).into_owned(),
                PathBuf::from("(crontab -l)"),
            ))
        }
    }
}

/// A source file's text; unreadable is bad input (exit 2).
pub fn read(p: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(p).map_err(|e| {
        kit_db::task::file::FileError {
            path: p.to_path_buf(),
            line: None,
            message: format!("cannot read: {e}"),
        }
        .into()
    })
}

pub fn import(ctx: &Ctx, a: ImportArgs) -> anyhow::Result<i32> {
    let (imported, kind, sources): (Imported, &str, Vec<PathBuf>) = match &a.source {
        Source::Crontab {
            file,
            system,
            kit_defaults,
        } => {
            let (text, path) = read_crontab(file.as_deref())?;
            let opts = crontab::Options {
                system: *system,
                kit_defaults: *kit_defaults,
                home: std::env::var("HOME").ok().filter(|h| h.starts_with('/')),
                user: std::env::var("USER")
                    .or_else(|_| std::env::var("LOGNAME"))
                    .ok(),
            };
            (crontab::import(&text, &path, &opts)?, "crontab", vec![path])
        }
        Source::Launchd { plists } => (launchd::import(plists)?, "launchd", plists.clone()),
        Source::Systemd { units } => (systemd::import(units)?, "systemd", units.clone()),
    };
    let text = interop::render(&imported, kind, &sources);
    let file = interop::reload(&text)?;
    let lossy: Vec<String> = imported.lossy().map(|l| l.to_string()).collect();
    for l in &lossy {
        eprintln!("kit-ctl: import: lossy: {l}");
    }
    let refused = a.strict && !lossy.is_empty();
    if refused {
        eprintln!(
            "kit-ctl: import: --strict: {} thing(s) could not be carried over exactly{}",
            lossy.len(),
            if a.apply { "; nothing applied" } else { "" }
        );
    }
    if a.apply && !refused {
        let label = format!("import {kind}");
        return super::tasks::apply_loaded(ctx, &file, &label, false, false);
    }
    if a.apply {
        return Ok(1);
    }
    if ctx.json {
        kit_db::cli::print_json(&serde_json::json!({
            "tasks": file.tasks,
            "lossy": lossy,
        }));
    } else {
        print!("{text}");
    }
    Ok(if refused { 1 } else { 0 })
}
