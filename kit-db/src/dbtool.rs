//! The `kit-db` maintenance binary: init, migrate, check, checkpoint, prune,
//! vacuum, backup (with rotation), path.

use crate::cli::{generate, print_json, DbArg, Generate};
use crate::{clock, paths, settings::Settings, units::Dur, Error, Store};
use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// kit's store: create, check and maintain the shared SQLite database.
#[derive(Debug, Parser)]
#[command(name = "kit-db", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub db: DbArg,
    /// Print data as JSON
    #[arg(long, global = true)]
    pub json: bool,
    /// Generate a man page or a shell completion script, then exit
    #[arg(long, value_name = "WHAT")]
    pub generate: Option<Generate>,
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create the database (and $KIT_HOME) if missing, and migrate it
    Init,
    /// Bring the schema up to date (every tool also does this on open)
    Migrate,
    /// Integrity check and schema version; exit 1 if not ok
    Check,
    /// Checkpoint the WAL into the main file and truncate it
    Checkpoint,
    /// Delete finished history older than a duration (never queued or running rows)
    Prune {
        /// e.g. 30d, 90d [default: settings.retention, else 90d]
        #[arg(long, value_name = "DURATION")]
        older_than: Option<String>,
        /// The current time for the cutoff (RFC 3339) [env: KIT_NOW]
        #[arg(long)]
        now: Option<String>,
    },
    /// Rebuild the file to reclaim free pages
    Vacuum,
    /// Copy the live database with SQLite's online backup API
    Backup {
        /// Destination file; with --dir, a directory for timestamped backups
        dest: Option<PathBuf>,
        /// Write kit-YYYYMMDDTHHMMSSZ.db into DIR and keep only the newest --keep
        #[arg(long, value_name = "DIR", conflicts_with = "dest")]
        dir: Option<PathBuf>,
        /// How many timestamped backups to keep with --dir
        #[arg(long, default_value_t = 7)]
        keep: usize,
    },
    /// Print the database path
    Path,
}

pub fn run(cli: Cli) -> anyhow::Result<i32> {
    if let Some(what) = cli.generate {
        generate::<Cli>(what)?;
        return Ok(0);
    }
    let Some(cmd) = cli.cmd else {
        bail!("a subcommand is required (see kit-db --help)");
    };
    let path = paths::db_path(cli.db.db.as_deref());
    if let Cmd::Path = cmd {
        if cli.json {
            print_json(&serde_json::json!({ "path": path }));
        } else {
            println!("{}", path.display());
        }
        return Ok(0);
    }
    let store = Store::open(&path).with_context(|| format!("opening {}", path.display()))?;
    match cmd {
        Cmd::Init | Cmd::Migrate => {
            let v = store.schema_version()?;
            if cli.json {
                print_json(&serde_json::json!({ "path": path, "schema_version": v }));
            } else {
                println!("{}: schema version {v}", path.display());
            }
        }
        Cmd::Check => {
            let r = store.check()?;
            if cli.json {
                print_json(&r);
            } else {
                println!("path:           {}", r.path);
                println!("integrity:      {}", r.integrity.join("; "));
                println!(
                    "schema version: {} (this kit: {})",
                    r.schema_version, r.supported_version
                );
                println!("tasks:          {}", r.tasks);
                println!(
                    "executions:     {} ({} open)",
                    r.executions, r.open_executions
                );
            }
            return Ok(if r.ok { 0 } else { 1 });
        }
        Cmd::Checkpoint => {
            let (busy, log, done) = store.checkpoint()?;
            if cli.json {
                print_json(
                    &serde_json::json!({ "busy": busy != 0, "wal_frames": log, "checkpointed": done }),
                );
            } else {
                println!(
                    "checkpointed {done} of {log} WAL frames{}",
                    if busy != 0 { " (busy: partial)" } else { "" }
                );
            }
        }
        Cmd::Prune { older_than, now } => {
            let now = clock::now(now.as_deref())?;
            let age = match older_than {
                Some(t) => {
                    Dur::parse(&t).map_err(|e| Error::invalid(format!("--older-than: {e}")))?
                }
                None => Dur(Settings::load(&store.conn)?.retention()),
            };
            let cutoff = now.checked_sub_signed(age.chrono()).ok_or_else(|| {
                Error::invalid(format!("--older-than {age} reaches before year 1"))
            })?;
            let r = store.prune(cutoff)?;
            if cli.json {
                print_json(&r);
            } else {
                println!(
                    "pruned {} executions, {} events, {} requests, {} triggers older than {}",
                    r.executions_deleted,
                    r.events_deleted,
                    r.requests_deleted,
                    r.triggers_deleted,
                    r.cutoff
                );
            }
        }
        Cmd::Vacuum => {
            store.vacuum()?;
            if !cli.json {
                println!("vacuumed {}", path.display());
            } else {
                print_json(&serde_json::json!({ "vacuumed": path }));
            }
        }
        Cmd::Backup { dest, dir, keep } => {
            let (dest, rotate) = match (dest, dir) {
                (Some(d), None) => (d, None),
                (None, Some(dir)) => {
                    let name =
                        format!("kit-{}.db", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"));
                    (dir.join(name), Some(dir))
                }
                _ => bail!("give a destination file or --dir DIR"),
            };
            let r = store.backup(&dest)?;
            let mut removed = Vec::new();
            if let Some(dir) = rotate {
                removed = rotate_backups(&dir, keep.max(1))?;
            }
            if cli.json {
                print_json(&serde_json::json!({ "backup": r, "removed": removed }));
            } else {
                println!(
                    "backed up {} to {} ({} bytes)",
                    r.source, r.destination, r.bytes
                );
                for f in removed {
                    println!("removed old backup {}", f.display());
                }
            }
        }
        Cmd::Path => {}
    }
    Ok(0)
}

/// `kit-YYYYMMDDTHHMMSS.mmmZ.db`, the names `backup --dir` writes. Only these
/// are ever rotated away: anything else in the directory is the user's.
fn is_timestamped_backup(name: &str) -> bool {
    let Some(stamp) = name
        .strip_prefix("kit-")
        .and_then(|n| n.strip_suffix("Z.db"))
    else {
        return false;
    };
    let b = stamp.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            8 => *c == b'T',
            15 => *c == b'.',
            _ => c.is_ascii_digit(),
        })
}

/// Keeps the newest `keep` timestamped backups in `dir` (names sort by time).
fn rotate_backups(dir: &std::path::Path, keep: usize) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_timestamped_backup)
        })
        .collect();
    files.sort();
    let excess = files.len().saturating_sub(keep);
    let old: Vec<PathBuf> = files.into_iter().take(excess).collect();
    for f in &old {
        std::fs::remove_file(f).with_context(|| format!("removing {}", f.display()))?;
    }
    Ok(old)
}
