//! `kit-run --probe NAME...`: condition probes (see `kit_db::probe`), run
//! side by side (at most `PARALLEL` at once) so one slow probe does not
//! hold up the others. The threads share the one connection (behind a
//! mutex, held only for the short reads and the recording): a second
//! connection in the same process would break SQLite's POSIX locks.
//! Exit 0 whatever the probes answered (answers are recorded, not
//! kit-run's verdict); 1 when a probe could not be recorded; 125 when
//! kit-run itself fails.

use kit_db::{clock, Store};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

const PARALLEL: usize = 8;

pub fn run(
    store: Store,
    tasks: &[String],
    now_flag: Option<&str>,
    json: bool,
) -> anyhow::Result<i32> {
    let injected = clock::is_injected(now_flag);
    let fixed = clock::now(now_flag)?;
    let now_text = clock::fmt(fixed);
    let injected_text = injected.then_some(now_text.as_str());
    let now_of = || if injected { fixed } else { chrono::Utc::now() };
    let next = AtomicUsize::new(0);
    let failures = AtomicUsize::new(0);
    let db = Mutex::new(store);
    std::thread::scope(|s| {
        for _ in 0..PARALLEL.min(tasks.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(task) = tasks.get(i) else { break };
                let one = || -> kit_db::Result<kit_db::probe::Report> {
                    let (loaded, path) = {
                        let store = db.lock().unwrap_or_else(|e| e.into_inner());
                        (
                            kit_db::probe::load(&store, task)?,
                            store.path().to_path_buf(),
                        )
                    };
                    let probed = kit_db::probe::run::probe(&loaded.task, &path, &loaded.zone);
                    let store = db.lock().unwrap_or_else(|e| e.into_inner());
                    kit_db::probe::settle(&store, &loaded.task, &probed, now_of(), injected_text)
                };
                match one() {
                    Ok(report) => {
                        let _store = db.lock().unwrap_or_else(|e| e.into_inner());
                        if json {
                            kit_db::cli::print_json(&report);
                        } else {
                            println!(
                                "{task}: probe {} ({}){}",
                                report.result,
                                report.decision,
                                report
                                    .execution_id
                                    .map(|id| format!(": execution #{id}"))
                                    .unwrap_or_default()
                            );
                        }
                    }
                    Err(e) => {
                        eprintln!("kit-run: probe of {task}: {e}");
                        failures.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    db.into_inner().unwrap_or_else(|e| e.into_inner()).release();
    Ok(if failures.load(Ordering::SeqCst) > 0 {
        1
    } else {
        0
    })
}
