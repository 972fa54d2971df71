//! `metrics`: Prometheus text exposition (format 0.0.4) for node_exporter's
//! textfile collector or any scraper: `kit-ctl metrics > $DIR/kit.prom.$$ &&
//! mv $DIR/kit.prom.$$ $DIR/kit.prom`. `render` is what the API serves.
//!
//! Counters count the history the DB holds: `kit-db prune` lowers them,
//! which Prometheus treats as a counter reset (rate() stays right).

use super::status::{running_and_queued, streak, FAILURES};
use super::Ctx;
use kit_db::clock::{self, Instant};
use kit_db::{state, Store};
use rusqlite::OptionalExtension;
use std::fmt::Write;

/// One metric family being written: HELP and TYPE first, then samples.
struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &'static str, kind: &str, help: &str) -> Family<'a> {
        let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family { out, name }
    }
    fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }
}

/// A family with one sample per task given (labelled `task`).
fn per_task<'t>(
    out: &mut String,
    name: &'static str,
    kind: &str,
    help: &str,
    samples: impl IntoIterator<Item = (&'t str, f64)>,
) {
    let mut f = Family::new(out, name, kind, help);
    for (task, value) in samples {
        f.sample(&[("task", task)], value);
    }
}

/// A gauge family with one unlabelled sample.
fn gauge(out: &mut String, name: &'static str, help: &str, value: f64) {
    Family::new(out, name, "gauge", help).sample(&[], value);
}

/// Label values escape backslash, double quote and line feed.
pub fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// HELP text escapes backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.3}")
    }
}

fn seconds(stored: &str) -> Option<f64> {
    clock::parse_stored(stored).map(|t| t.timestamp_millis() as f64 / 1000.0)
}

/// Per task: the newest success, the newest finished run, failing or not.
struct TaskFacts {
    name: String,
    enabled: bool,
    daemon: bool,
    last_success: Option<f64>,
    last_duration: Option<f64>,
    last_status: Option<String>,
}

