//! kit-ctl: how a person or an agent sees and controls kit. Each subcommand
//! lives in its own module under `cmd/`; this file only routes.

pub mod cmd;
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
    /// Print all tasks as a TOML file that `apply` reproduces exactly
    Export,
    /// Declare a task from the command line
    Add(cmd::tasks::AddArgs),
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
        Cmd::Export => cmd::tasks::export(&ctx),
        Cmd::Add(a) => cmd::tasks::add(&ctx, a),
        Cmd::Rm { names } => cmd::tasks::remove(&ctx, &names),
        Cmd::Enable { names } => cmd::tasks::set_enabled(&ctx, &names, true),
        Cmd::Disable { names } => cmd::tasks::set_enabled(&ctx, &names, false),
        Cmd::List => cmd::list::list(&ctx),
        Cmd::Show { name } => cmd::list::show(&ctx, &name),
        Cmd::Next(a) => cmd::next::next(&ctx, a),
    }
}
