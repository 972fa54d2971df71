//! `history`: executions, newest first, filtered by task, status and time.
//! `query` is what the REST API calls too.

use super::Ctx;
use crate::output::{duration_ms, local_time, status as paint, table};
use clap::Args;
use kit_db::clock::{self, Instant};
use kit_db::exec::{self, Execution};
use kit_db::settings::Settings;
use kit_db::task::repo;
use kit_db::{Error, Store};

/// Every status an execution can have, for validating `--status`.
pub const STATUSES: &[&str] = &[
    "queued", "running", "success", "failed", "timeout", "killed", "skipped", "missed", "lost",
    "error",
];

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Only this task (or ad-hoc label)
    pub task: Option<String>,
    /// Only these statuses (comma-separated: success,failed,timeout,killed,skipped,missed,lost,error,queued,running)
    #[arg(long, value_name = "S")]
    pub status: Option<String>,
    /// Only executions created at or after T (RFC 3339, "YYYY-MM-DD HH:MM" UTC, or @UNIX_SECONDS)
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// Only executions created before T
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
    /// At most N executions
    #[arg(long, short = 'n', default_value_t = 50, value_name = "N")]
    pub limit: usize,
}

/// What to select. Times compare with `created_at` (for a scheduled slot,
/// the moment kit-tick claimed it; for other runs, when they started).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub task: Option<String>,
    pub statuses: Vec<String>,
    pub since: Option<Instant>,
    pub until: Option<Instant>,
    pub limit: usize,
    /// Only ids below this one (paging for the API: pass the last id seen).
    pub before_id: Option<i64>,
}

impl Filter {
    /// Builds a filter from user text, with errors that name the flag and
    /// the accepted forms.
    pub fn parse(
        task: Option<String>,
        status: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
        limit: usize,
    ) -> Result<Filter, Error> {
        let statuses = match status {
            None => vec![],
            Some(s) => parse_statuses(s)?,
        };
        let time = |flag: &str, v: Option<&str>| {
            v.map(|t| clock::parse_instant(t).map_err(|e| Error::invalid(format!("--{flag}: {e}"))))
                .transpose()
        };
        Ok(Filter {
            task,
            statuses,
            since: time("since", since)?,
            until: time("until", until)?,
            limit,
            before_id: None,
        })
    }
}

pub fn parse_statuses(text: &str) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for s in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !STATUSES.contains(&s) {
            return Err(Error::invalid(format!(
                "--status: unknown status {s:?} (accepted: {})",
                STATUSES.join(", ")
            )));
        }
        out.push(s.to_string());
    }
    Ok(out)
}

/// Executions matching `f`, newest first. A task name that is neither a
/// task nor in the history is an error suggesting close names; a deleted
/// task or an ad-hoc label still has its history.
pub fn query(store: &Store, f: &Filter) -> anyhow::Result<Vec<Execution>> {
    let mut sql = format!(
        "SELECT {} FROM supervisor_executions WHERE 1",
        exec::COLUMNS
    );
    let mut params: Vec<rusqlite::types::Value> = Vec::new();
    let mut bind = |sql: &mut String, clause: &str, v: rusqlite::types::Value| {
        params.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", params.len())));
    };
    if let Some(t) = &f.task {
        bind(&mut sql, " AND task = ?", t.clone().into());
    }
    if !f.statuses.is_empty() {
        let list: Vec<String> = f.statuses.iter().map(|s| format!("'{s}'")).collect();
        // Validated against STATUSES, so inlining is safe and lets SQLite
        // use the (task, status, id) index.
        for s in &f.statuses {
            if !STATUSES.contains(&s.as_str()) {
                return Err(Error::invalid(format!("unknown status {s:?}")).into());
            }
        }
        sql.push_str(&format!(" AND status IN ({})", list.join(",")));
    }
    if let Some(t) = f.since {
        bind(&mut sql, " AND created_at >= ?", clock::fmt(t).into());
    }
    if let Some(t) = f.until {
        bind(&mut sql, " AND created_at < ?", clock::fmt(t).into());
    }
    if let Some(id) = f.before_id {
        bind(&mut sql, " AND id < ?", id.into());
    }
    let limit = if f.limit == 0 { usize::MAX } else { f.limit };
    bind(
        &mut sql,
        " ORDER BY id DESC LIMIT ?",
        (limit.min(i64::MAX as usize) as i64).into(),
    );
    let mut stmt = store.conn.prepare_cached(&sql)?;
    let rows: Vec<Execution> = stmt
        .query_map(rusqlite::params_from_iter(params), exec::from_row)?
        .collect::<rusqlite::Result<_>>()?;
    if rows.is_empty() {
        if let Some(t) = &f.task {
            let known: bool = store.conn.query_row(
                "SELECT EXISTS(SELECT 1 FROM supervisor_executions WHERE task = ?1)",
                [t],
                |r| r.get(0),
            )?;
            if !known {
                repo::require(&store.conn, t)?;
            }
        }
    }
    Ok(rows)
}

pub fn history(ctx: &Ctx, a: HistoryArgs) -> anyhow::Result<i32> {
    let f = Filter::parse(
        a.task,
        a.status.as_deref(),
        a.since.as_deref(),
        a.until.as_deref(),
        a.limit,
    )?;
    let store = ctx.open_existing()?;
    let rows = query(&store, &f)?;
    if ctx.json {
        kit_db::cli::print_json(&rows);
        return Ok(0);
    }
    let zone = Settings::load(&store.conn)?.zone();
    let table_rows: Vec<Vec<String>> = rows.iter().map(|e| row(e, zone)).collect();
    print!(
        "{}",
        table(
            &["ID", "TASK", "TRIGGER", "STATUS", "AT", "TOOK", "EXIT", "REASON"],
            &table_rows
        )
    );
    Ok(0)
}

fn row(e: &Execution, zone: chrono_tz::Tz) -> Vec<String> {
    let at = e
        .started_at
        .as_deref()
        .or(e.scheduled_for.as_deref())
        .unwrap_or(&e.created_at);
    let exit = match (e.exit_code, e.signal) {
        (Some(c), Some(sig)) => format!("{c} (signal {sig})"),
        (None, Some(sig)) => format!("signal {sig}"),
        (Some(c), None) => c.to_string(),
        (None, None) => String::new(),
    };
    let mut reason = e.reason.clone().unwrap_or_default().replace('\n', " ");
    if reason.chars().count() > 70 {
        reason = reason.chars().take(69).collect::<String>() + "…";
    }
    vec![
        e.id.to_string(),
        e.task.clone(),
        if e.attempt > 1 {
            format!("{} #{}", e.trigger, e.attempt)
        } else {
            e.trigger.clone()
        },
        paint(&e.status),
        local_time(at, zone),
        e.duration_ms.map(duration_ms).unwrap_or_default(),
        exit,
        reason,
    ]
}