fn task_facts(store: &Store) -> anyhow::Result<Vec<TaskFacts>> {
    let conn = &store.conn;
    let mut tasks = conn.prepare_cached(
        "SELECT name, enabled, schedule = '@daemon' FROM supervisor_tasks ORDER BY name",
    )?;
    let rows: Vec<(String, bool, bool)> = tasks
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get::<_, i64>(1)? != 0,
                r.get::<_, i64>(2)? != 0,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut success = conn.prepare_cached(
        "SELECT finished_at FROM supervisor_executions WHERE task = ?1 AND status = 'success'
         ORDER BY id DESC LIMIT 1",
    )?;
    let mut last = conn.prepare_cached(
        "SELECT status, duration_ms FROM supervisor_executions
         WHERE task = ?1 AND status NOT IN ('queued','running','skipped','missed') ORDER BY id DESC LIMIT 1",
    )?;
    let mut out = Vec::new();
    for (name, enabled, daemon) in rows {
        let last_success: Option<Option<String>> =
            success.query_row([&name], |r| r.get(0)).optional()?;
        let last_run: Option<(String, Option<i64>)> = last
            .query_row([&name], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        out.push(TaskFacts {
            enabled,
            daemon,
            last_success: last_success.flatten().as_deref().and_then(seconds),
            last_duration: last_run
                .as_ref()
                .and_then(|(_, d)| d.map(|ms| ms as f64 / 1000.0)),
            last_status: last_run.map(|(s, _)| s),
            name,
        });
    }
    Ok(out)
}

/// The whole exposition, ending with a newline.
pub fn render(store: &Store, now: Instant) -> anyhow::Result<String> {
    let conn = &store.conn;
    let mut out = String::new();

    {
        let mut f = Family::new(
            &mut out,
            "kit_executions_total",
            "counter",
            "Finished executions recorded in the database, by task and final status.",
        );
        let mut stmt = conn.prepare_cached(
            "SELECT task, status, count(*) FROM supervisor_executions
             WHERE status NOT IN ('queued','running') GROUP BY task, status ORDER BY task, status",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (task, status, n): (String, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            f.sample(&[("task", &task), ("status", &status)], n as f64);
        }
    }

    let tasks = task_facts(store)?;
    per_task(
        &mut out,
        "kit_task_enabled",
        "gauge",
        "1 if the task is enabled, else 0.",
        tasks
            .iter()
            .map(|t| (t.name.as_str(), t.enabled as i64 as f64)),
    );
    per_task(
        &mut out,
        "kit_task_last_success_timestamp_seconds",
        "gauge",
        "When the task's latest successful execution finished (Unix time).",
        tasks
            .iter()
            .filter_map(|t| Some((t.name.as_str(), t.last_success?))),
    );
    per_task(
        &mut out,
        "kit_task_last_duration_seconds",
        "gauge",
        "How long the task's latest finished execution took.",
        tasks
            .iter()
            .filter_map(|t| Some((t.name.as_str(), t.last_duration?))),
    );
    let mut streaks = Vec::new();
    for t in tasks.iter().filter(|t| !t.daemon) {
        let failing = t
            .last_status
            .as_deref()
            .is_some_and(|s| FAILURES.contains(&s));
        let n = if failing { streak(conn, &t.name)? } else { 0 };
        streaks.push((t.name.as_str(), n as f64));
    }
    per_task(
        &mut out,
        "kit_task_failure_streak",
        "gauge",
        "Consecutive failed, timed-out, lost or unstartable executions of the task (0 when its latest run succeeded).",
        streaks,
    );

    let daemons = kit_db::daemon::state::list(conn)?;
    let declared: Vec<&TaskFacts> = tasks.iter().filter(|t| t.daemon && t.enabled).collect();
    let up: Vec<(&str, bool)> = declared
        .iter()
        .map(|t| {
            let up = daemons.iter().any(|d| d.task == t.name && d.is_up());
            (t.name.as_str(), up)
        })
        .collect();
    per_task(
        &mut out,
        "kit_daemon_up",
        "gauge",
        "1 if the daemon's process is running, else 0.",
        up.iter().map(|(name, up)| (*name, *up as i64 as f64)),
    );
    gauge(
        &mut out,
        "kit_daemons_up",
        "Enabled daemons whose process is running.",
        up.iter().filter(|(_, up)| *up).count() as f64,
    );
    gauge(
        &mut out,
        "kit_daemons_total",
        "Enabled daemons declared.",
        declared.len() as f64,
    );
    per_task(
        &mut out,
        "kit_daemon_restarts_total",
        "counter",
        "Starts of the daemon after its first, since kit-keep first saw it.",
        daemons.iter().map(|d| (d.task.as_str(), d.restarts as f64)),
    );
    per_task(
        &mut out,
        "kit_daemon_quarantined",
        "gauge",
        "1 if kit-keep holds the daemon in quarantine after a crash loop.",
        daemons
            .iter()
            .map(|d| (d.task.as_str(), (d.state == "quarantined") as i64 as f64)),
    );

    {
        let mut f = Family::new(
            &mut out,
            "kit_heartbeat_age_seconds",
            "gauge",
            "Seconds since the tool's last heartbeat (kit-tick: stale after 180, kit-keep: after 60).",
        );
        for tool in ["kit-tick", "kit-keep", "kit-heal", "kit-ctl-serve"] {
            if let Some(h) = state::heartbeat(conn, tool)? {
                if let Some(age) = h.age(now) {
                    f.sample(
                        &[("tool", tool)],
                        age.num_milliseconds().max(0) as f64 / 1000.0,
                    );
                }
            }
        }
    }

    {
        // Absolute times, unlike the ages above: a textfile collector keeps
        // serving a stale file, and `time() - this` keeps growing with it, so
        // an alert on it fires even when nothing writes metrics any more.
        let mut f = Family::new(
            &mut out,
            "kit_heartbeat_timestamp_seconds",
            "gauge",
            "When the tool last wrote its heartbeat (Unix time).",
        );
        for tool in ["kit-tick", "kit-keep", "kit-heal", "kit-ctl-serve"] {
            if let Some(t) = state::heartbeat(conn, tool)?.and_then(|h| seconds(&h.beat_at)) {
                f.sample(&[("tool", tool)], t);
            }
        }
    }
    gauge(
        &mut out,
        "kit_metrics_generated_timestamp_seconds",
        "When this exposition was written (Unix time): alert on `time() - this` to catch a stale textfile.",
        now.timestamp_millis() as f64 / 1000.0,
    );
    health_facts(&mut out, store)?;
    pace(&mut out, conn, now)?;

    let (running, queued) = running_and_queued(conn)?;
    gauge(
        &mut out,
        "kit_queue_depth",
        "Executions queued and not started yet: claimed slots and triggered runs (queued).",
        queued as f64,
    );
    triggers(&mut out, conn)?;
    gauge(
        &mut out,
        "kit_running_executions",
        "Task executions running now (daemons are counted by kit_daemons_up).",
        running as f64,
    );
    let pending: i64 = conn.query_row(
        "SELECT count(*) FROM supervisor_events WHERE delivery = 'pending'",
        [],
        |r| r.get(0),
    )?;
    gauge(
        &mut out,
        "kit_notifications_pending",
        "Events recorded and not yet delivered to the notify command.",
        pending as f64,
    );
    trigger_facts(&mut out, conn)?;
    Ok(out)
}

/// Conditions and file watches: one sample per task that has one.
fn trigger_facts(out: &mut String, conn: &rusqlite::Connection) -> anyhow::Result<()> {
    let probes = kit_db::probe::store::list(conn)?;
    let watches = kit_db::watch::list(conn)?;
    let result = |p: &kit_db::probe::store::ProbeState, v: &str| {
        f64::from(u8::from(p.last_result.as_deref() == Some(v)))
    };
    per_task(
        out,
        "kit_condition_true",
        "gauge",
        "1 when the condition's last probe answered true.",
        probes.iter().map(|p| (p.task.as_str(), result(p, "true"))),
    );
    per_task(
        out,
        "kit_condition_probe_failing",
        "gauge",
        "1 while the condition's probe fails (exit not 0/1, timeout, cannot start).",
        probes.iter().map(|p| {
            (
                p.task.as_str(),
                f64::from(u8::from(p.failing_since.is_some())),
            )
        }),
    );
    per_task(
        out,
        "kit_condition_fired_total",
        "counter",
        "Times the condition fired its task.",
        probes.iter().map(|p| (p.task.as_str(), p.fired as f64)),
    );
    per_task(
        out,
        "kit_condition_next_probe_timestamp_seconds",
        "gauge",
        "When the condition is probed next (Unix time).",
        probes
            .iter()
            .filter_map(|p| Some((p.task.as_str(), seconds(p.next_due.as_deref()?)?))),
    );
    per_task(
        out,
        "kit_watch_fired_total",
        "counter",
        "Times a file watch fired its task.",
        watches.iter().map(|w| (w.task.as_str(), w.fired as f64)),
    );
    per_task(
        out,
        "kit_watch_last_change_timestamp_seconds",
        "gauge",
        "When kit-keep last saw a watched path change (Unix time).",
        watches
            .iter()
            .filter_map(|w| Some((w.task.as_str(), seconds(w.last_change_at.as_deref()?)?))),
    );
    Ok(())
}

/// What the alert rules (examples/prometheus/kit-rules.yml) need beyond
/// the counts: recovery states, effective thresholds, missed slots,
/// undelivered notifications and the size of the DB and its WAL.
fn health_facts(out: &mut String, store: &Store) -> anyhow::Result<()> {
    let conn = &store.conn;
    let settings = kit_db::settings::Settings::load(conn)?;
    let tasks = kit_db::task::repo::list(conn)?;
    per_task(
        out,
        "kit_task_failure_threshold",
        "gauge",
        "Consecutive failures after which kit-heal starts a recovery episode (recovery.failure_threshold).",
        tasks.iter().map(|r| {
            let p = kit_db::recovery::policy(&r.task, &settings);
            (r.task.name.as_str(), p.failure_threshold as f64)
        }),
    );
    {
        let mut f = Family::new(
            out,
            "kit_task_recovery_state",
            "gauge",
            "1 for a task's recovery state when it is not ok (failing, recovering or escalated).",
        );
        for r in kit_db::recovery::list_active(conn)? {
            if r.in_episode() {
                f.sample(&[("task", &r.task), ("state", r.state.as_str())], 1.0);
            }
        }
    }
    {
        let mut f = Family::new(
            out,
            "kit_task_last_missed_timestamp_seconds",
            "gauge",
            "The newest slot of the task recorded as missed (Unix time).",
        );
        // One index seek per task (task, status, id), not a scan of the
        // history: the newest missed row is the newest missed slot.
        let mut stmt = conn.prepare_cached(
            "SELECT scheduled_for FROM supervisor_executions
             WHERE task = ?1 AND status = 'missed' ORDER BY id DESC LIMIT 1",
        )?;
        for r in &tasks {
            let slot: Option<Option<String>> = stmt
                .query_row([&r.task.name], |row| row.get(0))
                .optional()?;
            if let Some(t) = slot.flatten().as_deref().and_then(seconds) {
                f.sample(&[("task", &r.task.name)], t);
            }
        }
    }
    let (failed, oldest): (i64, Option<String>) = conn.query_row(
        "SELECT (SELECT count(*) FROM supervisor_events WHERE delivery = 'failed'),
                (SELECT min(created_at) FROM supervisor_events WHERE delivery = 'pending')",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    gauge(
        out,
        "kit_notifications_failed",
        "Events whose delivery to the notify command failed for good.",
        failed as f64,
    );
    let mut f = Family::new(
        out,
        "kit_notification_oldest_pending_timestamp_seconds",
        "gauge",
        "When the oldest event still waiting for delivery was recorded (Unix time); no sample when none waits.",
    );
    if let Some(t) = oldest.as_deref().and_then(seconds) {
        f.sample(&[], t);
    }
    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len()) as f64;
    let mut wal = store.path().as_os_str().to_owned();
    wal.push("-wal");
    gauge(
        out,
        "kit_db_size_bytes",
        "Size of the kit database file.",
        size(store.path()),
    );
    gauge(
        out,
        "kit_db_wal_size_bytes",
        "Size of the database's write-ahead log (0 when there is none).",
        size(std::path::Path::new(&wal)),
    );
    Ok(())
}

