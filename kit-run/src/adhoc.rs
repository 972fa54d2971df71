//! `kit-run --name LABEL -- CMD ARGS...`: wrap any command and record it.
//! It inherits the caller's environment and directory, like chronic.

use crate::start::{Plan, Starter};
use crate::task_run::Options;
use crate::{attempt, record};
use kit_db::exec::Recorder;
use kit_db::process::SpawnSpec;
use kit_db::runenv::RunVars;
use kit_db::task::model::defaults;
use kit_db::{clock, Store};

pub fn run(
    store: &Store,
    label: &str,
    command: &[String],
    timeout: Option<&str>,
    opts: &Options,
) -> anyhow::Result<i32> {
    kit_db::task::validate::validate_name(label)
        .map_err(|e| anyhow::anyhow!("--name: {}", e.message))?;
    if command.is_empty() {
        anyhow::bail!("--name needs a command after --");
    }
    let timeout = timeout
        .map(|t| kit_db::units::Dur::parse(t).map_err(|e| anyhow::anyhow!("--timeout: {e}")))
        .transpose()?;
    let now = clock::now(opts.now_flag.as_deref())?;
    // An ad-hoc run is recorded as `adhoc` unless the caller said more
    // precisely what it is (kit-heal's exec: actions pass `recovery`).
    let trigger = if opts.trigger == "manual" {
        "adhoc"
    } else {
        opts.trigger.as_str()
    };
    let starter = Starter {
        store,
        task: label,
        trigger,
        who: Recorder::this_process(),
        live_clock: !clock::is_injected(opts.now_flag.as_deref()),
        events: Default::default(),
    };
    let mut spec = SpawnSpec::new(command.iter().cloned());
    spec.env = std::env::vars_os().collect();
    // The caller's own KIT_* run variables describe the caller's run, not
    // this one: the gate hands over this run's.
    spec.env
        .retain(|(k, _)| !RunVars::NAMES.iter().any(|v| k == *v));
    let limits = attempt::Limits {
        timeout: timeout.map(|d| d.0),
        grace: defaults::KILL_GRACE,
        cap: defaults::OUTPUT_CAP as usize,
        stream: opts.stream,
        success_exit: Vec::new(),
    };
    let (slot, ended) = starter.run(&Plan::first(trigger), spec, &limits, now)?;
    let finished_at =
        slot.started_at + chrono::Duration::milliseconds(ended.finish.duration_ms.unwrap_or(0));
    record::result(
        store,
        label,
        None,
        slot.id,
        &ended.finish,
        finished_at,
        false,
    )?;
    record::report(store, label, slot.id, &ended, opts.json)?;
    Ok(ended.code)
}
