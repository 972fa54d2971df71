//! Changing when a task runs, for a while: `override`, `pause`, `resume`
//! and `at`. Each is a row that survives restarts, names who set it (`cli`,
//! or `task:<id>` when run from inside a task) and why, and ends on its own.
//! The logic is kit_db::adapt::control's, shared with the API and MCP.

use super::Ctx;
use clap::Args;
use kit_db::adapt::{control, Override};
use kit_db::cli::print_json;
use kit_db::settings::Settings;

#[derive(Debug, Args)]
pub struct OverrideArgs {
    /// The task
    pub name: String,
    /// The pace while the override lasts (a cron expression or @every)
    #[arg(long, required_unless_present = "clear")]
    pub schedule: Option<String>,
    /// How long it lasts (at most 7d)
    #[arg(long = "for", value_name = "DURATION", conflicts_with = "until")]
    pub for_: Option<String>,
    /// Until when it lasts (18:40, "2026-03-02 18:40", RFC 3339, +2h)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Why (recorded and shown with it)
    #[arg(long)]
    pub reason: Option<String>,
    /// End the override in force now (the base or adapted schedule returns)
    #[arg(long, conflicts_with_all = ["schedule", "for_", "until"])]
    pub clear: bool,
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    /// The task
    pub name: String,
    /// How long (at most 7d; for good, `disable` the task)
    #[arg(long = "for", value_name = "DURATION", conflicts_with = "until")]
    pub for_: Option<String>,
    /// Until when (18:40, "2026-03-02 18:40", RFC 3339, +2h)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Why (recorded on every skipped slot)
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct AtArgs {
    /// When (18:40 = the next 18:40 in the settings' zone, "2026-03-02 18:40", RFC 3339, +2h)
    pub time: String,
    /// The task
    pub name: String,
    /// Text handed to the run as KIT_EVENT_DATA
    #[arg(long)]
    pub data: Option<String>,
    /// Why
    #[arg(long)]
    pub reason: Option<String>,
    /// Cancel the task's pending one-shot runs instead
    #[arg(long)]
    pub cancel: bool,
}

fn print(ctx: &Ctx, o: &Override, verb: &str) {
    if ctx.json {
        print_json(o);
    } else {
        println!("{}: {verb}: {}", o.task, o.describe());
    }
}

fn print_cleared(ctx: &Ctx, name: &str, cleared: &[Override], what: &str) {
    if ctx.json {
        print_json(&serde_json::json!({ "task": name, "cleared": cleared }));
    } else if cleared.is_empty() {
        println!("{name}: no {what} in force");
    } else {
        for o in cleared {
            println!("{name}: cleared: {}", o.describe());
        }
    }
}

pub fn override_(ctx: &Ctx, a: OverrideArgs) -> anyhow::Result<i32> {
    let now = ctx.now()?;
    let store = ctx.open_existing()?;
    let by = kit_db::adapt::who("cli");
    if a.clear {
        let cleared =
            store.write(|tx| control::clear(tx, &a.name, &["schedule"], &by, now, None))?;
        print_cleared(ctx, &a.name, &cleared, "override");
        return Ok(0);
    }
    let zone = Settings::load(&store.conn)?.zone();
    let end = control::end_of(now, a.for_.as_deref(), a.until.as_deref(), zone)?;
    let schedule = a.schedule.unwrap_or_default();
    let o = store.write(|tx| {
        control::set_override(tx, &a.name, &schedule, end, &by, a.reason.as_deref(), now)
    })?;
    print(ctx, &o, "override set");
    Ok(0)
}

pub fn pause(ctx: &Ctx, a: PauseArgs) -> anyhow::Result<i32> {
    let now = ctx.now()?;
    let store = ctx.open_existing()?;
    let by = kit_db::adapt::who("cli");
    let zone = Settings::load(&store.conn)?.zone();
    let end = control::end_of(now, a.for_.as_deref(), a.until.as_deref(), zone)?;
    let o =
        store.write(|tx| control::set_pause(tx, &a.name, end, &by, a.reason.as_deref(), now))?;
    print(ctx, &o, "paused");
    Ok(0)
}

pub fn resume(ctx: &Ctx, name: &str) -> anyhow::Result<i32> {
    let now = ctx.now()?;
    let store = ctx.open_existing()?;
    let by = kit_db::adapt::who("cli");
    let cleared = store.write(|tx| control::clear(tx, name, &["pause"], &by, now, None))?;
    print_cleared(ctx, name, &cleared, "pause");
    Ok(0)
}

pub fn at(ctx: &Ctx, a: AtArgs) -> anyhow::Result<i32> {
    let now = ctx.now()?;
    let store = ctx.open_existing()?;
    let by = kit_db::adapt::who("cli");
    if a.cancel {
        let cleared = store.write(|tx| control::clear(tx, &a.name, &["at"], &by, now, None))?;
        print_cleared(ctx, &a.name, &cleared, "one-shot run");
        return Ok(0);
    }
    let zone = Settings::load(&store.conn)?.zone();
    let when = control::parse_time(&a.time, now, zone)
        .map_err(|e| kit_db::Error::invalid(format!("TIME: {e}")))?;
    let o = store.write(|tx| {
        control::add_at(
            tx,
            &a.name,
            when,
            a.data.as_deref(),
            &by,
            a.reason.as_deref(),
            now,
        )
    })?;
    print(ctx, &o, "one-shot run set");
    Ok(0)
}