/// Adaptive schedules: what changes a task's pace now, and when it ends.
fn pace(out: &mut String, conn: &rusqlite::Connection, now: Instant) -> anyhow::Result<()> {
    let active = kit_db::adapt::rows::active(conn, None, now)?;
    let mut f = Family::new(
        out,
        "kit_schedule_change_active",
        "gauge",
        "1 per adaptation, override or pause in force (kind: adapt, schedule, pause; set_by: who).",
    );
    for o in &active {
        f.sample(
            &[("task", &o.task), ("kind", &o.kind), ("set_by", &o.set_by)],
            1.0,
        );
    }
    let mut f = Family::new(
        out,
        "kit_schedule_change_end_timestamp_seconds",
        "gauge",
        "When each adaptation, override or pause in force ends (Unix time).",
    );
    for o in &active {
        f.sample(
            &[("task", &o.task), ("kind", &o.kind)],
            o.end().timestamp() as f64,
        );
    }
    let pending = kit_db::adapt::rows::pending_at(conn, None)?;
    gauge(
        out,
        "kit_one_shot_runs_pending",
        "One-shot runs (kit-ctl at) waiting for their time.",
        pending.len() as f64,
    );
    Ok(())
}

pub fn metrics(ctx: &Ctx) -> anyhow::Result<i32> {
    let now = ctx.now()?;
    let store = ctx.open_existing()?;
    let text = render(&store, now)?;
    if ctx.json {
        kit_db::cli::print_json(
            &serde_json::json!({ "format": "prometheus-text-0.0.4", "text": text }),
        );
    } else {
        print!("{text}");
    }
    Ok(0)
}

