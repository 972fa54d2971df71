//! kit-tick: invoked every minute by launchd, a systemd timer or cron. It
//! claims each due slot exactly once and hands it to kit-run.

pub mod jump;
pub mod plan;
pub mod slots;
pub mod tick;

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
    let failed = if cli.dry_run {
        Vec::new()
    } else {
        kit_db::tickfail::take(store.path())
    };
    let clocks = kit_db::clock_jump::Reading::take(now, clock::is_injected(cli.now.as_deref()));
    let report = match tick::tick(&store, now, &clocks, cli.dry_run, &failed) {
        Ok(r) => r,
        Err(e) => return Err(failed_tick(&store, now, e, &failed, cli.dry_run)),
    };
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
    // Probes start in every form (like kit-heal): they are not slots for
    // a piped kit-run, and a tick must not wait for them. One detached
    // kit-run takes them all (side by side), so a tick with a thousand
    // probes due costs one spawn, not a thousand.
    if !cli.dry_run && !report.probes.is_empty() {
        let mut args = vec!["--probe"];
        args.extend(report.probes.iter().map(String::as_str));
        if let Err(e) = kit_db::launch::detached("kit-run", &db_path, &args, injected) {
            eprintln!(
                "kit-tick: cannot start the probes ({}): {e}",
                report.probes.join(", ")
            );
        }
    }
    // Triggered runs nobody is starting are started whatever the form: the
    // tick is their safety net, not their usual way in.
    for (id, task) in &report.triggered {
        if let Err(e) = kit_db::triggers::start_execution(&db_path, task, *id, injected) {
            eprintln!("kit-tick: cannot start kit-run for {task} (execution #{id}): {e}");
        }
    }
    if cli.exec {
        let mut failures = 0;
        // One kit-run per task, given the task's name once per claim: it
        // takes the oldest queued slot each time, in turn, as `kit-tick |
        // kit-run -` does. Several kit-runs of one task at once would race
        // for the same oldest slot, and the loser's overlap skip would leave
        // a later claim queued with no kit-run to take it.
        let mut per_task: Vec<(&str, Vec<&str>)> = Vec::new();
        for c in &report.claimed {
            match per_task.iter_mut().find(|(n, _)| *n == c.name) {
                Some((_, names)) => names.push(&c.name),
                None => per_task.push((&c.name, vec![&c.name])),
            }
        }
        for (name, names) in per_task {
            if let Err(e) = kit_db::launch::detached("kit-run", &db_path, &names, injected) {
                eprintln!("kit-tick: cannot start kit-run for {name}: {e}");
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

/// A tick that failed is not silent: beside the DB it leaves a line that
/// the next good tick folds into the DB (a notified `stalled` event, and
/// what `why` says about the late slots), and the error names the lock's
/// holder when the DB was locked.
fn failed_tick(
    store: &kit_db::Store,
    now: clock::Instant,
    e: anyhow::Error,
    earlier: &[kit_db::tickfail::TickFailure],
    dry_run: bool,
) -> anyhow::Error {
    use kit_db::tickfail::{self, TickFailure};
    let busy = e.chain().any(|c| {
        c.downcast_ref::<kit_db::Error>()
            .is_some_and(|k| k.is_busy())
    });
    let holders = if busy {
        tickfail::lock_holders(store.path())
    } else {
        Vec::new()
    };
    let error = if busy {
        format!(
            "the database is locked{} and stayed locked for {} (KIT_BUSY_TIMEOUT)",
            if holders.is_empty() {
                String::new()
            } else {
                format!(" by {}", tickfail::describe_holders(&holders))
            },
            kit_db::units::Dur(kit_db::store::busy_timeout() * 2)
        )
    } else {
        format!("{e:#}")
    };
    if dry_run {
        return e.context(error);
    }
    let failure = TickFailure {
        at: clock::fmt(now),
        error: error.clone(),
        lock_holders: holders,
    };
    let unrecorded = earlier
        .iter()
        .chain(std::iter::once(&failure))
        .find_map(|f| tickfail::record(store.path(), f).err());
    // One message, one line: a tool that cannot write says so once.
    let note = match unrecorded {
        None => " (recorded beside the DB; the next tick reports it)".to_string(),
        Some(w) => format!(" (and it could not be recorded beside the DB either: {w})"),
    };
    if busy {
        anyhow::anyhow!("tick failed: {error}{note}")
    } else {
        // Keep the error itself: kit-db's message for it (a full disk, a
        // corrupt file) names the DB and what to do.
        e.context(format!("tick failed{note}"))
    }
}
