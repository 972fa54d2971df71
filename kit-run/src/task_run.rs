//! Running a declared task (or an ad-hoc command) end to end: pick the row,
//! honour overlap, run the attempts, record each, call kit-heal on failure.

use crate::attempt::{self, STOP_SIGNAL};
use crate::overlap::{self, skipped};
use crate::record;
use crate::start::{Plan, Starter};
use crate::triggered;
use anyhow::Context;
use kit_db::exec::{self, Recorder};
use kit_db::runenv::{self, RunInfo};
use kit_db::settings::Settings;
use kit_db::task::{repo, Overlap, Task};
use kit_db::{clock, Store};
use std::sync::atomic::Ordering;
use std::time::Duration;

pub struct Options {
    pub now_flag: Option<String>,
    pub json: bool,
    pub stream: bool,
    pub heal: bool,
    pub trigger: String,
    /// `--execution ID`: start exactly that queued triggered row or nothing.
    pub exact: bool,
}

/// SIGTERM/SIGINT/SIGHUP to kit-run: remember the signal; the attempt loop
/// forwards it to the command's group, waits the grace, records `killed`.
pub fn install_signal_handlers() -> anyhow::Result<()> {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        unsafe {
            signal_hook::low_level::register(sig, move || STOP_SIGNAL.store(sig, Ordering::SeqCst))
        }
        .context("installing signal handlers")?;
    }
    Ok(())
}

pub fn stopping() -> bool {
    STOP_SIGNAL.load(Ordering::SeqCst) != 0
}

/// Runs task `name` once (plus its retries). Returns the exit code to report.
/// `want` names a specific queued execution (from `kit-tick --json`).
pub fn run_task(
    store: &Store,
    name: &str,
    want: Option<i64>,
    opts: &Options,
) -> anyhow::Result<i32> {
    let mut now = clock::now(opts.now_flag.as_deref())?;
    let injected = clock::is_injected(opts.now_flag.as_deref());
    let conn = &store.conn;
    // A previous kit-run of this task that died is reconciled before its
    // stale row could confuse the overlap check.
    exec::reconcile_lost(conn, Some(name), now)?;
    let row = match repo::get(conn, name)? {
        Some(row) => row,
        None => {
            // A slot claimed just before its task was removed is settled
            // now with the real reason, not left queued for kit-heal.
            if let Some(q) = claimed(conn, name, want)? {
                exec::finish(
                    conn,
                    q.id,
                    &skipped(&format!("the task was removed after {}", queued_how(&q))),
                    now,
                )?;
                return Ok(0);
            }
            repo::require(conn, name)?
        }
    };
    let task = row.task;
    let queued = claimed(conn, name, want)?;
    if opts.exact && queued.is_none() {
        return Ok(0); // started or settled by someone else: nothing to do
    }
    if task.is_daemon() {
        if let (true, Some(q)) = (opts.exact, &queued) {
            let why = "the task became an @daemon after it was triggered";
            exec::finish(conn, q.id, &skipped(why), now)?;
            return Ok(0);
        }
        anyhow::bail!("{name:?} is a daemon: kit-keep runs it (use kit-ctl restart {name})");
    }
    if !task.enabled {
        if let Some(q) = &queued {
            exec::finish(
                conn,
                q.id,
                &skipped(&format!("the task was disabled after {}", queued_how(q))),
                now,
            )?;
            return Ok(0);
        }
    }
    // jitter: a stable offset per task and slot, so a fleet of tasks due at
    // the same minute does not start in the same second.
    if let (Some(j), Some(q)) = (task.jitter, &queued) {
        if q.trigger == "schedule" && !j.0.is_zero() {
            let offset = stable_offset(
                &format!("{name}@{}", q.scheduled_for.clone().unwrap_or_default()),
                j.0,
            );
            if injected {
                now += chrono::Duration::from_std(offset).unwrap_or_default();
            } else {
                std::thread::sleep(offset);
            }
        }
    }

    // A triggered run waits its turn (debounce, the run in progress) as
    // the row's owner, then takes the lock.
    let mut waited_lock = None;
    if let (true, Some(q)) = (opts.exact, &queued) {
        match triggered::wait_turn(store, &task, q.id, opts, now)? {
            triggered::Turn::Run(l) => waited_lock = Some(l),
            triggered::Turn::Leave => return Ok(0),
        }
        if !injected {
            now = clock::now(opts.now_flag.as_deref())?;
        }
        // It may have been settled while we waited (the task removed or
        // disabled: the next kit-run of it settles the row with why).
        if claimed(conn, name, want)?.is_none() {
            return Ok(0);
        }
    }
    let lock = match (waited_lock, task.overlap()) {
        (Some(l), _) => l,
        (None, Overlap::Allow) => None,
        (None, Overlap::Skip) => match overlap::try_lock(store.path(), name)? {
            Some(l) => Some(l),
            None => {
                let why = overlap::still_running(conn, name)?;
                overlap::record_skip(
                    store,
                    name,
                    queued.as_ref().map(|q| q.id),
                    &opts.trigger,
                    &why,
                    now,
                )?;
                if !opts.json {
                    eprintln!("kit-run: {name}: skipped: {why}");
                }
                // A skip may complete a streak kit-heal notifies at once;
                // in the pipe form the tick's own kit-heal ran before it.
                if opts.heal {
                    start_heal(store, name, injected.then_some(clock::fmt(now)));
                }
                return Ok(0);
            }
        },
        (None, Overlap::Replace) => Some(overlap::replace_running(store, &task)?),
    };

    let settings = Settings::load(conn)?;
    let zone = task
        .timezone
        .clone()
        .unwrap_or_else(|| settings.zone().name().to_string());
    let starter = Starter {
        store,
        task: name,
        trigger: &opts.trigger,
        who: Recorder::this_process(),
        live_clock: !injected,
        events: Default::default(),
    };
    let limits = attempt::Limits {
        timeout: task.timeout(),
        grace: task.kill_grace(),
        cap: task.output_cap() as usize,
        stream: opts.stream,
        success_exit: task.success_exit.clone().unwrap_or_default(),
    };
    // The execution's own variables (id, trigger, attempt) reach the
    // command through the spawn gate, once its row exists.
    let env = runenv::environment(
        &task,
        &RunInfo {
            run: None,
            db: store.path(),
            zone: &zone,
        },
    );
    let mut plan = match queued {
        Some(q) => Plan::queued(q, opts.exact),
        None => Plan::first(&opts.trigger),
    };
    let mut first_id = None;
    let code = loop {
        let spec = runenv::spawn_spec(&task, env.clone());
        let (slot, ended) = starter.run(&plan, spec, &limits, now)?;
        let first = *first_id.get_or_insert(slot.id);
        let finished_at =
            slot.started_at + chrono::Duration::milliseconds(ended.finish.duration_ms.unwrap_or(0));
        let retryable = matches!(ended.finish.status, "failed" | "timeout");
        let last = !retryable || slot.attempt > task.retries() as i64 || stopping();
        let chained = record::result(
            store,
            name,
            Some(&task),
            slot.id,
            &ended.finish,
            finished_at,
            last,
        )?;
        let now_text = clock::fmt(finished_at);
        record::start_chained(store, &chained, injected.then_some(now_text.as_str()));
        record::report(store, name, slot.id, &ended, opts.json)?;
        if last {
            if opts.heal && matches!(ended.finish.status, "failed" | "timeout" | "error" | "lost") {
                start_heal(store, name, injected.then_some(clock::fmt(finished_at)));
            }
            break ended.code;
        }
        let delay = backoff(&task, slot.attempt);
        now = finished_at + chrono::Duration::from_std(delay).unwrap_or_default();
        if !injected {
            sleep_unless_stopped(delay);
            now = clock::now(opts.now_flag.as_deref())?;
        }
        if stopping() {
            break ended.code;
        }
        plan = Plan::New {
            trigger: "retry".into(),
            attempt: slot.attempt + 1,
            scheduled_for: slot.scheduled_for,
            retry_of: Some(first),
        };
    };
    drop(lock);
    if let Some(ev) = starter.events.borrow().as_ref() {
        ev.cleanup();
    }
    Ok(code)
}

