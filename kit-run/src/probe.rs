//! `kit-run --probe NAME`: one condition probe (see `kit_db::probe`).
//! Exit 0 whatever the probe answered (its answer is recorded, not kit-run's
//! verdict); 125 when kit-run itself fails.

use kit_db::{clock, Store};

pub fn run(store: &Store, task: &str, now_flag: Option<&str>, json: bool) -> anyhow::Result<i32> {
    let injected = clock::is_injected(now_flag);
    let fixed = clock::now(now_flag)?;
    let now_text = clock::fmt(fixed);
    let now_of = || if injected { fixed } else { chrono::Utc::now() };
    let report =
        kit_db::probe::run_claimed(store, task, now_of, injected.then_some(now_text.as_str()))?;
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
    Ok(0)
}
