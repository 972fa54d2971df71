//! `next`: the next fire instants of a task or an expression, in the zone's
//! own offset. Scripts and tests use it to check schedule semantics.

use super::Ctx;
use anyhow::bail;
use clap::Args;
use kit_db::cli::print_json;
use kit_db::clock;
use kit_db::schedule::{Schedule, Tz};
use kit_db::settings::Settings;
use kit_db::task::{repo, validate::validate_timezone};

#[derive(Debug, Args)]
pub struct NextArgs {
    /// A task name (or use --schedule)
    #[arg(conflicts_with = "schedule", required_unless_present = "schedule")]
    pub task: Option<String>,
    /// A schedule expression to evaluate
    #[arg(long)]
    pub schedule: Option<String>,
    /// Time zone for --schedule [default: settings.timezone, else the system zone]
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Start after this instant (RFC 3339) [default: now]
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// How many instants to print
    #[arg(long, default_value_t = 5)]
    pub count: usize,
}

pub fn next(ctx: &Ctx, a: NextArgs) -> anyhow::Result<i32> {
    let from = match &a.from {
        Some(f) => {
            clock::parse_instant(f).map_err(|e| kit_db::Error::invalid(format!("--from: {e}")))?
        }
        None => ctx.now()?,
    };
    let (expr, zone): (String, Tz) = match (&a.task, &a.schedule) {
        (Some(name), _) => {
            let store = ctx.open()?;
            let probe_next = kit_db::probe::store::get(&store.conn, name)?.and_then(|p| p.next_due);
            let row = repo::require(&store.conn, name)?;
            let event_only = row.task.is_event_only();
            if event_only && probe_next.is_none() {
                return when_triggered(ctx, &store.conn, &row.task);
            }
            let (expr, zone) = task_schedule(&store.conn, name, a.tz.as_deref())?;
            // A condition's next probe (it fires the task only if it
            // answers true); an @event task has no time slots besides.
            print_probe(ctx, probe_next.as_deref(), zone);
            if event_only {
                return Ok(0);
            }
            if !matches!(expr.trim(), "@daemon" | "@reboot") {
                // The schedule in force at each slot: adaptations,
                // overrides, pauses and one-shot runs included.
                let runs =
                    kit_db::adapt::view::next_runs(&store.conn, &row.task, zone, from, a.count)?;
                print_runs(ctx, &runs, zone);
                return Ok(0);
            }
            (expr, zone)
        }
        (None, Some(s)) => {
            let zone = match &a.tz {
                Some(z) => validate_timezone(z)
                    .map_err(|e| kit_db::Error::invalid(format!("--tz: {e}")))?,
                None => match kit_db::Store::open_default(ctx.db.db.as_deref()) {
                    Ok(store) => Settings::load(&store.conn)?.zone(),
                    Err(_) => kit_db::settings::system_zone(),
                },
            };
            (s.clone(), zone)
        }
        (None, None) => bail!("give a task name or --schedule EXPR"),
    };
    for t in fire_times(&expr, zone, from, a.count)? {
        let local = t.with_timezone(&zone);
        if ctx.json {
            print_json(&serde_json::json!({
                "at": local.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                "utc": clock::fmt(t),
            }));
        } else {
            println!(
                "{}",
                local.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
            );
        }
    }
    Ok(0)
}

/// "2026-03-02T10:02:00+00:00 (condition probe)": when a condition is
/// probed next.
fn print_probe(ctx: &Ctx, probe_next: Option<&str>, zone: Tz) {
    if let Some(t) = probe_next.and_then(clock::parse_stored) {
        let local = t
            .with_timezone(&zone)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        if ctx.json {
            print_json(&serde_json::json!({ "probe_at": local, "utc": clock::fmt(t) }));
        } else {
            println!("{local} (condition probe)");
        }
    }
}

fn print_runs(ctx: &Ctx, runs: &[kit_db::adapt::view::NextRun], zone: Tz) {
    for r in runs {
        let local = r
            .instant
            .with_timezone(&zone)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        if ctx.json {
            print_json(&serde_json::json!({
                "at": local, "utc": r.at, "source": r.source, "paused": r.paused, "note": r.note,
            }));
        } else {
            match (&r.note, r.paused) {
                (Some(n), true) => println!("{local}  skipped: {n}"),
                (Some(n), false) => println!("{local}  {n}"),
                (None, _) => println!("{local}"),
            }
        }
    }
}

/// An `@event` task has no fire times: it runs when triggered. Says so,
/// with what it follows and what is waiting to start.
fn when_triggered(
    ctx: &Ctx,
    conn: &rusqlite::Connection,
    task: &kit_db::task::Task,
) -> anyhow::Result<i32> {
    let info = kit_db::triggers::info::of(conn, task)?;
    if ctx.json {
        print_json(
            &serde_json::json!({ "task": task.name, "when": "triggered", "triggers": info }),
        );
        return Ok(0);
    }
    let rest = kit_db::triggers::info::TriggerInfo {
        event_only: false,
        ..info.clone()
    }
    .summary();
    println!(
        "{} runs when triggered (schedule @event{})",
        task.name,
        if rest.is_empty() {
            String::new()
        } else {
            format!("; {rest}")
        }
    );
    if let Some(p) = info.pending_summary() {
        println!("pending: {p}");
    }
    Ok(0)
}

/// A task's schedule expression and the zone it fires in (`tz` overrides
/// the task's own zone, which overrides settings.timezone).
pub fn task_schedule(
    conn: &rusqlite::Connection,
    name: &str,
    tz: Option<&str>,
) -> anyhow::Result<(String, Tz)> {
    let row = repo::require(conn, name)?;
    let zone = match (tz, row.task.timezone.as_deref()) {
        (Some(z), _) | (None, Some(z)) => validate_timezone(z).map_err(kit_db::Error::invalid)?,
        (None, None) => Settings::load(conn)?.zone(),
    };
    Ok((row.task.schedule, zone))
}

/// The next `count` fire instants of `expr` after `from` (shared by `next`
/// and the MCP `next_runs` tool).
pub fn fire_times(
    expr: &str,
    zone: Tz,
    from: clock::Instant,
    count: usize,
) -> anyhow::Result<Vec<clock::Instant>> {
    let schedule = Schedule::parse(expr)
        .map_err(|e| kit_db::Error::invalid(format!("schedule {expr:?}: {e}")))?;
    let mut instants = Vec::new();
    match &schedule {
        Schedule::Daemon => {
            bail!("{expr:?} is a daemon: kit-keep keeps it running, it has no fire times")
        }
        Schedule::Reboot => bail!("{expr:?} fires at the first tick after each boot"),
        Schedule::Event => bail!("{expr:?} has no fire times: it runs when triggered"),
        Schedule::Every(d) => {
            // Anchored on the previous slot; from a given instant, the grid
            // starts at the next whole minute.
            // Checked: an interval of millennia must end the list, not panic.
            let step = chrono::Duration::from_std(*d)?;
            let mut t = clock::floor_minute(from).checked_add_signed(chrono::Duration::minutes(1));
            for _ in 0..count {
                let Some(now) = t else { break };
                instants.push(now);
                t = now.checked_add_signed(step);
            }
        }
        Schedule::Cron(_) => {
            let mut t = from;
            for _ in 0..count {
                match schedule.next_after(t, zone) {
                    Some(n) => {
                        instants.push(n);
                        t = n;
                    }
                    None => break,
                }
            }
        }
    }
    Ok(instants)
}
