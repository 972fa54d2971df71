//! kit-run: execute one task and record it. Every run leaves a row with its
//! times, how it ended, and what it printed; exit codes follow the shell's
//! conventions so `kit-run a && kit-run b` behaves as people expect.

pub mod adhoc;
pub mod attempt;
pub mod overlap;
pub mod record;
pub mod start;
pub mod task_run;
pub mod triggered;

use clap::Parser;
use kit_db::cli::{generate, DbArg, Generate};
use std::io::BufRead;

/// Run tasks (or an ad-hoc command) and record each execution.
#[derive(Debug, Parser)]
#[command(name = "kit-run", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub db: DbArg,
    /// Tasks to run in order (each takes its oldest queued slot, else runs now);
    /// `-` reads names from stdin, one per line
    #[arg(conflicts_with = "name")]
    pub tasks: Vec<String>,
    /// Run CMD ARGS... ad hoc and record it under LABEL (no task needed)
    #[arg(long, value_name = "LABEL", requires = "command")]
    pub name: Option<String>,
    /// Ad hoc: stop the command after this long
    #[arg(long, requires = "name")]
    pub timeout: Option<String>,
    /// The command for --name
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
    /// The current time (RFC 3339) [env: KIT_NOW]
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Print each finished execution record as JSON
    #[arg(long)]
    pub json: bool,
    /// Copy the command's output to stdout as it runs
    #[arg(long)]
    pub stream: bool,
    /// Do not start kit-heal after a failure
    #[arg(long)]
    pub no_heal: bool,
    /// Start exactly this queued triggered execution of the one task named,
    /// or nothing (how triggers and chains start their runs)
    #[arg(long, value_name = "ID", conflicts_with = "name")]
    pub execution: Option<i64>,
    /// The trigger to record for a run that no tick claimed (manual, api, recovery)
    #[arg(long, default_value = "manual", value_parser = ["manual", "api", "recovery"])]
    pub trigger: String,
    /// Generate a man page or a shell completion script, then exit
    #[arg(long, value_name = "WHAT")]
    pub generate: Option<Generate>,
}

/// Exit code when kit-run itself fails (cannot open the DB, disk full), as
/// with env(1) and timeout(1): distinct from any code the task returns.
pub const OWN_FAILURE: i32 = 125;

pub fn run(cli: Cli) -> anyhow::Result<i32> {
    if let Some(what) = cli.generate {
        generate::<Cli>(what)?;
        return Ok(0);
    }
    task_run::install_signal_handlers()?;
    kit_db::cli::report_file_size_limit_as_error();
    let opts = task_run::Options {
        now_flag: cli.now.clone(),
        json: cli.json,
        stream: cli.stream,
        heal: !cli.no_heal,
        trigger: cli.trigger.clone(),
        exact: cli.execution.is_some(),
    };
    let store = cli.db.open()?;
    let code = run_on(&store, &cli, &opts);
    store.release();
    code
}

fn run_on(store: &kit_db::Store, cli: &Cli, opts: &task_run::Options) -> anyhow::Result<i32> {
    if let Some(label) = &cli.name {
        return adhoc::run(store, label, &cli.command, cli.timeout.as_deref(), opts);
    }
    if let Some(id) = cli.execution {
        let [name] = cli.tasks.as_slice() else {
            anyhow::bail!("--execution {id}: give exactly one task name (the execution's task)");
        };
        return task_run::run_task(store, name, Some(id), opts);
    }
    let mut names = Vec::new();
    for t in &cli.tasks {
        if t == "-" {
            for line in std::io::stdin().lock().lines() {
                if let Some(item) = parse_line(&line?)? {
                    names.push(item);
                }
            }
        } else {
            names.push((t.clone(), None));
        }
    }
    if names.is_empty() && !cli.tasks.iter().any(|t| t == "-") {
        anyhow::bail!("give task names, `-` to read them from stdin, or --name LABEL -- CMD");
    }
    let mut first_failure = 0;
    for (name, id) in names {
        let code = task_run::run_task(store, &name, id, opts)?;
        if first_failure == 0 && code != 0 {
            first_failure = code;
        }
        if task_run::stopping() {
            break;
        }
    }
    Ok(first_failure)
}

/// A line of `kit-run -` input: a task name, or a JSON object from
/// `kit-tick --json` (then that exact claimed execution is run).
fn parse_line(line: &str) -> anyhow::Result<Option<(String, Option<i64>)>> {
    let l = line.trim();
    if l.is_empty() {
        return Ok(None);
    }
    if l.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(l)
            .map_err(|e| anyhow::anyhow!("stdin: invalid JSON line {l:?}: {e}"))?;
        let name = v["name"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("stdin: JSON line without a \"name\": {l:?}"))?;
        return Ok(Some((name.to_string(), v["id"].as_i64())));
    }
    Ok(Some((l.to_string(), None)))
}
