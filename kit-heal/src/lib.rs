//! kit-heal: the recovery engine, the notification outbox and the checks
//! for what did not happen. One run:
//!
//! 1. reconciles runs whose kit-run died (`lost`, counted as failures);
//! 2. decides, in one write transaction (BEGIN IMMEDIATE serialises
//!    concurrent kit-heals): silent-failure checks ([`detect`]), each task's
//!    streak and episode ([`recovery`]); events are deduplicated by key;
//! 3. after the commit, starts the recovery actions that run processes
//!    ([`actions`], leased so none starts twice);
//! 4. delivers due events to the notify command ([`notify`], leased too).
//!
//! `--dry-run` runs step 2 and rolls it back: it prints what would happen
//! and changes nothing.

pub mod actions;
pub mod detect;
pub mod notify;
pub mod probe_recovery;
pub mod recovery;
pub mod report;
pub mod streak;

use anyhow::Context;
use clap::Parser;
use kit_db::cli::{generate, DbArg, Generate};
use kit_db::clock::{self, Instant};
use kit_db::settings::Settings;
use kit_db::task::repo;
use kit_db::{exec, outbox, state};
use report::{Line, Printer};
use rusqlite::{Connection, Transaction, TransactionBehavior};

/// Recover failing tasks, deliver notifications, and detect what did not happen.
#[derive(Debug, Parser)]
#[command(name = "kit-heal", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub db: DbArg,
    /// Evaluate the recovery of this task only (checks and deliveries still run)
    #[arg(long, value_name = "NAME")]
    pub task: Option<String>,
    /// The current time (RFC 3339) [env: KIT_NOW; default: the system clock]
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Show what would be recorded, started and notified; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// One JSON object per line (event, action, notify)
    #[arg(long)]
    pub json: bool,
    /// Generate a man page or a shell completion script, then exit
    #[arg(long, value_name = "WHAT")]
    pub generate: Option<Generate>,
}

/// What the decision transaction produced.
struct Decision {
    lines: Vec<Line>,
    actions: Vec<actions::Planned>,
    settings: Settings,
}

pub fn run(cli: Cli) -> anyhow::Result<i32> {
    if let Some(what) = cli.generate {
        generate::<Cli>(what)?;
        return Ok(0);
    }
    let now = clock::now(cli.now.as_deref())?;
    let now_text = clock::fmt(now);
    let injected = clock::is_injected(cli.now.as_deref()).then_some(now_text.as_str());
    let store = cli.db.open()?;
    let printer = Printer {
        json: cli.json,
        dry_run: cli.dry_run,
    };
    if let Some(t) = &cli.task {
        repo::require(&store.conn, t)?;
    }
    if cli.dry_run {
        return dry_run(&store.conn, cli.task.as_deref(), now, &printer);
    }
    exec::reconcile_lost(&store.conn, None, now).context("reconciling lost executions")?;
    let d = store
        .write(|tx| decide(tx, cli.task.as_deref(), now))
        .context("deciding")?;
    // Events first, then every action of the round in its declared order.
    let (mut done, events): (Vec<Line>, Vec<Line>) = d
        .lines
        .into_iter()
        .partition(|l| matches!(l, Line::Action { .. }));
    printer.print_all(&events)?;
    for p in &d.actions {
        let result = actions::start(p, store.path(), injected);
        store.write(|tx| actions::settle(tx, p, &result))?;
        let (pid, error) = match result {
            Ok(pid) => (Some(pid), None),
            Err(e) => (None, Some(e)),
        };
        done.push(Line::Action {
            event: p.event_id,
            task: p.task.clone(),
            action: p.action.clone(),
            result: if pid.is_some() { "started" } else { "failed" }.into(),
            pid,
            error,
        });
    }
    done.sort_by_key(Line::event_id);
    printer.print_all(&done)?;
    notify::deliver(&store, &d.settings, now, &printer).context("delivering notifications")?;
    Ok(0)
}

fn decide(tx: &Transaction, only: Option<&str>, now: Instant) -> kit_db::Result<Decision> {
    let settings = Settings::load(tx)?;
    let mut lines = Vec::new();
    detect::run(tx, now, &mut lines)?;
    let tasks = match only {
        Some(name) => vec![repo::require(tx, name)?],
        None => repo::list(tx)?,
    };
    let mut planned = Vec::new();
    for row in &tasks {
        planned.extend(recovery::evaluate(tx, row, &settings, now, &mut lines)?);
    }
    planned.extend(probe_recovery::evaluate_all(
        tx, &tasks, &settings, now, &mut lines,
    )?);
    planned.extend(actions::claim_orphans(tx, now)?);
    state::beat(tx, "kit-heal", now, None)?;
    Ok(Decision {
        lines,
        actions: planned,
        settings,
    })
}

/// The decision in a transaction that is rolled back, plus what would be
/// started and delivered.
fn dry_run(
    conn: &Connection,
    only: Option<&str>,
    now: Instant,
    printer: &Printer,
) -> anyhow::Result<i32> {
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let d = decide(&tx, only, now)?;
    let due = outbox::due(&tx, now, 1000)?;
    tx.rollback()?;
    let mut lines = d.lines;
    for p in &d.actions {
        lines.push(Line::Action {
            event: p.event_id,
            task: p.task.clone(),
            action: p.action.clone(),
            result: "would start".into(),
            pid: None,
            error: None,
        });
    }
    lines.sort_by_key(|l| (matches!(l, Line::Action { .. }), l.event_id()));
    printer.print_all(&lines)?;
    let result = if d.settings.notify.is_some() {
        "would deliver"
    } else {
        "would not be sent (no notify command)"
    };
    for ev in &due {
        printer.print(&notify::line(ev, result, None, None))?;
    }
    Ok(0)
}
