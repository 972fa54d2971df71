//! Declaring tasks: apply, export, add, rm, enable, disable. All writes go
//! through `kit_db::task` (one validator), each command in one transaction.

use super::Ctx;
use anyhow::Context;
use clap::Args;
use kit_db::cli::print_json;
use kit_db::settings::Settings;
use kit_db::task::file::{self, TaskFile};
use kit_db::task::{repo, Change, Command, Task};
use kit_db::units::Dur;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The task file (TOML: [settings] and [[task]] tables)
    pub file: PathBuf,
    /// Also remove tasks the file does not declare
    #[arg(long)]
    pub prune: bool,
    /// Check the file and show what would change; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Also end the overrides, pauses, adaptations and pending one-shot runs
    /// of the file's tasks (apply otherwise leaves runtime state alone)
    #[arg(long)]
    pub clear_overrides: bool,
}

#[derive(Debug, serde::Serialize)]
struct Changed {
    name: String,
    change: Change,
}

pub fn apply(ctx: &Ctx, a: ApplyArgs) -> anyhow::Result<i32> {
    // Everything is checked before anything is written: a bad file applies nothing.
    let f = file::load(&a.file)?;
    let code = apply_loaded(ctx, &f, &a.file.display().to_string(), a.prune, a.dry_run)?;
    if a.clear_overrides && !a.dry_run {
        let store = ctx.open()?;
        let now = ctx.now()?;
        let cleared = store.write(|tx| {
            let mut n = 0;
            for t in &f.tasks {
                n += kit_db::adapt::control::clear(
                    tx,
                    &t.name,
                    &["schedule", "pause", "adapt", "at"],
                    "apply --clear-overrides",
                    now,
                    None,
                )?
                .len();
            }
            Ok(n)
        })?;
        if !ctx.json {
            println!("cleared {cleared} override(s), pause(s), adaptation(s) and one-shot run(s)");
        }
    }
    Ok(code)
}

/// Applies a checked task file in one transaction and prints what changed;
/// `apply` and `import --apply` both end here. `label` names the source.
pub fn apply_loaded(
    ctx: &Ctx,
    f: &TaskFile,
    label: &str,
    prune: bool,
    dry_run: bool,
) -> anyhow::Result<i32> {
    let store = ctx.open()?;
    let now = ctx.now()?;
    // A file that changes only [settings] must say so, not "0 changed".
    let settings_changed = f
        .settings
        .as_ref()
        .map(|s| Settings::load(&store.conn).map(|before| *s != before))
        .transpose()?
        .unwrap_or(false);
    let changes = if dry_run {
        preview(&store, f, prune)?
    } else {
        store.write(|tx| {
            let mut changes = Vec::new();
            if let Some(s) = &f.settings {
                s.store(tx)?;
            }
            for t in &f.tasks {
                changes.push(Changed {
                    name: t.name.clone(),
                    change: repo::upsert(tx, t, now)?,
                });
            }
            if prune {
                let declared: std::collections::HashSet<&str> =
                    f.tasks.iter().map(|t| t.name.as_str()).collect();
                for name in repo::names(tx)? {
                    if !declared.contains(name.as_str()) && repo::remove(tx, &name)? {
                        changes.push(Changed {
                            name,
                            change: Change::Removed,
                        });
                    }
                }
            }
            // Once every task is written: a chain may name a task further down.
            let names: Vec<&str> = f.tasks.iter().map(|t| t.name.as_str()).collect();
            kit_db::triggers::chain::check_upstreams(tx, &names)?;
            Ok(changes)
        })?
    };
    if ctx.json {
        print_json(&serde_json::json!({
            "file": label,
            "dry_run": dry_run,
            "settings_changed": settings_changed,
            "changes": changes,
        }));
    } else {
        let mut unchanged = 0;
        for c in &changes {
            match c.change {
                Change::Unchanged => unchanged += 1,
                Change::Created => println!("created   {}", c.name),
                Change::Updated => println!("updated   {}", c.name),
                Change::Removed => println!("removed   {}", c.name),
            }
        }
        if settings_changed {
            println!("updated   [settings]");
        }
        let verb = if dry_run { "would apply" } else { "applied" };
        println!(
            "{verb} {label}: {} tasks, {} changed, {unchanged} unchanged{}",
            f.tasks.len(),
            changes.len() - unchanged,
            if settings_changed {
                "; [settings] changed"
            } else {
                ""
            }
        );
    }
    Ok(0)
}

