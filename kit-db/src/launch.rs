//! Starting a sibling tool detached (kit-tick starts kit-run and kit-heal,
//! kit-run starts kit-heal after a failure) without waiting for it: a
//! 12-minute scan must never delay a tick.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// Starts `tool args...` in a new session, fully detached: no shared stdio,
/// not in kit-tick's process group (launchd and systemd clean up a job's
/// group when it exits). Its stderr goes to `$KIT_HOME/logs/TOOL.log` so a
/// tool that cannot even open the DB still leaves a trace.
/// The DB is passed on with `--db` so the child uses the same store. `now`, when given, is passed on as `KIT_NOW` so an injected clock
/// carries over to the tools it starts.
pub fn detached(
    tool: &str,
    db: &std::path::Path,
    args: &[&str],
    now: Option<&str>,
) -> std::io::Result<u32> {
    let path = crate::paths::sibling_tool(tool);
    let stderr = crate::paths::home_subdir("logs")
        .ok()
        .and_then(|dir| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(format!("{tool}.log")))
                .ok()
        })
        .map_or_else(Stdio::null, Stdio::from);
    let mut cmd = Command::new(path);
    if let Some(now) = now {
        cmd.env("KIT_NOW", now);
    }
    cmd.arg("--db")
        .arg(db)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    // SAFETY: setsid and signal are async-signal-safe and touch no Rust state.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            // An ignored signal stays ignored across exec: give the tool
            // the default back (it chooses for itself).
            libc::signal(libc::SIGXFSZ, libc::SIG_DFL);
            Ok(())
        });
    }
    // The child is not waited for: when kit-tick exits it is reparented to
    // init (or the subreaper), which reaps it.
    let child = cmd.spawn()?;
    Ok(child.id())
}
