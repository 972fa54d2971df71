//! Recording and reporting how an attempt ended.

use crate::attempt::Ended;
use anyhow::Context;
use kit_db::exec::{self, Finish};
use kit_db::task::Task;
use kit_db::{clock, Store};

/// Records how the attempt ended. When the disk is too full for the
/// captured output, the verdict is recorded without it (and says so)
/// rather than not at all; if even that fails, kit-run exits 125 and the
/// row is settled `lost` by the next tool.
pub fn result(
    store: &Store,
    name: &str,
    task: Option<&Task>,
    id: i64,
    f: &Finish,
    at: clock::Instant,
) -> anyhow::Result<()> {
    match finish_and_adapt(store, task, id, f, at) {
        Ok(_) => Ok(()),
        Err(e) if e.is_disk_full() && f.output.as_ref().is_some_and(|o| !o.is_empty()) => {
            let mut lean = f.clone();
            let n = lean.output.take().map_or(0, |o| o.len());
            let why =
                format!("its output ({n} bytes) was not recorded: no space left for the database");
            lean.reason = Some(match &f.reason {
                Some(r) => format!("{r}; {why}"),
                None => why,
            });
            // The rules still see the output that was captured.
            let mut adapt_view = lean.clone();
            adapt_view.output = f.output.clone();
            store
                .write(|tx| {
                    if let (true, Some(task)) = (exec::finish(tx, id, &lean, at)?, task) {
                        kit_db::adapt::finish::on_finish(tx, task, id, &adapt_view, at)?;
                    }
                    Ok(())
                })
                .context("recording the execution's result")?;
            eprintln!("kit-run: {name}: execution #{id}: output not recorded: no space left for the database");
            Ok(())
        }
        Err(e) => Err(e).context("recording the execution's result"),
    }
}

/// Finishes the row and, in the same transaction, starts or extends the
/// adaptations the run matches (`[[task.adapt]]`).
fn finish_and_adapt(
    store: &Store,
    task: Option<&Task>,
    id: i64,
    f: &Finish,
    at: clock::Instant,
) -> kit_db::Result<()> {
    store.write(|tx| {
        if let (true, Some(task)) = (exec::finish(tx, id, f, at)?, task) {
            kit_db::adapt::finish::on_finish(tx, task, id, f, at)?;
        }
        Ok(())
    })
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
