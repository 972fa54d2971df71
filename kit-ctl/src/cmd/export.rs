//! `export`: the declared tasks as a task file (`--format toml`, the
//! default, which `apply` reproduces exactly) or as Kubernetes objects
//! (`--format kubernetes`, see `crate::interop::kubernetes`).

use super::Ctx;
use crate::interop::kubernetes as k8s;
use clap::{Args, ValueEnum};
use kit_db::task::repo;

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum Format {
    #[default]
    Toml,
    Kubernetes,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// toml (a task file) or kubernetes (CronJobs and Deployments as YAML; --json: a List)
    #[arg(long, value_enum, default_value = "toml")]
    pub format: Format,
    /// The container image that runs the commands (required for kubernetes)
    #[arg(long, required_if_eq("format", "kubernetes"))]
    pub image: Option<String>,
    /// Put the objects in this namespace (kubernetes)
    #[arg(long)]
    pub namespace: Option<String>,
}

pub fn export(ctx: &Ctx, a: ExportArgs) -> anyhow::Result<i32> {
    match a.format {
        Format::Toml => super::tasks::export(ctx),
        Format::Kubernetes => {
            let store = ctx.open()?;
            let settings = kit_db::settings::Settings::load(&store.conn)?;
            let tasks: Vec<_> = repo::list(&store.conn)?
                .into_iter()
                .map(|r| r.task)
                .collect();
            let opts = k8s::Options {
                image: a.image.unwrap_or_default(),
                namespace: a.namespace,
                timezone: settings.timezone.clone(),
            };
            let (objects, skipped) = k8s::objects(&tasks, &opts);
            for s in &skipped {
                eprintln!("kit-ctl: export: not exported: {s}");
            }
            if ctx.json {
                kit_db::cli::print_json(&k8s::list(&objects));
            } else {
                print!("{}", k8s::render(&objects, &skipped));
            }
            Ok(0)
        }
    }
}
