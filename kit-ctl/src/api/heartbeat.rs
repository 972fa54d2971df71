//! `kit-ctl serve` beats in `supervisor_heartbeats` (tool `kit-ctl-serve`)
//! so that `status` and the dashboard show whether the API is up.

use super::App;
use kit_db::{clock, state, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub const TOOL: &str = "kit-ctl-serve";
const EVERY: Duration = Duration::from_secs(30);

/// Beats every 30 s until `stop` is set (runs on the main thread).
pub fn until(app: &App, stop: &AtomicBool) {
    let mut store: Option<Store> = None;
    let mut last: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        if last.is_none_or(|t| t.elapsed() >= EVERY) {
            last = Some(Instant::now());
            if let Err(e) = beat(app, &mut store) {
                // A missed beat is visible as an old one; it must not stop serving.
                eprintln!("kit-ctl serve: cannot record the heartbeat: {e}");
                store = None;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn beat(app: &App, store: &mut Option<Store>) -> anyhow::Result<()> {
    if store.is_none() {
        *store = Some(Store::open(&app.db_path)?);
    }
    let Some(s) = store.as_ref() else {
        return Ok(());
    };
    let now = clock::now(app.now_flag.as_deref())?;
    let info = serde_json::json!({ "listen": app.listen });
    s.write(|tx| state::beat(tx, TOOL, now, Some(&info)))?;
    Ok(())
}
