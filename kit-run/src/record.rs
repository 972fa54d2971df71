//! Recording and reporting how an attempt ended.

use crate::attempt::Ended;
use anyhow::Context;
use kit_db::exec::{self, Finish};
use kit_db::{clock, Store};

/// Records how the attempt ended. When the disk is too full for the
/// captured output, the verdict is recorded without it (and says so)
/// rather than not at all; if even that fails, kit-run exits 125 and the
/// row is settled `lost` by the next tool.
pub fn result(
    conn: &rusqlite::Connection,
    name: &str,
    id: i64,
    f: &Finish,
    at: clock::Instant,
) -> anyhow::Result<()> {
    match exec::finish(conn, id, f, at) {
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
            exec::finish(conn, id, &lean, at).context("recording the execution's result")?;
            eprintln!("kit-run: {name}: execution #{id}: output not recorded: no space left for the database");
            Ok(())
        }
        Err(e) => Err(e).context("recording the execution's result"),
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
