//! `logs NAME [-f] [-n N]`: a daemon's log as kit-keep writes it,
//! `$KIT_HOME/logs/NAME.log`, rotated by size to NAME.log.1 (the newest
//! rotated file) … NAME.log.K (the oldest). `-n` reads back across the
//! rotated files; `-f` follows the live file across rotations, like
//! `tail -F`. Lines are passed through as bytes: a daemon's log is not
//! necessarily UTF-8.

use super::Ctx;
use anyhow::Context;
use clap::Args;
use kit_db::daemon::logs as daemon_logs;
use kit_db::task::repo;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The daemon (or a kit tool's own log: kit-run, kit-heal, ...)
    pub name: String,
    /// Keep printing lines as they are written (across rotations); Ctrl-C ends
    #[arg(long, short)]
    pub follow: bool,
    /// How many lines to print from the end first
    #[arg(short = 'n', long = "lines", default_value_t = 100, value_name = "N")]
    pub lines: usize,
}

/// How often `-f` looks for new lines and rotations.
const POLL: Duration = Duration::from_millis(200);

/// The last `n` lines of `name`'s log, oldest first, reading back across
/// the rotated files (`kit_db::daemon::logs` knows their names).
pub fn tail(name: &str, n: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for f in daemon_logs::files(name).into_iter().rev() {
        if lines.len() >= n {
            break;
        }
        let Ok(mut file) = File::open(&f) else {
            continue;
        };
        let mut more = tail_of(&mut file, n - lines.len())
            .with_context(|| format!("reading {}", f.display()))?;
        more.append(&mut lines);
        lines = more;
    }
    Ok(lines)
}

/// The last `n` lines of one file (each with its newline, if it had one),
/// read backwards in blocks so a 10 MB log costs only what is shown.
fn tail_of(file: &mut File, n: usize) -> std::io::Result<Vec<Vec<u8>>> {
    if n == 0 {
        return Ok(vec![]);
    }
    let len = file.metadata()?.len();
    let mut pos = len;
    let mut buf: Vec<u8> = Vec::new();
    const BLOCK: u64 = 64 * 1024;
    // Read until the buffer holds more than n line ends (or the whole file).
    loop {
        let newlines = buf.iter().filter(|b| **b == b'\n').count();
        let ends_open = buf.last().is_some_and(|b| *b != b'\n');
        if pos == 0 || newlines > n || (newlines == n && ends_open) {
            break;
        }
        let start = pos.saturating_sub(BLOCK);
        let mut block = vec![0u8; (pos - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&buf);
        buf = block;
        pos = start;
    }
    let mut lines: Vec<Vec<u8>> = buf
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    if pos > 0 && !lines.is_empty() {
        lines.remove(0); // a partial line cut by the block boundary
    }
    let skip = lines.len().saturating_sub(n);
    Ok(lines.split_off(skip))
}

pub fn logs(ctx: &Ctx, a: LogsArgs) -> anyhow::Result<i32> {
    if a.name.is_empty() || a.name.contains('/') || a.name.starts_with('.') {
        return Err(kit_db::Error::invalid(format!("invalid log name {:?}", a.name)).into());
    }
    let live = daemon_logs::path(&a.name);
    if daemon_logs::files(&a.name).is_empty() {
        // No file: say why, in terms of the task.
        let store = ctx.open_existing()?;
        let row = repo::require(&store.conn, &a.name)?;
        if !row.task.is_daemon() {
            anyhow::bail!(
                "{} is not a daemon: each run's output is stored with its execution \
                 (`kit-ctl history {}`, then `kit-ctl output ID`)",
                a.name,
                a.name
            );
        }
        if !a.follow {
            anyhow::bail!(
                "{}: no log yet (kit-keep creates it when it starts {})",
                live.display(),
                a.name
            );
        }
    }
    let mut out = std::io::stdout().lock();
    for line in tail(&a.name, a.lines)? {
        emit(&mut out, ctx.json, &line)?;
    }
    out.flush()?;
    if a.follow {
        follow(&live, &mut out, ctx.json)?;
    }
    Ok(0)
}

fn emit(out: &mut impl Write, json: bool, line: &[u8]) -> std::io::Result<()> {
    if json {
        let text = String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(line));
        serde_json::to_writer(&mut *out, &serde_json::json!({ "line": text }))?;
        out.write_all(b"\n")
    } else {
        out.write_all(line)
    }
}

/// Follows the live file from its end: new bytes are printed as they come;
/// when the file is renamed away (rotation) or truncated, the rest of the
/// old file is drained and the new one is read from its start.
fn follow(live: &Path, out: &mut impl Write, json: bool) -> anyhow::Result<()> {
    let mut current: Option<(File, u64)> = File::open(live).ok().map(|mut f| {
        let _ = f.seek(SeekFrom::End(0));
        let ino = f.metadata().map(|m| m.ino()).unwrap_or(0);
        (f, ino)
    });
    let mut partial: Vec<u8> = Vec::new();
    loop {
        if let Some((f, _)) = current.as_mut() {
            drain(f, out, json, &mut partial)?;
        }
        // Rotation: the path now names another file (or none yet).
        let on_disk = std::fs::metadata(live).ok().map(|m| (m.ino(), m.len()));
        // (A file truncated in place is handled by `drain`.)
        let switch = match (&current, on_disk) {
            (None, Some(_)) => true,
            (Some((_, ino)), Some((new_ino, _))) => *ino != new_ino,
            _ => false,
        };
        if switch {
            if let Some((mut f, _)) = current.take() {
                drain(&mut f, out, json, &mut partial)?;
            }
            if let Ok(f) = File::open(live) {
                let ino = f.metadata().map(|m| m.ino()).unwrap_or(0);
                current = Some((f, ino));
                continue;
            }
        }
        std::thread::sleep(POLL);
    }
}

/// Prints what was appended since the last read. In JSON mode only whole
/// lines are printed; a partial line waits for its end.
fn drain(
    f: &mut File,
    out: &mut impl Write,
    json: bool,
    partial: &mut Vec<u8>,
) -> anyhow::Result<()> {
    // A file truncated in place (copytruncate) is read again from its start.
    if let Ok(m) = f.metadata() {
        if f.stream_position()? > m.len() {
            f.seek(SeekFrom::Start(0))?;
        }
    }
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if json {
            partial.extend_from_slice(&buf[..n]);
            while let Some(i) = partial.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = partial.drain(..=i).collect();
                emit(out, true, &line)?;
            }
        } else {
            out.write_all(&buf[..n])?;
        }
    }
    out.flush()?;
    Ok(())
}
