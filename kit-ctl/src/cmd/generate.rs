//! `completions SHELL [TOOL]` and `man [TOOL]`: shell completions and man
//! pages for every kit tool, from each tool's own clap definition. Each
//! tool prints its own with `--generate`; kit-ctl runs the sibling binary
//! (`kit_db::paths::sibling_tool`) rather than linking every tool into
//! itself, so what is generated always matches the installed binary.

use super::Ctx;
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Every kit tool, in the order pages and scripts are written.
pub const TOOLS: &[&str] = &[
    "kit-tick", "kit-run", "kit-keep", "kit-heal", "kit-ctl", "kit-db",
];

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Shell {
    fn generate_arg(self) -> &'static str {
        match self {
            Shell::Bash => "complete-bash",
            Shell::Zsh => "complete-zsh",
            Shell::Fish => "complete-fish",
        }
    }
    /// The file name each shell looks for in its completion directory.
    fn file_name(self, tool: &str) -> String {
        match self {
            Shell::Bash => tool.to_string(),
            Shell::Zsh => format!("_{tool}"),
            Shell::Fish => format!("{tool}.fish"),
        }
    }
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh or fish
    pub shell: Shell,
    /// Only this tool [default: all kit tools, one script after another]
    pub tool: Option<String>,
    /// Write one file per tool into DIR (named as the shell expects) instead of printing
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The tool whose page to print [default: kit-ctl; with --dir: every tool]
    pub tool: Option<String>,
    /// Write TOOL.1 files into DIR instead of printing
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

fn check_tool(tool: &str) -> anyhow::Result<()> {
    if TOOLS.contains(&tool) {
        Ok(())
    } else {
        Err(kit_db::Error::invalid(format!(
            "unknown tool {tool:?} (kit tools: {})",
            TOOLS.join(", ")
        ))
        .into())
    }
}

/// Runs `TOOL --generate WHAT` and returns what it printed.
pub fn generated(tool: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    check_tool(tool)?;
    let path = if tool == "kit-ctl" {
        std::env::current_exe().unwrap_or_else(|_| kit_db::paths::sibling_tool(tool))
    } else {
        kit_db::paths::sibling_tool(tool)
    };
    let out = std::process::Command::new(&path)
        .args(["--generate", what])
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| {
            format!(
                "cannot run {} (looked beside kit-ctl, then on PATH)",
                path.display()
            )
        })?;
    if !out.status.success() {
        anyhow::bail!(
            "{} --generate {what} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.stdout)
}

fn write_all(
    ctx: &Ctx,
    dir: &std::path::Path,
    files: Vec<(String, Vec<u8>)>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, bytes) in files {
        let p = dir.join(name);
        std::fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))?;
        written.push(p);
    }
    if ctx.json {
        kit_db::cli::print_json(&serde_json::json!({ "written": written }));
    } else {
        for p in written {
            println!("wrote {}", p.display());
        }
    }
    Ok(())
}

pub fn completions(ctx: &Ctx, a: CompletionsArgs) -> anyhow::Result<i32> {
    let tools: Vec<&str> = match &a.tool {
        Some(t) => vec![t.as_str()],
        None => TOOLS.to_vec(),
    };
    let mut files = Vec::new();
    for t in tools {
        files.push((a.shell.file_name(t), generated(t, a.shell.generate_arg())?));
    }
    match &a.dir {
        Some(dir) => write_all(ctx, dir, files)?,
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            for (_, bytes) in files {
                out.write_all(&bytes)?;
            }
            out.flush()?;
        }
    }
    Ok(0)
}

pub fn man(ctx: &Ctx, a: ManArgs) -> anyhow::Result<i32> {
    match (&a.tool, &a.dir) {
        (tool, Some(dir)) => {
            let tools: Vec<&str> = match tool {
                Some(t) => vec![t.as_str()],
                None => TOOLS.to_vec(),
            };
            let mut files = Vec::new();
            for t in tools {
                files.push((format!("{t}.1"), generated(t, "man")?));
            }
            write_all(ctx, dir, files)?;
        }
        (tool, None) => {
            use std::io::Write;
            let bytes = generated(tool.as_deref().unwrap_or("kit-ctl"), "man")?;
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            out.flush()?;
        }
    }
    Ok(0)
}
