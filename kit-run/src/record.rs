//! Recording and reporting how an attempt ended.

use crate::attempt::Ended;
use anyhow::Context;
use kit_db::exec::{self, Finish};
use kit_db::task::Task;
use kit_db::triggers::{chain, Fired};
use kit_db::{clock, Store};

/// Records how the attempt ended and, in the same transaction, starts or
/// extends the adaptations the run matches (`[[task.adapt]]`) and, when
/// `chain` (the run's last attempt), fires the chains of the tasks that
/// follow it: a kill -9 right after cannot lose or double them. When the
/// disk is too full for the captured output, the verdict is recorded
/// without it (and says so) rather than not at all; if even that fails,
/// kit-run exits 125 and the row is settled `lost` by the next tool.
pub fn result(
    store: &Store,
    name: &str,
    task: Option<&Task>,
    id: i64,
    f: &Finish,
    at: clock::Instant,
    chain: bool,
) -> anyhow::Result<Vec<(String, Fired)>> {
    let follow = Follow { name, task, chain };
    match finish_and_follow(store, &follow, id, f, f, at) {
        Ok(fired) => Ok(fired),
        Err(e) if e.is_disk_full() && f.output.as_ref().is_some_and(|o| !o.is_empty()) => {
            let mut lean = f.clone();
            let n = lean.output.take().map_or(0, |o| o.len());
            let why =
                format!("its output ({n} bytes) was not recorded: no space left for the database");
            lean.reason = Some(match &f.reason {
                Some(r) => format!("{r}; {why}"),
                None => why,
            });
            // The adapt rules still see the output that was captured.
            let fired = finish_and_follow(store, &follow, id, &lean, f, at)
                .context("recording the execution's result")?;
            eprintln!("kit-run: {name}: execution #{id}: output not recorded: no space left for the database");
            Ok(fired)
        }
        Err(e) => Err(e).context("recording the execution's result"),
    }
}

/// What follows a finished run, in its transaction.
struct Follow<'a> {
    name: &'a str,
    /// The task, for its adapt rules (None: an ad-hoc run).
    task: Option<&'a Task>,
    /// The run's last attempt: its chains fire.
    chain: bool,
}

/// Finishes the row with `f`; only the finish that changed it goes on
/// (once per execution) to the adaptations (matched against `seen`, which
/// still has the output) and the chains.
fn finish_and_follow(
    store: &Store,
    follow: &Follow,
    id: i64,
    f: &Finish,
    seen: &Finish,
    at: clock::Instant,
) -> kit_db::Result<Vec<(String, Fired)>> {
    store.write(|tx| {
        if !exec::finish(tx, id, f, at)? {
            return Ok(Vec::new());
        }
        if let Some(task) = follow.task {
            kit_db::adapt::finish::on_finish(tx, task, id, seen, at)?;
        }
        if follow.chain {
            chain::after_finish(tx, follow.name, id, f.status, at)
        } else {
            Ok(Vec::new())
        }
    })
}

/// Starts the kit-run of each chained run just fired, at once.
pub fn start_chained(store: &Store, fired: &[(String, Fired)], now: Option<&str>) {
    for (task, f) in fired {
        if let Err(e) = kit_db::triggers::start(store.path(), task, f, now) {
            // The row is queued: the next kit-tick starts it.
            eprintln!("kit-run: cannot start kit-run for chained task {task}: {e} (kit-tick will)");
        }
    }
}

/// `--json`: the finished record with its output; otherwise a line on
/// stderr for anything but success.
pub fn report(store: &Store, name: &str, id: i64, ended: &Ended, json: bool) -> anyhow::Result<()> {
    if json {
        if let Some(rec) = exec::get(&store.conn, id)? {
            let mut v = serde_json::to_value(&rec)?;
            let out = exec::output(&store.conn, id)?.unwrap_or_default();
            v["output"] = serde_json::Value::String(String::from_utf8_lossy(&out).into_owned());
            kit_db::cli::print_json(&v);
        }
    } else if ended.finish.status != "success" {
        eprintln!(
            "kit-run: {name}: {} (exit {}){}; see `kit-ctl output {id}`",
            ended.finish.status,
            ended.code,
            ended
                .finish
                .reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