fn preview(store: &kit_db::Store, f: &TaskFile, prune: bool) -> anyhow::Result<Vec<Changed>> {
    let mut out = Vec::new();
    for t in &f.tasks {
        let change = match repo::get(&store.conn, &t.name)? {
            None => Change::Created,
            Some(row) if row.task == *t => Change::Unchanged,
            Some(_) => Change::Updated,
        };
        out.push(Changed {
            name: t.name.clone(),
            change,
        });
    }
    if prune {
        for name in repo::names(&store.conn)? {
            if !f.tasks.iter().any(|t| t.name == name) {
                out.push(Changed {
                    name,
                    change: Change::Removed,
                });
            }
        }
    }
    Ok(out)
}

pub fn export(ctx: &Ctx) -> anyhow::Result<i32> {
    let store = ctx.open()?;
    let f = task_file(&store)?;
    if ctx.json {
        print_json(&f);
    } else {
        print!("{}", file::export(&f));
    }
    Ok(0)
}

/// Every task (and non-default settings) as the file `apply` reads back:
/// what `export` prints and the MCP task-file resource serves.
pub fn task_file(store: &kit_db::Store) -> anyhow::Result<TaskFile> {
    let settings = Settings::load(&store.conn)?;
    let tasks: Vec<Task> = repo::list(&store.conn)?
        .into_iter()
        .map(|r| r.task)
        .collect();
    Ok(TaskFile {
        settings: (settings != Settings::default()).then_some(settings),
        tasks,
    })
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Task name: lowercase letters, digits, '.', '_', '-'
    pub name: String,
    /// 5-field cron, @hourly-style macro, "@every 10m", "@daemon" or "@reboot"
    #[arg(long, short)]
    pub schedule: String,
    /// Run the command as one /bin/sh -c string instead of an argv
    #[arg(long)]
    pub shell: bool,
    /// Time zone for the schedule (IANA name) [default: settings.timezone]
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// Stop the run after this long (e.g. 15m)
    #[arg(long)]
    pub timeout: Option<String>,
    /// Working directory
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Environment variable for the command (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// skip (default), allow or replace
    #[arg(long)]
    pub overlap: Option<String>,
    /// Retry a failed or timed-out run this many times
    #[arg(long)]
    pub retries: Option<u32>,
    /// First retry delay (doubles each time)
    #[arg(long)]
    pub retry_delay: Option<String>,
    /// once (default) or none
    #[arg(long)]
    pub catch_up: Option<String>,
    /// Free text shown in `show`
    #[arg(long)]
    pub description: Option<String>,
    /// Run after TASK's runs end: TASK (on success), TASK:success, TASK:failure or TASK:finish (repeatable)
    #[arg(long, value_name = "TASK[:ON]")]
    pub after: Vec<String>,
    /// Triggered runs wait for this long without a new trigger
    #[arg(long, value_name = "DURATION")]
    pub debounce: Option<String>,
    /// Create the task disabled
    #[arg(long)]
    pub disabled: bool,
    /// Replace the task if it exists
    #[arg(long)]
    pub update: bool,
    /// The command and its arguments
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

fn parse_enum<T: serde::de::DeserializeOwned>(field: &str, v: &str) -> anyhow::Result<T> {
    serde_json::from_value(serde_json::Value::String(v.to_string()))
        .map_err(|_| kit_db::Error::invalid(format!("--{field}: invalid value {v:?}")).into())
}

fn dur(field: &str, v: &Option<String>) -> anyhow::Result<Option<Dur>> {
    v.as_deref()
        .map(|s| {
            Dur::parse(s).map_err(|e| kit_db::Error::invalid(format!("--{field}: {e}")).into())
        })
        .transpose()
}

/// Builds a task from `add`'s flags (validated later by the shared validator).
pub fn task_from_args(a: &AddArgs) -> anyhow::Result<Task> {
    let command = if a.shell {
        Command::Shell(a.command.join(" "))
    } else {
        Command::Argv(a.command.clone())
    };
    let mut t = Task::new(&a.name, &a.schedule, command);
    t.timezone = a.tz.clone();
    t.timeout = dur("timeout", &a.timeout)?;
    t.retry_delay = dur("retry-delay", &a.retry_delay)?;
    t.retries = a.retries;
    t.debounce = dur("debounce", &a.debounce)?;
    for spec in &a.after {
        let (task, on) = spec.split_once(':').unwrap_or((spec, "success"));
        t.after.push(kit_db::task::After {
            task: task.to_string(),
            on: parse_enum("after", on)?,
        });
    }
    t.description = a.description.clone();
    t.enabled = !a.disabled;
    if let Some(cwd) = &a.cwd {
        let abs = std::path::absolute(cwd).with_context(|| format!("--cwd {}", cwd.display()))?;
        t.cwd = Some(abs.display().to_string());
    }
    for kv in &a.env {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(
                kit_db::Error::invalid(format!("--env: expected KEY=VALUE, got {kv:?}")).into(),
            );
        };
        t.env.insert(k.to_string(), v.to_string());
    }
    if let Some(o) = &a.overlap {
        t.overlap = Some(parse_enum("overlap", o)?);
    }
    if let Some(c) = &a.catch_up {
        t.catch_up = Some(parse_enum("catch-up", c)?);
    }
    Ok(t)
}

pub fn add(ctx: &Ctx, a: AddArgs) -> anyhow::Result<i32> {
    let t = task_from_args(&a)?;
    kit_db::task::validate(&t)
        .map_err(|e| kit_db::Error::invalid(format!("task {:?}: {e}", t.name)))?;
    let store = ctx.open()?;
    let now = ctx.now()?;
    let change = store.write(|tx| {
        if !a.update && repo::get(tx, &t.name)?.is_some() {
            return Err(kit_db::Error::Conflict(format!(
                "task {:?} already exists (use --update to replace it)",
                t.name
            )));
        }
        let change = repo::upsert(tx, &t, now)?;
        kit_db::triggers::chain::check_upstreams(tx, &[t.name.as_str()])?;
        Ok(change)
    })?;
    if ctx.json {
        print_json(&serde_json::json!({ "name": t.name, "change": change }));
    } else {
        println!(
            "{} {}",
            serde_json::to_value(change)?.as_str().unwrap_or(""),
            t.name
        );
    }
    Ok(0)
}

pub fn remove(ctx: &Ctx, names: &[String]) -> anyhow::Result<i32> {
    let store = ctx.open()?;
    store.write(|tx| {
        for n in names {
            repo::require(tx, n)?;
            repo::remove(tx, n)?;
        }
        Ok(())
    })?;
    for n in names {
        if ctx.json {
            print_json(&serde_json::json!({ "name": n, "change": "removed" }));
        } else {
            println!("removed {n}");
        }
    }
    Ok(0)
}

pub fn set_enabled(ctx: &Ctx, names: &[String], enabled: bool) -> anyhow::Result<i32> {
    let store = ctx.open()?;
    let now = ctx.now()?;
    let changed = store.write(|tx| {
        let mut changed = Vec::new();
        for n in names {
            let reason = (!enabled).then_some("disabled by kit-ctl");
            changed.push(repo::set_enabled(tx, n, enabled, reason, now)?);
        }
        Ok(changed)
    })?;
    let word = if enabled { "enabled" } else { "disabled" };
    for (n, c) in names.iter().zip(changed) {
        if ctx.json {
            print_json(&serde_json::json!({ "name": n, "enabled": enabled, "changed": c }));
        } else if c {
            println!("{word} {n}");
        } else {
            println!("{n} was already {word}");
        }
    }
    Ok(0)
}