/// How a queued row came to be, for the reason of a row settled unrun.
fn queued_how(q: &exec::Execution) -> &'static str {
    if kit_db::triggers::is_triggered(&q.trigger) {
        "it was triggered"
    } else {
        "this slot was claimed"
    }
}

/// The queued row this run takes: the one named (from `kit-tick --json`),
/// else the task's oldest.
fn claimed(
    conn: &rusqlite::Connection,
    name: &str,
    want: Option<i64>,
) -> anyhow::Result<Option<exec::Execution>> {
    Ok(match want {
        Some(id) => exec::get(conn, id)?.filter(|e| e.status == "queued" && e.task == name),
        None => exec::oldest_queued(conn, name)?,
    })
}

/// retry_delay doubled per attempt, capped at retry_max_delay.
pub fn backoff(task: &Task, attempt: i64) -> Duration {
    let base = task.retry_delay();
    let factor = 2u32.saturating_pow((attempt - 1).clamp(0, 30) as u32);
    base.saturating_mul(factor).min(task.retry_max_delay())
}

fn sleep_unless_stopped(d: Duration) {
    let end = std::time::Instant::now() + d;
    while !stopping() {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

fn stable_offset(key: &str, max: Duration) -> Duration {
    // FNV-1a: stable across runs and platforms, unlike std's RandomState.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in key.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    let ms = max.as_millis().max(1) as u64;
    Duration::from_millis(h % ms)
}

/// Starts `kit-heal --task NAME` detached (it is idempotent: a second one
/// finds nothing new); the injected clock carries over.
fn start_heal(store: &Store, name: &str, now: Option<String>) {
    let _ = kit_db::launch::detached("kit-heal", store.path(), &["--task", name], now.as_deref());
}
