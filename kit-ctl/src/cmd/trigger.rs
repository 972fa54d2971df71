//! `kit-ctl trigger NAME [--data JSON|@FILE|-] [--key KEY] [--wait]`: an
//! event from outside. The trigger (and its queued run) is one write; the
//! run's kit-run is started at once, detached.
//!
//! Exit codes: 0 when the trigger leads to a run (its own, a coalesced one,
//! or a duplicate key's first run); 1 when it was recorded but starts
//! nothing (the task is disabled, a rate limit); 2 for bad input (no such
//! task, malformed JSON, data over the cap). With `--wait`: the run's own
//! exit code.

use super::Ctx;
use anyhow::Context;
use clap::Args;
use kit_db::triggers::{self, Fired, NewTrigger, Outcome, Source};
use kit_db::{clock, exec};
use std::io::Read;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// The task to trigger
    pub name: String,
    /// The event's data, JSON: inline, `@FILE`, or `-` for stdin (at most 1 MiB)
    #[arg(long, value_name = "JSON|@FILE|-")]
    pub data: Option<String>,
    /// Idempotency key: a key seen in the last 24 h starts nothing new and
    /// answers with the run it started
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Wait for the run to finish and exit with its exit code
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits (default: as long as the run takes)
    #[arg(long, value_name = "DURATION", requires = "wait")]
    pub timeout: Option<String>,
}

/// Reads `--data`: inline, `@FILE` or `-`. Reads at most one byte past the
/// cap, so an oversized file is refused without being read whole.
pub fn read_data(arg: &str) -> anyhow::Result<Vec<u8>> {
    let limit = triggers::DATA_CAP as u64 + 1;
    let mut buf = Vec::new();
    if arg == "-" {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut buf)
            .context("--data -: reading stdin")?;
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::File::open(path)
            .with_context(|| format!("--data @{path}: cannot open it"))?
            .take(limit)
            .read_to_end(&mut buf)
            .with_context(|| format!("--data @{path}: reading it"))?;
    } else {
        buf = arg.as_bytes().to_vec();
    }
    Ok(buf)
}

pub fn trigger(ctx: &Ctx, a: TriggerArgs) -> anyhow::Result<i32> {
    let data = a.data.as_deref().map(read_data).transpose()?;
    let limit = a
        .timeout
        .as_deref()
        .map(|t| {
            kit_db::units::Dur::parse(t)
                .map_err(|e| kit_db::Error::invalid(format!("--timeout: {e}")))
        })
        .transpose()?
        .map(|d| d.0);
    let now = ctx.now()?;
    let store = ctx.open_existing()?;
    // A trigger is a write: it waits for the lock like every writer.
    store.conn.busy_timeout(kit_db::store::busy_timeout())?;
    let t = NewTrigger {
        task: &a.name,
        source: Source::Event,
        key: a.key.as_deref(),
        data: data.as_deref(),
        detail: serde_json::Value::Null,
    };
    let fired = triggers::fire(&store, &t, now)?;
    let injected = clock::is_injected(ctx.now.as_deref()).then(|| clock::fmt(now));
    if let Err(e) = triggers::start(store.path(), &a.name, &fired, injected.as_deref()) {
        // Recorded and queued: the next kit-tick starts it.
        eprintln!("kit-ctl: cannot start kit-run now ({e}); the next kit-tick starts it");
    }
    let refused = matches!(fired.outcome, Outcome::Refused | Outcome::RateLimited);
    if !a.wait || refused {
        report(ctx, &a.name, &fired, None);
        if refused {
            anyhow::bail!(
                "trigger of {} not run: {} (recorded as trigger #{})",
                a.name,
                fired.reason.as_deref().unwrap_or(fired.outcome.as_str()),
                fired.trigger_id
            );
        }
        return Ok(0);
    }
    let id = fired
        .execution_id
        .context("the trigger names no execution")?;
    let done = wait_finished(&store.conn, id, limit)?;
    report(ctx, &a.name, &fired, done.as_ref());
    match done {
        None => anyhow::bail!(
            "execution #{id} of {} has not finished within {} (it goes on; see `kit-ctl why {}`)",
            a.name,
            kit_db::units::Dur(limit.unwrap_or_default()),
            a.name
        ),
        Some(e) => Ok(match (e.status.as_str(), e.exit_code) {
            ("success", _) => 0,
            (_, Some(c)) if c != 0 => c as i32,
            _ => 1,
        }),
    }
}

fn report(ctx: &Ctx, name: &str, f: &Fired, done: Option<&exec::Execution>) {
    if ctx.json {
        kit_db::cli::print_json(&serde_json::json!({
            "task": name,
            "trigger_id": f.trigger_id,
            "execution_id": f.execution_id,
            "outcome": f.outcome,
            "duplicate": f.outcome == Outcome::Duplicate,
            "reason": f.reason,
            "execution": done,
        }));
        return;
    }
    let exec = f
        .execution_id
        .map_or(String::new(), |id| format!("execution #{id}"));
    match f.outcome {
        Outcome::Queued => println!("triggered {name}: {exec} (trigger #{})", f.trigger_id),
        Outcome::Coalesced => println!(
            "triggered {name}: joined {exec}, which has not started yet (trigger #{})",
            f.trigger_id
        ),
        Outcome::Duplicate => println!(
            "duplicate: {} (trigger #{})",
            f.reason.as_deref().unwrap_or("key seen before"),
            f.trigger_id
        ),
        Outcome::Refused | Outcome::RateLimited => {}
    }
    if let Some(e) = done {
        println!(
            "{name}: execution #{} {}{}",
            e.id,
            e.status,
            e.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
}

/// Polls execution `id` until it ends (or `limit` passes: None).
pub fn wait_finished(
    conn: &rusqlite::Connection,
    id: i64,
    limit: Option<Duration>,
) -> anyhow::Result<Option<exec::Execution>> {
    let deadline = limit.map(|l| std::time::Instant::now() + l);
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(e) = exec::get(conn, id)? {
            if exec::TERMINAL.contains(&e.status.as_str()) {
                return Ok(Some(e));
            }
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
