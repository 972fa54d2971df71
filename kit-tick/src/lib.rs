//! kit-tick: invoked every minute by launchd, a systemd timer or cron. It
//! claims each due slot exactly once and hands it to kit-run.

pub mod plan;
pub mod tick;

use anyhow::Context;
use clap::Parser;
use kit_db::cli::{generate, print_json, DbArg, Generate};
use kit_db::clock;

/// Claim every due slot exactly once; print the claimed task names (or start kit-run for them with --exec), then start kit-heal.
#[derive(Debug, Parser)]
#[command(name = "kit-tick", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub db: DbArg,
    /// The current time (RFC 3339) [env: KIT_NOW; default: the system clock]
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Start a detached `kit-run NAME` per claimed slot and kit-heal, then return at once
    #[arg(long, conflicts_with = "dry_run")]
    pub exec: bool,
    /// Show what would be claimed and missed; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Do not start kit-heal after the tick (it is started in every form,
    /// piped or --exec, so detection never depends on how kit-tick is run)
    #[arg(long)]
    pub no_heal: bool,
    /// One JSON object per claimed slot: {name, slot, id, trigger}
    #[arg(long)]
    pub json: bool,
    /// Generate a man page or a shell completion script, then exit
    #[arg(long, value_name = "WHAT")]
    pub generate: Option<Generate>,
}

pub fn run(cli: Cli) -> anyhow::Result<i32> {
    if let Some(what) = cli.generate {
        generate::<Cli>(what)?;
        return Ok(0);
    }
    let now = clock::now(cli.now.as_deref())?;
    kit_db::cli::report_file_size_limit_as_error();
    let store = cli.db.open()?;
    let report = tick::tick(&store, now, cli.dry_run).context("tick failed")?;
    let db_path = store.path().to_path_buf();
    store.release();
    let mut out = std::io::stdout().lock();
    for c in &report.claimed {
        if cli.json {
            drop(out);
            print_json(c);
            out = std::io::stdout().lock();
        } else {
            use std::io::Write;
            writeln!(out, "{}", c.name)?;
        }
    }
    drop(out);
    let now_text = clock::fmt(now);
    let injected = clock::is_injected(cli.now.as_deref()).then_some(now_text.as_str());
    // kit-heal after every real tick, whatever the form: with `kit-tick |
    // kit-run -` and no kit-keep, nothing else would notice a gap or a
    // dead kit-keep (a dry run changes nothing, so it starts nothing).
    let heal = !cli.no_heal && !cli.dry_run;
    if cli.exec {
        let mut failures = 0;
        for c in &report.claimed {
            // kit-run takes the oldest queued slot of the task, which is this one
            // (or an older one left by a broken pipe: also due).
            if let Err(e) =
                kit_db::launch::detached("kit-run", &db_path, &[c.name.as_str()], injected)
            {
                eprintln!("kit-tick: cannot start kit-run for {}: {e}", c.name);
                failures += 1;
            }
        }
        if heal {
            start_heal(&db_path, injected);
        }
        if failures > 0 {
            return Ok(1);
        }
    } else if heal {
        start_heal(&db_path, injected);
    }
    Ok(0)
}

fn start_heal(db: &std::path::Path, injected: Option<&str>) {
    if let Err(e) = kit_db::launch::detached("kit-heal", db, &[], injected) {
        eprintln!("kit-tick: cannot start kit-heal: {e}");
    }
}
