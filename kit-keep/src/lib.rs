//! kit-keep: keeps the `@daemon` tasks running.
//!
//! A foreground process (run it under launchd KeepAlive or systemd
//! `Restart=always`, with KillMode=process so its daemons outlive it) that
//! starts every enabled daemon as a direct child in its own process group,
//! restarts it when it dies (at once, then with exponential backoff),
//! quarantines a crash loop and says so, applies task changes within two
//! seconds, acts on restart/stop/start requests, keeps bounded logs, runs
//! health checks, and after a kill -9 of itself adopts the daemons still
//! running instead of starting them twice. Every start and exit is an
//! execution row. See docs/keep.md.

pub mod adopt;
pub mod clock;
pub mod daemon;
pub mod exit;
pub mod health;
pub mod keep;
pub mod lock;
pub mod log;
pub mod logfile;
pub mod policy;
pub mod record;
pub mod reload;
pub mod requests;
pub mod signals;
pub mod start;
pub mod stop;
pub mod watch;

use anyhow::Context;
use clap::Parser;
use kit_db::cli::{generate, DbArg, Generate};
use std::time::Duration;

/// Keep the @daemon tasks running: restart with backoff, quarantine crash
/// loops, reload live, adopt daemons after a restart of kit-keep itself.
#[derive(Debug, Parser)]
#[command(name = "kit-keep", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub db: DbArg,
    /// Log kit-keep's own events to stderr as JSON lines
    #[arg(long)]
    pub json_log: bool,
    /// Pretend the clock starts at TIME (RFC 3339) and runs on from there:
    /// the instants recorded and the quarantine deadlines follow from it [env: KIT_NOW]
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// How often to start kit-heal, which notices a dead kit-tick (0 = never)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_dur)]
    pub heal_every: Duration,
    /// Look at the DB every half second instead of waking on its writes
    /// (inotify); what kit-keep does where inotify is unavailable
    #[arg(long, hide = true)]
    pub poll_db: bool,
    /// Generate a man page or a shell completion script, then exit
    #[arg(long, value_name = "WHAT")]
    pub generate: Option<Generate>,
}

fn parse_dur(s: &str) -> Result<Duration, String> {
    kit_db::units::Dur::parse(s).map(|d| d.0)
}

pub fn run() -> anyhow::Result<i32> {
    let cli = Cli::parse();
    if let Some(what) = cli.generate {
        generate::<Cli>(what)?;
        return Ok(0);
    }
    let log = log::Log { json: cli.json_log };
    let clock = clock::Clock::new(cli.now.as_deref())?;
    // Daemons get KIT_DB as an absolute path, and the startup sweep matches
    // it, so a relative --db must not depend on the cwd.
    let db_path = std::path::absolute(kit_db::paths::db_path(cli.db.db.as_deref()))
        .context("resolving the database path")?;
    let _lock = lock::acquire(&db_path)?;
    let store = kit_db::Store::open(&db_path)?;
    // Short waits for the write lock: a record can wait, a restart cannot.
    store.conn.busy_timeout(record::BUSY_TIMEOUT)?;
    let subreaper = kit_db::process::set_child_subreaper().unwrap_or(false);
    let signals = signals::Signals::install().context("installing signal handlers")?;
    log.info(
        "start",
        None,
        &format!(
            "kit-keep {} (pid {}) for {}{}",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            db_path.display(),
            if subreaper { "; child subreaper" } else { "" }
        ),
    );
    let opts = keep::Options {
        db_path,
        heal_every: Some(cli.heal_every).filter(|d| !d.is_zero()),
        watch_db: !cli.poll_db,
    };
    let mut keep = keep::Keep::new(store, clock, log, signals, opts);
    keep.run()
}