/// Triggers received (by task, source and outcome) and triggered runs
/// waiting to start (by task).
fn triggers(out: &mut String, conn: &rusqlite::Connection) -> anyhow::Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT task, source, outcome, count(*) FROM supervisor_triggers
         GROUP BY task, source, outcome ORDER BY task, source, outcome",
    )?;
    let rows: Vec<(String, String, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut f = Family::new(
        out,
        "kit_triggers_total",
        "counter",
        "Triggers received (events, chains, conditions, watches), by what became of each: queued (a run of its own), coalesced, duplicate, refused, rate_limited.",
    );
    for (task, source, outcome, n) in &rows {
        f.sample(
            &[("task", task), ("source", source), ("outcome", outcome)],
            *n as f64,
        );
    }
    let mut pending: std::collections::BTreeMap<String, f64> = Default::default();
    for w in kit_db::triggers::pending::waiting(conn, None)? {
        *pending.entry(w.task).or_default() += 1.0;
    }
    per_task(
        out,
        "kit_triggered_pending",
        "gauge",
        "Triggered runs queued and waiting to start (a debounce, or the run in progress).",
        pending.iter().map(|(t, n)| (t.as_str(), *n)),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn numbers_are_integers_when_whole() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(1.5), "1.500");
        assert_eq!(number(f64::INFINITY), "+Inf");
    }
}
