//! Acting on tasks: `run NAME` (now, through kit-run, output streamed) and
//! `restart|stop|start NAME` for daemons (a request row that kit-keep acts
//! on within a second; `--wait` waits for its answer).

use super::status::KEEP_STALE;
use super::Ctx;
use anyhow::Context;
use clap::Args;
use kit_db::daemon::{self, Action};
use kit_db::{clock, state};
use std::os::unix::process::CommandExt;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The task to run now
    pub name: String,
}

/// Replaces this process with `kit-run --stream NAME`: the output streams
/// to the terminal, signals (Ctrl-C) reach kit-run directly, and its exit
/// code (the task's, shell conventions) is ours.
pub fn run(ctx: &Ctx, a: RunArgs) -> anyhow::Result<i32> {
    let store = ctx.open_existing()?;
    let row = kit_db::task::repo::require(&store.conn, &a.name)?;
    if row.task.is_daemon() {
        return Err(kit_db::Error::invalid(format!(
            "{} is a daemon: kit-keep runs it (use `kit-ctl restart {}`)",
            a.name, a.name
        ))
        .into());
    }
    let db = store.path().to_path_buf();
    drop(store);
    let tool = kit_db::paths::sibling_tool("kit-run");
    let mut cmd = std::process::Command::new(&tool);
    cmd.arg("--db").arg(&db).arg("--stream");
    if ctx.json {
        cmd.arg("--json");
    }
    if let Some(now) = &ctx.now {
        cmd.arg("--now").arg(now);
    }
    // Task names never start with '-', and kit-run takes what follows `--`
    // as an ad-hoc command, so the name goes in as is.
    cmd.arg(&a.name);
    let err = cmd.exec();
    Err(anyhow::anyhow!("cannot run {}: {err}", tool.display()))
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// The daemon (an @daemon task)
    pub name: String,
    /// Wait until kit-keep has acted (and say what it did)
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits
    #[arg(long, default_value = "20s", value_name = "DURATION")]
    pub timeout: String,
}

pub fn daemon_action(ctx: &Ctx, action: Action, a: DaemonArgs) -> anyhow::Result<i32> {
    let limit = kit_db::units::Dur::parse(&a.timeout)
        .map_err(|e| kit_db::Error::invalid(format!("--timeout: {e}")))?
        .0;
    let now = ctx.now()?;
    let store = ctx.open_existing()?;
    let id = store.write(|tx| daemon::request(tx, &a.name, action, "kit-ctl", now))?;
    let keep = keep_state(&store.conn, now)?;
    let verb = action.as_str();
    if !a.wait {
        if ctx.json {
            let req = daemon::requests::get(&store.conn, id)?;
            kit_db::cli::print_json(
                &serde_json::json!({ "request": req, "kit_keep_running": keep.is_none() }),
            );
        } else {
            println!("requested {verb} of {} (request #{id})", a.name);
            if let Some(why) = &keep {
                eprintln!("kit-ctl: warning: {why}; the request waits until kit-keep runs");
            }
        }
        return Ok(0);
    }
    if let Some(why) = keep {
        // Waiting for a kit-keep that is not there would only time out.
        if ctx.json {
            let req = daemon::requests::get(&store.conn, id)?;
            kit_db::cli::print_json(
                &serde_json::json!({ "request": req, "kit_keep_running": false, "error": why }),
            );
        }
        anyhow::bail!(
            "{why}: request #{id} ({verb} {}) stays queued until kit-keep runs",
            a.name
        );
    }
    let req =
        daemon::requests::wait_done(&store.conn, id, limit)?.context("the request disappeared")?;
    if ctx.json {
        kit_db::cli::print_json(&serde_json::json!({ "request": req, "kit_keep_running": true }));
    }
    match (&req.done_at, &req.result) {
        (None, _) => anyhow::bail!(
            "kit-keep did not act on request #{id} ({verb} {}) within {}; it is still queued \
             (is kit-keep busy stopping a slow daemon? see `kit-ctl status`)",
            a.name,
            kit_db::units::Dur(limit)
        ),
        (Some(_), _) if req.failed() => {
            anyhow::bail!(
                "{verb} {}: {}",
                a.name,
                req.result.as_deref().unwrap_or("error")
            )
        }
        (Some(_), result) => {
            if !ctx.json {
                println!("{}: {}", a.name, result.as_deref().unwrap_or("done"));
            }
            Ok(0)
        }
    }
}

/// None when kit-keep is running (fresh heartbeat from a live process),
/// else why it is not.
fn keep_state(conn: &rusqlite::Connection, now: clock::Instant) -> anyhow::Result<Option<String>> {
    let Some(hb) = state::heartbeat(conn, "kit-keep")? else {
        return Ok(Some(
            "kit-keep is not running (it has never run on this database)".into(),
        ));
    };
    let age = hb.age(now).unwrap_or(chrono::Duration::MAX);
    // Sleep since the beat is not kit-keep's silence: it beats on wake.
    let awake = hb.awake_age(now).unwrap_or(chrono::Duration::MAX);
    if !hb.process_alive() || awake >= KEEP_STALE {
        return Ok(Some(format!(
            "kit-keep is not running (last heartbeat {} ago, pid {})",
            clock::human_age(age.max(chrono::Duration::zero())),
            hb.pid
        )));
    }
    Ok(None)
}
