//! kit-ctl: how a person or an agent sees and controls kit. Each subcommand
//! lives in its own module under `cmd/`; this file only routes.

pub mod api;
pub mod cmd;
pub mod interop;
pub mod mcp;
pub mod output;

use clap::{Parser, Subcommand};
use kit_db::cli::{DbArg, Generate};

/// See and control kit: tasks, executions, daemons, the API.
#[derive(Debug, Parser)]
#[command(name = "kit-ctl", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub db: DbArg,
    /// Print data as JSON
    #[arg(long, global = true)]
    pub json: bool,
    /// The current time for decisions and "today" (RFC 3339) [env: KIT_NOW]
    #[arg(long, global = true, value_name = "TIME")]
    pub now: Option<String>,
    /// Generate a man page or a shell completion script, then exit
    #[arg(long, value_name = "WHAT")]
    pub generate: Option<Generate>,
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create or update the tasks declared in a TOML file, in one transaction
    Apply(cmd::tasks::ApplyArgs),
    /// Print all tasks as a TOML file that `apply` reproduces exactly, or as Kubernetes objects
    Export(cmd::export::ExportArgs),
    /// Print a task file made from a crontab, launchd plists or systemd timers (--apply applies it)
    Import(cmd::import::ImportArgs),
    /// Declare a task from the command line
    Add(Box<cmd::tasks::AddArgs>),
    /// Remove tasks (their history stays)
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Enable tasks
    Enable {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Disable tasks (they claim nothing until enabled)
    Disable {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List tasks with their last and next run
    List,
    /// Show one task: definition, last runs, recovery state
    Show { name: String },
    /// Print the next fire times of a task or of a schedule expression
    Next(cmd::next::NextArgs),
    /// Summary: tasks, runs today, daemons, failures, heartbeats; exit 1 when something needs attention
    Status,
    /// Executions, newest first
    History(cmd::history::HistoryArgs),
    /// Print an execution's captured output, byte for byte
    Output {
        /// The execution id (see `history`)
        id: i64,
    },
    /// Print a daemon's log (across rotated files); -f follows it
    Logs(cmd::logs::LogsArgs),
    /// Explain why a task did or did not run at its last slot, and what happens next
    Why { name: String },
    /// Run a task now through kit-run, streaming its output; exits with its exit code
    Run(cmd::control::RunArgs),
    /// Trigger a task with an event (optional JSON data and idempotency key); it starts at once
    Trigger(cmd::trigger::TriggerArgs),
    /// Ask kit-keep to restart a daemon
    Restart(cmd::control::DaemonArgs),
    /// Ask kit-keep to stop a daemon (it stays down until `start`)
    Stop(cmd::control::DaemonArgs),
    /// Ask kit-keep to start a stopped or quarantined daemon
    Start(cmd::control::DaemonArgs),
    /// Run a task at another pace for a while (--for/--until, at most 7d); --clear ends it
    Override(cmd::adapt::OverrideArgs),
    /// Pause a task for a while: its slots are recorded skipped, with the reason
    Pause(cmd::adapt::PauseArgs),
    /// End a task's pause now
    Resume { name: String },
    /// Run a task once at a chosen time (`at 18:40 NAME`); --cancel drops pending ones
    At(cmd::adapt::AtArgs),
    /// Print metrics in the Prometheus text format
    Metrics,
    /// Conditions and file watches: last probe, next probe, last change
    Probes(cmd::probes::ProbesArgs),
    /// Print shell completions for the kit tools
    Completions(cmd::generate::CompletionsArgs),
    /// Print (or write) man pages for the kit tools
    Man(cmd::generate::ManArgs),
    /// Serve the REST API and the web dashboard (loopback or a Unix socket; token required)
    Serve(api::ServeArgs),
    /// Serve the Model Context Protocol over stdio, for agent clients (also at /mcp in `serve`)
    Mcp,
}

pub fn run(cli: Cli) -> anyhow::Result<i32> {
    if let Some(what) = cli.generate {
        kit_db::cli::generate::<Cli>(what)?;
        return Ok(0);
    }
    let Some(cmd) = cli.cmd else {
        anyhow::bail!("a subcommand is required (see kit-ctl --help)");
    };
    let ctx = cmd::Ctx {
        db: cli.db,
        json: cli.json,
        now: cli.now,
    };
    match cmd {
        Cmd::Apply(a) => cmd::tasks::apply(&ctx, a),
        Cmd::Export(a) => cmd::export::export(&ctx, a),
        Cmd::Import(a) => cmd::import::import(&ctx, a),
        Cmd::Add(a) => cmd::tasks::add(&ctx, *a),
        Cmd::Rm { names } => cmd::tasks::remove(&ctx, &names),
        Cmd::Enable { names } => cmd::tasks::set_enabled(&ctx, &names, true),
        Cmd::Disable { names } => cmd::tasks::set_enabled(&ctx, &names, false),
        Cmd::List => cmd::list::list(&ctx),
        Cmd::Show { name } => cmd::list::show(&ctx, &name),
        Cmd::Next(a) => cmd::next::next(&ctx, a),
        Cmd::Status => cmd::status::status(&ctx),
        Cmd::History(a) => cmd::history::history(&ctx, a),
        Cmd::Output { id } => cmd::captured::output(&ctx, id),
        Cmd::Logs(a) => cmd::logs::logs(&ctx, a),
        Cmd::Why { name } => cmd::why::why(&ctx, &name),
        Cmd::Run(a) => cmd::control::run(&ctx, a),
        Cmd::Trigger(a) => cmd::trigger::trigger(&ctx, a),
        Cmd::Restart(a) => cmd::control::daemon_action(&ctx, kit_db::daemon::Action::Restart, a),
        Cmd::Stop(a) => cmd::control::daemon_action(&ctx, kit_db::daemon::Action::Stop, a),
        Cmd::Start(a) => cmd::control::daemon_action(&ctx, kit_db::daemon::Action::Start, a),
        Cmd::Override(a) => cmd::adapt::override_(&ctx, a),
        Cmd::Pause(a) => cmd::adapt::pause(&ctx, a),
        Cmd::Resume { name } => cmd::adapt::resume(&ctx, &name),
        Cmd::At(a) => cmd::adapt::at(&ctx, a),
        Cmd::Metrics => cmd::metrics::metrics(&ctx),
        Cmd::Probes(a) => cmd::probes::probes(&ctx, a),
        Cmd::Completions(a) => cmd::generate::completions(&ctx, a),
        Cmd::Man(a) => cmd::generate::man(&ctx, a),
        Cmd::Serve(a) => api::serve(&ctx, a),
        Cmd::Mcp => mcp::stdio(&ctx),
    }
}
