//! Running a declared task (or an ad-hoc command) end to end: pick the row,
//! honour overlap, run the attempts, record each, call kit-heal on failure.

use crate::attempt::{self, Ended, STOP_SIGNAL};
use crate::overlap;
use anyhow::Context;
use kit_db::exec::{self, Finish, Recorder};
use kit_db::process::{self, SpawnSpec, Terminate};
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

/// The row an attempt records into.
struct Slot {
    id: i64,
    trigger: String,
    attempt: i64,
    scheduled_for: Option<String>,
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
                    &skip("the task was removed after this slot was claimed"),
                    now,
                )?;
                return Ok(0);
            }
            repo::require(conn, name)?
        }
    };
    let task = row.task;
    if task.is_daemon() {
        anyhow::bail!("{name:?} is a daemon: kit-keep runs it (use kit-ctl restart {name})");
    }
    let queued = claimed(conn, name, want)?;
    if !task.enabled {
        if let Some(q) = &queued {
            exec::finish(
                conn,
                q.id,
                &skip("the task was disabled after this slot was claimed"),
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

    let lock = match task.overlap() {
        Overlap::Allow => None,
        Overlap::Skip => match overlap::try_lock(store.path(), name)? {
            Some(l) => Some(l),
            None => {
                let why = still_running(conn, name)?;
                record_skip(
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
                return Ok(0);
            }
        },
        Overlap::Replace => Some(replace_running(store, &task)?),
    };

    let who = Recorder::this_process();
    let settings = Settings::load(conn)?;
    let zone = task
        .timezone
        .clone()
        .unwrap_or_else(|| settings.zone().name().to_string());
    let first = store.write(|tx| {
        if let Some(q) = &queued {
            if exec::start_queued(tx, q.id, &who, now)? {
                return Ok(Slot {
                    id: q.id,
                    trigger: q.trigger.clone(),
                    attempt: 1,
                    scheduled_for: q.scheduled_for.clone(),
                });
            }
        }
        let id = exec::insert_running(tx, name, &opts.trigger, 1, None, None, &who, now)?;
        Ok(Slot {
            id,
            trigger: opts.trigger.clone(),
            attempt: 1,
            scheduled_for: None,
        })
    })?;

    let limits = attempt::Limits {
        timeout: task.timeout(),
        grace: task.kill_grace(),
        cap: task.output_cap() as usize,
        stream: opts.stream,
    };
    let mut slot = first;
    let first_id = slot.id;
    let code = loop {
        let info = RunInfo {
            execution_id: Some(slot.id),
            trigger: &slot.trigger,
            attempt: Some(slot.attempt),
            scheduled_for: slot.scheduled_for.as_deref(),
            db: store.path(),
            zone: &zone,
        };
        let spec = runenv::spawn_spec(&task, runenv::environment(&task, &info));
        let ended = run_attempt(store, slot.id, spec, &limits)?;
        let finished_at =
            now + chrono::Duration::milliseconds(ended.finish.duration_ms.unwrap_or(0));
        record_result(conn, name, slot.id, &ended.finish, finished_at)?;
        report(store, name, slot.id, &ended, opts)?;
        let retryable = matches!(ended.finish.status, "failed" | "timeout");
        if !retryable || slot.attempt > task.retries() as i64 || stopping() {
            if opts.heal && matches!(ended.finish.status, "failed" | "timeout" | "error" | "lost") {
                let now_text = clock::fmt(finished_at);
                let _ = kit_db::launch::detached(
                    "kit-heal",
                    store.path(),
                    &["--task", name],
                    injected.then_some(now_text.as_str()),
                );
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
        let next_attempt = slot.attempt + 1;
        let sched = slot.scheduled_for.clone();
        let id = store.write(|tx| {
            exec::insert_running(
                tx,
                name,
                "retry",
                next_attempt,
                sched.as_deref(),
                Some(first_id),
                &who,
                now,
            )
        })?;
        slot = Slot {
            id,
            trigger: "retry".into(),
            attempt: next_attempt,
            scheduled_for: sched,
        };
    };
    drop(lock);
    Ok(code)
}

/// Records how the attempt ended. When the disk is too full for the
/// captured output, the verdict is recorded without it (and says so)
/// rather than not at all; if even that fails, kit-run exits 125 and the
/// row is settled `lost` by the next tool.
fn record_result(
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

/// Runs one attempt, noting the child's pid on the row as soon as it exists
/// (so a kit-run killed mid-run leaves enough to stop its leftovers).
fn run_attempt(
    store: &Store,
    id: i64,
    spec: SpawnSpec,
    limits: &attempt::Limits,
) -> anyhow::Result<Ended> {
    let mut on_spawn = |pid: i32, start: process::ProcStart| -> anyhow::Result<()> {
        exec::set_child(&store.conn, id, pid, Some(start))?;
        Ok(())
    };
    Ok(attempt::run(spec, limits, &mut on_spawn))
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

fn skip(reason: &str) -> Finish {
    Finish {
        status: "skipped",
        reason: Some(reason.to_string()),
        exit_code: None,
        ..Default::default()
    }
}

/// Explains which run holds the task.
fn still_running(conn: &rusqlite::Connection, name: &str) -> anyhow::Result<String> {
    let running = exec::running_of(conn, name)?;
    Ok(match running.first() {
        Some((id, Some((pid, _)))) => format!(
            "overlap = skip and the previous run (execution #{id}, pid {pid}) is still running"
        ),
        Some((id, None)) => {
            format!("overlap = skip and the previous run (execution #{id}) is still running")
        }
        None => {
            "overlap = skip and a previous run of this task (retrying or starting) holds its lock"
                .into()
        }
    })
}

fn record_skip(
    store: &Store,
    name: &str,
    queued: Option<i64>,
    trigger: &str,
    why: &str,
    now: clock::Instant,
) -> anyhow::Result<()> {
    let who = Recorder::this_process();
    store.write(|tx| {
        let id = match queued {
            Some(id) => id,
            None => exec::insert_running(tx, name, trigger, 1, None, None, &who, now)?,
        };
        exec::finish(tx, id, &skip(why), now)?;
        Ok(())
    })?;
    Ok(())
}

/// overlap = replace: stop the running execution's process group (its
/// kit-run records it `killed`, with the reason set here), then take the lock.
fn replace_running(store: &Store, task: &Task) -> anyhow::Result<overlap::TaskLock> {
    if let Some(l) = overlap::try_lock(store.path(), &task.name)? {
        return Ok(l);
    }
    for (id, child) in exec::running_of(&store.conn, &task.name)? {
        exec::set_reason(
            &store.conn,
            id,
            "replaced by a newer run (overlap = replace)",
        )?;
        if let Some((pid, start)) = child {
            let _ = process::terminate_group(
                pid,
                Some((pid, start)),
                &Terminate {
                    grace: task.kill_grace(),
                    reap: false,
                    ..Terminate::default()
                },
            );
        }
    }
    overlap::lock(
        store.path(),
        &task.name,
        task.kill_grace() + Duration::from_secs(10),
    )?
    .with_context(|| {
        format!(
            "the previous run of {:?} did not stop; not starting a second one",
            task.name
        )
    })
}

fn report(store: &Store, name: &str, id: i64, ended: &Ended, opts: &Options) -> anyhow::Result<()> {
    if opts.json {
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

/// `kit-run --name LABEL -- CMD ARGS...`: wrap any command and record it.
/// It inherits the caller's environment and directory, like chronic.
pub fn adhoc(
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
    let who = Recorder::this_process();
    // An ad-hoc run is recorded as `adhoc` unless the caller said more
    // precisely what it is (kit-heal's exec: actions pass `recovery`).
    let trigger = if opts.trigger == "manual" {
        "adhoc"
    } else {
        opts.trigger.as_str()
    };
    let id =
        store.write(|tx| exec::insert_running(tx, label, trigger, 1, None, None, &who, now))?;
    let mut spec = SpawnSpec::new(command.iter().cloned());
    spec.env = std::env::vars_os().collect();
    let limits = attempt::Limits {
        timeout: timeout.map(|d| d.0),
        grace: kit_db::task::model::defaults::KILL_GRACE,
        cap: kit_db::task::model::defaults::OUTPUT_CAP as usize,
        stream: opts.stream,
    };
    let ended = run_attempt(store, id, spec, &limits)?;
    let finished_at = now + chrono::Duration::milliseconds(ended.finish.duration_ms.unwrap_or(0));
    record_result(&store.conn, label, id, &ended.finish, finished_at)?;
    report(store, label, id, &ended, opts)?;
    Ok(ended.code)
}
